//! A muxrpc connection: many concurrent calls over one transport, both directions.
//!
//! One task reads packets and routes them (replies to our calls, the peer's requests to a
//! [`Handler`], stream items to bounded channels); another batches outgoing packets onto the
//! transport. Channels are bounded: a consumer that stops reading stalls its connection (TCP
//! back-pressure reaches the peer) instead of growing memory.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicI32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{Value, json};
use tokio::sync::{mpsc, oneshot, watch};
use tokio::task::JoinHandle;

use super::packet::{Body, GOODBYE, HEADER_LEN, Header, Packet, encode_json_item};
use super::transport::{ChunkRead, ChunkWrite};
use crate::error::{Error, Result};

/// Limits of one connection.
#[derive(Debug, Clone, Copy)]
pub struct Config {
    /// The largest packet body accepted; a larger one closes the connection.
    pub max_packet: usize,
    /// Capacity of each stream's channel and of the outgoing queue.
    pub channel_capacity: usize,
    /// How long to wait for the peer's goodbye after ours.
    pub goodbye_grace: Duration,
    /// A connection that receives nothing for this long is closed (`None`: never).
    pub idle_timeout: Option<Duration>,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            max_packet: 1 << 20,
            channel_capacity: 64,
            goodbye_grace: Duration::from_secs(5),
            idle_timeout: None,
        }
    }
}

/// The kind of a call, as named in the request's `type` field.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum CallKind {
    /// One request, one reply.
    Async,
    /// One request, a stream of replies.
    Source,
    /// Streams both ways.
    Duplex,
    /// A stream from the caller; one end back.
    Sink,
}

impl CallKind {
    fn as_str(self) -> &'static str {
        match self {
            Self::Async => "async",
            Self::Source => "source",
            Self::Duplex => "duplex",
            Self::Sink => "sink",
        }
    }

    fn from_request(kind: Option<&str>, stream: bool) -> Self {
        match (kind, stream) {
            (_, false) => Self::Async,
            (Some("duplex"), true) => Self::Duplex,
            (Some("sink"), true) => Self::Sink,
            (_, true) => Self::Source,
        }
    }
}

/// What a stream channel carries. Data bodies stay undecoded until their consumer reads them,
/// so JSON parsing happens on the consumers' tasks, in parallel, not on the reader task.
#[derive(Debug)]
enum Item {
    Data { body_type: u8, bytes: Vec<u8> },
    End,
    Failed(Error),
}

/// What the writer task sends.
#[derive(Debug)]
enum Frame {
    Packet(Packet),
    /// Packets already in wire form.
    Encoded(Vec<u8>),
    Goodbye,
}

/// How the connection is stopping.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stop {
    Running,
    Goodbye,
    Abort,
}

/// A call waiting for packets from the peer, keyed by the request number those packets carry.
#[derive(Debug)]
enum Waiting {
    Async {
        method: String,
        tx: oneshot::Sender<Result<Body>>,
    },
    Stream {
        method: String,
        tx: Option<mpsc::Sender<Item>>,
        ended: Arc<AtomicBool>,
        send_req: i32,
    },
}

#[derive(Debug)]
struct Shared {
    out: mpsc::Sender<Frame>,
    waiting: Mutex<HashMap<i32, Waiting>>,
    next_req: AtomicI32,
    stop: watch::Sender<Stop>,
    closed: watch::Sender<bool>,
    config: Config,
}

impl Shared {
    async fn push(&self, packet: Packet) -> Result<()> {
        self.out
            .send(Frame::Packet(packet))
            .await
            .map_err(|_| Error::ConnectionClosed)
    }

    /// Queues a packet without waiting (from `Drop` or a synchronous handler).
    fn push_now(self: &Arc<Self>, packet: Packet) {
        match self.out.try_send(Frame::Packet(packet)) {
            Err(mpsc::error::TrySendError::Full(frame)) => {
                let out = self.out.clone();
                if let Ok(rt) = tokio::runtime::Handle::try_current() {
                    rt.spawn(async move { out.send(frame).await });
                }
            }
            Ok(()) | Err(mpsc::error::TrySendError::Closed(_)) => {}
        }
    }

