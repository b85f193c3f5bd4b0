//! The types/time view: content type → offsets in log (receive) order, read newest first.
//!
//! It reads only the record header's content type, so it never parses JSON. Encrypted
//! messages have no public type and are not indexed here.
//!
//! It answers from its file in place: a directory of types (name, count, where its offsets
//! start), covered by the file checksum, then every type's offsets as one run of u64s checked
//! block by block when first read. Offsets applied since the file was written are held in
//! memory, per type, until the next write.

use std::sync::Arc;

use crate::codec::{FastMap, Reader, Writer};
use crate::inplace::{BlockWriter, RUN_BLOCK, Run, padded_crcs, put_crcs};
use crate::view::{Indexed, View, ViewDataError};
use crate::viewfile::{Bulk, Payload};

/// Bytes of the payload's fixed fields: types, offsets, blocks.
const FIXED: usize = 3 * 8;
/// How many messages ahead [`TypesView::apply_run`] fetches the type string (it sits in the
/// record, which the applying side has not touched since the chunk was decoded).
const TYPE_AHEAD: usize = 8;

/// The types of a loaded file: name → (count, start in the run), and the run.
#[derive(Debug, Default)]
struct Stored {
    listed: FastMap<String, (usize, usize)>,
    run: Run,
}

impl Stored {
    fn load(payload: Payload) -> Result<Self, ViewDataError> {
        let bytes = payload.bytes();
        let (dir, at) = directory(bytes)?;
        let (len, n_blocks) = (dir.len, dir.blocks);
        if n_blocks != len.div_ceil(RUN_BLOCK) || bytes.len() != at + len * 8 {
            return Err(ViewDataError("types file size does not add up".into()));
        }
        let crcs = bytes[at - padded_crcs(n_blocks)..][..n_blocks * 4]
            .chunks_exact(4)
            .map(|c| u32::from_le_bytes(c.try_into().unwrap_or_default()))
            .collect();
        let mut listed = FastMap::default();
        let mut next = 0usize;
        for (i, (name, count, start)) in dir.types.into_iter().enumerate() {
            if start != next || (i > 0 && listed.contains_key(&name)) {
                return Err(ViewDataError("types directory is inconsistent".into()));
            }
            next = next.saturating_add(count);
            listed.insert(name, (count, start));
        }
        if next != len {
            return Err(ViewDataError(
                "types directory does not cover the offsets".into(),
            ));
        }
        let run = Run::new("types", payload, at, len, crcs)?;
        Ok(Self { listed, run })
    }
}

/// A payload's directory: the types (name, count, start), offsets and blocks.
struct Directory {
    types: Vec<(String, usize, usize)>,
    len: usize,
    blocks: usize,
}

/// Reads the directory; returns it with where the run of offsets starts.
fn directory(bytes: &[u8]) -> Result<(Directory, usize), ViewDataError> {
    let mut r = Reader::new(bytes);
    let n = r.count(24)?;
    let len = r.count(8)?;
    let blocks = r.count(4)?;
    let mut at = FIXED;
    let mut types = Vec::with_capacity(n);
    for _ in 0..n {
        let name = r.string()?;
        let pad = name.len().next_multiple_of(8) - name.len();
        r.bytes(pad)?;
        let (count, start) = (r.u64()?, r.u64()?);
        let as_usize =
            |v: u64| usize::try_from(v).map_err(|_| ViewDataError("count overflows".into()));
        types.push((name, as_usize(count)?, as_usize(start)?));
        at += 8 + types.last().map_or(0, |t| t.0.len()) + pad + 16;
    }
    at += padded_crcs(blocks);
    if at > bytes.len() {
        return Err(ViewDataError(
            "types directory is longer than the file".into(),
        ));
    }
    Ok((Directory { types, len, blocks }, at))
}

/// Content type → offsets, oldest first: read from the loaded file in place, plus what was
/// applied since, per type.
#[derive(Debug, Default)]
pub struct TypesView {
    file: Arc<Stored>,
    tails: FastMap<String, Vec<u64>>,
}

impl TypesView {
    /// An empty view.
    pub fn new() -> Self {
        Self::default()
    }

    /// Offsets of messages of `content_type`, newest (last received) first.
    pub fn latest(&self, content_type: &str, limit: usize) -> Result<Vec<u64>, ViewDataError> {
        let tail = self.tails.get(content_type).map_or(&[][..], Vec::as_slice);
        let mut out: Vec<u64> = tail.iter().rev().take(limit).copied().collect();
        if let Some(&(count, start)) = self.file.listed.get(content_type) {
            let want = (limit - out.len()).min(count);
            let mut older = Vec::with_capacity(want);
            self.file
                .run
                .get(start + count - want, start + count, &mut older)?;
            out.extend(older.iter().rev());
        }
        Ok(out)
    }

    /// Every type with its message count, by name.
    pub fn counts(&self) -> Vec<(String, usize)> {
        let mut names: Vec<&String> = self.file.listed.keys().chain(self.tails.keys()).collect();
        names.sort_unstable();
        names.dedup();
        names
            .into_iter()
            .map(|n| (n.clone(), self.count(n)))
            .collect()
    }

    fn count(&self, name: &str) -> usize {
        self.file.listed.get(name).map_or(0, |l| l.0) + self.tails.get(name).map_or(0, Vec::len)
    }

