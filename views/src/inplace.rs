//! Parts of a view file read in place: a run of blocks, each with its own CRC32, checked the
//! first time it is read (so loading a view reads a small directory, not the whole file).

use std::sync::atomic::{AtomicU64, Ordering};

use crate::view::ViewDataError;
use crate::viewfile::Payload;

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
pub(crate) fn block_crcs(bytes: &[u8], starts: &[usize]) -> Vec<u32> {
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
