//! Every message of the small and medium fixtures validates as a chain; every id equals its key.

use serde_json::Value;
use sluice_msg::{Message, VerifyMode, validate_batch};

/// Parses `{key,value,timestamp}` lines, checking each computed id against its key.
fn parse_all(jsonl: &[u8]) -> Vec<Message> {
    jsonl
        .split(|&b| b == b'\n')
        .filter(|l| !l.is_empty())
        .enumerate()
        .map(|(n, line)| {
            let entry: Value = serde_json::from_slice(line).unwrap();
            let key = entry["key"].as_str().unwrap().to_string();
            let (msg, _) = Message::from_entry(entry)
                .unwrap_or_else(|e| panic!("line {}: {}: {e}", n + 1, e.check()));
            assert_eq!(msg.id().to_string(), key, "line {}", n + 1);
            msg
        })
        .collect()
}

fn check(jsonl: &[u8], expected: usize, mode: VerifyMode) {
    let msgs = parse_all(jsonl);
    assert_eq!(msgs.len(), expected);
    let verdicts = validate_batch(&msgs, |_| None, mode, None);
    let bad: Vec<String> = verdicts
        .iter()
        .enumerate()
        .filter_map(|(i, v)| v.as_ref().err().map(|e| format!("{}: {e}", msgs[i].id())))
        .collect();
    assert!(
        bad.is_empty(),
        "{} invalid, first: {:?}",
        bad.len(),
        bad.first()
    );
}

#[test]
fn small_fixture_validates_fully() {
    let jsonl = std::fs::read(sluice_tests::data_dir().join("small/msgs.jsonl")).unwrap();
    check(&jsonl, 1000, VerifyMode::Full);
}

#[test]
fn medium_fixture_validates_as_a_chain() {
    let Some(jsonl) = sluice_tests::shared_fixture("fixtures/medium/msgs.jsonl.zst") else {
        return;
    };
    check(&jsonl, 100_000, VerifyMode::Chain);
}
