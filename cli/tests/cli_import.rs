//! `sluice import` and `export`: the three store formats, round trips, bad input, order.

mod common;

use std::fs;

use common::{export, import_ok, on, small, stdout_of, summary_count};
use serde_json::Value;
use sluice_msg::{FeedState, Keys, Message, create};

#[test]
fn three_formats_give_the_same_store() {
    let tmp = tempfile::tempdir().unwrap();
    let exports: Vec<String> = ["msgs.jsonl", "log.offset", "log.bipf"]
        .iter()
        .map(|f| {
            let db = tmp.path().join(f);
            import_ok(&db, &small(f));
            export(&db)
        })
        .collect();
    assert_eq!(exports[0].lines().count(), 1000);
    assert_eq!(exports[0], exports[1], "log.offset differs from msgs.jsonl");
    assert_eq!(exports[0], exports[2], "log.bipf differs from msgs.jsonl");
    let original = fs::read_to_string(small("msgs.jsonl")).unwrap();
    assert_eq!(exports[0], original, "export is the fixture byte for byte");
}

#[test]
fn export_import_export_is_byte_identical() {
    let tmp = tempfile::tempdir().unwrap();
    let (a, b) = (tmp.path().join("a"), tmp.path().join("b"));
    import_ok(&a, &small("log.bipf"));
    let first = export(&a);
    let file = tmp.path().join("export.jsonl");
    fs::write(&file, &first).unwrap();
    import_ok(&b, &file);
    assert_eq!(export(&b), first);
    let again = stdout_of(on(&b, &["import"]).arg(&file));
    assert_eq!(summary_count(&again, "already present"), 1000);
    assert_eq!(summary_count(&again, "imported"), 0);
    assert_eq!(export(&b), first);
}

#[test]
fn export_by_author_gives_that_feed_in_order() {
    let tmp = tempfile::tempdir().unwrap();
    let db = tmp.path().join("db");
    import_ok(&db, &small("msgs.jsonl"));
    let main = Keys::read_secret_file(small("secret"))
        .unwrap()
        .id()
        .to_string();
    let out = stdout_of(&mut on(&db, &["export", "--author", &main]));
    let seqs: Vec<u64> = out
        .lines()
        .map(|l| {
            serde_json::from_str::<Value>(l).unwrap()["value"]["sequence"]
                .as_u64()
                .unwrap()
        })
        .collect();
    assert_eq!(seqs, (1..=320).collect::<Vec<_>>());
}

#[test]
fn reversed_file_still_imports_every_message() {
    let tmp = tempfile::tempdir().unwrap();
    let text = fs::read_to_string(small("msgs.jsonl")).unwrap();
    let reversed: String = text.lines().rev().map(|l| format!("{l}\n")).collect();
    let file = tmp.path().join("reversed.jsonl");
    fs::write(&file, reversed).unwrap();
    let db = tmp.path().join("db");
    let out = stdout_of(on(&db, &["import", "--verify", "chain"]).arg(&file));
    assert_eq!(summary_count(&out, "imported"), 1000);
    assert_eq!(summary_count(&out, "rejected"), 0);
    let stats = stdout_of(&mut on(&db, &["stats"]));
    assert!(stats.contains("messages: 1000"), "{stats}");
}

#[test]
fn truncated_log_offset_imports_the_good_frames_and_exits_1() {
    let tmp = tempfile::tempdir().unwrap();
    let mut bytes = fs::read(small("log.offset")).unwrap();
    bytes.truncate(bytes.len() - 10);
    let file = tmp.path().join("log.offset");
    fs::write(&file, bytes).unwrap();
    let db = tmp.path().join("db");
    let errors = tmp.path().join("errors.jsonl");
    let out = on(&db, &["import", "--errors"])
        .arg(&errors)
        .arg(&file)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let summary = String::from_utf8(out.stdout).unwrap();
    assert_eq!(summary_count(&summary, "imported"), 999);
    assert_eq!(summary_count(&summary, "unreadable"), 1);
    let report: Value = serde_json::from_str(fs::read_to_string(&errors).unwrap().trim()).unwrap();
    assert_eq!(report["kind"], "unreadable");
    assert!(
        report["error"].as_str().unwrap().contains("truncated"),
        "{report}"
    );
    on(&db, &["fsck"]).assert().success();
}

/// The main feed's keys and its stored messages, from the small fixture.
fn main_feed() -> (Keys, Vec<Message>) {
    let keys = Keys::read_secret_file(small("secret")).unwrap();
    let text = fs::read_to_string(small("msgs.jsonl")).unwrap();
    let mut msgs: Vec<Message> = text
        .lines()
        .map(|l| {
            Message::from_entry(serde_json::from_str(l).unwrap())
                .unwrap()
                .0
        })
        .filter(|m| m.author() == keys.id())
        .collect();
    msgs.sort_by_key(Message::sequence);
    (keys, msgs)
}

