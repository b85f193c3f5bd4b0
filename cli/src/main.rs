//! `sluice`: the command-line front end. Thin: parses arguments, calls the crates, prints.
#![forbid(unsafe_code)]

fn main() {}
