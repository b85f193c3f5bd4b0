//! The feeds view: author → sequence → log offset (the latest entry gives the feed's state
//! for validation and replication).

use std::collections::HashMap;

use sluice_msg::FeedId;

use crate::codec::{RandomKeys, Reader, Writer};
use crate::view::{Indexed, View, ViewDataError};

/// One feed's offsets; `offsets[i]` holds sequence `first + i`.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct FeedOffsets {
    /// Sequence of `offsets[0]` (1 unless the feed was stored from a later point).
    pub first: u64,
    /// Offsets in sequence order.
    pub offsets: Vec<u64>,
}

impl FeedOffsets {
    /// The latest sequence stored, if any.
    pub fn latest_seq(&self) -> Option<u64> {
        (!self.offsets.is_empty()).then(|| self.first + self.offsets.len() as u64 - 1)
    }
    /// The offset of `seq`, if stored.
    pub fn offset_of(&self, seq: u64) -> Option<u64> {
        let i = usize::try_from(seq.checked_sub(self.first)?).ok()?;
        self.offsets.get(i).copied()
    }
}

/// Every feed's offsets.
#[derive(Debug, Default)]
pub struct FeedsView {
    feeds: HashMap<FeedId, FeedOffsets, RandomKeys>,
}

impl FeedsView {
    /// An empty view.
    pub fn new() -> Self {
        Self::default()
    }
    /// One feed's offsets.
    pub fn feed(&self, author: &FeedId) -> Option<&FeedOffsets> {
        self.feeds.get(author)
    }
    /// Every stored feed with its latest sequence, in feed id order.
    pub fn latest_all(&self) -> Vec<(FeedId, u64)> {
        let mut out: Vec<_> = self
            .feeds
            .iter()
            .filter_map(|(f, o)| Some((*f, o.latest_seq()?)))
            .collect();
        out.sort_unstable();
        out
    }
}

impl View for FeedsView {
    fn name(&self) -> &'static str {
        "feeds"
    }
    fn version(&self) -> u32 {
        1
    }
    fn apply(&mut self, msg: &Indexed<'_>) {
        let feed = self.feeds.entry(msg.author).or_default();
        if feed.offsets.is_empty() {
            feed.first = msg.sequence;
        }
        // Ingest appends each feed in sequence order, so anything else is not a successor.
        if msg.sequence == feed.first + feed.offsets.len() as u64 {
            feed.offsets.push(msg.offset);
        } else {
            tracing::warn!(
                sequence = msg.sequence,
                "feeds view: record out of sequence, skipped"
            );
        }
    }
    fn encode(&self) -> Vec<u8> {
        let mut ids: Vec<&FeedId> = self.feeds.keys().collect();
        ids.sort_unstable();
        let mut w = Writer::default();
        w.u64(ids.len() as u64);
        for id in ids {
            let feed = &self.feeds[id];
            w.bytes(&id.0);
            w.u64(feed.first);
            w.u64s(&feed.offsets);
        }
        w.0
    }
    fn decode(&mut self, bytes: &[u8]) -> Result<(), ViewDataError> {
        self.clear();
        let mut r = Reader::new(bytes);
        let n = r.count(48)?;
        self.feeds.reserve(n);
        for _ in 0..n {
            let id = FeedId(r.array32()?);
            let first = r.u64()?;
            self.feeds.insert(
                id,
                FeedOffsets {
                    first,
                    offsets: r.u64s()?,
                },
            );
        }
        r.finish()
    }
    fn clear(&mut self) {
        self.feeds.clear();
    }
    fn needs_content(&self) -> bool {
        false
    }
}
