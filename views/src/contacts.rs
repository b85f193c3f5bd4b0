//! The contacts view: the follow/block graph from `type: contact` messages, and ssb-friends hops.
//!
//! # What counts
//! A public message with `content.type == "contact"` and a `content.contact` that parses as a
//! feed id (strict) sets the edge *author → contact*. Its state follows ssb-friends 4.x
//! (`contacts.js`): `blocking` (or the legacy `flagged`) truthy in the JavaScript sense →
//! [`Relation::Block`]; otherwise `following === true` → [`Relation::Follow`]; otherwise
//! (`following: false`, or neither field) → [`Relation::Unfollow`]. So `blocking: true`
//! overrides `following`. For one (source, dest) pair the message with the highest sequence
//! number of the author wins, whatever the order in which messages reach the log.
//!
//! # Hops
//! [`Contacts::hops`] is ssb-friends' `hops` (layered-graph over dynamic-dijkstra's `simple`
//! rules), computed as its fixpoint: the origin has 0; a node at distance `d ≥ 0` with
//! `d < max` passes to each out-neighbour `d + 1` if it follows it, `-(d + 1)` if it blocks it
//! and `-(d + 2)` if it unfollowed it. A node keeps the candidate with the smallest absolute
//! value, a non-negative one winning a tie. Nodes with negative values are not expanded, so a
//! block cuts off what lies behind the blocked feed (unless reached another way), and a block
//! by a closer feed beats a follow by a farther one. The origin always has 0.

use std::collections::BTreeMap;

use serde_json::Value;
use sluice_msg::FeedId;

use crate::codec::FastMap;
use crate::scan::Facts;
use crate::tangles::wire::{Reader, Writer};
use crate::view::{Indexed, View, ViewDataError};
use crate::viewfile::Bulk;

/// The state of one edge, as the latest contact message from source to dest set it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Relation {
    /// `following: true` (and not blocking).
    Follow,
    /// `blocking: true` (or `flagged`), whatever `following` says.
    Block,
    /// A contact message that neither follows nor blocks (`following: false`, an unblock).
    Unfollow,
}

impl Relation {
    /// The edge state a contact message's content sets.
    pub fn of_content(content: &Value) -> Relation {
        let truthy = |key: &str| content.get(key).is_some_and(js_truthy);
        if truthy("blocking") || truthy("flagged") {
            Relation::Block
        } else if content.get("following") == Some(&Value::Bool(true)) {
            Relation::Follow
        } else {
            Relation::Unfollow
        }
    }

    fn to_byte(self) -> u8 {
        match self {
            Relation::Follow => 0,
            Relation::Block => 1,
            Relation::Unfollow => 2,
        }
    }

    fn from_byte(b: u8) -> Result<Relation, ViewDataError> {
        match b {
            0 => Ok(Relation::Follow),
            1 => Ok(Relation::Block),
            2 => Ok(Relation::Unfollow),
            _ => Err(ViewDataError(format!("unknown contact relation {b}"))),
        }
    }

    /// The hop value this edge gives a neighbour of a node at distance `d` (ssb-friends rules).
    fn hop_from(self, d: i32) -> i32 {
        match self {
            Relation::Follow => d + 1,
            Relation::Block => -(d + 1),
            Relation::Unfollow => -(d + 2),
        }
    }
}

/// JavaScript truthiness of a JSON value.
pub(crate) fn js_truthy(v: &Value) -> bool {
    match v {
        Value::Null => false,
        Value::Bool(b) => *b,
        Value::Number(n) => n.as_f64().is_some_and(|f| f != 0.0 && !f.is_nan()),
        Value::String(s) => !s.is_empty(),
        Value::Array(_) | Value::Object(_) => true,
    }
}

/// ssb-friends' `min`: the smaller absolute value; on a tie the non-negative one.
fn hop_min(a: i32, b: i32) -> i32 {
    match a.abs().cmp(&b.abs()) {
        std::cmp::Ordering::Less => a,
        std::cmp::Ordering::Greater => b,
        std::cmp::Ordering::Equal => a.max(b),
    }
}

/// The latest state of one edge and the author sequence that set it.
#[derive(Debug, Clone, Copy, PartialEq)]
struct EdgeState {
    sequence: u64,
    relation: Relation,
}

/// The follow graph. Feeds are interned to dense `u32` indexes so traversals work on vectors.
#[derive(Debug, Default, Clone)]
pub struct Contacts {
    feeds: Vec<FeedId>,
    index: FastMap<FeedId, u32>,
    /// Per source: (dest, relation), in the order edges first appeared.
    out: Vec<Vec<(u32, Relation)>>,
    /// Per dest: the sources with an edge to it.
    inn: Vec<Vec<u32>>,
    /// (source, dest) → sequence that set it and its position in `out[source]`.
    edges: FastMap<(u32, u32), (u64, u32)>,
}

