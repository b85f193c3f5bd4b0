//! The side-by-side run: every phase for both systems, alternating, repeated, summarised.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::child::{self, PhaseOutput};
use crate::fixture::{self, Fixture, Targets};
use crate::machine::Machine;
use crate::report::{self, Report};
use crate::{Result, RunArgs, bound};

/// The two systems, in the order of even repeats (odd repeats swap them).
pub const SYSTEMS: [System; 2] = [System::Sluice, System::SsbDb2];

/// Every phase, in run order.
pub const PHASES: [&str; 6] = ["import", "migrate", "reindex", "queries", "open", "rawlog"];

/// A system under test.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum System {
    Sluice,
    SsbDb2,
}

impl System {
    /// The name used in results.
    pub fn name(self) -> &'static str {
        match self {
            System::Sluice => "sluice",
            System::SsbDb2 => "ssb-db2",
        }
    }
}

/// Everything the phases of one run share.
#[derive(Debug)]
pub struct Ctx {
    pub work: PathBuf,
    pub fixture: Fixture,
    pub targets_file: PathBuf,
    pub node_dir: PathBuf,
    pub rawlog_records: usize,
    /// The store each system's later phases read (made by its first import).
    pub stores: BTreeMap<System, PathBuf>,
}

/// All samples, keyed by row then system.
pub type Samples = BTreeMap<String, BTreeMap<&'static str, Vec<f64>>>;

/// What a run collects.
#[derive(Debug, Clone, Default)]
pub struct Collected {
    pub samples: Samples,
    /// Row names in first-seen order.
    pub order: Vec<String>,
    pub outputs: Vec<PhaseOutput>,
    pub failures: Vec<String>,
    /// Put before every row name recorded from now on (scale mode: the store size).
    pub prefix: String,
}

impl Collected {
    /// Adds one sample.
    pub fn add(&mut self, row: &str, system: &'static str, value: f64) {
        let row = &format!("{}{row}", self.prefix);
        if !self.samples.contains_key(row) {
            self.order.push(row.to_owned());
        }
        self.samples
            .entry(row.to_owned())
            .or_default()
            .entry(system)
            .or_default()
            .push(value);
    }

    fn record(&mut self, out: PhaseOutput) {
        let system = if out.system == "sluice" {
            "sluice"
        } else {
            "ssb-db2"
        };
        for (row, v) in out
            .rows
            .iter()
            .map(|(k, v)| (k.clone(), *v))
            .chain(out.memory_rows())
            .chain(out.cpu_row())
        {
            self.add(&row, system, v);
        }
        self.outputs.push(out);
    }
}

/// The comparison run (`compare` without `--scale`).
pub fn run(args: &RunArgs) -> Result<()> {
    let machine = Machine::detect();
    eprintln!("machine: {}", machine.describe());
    let tmp = work_dir(args)?;
    let mut ctx = prepare(args, tmp.path())?;
    let targets = write_targets(&ctx)?;
    eprintln!("measuring the ed25519 batch-verify bound (100k signatures)…");
    let bounds = bound::measure(100_000, 256 << 20)?;
    let mut got = Collected::default();
    let partial = args.out.with_extension("partial.json");
    for phase in selected_phases(args) {
        run_phase_repeats(&mut ctx, &mut got, phase, repeats(args, phase), &SYSTEMS);
        // A long run keeps what it measured so far, should it be cut short.
        let so_far = Report::new(
            machine.clone(),
            &ctx.fixture,
            &targets,
            bounds.clone(),
            got.clone(),
            command_line(),
        );
        report::save(&so_far, &partial)?;
    }
    disk_rows(&ctx, &mut got);
    check_answers(&mut got);
    let report = Report::new(machine, &ctx.fixture, &targets, bounds, got, command_line());
    report::write(&report, &args.out)?;
    std::fs::remove_file(&partial).map_err(|e| format!("remove {}: {e}", partial.display()))
}

/// Both systems must give answers of the same size to every query, or the times mean nothing.
pub fn check_answers(got: &mut Collected) {
    let sizes = |system: &str| {
        got.outputs
            .iter()
            .find(|o| o.system == system && o.phase == "queries")
            .map(|o| o.info["answer_sizes"].clone())
    };
    if let (Some(a), Some(b)) = (sizes("sluice"), sizes("ssb-db2")) {
        if a == b {
            eprintln!("answer sizes agree: {a}");
        } else {
            got.failures
                .push(format!("answer sizes differ: sluice {a}, ssb-db2 {b}"));
        }
    }
}

