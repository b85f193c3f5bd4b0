//! The client/server API: dial or accept a peer, handshake, and run muxrpc over the box stream.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use ed25519_dalek::{SigningKey, VerifyingKey};
use serde_json::Value;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;
use tokio::task::JoinHandle;

use crate::addr::MultiAddr;
use crate::boxstream::{BoxReader, BoxWriter};
use crate::error::{Error, Result};
use crate::muxrpc::{self, Handler, RejectAll, Rpc, Sink, Source};
use crate::shs::{self, Caps, MAIN_CAPS, Session};

/// Settings shared by dialling and accepting.
#[derive(Debug, Clone)]
pub struct Options {
    /// The network caps key (the main network's by default).
    pub caps: Caps,
    /// The longest a TCP connect or a secret handshake may take.
    pub handshake_timeout: Duration,
    /// muxrpc limits.
    pub rpc: muxrpc::Config,
    /// The most connections [`Listener::run`] holds at once; more are refused right away.
    pub max_connections: usize,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            caps: MAIN_CAPS,
            handshake_timeout: Duration::from_secs(5),
            rpc: muxrpc::Config::default(),
            max_connections: 256,
        }
    }
}

/// An authenticated muxrpc connection to a peer.
///
/// Dropping a `Peer` does not close the connection (its handler keeps serving); call
/// [`Peer::close`] to say goodbye.
#[derive(Debug)]
pub struct Peer {
    id: VerifyingKey,
    rpc: Rpc,
    task: JoinHandle<Result<()>>,
}

impl Peer {
    /// The peer's long-term public key (its feed id).
    pub fn id(&self) -> &VerifyingKey {
        &self.id
    }

    /// The call handle (cheap to clone, usable from other tasks).
    pub fn rpc(&self) -> &Rpc {
        &self.rpc
    }

    /// Calls an async method (see [`Rpc::call_async`]).
    pub async fn call_async(&self, name: &str, args: Value) -> Result<Value> {
        self.rpc.call_async(name, args).await
    }

    /// Calls a source method; replies arrive as a stream of JSON values.
    pub async fn source(&self, name: &str, args: Value) -> Result<Source> {
        self.rpc.source(name, args).await
    }

    /// Calls a duplex method.
    pub async fn duplex(&self, name: &str, args: Value) -> Result<(Sink, Source)> {
        self.rpc.duplex(name, args).await
    }

    /// Waits until the connection ends, returning why.
    pub async fn closed(self) -> Result<()> {
        self.task
            .await
            .unwrap_or_else(|e| Err(Error::Io(std::io::Error::other(e))))
    }

    /// Says goodbye and waits for the connection to end.
    pub async fn close(self) -> Result<()> {
        // The peer may have hung up already; the task's result says how the connection ended.
        let _ = self.rpc.close().await;
        self.closed().await
    }
}

/// The read buffer of a connection's box stream.
const READ_BUFFER: usize = 16 * 1024;

async fn within<T>(
    limit: Duration,
    what: &'static str,
    f: impl Future<Output = Result<T>>,
) -> Result<T> {
    tokio::time::timeout(limit, f)
        .await
        .map_err(|_| Error::Timeout(what))?
}

fn start<S>(stream: S, session: &Session, options: &Options, handler: Arc<dyn Handler>) -> Peer
where
    S: AsyncRead + AsyncWrite + Send + 'static,
{
    let (r, w) = tokio::io::split(stream);
    // Buffered: a box is read as a 34-byte header then its body; unbuffered that is two
    // syscalls per box of at most 4 KiB.
    let r = tokio::io::BufReader::with_capacity(READ_BUFFER, r);
    let reader = BoxReader::new(r, &session.keys);
    let writer = BoxWriter::new(w, &session.keys);
    let (rpc, task) = muxrpc::start(reader, writer, handler, options.rpc);
    Peer {
        id: session.peer,
        rpc,
        task,
    }
}

