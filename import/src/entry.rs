//! What the readers yield: entries with their position, and the running counts.

use std::fmt;

use bytes::Bytes;
use serde_json::Value;

use crate::ReadError;

/// Where a record sits in its input file, in the terms of that file's format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Position {
    /// A 1-based line number (JSON lines).
    Line(u64),
    /// A byte offset from the start of the file (flumelog-offset).
    Byte(u64),
    /// A 64 KiB block number and a byte offset inside it (async-append-only-log).
    Block {
        /// The 0-based block number.
        block: u64,
        /// The byte offset of the record's length prefix inside the block.
        offset: u32,
    },
}

impl fmt::Display for Position {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Position::Line(line) => write!(f, "line {line}"),
            Position::Byte(offset) => write!(f, "byte offset {offset}"),
            Position::Block { block, offset } => write!(f, "block {block} offset {offset}"),
        }
    }
}

/// A record's content: raw JSON text, or a value already decoded from BIPF.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum Data {
    /// The record's JSON bytes as stored (not yet parsed); a slice of the reader's buffer.
    Json(Bytes),
    /// The record decoded from BIPF.
    Value(Value),
}

/// One record read from a store: usually `{key, value, timestamp}`, or a bare message value
/// in JSON lines.
#[derive(Debug, Clone, PartialEq)]
pub struct Entry {
    /// Where the record was found.
    pub pos: Position,
    /// Its content.
    pub data: Data,
}

impl Entry {
    /// Parses (or hands over) the record as a JSON value, key order preserved.
    ///
    /// # Errors
    /// [`ReadError::Json`] when JSON text does not parse, naming the position.
    pub fn into_value(self) -> Result<Value, ReadError> {
        match self.data {
            Data::Value(value) => Ok(value),
            Data::Json(bytes) => serde_json::from_slice(&bytes).map_err(|source| ReadError::Json {
                pos: self.pos,
                source,
            }),
        }
    }

    /// Parses the record and splits it with [`Record::from_value`].
    ///
    /// # Errors
    /// As [`Entry::into_value`].
    pub fn into_record(self) -> Result<Record, ReadError> {
        self.into_value().map(Record::from_value)
    }
}

/// A record split into its parts: `{key, value, timestamp}` stores give all three, a bare
/// message value (allowed in JSON lines) gives only `value`.
#[derive(Debug, Clone, PartialEq)]
pub struct Record {
    /// The message id the store gave (`%….sha256`), when it had one.
    pub key: Option<String>,
    /// The message value.
    pub value: Value,
    /// The store's receive timestamp (ms since the epoch), when it had one.
    pub timestamp: Option<f64>,
}

impl Record {
    /// Splits a record: a JSON object whose `value` is an object and whose `key` is a string
    /// is a `{key, value, timestamp}` wrapper; anything else is taken as a bare value.
    pub fn from_value(record: Value) -> Record {
        let Value::Object(mut map) = record else {
            return Record {
                key: None,
                value: record,
                timestamp: None,
            };
        };
        let wrapped = map.get("key").is_some_and(Value::is_string)
            && map.get("value").is_some_and(Value::is_object);
        if !wrapped {
            return Record {
                key: None,
                value: Value::Object(map),
                timestamp: None,
            };
        }
        let timestamp = map.get("timestamp").and_then(Value::as_f64);
        let key = match map.remove("key") {
            Some(Value::String(key)) => Some(key),
            _ => None,
        };
        let value = map.remove("value").unwrap_or_default();
        Record {
            key,
            value,
            timestamp,
        }
    }
}

/// Running totals of what a reader has seen so far.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Counts {
    /// Records yielded as entries.
    pub read: u64,
    /// Records that could not be read (each reported as an error).
    pub unreadable: u64,
    /// Records deleted in the store (zeroed in an ssb-db2 log), skipped silently.
    pub deleted: u64,
}
