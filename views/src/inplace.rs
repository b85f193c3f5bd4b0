//! Parts of a view file read in place: a run of blocks, each with its own CRC32, checked the
//! first time it is read (so loading a view reads a small directory, not the whole file).

use std::sync::atomic::{AtomicU64, Ordering};

use crate::view::ViewDataError;
use crate::viewfile::{Bulk, Payload};

/// Blocks of a view file's payload; block `i` is `starts[i]..starts[i + 1]`.
#[derive(Debug, Default)]
pub(crate) struct Blocks {
    view: &'static str,
    payload: Option<Payload>,
    starts: Vec<usize>,
    crcs: Vec<u32>,
    /// One bit per block: checked already.
    checked: Box<[AtomicU64]>,
}

impl Blocks {
    /// The blocks of `payload` at `starts` (one more than blocks, increasing, within the
    /// payload) with their CRCs, none checked yet.
    pub(crate) fn new(
        view: &'static str,
        payload: Payload,
        starts: Vec<usize>,
        crcs: Vec<u32>,
    ) -> Result<Self, ViewDataError> {
        let fits = starts
            .last()
            .is_some_and(|&end| end <= payload.bytes().len());
        if crcs.len() + 1 != starts.len() || !fits || starts.windows(2).any(|w| w[0] > w[1]) {
            return Err(ViewDataError(format!(
                "{view} view: block directory does not fit the file"
            )));
        }
        let checked = (0..crcs.len().div_ceil(64))
            .map(|_| AtomicU64::new(0))
            .collect();
        Ok(Self {
            view,
            payload: Some(payload),
            starts,
            crcs,
            checked,
        })
    }

    /// Number of blocks.
    pub(crate) fn len(&self) -> usize {
        self.crcs.len()
    }

    /// Block `i`'s bytes as they are (see [`Blocks::get`] for checked ones).
    pub(crate) fn raw(&self, i: usize) -> &[u8] {
        match &self.payload {
            Some(p) => &p.bytes()[self.starts[i]..self.starts[i + 1]],
            None => &[],
        }
    }

    /// Block `i`, checked against its CRC and `valid` (the view's own test of a block's
    /// contents) the first time it is read.
    pub(crate) fn get(
        &self,
        i: usize,
        valid: impl FnOnce(&[u8]) -> bool,
    ) -> Result<&[u8], ViewDataError> {
        let bytes = self.raw(i);
        let (word, bit) = (&self.checked[i / 64], 1u64 << (i % 64));
        if word.load(Ordering::Acquire) & bit != 0 {
            return Ok(bytes);
        }
        if crc32fast::hash(bytes) != self.crcs[i] || !valid(bytes) {
            return Err(ViewDataError(format!(
                "block {i} of the {} view file fails its check",
                self.view
            )));
        }
        word.fetch_or(bit, Ordering::AcqRel);
        Ok(bytes)
    }

    /// Marks every block checked (the file was just written from this process's state).
    pub(crate) fn trust(&self) {
        self.checked
            .iter()
            .for_each(|w| w.store(u64::MAX, Ordering::Release));
    }
}

/// u64s per block of a [`Run`] (16 KiB).
pub(crate) const RUN_BLOCK: usize = 2048;

/// A run of little-endian u64s read in place, in checked blocks of [`RUN_BLOCK`].
#[derive(Debug, Default)]
pub(crate) struct Run {
    len: usize,
    blocks: Blocks,
}

impl Run {
    /// The `len` u64s at byte `at` of `payload`, with one CRC per block.
    pub(crate) fn new(
        view: &'static str,
        payload: Payload,
        at: usize,
        len: usize,
        crcs: Vec<u32>,
    ) -> Result<Self, ViewDataError> {
        let blocks = Blocks::new(view, payload, run_starts(at, len), crcs)?;
        Ok(Self { len, blocks })
    }

