//! The one error type of sluice-log.

use std::io;
use std::path::PathBuf;

use crate::format::FrameError;

/// Everything that can go wrong opening, writing or reading a log.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// An operating-system call failed.
    #[error("{op} {path}: {source}")]
    Io {
        /// What the log was doing.
        op: &'static str,
        /// The log file.
        path: PathBuf,
        /// The underlying error.
        source: io::Error,
    },
    /// Another handle (in this or another process) has the log open for writing.
    #[error(
        "{path} is already open for writing by another handle or process; close it, or open read-only"
    )]
    Locked {
        /// The log file.
        path: PathBuf,
    },
    /// The file is not a sluice log (wrong magic bytes).
    #[error("{path} is not a sluice log (bad magic bytes); check the path")]
    NotALog {
        /// The file.
        path: PathBuf,
    },
    /// The file was written by a format version this build cannot read.
    #[error(
        "{path} has log format version {version}, this build reads version {supported}; upgrade sluice"
    )]
    UnsupportedVersion {
        /// The log file.
        path: PathBuf,
        /// The version in the file.
        version: u32,
        /// The version this build reads.
        supported: u32,
    },
    /// The header is damaged: opening would risk losing acknowledged records.
    #[error("{path}: damaged log header ({reason}); restore it from a backup or run a verify")]
    BadHeader {
        /// The log file.
        path: PathBuf,
        /// What is wrong.
        reason: &'static str,
    },
    /// The file is shorter than its checkpoint says: acknowledged records are missing.
    #[error(
        "{path} is {file_len} bytes but records up to {checkpoint} were acknowledged; \
         the file was truncated outside sluice — restore it from a backup"
    )]
    Truncated {
        /// The log file.
        path: PathBuf,
        /// The durable end recorded in the header.
        checkpoint: u64,
        /// The actual file length.
        file_len: u64,
    },
    /// Strict recovery found an invalid tail and refused to drop it.
    #[error(
        "{path}: invalid data at offset {offset} ({reason}), {dropped} bytes would be dropped; \
         open with RecoveryMode::TruncateCorruptTail to truncate them"
    )]
    CorruptTail {
        /// The log file.
        path: PathBuf,
        /// Where the valid records end.
        offset: u64,
        /// Bytes past that point.
        dropped: u64,
        /// Why the bytes at `offset` are not a record.
        #[source]
        reason: FrameError,
    },
    /// No valid record at this offset: damaged data, or an offset that is not a record start.
    #[error(
        "no valid record at offset {offset}: {reason} (damaged log, or not an offset returned by append)"
    )]
    Corrupt {
        /// The offset asked for or reached.
        offset: u64,
        /// What is wrong with the bytes there.
        #[source]
        reason: FrameError,
    },
    /// The offset is outside the published records.
    #[error("offset {offset} is outside the log's records [{first}, {end})")]
    OutOfRange {
        /// The offset asked for.
        offset: u64,
        /// The first record's offset.
        first: u64,
        /// The published end.
        end: u64,
    },
    /// A record is longer than this log accepts.
    #[error("record of {len} bytes exceeds the limit of {max} bytes (LogOptions::max_record_size)")]
    RecordTooLarge {
        /// The record length.
        len: usize,
        /// The configured limit.
        max: usize,
    },
    /// A write was attempted on a read-only handle.
    #[error("the log was opened read-only; open it with Log::open to write")]
    ReadOnly,
    /// An earlier write or fsync failed; the log refuses writes until it is reopened.
    #[error(
        "an earlier write or fsync failed ({cause}); the log refuses writes until it is reopened"
    )]
    Poisoned {
        /// The first failure.
        cause: String,
    },
}

impl Error {
    pub(crate) fn io(op: &'static str, path: &std::path::Path, source: io::Error) -> Self {
        Self::Io {
            op,
            path: path.to_path_buf(),
            source,
        }
    }
}
