//! sluice-log: a generic, crash-safe, memory-mapped, append-only log of byte records.
//!
//! A [`Log`] is one file: a 64-byte header, then record frames (`len | crc32 | payload | len`,
//! see `log/FORMAT.md`). A record's id is its byte offset (`u64`), stable for the life of the
//! log. The log knows nothing about what the bytes mean.
//!
//! # Durability contract
//!
//! - [`Log::append`] returns the record's offset at once, but the record is neither durable nor
//!   visible to readers yet.
//! - [`Log::flush`] writes every appended record, fsyncs the file, records a checkpoint of the
//!   durable end in the header, and only then publishes the new end to readers and wakes
//!   waiters. When `flush` returns `Ok(end)`, every record below `end` survives a crash or power
//!   loss, and is **never** discarded by a later open.
//! - Readers ([`Log::get`], [`Log::iter`], [`Log::iter_rev`], [`Log::tail`]), in any thread, see
//!   only records below [`Log::end`], which are durable. Every read checks the record's CRC32.
//! - On open, the header's checkpoint says which bytes were verified when they were flushed; only
//!   the records after it are scanned (so opening a large clean log is fast). A torn or corrupt
//!   **tail** after the checkpoint is truncated ([`RecoveryMode::TruncateCorruptTail`], the
//!   default) or refused ([`RecoveryMode::Strict`]); [`Log::recovery`] says what was dropped.
//!   Damage *before* the checkpoint is never cut away: reads of it return [`Error::Corrupt`]
//!   naming the offset, and [`Log::verify`] scans for it. A file shorter than its checkpoint is
//!   refused with [`Error::Truncated`].
//! - One writer per file across processes (an exclusive file lock); [`Log::open_read_only`]
//!   handles take no lock, never modify the file, and pick up other processes' flushes with
//!   [`Log::refresh`].
//! - After a failed write or fsync the handle refuses every further append and flush
//!   ([`Error::Poisoned`]) until the log is reopened, which recovers from the file.
//! - Dropping a writer handle flushes (best effort, errors ignored); only an `Ok` from `flush`
//!   is a guarantee.
//!
//! The file belongs to sluice while it is open: another program truncating or rewriting it can
//! crash the process (the mapping would point past the end of the file).

mod error;
pub mod format;
mod iter;
mod log;
#[expect(
    unsafe_code,
    reason = "the memory mapping of the log file, and the cache prefetch hint into it, live here and only here"
)]
mod map;
#[expect(
    unsafe_code,
    reason = "read-only mappings of files that are replaced, never rewritten (view files)"
)]
mod mapped;
mod recovery;
#[expect(
    unsafe_code,
    reason = "sync_file_range, a write-back hint std does not offer, is a libc call"
)]
mod writeback;
mod writer;

pub use error::Error;
pub use format::FrameError;
pub use iter::{Item, Iter, RevIter, Tail, Unverified, UnverifiedIter};
pub use log::{Log, LogOptions, VerifyReport};
pub use mapped::MappedFile;
pub use recovery::{Recovery, RecoveryMode};

/// Asks the CPU to start loading `bytes` into its caches: a hint only, which reads nothing
/// architecturally, cannot fault and changes no state. The instruction needs `unsafe`, which
/// only this crate may hold; the views use it to overlap the cache misses of a run of records.
pub fn prefetch(bytes: &[u8]) {
    map::prefetch(bytes);
}

#[cfg(test)]
mod tests;
