//! CPU time (user + sys, from `/proc/self/stat`) of each ingest stage on the medium fixture:
//! parse, the raw `verify_batch` bound (ed25519-dalek's and sluice-msg's `batch_verifies`),
//! `validate_batch` full/chain, `Db::add_batch`
//! full/chain, and a rebuild of every view (`Db::reindex(&[])`, three times, after the chain
//! ingest). CPU time depends less on what else the shared machine runs than wall time; both
//! are printed, with the load average before and after.
//! Run: `cargo bench -p sluice-benches --bench ingest_cpu` (prints one line per stage;
//! `INGEST_STAGE=full|chain|validate|add|raw|reindex` picks stages).

use std::hint::black_box;
use std::path::Path;
use std::time::Instant;

use ed25519_dalek::{Signature, VerifyingKey};
use rayon::prelude::*;
use sluice_msg::{FeedId, Message, VerifyMode, batch_verifies, validate_batch};
use sluice_views::Db;

/// This process's user + system CPU time in seconds.
fn cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // Fields after the `(comm)` part: utime and stime are the 12th and 13th.
    let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let f: Vec<u64> = rest
        .split_whitespace()
        .skip(11)
        .take(2)
        .filter_map(|x| x.parse().ok())
        .collect();
    f.iter().sum::<u64>() as f64 / 100.0
}

/// Runs `f`, printing its CPU and wall time per message.
fn stage<T>(name: &str, n: usize, f: impl FnOnce() -> T) -> T {
    let (cpu, wall) = (cpu_seconds(), Instant::now());
    let out = black_box(f());
    let (cpu, wall) = (cpu_seconds() - cpu, wall.elapsed().as_secs_f64());
    println!(
        "{name:<22} cpu {cpu:7.3} s  wall {wall:7.3} s  ({:.0} msgs per cpu-s)",
        n as f64 / cpu.max(1e-9)
    );
    out
}

fn lines(jsonl: &[u8]) -> Vec<&[u8]> {
    jsonl
        .split(|&b| b == b'\n')
        .filter(|l| !l.is_empty())
        .collect()
}

fn parse(lines: &[&[u8]]) -> Vec<(Message, Option<f64>)> {
    lines
        .iter()
        .map(|l| Message::from_entry_slice(l).expect("msg"))
        .collect()
}

/// The raw `verify_batch` bound (keys, payloads and signatures prepared untimed) for
/// several batch sizes, on rayon.
fn raw_bound(msgs: &[Message]) {
    let keys: Vec<VerifyingKey> = msgs
        .iter()
        .map(|m| VerifyingKey::from_bytes(&m.author().0).expect("key"))
        .collect();
    let payloads: Vec<Vec<u8>> = msgs.iter().map(Message::signing_bytes).collect();
    let sigs: Vec<Signature> = msgs
        .iter()
        .map(|m| Signature::from_bytes(m.signature()))
        .collect();
    for size in [64, 256, 1024] {
        stage(&format!("verify_batch raw /{size}"), msgs.len(), || {
            (0..msgs.len())
                .collect::<Vec<_>>()
                .par_chunks(size)
                .all(|c| {
                    let p: Vec<&[u8]> = c.iter().map(|&i| payloads[i].as_slice()).collect();
                    let s: Vec<Signature> = c.iter().map(|&i| sigs[i]).collect();
                    let k: Vec<VerifyingKey> = c.iter().map(|&i| keys[i]).collect();
                    ed25519_dalek::verify_batch(&p, &s, &k).is_ok()
                })
        });
    }
    // sluice-msg's own batch equation (terms of one key gathered), with its per-signature checks.
    let authors: Vec<FeedId> = msgs.iter().map(Message::author).collect();
    let raw_sigs: Vec<[u8; 64]> = msgs.iter().map(|m| *m.signature()).collect();
    for size in [64, 1024] {
        stage(&format!("batch_verifies raw /{size}"), msgs.len(), || {
            (0..msgs.len())
                .collect::<Vec<_>>()
                .par_chunks(size)
                .all(|c| {
                    let a: Vec<FeedId> = c.iter().map(|&i| authors[i]).collect();
                    let p: Vec<&[u8]> = c.iter().map(|&i| payloads[i].as_slice()).collect();
                    let s: Vec<[u8; 64]> = c.iter().map(|&i| raw_sigs[i]).collect();
                    batch_verifies(&a, &p, &s)
                })
        });
    }
}

/// Stores `entries` in a fresh database with one `add_batch` call; then, when asked,
/// rebuilds every view of that database a few times.
fn ingest(entries: &[(Message, Option<f64>)], mode: VerifyMode, reindex: bool) {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = Db::open(dir.path()).expect("open");
    let batch = entries.to_vec();
    let name = format!("add_batch {mode:?}");
    stage(&name, entries.len(), || {
        db.add_batch_received(batch, mode).expect("add")
    });
    // Let the batch's background free finish before the next stage is timed.
    std::thread::sleep(std::time::Duration::from_millis(500));
    for _ in 0..if reindex { 3 } else { 0 } {
        stage("reindex all views", entries.len(), || {
            db.reindex(&[], &mut |_| {}).expect("reindex")
        });
    }
}

fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg").unwrap_or_default()
}

fn main() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../shared/data/fixtures/medium/msgs.jsonl.zst");
    let Ok(raw) = std::fs::read(&path) else {
        eprintln!("skipping: {} not found", path.display());
        return;
    };
    println!("load average before: {}", load_average().trim_end());
    let jsonl = zstd::decode_all(&raw[..]).expect("zstd");
    let lines = lines(&jsonl);
    let n = lines.len();
    let entries = stage("parse entries", n, || parse(&lines));
    let msgs: Vec<Message> = entries.iter().map(|(m, _)| m.clone()).collect();
    // INGEST_STAGE=full|chain|validate|add|raw runs only those stages.
    let only = std::env::var("INGEST_STAGE").unwrap_or_default();
    if only.is_empty() || only == "raw" {
        raw_bound(&msgs);
    }
    for (name, mode) in [("full", VerifyMode::Full), ("chain", VerifyMode::Chain)] {
        if only.is_empty() || only == name || only == "validate" {
            // Fresh copies: a message remembers that its signature verified.
            let fresh: Vec<Message> = entries.iter().map(|(m, _)| m.clone()).collect();
            stage(&format!("validate_batch {name}"), n, || {
                validate_batch(&fresh, |_| None, mode, None)
            });
        }
    }
    for (name, mode) in [("full", VerifyMode::Full), ("chain", VerifyMode::Chain)] {
        let reindex = mode == VerifyMode::Chain && (only.is_empty() || only == "reindex");
        if only.is_empty() || only == name || only == "add" || reindex {
            ingest(&entries, mode, reindex);
        }
    }
    println!("load average after: {}", load_average().trim_end());
}
