//! ssb-db2's `db2/log.bipf` (async-append-only-log holding BIPF records).
//!
//! The file is 64 KiB blocks; each holds records `[u16 LE len][len bytes of BIPF]` back to
//! back, and a zero length (or the block's end) ends the block. Records never span blocks.
//! A deleted record keeps its length but its bytes are zeroed: it is skipped and counted.
//! A record that overruns its block or does not decode is reported, and reading goes on at
//! the next block (the length prefixes after a bad one cannot be trusted).

use std::io::Read;

use crate::offset::read_full;
use crate::{Data, Entry, Position, ReadError, bipf};

/// Size of a block.
pub const BLOCK: usize = 64 * 1024;
/// Size of a record's length prefix.
pub const LEN: usize = size_of::<u16>();

/// Streams the entries of an async-append-only-log of BIPF records.
#[derive(Debug)]
pub(crate) struct BipfLog<R> {
    pub(crate) input: R,
    block: Vec<u8>,
    /// Number of the block in `block`; `u64::MAX` before the first.
    number: u64,
    at: usize,
    pub(crate) deleted: u64,
    done: bool,
}

impl<R: Read> BipfLog<R> {
    pub(crate) fn new(input: R) -> Self {
        BipfLog {
            input,
            block: vec![0; BLOCK],
            number: u64::MAX,
            at: BLOCK,
            deleted: 0,
            done: false,
        }
    }

    /// Loads the next block; `Ok(false)` at the end of the input.
    fn next_block(&mut self) -> Result<bool, ReadError> {
        self.number = self.number.wrapping_add(1);
        self.block.resize(BLOCK, 0);
        let got = read_full(&mut self.input, &mut self.block).map_err(|source| ReadError::Io {
            pos: self.pos(0),
            source,
        })?;
        self.block.truncate(got);
        self.at = 0;
        Ok(got > 0)
    }

    fn pos(&self, offset: usize) -> Position {
        // A block offset is below 64 KiB, so it fits in u32.
        Position::Block {
            block: self.number,
            offset: offset as u32,
        }
    }

    /// The next record of the current block: `None` when the block has no more.
    fn record(&mut self) -> Option<Result<Entry, ReadError>> {
        loop {
            let at = self.at;
            let len = match self.block.get(at..at + LEN) {
                Some(&[lo, hi]) => u16::from_le_bytes([lo, hi]),
                _ => 0,
            };
            if len == 0 {
                return None;
            }
            let (start, end) = (at + LEN, at + LEN + usize::from(len));
            self.at = if end <= self.block.len() { end } else { BLOCK };
            let Some(bytes) = self.block.get(start..end) else {
                return Some(Err(ReadError::BadRecordLength {
                    pos: self.pos(at),
                    len,
                }));
            };
            if bytes.iter().all(|&b| b == 0) {
                self.deleted += 1;
                continue;
            }
            return Some(self.decode(at, start, end));
        }
    }

    fn decode(&mut self, at: usize, start: usize, end: usize) -> Result<Entry, ReadError> {
        let pos = self.pos(at);
        match bipf::decode(&self.block[start..end]) {
            Ok(value) => Ok(Entry {
                pos,
                data: Data::Value(value),
            }),
            Err(source) => {
                self.at = BLOCK;
                Err(ReadError::Bipf { pos, source })
            }
        }
    }
}

impl<R: Read> Iterator for BipfLog<R> {
    type Item = Result<Entry, ReadError>;

    fn next(&mut self) -> Option<Self::Item> {
        while !self.done {
            if let Some(item) = self.record() {
                return Some(item);
            }
            match self.next_block() {
                Ok(true) => {}
                Ok(false) => self.done = true,
                Err(e) => {
                    self.done = true;
                    return Some(Err(e));
                }
            }
        }
        None
    }
}
