//! The keys view: message id → log offset.
//!
//! It stores only the first eight bytes of each id (16 bytes per message on disk); the
//! database confirms a hit by comparing the full id in the record header, so a prefix
//! collision costs one extra record read, never a wrong answer.

use std::collections::HashMap;

use sluice_msg::MsgId;

use crate::codec::{RandomKeys, Reader, Writer};
use crate::view::{Indexed, View, ViewDataError};

/// Message id prefix → offsets. Most prefixes map to one offset; collisions go to `extra`.
///
/// What a view file held stays a sorted array (`base`, binary-searched), so loading the view is
/// one pass over the file with no hashing; prefixes applied after that go to a hash map.
/// A prefix is in `base` or in `first`, never both.
#[derive(Debug, Default)]
pub struct KeysView {
    base: Vec<(u64, u64)>,
    /// `base` cut by the top `bits` bits of the prefix (ids are hashes, so prefixes are
    /// uniform): bucket `b` is `base[starts[b]..starts[b + 1]]`, about four pairs.
    starts: Vec<usize>,
    bits: u32,
    first: HashMap<u64, u64, RandomKeys>,
    extra: Vec<(u64, u64)>,
}

/// The id prefix the keys view is keyed on.
fn prefix(id: &MsgId) -> u64 {
    let mut b = [0; 8];
    b.copy_from_slice(&id.0[..8]);
    u64::from_le_bytes(b)
}

impl KeysView {
    /// An empty view.
    pub fn new() -> Self {
        Self::default()
    }

    /// Offsets of records whose id shares `id`'s prefix (confirm with the record's id).
    pub fn candidates(&self, id: &MsgId) -> impl Iterator<Item = u64> + '_ {
        let p = prefix(id);
        let extra = self
            .extra
            .iter()
            .filter(move |(q, _)| *q == p)
            .map(|&(_, o)| o);
        self.offset_of(p).into_iter().chain(extra)
    }

    /// Number of messages indexed.
    pub fn len(&self) -> usize {
        self.base.len() + self.first.len() + self.extra.len()
    }

    /// Whether no message is indexed.
    pub fn is_empty(&self) -> bool {
        self.base.is_empty() && self.first.is_empty()
    }

    /// The first offset stored under prefix `p`.
    fn offset_of(&self, p: u64) -> Option<u64> {
        self.base_offset(p).or_else(|| self.first.get(&p).copied())
    }

    /// The first offset of prefix `p` in the loaded file's sorted run.
    fn base_offset(&self, p: u64) -> Option<u64> {
        let bucket = self.bucket(p);
        let run = match (self.starts.get(bucket), self.starts.get(bucket + 1)) {
            (Some(&lo), Some(&hi)) => &self.base[lo..hi],
            _ => &self.base[..],
        };
        let i = run.binary_search_by_key(&p, |&(q, _)| q).ok()?;
        Some(run[i].1)
    }

    /// The bucket of prefix `p` in `starts`.
    fn bucket(&self, p: u64) -> usize {
        match self.bits {
            0 => 0,
            bits => usize::try_from(p >> (64 - bits)).unwrap_or(usize::MAX),
        }
    }

    /// Builds `starts` over the sorted `base`: about four pairs per bucket.
    fn index_base(&mut self) {
        self.bits = (self.base.len() / 4).max(1).ilog2();
        let mut starts = vec![0; (1 << self.bits) + 1];
        for &(p, _) in &self.base {
            starts[self.bucket(p) + 1] += 1;
        }
        for b in 1..starts.len() {
            starts[b] += starts[b - 1];
        }
        self.starts = starts;
    }

    fn insert(&mut self, p: u64, offset: u64) {
        let existing = match self.base_offset(p) {
            Some(existing) => existing,
            // One hash lookup: `first` holds the prefix already, or takes it now.
            None => *self.first.entry(p).or_insert(offset),
        };
        if existing != offset {
            self.extra.push((p, offset));
        }
    }

    /// Every (prefix, first offset) pair, sorted by prefix.
    fn sorted_pairs(&self) -> Vec<(u64, u64)> {
        let applied = sort_by_prefix(self.first.iter().map(|(&p, &o)| (p, o)).collect());
        let mut pairs = Vec::with_capacity(self.base.len() + applied.len() + self.extra.len());
        let (mut a, mut b) = (self.base.iter().peekable(), applied.into_iter().peekable());
        while let (Some(&&x), Some(&y)) = (a.peek(), b.peek()) {
            if x <= y {
                pairs.push(x);
                a.next();
            } else {
                pairs.push(y);
                b.next();
            }
        }
        pairs.extend(a);
        pairs.extend(b);
        pairs
    }
}

/// Sorts (prefix, offset) pairs with distinct prefixes. Prefixes are the first bytes of
/// hashes, so they spread evenly: one counting pass deals them into buckets of about four by
/// their top bits, and each bucket is sorted on its own (a skewed input only makes some
/// buckets bigger, never the sort worse than `sort_unstable`'s).
fn sort_by_prefix(pairs: Vec<(u64, u64)>) -> Vec<(u64, u64)> {
    if pairs.len() < 1024 {
        let mut pairs = pairs;
        pairs.sort_unstable();
        return pairs;
    }
    let bits = (pairs.len() / 4).ilog2();
    let bucket = |p: u64| usize::try_from(p >> (64 - bits)).unwrap_or(usize::MAX);
    let mut starts = vec![0usize; (1 << bits) + 1];
    for &(p, _) in &pairs {
        starts[bucket(p) + 1] += 1;
    }
    for b in 1..starts.len() {
        starts[b] += starts[b - 1];
    }
    let mut fill = starts[..starts.len() - 1].to_vec();
    let mut out = vec![(0, 0); pairs.len()];
    for pair in pairs {
        let at = &mut fill[bucket(pair.0)];
        out[*at] = pair;
        *at += 1;
    }
    for run in starts.windows(2) {
        out[run[0]..run[1]].sort_unstable();
    }
    out
}

