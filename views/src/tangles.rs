//! The tangles view: threads and SIP-009 tangles as DAGs, answered in topological order.
//!
//! # Which messages claim a tangle
//! - **Threads** (name `None`): a public message whose `content.root` is a `%msg` id claims the
//!   thread of that root, whatever its type. Its ancestors are `content.branch` (a `%msg` string
//!   or an array of them); a missing, `null` or empty branch hangs the reply off the root. In
//!   the generated fixtures every branch is the root itself or an earlier reply of the same
//!   thread, so a branch outside the thread is treated as unknown ancestry (see below).
//! - **Named tangles** (name `Some(n)`): `content.tangles.<n> = {root: "%…", previous: ["%…", …]}`.
//!   `{root: null, previous: null}` marks a tangle root and claims nothing; a non-root entry needs
//!   a non-empty `previous` array.
//!
//! A claim whose ancestry is malformed (a branch or previous that is not a strict `%msg` id, an
//! empty `previous`) is invalid: it is not recorded, so it never joins the tangle, and neither do
//! the messages that point at it.
//!
//! # Membership
//! A tangle is its root plus the claimants whose every ancestor is already a member. The root is
//! any message of the log with the root id (its content is not inspected): the view does not keep
//! an index of all message ids, so [`Tangles::tangle`] takes the root's log offset, which the
//! database reads from its keys view. A claimant whose ancestor is unknown stays out together with
//! everything downstream of it and joins as soon as the ancestor arrives — including a whole
//! thread whose replies were stored before the root.
//!
//! # Order
//! Members come in topological order (Kahn): the root first, then repeatedly the ready member
//! with the smallest (claimed timestamp, message id) — a deterministic order that follows the
//! authors' clocks where they agree with the graph. Tips are the members no other member points
//! at, in the same order.

mod stored;
pub(crate) mod wire;

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::sync::Arc;

use serde_json::Value;
use sluice_msg::MsgId;

use crate::codec::FastMap;
use crate::scan::Facts;
use crate::view::{Indexed, View, ViewDataError};
use crate::viewfile::{Bulk, Payload};
use wire::{Reader, Writer};

/// An ancestor of a claimant, resolved as far as the view knows.
#[derive(Debug, Clone, PartialEq)]
enum Prev {
    /// The tangle's root.
    Root,
    /// Another claimant of the same tangle (its index in [`Tangle::nodes`]).
    Node(u32),
    /// A message not (yet) seen as a claimant of this tangle. Boxed: it is rare (an
    /// ancestor that arrives later, or never), and inline it would make every ancestor
    /// 36 bytes instead of 16.
    Unknown(Box<MsgId>),
}

/// One message that claims to belong to a tangle.
#[derive(Debug, Clone, PartialEq)]
struct Node {
    id: MsgId,
    offset: u64,
    timestamp: f64,
    prevs: Prevs,
}

/// A claimant's ancestors: a single one (nearly every reply) held inline, more in a list.
/// A list always has two or more, so equal ancestors are always held alike.
#[derive(Debug, Clone, PartialEq)]
enum Prevs {
    One(Prev),
    Many(Vec<Prev>),
}

impl Prevs {
    fn as_slice(&self) -> &[Prev] {
        match self {
            Prevs::One(p) => std::slice::from_ref(p),
            Prevs::Many(ps) => ps,
        }
    }

    fn as_mut_slice(&mut self) -> &mut [Prev] {
        match self {
            Prevs::One(p) => std::slice::from_mut(p),
            Prevs::Many(ps) => ps,
        }
    }
}

/// Every claimant of one (root, name) tangle, in log order.
///
/// Most tangles are threads of a few replies whose ancestors are all known, so the maps
/// only big or incomplete tangles need are boxed: a tangle is 32 bytes, not 88 (a rebuild
/// of the medium fixture holds thousands), and its first claimant gets a vector of one.
#[derive(Debug, Clone, Default, PartialEq)]
struct Tangle {
    nodes: Vec<Node>,
    maps: Option<Box<TangleMaps>>,
}

#[derive(Debug, Clone, Default, PartialEq)]
struct TangleMaps {
    /// Claimant id → index, for the claimants in `nodes`; kept only once there are more than
    /// [`SMALL_TANGLE`] (most threads have a few replies: looking through them beats building
    /// a map each).
    by_id: FastMap<MsgId, u32>,
    /// Unknown ancestor id → claimants (in `nodes`) waiting for it.
    waiting: FastMap<MsgId, Vec<u32>>,
    /// The claimants still in the loaded file, when this tangle got claims after the file
    /// was written.
    stored: Option<StoredPart>,
}

/// The first claimants of a tangle that are in the loaded file, left there when the tangle
/// gets new claims: only an index to find them by id is held, 8 bytes a claimant instead of
/// a 72-byte [`Node`] and an entry of the id map. The big threads of a store get replies all
/// the time: copying each whole into memory until the next write set the peak of a
/// 1M-message `--verify chain` import at 72 MiB of anonymous memory (52 MiB without the
/// copies; the rebuild of that store 90 → 70 MiB). Claimants added since are in
/// [`Tangle::nodes`] with indexes from `count` on. An ancestor a stored claimant was waiting
/// for is resolved when the whole tangle is read ([`Tangle::merged`]).
#[derive(Debug, Clone, Default, PartialEq)]
struct StoredPart {
    /// Claimants in the file: indexes `0..count`.
    count: u32,
    /// Where each stored claimant's encoding (its id first) starts in the tangle's body.
    starts: Vec<u32>,
    /// The stored claimants' indexes, sorted by id.
    by_id: Vec<u32>,
    /// The highest log offset of a stored claimant.
    last_offset: u64,
}

