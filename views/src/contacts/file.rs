//! The contacts view's file, read in place. Layout in `views/FORMAT.md`:
//! - the feed table: every feed that is either end of an edge, sorted, each numbered by its
//!   position (its *rank*), in checked blocks of [`TABLE_BLOCK`] feeds;
//! - one [`Keyed`] entry per rank (key: the rank, big-endian), whose body holds the feed's
//!   outgoing edges, then its incoming ones, each naming the feed at the other end by rank.
//!
//! A traversal (hops) works on ranks, as integers; an answer maps ranks back to feeds through
//! the table, and a query by feed finds its rank by binary search in it.

use sluice_msg::FeedId;

use super::{EdgeState, Relation};
use crate::inplace::{BlockWriter, Blocks, Keyed, KeyedWriter, put_var, var};
use crate::tangles::wire::Writer;
use crate::view::ViewDataError;
use crate::viewfile::{Bulk, Payload};

/// Bytes of a feed id.
const ID: usize = 32;
/// Feeds per block of the feed table (4 KiB).
const TABLE_BLOCK: usize = 128;
/// Bytes of a rank as a key.
const KEY: usize = 4;

/// An edge as one of its ends lists it: the feed at the other end (by id or by rank) and the
/// edge's state.
pub(super) type Edge<K = FeedId> = (K, EdgeState);

/// The edges of a loaded file.
#[derive(Debug, Default)]
pub(super) struct Stored {
    /// Number of feeds (ranks `0..feeds`).
    feeds: u32,
    /// The first feed of each block of the table (in the checked head).
    firsts: Vec<[u8; ID]>,
    /// The feed table.
    table: Blocks,
    /// Per rank, its edges.
    keyed: Keyed,
    /// The first rank of each block of `keyed`.
    block_ranks: Vec<u32>,
}

/// One feed's edges: outgoing ones by dest, incoming ones by source, each sorted by the feed
/// at the other end (by id, or by rank: the same order).
#[derive(Debug)]
pub(super) struct Edges<K = FeedId> {
    pub(super) out: Vec<Edge<K>>,
    pub(super) inn: Vec<Edge<K>>,
}

impl<K> Default for Edges<K> {
    fn default() -> Self {
        Self {
            out: Vec::new(),
            inn: Vec::new(),
        }
    }
}

/// The error for a body that ends inside an edge list.
fn truncated() -> ViewDataError {
    ViewDataError("a contacts entry ends early".into())
}

