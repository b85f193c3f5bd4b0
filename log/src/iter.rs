//! Forward, reverse and live-tail iteration over records, zero-copy and CRC-checked.

use std::time::Duration;

use crate::Log;
use crate::error::Error;
use crate::format;

/// One record: its offset and its bytes.
pub type Item<'a> = Result<(u64, &'a [u8]), Error>;

/// A published stretch of records: the bytes from offset `base` up to the published end.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Records<'a> {
    buf: &'a [u8],
    base: u64,
}

impl<'a> Records<'a> {
    pub(crate) fn new(buf: &'a [u8], base: u64) -> Self {
        Self { buf, base }
    }

    /// The offset just past the last byte.
    pub(crate) fn end(&self) -> u64 {
        self.base + self.buf.len() as u64
    }

    /// Position of `offset` in `buf`; `offset` is between `base` and `end()`.
    fn pos(&self, offset: u64) -> usize {
        usize::try_from(offset - self.base).expect("offsets inside a mapping fit usize")
    }

    /// The record at `offset` (`base <= offset < end()`) and the next record's offset.
    pub(crate) fn read(&self, offset: u64) -> Result<(&'a [u8], u64), Error> {
        let frame = format::parse_frame(self.buf, self.pos(offset))
            .map_err(|reason| Error::Corrupt { offset, reason })?;
        Ok((frame.payload(self.buf), self.base + frame.next as u64))
    }

    /// The frame at `offset` with its CRC not checked yet, and the next record's offset.
    fn read_unverified(&self, offset: u64) -> Result<(Unverified<'a>, u64), Error> {
        let pos = self.pos(offset);
        let frame = format::parse_frame_shape(self.buf, pos)
            .map_err(|reason| Error::Corrupt { offset, reason })?;
        let record = Unverified {
            offset,
            frame: &self.buf[pos..frame.next],
        };
        Ok((record, self.base + frame.next as u64))
    }

    /// The record that ends at `end` (`base < end <= end()`) and its offset.
    fn read_before(&self, end: u64) -> Item<'a> {
        let (start, frame) =
            format::parse_frame_before(self.buf, self.pos(end)).map_err(|reason| {
                Error::Corrupt {
                    offset: end,
                    reason,
                }
            })?;
        Ok((self.base + start as u64, frame.payload(self.buf)))
    }
}

/// A forward walk over the records: where it is, and whether it stopped at an error (after
/// which it yields nothing more). Shared by [`Iter`] and [`UnverifiedIter`].
#[derive(Debug)]
struct Walk<'a> {
    records: Records<'a>,
    next: u64,
    done: bool,
}

impl<'a> Walk<'a> {
    fn new(records: Records<'a>, from: u64) -> Self {
        Self {
            records,
            next: from,
            done: false,
        }
    }

    /// Reads the record at the walk's position with `read` (which also gives the next
    /// record's offset) and moves past it; stops for good at the first error.
    fn step<T>(
        &mut self,
        read: impl FnOnce(&Records<'a>, u64) -> Result<(T, u64), Error>,
    ) -> Option<Result<T, Error>> {
        if self.done || self.next >= self.records.end() {
            return None;
        }
        match read(&self.records, self.next) {
            Ok((item, next)) => {
                self.next = next;
                Some(Ok(item))
            }
            Err(err) => {
                self.done = true;
                Some(Err(err))
            }
        }
    }
}

/// Forward iterator from [`Log::iter`]. After an error it yields nothing more.
#[derive(Debug)]
pub struct Iter<'a> {
    walk: Walk<'a>,
}

impl<'a> Iter<'a> {
    pub(crate) fn new(records: Records<'a>, from: u64) -> Self {
        Self {
            walk: Walk::new(records, from),
        }
    }
}

impl<'a> Iterator for Iter<'a> {
    type Item = Item<'a>;

    fn next(&mut self) -> Option<Self::Item> {
        self.walk.step(|records, offset| {
            let (payload, next) = records.read(offset)?;
            Ok(((offset, payload), next))
        })
    }
}

/// A record whose frame is sound (length, flags, trailer) but whose CRC is not checked yet:
/// its bytes are only given out by [`Unverified::verify`].
#[derive(Debug, Clone, Copy)]
pub struct Unverified<'a> {
    offset: u64,
    /// The whole frame, head to trailer.
    frame: &'a [u8],
}

