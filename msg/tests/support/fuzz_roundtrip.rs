//! Fuzz body shared by `fuzz/fuzz_targets/msg_roundtrip.rs` and the normal test suite:
//! parse + encode + validate never panic, and the encoding is a fixed point.

use sluice_msg::{Message, encode, validate, validate_ooo};

/// Runs `data` through JSON parsing, the V8 encoder, message parsing and validation.
pub fn roundtrip(data: &[u8]) {
    let Ok(value) = serde_json::from_slice::<serde_json::Value>(data) else {
        return;
    };
    let compact = encode::to_v8_compact(&value);
    let again: serde_json::Value = serde_json::from_str(&compact).expect("our JSON parses");
    assert_eq!(
        encode::to_v8_compact(&again),
        compact,
        "compact encoding is a fixed point"
    );
    assert_eq!(encode::to_v8_pretty(&again), encode::to_v8_pretty(&value));
    let Ok(msg) = Message::from_value(value) else {
        return;
    };
    assert_eq!(msg.encoded(), encode::to_v8_pretty(msg.value()));
    for text in [msg.to_compact_json(), msg.encoded().to_string()] {
        let back = Message::parse(text.as_bytes()).expect("a valid message reparses");
        assert_eq!(back.encoded(), msg.encoded());
        assert_eq!(back.id(), msg.id());
    }
    let _ = validate(None, &msg, None);
    let _ = validate_ooo(&msg, None);
}
