//! ed25519 feed keys and ssb-keys `secret` files; creating and signing new messages.

use std::io::Write as _;
use std::path::Path;

use ed25519_dalek::{Signer as _, SigningKey};
use serde_json::{Number, Value};
use sha2::{Digest as _, Sha256};

use crate::encode::{to_v8_pretty, utf16_len, write_number, write_string};
use crate::error::ValidationError;
use crate::message::{Head, MAX_MESSAGE_UNITS, Message, is_encrypted_string, type_name};
use crate::refs::{self, FeedId, MsgId};
use crate::validate::{FeedState, HmacKey};
use crate::verify;

/// Why a key or a secret file was refused.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum KeyError {
    /// The secret file could not be read or written.
    #[error("secret file {path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The secret is not ssb-keys JSON (after removing `#` comment lines).
    #[error("the secret is not ssb-keys JSON: {0}")]
    Json(#[source] serde_json::Error),
    /// A field of the secret is missing or malformed.
    #[error("the secret's {field} is missing or malformed: {detail}")]
    Field {
        /// The field name.
        field: &'static str,
        /// What is wrong.
        detail: &'static str,
    },
}

/// An ed25519 key pair, as ssb-keys stores it.
#[derive(Clone)]
pub struct Keys {
    signing: SigningKey,
}

impl std::fmt::Debug for Keys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Keys({})", self.id())
    }
}

fn field(field: &'static str, detail: &'static str) -> KeyError {
    KeyError::Field { field, detail }
}

impl Keys {
    /// A new random key pair.
    pub fn generate() -> Keys {
        Keys {
            signing: SigningKey::generate(&mut rand::rngs::OsRng),
        }
    }

    /// A key pair from a 32-byte seed (deterministic; for tests and generators).
    pub fn from_seed(seed: [u8; 32]) -> Keys {
        Keys {
            signing: SigningKey::from_bytes(&seed),
        }
    }

    /// Parses the text of an ssb-keys `secret` file (`#` lines are comments).
    pub fn parse_secret(text: &str) -> Result<Keys, KeyError> {
        let json: String = text
            .lines()
            .filter(|l| !l.trim_start().starts_with('#'))
            .collect::<Vec<_>>()
            .join("\n");
        let v: Value = serde_json::from_str(&json).map_err(KeyError::Json)?;
        Keys::from_secret_json(&v)
    }

    fn from_secret_json(v: &Value) -> Result<Keys, KeyError> {
        if v.get("curve").and_then(Value::as_str) != Some("ed25519") {
            return Err(field("curve", "must be \"ed25519\""));
        }
        let private = v
            .get("private")
            .and_then(Value::as_str)
            .ok_or(field("private", "missing"))?;
        let b64 = private
            .strip_suffix(".ed25519")
            .ok_or(field("private", "must end with .ed25519"))?;
        let bytes =
            refs::decode_exact::<64>(b64).ok_or(field("private", "not base64 of 64 bytes"))?;
        let seed: [u8; 32] = bytes[..32].try_into().expect("32 bytes");
        let keys = Keys::from_seed(seed);
        if keys.signing.verifying_key().as_bytes()[..] != bytes[32..] {
            return Err(field("private", "its public half does not match its seed"));
        }
        keys.check_public(v)?;
        Ok(keys)
    }

    fn check_public(&self, v: &Value) -> Result<(), KeyError> {
        let id = self.id().to_string();
        if let Some(public) = v.get("public").and_then(Value::as_str)
            && public != &id[1..]
        {
            return Err(field("public", "does not match the private key"));
        }
        if let Some(stated) = v.get("id").and_then(Value::as_str)
            && stated != id
        {
            return Err(field("id", "does not match the private key"));
        }
        Ok(())
    }