    fn waiting(&self) -> std::sync::MutexGuard<'_, HashMap<i32, Waiting>> {
        self.waiting
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

fn error_body(message: &str) -> Body {
    Body::Json(json!({ "name": "Error", "message": message, "stack": "" }))
}

fn end_packet(req: i32) -> Packet {
    Packet {
        stream: true,
        end: true,
        req,
        body: Body::Json(Value::Bool(true)),
    }
}

/// The error a peer sent as a body (`{name, message}`), or `None` if the body is a plain end.
fn remote_error(method: &str, body: &Body) -> Option<Error> {
    let Body::Json(Value::Object(obj)) = body else {
        return None;
    };
    let message = obj.get("message")?.as_str().unwrap_or_default().to_owned();
    let name = obj
        .get("name")
        .and_then(Value::as_str)
        .unwrap_or("Error")
        .to_owned();
    Some(Error::Remote {
        method: method.to_owned(),
        name,
        message,
    })
}

/// The receiving end of a stream: the peer's replies to our source call, or the peer's half of a
/// duplex or sink call.
#[derive(Debug)]
pub struct Source {
    rx: mpsc::Receiver<Item>,
    method: String,
    done: bool,
    shared: Arc<Shared>,
}

impl Source {
    fn new(rx: mpsc::Receiver<Item>, method: String, shared: Arc<Shared>) -> Self {
        Self {
            rx,
            method,
            done: false,
            shared,
        }
    }

    /// The next item undecoded: `(body type, bytes)`; `None` after a clean end.
    async fn next_raw(&mut self) -> Option<Result<(u8, Vec<u8>)>> {
        if self.done {
            return None;
        }
        let item = self.rx.recv().await;
        match item {
            Some(Item::Data { body_type, bytes }) => return Some(Ok((body_type, bytes))),
            Some(Item::End) => {
                self.done = true;
                return None;
            }
            _ => self.done = true,
        }
        Some(Err(match item {
            Some(Item::Failed(e)) => e,
            _ => Error::ConnectionClosed,
        }))
    }

    /// A body that does not decode is a protocol violation: the stream is over and the
    /// connection is closed, as it would be for any malformed packet.
    fn malformed(&mut self, e: Error) -> Error {
        tracing::warn!(error = %e, method = %self.method, "muxrpc: closing the connection");
        self.done = true;
        self.shared.stop.send_replace(Stop::Abort);
        e
    }

    /// The next item; `None` after a clean end. A remote error or a lost connection is an
    /// `Err` item, after which the stream is over.
    pub async fn next_body(&mut self) -> Option<Result<Body>> {
        let (body_type, bytes) = match self.next_raw().await? {
            Ok(raw) => raw,
            Err(e) => return Some(Err(e)),
        };
        Some(Body::decode(body_type, bytes).map_err(|e| self.malformed(e)))
    }

    /// The next item as the bytes of one JSON value, not parsed (the caller parses it; a body
    /// that is not valid JSON is the caller's to refuse). Text and binary bodies are errors.
    pub async fn next_json_bytes(&mut self) -> Option<Result<Vec<u8>>> {
        let (body_type, bytes) = match self.next_raw().await? {
            Ok(raw) => raw,
            Err(e) => return Some(Err(e)),
        };
        if body_type == 2 {
            return Some(Ok(bytes));
        }
        self.done = true;
        Some(Err(Error::UnexpectedReply {
            method: self.method.clone(),
            what: "a text or binary body where JSON was expected",
        }))
    }

    /// The next item as JSON (text becomes a JSON string; binary is an error).
    pub async fn next(&mut self) -> Option<Result<Value>> {
        let body = self.next_body().await?;
        Some(body.and_then(|b| {
            b.into_value().ok_or_else(|| Error::UnexpectedReply {
                method: self.method.clone(),
                what: "binary body where JSON was expected",
            })
        }))
    }

    /// Collects every item until the end (or the first error).
    pub async fn collect(mut self) -> Result<Vec<Value>> {
        let mut all = Vec::new();
        while let Some(v) = self.next().await {
            all.push(v?);
        }
        Ok(all)
    }
}

/// The sending end of a reply or stream: our answer to a peer's call, or our half of a duplex.
///
/// Dropping a sink that was not ended ends it (streams) or answers with an error (async calls),
/// so a peer is never left waiting.
#[derive(Debug)]
pub struct Sink {
    shared: Arc<Shared>,
    req: i32,
    stream: bool,
    ended: Arc<AtomicBool>,
}

impl Sink {
    /// Sends one JSON value. For an async call this is the reply, and the sink is then done.
    pub async fn send(&self, value: Value) -> Result<()> {
        self.send_body(Body::Json(value)).await
    }

