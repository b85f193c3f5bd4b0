//! The smaller commands: help everywhere, keys, publish, reindex, stats, fsck, demo.

mod common;

use std::fs;

use common::{import_ok, on, sluice, small, stdout_of};
use serde_json::Value;

#[test]
fn every_command_has_help() {
    let commands: &[&[&str]] = &[
        &[],
        &["import"],
        &["reindex"],
        &["query"],
        &["query", "get"],
        &["query", "feed"],
        &["query", "latest"],
        &["query", "follows"],
        &["query", "followers"],
        &["query", "blocks"],
        &["query", "hops"],
        &["query", "tangle"],
        &["query", "backlinks"],
        &["publish"],
        &["keys"],
        &["keys", "new"],
        &["keys", "show"],
        &["export"],
        &["validate"],
        &["fsck"],
        &["stats"],
        &["demo"],
        &["gen"],
    ];
    for args in commands {
        let out = stdout_of(sluice().args(*args).arg("--help"));
        assert!(out.contains("Usage:"), "{args:?}: {out}");
    }
}

#[test]
fn usage_errors_exit_2() {
    sluice().arg("frobnicate").assert().code(2);
    sluice().args(["query", "feed"]).assert().code(2);
}

#[test]
fn keys_new_show_and_publish_a_post() {
    let tmp = tempfile::tempdir().unwrap();
    let secret = tmp.path().join("keys").join("secret");
    let id = stdout_of(sluice().args(["keys", "new"]).arg(&secret));
    let id = id.trim();
    assert!(id.starts_with('@') && id.ends_with(".ed25519"), "{id}");
    let shown = stdout_of(sluice().args(["keys", "show", "--keys"]).arg(&secret));
    assert_eq!(shown.trim(), id);
    sluice().args(["keys", "new"]).arg(&secret).assert().code(2);

    let db = tmp.path().join("db");
    let first = stdout_of(
        on(
            &db,
            &["publish", "--type", "post", "--text", "hello", "--keys"],
        )
        .arg(&secret),
    );
    let first: Value = serde_json::from_str(&first).unwrap();
    assert_eq!(first["value"]["author"], id);
    assert_eq!(first["value"]["sequence"], 1);
    assert_eq!(
        first["value"]["content"],
        serde_json::json!({"type": "post", "text": "hello"})
    );
    let content = r#"{"type":"about","about":"me","name":"sluice"}"#;
    let second = stdout_of(on(&db, &["publish", "--content", content, "--keys"]).arg(&secret));
    let second: Value = serde_json::from_str(&second).unwrap();
    assert_eq!(second["value"]["previous"], first["key"]);
    let feed = stdout_of(&mut on(&db, &["query", "feed", id]));
    assert_eq!(feed.lines().count(), 2);
    on(&db, &["publish", "--content", "{not json", "--keys"])
        .arg(&secret)
        .assert()
        .code(2);
    on(&db, &["publish", "--type", "post", "--keys"])
        .arg(tmp.path().join("none"))
        .assert()
        .code(2);
}

#[test]
fn reindex_stats_and_fsck_on_a_store() {
    let tmp = tempfile::tempdir().unwrap();
    let db = tmp.path().join("db");
    import_ok(&db, &small("msgs.jsonl"));
    let before = stdout_of(&mut on(
        &db,
        &[
            "query",
            "follows",
            "@IWu4pH/7h5jrMm0EZGS+xatL+MLIB+ENi5JhzoQjTz4=.ed25519",
        ],
    ));
    on(&db, &["reindex"]).assert().success();
    on(&db, &["reindex", "--view", "contacts", "--view", "keys"])
        .assert()
        .success();
    on(&db, &["reindex", "--view", "nope"])
        .assert()
        .code(2)
        .stderr(predicates::str::contains("unknown view"));
    let after = stdout_of(&mut on(
        &db,
        &[
            "query",
            "follows",
            "@IWu4pH/7h5jrMm0EZGS+xatL+MLIB+ENi5JhzoQjTz4=.ed25519",
        ],
    ));
    assert_eq!(before, after);
    let stats = stdout_of(&mut on(&db, &["stats"]));
    for want in [
        "messages: 1000",
        "feeds: 10",
        "post: 264",
        "vote: 415",
        "(encrypted): 103",
        "contacts: version",
    ] {
        assert!(stats.contains(want), "{want} missing in {stats}");
    }
    on(&db, &["fsck"])
        .assert()
        .success()
        .stdout(predicates::str::contains("fsck: ok"));
}

#[test]
fn fsck_finds_a_damaged_view_and_repair_fixes_it() {
    let tmp = tempfile::tempdir().unwrap();
    let db = tmp.path().join("db");
    import_ok(&db, &small("log.offset"));
    let view = db.join("views").join("backlinks.view");
    let mut bytes = fs::read(&view).unwrap();
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0xff;
    fs::write(&view, bytes).unwrap();
    on(&db, &["fsck"])
        .assert()
        .code(1)
        .stdout(predicates::str::contains("view backlinks: BAD"));
    on(&db, &["fsck", "--repair"]).assert().success();
    on(&db, &["fsck"]).assert().success();
}

#[test]
fn demo_runs_from_any_directory() {
    let tmp = tempfile::tempdir().unwrap();
    let out = stdout_of(
        sluice()
            .current_dir(tmp.path())
            .env("HOME", tmp.path())
            .arg("demo"),
    );
    assert!(out.contains("1000 imported"), "{out}");
    assert!(out.contains("busiest feed @IWu4pH"), "{out}");
    assert!(out.contains("biggest thread %"), "{out}");
    assert!(
        !tmp.path().join(".sluice").exists(),
        "the demo never touches the default store"
    );
    let db = tmp.path().join("kept");
    stdout_of(&mut on(&db, &["demo"]));
    assert!(stdout_of(&mut on(&db, &["stats"])).contains("messages: 1000"));
}
