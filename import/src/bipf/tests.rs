//! Unit tests of the BIPF decoder: every type, the JSON mapping, and malformed input.

use serde_json::{Value, json};

use super::*;

/// Encodes a tag and body the way BIPF does (test-only encoder).
fn enc(kind: u8, body: &[u8]) -> Vec<u8> {
    let mut tag = (body.len() as u64) << TYPE_BITS | u64::from(kind);
    let mut out = Vec::new();
    loop {
        let byte = (tag & 0x7f) as u8;
        tag >>= 7;
        if tag == 0 {
            out.push(byte);
            break;
        }
        out.push(byte | 0x80);
    }
    out.extend_from_slice(body);
    out
}

fn s(text: &str) -> Vec<u8> {
    enc(STRING, text.as_bytes())
}

fn obj(pairs: &[(&str, Vec<u8>)]) -> Vec<u8> {
    let body: Vec<u8> = pairs
        .iter()
        .flat_map(|(k, v)| [s(k), v.clone()].concat())
        .collect();
    enc(OBJECT, &body)
}

fn check(bytes: &[u8], expected: Value) {
    assert_eq!(decode(bytes).unwrap(), expected);
}

fn check_err(bytes: &[u8], expected: DecodeError) {
    assert_eq!(decode(bytes).unwrap_err(), expected);
}

#[test]
fn strings_short_and_long() {
    check(&s(""), json!(""));
    check(&s("héllo ✓"), json!("héllo ✓"));
    let long = "x".repeat(70_000);
    let bytes = s(&long);
    assert_eq!(
        bytes.len() - long.len(),
        3,
        "a 70 kB string has a 3-byte tag"
    );
    check(&bytes, json!(long));
}

#[test]
fn buffer_and_extended_use_node_buffer_json() {
    check(
        &enc(BUFFER, &[1, 2, 255]),
        json!({"type": "Buffer", "data": [1, 2, 255]}),
    );
    check(
        &enc(EXTENDED, &[7]),
        json!({"type": "BipfExtended", "data": [7]}),
    );
}

#[test]
fn ints_are_signed_32_bit() {
    check(&enc(INT, &5i32.to_le_bytes()), json!(5));
    check(&enc(INT, &(-123_456i32).to_le_bytes()), json!(-123_456));
    check(&enc(INT, &i32::MIN.to_le_bytes()), json!(i32::MIN));
    check_err(
        &enc(INT, &[1, 2]),
        DecodeError::BadLength {
            at: 0,
            kind: INT,
            len: 2,
        },
    );
}

#[test]
fn doubles_map_like_json_stringify() {
    let d = |x: f64| enc(DOUBLE, &x.to_le_bytes());
    let timestamp = decode(&d(1_438_787_025_000.0)).unwrap();
    assert_eq!(timestamp, json!(1_438_787_025_000u64));
    assert!(timestamp.is_i64(), "integral doubles become JSON integers");
    check(&d(-0.0), json!(0));
    check(&d(0.1), json!(0.1));
    check(&d(1.5e300), json!(1.5e300));
    check(&d(-2.5), json!(-2.5));
    let big = decode(&d(1e21)).unwrap();
    assert!(big.is_f64(), "beyond 2^53 a double stays a float");
    check_err(&d(f64::NAN), DecodeError::NotFinite { at: 0 });
    check_err(&d(f64::INFINITY), DecodeError::NotFinite { at: 0 });
    check_err(
        &enc(DOUBLE, &[0; 4]),
        DecodeError::BadLength {
            at: 0,
            kind: DOUBLE,
            len: 4,
        },
    );
}

#[test]
fn boolnull() {
    check(&enc(BOOLNULL, &[]), Value::Null);
    check(&enc(BOOLNULL, &[0]), json!(false));
    check(&enc(BOOLNULL, &[1]), json!(true));
    check_err(
        &enc(BOOLNULL, &[2]),
        DecodeError::BadBool { at: 0, byte: 2 },
    );
    check_err(
        &enc(BOOLNULL, &[1, 1]),
        DecodeError::BadLength {
            at: 0,
            kind: BOOLNULL,
            len: 2,
        },
    );
}

#[test]
fn arrays_nest() {
    let inner = enc(ARRAY, &[s("a"), enc(BOOLNULL, &[])].concat());
    check(&enc(ARRAY, &[]), json!([]));
    check(
        &enc(ARRAY, &[enc(INT, &1i32.to_le_bytes()), inner].concat()),
        json!([1, ["a", null]]),
    );
}

#[test]
fn objects_keep_key_order() {
    let bytes = obj(&[("z", s("1")), ("a", s("2")), ("m", enc(OBJECT, &[]))]);
    let value = decode(&bytes).unwrap();
    let keys: Vec<&str> = value
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(keys, ["z", "a", "m"]);
    assert_eq!(value, json!({"z": "1", "a": "2", "m": {}}));
}

#[test]
fn repeated_key_keeps_last_value_in_first_place() {
    let bytes = obj(&[("a", s("1")), ("b", s("2")), ("a", s("3"))]);
    let value = decode(&bytes).unwrap();
    let keys: Vec<&str> = value
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(keys, ["a", "b"]);
    assert_eq!(value["a"], json!("3"));
}

#[test]
fn non_string_key_becomes_its_json_text() {
    let body = [enc(INT, &7i32.to_le_bytes()), s("seven")].concat();
    check(&enc(OBJECT, &body), json!({"7": "seven"}));
}

#[test]
fn truncated_and_trailing_input() {
    let mut bytes = s("hello");
    bytes.pop();
    check_err(&bytes, DecodeError::Truncated { at: 5 });
    check_err(&[], DecodeError::Truncated { at: 0 });
    check_err(&[0x80], DecodeError::Truncated { at: 1 });
    check_err(
        &[s("a"), s("b")].concat(),
        DecodeError::Trailing { extra: 2 },
    );
}

#[test]
fn child_cannot_overrun_its_parent() {
    // The array claims 2 body bytes but its string child claims 3.
    let bytes = [enc(ARRAY, &[0x18, b'a']), b"bc".to_vec()].concat();
    assert!(matches!(decode(&bytes), Err(DecodeError::Truncated { .. })));
}

#[test]
fn bad_varint_and_bad_utf8() {
    check_err(&[0xff; 11], DecodeError::BadVarint { at: 0 });
    check_err(&enc(STRING, &[0xff, 0xfe]), DecodeError::BadUtf8 { at: 0 });
}

#[test]
fn nesting_depth_is_bounded() {
    let mut bytes = enc(ARRAY, &[]);
    for _ in 0..MAX_DEPTH {
        bytes = enc(ARRAY, &bytes);
    }
    assert!(matches!(decode(&bytes), Err(DecodeError::TooDeep { .. })));
    let mut ok = enc(ARRAY, &[]);
    for _ in 0..MAX_DEPTH - 1 {
        ok = enc(ARRAY, &ok);
    }
    assert!(decode(&ok).is_ok());
}

#[test]
fn peek_tag_reads_only_the_tag() {
    let bytes = s(&"y".repeat(300));
    assert_eq!(peek_tag(&bytes[..2]), Some((STRING, 300, 2)));
    assert_eq!(peek_tag(&[0x80]), None);
}
