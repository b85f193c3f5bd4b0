//! Recovery on open: torn and corrupt tails, damage before the checkpoint, bad headers, locking.

use std::fs::OpenOptions;
use std::io::Write;
use std::path::{Path, PathBuf};

use sluice_log::format;
use sluice_log::{Error, Log, LogOptions, RecoveryMode};

/// A log with `flushed` records behind the checkpoint, then `tail` frames written after it, as a
/// crash between a write and the next checkpoint leaves them. Returns the file and all records.
fn log_with_tail(dir: &Path, flushed: usize, tail: usize) -> (PathBuf, Vec<(u64, Vec<u8>)>) {
    let path = dir.join("log");
    let mut records = Vec::new();
    let log = Log::open(&path).unwrap();
    for i in 0..flushed {
        let bytes = format!("flushed record {i}").repeat(i % 5 + 1).into_bytes();
        records.push((log.append(&bytes).unwrap(), bytes));
    }
    let mut next = log.flush().unwrap();
    drop(log);
    let mut frames = Vec::new();
    for i in 0..tail {
        let bytes = format!("tail record {i} ").repeat(i + 3).into_bytes();
        records.push((next, bytes.clone()));
        format::encode_frame(&bytes, &mut frames);
        next += format::frame_len(bytes.len()) as u64;
    }
    OpenOptions::new()
        .append(true)
        .open(&path)
        .unwrap()
        .write_all(&frames)
        .unwrap();
    (path, records)
}

fn copy_cut(src: &Path, dst: &Path, len: u64) {
    std::fs::copy(src, dst).unwrap();
    OpenOptions::new()
        .write(true)
        .open(dst)
        .unwrap()
        .set_len(len)
        .unwrap();
}

fn read_all(log: &Log) -> Vec<(u64, Vec<u8>)> {
    log.iter(0)
        .map(|r| r.map(|(o, b)| (o, b.to_vec())).unwrap())
        .collect()
}

fn frame_end((offset, bytes): &(u64, Vec<u8>)) -> u64 {
    offset + format::frame_len(bytes.len()) as u64
}

#[test]
fn truncation_at_every_byte_of_the_last_two_records() {
    let dir = tempfile::tempdir().unwrap();
    let (path, records) = log_with_tail(dir.path(), 5, 2);
    let checkpoint = frame_end(&records[4]);
    let file_len = frame_end(&records[6]);
    assert_eq!(std::fs::metadata(&path).unwrap().len(), file_len);
    let cut_path = dir.path().join("cut");
    for cut in checkpoint..=file_len {
        copy_cut(&path, &cut_path, cut);
        let expected: Vec<_> = records
            .iter()
            .filter(|r| frame_end(r) <= cut)
            .cloned()
            .collect();
        let valid_end = expected.last().map_or(checkpoint, frame_end);
        let strict = Log::open_with(
            &cut_path,
            LogOptions {
                recovery: RecoveryMode::Strict,
                ..LogOptions::default()
            },
        );
        if cut == valid_end {
            assert!(strict.unwrap().recovery().is_clean(), "cut {cut}");
        } else {
            assert!(
                matches!(strict, Err(Error::CorruptTail { offset, .. }) if offset == valid_end),
                "cut {cut}"
            );
        }
        let log = Log::open(&cut_path).unwrap();
        assert_eq!(read_all(&log), expected, "cut {cut}");
        assert_eq!(
            (log.end(), log.recovery().dropped()),
            (valid_end, cut - valid_end),
            "cut {cut}"
        );
        drop(log);
        assert_eq!(
            std::fs::metadata(&cut_path).unwrap().len(),
            valid_end,
            "truncated to the valid end"
        );
    }
}

