//! Forward, reverse and live-tail iteration over records, zero-copy and CRC-checked.

use std::time::Duration;

use crate::Log;
use crate::error::Error;
use crate::format;

/// One record: its offset and its bytes.
pub type Item<'a> = Result<(u64, &'a [u8]), Error>;

fn to_pos(offset: u64) -> usize {
    usize::try_from(offset).expect("offsets inside a mapping fit usize")
}

/// Forward iterator from [`Log::iter`]. After an error it yields nothing more.
#[derive(Debug)]
pub struct Iter<'a> {
    buf: &'a [u8],
    pos: usize,
    done: bool,
}

impl<'a> Iter<'a> {
    pub(crate) fn new(buf: &'a [u8], from: u64) -> Self {
        let pos = usize::try_from(from).unwrap_or(usize::MAX).min(buf.len());
        Self {
            buf,
            pos,
            done: false,
        }
    }
}

impl<'a> Iterator for Iter<'a> {
    type Item = Item<'a>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done || self.pos >= self.buf.len() {
            return None;
        }
        let offset = self.pos as u64;
        match format::parse_frame(self.buf, self.pos) {
            Ok(frame) => {
                self.pos = frame.next;
                Some(Ok((offset, frame.payload(self.buf))))
            }
            Err(reason) => {
                self.done = true;
                Some(Err(Error::Corrupt { offset, reason }))
            }
        }
    }
}

/// Reverse iterator from [`Log::iter_rev`], newest first. After an error it yields nothing more.
#[derive(Debug)]
pub struct RevIter<'a> {
    buf: &'a [u8],
    pos: usize,
    first: usize,
    done: bool,
}

impl<'a> RevIter<'a> {
    pub(crate) fn new(buf: &'a [u8], before: u64, first: u64) -> Self {
        Self {
            buf,
            pos: to_pos(before),
            first: to_pos(first),
            done: false,
        }
    }
}

impl<'a> Iterator for RevIter<'a> {
    type Item = Item<'a>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done || self.pos <= self.first {
            return None;
        }
        match format::parse_frame_before(&self.buf[self.first..], self.pos - self.first) {
            Ok((start, frame)) => {
                let start = start + self.first;
                self.pos = start;
                Some(Ok((
                    start as u64,
                    &self.buf[self.first..][frame.payload_start..][..frame.payload_len],
                )))
            }
            Err(reason) => {
                self.done = true;
                Some(Err(Error::Corrupt {
                    offset: self.pos as u64,
                    reason,
                }))
            }
        }
    }
}

/// Blocking iterator from [`Log::tail`]: yields records as they are published; ends when the log
/// is closed or (with [`Tail::timeout`]) when nothing new arrives for that long.
#[derive(Debug)]
pub struct Tail<'a> {
    log: &'a Log,
    pos: u64,
    timeout: Option<Duration>,
    done: bool,
}

impl<'a> Tail<'a> {
    pub(crate) fn new(log: &'a Log, from: u64) -> Self {
        Self {
            log,
            pos: from,
            timeout: None,
            done: false,
        }
    }

    /// Ends the iteration when no new record arrives within `timeout`.
    #[must_use]
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }

    /// The offset the next record will be read from.
    #[must_use]
    pub fn position(&self) -> u64 {
        self.pos
    }

    fn read_at(&mut self, end: u64) -> Item<'a> {
        let buf = self.log.bytes(end);
        let offset = self.pos;
        let frame = format::parse_frame(buf, to_pos(offset))
            .map_err(|reason| Error::Corrupt { offset, reason })?;
        self.pos = frame.next as u64;
        Ok((offset, frame.payload(buf)))
    }
}

impl<'a> Iterator for Tail<'a> {
    type Item = Item<'a>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        let mut end = self.log.end();
        if end <= self.pos && !self.log.is_closed() {
            end = self.log.wait_for(self.pos, self.timeout);
        }
        if end <= self.pos {
            self.done = true;
            return None;
        }
        let item = self.read_at(end);
        self.done = item.is_err();
        Some(item)
    }
}
