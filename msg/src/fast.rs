//! The tree-free path from JSON text to a [`Message`]: one pass over the bytes writes the V8
//! encoding directly and picks up the typed fields on the way, with no `serde_json::Value`.
//!
//! It only *accepts*. Anything it does not handle exactly like the tree path, or anything
//! invalid, makes it give up (`None`), and the caller runs the tree path, which then either
//! accepts with the same result or names the error. So it never has to produce an error, and
//! it gives up on: escapes in keys, integer-like ("array index") keys (V8 moves them first),
//! duplicate keys (the last value wins at the first position), objects with more than
//! [`MAX_KEYS`] members, nesting deeper than [`MAX_DEPTH`], numbers that are not finite
//! doubles, lone surrogates, and every grammar or validity error. Tests and a fuzz target
//! check that whatever it accepts equals the tree path's message.

use crate::encode::{
    compact_from_pretty, is_index_key, latin1_sha256, next_special, push_newline, utf16_len,
    write_string,
};
use crate::message::{Head, MAX_MESSAGE_UNITS, Message, SIG_KEY, SIG_SUFFIX, is_encrypted_string};
use crate::refs::{FeedId, MsgId};

/// Deeper values are left to the tree path (serde_json stops at 128 levels).
const MAX_DEPTH: usize = 100;
/// Objects with more members are left to the tree path (duplicate checks are pairwise).
const MAX_KEYS: usize = 64;

/// Parses a message value from JSON text, or `None` (see the module docs).
pub(crate) fn parse_value(text: &[u8]) -> Option<Message> {
    let text = std::str::from_utf8(text).ok()?;
    let mut p = Parser::new(text);
    p.ws();
    let msg = p.message()?;
    p.ws();
    p.at_end().then_some(msg)
}

/// Parses a `{key, value, timestamp}` entry or a bare value (an object whose first member is
/// `previous`), or `None` (see the module docs). Gives the receive timestamp of an entry.
pub(crate) fn parse_entry(text: &[u8]) -> Option<(Message, Option<f64>)> {
    let text = std::str::from_utf8(text).ok()?;
    let mut p = Parser::new(text);
    p.ws();
    p.eat(b'{')?;
    p.ws();
    if text[p.pos..].starts_with("\"previous\"") {
        return parse_value(text.as_bytes()).map(|m| (m, None));
    }
    let (msg, key, received) = p.entry_members()?;
    p.ws();
    if !p.at_end() {
        return None;
    }
    let key_ok = match key {
        None | Some("null") => true,
        Some(quoted) => plain_string(quoted).and_then(msg_id) == Some(msg.id()),
    };
    key_ok.then_some((msg, received))
}

/// The value of a number token, or `None` for any other JSON text.
fn number_value(token: &str) -> Option<f64> {
    let first = *token.as_bytes().first()?;
    if !(first == b'-' || first.is_ascii_digit()) {
        return None;
    }
    small_integer(token).or_else(|| token.parse().ok())
}

/// The value of an integer token of at most 15 digits (exact as a double), read without the
/// general float parser: sequences and most timestamps are such integers.
fn small_integer(token: &str) -> Option<f64> {
    let (negative, digits) = match token.strip_prefix('-') {
        Some(digits) => (true, digits),
        None => (false, token),
    };
    if digits.is_empty() || digits.len() > 15 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let v = digits
        .bytes()
        .fold(0u64, |v, b| v * 10 + u64::from(b - b'0')) as f64;
    Some(if negative { -v } else { v })
}

/// A cursor over JSON text. `keys` is a stack of the member names of the objects being
/// read (spans into `text`), for duplicate checks; `canonical` stays true while everything
/// read since it was set was copied to the output unchanged (no whitespace, no rewriting).
struct Parser<'t> {
    text: &'t str,
    pos: usize,
    keys: Vec<(usize, usize)>,
    canonical: bool,
}

