//! Format detection from a file's first bytes (never from its name).

use std::fmt;

use crate::{aaol, bipf, offset};

/// A supported store format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Format {
    /// One JSON object per line.
    JsonLines,
    /// ssb-server's `flume/log.offset` (flumelog-offset v3).
    OffsetLog,
    /// ssb-db2's `db2/log.bipf` (async-append-only-log of BIPF records).
    BipfLog,
}

impl fmt::Display for Format {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Format::JsonLines => "JSON lines",
            Format::OffsetLog => "flumelog-offset (log.offset)",
            Format::BipfLog => "async-append-only-log (log.bipf)",
        })
    }
}

/// How many leading bytes [`detect`] can use; more lets it check a whole first frame.
pub const HEAD: usize = 64 * 1024 + 16;

/// Guesses the format of a store from its first bytes (up to [`HEAD`] of them).
///
/// An empty or all-blank head is JSON lines (with no entries). `None` when nothing fits.
pub fn detect(head: &[u8]) -> Option<Format> {
    if is_bipf_log(head) {
        Some(Format::BipfLog)
    } else if is_offset_log(head) {
        Some(Format::OffsetLog)
    } else if is_json_lines(head) {
        Some(Format::JsonLines)
    } else {
        None
    }
}

/// A non-zero u16 LE length, then an object tag whose size is exactly that length (or a
/// deleted record: zeros).
fn is_bipf_log(head: &[u8]) -> bool {
    let Some(&[lo, hi]) = head.get(..aaol::LEN) else {
        return false;
    };
    let len = usize::from(u16::from_le_bytes([lo, hi]));
    let record = &head[aaol::LEN..head.len().min(aaol::LEN + len)];
    if len == 0 || record.is_empty() {
        return false;
    }
    if record.iter().all(|&b| b == 0) {
        return true;
    }
    matches!(bipf::peek_tag(record), Some((bipf::OBJECT, body, tag)) if body + tag == len)
}

/// A plausible big-endian length, a `{`, and (when the head holds the whole first frame)
/// matching trailer fields.
fn is_offset_log(head: &[u8]) -> bool {
    let Some(&[a, b, c, d, brace]) = head.get(..5) else {
        return false;
    };
    let len = u32::from_be_bytes([a, b, c, d]);
    if len == 0 || len > offset::MAX_FRAME || brace != b'{' {
        return false;
    }
    let data_end = offset::FIELD as usize + len as usize;
    match head.get(data_end..data_end + 2 * offset::FIELD as usize) {
        Some(trailer) => offset::check_trailer(0, len, trailer).is_ok(),
        None => true,
    }
}

/// Blank so far, or the first non-blank byte opens an object.
fn is_json_lines(head: &[u8]) -> bool {
    let head = head.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(head);
    matches!(head.trim_ascii_start().first(), None | Some(b'{'))
}
