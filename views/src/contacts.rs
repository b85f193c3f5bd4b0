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
fn overlay<K: Ord + Copy>(list: &mut Vec<Edge<K>>, new: impl IntoIterator<Item = Edge<K>>) -> bool {
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
fn merge_edges<K: Ord + Copy>(mut stored: Vec<Edge<K>>, new: Vec<Edge<K>>) -> Vec<Edge<K>> {
    if overlay(&mut stored, new) {
        stored.sort_unstable_by_key(|e| e.0);
    }
    stored
}

/// Where [`Contacts::walk`] finds a feed's edges.
enum Source<'a> {
    /// Only in the file: its entry's body as stored.
    Stored(&'a [u8]),
    /// Only applied since the file was written: its index in [`Memory`].
    Memory(u32),
    /// In both: the file's body and the memory index.
    Both(&'a [u8], u32),
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

    /// Interned feed `i`'s outgoing edges, the feed at the other end named by `key` of its
    /// index, in no particular order.
    fn out_by<K>(&self, i: u32, key: impl Fn(u32) -> K) -> impl Iterator<Item = Edge<K>> {
        (self.out[i as usize].iter()).map(move |&(d, _)| (key(d), self.state(i, d)))
    }

    /// Interned feed `i`'s edges on one `side`, the feed at the other end named by `key` of
    /// its index (an order-keeping map), sorted.
    fn list_by<K: Ord + Copy>(&self, i: u32, side: Side, key: impl Fn(u32) -> K) -> Vec<Edge<K>> {
        let mut list: Vec<Edge<K>> = match side {
            Side::Out => self.out_by(i, key).collect(),
            Side::In => (self.inn[i as usize].iter())
                .map(|&s| (key(s), self.state(s, i)))
                .collect(),
        };
        list.sort_unstable_by_key(|e| e.0);
        list
    }

    /// Interned feed `i`'s edges on one `side`, sorted by the feed at the other end.
    fn list(&self, i: u32, side: Side) -> Vec<Edge> {
        self.list_by(i, side, |d| self.feeds[d as usize])
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
    fn walk(
        &self,
        mut visit: impl FnMut(&FeedId, Source<'_>) -> Result<(), ViewDataError>,
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
                    visit(&feed, Source::Stored(body))?;
                }
                Ordering::Greater => {
                    let i = *memory.next().expect("peeked");
                    visit(&self.new.feeds[i as usize], Source::Memory(i))?;
                }
                Ordering::Equal => {
                    let (feed, body) = stored.next().expect("peeked");
                    let i = *memory.next().expect("peeked");
                    visit(&feed, Source::Both(body, i))?;
                }
            }
        }
    }

    /// Every recorded edge `(source, dest, relation)`, sorted by source then dest.
    pub fn edges(&self) -> Result<Vec<(FeedId, FeedId, Relation)>, ViewDataError> {
        self.file.verify()?;
        let mut all = Vec::new();
        self.walk(|feed, _| {
            let out = self.list(feed, Side::Out)?;
            all.extend(out.iter().map(|(d, st)| (*feed, *d, st.relation)));
            Ok(())
        })?;
        Ok(all)
    }

    /// ssb-friends hops from `origin` up to `max` follow steps (see the module docs): every
    /// feed reached, with its distance (≥ 0) or, for blocked/unfollowed feeds, a negative value.
    /// The origin is always present with 0. A level-by-level fixpoint of the ssb-friends rules,
    /// over the feeds as numbers ([`Nodes`]).
    pub fn hops(&self, origin: &FeedId, max: u32) -> Result<BTreeMap<FeedId, i32>, ViewDataError> {
        let nodes = Nodes::new(self)?;
        let Some(start) = nodes.of(origin)? else {
            return Ok(BTreeMap::from([(*origin, 0)])); // no edge at all
        };
        let max = i32::try_from(max).unwrap_or(i32::MAX);
        // Per node its value so far, stored as `value + 1` when non-negative so that 0 means
        // "not reached" (a zeroed vector: pages no traversal touches are never written).
        let mut dist = vec![0i32; nodes.count()];
        let stored = |v: i32| if v >= 0 { v + 1 } else { v };
        let value = |s: i32| if s > 0 { s - 1 } else { s };
        dist[start as usize] = stored(0);
        let mut reached = vec![start];
        let mut frontier = vec![start];
        let mut scratch = Vec::new();
        let mut d = 0;
        while d < max && !frontier.is_empty() {
            let mut next = Vec::new();
            for &j in &frontier {
                nodes.each_out(j, &mut scratch, |k, relation| {
                    let cand = relation.hop_from(d);
                    let slot = &mut dist[k as usize];
                    let new = if *slot == 0 {
                        reached.push(k);
                        cand
                    } else {
                        let (known, new) = (value(*slot), hop_min(value(*slot), cand));
                        if new == known {
                            return;
                        }
                        new
                    };
                    *slot = stored(new);
                    if new == d + 1 {
                        next.push(k);
                    }
                })?;
            }
            frontier = next;
            d += 1;
        }
        // In number order the file's feeds come sorted, so the map is built from a sorted run.
        reached.sort_unstable();
        let mut found = Vec::with_capacity(reached.len());
        for node in reached {
            found.push((nodes.feed(node)?, value(dist[node as usize])));
        }
        Ok(found.into_iter().collect()) // the origin is among them, with 0
    }
}

/// The feeds of a [`Contacts`] as numbers, for a traversal: a feed in the file is its rank
/// there; a feed only applied since is the file's feed count plus its index in [`Memory`].
struct Nodes<'a> {
    contacts: &'a Contacts,
    /// The file's feed count: the first number of a feed only in memory.
    stored: u32,
    /// Per feed in memory, its number.
    of_memory: Vec<u32>,
    /// The feeds in memory that the file has too: their number (rank) → their memory index.
    memory_of_stored: FastMap<u32, u32>,
}