/// The temporary work folder (inside `--work` when given).
pub fn work_dir(args: &RunArgs) -> Result<tempfile::TempDir> {
    let base = args.work.clone().unwrap_or_else(std::env::temp_dir);
    std::fs::create_dir_all(&base).map_err(|e| format!("create {}: {e}", base.display()))?;
    tempfile::Builder::new()
        .prefix("sluice-compare-")
        .tempdir_in(&base)
        .map_err(|e| format!("temp dir in {}: {e}", base.display()))
}

/// The shared state of a run over the fixture `args` names.
pub fn prepare(args: &RunArgs, work: &Path) -> Result<Ctx> {
    let node_dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("compare");
    ensure_node_modules(&node_dir)?;
    Ok(Ctx {
        work: work.to_owned(),
        fixture: fixture::resolve(args, work)?,
        targets_file: work.join("targets.json"),
        node_dir,
        rawlog_records: args.rawlog_records,
        stores: BTreeMap::new(),
    })
}

/// Installs ssb-db2 from the committed lock file when `node_modules` is missing.
pub fn ensure_node_modules(node_dir: &Path) -> Result<()> {
    if node_dir.join("node_modules/ssb-db2/package.json").is_file() {
        return Ok(());
    }
    eprintln!("installing ssb-db2 into {} (npm ci)…", node_dir.display());
    let status = Command::new("npm")
        .args(["ci", "--no-audit", "--no-fund"])
        .current_dir(node_dir)
        .status()
        .map_err(|e| format!("cannot run npm: {e}"))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("npm ci failed ({status})"))
    }
}

/// Picks the query targets from the fixture and writes them for the children.
pub fn write_targets(ctx: &Ctx) -> Result<Targets> {
    let targets = fixture::targets(&ctx.fixture, fixture::main_feed(&ctx.fixture))?;
    let json = serde_json::to_vec_pretty(&targets).map_err(|e| e.to_string())?;
    std::fs::write(&ctx.targets_file, json).map_err(|e| format!("write targets: {e}"))?;
    Ok(targets)
}

fn selected_phases(args: &RunArgs) -> Vec<&'static str> {
    PHASES
        .into_iter()
        .filter(|p| {
            args.phases
                .as_ref()
                .is_none_or(|sel| sel.iter().any(|s| s == p))
        })
        .collect()
}

fn repeats(args: &RunArgs, phase: &str) -> usize {
    let slow = matches!(phase, "import" | "migrate");
    if slow {
        args.repeat_slow.unwrap_or(args.repeat)
    } else {
        args.repeat
    }
    .max(1)
}

/// Runs `phase` `reps` times for each of `systems`, swapping their order on odd repeats.
pub fn run_phase_repeats(
    ctx: &mut Ctx,
    got: &mut Collected,
    phase: &str,
    reps: usize,
    systems: &[System],
) {
    for r in 0..reps {
        let mut order = systems.to_vec();
        if r % 2 == 1 {
            order.reverse();
        }
        for system in order {
            eprintln!("[{phase} {}/{reps}] {}", r + 1, system.name());
            match run_one(ctx, system, phase, r) {
                Ok(out) => got.record(out),
                Err(e) => {
                    eprintln!("  failed: {e}");
                    got.failures.push(format!("{phase} {}: {e}", system.name()));
                }
            }
        }
    }
}

/// Runs one phase of one system in a child process.
pub fn run_one(ctx: &mut Ctx, system: System, phase: &str, rep: usize) -> Result<PhaseOutput> {
    if matches!(phase, "reindex" | "queries" | "open") {
        ensure_store(ctx, system)?;
    }
    let dir = phase_dir(ctx, system, phase, rep)?;
    let out = child::run(command(ctx, system, phase, &dir)?)?;
    if phase == "import" && !ctx.stores.contains_key(&system) {
        ctx.stores.insert(system, dir);
    } else if matches!(phase, "import" | "migrate" | "rawlog") {
        std::fs::remove_dir_all(&dir).map_err(|e| format!("remove {}: {e}", dir.display()))?;
    }
    Ok(out)
}

/// Makes the store the query phases read when no import phase made one yet.
fn ensure_store(ctx: &mut Ctx, system: System) -> Result<()> {
    if ctx.stores.contains_key(&system) {
        return Ok(());
    }
    eprintln!("  (importing a store for {} first)", system.name());
    run_one(ctx, system, "import", usize::MAX).map(drop)
}

