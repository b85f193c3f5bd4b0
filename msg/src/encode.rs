//! The legacy signing encoding: V8's `JSON.stringify(value, null, 2)`, byte for byte.
//!
//! Three V8 behaviours matter: integer-like keys ("array indices") come first in ascending
//! numeric order, numbers print as ECMAScript `Number.prototype.toString`, and only characters
//! below U+0020 (plus `"` and `\`) are escaped.

use serde_json::{Map, Number, Value};
use sha2::{Digest, Sha256};

/// Whether `key` is an array index as V8 sees it: a canonical decimal below 2^32 - 1.
pub fn is_index_key(key: &str) -> bool {
    let b = key.as_bytes();
    if b.is_empty() || b.len() > 10 || !b.iter().all(u8::is_ascii_digit) {
        return false;
    }
    if b.len() > 1 && b[0] == b'0' {
        return false;
    }
    key.parse::<u64>().is_ok_and(|n| n < u64::from(u32::MAX))
}

/// The keys of `map` in V8 property order: index keys ascending, then the rest in insertion order.
fn v8_key_order(map: &Map<String, Value>) -> Vec<(&String, &Value)> {
    let mut entries: Vec<(&String, &Value)> = map.iter().collect();
    // Stable sort: non-index keys keep their insertion order after all index keys.
    entries.sort_by_key(|(k, _)| match is_index_key(k) {
        true => (0, k.parse::<u64>().unwrap_or(0)),
        false => (1, 0),
    });
    entries
}

/// Writes a number the way ECMAScript's `Number.prototype.toString` does (`-0` prints `0`).
pub fn write_number(out: &mut String, n: &Number) {
    if let Some(i) = n.as_i64().filter(|i| i.unsigned_abs() < (1 << 53)) {
        use std::fmt::Write as _;
        // Writing into a String cannot fail.
        let _ = write!(out, "{i}");
        return;
    }
    let f = n.as_f64().unwrap_or(f64::NAN);
    if f == 0.0 {
        out.push('0');
    } else {
        out.push_str(ryu_js::Buffer::new().format(f));
    }
}

/// Whether V8 escapes byte `b` inside a string: `"`, `\\`, and the control characters.
fn is_special(b: u8) -> bool {
    b < 0x20 || b == b'"' || b == b'\\'
}

/// The position of the first byte at or after `from` that needs escaping. Scans 16 bytes at a
/// time without branching inside a block (the compiler vectorises it): most strings have none.
pub(crate) fn next_special(bytes: &[u8], from: usize) -> Option<usize> {
    next_byte(bytes, from, is_special, |w| {
        eq_bytes(w, b'"') | eq_bytes(w, b'\\') | below_bytes(w, 0x20)
    })
}

/// The position of the first byte at or after `from` for which `hit` holds, 16 bytes at a
/// time without branching inside a block (the compiler vectorises it). In the block that holds
/// one, `word` (the same test on eight bytes at once, see [`eq_bytes`]) finds it without a
/// byte-by-byte walk: most strings are shorter than a block, so that walk cost as much as the
/// scan.
fn next_byte(
    bytes: &[u8],
    from: usize,
    hit: impl Fn(u8) -> bool,
    word: impl Fn(u64) -> u64,
) -> Option<usize> {
    const BLOCK: usize = 16;
    let mut i = from;
    while let Some(block) = bytes.get(i..i + BLOCK) {
        if block.iter().fold(false, |any, &b| any | hit(b)) {
            for (k, eight) in block.chunks_exact(8).enumerate() {
                let flags = word(u64::from_le_bytes(eight.try_into().expect("8 bytes")));
                if flags != 0 {
                    return Some(i + k * 8 + flags.trailing_zeros() as usize / 8);
                }
            }
        }
        i += BLOCK;
    }
    bytes.get(i..)?.iter().position(|&b| hit(b)).map(|p| p + i)
}

/// Eight copies of the byte 1.
const ONES: u64 = u64::from_le_bytes([1; 8]);
/// The high bit of each of eight bytes.
const HIGHS: u64 = u64::from_le_bytes([0x80; 8]);