impl StoredPart {
    /// Indexes the claimants of a tangle body as written (see [`encode_tangle`]).
    fn of(body: &[u8]) -> Result<Self, ViewDataError> {
        let mut r = Reader::new(body);
        let n = r.len(42)?;
        let mut starts = Vec::with_capacity(n);
        let mut last_offset = 0;
        for _ in 0..n {
            starts.push(u32::try_from(body.len() - r.remaining()).unwrap_or(u32::MAX));
            r.id()?;
            last_offset = last_offset.max(r.var()?);
            r.f64()?;
            for _ in 0..r.len(1)? {
                if r.var()? == 1 {
                    r.id()?;
                }
            }
        }
        r.finish()?;
        let count = u32::try_from(n).map_err(|_| ViewDataError("too many claimants".into()))?;
        let mut by_id: Vec<u32> = (0..count).collect();
        by_id.sort_unstable_by_key(|&i| id_at(body, &starts, i));
        Ok(Self {
            count,
            starts,
            by_id,
            last_offset,
        })
    }

    /// The index of stored claimant `id` in `body` (the body this part was made from).
    fn find(&self, body: &[u8], id: &MsgId) -> Option<u32> {
        let at = self
            .by_id
            .binary_search_by(|&i| id_at(body, &self.starts, i).cmp(&Some(&id.0)))
            .ok()?;
        Some(self.by_id[at])
    }
}

/// The id of stored claimant `i`, read from the tangle's body.
fn id_at<'b>(body: &'b [u8], starts: &[u32], i: u32) -> Option<&'b [u8; 32]> {
    let start = *starts.get(i as usize)? as usize;
    body.get(start..start + 32)?.try_into().ok()
}

/// Claimants a tangle holds before it keeps a map from their ids.
const SMALL_TANGLE: usize = 8;

/// A tangle's answer: members (log offsets) in topological order and its tips.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TangleAnswer {
    /// Log offsets of the members, root first, in topological order (see the module docs).
    pub members: Vec<u64>,
    /// Log offsets of the members no other member points at, in the same order.
    pub tips: Vec<u64>,
}

/// One claim read from a message's content: which tangle and the ancestor ids.
#[derive(Debug, Clone, PartialEq)]
pub struct Claim {
    /// The tangle's root message.
    pub root: MsgId,
    /// `None` for a thread, else the SIP-009 tangle name.
    pub name: Option<String>,
    /// Ancestors, deduplicated, in the order given (empty for a thread reply = the root).
    pub previous: Vec<MsgId>,
}

/// A claim borrowed from wherever it is held (a [`Claim`], or content facts).
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct ClaimRef<'a> {
    pub(crate) root: &'a MsgId,
    pub(crate) name: Option<&'a str>,
    pub(crate) previous: &'a [MsgId],
}

impl Claim {
    pub(crate) fn as_ref(&self) -> ClaimRef<'_> {
        ClaimRef {
            root: &self.root,
            name: self.name.as_deref(),
            previous: &self.previous,
        }
    }
}

impl ClaimRef<'_> {
    pub(crate) fn to_claim(self) -> Claim {
        Claim {
            root: *self.root,
            name: self.name.map(str::to_owned),
            previous: self.previous.to_vec(),
        }
    }
}

/// Key of a tangle: its root and its interned name (0 = thread, n = `names[n - 1]`).
type TangleKey = (MsgId, u32);

/// The tangles view.
///
/// The tangles of the loaded file are read from it in place, one tangle at a time. A tangle
/// that gets a claim after that has an entry in `tangles` with the claimants added since and
/// an index of those in the file ([`StoredPart`]); it is read whole, both merged, until the
/// next write.
#[derive(Debug, Clone, Default)]
pub struct Tangles {
    /// The loaded file's tangles (its names are the first entries of `names`).
    file: Arc<stored::Stored>,
    /// Set when a tangle could not be read from the file to add a claim to it: the view
    /// then answers nothing but this error until it is rebuilt.
    damaged: Option<String>,
    names: Vec<String>,
    name_index: FastMap<String, u32>,
    tangles: FastMap<TangleKey, Tangle>,
}

/// Equal when they encode alike (whether read from a file or held in memory).
impl PartialEq for Tangles {
    fn eq(&self, other: &Self) -> bool {
        self.encode() == other.encode()
    }
}

impl Tangle {
    /// Adds a claimant and resolves its ancestors and the claimants waiting for it. `body` is
    /// the tangle's body in the loaded file when it has a [`StoredPart`] (else empty).
    fn add(
        &mut self,
        root: &MsgId,
        (id, offset, timestamp): (MsgId, u64, f64),
        previous: &[MsgId],
        body: &[u8],
    ) {
        if self.is_claimant(&id, offset, body) {
            return;
        }
        let base = self.base();
        let me = base + self.nodes.len() as u32;
        let prevs = match previous {
            [] => Prevs::One(Prev::Root),
            [p] => Prevs::One(self.resolve(root, &id, *p, me, body)),
            many => Prevs::Many(
                many.iter()
                    .map(|p| self.resolve(root, &id, *p, me, body))
                    .collect(),
            ),
        };
        if self.nodes.len() == self.nodes.capacity() && self.nodes.len() < 4 {
            // 1, 2, 4 instead of 4 at once: most tangles stay this small.
            self.nodes.reserve_exact(self.nodes.len().max(1));
        }
        self.nodes.push(Node {
            id,
            offset,
            timestamp,
            prevs,
        });
        self.index_last();
        let Some(maps) = self.maps.as_mut().filter(|m| !m.waiting.is_empty()) else {
            return; // the usual case: nothing is waiting for an ancestor
        };
        for w in maps.waiting.remove(&id).unwrap_or_default() {
            for p in self.nodes[(w - base) as usize].prevs.as_mut_slice() {
                if matches!(p, Prev::Unknown(u) if **u == id) {
                    *p = Prev::Node(me);
                }
            }
        }
    }