    /// Values `from..to`, checking the blocks they lie in.
    pub(crate) fn get(
        &self,
        from: usize,
        to: usize,
        out: &mut Vec<u64>,
    ) -> Result<(), ViewDataError> {
        let mut i = from;
        while i < to.min(self.len) {
            let block = i / RUN_BLOCK;
            let bytes = self.blocks.get(block, |_| true)?;
            let end = to.min((block + 1) * RUN_BLOCK).min(self.len);
            let local = &bytes[(i - block * RUN_BLOCK) * 8..(end - block * RUN_BLOCK) * 8];
            out.extend(
                local
                    .chunks_exact(8)
                    .map(|c| u64::from_le_bytes(c.try_into().unwrap_or_default())),
            );
            i = end;
        }
        Ok(())
    }

    /// Checks every block not checked yet.
    pub(crate) fn verify(&self) -> Result<(), ViewDataError> {
        (0..self.blocks.len()).try_for_each(|b| self.blocks.get(b, |_| true).map(drop))
    }

    /// Marks every block checked (the file was just written from this process's state).
    pub(crate) fn trust(&self) {
        self.blocks.trust();
    }
}

/// Where each block of a run of `len` u64s at byte `at` begins (and the last one ends).
pub(crate) fn run_starts(at: usize, len: usize) -> Vec<usize> {
    (0..=len.div_ceil(RUN_BLOCK))
        .map(|i| at + (i * RUN_BLOCK).min(len) * 8)
        .collect()
}

/// The CRC32 of each block of `bytes` cut at `starts` (as [`Blocks`] checks them).
#[cfg(test)]
fn block_crcs(bytes: &[u8], starts: &[usize]) -> Vec<u32> {
    starts
        .windows(2)
        .map(|w| crc32fast::hash(&bytes[w[0]..w[1]]))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocks_are_checked_once_and_damage_is_named() {
        let mut bytes = b"headerAAAABBBBBBCC".to_vec();
        let starts = vec![6, 10, 16, 18];
        let crcs = block_crcs(&bytes, &starts);
        bytes[12] ^= 1;
        let blocks =
            Blocks::new("test", Payload::owned(bytes), starts.clone(), crcs.clone()).expect("fits");
        assert_eq!(blocks.get(0, |_| true).expect("good"), b"AAAA");
        assert!(blocks.get(0, |_| false).is_ok(), "checked once only");
        let err = blocks.get(1, |_| true).expect_err("damaged");
        assert!(
            err.to_string().contains("block 1 of the test view"),
            "{err}"
        );
        assert!(
            blocks.get(2, |b| b == b"XX").is_err(),
            "the view's own test"
        );
        blocks.trust();
        assert!((0..3).all(|i| blocks.get(i, |_| false).is_ok()));
        let short = Payload::owned(vec![0; 17]);
        assert!(Blocks::new("test", short, starts, crcs).is_err());
    }
}

/// A block of a [`Keyed`] payload is closed once it holds this many bytes.
const KEYED_BLOCK: usize = 4096;

/// Entries (a fixed-size key and a body) sorted by key, read in place: a directory of blocks
/// (each one's first key, end and CRC32) that the file checksum covers, then the blocks. A
/// block is checked (CRC, key order, and each body by the view's test) when first read.
///
/// Layout (varints are unsigned LEB128): entry count, block count, per block its first key,
/// its end (counted from where the blocks start) and its CRC32 (4 bytes LE); then the blocks
/// (right after the directory, or after a view's own bulk data: [`Keyed::load_after`]), each
/// an entry count and per entry the key, the body's length and the body.
#[derive(Default)]
pub(crate) struct Keyed {
    key_len: usize,
    entries: usize,
    firsts: Vec<u8>,
    blocks: Blocks,
    body_ok: Option<BodyCheck>,
}

/// A view's test of one entry's body (it may hold what it needs from the file's head).
type BodyCheck = Box<dyn Fn(&[u8]) -> bool + Send + Sync>;

impl std::fmt::Debug for Keyed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Keyed")
            .field("key_len", &self.key_len)
            .field("entries", &self.entries)
            .field("blocks", &self.blocks)
            .finish_non_exhaustive()
    }
}

