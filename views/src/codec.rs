//! Little-endian helpers for view payloads, and a fast hasher for keys that are already
//! uniformly random (hash digests and public keys).

use std::hash::{BuildHasherDefault, Hasher};

use crate::view::ViewDataError;

/// Appends fixed-width little-endian values to a payload.
#[derive(Debug, Default)]
pub struct Writer(pub Vec<u8>);

impl Writer {
    /// A writer with room for `n` bytes.
    pub fn with_capacity(n: usize) -> Self {
        Self(Vec::with_capacity(n))
    }
    /// Appends a u64.
    pub fn u64(&mut self, v: u64) {
        self.0.extend_from_slice(&v.to_le_bytes());
    }
    /// Appends raw bytes.
    pub fn bytes(&mut self, b: &[u8]) {
        self.0.extend_from_slice(b);
    }
    /// Appends a length-prefixed UTF-8 string.
    pub fn str(&mut self, s: &str) {
        self.u64(s.len() as u64);
        self.bytes(s.as_bytes());
    }
}

/// Reads what [`Writer`] wrote, failing with a [`ViewDataError`] on short input.
#[derive(Debug)]
pub struct Reader<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl<'a> Reader<'a> {
    /// A reader at the start of `bytes`.
    pub fn new(bytes: &'a [u8]) -> Self {
        Self { bytes, at: 0 }
    }
    /// Reads `n` raw bytes.
    pub fn bytes(&mut self, n: usize) -> Result<&'a [u8], ViewDataError> {
        let end = self.at.checked_add(n).filter(|&e| e <= self.bytes.len());
        let end =
            end.ok_or_else(|| ViewDataError(format!("payload ends early at byte {}", self.at)))?;
        let out = &self.bytes[self.at..end];
        self.at = end;
        Ok(out)
    }
    /// Reads a u64.
    pub fn u64(&mut self) -> Result<u64, ViewDataError> {
        let mut b = [0; 8];
        b.copy_from_slice(self.bytes(8)?);
        Ok(u64::from_le_bytes(b))
    }
    /// Reads a count that must fit in the rest of the payload at `unit` bytes per item.
    pub fn count(&mut self, unit: usize) -> Result<usize, ViewDataError> {
        let n =
            usize::try_from(self.u64()?).map_err(|_| ViewDataError("count overflows".into()))?;
        if n.saturating_mul(unit.max(1)) > self.bytes.len() - self.at {
            return Err(ViewDataError(format!("count {n} exceeds the payload")));
        }
        Ok(n)
    }
    /// Reads a length-prefixed UTF-8 string.
    pub fn string(&mut self) -> Result<String, ViewDataError> {
        let n = self.count(1)?;
        let b = self.bytes(n)?;
        String::from_utf8(b.to_vec()).map_err(|_| ViewDataError("string is not UTF-8".into()))
    }
}

/// A hasher for keys that are already random (digests, public keys): mixes their first
/// eight bytes instead of running SipHash over all of them.
#[derive(Debug, Default, Clone, Copy)]
pub struct RandomKeyHasher(u64);

impl Hasher for RandomKeyHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for chunk in bytes.chunks(8).take(1) {
            let mut b = [0u8; 8];
            b[..chunk.len()].copy_from_slice(chunk);
            self.write_u64(u64::from_le_bytes(b));
        }
    }
    fn write_u64(&mut self, v: u64) {
        self.0 = (self.0.rotate_left(5) ^ v).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
    }
    fn write_usize(&mut self, v: usize) {
        self.write_u64(v as u64);
    }
}

/// A `HashMap` with foldhash's fast keyed hasher: several times cheaper than SipHash on the
/// short keys the views use, and still seeded at random per process, so keys chosen by
/// message authors (refs in content, type names) cannot be made to collide on purpose.
pub type FastMap<K, V> = std::collections::HashMap<K, V, foldhash::fast::RandomState>;
/// The set form of [`FastMap`].
pub type FastSet<K> = std::collections::HashSet<K, foldhash::fast::RandomState>;

/// `HashMap` builder using [`RandomKeyHasher`].
pub type RandomKeys = BuildHasherDefault<RandomKeyHasher>;
