//! Live subscriptions: filters deliver exactly the matching new messages; a subscriber that
//! does not keep up is dropped with `lagged()` set, and ingest never blocks.

mod common;

use std::time::Duration;

use serde_json::Value;
use sluice_msg::{FeedId, MsgId};
use sluice_views::{Db, DbOptions, Filter, Subscription};

fn drain(sub: &Subscription) -> Vec<MsgId> {
    let mut out = Vec::new();
    while let Ok(m) = sub.recv_timeout(Duration::from_millis(50)) {
        out.push(m.id());
    }
    out
}

fn expected(lines: &[Value], keep: impl Fn(&Value) -> bool) -> Vec<MsgId> {
    lines
        .iter()
        .filter(|l| keep(l))
        .map(|l| l["key"].as_str().expect("key").parse().expect("id"))
        .collect()
}

#[test]
fn filters_deliver_matching_messages_in_order() {
    let jsonl = common::small_jsonl();
    let lines = common::lines(&jsonl);
    let author: FeedId = lines[0]["value"]["author"]
        .as_str()
        .expect("author")
        .parse()
        .expect("feed");
    let root = lines
        .iter()
        .find_map(|l| l["value"]["content"]["root"].as_str().map(str::to_owned))
        .expect("a reply in the fixture");
    let dir = tempfile::tempdir().expect("tempdir");
    let db = Db::open_with(
        dir.path(),
        DbOptions {
            subscriber_capacity: 2000,
            ..DbOptions::default()
        },
    )
    .expect("open");
    let all = db.subscribe(Filter::All);
    let by_author = db.subscribe(Filter::Author(author));
    let posts = db.subscribe(Filter::Type("post".into()));
    let thread = db.subscribe(Filter::Tangle(root.parse().expect("root id")));
    let links = db.subscribe(Filter::Backlink(root.clone()));
    common::load(&db, common::entries(&jsonl), 100);

    assert_eq!(drain(&all), expected(&lines, |_| true));
    assert_eq!(
        drain(&by_author),
        expected(&lines, |l| l["value"]["author"]
            == author.to_string().as_str())
    );
    assert_eq!(
        drain(&posts),
        expected(&lines, |l| l["value"]["content"]["type"] == "post")
    );
    let in_thread =
        |l: &Value| l["key"] == root.as_str() || l["value"]["content"]["root"] == root.as_str();
    assert_eq!(drain(&thread), expected(&lines, in_thread));
    let mentions = |l: &Value| {
        l["value"]["content"].is_object()
            && l["value"]["content"]
                .to_string()
                .contains(&format!("\"{root}\""))
    };
    assert_eq!(drain(&links), expected(&lines, mentions));
    assert!(!all.lagged());
}

#[test]
fn slow_subscriber_is_dropped_and_ingest_continues() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = Db::open_with(
        dir.path(),
        DbOptions {
            subscriber_capacity: 8,
            ..DbOptions::default()
        },
    )
    .expect("open");
    let slow = db.subscribe(Filter::All);
    common::load(&db, common::entries(&common::small_jsonl()), 50);
    assert_eq!(
        db.messages_from(0).count(),
        1000,
        "ingest finished despite the slow subscriber"
    );
    assert!(slow.lagged());
    assert_eq!(drain(&slow).len(), 8, "the queued messages stay readable");
    assert!(
        slow.recv().is_none(),
        "then the channel reports disconnection"
    );
}