impl<'a> Nodes<'a> {
    fn new(contacts: &'a Contacts) -> Result<Self, ViewDataError> {
        let (file, new) = (&contacts.file, &contacts.new);
        let stored = file.feeds();
        let mut nodes = Nodes {
            contacts,
            stored,
            of_memory: Vec::with_capacity(new.feeds.len()),
            memory_of_stored: FastMap::default(),
        };
        for (i, feed) in (0u32..).zip(&new.feeds) {
            let node = match file.rank_of(feed)? {
                Some(rank) => {
                    nodes.memory_of_stored.insert(rank, i);
                    rank
                }
                None => stored + i,
            };
            nodes.of_memory.push(node);
        }
        Ok(nodes)
    }

    /// How many numbers there are (the nodes are `0..count`).
    fn count(&self) -> usize {
        self.stored as usize + self.of_memory.len()
    }

    /// The number of `feed`, if it has an edge.
    fn of(&self, feed: &FeedId) -> Result<Option<u32>, ViewDataError> {
        Ok(match self.contacts.file.rank_of(feed)? {
            Some(rank) => Some(rank),
            None => (self.contacts.new.index.get(feed)).map(|&i| self.of_memory[i as usize]),
        })
    }

    /// The feed numbered `node`.
    fn feed(&self, node: u32) -> Result<FeedId, ViewDataError> {
        match node.checked_sub(self.stored) {
            None => self.contacts.file.feed_at(node),
            Some(i) => Ok(self.contacts.new.feeds[i as usize]),
        }
    }