/// Reads one edge list of `body` from `*at`, calling `visit` with each edge: a count, then
/// per edge the rank of the feed at the other end (the first as is, each next one as its
/// increase over the one before), the sequence and the relation. Every rank must be below
/// `feeds`. With `CHECK` the ranks must also be strictly increasing: the test a block passes
/// when first read; a query reading a block already checked skips it.
fn read_list<const CHECK: bool>(
    body: &[u8],
    at: &mut usize,
    feeds: u32,
    mut visit: impl FnMut(u32, EdgeState),
) -> Result<(), ViewDataError> {
    let mut p = *at;
    let n = var(body, &mut p).ok_or_else(truncated)?;
    let mut rank = 0u64;
    for i in 0..n {
        let delta = var(body, &mut p).ok_or_else(truncated)?;
        if CHECK && i > 0 && delta == 0 {
            return Err(ViewDataError("contact edges out of order".into()));
        }
        rank = rank.saturating_add(delta);
        if rank >= u64::from(feeds) {
            return Err(ViewDataError(format!(
                "a contact edge names feed {rank} of a table of {feeds}"
            )));
        }
        let sequence = var(body, &mut p).ok_or_else(truncated)?;
        let relation = Relation::from_byte(*body.get(p).ok_or_else(truncated)?)?;
        p += 1;
        visit(rank as u32, EdgeState { sequence, relation });
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

/// A body's edges, checked: each list in order and within the table, nothing left over.
fn decode_body(body: &[u8], feeds: u32) -> Result<Edges<u32>, ViewDataError> {
    let (mut at, mut edges) = (0, Edges::default());
    read_list::<true>(body, &mut at, feeds, |r, st| edges.out.push((r, st)))?;
    read_list::<true>(body, &mut at, feeds, |r, st| edges.inn.push((r, st)))?;
    match body.len() - at {
        0 => Ok(edges),
        n => Err(ViewDataError(format!(
            "{n} unexpected bytes after a contacts entry"
        ))),
    }
}

/// Appends a body: the outgoing list, then the incoming one (each sorted by rank).
pub(super) fn encode_body(edges: &Edges<u32>, out: &mut Vec<u8>) {
    let mut w = Writer(std::mem::take(out));
    for list in [&edges.out, &edges.inn] {
        w.len(list.len());
        let mut prev = 0;
        for &(rank, state) in list {
            w.var(u64::from(rank - prev));
            w.var(state.sequence);
            w.u8(state.relation.to_byte());
            prev = rank;
        }
    }
    *out = w.0;
}

impl Stored {
    /// Reads the head of a payload: the feed table's directory, then the entries'.
    pub(super) fn load(payload: Payload) -> Result<Self, ViewDataError> {
        let bad = || ViewDataError("contacts view: the feed table's directory is malformed".into());
        let bytes = payload.bytes();
        let mut p = 0;
        let feeds = var(bytes, &mut p)
            .and_then(|n| u32::try_from(n).ok())
            .ok_or_else(bad)?;
        let blocks = (feeds as usize).div_ceil(TABLE_BLOCK);
        if blocks > bytes.len() / (ID + 4) {
            return Err(bad());
        }
        let (mut firsts, mut crcs) = (Vec::with_capacity(blocks), Vec::with_capacity(blocks));
        for _ in 0..blocks {
            let entry = bytes.get(p..p + ID + 4).ok_or_else(bad)?;
            let (first, crc) = entry.split_at(ID);
            firsts.push(first.try_into().map_err(|_| bad())?);
            crcs.push(u32::from_le_bytes(crc.try_into().map_err(|_| bad())?));
            p += ID + 4;
        }
        if firsts.windows(2).any(|w| w[0] >= w[1]) {
            return Err(bad());
        }
        let table_len = feeds as usize * ID;
        let body_ok = move |body: &[u8]| decode_body(body, feeds).is_ok();
        let (keyed, table_at) =
            Keyed::load_after("contacts", payload.clone(), p, table_len, KEY, body_ok)?;
        if keyed.len() != feeds as usize {
            return Err(ViewDataError(format!(
                "contacts view: {} entries for a table of {feeds} feeds",
                keyed.len()
            )));
        }
        let block_ranks = (keyed.firsts())
            .map(|k| k.try_into().map(u32::from_be_bytes))
            .collect::<Result<_, _>>()
            .map_err(|_| bad())?;
        let starts = (0..=blocks)
            .map(|b| table_at + (b * TABLE_BLOCK).min(feeds as usize) * ID)
            .collect();
        let table = Blocks::new("contacts", payload, starts, crcs)?;
        Ok(Self {
            feeds,
            firsts,
            table,
            keyed,
            block_ranks,
        })
    }

    /// Number of feeds in the table.
    pub(super) fn feeds(&self) -> u32 {
        self.feeds
    }

    /// Block `b` of the feed table, checked on first use (its CRC, its first feed as the
    /// directory says, its feeds strictly increasing).
    fn table_block(&self, b: usize) -> Result<&[[u8; ID]], ViewDataError> {
        let first = &self.firsts[b];
        let bytes = self.table.get(b, |bytes| {
            let ids = bytes.as_chunks::<ID>().0;
            ids.first() == Some(first) && ids.windows(2).all(|w| w[0] < w[1])
        })?;
        Ok(bytes.as_chunks::<ID>().0)
    }

    /// The feed of `rank`.
    pub(super) fn feed_at(&self, rank: u32) -> Result<FeedId, ViewDataError> {
        if rank >= self.feeds {
            return Err(ViewDataError(format!(
                "contacts view: no feed {rank} in a table of {}",
                self.feeds
            )));
        }
        let (b, i) = (rank as usize / TABLE_BLOCK, rank as usize % TABLE_BLOCK);
        Ok(FeedId(self.table_block(b)?[i]))
    }

    /// The rank of `feed`, if the table has it.
    pub(super) fn rank_of(&self, feed: &FeedId) -> Result<Option<u32>, ViewDataError> {
        let Some(b) = self.firsts.partition_point(|f| *f <= feed.0).checked_sub(1) else {
            return Ok(None);
        };
        let ids = self.table_block(b)?;
        Ok((ids.binary_search(&feed.0).ok()).map(|i| (b * TABLE_BLOCK + i) as u32))
    }

    /// The body of `rank`'s entry. Every rank has one, in order, so it is found by counting
    /// from its block's first rank (and its key is checked).
    fn body(&self, rank: u32) -> Result<Option<&[u8]>, ViewDataError> {
        let Some(b) = self
            .block_ranks
            .partition_point(|&f| f <= rank)
            .checked_sub(1)
        else {
            return Ok(None);
        };
        let n = (rank - self.block_ranks[b]) as usize;
        match self.keyed.nth_in_block(b, n)? {
            Some((key, body)) if key == rank.to_be_bytes() => Ok(Some(body)),
            _ => Err(ViewDataError(format!(
                "contacts view: no entry numbered {rank} where it belongs"
            ))),
        }
    }

    /// Calls `visit` with each edge of the feed of `rank` on one `side`, by rank (in
    /// increasing order). Only that list is decoded: a much-followed feed has a long incoming
    /// list that hops never read.
    pub(super) fn each_edge(
        &self,
        rank: u32,
        side: Side,
        visit: impl FnMut(u32, EdgeState),
    ) -> Result<(), ViewDataError> {
        let Some(body) = self.body(rank)? else {
            return Ok(());
        };
        let mut at = 0;
        if side == Side::In {
            // Past the outgoing list, read and dropped: one parser of the format.
            read_list::<false>(body, &mut at, self.feeds, |_, _| {})?;
        }
        read_list::<false>(body, &mut at, self.feeds, visit)
    }

    /// Replaces `out` with the edges of the feed of `rank` on one `side`, by rank (sorted).
    pub(super) fn ranks_into(
        &self,
        rank: u32,
        side: Side,
        out: &mut Vec<Edge<u32>>,
    ) -> Result<(), ViewDataError> {
        out.clear();
        self.each_edge(rank, side, |rank, state| out.push((rank, state)))
    }

    /// Replaces `out` with `feed`'s edges on one `side` (none when the table lacks it), sorted
    /// by the feed at the other end.
    pub(super) fn list_into(
        &self,
        feed: &FeedId,
        side: Side,
        out: &mut Vec<Edge>,
    ) -> Result<(), ViewDataError> {
        out.clear();
        let Some(rank) = self.rank_of(feed)? else {
            return Ok(());
        };
        let mut ranks = Vec::new();
        self.ranks_into(rank, side, &mut ranks)?;
        out.reserve(ranks.len());
        // The ranks increase: hold the table block they are in (each rank is in the table).
        let mut held: (usize, &[[u8; ID]]) = (usize::MAX, &[]);
        for (rank, state) in ranks {
            let (b, i) = (rank as usize / TABLE_BLOCK, rank as usize % TABLE_BLOCK);
            if b != held.0 {
                held = (b, self.table_block(b)?);
            }
            out.push((FeedId(held.1[i]), state));
        }
        Ok(())
    }

    /// Every feed in rank order with its entry's body as stored (blocks as they are: check
    /// them first with [`Stored::verify`] where damage must not be carried forward).
    pub(super) fn entries(&self) -> impl Iterator<Item = (FeedId, &[u8])> + '_ {
        let ids = (0..self.table.len()).flat_map(|b| self.table.raw(b).as_chunks::<ID>().0);
        ids.zip(self.keyed.entries())
            .map(|(id, (_, body))| (FeedId(*id), body))
    }

    /// The edges of an entry's body (as [`Stored::entries`] gives it), by rank.
    pub(super) fn decode(&self, body: &[u8]) -> Result<Edges<u32>, ViewDataError> {
        decode_body(body, self.feeds)
    }

    /// Checks every block not checked yet.
    pub(super) fn verify(&self) -> Result<(), ViewDataError> {
        (0..self.table.len()).try_for_each(|b| self.table_block(b).map(drop))?;
        self.keyed.verify()
    }

    /// Marks every block checked (the file was just written from this process's state).
    pub(super) fn trust(&self) {
        self.table.trust();
        self.keyed.trust();
    }
}

/// Writes the feed table of a payload (feeds in increasing order) to a [`Bulk`].
pub(super) struct TableWriter<'b> {
    blocks: BlockWriter<'b>,
    feeds: u64,
    firsts: Vec<FeedId>,
}