thread_local! {
    /// The pretty encoding being written; reused, it is only needed until the id is hashed.
    static PRETTY: std::cell::RefCell<String> = const { std::cell::RefCell::new(String::new()) };
    /// A parser's stack of member names, kept between parses (a fresh one grew through four
    /// allocations per message). It holds at most [`MAX_KEYS`] names per open object.
    static KEYS: std::cell::Cell<Vec<(usize, usize)>> = const { std::cell::Cell::new(Vec::new()) };
}

impl Drop for Parser<'_> {
    fn drop(&mut self) {
        KEYS.set(std::mem::take(&mut self.keys));
    }
}

/// The top-level members in the order a valid message has them (`author` and `sequence`
/// may be swapped).
const ORDER: [&str; 7] = [
    "previous",
    "author",
    "sequence",
    "timestamp",
    "hash",
    "content",
    "signature",
];

impl<'t> Parser<'t> {
    fn new(text: &'t str) -> Self {
        let mut keys = KEYS.take();
        keys.clear();
        Parser {
            text,
            pos: 0,
            keys,
            canonical: true,
        }
    }

    fn bytes(&self) -> &'t [u8] {
        self.text.as_bytes()
    }
    fn peek(&self) -> Option<u8> {
        self.bytes().get(self.pos).copied()
    }
    fn at_end(&self) -> bool {
        self.pos == self.text.len()
    }
    fn ws(&mut self) {
        let start = self.pos;
        while let Some(b' ' | b'\n' | b'\r' | b'\t') = self.peek() {
            self.pos += 1;
        }
        self.canonical &= self.pos == start;
    }
    fn eat_if(&mut self, b: u8) -> bool {
        let hit = self.peek() == Some(b);
        self.pos += usize::from(hit);
        hit
    }
    fn eat(&mut self, b: u8) -> Option<()> {
        self.eat_if(b).then_some(())
    }
    fn literal(&mut self, word: &'static str) -> Option<&'static str> {
        let end = self.pos + word.len();
        let hit = self.text.get(self.pos..end)? == word;
        self.pos = end;
        hit.then_some(word)
    }

    /// The message value, at the cursor: its seven members in order. The pretty encoding is
    /// written (into a per-thread buffer) as they are read, to hash; the message keeps the
    /// input text itself as its compact JSON when that text is already canonical.
    fn message(&mut self) -> Option<Message> {
        PRETTY.with_borrow_mut(|out| {
            out.clear();
            let start = self.pos;
            self.canonical = true;
            let head = self.members(out)?;
            let compact = match self.canonical {
                true => Box::from(&self.text[start..self.pos]),
                false => compact_from_pretty(out).into_boxed_str(),
            };
            head.finish(out, compact)
        })
    }

    /// The seven members of a message value, written to `out`.
    fn members(&mut self, out: &mut String) -> Option<HeadParts> {
        let mut head = HeadParts::default();
        self.eat(b'{')?;
        out.push('{');
        for (i, want) in ORDER.iter().enumerate() {
            self.ws();
            let key = self.key()?;
            let swapped = match i {
                1 => "sequence",
                2 => "author",
                _ => want,
            };
            if key != *want && key != swapped {
                return None;
            }
            self.ws();
            self.eat(b':')?;
            self.ws();
            if key == "signature" {
                head.sig_at = out.len();
            }
            if i > 0 {
                out.push(',');
            }
            out.push_str("\n  \"");
            out.push_str(key);
            out.push_str("\": ");
            self.member(key, out, &mut head)?;
            self.ws();
            self.eat(if i == ORDER.len() - 1 { b'}' } else { b',' })?;
        }
        out.push_str("\n}");
        Some(head)
    }

    /// The members of an entry after its `{`: the message in `value`, the text of `key`, the
    /// number in `timestamp`. Other members are read and dropped.
    fn entry_members(&mut self) -> Option<(Message, Option<&'t str>, Option<f64>)> {
        let (mut msg, mut key, mut received) = (None, None, None);
        if self.eat_if(b'}') {
            return None;
        }
        loop {
            let name = self.key()?;
            let text = self.text;
            if self.keys.iter().any(|&(s, e)| &text[s..e] == name) {
                return None;
            }
            self.keys.push((self.pos - name.len() - 1, self.pos - 1));
            self.ws();
            self.eat(b':')?;
            self.ws();
            let start = self.pos;
            if name == "value" {
                msg = Some(self.message()?);
            } else {
                // Read for its grammar only; the buffer is free outside `message`.
                PRETTY.with_borrow_mut(|scratch| {
                    scratch.clear();
                    self.value(scratch, 1)
                })?;
            }
            match name {
                "key" => key = Some(&text[start..self.pos]),
                "timestamp" => received = number_value(&text[start..self.pos]),
                _ => {}
            }
            self.ws();
            if self.eat_if(b'}') {
                break;
            }
            self.eat(b',')?;
            self.ws();
        }
        Some((msg?, key, received))
    }

    /// One top-level member's value: written to `out`, its typed form kept in `head`.
    fn member(&mut self, key: &str, out: &mut String, head: &mut HeadParts) -> Option<()> {
        let start = out.len();
        match key {
            "content" if self.peek() == Some(b'{') => {
                head.content_type = Some(self.content_object(out)?);
                return Some(());
            }
            "content" => {
                self.value(out, 1)?;
                let written = &out[start..];
                let boxed = match plain_string(written) {
                    Some(s) => is_encrypted_string(s),
                    None => is_encrypted_string(&serde_json::from_str::<String>(written).ok()?),
                };
                boxed.then_some(())?;
                head.encrypted = true;
                return Some(());
            }
            _ => self.value(out, 1)?,
        }
        let written = &out[start..];
        match key {
            "previous" if written == "null" => head.previous = Some(None),
            "previous" => head.previous = Some(Some(msg_id(plain_string(written)?)?)),
            "author" => head.author = Some(feed_id(plain_string(written)?)?),
            "sequence" => head.sequence = Some(sequence(number_value(written)?)?),
            "timestamp" => head.timestamp = Some(number_value(written)?),
            "hash" => (written == "\"sha256\"").then_some(())?,
            "signature" => head.signature = Some(signature(plain_string(written)?)?),
            _ => return None,
        }
        Some(())
    }

    /// The string value just written at `out[start..]`, decoded (it was read at `self.pos`).
    fn string_at(&self, start: usize, out: &str) -> Option<String> {
        let written = &out[start..];
        match plain_string(written) {
            Some(s) => Some(s.to_owned()),
            None => serde_json::from_str(written).ok(),
        }
    }

    /// The content object: written like any object, and its `type` string returned (a
    /// string of 3 to 52 UTF-16 code units, or the tree path decides).
    fn content_object(&mut self, out: &mut String) -> Option<Box<str>> {
        let mut found = None;
        self.object(out, 1, Some(&mut found))?;
        let ty = found?;
        (3..=52)
            .contains(&utf16_len(&ty))
            .then(|| ty.into_boxed_str())
    }

    /// An object member name (no escapes, not an array index), the cursor on its `"`.
    fn key(&mut self) -> Option<&'t str> {
        self.eat(b'"')?;
        let start = self.pos;
        let end = next_special(self.bytes(), start)?;
        if self.bytes()[end] != b'"' {
            return None;
        }
        self.pos = end + 1;
        let key = &self.text[start..end];
        (!is_index_key(key)).then_some(key)
    }

    /// Reads one value and writes its V8 pretty encoding at nesting `depth`.
    fn value(&mut self, out: &mut String, depth: usize) -> Option<()> {
        match self.peek()? {
            b'{' => self.object(out, depth, None)?,
            b'[' => self.array(out, depth)?,
            b'"' => self.string(out)?,
            b't' => out.push_str(self.literal("true")?),
            b'f' => out.push_str(self.literal("false")?),
            b'n' => out.push_str(self.literal("null")?),
            b'-' | b'0'..=b'9' => self.number(out)?,
            _ => return None,
        }
        Some(())
    }

    fn object(
        &mut self,
        out: &mut String,
        depth: usize,
        mut want_type: Option<&mut Option<String>>,
    ) -> Option<()> {
        if self.open(out, depth, *b"{}")? {
            return Some(());
        }
        let base = self.keys.len();
        loop {
            let key = self.key()?;
            let span = (self.pos - key.len() - 1, self.pos - 1);
            let text = self.text;
            if self.keys[base..].iter().any(|&(s, e)| &text[s..e] == key)
                || self.keys.len() - base >= MAX_KEYS
            {
                return None;
            }
            self.keys.push(span);
            push_newline(out, depth + 1);
            out.push('"');
            out.push_str(key);
            out.push_str("\": ");
            self.ws();
            self.eat(b':')?;
            self.ws();
            let start = out.len();
            self.value(out, depth + 1)?;
            if key == "type"
                && let Some(slot) = want_type.as_deref_mut()
            {
                *slot = Some(
                    self.string_at(start, out)
                        .filter(|_| out[start..].starts_with('"'))?,
                );
            }
            if self.after_item(out, b'}')? {
                break;
            }
        }
        self.keys.truncate(base);
        push_newline(out, depth);
        out.push('}');
        Some(())
    }

    /// The opening byte of an object or array at nesting `depth`, written: `Some(true)` when
    /// the container is empty (then written whole), `Some(false)` when items follow.
    fn open(&mut self, out: &mut String, depth: usize, [open, close]: [u8; 2]) -> Option<bool> {
        if depth > MAX_DEPTH {
            return None;
        }
        self.eat(open)?;
        self.ws();
        out.push(char::from(open));
        let empty = self.eat_if(close);
        if empty {
            out.push(char::from(close));
        }
        Some(empty)
    }

    /// What follows an item of an object or array: `Some(true)` at its closing byte,
    /// `Some(false)` after a comma (written), `None` on anything else.
    fn after_item(&mut self, out: &mut String, close: u8) -> Option<bool> {
        self.ws();
        if self.eat_if(close) {
            return Some(true);
        }
        self.eat(b',')?;
        out.push(',');
        self.ws();
        Some(false)
    }

    fn array(&mut self, out: &mut String, depth: usize) -> Option<()> {
        if self.open(out, depth, *b"[]")? {
            return Some(());
        }
        loop {
            push_newline(out, depth + 1);
            self.value(out, depth + 1)?;
            if self.after_item(out, b']')? {
                break;
            }
        }
        push_newline(out, depth);
        out.push(']');
        Some(())
    }

    /// A string: copied when it has no escapes (then nothing in it needs escaping either),
    /// otherwise decoded and written with V8's escaping.
    fn string(&mut self, out: &mut String) -> Option<()> {
        let start = self.pos;
        self.eat(b'"')?;
        let end = next_special(self.bytes(), self.pos)?;
        match self.bytes()[end] {
            b'"' => {
                self.pos = end + 1;
                out.push_str(&self.text[start..self.pos]);
                Some(())
            }
            b'\\' => {
                let decoded = self.escaped_string(start + 1)?;
                let at = out.len();
                write_string(out, &decoded);
                self.canonical &= out[at..] == self.text[start..self.pos];
                Some(())
            }
            _ => None,
        }
    }

    /// Decodes a string with escapes whose text starts at `from`; the cursor ends after it.
    fn escaped_string(&mut self, from: usize) -> Option<String> {
        let bytes = self.bytes();
        let mut s = String::with_capacity(64);
        let mut i = from;
        loop {
            let end = next_special(bytes, i)?;
            s.push_str(&self.text[i..end]);
            match bytes[end] {
                b'"' => {
                    self.pos = end + 1;
                    return Some(s);
                }
                b'\\' => i = self.escape(end + 1, &mut s)?,
                _ => return None,
            }
        }
    }

    /// Decodes the escape whose letter is at `at` into `s`; the position after it.
    fn escape(&self, at: usize, s: &mut String) -> Option<usize> {
        let c = match *self.bytes().get(at)? {
            b'"' => '"',
            b'\\' => '\\',
            b'/' => '/',
            b'b' => '\u{8}',
            b'f' => '\u{c}',
            b'n' => '\n',
            b'r' => '\r',
            b't' => '\t',
            b'u' => return self.unicode_escape(at + 1, s),
            _ => return None,
        };
        s.push(c);
        Some(at + 1)
    }

    /// A `\uXXXX` escape (a surrogate pair takes two); lone surrogates are given up on.
    fn unicode_escape(&self, at: usize, s: &mut String) -> Option<usize> {
        let hi = self.hex4(at)?;
        if !(0xD800..0xE000).contains(&hi) {
            s.push(char::from_u32(hi)?);
            return Some(at + 4);
        }
        if hi >= 0xDC00 || self.text.get(at + 4..at + 6)? != "\\u" {
            return None;
        }
        let lo = self.hex4(at + 6)?;
        if !(0xDC00..0xE000).contains(&lo) {
            return None;
        }
        s.push(char::from_u32(
            0x10000 + ((hi - 0xD800) << 10) + (lo - 0xDC00),
        )?);
        Some(at + 10)
    }

    fn hex4(&self, at: usize) -> Option<u32> {
        let digits = self.text.get(at..at + 4)?;
        if !digits.bytes().all(|b| b.is_ascii_hexdigit()) {
            return None;
        }
        u32::from_str_radix(digits, 16).ok()
    }

    /// A number: short integers are copied; anything else is printed as ECMAScript does.
    fn number(&mut self, out: &mut String) -> Option<()> {
        let start = self.pos;
        self.eat_if(b'-');
        let int_start = self.pos;
        match self.peek()? {
            b'0' => self.pos += 1,
            b'1'..=b'9' => self.digits(),
            _ => return None,
        }
        let int_digits = self.pos - int_start;
        let mut plain = true;
        if self.eat_if(b'.') {
            plain = false;
            self.some_digits()?;
        }
        if let Some(b'e' | b'E') = self.peek() {
            plain = false;
            self.pos += 1;
            if let Some(b'+' | b'-') = self.peek() {
                self.pos += 1;
            }
            self.some_digits()?;
        }
        let token = &self.text[start..self.pos];
        if plain && int_digits <= 15 && token != "-0" {
            out.push_str(token);
            return Some(());
        }
        let f: f64 = token.parse().ok()?;
        if !f.is_finite() {
            return None;
        }
        let at = out.len();
        if f == 0.0 {
            out.push('0');
        } else {
            out.push_str(ryu_js::Buffer::new().format(f));
        }
        self.canonical &= out[at..] == *token;
        Some(())
    }

    fn digits(&mut self) {
        while let Some(b'0'..=b'9') = self.peek() {
            self.pos += 1;
        }
    }
    fn some_digits(&mut self) -> Option<()> {
        let start = self.pos;
        self.digits();
        (self.pos > start).then_some(())
    }
}