    /// Sends stream items whose JSON is already encoded (each one JSON value; not checked), as
    /// one write to the connection: no parse and re-encode of stored messages.
    pub async fn send_json_items(&self, items: &[&[u8]]) -> Result<()> {
        if self.is_closed() || !self.stream {
            return Err(Error::StreamClosed);
        }
        let mut wire = Vec::new();
        for json in items {
            encode_json_item(self.req, json, &mut wire);
            if wire.len() >= ENCODED_FRAME {
                self.push_encoded(std::mem::take(&mut wire)).await?;
            }
        }
        match wire.is_empty() {
            true => Ok(()),
            false => self.push_encoded(wire).await,
        }
    }

    async fn push_encoded(&self, wire: Vec<u8>) -> Result<()> {
        self.shared
            .out
            .send(Frame::Encoded(wire))
            .await
            .map_err(|_| Error::ConnectionClosed)
    }

    /// Sends one body of any type.
    pub async fn send_body(&self, body: Body) -> Result<()> {
        if self.is_closed() {
            return Err(Error::StreamClosed);
        }
        if !self.stream {
            self.ended.store(true, Ordering::SeqCst);
        }
        self.shared
            .push(Packet {
                stream: self.stream,
                end: false,
                req: self.req,
                body,
            })
            .await
    }

    /// Ends the stream cleanly.
    pub async fn end(self) -> Result<()> {
        match self.ended.swap(true, Ordering::SeqCst) {
            true => Ok(()),
            false => self.shared.push(self.final_packet(None)).await,
        }
    }

    /// Ends the stream (or answers the async call) with an error message.
    pub async fn error(self, message: &str) -> Result<()> {
        match self.ended.swap(true, Ordering::SeqCst) {
            true => Ok(()),
            false => self.shared.push(self.final_packet(Some(message))).await,
        }
    }

    /// Like [`Sink::error`], without waiting (queued, or sent from a spawned task when full).
    pub fn error_now(self, message: &str) {
        if !self.ended.swap(true, Ordering::SeqCst) {
            self.shared.push_now(self.final_packet(Some(message)));
        }
    }

    /// True once this side ended or the peer closed the stream.
    pub fn is_closed(&self) -> bool {
        self.ended.load(Ordering::SeqCst) || self.shared.out.is_closed()
    }

    fn final_packet(&self, error: Option<&str>) -> Packet {
        match (error, self.stream) {
            (None, true) => end_packet(self.req),
            (None, false) => Packet {
                stream: false,
                end: true,
                req: self.req,
                body: error_body("no reply"),
            },
            (Some(msg), stream) => Packet {
                stream,
                end: true,
                req: self.req,
                body: error_body(msg),
            },
        }
    }
}

impl Drop for Sink {
    fn drop(&mut self) {
        if !self.ended.swap(true, Ordering::SeqCst) {
            self.shared.push_now(self.final_packet(None));
        }
    }
}

/// A call from the peer, handed to the [`Handler`].
#[derive(Debug)]
pub struct Request {
    /// The method name, e.g. `["blobs", "createWants"]`.
    pub name: Vec<String>,
    /// The arguments.
    pub args: Vec<Value>,
    /// Async, source, duplex or sink.
    pub kind: CallKind,
    /// Where the answer goes.
    pub sink: Sink,
    /// The peer's stream, for duplex and sink calls.
    pub input: Option<Source>,
}

impl Request {
    /// The dot-joined method name, e.g. `blobs.createWants`.
    pub fn method(&self) -> String {
        self.name.join(".")
    }

    /// Answers with an error (for any kind of call), without waiting.
    pub fn reject(self, message: &str) {
        self.sink.error_now(message);
    }

    /// A handle to the connection this call arrived on (to call the peer back or hang up).
    pub fn connection(&self) -> Rpc {
        Rpc {
            shared: self.sink.shared.clone(),
        }
    }
}

/// Serves the peer's calls. `handle` runs on the connection's reader task: it must not block;
/// spawn a task for anything that waits.
pub trait Handler: Send + Sync + 'static {
    /// Handles one incoming call.
    fn handle(&self, request: Request);
}

