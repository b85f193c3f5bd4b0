//! The contacts view's file, read in place: one [`Keyed`] entry per feed that has an edge
//! (key: the feed's 32 bytes; body: its outgoing edges, then its incoming ones), so a query
//! reads the one block that holds its feed. Layout in `views/FORMAT.md`.

use sluice_msg::FeedId;

use super::{EdgeState, Relation};
use crate::inplace::{Keyed, KeyedWriter, var};
use crate::tangles::wire::Writer;
use crate::view::ViewDataError;
use crate::viewfile::{Bulk, Payload};

/// Bytes of a feed as a key.
const KEY: usize = 32;
/// The fewest bytes an edge takes in a body: the feed, a one-byte sequence, the relation.
const MIN_EDGE: usize = 34;

/// An edge as one of its ends lists it: the feed at the other end and the edge's state.
pub(super) type Edge = (FeedId, EdgeState);

/// The edges of a loaded file.
#[derive(Debug, Default)]
pub(super) struct Stored {
    keyed: Keyed,
}

/// One feed's edges: outgoing ones by dest, incoming ones by source, each sorted by the feed
/// at the other end.
#[derive(Debug, Default)]
pub(super) struct Edges {
    pub(super) out: Vec<Edge>,
    pub(super) inn: Vec<Edge>,
}

/// The error for a body that ends inside an edge list.
fn truncated() -> ViewDataError {
    ViewDataError("a contacts entry ends early".into())
}

/// Appends one edge list of `body`, read from `*at`, to `out`: a count, then per edge the
/// feed at the other end, the sequence and the relation. With `CHECK` the other ends must be
/// strictly increasing: the test a block passes when first read; a query reading a block
/// already checked skips it.
fn read_list<const CHECK: bool>(
    body: &[u8],
    at: &mut usize,
    out: &mut Vec<Edge>,
) -> Result<(), ViewDataError> {
    let mut p = *at;
    let n = var(body, &mut p).ok_or_else(truncated)?;
    out.reserve(usize::try_from(n).unwrap_or(0).min(body.len() / MIN_EDGE));
    let first = out.len();
    for _ in 0..n {
        let id: [u8; 32] = (body.get(p..p + 32))
            .and_then(|b| b.try_into().ok())
            .ok_or_else(truncated)?;
        p += 32;
        let sequence = var(body, &mut p).ok_or_else(truncated)?;
        let relation = Relation::from_byte(*body.get(p).ok_or_else(truncated)?)?;
        p += 1;
        let feed = FeedId(id);
        if CHECK && out.len() > first && out.last().is_some_and(|(prev, _)| *prev >= feed) {
            return Err(ViewDataError("contact edges out of order".into()));
        }
        out.push((feed, EdgeState { sequence, relation }));
    }
    *at = p;
    Ok(())
}

/// Which of a feed's two edge lists.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Side {
    /// Its outgoing edges, by dest.
    Out,
    /// Its incoming edges, by source.
    In,
}

/// A body's edges, checked: each list in order, nothing left over.
fn decode_body(body: &[u8]) -> Result<Edges, ViewDataError> {
    let (mut at, mut edges) = (0, Edges::default());
    read_list::<true>(body, &mut at, &mut edges.out)?;
    read_list::<true>(body, &mut at, &mut edges.inn)?;
    match body.len() - at {
        0 => Ok(edges),
        n => Err(ViewDataError(format!(
            "{n} unexpected bytes after a contacts entry"
        ))),
    }
}

/// Whether a body parses (the block check of [`Keyed`]).
fn body_ok(body: &[u8]) -> bool {
    decode_body(body).is_ok()
}

/// Appends a body: the outgoing list, then the incoming one.
pub(super) fn encode_body(edges: &Edges, out: &mut Vec<u8>) {
    let mut w = Writer(std::mem::take(out));
    for list in [&edges.out, &edges.inn] {
        w.len(list.len());
        for (feed, state) in list {
            w.id(&feed.0);
            w.var(state.sequence);
            w.u8(state.relation.to_byte());
        }
    }
    *out = w.0;
}

impl Stored {
    /// Reads the block directory of a payload.
    pub(super) fn load(payload: Payload) -> Result<Self, ViewDataError> {
        let (keyed, _) = Keyed::load("contacts", payload, 0, KEY, body_ok)?;
        Ok(Self { keyed })
    }

    /// Checks every block not checked yet.
    pub(super) fn verify(&self) -> Result<(), ViewDataError> {
        self.keyed.verify()
    }

    /// Marks every block checked (the file was just written from this process's state).
    pub(super) fn trust(&self) {
        self.keyed.trust();
    }

    /// Replaces `out` with the file's edges of `feed` on one `side` (none when it has no
    /// entry), sorted by the feed at the other end. Only that list is decoded: a much-followed
    /// feed has a long incoming list that hops never read.
    pub(super) fn list_into(
        &self,
        feed: &FeedId,
        side: Side,
        out: &mut Vec<Edge>,
    ) -> Result<(), ViewDataError> {
        out.clear();
        let Some(body) = self.keyed.find(&feed.0)? else {
            return Ok(());
        };
        let mut at = 0;
        if side == Side::In {
            // Skip the outgoing list without keeping it.
            for _ in 0..var(body, &mut at).ok_or_else(truncated)? {
                at += 32;
                var(body, &mut at).ok_or_else(truncated)?;
                at += 1;
            }
        }
        read_list::<false>(body, &mut at, out)
    }

    /// Every entry, in feed order, with its body as stored (blocks as they are: check them
    /// first with [`Stored::verify`] where damage must not be carried forward).
    pub(super) fn entries(&self) -> impl Iterator<Item = (FeedId, &[u8])> + '_ {
        self.keyed.entries().map(|(k, body)| {
            let mut id = [0; KEY];
            id.copy_from_slice(k);
            (FeedId(id), body)
        })
    }

    /// The edges of an entry's body (as [`Stored::entries`] gives it).
    pub(super) fn decode(body: &[u8]) -> Result<Edges, ViewDataError> {
        decode_body(body)
    }
}

/// Writes a payload: the entries in feed order, their blocks to a [`Bulk`].
pub(super) struct FileWriter<'b> {
    keyed: KeyedWriter<'b>,
}

impl<'b> FileWriter<'b> {
    /// A writer whose blocks go to `bulk`.
    pub(super) fn new(bulk: &'b mut Bulk) -> Self {
        Self {
            keyed: KeyedWriter::new(Vec::new(), bulk),
        }
    }

    /// Adds a feed's entry (feeds in increasing order) with its encoded body.
    pub(super) fn push(&mut self, feed: &FeedId, body: &[u8]) {
        self.keyed.push(&feed.0, body);
    }

    /// The payload's head (the block directory).
    pub(super) fn finish(self) -> Vec<u8> {
        self.keyed.finish()
    }
}