fn phase_dir(ctx: &Ctx, system: System, phase: &str, rep: usize) -> Result<PathBuf> {
    if let Some(store) = ctx
        .stores
        .get(&system)
        .filter(|_| matches!(phase, "reindex" | "queries" | "open"))
    {
        return Ok(store.clone());
    }
    let dir = ctx.work.join(format!("{}-{phase}-{rep}", system.name()));
    if dir.exists() {
        std::fs::remove_dir_all(&dir).map_err(|e| format!("remove {}: {e}", dir.display()))?;
    }
    std::fs::create_dir_all(&dir).map_err(|e| format!("create {}: {e}", dir.display()))?;
    if phase == "migrate" && system == System::SsbDb2 {
        place_old_log(ctx, &dir)?;
    }
    Ok(dir)
}

/// ssb-db2 migrates `<dir>/flume/log.offset`: link (or copy) the fixture's there.
fn place_old_log(ctx: &Ctx, dir: &Path) -> Result<()> {
    let from = ctx
        .fixture
        .log_offset
        .as_ref()
        .ok_or("the fixture has no log.offset")?;
    let flume = dir.join("flume");
    std::fs::create_dir_all(&flume).map_err(|e| format!("create {}: {e}", flume.display()))?;
    let to = flume.join("log.offset");
    std::fs::hard_link(from, &to)
        .or_else(|_| std::fs::copy(from, &to).map(drop))
        .map_err(|e| format!("copy {} to {}: {e}", from.display(), to.display()))
}

fn command(ctx: &Ctx, system: System, phase: &str, dir: &Path) -> Result<Command> {
    let mut cmd = match system {
        System::Sluice => {
            let exe = std::env::current_exe().map_err(|e| format!("own path: {e}"))?;
            let mut c = Command::new(exe);
            c.arg("phase").arg(phase);
            c
        }
        System::SsbDb2 => {
            let script = if phase == "rawlog" {
                "rawlog.js"
            } else {
                "ssb-db2.js"
            };
            let mut c = Command::new("node");
            c.arg(ctx.node_dir.join(script));
            if phase != "rawlog" {
                c.arg(phase);
            }
            c
        }
    };
    cmd.arg("--dir").arg(dir);
    add_inputs(&mut cmd, ctx, system, phase)?;
    Ok(cmd)
}

fn add_inputs(cmd: &mut Command, ctx: &Ctx, system: System, phase: &str) -> Result<()> {
    match phase {
        "import" => {
            cmd.arg("--jsonl").arg(&ctx.fixture.jsonl);
        }
        "migrate" if system == System::Sluice => {
            let from = ctx
                .fixture
                .log_offset
                .as_ref()
                .ok_or("the fixture has no log.offset")?;
            cmd.arg("--log-offset").arg(from);
        }
        "reindex" | "queries" | "open" => {
            cmd.arg("--targets").arg(&ctx.targets_file);
        }
        "rawlog" => {
            let key = if system == System::Sluice {
                "--records"
            } else {
                "--n"
            };
            cmd.arg(key).arg(ctx.rawlog_records.to_string());
        }
        _ => {}
    }
    Ok(())
}

/// Bytes on disk of each system's store: the log, and everything else (views, indexes).
/// Adds the bytes-on-disk rows of every store.
pub fn disk_rows(ctx: &Ctx, got: &mut Collected) {
    for (system, store) in &ctx.stores {
        let log = log_bytes(*system, store);
        let total = dir_bytes(store);
        let mib = |b: u64| b as f64 / (1024.0 * 1024.0);
        got.add("disk.log_mib", system.name(), mib(log));
        got.add(
            "disk.views_mib",
            system.name(),
            mib(total.saturating_sub(log)),
        );
        got.add(
            "disk.views_per_log",
            system.name(),
            total.saturating_sub(log) as f64 / log.max(1) as f64,
        );
    }
}

fn log_bytes(system: System, store: &Path) -> u64 {
    match system {
        System::SsbDb2 => file_bytes(&store.join("db2/log.bipf")),
        System::Sluice => crate::sluice_side::log_files(store)
            .iter()
            .map(|p| file_bytes(p))
            .sum(),
    }
}

fn file_bytes(path: &Path) -> u64 {
    std::fs::metadata(path).map_or(0, |m| m.len())
}

/// Total size of the files under `dir`.
pub fn dir_bytes(dir: &Path) -> u64 {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return 0;
    };
    entries
        .flatten()
        .map(|e| match e.file_type() {
            Ok(t) if t.is_dir() => dir_bytes(&e.path()),
            Ok(_) => file_bytes(&e.path()),
            Err(_) => 0,
        })
        .sum()
}

/// How this run was started.
pub fn command_line() -> String {
    let args: Vec<String> = std::env::args().skip(1).collect();
    format!(
        "cargo run --release -p sluice-benches --bin compare -- {}",
        args.join(" ")
    )
}
