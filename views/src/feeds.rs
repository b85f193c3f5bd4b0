//! The feeds view: author → sequence → log offset (the latest entry gives the feed's state
//! for validation and replication).
//!
//! It answers from its file in place: a directory of feeds (by author: first sequence, count,
//! where its offsets start), covered by the file checksum, then every feed's offsets as one run
//! of u64s checked block by block when first read. Offsets applied since the file was written
//! are held in memory, per feed, until the next write.

use std::cmp::Ordering;
use std::collections::HashMap;
use std::sync::Arc;

use sluice_msg::FeedId;

use crate::codec::{RandomKeys, Reader, Writer};
use crate::inplace::{BlockWriter, RUN_BLOCK, Run, padded_crcs, put_crcs};
use crate::view::{Indexed, View, ViewDataError};
use crate::viewfile::{Bulk, Payload};

/// Bytes of one directory entry: author, first sequence, count, start in the run.
const ENTRY: usize = 32 + 3 * 8;
/// Bytes of the payload's fixed fields: feeds, offsets, blocks.
const FIXED: usize = 3 * 8;

/// One feed's offsets; `offsets[i]` holds sequence `first + i`.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct FeedOffsets {
    /// Sequence of `offsets[0]` (1 unless the feed was stored from a later point).
    pub first: u64,
    /// Offsets in sequence order.
    pub offsets: Vec<u64>,
}

/// Where a feed's offsets are: first sequence, count, and its start in the file's run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Listed {
    first: u64,
    count: u64,
    start: usize,
}

/// The feeds of a loaded file: the directory and the run of offsets.
#[derive(Debug, Default)]
struct Stored {
    payload: Option<Payload>,
    feeds: usize,
    run: Run,
}

impl Stored {
    fn load(payload: Payload) -> Result<Self, ViewDataError> {
        let bytes = payload.bytes();
        let mut r = Reader::new(bytes);
        let feeds = r.count(ENTRY)?;
        let len = r.count(8)?;
        let n_blocks = r.count(4)?;
        if n_blocks != len.div_ceil(RUN_BLOCK) {
            return Err(ViewDataError(format!(
                "{n_blocks} blocks for {len} offsets"
            )));
        }
        let at = checked_len(feeds, n_blocks);
        if bytes.len() != at + len * 8 {
            return Err(ViewDataError("feeds file size does not add up".into()));
        }
        let crcs_at = FIXED + feeds * ENTRY;
        let crcs = bytes[crcs_at..crcs_at + n_blocks * 4]
            .chunks_exact(4)
            .map(|c| u32::from_le_bytes(c.try_into().unwrap_or_default()))
            .collect();
        let mut stored = Self {
            payload: Some(payload.clone()),
            feeds,
            run: Run::default(),
        };
        // The directory is small and checksummed: check it whole now.
        let mut next = 0usize;
        for i in 0..feeds {
            let (author, listed) = stored.entry(i);
            let ordered = i == 0 || stored.entry(i - 1).0 < author;
            if !ordered || listed.start != next {
                return Err(ViewDataError("feeds directory is inconsistent".into()));
            }
            next = next.saturating_add(usize::try_from(listed.count).unwrap_or(usize::MAX));
        }
        if next != len {
            return Err(ViewDataError(
                "feeds directory does not cover the offsets".into(),
            ));
        }
        stored.run = Run::new("feeds", payload, at, len, crcs)?;
        Ok(stored)
    }

    /// Directory entry `i`.
    fn entry(&self, i: usize) -> (FeedId, Listed) {
        let bytes = self.payload.as_ref().map_or(&[][..], Payload::bytes);
        let e = &bytes[FIXED + i * ENTRY..FIXED + (i + 1) * ENTRY];
        let u = |at: usize| u64::from_le_bytes(e[at..at + 8].try_into().unwrap_or_default());
        let mut author = [0; 32];
        author.copy_from_slice(&e[..32]);
        let listed = Listed {
            first: u(32),
            count: u(40),
            start: usize::try_from(u(48)).unwrap_or(usize::MAX),
        };
        (FeedId(author), listed)
    }

