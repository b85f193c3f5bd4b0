//! CPU time (getrusage user + sys, all threads) of rebuilds and queries on the medium fixture:
//! `cargo run --release -p sluice-views --example reindex_cpu`. CPU time, not wall time, because
//! the development machine is shared (CPU time counts every thread, rayon's included).
//! `SCAN_ONLY=1` times only the content scanner; `REINDEX_ONLY=contacts,tangles` (empty = all)
//! times only that reindex, for profiling with `perf record`. `REINDEX_STORE=<dir>` keeps the
//! store in `<dir>` (filled on the first run, reused after; `REINDEX_REPS` rebuilds, 20 by
//! default), so that a profile of a `REINDEX_ONLY` run holds little besides the rebuilds.

use std::hint::black_box;

use sluice_msg::{Keys, Message, VerifyMode};
use sluice_views::{Db, Facts};

fn cpu_secs() -> f64 {
    let usage = std::fs::read_to_string("/proc/self/stat").expect("stat");
    let fields: Vec<&str> = usage
        .rsplit(')')
        .next()
        .expect("stat")
        .split_whitespace()
        .collect();
    let ticks: f64 =
        fields[11].parse::<f64>().expect("utime") + fields[12].parse::<f64>().expect("stime");
    ticks / 100.0
}

fn measure(name: &str, reps: u32, mut f: impl FnMut()) {
    let start = cpu_secs();
    let wall = std::time::Instant::now();
    for _ in 0..reps {
        f();
    }
    let cpu = (cpu_secs() - start) / f64::from(reps);
    let wall = wall.elapsed().as_secs_f64() / f64::from(reps);
    println!(
        "{name:32} cpu {:>10.3} ms  wall {:>10.3} ms",
        cpu * 1e3,
        wall * 1e3
    );
}

/// The medium fixture's entries (message, receive timestamp).
fn entries() -> Vec<(Message, Option<f64>)> {
    let jsonl = sluice_tests::shared_fixture("fixtures/medium/msgs.jsonl.zst").expect("fixture");
    jsonl
        .split(|&b| b == b'\n')
        .filter(|l| !l.is_empty())
        .map(|l| Message::from_entry(serde_json::from_slice(l).expect("JSON")).expect("msg"))
        .collect()
}

/// Rebuilds the views named in `REINDEX_ONLY` (all when empty) `REINDEX_REPS` times (20).
fn reindex_only(db: &Db) {
    let name = std::env::var("REINDEX_ONLY").expect("name");
    let names: Vec<&str> = name.split(',').filter(|n| !n.is_empty()).collect();
    let reps = std::env::var("REINDEX_REPS").map_or(20, |r| r.parse().expect("a count"));
    measure(&format!("reindex x{reps}"), reps, || {
        db.reindex(&names, &mut |_| {}).expect("reindex")
    });
}

fn main() {
    if let Some(dir) = std::env::var_os("REINDEX_STORE") {
        let dir = std::path::Path::new(&dir);
        let fresh = !dir.join("log").exists();
        let db = Db::open(dir).expect("open");
        if fresh {
            db.add_batch_received(entries(), VerifyMode::Chain)
                .expect("add");
        }
        return reindex_only(&db);
    }
    let entries = entries();
    let values: Vec<String> = entries.iter().map(|(m, _)| m.to_compact_json()).collect();
    if std::env::var_os("SCAN_ONLY").is_some() {
        measure("scan facts x10", 10, || {
            values.iter().for_each(|v| {
                black_box(Facts::scan(v.as_bytes()));
            })
        });
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let db = Db::open(dir.path()).expect("open");
    db.add_batch_received(entries.clone(), VerifyMode::Chain)
        .expect("add");
    let secret = sluice_tests::shared_fixture("fixtures/medium/secret").expect("secret");
    let main = Keys::parse_secret(std::str::from_utf8(&secret).expect("utf8"))
        .expect("keys")
        .id();

    if std::env::var_os("REINDEX_ONLY").is_some() {
        return reindex_only(&db);
    }
    measure("scan facts, 100k values (1 thread)", 3, || {
        values.iter().for_each(|v| {
            black_box(Facts::scan(v.as_bytes()));
        })
    });
    measure("serde Value parse, 100k (1 thread)", 3, || {
        values.iter().for_each(|v| {
            black_box(serde_json::from_str::<serde_json::Value>(v).ok());
        })
    });
    measure("reindex all", 5, || {
        db.reindex(&[], &mut |_| {}).expect("reindex")
    });
    for name in ["keys", "feeds", "types", "contacts", "tangles", "backlinks"] {
        measure(&format!("reindex {name}"), 5, || {
            db.reindex(&[name], &mut |_| {}).expect("reindex")
        });
    }
    measure("feed main author (x100)", 100, || {
        black_box(db.feed(&main, 1, usize::MAX, false).expect("feed").len());
    });
    measure("hops main 2 (x10000)", 10_000, || {
        black_box(db.hops(&main, 2).expect("hops").len());
    });
}