    /// Reads an ssb-keys `secret` file.
    pub fn read_secret_file(path: impl AsRef<Path>) -> Result<Keys, KeyError> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path).map_err(|source| KeyError::Io {
            path: path.display().to_string(),
            source,
        })?;
        Keys::parse_secret(&text)
    }

    /// The `secret` file text, in ssb-keys' layout (JSON between `#` comment lines).
    pub fn to_secret_string(&self) -> String {
        let public = &self.id().to_string()[1..];
        let mut private = self.signing.to_bytes().to_vec();
        private.extend_from_slice(self.signing.verifying_key().as_bytes());
        let json = serde_json::json!({
            "curve": "ed25519",
            "public": public,
            "private": format!("{}.ed25519", refs::encode(&private)),
            "id": self.id().to_string(),
        });
        let body = serde_json::to_string_pretty(&json).expect("a JSON object serialises");
        format!(
            "# This is your SECRET key. Anyone holding it can post as you.\n\
             # Never show it to anyone or copy it to another device; it cannot be changed.\n\
             #\n{body}\n#\n# Your public id, which is safe to share: {}\n",
            self.id()
        )
    }

    /// Writes a new `secret` file readable by its owner only (mode 0600); never overwrites.
    pub fn write_secret_file(&self, path: impl AsRef<Path>) -> Result<(), KeyError> {
        let path = path.as_ref();
        let io = |source| KeyError::Io {
            path: path.display().to_string(),
            source,
        };
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        let mut file = options.open(path).map_err(io)?;
        file.write_all(self.to_secret_string().as_bytes())
            .map_err(io)?;
        file.sync_all().map_err(io)
    }

    /// The feed id (the public key).
    pub fn id(&self) -> FeedId {
        FeedId(self.signing.verifying_key().to_bytes())
    }

    /// Signs `data` (ed25519).
    pub fn sign(&self, data: &[u8]) -> [u8; 64] {
        self.signing.sign(data).to_bytes()
    }
}

/// A JSON number for a timestamp, integral when it is one (as JavaScript would print it).
fn timestamp_number(timestamp: f64) -> Result<Number, ValidationError> {
    if timestamp.fract() == 0.0 && timestamp.abs() < 9_007_199_254_740_992.0 {
        return Ok(Number::from(timestamp as i64));
    }
    Number::from_f64(timestamp).ok_or(ValidationError::Create {
        detail: "the timestamp must be a finite number".into(),
    })
}

/// Signs a new message of `keys`' feed on top of `state` (None = the feed's first message).
///
/// The value is encoded once, straight from its parts (no JSON tree of the whole value), and
/// that text is signed; the message is then assembled from what `create` already knows. When
/// the result could be refused (too large, a bad `content.type`, a sequence past 2^31 - 1)
/// the signed text is read back with
/// [`Message::parse`] instead, which names the error exactly as for any other message.
pub fn create(
    keys: &Keys,
    state: Option<&FeedState>,
    content: Value,
    timestamp: f64,
    hmac: Option<&HmacKey>,
) -> Result<Message, ValidationError> {
    let sign = |payload: &[u8]| keys.sign(payload);
    create_with_signer(&keys.id(), state, content, timestamp, hmac, sign)
}

/// [`create`] for a caller that signs by itself: `sign` gets the bytes to sign (the encoding,
/// or its HMAC when `hmac` is set) and returns the ed25519 signature of `author`'s key.
///
/// It is called once, before anything else is computed from the signature. A signature that
/// does not verify makes a message that validation refuses; nothing here checks it.
pub fn create_with_signer(
    author: &FeedId,
    state: Option<&FeedState>,
    content: Value,
    timestamp: f64,
    hmac: Option<&HmacKey>,
    sign: impl FnOnce(&[u8]) -> [u8; 64],
) -> Result<Message, ValidationError> {
    check_new_content(&content)?;
    let timestamp = timestamp_number(timestamp)?;
    let sequence = state.map_or(1, |s| s.sequence + 1);
    let mut text = unsigned_encoding(author, state, &content, &timestamp, sequence);
    let signature = match hmac {
        None => sign(text.as_bytes()),
        Some(_) => sign(&verify::signed_payload(text.clone().into_bytes(), hmac)),
    };
    let sig_at = append_signature(&mut text, &signature);
    let Some(content_type) = accepted_content_type(&content, &text, sequence) else {
        return Message::parse(text.as_bytes());
    };
    let head = Head {
        id: message_id(&text),
        author: *author,
        sequence,
        previous: state.map(|s| s.id),
        timestamp: timestamp.as_f64().expect("a JSON number is a double"),
        signature,
        content_type,
        encrypted: content.is_string(),
        sig_at,
    };
    Ok(Message::from_encoding(text, head))
}

