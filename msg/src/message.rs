//! A format-valid classic message: parsed once, its id computed once; kept as compact JSON.

use std::sync::OnceLock;

use serde_json::{Map, Value};

use crate::encode::{
    compact_from_pretty, latin1_sha256, pretty_from_compact, to_v8_pretty, utf16_len,
};
use crate::error::ValidationError;
use crate::refs::{self, FeedId, MsgId};
use crate::validate::HmacKey;

/// The largest allowed encoding (with signature), in UTF-16 code units.
pub const MAX_MESSAGE_UNITS: usize = 8192;
pub(crate) const SIG_SUFFIX: &str = ".sig.ed25519";
/// What precedes the signature in the encoding; the signed text ends just before it.
pub(crate) const SIG_KEY: &str = ",\n  \"signature\": ";
/// The position of `content` among the keys of a value whose key order is checked.
const CONTENT_AT: usize = 5;

/// A format-valid message value. Knows its id and typed fields, and keeps the value as V8
/// compact JSON (what the log stores); the signing encoding and the JSON value are built from
/// it when asked for ([`Message::encoded`], [`Message::value`]). Chain and signature checks
/// are separate: see [`crate::validate`].
#[derive(Debug, Clone)]
pub struct Message {
    compact: Box<str>,
    head: Head,
    encoded: OnceLock<Box<str>>,
    /// Boxed: most messages never build it, and a message moves several times on its way
    /// into the log (a `Value` is 72 bytes, a box 8).
    value: OnceLock<Box<Value>>,
    /// Set once this message's signature has verified, to the HMAC key it verified under
    /// (`None`: the main network): see [`crate::verify_ahead`]. The key is boxed (the main
    /// network has none): inline it made every message 24 bytes bigger, and an import holds
    /// thousands of messages at a time.
    verified: OnceLock<Option<Box<[u8; 32]>>>,
}

/// What a message's checks and views read, taken from the value once.
#[derive(Debug, Clone)]
pub(crate) struct Head {
    pub(crate) id: MsgId,
    pub(crate) author: FeedId,
    pub(crate) sequence: u64,
    pub(crate) previous: Option<MsgId>,
    pub(crate) timestamp: f64,
    pub(crate) signature: [u8; 64],
    /// `content.type` of public content (checked to be a string of 3 to 52 code units).
    pub(crate) content_type: Option<Box<str>>,
    pub(crate) encrypted: bool,
    /// Where `,\n  "signature": ` starts in the pretty encoding.
    pub(crate) sig_at: usize,
}

/// The JSON type name of a value, for error messages.
pub(crate) fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

impl Message {
    /// Parses the bytes of a message *value* (not a `{key, value}` entry).
    ///
    /// Takes the tree-free path ([`crate::fast`]) and falls back on a `serde_json` tree for
    /// what that path leaves alone, which also names every error.
    pub fn parse(value_json: &[u8]) -> Result<Message, ValidationError> {
        if let Some(msg) = crate::fast::parse_value(value_json) {
            return Ok(msg);
        }
        let value: Value = serde_json::from_slice(value_json).map_err(ValidationError::Json)?;
        Message::from_value(value)
    }

    /// Parses the bytes of a `{key, value, timestamp}` entry or of a bare value, like
    /// [`Message::from_entry`] (same results and errors) but without building a JSON tree
    /// when the text allows. Malformed JSON is [`ValidationError::Json`].
    pub fn from_entry_slice(entry_json: &[u8]) -> Result<(Message, Option<f64>), ValidationError> {
        if let Some(parsed) = crate::fast::parse_entry(entry_json) {
            return Ok(parsed);
        }
        let entry: Value = serde_json::from_slice(entry_json).map_err(ValidationError::Json)?;
        Message::from_entry(entry)
    }

    /// A message from its compact JSON and the parts read from it.
    pub(crate) fn from_parts(compact: Box<str>, head: Head) -> Message {
        Message {
            compact,
            head,
            encoded: OnceLock::new(),
            value: OnceLock::new(),
            verified: OnceLock::new(),
        }
    }

    /// A message from its pretty encoding (made by this crate) and the parts read from it;
    /// keeps the encoding too.
    pub(crate) fn from_encoding(encoded: String, head: Head) -> Message {
        let msg = Message::from_parts(compact_from_pretty(&encoded).into_boxed_str(), head);
        msg.encoded
            .set(encoded.into_boxed_str())
            .expect("a new message has no encoding yet");
        msg
    }

    /// Checks the format of a message value and computes its encoding and id.
    pub fn from_value(value: Value) -> Result<Message, ValidationError> {
        let map = value.as_object().ok_or(ValidationError::NotAnObject {
            found: type_name(&value),
        })?;
        check_key_order(map)?;
        let fields = Fields::read(map)?;
        let encoded = to_v8_pretty(&value);
        let units = utf16_len(&encoded);
        if units > MAX_MESSAGE_UNITS {
            return Err(ValidationError::TooLarge { units });
        }
        let content = &map["content"];
        check_content_type(content)?;
        let sig_at = encoded
            .rfind(SIG_KEY)
            .expect("the encoding ends with the signature key");
        let head = Head {
            id: MsgId(latin1_sha256(&encoded)),
            author: fields.author,
            sequence: fields.sequence,
            previous: fields.previous,
            timestamp: fields.timestamp,
            signature: fields.signature,
            content_type: content.get("type").and_then(Value::as_str).map(Box::from),
            encrypted: content.is_string(),
            sig_at,
        };
        let msg = Message::from_encoding(encoded, head);
        msg.value
            .set(Box::new(value))
            .expect("a new message has no value yet");
        Ok(msg)
    }

