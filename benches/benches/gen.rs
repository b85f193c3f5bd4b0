//! Generation throughput of sluice-gen: 100k signed messages by 150 authors, JSON lines out.
//!
//! Two measures: criterion's wall time per run (its throughput line prints messages/s as
//! elements/s), then CPU time (user + sys of this process) per message over a few runs, with
//! the load average, since wall time on a shared machine measures the load as much as the
//! generator. Uses every core rayon finds (`RAYON_NUM_THREADS=2` pins the 2-core
//! figure). Run: `cargo bench -p sluice-benches --bench gen`.

use std::time::Instant;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use sluice_benches::proc_stat::{cpu_seconds, load_average};
use sluice_gen::{GenOptions, Generator, write_jsonl};

const MESSAGES: u64 = 100_000;
const AUTHORS: u32 = 150;
/// Runs measured for the CPU time per message.
const CPU_RUNS: u32 = 3;

/// One whole run, JSON lines to a sink; returns the message count.
fn generate() -> u64 {
    let mut generator =
        Generator::new(GenOptions::new(MESSAGES, AUTHORS, "bench")).expect("options");
    write_jsonl(&mut generator, &mut std::io::sink()).expect("generate")
}

fn generate_jsonl(c: &mut Criterion) {
    let mut group = c.benchmark_group("gen");
    group.sample_size(10);
    group.throughput(Throughput::Elements(MESSAGES));
    group.bench_function("jsonl_100k_150_authors", |b| b.iter(generate));
    group.finish();
}

/// Prints CPU µs per message and wall messages/s over [`CPU_RUNS`] runs.
fn cpu_per_message(_c: &mut Criterion) {
    let load_before = load_average();
    let (cpu, wall) = (cpu_seconds("/proc/self/stat"), Instant::now());
    let made: u64 = (0..CPU_RUNS).map(|_| generate()).sum();
    let (cpu, wall) = (
        cpu_seconds("/proc/self/stat") - cpu,
        wall.elapsed().as_secs_f64(),
    );
    let made = made as f64;
    println!(
        "gen/cpu: {:.1} µs CPU per message, {:.0} msgs/s wall ({} runs of {MESSAGES}; \
         load {load_before} before, {} after)",
        cpu / made * 1e6,
        made / wall,
        CPU_RUNS,
        load_average(),
    );
}

criterion_group!(benches, generate_jsonl, cpu_per_message);
criterion_main!(benches);
