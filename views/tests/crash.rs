//! Crash tests with real processes: the test re-executes itself as a child that writes, the
//! parent kills it with SIGKILL mid-way, reopens the store and checks that the views agree
//! with the log and that every acknowledged message survived.

mod common;

use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Child, Command, Stdio};

use sluice_msg::{MsgId, VerifyMode};
use sluice_views::{Db, DbOptions, Outcome};

const CHILD_ENV: &str = "SLUICE_VIEWS_CRASH_CHILD";
const DIR_ENV: &str = "SLUICE_VIEWS_CRASH_DIR";

/// Options that rewrite view files often, so kills land during view writes too.
fn eager() -> DbOptions {
    DbOptions {
        persist_every: 8 << 10,
        ..DbOptions::default()
    }
}

fn spawn(test: &str, mode: &str, dir: &Path) -> Child {
    Command::new(std::env::current_exe().expect("test binary"))
        .args([test, "--exact", "--nocapture", "--test-threads=1"])
        .env(CHILD_ENV, mode)
        .env(DIR_ENV, dir)
        .stdout(Stdio::piped())
        .spawn()
        .expect("spawn child")
}

/// Reads the child's `tag …` lines until `enough` of them, then SIGKILLs it.
fn kill_after(mut child: Child, tag: &str, enough: usize) -> Vec<String> {
    let stdout = child.stdout.take().expect("piped stdout");
    let mut seen = Vec::new();
    for line in BufReader::new(stdout).lines() {
        let line = line.expect("child output");
        if let Some(rest) = line.strip_prefix(tag) {
            seen.push(rest.trim().to_owned());
            if seen.len() >= enough {
                break;
            }
        }
    }
    child.kill().expect("SIGKILL the child");
    child.wait().expect("reap the child");
    seen
}

/// After reopening, every view equals a rebuild from the log, and keys cover the log.
fn assert_consistent(db: &Db) {
    for check in db.check_views().expect("check_views") {
        assert!(
            check.matches_log,
            "view {} disagrees with the log",
            check.name
        );
    }
    let records = db.messages_from(0).count();
    let keyed = db.messages_from(0).filter(|m| {
        db.get(&m.as_ref().expect("record").id())
            .expect("get")
            .is_some()
    });
    assert_eq!(keyed.count(), records);
}

fn child_add(dir: &Path) {
    let db = Db::open_with(dir, eager()).expect("child open");
    let entries = common::entries(&common::small_jsonl());
    let mut out = std::io::stdout();
    for chunk in entries.chunks(10) {
        let outcomes = db
            .add_batch_received(chunk.to_vec(), VerifyMode::Chain)
            .expect("add_batch");
        for ((msg, _), o) in chunk.iter().zip(&outcomes) {
            if matches!(o, Outcome::Appended(_) | Outcome::AlreadyPresent) {
                writeln!(out, "acked {}", msg.id()).expect("stdout");
            }
        }
        out.flush().expect("flush stdout");
    }
}

#[test]
fn kill_during_add_batch_loses_nothing_acknowledged() {
    if let Ok(dir) = std::env::var(DIR_ENV) {
        if std::env::var(CHILD_ENV).as_deref() == Ok("add") {
            child_add(Path::new(&dir));
        }
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let child = spawn(
        "kill_during_add_batch_loses_nothing_acknowledged",
        "add",
        dir.path(),
    );
    let acked = kill_after(child, "acked ", 420);
    assert!(
        acked.len() >= 400,
        "the child acknowledged too little: {}",
        acked.len()
    );
    let db = Db::open(dir.path()).expect("reopen after kill");
    for id in &acked {
        let id: MsgId = id.parse().expect("id");
        assert!(
            db.get(&id).expect("get").is_some(),
            "acknowledged {id} was lost"
        );
    }
    assert_consistent(&db);
    // The store is still writable and the rest of the fixture goes in.
    common::load_remaining(&db, common::entries(&common::small_jsonl()));
    assert_eq!(db.messages_from(0).count(), 1000);
    assert_consistent(&db);
}

/// Rebuilds every view over and over with `opts`, printing `chunk <done>` as each chunk is
/// applied and `reindexed` after each rebuild.
fn child_reindex(dir: &Path, opts: DbOptions) {
    let db = Db::open_with(dir, opts).expect("child open");
    let out = std::cell::RefCell::new(std::io::stdout());
    let say = |line: String| {
        let mut out = out.borrow_mut();
        writeln!(out, "{line}").expect("stdout");
        out.flush().expect("flush stdout");
    };
    loop {
        db.reindex(&[], &mut |p| say(format!("chunk {}", p.done)))
            .expect("reindex");
        say("reindexed".to_owned());
    }
}

#[test]
fn kill_during_reindex_leaves_usable_views() {
    if let Ok(dir) = std::env::var(DIR_ENV) {
        if std::env::var(CHILD_ENV).as_deref() == Ok("reindex") {
            child_reindex(Path::new(&dir), eager());
        }
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    {
        let db = Db::open(dir.path()).expect("open");
        common::load(&db, common::entries(&common::small_jsonl()), 250);
    }
    let child = spawn(
        "kill_during_reindex_leaves_usable_views",
        "reindex",
        dir.path(),
    );
    kill_after(child, "reindexed", 5);
    let db = Db::open(dir.path()).expect("reopen after kill");
    assert_eq!(db.messages_from(0).count(), 1000);
    assert_consistent(&db);
}

/// A rebuild writes the view files after every chunk here; killed at any point of that, the
/// store reopens with every view agreeing with the log.
#[test]
fn kill_during_a_rebuild_that_writes_as_it_goes_leaves_usable_views() {
    const NAME: &str = "kill_during_a_rebuild_that_writes_as_it_goes_leaves_usable_views";
    if let Ok(dir) = std::env::var(DIR_ENV) {
        if std::env::var(CHILD_ENV).as_deref() == Ok("reindex-writing") {
            let opts = DbOptions {
                rebuild_persist_every: 1,
                ..eager()
            };
            child_reindex(Path::new(&dir), opts);
        }
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    {
        let db = Db::open(dir.path()).expect("open");
        // 20,000 messages: three chunks of a catch-up, so a rebuild writes files part-way.
        common::load(
            &db,
            common::entries(&common::generated_jsonl("crash")),
            5_000,
        );
    }
    for kill_at in [2, 4, 7] {
        let child = spawn(NAME, "reindex-writing", dir.path());
        kill_after(child, "chunk", kill_at);
        let db = Db::open(dir.path()).expect("reopen after kill");
        assert_eq!(db.messages_from(0).count(), 20_000);
        assert_consistent(&db);
    }
}
