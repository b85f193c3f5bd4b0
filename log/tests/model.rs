//! Model test: random appends, batches, flushes, reopens and reads against an in-memory model.

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use sluice_log::{Log, LogOptions};

/// What the log should hold: durable records, and records appended but not yet flushed.
#[derive(Default)]
struct Model {
    durable: Vec<(u64, Vec<u8>)>,
    pending: Vec<(u64, Vec<u8>)>,
}

impl Model {
    fn flush(&mut self) {
        self.durable.append(&mut self.pending);
    }
}

fn record(rng: &mut StdRng) -> Vec<u8> {
    let len = match rng.gen_range(0..10) {
        0 => 0,
        1 => rng.gen_range(2000..70_000),
        _ => rng.gen_range(1..700),
    };
    (0..len).map(|_| rng.r#gen()).collect()
}

fn check_reads(log: &Log, model: &Model, rng: &mut StdRng) {
    assert_eq!(
        log.end(),
        model
            .durable
            .last()
            .map_or(log.first_offset(), |(o, r)| o + r.len() as u64 + 12)
    );
    let all: Vec<(u64, Vec<u8>)> = log
        .iter(0)
        .map(|r| r.map(|(o, b)| (o, b.to_vec())).unwrap())
        .collect();
    assert_eq!(all, model.durable);
    if model.durable.is_empty() {
        assert_eq!(log.iter_rev(u64::MAX).count(), 0);
        return;
    }
    let i = rng.gen_range(0..model.durable.len());
    let (offset, bytes) = &model.durable[i];
    assert_eq!(log.get(*offset).unwrap(), &bytes[..]);
    let forward: Vec<u64> = log.iter(*offset).map(|r| r.unwrap().0).collect();
    let expected: Vec<u64> = model.durable[i..].iter().map(|(o, _)| *o).collect();
    assert_eq!(forward, expected);
    let reverse: Vec<(u64, Vec<u8>)> = log
        .iter_rev(*offset)
        .map(|r| r.map(|(o, b)| (o, b.to_vec())).unwrap())
        .collect();
    let expected: Vec<(u64, Vec<u8>)> = model.durable[..i].iter().rev().cloned().collect();
    assert_eq!(reverse, expected);
}

/// Runs one random operation; returns true when the caller should reopen the log.
fn step(log: &Log, model: &mut Model, rng: &mut StdRng) -> bool {
    match rng.gen_range(0..100) {
        0..50 => {
            let r = record(rng);
            let offset = log.append(&r).unwrap();
            model.pending.push((offset, r));
        }
        50..60 => {
            let batch: Vec<Vec<u8>> = (0..rng.gen_range(0..20)).map(|_| record(rng)).collect();
            let offsets = log.append_batch(batch.iter().map(Vec::as_slice)).unwrap();
            model.pending.extend(offsets.into_iter().zip(batch));
        }
        60..75 => {
            let end = log.flush().unwrap();
            model.flush();
            assert_eq!(end, log.end());
        }
        75..80 => return true,
        _ => check_reads(log, model, rng),
    }
    false
}

#[test]
fn log_matches_model() {
    for seed in 0..8u64 {
        let mut rng = StdRng::seed_from_u64(seed);
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("log");
        // Small write buffers on odd seeds make appends spill to the file between flushes.
        let opts = LogOptions {
            write_buffer: if seed % 2 == 1 { 4096 } else { 1 << 20 },
            ..LogOptions::default()
        };
        let mut log = Log::open_with(&path, opts.clone()).unwrap();
        let mut model = Model::default();
        for _ in 0..300 {
            if step(&log, &mut model, &mut rng) {
                // Dropping a writer flushes.
                drop(log);
                log = Log::open_with(&path, opts.clone()).unwrap_or_else(|e| panic!("reopen: {e}"));
                model.flush();
                assert!(log.recovery().is_clean(), "{}", log.recovery());
            }
        }
        log.flush().unwrap();
        model.flush();
        check_reads(&log, &model, &mut rng);
        assert_eq!(log.verify().unwrap().records, model.durable.len() as u64);
    }
}
