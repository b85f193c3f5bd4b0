//! `sluice fsck`: check log checksums, every feed's chain and every view against the log.

use std::collections::HashMap;
use std::path::Path;
use std::process::ExitCode;

use anyhow::Context as _;
use sluice_msg::{FeedId, FeedState, check_chain};
use sluice_views::{Db, ViewCheck};

use crate::print::Out;

/// Arguments of `sluice fsck`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Rebuild the views found bad (the log itself is never rewritten).
    #[arg(long)]
    pub repair: bool,
}

/// Prints a report; exit 0 when everything is sound (or repaired), 1 when anything is wrong.
pub fn run(cli: &crate::Cli, args: &Args) -> anyhow::Result<ExitCode> {
    let dir = cli.db.clone();
    let db = crate::store::open_ro(&dir)?;
    let mut out = Out::new(false);
    let mut problems = check_log(&db, &mut out)?;
    problems += check_chains(&db, &mut out)?;
    let bad = check_views(&db, &dir, &mut out)?;
    drop(db);
    if args.repair && !bad.is_empty() {
        repair(&dir, &bad, &mut out)?;
    } else {
        problems += bad.len();
    }
    out.line(&if problems == 0 {
        "fsck: ok".to_owned()
    } else {
        format!("fsck: {problems} problem(s)")
    })?;
    out.flush()?;
    Ok(if problems == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

fn check_log(db: &Db, out: &mut Out) -> anyhow::Result<usize> {
    match db.log().verify() {
        Ok(r) => {
            out.line(&format!(
                "log: ok ({} records, {} bytes)",
                r.records, r.bytes
            ))?;
            Ok(0)
        }
        Err(e) => {
            out.line(&format!("log: DAMAGED: {}", crate::ingest::error_chain(&e)))?;
            Ok(1)
        }
    }
}

/// Walks the log in order: each message must parse and extend its feed's chain.
fn check_chains(db: &Db, out: &mut Out) -> anyhow::Result<usize> {
    let mut feeds: HashMap<FeedId, FeedState> = HashMap::new();
    let mut problems = 0;
    for item in db.messages_from(0) {
        let m = item.context("reading the log")?;
        let msg = match m.message() {
            Ok(msg) => msg,
            Err(e) => {
                problems += 1;
                out.line(&format!("message at offset {}: {e}", m.offset()))?;
                continue;
            }
        };
        let state = feeds.get(&msg.author());
        if let Err(e) = check_chain(state, &msg) {
            problems += 1;
            out.line(&format!(
                "feed {} at sequence {}: {e}",
                msg.author(),
                msg.sequence()
            ))?;
        }
        feeds.insert(msg.author(), FeedState::of(&msg));
    }
    if problems == 0 {
        out.line(&format!(
            "feeds: ok ({} feeds, every chain intact)",
            feeds.len()
        ))?;
    }
    Ok(problems)
}

/// Reports every view; returns the names of bad ones. A view file not written yet (after a
/// crash before the first write) is fine: the view is rebuilt from the log on open.
fn check_views(db: &Db, dir: &Path, out: &mut Out) -> anyhow::Result<Vec<&'static str>> {
    let mut bad = Vec::new();
    for ViewCheck {
        name,
        file,
        matches_log,
        ..
    } in db.check_views()?
    {
        let written = dir.join("views").join(format!("{name}.view")).exists();
        let problem = match (&file, matches_log) {
            (Some(_), true) if !written => None,
            (Some(why), _) => Some(format!("file unusable ({why})")),
            (None, false) => Some("state differs from a rebuild from the log".to_owned()),
            (None, true) => None,
        };
        match problem {
            Some(p) => {
                out.line(&format!("view {name}: BAD: {p}"))?;
                bad.push(name);
            }
            None => out.line(&format!("view {name}: ok"))?,
        }
    }
    Ok(bad)
}

fn repair(dir: &Path, bad: &[&str], out: &mut Out) -> anyhow::Result<()> {
    let db = crate::store::open_rw(dir)?;
    db.reindex(bad, &mut |_| {})?;
    out.line(&format!("repaired: rebuilt {}", bad.join(", ")))
}
