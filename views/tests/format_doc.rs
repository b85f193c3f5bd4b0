//! Ties views/FORMAT.md to the code: the constants it states must be the ones the code uses.

use sluice_views::{record, viewfile};

fn doc() -> String {
    std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/FORMAT.md")).expect("FORMAT.md")
}

fn check(needle: &str) {
    assert!(
        doc().contains(needle),
        "FORMAT.md should contain `{needle}`"
    );
}

#[test]
fn record_constants_match_the_doc() {
    check(&format!(
        "Record format version: `{}`",
        record::RECORD_VERSION
    ));
    check(&format!(
        "Flag `encrypted`: `0x{:02x}`",
        record::FLAG_ENCRYPTED
    ));
    check(&format!("The header is {} bytes.", record::HEADER_LEN));
    check(&format!("{:<8}{:<6}message id", 28, 32));
    check(&format!("{:<8}{:<6}author", 60, 32));
}

#[test]
fn view_file_constants_match_the_doc() {
    let magic = std::str::from_utf8(&viewfile::VIEW_MAGIC).expect("ASCII magic");
    check(&format!("View file magic: `{magic}`"));
    check(&format!(
        "View file format version: `{}`",
        viewfile::VIEW_FILE_VERSION
    ));
    check(&format!(
        "The header is {} bytes.",
        viewfile::FILE_HEADER_LEN
    ));
    check(&format!("{:<8}{:<6}view name", 8, viewfile::NAME_LEN));
}

#[test]
fn encoded_view_file_starts_as_documented() {
    let bytes = viewfile::encode("keys", 7, 99, b"xyz");
    assert_eq!(&bytes[..4], b"SLVW");
    assert_eq!(&bytes[8..12], b"keys");
    assert_eq!(
        u32::from_le_bytes(bytes[24..28].try_into().expect("4 bytes")),
        7
    );
    assert_eq!(
        u64::from_le_bytes(bytes[28..36].try_into().expect("8 bytes")),
        99
    );
    assert_eq!(
        u64::from_le_bytes(bytes[36..44].try_into().expect("8 bytes")),
        3
    );
    assert_eq!(
        u64::from_le_bytes(bytes[44..52].try_into().expect("8 bytes")),
        3
    );
    assert_eq!(&bytes[56..], b"xyz");
}
