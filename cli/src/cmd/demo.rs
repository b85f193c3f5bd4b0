//! `sluice demo`: import the bundled sample (1,000 messages, 10 feeds, the small ssb-fixtures
//! fixture) into a fresh store and print a few real answers.

use std::collections::HashMap;
use std::io::Cursor;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::Instant;

use anyhow::Context as _;
use sluice_msg::{FeedId, MsgId, Ref, VerifyMode};
use sluice_views::{Db, MsgRef};

use crate::ingest::Importer;
use crate::print::{Out, short, snippet, utc};
use crate::progress::Meter;

/// The sample store, embedded so the demo runs from any directory.
const SAMPLE: &[u8] = include_bytes!("../../../tests/data/small/msgs.jsonl");

/// Arguments of `sluice demo` (the store goes to a temporary directory, never the default
/// `~/.sluice`, unless `--db` or `SLUICE_DB` names another directory).
#[derive(Debug, clap::Args)]
pub struct Args {}

/// Makes the store (a temp dir unless `--db` is given), imports, prints answers.
pub fn run(cli: &crate::Cli, _args: &Args) -> anyhow::Result<ExitCode> {
    let temp = tempfile::tempdir().context("creating a temporary directory")?;
    let dir: PathBuf = if cli.db == crate::store::default_dir() {
        temp.path().to_path_buf()
    } else {
        cli.db.clone()
    };
    let mut out = Out::new(false);
    out.line(&format!("sluice demo: a store in {}", dir.display()))?;
    let db = crate::store::open_rw(&dir)?;
    import_sample(&db, &mut out)?;
    overview(&db, &mut out)?;
    let main = main_feed(&db)?;
    main_feed_answers(&db, &main, &mut out)?;
    biggest_thread(&db, &mut out)?;
    out.flush()?;
    Ok(ExitCode::SUCCESS)
}

fn import_sample(db: &Db, out: &mut Out) -> anyhow::Result<()> {
    let started = Instant::now();
    let reader = sluice_import::Reader::detect(Cursor::new(SAMPLE))?;
    let stop = Arc::new(AtomicBool::new(false));
    let mut importer = Importer::new(db, VerifyMode::Full, None, stop);
    importer.import("sample", reader, &mut Meter::hidden())?;
    importer.finish()?;
    out.line(&format!(
        "imported the bundled sample (every signature verified): {} in {:.0} ms",
        importer.status(),
        started.elapsed().as_secs_f64() * 1000.0
    ))
}

fn overview(db: &Db, out: &mut Out) -> anyhow::Result<()> {
    let feeds = db.feeds()?;
    let mut types = db.type_counts()?;
    types.sort_by_key(|(_, n)| std::cmp::Reverse(*n));
    let list: Vec<String> = types
        .iter()
        .take(6)
        .map(|(t, n)| format!("{t} {n}"))
        .collect();
    out.line(&format!(
        "\n{} feeds; messages by type: {}",
        feeds.len(),
        list.join(", ")
    ))
}

/// The feed with the most messages.
fn main_feed(db: &Db) -> anyhow::Result<FeedId> {
    let mut best = None;
    for (feed, latest) in db.feeds()? {
        if best.is_none_or(|(_, n)| latest > n) {
            best = Some((feed, latest));
        }
    }
    best.map(|(f, _)| f).context("the sample holds no feed")
}

fn main_feed_answers(db: &Db, main: &FeedId, out: &mut Out) -> anyhow::Result<()> {
    let latest = db.latest_seq(main)?.map_or(0, |s| s.sequence);
    out.line(&format!(
        "\nthe busiest feed {main} ({latest} messages); its latest posts:"
    ))?;
    let posts: Vec<MsgRef<'_>> = db
        .feed(main, u64::MAX, usize::MAX, true)?
        .into_iter()
        .filter(|m| m.content_type() == Some("post"))
        .take(3)
        .collect();
    for m in &posts {
        out.line(&format!(
            "  #{} {}  {}",
            m.sequence(),
            utc(m.timestamp()),
            text_of(m)
        ))?;
    }
    let follows = db.follows(main)?;
    let hops = db.hops(main, 2)?;
    let two = hops.values().filter(|&&h| h == 2).count();
    let heads: Vec<String> = follows
        .iter()
        .take(3)
        .map(|f| short(&f.to_string()))
        .collect();
    out.line(&format!(
        "it follows {} feeds ({}…), reaches {two} more at 2 hops, and has {} followers",
        follows.len(),
        heads.join(", "),
        db.followers(main)?.len()
    ))?;
    let links = db.backlinks(&Ref::Feed(*main), None)?;
    out.line(&format!(
        "{} messages link to it (mentions, contacts, …)",
        links.len()
    ))
}

fn biggest_thread(db: &Db, out: &mut Out) -> anyhow::Result<()> {
    let mut replies: HashMap<MsgId, usize> = HashMap::new();
    for m in db.messages_from(0) {
        let v = m?.value()?;
        if let Some(root) = v["content"]["root"].as_str().and_then(|r| r.parse().ok()) {
            *replies.entry(root).or_default() += 1;
        }
    }
    let Some((root, _)) = replies
        .into_iter()
        .max_by_key(|(id, n)| (*n, std::cmp::Reverse(*id)))
    else {
        return out.line("\nno threads in the sample");
    };
    let thread = db.tangle(&root, None)?;
    let authors: std::collections::HashSet<FeedId> =
        thread.members.iter().map(MsgRef::author).collect();
    out.line(&format!(
        "\nthe biggest thread {root}: {} messages by {} feeds, {} tip(s)",
        thread.members.len(),
        authors.len(),
        thread.tips.len()
    ))?;
    if let Some(first) = thread.members.first() {
        out.line(&format!("  it starts: {}", text_of(first)))?;
    }
    let links = db.backlinks(&Ref::Msg(root), None)?;
    let votes = db.backlinks(&Ref::Msg(root), Some("vote.link"))?;
    out.line(&format!(
        "  {} messages link to its root, {} of them votes",
        links.len(),
        votes.len()
    ))?;
    out.line("\ntry: sluice --db DIR query feed @… --pretty   (see sluice query --help)")
}

fn text_of(m: &MsgRef<'_>) -> String {
    m.value()
        .ok()
        .and_then(|v| v["content"]["text"].as_str().map(snippet))
        .unwrap_or_else(|| format!("({})", m.content_type().unwrap_or("private")))
}
