//! sluice-msg benches on the medium fixture (100,000 messages, 150 feeds): parse (tree-free and
//! through a serde_json tree), encode + hash,
//! single verify, the raw batch-verify bound (`verify_batch` of 1024 on rayon), and
//! `validate_batch` in `full` and `chain` mode. Throughput is in messages.

use std::hint::black_box;
use std::path::PathBuf;

use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use ed25519_dalek::{Signature, VerifyingKey};
use rayon::prelude::*;
use sluice_msg::{Message, VerifyMode, encode, validate_batch};

/// The medium fixture's messages as compact value JSON, or `None` (with a note) when missing.
fn medium_values() -> Option<Vec<String>> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../shared/data/fixtures/medium/msgs.jsonl.zst");
    let Ok(raw) = std::fs::read(&path) else {
        eprintln!("skipping: {} not found", path.display());
        return None;
    };
    let jsonl = zstd::decode_all(&raw[..]).expect("zstd fixture");
    let values = jsonl
        .split(|&b| b == b'\n')
        .filter(|l| !l.is_empty())
        .map(|l| {
            let entry: serde_json::Value = serde_json::from_slice(l).expect("json line");
            Message::from_entry(entry)
                .expect("valid fixture")
                .0
                .to_compact_json()
        })
        .collect();
    Some(values)
}

fn parse_all(values: &[String]) -> Vec<Message> {
    values
        .iter()
        .map(|v| Message::parse(v.as_bytes()).expect("valid"))
        .collect()
}

fn encoding(c: &mut Criterion, values: &[String], msgs: &[Message]) {
    let mut group = c.benchmark_group("msg/encoding");
    group
        .sample_size(10)
        .throughput(Throughput::Elements(msgs.len() as u64));
    group.bench_function("encode_hash", |b| {
        b.iter(|| {
            for m in msgs {
                black_box(encode::latin1_sha256(&encode::to_v8_pretty(m.value())));
            }
        })
    });
    group.bench_function("parse_from_bytes", |b| {
        b.iter(|| black_box(parse_all(values)))
    });
    // The same messages through a serde_json tree (the fallback path), for the ratio.
    group.bench_function("parse_via_tree", |b| {
        b.iter(|| {
            for v in values {
                let tree: serde_json::Value = serde_json::from_str(v).expect("json");
                black_box(Message::from_value(tree).expect("valid"));
            }
        })
    });
    group.finish();
}

/// Keys, signed payloads and signatures, prepared outside the timed part.
struct Raw {
    keys: Vec<VerifyingKey>,
    payloads: Vec<Vec<u8>>,
    sigs: Vec<Signature>,
}

fn raw(msgs: &[Message]) -> Raw {
    Raw {
        keys: msgs
            .iter()
            .map(|m| VerifyingKey::from_bytes(&m.author().0).unwrap())
            .collect(),
        payloads: msgs.iter().map(Message::signing_bytes).collect(),
        sigs: msgs
            .iter()
            .map(|m| Signature::from_bytes(m.signature()))
            .collect(),
    }
}

fn verification(c: &mut Criterion, msgs: &[Message]) {
    let r = raw(msgs);
    let mut group = c.benchmark_group("msg/verify");
    group.sample_size(10);
    group.throughput(Throughput::Elements(1000));
    group.bench_function("single_strict_1000", |b| {
        b.iter(|| {
            for i in 0..1000 {
                r.keys[i].verify_strict(&r.payloads[i], &r.sigs[i]).unwrap();
            }
        })
    });
    group.throughput(Throughput::Elements(msgs.len() as u64));
    group.bench_function("batch_raw_bound", |b| {
        b.iter(|| {
            (0..msgs.len())
                .collect::<Vec<_>>()
                // The batch size `validate_batch` uses on large inputs (the cheapest per signature).
                .par_chunks(1024)
                .for_each(|chunk| {
                    let p: Vec<&[u8]> = chunk.iter().map(|&i| r.payloads[i].as_slice()).collect();
                    let s: Vec<Signature> = chunk.iter().map(|&i| r.sigs[i]).collect();
                    let k: Vec<VerifyingKey> = chunk.iter().map(|&i| r.keys[i]).collect();
                    ed25519_dalek::verify_batch(&p, &s, &k).unwrap();
                })
        })
    });
    for (name, mode) in [
        ("validate_full", VerifyMode::Full),
        ("validate_chain", VerifyMode::Chain),
    ] {
        group.bench_function(name, |b| {
            // Fresh copies each time: a message remembers that its signature verified.
            b.iter_batched(
                || msgs.to_vec(),
                |fresh| {
                    let v = validate_batch(&fresh, |_| None, mode, None);
                    assert!(v.iter().all(Result::is_ok));
                    fresh
                },
                BatchSize::LargeInput,
            )
        });
    }
    group.finish();
}

fn benches(c: &mut Criterion) {
    let Some(values) = medium_values() else {
        return;
    };
    let msgs = parse_all(&values);
    encoding(c, &values, &msgs);
    verification(c, &msgs);
}

criterion_group!(msg, benches);
criterion_main!(msg);