    /// Calls `visit` with each outgoing edge of `node` (the number at the other end and the
    /// relation), in no particular order: the file's list, with the edges applied since laid
    /// over it ([`overlay`], in `scratch`) when there are any.
    fn each_out(
        &self,
        node: u32,
        scratch: &mut Vec<Edge<u32>>,
        mut visit: impl FnMut(u32, Relation),
    ) -> Result<(), ViewDataError> {
        let (file, new) = (&self.contacts.file, &self.contacts.new);
        if let Some(i) = node.checked_sub(self.stored) {
            // Only in memory: its edges as they are (no sequences to compare).
            let out = new.out[i as usize].iter();
            out.for_each(|&(d, relation)| visit(self.of_memory[d as usize], relation));
            return Ok(());
        }
        let memory = match self.memory_of_stored.is_empty() {
            true => None,
            false => self.memory_of_stored.get(&node),
        };
        let Some(&i) = memory else {
            return file.each_edge(node, Side::Out, |k, state| visit(k, state.relation));
        };
        file.ranks_into(node, Side::Out, scratch)?;
        overlay(scratch, new.out_by(i, |d| self.of_memory[d as usize]));
        scratch.iter().for_each(|&(k, st)| visit(k, st.relation));
        Ok(())
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
        3
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

    /// Layout in `views/FORMAT.md`: the feed table (every feed with an edge, sorted; a feed's
    /// rank is its position), then per rank a body: its outgoing edges sorted by dest, then
    /// its incoming ones sorted by source, each edge the other end's rank (delta-coded), the
    /// sequence that set it (a varint) and the relation byte.
    fn encode_parts(&self, bulk: &mut Bulk) -> Vec<u8> {
        // The new ranks: the file's feeds and those applied since, merged in feed order.
        let mut table = file::TableWriter::new(bulk);
        let (mut stored_rank, mut memory_rank) = (Vec::new(), vec![0; self.new.feeds.len()]);
        let mut rank = 0u32;
        // A damaged block (not checked first) ends early here; the database checks every
        // block before it writes a file.
        let _ = self.walk(|feed, source| {
            table.push(feed);
            match source {
                Source::Stored(..) => stored_rank.push(rank),
                Source::Memory(i) => memory_rank[i as usize] = rank,
                Source::Both(_, i) => {
                    stored_rank.push(rank);
                    memory_rank[i as usize] = rank;
                }
            }
            rank += 1;
            Ok(())
        });
        let mut out = table.finish();
        // Without a new feed every rank stays: a feed with no edge applied since keeps its
        // body byte for byte.
        let same_ranks = rank == self.file.feeds();
        let renumber = |edges: Edges<u32>| -> Result<Edges<u32>, ViewDataError> {
            let to_new = |list: Vec<Edge<u32>>| -> Result<Vec<Edge<u32>>, ViewDataError> {
                (list.into_iter())
                    .map(|(r, st)| match stored_rank.get(r as usize) {
                        Some(&new) => Ok((new, st)),
                        None => Err(ViewDataError(format!("contacts view: no feed {r}"))),
                    })
                    .collect()
            };
            Ok(Edges {
                out: to_new(edges.out)?,
                inn: to_new(edges.inn)?,
            })
        };
        let memory = |i: u32, side| self.new.list_by(i, side, |d| memory_rank[d as usize]);
        let mut body = Vec::new();
        let _ = self.walk(|_, source| {
            let edges = match source {
                Source::Stored(stored) if same_ranks => {
                    out.push(stored);
                    return Ok(());
                }
                Source::Stored(stored) => renumber(self.file.decode(stored)?)?,
                Source::Memory(i) => Edges {
                    out: memory(i, Side::Out),
                    inn: memory(i, Side::In),
                },
                Source::Both(stored, i) => {
                    let old = renumber(self.file.decode(stored)?)?;
                    Edges {
                        out: merge_edges(old.out, memory(i, Side::Out)),
                        inn: merge_edges(old.inn, memory(i, Side::In)),
                    }
                }
            };
            body.clear();
            file::encode_body(&edges, &mut body);
            out.push(&body);
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

    /// A payload written by hand: `feeds` in the table, then one body per entry given.
    fn crafted(feeds: &[u8], bodies: &[file::Edges<u32>]) -> Vec<u8> {
        let mut bulk = Bulk::memory();
        let mut table = file::TableWriter::new(&mut bulk);
        feeds.iter().for_each(|&n| table.push(&feed(n)));
        let mut out = table.finish();
        for edges in bodies {
            let mut body = Vec::new();
            file::encode_body(edges, &mut body);
            out.push(&body);
        }
        let mut payload = out.finish();
        payload.extend(bulk.into_vec());
        payload
    }

    /// A file whose entries do not fit its feed table is an error, never a wrong answer: an
    /// edge naming a feed past the table, or entries missing.
    #[test]
    fn entries_that_do_not_fit_the_feed_table_are_errors() {
        let state = EdgeState {
            sequence: 1,
            relation: Relation::Follow,
        };
        let edges = |out: Vec<file::Edge<u32>>, inn| file::Edges { out, inn };
        let good = crafted(
            &[1, 2],
            &[
                edges(vec![(1, state)], vec![]),
                edges(vec![], vec![(0, state)]),
            ],
        );
        let mut c = Contacts::new();
        c.decode(&good).expect("a well-formed file");
        assert_eq!(c.follows(&feed(1)).unwrap(), vec![feed(2)]);
        assert_eq!(c.hops(&feed(1), 2).unwrap().len(), 2);

        let past = crafted(
            &[1, 2],
            &[
                edges(vec![(5, state)], vec![]),
                edges(vec![], vec![(0, state)]),
            ],
        );
        c.decode(&past).expect("the directories are well-formed");
        let err = c.follows(&feed(1)).expect_err("an edge past the table");
        assert!(err.to_string().contains("fails its check"), "{err}");
        assert!(c.hops(&feed(1), 2).is_err());
        assert!(c.verify().is_err());

        let missing = crafted(&[1, 2], &[edges(vec![(1, state)], vec![])]);
        let err = c.decode(&missing).expect_err("an entry missing");
        assert!(
            err.to_string().contains("1 entries for a table of 2"),
            "{err}"
        );
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
