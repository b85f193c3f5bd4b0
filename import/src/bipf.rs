//! BIPF (binary in-place format) decoder: one encoded value to a `serde_json::Value`.
//!
//! Every value is `<tag><body>` where the tag is an unsigned LEB128 varint of
//! `body_len << 3 | type`. Types: 0 string (UTF-8), 1 buffer, 2 int (i32 LE), 3 double
//! (f64 LE), 4 array (values back to back), 5 object (key value pairs, keys of any type but
//! usually strings), 6 boolnull (empty = null, one byte 0/1 = false/true), 7 extended.
//!
//! Mapping to JSON, chosen so that a BIPF store and the JSON text ssb-server wrote for the
//! same message give equal `Value`s:
//! - an int becomes a JSON integer; a double that holds an integer exactly (including `-0`,
//!   which JavaScript prints as `0`) becomes a JSON integer too, as `JSON.stringify` prints
//!   it that way and serde_json parses that text as an integer; other doubles stay `f64`;
//!   NaN and infinities have no JSON form and are an error;
//! - object keys keep their order (serde_json `preserve_order`); a repeated key keeps the
//!   last value in the first key's place, like a JavaScript object;
//! - a buffer becomes Node's `Buffer.toJSON()` shape `{"type":"Buffer","data":[bytes]}`;
//!   an extended value becomes `{"type":"BipfExtended","data":[bytes]}`;
//! - a non-string object key becomes its JSON text, as JavaScript does with property names.

use serde_json::{Map, Number, Value};

/// Type code of a UTF-8 string.
pub const STRING: u8 = 0;
/// Type code of a raw byte buffer.
pub const BUFFER: u8 = 1;
/// Type code of a 32-bit little-endian signed integer.
pub const INT: u8 = 2;
/// Type code of a 64-bit little-endian float.
pub const DOUBLE: u8 = 3;
/// Type code of an array.
pub const ARRAY: u8 = 4;
/// Type code of an object.
pub const OBJECT: u8 = 5;
/// Type code of a boolean or null.
pub const BOOLNULL: u8 = 6;
/// Type code of an application-defined extended value.
pub const EXTENDED: u8 = 7;

const TYPE_BITS: u32 = 3;
const TYPE_MASK: u64 = 0b111;
/// Nesting deeper than this is refused, so hostile input cannot overflow the stack.
pub const MAX_DEPTH: usize = 256;
/// Largest integer an `f64` holds exactly, beyond which a double stays a float.
const MAX_SAFE_INT: f64 = 9_007_199_254_740_992.0;

/// Why a BIPF value could not be decoded; `at` is the byte offset inside the value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DecodeError {
    /// The input ends inside a tag or a body.
    #[error("BIPF value truncated at byte {at}")]
    Truncated {
        /// Byte offset where more input was needed.
        at: usize,
    },
    /// A tag varint is longer than 64 bits.
    #[error("BIPF tag at byte {at} is not a valid varint")]
    BadVarint {
        /// Byte offset of the tag.
        at: usize,
    },
    /// A body has a length its type does not allow (int not 4, double not 8, boolnull > 1).
    #[error("BIPF value at byte {at} of type {kind} has an invalid length {len}")]
    BadLength {
        /// Byte offset of the tag.
        at: usize,
        /// The type code.
        kind: u8,
        /// The body length.
        len: u64,
    },
    /// A string body is not UTF-8.
    #[error("BIPF string at byte {at} is not valid UTF-8")]
    BadUtf8 {
        /// Byte offset of the tag.
        at: usize,
    },
    /// A boolnull byte other than 0 or 1.
    #[error("BIPF boolnull at byte {at} holds {byte}, expected 0 or 1")]
    BadBool {
        /// Byte offset of the tag.
        at: usize,
        /// The byte found.
        byte: u8,
    },
    /// A double that is NaN or infinite (JSON cannot hold it).
    #[error("BIPF double at byte {at} is not finite")]
    NotFinite {
        /// Byte offset of the tag.
        at: usize,
    },
    /// Arrays and objects nested deeper than [`MAX_DEPTH`].
    #[error("BIPF value nested deeper than {MAX_DEPTH} levels at byte {at}")]
    TooDeep {
        /// Byte offset of the tag.
        at: usize,
    },
    /// Bytes left over after the value (the whole input must be one value).
    #[error("{extra} trailing bytes after the BIPF value")]
    Trailing {
        /// How many bytes follow the value.
        extra: usize,
    },
}

/// A decoded tag: where the body starts and ends, and its type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Tag {
    /// The type code (0..=7).
    pub kind: u8,
    /// Offset of the first body byte.
    pub start: usize,
    /// Offset just past the body.
    pub end: usize,
}

/// Decodes exactly one BIPF value filling the whole of `buf`.
pub fn decode(buf: &[u8]) -> Result<Value, DecodeError> {
    let (value, end) = decode_at(buf, 0, 0)?;
    match buf.len() - end {
        0 => Ok(value),
        extra => Err(DecodeError::Trailing { extra }),
    }
}

/// Reads the tag at `at` and checks that its body fits in `buf`.
pub fn read_tag(buf: &[u8], at: usize) -> Result<Tag, DecodeError> {
    let (tag, start) = read_varint(buf, at)?;
    let kind = u8::try_from(tag & TYPE_MASK).unwrap_or(EXTENDED);
    let len = tag >> TYPE_BITS;
    let end = usize::try_from(len)
        .ok()
        .and_then(|len| start.checked_add(len))
        .filter(|&end| end <= buf.len())
        .ok_or(DecodeError::Truncated { at: buf.len() })?;
    Ok(Tag { kind, start, end })
}