/// Equal when they hold the same feeds and edges (the order of `inn`, a derived index, aside).
impl PartialEq for Contacts {
    fn eq(&self, other: &Self) -> bool {
        self.feeds == other.feeds && self.out == other.out && self.edges == other.edges
    }
}

impl Contacts {
    /// An empty graph.
    pub fn new() -> Self {
        Self::default()
    }

    fn intern(&mut self, feed: FeedId) -> u32 {
        if let Some(&i) = self.index.get(&feed) {
            return i;
        }
        let i = u32::try_from(self.feeds.len()).expect("fewer than 2^32 feeds");
        self.feeds.push(feed);
        self.index.insert(feed, i);
        self.out.push(Vec::new());
        self.inn.push(Vec::new());
        i
    }

    /// Records that `source`'s message number `sequence` set the edge to `dest`; an older
    /// sequence than the one already recorded for that pair is ignored.
    pub fn set(&mut self, source: FeedId, dest: FeedId, sequence: u64, relation: Relation) {
        let (s, d) = (self.intern(source), self.intern(dest));
        self.set_edge(s, d, EdgeState { sequence, relation });
    }

    fn set_edge(&mut self, s: u32, d: u32, state: EdgeState) {
        match self.edges.get_mut(&(s, d)) {
            Some((seq, pos)) => {
                if state.sequence > *seq {
                    *seq = state.sequence;
                    self.out[s as usize][*pos as usize].1 = state.relation;
                }
            }
            None => {
                let pos = self.out[s as usize].len() as u32;
                self.out[s as usize].push((d, state.relation));
                self.inn[d as usize].push(s);
                self.edges.insert((s, d), (state.sequence, pos));
            }
        }
    }

    /// The relation the latest contact message from `source` about `dest` set, if any.
    pub fn relation(&self, source: &FeedId, dest: &FeedId) -> Option<Relation> {
        let (s, d) = (*self.index.get(source)?, *self.index.get(dest)?);
        let &(_, pos) = self.edges.get(&(s, d))?;
        Some(self.out[s as usize][pos as usize].1)
    }

    fn outgoing(&self, source: &FeedId, want: Relation) -> Vec<FeedId> {
        let Some(&s) = self.index.get(source) else {
            return Vec::new();
        };
        let mut v: Vec<FeedId> = self.out[s as usize]
            .iter()
            .filter(|e| e.1 == want)
            .map(|e| self.feeds[e.0 as usize])
            .collect();
        v.sort_unstable();
        v
    }

    fn incoming(&self, dest: &FeedId, want: Relation) -> Vec<FeedId> {
        let Some(&d) = self.index.get(dest) else {
            return Vec::new();
        };
        let mut v: Vec<FeedId> = self.inn[d as usize]
            .iter()
            .filter(|&&s| self.relation_ix(s, d) == Some(want))
            .map(|&s| self.feeds[s as usize])
            .collect();
        v.sort_unstable();
        v
    }

    fn relation_ix(&self, s: u32, d: u32) -> Option<Relation> {
        let &(_, pos) = self.edges.get(&(s, d))?;
        Some(self.out[s as usize][pos as usize].1)
    }

    /// The feeds `source` follows (and does not block), sorted by feed id.
    pub fn follows(&self, source: &FeedId) -> Vec<FeedId> {
        self.outgoing(source, Relation::Follow)
    }

    /// The feeds that follow `dest`, sorted by feed id.
    pub fn followers(&self, dest: &FeedId) -> Vec<FeedId> {
        self.incoming(dest, Relation::Follow)
    }

    /// The feeds `source` blocks, sorted by feed id.
    pub fn blocks(&self, source: &FeedId) -> Vec<FeedId> {
        self.outgoing(source, Relation::Block)
    }

    /// The feeds that block `dest`, sorted by feed id.
    pub fn blocked_by(&self, dest: &FeedId) -> Vec<FeedId> {
        self.incoming(dest, Relation::Block)
    }

    /// Every recorded edge `(source, dest, relation)`, sorted by source then dest.
    pub fn edges(&self) -> Vec<(FeedId, FeedId, Relation)> {
        let mut v: Vec<_> = self
            .out
            .iter()
            .enumerate()
            .flat_map(|(s, es)| {
                es.iter()
                    .map(move |&(d, r)| (self.feeds[s], self.feeds[d as usize], r))
            })
            .collect();
        v.sort_unstable_by_key(|e| (e.0, e.1));
        v
    }