    /// The directory entry of `author`.
    fn find(&self, author: &FeedId) -> Option<Listed> {
        let (mut lo, mut hi) = (0, self.feeds);
        while lo < hi {
            let mid = (lo + hi) / 2;
            let (id, listed) = self.entry(mid);
            match id.cmp(author) {
                Ordering::Less => lo = mid + 1,
                Ordering::Greater => hi = mid,
                Ordering::Equal => return Some(listed),
            }
        }
        None
    }
}

/// Where the run of offsets starts: after the fixed fields, the directory and the CRCs.
fn checked_len(feeds: usize, blocks: usize) -> usize {
    FIXED + feeds * ENTRY + padded_crcs(blocks)
}

/// Author → offsets by sequence: read from the loaded file in place, plus what was applied
/// since, per feed (`tails[a].first` continues the file's run of `a`).
#[derive(Debug, Default)]
pub struct FeedsView {
    file: Arc<Stored>,
    tails: HashMap<FeedId, FeedOffsets, RandomKeys>,
}

impl FeedsView {
    /// An empty view.
    pub fn new() -> Self {
        Self::default()
    }

    /// A feed's first sequence and message count (file and memory together).
    fn extent(&self, author: &FeedId) -> Option<(u64, u64)> {
        let listed = self.file.find(author);
        let tail = self.tails.get(author);
        let first = listed.map(|l| l.first).or(tail.map(|t| t.first))?;
        let count = listed.map_or(0, |l| l.count) + tail.map_or(0, |t| t.offsets.len() as u64);
        Some((first, count))
    }

    /// Offsets of the messages `from..to` (indexes from the feed's first sequence).
    fn offsets(&self, author: &FeedId, from: u64, to: u64) -> Result<Vec<u64>, ViewDataError> {
        let listed = self.file.find(author);
        let in_file = listed.map_or(0, |l| l.count);
        let mut out = Vec::with_capacity(usize::try_from(to - from).unwrap_or(0));
        if let Some(l) = listed.filter(|_| from < in_file) {
            let index = |i: u64| l.start + usize::try_from(i).unwrap_or(usize::MAX);
            self.file
                .run
                .get(index(from), index(to.min(in_file)), &mut out)?;
        }
        if let Some(tail) = self.tails.get(author).filter(|_| to > in_file) {
            let index = |i: u64| usize::try_from(i.saturating_sub(in_file)).unwrap_or(usize::MAX);
            out.extend_from_slice(&tail.offsets[index(from)..index(to)]);
        }
        Ok(out)
    }

    /// The latest (sequence, offset) of `author`'s feed.
    pub fn last(&self, author: &FeedId) -> Result<Option<(u64, u64)>, ViewDataError> {
        let Some((first, count)) = self.extent(author).filter(|&(_, n)| n > 0) else {
            return Ok(None);
        };
        let offset = self.offsets(author, count - 1, count)?;
        Ok(offset.first().map(|&o| (first + count - 1, o)))
    }

    /// Up to `limit` offsets of `author` in sequence order from sequence `from_seq`; with
    /// `reverse`, newest first from `from_seq` down (`u64::MAX` = from the latest).
    pub fn range(
        &self,
        author: &FeedId,
        from_seq: u64,
        limit: usize,
        reverse: bool,
    ) -> Result<Vec<u64>, ViewDataError> {
        let Some((first, count)) = self.extent(author) else {
            return Ok(Vec::new());
        };
        let limit = u64::try_from(limit).unwrap_or(u64::MAX);
        if reverse {
            if from_seq < first || count == 0 {
                return Ok(Vec::new());
            }
            let end = (from_seq - first).min(count - 1) + 1;
            let mut out = self.offsets(author, end.saturating_sub(limit), end)?;
            out.reverse();
            Ok(out)
        } else {
            let start = from_seq.max(first) - first;
            if start >= count {
                return Ok(Vec::new());
            }
            self.offsets(author, start, start.saturating_add(limit).min(count))
        }
    }

