//! ssb-server's `flume/log.offset` (flumelog-offset v3).
//!
//! The file is contiguous frames with no padding, big-endian throughout:
//! ```text
//! [u32 len][len bytes of JSON {key,value,timestamp}][u32 len][u32 offset just past this frame]
//! ```
//! Both length copies and the trailing offset are checked. The first frame that is cut
//! short or inconsistent ends the readable part of the file: it is reported with its byte
//! offset, and every good frame before it has already come out.

use std::io::{self, Read};

use bytes::Bytes;

use crate::{Data, Entry, Position, ReadError};

/// Size of each of the three `u32` fields of a frame.
pub const FIELD: u64 = size_of::<u32>() as u64;
/// Bytes a frame adds around its data: leading length, trailing length, trailing offset.
pub const OVERHEAD: u64 = 3 * FIELD;
/// Largest frame data accepted; anything bigger is taken as corruption.
pub const MAX_FRAME: u32 = 16 << 20;

/// Bytes read from the input at a time (more when a frame is bigger).
const READ: usize = 256 * 1024;

/// Streams the entries of a flumelog-offset file.
///
/// The input is read [`READ`] bytes at a time into a buffer of its own, and each frame's data
/// is handed out as a slice of it ([`Bytes`]: shared and reference-counted), so reading costs
/// one `read` call per buffer instead of an allocation and a copy per frame. A buffer is freed
/// once the entries cut from it are dropped; a frame cut in two by the end of a buffer is
/// copied into the next one.
#[derive(Debug)]
pub(crate) struct OffsetLog<R> {
    pub(crate) input: R,
    /// The buffer read last; from `at` on, the bytes not yet handed out (at `offset` in the
    /// file).
    block: Bytes,
    at: usize,
    /// The input has ended: no more bytes will come into `block`.
    eof: bool,
    offset: u64,
    done: bool,
}

/// Reads until `buf` is full or the input ends; returns the bytes read.
pub(crate) fn read_full(input: &mut impl Read, buf: &mut [u8]) -> io::Result<usize> {
    let mut got = 0;
    while got < buf.len() {
        match input.read(&mut buf[got..]) {
            Ok(0) => break,
            Ok(n) => got += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(got)
}

fn be32(bytes: &[u8]) -> u32 {
    let mut word = [0; 4];
    word.copy_from_slice(&bytes[..4]);
    u32::from_be_bytes(word)
}

/// Checks a whole frame's trailer against its length and position.
pub(crate) fn check_trailer(start: u64, len: u32, trailer: &[u8]) -> Result<(), String> {
    let (len2, end) = (be32(trailer), be32(&trailer[4..]));
    let expected = start + u64::from(len) + OVERHEAD;
    if len2 != len {
        return Err(format!("leading length {len} but trailing length {len2}"));
    }
    if u64::from(end) != expected % (1 << 32) {
        return Err(format!("trailing offset {end}, expected {expected}"));
    }
    Ok(())
}

impl<R: Read> OffsetLog<R> {
    pub(crate) fn new(input: R) -> Self {
        OffsetLog {
            input,
            block: Bytes::new(),
            at: 0,
            eof: false,
            offset: 0,
            done: false,
        }
    }

    /// Makes the unread part of the buffer at least `want` bytes long, unless the input ends
    /// first; returns its length. A new buffer starts with the unread tail of the old one
    /// (part of one frame), then [`READ`] bytes more (or as many as the frame needs).
    fn fill(&mut self, want: usize) -> io::Result<usize> {
        let have = self.block.len() - self.at;
        if have >= want || self.eof {
            return Ok(have);
        }
        let ask = READ.max(want - have);
        let mut next = Vec::with_capacity(have + ask);
        next.extend_from_slice(&self.block[self.at..]);
        let got = (&mut self.input).take(ask as u64).read_to_end(&mut next)?;
        self.eof = got < ask;
        self.block = Bytes::from(next);
        self.at = 0;
        Ok(self.block.len())
    }

    /// Reads the frame at `self.offset`; `Ok(None)` at a clean end of file.
    fn frame(&mut self) -> Result<Option<Entry>, ReadError> {
        let pos = Position::Byte(self.offset);
        let io = |source| ReadError::Io { pos, source };
        let field = FIELD as usize;
        let got = self.fill(field).map_err(io)?;
        if got == 0 {
            return Ok(None);
        }
        if got < field {
            return Err(ReadError::Truncated {
                pos,
                have: got as u64,
                need: FIELD,
            });
        }
        let len = be32(&self.block[self.at..]);
        if len == 0 || len > MAX_FRAME {
            return Err(ReadError::BadFrame {
                pos,
                reason: format!("implausible length {len}"),
            });
        }
        let need = u64::from(len) + OVERHEAD;
        let got = self.fill(need as usize).map_err(io)?;
        if got < need as usize {
            return Err(ReadError::Truncated {
                pos,
                have: got as u64,
                need,
            });
        }
        let (start, data_end) = (self.at + field, self.at + field + len as usize);
        check_trailer(
            self.offset,
            len,
            &self.block[data_end..self.at + need as usize],
        )
        .map_err(|reason| ReadError::BadFrame { pos, reason })?;
        let body = self.block.slice(start..data_end);
        self.at += need as usize;
        self.offset += need;
        Ok(Some(Entry {
            pos,
            data: Data::Json(body),
        }))
    }
}

impl<R: Read> Iterator for OffsetLog<R> {
    type Item = Result<Entry, ReadError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        let item = self.frame().transpose();
        self.done = !matches!(item, Some(Ok(_)));
        item
    }
}
