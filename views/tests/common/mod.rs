//! Helpers shared by the views integration tests: fixtures as parsed messages.

#![allow(
    dead_code,
    reason = "each test binary uses a different subset of these helpers"
)]

use sluice_msg::Message;
use sluice_msg::VerifyMode;
use sluice_views::{Db, Outcome};

/// The small fixture's lines (1,000 messages, 10 authors).
pub fn small_jsonl() -> Vec<u8> {
    std::fs::read(sluice_tests::data_dir().join("small/msgs.jsonl")).expect("small fixture")
}

/// 20,000 generated messages by 40 authors from `seed` (enough for a rebuild to run in
/// several chunks and for threads to keep getting replies across view writes).
pub fn generated_jsonl(seed: &str) -> Vec<u8> {
    let opts = sluice_gen::GenOptions::new(20_000, 40, seed);
    let mut generator = sluice_gen::Generator::new(opts).expect("generator");
    let mut jsonl = Vec::new();
    sluice_gen::write_jsonl(&mut generator, &mut jsonl).expect("generate");
    jsonl
}

/// The medium fixture's lines (100,000 messages), or None when the shared data is absent.
pub fn medium_jsonl() -> Option<Vec<u8>> {
    sluice_tests::shared_fixture("fixtures/medium/msgs.jsonl.zst")
}

/// Parses `{key,value,timestamp}` lines into messages with their receive timestamps.
pub fn entries(jsonl: &[u8]) -> Vec<(Message, Option<f64>)> {
    jsonl
        .split(|&b| b == b'\n')
        .filter(|l| !l.is_empty())
        .map(|l| {
            let v: serde_json::Value = serde_json::from_slice(l).expect("fixture line is JSON");
            Message::from_entry(v).expect("fixture message parses")
        })
        .collect()
}

/// The raw JSON lines, as values.
pub fn lines(jsonl: &[u8]) -> Vec<serde_json::Value> {
    jsonl
        .split(|&b| b == b'\n')
        .filter(|l| !l.is_empty())
        .map(|l| serde_json::from_slice(l).expect("fixture line is JSON"))
        .collect()
}

/// Adds everything in batches with `chain` verification; asserts each message was appended.
pub fn load(db: &Db, entries: Vec<(Message, Option<f64>)>, batch: usize) {
    let mut rest = entries;
    while !rest.is_empty() {
        let tail = rest.split_off(batch.min(rest.len()));
        let outcomes = db
            .add_batch_received(rest, VerifyMode::Chain)
            .expect("add_batch");
        for o in &outcomes {
            assert!(matches!(o, Outcome::Appended(_)), "not appended: {o:?}");
        }
        rest = tail;
    }
}

/// Adds everything; each message must be appended or already present.
pub fn load_remaining(db: &Db, entries: Vec<(Message, Option<f64>)>) {
    let outcomes = db
        .add_batch_received(entries, VerifyMode::Chain)
        .expect("add_batch");
    for o in &outcomes {
        assert!(
            matches!(o, Outcome::Appended(_) | Outcome::AlreadyPresent),
            "refused: {o:?}"
        );
    }
}

/// Which files `assert_views_match_log` also requires to check clean.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Files {
    /// Every view file is present and checks clean.
    Clean,
    /// The files are not looked at (a view may not have been written yet).
    Any,
}

/// Asserts that every view's state equals a rebuild from the log (fsck's view check), and
/// with [`Files::Clean`] that every view file checks clean; names the views that do not.
pub fn assert_views_match_log(db: &Db, files: Files) {
    let bad: Vec<_> = db
        .check_views()
        .expect("check the views")
        .into_iter()
        .filter(|c| !c.matches_log || (files == Files::Clean && c.file.is_some()))
        .collect();
    assert!(bad.is_empty(), "views that fail the check: {bad:?}");
}

/// Asserts that every view of `db` loaded from its file (none was rebuilt on open); names
/// those that were, and why.
pub fn assert_loaded_from_files(db: &Db) {
    let rebuilt: Vec<_> = db
        .view_info()
        .into_iter()
        .filter(|v| v.rebuilt_because.is_some())
        .map(|v| (v.name, v.rebuilt_because))
        .collect();
    assert!(rebuilt.is_empty(), "views rebuilt on open: {rebuilt:?}");
}