    /// Every feed with its latest sequence, sorted by feed id.
    pub fn latest_all(&self) -> Vec<(FeedId, u64)> {
        let mut out: Vec<FeedId> = (0..self.file.feeds)
            .map(|i| self.file.entry(i).0)
            .chain(self.tails.keys().copied())
            .collect();
        out.sort_unstable();
        out.dedup();
        out.into_iter()
            .filter_map(|a| {
                let (first, count) = self.extent(&a)?;
                (count > 0).then(|| (a, first + count - 1))
            })
            .collect()
    }

    /// Every feed (sorted by author) with its first sequence and message count, file and
    /// memory together (the offsets are read one feed at a time, see `encode_parts`).
    fn merged(&self) -> Vec<(FeedId, u64, u64)> {
        let mut authors: Vec<FeedId> = self.tails.keys().copied().collect();
        authors.sort_unstable();
        let (mut file, mut memory) = (
            (0..self.file.feeds).peekable(),
            authors.into_iter().peekable(),
        );
        let mut out = Vec::with_capacity(self.file.feeds + self.tails.len());
        loop {
            let next_file = file.peek().map(|&i| self.file.entry(i).0);
            let author = match (next_file, memory.peek()) {
                (None, None) => break,
                (Some(f), Some(m)) if *m < f => memory.next(),
                (Some(f), Some(m)) if *m == f => {
                    memory.next();
                    file.next().map(|_| f)
                }
                (Some(f), _) => file.next().map(|_| f),
                (None, Some(_)) => memory.next(),
            };
            let Some(author) = author else { break };
            if let Some((first, count)) = self.extent(&author) {
                out.push((author, first, count));
            }
        }
        out
    }
}