    /// The claimants left in the loaded file, if any.
    fn stored(&self) -> Option<&StoredPart> {
        self.maps.as_ref()?.stored.as_ref()
    }

    /// The index of the first claimant in `nodes`: the number of claimants in the file.
    fn base(&self) -> u32 {
        self.stored().map_or(0, |s| s.count)
    }

    /// The index of claimant `id`, if it is one (`body` as in [`Tangle::add`]).
    fn find(&self, id: &MsgId, body: &[u8]) -> Option<u32> {
        self.find_added(id)
            .or_else(|| self.stored()?.find(body, id))
    }

    /// The index of claimant `id` among those added since the file was loaded.
    fn find_added(&self, id: &MsgId) -> Option<u32> {
        match &self.maps {
            Some(maps) if !maps.by_id.is_empty() => maps.by_id.get(id).copied(),
            _ => (self.nodes.iter().position(|n| n.id == *id)).map(|i| self.base() + i as u32),
        }
    }

    /// Whether message `id`, at log `offset`, is a claimant already (a claim applied again).
    /// A message has one offset, so one past every stored claimant's (anything applied after
    /// the file was loaded) is not among them: the stored part, a binary search over ids
    /// read from the file, is searched only otherwise (it was 2 % of a 1M-message rebuild).
    fn is_claimant(&self, id: &MsgId, offset: u64, body: &[u8]) -> bool {
        self.find_added(id).is_some()
            || self
                .stored()
                .is_some_and(|s| offset <= s.last_offset && s.find(body, id).is_some())
    }

    /// Indexes the claimant just added, building the id map when the claimants in `nodes`
    /// outgrow [`SMALL_TANGLE`].
    fn index_last(&mut self) {
        let n = self.nodes.len();
        if n <= SMALL_TANGLE {
            return;
        }
        let base = self.base();
        let nodes = &self.nodes;
        let by_id = &mut self.maps.get_or_insert_default().by_id;
        if by_id.is_empty() {
            by_id.extend((nodes.iter().zip(base..)).map(|(x, i)| (x.id, i)));
        } else {
            by_id.insert(nodes[n - 1].id, base + (n - 1) as u32);
        }
    }

    /// What ancestor `p` of claimant `id` (number `me`) is now. An ancestor naming the
    /// claimant itself is a loop, which keeps it out.
    fn resolve(&mut self, root: &MsgId, id: &MsgId, p: MsgId, me: u32, body: &[u8]) -> Prev {
        if p == *root {
            return Prev::Root;
        }
        if p == *id {
            return Prev::Node(me);
        }
        match self.find(&p, body) {
            Some(i) => Prev::Node(i),
            None => {
                let waiting = &mut self.maps.get_or_insert_default().waiting;
                waiting.entry(p).or_default().push(me);
                Prev::Unknown(Box::new(p))
            }
        }
    }

    /// The whole tangle, given its claimants in the file (`stored`, decoded as written): an
    /// ancestor one of them was waiting for that has been added since is resolved, as adding
    /// it would have done, and the claimants added since follow.
    fn merged(&self, mut stored: Tangle) -> Tangle {
        for node in &mut stored.nodes {
            for p in node.prevs.as_mut_slice() {
                if let Prev::Unknown(u) = p
                    && let Some(i) = self.find(u, &[])
                {
                    *p = Prev::Node(i);
                }
            }
        }
        stored.nodes.extend(self.nodes.iter().cloned());
        stored
    }

    /// Kahn's algorithm from the root; claimants never reached are not members. For a whole
    /// tangle only (no [`StoredPart`]: see [`Tangle::merged`]).
    fn answer(&self, root_offset: u64) -> TangleAnswer {
        let n = self.nodes.len();
        let (starts, kids) = self.children();
        let mut pending: Vec<usize> = (self.nodes.iter())
            .map(|x| x.prevs.as_slice().len())
            .collect();
        let mut ready = BinaryHeap::new();
        let mut order = Vec::with_capacity(n);
        let mut release = |ready: &mut BinaryHeap<_>, kid: u32| {
            pending[kid as usize] -= 1;
            if pending[kid as usize] == 0 {
                let x = &self.nodes[kid as usize];
                ready.push(Reverse((TotalF64(x.timestamp), x.id, kid)));
            }
        };
        kids[starts[n]..starts[n + 1]]
            .iter()
            .for_each(|&k| release(&mut ready, k));
        while let Some(Reverse((_, _, i))) = ready.pop() {
            order.push(i);
            kids[starts[i as usize]..starts[i as usize + 1]]
                .iter()
                .for_each(|&k| release(&mut ready, k));
        }
        self.collect(root_offset, &order)
    }

