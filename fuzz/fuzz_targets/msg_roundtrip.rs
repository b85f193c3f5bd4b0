//! Fuzz target: arbitrary bytes as a message value: parse + encode + validate never panic and
//! the encoding is a fixed point. The body is shared with sluice-msg's normal test suite.
#![no_main]

#[path = "../../msg/tests/support/fuzz_roundtrip.rs"]
mod fuzz_roundtrip;

libfuzzer_sys::fuzz_target!(|data: &[u8]| fuzz_roundtrip::roundtrip(data));
