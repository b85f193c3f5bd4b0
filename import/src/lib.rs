//! sluice-import: readers for foreign SSB stores (JSON lines, flumelog-offset, ssb-db2 log.bipf).
//!
//! [`open`] a file (or `-` for stdin): the format is detected from its first bytes
//! ([`detect`]), and the [`Reader`] streams [`Entry`]s, each with its [`Position`] in the
//! file. Entries from JSON text are handed over unparsed ([`Data::Json`]) so callers can
//! parse them in parallel batches with [`Entry::into_value`]; log.bipf entries come decoded
//! by the [`bipf`] decoder. Unreadable records are reported as [`ReadError`]s naming their
//! position, and [`Reader::counts`] keeps the totals. This crate knows nothing of the
//! database: it turns files into entries.
#![forbid(unsafe_code)]

mod aaol;
pub mod bipf;
mod detect;
mod entry;
mod error;
mod jsonl;
mod offset;
mod reader;

pub use detect::{Format, HEAD, detect};
pub use entry::{Counts, Data, Entry, Position, Record};
pub use error::ReadError;
pub use jsonl::MAX_LINE;
pub use reader::Reader;

/// Opens a store file, or standard input for `-`, detecting its format.
///
/// # Errors
/// See [`Reader::open`].
pub fn open(path: impl AsRef<std::path::Path>) -> Result<Reader, ReadError> {
    Reader::open(path)
}
