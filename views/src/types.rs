//! The types/time view: content type → offsets in log (receive) order, read newest first.
//!
//! It reads only the record header's content type, so it never parses JSON. Encrypted
//! messages have no public type and are not indexed here.

use crate::codec::{FastMap, Reader, Writer};
use crate::view::{Indexed, View, ViewDataError};

/// Content type → offsets, oldest first.
#[derive(Debug, Default)]
pub struct TypesView {
    by_type: FastMap<String, Vec<u64>>,
}

impl TypesView {
    /// An empty view.
    pub fn new() -> Self {
        Self::default()
    }
    /// Offsets of messages of `content_type`, newest (last received) first.
    pub fn latest(&self, content_type: &str, limit: usize) -> Vec<u64> {
        let Some(offsets) = self.by_type.get(content_type) else {
            return Vec::new();
        };
        offsets.iter().rev().take(limit).copied().collect()
    }
    /// Every type with its message count, by name.
    pub fn counts(&self) -> Vec<(String, usize)> {
        let mut out: Vec<_> = self
            .by_type
            .iter()
            .map(|(t, o)| (t.clone(), o.len()))
            .collect();
        out.sort_unstable();
        out
    }
}

impl View for TypesView {
    fn name(&self) -> &'static str {
        "types"
    }
    fn version(&self) -> u32 {
        1
    }
    fn apply(&mut self, msg: &Indexed<'_>) {
        let Some(ty) = msg.content_type else { return };
        match self.by_type.get_mut(ty) {
            Some(offsets) => offsets.push(msg.offset),
            None => {
                self.by_type.insert(ty.to_owned(), vec![msg.offset]);
            }
        }
    }
    fn encode(&self) -> Vec<u8> {
        let mut names: Vec<&String> = self.by_type.keys().collect();
        names.sort_unstable();
        let mut w = Writer::default();
        w.u64(names.len() as u64);
        for name in names {
            w.str(name);
            w.u64s(&self.by_type[name]);
        }
        w.0
    }
    fn decode(&mut self, bytes: &[u8]) -> Result<(), ViewDataError> {
        self.clear();
        let mut r = Reader::new(bytes);
        let n = r.count(16)?;
        for _ in 0..n {
            let name = r.string()?;
            self.by_type.insert(name, r.u64s()?);
        }
        r.finish()
    }
    fn clear(&mut self) {
        self.by_type.clear();
    }
    fn needs_content(&self) -> bool {
        false
    }
}