impl<'a> Unverified<'a> {
    /// The record's offset.
    #[must_use]
    pub fn offset(&self) -> u64 {
        self.offset
    }

    /// Checks the CRC; the record's offset and bytes when it matches.
    pub fn verify(&self) -> Item<'a> {
        let frame = format::Frame {
            payload_start: format::FRAME_HEAD_LEN,
            payload_len: self.frame.len() - format::FRAME_OVERHEAD,
            next: self.frame.len(),
        };
        format::check_frame_crc(self.frame, 0, &frame).map_err(|reason| Error::Corrupt {
            offset: self.offset,
            reason,
        })?;
        Ok((self.offset, frame.payload(self.frame)))
    }
}

/// Forward iterator from [`Log::iter_unverified`]: walks the frames without checking their
/// CRCs, so that the caller can check them in parallel. After an error it yields nothing more.
#[derive(Debug)]
pub struct UnverifiedIter<'a> {
    walk: Walk<'a>,
    /// Position in the records' bytes up to which cache lines were asked for.
    prefetched: usize,
}

/// How far ahead of the walk [`UnverifiedIter`] asks for the log's bytes.
const WALK_AHEAD: usize = 16 << 10;

impl<'a> UnverifiedIter<'a> {
    pub(crate) fn new(records: Records<'a>, from: u64) -> Self {
        let prefetched = records.pos(from.clamp(records.base, records.end()));
        Self {
            walk: Walk::new(records, from),
            prefetched,
        }
    }
}

impl<'a> Iterator for UnverifiedIter<'a> {
    type Item = Result<Unverified<'a>, Error>;

    fn next(&mut self) -> Option<Self::Item> {
        let item = self
            .walk
            .step(|records, offset| records.read_unverified(offset));
        self.prefetch_ahead();
        item
    }
}

impl UnverifiedIter<'_> {
    /// Each step reads a frame's head, whose place depends on the frame before: a chain of
    /// cache misses, one per record. Asking for the bytes [`WALK_AHEAD`] past the walk, in
    /// order, breaks the chain (and the caller's CRC check then finds them in cache).
    fn prefetch_ahead(&mut self) {
        let records = &self.walk.records;
        let at = records.pos(self.walk.next.clamp(records.base, records.end()));
        let ahead = (at + WALK_AHEAD).min(records.buf.len());
        if ahead > self.prefetched {
            crate::map::prefetch(&records.buf[self.prefetched..ahead]);
            self.prefetched = ahead;
        }
    }
}

/// Reverse iterator from [`Log::iter_rev`], newest first. After an error it yields nothing more.
#[derive(Debug)]
pub struct RevIter<'a> {
    records: Records<'a>,
    before: u64,
    done: bool,
}

impl<'a> RevIter<'a> {
    pub(crate) fn new(records: Records<'a>, before: u64) -> Self {
        Self {
            records,
            before,
            done: false,
        }
    }
}

impl<'a> Iterator for RevIter<'a> {
    type Item = Item<'a>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done || self.before <= self.records.base {
            return None;
        }
        let item = self.records.read_before(self.before);
        match &item {
            Ok((offset, _)) => self.before = *offset,
            Err(_) => self.done = true,
        }
        Some(item)
    }
}

/// Blocking iterator from [`Log::tail`]: yields records as they are published; ends when the log
/// is closed or (with [`Tail::timeout`]) when nothing new arrives for that long.
#[derive(Debug)]
pub struct Tail<'a> {
    log: &'a Log,
    next: u64,
    timeout: Option<Duration>,
    done: bool,
}

impl<'a> Tail<'a> {
    pub(crate) fn new(log: &'a Log, from: u64) -> Self {
        Self {
            log,
            next: from,
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
        self.next
    }

    fn read(&mut self, end: u64) -> Item<'a> {
        let offset = self.next;
        let (payload, next) = self.log.records(end).read(offset)?;
        self.next = next;
        Ok((offset, payload))
    }
}

impl<'a> Iterator for Tail<'a> {
    type Item = Item<'a>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        let mut end = self.log.end();
        if end <= self.next && !self.log.is_closed() {
            end = self.log.wait_for(self.next, self.timeout);
        }
        if end <= self.next {
            self.done = true;
            return None;
        }
        let item = self.read(end);
        self.done = item.is_err();
        Some(item)
    }
}
