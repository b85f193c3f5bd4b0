//! The backlinks view's file, read in place: paths, a directory of blocks (each block's first
//! target, end and CRC32; covered by the file checksum), then the blocks. A block holds
//! consecutive targets in order, each with its links; it is checked (CRC and a full parse) the
//! first time a query lands in it. Layout in `views/FORMAT.md`.

use super::{Link, Target};
use crate::inplace::{Blocks, block_crcs};
use crate::tangles::wire::{Reader, Writer};
use crate::view::ViewDataError;
use crate::viewfile::Payload;

/// A block is closed once it holds at least this many bytes.
const BLOCK_BYTES: usize = 4096;

/// The links of a loaded file.
#[derive(Debug, Default)]
pub(super) struct Stored {
    /// How many paths the file's links may index.
    paths: usize,
    /// Targets in the file.
    targets: usize,
    /// The first target of each block.
    firsts: Vec<Target>,
    blocks: Blocks,
}

/// One target's entry in a block: the target, its link count and its links' bytes.
pub(super) struct Entry<'a> {
    pub(super) target: Target,
    pub(super) count: usize,
    pub(super) links: &'a [u8],
}

impl Stored {
    /// Reads the paths and the block directory of a payload.
    pub(super) fn load(payload: Payload) -> Result<(Self, Vec<String>), ViewDataError> {
        let bytes = payload.bytes();
        let mut r = Reader::new(bytes);
        let paths = (0..r.len(1)?)
            .map(|_| r.str())
            .collect::<Result<Vec<_>, _>>()?;
        let targets = usize::try_from(r.var()?)
            .map_err(|_| ViewDataError("target count overflows".into()))?;
        let n_blocks = r.len(33 + 1 + 4)?;
        let mut firsts = Vec::with_capacity(n_blocks);
        let (mut ends, mut crcs) = (Vec::with_capacity(n_blocks), Vec::with_capacity(n_blocks));
        for _ in 0..n_blocks {
            firsts.push(target(&mut r)?);
            ends.push(usize::try_from(r.var()?).unwrap_or(usize::MAX));
            let crc = r.take(4)?;
            crcs.push(u32::from_le_bytes([crc[0], crc[1], crc[2], crc[3]]));
        }
        let head = bytes.len() - r.remaining();
        if firsts.windows(2).any(|w| w[0] >= w[1])
            || ends.last().copied().unwrap_or(0) != r.remaining()
        {
            return Err(ViewDataError(
                "backlinks block directory is inconsistent".into(),
            ));
        }
        let starts = std::iter::once(head)
            .chain(ends.iter().map(|&e| head.saturating_add(e)))
            .collect();
        let blocks = Blocks::new("backlinks", payload, starts, crcs)?;
        let stored = Self {
            paths: paths.len(),
            targets,
            firsts,
            blocks,
        };
        Ok((stored, paths))
    }

    /// Block `i`, checked (CRC and a full parse) on first use.
    fn block(&self, i: usize) -> Result<&[u8], ViewDataError> {
        let (first, paths) = (self.firsts[i], self.paths);
        self.blocks
            .get(i, |bytes| block_is_valid(bytes, first, paths))
    }

    /// Checks every block not checked yet.
    pub(super) fn verify(&self) -> Result<(), ViewDataError> {
        (0..self.blocks.len()).try_for_each(|i| self.block(i).map(drop))
    }

    /// Marks every block checked (the file was just written from this process's state).
    pub(super) fn trust(&self) {
        self.blocks.trust();
    }

    /// Number of targets in the file.
    pub(super) fn targets(&self) -> usize {
        self.targets
    }

    /// Appends the file's links into `t` to `out`, in log order.
    pub(super) fn links_into(&self, t: &Target, out: &mut Vec<Link>) -> Result<(), ViewDataError> {
        let Some(i) = self.firsts.partition_point(|f| f <= t).checked_sub(1) else {
            return Ok(());
        };
        let mut r = Reader::new(self.block(i)?);
        for _ in 0..r.len(34)? {
            let entry = entry(&mut r)?;
            if entry.target == *t {
                return decode_links(&entry, self.paths, out).map(drop);
            }
            if entry.target > *t {
                break;
            }
        }
        Ok(())
    }

    /// Every entry of the file, in target order (blocks as they are: check them first with
    /// [`Stored::verify`] where damage must not be carried forward).
    pub(super) fn entries(&self) -> impl Iterator<Item = Result<Entry<'_>, ViewDataError>> + '_ {
        (0..self.blocks.len()).flat_map(|i| {
            let mut r = Reader::new(self.blocks.raw(i));
            let n = r.len(34);
            let mut left = n.as_ref().map_or(1, |&n| n);
            std::iter::from_fn(move || {
                if left == 0 {
                    return None;
                }
                left -= 1;
                Some(match &n {
                    Ok(_) => entry(&mut r),
                    Err(e) => Err(ViewDataError(e.0.clone())),
                })
            })
        })
    }
}

/// Reads a target: kind byte and 32 bytes.
fn target(r: &mut Reader<'_>) -> Result<Target, ViewDataError> {
    let kind = r.u8()?;
    if kind > 2 {
        return Err(ViewDataError(format!("unknown ref kind {kind}")));
    }
    Ok(Target(kind, r.id()?))
}