    /// Children lists in compressed form: node `i`'s kids are `kids[starts[i]..starts[i + 1]]`;
    /// index `n` stands for the root.
    fn children(&self) -> (Vec<usize>, Vec<u32>) {
        let n = self.nodes.len();
        let slot = |p: &Prev| match p {
            Prev::Root => Some(n),
            Prev::Node(j) => Some(*j as usize),
            Prev::Unknown(_) => None,
        };
        let mut starts = vec![0usize; n + 3];
        self.nodes
            .iter()
            .flat_map(|x| x.prevs.as_slice().iter().filter_map(slot))
            .for_each(|s| starts[s + 2] += 1);
        for i in 2..starts.len() {
            starts[i] += starts[i - 1];
        }
        let mut kids = vec![0u32; starts[n + 2]];
        for (i, x) in self.nodes.iter().enumerate() {
            for s in x.prevs.as_slice().iter().filter_map(slot) {
                kids[starts[s + 1]] = i as u32;
                starts[s + 1] += 1;
            }
        }
        (starts, kids)
    }

    /// Offsets of the ordered members and of the tips (members no member points at).
    fn collect(&self, root_offset: u64, order: &[u32]) -> TangleAnswer {
        let n = self.nodes.len();
        let mut pointed = vec![false; n + 1];
        for &i in order {
            for p in self.nodes[i as usize].prevs.as_slice() {
                match p {
                    Prev::Root => pointed[n] = true,
                    Prev::Node(j) => pointed[*j as usize] = true,
                    Prev::Unknown(_) => {}
                }
            }
        }
        let mut members = Vec::with_capacity(order.len() + 1);
        members.push(root_offset);
        members.extend(order.iter().map(|&i| self.nodes[i as usize].offset));
        let tip_root = (!pointed[n]).then_some(root_offset);
        let tip_nodes = order
            .iter()
            .filter(|&&i| !pointed[i as usize])
            .map(|&i| self.nodes[i as usize].offset);
        let tips = tip_root.into_iter().chain(tip_nodes).collect();
        TangleAnswer { members, tips }
    }
}

/// An `f64` ordered by `total_cmp`, for heap keys.
#[derive(Debug, Clone, Copy, PartialEq)]
struct TotalF64(f64);

impl Eq for TotalF64 {}

impl PartialOrd for TotalF64 {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for TotalF64 {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.0.total_cmp(&other.0)
    }
}

/// Parses a strict `%msg` id from a JSON string.
fn msg_id(v: &Value) -> Option<MsgId> {
    v.as_str()?.parse().ok()
}

/// Ids from a string or an array of strings; `None` if any is not a `%msg` id.
fn id_list(v: &Value) -> Option<Vec<MsgId>> {
    let mut out: Vec<MsgId> = match v {
        Value::Array(items) => items.iter().map(msg_id).collect::<Option<_>>()?,
        other => vec![msg_id(other)?],
    };
    let mut unique: Vec<MsgId> = Vec::with_capacity(out.len());
    for id in out.drain(..) {
        if !unique.contains(&id) {
            unique.push(id);
        }
    }
    Some(unique)
}

/// The thread claim of a content object, if it has a valid one.
fn thread_claim(content: &Value) -> Option<Claim> {
    let root = msg_id(content.get("root")?)?;
    let previous = match content.get("branch") {
        None | Some(Value::Null) => Vec::new(),
        Some(b) => id_list(b)?,
    };
    Some(Claim {
        root,
        name: None,
        previous,
    })
}

/// The valid SIP-009 claims of a content object (root markers and malformed entries skipped).
fn named_claims(content: &Value) -> impl Iterator<Item = Claim> + '_ {
    content.get("tangles").into_iter().flat_map(named_claims_in)
}

/// The valid SIP-009 claims of a `content.tangles` value (empty unless it is an object).
pub(crate) fn named_claims_in(tangles: &Value) -> impl Iterator<Item = Claim> + '_ {
    let entries = tangles.as_object().into_iter().flatten();
    entries.filter_map(|(name, t)| {
        let root = msg_id(t.get("root")?)?;
        let previous = id_list(t.get("previous").filter(|p| p.is_array())?)?;
        (!previous.is_empty()).then(|| Claim {
            root,
            name: Some(name.clone()),
            previous,
        })
    })
}

/// Every valid tangle claim in a public content object (see the module docs).
pub fn claims(content: &Value) -> Vec<Claim> {
    thread_claim(content)
        .into_iter()
        .chain(named_claims(content))
        .collect()
}

impl Tangles {
    /// An empty view.
    pub fn new() -> Self {
        Self::default()
    }

    fn name_key(&self, name: Option<&str>) -> Option<u32> {
        match name {
            None => Some(0),
            Some(n) => self.name_index.get(n).map(|i| i + 1),
        }
    }

    fn intern_name(&mut self, name: Option<&str>) -> u32 {
        let Some(name) = name else { return 0 };
        if let Some(i) = self.name_index.get(name) {
            return i + 1;
        }
        let i = self.names.len() as u32;
        self.names.push(name.to_owned());
        self.name_index.insert(name.to_owned(), i);
        i + 1
    }

    /// Records one claim of message `id` (at `offset`, claimed `timestamp`).
    pub fn add_claim(&mut self, claim: Claim, id: MsgId, offset: u64, timestamp: f64) {
        self.add_claim_ref(claim.as_ref(), id, offset, timestamp);
    }

