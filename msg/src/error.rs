//! The one error type of validation: a variant per check, each naming what failed and why.

use crate::refs::{MsgId, RefError};

/// Why a message (or an HMAC key) was refused. [`ValidationError::check`] names the check.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ValidationError {
    /// The input is not JSON.
    #[error("the input is not valid JSON: {0}")]
    Json(#[source] serde_json::Error),
    /// The message value (or entry) is not a JSON object.
    #[error("a message must be a JSON object, got {found}")]
    NotAnObject {
        /// The JSON type that was found.
        found: &'static str,
    },
    /// A `{key, value}` entry has a bad `key` or no `value`.
    #[error("entry: {detail}")]
    Entry {
        /// What is wrong with the entry.
        detail: String,
    },
    /// The entry's `key` is not the id computed from its value.
    #[error("the entry key {key} differs from the computed message id {computed}")]
    KeyMismatch {
        /// The key given in the entry.
        key: String,
        /// The id computed from the value.
        computed: MsgId,
    },
    /// The keys are not exactly `previous, author|sequence, sequence|author, timestamp, hash,
    /// content, signature`.
    #[error(
        "keys must be previous, author, sequence, timestamp, hash, content, signature \
         (author and sequence may swap); got {found:?}"
    )]
    KeyOrder {
        /// The keys found, in order.
        found: Vec<String>,
    },
    /// `previous` is neither null nor a message id.
    #[error("previous must be null or a message id (%….sha256): {0}")]
    Previous(#[source] RefError),
    /// `author` is not a feed id.
    #[error("author must be a feed id (@….ed25519): {0}")]
    Author(#[source] RefError),
    /// `sequence` is not a positive integer (JavaScript int32).
    #[error("sequence must be an integer between 1 and 2147483647")]
    Sequence,
    /// `timestamp` is not a number.
    #[error("timestamp must be a number")]
    Timestamp,
    /// `hash` is not `"sha256"`.
    #[error("hash must be \"sha256\"")]
    Hash,
    /// `content` is neither an object nor an encrypted string.
    #[error("content must be an object or an encrypted string (<canonical base64>.box…): {detail}")]
    Content {
        /// What the content was instead.
        detail: &'static str,
    },
    /// `content.type` is missing, not a string, or of a bad length.
    #[error("content.type must be a string of 3 to 52 UTF-16 code units: {detail}")]
    ContentType {
        /// What the type was instead.
        detail: String,
    },
    /// `signature` is not canonical base64 of 64 bytes followed by `.sig.ed25519`.
    #[error("signature must be canonical base64 of 64 bytes followed by .sig.ed25519")]
    SignatureFormat,
    /// The encoding with signature is longer than 8192 UTF-16 code units.
    #[error("the message encoding is {units} UTF-16 code units long; the limit is 8192")]
    TooLarge {
        /// The encoding's length in UTF-16 code units.
        units: usize,
    },
    /// The author is a weak (small-order) or non-canonical ed25519 key.
    #[error("the author's ed25519 key is weak or not canonical")]
    WeakKey,
    /// The signature does not verify against the author's key.
    #[error("the signature does not verify for the author's key (wrong key, data or HMAC key)")]
    BadSignature,
    /// An HMAC key is not canonical base64 of 32 bytes.
    #[error("an HMAC key must be canonical base64 of 32 bytes")]
    HmacKey,
    /// A first message (no known state) with a non-null `previous`.
    #[error("the first message of a feed must have previous: null")]
    FirstPrevious,
    /// The message is exactly the known latest message of its feed.
    #[error("message {id} (sequence {sequence}) is already the latest of its feed")]
    Duplicate {
        /// The message id.
        id: MsgId,
        /// Its sequence.
        sequence: u64,
    },
    /// The message is older than the known latest message of its feed.
    #[error("sequence {found} is older than the feed's latest sequence {latest}")]
    Old {
        /// The feed's latest known sequence.
        latest: u64,
        /// The message's sequence.
        found: u64,
    },
    /// The message's predecessor is unknown: its sequence is too high.
    #[error(
        "gap: expected sequence {expected}, got {found} (the predecessor is missing or invalid)"
    )]
    Gap {
        /// The sequence that would extend the feed.
        expected: u64,
        /// The message's sequence.
        found: u64,
    },
    /// The message conflicts with a known message: a fork of the feed.
    #[error("fork at sequence {sequence}: {detail}")]
    Fork {
        /// The sequence where the feed forks.
        sequence: u64,
        /// The conflicting ids.
        detail: String,
    },
    /// The encrypted content of a message cannot be created: it is not an object or a box string.
    #[error("cannot create a message: {detail}")]
    Create {
        /// Why.
        detail: String,
    },
}

impl ValidationError {
    /// The short name of the failed check, as printed by `sluice validate` (`<check>: <detail>`).
    pub fn check(&self) -> &'static str {
        use ValidationError::*;
        match self {
            Json(_) => "json",
            NotAnObject { .. } => "object",
            Entry { .. } | KeyMismatch { .. } => "key",
            KeyOrder { .. } => "order",
            Previous(_) | FirstPrevious => "previous",
            Author(_) => "author",
            Sequence => "sequence",
            Timestamp => "timestamp",
            Hash => "hash",
            Content { .. } => "content",
            ContentType { .. } => "type",
            SignatureFormat => "signature",
            TooLarge { .. } => "size",
            WeakKey => "weak-key",
            BadSignature => "verify",
            HmacKey => "hmac-key",
            Duplicate { .. } => "duplicate",
            Old { .. } => "old",
            Gap { .. } => "gap",
            Fork { .. } => "fork",
            Create { .. } => "create",
        }
    }
}
