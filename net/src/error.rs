//! The one error type of sluice-net: what failed, at which step, and why.

use std::fmt;

/// A step of the secret handshake, named in handshake errors.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum HandshakeStep {
    /// Message 1 (64 bytes): the client's hello (HMAC of its ephemeral key under the caps key).
    ClientHello,
    /// Message 2 (64 bytes): the server's hello.
    ServerHello,
    /// Message 3 (112 bytes): the client proves its identity.
    ClientAuth,
    /// Message 4 (80 bytes): the server accepts and proves its identity.
    ServerAccept,
}

impl fmt::Display for HandshakeStep {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::ClientHello => "client hello (message 1)",
            Self::ServerHello => "server hello (message 2)",
            Self::ClientAuth => "client authentication (message 3)",
            Self::ServerAccept => "server accept (message 4)",
        })
    }
}

/// Everything that can go wrong in sluice-net.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The peer broke the secret handshake (wrong network key, wrong identity, bad crypto).
    #[error(
        "secret handshake failed at the {step}: {reason} (check the peer's public key and that both sides use the same network caps key)"
    )]
    Handshake {
        /// The step that failed.
        step: HandshakeStep,
        /// What was wrong.
        reason: &'static str,
    },
    /// The connection failed or closed while a handshake message was read or written.
    #[error("secret handshake failed at the {step}: connection error")]
    HandshakeIo {
        /// The step that was in progress.
        step: HandshakeStep,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// A box stream header or body did not authenticate: the data is corrupt or forged.
    #[error("box stream: {0} failed to decrypt (corrupt or forged data); closing the connection")]
    BoxDecrypt(&'static str),
    /// A box stream header announced a body larger than the protocol allows.
    #[error(
        "box stream: peer announced a {len}-byte body, the limit is {max}; closing the connection"
    )]
    BoxOversize {
        /// The announced body length.
        len: usize,
        /// The protocol limit.
        max: usize,
    },
    /// The peer closed the connection in the middle of a box or packet.
    #[error("the peer closed the connection in the middle of a {0}")]
    Truncated(&'static str),
    /// Reading from or writing to the connection failed.
    #[error("connection I/O error")]
    Io(#[from] std::io::Error),
    /// A muxrpc packet was longer than this connection accepts.
    #[error("muxrpc: peer sent a {len}-byte packet, the limit is {max}; closing the connection")]
    FrameTooLarge {
        /// The announced body length.
        len: usize,
        /// The configured limit.
        max: usize,
    },
    /// A muxrpc packet was malformed (bad body type, bad JSON, bad request).
    #[error("muxrpc: malformed packet: {0}")]
    BadPacket(String),
    /// The remote side answered a call with an error.
    #[error("remote error in `{method}`: {message}")]
    Remote {
        /// The method that was called (dot-joined name).
        method: String,
        /// The error name the remote sent (e.g. `Error`).
        name: String,
        /// The error message the remote sent.
        message: String,
    },
    /// The connection closed before the call was answered.
    #[error("the connection closed before the call was answered")]
    ConnectionClosed,
    /// The stream was already ended, by us or by the peer.
    #[error("the stream is closed (it ended, or the peer stopped reading)")]
    StreamClosed,
    /// A reply had an unexpected shape (e.g. a stream where one value was expected).
    #[error("unexpected reply to `{method}`: {what}")]
    UnexpectedReply {
        /// The method that was called.
        method: String,
        /// What was wrong.
        what: &'static str,
    },
    /// A multiserver address could not be parsed.
    #[error("bad multiserver address `{addr}`: {reason} (expected net:HOST:PORT~shs:BASE64KEY)")]
    BadAddress {
        /// The address text.
        addr: String,
        /// What was wrong.
        reason: &'static str,
    },
    /// A step did not finish in time.
    #[error("timed out while {0}")]
    Timeout(&'static str),
    /// The database failed (reading feeds or storing messages).
    #[error("database error")]
    Database(#[source] Box<dyn std::error::Error + Send + Sync>),
    /// A key pair could not be read.
    #[error("bad key pair: {0} (check the store's `secret` file)")]
    BadKey(String),
    /// A peer broke the replication protocol (sent something invalid); we hung up.
    #[error("peer misbehaved: {0}; closing the connection")]
    Misbehaved(String),
}

/// The result type of sluice-net.
pub type Result<T, E = Error> = std::result::Result<T, E>;
