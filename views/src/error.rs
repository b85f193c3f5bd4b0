//! The database's error type.

use std::path::PathBuf;

use crate::record::RecordError;

/// Everything that can go wrong in the database (bad messages are not errors: they are
/// [`crate::Outcome::Rejected`]).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The database directory (or its `views/` folder) cannot be created or read.
    #[error("cannot use the database directory {path}: {source}")]
    Dir {
        /// The directory.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The log failed; see the source for the cause (full disk, corrupt file, …).
    #[error("the message log failed")]
    Log(#[from] sluice_log::Error),
    /// A view file could not be written; the view keeps serving from memory and is
    /// caught up from the log on the next open.
    #[error("cannot write the `{view}` view file in {dir}: {source}")]
    ViewWrite {
        /// The view's name.
        view: &'static str,
        /// The views directory.
        dir: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// A view's data could not be read even after rebuilding it from the log (a bug: please
    /// report it with the message).
    #[error("the `{view}` view is unreadable after a rebuild")]
    ViewData {
        /// The view's name.
        view: &'static str,
        /// What is wrong.
        source: crate::view::ViewDataError,
    },
    /// A write was attempted on a database opened with `Db::open_read_only`.
    #[error("the database is open read-only; open it with Db::open to add messages or write views")]
    ReadOnly,
    /// A log record is not in sluice's record format: the log is not a sluice database log,
    /// or it is damaged (run fsck).
    #[error("log record at offset {offset} is not a sluice message record")]
    Record {
        /// The record's offset.
        offset: u64,
        /// What is wrong with it.
        source: RecordError,
    },
    /// A stored message value is no longer valid JSON: the log is damaged (run fsck).
    #[error("log record at offset {offset} holds a value that is not valid JSON")]
    RecordJson {
        /// The record's offset.
        offset: u64,
        /// The parser's error.
        source: serde_json::Error,
    },
    /// A stored message value no longer parses as an SSB message: the log is damaged.
    #[error("log record at offset {offset} is not a valid SSB message: {reason}")]
    RecordMessage {
        /// The record's offset.
        offset: u64,
        /// Why it does not parse.
        reason: String,
    },
    /// `publish` built a message the validator refused (e.g. content too large).
    #[error("cannot publish this content")]
    Publish(#[source] sluice_msg::ValidationError),
    /// `reindex` was given a view name the database does not have.
    #[error("unknown view `{name}`; the views are: {known}")]
    UnknownView {
        /// The name asked for.
        name: String,
        /// The known names, comma separated.
        known: String,
    },
}
