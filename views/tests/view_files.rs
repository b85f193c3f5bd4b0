//! A corrupt, truncated or outdated view file is detected when the view loads (during
//! `Db::open_with_progress`, or at its first use after `Db::open`) and only that view is
//! rebuilt from the log; the others load from their files.

mod common;

use std::path::Path;

use sluice_views::{Db, DbOptions, viewfile};

fn store() -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = Db::open(dir.path()).expect("open");
    common::load(&db, common::entries(&common::small_jsonl()), 200);
    dir
}

fn view_path(dir: &Path, name: &str) -> std::path::PathBuf {
    viewfile::path_of(&dir.join("views"), name)
}

/// The id of the first message in the log (reading it loads no view).
fn first_id(db: &Db) -> sluice_msg::MsgId {
    let first = db.messages_from(0).next().expect("a message");
    first.expect("readable").id()
}

/// Flips one bit in the middle of the file at `path`; returns its bytes before and after.
fn flip_middle_bit(path: &Path) -> (Vec<u8>, Vec<u8>) {
    flip_bits(path, |len| len / 2, 0x40)
}

/// Flips the bits `mask` of the byte `at(file length)` of the file at `path`; returns its
/// bytes before and after.
fn flip_bits(path: &Path, at: impl Fn(usize) -> usize, mask: u8) -> (Vec<u8>, Vec<u8>) {
    let good = std::fs::read(path).expect("read");
    let mut bad = good.clone();
    bad[at(good.len())] ^= mask;
    std::fs::write(path, &bad).expect("damage the file");
    (good, bad)
}

/// Checks that the view `name`, whose file at `path` was damaged, was rebuilt for that and
/// its file rewritten to the `good` bytes.
fn assert_rebuilt_for_damage(db: &Db, path: &Path, good: &[u8], name: &str) {
    assert_eq!(std::fs::read(path).expect("read"), good, "rewritten");
    let info = db.view_info();
    let info = info.iter().find(|i| i.name == name).expect("listed");
    let why = info.rebuilt_because.as_deref().expect("rebuilt");
    assert!(why.contains("damaged"), "{name}: {why}");
}

/// Reopens, and checks that exactly `broken` was rebuilt (for a reason containing `why`)
/// and that every view agrees with the log.
fn check(dir: &Path, broken: &str, why: &str) {
    let mut reports = Vec::new();
    let db = Db::open_with_progress(dir, DbOptions::default(), &mut |p| reports.push(p))
        .expect("reopen");
    let last = reports.last().expect("the rebuild reported progress");
    assert_eq!((last.done, last.total), (db.end(), db.end()));
    assert!(
        last.records >= 1000,
        "the broken view was rebuilt from the start"
    );
    for info in db.view_info() {
        if info.name == broken {
            let reason = info.rebuilt_because.expect("the damaged view was rebuilt");
            assert!(reason.contains(why), "{broken}: {reason}");
        } else {
            assert_eq!(info.rebuilt_because, None, "{} was rebuilt too", info.name);
        }
    }
    common::assert_views_match_log(&db, common::Files::Any);
    drop(db);
    let db = Db::open(dir).expect("reopen after rebuild");
    // The rebuilt view was rewritten.
    common::assert_loaded_from_files(&db);
}

#[test]
fn flipped_byte_rebuilds_that_view_only() {
    let dir = store();
    // The first payload byte: the block directory, which the file checksum covers.
    flip_bits(
        &view_path(dir.path(), "contacts"),
        |_| viewfile::FILE_HEADER_LEN,
        0x40,
    );
    check(dir.path(), "contacts", "checksum");
}

