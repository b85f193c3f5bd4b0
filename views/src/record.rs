//! The log record format: a fixed little-endian header (ids, sequence, timestamps, flags,
//! content type) followed by the message `value` JSON, kept byte for byte.
//!
//! Views that need only header fields (keys, feeds, types) never parse JSON; the value is
//! parsed only for views that read content. See `views/FORMAT.md` for the byte diagram.

use sluice_msg::{FeedId, MsgId};

/// Record format version, the first byte of every record.
pub const RECORD_VERSION: u8 = 1;
/// `flags` bit: the content is an encrypted string (`….box`), not an object.
pub const FLAG_ENCRYPTED: u8 = 0b0000_0001;

const VERSION_AT: usize = 0;
const FLAGS_AT: usize = VERSION_AT + size_of::<u8>();
const TYPE_LEN_AT: usize = FLAGS_AT + size_of::<u8>();
const RESERVED_AT: usize = TYPE_LEN_AT + size_of::<u8>();
const SEQUENCE_AT: usize = RESERVED_AT + size_of::<u8>();
const CLAIMED_AT: usize = SEQUENCE_AT + size_of::<u64>();
const RECEIVED_AT: usize = CLAIMED_AT + size_of::<f64>();
const ID_AT: usize = RECEIVED_AT + size_of::<f64>();
const AUTHOR_AT: usize = ID_AT + size_of::<[u8; 32]>();
/// Size of the fixed header; the content type (`type_len` bytes) and the value JSON follow.
pub const HEADER_LEN: usize = AUTHOR_AT + size_of::<[u8; 32]>();

/// The fields a record carries besides the value JSON.
#[derive(Debug, Clone, PartialEq)]
pub struct Header<'a> {
    /// The message id.
    pub id: MsgId,
    /// The author.
    pub author: FeedId,
    /// Sequence number in the author's feed.
    pub sequence: u64,
    /// The author's claimed timestamp (`value.timestamp`).
    pub claimed: f64,
    /// When this store received the message.
    pub received: f64,
    /// Whether the content is encrypted.
    pub encrypted: bool,
    /// `content.type` of public content, when it is a string of at most 255 UTF-8 bytes.
    pub content_type: Option<&'a str>,
}

/// Why a byte string is not a record of this format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RecordError {
    /// Shorter than its header says.
    #[error("record is truncated ({0} bytes)")]
    Truncated(usize),
    /// Unknown format version byte.
    #[error("record has unknown format version {0} (this build reads {RECORD_VERSION})")]
    Version(u8),
    /// The content type bytes are not UTF-8.
    #[error("record content type is not UTF-8")]
    TypeNotUtf8,
}

/// Encodes one record: header fields, then the content type, then the value JSON.
pub fn encode(header: &Header<'_>, value_json: &[u8]) -> Vec<u8> {
    let type_len = header.content_type.map_or(0, str::len);
    let mut out = Vec::with_capacity(HEADER_LEN + type_len + value_json.len());
    encode_header_into(header, &mut out);
    out.extend_from_slice(value_json);
    out
}

/// Appends a record's header and content type to `out`; the value JSON must follow.
pub fn encode_header_into(header: &Header<'_>, out: &mut Vec<u8>) {
    let ty = header
        .content_type
        .filter(|t| t.len() <= usize::from(u8::MAX))
        .unwrap_or("");
    out.push(RECORD_VERSION);
    out.push(if header.encrypted { FLAG_ENCRYPTED } else { 0 });
    out.push(u8::try_from(ty.len()).unwrap_or(0));
    out.push(0);
    out.extend_from_slice(&header.sequence.to_le_bytes());
    out.extend_from_slice(&header.claimed.to_le_bytes());
    out.extend_from_slice(&header.received.to_le_bytes());
    out.extend_from_slice(&header.id.0);
    out.extend_from_slice(&header.author.0);
    out.extend_from_slice(ty.as_bytes());
}

/// Decodes the header of a record and returns it with the value JSON bytes.
pub fn decode(bytes: &[u8]) -> Result<(Header<'_>, &[u8]), RecordError> {
    if bytes.len() < HEADER_LEN {
        return Err(RecordError::Truncated(bytes.len()));
    }
    if bytes[VERSION_AT] != RECORD_VERSION {
        return Err(RecordError::Version(bytes[VERSION_AT]));
    }
    let type_end = HEADER_LEN + usize::from(bytes[TYPE_LEN_AT]);
    let ty = bytes
        .get(HEADER_LEN..type_end)
        .ok_or(RecordError::Truncated(bytes.len()))?;
    let ty = std::str::from_utf8(ty).map_err(|_| RecordError::TypeNotUtf8)?;
    let header = Header {
        id: MsgId(array32(bytes, ID_AT)),
        author: FeedId(array32(bytes, AUTHOR_AT)),
        sequence: u64::from_le_bytes(array8(bytes, SEQUENCE_AT)),
        claimed: f64::from_le_bytes(array8(bytes, CLAIMED_AT)),
        received: f64::from_le_bytes(array8(bytes, RECEIVED_AT)),
        encrypted: bytes[FLAGS_AT] & FLAG_ENCRYPTED != 0,
        content_type: (!ty.is_empty()).then_some(ty),
    };
    Ok((header, &bytes[type_end..]))
}

/// The message id of a record without decoding the rest (used to confirm key lookups).
pub fn id_of(bytes: &[u8]) -> Option<MsgId> {
    (bytes.len() >= HEADER_LEN).then(|| MsgId(array32(bytes, ID_AT)))
}

fn array32(bytes: &[u8], at: usize) -> [u8; 32] {
    let mut out = [0; 32];
    out.copy_from_slice(&bytes[at..at + 32]);
    out
}

fn array8(bytes: &[u8], at: usize) -> [u8; 8] {
    let mut out = [0; 8];
    out.copy_from_slice(&bytes[at..at + 8]);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Header<'static> {
        Header {
            id: MsgId([7; 32]),
            author: FeedId([9; 32]),
            sequence: 42,
            claimed: 1_438_787_025_000.0,
            received: 1_438_787_145_000.5,
            encrypted: false,
            content_type: Some("post"),
        }
    }

    #[test]
    fn round_trip_keeps_header_and_value() {
        let value = br#"{"a":1}"#;
        let bytes = encode(&sample(), value);
        let (header, rest) = decode(&bytes).expect("decodes");
        assert_eq!(header, sample());
        assert_eq!(rest, value);
        assert_eq!(id_of(&bytes), Some(MsgId([7; 32])));
    }

    #[test]
    fn header_layout_matches_format_doc() {
        // views/FORMAT.md states these offsets; the doc test in tests/format_doc.rs checks the doc.
        assert_eq!((SEQUENCE_AT, CLAIMED_AT, RECEIVED_AT), (4, 12, 20));
        assert_eq!((ID_AT, AUTHOR_AT, HEADER_LEN), (28, 60, 92));
    }

    #[test]
    fn rejects_short_and_unknown_versions() {
        assert_eq!(decode(&[1, 0, 0]), Err(RecordError::Truncated(3)));
        let mut bytes = encode(&sample(), b"{}");
        bytes[0] = 9;
        assert_eq!(decode(&bytes), Err(RecordError::Version(9)));
        let mut bytes = encode(&sample(), b"{}");
        bytes[TYPE_LEN_AT] = 200;
        assert!(matches!(decode(&bytes), Err(RecordError::Truncated(_))));
    }
}