/// A handler that refuses every call with a muxrpc error.
#[derive(Debug, Clone, Copy, Default)]
pub struct RejectAll;

impl Handler for RejectAll {
    fn handle(&self, request: Request) {
        let msg = format!("method not supported: {}", request.method());
        request.reject(&msg);
    }
}

/// A handle to a connection, for making calls; cheap to clone.
#[derive(Debug, Clone)]
pub struct Rpc {
    shared: Arc<Shared>,
}

fn args_array(args: Value) -> Value {
    match args {
        Value::Array(_) => args,
        other => Value::Array(vec![other]),
    }
}

impl Rpc {
    /// Sends a request after registering what waits for its replies.
    async fn request(
        &self,
        name: &str,
        args: Value,
        kind: CallKind,
        waiting: impl FnOnce(i32) -> Waiting,
    ) -> Result<i32> {
        let req = self.shared.next_req.fetch_add(1, Ordering::SeqCst);
        self.shared.waiting().insert(-req, waiting(req));
        if *self.shared.stop.borrow() != Stop::Running {
            // The connection is closing and may already have failed its waiting calls.
            self.shared.waiting().remove(&-req);
            return Err(Error::ConnectionClosed);
        }
        let names: Vec<&str> = name.split('.').collect();
        let body = json!({ "name": names, "args": args_array(args), "type": kind.as_str() });
        let stream = kind != CallKind::Async;
        let sent = self
            .shared
            .push(Packet {
                stream,
                end: false,
                req,
                body: Body::Json(body),
            })
            .await;
        if sent.is_err() {
            self.shared.waiting().remove(&-req);
        }
        sent.map(|()| req)
    }

    /// Calls an async method and returns its raw reply body.
    pub async fn call_async_body(&self, name: &str, args: Value) -> Result<Body> {
        let (tx, rx) = oneshot::channel();
        let method = name.to_owned();
        self.request(name, args, CallKind::Async, |_| Waiting::Async {
            method,
            tx,
        })
        .await?;
        rx.await.map_err(|_| Error::ConnectionClosed)?
    }

    /// Calls an async method. `args` is the JSON array of arguments (any other value is sent as
    /// the only argument).
    pub async fn call_async(&self, name: &str, args: Value) -> Result<Value> {
        let body = self.call_async_body(name, args).await?;
        body.into_value().ok_or(Error::UnexpectedReply {
            method: name.to_owned(),
            what: "binary reply",
        })
    }

    fn stream_call(
        &self,
        name: &str,
    ) -> (
        mpsc::Receiver<Item>,
        impl FnOnce(i32) -> Waiting,
        Arc<AtomicBool>,
    ) {
        let (tx, rx) = mpsc::channel(self.shared.config.channel_capacity);
        let ended = Arc::new(AtomicBool::new(false));
        let (method, flag) = (name.to_owned(), ended.clone());
        let waiting = move |req| Waiting::Stream {
            method,
            tx: Some(tx),
            ended: flag,
            send_req: req,
        };
        (rx, waiting, ended)
    }

    /// Calls a source method; the replies arrive on the returned stream.
    pub async fn source(&self, name: &str, args: Value) -> Result<Source> {
        // A source caller sends nothing but a final end, which the connection sends for it.
        let (rx, waiting, _) = self.stream_call(name);
        self.request(name, args, CallKind::Source, waiting).await?;
        Ok(Source::new(rx, name.to_owned(), self.shared.clone()))
    }

    /// Calls a duplex method: our half is the [`Sink`], the peer's half the [`Source`].
    pub async fn duplex(&self, name: &str, args: Value) -> Result<(Sink, Source)> {
        let (rx, waiting, ended) = self.stream_call(name);
        let req = self.request(name, args, CallKind::Duplex, waiting).await?;
        let sink = Sink {
            shared: self.shared.clone(),
            req,
            stream: true,
            ended,
        };
        Ok((sink, Source::new(rx, name.to_owned(), self.shared.clone())))
    }

    /// Says goodbye: no more calls; the connection ends once the peer closes too.
    pub async fn close(&self) -> Result<()> {
        self.shared
            .out
            .send(Frame::Goodbye)
            .await
            .map_err(|_| Error::ConnectionClosed)
    }