/// The contacts view reads its edges in place: a damaged block is found by the first query
/// that reads it, and the answers stay those of the undamaged store.
#[test]
fn a_damaged_contacts_block_is_rebuilt_by_the_query_that_reads_it() {
    let dir = store();
    let db = Db::open(dir.path()).expect("open");
    let feeds: std::collections::BTreeSet<sluice_msg::FeedId> = db
        .messages_from(0)
        .map(|m| m.expect("readable").author())
        .collect();
    let graph = |db: &Db| -> Vec<_> {
        let each = |f| {
            let follows = db.follows(f).expect("follows");
            (follows, db.followers(f).expect("followers"))
        };
        feeds.iter().map(each).collect()
    };
    let want = graph(&db);
    assert!(
        want.iter().any(|(f, _)| !f.is_empty()),
        "the store has follows"
    );
    // The second feed with an edge: its id is in the feed table only (the head names the
    // first feed of each table block).
    let linked: std::collections::BTreeSet<_> = (feeds.iter().zip(&want))
        .filter(|(_, (out, inn))| !out.is_empty() || !inn.is_empty())
        .map(|(f, _)| *f)
        .chain(
            want.iter()
                .flat_map(|(out, inn)| out.iter().chain(inn).copied()),
        )
        .collect();
    let second = *linked.iter().nth(1).expect("two linked feeds");
    drop(db);
    let path = view_path(dir.path(), "contacts");
    let bytes = std::fs::read(&path).expect("read");
    let in_table = (bytes.windows(32))
        .position(|w| w == second.0)
        .expect("the feed table names it");
    for (at, place) in [
        (bytes.len() - 40, "the last feed's entry"),
        (in_table + 7, "the feed table"),
    ] {
        let (good, _) = flip_bits(&path, |_| at, 0x01);
        let db = Db::open(dir.path()).expect("open");
        assert_eq!(graph(&db), want, "damage in {place}");
        assert_rebuilt_for_damage(&db, &path, &good, "contacts");
    }
}

/// The feeds view reads its offsets in place: a damaged block is found by the first query
/// that reads it, and the answers stay those of the undamaged store.
#[test]
fn a_damaged_feeds_block_is_rebuilt_by_the_query_that_reads_it() {
    let dir = store();
    let db = Db::open(dir.path()).expect("open");
    let authors: std::collections::BTreeSet<sluice_msg::FeedId> = db
        .messages_from(0)
        .map(|m| m.expect("readable").author())
        .collect();
    let feed = |db: &Db, a| {
        let msgs = db.feed(a, 1, usize::MAX, false).expect("feed");
        msgs.iter().map(|m| m.id()).collect::<Vec<_>>()
    };
    let want: Vec<Vec<sluice_msg::MsgId>> = authors.iter().map(|a| feed(&db, a)).collect();
    drop(db);
    let path = view_path(dir.path(), "feeds");
    let (good, _) = flip_bits(&path, |len| len - 6, 0x10); // a high byte of the last offset of the last feed

    let db = Db::open(dir.path()).expect("open");
    let got: Vec<Vec<sluice_msg::MsgId>> = authors.iter().map(|a| feed(&db, a)).collect();
    assert_eq!(got, want);
    assert_rebuilt_for_damage(&db, &path, &good, "feeds");
}

#[test]
fn truncated_file_rebuilds_that_view_only() {
    let dir = store();
    let path = view_path(dir.path(), "keys");
    let bytes = std::fs::read(&path).expect("read");
    std::fs::write(&path, &bytes[..bytes.len() - 7]).expect("write");
    check(dir.path(), "keys", "length");
}

#[test]
fn empty_and_missing_files_rebuild() {
    let dir = store();
    std::fs::write(view_path(dir.path(), "types"), b"").expect("write");
    check(dir.path(), "types", "header");
    std::fs::remove_file(view_path(dir.path(), "keys")).expect("remove");
    check(dir.path(), "keys", "missing");
}

#[test]
fn version_change_rebuilds_that_view_only() {
    let dir = store();
    let path = view_path(dir.path(), "types");
    let loaded = viewfile::load(&dir.path().join("views"), "types", 2).expect("good file");
    let older = viewfile::encode("types", 0, loaded.since, loaded.payload());
    std::fs::write(&path, older).expect("write");
    check(dir.path(), "types", "version 0");
}

/// A reindex rewrites the views it rebuilt even when the log did not grow since their files
/// were written (a damaged file on disk is replaced without reopening).
#[test]
fn reindex_rewrites_files_at_the_same_log_end() {
    let dir = store();
    let db = Db::open(dir.path()).expect("open");
    let path = view_path(dir.path(), "tangles");
    let (good, _) = flip_middle_bit(&path);
    db.reindex(&["tangles"], &mut |_| {}).expect("reindex");
    assert_eq!(std::fs::read(&path).expect("read"), good, "rewritten");
    drop(db);
    let db = Db::open(dir.path()).expect("reopen");
    common::assert_loaded_from_files(&db);
}

