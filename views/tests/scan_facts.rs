//! The content scanner (`Facts::scan`, used by rebuilds) against the `Value` functions the
//! graph views apply at ingest (`Facts::from_content`), on every record of the fixtures.

use sluice_msg::Message;
use sluice_views::Facts;

/// Checks every message of a JSON-lines fixture; returns how many had object content.
fn check(jsonl: &[u8]) -> usize {
    let mut objects = 0;
    for line in jsonl.split(|&b| b == b'\n').filter(|l| !l.is_empty()) {
        let entry = serde_json::from_slice(line).expect("fixture line is JSON");
        let (msg, _) = Message::from_entry(entry).expect("fixture message");
        let stored = msg.to_compact_json();
        let content = msg.content();
        let want = content.is_object().then(|| Facts::from_content(content));
        objects += usize::from(want.is_some());
        let scanned = Facts::scan(stored.as_bytes());
        assert_eq!(scanned, Some(want), "message {}", msg.id());
    }
    objects
}

#[test]
fn scan_matches_the_value_path_on_the_small_fixture() {
    let jsonl = std::fs::read(sluice_tests::data_dir().join("small/msgs.jsonl")).expect("fixture");
    assert!(check(&jsonl) > 500);
}

#[test]
fn scan_matches_the_value_path_on_the_medium_fixture() {
    let Some(jsonl) = sluice_tests::shared_fixture("fixtures/medium/msgs.jsonl.zst") else {
        return;
    };
    assert!(check(&jsonl) > 80_000);
}
