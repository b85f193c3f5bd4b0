//! Ingest outcomes: out-of-order batches, duplicates, forks, gaps, publish.

mod common;

use serde_json::json;
use sluice_msg::{FeedState, Keys, Message, ValidationError, VerifyMode, create};
use sluice_views::{Db, Outcome};

fn chain(keys: &Keys, n: usize, tag: &str) -> Vec<Message> {
    let mut state: Option<FeedState> = None;
    (0..n)
        .map(|i| {
            let content = json!({"type": "post", "text": format!("{tag} {i}")});
            let msg = create(
                keys,
                state.as_ref(),
                content,
                1_700_000_000_000.0 + i as f64,
                None,
            )
            .expect("create");
            state = Some(FeedState::of(&msg));
            msg
        })
        .collect()
}

#[test]
fn shuffled_batch_is_stored_in_sequence_order() {
    let keys = Keys::from_seed([1; 32]);
    let mut msgs = chain(&keys, 20, "a");
    msgs.reverse();
    msgs.swap(3, 11);
    let dir = tempfile::tempdir().expect("tempdir");
    let db = Db::open(dir.path()).expect("open");
    let outcomes = db.add_batch(msgs, VerifyMode::Full).expect("add");
    assert!(
        outcomes.iter().all(|o| matches!(o, Outcome::Appended(_))),
        "{outcomes:?}"
    );
    let feed = db.feed(&keys.id(), 1, 100, false).expect("feed");
    assert_eq!(
        feed.iter().map(|m| m.sequence()).collect::<Vec<_>>(),
        (1..=20).collect::<Vec<_>>()
    );
}

#[test]
fn duplicates_forks_and_gaps_are_told_apart() {
    let keys = Keys::from_seed([2; 32]);
    let main = chain(&keys, 5, "main");
    let fork = chain(&keys, 3, "fork");
    let dir = tempfile::tempdir().expect("tempdir");
    let db = Db::open(dir.path()).expect("open");
    let first = db
        .add_batch(main[..3].to_vec(), VerifyMode::Full)
        .expect("add");
    assert!(first.iter().all(|o| o.offset().is_some()));

    let batch = vec![
        main[1].clone(),
        fork[1].clone(),
        main[4].clone(),
        main[3].clone(),
        main[3].clone(),
    ];
    let out = db.add_batch(batch, VerifyMode::Full).expect("add");
    assert!(matches!(out[0], Outcome::AlreadyPresent), "{:?}", out[0]);
    assert!(
        matches!(
            out[1],
            Outcome::Rejected(ValidationError::Fork { sequence: 2, .. })
        ),
        "{:?}",
        out[1]
    );
    assert!(matches!(out[2], Outcome::Appended(_)), "{:?}", out[2]);
    assert!(matches!(out[3], Outcome::Appended(_)), "{:?}", out[3]);
    assert!(matches!(out[4], Outcome::AlreadyPresent), "{:?}", out[4]);
    assert_eq!(
        db.latest_seq(&keys.id())
            .expect("state")
            .expect("known")
            .sequence,
        5
    );

    let other = Keys::from_seed([3; 32]);
    let gap = chain(&other, 3, "gap");
    let out = db.add(gap[2].clone(), VerifyMode::Chain).expect("add");
    assert!(
        matches!(
            out,
            Outcome::Rejected(ValidationError::Gap {
                expected: 1,
                found: 3
            })
        ),
        "{out:?}"
    );
    assert!(db.latest_seq(&other.id()).expect("state").is_none());
}

#[test]
fn publish_extends_the_feed_and_round_trips() {
    let keys = Keys::from_seed([4; 32]);
    let dir = tempfile::tempdir().expect("tempdir");
    let db = Db::open(dir.path()).expect("open");
    let mut ids = Vec::new();
    for i in 0..3 {
        let stored = db
            .publish(&keys, json!({"type": "post", "text": format!("hello {i}")}))
            .expect("publish");
        ids.push(stored.id());
    }
    let state = db.latest_seq(&keys.id()).expect("state").expect("known");
    assert_eq!((state.sequence, state.id), (3, ids[2]));
    let got = db.get(&ids[1]).expect("get").expect("stored");
    let reparsed = got.message().expect("parses");
    assert_eq!(reparsed.id(), ids[1]);
    assert_eq!(reparsed.previous(), Some(ids[0]));
    assert_eq!(db.latest("post", 10).expect("latest").len(), 3);
}

/// A feed long enough to be read on every core (`Db::all_at` reads answers of 2,048 records
/// or more in parts) comes back whole and in order, forwards, backwards and from the middle,
/// with another feed's messages interleaved in the log between its records.
#[test]
fn a_long_feed_is_read_whole_and_in_order() {
    let long = Keys::from_seed([5; 32]);
    let long_feed = chain(&long, 5_000, "long");
    let mut other = chain(&Keys::from_seed([6; 32]), 1_700, "other").into_iter();
    let expected: Vec<_> = long_feed.iter().map(Message::id).collect();
    let mut msgs = Vec::new();
    for (i, m) in long_feed.into_iter().enumerate() {
        msgs.push((m, None));
        if i % 3 == 0 {
            msgs.extend(other.next().map(|m| (m, None)));
        }
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let db = Db::open(dir.path()).expect("open");
    let outcomes = db.add_batch_received(msgs, VerifyMode::Chain).expect("add");
    assert!(outcomes.iter().all(|o| matches!(o, Outcome::Appended(_))));
    let ids = |got: Vec<sluice_views::MsgRef<'_>>| got.iter().map(|m| m.id()).collect::<Vec<_>>();
    let feed = |from, limit, reverse| ids(db.feed(&long.id(), from, limit, reverse).expect("feed"));
    assert_eq!(feed(1, usize::MAX, false), expected);
    let newest_first: Vec<_> = expected.iter().rev().copied().collect();
    assert_eq!(feed(u64::MAX, usize::MAX, true), newest_first);
    assert_eq!(feed(1_001, 3_000, false), expected[1_000..4_000]);
}

/// A big batch's message vector comes back emptied once the batch is stored, for the next
/// batch to be built in (an import's reader reuses it); a small one's does not.
#[test]
fn a_stored_big_batch_leaves_its_emptied_vector_for_the_next() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = Db::open(dir.path()).expect("open");
    let keys = Keys::from_seed([7; 32]);
    let mut msgs = chain(&keys, 5_000, "spare");
    let small: Vec<Message> = msgs.split_off(4_999);
    assert_eq!(db.take_spare_messages().capacity(), 0, "nothing stored yet");

    let mut batch = Vec::with_capacity(8_000);
    batch.extend(msgs);
    let outcomes = db.add_batch(batch, VerifyMode::Chain).expect("add");
    assert!(outcomes.iter().all(|o| matches!(o, Outcome::Appended(_))));
    // The batch is freed on a pool thread: wait for it, within bounds.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    let spare = loop {
        let spare = db.take_spare_messages();
        if spare.capacity() > 0 || std::time::Instant::now() > deadline {
            break spare;
        }
        std::thread::sleep(std::time::Duration::from_millis(5));
    };
    assert!(spare.is_empty());
    assert_eq!(spare.capacity(), 8_000, "the stored batch's own vector");
    assert_eq!(db.take_spare_messages().capacity(), 0, "taken once");

    // A batch below the threshold is freed where it was stored, and leaves nothing.
    db.add_batch(small, VerifyMode::Chain).expect("add");
    std::thread::sleep(std::time::Duration::from_millis(50));
    assert_eq!(db.take_spare_messages().capacity(), 0);
    assert_eq!(db.messages_from(0).count(), 5_000);
}