/// The text of a JSON string token without escapes, or `None`.
fn plain_string(token: &str) -> Option<&str> {
    let inner = token.strip_prefix('"')?.strip_suffix('"')?;
    (!inner.contains('\\')).then_some(inner)
}

/// JavaScript's `~~n === n` from 1 (see the tree path's sequence check).
fn sequence(f: f64) -> Option<u64> {
    (f.fract() == 0.0 && (1.0..=f64::from(i32::MAX)).contains(&f)).then_some(f as u64)
}

fn signature(s: &str) -> Option<[u8; 64]> {
    decode_b64(s.strip_suffix(SIG_SUFFIX)?)
}

/// Marks a byte that is not a base64 digit in [`B64`].
const NOT_B64: u8 = 0xFF;

/// The value of each byte as a standard base64 digit, or [`NOT_B64`] (also for `=`).
const B64: [u8; 256] = {
    let digits = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut table = [NOT_B64; 256];
    let mut i = 0;
    while i < digits.len() {
        table[digits[i] as usize] = i as u8;
        i += 1;
    }
    table
};

/// The value of a base64 digit, or `None`.
fn digit(b: u8) -> Option<u32> {
    let v = B64[usize::from(b)];
    (v != NOT_B64).then_some(u32::from(v))
}

/// Four base64 digits as 24 bits, or `None`.
fn quad(q: &[u8]) -> Option<u32> {
    let mut v = 0;
    for &b in q {
        v = v << 6 | digit(b)?;
    }
    Some(v)
}