#[test]
fn bit_flips_in_the_tail_are_recovered_never_returned() {
    use rand::{Rng, SeedableRng};
    let dir = tempfile::tempdir().unwrap();
    let (path, records) = log_with_tail(dir.path(), 3, 6);
    let checkpoint = frame_end(&records[2]);
    let original = std::fs::read(&path).unwrap();
    let mut rng = rand::rngs::StdRng::seed_from_u64(7);
    let flipped = dir.path().join("flipped");
    for round in 0..300 {
        let mut bytes = original.clone();
        for _ in 0..rng.gen_range(1..4) {
            let at = rng.gen_range(checkpoint as usize..bytes.len());
            bytes[at] ^= 1 << rng.gen_range(0..8);
        }
        std::fs::write(&flipped, &bytes).unwrap();
        let log = Log::open(&flipped).unwrap();
        let got = read_all(&log);
        assert!(
            got.len() >= 3 && got[..] == records[..got.len()],
            "round {round}: invalid data returned"
        );
        assert!(
            log.recovery().dropped() > 0,
            "round {round}: damage went unnoticed"
        );
        assert_eq!(log.verify().unwrap().records, got.len() as u64);
    }
}

#[test]
fn damage_before_the_checkpoint_is_reported_not_truncated() {
    let dir = tempfile::tempdir().unwrap();
    let (path, records) = log_with_tail(dir.path(), 6, 0);
    let len = std::fs::metadata(&path).unwrap().len();
    let mut bytes = std::fs::read(&path).unwrap();
    let victim = records[2].0;
    bytes[victim as usize + 10] ^= 0x40;
    std::fs::write(&path, &bytes).unwrap();
    let log = Log::open(&path).unwrap();
    assert!(log.recovery().is_clean());
    assert_eq!(log.end(), len);
    assert!(matches!(log.get(victim), Err(Error::Corrupt { offset, .. }) if offset == victim));
    assert_eq!(log.get(records[3].0).unwrap(), &records[3].1[..]);
    assert!(matches!(log.verify(), Err(Error::Corrupt { offset, .. }) if offset == victim));
    let mut iter = log.iter(0);
    assert_eq!(iter.next().unwrap().unwrap().0, records[0].0);
    assert_eq!(iter.next().unwrap().unwrap().0, records[1].0);
    assert!(matches!(iter.next(), Some(Err(Error::Corrupt { .. }))));
    assert!(iter.next().is_none());
    // Walking without CRCs passes the damaged payload; only its own check fails.
    let walked: Vec<_> = log.iter_unverified(0).map(Result::unwrap).collect();
    assert_eq!(walked.len(), records.len());
    for (record, (offset, bytes)) in walked.iter().zip(&records) {
        assert_eq!(record.offset(), *offset);
        match record.verify() {
            Ok((o, b)) => assert_eq!((o, b), (*offset, &bytes[..])),
            Err(Error::Corrupt { offset, .. }) => assert_eq!(offset, victim),
            Err(e) => panic!("unexpected {e}"),
        }
    }
    assert!(walked[2].verify().is_err());
    drop(log);
    assert_eq!(
        std::fs::metadata(&path).unwrap().len(),
        len,
        "never truncated"
    );
}

#[test]
fn file_shorter_than_its_checkpoint_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let (path, records) = log_with_tail(dir.path(), 4, 0);
    OpenOptions::new()
        .write(true)
        .open(&path)
        .unwrap()
        .set_len(records[3].0)
        .unwrap();
    assert!(matches!(Log::open(&path), Err(Error::Truncated { .. })));
    assert!(matches!(
        Log::open_read_only(&path),
        Err(Error::Truncated { .. })
    ));
}

#[test]
fn bad_headers_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let (path, _) = log_with_tail(dir.path(), 2, 0);
    let original = std::fs::read(&path).unwrap();
    let check = |patch: &dyn Fn(&mut Vec<u8>), expect: &dyn Fn(&Error) -> bool| {
        let mut bytes = original.clone();
        patch(&mut bytes);
        std::fs::write(&path, &bytes).unwrap();
        let err = Log::open(&path).unwrap_err();
        assert!(expect(&err), "unexpected error: {err}");
    };
    check(&|b| b[0] = b'X', &|e| matches!(e, Error::NotALog { .. }));
    check(&|b| b[8] = 9, &|e| {
        matches!(e, Error::UnsupportedVersion { version: 9, .. })
    });
    check(&|b| b[12] = 1, &|e| matches!(e, Error::BadHeader { .. }));
    check(
        &|b| {
            for at in format::SLOT_AT {
                b[at] ^= 1;
            }
        },
        &|e| matches!(e, Error::BadHeader { .. }),
    );
    std::fs::write(
        &path,
        b"hello, not a log at all, but long enough to hold a whole header....",
    )
    .unwrap();
    assert!(matches!(Log::open(&path), Err(Error::NotALog { .. })));
}

