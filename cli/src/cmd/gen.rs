//! `sluice gen`: writes deterministic, realistic signed SSB messages as JSON lines or into a store.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use anyhow::Context as _;
use sluice_gen::{GenOptions, Generator, write_jsonl, write_secrets};
use sluice_msg::VerifyMode;
use sluice_views::{Db, Outcome};

/// Arguments of `sluice gen`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// How many messages to generate.
    #[arg(long, default_value_t = 100_000)]
    pub messages: u64,
    /// How many feeds write them (feed 0 is the most active).
    #[arg(long, default_value_t = 150)]
    pub authors: u32,
    /// Any string: the same seed gives byte-identical output.
    #[arg(long, default_value = "sluice")]
    pub seed: String,
    /// Where to write the `{key,value,timestamp}` JSON lines (default: stdout, or `-`).
    #[arg(long)]
    pub out: Option<String>,
    /// Also write each author's ssb-keys secret file into this folder (never overwrites).
    #[arg(long, value_name = "DIR")]
    pub secrets: Option<PathBuf>,
    /// Store the messages in the database at `--db` (validated by ingest) instead of
    /// writing JSON lines.
    #[arg(long, conflicts_with = "out")]
    pub into_db: bool,
}

/// Generates the messages; exit 0 on success, 2 on I/O or usage errors.
pub fn run(cli: &crate::Cli, args: &Args) -> anyhow::Result<ExitCode> {
    let opts = GenOptions::new(args.messages, args.authors, args.seed.clone());
    let mut generator = Generator::new(opts)?;
    if let Some(dir) = &args.secrets {
        write_secrets(&generator, dir)?;
    }
    let started = Instant::now();
    let count = if args.into_db {
        store(&mut generator, &cli.db)?
    } else {
        write_jsonl(
            &mut generator,
            &mut output(args.out.as_deref().unwrap_or("-"))?,
        )?
    };
    report(count, args.authors, started);
    Ok(ExitCode::SUCCESS)
}

/// Adds every wave to the database at `dir` (created if needed); fails on any refusal.
fn store(generator: &mut Generator, dir: &std::path::Path) -> anyhow::Result<u64> {
    let db = Db::open(dir).with_context(|| format!("opening the database {}", dir.display()))?;
    let mut count = 0u64;
    for wave in generator {
        #[expect(
            clippy::cast_precision_loss,
            reason = "ms timestamps are far below 2^53"
        )]
        let batch: Vec<_> = wave?
            .into_iter()
            .map(|g| (g.message, Some(g.received as f64)))
            .collect();
        count += batch.len() as u64;
        for outcome in db.add_batch_received(batch, VerifyMode::Chain)? {
            if let Outcome::Rejected(e) = outcome {
                anyhow::bail!("the database refused a generated message: {e}");
            }
        }
    }
    Ok(count)
}

/// The output stream: stdout for `-`, else a new (or truncated) file.
fn output(path: &str) -> anyhow::Result<Box<dyn Write>> {
    if path == "-" {
        return Ok(Box::new(BufWriter::new(std::io::stdout().lock())));
    }
    let file = File::create(path).with_context(|| format!("creating {path}"))?;
    Ok(Box::new(BufWriter::with_capacity(1 << 20, file)))
}

fn report(count: u64, authors: u32, started: Instant) {
    let secs = started.elapsed().as_secs_f64();
    #[expect(clippy::cast_precision_loss, reason = "a rate for people to read")]
    let rate = count as f64 / secs.max(1e-9);
    eprintln!("sluice gen: {count} messages by {authors} authors in {secs:.2} s ({rate:.0} msg/s)");
}