/// Decodes canonical padded base64 of exactly `N` bytes (refs and signatures), accepting
/// exactly what `refs::decode_exact` accepts, without the general decoder's set-up.
fn decode_b64<const N: usize>(text: &str) -> Option<[u8; N]> {
    let t = text.as_bytes();
    if t.len() != N.div_ceil(3) * 4 {
        return None;
    }
    let mut out = [0; N];
    for (bytes, q) in out.chunks_exact_mut(3).zip(t.chunks_exact(4)) {
        bytes.copy_from_slice(&quad(q)?.to_be_bytes()[1..]);
    }
    let tail = &t[t.len() - 4..];
    let (digits, len) = match N % 3 {
        0 => return Some(out),
        1 if tail[2..] == *b"==" => ([tail[0], tail[1], b'A', b'A'], 1),
        2 if tail[3] == b'=' => ([tail[0], tail[1], tail[2], b'A'], 2),
        _ => return None,
    };
    let bytes = quad(&digits)?.to_be_bytes();
    // Canonical: the bits after the last byte are zero.
    if bytes[1 + len..].iter().any(|&b| b != 0) {
        return None;
    }
    out[N - len..].copy_from_slice(&bytes[1..=len]);
    Some(out)
}

/// Whether `s` is canonical padded base64 (of any length; empty is), as the `base64` crate's
/// standard engine decodes it: only the last group may be padded, and the bits the padding
/// leaves over are zero.
pub(crate) fn is_canonical_base64(s: &str) -> bool {
    let t = s.as_bytes();
    if !t.len().is_multiple_of(4) {
        return false;
    }
    let Some((body, last)) = t.split_last_chunk::<4>() else {
        return true;
    };
    // Branch-free per block, so that the compiler vectorises the long bodies of `.box` strings.
    let block_ok = |block: &[u8]| block.iter().fold(true, |ok, &b| ok & is_b64_digit(b));
    body.chunks(32).all(block_ok) && last_group_ok(*last)
}

