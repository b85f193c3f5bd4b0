//! sluice-msg: Secure Scuttlebutt classic messages, byte-exact with ssb-server. No I/O.
#![forbid(unsafe_code)]
