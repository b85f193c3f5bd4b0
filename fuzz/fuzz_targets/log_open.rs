//! Fuzz target: arbitrary bytes as a sluice-log file, then open (read-only and writer) and read
//! everything every way. The body is shared with sluice-log's normal test suite.
#![no_main]

#[path = "../../log/tests/support/fuzz_open.rs"]
mod fuzz_open;

libfuzzer_sys::fuzz_target!(|data: &[u8]| fuzz_open::open_and_iterate(data));