/// The bytes of little-endian `w` below `n` (at most 0x80), as their high bits. Only the
/// lowest flag is sure (a borrow out of a hit may flag a byte above it), which is all a search
/// for the first hit needs.
fn below_bytes(w: u64, n: u8) -> u64 {
    w.wrapping_sub(ONES * u64::from(n)) & !w & HIGHS
}

/// The bytes of `w` equal to `b`, as in [`below_bytes`] (only the lowest flag is sure).
fn eq_bytes(w: u64, b: u8) -> u64 {
    below_bytes(w ^ (ONES * u64::from(b)), 1)
}

/// Appends the escape sequence of a byte for which [`is_special`] holds.
fn push_escape(out: &mut String, b: u8) {
    let short = match b {
        b'"' => "\\\"",
        b'\\' => "\\\\",
        b'\x08' => "\\b",
        b'\x0c' => "\\f",
        b'\n' => "\\n",
        b'\r' => "\\r",
        b'\t' => "\\t",
        _ => {
            const HEX: &[u8; 16] = b"0123456789abcdef";
            out.push_str("\\u00");
            out.push(char::from(HEX[usize::from(b >> 4)]));
            out.push(char::from(HEX[usize::from(b & 0xf)]));
            return;
        }
    };
    out.push_str(short);
}

/// Writes a JSON string with V8's escaping: `"`, `\`, and the control characters below U+0020.
pub fn write_string(out: &mut String, s: &str) {
    out.push('"');
    let bytes = s.as_bytes();
    let mut start = 0;
    // Special bytes are ASCII, so every slice boundary is a char boundary.
    while let Some(i) = next_special(bytes, start) {
        out.push_str(&s[start..i]);
        push_escape(out, bytes[i]);
        start = i + 1;
    }
    out.push_str(&s[start..]);
    out.push('"');
}

/// Indentation is copied from here, a slice at a time.
const SPACES: &str = "                                ";

/// A JSON writer with V8's `JSON.stringify` output rules; `indent` 0 means compact.
struct Writer {
    out: String,
    indent: usize,
}

impl Writer {
    fn newline(&mut self, depth: usize) {
        if self.indent > 0 {
            push_newline(&mut self.out, depth * self.indent / 2);
        }
    }

    fn value(&mut self, v: &Value, depth: usize) {
        match v {
            Value::Null => self.out.push_str("null"),
            Value::Bool(b) => self.out.push_str(if *b { "true" } else { "false" }),
            Value::Number(n) => write_number(&mut self.out, n),
            Value::String(s) => write_string(&mut self.out, s),
            Value::Array(a) => self.array(a, depth),
            Value::Object(m) => self.object(m, depth),
        }
    }

    fn array(&mut self, a: &[Value], depth: usize) {
        if a.is_empty() {
            self.out.push_str("[]");
            return;
        }
        self.out.push('[');
        for (i, item) in a.iter().enumerate() {
            if i > 0 {
                self.out.push(',');
            }
            self.newline(depth + 1);
            self.value(item, depth + 1);
        }
        self.newline(depth);
        self.out.push(']');
    }

    fn object(&mut self, m: &Map<String, Value>, depth: usize) {
        if m.is_empty() {
            self.out.push_str("{}");
            return;
        }
        self.out.push('{');
        if m.keys().any(|k| is_index_key(k)) {
            self.members(v8_key_order(m), depth);
        } else {
            // No index keys: V8's order is the insertion order, no need to collect it.
            self.members(m.iter(), depth);
        }
        self.newline(depth);
        self.out.push('}');
    }

    fn members<'v>(
        &mut self,
        members: impl IntoIterator<Item = (&'v String, &'v Value)>,
        depth: usize,
    ) {
        for (i, (k, item)) in members.into_iter().enumerate() {
            if i > 0 {
                self.out.push(',');
            }
            self.newline(depth + 1);
            write_string(&mut self.out, k);
            self.out.push(':');
            if self.indent > 0 {
                self.out.push(' ');
            }
            self.value(item, depth + 1);
        }
    }
}

/// `JSON.stringify(value, null, 2)` as V8 prints it.
pub fn to_v8_pretty(value: &Value) -> String {
    let mut w = Writer {
        out: String::with_capacity(1024),
        indent: 2,
    };
    w.value(value, 0);
    w.out
}

