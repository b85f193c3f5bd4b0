//! The crate's error type: what went wrong with which input, and where.

use std::io;
use std::path::PathBuf;

use crate::Position;
use crate::bipf::DecodeError;

/// An error opening a store or reading one of its records.
///
/// Errors that carry a [`Position`] concern one record; the reader goes on after them when
/// the format allows it (see [`crate::Reader`]).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ReadError {
    /// The input file could not be opened.
    #[error("cannot open {}", path.display())]
    Open {
        /// The path given.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: io::Error,
    },
    /// Reading failed; the rest of the input is unreadable.
    #[error("read error at {pos}; the rest of the input was not read")]
    Io {
        /// How far reading had got.
        pos: Position,
        /// The underlying error.
        #[source]
        source: io::Error,
    },
    /// The first bytes match none of the supported formats.
    #[error(
        "unknown store format (first bytes: {head}); expected JSON lines, an ssb-server \
         flume/log.offset or an ssb-db2 db2/log.bipf"
    )]
    UnknownFormat {
        /// The first bytes, in hex.
        head: String,
    },
    /// A JSON lines line that is not a JSON object; the reader goes on with the next line.
    #[error("{pos}: not a JSON object ({reason}); line skipped")]
    BadLine {
        /// The line.
        pos: Position,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// A record's JSON text does not parse.
    #[error("{pos}: invalid JSON")]
    Json {
        /// The record.
        pos: Position,
        /// The parser's complaint.
        #[source]
        source: serde_json::Error,
    },
    /// A flumelog-offset frame cut short by the end of the file (an interrupted write).
    #[error("{pos}: truncated frame ({have} of {need} bytes); the rest of the file is unreadable")]
    Truncated {
        /// The frame's start.
        pos: Position,
        /// Bytes present from the frame's start to the end of the file.
        have: u64,
        /// Bytes the frame needs (at least).
        need: u64,
    },
    /// A flumelog-offset frame whose length copies or trailing offset disagree.
    #[error("{pos}: corrupt frame ({reason}); the rest of the file is unreadable")]
    BadFrame {
        /// The frame's start.
        pos: Position,
        /// Which check failed.
        reason: String,
    },
    /// An async-append-only-log record that overruns its block.
    #[error("{pos}: record length {len} overruns the block; skipping to the next block")]
    BadRecordLength {
        /// The record's length prefix.
        pos: Position,
        /// The length read.
        len: u16,
    },
    /// An async-append-only-log record whose BIPF does not decode.
    #[error("{pos}: corrupt BIPF record; skipping to the next block")]
    Bipf {
        /// The record's length prefix.
        pos: Position,
        /// The decoder's complaint.
        #[source]
        source: DecodeError,
    },
}

impl ReadError {
    /// The record the error is about, if it concerns one.
    pub fn position(&self) -> Option<Position> {
        match self {
            ReadError::Open { .. } | ReadError::UnknownFormat { .. } => None,
            ReadError::Io { pos, .. }
            | ReadError::BadLine { pos, .. }
            | ReadError::Json { pos, .. }
            | ReadError::Truncated { pos, .. }
            | ReadError::BadFrame { pos, .. }
            | ReadError::BadRecordLength { pos, .. }
            | ReadError::Bipf { pos, .. } => Some(*pos),
        }
    }
}
