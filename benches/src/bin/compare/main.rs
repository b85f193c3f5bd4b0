//! `compare`: sluice and ssb-db2 side by side on the same fixture, one phase per child process.
//!
//! `cargo run --release -p sluice-benches --bin compare -- [--fixture medium|small|DIR]
//! [--repeat 3] [--out results.json]` runs every phase for both systems, alternating them,
//! and prints a markdown table (median, min–max, ratio sluice/ssb-db2, physical bound).
//! `--scale 1000000,10000000` runs sluice alone on generated stores of those sizes.
//! The `phase` subcommand is how the runner re-executes itself as a child for one sluice phase.
#![forbid(unsafe_code)]

mod bound;
mod child;
mod fixture;
mod machine;
mod rawlog;
mod report;
mod runner;
mod scale;
mod sluice_side;
mod stats;

/// The `sluice` binary's allocator: sluice's phases run with what its users run.
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

/// The harness's result type: it is a tool, not a library, so every failure is a message for
/// the person running it (anyhow stays in the CLI crate).
pub type Result<T> = std::result::Result<T, String>;

#[derive(Debug, Parser)]
#[command(about = "sluice vs ssb-db2, side by side (see benches/compare/README.md)")]
struct Cli {
    #[command(subcommand)]
    cmd: Option<Cmd>,
    #[command(flatten)]
    run: RunArgs,
}

#[derive(Debug, Subcommand)]
enum Cmd {
    /// Internal: run one sluice phase in this process and print one JSON line.
    #[command(hide = true)]
    Phase(sluice_side::PhaseArgs),
}

/// Options of a comparison or scale run.
#[derive(Debug, Args)]
pub struct RunArgs {
    /// `medium`, `small` (shared fixtures), or a folder holding msgs.jsonl[.zst] / log.offset[.zst].
    #[arg(long, default_value = "medium")]
    fixture: String,
    /// A JSON-lines file to import instead of the fixture's.
    #[arg(long)]
    jsonl: Option<PathBuf>,
    /// A flumelog-offset `log.offset` to migrate instead of the fixture's.
    #[arg(long)]
    log_offset: Option<PathBuf>,
    /// Repeats of the fast phases (each a fresh child process per system).
    #[arg(long, default_value_t = 3)]
    repeat: usize,
    /// Repeats of the slow phases (import, migrate); defaults to `--repeat`.
    #[arg(long)]
    repeat_slow: Option<usize>,
    /// Only these phases (comma-separated: import,migrate,reindex,queries,open,rawlog).
    #[arg(long, value_delimiter = ',')]
    phases: Option<Vec<String>>,
    /// Where the JSON results go.
    #[arg(long, default_value = "compare-results.json")]
    out: PathBuf,
    /// Folder for stores and decompressed fixtures (a temporary folder inside it is used).
    #[arg(long)]
    work: Option<PathBuf>,
    /// The shared data folder (default: `../shared/data` beside the repository).
    #[arg(long)]
    data_dir: Option<PathBuf>,
    /// Records in the raw-log comparison (600-byte records by default).
    #[arg(long, default_value_t = 100_000)]
    rawlog_records: usize,
    /// Scale mode: sluice alone on `sluice gen` stores of these sizes (e.g. 1000000,10000000).
    #[arg(long, value_delimiter = ',')]
    scale: Option<Vec<u64>>,
    /// Authors in generated scale stores (0: 150 per 100k messages, like the medium fixture,
    /// so answers such as one author's feed grow with the store only as real ones would).
    #[arg(long, default_value_t = 0)]
    scale_authors: u64,
    /// Also run ssb-db2 on generated stores up to this many messages.
    #[arg(long, default_value_t = 0)]
    scale_ssb_db2_max: u64,
    /// The `sluice` binary used for `sluice gen` in scale mode (default: next to this one).
    #[arg(long)]
    sluice_bin: Option<PathBuf>,
}

fn main() {
    let cli = Cli::parse();
    let result = match cli.cmd {
        Some(Cmd::Phase(args)) => sluice_side::run_phase(&args),
        None if cli.run.scale.is_some() => scale::run(&cli.run),
        None => runner::run(&cli.run),
    };
    if let Err(e) = result {
        eprintln!("compare: {e}");
        std::process::exit(1);
    }
}
