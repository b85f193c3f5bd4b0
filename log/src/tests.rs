//! Unit tests that need the crate's internals: the I/O-failure latch, via failure injection.

use crate::writer::Step;
use crate::{Error, Log};

fn check_latch(step: Step) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("log");
    let log = Log::open(&path).unwrap();
    let kept = log.append(b"durable").unwrap();
    log.flush().unwrap();
    log.inject_failure(step);
    log.append(b"lost").unwrap();
    assert!(
        log.flush().is_err(),
        "{step:?}: injected failure must surface"
    );
    assert!(
        matches!(log.append(b"more"), Err(Error::Poisoned { .. })),
        "{step:?}: append after failure"
    );
    assert!(
        matches!(log.flush(), Err(Error::Poisoned { .. })),
        "{step:?}: flush after failure"
    );
    assert_eq!(log.get(kept).unwrap(), b"durable");
    drop(log);
    let log = Log::open(&path).unwrap();
    assert_eq!(log.get(kept).unwrap(), b"durable");
    let offset = log.append(b"after reopen").unwrap();
    log.flush().unwrap();
    assert_eq!(log.get(offset).unwrap(), b"after reopen");
}

#[test]
fn failed_write_latches_until_reopen() {
    check_latch(Step::Write);
}

#[test]
fn failed_fsync_latches_until_reopen() {
    check_latch(Step::Sync);
}

#[test]
fn failed_checkpoint_latches_until_reopen() {
    check_latch(Step::Checkpoint);
}

/// A log in `dir` whose write buffer holds `bytes`.
fn log_with_buffer(dir: &tempfile::TempDir, bytes: usize) -> Log {
    let opts = crate::LogOptions {
        write_buffer: bytes,
        ..crate::LogOptions::default()
    };
    Log::open_with(dir.path().join("log"), opts).unwrap()
}

#[test]
fn failed_spill_latches_the_append() {
    let dir = tempfile::tempdir().unwrap();
    let log = log_with_buffer(&dir, 1);
    log.inject_failure(Step::Write);
    assert!(matches!(log.append(b"x"), Err(Error::Io { .. })));
    assert!(matches!(log.append(b"y"), Err(Error::Poisoned { .. })));
}

#[test]
fn log_is_send_and_sync() {
    fn shareable<T: Send + Sync>() {}
    shareable::<Log>();
    shareable::<std::sync::Arc<Log>>();
}

#[test]
fn the_write_buffer_never_grows_past_its_size() {
    let dir = tempfile::tempdir().unwrap();
    let log = log_with_buffer(&dir, 4096);
    let mut offsets = Vec::new();
    for i in 0..500usize {
        // Sizes that do not divide the buffer, and one record larger than it.
        let record = vec![i as u8; if i == 250 { 10_000 } else { 37 + i * 13 % 900 }];
        offsets.push((log.append(&record).unwrap(), record));
        let capacity = log.writer_buffer_capacity();
        assert!(
            capacity <= 4096 || i == 250,
            "record {i}: buffer of {capacity}"
        );
    }
    log.flush().unwrap();
    for (offset, record) in &offsets {
        assert_eq!(log.get(*offset).unwrap(), &record[..]);
    }
}

/// `prefetch` is only a hint: any offset, inside a record, at the end or past it, on an empty
/// log or one whose last record is shorter than the span asked for, does nothing visible.
#[test]
fn prefetch_is_a_hint_at_any_offset() {
    let dir = tempfile::tempdir().unwrap();
    let log = Log::open(dir.path().join("log")).unwrap();
    log.prefetch(0);
    log.prefetch(u64::MAX);
    let big = log.append(&[2; 3000]).unwrap();
    let small = log.append(&[1; 10]).unwrap();
    log.flush().unwrap();
    for offset in [0, big, big + 1, small, log.end() - 1, log.end(), u64::MAX] {
        log.prefetch(offset);
    }
    assert_eq!(log.get(big).unwrap(), &[2; 3000][..]);
    assert_eq!(log.get(small).unwrap(), &[1; 10][..]);
}
