//! Messages as queries return them: the raw record, with the `{key,value,timestamp}` JSON
//! available without parsing and parsed accessors on demand.

use std::sync::Arc;

use sluice_msg::{FeedId, Message, MsgId};

use crate::error::Error;
use crate::record::{self, Header};

/// A stored message borrowed from the log (zero-copy).
#[derive(Debug, Clone)]
pub struct MsgRef<'a> {
    offset: u64,
    record: &'a [u8],
    header: Header<'a>,
    value: &'a [u8],
}

impl<'a> MsgRef<'a> {
    /// Reads the record at `offset`.
    pub(crate) fn from_record(offset: u64, bytes: &'a [u8]) -> Result<Self, Error> {
        let (header, value) =
            record::decode(bytes).map_err(|source| Error::Record { offset, source })?;
        Ok(Self {
            offset,
            record: bytes,
            header,
            value,
        })
    }
    /// The record's log offset: a stable local id.
    pub fn offset(&self) -> u64 {
        self.offset
    }
    /// The message id.
    pub fn id(&self) -> MsgId {
        self.header.id
    }
    /// The author.
    pub fn author(&self) -> FeedId {
        self.header.author
    }
    /// The sequence number in the author's feed.
    pub fn sequence(&self) -> u64 {
        self.header.sequence
    }
    /// The author's claimed timestamp (`value.timestamp`).
    pub fn timestamp(&self) -> f64 {
        self.header.claimed
    }
    /// When this store received the message (the entry's `timestamp`).
    pub fn received(&self) -> f64 {
        self.header.received
    }
    /// `content.type` of public content.
    pub fn content_type(&self) -> Option<&'a str> {
        self.header.content_type
    }
    /// Whether the content is encrypted.
    pub fn is_encrypted(&self) -> bool {
        self.header.encrypted
    }
    /// The `value` JSON exactly as stored.
    pub fn value_json(&self) -> &'a [u8] {
        self.value
    }
    /// Appends `{"key":…,"value":…,"timestamp":…}` (one JSON line, no newline) to `out`.
    pub fn write_json(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(b"{\"key\":\"");
        out.extend_from_slice(self.header.id.to_string().as_bytes());
        out.extend_from_slice(b"\",\"value\":");
        out.extend_from_slice(self.value);
        out.extend_from_slice(b",\"timestamp\":");
        out.extend_from_slice(
            ryu_js::Buffer::new()
                .format(self.header.received)
                .as_bytes(),
        );
        out.push(b'}');
    }
    /// The `{"key":…,"value":…,"timestamp":…}` JSON of this message.
    pub fn to_json(&self) -> String {
        let mut out = Vec::with_capacity(self.value.len() + 160);
        self.write_json(&mut out);
        String::from_utf8(out).unwrap_or_default()
    }
    /// The value parsed as JSON.
    pub fn value(&self) -> Result<serde_json::Value, Error> {
        serde_json::from_slice(self.value).map_err(|source| Error::RecordJson {
            offset: self.offset,
            source,
        })
    }
    /// The full message, parsed (for re-serving or re-validating it).
    pub fn message(&self) -> Result<Message, Error> {
        let value = self.value()?;
        Message::from_value(value).map_err(|e| Error::RecordMessage {
            offset: self.offset,
            reason: e.to_string(),
        })
    }
    /// An owned copy that outlives the borrow of the database.
    pub fn to_owned_msg(&self) -> StoredMsg {
        StoredMsg {
            offset: self.offset,
            record: Arc::from(self.record),
        }
    }
}

/// A stored message that owns its record bytes (what subscriptions deliver).
#[derive(Debug, Clone)]
pub struct StoredMsg {
    offset: u64,
    record: Arc<[u8]>,
}

impl StoredMsg {
    /// Wraps a record already known to decode.
    pub(crate) fn new(offset: u64, record: Vec<u8>) -> Self {
        Self {
            offset,
            record: record.into(),
        }
    }
    /// The borrowed view with every accessor.
    pub fn as_msg(&self) -> MsgRef<'_> {
        match MsgRef::from_record(self.offset, &self.record) {
            Ok(m) => m,
            // Only records this crate encoded are wrapped, and they always decode.
            Err(e) => unreachable!("StoredMsg holds an undecodable record: {e}"),
        }
    }
    /// The record's log offset.
    pub fn offset(&self) -> u64 {
        self.offset
    }
    /// The message id.
    pub fn id(&self) -> MsgId {
        self.as_msg().id()
    }
    /// The `{"key":…,"value":…,"timestamp":…}` JSON of this message.
    pub fn to_json(&self) -> String {
        self.as_msg().to_json()
    }
}