#[test]
fn interrupted_creation_is_redone() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("log");
    std::fs::write(&path, &format::new_header()[..20]).unwrap();
    let log = Log::open(&path).unwrap();
    assert_eq!(log.end(), log.first_offset());
    std::fs::write(dir.path().join("other"), b"SLUX").unwrap();
    assert!(matches!(
        Log::open(dir.path().join("other")),
        Err(Error::NotALog { .. })
    ));
}

#[test]
fn one_writer_many_readers() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("log");
    let writer = Log::open(&path).unwrap();
    assert!(matches!(Log::open(&path), Err(Error::Locked { .. })));
    let reader = Log::open_read_only(&path).unwrap();
    assert!(matches!(reader.append(b"x"), Err(Error::ReadOnly)));
    let offset = writer.append(b"first").unwrap();
    assert_eq!(
        reader.refresh().unwrap(),
        reader.first_offset(),
        "unflushed records stay invisible"
    );
    let end = writer.flush().unwrap();
    assert_eq!(reader.refresh().unwrap(), end);
    assert_eq!(reader.get(offset).unwrap(), b"first");
    drop(writer);
    assert!(Log::open(&path).is_ok(), "the lock is released on drop");
}

#[test]
fn read_only_open_never_modifies_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let (path, records) = log_with_tail(dir.path(), 2, 2);
    let len = std::fs::metadata(&path).unwrap().len();
    copy_cut(&path.clone(), &path.with_extension("cut"), len - 3);
    let cut = path.with_extension("cut");
    let log = Log::open_read_only(&cut).unwrap();
    assert_eq!(read_all(&log), records[..3].to_vec());
    assert!(!log.recovery().truncated && log.recovery().dropped() > 0);
    assert!(
        log.recovery().to_string().contains("ignored"),
        "{}",
        log.recovery()
    );
    drop(log);
    assert_eq!(std::fs::metadata(&cut).unwrap().len(), len - 3);
}

#[test]
fn record_size_limits() {
    let dir = tempfile::tempdir().unwrap();
    let opts = LogOptions {
        max_record_size: 1 << 20,
        ..LogOptions::default()
    };
    let log = Log::open_with(dir.path().join("log"), opts).unwrap();
    let big = vec![7u8; 1 << 20];
    let offset = log.append(&big).unwrap();
    assert!(matches!(
        log.append(&[0; (1 << 20) + 1]),
        Err(Error::RecordTooLarge { .. })
    ));
    let batch: [&[u8]; 2] = [b"ok", &[0; (1 << 20) + 1]];
    assert!(matches!(
        log.append_batch(batch),
        Err(Error::RecordTooLarge { .. })
    ));
    log.flush().unwrap();
    assert_eq!(log.get(offset).unwrap(), &big[..]);
    assert_eq!(log.iter(0).count(), 1, "a rejected batch appends nothing");
}

#[test]
fn offsets_outside_the_records_are_errors() {
    let dir = tempfile::tempdir().unwrap();
    let log = Log::open(dir.path().join("log")).unwrap();
    let a = log.append(b"abc").unwrap();
    assert!(
        matches!(log.get(a), Err(Error::OutOfRange { .. })),
        "unflushed"
    );
    log.flush().unwrap();
    assert!(matches!(log.get(0), Err(Error::OutOfRange { .. })));
    assert!(matches!(log.get(log.end()), Err(Error::OutOfRange { .. })));
    assert!(matches!(log.get(a + 1), Err(Error::Corrupt { .. })));
    assert_eq!(log.iter(log.end()).count(), 0);
    assert_eq!(log.iter_rev(log.first_offset()).count(), 0);
}
