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
use std::collections::hash_map::Entry;
use std::sync::Arc;

use serde_json::Value;
use sluice_msg::FeedId;

use crate::codec::FastMap;
use crate::scan::Facts;
use crate::view::{Indexed, View, ViewDataError};
use crate::viewfile::{Bulk, Payload};

use file::{Edge, Edges, Side};

mod file;

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

/// Lays `new` edges over `list` (sorted by the feed at the other end): an edge to a feed the
/// list has replaces that feed's edge when its sequence is higher, and is dropped otherwise
/// (an older or equal sequence than the one recorded is ignored, whatever the order in which
/// messages arrive); an edge to a feed the list lacks is appended. Returns whether any was
/// appended (the list is then no longer sorted).
fn overlay(list: &mut Vec<Edge>, new: impl IntoIterator<Item = Edge>) -> bool {
    let sorted = list.len();
    for (feed, state) in new {
        match list[..sorted].binary_search_by_key(&feed, |e| e.0) {
            Ok(i) if state.sequence > list[i].1.sequence => list[i].1 = state,
            Ok(_) => {}
            Err(_) => list.push((feed, state)),
        }
    }
    list.len() > sorted
}

/// `new` laid over `stored` (both sorted by the feed at the other end; see [`overlay`]),
/// sorted.
fn merge_edges(mut stored: Vec<Edge>, new: Vec<Edge>) -> Vec<Edge> {
    if overlay(&mut stored, new) {
        stored.sort_unstable_by_key(|e| e.0);
    }
    stored
}

/// A feed's edges as [`Contacts::each_feed`] finds them.
enum Found<'a> {
    /// Only in the file: its entry's body as stored.
    Stored(&'a [u8]),
    /// Applied since the file was written (merged with the file's when it has the feed too).
    Merged(Edges),
}

/// Edges applied since the view file was written. Feeds are interned to dense `u32` indexes.
#[derive(Debug, Default, Clone)]
struct Memory {
    feeds: Vec<FeedId>,
    index: FastMap<FeedId, u32>,
    /// Per source: (dest, relation), in the order edges first appeared.
    out: Vec<Vec<(u32, Relation)>>,
    /// Per dest: the sources with an edge to it.
    inn: Vec<Vec<u32>>,
    /// (source, dest) → sequence that set it and its position in `out[source]`.
    edges: FastMap<(u32, u32), (u64, u32)>,
}

impl Memory {
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

    fn set(&mut self, source: FeedId, dest: FeedId, state: EdgeState) {
        let (s, d) = (self.intern(source), self.intern(dest));
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

    fn state(&self, s: u32, d: u32) -> EdgeState {
        let (sequence, pos) = self.edges[&(s, d)];
        EdgeState {
            sequence,
            relation: self.out[s as usize][pos as usize].1,
        }
    }

    /// Interned feed `i`'s edges on one `side`, sorted by the feed at the other end.
    fn list(&self, i: u32, side: Side) -> Vec<Edge> {
        let mut list: Vec<Edge> = match side {
            Side::Out => (self.out[i as usize].iter())
                .map(|&(d, _)| (self.feeds[d as usize], self.state(i, d)))
                .collect(),
            Side::In => (self.inn[i as usize].iter())
                .map(|&s| (self.feeds[s as usize], self.state(s, i)))
                .collect(),
        };
        list.sort_unstable_by_key(|e| e.0);
        list
    }

    /// Interned feed `i`'s edges, each list sorted by the feed at the other end.
    fn edges_of(&self, i: u32) -> Edges {
        Edges {
            out: self.list(i, Side::Out),
            inn: self.list(i, Side::In),
        }
    }

    /// The interned feeds, sorted by feed id.
    fn sorted(&self) -> Vec<u32> {
        let mut order: Vec<u32> = (0..self.feeds.len() as u32).collect();
        order.sort_unstable_by_key(|&i| self.feeds[i as usize]);
        order
    }
}

/// The follow graph.
///
/// The edges of the loaded file are read from it in place (`file`, one entry per feed with
/// its outgoing and incoming edges); edges applied since sit in memory (`new`) until the next
/// write. A query merges the two lists of the feeds it visits.
#[derive(Debug, Default, Clone)]
pub struct Contacts {
    file: Arc<file::Stored>,
    new: Memory,
}

/// Equal when they hold the same edges (whether read from a file or held in memory): when
/// they encode alike.
impl PartialEq for Contacts {
    fn eq(&self, other: &Self) -> bool {
        self.encode() == other.encode()
    }
}

impl Contacts {
    /// An empty graph.
    pub fn new() -> Self {
        Self::default()
    }