/// `JSON.stringify(value)` as V8 prints it (compact, same key order and numbers).
pub fn to_v8_compact(value: &Value) -> String {
    let mut w = Writer {
        out: String::with_capacity(512),
        indent: 0,
    };
    w.value(value, 0);
    w.out
}

/// The compact form of a pretty encoding made by [`to_v8_pretty`]: the same text without the
/// line breaks and spaces it puts between tokens. Equal to [`to_v8_compact`] of the same value
/// (strings never hold a raw line break: it is escaped), without walking the value again.
pub fn compact_from_pretty(pretty: &str) -> String {
    let mut out = String::with_capacity(pretty.len());
    compact_pieces(pretty).for_each(|piece| out.push_str(piece));
    out
}

/// [`compact_from_pretty`] appended to a byte buffer (no intermediate `String`).
pub fn compact_from_pretty_into(pretty: &str, out: &mut Vec<u8>) {
    out.reserve(pretty.len());
    compact_pieces(pretty).for_each(|piece| out.extend_from_slice(piece.as_bytes()));
}

/// The pieces of the compact text, in order. Every line of the pretty text is indentation,
/// then either `"key": value-start` or a value (start) alone; the only other space outside
/// strings is the one after a key's colon, and strings never hold a raw line break.
fn compact_pieces(pretty: &str) -> impl Iterator<Item = &str> {
    pretty.split('\n').flat_map(|line| {
        let line = line.trim_start_matches(' ');
        match key_end(line) {
            Some(end) if line.as_bytes()[end..].starts_with(b": ") => {
                [&line[..end], ":", &line[end + 2..]]
            }
            _ => [line, "", ""],
        }
    })
}

/// The position just after the string that starts `line`, if it starts with one.
fn key_end(line: &str) -> Option<usize> {
    let bytes = line.as_bytes();
    if bytes.first() != Some(&b'"') {
        return None;
    }
    string_end(bytes, 1)
}

/// The pretty encoding (`JSON.stringify(v, null, 2)`) of a value given as its V8 compact text
/// (as [`to_v8_compact`] or [`compact_from_pretty`] make it): the same tokens with V8's line
/// breaks and indentation, written without parsing the value.
pub fn pretty_from_compact(compact: &str) -> String {
    let mut out = String::with_capacity(compact.len() + compact.len() / 4 + 64);
    pretty_from_compact_into(compact, &mut out);
    out
}

/// [`pretty_from_compact`] appended to `out`.
pub fn pretty_from_compact_into(compact: &str, out: &mut String) {
    let b = compact.as_bytes();
    let mut depth = 0usize;
    let mut i = 0;
    // Every piece copied ends at an ASCII byte, so every slice boundary is a char boundary.
    while i < b.len() {
        match b[i] {
            b'"' => {
                let end = string_end(b, i + 1).unwrap_or(b.len());
                out.push_str(&compact[i..end]);
                i = end;
                continue;
            }
            open @ (b'{' | b'[') => {
                let close = if open == b'{' { b'}' } else { b']' };
                if b.get(i + 1) == Some(&close) {
                    out.push_str(if open == b'{' { "{}" } else { "[]" });
                    i += 2;
                    continue;
                }
                out.push(char::from(open));
                depth += 1;
                push_newline(out, depth);
            }
            close @ (b'}' | b']') => {
                depth = depth.saturating_sub(1);
                push_newline(out, depth);
                out.push(char::from(close));
            }
            b',' => {
                out.push(',');
                push_newline(out, depth);
            }
            b':' => out.push_str(": "),
            _ => {
                let end = b[i..]
                    .iter()
                    .position(|c| matches!(c, b',' | b'}' | b']'))
                    .map_or(b.len(), |p| p + i);
                out.push_str(&compact[i..end]);
                i = end;
                continue;
            }
        }
        i += 1;
    }
}

/// The position just after the closing quote of the string whose text starts at `from`
/// (escapes skipped), or `None` when it is not closed.
fn string_end(b: &[u8], from: usize) -> Option<usize> {
    let mut i = from;
    loop {
        let j = next_byte(
            b,
            i,
            |c| c == b'"' || c == b'\\',
            |w| eq_bytes(w, b'"') | eq_bytes(w, b'\\'),
        )?;
        if b[j] == b'"' {
            return Some(j + 1);
        }
        i = j + 2;
    }
}