/// `Some(content.type)` (None for encrypted content) when parsing `text` is certain to accept
/// it: size within the limit, a valid type, an int32 sequence. (Nesting needs no check: every
/// level adds two indented lines, so text within the size limit nests under 64 levels, far
/// inside what parsing, and later [`Message::value`], accept.)
fn accepted_content_type(content: &Value, text: &str, sequence: u64) -> Option<Option<Box<str>>> {
    let fits = utf16_len(text) <= MAX_MESSAGE_UNITS && sequence <= i32::MAX as u64;
    if !fits {
        return None;
    }
    match content {
        Value::String(_) => Some(None),
        _ => match content.get("type") {
            Some(Value::String(t)) if (3..=52).contains(&utf16_len(t)) => {
                Some(Some(Box::from(t.as_str())))
            }
            _ => None,
        },
    }
}

/// Content must be an object or an encrypted (`.box…`) string.
fn check_new_content(content: &Value) -> Result<(), ValidationError> {
    if content.is_object() || content.as_str().is_some_and(is_encrypted_string) {
        return Ok(());
    }
    let detail = format!(
        "content must be an object or a .box string, got {}",
        type_name(content)
    );
    Err(ValidationError::Create { detail })
}

/// V8's `JSON.stringify(value, null, 2)` of the new value without its signature, keys in
/// ssb-validate's `create` order: previous, sequence, author, timestamp, hash, content.
fn unsigned_encoding(
    author: &FeedId,
    state: Option<&FeedState>,
    content: &Value,
    timestamp: &Number,
    sequence: u64,
) -> String {
    let mut head = String::with_capacity(HEAD);
    head.push_str("{\n  \"previous\": ");
    match state {
        Some(s) => write_string(&mut head, &s.id.to_string()),
        None => head.push_str("null"),
    }
    head.push_str(",\n  \"sequence\": ");
    write_number(&mut head, &Number::from(sequence));
    head.push_str(",\n  \"author\": ");
    write_string(&mut head, &author.to_string());
    head.push_str(",\n  \"timestamp\": ");
    write_number(&mut head, timestamp);
    head.push_str(",\n  \"hash\": \"sha256\",\n  \"content\": ");
    let content = to_v8_pretty(content);
    let nested_len = content.len() + 2 * memchr_count(content.as_bytes(), b'\n');
    // Exactly the signed message's length, so the text becomes the message without a copy.
    let mut out = String::with_capacity(head.len() + nested_len + SIGNATURE_LINE);
    out.push_str(&head);
    push_nested(&mut out, &content);
    out.push_str("\n}");
    out
}

/// Room for the members before the content (ids, numbers and keys: about 250 bytes).
const HEAD: usize = 320;
/// `,\n  "signature": "<88 base64 chars>.sig.ed25519"\n}`: what follows the content.
const SIGNATURE_LINE: usize = 121;

/// How many times `byte` occurs in `bytes`.
fn memchr_count(bytes: &[u8], byte: u8) -> usize {
    bytes.iter().filter(|&&b| b == byte).count()
}

