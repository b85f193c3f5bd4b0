//! The keys view: message id → log offset.
//!
//! It stores only the first eight bytes of each id (16 bytes per message on disk); the
//! database confirms a hit by comparing the full id in the record header, so a prefix
//! collision costs one extra record read, never a wrong answer.
//!
//! The view answers from its file in place: the sorted (prefix, offset) pairs are read
//! through the file's mapping, in blocks of [`BLOCK`] pairs that each carry their own CRC,
//! checked the first time a lookup lands in them. Opening a store therefore reads a small
//! directory (each block's first prefix and CRC), not the whole view, and the pairs stay out
//! of the process's anonymous memory. Only what was applied since the file was written is held
//! in memory, and a writer drops it when it writes the file again ([`View::stored`]).

use std::collections::HashMap;

use sluice_msg::MsgId;

use crate::codec::{RandomKeys, Reader, Writer};
use crate::inplace::{BlockWriter, Blocks, padded_crcs, put_crcs};
use crate::view::{Indexed, View, ViewDataError};
use crate::viewfile::{Bulk, Payload};

/// Pairs per checked block of the file (16 KiB).
pub const BLOCK: usize = 1024;
/// Bytes per (prefix, offset) pair.
const PAIR: usize = 16;
/// Bytes of the payload's fixed fields: pairs, collisions, block size, blocks.
const FIXED: usize = 4 * 8;

/// Message id prefix → offsets. Most prefixes map to one offset; collisions go to `extra`.
///
/// The sorted pairs of the loaded file (`base`) are read in place; prefixes applied after
/// that go to a hash map, without a look into `base`: a prefix may be in both (a collision
/// of a new message with a stored one), and lookups read both. Such pairs are told apart
/// when the file is written, where the two sorted runs meet anyway: the older offset stays
/// in the run and the newer one joins `extra`. Looking every applied prefix up in the file
/// was a random read into a file that grows with the store (≈ 5 % of a 1M-message rebuild).
#[derive(Debug, Default)]
pub struct KeysView {
    base: Base,
    first: HashMap<u64, u64, RandomKeys>,
    extra: Vec<(u64, u64)>,
}

/// The sorted run of first offsets in a loaded file, read in place block by block.
#[derive(Debug, Default)]
struct Base {
    /// Number of pairs.
    len: usize,
    /// The first prefix of each block (strictly increasing).
    firsts: Vec<u64>,
    blocks: Blocks,
}

/// The id prefix the keys view is keyed on.
fn prefix(id: &MsgId) -> u64 {
    let mut b = [0; 8];
    b.copy_from_slice(&id.0[..8]);
    u64::from_le_bytes(b)
}

fn le_u64(bytes: &[u8], at: usize) -> u64 {
    let mut b = [0; 8];
    b.copy_from_slice(&bytes[at..at + 8]);
    u64::from_le_bytes(b)
}

impl Base {
    /// Reads the directory of a payload (see `views/FORMAT.md`); the collisions are returned.
    fn load(payload: Payload) -> Result<(Self, Vec<(u64, u64)>), ViewDataError> {
        let bytes = payload.bytes();
        let mut r = Reader::new(bytes);
        let len = r.count(PAIR)?;
        let n_extra = r.count(PAIR)?;
        let block = r.u64()?;
        let n_blocks = r.count(8 + 4)?;
        if block != BLOCK as u64 || n_blocks != len.div_ceil(BLOCK) {
            return Err(ViewDataError(format!(
                "{n_blocks} blocks of {block} pairs for {len} pairs"
            )));
        }
        let firsts: Vec<u64> = (0..n_blocks).map(|_| r.u64()).collect::<Result<_, _>>()?;
        let crcs = r.bytes(padded_crcs(n_blocks))?[..n_blocks * 4]
            .chunks_exact(4)
            .map(|c| u32::from_le_bytes(c.try_into().unwrap_or_default()))
            .collect();
        let extra = (0..n_extra)
            .map(|_| Ok((r.u64()?, r.u64()?)))
            .collect::<Result<Vec<_>, ViewDataError>>()?;
        let at = checked_len(len, n_extra);
        if bytes.len() != at + len * PAIR {
            return Err(ViewDataError(format!(
                "{} bytes for {len} pairs after {at}",
                bytes.len()
            )));
        }
        if firsts.windows(2).any(|w| w[0] >= w[1]) {
            return Err(ViewDataError("block directory out of order".into()));
        }
        let starts = block_starts(at, len);
        let blocks = Blocks::new("keys", payload, starts, crcs)?;
        Ok((
            Self {
                len,
                firsts,
                blocks,
            },
            extra,
        ))
    }

