//! The body of the `view_files` fuzz target, shared with the views test suite (which runs it
//! over damaged copies of real view files): arbitrary bytes loaded as one view's payload, then
//! every query of that view. Nothing may panic; damage is an error. A payload that checks
//! clean must also encode again, and that encoding must load and encode to the same bytes.

use sluice_msg::{FeedId, MsgId, Ref};
use sluice_views::backlinks::Backlinks;
use sluice_views::contacts::Contacts;
use sluice_views::feeds::FeedsView;
use sluice_views::keys::KeysView;
use sluice_views::tangles::Tangles;
use sluice_views::types::TypesView;
use sluice_views::viewfile::Payload;
use sluice_views::{Relation, View};

/// The views, in the order the first byte of a fuzz input picks them.
pub const VIEWS: [&str; 6] = ["keys", "feeds", "types", "contacts", "tangles", "backlinks"];

/// Ids to ask about: `known` ones, the payload's 32-byte windows at a few alignments (a real
/// file holds many of its keys whole), and fixed ones.
fn ids(payload: &[u8], known: &[[u8; 32]]) -> Vec<[u8; 32]> {
    let mut out = vec![[0; 32], [0xff; 32]];
    out.extend(known);
    for align in [0, 1, 4, 8] {
        let windows = payload.get(align..).unwrap_or_default().as_chunks::<32>().0;
        out.extend(windows.iter().take(24));
    }
    out
}

/// Loads `payload` as view `VIEWS[pick % 6]` and runs its queries, asking also about the
/// `known` ids (feeds and messages the file may hold).
pub fn load_and_query(pick: u8, payload: &[u8], known: &[[u8; 32]]) {
    let ids = ids(payload, known);
    match VIEWS[usize::from(pick) % VIEWS.len()] {
        "keys" => {
            let Some(v) = loaded(KeysView::new(), payload) else {
                return;
            };
            for id in &ids {
                if let Ok(found) = v.candidates(&MsgId(*id)) {
                    found.take(64).for_each(drop);
                }
            }
            let _ = v.len();
            round_trip(v, KeysView::new);
        }
        "feeds" => {
            let Some(v) = loaded(FeedsView::new(), payload) else {
                return;
            };
            let _ = v.latest_all();
            for id in &ids {
                let _ = v.last(&FeedId(*id));
                let _ = v.range(&FeedId(*id), 1, 50, false);
                let _ = v.range(&FeedId(*id), u64::MAX, 50, true);
            }
            round_trip(v, FeedsView::new);
        }
        "types" => {
            let Some(v) = loaded(TypesView::new(), payload) else {
                return;
            };
            for (name, _) in v.counts() {
                let _ = v.latest(&name, 20);
            }
            let _ = v.latest("post", usize::MAX);
            round_trip(v, TypesView::new);
        }
        "contacts" => {
            let Some(mut v) = loaded(Contacts::new(), payload) else {
                return;
            };
            let feeds: Vec<FeedId> = ids.iter().map(|id| FeedId(*id)).collect();
            let ask = |v: &Contacts| {
                for f in &feeds {
                    let _ = v.follows(f);
                    let _ = v.followers(f);
                    let _ = v.blocks(f);
                    let _ = v.blocked_by(f);
                    let _ = v.hops(f, 3);
                    let _ = v.relation(f, &feeds[0]);
                }
                let _ = v.edges();
            };
            ask(&v);
            if v.verify().is_ok() {
                // Edges applied over the file: the merged answers and writes.
                for (i, pair) in feeds.windows(2).enumerate().take(8) {
                    let relation = [Relation::Follow, Relation::Block, Relation::Unfollow][i % 3];
                    v.set(pair[0], pair[1], i as u64, relation);
                }
                ask(&v);
            }
            round_trip(v, Contacts::new);
        }
        "tangles" => {
            let Some(v) = loaded(Tangles::new(), payload) else {
                return;
            };
            for id in &ids {
                for name in [None, Some("vote"), Some("")] {
                    let _ = v.tangle(&MsgId(*id), name, Some(0));
                    let _ = v.claimants(&MsgId(*id), name);
                }
            }
            round_trip(v, Tangles::new);
        }
        "backlinks" => {
            let Some(v) = loaded(Backlinks::new(), payload) else {
                return;
            };
            let mut targets: Vec<Ref> = v.targets().unwrap_or_default();
            targets.truncate(32);
            targets.extend(
                ids.iter()
                    .flat_map(|id| [Ref::Msg(MsgId(*id)), Ref::Feed(FeedId(*id))]),
            );
            for t in &targets {
                let _ = v.backlinks(t, None);
                let _ = v.backlinks(t, Some("root"));
                let _ = v.links_to(t);
            }
            round_trip(v, Backlinks::new);
        }
        _ => unreachable!("a view name of VIEWS"),
    }
}

/// `view` with `payload` loaded, or `None` when the payload's head is refused.
fn loaded<V: View>(mut view: V, payload: &[u8]) -> Option<V> {
    view.load(Payload::owned(payload.to_vec())).ok()?;
    Some(view)
}

/// A view that checks clean encodes (as a database writes it only after checking it), and
/// what it encodes loads, checks clean and encodes to the same bytes.
fn round_trip<V: View>(view: V, fresh: impl Fn() -> V) {
    if view.verify().is_err() {
        return;
    }
    let once = view.encode();
    let mut back = fresh();
    back.load(Payload::owned(once.clone()))
        .expect("an encoded view loads");
    back.verify().expect("an encoded view checks clean");
    assert!(back.encode() == once, "encoding is stable");
}
