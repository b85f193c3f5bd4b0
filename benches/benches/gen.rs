//! Generation throughput of sluice-gen: 100k signed messages by 150 authors, JSON lines out.
//!
//! Criterion reports time per run; divide 100,000 by it for messages per second (the
//! throughput line prints it as elements/s). Uses every core rayon finds (set
//! `RAYON_NUM_THREADS=2` to pin the 2-core figure).

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use sluice_gen::{GenOptions, Generator, write_jsonl};

const MESSAGES: u64 = 100_000;
const AUTHORS: u32 = 150;

fn generate_jsonl(c: &mut Criterion) {
    let mut group = c.benchmark_group("gen");
    group.sample_size(10);
    group.throughput(Throughput::Elements(MESSAGES));
    group.bench_function("jsonl_100k_150_authors", |b| {
        b.iter(|| {
            let mut generator =
                Generator::new(GenOptions::new(MESSAGES, AUTHORS, "bench")).expect("options");
            write_jsonl(&mut generator, &mut std::io::sink()).expect("generate")
        });
    });
    group.finish();
}

criterion_group!(benches, generate_jsonl);
criterion_main!(benches);