/// Reads one target's entry.
fn entry<'a>(r: &mut Reader<'a>) -> Result<Entry<'a>, ViewDataError> {
    let target = target(r)?;
    let count = r.len(2)?;
    let len = r.len(1)?;
    let links = r.take(len)?;
    Ok(Entry {
        target,
        count,
        links,
    })
}

/// Appends an entry's links to `out`; returns the last offset (0 when none).
pub(super) fn decode_links(
    entry: &Entry<'_>,
    paths: usize,
    out: &mut Vec<Link>,
) -> Result<u64, ViewDataError> {
    let mut r = Reader::new(entry.links);
    let mut last = 0u64;
    out.reserve(entry.count);
    for _ in 0..entry.count {
        let path = r.index(paths)?;
        last = last
            .checked_add(r.var()?)
            .ok_or_else(|| ViewDataError("offset overflows".into()))?;
        out.push(Link { path, offset: last });
    }
    r.finish()?;
    Ok(last)
}

/// Whether a block parses whole: targets increasing from `first`, links well formed.
fn block_is_valid(bytes: &[u8], first: Target, paths: usize) -> bool {
    let mut r = Reader::new(bytes);
    let Ok(n) = r.len(34) else { return false };
    let mut prev: Option<Target> = None;
    let mut scratch = Vec::new();
    for k in 0..n {
        let Ok(e) = entry(&mut r) else { return false };
        let ordered = match prev {
            None => k == 0 && e.target == first,
            Some(p) => p < e.target,
        };
        scratch.clear();
        if !ordered || decode_links(&e, paths, &mut scratch).is_err() {
            return false;
        }
        prev = Some(e.target);
    }
    n > 0 && r.finish().is_ok()
}

/// Writes a payload: paths, then entries in target order cut into blocks.
pub(super) struct FileWriter {
    paths: Vec<u8>,
    region: Vec<u8>,
    block: Vec<u8>,
    in_block: usize,
    targets: usize,
    /// Each closed block's first target and end (in `region`).
    dir: Vec<(Target, usize)>,
    first: Option<Target>,
}

impl FileWriter {
    /// A writer for a file whose links index `paths`; `bytes` sizes the buffer.
    pub(super) fn new(paths: &[String], bytes: usize) -> Self {
        let mut w = Writer::with_capacity(64);
        w.len(paths.len());
        paths.iter().for_each(|p| w.str(p));
        Self {
            paths: w.0,
            region: Vec::with_capacity(bytes),
            block: Vec::with_capacity(2 * BLOCK_BYTES),
            in_block: 0,
            targets: 0,
            dir: Vec::new(),
            first: None,
        }
    }

    /// Adds a target (in increasing order) with `count` links encoded in `links`.
    pub(super) fn push(&mut self, target: Target, count: usize, links: &[u8]) {
        if self.block.len() >= BLOCK_BYTES {
            self.close_block();
        }
        if self.in_block == 0 {
            self.first = Some(target);
        }
        let mut w = Writer(std::mem::take(&mut self.block));
        w.u8(target.0);
        w.id(&target.1);
        w.len(count);
        w.len(links.len());
        w.0.extend_from_slice(links);
        self.block = w.0;
        self.in_block += 1;
        self.targets += 1;
    }

    fn close_block(&mut self) {
        let Some(first) = self.first.take() else {
            return;
        };
        let mut w = Writer(std::mem::take(&mut self.region));
        w.len(self.in_block);
        w.0.extend_from_slice(&self.block);
        self.region = w.0;
        self.dir.push((first, self.region.len()));
        self.block.clear();
        self.in_block = 0;
    }

    /// The payload.
    pub(super) fn finish(mut self) -> Vec<u8> {
        self.close_block();
        let starts: Vec<usize> = std::iter::once(0)
            .chain(self.dir.iter().map(|&(_, end)| end))
            .collect();
        let crcs = block_crcs(&self.region, &starts);
        let mut w = Writer(self.paths);
        w.len(self.targets);
        w.len(self.dir.len());
        for (&(first, end), crc) in self.dir.iter().zip(crcs) {
            w.u8(first.0);
            w.id(&first.1);
            w.len(end);
            w.0.extend_from_slice(&crc.to_le_bytes());
        }
        w.0.reserve_exact(self.region.len());
        w.0.extend_from_slice(&self.region);
        w.0
    }
}

/// Encodes links as (path, offset delta) varints continuing from `last`; returns the new last.
pub(super) fn encode_links(links: &[Link], mut last: u64, out: &mut Vec<u8>) -> u64 {
    let mut w = Writer(std::mem::take(out));
    for l in links {
        w.var(u64::from(l.path));
        w.var(l.offset - last);
        last = l.offset;
    }
    *out = w.0;
    last
}

/// Where the checked part of a payload ends: after the paths and the block directory.
pub(super) fn checked_len(payload: &[u8]) -> usize {
    let mut r = Reader::new(payload);
    let parsed = (|| -> Result<(), ViewDataError> {
        for _ in 0..r.len(1)? {
            r.str()?;
        }
        r.var()?;
        for _ in 0..r.len(33 + 1 + 4)? {
            target(&mut r)?;
            r.var()?;
            r.take(4)?;
        }
        Ok(())
    })();
    match parsed {
        Ok(()) => payload.len() - r.remaining(),
        Err(_) => payload.len(),
    }
}
