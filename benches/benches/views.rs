//! sluice-views benches on the medium fixture (100,000 messages, 150 authors): ingest with
//! `full` and `chain` verification, reindex of every view, open → first answer, and the
//! queries of issue 4's table. Also prints view-files/log size and anonymous RSS.

use std::collections::HashMap;
use std::hint::black_box;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group};
use sluice_msg::{FeedId, Keys, Message, MsgId, VerifyMode};
use sluice_views::Db;

fn fixture() -> Vec<u8> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../shared/data/fixtures/medium/msgs.jsonl.zst");
    let raw = std::fs::read(&path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
    zstd::decode_all(&raw[..]).expect("zstd")
}

fn entries(jsonl: &[u8]) -> Vec<(Message, Option<f64>)> {
    jsonl
        .split(|&b| b == b'\n')
        .filter(|l| !l.is_empty())
        .map(|l| Message::from_entry(serde_json::from_slice(l).expect("JSON")).expect("message"))
        .collect()
}

/// Times a fresh ingest of everything (opening the empty store is not timed).
fn timed_ingest(entries: &[(Message, Option<f64>)], mode: VerifyMode, iters: u64) -> Duration {
    let mut total = Duration::ZERO;
    for _ in 0..iters {
        let dir = tempfile::tempdir().expect("tempdir");
        let db = Db::open(dir.path()).expect("open");
        let batch = entries.to_vec();
        let start = Instant::now();
        black_box(db.add_batch_received(batch, mode).expect("add"));
        total += start.elapsed();
    }
    total
}

fn dir_size(dir: &Path) -> u64 {
    std::fs::read_dir(dir)
        .expect("dir")
        .map(|e| e.expect("entry").metadata().expect("meta").len())
        .sum()
}

fn rss_anon_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let line = status
        .lines()
        .find(|l| l.starts_with("RssAnon:"))
        .unwrap_or("RssAnon: 0 kB");
    line.split_whitespace()
        .nth(1)
        .and_then(|n| n.parse().ok())
        .unwrap_or(0)
}

struct Store {
    _dir: tempfile::TempDir,
    path: PathBuf,
    ids: Vec<MsgId>,
    main: FeedId,
    thread: MsgId,
}

/// The feed of the fixture's `secret` (the main author).
fn main_feed() -> FeedId {
    let path =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/data/fixtures/medium/secret");
    let text = std::fs::read_to_string(path).expect("secret");
    Keys::parse_secret(&text).expect("keys").id()
}

/// The root with the most replies (`content.root`).
fn biggest_thread(entries: &[(Message, Option<f64>)]) -> MsgId {
    let mut counts: HashMap<&str, usize> = HashMap::new();
    for (m, _) in entries {
        if let Some(root) = m.content().get("root").and_then(|r| r.as_str()) {
            *counts.entry(root).or_default() += 1;
        }
    }
    let (root, _) = counts
        .into_iter()
        .max_by_key(|&(r, n)| (n, r))
        .expect("a thread");
    root.parse().expect("root id")
}

fn build_store(entries: &[(Message, Option<f64>)]) -> Store {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().to_path_buf();
    let db = Db::open(&path).expect("open");
    db.add_batch_received(entries.to_vec(), VerifyMode::Chain)
        .expect("add");
    db.persist_views().expect("persist");
    let ids = entries.iter().map(|(m, _)| m.id()).collect();
    let main = main_feed();
    let thread = biggest_thread(entries);
    eprintln!(
        "views: main feed {} msgs, biggest thread {} members",
        db.feed(&main, 1, usize::MAX, false).expect("feed").len(),
        db.tangle(&thread, None).expect("tangle").members.len()
    );
    for name in ["keys", "feeds", "types", "contacts", "tangles", "backlinks"] {
        let start = Instant::now();
        db.reindex(&[name], &mut |_| {}).expect("reindex");
        eprintln!("views: reindex {name} alone {:?}", start.elapsed());
    }
    let ratio = dir_size(&path.join("views")) as f64
        / std::fs::metadata(path.join("log")).expect("log").len() as f64;
    eprintln!(
        "views: view files / log = {ratio:.3}; RssAnon after ingest {} KiB",
        rss_anon_kib()
    );
    Store {
        _dir: dir,
        path,
        ids,
        main,
        thread,
    }
}