/// The id of a full encoding: sha256 of its "latin1" bytes (the low byte of each UTF-16 code
/// unit), like [`crate::encode::latin1_sha256`] but without a copy of the text: ASCII runs, most of any
/// text, go to the hash as they are, other characters through a small buffer.
fn message_id(text: &str) -> MsgId {
    let mut hash = Sha256::new();
    let mut rest = text;
    while let Some(at) = rest.bytes().position(|b| !b.is_ascii()) {
        hash.update(&rest.as_bytes()[..at]);
        let tail = &rest[at..];
        let run = tail.find(|c: char| c.is_ascii()).unwrap_or(tail.len());
        let mut buf = [0u8; 64];
        let mut n = 0;
        for unit in tail[..run].encode_utf16() {
            buf[n] = unit.to_le_bytes()[0];
            n += 1;
            if n == buf.len() {
                hash.update(buf);
                n = 0;
            }
        }
        hash.update(&buf[..n]);
        rest = &tail[run..];
    }
    hash.update(rest.as_bytes());
    MsgId(hash.finalize().into())
}

/// Appends `pretty` (an encoding at depth 0) one level deeper: strings in the encoding never
/// hold a raw line break (it is escaped), so every `\n` starts a line that gains two spaces.
fn push_nested(out: &mut String, pretty: &str) {
    for (i, line) in pretty.split('\n').enumerate() {
        if i > 0 {
            out.push_str("\n  ");
        }
        out.push_str(line);
    }
}

/// Turns the signed text `…\n}` into the full encoding `…,\n  "signature": "….sig.ed25519"\n}`;
/// returns where the signature member starts.
fn append_signature(text: &mut String, signature: &[u8; 64]) -> usize {
    debug_assert!(text.ends_with("\n}"), "an encoded object");
    let sig_at = text.len() - 2;
    text.truncate(sig_at);
    text.push_str(",\n  \"signature\": \"");
    text.push_str(&refs::encode(signature));
    text.push_str(".sig.ed25519\"\n}");
    debug_assert_eq!(text.len() - sig_at, SIGNATURE_LINE);
    sig_at
}

#[cfg(test)]
mod tests {
    use serde_json::{Map, json};

    use crate::encode::latin1_sha256;

    use super::*;

    /// The encoding of `msg`'s value built as a tree, in `create`'s key order.
    fn tree_encoding(msg: &Message, content: Value) -> String {
        let mut map = Map::new();
        let previous = msg
            .previous()
            .map_or(Value::Null, |id| id.to_string().into());
        map.insert("previous".into(), previous);
        map.insert("sequence".into(), msg.sequence().into());
        map.insert("author".into(), msg.author().to_string().into());
        let timestamp = timestamp_number(msg.timestamp()).expect("finite");
        map.insert("timestamp".into(), Value::Number(timestamp));
        map.insert("hash".into(), "sha256".into());
        map.insert("content".into(), content);
        let signature = format!("{}.sig.ed25519", refs::encode(msg.signature()));
        map.insert("signature".into(), signature.into());
        to_v8_pretty(&Value::Object(map))
    }

    #[test]
    fn created_text_equals_the_tree_encoding() {
        let keys = Keys::from_seed([9; 32]);
        let contents = [
            json!({"type": "post", "text": "line\nbreak \"q\" é 😀", "list": [1, {"a": []}, {}]}),
            json!({"type": "vote", "2": "two", "10": {"nested": {"deep": [1.5, -0.0, 1e21]}}}),
            json!("c2VjcmV0.box"),
        ];
        let mut state: Option<FeedState> = None;
        for (i, content) in contents.into_iter().enumerate() {
            let timestamp = if i == 1 { 1.5e12 + 0.25 } else { 1.5e12 };
            let msg = create(&keys, state.as_ref(), content.clone(), timestamp, None)
                .expect("valid content");
            assert_eq!(msg.encoded(), tree_encoding(&msg, content));
            assert_same_as_parsed(&msg);
            assert_eq!(msg.sequence(), i as u64 + 1);
            crate::validate(state.as_ref(), &msg, None).expect("a valid chain");
            state = Some(FeedState::of(&msg));
        }
    }

