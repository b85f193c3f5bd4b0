//! Killing an import with SIGKILL leaves a consistent store that a rerun completes; the
//! medium fixture (100,000 messages) imports completely.

mod common;

use std::path::Path;
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use common::{on, stdout_of, summary_count};

fn stored_count(db: &Path) -> u64 {
    let stats = stdout_of(&mut on(db, &["stats"]));
    stats
        .lines()
        .find_map(|l| l.strip_prefix("messages: "))
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no message count in {stats}"))
}

/// The medium fixture as a file, or a generated 30,000-message one when it is missing
/// outside CI. Returns the path and its message count.
fn input(dir: &Path) -> (std::path::PathBuf, u64) {
    let path = dir.join("input");
    if let Some(bytes) = sluice_tests::shared_fixture("fixtures/medium/log.offset.zst") {
        std::fs::write(&path, bytes).unwrap();
        return (path, 100_000);
    }
    let out = on(
        &dir.join("unused"),
        &["gen", "--messages", "30000", "--out"],
    )
    .arg(&path)
    .output()
    .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    (path, 30_000)
}

/// Spawns an import of `file` into `db`.
fn spawn_import(db: &Path, file: &Path) -> Child {
    std::process::Command::new(env!("CARGO_BIN_EXE_sluice"))
        .arg("--db")
        .arg(db)
        .args(["import", "--verify", "full"])
        .arg(file)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap()
}

/// Waits until `db` holds at least 5,000 messages (or the child ended, or two minutes).
fn wait_for_progress(db: &Path, child: &mut Child) {
    let started = Instant::now();
    while started.elapsed() < Duration::from_secs(120) {
        std::thread::sleep(Duration::from_millis(20));
        if child.try_wait().unwrap().is_some() {
            break;
        }
        if db.join("log").exists() && stored_count(db) >= 5000 {
            break;
        }
    }
}

/// Spawns an import and SIGKILLs it once some messages are durable.
fn import_and_kill(db: &Path, file: &Path) {
    let mut child = spawn_import(db, file);
    wait_for_progress(db, &mut child);
    // std's Child::kill sends SIGKILL on Unix.
    child.kill().ok();
    let status = child.wait().unwrap();
    assert!(
        !status.success(),
        "the import finished before it could be killed"
    );
}

/// Runs the import again to the end and checks the store holds everything, once.
fn rerun_completes(db: &Path, file: &Path, total: u64) {
    on(db, &["fsck"]).assert().success();
    let partial = stored_count(db);
    assert!(partial < total, "stopped mid-import: {partial} of {total}");
    let out = stdout_of(on(db, &["import", "--verify", "chain"]).arg(file));
    assert_eq!(
        summary_count(&out, "imported") + summary_count(&out, "already present"),
        total
    );
    assert_eq!(summary_count(&out, "already present"), partial);
    assert_eq!(summary_count(&out, "rejected"), 0);
    assert_eq!(stored_count(db), total);
    on(db, &["fsck"]).assert().success();
}

#[test]
fn kill_9_during_import_then_rerun_completes_and_fsck_passes() {
    let tmp = tempfile::tempdir().unwrap();
    let db = tmp.path().join("db");
    let (file, total) = input(tmp.path());
    import_and_kill(&db, &file);
    rerun_completes(&db, &file, total);
}

#[test]
fn ctrl_c_stops_after_a_batch_with_exit_2_and_a_rerun_completes() {
    let tmp = tempfile::tempdir().unwrap();
    let db = tmp.path().join("db");
    let (file, total) = input(tmp.path());
    let mut child = spawn_import(&db, &file);
    wait_for_progress(&db, &mut child);
    let sent = std::process::Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(sent.success());
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(2), "interrupted imports exit 2");
    let summary = String::from_utf8(out.stdout).unwrap();
    assert!(summary_count(&summary, "imported") > 0, "{summary}");
    rerun_completes(&db, &file, total);
}
