//! sluice-net: the SSB peer protocol (secret handshake, box stream, muxrpc) and replication.
#![forbid(unsafe_code)]
