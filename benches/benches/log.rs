//! sluice-log benches on 600-byte records: buffered append, append with a flush every N records,
//! forward and reverse scans (CRC checked), random get, and opening a ~1 GB clean log.

use std::hint::black_box;
use std::path::Path;
use std::time::{Duration, Instant};

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use rand::{Rng, SeedableRng};
use sluice_log::Log;

const RECORD: usize = 600;
const SCAN_RECORDS: u64 = 100_000;
const OPEN_BYTES: u64 = 1 << 30;

fn record(i: u64) -> [u8; RECORD] {
    let mut r = [0u8; RECORD];
    r[..8].copy_from_slice(&i.to_le_bytes());
    r
}

/// Appends `count` records to a fresh log in `dir`, flushing every `every` (never if 0); the
/// log's drop (a final flush) is not timed.
fn timed_appends(dir: &Path, count: u64, every: u64) -> Duration {
    let log = Log::open(dir.join(format!("append-{count}-{every}"))).unwrap();
    let start = Instant::now();
    for i in 0..count {
        black_box(log.append(&record(i)).unwrap());
        if every != 0 && (i + 1) % every == 0 {
            log.flush().unwrap();
        }
    }
    let elapsed = start.elapsed();
    drop(log);
    elapsed
}

fn append(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    let mut group = c.benchmark_group("log/append");
    group.throughput(Throughput::Elements(1));
    group.bench_function("buffered", |b| {
        b.iter_custom(|iters| {
            let sample = tempfile::tempdir_in(dir.path()).unwrap();
            timed_appends(sample.path(), iters, 0)
        });
    });
    for every in [1, 100, 1000] {
        group
            .sample_size(10)
            .measurement_time(Duration::from_secs(5));
        group.bench_with_input(
            BenchmarkId::new("flush_every", every),
            &every,
            |b, &every| {
                b.iter_custom(|iters| {
                    let sample = tempfile::tempdir_in(dir.path()).unwrap();
                    timed_appends(sample.path(), iters, every)
                });
            },
        );
    }
    group.finish();
}

fn filled_log(path: &Path, records: u64) -> (Log, Vec<u64>) {
    let log = Log::open(path).unwrap();
    let offsets = (0..records)
        .map(|i| log.append(&record(i)).unwrap())
        .collect();
    log.flush().unwrap();
    (log, offsets)
}

fn reads(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    let (log, offsets) = filled_log(&dir.path().join("scan"), SCAN_RECORDS);
    let mut group = c.benchmark_group("log/read");
    group.throughput(Throughput::Elements(SCAN_RECORDS));
    group.bench_function("forward_scan", |b| {
        b.iter(|| log.iter(0).map(|r| r.unwrap().1.len()).sum::<usize>());
    });
    group.bench_function("reverse_scan", |b| {
        b.iter(|| {
            log.iter_rev(log.end())
                .map(|r| r.unwrap().1.len())
                .sum::<usize>()
        });
    });
    let mut rng = rand::rngs::StdRng::seed_from_u64(9);
    let picks: Vec<u64> = (0..4096)
        .map(|_| offsets[rng.gen_range(0..offsets.len())])
        .collect();
    group.throughput(Throughput::Elements(1));
    let mut i = 0;
    group.bench_function("random_get", |b| {
        b.iter(|| {
            i = (i + 1) % picks.len();
            black_box(log.get(picks[i]).unwrap().len())
        });
    });
    group.finish();
}

fn open(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("open");
    let records = OPEN_BYTES / sluice_log::format::frame_len(RECORD) as u64;
    drop(filled_log(&path, records));
    let mut group = c.benchmark_group("log/open");
    group.sample_size(20);
    group.bench_function("clean_1GiB", |b| b.iter(|| Log::open(&path).unwrap().end()));
    group.bench_function("clean_1GiB_read_only", |b| {
        b.iter(|| Log::open_read_only(&path).unwrap().end());
    });
    group.finish();
}

criterion_group!(benches, append, reads, open);
criterion_main!(benches);
