//! sluice-net: the SSB peer protocol (secret handshake, box stream, muxrpc) and replication.
//!
//! Layers, bottom up: [`shs`] authenticates a byte stream, [`boxstream`] encrypts it,
//! [`muxrpc`] multiplexes calls over it, and [`peer`] puts them together behind
//! [`connect`] / [`Listener`]; [`node`] replicates feeds between peers and a database.
#![forbid(unsafe_code)]

pub mod addr;
pub mod boxstream;
mod crypto;
pub mod discovery;
mod error;
pub mod muxrpc;
pub mod node;
pub mod peer;
pub mod shs;

pub use addr::MultiAddr;
pub use error::{Error, HandshakeStep, Result};
pub use node::{FetchReport, Node, NodeConfig, Stats, signing_key};
pub use peer::{
    Listener, Options, Peer, accept_stream, connect, connect_addr, connect_stream, connect_with,
};
pub use shs::{Caps, MAIN_CAPS};
