//! Compact little-endian payload encoding shared by the graph views (contacts, tangles, backlinks).
//!
//! Integers that are usually small (counts, indexes, offset deltas) are LEB128 varints; ids are
//! their raw 32 bytes; floats are 8 little-endian bytes. The database frames and checksums the
//! payload; this module only has to reject input that is short, overlong or inconsistent.

use crate::view::ViewDataError;

/// Appends values to a payload.
#[derive(Debug, Default)]
pub(crate) struct Writer(pub(crate) Vec<u8>);

impl Writer {
    /// An empty writer with room for `bytes` bytes.
    pub(crate) fn with_capacity(bytes: usize) -> Self {
        Self(Vec::with_capacity(bytes))
    }

    /// Appends one byte.
    pub(crate) fn u8(&mut self, v: u8) {
        self.0.push(v);
    }

    /// Appends an unsigned LEB128 varint (1–10 bytes).
    pub(crate) fn var(&mut self, mut v: u64) {
        while v >= 0x80 {
            self.0.push((v as u8) | 0x80);
            v >>= 7;
        }
        self.0.push(v as u8);
    }

    /// Appends a length as a varint.
    pub(crate) fn len(&mut self, n: usize) {
        self.var(n as u64);
    }

    /// Appends a float as 8 little-endian bytes.
    pub(crate) fn f64(&mut self, v: f64) {
        self.0.extend_from_slice(&v.to_le_bytes());
    }

    /// Appends 32 raw bytes (a key or hash).
    pub(crate) fn id(&mut self, id: &[u8; 32]) {
        self.0.extend_from_slice(id);
    }

    /// Appends a length-prefixed UTF-8 string.
    pub(crate) fn str(&mut self, s: &str) {
        self.len(s.len());
        self.0.extend_from_slice(s.as_bytes());
    }
}

/// Reads what [`Writer`] wrote.
#[derive(Debug)]
pub(crate) struct Reader<'a> {
    rest: &'a [u8],
}

impl<'a> Reader<'a> {
    /// A reader over a whole payload.
    pub(crate) fn new(bytes: &'a [u8]) -> Self {
        Self { rest: bytes }
    }

    /// Bytes not read yet.
    pub(crate) fn remaining(&self) -> usize {
        self.rest.len()
    }

    /// Takes `n` raw bytes.
    pub(crate) fn take(&mut self, n: usize) -> Result<&'a [u8], ViewDataError> {
        if n > self.rest.len() {
            return Err(ViewDataError(format!(
                "payload ends {} bytes early",
                n - self.rest.len()
            )));
        }
        let (head, tail) = self.rest.split_at(n);
        self.rest = tail;
        Ok(head)
    }

    /// Reads one byte.
    pub(crate) fn u8(&mut self) -> Result<u8, ViewDataError> {
        Ok(self.take(1)?[0])
    }

    /// Reads an unsigned LEB128 varint, rejecting one longer than a u64.
    pub(crate) fn var(&mut self) -> Result<u64, ViewDataError> {
        let mut v = 0u64;
        for shift in (0..64).step_by(7) {
            let b = self.u8()?;
            let bits = u64::from(b & 0x7f);
            if shift == 63 && bits > 1 {
                break;
            }
            v |= bits << shift;
            if b & 0x80 == 0 {
                return Ok(v);
            }
        }
        Err(ViewDataError("varint overflows 64 bits".into()))
    }

    /// Reads a count of items that each take at least `min_size` bytes, so a corrupt count
    /// cannot make the caller reserve more memory than the payload could describe.
    pub(crate) fn len(&mut self, min_size: usize) -> Result<usize, ViewDataError> {
        let n = self.var()?;
        let fits = usize::try_from(n)
            .ok()
            .filter(|n| n.saturating_mul(min_size.max(1)) <= self.rest.len());
        fits.ok_or_else(|| ViewDataError(format!("count {n} is larger than the payload")))
    }

    /// Reads a varint that must fit in a u32 index below `bound`.
    pub(crate) fn index(&mut self, bound: usize) -> Result<u32, ViewDataError> {
        let v = self.var()?;
        match u32::try_from(v) {
            Ok(i) if (i as usize) < bound => Ok(i),
            _ => Err(ViewDataError(format!("index {v} out of range (< {bound})"))),
        }
    }

    /// Reads a float.
    pub(crate) fn f64(&mut self) -> Result<f64, ViewDataError> {
        let mut b = [0u8; 8];
        b.copy_from_slice(self.take(8)?);
        Ok(f64::from_le_bytes(b))
    }

    /// Reads 32 raw bytes.
    pub(crate) fn id(&mut self) -> Result<[u8; 32], ViewDataError> {
        let mut b = [0u8; 32];
        b.copy_from_slice(self.take(32)?);
        Ok(b)
    }

    /// Reads a length-prefixed UTF-8 string.
    pub(crate) fn str(&mut self) -> Result<String, ViewDataError> {
        let n = self.len(1)?;
        let bytes = self.take(n)?;
        String::from_utf8(bytes.to_vec()).map_err(|_| ViewDataError("a name is not UTF-8".into()))
    }

    /// Fails unless the whole payload was read.
    pub(crate) fn finish(self) -> Result<(), ViewDataError> {
        match self.rest.len() {
            0 => Ok(()),
            n => Err(ViewDataError(format!(
                "{n} unexpected bytes after the data"
            ))),
        }
    }
}

/// Reads a count and that many strings from the start of `bytes`; returns them with where
/// they end (the views read in place keep such a list in front of their directory).
pub(crate) fn strings(bytes: &[u8]) -> Result<(Vec<String>, usize), ViewDataError> {
    let mut r = Reader::new(bytes);
    let list = (0..r.len(1)?)
        .map(|_| r.str())
        .collect::<Result<Vec<_>, _>>()?;
    Ok((list, bytes.len() - r.remaining()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_round_trip() {
        let mut w = Writer::default();
        for v in [0, 1, 127, 128, 300, u64::from(u32::MAX), u64::MAX] {
            w.var(v);
        }
        w.f64(-1.5);
        w.id(&[7; 32]);
        w.str("gathering");
        w.u8(9);
        let mut r = Reader::new(&w.0);
        for v in [0, 1, 127, 128, 300, u64::from(u32::MAX), u64::MAX] {
            assert_eq!(r.var().unwrap(), v);
        }
        assert_eq!(r.f64().unwrap(), -1.5);
        assert_eq!(r.id().unwrap(), [7; 32]);
        assert_eq!(r.str().unwrap(), "gathering");
        assert_eq!(r.u8().unwrap(), 9);
        r.finish().unwrap();
    }

    #[test]
    fn bad_input_is_an_error() {
        assert!(Reader::new(&[0xff; 11]).var().is_err());
        assert!(Reader::new(&[0x80]).var().is_err());
        assert!(Reader::new(&[200, 1]).len(1).is_err());
        assert!(Reader::new(&[5]).index(5).is_err());
        assert!(Reader::new(&[1, 2]).finish().is_err());
        assert!(Reader::new(&[2, 0xff, 0xfe]).str().is_err());
    }
}
