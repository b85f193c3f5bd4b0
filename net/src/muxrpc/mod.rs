//! muxrpc: the packet-stream codec and RPC connections (async, source, duplex calls) over it.

mod conn;
mod packet;
mod transport;

pub use conn::{CallKind, Config, Handler, RejectAll, Request, Rpc, Sink, Source, start};
pub use packet::{Body, GOODBYE, HEADER_LEN, Header, Packet};
pub use transport::{ChunkRead, ChunkWrite, Plain};

#[cfg(test)]
mod tests;
