//! Fuzz body shared by `fuzz/fuzz_targets/msg_fast.rs` and the normal test suite: the
//! tree-free parsing path (`Message::parse`, `Message::from_entry_slice`) gives exactly what
//! the `serde_json` tree path gives — the same message, or the same error.

use sluice_msg::{Message, ValidationError, encode};

/// A valid author and signature around fuzzed content, so the accepting path is reached.
const HEAD: &str = r#"{"previous":null,"author":"@FCX/tsDLpubCPKKfIrw4gc+SQkHcaD17s7GI6i/ziWY=.ed25519","sequence":1,"timestamp":1,"hash":"sha256","content":"#;
const TAIL: &str = r#","signature":"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA==.sig.ed25519"}"#;

/// Runs `data` through both paths as a value, as an entry, and as the content of a
/// message (also inside an entry), and checks they agree.
pub fn fast_vs_tree(data: &[u8]) {
    agree_value(data);
    agree_entry(data);
    let mut msg = HEAD.as_bytes().to_vec();
    msg.extend_from_slice(data);
    msg.extend_from_slice(TAIL.as_bytes());
    agree_value(&msg);
    agree_entry(&msg);
    let mut entry = br#"{"key":null,"value":"#.to_vec();
    entry.extend_from_slice(&msg);
    entry.extend_from_slice(br#","timestamp":2}"#);
    agree_entry(&entry);
}

fn agree_value(text: &[u8]) {
    let tree = serde_json::from_slice(text)
        .map_err(ValidationError::Json)
        .and_then(Message::from_value);
    same(
        Message::parse(text).map(|m| (m, None)),
        tree.map(|m| (m, None)),
    );
}

fn agree_entry(text: &[u8]) {
    let tree = serde_json::from_slice(text)
        .map_err(ValidationError::Json)
        .and_then(Message::from_entry);
    same(Message::from_entry_slice(text), tree);
}

type Parsed = Result<(Message, Option<f64>), ValidationError>;

fn same(fast: Parsed, tree: Parsed) {
    match (fast, tree) {
        (Ok((a, ra)), Ok((b, rb))) => {
            assert_eq!(a.encoded(), b.encoded());
            assert_eq!(a.compact_json(), b.compact_json());
            assert_eq!(a.compact_json(), encode::compact_from_pretty(a.encoded()));
            assert_eq!(a.id(), b.id());
            assert_eq!(a.author(), b.author());
            assert_eq!(a.sequence(), b.sequence());
            assert_eq!(a.previous(), b.previous());
            assert_eq!(a.timestamp().to_bits(), b.timestamp().to_bits());
            assert_eq!(a.signature(), b.signature());
            assert_eq!(a.content_type(), b.content_type());
            assert_eq!(a.is_encrypted(), b.is_encrypted());
            assert_eq!(a.signing_bytes(), b.signing_bytes());
            // The value built lazily from the encoding encodes back to it.
            assert_eq!(encode::to_v8_pretty(a.value()), a.encoded());
            assert_eq!(ra.map(f64::to_bits), rb.map(f64::to_bits));
        }
        (Err(a), Err(b)) => assert_eq!(a.to_string(), b.to_string()),
        (a, b) => panic!("paths disagree: fast {a:?}, tree {b:?}"),
    }
}
