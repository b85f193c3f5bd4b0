//! The graph views fold a message to the same state through `apply` (the parsed content) and
//! through `apply_facts` (the facts scanned from the stored value JSON, as rebuilds and ingest
//! do), on every record of the fixtures: same file bytes, equal states.

use sluice_msg::Message;
use sluice_views::backlinks::Backlinks;
use sluice_views::contacts::Contacts;
use sluice_views::tangles::Tangles;
use sluice_views::{Facts, Indexed, View};

/// One fixture record: its JSON entry and the stored value JSON.
struct Record {
    entry: serde_json::Value,
    stored: String,
}

fn records(jsonl: &[u8]) -> Vec<Record> {
    let lines = jsonl.split(|&b| b == b'\n').filter(|l| !l.is_empty());
    lines
        .map(|line| {
            let entry: serde_json::Value = serde_json::from_slice(line).expect("JSON");
            let (msg, _) = Message::from_entry(entry.clone()).expect("fixture message");
            Record {
                entry,
                stored: msg.to_compact_json(),
            }
        })
        .collect()
}

/// Builds `make()` both ways and checks that they agree.
fn check<V: View + PartialEq + std::fmt::Debug>(make: fn() -> V, records: &[Record]) {
    let (mut by_value, mut by_facts) = (make(), make());
    for (i, r) in records.iter().enumerate() {
        let entry = Indexed::from_entry(i as u64, &r.entry).expect("entry");
        by_value.apply(&entry);
        let facts = Facts::of_value_json(r.stored.as_bytes()).expect("stored JSON");
        let bare = Indexed {
            content: None,
            ..entry
        };
        by_facts.apply_facts(&bare, facts.as_ref());
    }
    assert_eq!(by_value.encode(), by_facts.encode(), "{}", by_value.name());
    assert!(by_value == by_facts, "{}", by_value.name());
}

fn check_all(jsonl: &[u8]) {
    let records = records(jsonl);
    check(Contacts::new, &records);
    check(Tangles::new, &records);
    check(Backlinks::new, &records);
}

#[test]
fn facts_and_values_fold_alike_on_the_small_fixture() {
    let jsonl = std::fs::read(sluice_tests::data_dir().join("small/msgs.jsonl")).expect("fixture");
    check_all(&jsonl);
}

#[test]
fn facts_and_values_fold_alike_on_the_medium_fixture() {
    let Some(jsonl) = sluice_tests::shared_fixture("fixtures/medium/msgs.jsonl.zst") else {
        return;
    };
    check_all(&jsonl);
}