    /// Accepts a `{key, value, timestamp}` entry (returning the receive timestamp) or a bare
    /// value. A `key` that differs from the computed id is an error.
    pub fn from_entry(entry: Value) -> Result<(Message, Option<f64>), ValidationError> {
        let is_entry = entry.as_object().is_some_and(|m| m.contains_key("value"));
        if !is_entry {
            return Message::from_value(entry).map(|m| (m, None));
        }
        let Value::Object(mut map) = entry else {
            unreachable!("checked above")
        };
        let value = map.remove("value").unwrap_or(Value::Null);
        let received = map.get("timestamp").and_then(Value::as_f64);
        let msg = Message::from_value(value)?;
        check_entry_key(map.get("key"), msg.id())?;
        Ok((msg, received))
    }

    /// The message id, `%<sha256 of the latin1 encoding>.sha256`.
    pub fn id(&self) -> MsgId {
        self.head.id
    }
    /// The feed that wrote the message.
    pub fn author(&self) -> FeedId {
        self.head.author
    }
    /// The position in the author's feed, from 1.
    pub fn sequence(&self) -> u64 {
        self.head.sequence
    }
    /// The previous message of the feed (None for a first message).
    pub fn previous(&self) -> Option<MsgId> {
        self.head.previous
    }
    /// The author's claimed timestamp (ms since the epoch).
    pub fn timestamp(&self) -> f64 {
        self.head.timestamp
    }
    /// The content: an object, or the encrypted string. Builds the value on first use
    /// (see [`Message::value`]).
    pub fn content(&self) -> &Value {
        // The key order is checked on parsing and the value never changes afterwards, so
        // `content` sits at a fixed position: no key hashing on this path.
        static NULL: Value = Value::Null;
        let value = self.value();
        let by_position = value.as_object().and_then(|m| m.iter().nth(CONTENT_AT));
        match by_position {
            Some((key, content)) if key == "content" => content,
            _ => value.get("content").unwrap_or(&NULL),
        }
    }
    /// `content.type`, or None when the content is encrypted.
    pub fn content_type(&self) -> Option<&str> {
        self.head.content_type.as_deref()
    }
    /// Whether the content is an encrypted (`.box…`) string.
    pub fn is_encrypted(&self) -> bool {
        self.head.encrypted
    }
    /// The whole value, as JavaScript sees it after `JSON.parse` (V8's key order). Messages
    /// parsed from text build it here, from their encoding, on the first call; the other
    /// accessors never need it.
    pub fn value(&self) -> &Value {
        self.value.get_or_init(|| {
            Box::new(serde_json::from_str(&self.compact).expect("a message's own JSON parses"))
        })
    }
    /// The 64 signature bytes.
    pub fn signature(&self) -> &[u8; 64] {
        &self.head.signature
    }
    /// Whether the signature is known to verify under `hmac` (checked earlier by this crate).
    pub(crate) fn signature_verified(&self, hmac: Option<&HmacKey>) -> bool {
        self.verified.get().map(Option::as_deref) == Some(hmac.map(|k| &k.0))
    }
    /// Records that the signature verified under `hmac`; only the verifying code calls this.
    pub(crate) fn mark_verified(&self, hmac: Option<&HmacKey>) {
        let _ = self.verified.set(hmac.map(|k| Box::new(k.0)));
    }
    /// The canonical text: V8 `JSON.stringify(value, null, 2)`, signature included. Built
    /// from the compact JSON on the first call (messages made from a JSON tree have it).
    pub fn encoded(&self) -> &str {
        self.encoded
            .get_or_init(|| pretty_from_compact(&self.compact).into_boxed_str())
    }
    /// Compact JSON of the value, with the same key order and number formatting as the encoding.
    pub fn to_compact_json(&self) -> String {
        self.compact.to_string()
    }
    /// The compact JSON of the value (V8's `JSON.stringify(value)`), as the log stores it.
    pub fn compact_json(&self) -> &str {
        &self.compact
    }
    /// [`Message::to_compact_json`] appended to `out` (for writers that batch records).
    pub fn write_compact_json(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(self.compact.as_bytes());
    }

    /// The signed bytes: the encoding without the signature (UTF-8). Does not keep the
    /// encoding when it was not built yet (a batch verification would hold every one).
    pub fn signing_bytes(&self) -> Vec<u8> {
        let mut out = match self.encoded.get() {
            Some(pretty) => pretty[..self.head.sig_at].as_bytes().to_vec(),
            None => {
                let mut pretty = pretty_from_compact(&self.compact).into_bytes();
                pretty.truncate(self.head.sig_at);
                pretty
            }
        };
        out.extend_from_slice(b"\n}");
        out
    }
}