/// `Db::open` loads a view on its first use: a query that does not read the damaged view
/// answers without touching its file; the first query that reads it rebuilds it and the file
/// is rewritten before the answer (not only on close).
#[test]
fn a_damaged_view_is_rebuilt_and_rewritten_at_its_first_use() {
    let dir = store();
    let path = view_path(dir.path(), "contacts");
    let (good, bad) = flip_middle_bit(&path);

    let db = Db::open(dir.path()).expect("open");
    let id = first_id(&db);
    let first = db.get(&id).expect("get").expect("stored");
    assert_eq!(std::fs::read(&path).expect("read"), bad, "not read yet");

    db.follows(&first.author()).expect("follows");
    assert_eq!(
        std::fs::read(&path).expect("read"),
        good,
        "rebuilt and rewritten"
    );
    let info = db.view_info();
    let contacts = info.iter().find(|i| i.name == "contacts").expect("listed");
    assert!(contacts.rebuilt_because.is_some());
    common::assert_views_match_log(&db, common::Files::Any);
}

/// The backlinks view reads its file in place: damage in a block is found by the first query
/// that lands in that block (or by fsck, or before the file is rewritten), which rebuilds the
/// view and still answers right.
#[test]
fn a_damaged_backlinks_block_is_rebuilt_by_the_query_that_lands_in_it() {
    let dir = store();
    let path = view_path(dir.path(), "backlinks");
    let loaded = viewfile::load(&dir.path().join("views"), "backlinks", 2).expect("good file");
    let blocks_at = viewfile::FILE_HEADER_LEN + loaded.checked;
    drop(loaded);
    // A byte of the first target's id in the first block: feeds sort first.
    let (good, _) = flip_bits(&path, |_| blocks_at + 5, 0x01);

    let reader = Db::open_read_only(dir.path()).expect("open read-only");
    let checks = reader.check_views().expect("check");
    let file = checks
        .iter()
        .find(|c| c.name == "backlinks")
        .expect("listed");
    let why = file.file.as_deref().expect("fsck names the damage");
    assert!(why.contains("block 0 of the backlinks view"), "{why}");
    drop(reader);

    let db = Db::open(dir.path()).expect("open");
    let authors: std::collections::BTreeSet<sluice_msg::FeedId> = db
        .messages_from(0)
        .map(|m| m.expect("readable").author())
        .collect();
    let mut answers = 0;
    for author in &authors {
        answers += db
            .backlinks(&sluice_msg::Ref::Feed(*author), None)
            .expect("answered, after a rebuild where needed")
            .len();
    }
    assert!(answers > 0);
    assert_rebuilt_for_damage(&db, &path, &good, "backlinks");
}

/// Closing a handle that loaded only some views leaves the other files as they were (an
/// unloaded view must not be written back empty).
#[test]
fn closing_keeps_the_files_of_views_never_loaded() {
    let dir = store();
    let names = ["keys", "feeds", "types", "contacts", "tangles", "backlinks"];
    let before: Vec<Vec<u8>> = names
        .iter()
        .map(|n| std::fs::read(view_path(dir.path(), n)).expect("read"))
        .collect();
    let db = Db::open(dir.path()).expect("open");
    assert!(db.get(&first_id(&db)).expect("get").is_some());
    drop(db);
    for (name, bytes) in names.iter().zip(&before) {
        let after = std::fs::read(view_path(dir.path(), name)).expect("read");
        assert_eq!(&after, bytes, "{name} changed");
    }
    let db = Db::open(dir.path()).expect("reopen");
    common::assert_loaded_from_files(&db);
    common::assert_views_match_log(&db, common::Files::Any);
}

/// The keys view checks the blocks of its sorted pairs when a lookup first lands in them,
/// not on open: fsck finds a damaged block, and the first lookup that reads it rebuilds the
/// view from the log, rewrites the file and still answers right.
#[test]
fn a_damaged_keys_block_is_rebuilt_by_the_lookup_that_lands_in_it() {
    let dir = store();
    let path = view_path(dir.path(), "keys");
    // A high byte of the last pair's offset: outside the checked directory.
    let (good, bad) = flip_bits(&path, |len| len - 3, 0x40);

    let reader = Db::open_read_only(dir.path()).expect("open read-only");
    let checks = reader.check_views().expect("check");
    let keys = checks.iter().find(|c| c.name == "keys").expect("listed");
    let file = keys.file.as_deref().expect("fsck names the damage");
    assert!(file.contains("block 0"), "{file}");
    drop(reader);
    assert_eq!(
        std::fs::read(&path).expect("read"),
        bad,
        "a reader writes nothing"
    );

    let db = Db::open(dir.path()).expect("open");
    let id = first_id(&db);
    let got = db.get(&id).expect("get").expect("found after the rebuild");
    assert_eq!(got.id(), id);
    assert_rebuilt_for_damage(&db, &path, &good, "keys");
    common::assert_views_match_log(&db, common::Files::Clean);
}