/// Reads a varint from `bytes` at `*at` (the one-byte case first: most counts, lengths and
/// sequences).
#[inline]
pub(crate) fn var(bytes: &[u8], at: &mut usize) -> Option<u64> {
    let first = *bytes.get(*at)?;
    if first < 0x80 {
        *at += 1;
        return Some(u64::from(first));
    }
    let mut v = 0u64;
    for shift in (0..64).step_by(7) {
        let b = *bytes.get(*at)?;
        *at += 1;
        v |= u64::from(b & 0x7f) << shift;
        if b & 0x80 == 0 {
            return Some(v);
        }
    }
    None
}

/// Appends `v` as an unsigned LEB128 varint.
pub(crate) fn put_var(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

/// One entry of a [`Keyed`] block: its key and its body.
pub(crate) type Entry<'a> = (&'a [u8], &'a [u8]);

/// The entries of one block, `None` at the first malformed byte.
fn block_entries(bytes: &[u8], key_len: usize) -> impl Iterator<Item = Option<Entry<'_>>> {
    let mut at = 0;
    let mut left = var(bytes, &mut at).and_then(|n| usize::try_from(n).ok());
    std::iter::from_fn(move || {
        let n = left.as_mut()?;
        if *n == 0 {
            return None;
        }
        *n -= 1;
        let entry = (|| {
            let key = bytes.get(at..at + key_len)?;
            at += key_len;
            let len = usize::try_from(var(bytes, &mut at)?).ok()?;
            let body = bytes.get(at..at.checked_add(len)?)?;
            at += len;
            Some((key, body))
        })();
        if entry.is_none() {
            left = Some(0);
        }
        Some(entry)
    })
}

impl Keyed {
    /// Reads the directory at `at` of `payload` (entries of `key_len`-byte keys whose bodies
    /// pass `body_ok`); returns it with where the blocks start (the end of the checked part).
    pub(crate) fn load(
        view: &'static str,
        payload: Payload,
        at: usize,
        key_len: usize,
        body_ok: impl Fn(&[u8]) -> bool + Send + Sync + 'static,
    ) -> Result<(Self, usize), ViewDataError> {
        Self::load_after(view, payload, at, 0, key_len, body_ok)
    }

    /// [`Keyed::load`] for blocks that start `skip` bytes after the directory (a view's own
    /// bulk data lies between); returns it with where the directory ends.
    pub(crate) fn load_after(
        view: &'static str,
        payload: Payload,
        at: usize,
        skip: usize,
        key_len: usize,
        body_ok: impl Fn(&[u8]) -> bool + Send + Sync + 'static,
    ) -> Result<(Self, usize), ViewDataError> {
        let bad = || ViewDataError(format!("{view} view: block directory is malformed"));
        let bytes = payload.bytes();
        let mut p = at;
        let entries = var(bytes, &mut p)
            .and_then(|n| usize::try_from(n).ok())
            .ok_or_else(bad)?;
        let n = var(bytes, &mut p)
            .and_then(|n| usize::try_from(n).ok())
            .ok_or_else(bad)?;
        if n > bytes.len() / (key_len + 5) {
            return Err(bad());
        }
        let (mut firsts, mut ends, mut crcs) = (
            Vec::with_capacity(n * key_len),
            Vec::with_capacity(n),
            Vec::with_capacity(n),
        );
        for _ in 0..n {
            firsts.extend_from_slice(bytes.get(p..p + key_len).ok_or_else(bad)?);
            p += key_len;
            ends.push(
                var(bytes, &mut p)
                    .and_then(|e| usize::try_from(e).ok())
                    .ok_or_else(bad)?,
            );
            let crc = bytes.get(p..p + 4).ok_or_else(bad)?;
            crcs.push(u32::from_le_bytes([crc[0], crc[1], crc[2], crc[3]]));
            p += 4;
        }
        let ordered = firsts
            .chunks_exact(key_len)
            .zip(firsts.chunks_exact(key_len).skip(1))
            .all(|(a, b)| a < b);
        let begin = p
            .checked_add(skip)
            .filter(|&b| b <= bytes.len())
            .ok_or_else(bad)?;
        if !ordered || ends.last().copied().unwrap_or(0) != bytes.len() - begin {
            return Err(bad());
        }
        let starts = std::iter::once(begin)
            .chain(ends.iter().map(|&e| begin.saturating_add(e)))
            .collect();
        let blocks = Blocks::new(view, payload, starts, crcs)?;
        let keyed = Self {
            key_len,
            entries,
            firsts,
            blocks,
            body_ok: Some(Box::new(body_ok)),
        };
        Ok((keyed, p))
    }

