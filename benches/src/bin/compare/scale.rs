//! Scale mode: sluice alone on stores made by `sluice gen` at each requested size, to show
//! how import, reindex, query latency and memory grow with the store (ssb-db2 too, up to
//! `--scale-ssb-db2-max` messages).

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::fixture::Fixture;
use crate::machine::Machine;
use crate::report::{self, Report};
use crate::runner::{self, Collected, System};
use crate::{Result, RunArgs, bound};

/// The phases measured at each size.
const PHASES: [&str; 4] = ["import", "reindex", "queries", "open"];
/// The generator seed (fixed, so every run measures the same data).
const SEED: u64 = 1;

/// `compare --scale N1,N2,…`.
pub fn run(args: &RunArgs) -> Result<()> {
    let sizes = args.scale.clone().unwrap_or_default();
    let machine = Machine::detect();
    eprintln!("machine: {}", machine.describe());
    let tmp = runner::work_dir(args)?;
    let sluice = sluice_bin(args)?;
    let bounds = bound::measure(100_000, 256 << 20)?;
    let mut got = Collected::default();
    let mut last = None;
    for &n in &sizes {
        let dir = tmp.path().join(format!("scale-{n}"));
        std::fs::create_dir_all(&dir).map_err(|e| format!("create {}: {e}", dir.display()))?;
        let jsonl = generate(&sluice, n, authors(args.scale_authors, n), &dir)?;
        got.prefix = format!("{}/", label(n));
        last = Some(run_size(args, &dir, jsonl, n, &mut got)?);
        std::fs::remove_dir_all(&dir).map_err(|e| format!("remove {}: {e}", dir.display()))?;
    }
    let (fixture, targets) = last.ok_or("--scale needs at least one size")?;
    let report = Report::new(
        machine,
        &fixture,
        &targets,
        bounds,
        got,
        runner::command_line(),
    );
    report::write(&report, &args.out)
}

/// The author count for a store of `n` messages (`chosen`, or 150 per 100k when 0).
pub fn authors(chosen: u64, n: u64) -> u64 {
    if chosen > 0 {
        chosen
    } else {
        (n * 150 / 100_000).max(150)
    }
}

/// `1000000` → `1M`, `100000` → `100k`.
pub fn label(n: u64) -> String {
    match n {
        n if n >= 1_000_000 && n % 1_000_000 == 0 => format!("{}M", n / 1_000_000),
        n if n >= 1_000 && n % 1_000 == 0 => format!("{}k", n / 1_000),
        n => n.to_string(),
    }
}

fn sluice_bin(args: &RunArgs) -> Result<PathBuf> {
    let bin = match &args.sluice_bin {
        Some(p) => p.clone(),
        None => std::env::current_exe()
            .map_err(|e| e.to_string())?
            .with_file_name("sluice"),
    };
    if bin.is_file() {
        Ok(bin)
    } else {
        Err(format!(
            "no sluice binary at {} (build it: cargo build --release -p sluice-cli, or pass --sluice-bin)",
            bin.display()
        ))
    }
}

fn generate(sluice: &Path, n: u64, authors: u64, dir: &Path) -> Result<PathBuf> {
    let out = dir.join("msgs.jsonl");
    eprintln!("generating {n} messages from {authors} authors…");
    let status = Command::new(sluice)
        .args([
            "gen",
            "--messages",
            &n.to_string(),
            "--authors",
            &authors.to_string(),
        ])
        .args(["--seed", &SEED.to_string(), "--out"])
        .arg(&out)
        .status()
        .map_err(|e| format!("cannot run {}: {e}", sluice.display()))?;
    if status.success() {
        Ok(out)
    } else {
        Err(format!("sluice gen failed ({status})"))
    }
}

fn run_size(
    args: &RunArgs,
    dir: &Path,
    jsonl: PathBuf,
    n: u64,
    got: &mut Collected,
) -> Result<(Fixture, crate::fixture::Targets)> {
    let fixture = Fixture {
        name: format!("generated {} (seed {SEED})", label(n)),
        jsonl,
        log_offset: None,
    };
    let node_dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("compare");
    let mut ctx = runner::Ctx {
        work: dir.to_owned(),
        fixture,
        targets_file: dir.join("targets.json"),
        node_dir,
        rawlog_records: 0,
        stores: Default::default(),
    };
    let targets = runner::write_targets(&ctx)?;
    let mut systems = vec![System::Sluice];
    if n <= args.scale_ssb_db2_max {
        runner::ensure_node_modules(&ctx.node_dir)?;
        systems.push(System::SsbDb2);
    }
    for phase in PHASES {
        runner::run_phase_repeats(&mut ctx, got, phase, args.repeat.max(1), &systems);
    }
    runner::disk_rows(&ctx, got);
    Ok((ctx.fixture, targets))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn authors_grow_with_the_store() {
        assert_eq!(authors(0, 100_000), 150);
        assert_eq!(authors(0, 1_000_000), 1500);
        assert_eq!(authors(0, 10), 150);
        assert_eq!(authors(7, 1_000_000), 7);
    }

    #[test]
    fn labels_sizes() {
        assert_eq!(label(1_000_000), "1M");
        assert_eq!(label(10_000_000), "10M");
        assert_eq!(label(100_000), "100k");
        assert_eq!(label(1234), "1234");
    }
}