    /// ssb-friends hops from `origin` up to `max` follow steps (see the module docs): every
    /// feed reached, with its distance (≥ 0) or, for blocked/unfollowed feeds, a negative value.
    /// The origin is always present with 0.
    pub fn hops(&self, origin: &FeedId, max: u32) -> BTreeMap<FeedId, i32> {
        let Some(&start) = self.index.get(origin) else {
            return BTreeMap::from([(*origin, 0)]);
        };
        let dist = self.hop_values(start, i32::try_from(max).unwrap_or(i32::MAX));
        let reached = dist
            .iter()
            .enumerate()
            .filter_map(|(i, d)| Some((self.feeds[i], (*d)?)));
        reached.collect()
    }

    /// Level-by-level fixpoint of the ssb-friends rules over interned nodes.
    fn hop_values(&self, start: u32, max: i32) -> Vec<Option<i32>> {
        let mut dist: Vec<Option<i32>> = vec![None; self.feeds.len()];
        dist[start as usize] = Some(0);
        let mut frontier = vec![start];
        let mut d = 0;
        while d < max && !frontier.is_empty() {
            let mut next = Vec::new();
            for &j in &frontier {
                for &(k, rel) in &self.out[j as usize] {
                    let cand = rel.hop_from(d);
                    let old = dist[k as usize];
                    let new = old.map_or(cand, |o| hop_min(o, cand));
                    if old != Some(new) {
                        dist[k as usize] = Some(new);
                        if new == d + 1 {
                            next.push(k);
                        }
                    }
                }
            }
            frontier = next;
            d += 1;
        }
        dist
    }
}

/// The `(dest, relation)` a public contact message sets, or `None` for anything else.
pub(crate) fn contact_edge(content: &Value) -> Option<(FeedId, Relation)> {
    if content.get("type")?.as_str()? != "contact" {
        return None;
    }
    let dest: FeedId = content.get("contact")?.as_str()?.parse().ok()?;
    Some((dest, Relation::of_content(content)))
}