    /// [`Tangles::add_claim`] for a borrowed claim (no copy of its name or ancestors).
    fn add_claim_ref(&mut self, claim: ClaimRef<'_>, id: MsgId, offset: u64, timestamp: f64) {
        let key = (*claim.root, self.intern_name(claim.name));
        self.fault_in(&key);
        let tangle = self.tangles.entry(key).or_default();
        let body = match tangle.stored() {
            None => Ok(None),
            Some(_) => self.file.body(&key),
        };
        match body {
            Ok(body) => tangle.add(
                claim.root,
                (id, offset, timestamp),
                claim.previous,
                body.unwrap_or_default(),
            ),
            Err(damage) => self.damaged = Some(damage.0),
        }
    }

    /// Starts the in-memory part of the tangle `key` when the file holds it: an index of its
    /// claimants there ([`StoredPart`]), to which new claimants are added.
    fn fault_in(&mut self, key: &TangleKey) {
        if self.file.is_empty() || self.tangles.contains_key(key) {
            return;
        }
        let part = self
            .file
            .body(key)
            .and_then(|b| b.map(StoredPart::of).transpose());
        match part {
            Ok(Some(part)) => {
                let maps = TangleMaps {
                    stored: Some(part),
                    ..TangleMaps::default()
                };
                let tangle = Tangle {
                    nodes: Vec::new(),
                    maps: Some(Box::new(maps)),
                };
                self.tangles.insert(*key, tangle);
            }
            Ok(None) => {}
            Err(damage) => self.damaged = Some(damage.0),
        }
    }

    /// The tangle `key` from memory or else from the file (`None` when neither has it).
    fn lookup(
        &self,
        key: &TangleKey,
    ) -> Result<Option<std::borrow::Cow<'_, Tangle>>, ViewDataError> {
        if let Some(why) = &self.damaged {
            return Err(ViewDataError(why.clone()));
        }
        match self.tangles.get(key) {
            Some(t) if t.stored().is_some() => {
                let missing = || ViewDataError("a tangle is missing from its view file".into());
                let stored = self.file.nodes(key)?.ok_or_else(missing)?;
                Ok(Some(std::borrow::Cow::Owned(t.merged(stored))))
            }
            Some(t) => Ok(Some(std::borrow::Cow::Borrowed(t))),
            None => Ok(self.file.nodes(key)?.map(std::borrow::Cow::Owned)),
        }
    }

    /// The tangle of `root` (a thread when `name` is `None`, else the SIP-009 tangle `name`).
    ///
    /// `root_offset` is the log offset of the root message, `None` if the log does not hold it
    /// (then the tangle is empty: every claimant waits for its root). Cost: O(m log m) in the
    /// number of claimants. An error when the block of the view file that holds it is damaged.
    pub fn tangle(
        &self,
        root: &MsgId,
        name: Option<&str>,
        root_offset: Option<u64>,
    ) -> Result<TangleAnswer, ViewDataError> {
        let Some(root_offset) = root_offset else {
            return Ok(TangleAnswer::default());
        };
        let tangle = match self.name_key(name) {
            Some(k) => self.lookup(&(*root, k))?,
            None => None,
        };
        Ok(match tangle {
            Some(t) => t.answer(root_offset),
            None => TangleAnswer {
                members: vec![root_offset],
                tips: vec![root_offset],
            },
        })
    }

    /// Log offsets of every message that claims the tangle, members or not, in log order.
    pub fn claimants(&self, root: &MsgId, name: Option<&str>) -> Result<Vec<u64>, ViewDataError> {
        let tangle = match self.name_key(name) {
            Some(k) => self.lookup(&(*root, k))?,
            None => None,
        };
        Ok(tangle
            .map(|t| t.nodes.iter().map(|n| n.offset).collect())
            .unwrap_or_default())
    }
}