/// The types view reads its offsets in place: a damaged block is found by the first query
/// that reads it, and the answer stays that of the undamaged store.
#[test]
fn a_damaged_types_block_is_rebuilt_by_the_query_that_reads_it() {
    let dir = store();
    let db = Db::open(dir.path()).expect("open");
    let counts = db.type_counts().expect("counts");
    let latest = |db: &Db, t: &str| -> Vec<sluice_msg::MsgId> {
        let msgs = db.latest(t, usize::MAX).expect("latest");
        msgs.iter().map(|m| m.id()).collect()
    };
    let want: Vec<_> = counts.iter().map(|(t, _)| latest(&db, t)).collect();
    drop(db);
    let path = view_path(dir.path(), "types");
    let (good, _) = flip_bits(&path, |len| len - 6, 0x10); // a high byte of the last offset of the last type

    let db = Db::open(dir.path()).expect("open");
    assert_eq!(
        db.type_counts().expect("counts"),
        counts,
        "counts need no block"
    );
    let got: Vec<_> = counts.iter().map(|(t, _)| latest(&db, t)).collect();
    assert_eq!(got, want);
    assert_rebuilt_for_damage(&db, &path, &good, "types");
}

/// The tangles view reads each tangle in place: a damaged block is found by the first query
/// that lands in it, and the answers stay those of the undamaged store.
#[test]
fn a_damaged_tangles_block_is_rebuilt_by_the_query_that_lands_in_it() {
    let dir = store();
    let db = Db::open(dir.path()).expect("open");
    let ids: Vec<sluice_msg::MsgId> = db
        .messages_from(0)
        .map(|m| m.expect("readable").id())
        .collect();
    let thread = |db: &Db, id| {
        let t = db.tangle(id, None).expect("tangle");
        t.members.iter().map(|m| m.id()).collect::<Vec<_>>()
    };
    let want: Vec<_> = ids.iter().map(|id| thread(&db, id)).collect();
    assert!(want.iter().any(|m| m.len() > 1), "the sample has threads");
    drop(db);
    let path = view_path(dir.path(), "tangles");
    let (good, _) = flip_bits(&path, |len| len - 20, 0x01); // inside the last tangle of the last block

    let db = Db::open(dir.path()).expect("open");
    let got: Vec<_> = ids.iter().map(|id| thread(&db, id)).collect();
    assert_eq!(got, want);
    assert_rebuilt_for_damage(&db, &path, &good, "tangles");
}

/// A view file whose bulk is written through a spill file (every byte past the head, here)
/// is byte for byte the file built in memory; it loads, answers and checks clean, and neither
/// the spill files nor temp files are left in the views directory.
#[test]
fn view_files_written_through_spill_files_equal_those_built_in_memory() {
    let spilled = tempfile::tempdir().expect("tempdir");
    let opts = DbOptions {
        spill_above: 0,
        ..DbOptions::default()
    };
    let db = Db::open_with(spilled.path(), opts.clone()).expect("open");
    common::load(&db, common::entries(&common::small_jsonl()), 200);
    db.reindex(&[], &mut |_| {})
        .expect("reindex, written again");
    drop(db);
    let in_memory = store();
    let names = ["keys", "feeds", "types", "contacts", "tangles", "backlinks"];
    for name in names {
        let (a, b) = (
            view_path(spilled.path(), name),
            view_path(in_memory.path(), name),
        );
        let (a, b) = (
            std::fs::read(a).expect("read"),
            std::fs::read(b).expect("read"),
        );
        assert!(a.len() > viewfile::FILE_HEADER_LEN + 500, "{name}: a bulk");
        assert!(
            a == b,
            "{name}: the spilled file differs from the one built in memory"
        );
    }
    let mut left: Vec<String> = std::fs::read_dir(spilled.path().join("views"))
        .expect("views dir")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    left.sort();
    let expected: Vec<String> = {
        let mut n: Vec<String> = names.iter().map(|n| format!("{n}.view")).collect();
        n.sort();
        n
    };
    assert_eq!(left, expected, "only the view files are left");
    let db = Db::open_with(spilled.path(), opts).expect("reopen");
    common::assert_views_match_log(&db, common::Files::Clean);
}