/// Whether `b` is a standard base64 digit (not padding).
fn is_b64_digit(b: u8) -> bool {
    b.is_ascii_alphanumeric() | (b == b'+') | (b == b'/')
}

/// The last group of canonical base64: four digits, or two or three and padding whose
/// left-over bits are zero.
fn last_group_ok([a, b, c, d]: [u8; 4]) -> bool {
    let bits = match (c, d) {
        (b'=', b'=') => digit(b).map(|v| v & 0x0F),
        (_, b'=') => digit(b).and(digit(c)).map(|v| v & 0x03),
        _ => digit(b).and(digit(c)).and(digit(d)).map(|_| 0),
    };
    digit(a).is_some() && bits == Some(0)
}

/// A `%…sha256` message id, as its `FromStr` reads it.
fn msg_id(s: &str) -> Option<MsgId> {
    let b64 = s.strip_prefix(MsgId::SIGIL)?.strip_suffix(MsgId::SUFFIX)?;
    decode_b64(b64).map(MsgId)
}

/// A `@….ed25519` feed id, as its `FromStr` reads it.
fn feed_id(s: &str) -> Option<FeedId> {
    let b64 = s
        .strip_prefix(FeedId::SIGIL)?
        .strip_suffix(FeedId::SUFFIX)?;
    decode_b64(b64).map(FeedId)
}