    /// Block `i`'s pairs, checked (CRC, order, first prefix) on first use.
    fn block(&self, i: usize) -> Result<&[u8], ViewDataError> {
        let first = self.firsts[i];
        self.blocks.get(i, |bytes| block_is_valid(bytes, first))
    }

    /// The offset stored under prefix `p`, looking only into the one block that can hold it.
    fn get(&self, p: u64) -> Result<Option<u64>, ViewDataError> {
        let Some(i) = self.firsts.partition_point(|&f| f <= p).checked_sub(1) else {
            return Ok(None);
        };
        let block = self.block(i)?;
        let at = find_in_block(block, p);
        let hit = at * PAIR < block.len() && le_u64(block, at * PAIR) == p;
        Ok(hit.then(|| le_u64(block, at * PAIR + 8)))
    }

    /// Checks every block not checked yet.
    fn verify(&self) -> Result<(), ViewDataError> {
        (0..self.blocks.len()).try_for_each(|i| self.block(i).map(drop))
    }

    /// Every pair, in order (blocks failing their check are read as they are: callers that
    /// must not carry damage forward call [`Base::verify`] first).
    fn pairs(&self) -> impl Iterator<Item = (u64, u64)> + '_ {
        (0..self.blocks.len()).flat_map(|i| {
            self.blocks
                .raw(i)
                .chunks_exact(PAIR)
                .map(|c| (le_u64(c, 0), le_u64(c, 8)))
        })
    }
}

/// The index of the first pair of `block` (sorted by prefix) whose prefix is not below `p`.
/// Prefixes are the first bytes of hashes, spread evenly, so the search starts where `p`
/// would sit if they were evenly spaced and steps from there (one or two cache lines instead
/// of a binary search's ten); it is only ever a starting point, so any input gives the right
/// answer, skewed ones just more slowly.
fn find_in_block(block: &[u8], p: u64) -> usize {
    let n = block.len() / PAIR;
    let prefix = |i: usize| le_u64(block, i * PAIR);
    if n == 0 || p <= prefix(0) {
        return 0;
    }
    let (first, last) = (prefix(0), prefix(n - 1));
    if p > last {
        return n;
    }
    // first < p <= last here, so last > first.
    let guess = u128::from(p - first) * (n as u128 - 1) / u128::from(last - first);
    let mut at = usize::try_from(guess).unwrap_or(n - 1).min(n - 1);
    // Invariant afterwards: prefix(at - 1) < p <= prefix(at).
    while prefix(at) < p {
        at += 1;
    }
    while at > 0 && prefix(at - 1) >= p {
        at -= 1;
    }
    at
}

/// Whether a block's pairs are sorted with distinct prefixes and start at `first`.
fn block_is_valid(bytes: &[u8], first: u64) -> bool {
    let sorted = (PAIR..bytes.len())
        .step_by(PAIR)
        .all(|at| le_u64(bytes, at - PAIR) < le_u64(bytes, at));
    sorted && bytes.len() >= PAIR && le_u64(bytes, 0) == first
}

/// Where each block of `len` pairs starting at byte `at` begins (and the last one ends).
fn block_starts(at: usize, len: usize) -> Vec<usize> {
    let blocks = len.div_ceil(BLOCK);
    (0..=blocks)
        .map(|i| at + (i * BLOCK).min(len) * PAIR)
        .collect()
}

/// Where the pairs start: after the fixed fields, the directory and the collisions, all of
/// which the file checksum covers.
fn checked_len(len: usize, n_extra: usize) -> usize {
    let blocks = len.div_ceil(BLOCK);
    FIXED + blocks * 8 + padded_crcs(blocks) + n_extra * PAIR
}

impl KeysView {
    /// An empty view.
    pub fn new() -> Self {
        Self::default()
    }

