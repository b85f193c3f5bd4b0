//! `sluice reindex`: rebuild views from the log, with progress.

use std::process::ExitCode;

use crate::progress::Meter;

/// Arguments of `sluice reindex`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The views to rebuild (keys, feeds, types, contacts, tangles, backlinks); all when none.
    #[arg(long = "view", value_name = "NAME")]
    pub views: Vec<String>,
}

/// Rebuilds the chosen views and writes their files.
pub fn run(cli: &crate::Cli, args: &Args) -> anyhow::Result<ExitCode> {
    let db = crate::store::open_rw(&cli.db)?;
    let names: Vec<&str> = args.views.iter().map(String::as_str).collect();
    let mut meter = Meter::new("reindexing", Some(db.end()));
    let started = std::time::Instant::now();
    db.reindex(&names, &mut |p| {
        meter.set(p.done, &format!("{} records", p.records));
    })?;
    meter.finish();
    let which = if names.is_empty() {
        "all views".to_owned()
    } else {
        names.join(", ")
    };
    println!(
        "reindexed {which} in {:.2} s",
        started.elapsed().as_secs_f64()
    );
    Ok(ExitCode::SUCCESS)
}
