//! The sluice side: one phase in this (child) process through the `sluice_views::Db` API (and
//! for imports, `sluice import`'s pipeline), printing one JSON line like
//! `benches/compare/ssb-db2.js` does.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::Instant;

use clap::Args;
use serde_json::{Value, json};
use sluice_cli::ingest::Importer;
use sluice_cli::progress::Meter;
use sluice_msg::{FeedId, MsgId, Ref, VerifyMode};
use sluice_views::Db;

use crate::Result;
use crate::child::Memory;
use crate::rawlog::{self, RawLogParams};

/// Arguments of `compare phase NAME …` (the runner passes them).
#[derive(Debug, Args)]
pub struct PhaseArgs {
    /// import, migrate, reindex, queries, open or rawlog.
    name: String,
    /// The store (or scratch) folder.
    #[arg(long)]
    dir: PathBuf,
    #[arg(long)]
    jsonl: Option<PathBuf>,
    #[arg(long)]
    log_offset: Option<PathBuf>,
    /// The query targets written by the runner.
    #[arg(long)]
    targets: Option<PathBuf>,
    /// Timed runs of each query (the median is reported).
    #[arg(long, default_value_t = 5)]
    iters: usize,
    #[arg(long, default_value_t = 100_000)]
    records: usize,
    #[arg(long, default_value_t = 600)]
    size: usize,
    #[arg(long, default_value_t = 10_000)]
    gets: usize,
}

/// Runs the phase and prints its result line.
pub fn run_phase(args: &PhaseArgs) -> Result<()> {
    let out = match args.name.as_str() {
        "import" => import(
            args,
            need(&args.jsonl, "--jsonl")?,
            VerifyMode::Full,
            "import",
        ),
        "migrate" => import(
            args,
            need(&args.log_offset, "--log-offset")?,
            VerifyMode::Chain,
            "migrate",
        ),
        "reindex" => reindex(args),
        "queries" => queries(args),
        "open" => open(args),
        "rawlog" => rawlog::run(
            &args.dir,
            RawLogParams {
                records: args.records,
                size: args.size,
                gets: args.gets,
            },
        ),
        other => Err(format!("unknown phase {other}")),
    }?;
    let mut line = json!({"system": "sluice", "phase": args.name, "memory": own_memory()});
    merge(&mut line, out);
    println!("{line}");
    Ok(())
}

fn need<'a>(p: &'a Option<PathBuf>, flag: &str) -> Result<&'a Path> {
    p.as_deref()
        .ok_or_else(|| format!("this phase needs {flag}"))
}

fn merge(line: &mut Value, out: Value) {
    if let (Some(l), Value::Object(o)) = (line.as_object_mut(), out) {
        l.extend(o);
    }
}

fn own_memory() -> Memory {
    Memory::parse(&std::fs::read_to_string("/proc/self/status").unwrap_or_default())
}

fn ms(since: Instant) -> f64 {
    since.elapsed().as_secs_f64() * 1e3
}

fn err(e: impl std::fmt::Display) -> String {
    e.to_string()
}

/// The log files of a sluice store (for bytes-on-disk).
pub fn log_files(store: &Path) -> Vec<PathBuf> {
    vec![store.join("log")]
}

/// Imports any store file sluice-import knows with `sluice import`'s own pipeline
/// (`sluice_cli::ingest::Importer`: a reader thread parsing and verifying one batch ahead,
/// batches stored with `Db::add_batch_split`, messages whose predecessor comes later held
/// and retried), so the harness measures what the command runs.
fn import(args: &PhaseArgs, file: &Path, mode: VerifyMode, phase: &str) -> Result<Value> {
    let t = Instant::now();
    let db = sluice_cli::store::open_rw(&args.dir).map_err(err)?;
    let reader = sluice_import::open(file).map_err(err)?;
    let mut importer = Importer::new(&db, mode, None, Arc::new(AtomicBool::new(false)));
    importer
        .import(&file.display().to_string(), reader, &mut Meter::hidden())
        .map_err(err)?;
    importer.finish().map_err(err)?;
    let tally = importer.tally.clone();
    drop(importer);
    drop(db);
    let total = ms(t);
    Ok(json!({
        "rows": {format!("{phase}.ms"): total},
        "info": {"mode": format!("{mode:?}"), "appended": tally.imported, "present": tally.present,
                 "rejected": tally.rejected, "unreadable": tally.unreadable},
    }))
}

/// Deletes the views, reopens and catches up: every view is rebuilt from the log.
fn reindex(args: &PhaseArgs) -> Result<Value> {
    let views = args.dir.join("views");
    if views.exists() {
        std::fs::remove_dir_all(&views).map_err(|e| format!("remove {}: {e}", views.display()))?;
    }
    let t = Instant::now();
    let db = Db::open(&args.dir).map_err(err)?;
    db.catch_up().map_err(err)?;
    let rebuilt = ms(t);
    db.persist_views().map_err(err)?;
    let total = ms(t);
    Ok(json!({"rows": {"reindex.ms": total}, "info": {"rebuild_in_memory_ms": rebuilt}}))
}

