//! Crash test with real processes: a child appends and flushes in a loop, reporting each flushed
//! end on stdout; the parent SIGKILLs it at random moments, reopens, and checks what survived.

#[path = "support/payload.rs"]
mod support;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::Duration;

use rand::{Rng, SeedableRng};
use sluice_log::{Log, LogOptions};
use support::{append_next, payload};

const CHILD_ENV: &str = "SLUICE_LOG_CRASH_CHILD";
const ROUNDS: usize = 60;

/// The child: append a few records, flush, report the durable end; forever, until killed.
fn child(path: &str) {
    // A small write buffer spills records to the file between flushes, so kills leave
    // unflushed records past the checkpoint for the next open to scan.
    let opts = LogOptions {
        write_buffer: 2000,
        ..LogOptions::default()
    };
    let log = Log::open_with(path, opts).expect("child open");
    let mut next = log.end();
    let mut rng = rand::rngs::StdRng::seed_from_u64(next);
    loop {
        for _ in 0..rng.gen_range(1..40) {
            append_next(&log, &mut next);
        }
        let end = log.flush().expect("flush");
        println!("END {end}");
    }
}

/// Every record present must be exactly what the child wrote there, and nothing reported lost.
/// Returns whether open found records or bytes past the checkpoint.
fn check(path: &std::path::Path, reported: u64, round: usize) -> bool {
    let log = Log::open(path).unwrap_or_else(|e| panic!("round {round}: reopen failed: {e}"));
    assert!(
        log.end() >= reported,
        "round {round}: end {} < reported {reported}",
        log.end()
    );
    let mut count = 0;
    for item in log.iter(0) {
        let (offset, bytes) = item.unwrap_or_else(|e| panic!("round {round}: {e}"));
        assert_eq!(
            bytes,
            payload(offset),
            "round {round}: wrong bytes at {offset}"
        );
        count += 1;
    }
    assert_eq!(log.verify().unwrap().records, count, "round {round}");
    let recovery = log.recovery();
    recovery.scanned_records > 0 || !recovery.is_clean()
}

fn run_child(path: &std::path::Path, rng: &mut impl Rng) -> u64 {
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args([
            "killed_writer_loses_nothing_acknowledged",
            "--exact",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD_ENV, path)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn child");
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut reported = 0;
    for _ in 0..rng.gen_range(1..25) {
        let Some(line) = lines.next() else { break };
        if let Some(end) = line.unwrap().strip_prefix("END ") {
            reported = end.parse().unwrap();
        }
    }
    std::thread::sleep(Duration::from_micros(rng.gen_range(0..3000)));
    child.kill().unwrap();
    child.wait().unwrap();
    // Lines the child printed before dying are acknowledged too.
    for line in lines.map_while(Result::ok) {
        if let Some(end) = line.strip_prefix("END ") {
            reported = end.parse().unwrap();
        }
    }
    reported
}

#[test]
fn killed_writer_loses_nothing_acknowledged() {
    if let Ok(path) = std::env::var(CHILD_ENV) {
        child(&path);
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("log");
    let mut rng = rand::rngs::StdRng::seed_from_u64(2);
    let (mut reported, mut tails) = (0, 0);
    for round in 0..ROUNDS {
        reported = reported.max(run_child(&path, &mut rng));
        tails += usize::from(check(&path, reported, round));
    }
    assert!(reported > 0, "the child never flushed");
    eprintln!("{ROUNDS} kills, {tails} left a tail past the checkpoint, durable end {reported}");
}
