//! Fuzz target: the tree-free message parser agrees with the `serde_json` tree path on
//! arbitrary bytes (as a value, an entry, and as content inside a message). The body is
//! shared with sluice-msg's normal test suite.
#![no_main]

#[path = "../../msg/tests/support/fuzz_fast.rs"]
mod fuzz_fast;

libfuzzer_sys::fuzz_target!(|data: &[u8]| fuzz_fast::fast_vs_tree(data));