/// Reads only the tag at the start of `buf`: `(type, body length, tag length)`, even when
/// the body is not all there (for format detection).
pub fn peek_tag(buf: &[u8]) -> Option<(u8, usize, usize)> {
    let (tag, after) = read_varint(buf, 0).ok()?;
    let kind = u8::try_from(tag & TYPE_MASK).ok()?;
    Some((kind, usize::try_from(tag >> TYPE_BITS).ok()?, after))
}

/// Reads an unsigned LEB128 varint at `at`; returns it and the offset after it.
fn read_varint(buf: &[u8], at: usize) -> Result<(u64, usize), DecodeError> {
    let mut value = 0u64;
    for (i, &byte) in buf.get(at..).unwrap_or_default().iter().enumerate() {
        let shift = 7 * i as u32;
        if shift >= 64 || (shift == 63 && byte > 1) {
            return Err(DecodeError::BadVarint { at });
        }
        value |= u64::from(byte & 0x7f) << shift;
        if byte & 0x80 == 0 {
            return Ok((value, at + i + 1));
        }
    }
    Err(DecodeError::Truncated { at: buf.len() })
}

/// Decodes the value whose tag is at `at`; returns it and the offset after it.
fn decode_at(buf: &[u8], at: usize, depth: usize) -> Result<(Value, usize), DecodeError> {
    let tag = read_tag(buf, at)?;
    let body = &buf[tag.start..tag.end];
    let value = match tag.kind {
        STRING => Value::String(decode_str(body, at)?.to_owned()),
        BUFFER => bytes_object("Buffer", body),
        INT => decode_int(body, at)?,
        DOUBLE => decode_double(body, at)?,
        ARRAY => decode_array(buf, tag, depth_check(depth, at)?)?,
        OBJECT => decode_object(buf, tag, depth_check(depth, at)?)?,
        BOOLNULL => decode_boolnull(body, at)?,
        _ => bytes_object("BipfExtended", body),
    };
    Ok((value, tag.end))
}

fn depth_check(depth: usize, at: usize) -> Result<usize, DecodeError> {
    if depth >= MAX_DEPTH {
        return Err(DecodeError::TooDeep { at });
    }
    Ok(depth + 1)
}

fn bad_length(at: usize, kind: u8, body: &[u8]) -> DecodeError {
    DecodeError::BadLength {
        at,
        kind,
        len: body.len() as u64,
    }
}

fn decode_str(body: &[u8], at: usize) -> Result<&str, DecodeError> {
    std::str::from_utf8(body).map_err(|_| DecodeError::BadUtf8 { at })
}

fn decode_int(body: &[u8], at: usize) -> Result<Value, DecodeError> {
    let bytes: [u8; 4] = body.try_into().map_err(|_| bad_length(at, INT, body))?;
    Ok(Value::from(i32::from_le_bytes(bytes)))
}

fn decode_double(body: &[u8], at: usize) -> Result<Value, DecodeError> {
    let bytes: [u8; 8] = body.try_into().map_err(|_| bad_length(at, DOUBLE, body))?;
    double_value(f64::from_le_bytes(bytes)).ok_or(DecodeError::NotFinite { at })
}

/// The JSON value JavaScript would print for `x`, as serde_json would parse it back.
pub fn double_value(x: f64) -> Option<Value> {
    if x.fract() == 0.0 && x.abs() < MAX_SAFE_INT {
        // Integral and below 2^53 in magnitude, so the cast is exact.
        return Some(Value::from(x as i64));
    }
    Number::from_f64(x).map(Value::Number)
}

fn decode_boolnull(body: &[u8], at: usize) -> Result<Value, DecodeError> {
    match body {
        [] => Ok(Value::Null),
        [0] => Ok(Value::Bool(false)),
        [1] => Ok(Value::Bool(true)),
        [byte] => Err(DecodeError::BadBool { at, byte: *byte }),
        _ => Err(bad_length(at, BOOLNULL, body)),
    }
}

fn bytes_object(kind: &str, body: &[u8]) -> Value {
    let mut map = Map::with_capacity(2);
    map.insert("type".to_owned(), Value::from(kind));
    map.insert("data".to_owned(), Value::from(body.to_vec()));
    Value::Object(map)
}

/// Decodes the values inside an array body, scoped to `..tag.end` so none overruns it.
fn decode_array(buf: &[u8], tag: Tag, depth: usize) -> Result<Value, DecodeError> {
    let inner = &buf[..tag.end];
    let mut items = Vec::new();
    let mut at = tag.start;
    while at < tag.end {
        let (item, next) = decode_at(inner, at, depth)?;
        items.push(item);
        at = next;
    }
    Ok(Value::Array(items))
}

/// Decodes the key value pairs inside an object body.
fn decode_object(buf: &[u8], tag: Tag, depth: usize) -> Result<Value, DecodeError> {
    let inner = &buf[..tag.end];
    let mut map = Map::new();
    let mut at = tag.start;
    while at < tag.end {
        let (key, next) = decode_key(inner, at, depth)?;
        let (value, next) = decode_at(inner, next, depth)?;
        map.insert(key, value);
        at = next;
    }
    Ok(Value::Object(map))
}

/// An object key: a string as is, anything else as its JSON text (JavaScript's `String(k)`
/// differs for objects, but SSB never writes such keys).
fn decode_key(buf: &[u8], at: usize, depth: usize) -> Result<(String, usize), DecodeError> {
    let tag = read_tag(buf, at)?;
    if tag.kind == STRING {
        let key = decode_str(&buf[tag.start..tag.end], at)?;
        return Ok((key.to_owned(), tag.end));
    }
    let (value, next) = decode_at(buf, at, depth)?;
    Ok((value.to_string(), next))
}

#[cfg(test)]
mod tests;