    /// Number of entries.
    pub(crate) fn len(&self) -> usize {
        self.entries
    }

    fn first(&self, i: usize) -> &[u8] {
        &self.firsts[i * self.key_len..(i + 1) * self.key_len]
    }

    /// Block `i`, checked on first use.
    fn block(&self, i: usize) -> Result<&[u8], ViewDataError> {
        let (first, key_len, body_ok) = (self.first(i), self.key_len, &self.body_ok);
        self.blocks.get(i, |bytes| {
            let mut prev: Option<&[u8]> = None;
            for entry in block_entries(bytes, key_len) {
                let Some((key, body)) = entry else {
                    return false;
                };
                let ordered = prev.map_or(key == first, |p| p < key);
                if !ordered || !body_ok.as_ref().is_none_or(|ok| ok(body)) {
                    return false;
                }
                prev = Some(key);
            }
            prev.is_some()
        })
    }

    /// The body stored under `key`.
    pub(crate) fn find(&self, key: &[u8]) -> Result<Option<&[u8]>, ViewDataError> {
        let n = self.blocks.len();
        let (mut lo, mut hi) = (0, n);
        while lo < hi {
            let mid = (lo + hi) / 2;
            if self.first(mid) <= key {
                lo = mid + 1;
            } else {
                hi = mid;
            }
        }
        let Some(i) = lo.checked_sub(1) else {
            return Ok(None);
        };
        let block = self.block(i)?;
        Ok(block_entries(block, self.key_len)
            .map_while(|e| e)
            .find(|(k, _)| *k == key)
            .map(|(_, body)| body))
    }

    /// The first key of each block.
    pub(crate) fn firsts(&self) -> impl Iterator<Item = &[u8]> + '_ {
        self.firsts.chunks_exact(self.key_len.max(1))
    }

    /// The `n`-th entry (key and body) of block `i`, if it has that many.
    pub(crate) fn nth_in_block(
        &self,
        i: usize,
        n: usize,
    ) -> Result<Option<Entry<'_>>, ViewDataError> {
        let block = self.block(i)?;
        Ok(block_entries(block, self.key_len).nth(n).flatten())
    }

    /// Every entry in key order (blocks as they are: [`Keyed::verify`] first where damage
    /// must not be carried forward; a malformed block ends its own entries).
    pub(crate) fn entries(&self) -> impl Iterator<Item = Entry<'_>> + '_ {
        (0..self.blocks.len())
            .flat_map(|i| block_entries(self.blocks.raw(i), self.key_len).map_while(|e| e))
    }

    /// Checks every block not checked yet.
    pub(crate) fn verify(&self) -> Result<(), ViewDataError> {
        (0..self.blocks.len()).try_for_each(|i| self.block(i).map(drop))
    }

    /// Marks every block checked (the file was just written from this process's state).
    pub(crate) fn trust(&self) {
        self.blocks.trust();
    }
}

/// Bytes of the room for `n` block CRC32s in a head: 4 each, padded to a multiple of 8.
pub(crate) fn padded_crcs(n: usize) -> usize {
    (n * 4).next_multiple_of(8)
}

/// Writes block CRC32s (little-endian u32s) to a head, zero-padded as [`padded_crcs`] says.
pub(crate) fn put_crcs(w: &mut crate::codec::Writer, crcs: &[u32]) {
    crcs.iter().for_each(|c| w.bytes(&c.to_le_bytes()));
    w.bytes(&[0; 4][..padded_crcs(crcs.len()) - crcs.len() * 4]);
}

/// Writes a run of fixed-size items to a [`Bulk`] in blocks of a fixed number of bytes (the
/// last one shorter), keeping each block's CRC32 for the directory, as [`Blocks`] checks them.
pub(crate) struct BlockWriter<'b> {
    bulk: &'b mut Bulk,
    size: usize,
    block: Vec<u8>,
    crcs: Vec<u32>,
}