    /// `msg` equals the message parsed from its own encoding, field by field.
    fn assert_same_as_parsed(msg: &Message) {
        let parsed = Message::parse(msg.encoded().as_bytes()).expect("its own encoding parses");
        assert_eq!(parsed.encoded(), msg.encoded());
        assert_eq!(
            (
                parsed.id(),
                parsed.author(),
                parsed.sequence(),
                parsed.previous()
            ),
            (msg.id(), msg.author(), msg.sequence(), msg.previous())
        );
        assert_eq!(parsed.timestamp().to_bits(), msg.timestamp().to_bits());
        assert_eq!(parsed.signature(), msg.signature());
        assert_eq!(
            (parsed.content_type(), parsed.is_encrypted()),
            (msg.content_type(), msg.is_encrypted())
        );
        assert_eq!(parsed.signing_bytes(), msg.signing_bytes());
        assert_eq!(parsed.value(), msg.value());
    }

    #[test]
    fn what_parsing_could_refuse_goes_through_parse() {
        let keys = Keys::from_seed([8; 32]);
        let short = create(&keys, None, json!({"type": "ab"}), 1.0, None);
        assert!(
            matches!(short, Err(ValidationError::ContentType { .. })),
            "{short:?}"
        );
        let untyped = create(&keys, None, json!({"text": "no type"}), 1.0, None);
        assert!(
            matches!(untyped, Err(ValidationError::ContentType { .. })),
            "{untyped:?}"
        );
        let mut deep = json!("bottom");
        for _ in 0..40 {
            deep = json!([deep]);
        }
        let msg = create(&keys, None, json!({"type": "deep", "x": deep}), -0.0, None)
            .expect("deep but within the size limit");
        assert_same_as_parsed(&msg);
        assert_eq!(msg.timestamp().to_bits(), 0.0f64.to_bits(), "-0 prints 0");
    }

    #[test]
    fn message_id_hashes_latin1_like_the_encoder() {
        let long_run: String = "é😀".repeat(100);
        for text in [
            "",
            "plain",
            "ÿ☃😀",
            "a é b 日本語 c",
            "😀x",
            long_run.as_str(),
        ] {
            assert_eq!(message_id(text).0, latin1_sha256(text), "{text}");
        }
    }

    #[test]
    fn create_is_create_with_the_keys_signer() {
        let keys = Keys::from_seed([7; 32]);
        let content = json!({"type": "post", "text": "seam"});
        let made = create(&keys, None, content.clone(), 2.0, None).expect("valid");
        let mut seen = Vec::new();
        let sign = |payload: &[u8]| {
            seen = payload.to_vec();
            keys.sign(payload)
        };
        let seamed =
            create_with_signer(&keys.id(), None, content.clone(), 2.0, None, sign).expect("valid");
        assert_eq!(seamed.encoded(), made.encoded());
        assert_eq!(
            seen,
            made.signing_bytes(),
            "the signer gets the signed encoding"
        );
        let forged = create_with_signer(&keys.id(), None, content, 2.0, None, |_| [0; 64])
            .expect("well formed");
        assert!(
            crate::validate(None, &forged, None).is_err(),
            "a bad signer is caught"
        );
    }

    #[test]
    fn refuses_what_is_not_content() {
        let keys = Keys::from_seed([9; 32]);
        for bad in [json!("plain text"), json!(null), json!([1])] {
            let err = create(&keys, None, bad, 1.0, None).expect_err("not content");
            assert!(matches!(err, ValidationError::Create { .. }), "{err}");
        }
        let err = create(&keys, None, json!({"type": "post"}), f64::NAN, None);
        assert!(
            matches!(err, Err(ValidationError::Create { .. })),
            "{err:?}"
        );
    }
}