/// Runs the client handshake over an existing stream, then muxrpc with `handler` serving the
/// peer's calls.
pub async fn connect_stream<S>(
    mut stream: S,
    ours: &SigningKey,
    theirs: &VerifyingKey,
    options: &Options,
    handler: Arc<dyn Handler>,
) -> Result<Peer>
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let hs = shs::client(&mut stream, &options.caps, ours, theirs);
    let session = within(options.handshake_timeout, "doing the secret handshake", hs).await?;
    Ok(start(stream, &session, options, handler))
}

/// Dials `addr` (`host:port`), authenticates the peer `theirs` under `caps`, and returns the
/// connection. The peer's calls to us are refused with a muxrpc error; use [`connect_with`] to
/// serve them.
pub async fn connect(
    addr: &str,
    ours: &SigningKey,
    theirs: &VerifyingKey,
    caps: &Caps,
) -> Result<Peer> {
    let options = Options {
        caps: *caps,
        ..Options::default()
    };
    connect_with(addr, ours, theirs, &options, Arc::new(RejectAll)).await
}

/// Like [`connect`], with options and a handler for the peer's calls.
pub async fn connect_with(
    addr: &str,
    ours: &SigningKey,
    theirs: &VerifyingKey,
    options: &Options,
    handler: Arc<dyn Handler>,
) -> Result<Peer> {
    let dial = async { Ok(TcpStream::connect(addr).await?) };
    let stream = within(options.handshake_timeout, "connecting", dial).await?;
    stream.set_nodelay(true)?;
    connect_stream(stream, ours, theirs, options, handler).await
}

/// Dials a multiserver address.
pub async fn connect_addr(
    addr: &MultiAddr,
    ours: &SigningKey,
    options: &Options,
    handler: Arc<dyn Handler>,
) -> Result<Peer> {
    connect_with(&addr.socket_addr(), ours, &addr.key, options, handler).await
}

/// Runs the server handshake over an accepted stream; `handler_for` picks the handler once the
/// client's identity is known.
pub async fn accept_stream<S, F>(
    mut stream: S,
    ours: &SigningKey,
    options: &Options,
    handler_for: F,
) -> Result<Peer>
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    F: FnOnce(&VerifyingKey) -> Arc<dyn Handler>,
{
    let hs = shs::server(&mut stream, &options.caps, ours);
    let session = within(options.handshake_timeout, "doing the secret handshake", hs).await?;
    let handler = handler_for(&session.peer);
    Ok(start(stream, &session, options, handler))
}

/// A TCP listener that accepts SSB peers.
#[derive(Debug)]
pub struct Listener {
    inner: TcpListener,
    keys: SigningKey,
    options: Options,
}

impl Listener {
    /// Binds to `addr` (e.g. `127.0.0.1:8008`; port 0 picks a free port).
    pub async fn bind(addr: &str, keys: SigningKey, options: Options) -> Result<Self> {
        Ok(Self {
            inner: TcpListener::bind(addr).await?,
            keys,
            options,
        })
    }

    /// The bound socket address.
    pub fn local_addr(&self) -> Result<SocketAddr> {
        Ok(self.inner.local_addr()?)
    }

    /// This listener's multiserver address.
    pub fn multiaddr(&self) -> Result<MultiAddr> {
        let addr = self.local_addr()?;
        Ok(MultiAddr {
            host: addr.ip().to_string(),
            port: addr.port(),
            key: self.keys.verifying_key(),
        })
    }

    /// Accepts one connection and handshakes it (within the handshake timeout).
    pub async fn accept<F>(&self, handler_for: F) -> Result<Peer>
    where
        F: FnOnce(&VerifyingKey) -> Arc<dyn Handler>,
    {
        let (stream, _) = self.inner.accept().await?;
        stream.set_nodelay(true)?;
        accept_stream(stream, &self.keys, &self.options, handler_for).await
    }