/// The query targets, parsed.
struct Targets {
    author: FeedId,
    main_feed: FeedId,
    thread_root: MsgId,
    most_voted: MsgId,
    latest_key: MsgId,
    keys: Vec<MsgId>,
}

fn read_targets(args: &PhaseArgs) -> Result<Targets> {
    let path = need(&args.targets, "--targets")?;
    let text =
        std::fs::read_to_string(path).map_err(|e| format!("read {}: {e}", path.display()))?;
    let v: Value = serde_json::from_str(&text).map_err(err)?;
    let s = |k: &str| v[k].as_str().unwrap_or_default().to_owned();
    let keys: Vec<MsgId> = v["keys"]
        .as_array()
        .map(|a| a.iter().filter_map(|k| k.as_str()?.parse().ok()).collect())
        .unwrap_or_default();
    Ok(Targets {
        author: s("author").parse().map_err(|e| format!("author: {e}"))?,
        main_feed: s("main_feed")
            .parse()
            .map_err(|e| format!("main_feed: {e}"))?,
        thread_root: s("thread_root")
            .parse()
            .map_err(|e| format!("thread_root: {e}"))?,
        most_voted: s("most_voted")
            .parse()
            .map_err(|e| format!("most_voted: {e}"))?,
        latest_key: *keys.first().ok_or("targets have no keys")?,
        keys,
    })
}

/// One query: runs it and returns the size of its answer.
type Query = fn(&Db, &Targets) -> Result<usize>;

fn query_defs() -> Vec<(&'static str, Query)> {
    vec![
        ("author_feed", |db, t| {
            Ok(touch(
                db.feed(&t.author, 1, usize::MAX, false).map_err(err)?,
            ))
        }),
        ("latest_posts", |db, _| {
            Ok(touch(db.latest("post", 50).map_err(err)?))
        }),
        ("thread", |db, t| {
            Ok(touch(db.tangle(&t.thread_root, None).map_err(err)?.members))
        }),
        ("votes", |db, t| {
            let target = Ref::Msg(t.most_voted);
            Ok(touch(
                db.backlinks(&target, Some("vote.link")).map_err(err)?,
            ))
        }),
        ("follows", |db, t| {
            Ok(db.follows(&t.main_feed).map_err(err)?.len())
        }),
        ("get_1000", |db, t| get_all(db, &t.keys)),
    ]
}

/// Reads every answer's JSON bytes, as a caller would (answers are zero-copy views).
fn touch(msgs: Vec<sluice_views::MsgRef<'_>>) -> usize {
    let bytes: usize = msgs.iter().map(|m| m.value_json().len()).sum();
    std::hint::black_box(bytes);
    msgs.len()
}

fn get_all(db: &Db, keys: &[MsgId]) -> Result<usize> {
    let mut found = 0;
    for k in keys {
        if let Some(m) = db.get(k).map_err(err)? {
            std::hint::black_box(m.value_json().len());
            found += 1;
        }
    }
    Ok(found)
}

fn queries(args: &PhaseArgs) -> Result<Value> {
    let targets = read_targets(args)?;
    let db = Db::open(&args.dir).map_err(err)?;
    let mut rows = serde_json::Map::new();
    let mut sizes = serde_json::Map::new();
    for (name, q) in query_defs() {
        sizes.insert(name.into(), json!(q(&db, &targets)?)); // warm-up
        let mut times = Vec::with_capacity(args.iters);
        for _ in 0..args.iters {
            let t = Instant::now();
            q(&db, &targets)?;
            times.push(ms(t));
        }
        rows.insert(
            format!("query.{name}.ms"),
            json!(crate::stats::median(&times)),
        );
    }
    Ok(json!({"rows": rows, "info": {"answer_sizes": sizes, "iters": args.iters}}))
}

/// Open → first answer: first read-only (what `sluice query` does), then writable (what an
/// app embedding the database does). Both load a view on its first use: a get waits for the
/// keys view only.
fn open(args: &PhaseArgs) -> Result<Value> {
    let targets = read_targets(args)?;
    let t = Instant::now();
    let reader = Db::open_read_only(&args.dir).map_err(err)?;
    reader.get(&targets.latest_key).map_err(err)?;
    let read_only_get = ms(t);
    drop(reader);
    let t = Instant::now();
    let db = Db::open(&args.dir).map_err(err)?;
    let got = db.get(&targets.latest_key).map_err(err)?.is_some();
    let first_get = ms(t);
    let posts = db.latest("post", 50).map_err(err)?.len();
    let first_query = ms(t);
    Ok(json!({
        "rows": {"open.first_get_ms": first_get, "open.first_query_ms": first_query,
                 "open.read_only_first_get_ms": read_only_get},
        "info": {"got": got, "posts": posts},
    }))
}