impl View for Tangles {
    fn name(&self) -> &'static str {
        "tangles"
    }

    fn version(&self) -> u32 {
        2
    }

    fn apply(&mut self, msg: &Indexed<'_>) {
        let Some(content) = msg.content else { return };
        for claim in claims(content) {
            self.add_claim(claim, msg.id, msg.offset, msg.timestamp);
        }
    }

    fn uses_facts(&self) -> bool {
        true
    }

    fn apply_facts(&mut self, msg: &Indexed<'_>, facts: Option<&Facts>) {
        for claim in facts.into_iter().flat_map(Facts::claim_refs) {
            self.add_claim_ref(claim, msg.id, msg.offset, msg.timestamp);
        }
    }

    /// Layout in `views/FORMAT.md`: names, then the tangles as keyed blocks (key: root id and
    /// name key; body: node count and per node its id, offset, timestamp, ancestor count, and
    /// per ancestor a varint tag: 0 = root, 1 = unknown followed by the 32-byte id, `2 + i` =
    /// node `i`).
    fn encode_parts(&self, bulk: &mut Bulk) -> Vec<u8> {
        let mut head = Writer::with_capacity(64);
        head.len(self.names.len());
        self.names.iter().for_each(|n| head.str(n));
        let mut out = stored::TangleWriter::new(head.0, bulk);
        let mut keys: Vec<&TangleKey> = self.tangles.keys().collect();
        keys.sort_unstable();
        let mut memory = keys.into_iter().peekable();
        // A damaged block (not checked first) ends early here; the database checks every block
        // before it writes a file.
        let mut file = self.file.entries().peekable();
        let mut body = Writer::default();
        loop {
            let next_file = file.peek().map(|(k, _)| *k);
            let next_memory = memory.peek().map(|k| stored::key(k));
            let order = match (next_file, next_memory) {
                (None, None) => break,
                (Some(_), None) => std::cmp::Ordering::Less,
                (None, Some(_)) => std::cmp::Ordering::Greater,
                (Some(f), Some(m)) => f.cmp(&m),
            };
            if order == std::cmp::Ordering::Less {
                if let Some((key, raw)) = file.next() {
                    out.push(&key, raw);
                }
                continue;
            }
            // The file's body, superseded by the tangle in memory (which extends it).
            let stored = match order {
                std::cmp::Ordering::Equal => file.next().map(|(_, raw)| raw),
                _ => None,
            };
            let key = memory.next().expect("peeked");
            let tangle = &self.tangles[key];
            body.0.clear();
            // A tangle with a stored part was read from this file, so the file holds it.
            let stored = stored.or_else(|| self.file.body(key).ok().flatten());
            match (tangle.stored(), stored) {
                (Some(_), Some(raw)) => match decode_nodes(&mut Reader::new(raw)) {
                    Ok(nodes) => encode_tangle(&mut body, &tangle.merged(nodes)),
                    // Not after `verify`, which the database runs first: keep what was there.
                    Err(_) => body.0.extend_from_slice(raw),
                },
                _ => encode_tangle(&mut body, tangle),
            }
            out.push(&stored::key(key), &body.0);
        }
        out.finish()
    }

    fn decode(&mut self, bytes: &[u8]) -> Result<(), ViewDataError> {
        self.load(Payload::owned(bytes.to_vec()))
    }

    fn load(&mut self, payload: Payload) -> Result<(), ViewDataError> {
        let (file, names) = stored::Stored::load(payload)?;
        let mut fresh = Tangles::new();
        for name in &names {
            if fresh.name_index.contains_key(name) {
                return Err(ViewDataError("a tangle name is listed twice".into()));
            }
            fresh.intern_name(Some(name));
        }
        fresh.file = Arc::new(file);
        *self = fresh;
        Ok(())
    }

    fn verify(&self) -> Result<(), ViewDataError> {
        match &self.damaged {
            Some(why) => Err(ViewDataError(why.clone())),
            None => self.file.verify(),
        }
    }

    fn reads_in_place(&self) -> bool {
        true
    }

    fn trust(&self) {
        self.file.trust();
    }

    /// Frees the tangles on a pool thread: each holds its own lists and maps, and freeing
    /// them one by one would hold up the rebuild that follows by several milliseconds.
    fn clear(&mut self) {
        let old = std::mem::take(self);
        rayon::spawn(move || drop(old));
    }
}

fn encode_tangle(w: &mut Writer, t: &Tangle) {
    w.len(t.nodes.len());
    for node in &t.nodes {
        w.id(&node.id.0);
        w.var(node.offset);
        w.f64(node.timestamp);
        let prevs = node.prevs.as_slice();
        w.len(prevs.len());
        for p in prevs {
            match p {
                Prev::Root => w.var(0),
                Prev::Unknown(id) => {
                    w.var(1);
                    w.id(&id.0);
                }
                Prev::Node(i) => w.var(2 + u64::from(*i)),
            }
        }
    }
}

/// Reads one tangle's nodes as they were written (ancestors resolved then): what a query
/// needs, without the id and waiting maps that adding a claim needs (see [`decode_tangle`]).
fn decode_nodes(r: &mut Reader<'_>) -> Result<Tangle, ViewDataError> {
    let n = r.len(42)?;
    let mut t = Tangle::default();
    t.nodes.reserve(n);
    let prev = |r: &mut Reader<'_>| -> Result<Prev, ViewDataError> {
        Ok(match r.var()? {
            0 => Prev::Root,
            1 => Prev::Unknown(Box::new(MsgId(r.id()?))),
            tag => Prev::Node(
                u32::try_from(tag - 2)
                    .ok()
                    .filter(|&i| (i as usize) < n)
                    .ok_or_else(|| ViewDataError("an ancestor index is out of range".into()))?,
            ),
        })
    };
    for _ in 0..n {
        let (id, offset, timestamp) = (MsgId(r.id()?), r.var()?, r.f64()?);
        let prevs = match r.len(1)? {
            0 => return Err(ViewDataError("a claimant has no ancestor".into())),
            1 => Prevs::One(prev(r)?),
            k => Prevs::Many((0..k).map(|_| prev(r)).collect::<Result<_, _>>()?),
        };
        t.nodes.push(Node {
            id,
            offset,
            timestamp,
            prevs,
        });
    }
    Ok(t)
}

