//! Runs the fuzz target's body (tests/support/fuzz_open.rs) in the normal suite: over random
//! bytes, over valid logs with random bit flips anywhere, and over every truncation of a log.

#[path = "support/fuzz_open.rs"]
mod fuzz_open;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

fn valid_log() -> Vec<u8> {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("log");
    let log = sluice_log::Log::open(&path).unwrap();
    for i in 0..6u8 {
        log.append(&vec![i; usize::from(i) * 7]).unwrap();
    }
    drop(log);
    std::fs::read(&path).unwrap()
}

#[test]
fn fuzz_body_on_random_bytes() {
    let mut rng = StdRng::seed_from_u64(1);
    let header = sluice_log::format::new_header();
    for _ in 0..150 {
        let mut data: Vec<u8> = (0..rng.gen_range(0..300)).map(|_| rng.r#gen()).collect();
        if rng.gen_bool(0.5) {
            // Keep a valid header so the frame parser sees random bytes.
            data.splice(0..0, header.iter().copied());
        }
        fuzz_open::open_and_iterate(&data);
    }
}

#[test]
fn fuzz_body_on_bit_flipped_logs() {
    let mut rng = StdRng::seed_from_u64(2);
    let log = valid_log();
    for _ in 0..250 {
        let mut data = log.clone();
        for _ in 0..rng.gen_range(1..4) {
            let at = rng.gen_range(0..data.len());
            data[at] ^= 1 << rng.gen_range(0..8);
        }
        fuzz_open::open_and_iterate(&data);
    }
}

#[test]
fn fuzz_body_on_truncated_logs() {
    let log = valid_log();
    for cut in 0..=log.len() {
        fuzz_open::open_and_iterate(&log[..cut]);
    }
}