    /// Every type's name and message count, by name.
    fn merged(&self) -> Vec<(&str, usize)> {
        let mut names: Vec<&String> = self.file.listed.keys().chain(self.tails.keys()).collect();
        names.sort_unstable();
        names.dedup();
        names
            .into_iter()
            .map(|name| (name.as_str(), self.count(name)))
            .collect()
    }

    /// Hands the offsets of type `name` to `put`, oldest first, a block of the file at a time
    /// and then those applied since: the most common type has nearly half of a store's
    /// messages, too many to copy into memory to write a file (1M messages: 3.4 MB). Blocks as
    /// they are: [`View::verify`] first where damage must not spread; a damaged block reads
    /// as zeros here.
    fn each_offset(&self, name: &str, mut put: impl FnMut(u64)) {
        if let Some(&(count, start)) = self.file.listed.get(name) {
            let mut block = Vec::with_capacity(RUN_BLOCK);
            for from in (start..start + count).step_by(RUN_BLOCK) {
                let to = (from + RUN_BLOCK).min(start + count);
                block.clear();
                if self.file.run.get(from, to, &mut block).is_err() {
                    block.clear();
                }
                block.resize(to - from, 0);
                block.iter().for_each(|&o| put(o));
            }
        }
        self.tails
            .get(name)
            .into_iter()
            .flatten()
            .for_each(|&o| put(o));
    }
}

impl View for TypesView {
    fn name(&self) -> &'static str {
        "types"
    }
    fn version(&self) -> u32 {
        2
    }
    fn apply(&mut self, msg: &Indexed<'_>) {
        let Some(ty) = msg.content_type else { return };
        match self.tails.get_mut(ty) {
            Some(offsets) => offsets.push(msg.offset),
            None => {
                self.tails.insert(ty.to_owned(), vec![msg.offset]);
            }
        }
    }
    fn apply_run(&mut self, msgs: &[Indexed<'_>]) {
        for (i, msg) in msgs.iter().enumerate() {
            if let Some(ahead) = msgs.get(i + TYPE_AHEAD).and_then(|m| m.content_type) {
                sluice_log::prefetch(ahead.as_bytes());
            }
            self.apply(msg);
        }
    }
    fn encode_parts(&self, bulk: &mut Bulk) -> Vec<u8> {
        let types = self.merged();
        let len: usize = types.iter().map(|t| t.1).sum();
        let blocks = len.div_ceil(RUN_BLOCK);
        let mut w = Writer::with_capacity(64 + types.len() * 48 + blocks * 4);
        for n in [types.len(), len, blocks] {
            w.u64(n as u64);
        }
        let mut start = 0;
        for &(name, count) in &types {
            w.str(name);
            w.bytes(&[0; 8][..name.len().next_multiple_of(8) - name.len()]);
            w.u64(count as u64);
            w.u64(start as u64);
            start += count;
        }
        let mut run = BlockWriter::new(bulk, RUN_BLOCK * 8);
        for &(name, _) in &types {
            self.each_offset(name, |o| run.put(&o.to_le_bytes()));
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

    fn msg(ty: &'static str, offset: u64) -> Indexed<'static> {
        indexed(offset, 0, 1, Some(ty))
    }

    #[test]
    fn loaded_and_applied_types_answer_alike_across_blocks() {
        let mut built = TypesView::new();
        for o in 0..6000 {
            built.apply(&msg(if o % 3 == 0 { "post" } else { "vote" }, o));
        }
        built.apply(&msg("about-a-long-type-name", 9));
        let mut back = loaded(&built);
        assert_eq!(back.encode(), built.encode());
        for v in [&mut built, &mut back] {
            v.apply(&msg("vote", 7000));
            v.apply(&msg("contact", 7001));
        }
        assert_eq!(back.encode(), built.encode());
        for v in [&built, &back, &loaded(&back)] {
            assert_eq!(v.latest("vote", 3).unwrap(), vec![7000, 5999, 5998]);
            assert_eq!(v.latest("post", 2).unwrap(), vec![5997, 5994]);
            assert_eq!(v.latest("post", 5000).unwrap().len(), 2000);
            assert_eq!(v.latest("contact", 9).unwrap(), vec![7001]);
            assert!(v.latest("none", 9).unwrap().is_empty());
            assert_eq!(
                v.counts(),
                vec![
                    ("about-a-long-type-name".to_owned(), 1),
                    ("contact".to_owned(), 1),
                    ("post".to_owned(), 2000),
                    ("vote".to_owned(), 4001)
                ]
            );
        }
    }

    #[test]
    fn a_damaged_block_is_an_error_and_a_bad_directory_is_refused() {
        let mut built = TypesView::new();
        for o in 0..5000 {
            built.apply(&msg("vote", o));
        }
        let mut bytes = built.encode();
        let at = built.encode_parts(&mut Bulk::memory()).len();
        bytes[at + 8 * 4500 + 1] ^= 1;
        let mut back = TypesView::new();
        back.decode(&bytes).expect("the directory is intact");
        let err = back.latest("vote", 1).expect_err("damage is reported");
        assert!(
            err.to_string().contains("block 2 of the types view"),
            "{err}"
        );
        assert!(back.verify().is_err());
        let mut dir = built.encode();
        dir[FIXED + 8 + 8] ^= 1; // the count of "vote"
        assert!(TypesView::new().decode(&dir).is_err());
    }
}