impl<'b> BlockWriter<'b> {
    /// Blocks of `size` bytes (a multiple of the items' size).
    pub(crate) fn new(bulk: &'b mut Bulk, size: usize) -> Self {
        Self {
            bulk,
            size,
            block: Vec::with_capacity(size),
            crcs: Vec::new(),
        }
    }

    /// Appends one item.
    pub(crate) fn put(&mut self, item: &[u8]) {
        self.block.extend_from_slice(item);
        if self.block.len() >= self.size {
            self.close();
        }
    }

    fn close(&mut self) {
        if !self.block.is_empty() {
            self.crcs.push(crc32fast::hash(&self.block));
            self.bulk.write(&self.block);
            self.block.clear();
        }
    }

    /// Each block's CRC32, in order.
    pub(crate) fn finish(self) -> Vec<u32> {
        self.finish_into().1
    }

    /// The bulk back, with each block's CRC32 in order.
    pub(crate) fn finish_into(mut self) -> (&'b mut Bulk, Vec<u32>) {
        self.close();
        (self.bulk, self.crcs)
    }
}

/// Writes [`Keyed`] entries (in increasing key order) after a view's own head bytes: the
/// blocks go to a [`Bulk`] as each fills, the directory (with each block's CRC32) stays in
/// memory and ends the head.
#[derive(Debug)]
pub(crate) struct KeyedWriter<'b> {
    head: Vec<u8>,
    bulk: &'b mut Bulk,
    /// The bulk's length when the writer was made: block ends count from there.
    base: usize,
    block: Vec<u8>,
    in_block: u64,
    entries: u64,
    /// Per block: its first key, its end (counted from where the blocks start), its CRC32.
    dir: Vec<(Vec<u8>, usize, u32)>,
    first: Option<Vec<u8>>,
}

impl<'b> KeyedWriter<'b> {
    /// A writer placing the entries after `head`, their blocks in `bulk` after what it holds
    /// already (nothing, unless the view reads the blocks with [`Keyed::load_after`]).
    pub(crate) fn new(head: Vec<u8>, bulk: &'b mut Bulk) -> Self {
        Self {
            head,
            base: bulk.len(),
            bulk,
            block: Vec::with_capacity(2 * KEYED_BLOCK),
            in_block: 0,
            entries: 0,
            dir: Vec::new(),
            first: None,
        }
    }

    /// Adds an entry (keys in increasing order, all of one length).
    pub(crate) fn push(&mut self, key: &[u8], body: &[u8]) {
        if self.block.len() >= KEYED_BLOCK {
            self.close_block();
        }
        if self.in_block == 0 {
            self.first = Some(key.to_vec());
        }
        self.block.extend_from_slice(key);
        put_var(&mut self.block, body.len() as u64);
        self.block.extend_from_slice(body);
        self.in_block += 1;
        self.entries += 1;
    }

    /// Writes the open block (its entry count, then its entries) to the bulk.
    fn close_block(&mut self) {
        let Some(first) = self.first.take() else {
            return;
        };
        let mut count = Vec::with_capacity(10);
        put_var(&mut count, self.in_block);
        let mut crc = crc32fast::Hasher::new();
        crc.update(&count);
        crc.update(&self.block);
        self.bulk.write(&count);
        self.bulk.write(&self.block);
        self.dir
            .push((first, self.bulk.len() - self.base, crc.finalize()));
        self.block.clear();
        self.in_block = 0;
    }

    /// The head: the view's head bytes, then the directory (the blocks are in the bulk).
    pub(crate) fn finish(mut self) -> Vec<u8> {
        self.close_block();
        let mut out = self.head;
        put_var(&mut out, self.entries);
        put_var(&mut out, self.dir.len() as u64);
        for (first, end, crc) in &self.dir {
            out.extend_from_slice(first);
            put_var(&mut out, *end as u64);
            out.extend_from_slice(&crc.to_le_bytes());
        }
        out
    }
}