/// The typed fields as they are read; all must be there at the end.
#[derive(Default)]
struct HeadParts {
    previous: Option<Option<MsgId>>,
    author: Option<FeedId>,
    sequence: Option<u64>,
    timestamp: Option<f64>,
    signature: Option<[u8; 64]>,
    content_type: Option<Box<str>>,
    encrypted: bool,
    sig_at: usize,
}

impl HeadParts {
    fn finish(self, encoded: &str, compact: Box<str>) -> Option<Message> {
        if utf16_len(encoded) > MAX_MESSAGE_UNITS {
            return None;
        }
        debug_assert_eq!(encoded.rfind(SIG_KEY), Some(self.sig_at));
        let head = Head {
            id: MsgId(latin1_sha256(encoded)),
            author: self.author?,
            sequence: self.sequence?,
            previous: self.previous?,
            timestamp: self.timestamp?,
            signature: self.signature?,
            content_type: self.content_type,
            encrypted: self.encrypted,
            sig_at: self.sig_at,
        };
        let msg = Message::from_parts(compact, head);
        debug_assert_eq!(
            msg.encoded(),
            encoded,
            "the compact JSON re-indents to the encoding"
        );
        Some(msg)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture_lines(jsonl: &[u8]) -> impl Iterator<Item = &[u8]> {
        jsonl.split(|&b| b == b'\n').filter(|l| !l.is_empty())
    }

    /// Every fixture message takes the tree-free path, as an entry and as a bare value,
    /// compact and pretty, and gives the tree path's message.
    fn all_fast(jsonl: &[u8]) {
        for line in fixture_lines(jsonl) {
            let entry: serde_json::Value = serde_json::from_slice(line).unwrap();
            let (tree, received) = Message::from_entry(entry.clone()).unwrap();
            let (fast, fast_received) = parse_entry(line).expect("fixture entry on the fast path");
            assert_eq!(fast.encoded(), tree.encoded());
            assert_eq!(fast.compact_json(), tree.compact_json());
            assert_eq!(fast.id(), tree.id());
            assert_eq!(fast.content_type(), tree.content_type());
            assert_eq!(received, fast_received);
            let pretty = serde_json::to_vec_pretty(&entry["value"]).unwrap();
            let bare = parse_value(&pretty).expect("pretty value on the fast path");
            assert_eq!(bare.encoded(), tree.encoded());
            assert_eq!(
                parse_value(bare.encoded().as_bytes()).unwrap().id(),
                tree.id()
            );
        }
    }

    #[test]
    fn small_fixture_takes_the_fast_path() {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../tests/data/small/msgs.jsonl"
        );
        all_fast(&std::fs::read(path).unwrap());
    }

