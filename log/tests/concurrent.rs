//! Readers iterating, reading and tailing in several threads while a writer appends.

#[path = "support/payload.rs"]
mod support;

use std::sync::Arc;
use std::time::Duration;

use sluice_log::Log;
use support::{append_next, payload};

const RECORDS: usize = 4000;

fn check_item(item: sluice_log::Item<'_>) -> u64 {
    let (offset, bytes) = item.expect("readers never see invalid records");
    assert_eq!(bytes, payload(offset), "wrong bytes at {offset}");
    offset
}

fn writer(log: &Log) -> u64 {
    let mut next = log.first_offset();
    for i in 0..RECORDS {
        append_next(log, &mut next);
        if i % 97 == 0 {
            log.flush().unwrap();
        }
    }
    log.flush().unwrap()
}

fn tailer(log: &Log) -> usize {
    log.tail(0)
        .timeout(Duration::from_secs(10))
        .map(check_item)
        .take(RECORDS)
        .count()
}

fn scanner(log: &Log) -> usize {
    let mut passes = 0;
    while log.iter(0).count() < RECORDS {
        let end = log.end();
        let forward: Vec<u64> = log.iter(0).map(check_item).collect();
        let mut reverse: Vec<u64> = log.iter_rev(end).map(check_item).collect();
        reverse.reverse();
        assert!(reverse.len() <= forward.len() && forward[..reverse.len()] == reverse[..]);
        if let Some(&last) = forward.last() {
            assert_eq!(log.get(last).unwrap(), payload(last));
        }
        passes += 1;
    }
    passes
}

fn waiter(log: &Log) -> u64 {
    let mut seen = log.first_offset();
    loop {
        let end = log.wait_for(seen, Some(Duration::from_secs(10)));
        if end <= seen || log.is_closed() {
            return seen;
        }
        seen = end;
    }
}

#[test]
fn readers_in_threads_while_a_writer_appends() {
    let dir = tempfile::tempdir().unwrap();
    let log = Arc::new(Log::open(dir.path().join("log")).unwrap());
    std::thread::scope(|s| {
        let tails: Vec<_> = (0..2).map(|_| s.spawn(|| tailer(&log))).collect();
        let scan = s.spawn(|| scanner(&log));
        let wait = s.spawn(|| waiter(&log));
        let end = writer(&log);
        for t in tails {
            assert_eq!(t.join().unwrap(), RECORDS);
        }
        assert!(scan.join().unwrap() > 0);
        log.close();
        assert_eq!(wait.join().unwrap(), end);
    });
}

#[test]
fn close_stops_a_blocked_tail() {
    let dir = tempfile::tempdir().unwrap();
    let log = Log::open(dir.path().join("log")).unwrap();
    std::thread::scope(|s| {
        let t = s.spawn(|| log.tail(0).count());
        std::thread::sleep(Duration::from_millis(50));
        log.close();
        assert_eq!(t.join().unwrap(), 0);
    });
    assert_eq!(log.tail(0).timeout(Duration::from_millis(1)).count(), 0);
}

#[test]
fn tail_timeout_ends_a_quiet_tail() {
    let dir = tempfile::tempdir().unwrap();
    let log = Log::open(dir.path().join("log")).unwrap();
    log.append(b"one").unwrap();
    log.flush().unwrap();
    let got: Vec<Vec<u8>> = log
        .tail(0)
        .timeout(Duration::from_millis(20))
        .map(|r| r.unwrap().1.to_vec())
        .collect();
    assert_eq!(got, vec![b"one".to_vec()]);
}