    /// Records that `source`'s message number `sequence` set the edge to `dest`; an older
    /// sequence than the one already recorded for that pair is ignored.
    pub fn set(&mut self, source: FeedId, dest: FeedId, sequence: u64, relation: Relation) {
        self.new.set(source, dest, EdgeState { sequence, relation });
    }

    /// `feed`'s edges on one `side`: those of the file merged with those applied since.
    fn list(&self, feed: &FeedId, side: Side) -> Result<Vec<Edge>, ViewDataError> {
        let mut stored = Vec::new();
        self.file.list_into(feed, side, &mut stored)?;
        Ok(match self.new.index.get(feed) {
            None => stored,
            Some(&i) => merge_edges(stored, self.new.list(i, side)),
        })
    }

    /// Replaces `out` with `feed`'s outgoing edges, in no particular order, for hops: the
    /// file's list (read into `out`, so a traversal reuses one vector) with the edges applied
    /// since laid over it ([`overlay`]).
    fn out_edges_into(&self, feed: &FeedId, out: &mut Vec<Edge>) -> Result<(), ViewDataError> {
        self.file.list_into(feed, Side::Out, out)?;
        if let Some(&s) = self.new.index.get(feed) {
            let new = &self.new;
            let edges = new.out[s as usize].iter();
            overlay(
                out,
                edges.map(|&(d, _)| (new.feeds[d as usize], new.state(s, d))),
            );
        }
        Ok(())
    }

    /// The relation the latest contact message from `source` about `dest` set, if any.
    pub fn relation(
        &self,
        source: &FeedId,
        dest: &FeedId,
    ) -> Result<Option<Relation>, ViewDataError> {
        let out = self.list(source, Side::Out)?;
        Ok(out
            .binary_search_by_key(dest, |e| e.0)
            .ok()
            .map(|i| out[i].1.relation))
    }

    /// The feeds at the other end of `list`'s edges of relation `want` (sorted, as the list).
    fn ends(list: Vec<Edge>, want: Relation) -> Vec<FeedId> {
        (list.into_iter())
            .filter(|e| e.1.relation == want)
            .map(|e| e.0)
            .collect()
    }

    /// The feeds `source` follows (and does not block), sorted by feed id.
    pub fn follows(&self, source: &FeedId) -> Result<Vec<FeedId>, ViewDataError> {
        Ok(Self::ends(self.list(source, Side::Out)?, Relation::Follow))
    }

    /// The feeds that follow `dest`, sorted by feed id.
    pub fn followers(&self, dest: &FeedId) -> Result<Vec<FeedId>, ViewDataError> {
        Ok(Self::ends(self.list(dest, Side::In)?, Relation::Follow))
    }

    /// The feeds `source` blocks, sorted by feed id.
    pub fn blocks(&self, source: &FeedId) -> Result<Vec<FeedId>, ViewDataError> {
        Ok(Self::ends(self.list(source, Side::Out)?, Relation::Block))
    }

    /// The feeds that block `dest`, sorted by feed id.
    pub fn blocked_by(&self, dest: &FeedId) -> Result<Vec<FeedId>, ViewDataError> {
        Ok(Self::ends(self.list(dest, Side::In)?, Relation::Block))
    }

