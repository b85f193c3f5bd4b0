//! Fuzz target: arbitrary bytes through sluice-import's format detection, every reader and
//! the BIPF decoder. The body is shared with sluice-import's normal test suite.
#![no_main]

#[path = "../../import/tests/support/fuzz_formats.rs"]
mod fuzz_formats;

libfuzzer_sys::fuzz_target!(|data: &[u8]| fuzz_formats::read_every_way(data));
