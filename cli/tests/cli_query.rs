//! `sluice query`: answers on the small fixture, unknown and malformed ids, `--pretty`,
//! and queries while an import of the same store runs in another process.

mod common;

use std::fs;
use std::path::Path;
use std::process::Stdio;

use common::{import_ok, on, small, stdout_of};
use serde_json::Value;

const MAIN: &str = "@IWu4pH/7h5jrMm0EZGS+xatL+MLIB+ENi5JhzoQjTz4=.ed25519";
const UNKNOWN_FEED: &str = "@AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=.ed25519";
const UNKNOWN_MSG: &str = "%AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=.sha256";

fn store() -> (tempfile::TempDir, std::path::PathBuf) {
    let tmp = tempfile::tempdir().unwrap();
    let db = tmp.path().join("db");
    import_ok(&db, &small("msgs.jsonl"));
    (tmp, db)
}

fn query(db: &Path, args: &[&str]) -> Vec<String> {
    let mut all = vec!["query"];
    all.extend_from_slice(args);
    stdout_of(&mut on(db, &all))
        .lines()
        .map(str::to_owned)
        .collect()
}

fn json(line: &str) -> Value {
    serde_json::from_str(line).unwrap()
}

#[test]
fn get_returns_the_stored_line() {
    let (_tmp, db) = store();
    let text = fs::read_to_string(small("msgs.jsonl")).unwrap();
    let line = text.lines().nth(123).unwrap();
    let key = json(line)["key"].as_str().unwrap().to_owned();
    assert_eq!(query(&db, &["get", &key]), [line]);
}

#[test]
fn feed_pages_forward_and_backward() {
    let (_tmp, db) = store();
    let seqs = |lines: Vec<String>| -> Vec<u64> {
        lines
            .iter()
            .map(|l| json(l)["value"]["sequence"].as_u64().unwrap())
            .collect()
    };
    assert_eq!(seqs(query(&db, &["feed", MAIN, "--limit", "3"])), [1, 2, 3]);
    assert_eq!(
        seqs(query(&db, &["feed", MAIN, "--from", "10", "--limit", "2"])),
        [10, 11]
    );
    assert_eq!(
        seqs(query(&db, &["feed", MAIN, "--reverse", "--limit", "2"])),
        [320, 319]
    );
    assert_eq!(query(&db, &["feed", MAIN]).len(), 320);
}

#[test]
fn latest_posts_are_newest_first_and_of_the_type() {
    let (_tmp, db) = store();
    let lines = query(&db, &["latest", "--type", "post", "--limit", "5"]);
    assert_eq!(lines.len(), 5);
    let received: Vec<f64> = lines
        .iter()
        .map(|l| json(l)["timestamp"].as_f64().unwrap())
        .collect();
    assert!(received.windows(2).all(|w| w[0] >= w[1]), "{received:?}");
    assert!(
        lines
            .iter()
            .all(|l| json(l)["value"]["content"]["type"] == "post")
    );
}

#[test]
fn follows_match_the_fixture_graph() {
    let (_tmp, db) = store();
    let graph: Value =
        serde_json::from_str(&fs::read_to_string(small("follow-graph.json")).unwrap()).unwrap();
    let mut expected: Vec<String> = graph[MAIN]
        .as_object()
        .unwrap()
        .iter()
        .filter(|(_, v)| **v == Value::Bool(true))
        .map(|(k, _)| k.clone())
        .collect();
    expected.sort();
    let mut follows = query(&db, &["follows", MAIN]);
    follows.sort();
    assert_eq!(follows, expected);
    let hops: Vec<Value> = query(&db, &["hops", MAIN, "--max", "1"])
        .iter()
        .map(|l| json(l))
        .collect();
    assert!(
        hops.iter().any(|h| h["id"] == MAIN && h["hops"] == 0),
        "{hops:?}"
    );
    for id in &expected {
        assert!(
            hops.iter()
                .any(|h| h["id"] == id.as_str() && h["hops"] == 1),
            "{id} not at 1 hop"
        );
    }
    let followers = query(&db, &["followers", MAIN]);
    assert!(!followers.is_empty());
    query(&db, &["blocks", MAIN]);
}