    /// Hangs up without waiting for queued packets (for a misbehaving peer).
    pub fn abort(&self) {
        self.shared.stop.send_replace(Stop::Abort);
    }

    /// Waits until the connection has ended.
    pub async fn closed(&self) {
        let mut rx = self.shared.closed.subscribe();
        let _ = rx.wait_for(|c| *c).await;
    }

    /// True once the connection has ended.
    pub fn is_closed(&self) -> bool {
        *self.shared.closed.borrow()
    }
}

/// Reads whole packets from a chunk transport, enforcing the size limit.
struct PacketReader<R> {
    inner: R,
    buf: Vec<u8>,
    max: usize,
}

impl<R: ChunkRead> PacketReader<R> {
    /// Makes sure `n` bytes are buffered; `false` at a clean end with nothing buffered.
    async fn fill(&mut self, n: usize) -> Result<bool> {
        while self.buf.len() < n {
            match self.inner.read_chunk().await? {
                Some(chunk) => self.buf.extend_from_slice(&chunk),
                None if self.buf.is_empty() => return Ok(false),
                None => return Err(Error::Truncated("muxrpc packet")),
            }
        }
        Ok(true)
    }

    /// The next packet, its body undecoded; `None` at goodbye or a clean end.
    async fn next(&mut self) -> Result<Option<(Header, Vec<u8>)>> {
        if !self.fill(HEADER_LEN).await? {
            return Ok(None);
        }
        let header: [u8; HEADER_LEN] = self.buf[..HEADER_LEN].try_into().expect("filled");
        let Some(header) = Header::parse(&header) else {
            return Ok(None);
        };
        if header.len > self.max {
            return Err(Error::FrameTooLarge {
                len: header.len,
                max: self.max,
            });
        }
        if !self.fill(HEADER_LEN + header.len).await? {
            return Err(Error::Truncated("muxrpc packet"));
        }
        if header.body_type() == 3 {
            return Err(Error::BadPacket("unknown body type 3".into()));
        }
        let body = self.buf[HEADER_LEN..HEADER_LEN + header.len].to_vec();
        self.buf.drain(..HEADER_LEN + header.len);
        if self.buf.is_empty() && self.buf.capacity() > IDLE_BUFFER {
            // After a large packet: an idle connection keeps no large read buffer.
            self.buf = Vec::new();
        }
        Ok(Some((header, body)))
    }
}

/// Routes incoming packets.
struct Router {
    shared: Arc<Shared>,
    handler: Arc<dyn Handler>,
}

impl Router {
    async fn route(&self, header: Header, body: Vec<u8>) -> Result<()> {
        let entry = self.shared.waiting().remove(&header.req());
        if let Some(Waiting::Stream {
            method,
            tx,
            ended,
            send_req,
        }) = entry
        {
            return match header.is_end() {
                false => {
                    let item = Item::Data {
                        body_type: header.body_type(),
                        bytes: body,
                    };
                    self.on_stream_item(header.req(), item, method, tx, ended, send_req)
                        .await
                }
                true => {
                    let p = header.packet(body)?;
                    self.on_stream_end(p, method, tx, ended, send_req).await
                }
            };
        }
        self.route_decoded(header.packet(body)?, entry)
    }

    fn route_decoded(&self, p: Packet, entry: Option<Waiting>) -> Result<()> {
        match entry {
            Some(Waiting::Async { method, tx }) => {
                let reply = match (p.end, remote_error(&method, &p.body)) {
                    (true, Some(err)) => Err(err),
                    _ => Ok(p.body),
                };
                let _ = tx.send(reply);
                Ok(())
            }
            Some(stream @ Waiting::Stream { .. }) => {
                self.shared.waiting().insert(p.req, stream);
                Ok(())
            }
            None if p.req > 0 && !(p.stream && p.end) => self.on_request(p),
            None => {
                tracing::debug!(
                    req = p.req,
                    "muxrpc: dropping a packet for an unknown or finished request"
                );
                Ok(())
            }
        }
    }

