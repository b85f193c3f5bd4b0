//! Read-only handles: they never write, and they see what a writer made durable.

mod common;

use sluice_views::{Db, Error};

fn snapshot(dir: &std::path::Path) -> Vec<(String, Vec<u8>)> {
    let mut files: Vec<(String, Vec<u8>)> = std::fs::read_dir(dir.join("views"))
        .expect("views dir")
        .map(|e| {
            let e = e.expect("entry");
            (
                e.file_name().to_string_lossy().into_owned(),
                std::fs::read(e.path()).expect("read"),
            )
        })
        .collect();
    files.sort();
    files.push(("log".into(), std::fs::read(dir.join("log")).expect("log")));
    files
}

#[test]
fn reader_follows_a_concurrent_writer_without_writing() {
    let entries = common::entries(&common::small_jsonl());
    let (first, second) = entries.split_at(600);
    let dir = tempfile::tempdir().expect("tempdir");
    let writer = Db::open(dir.path()).expect("open");
    common::load(&writer, first.to_vec(), 100);
    writer.persist_views().expect("persist");

    let before = snapshot(dir.path());
    let reader = Db::open_read_only(dir.path()).expect("open read-only");
    assert!(reader.is_read_only());
    assert_eq!(reader.messages_from(0).count(), 600);
    assert!(matches!(
        reader.add_batch(Vec::new(), sluice_msg::VerifyMode::Chain),
        Err(Error::ReadOnly)
    ));

    let reader_thread = std::thread::scope(|s| {
        let handle = s.spawn(|| {
            // Queries run while the writer appends; each sees a consistent prefix.
            (0..50)
                .map(|_| {
                    reader
                        .type_counts()
                        .expect("counts")
                        .iter()
                        .map(|(_, n)| n)
                        .sum::<usize>()
                })
                .collect::<Vec<_>>()
        });
        common::load(&writer, second.to_vec(), 40);
        handle.join().expect("reader thread")
    });
    assert!(
        reader_thread.windows(2).all(|w| w[0] <= w[1]),
        "counts never go back"
    );
    let last = second.last().expect("entries").0.id();
    assert!(
        reader.get(&last).expect("get").is_some(),
        "the reader sees the writer's durable appends"
    );
    common::assert_views_match_log(&reader, common::Files::Any);
    drop(reader);
    drop(writer);
    let after = snapshot(dir.path());
    assert_eq!(before.len(), after.len());
    assert!(
        after
            .iter()
            .all(|(name, _)| before.iter().any(|(n, _)| n == name))
    );
}

#[test]
fn reader_without_view_files_builds_them_in_memory_only() {
    let dir = tempfile::tempdir().expect("tempdir");
    {
        let db = Db::open(dir.path()).expect("open");
        common::load(&db, common::entries(&common::small_jsonl()), 500);
    }
    for e in std::fs::read_dir(dir.path().join("views")).expect("views") {
        std::fs::remove_file(e.expect("entry").path()).expect("remove");
    }
    let reader = Db::open_read_only(dir.path()).expect("open read-only");
    assert_eq!(reader.feeds().expect("feeds").len(), 10);
    reader.reindex(&[], &mut |_| {}).expect("reindex in memory");
    drop(reader);
    assert_eq!(
        std::fs::read_dir(dir.path().join("views"))
            .expect("views")
            .count(),
        0
    );
}