impl View for KeysView {
    fn name(&self) -> &'static str {
        "keys"
    }
    fn version(&self) -> u32 {
        1
    }
    fn apply(&mut self, msg: &Indexed<'_>) {
        self.insert(prefix(&msg.id), msg.offset);
    }
    fn encode(&self) -> Vec<u8> {
        let mut pairs = self.sorted_pairs();
        pairs.extend_from_slice(&self.extra);
        let mut w = Writer::with_capacity(8 + pairs.len() * 16);
        w.u64(pairs.len() as u64);
        for (p, o) in pairs {
            w.u64(p);
            w.u64(o);
        }
        w.0
    }
    fn decode(&mut self, bytes: &[u8]) -> Result<(), ViewDataError> {
        self.clear();
        let mut r = Reader::new(bytes);
        let n = r.count(16)?;
        // The file holds the sorted first offsets, then the collisions: the sorted run goes
        // to `base` as it is; anything after it (or a file not written that way) is inserted.
        self.base.reserve_exact(n);
        let mut rest = 0;
        for i in 0..n {
            let (p, o) = (r.u64()?, r.u64()?);
            if self.base.last().is_none_or(|&(q, _)| q < p) {
                self.base.push((p, o));
            } else {
                rest = n - i - 1;
                self.insert(p, o);
                break;
            }
        }
        self.index_base();
        for _ in 0..rest {
            let (p, o) = (r.u64()?, r.u64()?);
            self.insert(p, o);
        }
        r.finish()
    }
    fn clear(&mut self) {
        self.base = Vec::new();
        self.starts = Vec::new();
        self.bits = 0;
        self.first.clear();
        self.extra.clear();
    }
    fn needs_content(&self) -> bool {
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn loaded(view: &KeysView) -> KeysView {
        let mut back = KeysView::new();
        back.decode(&view.encode()).expect("decodes");
        back
    }

    #[test]
    fn loaded_and_applied_prefixes_answer_alike_and_encode_the_same() {
        let mut view = KeysView::new();
        for (p, o) in [(9, 100), (3, 200), (7, 300), (3, 400), (3, 200)] {
            view.insert(p, o);
        }
        let mut back = loaded(&view);
        assert_eq!(back.encode(), view.encode());
        assert_eq!((back.base.len(), back.first.len(), back.len()), (3, 0, 4));
        // New prefixes after loading, one colliding with a loaded one, one between two.
        for v in [&mut view, &mut back] {
            v.insert(5, 500);
            v.insert(9, 600);
            v.insert(9, 100);
        }
        assert_eq!(back.encode(), view.encode());
        assert_eq!(back.offset_of(5), Some(500));
        assert_eq!(back.offset_of(9), Some(100));
        assert_eq!(back.offset_of(4), None);
        assert_eq!(loaded(&back).encode(), view.encode());
    }

    #[test]
    fn bucketed_lookups_find_every_loaded_prefix() {
        let mut view = KeysView::new();
        let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
        let mut all = Vec::new();
        for o in 0..5000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            view.insert(x, o);
            all.push((x, o));
        }
        view.insert(0, 9999);
        view.insert(u64::MAX, 8888);
        let back = loaded(&view);
        assert!(back.bits >= 10, "{} bits for 5,002 pairs", back.bits);
        for (p, o) in all {
            assert_eq!(back.offset_of(p), Some(o));
            assert_eq!(back.offset_of(p.wrapping_add(1)), None);
        }
        assert_eq!(
            (back.offset_of(0), back.offset_of(u64::MAX)),
            (Some(9999), Some(8888))
        );
    }

    #[test]
    fn bucket_sort_agrees_with_sort_unstable() {
        let mut x: u64 = 0x2545_F491_4F6C_DD1D;
        let mut pairs: Vec<(u64, u64)> = (0..20_000)
            .map(|o| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                (x, o)
            })
            .collect();
        // A skewed run: many prefixes sharing their top bits land in one bucket.
        pairs.extend((0..3000).map(|i| (0xFFFF_0000_0000_0000 | (i * 7919), i)));
        let mut want = pairs.clone();
        want.sort_unstable();
        assert_eq!(sort_by_prefix(pairs), want);
        assert_eq!(sort_by_prefix(vec![(3, 1), (1, 2)]), vec![(1, 2), (3, 1)]);
    }

    #[test]
    fn a_file_out_of_order_still_loads_every_pair() {
        let mut w = Writer::with_capacity(64);
        w.u64(3);
        for (p, o) in [(8, 1), (2, 2), (8, 3)] {
            w.u64(p);
            w.u64(o);
        }
        let mut view = KeysView::new();
        view.decode(&w.0).expect("decodes");
        assert_eq!(view.len(), 3);
        assert_eq!((view.offset_of(8), view.offset_of(2)), (Some(1), Some(2)));
        assert_eq!(view.extra, vec![(8, 3)]);
    }
}