    /// Offsets of records whose id shares `id`'s prefix (confirm with the record's id); an
    /// error when the block of the view file that would hold it is damaged.
    pub fn candidates(&self, id: &MsgId) -> Result<impl Iterator<Item = u64> + '_, ViewDataError> {
        let p = prefix(id);
        let extra = self.extra.iter().filter(move |(q, _)| *q == p);
        let applied = self.first.get(&p).copied();
        Ok(self
            .base
            .get(p)?
            .into_iter()
            .chain(applied)
            .chain(extra.map(|&(_, o)| o)))
    }

    /// Number of messages indexed.
    pub fn len(&self) -> usize {
        self.base.len + self.first.len() + self.extra.len()
    }

    /// Whether no message is indexed.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The first (oldest) offset stored under prefix `p`.
    fn offset_of(&self, p: u64) -> Result<Option<u64>, ViewDataError> {
        let applied = self.first.get(&p).copied();
        Ok(match (self.base.get(p)?, applied) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        })
    }

    /// Records `offset` under `p`: one hash lookup, `first` holds the prefix already (a
    /// collision among applied messages) or takes it now. The file is not read (see the
    /// type's docs).
    fn insert(&mut self, p: u64, offset: u64) {
        let existing = *self.first.entry(p).or_insert(offset);
        if existing != offset {
            self.extra.push((p, offset));
        }
    }

    /// Every (prefix, first offset) pair, sorted by prefix: the file's, read in place, merged
    /// with those applied since. A prefix in both keeps the file's offset (the older: the log
    /// only grows); the applied one goes to `moved`.
    fn sorted_pairs<'a>(
        &'a self,
        moved: &'a mut Vec<(u64, u64)>,
    ) -> impl Iterator<Item = (u64, u64)> + 'a {
        let applied = sort_by_prefix(self.first.iter().map(|(&p, &o)| (p, o)));
        let (mut a, mut b) = (self.base.pairs().peekable(), applied.into_iter().peekable());
        std::iter::from_fn(move || match (a.peek().copied(), b.peek().copied()) {
            (Some(x), Some(y)) if x.0 == y.0 => {
                b.next();
                if x.1 != y.1 {
                    moved.push(y);
                }
                a.next()
            }
            (Some(x), Some(y)) if x > y => b.next(),
            (Some(_), _) => a.next(),
            (None, _) => b.next(),
        })
    }

    /// Every collision as the file keeps it: each pair whose prefix holds an older offset,
    /// in log order, whether it collided before the file was loaded, among applied messages
    /// or with the file when it is written (`moved`). So a file is the same whenever it is
    /// written. A pair applied twice is kept once (collisions are rare: the look at the run
    /// for each costs nothing).
    fn collisions(&self, moved: Vec<(u64, u64)>) -> Vec<(u64, u64)> {
        let mut all: Vec<(u64, u64)> = self.extra.iter().copied().chain(moved).collect();
        all.sort_unstable_by_key(|&(p, o)| (o, p));
        all.dedup();
        all.retain(|&(p, o)| self.offset_of(p).ok().flatten() != Some(o));
        all
    }
}