impl View for FeedsView {
    fn name(&self) -> &'static str {
        "feeds"
    }
    fn version(&self) -> u32 {
        2
    }
    fn apply(&mut self, msg: &Indexed<'_>) {
        if !self.tails.contains_key(&msg.author) {
            let next = match self.file.find(&msg.author) {
                Some(l) => l.first + l.count,
                None => msg.sequence,
            };
            let tail = FeedOffsets {
                first: next,
                offsets: Vec::new(),
            };
            self.tails.insert(msg.author, tail);
        }
        let feed = self.tails.get_mut(&msg.author).expect("inserted above");
        if msg.sequence == feed.first + feed.offsets.len() as u64 {
            feed.offsets.push(msg.offset);
        } else {
            tracing::warn!(
                sequence = msg.sequence,
                "feeds view: record out of sequence, skipped"
            );
        }
    }
    fn encode_parts(&self, bulk: &mut Bulk) -> Vec<u8> {
        let feeds = self.merged();
        let len = usize::try_from(feeds.iter().map(|f| f.2).sum::<u64>()).expect("fits memory");
        let blocks = len.div_ceil(RUN_BLOCK);
        let mut w = Writer::with_capacity(checked_len(feeds.len(), blocks));
        for n in [feeds.len(), len, blocks] {
            w.u64(n as u64);
        }
        let mut start = 0;
        for &(author, first, count) in &feeds {
            w.bytes(&author.0);
            w.u64(first);
            w.u64(count);
            w.u64(start);
            start += count;
        }
        // One feed's offsets in memory at a time. A damaged block (not checked first) reads
        // as zeros here; the database checks every block before it writes a file.
        let mut run = BlockWriter::new(bulk, RUN_BLOCK * 8);
        for &(author, _, count) in &feeds {
            let mut offsets = self.offsets(&author, 0, count).unwrap_or_default();
            offsets.resize(usize::try_from(count).expect("fits memory"), 0);
            offsets.iter().for_each(|&o| run.put(&o.to_le_bytes()));
        }
        put_crcs(&mut w, &run.finish());
        w.0
    }
    fn decode(&mut self, bytes: &[u8]) -> Result<(), ViewDataError> {
        self.load(Payload::owned(bytes.to_vec()))
    }
    fn load(&mut self, payload: Payload) -> Result<(), ViewDataError> {
        let stored = Stored::load(payload)?;
        self.file = Arc::new(stored);
        self.tails.clear();
        Ok(())
    }
    fn verify(&self) -> Result<(), ViewDataError> {
        self.file.run.verify()
    }
    fn reads_in_place(&self) -> bool {
        true
    }
    fn trust(&self) {
        self.file.run.trust();
    }
    fn clear(&mut self) {
        self.file = Arc::default();
        self.tails.clear();
    }
    fn needs_content(&self) -> bool {
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::view::testing::{indexed, reloaded as loaded};

    fn msg(author: u8, sequence: u64, offset: u64) -> Indexed<'static> {
        indexed(offset, author, sequence, None)
    }

    #[test]
    fn loaded_and_applied_feeds_answer_alike_across_blocks() {
        let mut built = FeedsView::new();
        // Feed 1 long enough to span blocks; feed 2 from sequence 5; feed 3 short.
        for s in 1..=5000 {
            built.apply(&msg(1, s, 10 * s));
        }
        for s in 5..=9 {
            built.apply(&msg(2, s, 100_000 + s));
        }
        built.apply(&msg(3, 1, 7));
        let mut back = loaded(&built);
        assert_eq!(back.encode(), built.encode());
        for v in [&mut built, &mut back] {
            v.apply(&msg(1, 5001, 99_990));
            v.apply(&msg(4, 1, 99_991));
            v.apply(&msg(2, 11, 1)); // out of sequence: skipped
        }
        assert_eq!(back.encode(), built.encode());
        let a = FeedId([1; 32]);
        for v in [&built, &back, &loaded(&back)] {
            assert_eq!(v.last(&a).unwrap(), Some((5001, 99_990)));
            assert_eq!(
                v.range(&a, 2040, 20, false).unwrap(),
                (2040..2060).map(|s| 10 * s).collect::<Vec<_>>()
            );
            assert_eq!(
                v.range(&a, u64::MAX, 3, true).unwrap(),
                vec![99_990, 50_000, 49_990]
            );
            assert_eq!(v.range(&a, 2, 5, true).unwrap(), vec![20, 10]);
            assert_eq!(
                v.range(&FeedId([2; 32]), 1, 2, false).unwrap(),
                vec![100_005, 100_006]
            );
            assert_eq!(
                v.range(&FeedId([2; 32]), 3, 9, true).unwrap(),
                Vec::<u64>::new()
            );
            assert!(v.range(&a, 6000, 5, false).unwrap().is_empty());
            assert_eq!(
                v.latest_all(),
                vec![
                    (a, 5001),
                    (FeedId([2; 32]), 9),
                    (FeedId([3; 32]), 1),
                    (FeedId([4; 32]), 1)
                ]
            );
        }
    }

    #[test]
    fn a_damaged_block_is_an_error_and_a_bad_directory_is_refused() {
        let mut built = FeedsView::new();
        for s in 1..=5000 {
            built.apply(&msg(1, s, 10 * s));
        }
        let mut bytes = built.encode();
        let at = built.encode_parts(&mut Bulk::memory()).len();
        bytes[at + 8 * 4500 + 2] ^= 1; // an offset in the third block
        let mut back = FeedsView::new();
        back.decode(&bytes).expect("the directory is intact");
        let a = FeedId([1; 32]);
        assert_eq!(back.range(&a, 1, 2, false).unwrap(), vec![10, 20]);
        let err = back.last(&a).expect_err("damage is reported");
        assert!(
            err.to_string().contains("block 2 of the feeds view"),
            "{err}"
        );
        assert!(back.verify().is_err());
        let mut dir = built.encode();
        dir[FIXED + 40] ^= 1; // the first feed's count
        assert!(FeedsView::new().decode(&dir).is_err());
    }
}