fn ingest(c: &mut Criterion, entries: &[(Message, Option<f64>)]) {
    let mut g = c.benchmark_group("views/add");
    g.sample_size(10).measurement_time(Duration::from_secs(20));
    g.bench_function("full_100k", |b| {
        b.iter_custom(|n| timed_ingest(entries, VerifyMode::Full, n))
    });
    g.bench_function("chain_100k", |b| {
        b.iter_custom(|n| timed_ingest(entries, VerifyMode::Chain, n))
    });
    g.finish();
}

fn maintenance(c: &mut Criterion, store: &Store) {
    let mut g = c.benchmark_group("views/maintenance");
    g.sample_size(10);
    let db = Db::open(&store.path).expect("open");
    g.bench_function("reindex_all_100k", |b| {
        b.iter(|| db.reindex(&[], &mut |_| {}).expect("reindex"))
    });
    drop(db);
    g.bench_function("open_first_answer", |b| {
        b.iter(|| {
            let db = Db::open_read_only(&store.path).expect("open");
            black_box(db.latest_seq(&store.main).expect("query"));
        })
    });
    g.bench_function("open_writable_first_get", |b| {
        b.iter(|| {
            let db = Db::open(&store.path).expect("open");
            black_box(db.get(&store.ids[0]).expect("get").is_some());
        })
    });
    g.finish();
}

fn queries(c: &mut Criterion, store: &Store) {
    let db = Db::open(&store.path).expect("open");
    let mut g = c.benchmark_group("views/query");
    let mut i = 0usize;
    g.bench_function("get", |b| {
        b.iter(|| {
            i = (i + 7919) % store.ids.len();
            black_box(
                db.get(&store.ids[i])
                    .expect("get")
                    .expect("stored")
                    .offset(),
            )
        })
    });
    g.bench_function("feed_main_author", |b| {
        b.iter(|| {
            black_box(
                db.feed(&store.main, 1, usize::MAX, false)
                    .expect("feed")
                    .len(),
            )
        })
    });
    g.bench_function("latest_50_posts", |b| {
        b.iter(|| black_box(db.latest("post", 50).expect("latest").len()))
    });
    g.bench_function("hops_main_2", |b| {
        b.iter(|| black_box(db.hops(&store.main, 2).expect("hops").len()))
    });
    g.bench_function("biggest_thread", |b| {
        b.iter(|| {
            black_box(
                db.tangle(&store.thread, None)
                    .expect("tangle")
                    .members
                    .len(),
            )
        })
    });
    g.finish();
    eprintln!("views: RssAnon after queries {} KiB", rss_anon_kib());
}

fn benches(c: &mut Criterion) {
    let entries = entries(&fixture());
    let store = build_store(&entries);
    probe_in_child(&store);
    queries(c, &store);
    maintenance(c, &store);
    ingest(c, &entries);
}

criterion_group!(views, benches);

/// Opens the store in this fresh process, runs every query once and prints the anonymous
/// memory it took (the parent's own figures include the parsed fixture).
fn rss_probe(dir: &Path, main: &str, thread: &str) {
    let before = rss_anon_kib();
    let db = Db::open_read_only(dir).expect("open");
    let main: FeedId = main.parse().expect("feed id");
    let thread: MsgId = thread.parse().expect("msg id");
    black_box(db.feed(&main, 1, usize::MAX, false).expect("feed").len());
    black_box(db.latest("post", 50).expect("latest").len());
    black_box(db.hops(&main, 2).expect("hops").len());
    black_box(db.tangle(&thread, None).expect("tangle").members.len());
    println!(
        "rss-probe: RssAnon {} KiB (process start {before} KiB)",
        rss_anon_kib()
    );
}

fn probe_in_child(store: &Store) {
    let out = std::process::Command::new(std::env::current_exe().expect("bench binary"))
        .args(["--rss-probe".as_ref(), store.path.as_os_str()])
        .args([store.main.to_string(), store.thread.to_string()])
        .output()
        .expect("run the probe");
    eprintln!("views: {}", String::from_utf8_lossy(&out.stdout).trim());
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if let Some(i) = args.iter().position(|a| a == "--rss-probe") {
        rss_probe(Path::new(&args[i + 1]), &args[i + 2], &args[i + 3]);
        return;
    }
    views();
    Criterion::default().configure_from_args().final_summary();
}