fn check_entry_key(key: Option<&Value>, computed: MsgId) -> Result<(), ValidationError> {
    match key {
        None | Some(Value::Null) => Ok(()),
        Some(Value::String(s)) if s.parse::<MsgId>() == Ok(computed) => Ok(()),
        Some(Value::String(s)) => Err(ValidationError::KeyMismatch {
            key: s.clone(),
            computed,
        }),
        Some(other) => Err(ValidationError::Entry {
            detail: format!("key must be a message id string, got {}", type_name(other)),
        }),
    }
}

fn check_key_order(map: &Map<String, Value>) -> Result<(), ValidationError> {
    let keys: Vec<&str> = map.keys().map(String::as_str).collect();
    let ok = match keys.as_slice() {
        [
            "previous",
            a,
            s,
            "timestamp",
            "hash",
            "content",
            "signature",
        ] => {
            matches!((*a, *s), ("author", "sequence") | ("sequence", "author"))
        }
        _ => false,
    };
    if ok {
        Ok(())
    } else {
        Err(ValidationError::KeyOrder {
            found: keys.iter().map(|k| k.to_string()).collect(),
        })
    }
}

/// The typed fields of a value whose key order is already checked.
struct Fields {
    author: FeedId,
    sequence: u64,
    previous: Option<MsgId>,
    timestamp: f64,
    signature: [u8; 64],
}

impl Fields {
    fn read(map: &Map<String, Value>) -> Result<Fields, ValidationError> {
        let author = match &map["author"] {
            Value::String(s) => s.parse().map_err(ValidationError::Author)?,
            _ => {
                return Err(ValidationError::Author(refs::RefError::Sigil {
                    expected: '@',
                }));
            }
        };
        let signature = parse_signature(&map["signature"])?;
        let sequence = parse_sequence(&map["sequence"])?;
        let timestamp = map["timestamp"]
            .as_f64()
            .ok_or(ValidationError::Timestamp)?;
        let previous = parse_previous(&map["previous"])?;
        if map["hash"].as_str() != Some("sha256") {
            return Err(ValidationError::Hash);
        }
        check_content_shape(&map["content"])?;
        Ok(Fields {
            author,
            sequence,
            previous,
            timestamp,
            signature,
        })
    }
}

fn parse_signature(v: &Value) -> Result<[u8; 64], ValidationError> {
    let s = v.as_str().ok_or(ValidationError::SignatureFormat)?;
    let b64 = s
        .strip_suffix(SIG_SUFFIX)
        .ok_or(ValidationError::SignatureFormat)?;
    refs::decode_exact::<64>(b64).ok_or(ValidationError::SignatureFormat)
}

fn parse_sequence(v: &Value) -> Result<u64, ValidationError> {
    let f = v.as_f64().ok_or(ValidationError::Sequence)?;
    // JavaScript's `~~n === n`: an int32. Sequences start at 1.
    if f.fract() == 0.0 && (1.0..=f64::from(i32::MAX)).contains(&f) {
        Ok(f as u64)
    } else {
        Err(ValidationError::Sequence)
    }
}

fn parse_previous(v: &Value) -> Result<Option<MsgId>, ValidationError> {
    match v {
        Value::Null => Ok(None),
        Value::String(s) => s.parse().map(Some).map_err(ValidationError::Previous),
        _ => Err(ValidationError::Previous(refs::RefError::Sigil {
            expected: '%',
        })),
    }
}

/// Whether `s` is encrypted content: canonical base64 (possibly empty), `.box`, then anything
/// but a line break (ssb-validate's `isCanonicalBase64('', '\.box.*')`).
pub(crate) fn is_encrypted_string(s: &str) -> bool {
    let Some(pos) = s.find(".box") else {
        return false;
    };
    let (b64, rest) = (&s[..pos], &s[pos + 4..]);
    let line_break = |c: char| matches!(c, '\n' | '\r' | '\u{2028}' | '\u{2029}');
    crate::fast::is_canonical_base64(b64) && !rest.contains(line_break)
}

fn check_content_shape(v: &Value) -> Result<(), ValidationError> {
    let detail = match v {
        Value::Object(_) => return Ok(()),
        Value::String(s) if is_encrypted_string(s) => return Ok(()),
        Value::String(_) => "a string that is not <canonical base64>.box…",
        Value::Null => "null",
        Value::Array(_) => "an array",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
    };
    Err(ValidationError::Content { detail })
}

fn check_content_type(content: &Value) -> Result<(), ValidationError> {
    let Value::Object(map) = content else {
        return Ok(());
    };
    let detail = match map.get("type") {
        Some(Value::String(t)) => match utf16_len(t) {
            3..=52 => return Ok(()),
            n => format!("{n} code units long"),
        },
        Some(other) => type_name(other).to_string(),
        None => "missing".to_string(),
    };
    Err(ValidationError::ContentType { detail })
}