/// A line break and `depth` levels of two-space indentation.
pub(crate) fn push_newline(out: &mut String, depth: usize) {
    out.push('\n');
    let mut n = depth * 2;
    while n > 0 {
        let step = n.min(SPACES.len());
        out.push_str(&SPACES[..step]);
        n -= step;
    }
}

/// The length of `s` in UTF-16 code units (what JavaScript's `.length` reports).
pub fn utf16_len(s: &str) -> usize {
    if s.is_ascii() {
        return s.len();
    }
    s.chars().map(char::len_utf16).sum()
}

/// sha256 of the "latin1" form of `s`: the low byte of each UTF-16 code unit (Node's `binary`).
pub fn latin1_sha256(s: &str) -> [u8; 32] {
    if s.is_ascii() {
        return Sha256::digest(s.as_bytes()).into();
    }
    let bytes: Vec<u8> = s.encode_utf16().map(|u| u.to_le_bytes()[0]).collect();
    Sha256::digest(&bytes).into()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// The word-at-a-time search finds the same first byte as a walk, wherever it lies in a
    /// block and whatever follows it (bytes just above and below each bound, and borrows).
    #[test]
    fn searches_find_the_first_hit_as_a_walk_does() {
        use rand::{Rng, SeedableRng};
        let mut rng = rand::rngs::StdRng::seed_from_u64(20);
        let alphabet = [
            0x00, 0x01, 0x1f, 0x20, 0x21, b'"', b'#', b'[', b'\\', b']', b'a', 0x7f, 0x80, 0xff,
        ];
        let quote_or_slash = |c: u8| c == b'"' || c == b'\\';
        for _ in 0..20_000 {
            let len = rng.gen_range(0..48);
            let bytes: Vec<u8> = (0..len)
                .map(|_| match rng.gen_range(0..4) {
                    0 => alphabet[rng.gen_range(0..alphabet.len())],
                    _ => rng.gen_range(0x23..0x5b),
                })
                .collect();
            let from = rng.gen_range(0..=len);
            let walk = |hit: &dyn Fn(u8) -> bool| {
                bytes[from..].iter().position(|&b| hit(b)).map(|p| p + from)
            };
            assert_eq!(
                next_special(&bytes, from),
                walk(&is_special),
                "{bytes:?} from {from}"
            );
            let end = string_end(&bytes, from);
            let want = walk(&quote_or_slash);
            if want.is_some_and(|j| bytes[j] == b'"') {
                assert_eq!(end, want.map(|j| j + 1), "{bytes:?} from {from}");
            }
        }
    }

    fn compact(text: &str) -> String {
        to_v8_compact(&serde_json::from_str(text).unwrap())
    }

    #[test]
    fn integer_like_keys_come_first_ascending() {
        let text = r#"{"b":1,"10":2,"a":3,"2":4,"01":5,"4294967295":6,"4294967294":7,"-1":8}"#;
        assert_eq!(
            compact(text),
            r#"{"2":4,"10":2,"4294967294":7,"b":1,"a":3,"01":5,"4294967295":6,"-1":8}"#
        );
    }

    #[test]
    fn numbers_print_as_ecmascript() {
        let cases = [
            ("1e21", "1e+21"),
            ("1e20", "100000000000000000000"),
            ("1e-7", "1e-7"),
            ("0.000001", "0.000001"),
            ("-0", "0"),
            ("-0.0", "0"),
            ("1.0", "1"),
            ("1.5", "1.5"),
            ("123456789012345678901234567890", "1.2345678901234568e+29"),
            ("18446744073709551615", "18446744073709552000"),
            ("-9007199254740993", "-9007199254740992"),
            ("0.1", "0.1"),
            ("5e-324", "5e-324"),
        ];
        for (input, want) in cases {
            assert_eq!(compact(input), want, "input {input}");
        }
    }

    #[test]
    fn escapes_only_control_characters() {
        let v = json!("q\"b\\\u{8}\u{c}\n\r\t\u{1}\u{1f}\u{7f}\u{2028}é/");
        assert_eq!(
            to_v8_compact(&v),
            "\"q\\\"b\\\\\\b\\f\\n\\r\\t\\u0001\\u001f\u{7f}\u{2028}é/\""
        );
    }

    #[test]
    fn pretty_matches_v8_layout() {
        let v = json!({"a": [], "b": {}, "c": [1, {"d": null}], "e": true});
        let want = "{\n  \"a\": [],\n  \"b\": {},\n  \"c\": [\n    1,\n    {\n      \"d\": null\n    }\n  ],\n  \"e\": true\n}";
        assert_eq!(to_v8_pretty(&v), want);
    }

    #[test]
    fn compact_from_pretty_equals_compact() {
        let v = json!({
            "a b": "x y \" z\\",
            "q": "\\\"",
            "n": [1, -0.5, {"": " "}, [], {}],
            "e": "line\nbreak\ttab \u{1} é 😀",
            "10": null,
            "t": true
        });
        assert_eq!(compact_from_pretty(&to_v8_pretty(&v)), to_v8_compact(&v));
        assert_eq!(compact_from_pretty(&to_v8_pretty(&json!(" "))), "\" \"");
    }

    #[test]
    fn compact_from_pretty_keeps_colons_and_spaces_inside_strings() {
        let v = json!({
            "k\": ": "v\": \"",
            "list": ["a\": b", "\\", "\\\"", {"x y": [" : ", {}]}, "end\\"],
            " ": {" \"": "\": "},
            "\u{1}\n": "\u{1f}\u{7f}"
        });
        assert_eq!(compact_from_pretty(&to_v8_pretty(&v)), to_v8_compact(&v));
    }

    #[test]
    fn compact_from_pretty_equals_compact_on_the_small_fixture() {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../tests/data/small/msgs.jsonl"
        );
        let jsonl = std::fs::read_to_string(path).expect("the small fixture");
        let mut buf = b"prefix".to_vec();
        for line in jsonl.lines() {
            let entry: Value = serde_json::from_str(line).expect("fixture line");
            let value = &entry["value"];
            let compact = compact_from_pretty(&to_v8_pretty(value));
            assert_eq!(compact, to_v8_compact(value));
            assert_eq!(pretty_from_compact(&compact), to_v8_pretty(value));
            buf.truncate(6);
            compact_from_pretty_into(&to_v8_pretty(value), &mut buf);
            assert_eq!(&buf[6..], compact.as_bytes());
        }
    }

    #[test]
    fn pretty_from_compact_inverts_compact_from_pretty() {
        let v = json!({
            "k\": ": "v\": \"{[,]}",
            "list": ["a\": b", "\\", "\\\"", {"x y": [" : ", {}, []]}, "end\\"],
            "n": [1, -0.5, 1e21, true, false, null],
            "\u{1}\n": "\u{1f}\u{7f} é 😀",
            "deep": {"a": {"b": {"c": [[[{}]]]}}}
        });
        let pretty = to_v8_pretty(&v);
        assert_eq!(pretty_from_compact(&to_v8_compact(&v)), pretty);
        assert_eq!(pretty_from_compact(&compact_from_pretty(&pretty)), pretty);
        for scalar in ["1", "\"x\"", "null", "{}", "[]"] {
            assert_eq!(pretty_from_compact(scalar), scalar);
        }
    }

    #[test]
    fn utf16_length_counts_surrogate_pairs() {
        assert_eq!(utf16_len("abc"), 3);
        assert_eq!(utf16_len("é"), 1);
        assert_eq!(utf16_len("😀"), 2);
    }

    #[test]
    fn latin1_hash_takes_low_byte_of_each_code_unit() {
        // 'é' is U+00E9 -> byte 0xE9; '😀' is D83D DE00 -> bytes 0x3D 0x00; 'ĀB' -> 0x00 0x42.
        let want: [u8; 32] = Sha256::digest([0xE9, 0x3D, 0x00, 0x00, 0x42]).into();
        assert_eq!(latin1_sha256("é😀ĀB"), want);
        assert_ne!(
            latin1_sha256("é"),
            <[u8; 32]>::from(Sha256::digest("é".as_bytes()))
        );
    }
}
