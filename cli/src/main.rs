//! `sluice`: the command-line front end. Thin: parses arguments, calls the crates, prints.
//!
//! Each command lives in its own module under `cmd/` with an `Args` struct and a
//! `run(&Cli, &Args) -> anyhow::Result<ExitCode>`; adding one is a line in `cmd`, `Command`
//! and `main`. Errors (I/O, usage) exit with status 2.
#![forbid(unsafe_code)]

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

mod cmd {
    pub mod demo;
    pub mod export;
    pub mod fsck;
    pub mod r#gen;
    pub mod import;
    pub mod keys;
    pub mod publish;
    pub mod query;
    pub mod reindex;
    pub mod replicate;
    pub mod serve;
    pub mod stats;
    pub mod validate;
    pub mod whoami;
}
mod print;

use sluice_cli::{ingest, progress, store};

/// Import and rebuilds allocate many small values on many threads; jemalloc keeps that cheap
/// and returns freed memory (mimalloc was as fast and held about three times the anonymous
/// memory on an import).
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

/// sluice: an event-sourced log database for Secure Scuttlebutt.
#[derive(Debug, Parser)]
#[command(name = "sluice", version, about)]
pub struct Cli {
    /// The database directory.
    #[arg(long, env = "SLUICE_DB", global = true, value_name = "DIR",
          default_value_os_t = store::default_dir())]
    pub db: PathBuf,
    #[command(subcommand)]
    pub command: Command,
}

/// The commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Generate deterministic, realistic signed SSB messages (JSON lines) for tests and benches.
    Gen(cmd::r#gen::Args),
    /// Validate messages (JSON lines) as feed chains or one by one.
    Validate(cmd::validate::Args),
    /// Import SSB stores (JSON lines, ssb-server log.offset, ssb-db2 log.bipf) into the database.
    Import(cmd::import::Args),
    /// Rebuild views from the log.
    Reindex(cmd::reindex::Args),
    /// Ask the database questions (JSON lines out; read-only, works during an import).
    Query(cmd::query::Args),
    /// Sign and store a new message of your feed.
    Publish(cmd::publish::Args),
    /// Create or show an ssb-keys secret file.
    Keys(cmd::keys::Args),
    /// Write stored messages as `{key,value,timestamp}` JSON lines (which `import` reads back).
    Export(cmd::export::Args),
    /// Check the log, each feed's chain and every view; `--repair` rebuilds bad views.
    Fsck(cmd::fsck::Args),
    /// Message, feed and type counts, sizes, and each view's version and progress.
    Stats(cmd::stats::Args),
    /// Accept SSB peers: serve our feeds and replicate the wanted ones.
    Serve(cmd::serve::Args),
    /// Replicate the wanted feeds from SSB peers (`net:HOST:PORT~shs:KEY`), once or live.
    Replicate(cmd::replicate::Args),
    /// Print this node's feed id (its key pair lives in `<db>/secret`).
    Whoami(cmd::whoami::Args),
    /// Import the bundled sample into a fresh store and show some answers.
    Demo(cmd::demo::Args),
}

fn main() -> ExitCode {
    init_tracing();
    let cli = Cli::parse();
    let result = match &cli.command {
        Command::Gen(args) => cmd::r#gen::run(&cli, args),
        Command::Validate(args) => cmd::validate::run(&cli, args),
        Command::Import(args) => cmd::import::run(&cli, args),
        Command::Reindex(args) => cmd::reindex::run(&cli, args),
        Command::Query(args) => cmd::query::run(&cli, args),
        Command::Publish(args) => cmd::publish::run(&cli, args),
        Command::Keys(args) => cmd::keys::run(&cli, args),
        Command::Export(args) => cmd::export::run(&cli, args),
        Command::Fsck(args) => cmd::fsck::run(&cli, args),
        Command::Stats(args) => cmd::stats::run(&cli, args),
        Command::Demo(args) => cmd::demo::run(&cli, args),
        Command::Serve(args) => cmd::serve::run(&cli, args),
        Command::Replicate(args) => cmd::replicate::run(&cli, args),
        Command::Whoami(args) => cmd::whoami::run(&cli, args),
    };
    result.unwrap_or_else(|e| {
        eprintln!("sluice: {e:#}");
        ExitCode::from(2)
    })
}

/// Logs go to stderr, filtered by `RUST_LOG` (default: warnings and errors).
fn init_tracing() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
}
