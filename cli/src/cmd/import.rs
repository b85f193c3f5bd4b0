//! `sluice import`: migrate JSON lines, ssb-server `log.offset` or ssb-db2 `log.bipf` stores.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use anyhow::Context as _;
use sluice_msg::VerifyMode;

use crate::ingest::{Importer, Tally};
use crate::progress::Meter;

/// How much signature checking the import does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Verify {
    /// Every signature (batched, on all cores).
    Full,
    /// Every hash link; only the newest signature of each feed's run in a batch, which
    /// authenticates the rest through the hash chain (ssb-validate's queue mode).
    Chain,
}

impl From<Verify> for VerifyMode {
    fn from(v: Verify) -> VerifyMode {
        match v {
            Verify::Full => VerifyMode::Full,
            Verify::Chain => VerifyMode::Chain,
        }
    }
}

/// Arguments of `sluice import`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Stores to import (format detected from content): JSON lines (`{key,value,timestamp}`
    /// or bare values), ssb-server `flume/log.offset`, ssb-db2 `db2/log.bipf`; `-` is stdin.
    #[arg(required = true, value_name = "FILE")]
    pub files: Vec<PathBuf>,
    /// Signature checking: `full` (every message) or `chain` (newest of each run).
    #[arg(long, value_enum, default_value_t = Verify::Full)]
    pub verify: Verify,
    /// Write every rejected or unreadable input as a JSON line (file, position, id, reason, error).
    #[arg(long, value_name = "FILE")]
    pub errors: Option<PathBuf>,
}

/// Imports every file; exit 0 when all were imported or present, 1 when any input was
/// rejected or unreadable, 2 on fatal errors or an interruption (a rerun completes it).
pub fn run(cli: &crate::Cli, args: &Args) -> anyhow::Result<ExitCode> {
    let stop = Arc::new(AtomicBool::new(false));
    let flag = stop.clone();
    ctrlc::set_handler(move || {
        if flag.swap(true, Ordering::Relaxed) {
            // A second Ctrl-C: quit now; the store stays consistent (like kill -9).
            std::process::exit(130);
        }
        eprintln!("sluice: stopping after the current batch (Ctrl-C again to quit now)");
    })
    .context("installing the Ctrl-C handler")?;
    let dir = cli.db.clone();
    let db = crate::store::open_rw(&dir)?;
    let errors = errors_file(args.errors.as_deref())?;
    let mut importer = Importer::new(&db, args.verify.into(), errors, stop);
    for file in &args.files {
        import_file(&mut importer, file)?;
        if importer.stopped() {
            break;
        }
    }
    let interrupted = importer.stopped();
    if !interrupted {
        importer.finish()?;
    }
    print_summary(&importer.tally)?;
    Ok(exit_code(&importer.tally, interrupted))
}

fn errors_file(path: Option<&Path>) -> anyhow::Result<Option<Box<dyn Write>>> {
    let Some(path) = path else { return Ok(None) };
    let file = File::create(path).with_context(|| format!("creating {}", path.display()))?;
    Ok(Some(Box::new(BufWriter::new(file))))
}

fn import_file(importer: &mut Importer<'_>, file: &Path) -> anyhow::Result<()> {
    let name = file.display().to_string();
    let reader = sluice_import::open(file).with_context(|| format!("reading {name}"))?;
    tracing::info!(file = %name, format = ?reader.format(), "importing");
    let size = (name != "-")
        .then(|| std::fs::metadata(file).map(|m| m.len()).ok())
        .flatten();
    let mut meter = Meter::new(&format!("importing {name}"), size);
    importer.import(&name, reader, &mut meter)?;
    meter.finish();
    Ok(())
}

/// Prints the totals on stdout.
pub fn print_summary(t: &Tally) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    writeln!(out, "imported: {}", t.imported)?;
    writeln!(out, "already present: {}", t.present)?;
    let reasons: Vec<String> = t
        .rejected
        .iter()
        .map(|(r, n)| format!("{r}: {n}"))
        .collect();
    if reasons.is_empty() {
        writeln!(out, "rejected: 0")?;
    } else {
        writeln!(
            out,
            "rejected: {} ({})",
            t.rejected_total(),
            reasons.join(", ")
        )?;
    }
    writeln!(out, "unreadable: {}", t.unreadable)?;
    if t.deleted > 0 {
        writeln!(out, "deleted in the source (skipped): {}", t.deleted)?;
    }
    out.flush().context("writing to stdout")
}

fn exit_code(t: &Tally, interrupted: bool) -> ExitCode {
    if interrupted {
        eprintln!("sluice: import interrupted; the store is consistent, rerun to complete it");
        ExitCode::from(2)
    } else if t.rejected_total() > 0 || t.unreadable > 0 {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    }
}
