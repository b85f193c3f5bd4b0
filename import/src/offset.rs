//! ssb-server's `flume/log.offset` (flumelog-offset v3).
//!
//! The file is contiguous frames with no padding, big-endian throughout:
//! ```text
//! [u32 len][len bytes of JSON {key,value,timestamp}][u32 len][u32 offset just past this frame]
//! ```
//! Both length copies and the trailing offset are checked. The first frame that is cut
//! short or inconsistent ends the readable part of the file: it is reported with its byte
//! offset, and every good frame before it has already come out.

use std::io::{self, BufRead, Read};

use crate::{Data, Entry, Position, ReadError};

/// Size of each of the three `u32` fields of a frame.
pub const FIELD: u64 = size_of::<u32>() as u64;
/// Bytes a frame adds around its data: leading length, trailing length, trailing offset.
pub const OVERHEAD: u64 = 3 * FIELD;
/// Largest frame data accepted; anything bigger is taken as corruption.
pub const MAX_FRAME: u32 = 16 << 20;

/// Streams the entries of a flumelog-offset file.
#[derive(Debug)]
pub(crate) struct OffsetLog<R> {
    pub(crate) input: R,
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

/// Appends up to `n` bytes of `input` to `out`, straight from its buffer (nothing is zeroed
/// first); returns how many came before the input ended.
fn read_into(input: &mut impl BufRead, out: &mut Vec<u8>, n: usize) -> io::Result<usize> {
    let mut got = 0;
    while got < n {
        let buf = match input.fill_buf() {
            Ok([]) => break,
            Ok(buf) => buf,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        let take = buf.len().min(n - got);
        out.extend_from_slice(&buf[..take]);
        input.consume(take);
        got += take;
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

impl<R: BufRead> OffsetLog<R> {
    pub(crate) fn new(input: R) -> Self {
        OffsetLog {
            input,
            offset: 0,
            done: false,
        }
    }

    /// Reads the frame at `self.offset`; `Ok(None)` at a clean end of file.
    fn frame(&mut self) -> Result<Option<Entry>, ReadError> {
        let pos = Position::Byte(self.offset);
        let io = |source| ReadError::Io { pos, source };
        let mut head = [0; FIELD as usize];
        let got = read_full(&mut self.input, &mut head).map_err(io)?;
        if got == 0 {
            return Ok(None);
        }
        if got < head.len() {
            return Err(ReadError::Truncated {
                pos,
                have: got as u64,
                need: FIELD,
            });
        }
        let len = be32(&head);
        if len == 0 || len > MAX_FRAME {
            return Err(ReadError::BadFrame {
                pos,
                reason: format!("implausible length {len}"),
            });
        }
        let mut body = Vec::with_capacity(len as usize);
        let mut trailer = [0; 2 * FIELD as usize];
        let got = read_into(&mut self.input, &mut body, len as usize).map_err(io)?;
        let got = got + read_full(&mut self.input, &mut trailer).map_err(io)?;
        let need = u64::from(len) + OVERHEAD;
        if got < len as usize + trailer.len() {
            return Err(ReadError::Truncated {
                pos,
                have: FIELD + got as u64,
                need,
            });
        }
        check_trailer(self.offset, len, &trailer)
            .map_err(|reason| ReadError::BadFrame { pos, reason })?;
        self.offset += need;
        Ok(Some(Entry {
            pos,
            data: Data::Json(body),
        }))
    }
}

impl<R: BufRead> Iterator for OffsetLog<R> {
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
