//! `sluice stats`: counts, sizes and view states.

use std::path::Path;
use std::process::ExitCode;

use crate::print::Out;

/// Arguments of `sluice stats`.
#[derive(Debug, clap::Args)]
pub struct Args {}

/// Prints message, feed and type counts, file sizes, and each view's version and `since`.
pub fn run(cli: &crate::Cli, _args: &Args) -> anyhow::Result<ExitCode> {
    let dir = cli.db.clone();
    let db = crate::store::open_ro(&dir)?;
    db.catch_up()?;
    let feeds = db.feeds()?;
    let mut messages = 0usize;
    for (feed, _) in &feeds {
        messages += db.feed_offsets(feed, 1, usize::MAX, false)?.len();
    }
    let mut out = Out::new(false);
    out.line(&format!("database: {}", dir.display()))?;
    out.line(&format!("messages: {messages}"))?;
    out.line(&format!("feeds: {}", feeds.len()))?;
    out.line(&format!(
        "log: {} bytes, end offset {}",
        file_size(&dir.join("log")),
        db.end()
    ))?;
    out.line("types:")?;
    let types = db.type_counts()?;
    let public: usize = types.iter().map(|(_, n)| n).sum();
    for (kind, n) in &types {
        out.line(&format!("  {kind}: {n}"))?;
    }
    out.line(&format!(
        "  (encrypted): {}",
        messages.saturating_sub(public)
    ))?;
    out.line("views:")?;
    for v in db.view_info() {
        let size = file_size(&dir.join("views").join(format!("{}.view", v.name)));
        out.line(&format!(
            "  {}: version {}, since {}, file {} bytes",
            v.name, v.version, v.since, size
        ))?;
    }
    out.flush()?;
    Ok(ExitCode::SUCCESS)
}

fn file_size(path: &Path) -> u64 {
    std::fs::metadata(path).map(|m| m.len()).unwrap_or(0)
}