/// Sorts (prefix, offset) pairs with distinct prefixes. Prefixes are the first bytes of
/// hashes, so they spread evenly: one counting pass deals them into buckets of about four by
/// their top bits, and each bucket is sorted on its own (a skewed input only makes some
/// buckets bigger, never the sort worse than `sort_unstable`'s). The pairs are read twice
/// (counted, then dealt) straight from where they are held, so the sorted copy is the only
/// one made.
fn sort_by_prefix<I>(pairs: I) -> Vec<(u64, u64)>
where
    I: ExactSizeIterator<Item = (u64, u64)> + Clone,
{
    if pairs.len() < 1024 {
        let mut pairs: Vec<(u64, u64)> = pairs.collect();
        pairs.sort_unstable();
        return pairs;
    }
    let bits = (pairs.len() / 4).ilog2();
    let bucket = |p: u64| usize::try_from(p >> (64 - bits)).unwrap_or(usize::MAX);
    let mut starts = vec![0usize; (1 << bits) + 1];
    for (p, _) in pairs.clone() {
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
        2
    }
    fn apply(&mut self, msg: &Indexed<'_>) {
        self.insert(prefix(&msg.id), msg.offset);
    }
    fn encode_parts(&self, bulk: &mut Bulk) -> Vec<u8> {
        let mut firsts = Vec::with_capacity((self.base.len + self.first.len()).div_ceil(BLOCK));
        let mut run = BlockWriter::new(bulk, BLOCK * PAIR);
        let mut moved = Vec::new();
        let mut len = 0;
        for (i, (p, o)) in self.sorted_pairs(&mut moved).enumerate() {
            if i % BLOCK == 0 {
                firsts.push(p);
            }
            let mut pair = [0; PAIR];
            pair[..8].copy_from_slice(&p.to_le_bytes());
            pair[8..].copy_from_slice(&o.to_le_bytes());
            run.put(&pair);
            len = i + 1;
        }
        let crcs = run.finish();
        let extra = self.collisions(moved);
        let blocks = firsts.len();
        let mut w = Writer::with_capacity(checked_len(len, extra.len()));
        for n in [len, extra.len(), BLOCK, blocks] {
            w.u64(n as u64);
        }
        firsts.into_iter().for_each(|p| w.u64(p));
        put_crcs(&mut w, &crcs);
        for (p, o) in extra {
            w.u64(p);
            w.u64(o);
        }
        w.0
    }
    fn decode(&mut self, bytes: &[u8]) -> Result<(), ViewDataError> {
        self.load(Payload::owned(bytes.to_vec()))
    }
    fn load(&mut self, payload: Payload) -> Result<(), ViewDataError> {
        let (base, extra) = Base::load(payload)?;
        self.clear();
        self.base = base;
        self.extra = extra;
        Ok(())
    }
    fn verify(&self) -> Result<(), ViewDataError> {
        self.base.verify()
    }
    fn reads_in_place(&self) -> bool {
        true
    }
    fn trust(&self) {
        self.base.blocks.trust();
    }
    fn clear(&mut self) {
        self.base = Base::default();
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
    use crate::view::testing::reloaded as loaded;

    fn get(view: &KeysView, p: u64) -> Option<u64> {
        view.offset_of(p).expect("no damage")
    }

    /// The candidates of the ids with prefix `p`, sorted.
    fn sorted_candidates(view: &KeysView, p: u64) -> Vec<u64> {
        let mut id = MsgId([0; 32]);
        id.0[..8].copy_from_slice(&p.to_le_bytes());
        let mut found: Vec<u64> = view.candidates(&id).expect("no damage").collect();
        found.sort_unstable();
        found
    }

    #[test]
    fn the_search_in_a_block_finds_what_a_binary_search_finds() {
        let mut x: u64 = 0x2545_F491_4F6C_DD1D;
        let mut next = || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        let even: Vec<u64> = (0..1024).map(|_| next()).collect();
        let skewed: Vec<u64> = (0..1024u64).map(|i| i * i * i).chain([u64::MAX]).collect();
        let runs: Vec<u64> = (0..600u64).chain(1 << 60..(1 << 60) + 400).collect();
        for mut prefixes in [even, skewed, runs, vec![7], vec![]] {
            prefixes.sort_unstable();
            prefixes.dedup();
            let block: Vec<u8> = prefixes
                .iter()
                .flat_map(|p| [p.to_le_bytes(), 0u64.to_le_bytes()].concat())
                .collect();
            let mut probes: Vec<u64> = prefixes
                .iter()
                .flat_map(|&p| [p, p.wrapping_sub(1), p.wrapping_add(1)])
                .collect();
            probes.extend([0, 1, u64::MAX, u64::MAX / 2]);
            probes.extend((0..200).map(|_| next()));
            for p in probes {
                let want = prefixes.partition_point(|&q| q < p);
                assert_eq!(find_in_block(&block, p), want, "prefix {p:#x}");
            }
        }
    }

    /// `n` pseudo-random distinct prefixes with offsets 0.., plus the two extremes.
    fn filled(n: u64) -> (KeysView, Vec<(u64, u64)>) {
        let mut view = KeysView::new();
        let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
        let mut all = Vec::new();
        for o in 0..n {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            view.insert(x, o);
            all.push((x, o));
        }
        for (p, o) in [(0, 9999), (u64::MAX, 8888)] {
            view.insert(p, o);
            all.push((p, o));
        }
        (view, all)
    }

    #[test]
    fn loaded_and_applied_prefixes_answer_alike_and_encode_the_same() {
        let mut view = KeysView::new();
        for (p, o) in [(9, 100), (3, 200), (7, 300), (3, 400), (3, 200)] {
            view.insert(p, o);
        }
        let mut back = loaded(&view);
        assert_eq!(back.encode(), view.encode());
        assert_eq!((back.base.len, back.first.len(), back.len()), (3, 0, 4));
        // New prefixes after loading, one colliding with a loaded one, one between two.
        for v in [&mut view, &mut back] {
            v.insert(5, 500);
            v.insert(9, 600);
            v.insert(9, 100);
        }
        assert_eq!(back.encode(), view.encode());
        assert_eq!(get(&back, 5), Some(500));
        assert_eq!(get(&back, 9), Some(100));
        assert_eq!(get(&back, 4), None);
        assert_eq!(loaded(&back).encode(), view.encode());
        let ids = |v: &KeysView, p: u64| {
            let mut found = sorted_candidates(v, p);
            found.dedup();
            found
        };
        assert_eq!(ids(&back, 9), vec![100, 600]);
        assert_eq!(ids(&loaded(&back), 3), vec![200, 400]);
    }

    /// Applied prefixes that collide with the file's are only told apart when the file is
    /// written: whatever points the file is written at, it comes out the same as when every
    /// pair was applied at once, and every offset is a candidate of its prefix throughout.
    #[test]
    fn files_written_at_any_points_are_the_same_despite_collisions() {
        let mut next = crate::view::testing::xorshift(0x51ED_2701_A3C4_9B6F);
        // 3,000 offsets over 700 prefixes (spread over the whole range, so several blocks):
        // most prefixes collide, across the file and among applied pairs alike.
        let prefix_of = |k: u64| k.wrapping_mul(0x9E37_79B9_7F4A_7C15);
        let pairs: Vec<(u64, u64)> = (0..3000).map(|o| (prefix_of(next(700)), o)).collect();
        let mut whole = KeysView::new();
        pairs.iter().for_each(|&(p, o)| whole.insert(p, o));
        let want = whole.encode();
        for round in 0..6 {
            let mut cuts: Vec<usize> = (0..=round).map(|_| next(3000) as usize).collect();
            cuts.sort_unstable();
            let mut view = KeysView::new();
            for (i, &(p, o)) in pairs.iter().enumerate() {
                if cuts.contains(&i) {
                    view = loaded(&view);
                }
                view.insert(p, o);
            }
            assert_eq!(view.encode(), want, "cut at {cuts:?}");
            // The collisions keep log order, as a view that never wrote its file holds them
            // (and as files written before collisions were told apart at writing have them).
            assert_eq!(loaded(&view).extra, whole.extra);
            assert_eq!(view.len(), pairs.len());
            for k in 0..700 {
                let p = prefix_of(k);
                let mut all: Vec<u64> = pairs.iter().filter(|x| x.0 == p).map(|x| x.1).collect();
                all.sort_unstable();
                assert_eq!(sorted_candidates(&view, p), all, "prefix {k}");
                assert_eq!(get(&view, p), all.first().copied());
            }
        }
    }

    #[test]
    fn lookups_find_every_loaded_prefix_across_blocks() {
        let (view, all) = filled(5000);
        let back = loaded(&view);
        assert_eq!(back.base.firsts.len(), 5002usize.div_ceil(BLOCK));
        for (p, o) in all {
            assert_eq!(get(&back, p), Some(o));
            if p != 0 && p != u64::MAX {
                assert_eq!(get(&back, p + 1), None);
            }
        }
        back.verify().expect("every block checks");
    }

    #[test]
    fn a_damaged_block_is_an_error_never_a_wrong_answer() {
        let (view, all) = filled(3000);
        let mut bytes = view.encode();
        let pairs_at = view.encode_parts(&mut Bulk::memory()).len();
        assert!(pairs_at < 200, "the checked part is a small directory");
        // Flip one offset byte in the second block's pairs.
        bytes[pairs_at + BLOCK * PAIR + 5 * PAIR + 8] ^= 0x40;
        let mut back = KeysView::new();
        back.decode(&bytes).expect("the directory still decodes");
        let second = |&&(p, _): &&(u64, u64)| back.base.firsts[1] <= p && p < back.base.firsts[2];
        let (hit, miss) = (
            all.iter().find(second).expect("a prefix in block 1"),
            all.iter()
                .find(|&&(p, _)| p < back.base.firsts[1])
                .expect("one in block 0"),
        );
        assert_eq!(get(&back, miss.0), Some(miss.1));
        let err = back.offset_of(hit.0).expect_err("damage is reported");
        assert!(err.to_string().contains("block 1"), "{err}");
        assert!(back.verify().is_err());
        // Damage in the checked part is the file checksum's job; a bad directory is refused.
        let mut dir = view.encode();
        dir[FIXED..FIXED + 8].copy_from_slice(&u64::MAX.to_le_bytes());
        assert!(KeysView::new().decode(&dir).is_err());
    }

    #[test]
    fn a_view_switched_to_its_written_file_keeps_every_answer() {
        let (mut view, all) = filled(2500);
        let mut other = KeysView::new();
        other
            .stored(Payload::owned(view.encode()))
            .expect("switches");
        assert_eq!((other.first.len(), other.len()), (0, all.len()));
        assert!(other.base.verify().is_ok(), "a stored file is trusted");
        view.stored(Payload::owned(view.encode()))
            .expect("switches");
        for (p, o) in &all {
            assert_eq!(get(&view, *p), Some(*o));
        }
        // A damaged file is refused and the state kept.
        let before = view.encode();
        assert!(view.stored(Payload::owned(vec![1, 2, 3])).is_err());
        assert_eq!(view.encode(), before);
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
        assert_eq!(sort_by_prefix(pairs.iter().copied()), want);
        assert_eq!(
            sort_by_prefix([(3, 1), (1, 2)].into_iter()),
            vec![(1, 2), (3, 1)]
        );
    }
}