impl<'b> TableWriter<'b> {
    /// A writer whose blocks go to `bulk` (empty so far).
    pub(super) fn new(bulk: &'b mut Bulk) -> Self {
        Self {
            blocks: BlockWriter::new(bulk, TABLE_BLOCK * ID),
            feeds: 0,
            firsts: Vec::new(),
        }
    }

    /// Adds the next feed; it gets the next rank.
    pub(super) fn push(&mut self, feed: &FeedId) {
        if self.feeds.is_multiple_of(TABLE_BLOCK as u64) {
            self.firsts.push(*feed);
        }
        self.blocks.put(&feed.0);
        self.feeds += 1;
    }

    /// Closes the table; the entries follow it.
    pub(super) fn finish(self) -> FileWriter<'b> {
        let (bulk, crcs) = self.blocks.finish_into();
        let mut head = Vec::new();
        put_var(&mut head, self.feeds);
        for (first, crc) in self.firsts.iter().zip(crcs) {
            head.extend_from_slice(&first.0);
            head.extend_from_slice(&crc.to_le_bytes());
        }
        FileWriter {
            keyed: KeyedWriter::new(head, bulk),
            next: 0,
        }
    }
}

/// Writes the entries of a payload after its feed table, one per rank in order.
pub(super) struct FileWriter<'b> {
    keyed: KeyedWriter<'b>,
    next: u32,
}

impl FileWriter<'_> {
    /// Adds the next rank's entry with its encoded body.
    pub(super) fn push(&mut self, body: &[u8]) {
        self.keyed.push(&self.next.to_be_bytes(), body);
        self.next += 1;
    }

    /// The payload's head (the two directories; the blocks are in the bulk).
    pub(super) fn finish(self) -> Vec<u8> {
        self.keyed.finish()
    }
}