/// Reads one tangle, then replays its claimants in log order, which rebuilds the id and
/// waiting maps exactly as [`View::apply`] built them.
fn decode_tangle(r: &mut Reader<'_>, root: &MsgId) -> Result<Tangle, ViewDataError> {
    let mut raw = Vec::new();
    for _ in 0..r.len(42)? {
        let (id, offset, timestamp) = (MsgId(r.id()?), r.var()?, r.f64()?);
        let mut tags = Vec::new();
        for _ in 0..r.len(1)? {
            let tag = r.var()?;
            tags.push(if tag == 1 {
                Err(MsgId(r.id()?))
            } else {
                Ok(tag)
            });
        }
        raw.push((id, offset, timestamp, tags));
    }
    let mut t = Tangle::default();
    for (id, offset, timestamp, tags) in &raw {
        let previous = tags.iter().map(|tag| match *tag {
            Ok(0) => Ok(*root),
            Ok(i) => raw
                .get(i as usize - 2)
                .map(|n| n.0)
                .ok_or_else(|| ViewDataError("an ancestor index is out of range".into())),
            Err(id) => Ok(id),
        });
        let previous = previous.collect::<Result<Vec<_>, _>>()?;
        if t.find(id, &[]).is_some() {
            return Err(ViewDataError("a tangle lists a message twice".into()));
        }
        t.add(root, (*id, *offset, *timestamp), &previous, &[]);
    }
    Ok(t)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn id(n: u8) -> MsgId {
        MsgId([n; 32])
    }

    /// Adds message `n` (offset `n`, timestamp `ts`) to the thread of root 0 with branches.
    fn reply(t: &mut Tangles, n: u8, ts: f64, branch: &[u8]) {
        let claim = Claim {
            root: id(0),
            name: None,
            previous: branch.iter().map(|&b| id(b)).collect(),
        };
        t.add_claim(claim, id(n), u64::from(n), ts);
    }

    fn thread(t: &Tangles) -> TangleAnswer {
        t.tangle(&id(0), None, Some(0)).unwrap()
    }

    /// A rebuild holds one `Tangle` per thread and one `Node` per reply: keep them small.
    #[test]
    fn tangles_and_claimants_stay_small_in_memory() {
        assert_eq!(std::mem::size_of::<Tangle>(), 32);
        assert_eq!(std::mem::size_of::<Node>(), 72);
        let mut t = Tangles::new();
        reply(&mut t, 1, 1.0, &[]);
        let one = t.tangles.values().next().expect("a tangle");
        assert_eq!((one.nodes.capacity(), one.maps.is_none()), (1, true));
    }

    #[test]
    fn forks_merges_and_unknown_previous() {
        let mut t = Tangles::new();
        reply(&mut t, 1, 10.0, &[]); // off the root
        reply(&mut t, 2, 30.0, &[1]); // fork of 1 ...
        reply(&mut t, 3, 20.0, &[1]); // ... ordered before 2 by timestamp
        reply(&mut t, 4, 5.0, &[2, 3]); // merge; an early clock cannot put it before its parents
        reply(&mut t, 5, 1.0, &[4, 99]); // unknown ancestor 99
        reply(&mut t, 6, 1.0, &[5]); // downstream of the unknown
        assert_eq!(
            thread(&t),
            TangleAnswer {
                members: vec![0, 1, 3, 2, 4],
                tips: vec![4]
            }
        );
        reply(&mut t, 99, 50.0, &[0]); // the missing ancestor arrives (branch = root)
        assert_eq!(
            thread(&t),
            TangleAnswer {
                members: vec![0, 1, 3, 2, 4, 99, 5, 6],
                tips: vec![6]
            }
        );
    }

    #[test]
    fn replies_before_their_root() {
        let mut t = Tangles::new();
        reply(&mut t, 2, 2.0, &[1]);
        reply(&mut t, 1, 1.0, &[0]);
        reply(&mut t, 3, 1.0, &[]);
        assert_eq!(
            t.tangle(&id(0), None, None).unwrap(),
            TangleAnswer::default()
        );
        assert_eq!(
            thread(&t),
            TangleAnswer {
                members: vec![0, 1, 3, 2],
                tips: vec![3, 2]
            }
        );
        assert_eq!(t.claimants(&id(0), None).unwrap(), vec![2, 1, 3]);
    }

    /// A chain longer than [`SMALL_TANGLE`] whose replies arrive newest first: every reply
    /// waits for its parent until the oldest arrives, across the switch to the id map.
    #[test]
    fn a_long_chain_arriving_backwards_joins_when_its_head_arrives() {
        let mut t = Tangles::new();
        let n = (SMALL_TANGLE * 2 + 3) as u8;
        for k in (2..=n).rev() {
            reply(&mut t, k, f64::from(k), &[k - 1]);
        }
        assert_eq!(thread(&t).members, vec![0]);
        reply(&mut t, 1, 1.0, &[]);
        let want: Vec<u64> = (0..=u64::from(n)).collect();
        assert_eq!(thread(&t).members, want);
        assert_eq!(thread(&t).tips, vec![u64::from(n)]);
        reply(&mut t, 50, 50.0, &[50]); // names itself: a loop, never a member
        assert_eq!(thread(&t).members, want);
        let mut back = Tangles::new();
        back.decode(&t.encode()).unwrap();
        assert_eq!(back, t);
    }

    #[test]
    fn equal_timestamps_break_ties_by_id() {
        let mut t = Tangles::new();
        reply(&mut t, 9, 7.0, &[]);
        reply(&mut t, 4, 7.0, &[]);
        assert_eq!(thread(&t).members, vec![0, 4, 9]);
        let lone = t.tangle(&id(50), None, Some(50)).unwrap();
        assert_eq!(
            lone,
            TangleAnswer {
                members: vec![50],
                tips: vec![50]
            }
        );
    }

    #[test]
    fn claims_read_threads_and_named_tangles() {
        let (r, a, b) = (id(1).to_string(), id(2).to_string(), id(3).to_string());
        let content = json!({"type": "post", "root": r, "branch": [a, a, b],
            "tangles": {"group": {"root": r, "previous": [b]}, "x": {"root": null, "previous": null},
                        "bad": {"root": r, "previous": []}, "worse": {"root": r, "previous": ["%no"]}}});
        let got = claims(&content);
        assert_eq!(
            got,
            vec![
                Claim {
                    root: id(1),
                    name: None,
                    previous: vec![id(2), id(3)]
                },
                Claim {
                    root: id(1),
                    name: Some("group".into()),
                    previous: vec![id(3)]
                },
            ]
        );
        assert!(claims(&json!({"root": r, "branch": ["%bad"]})).is_empty());
        assert_eq!(
            claims(&json!({"root": r, "branch": null}))[0].previous,
            vec![]
        );
    }

    /// Claims added after the file was written: the tangle keeps only the new claimants in
    /// memory, and reads, writes and answers exactly as if it held them all.
    #[test]
    fn claims_after_a_write_keep_the_stored_claimants_in_the_file() {
        let first: Vec<(u8, &[u8])> = [(1, &[][..]), (2, &[1]), (3, &[9]), (4, &[2, 10])]
            .into_iter()
            .chain((20..=30).map(|n| (n, &[1][..])))
            .collect();
        let second: Vec<(u8, &[u8])> = [(9, &[2][..]), (2, &[1]), (11, &[12]), (12, &[9])]
            .into_iter()
            .chain([(10, &[3][..]), (60, &[61])])
            .chain((40..=52).map(|n| (n, &[9][..])))
            .chain([(53, &[45, 25][..]), (54, &[4, 60])])
            .collect();
        let third: Vec<(u8, &[u8])> = vec![(61, &[53]), (62, &[1, 11]), (63, &[20])];
        let add = |t: &mut Tangles, batch: &[(u8, &[u8])]| {
            for &(n, branch) in batch {
                reply(t, n, f64::from(n % 7), branch);
                let named = Claim {
                    root: id(0),
                    name: Some("g".into()),
                    previous: branch.iter().map(|&b| id(b)).collect(),
                };
                t.add_claim(named, id(n), u64::from(n), 1.0);
            }
        };
        let mut whole = Tangles::new();
        let mut split = Tangles::new();
        add(&mut whole, &first);
        add(&mut split, &first);
        for batch in [&second, &third] {
            let written = split.encode();
            split.decode(&written).unwrap();
            add(&mut whole, batch);
            add(&mut split, batch);
            assert_eq!(split.encode(), whole.encode());
            for name in [None, Some("g")] {
                let answer = |t: &Tangles| t.tangle(&id(0), name, Some(0)).unwrap();
                assert_eq!(answer(&split), answer(&whole));
                let claimants = |t: &Tangles| t.claimants(&id(0), name).unwrap();
                assert_eq!(claimants(&split), claimants(&whole));
            }
        }
        // Only the claimants added since the last write are held as nodes.
        for t in split.tangles.values() {
            assert_eq!(t.nodes.len(), third.len());
            assert!(t.stored().is_some());
        }
        let thread = thread(&whole);
        assert!(thread.members.contains(&53) && thread.members.contains(&61));
        assert!(!thread.members.contains(&60) || thread.members.contains(&61));
    }

    /// Random threads and named tangles (replies before their ancestors, unknown and repeated
    /// ancestors, repeated claims, loops), written and read back at random points: every
    /// answer and the encoding equal those of the tangles held whole in memory. A message
    /// has one log offset, so a repeated claim comes with the offset of the claimant's first.
    #[test]
    fn random_claims_across_writes_match_the_whole_in_memory() {
        let mut next = crate::view::testing::xorshift(0x9E37_79B9_7F4A_7C15);
        for round in 0..300 {
            let (mut whole, mut split) = (Tangles::new(), Tangles::new());
            let claims = 5 + next(60);
            let mut offset_of: FastMap<MsgId, u64> = FastMap::default();
            for k in 0..claims {
                if next(8) == 0 {
                    let written = split.encode();
                    split.decode(&written).unwrap();
                }
                let root = id(next(2) as u8);
                let me = id(2 + next(90) as u8);
                let previous: Vec<MsgId> = (0..next(3)).map(|_| id(next(92) as u8)).collect();
                let mut unique = Vec::new();
                previous.iter().for_each(|p| {
                    if !unique.contains(p) {
                        unique.push(*p);
                    }
                });
                let name = [None, Some("g")][next(2) as usize];
                let claim = Claim {
                    root,
                    name: name.map(str::to_owned),
                    previous: unique,
                };
                let ts = next(5) as f64;
                let offset = *offset_of.entry(me).or_insert(k);
                whole.add_claim(claim.clone(), me, offset, ts);
                split.add_claim(claim, me, offset, ts);
            }
            assert_eq!(split.encode(), whole.encode(), "round {round}");
            for root in [id(0), id(1)] {
                for name in [None, Some("g")] {
                    let answer = |t: &Tangles| t.tangle(&root, name, Some(1000)).unwrap();
                    assert_eq!(answer(&split), answer(&whole), "round {round}");
                    let claimants = |t: &Tangles| t.claimants(&root, name).unwrap();
                    assert_eq!(claimants(&split), claimants(&whole), "round {round}");
                }
            }
        }
    }

    #[test]
    fn encode_decode_round_trip() {
        let mut t = Tangles::new();
        reply(&mut t, 2, 2.0, &[1]);
        reply(&mut t, 5, 2.0, &[7]);
        reply(&mut t, 1, 1.0, &[0]);
        let claim = Claim {
            root: id(0),
            name: Some("g".into()),
            previous: vec![id(0)],
        };
        t.add_claim(claim, id(8), 8, 3.0);
        let mut back = Tangles::new();
        back.decode(&t.encode()).unwrap();
        assert_eq!(back, t);
        assert_eq!(back.encode(), t.encode());
        assert!(back.decode(&t.encode()[..20]).is_err());
        back.clear();
        assert_eq!(back, Tangles::new());
    }
}