    #[test]
    fn medium_fixture_takes_the_fast_path() {
        if let Some(jsonl) = sluice_tests::shared_fixture("fixtures/medium/msgs.jsonl.zst") {
            all_fast(&jsonl);
        }
    }

    /// A message value around `content`, with a valid author and signature format.
    fn with_content(content: &str) -> String {
        let head = r#"{"previous":null,"author":"@FCX/tsDLpubCPKKfIrw4gc+SQkHcaD17s7GI6i/ziWY=.ed25519","sequence":1,"timestamp":1.50,"hash":"sha256","content":"#;
        let sig = format!(r#","signature":"{}==.sig.ed25519"}}"#, "A".repeat(86));
        format!("{head}{content}{sig}")
    }

    #[test]
    fn escapes_and_numbers_take_the_fast_path_and_match() {
        let contents = [
            r#"{"type":"post","t":"\u00e9\ud83d\ude00 \/ \n \u0001"}"#,
            r#"{"type":"post","n":[1.0,-0,1e21,12345678901234567890,1E-7]}"#,
            r#"{"type":"p\u006fst","x":{"y":[{},[]]}}"#,
            r#""QUJD.box.anything""#,
        ];
        for content in contents {
            let text = with_content(content);
            let fast = parse_value(text.as_bytes()).expect("fast path");
            let value: serde_json::Value = serde_json::from_str(&text).unwrap();
            let tree = Message::from_value(value).unwrap();
            assert_eq!(fast.encoded(), tree.encoded());
            assert_eq!(fast.id(), tree.id());
            assert_eq!(fast.content_type(), tree.content_type());
            assert_eq!(fast.is_encrypted(), tree.is_encrypted());
            assert_eq!(fast.timestamp(), 1.5);
        }
    }

    /// Every string of `alphabet` up to `max` long, as bytes.
    fn all_strings(alphabet: &[u8], max: usize) -> Vec<String> {
        let mut all = vec![String::new()];
        let mut last = vec![String::new()];
        for _ in 0..max {
            last = last
                .iter()
                .flat_map(|s| {
                    alphabet
                        .iter()
                        .map(move |&c| format!("{s}{}", char::from(c)))
                })
                .collect();
            all.extend(last.iter().cloned());
        }
        all
    }

    #[test]
    fn canonical_base64_check_agrees_with_the_decoder() {
        use base64::Engine as _;
        // Digits with every pattern of low bits that matters, padding, and a non-digit.
        for s in all_strings(b"AQgw/+BE=!", 6)
            .iter()
            .chain(&all_strings(b"AB=w", 8))
        {
            let decodes = base64::engine::general_purpose::STANDARD.decode(s).is_ok();
            assert_eq!(is_canonical_base64(s), decodes, "{s:?}");
        }
    }

    #[test]
    fn number_values_agree_with_the_float_parser() {
        for token in [
            "0",
            "-0",
            "7",
            "-12",
            "1438787025000",
            "999999999999999",
            "1e3",
            "1.5",
        ] {
            let fast = number_value(token).expect("a number");
            let slow: f64 = token.parse().unwrap();
            assert_eq!(fast.to_bits(), slow.to_bits(), "{token}");
        }
        assert_eq!(number_value("9999999999999999"), Some(1e16));
        assert_eq!(number_value("\"1\""), None);
    }

    #[test]
    fn ref_decoding_agrees_with_from_str() {
        let id = "%R7lJEkz27lNijPhYNDzYoPjM0Fp+bFWzwX0SmNPB/8E=.sha256";
        assert_eq!(msg_id(id), id.parse().ok());
        let feed = "@FCX/tsDLpubCPKKfIrw4gc+SQkHcaD17s7GI6i/ziWY=.ed25519";
        assert_eq!(feed_id(feed), feed.parse().ok());
        for bad in [
            "%R7lJEkz27lNijPhYNDzYoPjM0Fp+bFWzwX0SmNPB/8F=.sha256",
            "%R7lJ=.sha256",
        ] {
            assert_eq!(msg_id(bad), None);
            assert!(bad.parse::<MsgId>().is_err());
        }
        let sig = format!("{}Ag==", "A".repeat(84));
        assert!(decode_b64::<64>(&sig).is_some());
        assert_eq!(
            decode_b64::<64>(&sig),
            crate::refs::decode_exact::<64>(&sig)
        );
        // Every ending over digits of every low-bit pattern, padding and a non-digit.
        for tail in all_strings(b"AQgwBE/+=!", 4)
            .iter()
            .filter(|t| t.len() == 4)
        {
            let ref32 = format!("{}{tail}", "A".repeat(40));
            let sig = format!("{}{tail}", "A".repeat(84));
            let ref_tail = &tail[1..];
            let ref32_short = format!("{}{ref_tail}", "A".repeat(41));
            assert_eq!(
                decode_b64::<32>(&ref32),
                crate::refs::decode_exact::<32>(&ref32)
            );
            assert_eq!(
                decode_b64::<64>(&sig),
                crate::refs::decode_exact::<64>(&sig)
            );
            assert_eq!(
                decode_b64::<32>(&ref32_short),
                crate::refs::decode_exact::<32>(&ref32_short)
            );
        }
        let not_canonical = format!("{}Ah==", "A".repeat(84));
        assert_eq!(decode_b64::<64>(&not_canonical), None);
        assert_eq!(crate::refs::decode_exact::<64>(&not_canonical), None);
    }

    #[test]
    fn gives_up_on_what_the_tree_path_must_decide() {
        let contents = [
            r#"{"type":"post","1":2}"#,
            r#"{"type":"post","a":1,"a":2}"#,
            r#"{"type":"post","t":"\ud83d"}"#,
            r#"{"type":"post","n":1e400}"#,
            r#"{"type":"po"}"#,
            r#"{"type":"post","k\u0065y":1}"#,
        ];
        for content in contents {
            let text = with_content(content);
            assert!(parse_value(text.as_bytes()).is_none(), "{content}");
        }
    }
}
