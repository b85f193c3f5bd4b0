//! Graph-view benches on the medium fixture (100,000 messages, 150 authors), views fed
//! directly (offset = line index, no database): the biggest thread (435 replies) in
//! topological order, hops(main, 2), follows, backlinks of the most linked message, and
//! folding all 100,000 messages into each view (its share of a rebuild, JSON already parsed).

use std::hint::black_box;
use std::path::PathBuf;

use criterion::{Criterion, criterion_group, criterion_main};
use serde_json::Value;
use sluice_msg::{FeedId, MsgId, Ref};
use sluice_views::backlinks::Backlinks;
use sluice_views::contacts::Contacts;
use sluice_views::tangles::Tangles;
use sluice_views::view::{Indexed, View};

/// The main feed of the medium fixture (its report.md).
const MAIN: &str = "@IWu4pH/7h5jrMm0EZGS+xatL+MLIB+ENi5JhzoQjTz4=.ed25519";

/// The parsed medium fixture lines, or `None` (with a note) when it is missing.
fn medium() -> Option<Vec<Value>> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../shared/data/fixtures/medium/msgs.jsonl.zst");
    let Ok(raw) = std::fs::read(&path) else {
        eprintln!("skipping: {} not found", path.display());
        return None;
    };
    let text = String::from_utf8(zstd::decode_all(&raw[..]).expect("zstd")).expect("UTF-8");
    Some(
        text.lines()
            .map(|l| serde_json::from_str(l).expect("JSON line"))
            .collect(),
    )
}

fn indexed(offset: usize, entry: &Value) -> Indexed<'_> {
    Indexed::from_entry(offset as u64, entry).expect("a well-formed fixture entry")
}

fn build<V: View>(mut view: V, items: &[Indexed<'_>]) -> V {
    items.iter().for_each(|m| view.apply(m));
    view
}

/// The thread root with the most claimants, and its line.
fn biggest_thread(entries: &[Value], tangles: &Tangles) -> (MsgId, u64) {
    let roots = entries
        .iter()
        .filter_map(|e| e["value"]["content"]["root"].as_str());
    let root: MsgId = roots
        .filter_map(|r| r.parse().ok())
        .max_by_key(|r| tangles.claimants(r, None).map_or(0, |c| c.len()))
        .expect("a thread");
    let line = entries
        .iter()
        .position(|e| e["key"] == root.to_string().as_str())
        .unwrap();
    (root, line as u64)
}

fn graph_views(c: &mut Criterion) {
    let Some(entries) = medium() else { return };
    let items: Vec<Indexed<'_>> = entries
        .iter()
        .enumerate()
        .map(|(i, e)| indexed(i, e))
        .collect();
    let (contacts, tangles) = (
        build(Contacts::new(), &items),
        build(Tangles::new(), &items),
    );
    let backlinks = build(Backlinks::new(), &items);
    let main: FeedId = MAIN.parse().unwrap();
    let (root, root_line) = biggest_thread(&entries, &tangles);
    assert_eq!(
        tangles
            .tangle(&root, None, Some(root_line))
            .expect("in memory")
            .members
            .len(),
        436
    );
    let linked = Ref::Msg(root);
    // The same views as a store reads them: from their encoded files, in place.
    let mut tangles_file = Tangles::new();
    tangles_file.decode(&tangles.encode()).expect("decodes");
    let mut backlinks_file = Backlinks::new();
    backlinks_file.decode(&backlinks.encode()).expect("decodes");
    let mut contacts_file = Contacts::new();
    contacts_file.decode(&contacts.encode()).expect("decodes");

    let mut g = c.benchmark_group("graph");
    g.bench_function("tangle_435", |b| {
        b.iter(|| tangles.tangle(black_box(&root), None, Some(root_line)))
    });
    g.bench_function("tangle_435_read_in_place", |b| {
        b.iter(|| tangles_file.tangle(black_box(&root), None, Some(root_line)))
    });
    g.bench_function("hops_main_2", |b| {
        b.iter(|| contacts.hops(black_box(&main), 2))
    });
    g.bench_function("hops_main_2_read_in_place", |b| {
        b.iter(|| contacts_file.hops(black_box(&main), 2))
    });
    g.bench_function("follows_main", |b| {
        b.iter(|| contacts.follows(black_box(&main)))
    });
    g.bench_function("follows_main_read_in_place", |b| {
        b.iter(|| contacts_file.follows(black_box(&main)))
    });
    g.bench_function("backlinks_root", |b| {
        b.iter(|| backlinks.backlinks(black_box(&linked), None))
    });
    g.bench_function("backlinks_root_read_in_place", |b| {
        b.iter(|| backlinks_file.backlinks(black_box(&linked), None))
    });
    g.bench_function("backlinks_root_branch", |b| {
        b.iter(|| backlinks.backlinks(&linked, Some("branch")))
    });
    g.finish();

    let mut g = c.benchmark_group("graph/apply_100k");
    g.sample_size(10);
    g.bench_function("contacts", |b| b.iter(|| build(Contacts::new(), &items)));
    g.bench_function("tangles", |b| b.iter(|| build(Tangles::new(), &items)));
    g.bench_function("backlinks", |b| b.iter(|| build(Backlinks::new(), &items)));
    g.finish();

    let mut g = c.benchmark_group("graph/decode");
    g.sample_size(10);
    let bytes = [contacts.encode(), tangles.encode(), backlinks.encode()];
    g.bench_function("contacts", |b| {
        b.iter(|| Contacts::new().decode(&bytes[0]).unwrap())
    });
    g.bench_function("tangles", |b| {
        b.iter(|| Tangles::new().decode(&bytes[1]).unwrap())
    });
    g.bench_function("backlinks", |b| {
        b.iter(|| Backlinks::new().decode(&bytes[2]).unwrap())
    });
    g.finish();
}

criterion_group!(benches, graph_views);
criterion_main!(benches);
