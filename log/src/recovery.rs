//! Opening a file: header checks, the checkpoint, and the scan of the tail written after it.

use std::fmt;
use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::Path;

use crate::error::Error;
use crate::format::{self, Checkpoint, FrameError, HEADER_LEN, HeaderError};

/// How `open` treats an invalid tail (bytes after the last valid record that was not yet
/// covered by a checkpoint).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum RecoveryMode {
    /// Truncate the file to the last valid record and report what was dropped in
    /// [`Log::recovery`](crate::Log::recovery). A read-only handle ignores the tail instead.
    #[default]
    TruncateCorruptTail,
    /// Refuse to open ([`Error::CorruptTail`]) if any invalid tail exists.
    Strict,
}

/// What `open` found: where the checkpoint was, where valid records end, what was dropped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recovery {
    /// The durable end recorded in the header (everything below it was trusted without a scan).
    pub checkpoint: u64,
    /// Records scanned past the checkpoint.
    pub scanned_records: u64,
    /// End of the last valid record: the log's end after opening.
    pub valid_end: u64,
    /// File length found on open.
    pub file_len: u64,
    /// Why the bytes at `valid_end` are not a record, when `valid_end < file_len`.
    pub reason: Option<FrameError>,
    /// Whether the file was truncated to `valid_end` (never for a read-only handle).
    pub truncated: bool,
}

impl Recovery {
    /// Bytes past the last valid record (torn or corrupt tail).
    #[must_use]
    pub fn dropped(&self) -> u64 {
        self.file_len - self.valid_end
    }

    /// True when nothing had to be dropped.
    #[must_use]
    pub fn is_clean(&self) -> bool {
        self.dropped() == 0
    }
}

impl fmt::Display for Recovery {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "checkpoint {}, {} records after it, valid end {}",
            self.checkpoint, self.scanned_records, self.valid_end
        )?;
        match self.reason {
            None => f.write_str(", clean"),
            Some(reason) => {
                let action = if self.truncated {
                    "truncated"
                } else {
                    "ignored"
                };
                write!(
                    f,
                    "; {action} {} bytes at offset {}: {reason}",
                    self.dropped(),
                    self.valid_end
                )
            }
        }
    }
}

/// Reads the header of `file` and returns its newest checkpoint.
pub fn read_checkpoint(file: &File, path: &Path) -> Result<Checkpoint, Error> {
    let mut header = [0; HEADER_LEN];
    file.read_exact_at(&mut header, 0)
        .map_err(|e| match e.kind() {
            std::io::ErrorKind::UnexpectedEof => Error::BadHeader {
                path: path.into(),
                reason: "file shorter than the header",
            },
            _ => Error::io("read header of", path, e),
        })?;
    format::parse_header(&header).map_err(|e| header_error(e, path))
}

fn header_error(err: HeaderError, path: &Path) -> Error {
    let path = path.to_path_buf();
    match err {
        HeaderError::BadMagic => Error::NotALog { path },
        HeaderError::UnsupportedVersion(version) => Error::UnsupportedVersion {
            path,
            version,
            supported: format::VERSION,
        },
        HeaderError::BadHeaderLen(_) => Error::BadHeader {
            path,
            reason: "wrong header length field",
        },
        HeaderError::NoCheckpoint => Error::BadHeader {
            path,
            reason: "both checkpoint slots are invalid",
        },
    }
}

/// Checks the file against its checkpoint and scans the records written after it.
pub fn scan(file: &File, path: &Path, checkpoint: Checkpoint) -> Result<Recovery, Error> {
    let file_len = file
        .metadata()
        .map_err(|e| Error::io("stat", path, e))?
        .len();
    if file_len < checkpoint.end {
        return Err(Error::Truncated {
            path: path.into(),
            checkpoint: checkpoint.end,
            file_len,
        });
    }
    let tail_len = usize::try_from(file_len - checkpoint.end).map_err(|_| Error::BadHeader {
        path: path.into(),
        reason: "tail too large to scan",
    })?;
    let mut tail = vec![0; tail_len];
    file.read_exact_at(&mut tail, checkpoint.end)
        .map_err(|e| Error::io("read tail of", path, e))?;
    let (valid, scanned_records, reason) = scan_frames(&tail);
    Ok(Recovery {
        checkpoint: checkpoint.end,
        scanned_records,
        valid_end: checkpoint.end + valid as u64,
        file_len,
        reason,
        truncated: false,
    })
}

/// Walks frames from the start of `buf`: (bytes of valid frames, their count, why it stopped early).
#[must_use]
pub fn scan_frames(buf: &[u8]) -> (usize, u64, Option<FrameError>) {
    let (mut pos, mut count) = (0, 0);
    while pos < buf.len() {
        match format::parse_frame(buf, pos) {
            Ok(frame) => (pos, count) = (frame.next, count + 1),
            Err(reason) => return (pos, count, Some(reason)),
        }
    }
    (pos, count, None)
}
