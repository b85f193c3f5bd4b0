//! Helpers shared by the CLI tests: running the `sluice` binary on a temp store, fixtures.

#![allow(
    dead_code,
    reason = "each test file uses a different subset of these helpers"
)]

use std::path::{Path, PathBuf};

use assert_cmd::Command;

/// The `sluice` binary with a clean environment (no `SLUICE_DB`, quiet logs).
pub fn sluice() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_sluice"));
    cmd.env_remove("SLUICE_DB").env_remove("RUST_LOG");
    cmd
}

/// `sluice --db DIR ARGS…`.
pub fn on(db: &Path, args: &[&str]) -> Command {
    let mut cmd = sluice();
    cmd.arg("--db").arg(db).args(args);
    cmd
}

/// A small-fixture file (`msgs.jsonl`, `log.offset`, `log.bipf`, `secret`, …).
pub fn small(name: &str) -> PathBuf {
    sluice_tests::data_dir().join("small").join(name)
}

/// Stdout of a successful run.
pub fn stdout_of(cmd: &mut Command) -> String {
    let out = cmd.output().expect("run sluice");
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("utf-8 stdout")
}

/// Imports `file` into `db` and expects exit 0.
pub fn import_ok(db: &Path, file: &Path) {
    on(db, &["import"]).arg(file).assert().success();
}

/// The export of `db` (all messages, log order).
pub fn export(db: &Path) -> String {
    stdout_of(&mut on(db, &["export"]))
}

/// The value of `key: N` in an import summary.
pub fn summary_count(summary: &str, key: &str) -> u64 {
    summary
        .lines()
        .find_map(|l| l.strip_prefix(&format!("{key}: ")))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no `{key}` in summary:\n{summary}"))
}
