//! Fuzz body shared by the `import_formats` cargo-fuzz target and the normal test suite:
//! arbitrary bytes through detection, every reader and the BIPF decoder. It must never
//! panic, and each reader's counts must match what it yielded.

use std::io::Cursor;

use sluice_import::{Format, Reader, bipf, detect};

/// Runs `data` through everything; panics only on a bug.
pub fn read_every_way(data: &[u8]) {
    let detected = detect(data);
    if let Ok(reader) = Reader::detect(Cursor::new(data.to_vec())) {
        assert_eq!(
            Some(reader.format()),
            detected,
            "Reader::detect agrees with detect"
        );
        drain(reader, data.len());
    }
    for format in [Format::JsonLines, Format::OffsetLog, Format::BipfLog] {
        drain(
            Reader::with_format(format, Cursor::new(data.to_vec())),
            data.len(),
        );
    }
    let _ = bipf::decode(data);
}

fn drain(mut reader: Reader, len: usize) {
    let mut yielded = 0u64;
    for item in reader.by_ref() {
        yielded += 1;
        match item {
            Ok(entry) => {
                let _ = entry.into_value();
            }
            Err(err) => assert!(!err.to_string().is_empty()),
        }
    }
    let counts = reader.counts();
    assert_eq!(counts.read + counts.unreadable, yielded);
    assert!(reader.bytes_read() <= len as u64);
}
