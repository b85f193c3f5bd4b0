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
#[derive(Debug, Default)]
pub struct KeysView {
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
        self.first.get(&p).copied().into_iter().chain(extra)
    }

    /// Number of messages indexed.
    pub fn len(&self) -> usize {
        self.first.len() + self.extra.len()
    }

    /// Whether no message is indexed.
    pub fn is_empty(&self) -> bool {
        self.first.is_empty()
    }

    fn insert(&mut self, p: u64, offset: u64) {
        if let Some(&existing) = self.first.get(&p) {
            if existing != offset {
                self.extra.push((p, offset));
            }
        } else {
            self.first.insert(p, offset);
        }
    }
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
        let mut pairs: Vec<(u64, u64)> = self.first.iter().map(|(&p, &o)| (p, o)).collect();
        pairs.sort_unstable();
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
        self.first.reserve(n);
        for _ in 0..n {
            let (p, o) = (r.u64()?, r.u64()?);
            self.insert(p, o);
        }
        r.finish()
    }
    fn clear(&mut self) {
        self.first.clear();
        self.extra.clear();
    }
    fn needs_content(&self) -> bool {
        false
    }
}