    async fn on_stream_end(
        &self,
        p: Packet,
        method: String,
        tx: Option<mpsc::Sender<Item>>,
        ended: Arc<AtomicBool>,
        send_req: i32,
    ) -> Result<()> {
        if let Some(tx) = tx {
            let _ = tx
                .send(remote_error(&method, &p.body).map_or(Item::End, Item::Failed))
                .await;
        }
        if !ended.swap(true, Ordering::SeqCst) {
            self.shared.push(end_packet(send_req)).await?;
        }
        Ok(())
    }

    async fn on_stream_item(
        &self,
        req: i32,
        item: Item,
        method: String,
        tx: Option<mpsc::Sender<Item>>,
        ended: Arc<AtomicBool>,
        send_req: i32,
    ) -> Result<()> {
        let delivered = match &tx {
            Some(tx) => tx.send(item).await.is_ok(),
            None => true,
        };
        let tx = if delivered { tx } else { None };
        if !delivered && !ended.swap(true, Ordering::SeqCst) {
            self.shared.push(end_packet(send_req)).await?;
        }
        self.shared.waiting().insert(
            req,
            Waiting::Stream {
                method,
                tx,
                ended,
                send_req,
            },
        );
        Ok(())
    }

    fn on_request(&self, p: Packet) -> Result<()> {
        let ended = Arc::new(AtomicBool::new(false));
        let sink = Sink {
            shared: self.shared.clone(),
            req: -p.req,
            stream: p.stream,
            ended: ended.clone(),
        };
        let Some((name, args, kind)) = parse_request(&p) else {
            sink.error_now("malformed request: expected {name: [..], args: [..], type}");
            return Ok(());
        };
        let method = name.join(".");
        let (tx, input) = match kind {
            CallKind::Duplex | CallKind::Sink => {
                let (tx, rx) = mpsc::channel(self.shared.config.channel_capacity);
                (
                    Some(tx),
                    Some(Source::new(rx, method.clone(), self.shared.clone())),
                )
            }
            _ => (None, None),
        };
        if p.stream {
            self.shared.waiting().insert(
                p.req,
                Waiting::Stream {
                    method,
                    tx,
                    ended,
                    send_req: -p.req,
                },
            );
        }
        self.handler.handle(Request {
            name,
            args,
            kind,
            sink,
            input,
        });
        Ok(())
    }
}

fn parse_request(p: &Packet) -> Option<(Vec<String>, Vec<Value>, CallKind)> {
    let Body::Json(Value::Object(obj)) = &p.body else {
        return None;
    };
    let name = match obj.get("name")? {
        Value::String(s) => vec![s.clone()],
        Value::Array(parts) => parts
            .iter()
            .map(|v| v.as_str().map(str::to_owned))
            .collect::<Option<_>>()?,
        _ => return None,
    };
    let args = match obj.get("args") {
        Some(Value::Array(a)) => a.clone(),
        None | Some(Value::Null) => Vec::new(),
        Some(other) => vec![other.clone()],
    };
    let kind = CallKind::from_request(obj.get("type").and_then(Value::as_str), p.stream);
    Some((name, args, kind))
}

async fn read_loop<R: ChunkRead>(mut packets: PacketReader<R>, router: Router) -> Result<()> {
    let idle = router.shared.config.idle_timeout;
    while let Some((header, body)) = next_within(&mut packets, idle).await? {
        router.route(header, body).await?;
    }
    Ok(())
}

/// The next packet, failing with a timeout when the peer stays silent longer than `idle`.
async fn next_within<R: ChunkRead>(
    packets: &mut PacketReader<R>,
    idle: Option<Duration>,
) -> Result<Option<(Header, Vec<u8>)>> {
    match idle {
        None => packets.next().await,
        Some(limit) => tokio::time::timeout(limit, packets.next())
            .await
            .map_err(|_| Error::Timeout("waiting for the peer (idle timeout)"))?,
    }
}

/// Encodes `first` and whatever else is queued (up to a batch size) into `buf`. True at goodbye.
fn batch(first: Frame, rx: &mut mpsc::Receiver<Frame>, buf: &mut Vec<u8>) -> bool {
    const BATCH: usize = 64 * 1024;
    let mut frame = Some(first);
    while let Some(f) = frame {
        match f {
            Frame::Packet(p) => p.encode_into(buf),
            Frame::Encoded(wire) => buf.extend_from_slice(&wire),
            Frame::Goodbye => {
                buf.extend_from_slice(&GOODBYE);
                return true;
            }
        }
        frame = if buf.len() < BATCH {
            rx.try_recv().ok()
        } else {
            None
        };
    }
    false
}