    /// Visits every feed with an edge, in feed order: the file's entries merged with the
    /// feeds applied since (blocks as they are: see [`file::Stored::entries`]).
    fn each_feed(
        &self,
        mut visit: impl FnMut(&FeedId, Found<'_>) -> Result<(), ViewDataError>,
    ) -> Result<(), ViewDataError> {
        use std::cmp::Ordering;
        let order = self.new.sorted();
        let (mut memory, mut stored) = (order.iter().peekable(), self.file.entries().peekable());
        loop {
            let next_memory = memory.peek().map(|&&i| self.new.feeds[i as usize]);
            let order = match (stored.peek(), next_memory) {
                (None, None) => return Ok(()),
                (Some(_), None) => Ordering::Less,
                (None, Some(_)) => Ordering::Greater,
                (Some((s, _)), Some(m)) => s.cmp(&m),
            };
            match order {
                Ordering::Less => {
                    let (feed, body) = stored.next().expect("peeked");
                    visit(&feed, Found::Stored(body))?;
                }
                Ordering::Greater => {
                    let i = *memory.next().expect("peeked");
                    let feed = self.new.feeds[i as usize];
                    visit(&feed, Found::Merged(self.new.edges_of(i)))?;
                }
                Ordering::Equal => {
                    let (feed, body) = stored.next().expect("peeked");
                    let i = *memory.next().expect("peeked");
                    let (old, new) = (file::Stored::decode(body)?, self.new.edges_of(i));
                    let merged = Edges {
                        out: merge_edges(old.out, new.out),
                        inn: merge_edges(old.inn, new.inn),
                    };
                    visit(&feed, Found::Merged(merged))?;
                }
            }
        }
    }

    /// Every recorded edge `(source, dest, relation)`, sorted by source then dest.
    pub fn edges(&self) -> Result<Vec<(FeedId, FeedId, Relation)>, ViewDataError> {
        self.file.verify()?;
        let mut all = Vec::new();
        self.each_feed(|feed, found| {
            let edges = match found {
                Found::Stored(body) => file::Stored::decode(body)?,
                Found::Merged(edges) => edges,
            };
            all.extend(edges.out.iter().map(|(d, st)| (*feed, *d, st.relation)));
            Ok(())
        })?;
        Ok(all)
    }

    /// ssb-friends hops from `origin` up to `max` follow steps (see the module docs): every
    /// feed reached, with its distance (≥ 0) or, for blocked/unfollowed feeds, a negative value.
    /// The origin is always present with 0. A level-by-level fixpoint of the ssb-friends rules.
    pub fn hops(&self, origin: &FeedId, max: u32) -> Result<BTreeMap<FeedId, i32>, ViewDataError> {
        let max = i32::try_from(max).unwrap_or(i32::MAX);
        let mut dist: FastMap<FeedId, i32> = FastMap::default();
        dist.insert(*origin, 0);
        let mut frontier = vec![*origin];
        let mut edges = Vec::new();
        let mut d = 0;
        while d < max && !frontier.is_empty() {
            let mut next = Vec::new();
            for j in &frontier {
                self.out_edges_into(j, &mut edges)?;
                for &(k, state) in &edges {
                    let cand = state.relation.hop_from(d);
                    let new = match dist.entry(k) {
                        Entry::Occupied(mut known) => {
                            let new = hop_min(*known.get(), cand);
                            if new == std::mem::replace(known.get_mut(), new) {
                                continue;
                            }
                            new
                        }
                        Entry::Vacant(slot) => *slot.insert(cand),
                    };
                    if new == d + 1 {
                        next.push(k);
                    }
                }
            }
            frontier = next;
            d += 1;
        }
        Ok(dist.into_iter().collect())
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
        2
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

    /// Layout in `views/FORMAT.md`: a block directory, then per feed with an edge (sorted)
    /// its 32 bytes and a body: its outgoing edges sorted by dest, then its incoming ones
    /// sorted by source, each edge the other end's 32 bytes, the sequence that set it (a
    /// varint) and the relation byte. A feed with no edge applied since the file was written
    /// keeps its body byte for byte.
    fn encode_parts(&self, bulk: &mut Bulk) -> Vec<u8> {
        let mut out = file::FileWriter::new(bulk);
        let mut body = Vec::new();
        // A damaged block (not checked first) ends early here; the database checks every
        // block before it writes a file.
        let _ = self.each_feed(|feed, found| {
            match found {
                Found::Stored(stored) => out.push(feed, stored),
                Found::Merged(edges) => {
                    body.clear();
                    file::encode_body(&edges, &mut body);
                    out.push(feed, &body);
                }
            }
            Ok(())
        });
        out.finish()
    }

    fn decode(&mut self, bytes: &[u8]) -> Result<(), ViewDataError> {
        self.load(Payload::owned(bytes.to_vec()))
    }

    fn load(&mut self, payload: Payload) -> Result<(), ViewDataError> {
        *self = Contacts {
            file: Arc::new(file::Stored::load(payload)?),
            new: Memory::default(),
        };
        Ok(())
    }

    fn verify(&self) -> Result<(), ViewDataError> {
        self.file.verify()
    }

    fn reads_in_place(&self) -> bool {
        true
    }

    fn trust(&self) {
        self.file.trust();
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
            .expect("hops")
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
        assert_eq!(
            c.relation(&feed(1), &feed(2)).unwrap(),
            Some(Relation::Block)
        );
        c.set(feed(1), feed(2), 6, Relation::Follow);
        assert_eq!(c.follows(&feed(1)).unwrap(), vec![feed(2)]);
        assert_eq!(c.followers(&feed(2)).unwrap(), vec![feed(1)]);
        assert!(c.blocks(&feed(1)).unwrap().is_empty());
        assert!(c.blocked_by(&feed(2)).unwrap().is_empty());
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
        assert_eq!(
            c.edges().unwrap(),
            vec![(feed(1), feed(2), Relation::Follow)]
        );
    }

    /// `c` written to a file and read back in place: what it held is now the file's.
    fn written(c: &Contacts) -> Contacts {
        let mut back = Contacts::new();
        back.decode(&c.encode()).unwrap();
        back
    }

    #[test]
    fn the_latest_sequence_wins_across_the_file_and_memory() {
        use Relation::*;
        let mut c = graph(&[]);
        c.set(feed(1), feed(2), 5, Block);
        c.set(feed(3), feed(2), 4, Follow);
        let mut c = written(&c);
        c.set(feed(1), feed(2), 3, Follow); // older than the file's: ignored
        c.set(feed(3), feed(2), 4, Block); // the same sequence: the first one recorded stays
        assert_eq!(c.relation(&feed(1), &feed(2)).unwrap(), Some(Block));
        assert_eq!(c.followers(&feed(2)).unwrap(), vec![feed(3)]);
        assert_eq!(c.blocked_by(&feed(2)).unwrap(), vec![feed(1)]);
        c.set(feed(1), feed(2), 6, Follow);
        assert_eq!(c.followers(&feed(2)).unwrap(), vec![feed(1), feed(3)]);
        assert!(c.blocked_by(&feed(2)).unwrap().is_empty());
        assert_eq!(
            written(&c).followers(&feed(2)).unwrap(),
            vec![feed(1), feed(3)]
        );
    }

    /// Random edges (sequences out of order, repeats, every relation), written and read back
    /// at random points: every answer and the encoding equal those of the graph held whole in
    /// memory.
    #[test]
    fn random_edges_across_writes_match_the_whole_in_memory() {
        let mut next = crate::view::testing::xorshift(0x2545_F491_4F6C_DD1D);
        let relations = [Relation::Follow, Relation::Block, Relation::Unfollow];
        for _round in 0..300 {
            let (mut whole, mut split) = (Contacts::new(), Contacts::new());
            for _ in 0..5 + next(80) {
                if next(6) == 0 {
                    split = written(&split);
                }
                let (s, d) = (feed(next(12) as u8), feed(next(12) as u8));
                let (seq, rel) = (1 + next(20), relations[next(3) as usize]);
                whole.set(s, d, seq, rel);
                split.set(s, d, seq, rel);
            }
            assert_eq!(split.edges().unwrap(), whole.edges().unwrap());
            assert_eq!(split.encode(), whole.encode());
            for n in 0..12 {
                let f = feed(n);
                assert_eq!(split.follows(&f).unwrap(), whole.follows(&f).unwrap());
                assert_eq!(split.followers(&f).unwrap(), whole.followers(&f).unwrap());
                assert_eq!(split.blocks(&f).unwrap(), whole.blocks(&f).unwrap());
                assert_eq!(split.blocked_by(&f).unwrap(), whole.blocked_by(&f).unwrap());
                for max in 0..4 {
                    assert_eq!(split.hops(&f, max).unwrap(), whole.hops(&f, max).unwrap());
                }
            }
        }
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