impl View for Contacts {
    fn name(&self) -> &'static str {
        "contacts"
    }

    fn version(&self) -> u32 {
        1
    }

    fn apply(&mut self, msg: &Indexed<'_>) {
        if msg.content_type() != Some("contact") {
            return; // read from the record header: most messages skip the JSON lookups
        }
        if let Some((dest, relation)) = msg.content.and_then(contact_edge) {
            self.set(msg.author, dest, msg.sequence, relation);
        }
    }

    fn uses_facts(&self) -> bool {
        true
    }

    fn apply_facts(&mut self, msg: &Indexed<'_>, facts: Option<&Facts>) {
        if msg.content_type() != Some("contact") {
            return;
        }
        if let Some(&(dest, relation)) = facts.and_then(|f| f.contact.as_ref()) {
            self.set(msg.author, dest, msg.sequence, relation);
        }
    }

    /// Layout: feed count, feeds (32 bytes each); edge count, then per edge source index,
    /// dest index, sequence (varints) and the relation byte.
    /// Checked whole: everything is head.
    fn encode_parts(&self, _bulk: &mut Bulk) -> Vec<u8> {
        let mut w = Writer::default();
        w.len(self.feeds.len());
        self.feeds.iter().for_each(|f| w.id(&f.0));
        w.len(self.edges.len());
        for (s, es) in self.out.iter().enumerate() {
            for &(d, rel) in es {
                let (seq, _) = self.edges[&(s as u32, d)];
                w.var(s as u64);
                w.var(u64::from(d));
                w.var(seq);
                w.u8(rel.to_byte());
            }
        }
        w.0
    }

    fn decode(&mut self, bytes: &[u8]) -> Result<(), ViewDataError> {
        let mut fresh = Contacts::new();
        let mut r = Reader::new(bytes);
        for _ in 0..r.len(32)? {
            let feed = FeedId(r.id()?);
            if fresh.index.contains_key(&feed) {
                return Err(ViewDataError("a feed is listed twice".into()));
            }
            fresh.intern(feed);
        }
        let n = fresh.feeds.len();
        for _ in 0..r.len(4)? {
            let (s, d) = (r.index(n)?, r.index(n)?);
            let state = EdgeState {
                sequence: r.var()?,
                relation: Relation::from_byte(r.u8()?)?,
            };
            if fresh.edges.contains_key(&(s, d)) {
                return Err(ViewDataError("an edge is listed twice".into()));
            }
            fresh.set_edge(s, d, state);
        }
        r.finish()?;
        *self = fresh;
        Ok(())
    }

    fn clear(&mut self) {
        *self = Contacts::new();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn feed(n: u8) -> FeedId {
        FeedId([n; 32])
    }

    fn graph(edges: &[(u8, u8, Relation)]) -> Contacts {
        let mut c = Contacts::new();
        for (seq, &(s, d, r)) in edges.iter().enumerate() {
            c.set(feed(s), feed(d), seq as u64 + 1, r);
        }
        c
    }

    fn hops(c: &Contacts, origin: u8, max: u32) -> Vec<(u8, i32)> {
        c.hops(&feed(origin), max)
            .into_iter()
            .map(|(f, d)| (f.0[0], d))
            .collect()
    }

    #[test]
    fn relation_follows_ssb_friends() {
        let rel = |v: Value| Relation::of_content(&v);
        assert_eq!(rel(json!({"following": true})), Relation::Follow);
        assert_eq!(
            rel(json!({"following": true, "blocking": true})),
            Relation::Block
        );
        assert_eq!(
            rel(json!({"following": true, "blocking": false})),
            Relation::Follow
        );
        assert_eq!(rel(json!({"following": false})), Relation::Unfollow);
        assert_eq!(rel(json!({"blocking": false})), Relation::Unfollow);
        assert_eq!(rel(json!({"following": "yes"})), Relation::Unfollow);
        assert_eq!(rel(json!({"flagged": "spam"})), Relation::Block);
    }

    #[test]
    fn latest_sequence_wins_whatever_the_order() {
        let mut c = Contacts::new();
        c.set(feed(1), feed(2), 5, Relation::Block);
        c.set(feed(1), feed(2), 3, Relation::Follow);
        assert_eq!(c.relation(&feed(1), &feed(2)), Some(Relation::Block));
        c.set(feed(1), feed(2), 6, Relation::Follow);
        assert_eq!(c.follows(&feed(1)), vec![feed(2)]);
        assert_eq!(c.followers(&feed(2)), vec![feed(1)]);
        assert!(c.blocks(&feed(1)).is_empty());
        assert!(c.blocked_by(&feed(2)).is_empty());
    }

    #[test]
    fn hops_distances_blocks_and_unfollows() {
        use Relation::*;
        // 1 → 2 → 3 → 4; 1 blocks 5 (2's follow is farther); 1 unfollowed 6 (|-2| beats 3's
        // follow at 3); 5 is not expanded, so 7 is not reached.
        let c = graph(&[
            (1, 2, Follow),
            (2, 3, Follow),
            (3, 4, Follow),
            (1, 5, Block),
            (2, 5, Follow),
            (1, 6, Unfollow),
            (3, 6, Follow),
            (5, 7, Follow),
        ]);
        assert_eq!(
            hops(&c, 1, 3),
            vec![(1, 0), (2, 1), (3, 2), (4, 3), (5, -1), (6, -2)]
        );
        // max bounds expansion: nodes at distance max are listed but not expanded.
        assert_eq!(hops(&c, 1, 1), vec![(1, 0), (2, 1), (5, -1), (6, -2)]);
        // A follow at the same absolute distance beats an unfollow.
        let c = graph(&[(1, 2, Follow), (1, 3, Unfollow), (2, 3, Follow)]);
        assert_eq!(hops(&c, 1, 3), vec![(1, 0), (2, 1), (3, 2)]);
        // A block by a farther feed does not beat a closer follow; the origin stays 0.
        let c = graph(&[(1, 2, Follow), (1, 3, Follow), (2, 3, Block), (3, 1, Block)]);
        assert_eq!(hops(&c, 1, 3), vec![(1, 0), (2, 1), (3, 1)]);
        assert_eq!(hops(&c, 9, 3), vec![(9, 0)]);
    }

    #[test]
    fn apply_reads_contact_messages_only() {
        let mut c = Contacts::new();
        let content = json!({"type": "contact", "contact": feed(2).to_string(), "following": true});
        let other = json!({"type": "post", "contact": feed(3).to_string(), "following": true});
        let bad = json!({"type": "contact", "contact": "@nope.ed25519", "following": true});
        for (i, c2) in [&content, &other, &bad].into_iter().enumerate() {
            let msg = Indexed {
                offset: i as u64,
                id: sluice_msg::MsgId([i as u8; 32]),
                author: feed(1),
                sequence: i as u64 + 1,
                timestamp: 0.0,
                received: 0.0,
                content_type: c2["type"].as_str(),
                encrypted: false,
                content: Some(c2),
            };
            c.apply(&msg);
        }
        assert_eq!(c.edges(), vec![(feed(1), feed(2), Relation::Follow)]);
    }

    #[test]
    fn encode_decode_round_trip() {
        use Relation::*;
        let c = graph(&[
            (1, 2, Follow),
            (2, 3, Block),
            (3, 1, Unfollow),
            (1, 2, Block),
        ]);
        let mut back = Contacts::new();
        back.decode(&c.encode()).unwrap();
        assert_eq!(back, c);
        assert!(back.decode(&c.encode()[..10]).is_err());
        back.clear();
        assert_eq!(back, Contacts::new());
    }
}