async fn write_loop<W: ChunkWrite>(
    mut w: W,
    mut rx: mpsc::Receiver<Frame>,
    mut stop: watch::Receiver<Stop>,
) -> Result<()> {
    let mut buf = Vec::new();
    loop {
        let next = tokio::select! {
            biased;
            how = stop.wait_for(|s| *s != Stop::Running) => Err(how.map(|s| *s).unwrap_or(Stop::Abort)),
            frame = rx.recv() => Ok(frame.unwrap_or(Frame::Goodbye)),
        };
        let frame = match next {
            Ok(frame) => frame,
            Err(how) => return finish(&mut w, how).await,
        };
        buf.clear();
        let bye = batch(frame, &mut rx, &mut buf);
        w.write_chunk(&buf).await?;
        if bye {
            return w.close().await;
        }
        if rx.is_empty() && buf.capacity() > IDLE_BUFFER {
            // Idle for now: give back what a burst grew, so idle connections stay small.
            buf = Vec::new();
        }
    }
}

/// Pre-encoded stream items are queued for the writer in frames of about this size.
const ENCODED_FRAME: usize = 32 * 1024;
/// The most write-buffer capacity a connection keeps while it has nothing to send.
const IDLE_BUFFER: usize = 16 * 1024;

async fn finish<W: ChunkWrite>(w: &mut W, how: Stop) -> Result<()> {
    if how == Stop::Goodbye {
        // Best effort: the peer may already be gone.
        let _ = w.write_chunk(&GOODBYE).await;
    }
    w.close().await
}

/// Starts a connection over a transport. Returns the call handle and the task that runs it;
/// the task ends with `Ok(())` after a goodbye or a clean close, or with the error that
/// closed the connection.
pub fn start<R: ChunkRead, W: ChunkWrite>(
    reader: R,
    writer: W,
    handler: Arc<dyn Handler>,
    config: Config,
) -> (Rpc, JoinHandle<Result<()>>) {
    let (out, rx) = mpsc::channel(config.channel_capacity);
    let shared = Arc::new(Shared {
        out,
        waiting: Mutex::new(HashMap::new()),
        next_req: AtomicI32::new(1),
        stop: watch::Sender::new(Stop::Running),
        closed: watch::Sender::new(false),
        config,
    });
    let writer = tokio::spawn(write_loop(writer, rx, shared.stop.subscribe()));
    let packets = PacketReader {
        inner: reader,
        buf: Vec::new(),
        max: config.max_packet,
    };
    let router = Router {
        shared: shared.clone(),
        handler,
    };
    let task = tokio::spawn(run(shared.clone(), read_loop(packets, router), writer));
    (Rpc { shared }, task)
}

async fn run(
    shared: Arc<Shared>,
    reader: impl Future<Output = Result<()>>,
    mut writer: JoinHandle<Result<()>>,
) -> Result<()> {
    let grace = shared.config.goodbye_grace;
    let mut write_result = None;
    tokio::pin!(reader);
    let read_result = tokio::select! {
        r = &mut reader => r,
        w = &mut writer => {
            write_result = Some(w);
            // We said goodbye (or could not write): give the peer a moment to close its side.
            tokio::time::timeout(grace, &mut reader).await.unwrap_or(Ok(()))
        }
    };
    if let Err(e) = &read_result {
        tracing::warn!(error = %e, "muxrpc: closing the connection");
    }
    let how = if read_result.is_ok() {
        Stop::Goodbye
    } else {
        Stop::Abort
    };
    shared.stop.send_replace(how);
    shared.waiting().clear();
    let write_result = match write_result {
        Some(w) => w,
        None => writer.await,
    };
    shared.closed.send_replace(true);
    let write_result = write_result.unwrap_or_else(|e| Err(Error::Io(std::io::Error::other(e))));
    read_result.and(write_result.or_else(ignore_after_close))
}

/// Write errors after the reader finished cleanly (the peer hung up first) are not failures.
fn ignore_after_close(e: Error) -> Result<()> {
    tracing::debug!(error = %e, "muxrpc: write failed while closing");
    Ok(())
}
