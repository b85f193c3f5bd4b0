//! The tangles view's file, read in place: the tangle names, then the tangles as keyed blocks
//! (key: root id and name key; body: the tangle's nodes), so a query decodes the one tangle
//! it asks for. Layout in `views/FORMAT.md`.

use super::wire::{Reader, strings};
use super::{Tangle, TangleKey, decode_nodes, decode_tangle};
use crate::inplace::{Keyed, KeyedWriter};
use crate::view::ViewDataError;
use crate::viewfile::{Bulk, Payload};

/// Bytes of a tangle key: the root id, then the name key (big-endian, so bytes sort as keys).
const KEY: usize = 36;

/// The tangles of a loaded file.
#[derive(Debug, Default)]
pub(super) struct Stored {
    keyed: Keyed,
}

/// A tangle key as bytes.
pub(super) fn key(k: &TangleKey) -> [u8; KEY] {
    let mut out = [0; KEY];
    out[..32].copy_from_slice(&k.0.0);
    out[32..].copy_from_slice(&k.1.to_be_bytes());
    out
}

/// Whether a body parses as a tangle (ancestor indexes are checked when it is decoded).
fn body_ok(body: &[u8]) -> bool {
    let mut r = Reader::new(body);
    decode_tangle(&mut r, &sluice_msg::MsgId([0; 32])).is_ok() && r.finish().is_ok()
}

impl Stored {
    /// Reads the names and the block directory of a payload.
    pub(super) fn load(payload: Payload) -> Result<(Self, Vec<String>), ViewDataError> {
        let (names, at) = strings(payload.bytes())?;
        let (keyed, _) = Keyed::load("tangles", payload, at, KEY, body_ok)?;
        Ok((Self { keyed }, names))
    }

    /// Whether the file holds no tangle.
    pub(super) fn is_empty(&self) -> bool {
        self.keyed.len() == 0
    }

    /// The body of tangle `k` as written (its block checked).
    pub(super) fn body(&self, k: &TangleKey) -> Result<Option<&[u8]>, ViewDataError> {
        self.keyed.find(&key(k))
    }

    /// The nodes of tangle `k` as written: enough to answer a query (see `decode_nodes`).
    pub(super) fn nodes(&self, k: &TangleKey) -> Result<Option<Tangle>, ViewDataError> {
        let Some(body) = self.keyed.find(&key(k))? else {
            return Ok(None);
        };
        let mut r = Reader::new(body);
        let tangle = decode_nodes(&mut r)?;
        r.finish()?;
        Ok(Some(tangle))
    }

    /// Every tangle's key and encoded body, in key order (blocks as they are: check them
    /// first with [`Stored::verify`] where damage must not be carried forward).
    pub(super) fn entries(&self) -> impl Iterator<Item = ([u8; KEY], &[u8])> + '_ {
        self.keyed.entries().map(|(k, body)| {
            let mut out = [0; KEY];
            out.copy_from_slice(k);
            (out, body)
        })
    }

    /// Checks every block not checked yet.
    pub(super) fn verify(&self) -> Result<(), ViewDataError> {
        self.keyed.verify()
    }

    /// Marks every block checked (the file was just written from this process's state).
    pub(super) fn trust(&self) {
        self.keyed.trust();
    }
}

/// Writes a payload: names, then the tangles in key order (their blocks to a [`Bulk`]).
pub(super) struct TangleWriter<'b>(KeyedWriter<'b>);

impl<'b> TangleWriter<'b> {
    /// A writer placing the tangles after `head` (the names), their blocks in `bulk`.
    pub(super) fn new(head: Vec<u8>, bulk: &'b mut Bulk) -> Self {
        Self(KeyedWriter::new(head, bulk))
    }

    /// Adds a tangle (keys in increasing order).
    pub(super) fn push(&mut self, key: &[u8; KEY], body: &[u8]) {
        self.0.push(key, body);
    }

    /// The payload's head (names and block directory).
    pub(super) fn finish(self) -> Vec<u8> {
        self.0.finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_sort_as_tangle_keys() {
        let a = (sluice_msg::MsgId([1; 32]), 2u32);
        let b = (sluice_msg::MsgId([1; 32]), 256u32);
        let c = (sluice_msg::MsgId([2; 32]), 0u32);
        assert!(key(&a) < key(&b) && key(&b) < key(&c));
    }
}
