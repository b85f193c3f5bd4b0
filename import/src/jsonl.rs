//! JSON lines: one JSON object per line (`{key, value, timestamp}` or a bare message value).
//!
//! Lines are handed out as raw bytes after a cheap shape check (a `{ … }` object); parsing
//! is left to [`crate::Entry::into_value`] so callers can parse in parallel. Blank lines are
//! skipped; a bad line is reported and reading goes on with the next one.

use std::io::{self, BufRead};

use bytes::Bytes;

use crate::{Data, Entry, Position, ReadError};

/// Longest line accepted; SSB messages are at most 8 KiB of UTF-16, so this is generous.
pub const MAX_LINE: usize = 1 << 20;
const BOM: &[u8] = b"\xEF\xBB\xBF";

/// Streams the entries of a JSON lines input.
#[derive(Debug)]
pub(crate) struct JsonLines<R> {
    pub(crate) input: R,
    line: u64,
    buf: Vec<u8>,
    done: bool,
}

impl<R: BufRead> JsonLines<R> {
    pub(crate) fn new(input: R) -> Self {
        JsonLines {
            input,
            line: 0,
            buf: Vec::new(),
            done: false,
        }
    }

    /// Reads the next line into `self.buf`; `Ok(None)` at the end, `Ok(Some(false))` when
    /// the line was too long (its head is dropped, the rest consumed).
    fn read_line(&mut self) -> io::Result<Option<bool>> {
        self.buf.clear();
        let mut fits = true;
        let mut any = false;
        loop {
            let avail = self.input.fill_buf()?;
            if avail.is_empty() {
                return Ok(any.then_some(fits));
            }
            any = true;
            let (take, end) = match memchr::memchr(b'\n', avail) {
                Some(i) => (i + 1, true),
                None => (avail.len(), false),
            };
            fits &= self.buf.len() + take <= MAX_LINE;
            if fits {
                self.buf.extend_from_slice(&avail[..take]);
            }
            self.input.consume(take);
            if end {
                return Ok(Some(fits));
            }
        }
    }

    /// Checks one non-blank line and turns it into an entry.
    fn entry(&self, fits: bool) -> Option<Result<Entry, ReadError>> {
        let pos = Position::Line(self.line);
        let mut text = self.buf.trim_ascii();
        if self.line == 1 {
            text = text.strip_prefix(BOM).unwrap_or(text);
        }
        let reason = match (fits, text.first(), text.last()) {
            (false, _, _) => "longer than 1 MiB",
            (_, None, _) => return None,
            (_, Some(b'{'), Some(b'}')) => {
                return Some(Ok(Entry {
                    pos,
                    data: Data::Json(Bytes::copy_from_slice(text)),
                }));
            }
            (_, Some(b'{'), _) => "does not end with '}'",
            _ => "does not start with '{'",
        };
        Some(Err(ReadError::BadLine { pos, reason }))
    }
}

impl<R: BufRead> Iterator for JsonLines<R> {
    type Item = Result<Entry, ReadError>;

    fn next(&mut self) -> Option<Self::Item> {
        while !self.done {
            self.line += 1;
            let fits = match self.read_line() {
                Ok(Some(fits)) => fits,
                Ok(None) => break,
                Err(source) => {
                    self.done = true;
                    return Some(Err(ReadError::Io {
                        pos: Position::Line(self.line),
                        source,
                    }));
                }
            };
            if let Some(item) = self.entry(fits) {
                return Some(item);
            }
        }
        self.done = true;
        None
    }
}