fn post(text: &str) -> Value {
    serde_json::json!({"type": "post", "text": text})
}

/// Bad lines: a garbage line, a bad signature, a fork, a missing predecessor.
fn bad_lines() -> Vec<String> {
    let (keys, msgs) = main_feed();
    let last = msgs.last().unwrap();
    let state = |m: &Message| FeedState::of(m);
    let fork = create(&keys, Some(&state(&msgs[3])), post("a fork"), 1.0, None).unwrap();
    let next = create(&keys, Some(&state(last)), post("tampered"), 2.0, None).unwrap();
    let mut tampered = next.value().clone();
    let sig = tampered["signature"].as_str().unwrap().to_owned();
    let flipped = if sig.starts_with('A') {
        sig.replacen('A', "B", 1)
    } else {
        format!("A{}", &sig[1..])
    };
    tampered["signature"] = Value::String(flipped);
    let orphan_base = create(&keys, Some(&state(&next)), post("orphan"), 3.0, None).unwrap();
    let orphan = create(
        &keys,
        Some(&state(&orphan_base)),
        post("orphan 2"),
        4.0,
        None,
    )
    .unwrap();
    vec![
        "this is not json".to_owned(),
        tampered.to_string(),
        fork.value().to_string(),
        orphan.value().to_string(),
    ]
}

#[test]
fn bad_input_is_named_good_input_imported_and_nothing_stored_changes() {
    let tmp = tempfile::tempdir().unwrap();
    let text = fs::read_to_string(small("msgs.jsonl")).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    let (first, rest) = lines.split_at(500);
    let db = tmp.path().join("db");
    let head = tmp.path().join("head.jsonl");
    fs::write(
        &head,
        first.iter().map(|l| format!("{l}\n")).collect::<String>(),
    )
    .unwrap();
    import_ok(&db, &head);
    let before = export(&db);

    let mut input: Vec<String> = rest.iter().map(|l| (*l).to_owned()).collect();
    for (i, bad) in bad_lines().into_iter().enumerate() {
        input.insert(i * 100 + 7, bad);
    }
    let file = tmp.path().join("mixed.jsonl");
    fs::write(&file, input.join("\n") + "\n").unwrap();
    let errors = tmp.path().join("errors.jsonl");
    let out = on(&db, &["import", "--errors"])
        .arg(&errors)
        .arg(&file)
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let summary = String::from_utf8(out.stdout).unwrap();
    assert_eq!(summary_count(&summary, "imported"), 500, "{summary}");
    assert_eq!(summary_count(&summary, "rejected"), 3, "{summary}");
    assert_eq!(summary_count(&summary, "unreadable"), 1, "{summary}");
    for reason in ["verify: 1", "fork: 1", "gap: 1"] {
        assert!(summary.contains(reason), "{reason} missing in {summary}");
    }
    let reports: Vec<Value> = fs::read_to_string(&errors)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let mut reasons: Vec<&str> = reports
        .iter()
        .map(|r| r["reason"].as_str().unwrap())
        .collect();
    reasons.sort_unstable();
    assert_eq!(reasons, ["fork", "gap", "unreadable", "verify"]);
    assert!(
        reports
            .iter()
            .all(|r| r["position"].as_str().unwrap().starts_with("line "))
    );

    let after = export(&db);
    assert!(
        after.starts_with(&before),
        "previously stored messages changed"
    );
    assert_eq!(after, text, "exactly the good messages were added");
    on(&db, &["fsck"]).assert().success();
}

#[test]
fn unknown_format_and_missing_file_are_fatal() {
    let tmp = tempfile::tempdir().unwrap();
    let junk = tmp.path().join("junk.bin");
    fs::write(&junk, [0xffu8; 64]).unwrap();
    let db = tmp.path().join("db");
    on(&db, &["import"])
        .arg(&junk)
        .assert()
        .code(2)
        .stderr(predicates::str::contains("unknown store format"));
    on(&db, &["import"])
        .arg(tmp.path().join("missing"))
        .assert()
        .code(2);
}

#[test]
fn stdin_imports_json_lines() {
    let tmp = tempfile::tempdir().unwrap();
    let db = tmp.path().join("db");
    let text = fs::read(small("msgs.jsonl")).unwrap();
    let out = stdout_of(on(&db, &["import", "-"]).write_stdin(text));
    assert_eq!(summary_count(&out, "imported"), 1000);
}
