//! Damaged copies of real view files, loaded and queried as the `view_files` fuzz target does
//! (the same body): bytes flipped in turn at a stride, and cuts at many lengths. Nothing may
//! panic, a copy that checks clean must encode stably, and the undamaged files must answer.

mod common;

#[path = "support/fuzz_views.rs"]
mod fuzz_views;

use std::collections::BTreeSet;

use sluice_msg::{FeedId, Ref};
use sluice_views::contacts::Contacts;
use sluice_views::{Db, View, viewfile};

/// A store of the small fixture (written in several batches): its directory, and ids its view
/// files hold (authors, contact targets, thread roots, some messages).
fn sample() -> (tempfile::TempDir, Vec<[u8; 32]>) {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = Db::open(dir.path()).expect("open");
    let entries = common::entries(&common::small_jsonl());
    let (mut refs, mut ids) = (BTreeSet::new(), Vec::new());
    for (msg, _) in &entries {
        refs.insert(msg.author().0);
        ids.push(msg.id().0);
        let content = msg.value().get("content");
        for key in ["root", "branch", "contact"] {
            let id = content.and_then(|c| c.get(key)).and_then(|v| v.as_str());
            refs.extend(id.and_then(|s| s.parse::<Ref>().ok()).map(|r| match r {
                Ref::Feed(f) => f.0,
                Ref::Msg(m) => m.0,
                Ref::Blob(b) => b.0,
            }));
        }
    }
    common::load(&db, entries, 200);
    let known = (refs.into_iter().take(48))
        .chain(ids.into_iter().step_by(97))
        .collect();
    (dir, known)
}

#[test]
fn damaged_view_files_are_errors_never_panics() {
    let (dir, known) = sample();
    for (pick, name) in (0u8..).zip(fuzz_views::VIEWS) {
        let path = viewfile::path_of(&dir.path().join("views"), name);
        let file = std::fs::read(path).expect("a view file");
        let payload = &file[viewfile::FILE_HEADER_LEN..];
        assert!(payload.len() > 500, "{name}: a real file");
        fuzz_views::load_and_query(pick, payload, &known);
        for at in (0..payload.len()).step_by((payload.len() / 400).max(1)) {
            for mask in [0x01, 0x80, 0xff] {
                let mut bad = payload.to_vec();
                bad[at] ^= mask;
                fuzz_views::load_and_query(pick, &bad, &known);
            }
        }
        for len in (0..payload.len()).step_by((payload.len() / 60).max(1)) {
            fuzz_views::load_and_query(pick, &payload[..len], &known);
        }
    }
    // The known ids reach into the files: the undamaged contacts file has their follows.
    let path = viewfile::path_of(&dir.path().join("views"), "contacts");
    let mut contacts = Contacts::new();
    (contacts.decode(&std::fs::read(path).expect("read")[viewfile::FILE_HEADER_LEN..]))
        .expect("loads");
    let follows = known
        .iter()
        .map(|f| contacts.follows(&FeedId(*f)).expect("follows"));
    assert!(
        follows.map(|f| f.len()).sum::<usize>() > 10,
        "the known ids follow feeds"
    );
}