#[test]
fn tangle_and_backlinks_answer_about_a_thread() {
    let (_tmp, db) = store();
    let text = fs::read_to_string(small("msgs.jsonl")).unwrap();
    let root = text
        .lines()
        .find_map(|l| {
            json(l)["value"]["content"]["root"]
                .as_str()
                .map(str::to_owned)
        })
        .unwrap();
    let thread = query(&db, &["tangle", &root]);
    assert!(thread.len() >= 2, "a thread has its root and a reply");
    assert_eq!(json(&thread[0])["key"], root.as_str(), "root first");
    let tips = query(&db, &["tangle", &root, "--tips"]);
    assert!(!tips.is_empty() && tips.len() < thread.len());
    let links = query(&db, &["backlinks", &root, "--path", "root"]);
    assert_eq!(
        links.len(),
        thread.len() - 1,
        "every reply links its root under `root`"
    );
}

#[test]
fn unknown_ids_give_empty_answers_and_exit_0() {
    let (_tmp, db) = store();
    for args in [
        vec!["get", UNKNOWN_MSG],
        vec!["feed", UNKNOWN_FEED],
        vec!["follows", UNKNOWN_FEED],
        vec!["tangle", UNKNOWN_MSG],
        vec!["backlinks", UNKNOWN_MSG],
        vec!["latest", "--type", "no-such-type"],
    ] {
        assert!(query(&db, &args).is_empty(), "{args:?}");
    }
}

#[test]
fn malformed_ids_are_clear_errors_with_exit_2() {
    let (_tmp, db) = store();
    for args in [
        ["get", "%nope"],
        ["feed", "not-a-feed"],
        ["backlinks", "x"],
        ["hops", UNKNOWN_MSG],
    ] {
        on(&db, &["query", args[0], args[1]])
            .assert()
            .code(2)
            .stderr(predicates::str::contains("malformed"));
    }
}

#[test]
fn query_without_a_store_explains_and_exits_2() {
    let tmp = tempfile::tempdir().unwrap();
    on(&tmp.path().join("none"), &["query", "get", UNKNOWN_MSG])
        .assert()
        .code(2)
        .stderr(predicates::str::contains("no sluice database"));
}

#[test]
fn pretty_prints_a_table() {
    let (_tmp, db) = store();
    let lines = query(&db, &["--pretty", "feed", MAIN, "--limit", "2"]);
    assert_eq!(lines.len(), 3);
    assert!(lines[0].starts_with("SEQ"), "{lines:?}");
    assert!(lines[1].starts_with('1'), "{lines:?}");
}

#[test]
fn query_works_while_an_import_runs_in_another_process() {
    let tmp = tempfile::tempdir().unwrap();
    let db = tmp.path().join("db");
    import_ok(&db, &small("log.offset"));
    let big = tmp.path().join("big.jsonl");
    let made = on(
        &db,
        &["gen", "--messages", "20000", "--authors", "20", "--out"],
    )
    .arg(&big)
    .output()
    .unwrap();
    assert!(
        made.status.success(),
        "{}",
        String::from_utf8_lossy(&made.stderr)
    );
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_sluice"))
        .arg("--db")
        .arg(&db)
        .args(["import", "--verify", "full"])
        .arg(&big)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut seen = Vec::new();
    while child.try_wait().unwrap().is_none() {
        let out = on(&db, &["query", "latest", "--type", "post", "--limit", "1"])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let stats = stdout_of(&mut on(&db, &["stats"]));
        let count: u64 = stats
            .lines()
            .find_map(|l| l.strip_prefix("messages: "))
            .unwrap()
            .parse()
            .unwrap();
        seen.push(count);
    }
    assert!(child.wait().unwrap().success());
    assert!(
        seen.windows(2).all(|w| w[0] <= w[1]),
        "counts never go back: {seen:?}"
    );
    assert!(
        seen.iter().all(|&c| (1000..=21_000).contains(&c)),
        "{seen:?}"
    );
    let stats = stdout_of(&mut on(&db, &["stats"]));
    assert!(stats.contains("messages: 21000"), "{stats}");
    on(&db, &["fsck"]).assert().success();
}