    /// Accepts connections until the listener fails. Each one is handshaken in its own task, so
    /// a slow or hostile client delays nobody; authenticated peers go to `on_peer`, failed
    /// handshakes are logged and dropped. At most `max_connections` are held at once (counted
    /// from accept until the connection closes); more are closed right away.
    pub async fn run<F, G>(self, handler_for: F, on_peer: G) -> Result<()>
    where
        F: Fn(&VerifyingKey) -> Arc<dyn Handler> + Send + Sync + 'static,
        G: Fn(Peer) + Send + Sync + 'static,
    {
        let slots = Arc::new(Semaphore::new(self.options.max_connections));
        let shared = Arc::new((self.keys, self.options, handler_for, on_peer));
        loop {
            let (stream, from) = self.inner.accept().await?;
            let Ok(permit) = slots.clone().try_acquire_owned() else {
                tracing::warn!(%from, "refused incoming connection: connection limit reached");
                continue;
            };
            let shared = shared.clone();
            tokio::spawn(async move {
                let (keys, options, handler_for, on_peer) = &*shared;
                let _ = stream.set_nodelay(true);
                match accept_stream(stream, keys, options, handler_for).await {
                    Ok(peer) => {
                        let rpc = peer.rpc().clone();
                        on_peer(peer);
                        rpc.closed().await;
                    }
                    Err(e) => tracing::info!(%from, error = %e, "rejected incoming connection"),
                }
                drop(permit);
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::HandshakeStep;
    use crate::muxrpc::Request;
    use serde_json::json;

    struct Echo;

    impl Handler for Echo {
        fn handle(&self, req: Request) {
            match req.method().as_str() {
                "whoami" => drop(tokio::spawn(async move {
                    req.sink.send(json!({"id": "me"})).await
                })),
                _ => RejectAll.handle(req),
            }
        }
    }

    fn key(seed: u8) -> SigningKey {
        SigningKey::from_bytes(&[seed; 32])
    }

    #[tokio::test]
    async fn dial_and_accept_over_tcp() {
        let listener = Listener::bind("127.0.0.1:0", key(2), Options::default())
            .await
            .unwrap();
        let addr = listener.multiaddr().unwrap();
        let server = tokio::spawn(async move { listener.accept(|_| Arc::new(Echo)).await });
        let peer = connect_addr(&addr, &key(1), &Options::default(), Arc::new(RejectAll))
            .await
            .unwrap();
        assert_eq!(peer.id(), &key(2).verifying_key());
        assert_eq!(
            peer.call_async("whoami", json!([])).await.unwrap(),
            json!({"id": "me"})
        );
        let server_peer = server.await.unwrap().unwrap();
        assert_eq!(server_peer.id(), &key(1).verifying_key());
        let err = server_peer
            .call_async("whoami", json!([]))
            .await
            .unwrap_err();
        assert!(matches!(err, Error::Remote { .. }), "{err}");
        peer.close().await.unwrap();
        server_peer.closed().await.unwrap();
    }

    #[tokio::test]
    async fn silent_server_times_out_the_handshake() {
        let (a, _b) = tokio::io::duplex(64);
        let options = Options {
            handshake_timeout: Duration::from_millis(50),
            ..Options::default()
        };
        let err = connect_stream(
            a,
            &key(1),
            &key(2).verifying_key(),
            &options,
            Arc::new(RejectAll),
        )
        .await
        .unwrap_err();
        assert!(matches!(err, Error::Timeout(_)), "{err}");
    }

    #[tokio::test]
    async fn wrong_caps_is_refused_by_the_listener() {
        let listener = Listener::bind("127.0.0.1:0", key(2), Options::default())
            .await
            .unwrap();
        let addr = listener.multiaddr().unwrap();
        let server = tokio::spawn(async move { listener.accept(|_| Arc::new(Echo)).await });
        let options = Options {
            caps: [7; 32],
            ..Options::default()
        };
        assert!(
            connect_addr(&addr, &key(1), &options, Arc::new(RejectAll))
                .await
                .is_err()
        );
        let err = server.await.unwrap().unwrap_err();
        assert!(
            matches!(
                err,
                Error::Handshake {
                    step: HandshakeStep::ClientHello,
                    ..
                }
            ),
            "{err}"
        );
    }
}
