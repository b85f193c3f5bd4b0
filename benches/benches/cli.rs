//! `sluice` end to end, hyperfine style: each sample spawns the release binary.
//!
//! - `cli/import/{full,chain}`: `sluice --db <fresh temp dir> import --verify MODE log.offset`
//!   on the medium fixture (100,000 messages, 150 feeds); the time includes process start,
//!   reading, validation, storing, view updates and the final view write.
//! - `cli/query_get`: `sluice --db <medium store> query get %id`, process start to output.
//!
//! The binary is `target/release/sluice` next to this bench; it is built first
//! (`cargo build --release -p sluice-cli`) when missing. Run:
//! `cargo bench -p sluice-benches --bench cli`.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use criterion::{BatchSize, Criterion, criterion_group, criterion_main};

/// The medium `log.offset`, decompressed into `dir`, or `None` when the fixture is missing.
fn medium_log(dir: &Path) -> Option<PathBuf> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../shared/data/fixtures/medium/log.offset.zst");
    let Ok(raw) = std::fs::read(&path) else {
        eprintln!("skipping: {} not found", path.display());
        return None;
    };
    let out = dir.join("log.offset");
    std::fs::write(&out, zstd::decode_all(&raw[..]).expect("zstd fixture")).expect("write");
    Some(out)
}

/// `target/release/sluice`, built if needed.
fn binary() -> PathBuf {
    let exe = std::env::current_exe().expect("bench path");
    let release = exe.parent().and_then(Path::parent).expect("target/release");
    let bin = release.join("sluice");
    if !bin.exists() {
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let status = Command::new(cargo)
            .args(["build", "--release", "-p", "sluice-cli", "--bin", "sluice"])
            .status()
            .expect("run cargo build");
        assert!(status.success(), "building the sluice binary failed");
    }
    bin
}

fn run(bin: &Path, db: &Path, args: &[&str]) -> Vec<u8> {
    let out = Command::new(bin)
        .arg("--db")
        .arg(db)
        .args(args)
        .output()
        .expect("spawn sluice");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

fn import(c: &mut Criterion, bin: &Path, log: &Path) {
    let mut group = c.benchmark_group("cli/import");
    group
        .sample_size(10)
        .measurement_time(Duration::from_secs(30));
    for mode in ["full", "chain"] {
        group.bench_function(mode, |b| {
            b.iter_batched(
                || tempfile::tempdir().expect("temp dir"),
                |dir| {
                    let args = [
                        "import",
                        "--verify",
                        mode,
                        log.to_str().expect("utf-8 path"),
                    ];
                    run(bin, &dir.path().join("db"), &args);
                    dir
                },
                BatchSize::PerIteration,
            );
        });
    }
    group.finish();
}

fn query_get(c: &mut Criterion, bin: &Path, log: &Path, dir: &Path) {
    let db = dir.join("store");
    run(
        bin,
        &db,
        &[
            "import",
            "--verify",
            "chain",
            log.to_str().expect("utf-8 path"),
        ],
    );
    let last = run(
        bin,
        &db,
        &["query", "latest", "--type", "post", "--limit", "1"],
    );
    let line: serde_json::Value = serde_json::from_slice(&last).expect("a message line");
    let key = line["key"].as_str().expect("key").to_owned();
    let mut group = c.benchmark_group("cli");
    group.sample_size(50);
    group.bench_function("query_get", |b| {
        b.iter(|| run(bin, &db, &["query", "get", &key]));
    });
    group.finish();
}

fn cli(c: &mut Criterion) {
    let dir = tempfile::tempdir().expect("temp dir");
    let Some(log) = medium_log(dir.path()) else {
        return;
    };
    let bin = binary();
    import(c, &bin, &log);
    query_get(c, &bin, &log, dir.path());
}

criterion_group!(benches, cli);
criterion_main!(benches);
