//! Ties log/FORMAT.md to the code: the constants and hex dumps there are regenerated here.

use sluice_log::format::{
    self, FRAME_HEAD_LEN, FRAME_TRAILER_LEN, HEADER_LEN, LEN_BITS, MAGIC, MAX_RECORD_LEN, SLOT_AT,
    SLOT_LEN, VERSION,
};

fn doc() -> String {
    std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/FORMAT.md")).unwrap()
}

fn hex_dump(bytes: &[u8]) -> String {
    let lines: Vec<String> = bytes
        .chunks(16)
        .enumerate()
        .map(|(i, chunk)| {
            let hex: Vec<String> = chunk.iter().map(|b| format!("{b:02x}")).collect();
            format!("{:04x}  {}", i * 16, hex.join(" "))
        })
        .collect();
    lines.join("\n")
}

fn check(doc: &str, expected: &str) {
    assert!(
        doc.contains(expected),
        "log/FORMAT.md must contain:\n{expected}"
    );
}

#[test]
fn format_doc_states_the_constants() {
    let magic = std::str::from_utf8(&MAGIC).unwrap();
    let constants = format!(
        "MAGIC             = \"{magic}\"\nVERSION           = {VERSION}\nHEADER_LEN        = {HEADER_LEN}\n\
         SLOT_LEN          = {SLOT_LEN}\nSLOT_AT           = {SLOT_AT:?}\nFRAME_HEAD_LEN    = {FRAME_HEAD_LEN}\n\
         FRAME_TRAILER_LEN = {FRAME_TRAILER_LEN}\nLEN_BITS          = {LEN_BITS}\nMAX_RECORD_LEN    = {MAX_RECORD_LEN}\n"
    );
    let doc = doc();
    check(&doc, &constants);
    check(
        &doc,
        &format!("# sluice-log file format, version {VERSION}"),
    );
    check(&doc, &format!("ASCII `{magic}`"));
    check(&doc, "**Every integer is little-endian.**");
}

#[test]
fn format_doc_hex_dumps_match_the_encoder() {
    let doc = doc();
    check(&doc, &hex_dump(&format::new_header()));
    let mut frame = Vec::new();
    format::encode_frame(b"abc", &mut frame);
    check(&doc, &hex_dump(&frame));
}