/// A rebuild writes the view files as it goes (every `rebuild_persist_every` log bytes, here
/// after every chunk), so what it holds in memory does not grow with the store: while it runs,
/// a file is seen holding a part of the log; after it, every file holds all of it and every
/// view agrees with the log.
#[test]
fn a_rebuild_writes_the_view_files_as_it_goes() {
    let jsonl = common::generated_jsonl("ck");
    let dir = tempfile::tempdir().expect("tempdir");
    let opts = DbOptions {
        rebuild_persist_every: 1,
        ..DbOptions::default()
    };
    let db = Db::open_with(dir.path(), opts).expect("open");
    common::load(&db, common::entries(&jsonl), 5_000);
    let views = dir.path().join("views");
    let end = db.end();
    let mut seen = Vec::new();
    db.reindex(&[], &mut |_| {
        let since = |name| viewfile::load(&views, name, 2).map(|l| l.since);
        seen.push((since("keys"), since("backlinks")));
    })
    .expect("reindex");
    let partial = |s: &Result<u64, _>| s.as_ref().is_ok_and(|&s| s > 0 && s < end);
    assert!(
        seen.iter().any(|(k, b)| partial(k) && partial(b)),
        "files written part-way: {seen:?} (end {end})"
    );
    for view in db.view_info() {
        let file = viewfile::load(&views, view.name, view.version).expect("a good file");
        assert_eq!((view.since, file.since), (end, end), "{}", view.name);
    }
    common::assert_views_match_log(&db, common::Files::Clean);
}

/// Views written after every batch of an import: threads that get replies after their file was
/// written keep their stored replies in the file (the tangles view indexes them) and are read,
/// answered and written again merged with the new ones; every view still matches the log,
/// from memory and after a reopen from the files.
#[test]
fn views_written_after_every_batch_match_the_log() {
    let jsonl = common::generated_jsonl("wb");
    let dir = tempfile::tempdir().expect("tempdir");
    let opts = DbOptions {
        persist_every: 1,
        ..DbOptions::default()
    };
    let db = Db::open_with(dir.path(), opts).expect("open");
    common::load(&db, common::entries(&jsonl), 500);
    common::assert_views_match_log(&db, common::Files::Clean);
    drop(db);
    let db = Db::open(dir.path()).expect("reopen");
    common::assert_loaded_from_files(&db);
    common::assert_views_match_log(&db, common::Files::Clean);
}

/// The write interval stops growing at `persist_at_most`: with a cap of one byte the files
/// are written after every batch however long the log gets (an eighth of the log, the interval
/// without the cap, would leave them thousands of messages behind).
#[test]
fn the_write_interval_stops_growing_at_its_cap() {
    let jsonl = common::generated_jsonl("cap");
    let dir = tempfile::tempdir().expect("tempdir");
    let opts = DbOptions {
        persist_every: 1,
        persist_at_most: 1,
        ..DbOptions::default()
    };
    let db = Db::open_with(dir.path(), opts).expect("open");
    let views = dir.path().join("views");
    let mut entries = common::entries(&jsonl);
    let tail = entries.split_off(10_000);
    common::load(&db, entries, 10_000);
    for batch in tail.chunks(1_000) {
        common::load(&db, batch.to_vec(), batch.len());
        for view in db.view_info() {
            let file = viewfile::load(&views, view.name, view.version).expect("a good file");
            assert_eq!(
                file.since,
                db.end(),
                "{} written after the batch",
                view.name
            );
        }
    }
    common::assert_views_match_log(&db, common::Files::Clean);
}

/// Two threads writing the views at once (a writer's own periodic writes, and another thread
/// asking for a write) take turns per view: every file written checks clean.
#[test]
fn concurrent_view_writes_leave_good_files() {
    use std::sync::atomic::{AtomicBool, Ordering};
    let dir = tempfile::tempdir().expect("tempdir");
    let opts = DbOptions {
        persist_every: 1,
        spill_above: 0,
        ..DbOptions::default()
    };
    let db = Db::open_with(dir.path(), opts).expect("open");
    let entries = common::entries(&common::small_jsonl());
    /// Stops the other thread when dropped, also when loading panics.
    struct Stop<'a>(&'a AtomicBool);
    impl Drop for Stop<'_> {
        fn drop(&mut self) {
            self.0.store(true, Ordering::Release);
        }
    }
    let done = AtomicBool::new(false);
    std::thread::scope(|scope| {
        scope.spawn(|| {
            while !done.load(Ordering::Acquire) {
                db.persist_views().expect("write the views");
            }
        });
        let _stop = Stop(&done);
        common::load(&db, entries, 20);
    });
    drop(db);
    let db = Db::open(dir.path()).expect("reopen");
    common::assert_loaded_from_files(&db);
    common::assert_views_match_log(&db, common::Files::Clean);
}
