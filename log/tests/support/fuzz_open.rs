//! The body of the `log_open` fuzz target (fuzz/fuzz_targets/log_open.rs includes this file), also
//! run over random and bit-flipped inputs by tests/fuzz_body.rs: arbitrary bytes as a log file,
//! then open (read-only and writer) and read everything every way (forward, unverified then
//! verified, by offset, reverse). It must never panic, and the readers must agree.

use sluice_log::{Log, LogOptions};

/// Writes `data` as a log file, opens it both ways, and exercises every reader.
pub fn open_and_iterate(data: &[u8]) {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("log");
    std::fs::write(&path, data).expect("write input");
    for read_only in [true, false] {
        let opts = LogOptions {
            read_only,
            ..LogOptions::default()
        };
        if let Ok(log) = Log::open_with(&path, opts) {
            exercise(&log);
        }
    }
}

fn exercise(log: &Log) {
    let forward: Vec<(u64, Vec<u8>)> = log
        .iter(0)
        .map_while(Result::ok)
        .map(|(o, b)| (o, b.to_vec()))
        .collect();
    for (offset, bytes) in &forward {
        assert_eq!(log.get(*offset).expect("get agrees with iter"), &bytes[..]);
    }
    // Walking the frames first and checking their CRCs after gives the same records, and
    // stops at the same place.
    let unverified: Vec<(u64, Vec<u8>)> = log
        .iter_unverified(0)
        .map_while(|r| r.and_then(|r| r.verify()).ok())
        .map(|(o, b)| (o, b.to_vec()))
        .collect();
    assert_eq!(
        unverified, forward,
        "iter_unverified + verify agrees with iter"
    );
    let reverse: Vec<u64> = log
        .iter_rev(log.end())
        .map_while(Result::ok)
        .map(|(o, _)| o)
        .collect();
    if log.verify().is_ok() {
        let mut fwd: Vec<u64> = forward.iter().map(|(o, _)| *o).collect();
        fwd.reverse();
        assert_eq!(
            fwd, reverse,
            "reverse iteration agrees with forward on a clean log"
        );
    }
    if !log.is_read_only() && log.verify().is_ok() {
        append_and_read_back(log);
    }
}

fn append_and_read_back(log: &Log) {
    let offset = log.append(b"fuzz").expect("append to a recovered log");
    assert_eq!(log.flush().expect("flush"), offset + 16);
    assert_eq!(log.get(offset).expect("read back"), b"fuzz");
}
