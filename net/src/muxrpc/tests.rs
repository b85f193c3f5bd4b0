//! muxrpc connection tests over in-memory byte streams.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt, DuplexStream};

use super::*;
use crate::error::Error;

/// A test service: `echo`, `fail`, `count` (source), `forever` (source), `double` (duplex).
#[derive(Default)]
struct Service {
    forever_stopped: Arc<AtomicBool>,
    forever_sent: Arc<AtomicU64>,
}

impl Handler for Service {
    fn handle(&self, req: Request) {
        let (stopped, sent) = (self.forever_stopped.clone(), self.forever_sent.clone());
        match req.method().as_str() {
            "echo" => drop(tokio::spawn(async move {
                req.sink.send(req.args[0].clone()).await
            })),
            "fail" => req.reject("it failed on purpose"),
            "count" => drop(tokio::spawn(count(req))),
            "forever" => drop(tokio::spawn(forever(req, stopped, sent))),
            "double" => drop(tokio::spawn(double(req))),
            "encoded" => drop(tokio::spawn(encoded(req))),
            _ => RejectAll.handle(req),
        }
    }
}

async fn count(req: Request) -> crate::Result<()> {
    let n = req.args[0].as_u64().unwrap_or(0);
    for i in 0..n {
        req.sink.send(json!(i)).await?;
    }
    req.sink.end().await
}

async fn forever(req: Request, stopped: Arc<AtomicBool>, sent: Arc<AtomicU64>) {
    let mut i = 0u64;
    while req.sink.send(json!(i)).await.is_ok() {
        i += 1;
        sent.store(i, Ordering::SeqCst);
        tokio::task::yield_now().await;
    }
    stopped.store(true, Ordering::SeqCst);
}

async fn double(mut req: Request) -> crate::Result<()> {
    let mut input = req.input.take().expect("duplex has input");
    while let Some(v) = input.next().await {
        req.sink.send(json!(v?.as_i64().unwrap_or(0) * 2)).await?;
    }
    req.sink.end().await
}

/// A source of pre-encoded JSON items, enough to span several writer frames.
async fn encoded(req: Request) -> crate::Result<()> {
    let items: Vec<Vec<u8>> = (0..2000)
        .map(|i| format!("{{\"i\":{i},\"pad\":\"{}\"}}", "x".repeat(40)).into_bytes())
        .collect();
    let slices: Vec<&[u8]> = items.iter().map(Vec::as_slice).collect();
    req.sink.send_json_items(&slices).await?;
    req.sink.end().await
}

type Task = tokio::task::JoinHandle<crate::Result<()>>;

fn plain(
    io: DuplexStream,
) -> (
    Plain<tokio::io::ReadHalf<DuplexStream>>,
    Plain<tokio::io::WriteHalf<DuplexStream>>,
) {
    let (r, w) = tokio::io::split(io);
    (Plain(r), Plain(w))
}

/// A client connection (rejecting calls) and a server connection running [`Service`].
fn pair(service: Service) -> ((Rpc, Task), (Rpc, Task)) {
    let (a, b) = tokio::io::duplex(4096);
    let (ar, aw) = plain(a);
    let (br, bw) = plain(b);
    let client = start(ar, aw, Arc::new(RejectAll), Config::default());
    let server = start(br, bw, Arc::new(service), Config::default());
    (client, server)
}

#[tokio::test]
async fn async_calls_reply_and_errors_come_back() {
    let ((rpc, _), _) = pair(Service::default());
    assert_eq!(
        rpc.call_async("echo", json!([{"a": [1, 2]}]))
            .await
            .unwrap(),
        json!({"a": [1, 2]})
    );
    assert_eq!(
        rpc.call_async("echo", json!("text")).await.unwrap(),
        json!("text")
    );
    let err = rpc.call_async("fail", json!([])).await.unwrap_err();
    assert!(
        matches!(&err, Error::Remote { message, .. } if message == "it failed on purpose"),
        "{err}"
    );
    let err = rpc.call_async("no.such", json!([])).await.unwrap_err();
    assert!(
        matches!(&err, Error::Remote { message, .. } if message.contains("no.such")),
        "{err}"
    );
}

#[tokio::test]
async fn source_streams_more_items_than_the_channel_holds() {
    let ((rpc, _), _) = pair(Service::default());
    let items = rpc
        .source("count", json!([500]))
        .await
        .unwrap()
        .collect()
        .await
        .unwrap();
    assert_eq!(items.len(), 500);
    assert_eq!(items[499], json!(499));
    let empty = rpc
        .source("count", json!([0]))
        .await
        .unwrap()
        .collect()
        .await
        .unwrap();
    assert!(empty.is_empty());
    let err = rpc
        .source("nope", json!([]))
        .await
        .unwrap()
        .collect()
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Remote { .. }), "{err}");
}

#[tokio::test]
async fn duplex_streams_both_ways() {
    let ((rpc, _), _) = pair(Service::default());
    let (sink, mut source) = rpc.duplex("double", json!([])).await.unwrap();
    for i in 0..100 {
        sink.send(json!(i)).await.unwrap();
        assert_eq!(source.next().await.unwrap().unwrap(), json!(i * 2));
    }
    sink.end().await.unwrap();
    assert!(source.next().await.is_none());
}

#[tokio::test]
async fn dropping_a_source_stops_the_sender() {
    let service = Service::default();
    let stopped = service.forever_stopped.clone();
    let ((rpc, _), _) = pair(service);
    let mut source = rpc.source("forever", json!([])).await.unwrap();
    for _ in 0..10 {
        source.next().await.unwrap().unwrap();
    }
    drop(source);
    tokio::time::timeout(std::time::Duration::from_secs(5), async {
        while !stopped.load(Ordering::SeqCst) {
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        }
    })
    .await
    .expect("the server's stream stops after the caller goes away");
    assert_eq!(
        rpc.call_async("echo", json!([1])).await.unwrap(),
        json!(1),
        "connection still works"
    );
}

#[tokio::test]
async fn many_concurrent_calls() {
    let ((rpc, _), _) = pair(Service::default());
    let calls: Vec<_> = (0..200)
        .map(|i| {
            let rpc = rpc.clone();
            tokio::spawn(async move { rpc.call_async("echo", json!([i])).await })
        })
        .collect();
    for (i, call) in calls.into_iter().enumerate() {
        assert_eq!(call.await.unwrap().unwrap(), json!(i));
    }
}

#[tokio::test]
async fn goodbye_ends_both_sides_cleanly() {
    let ((rpc, client_task), (server_rpc, server_task)) = pair(Service::default());
    rpc.close().await.unwrap();
    client_task.await.unwrap().unwrap();
    server_task.await.unwrap().unwrap();
    assert!(rpc.is_closed() && server_rpc.is_closed());
    assert!(matches!(
        rpc.call_async("echo", json!([1])).await,
        Err(Error::ConnectionClosed)
    ));
}

/// A connection to a raw byte peer that the test drives by hand.
fn raw_peer(config: Config) -> (Rpc, Task, DuplexStream) {
    let (a, b) = tokio::io::duplex(1 << 16);
    let (r, w) = plain(a);
    let (rpc, task) = start(r, w, Arc::new(Service::default()), config);
    (rpc, task, b)
}

fn wire(p: &Packet) -> Vec<u8> {
    let mut out = Vec::new();
    p.encode_into(&mut out);
    out
}

#[tokio::test]
async fn wire_format_of_a_request_and_its_reply() {
    let (_rpc, _task, mut peer) = raw_peer(Config::default());
    let body = json!({"name": ["echo"], "args": ["hi"], "type": "async"});
    peer.write_all(&wire(&Packet {
        stream: false,
        end: false,
        req: 5,
        body: Body::Json(body),
    }))
    .await
    .unwrap();
    let mut reply = [0u8; HEADER_LEN + 4];
    peer.read_exact(&mut reply).await.unwrap();
    assert_eq!(
        &reply,
        &[
            0b0010, 0, 0, 0, 4, 0xff, 0xff, 0xff, 0xfb, b'"', b'h', b'i', b'"'
        ]
    );
}

#[tokio::test]
async fn oversized_packet_closes_the_connection_and_fails_pending_calls() {
    let config = Config {
        max_packet: 1024,
        ..Config::default()
    };
    let (rpc, task, mut peer) = raw_peer(config);
    let pending = tokio::spawn({
        let rpc = rpc.clone();
        async move { rpc.call_async("anything", json!([])).await }
    });
    let mut header = [0u8; HEADER_LEN];
    header[0] = 2;
    header[1..5].copy_from_slice(&2048u32.to_be_bytes());
    header[5..].copy_from_slice(&1i32.to_be_bytes());
    peer.write_all(&header).await.unwrap();
    let err = task.await.unwrap().unwrap_err();
    assert!(
        matches!(
            err,
            Error::FrameTooLarge {
                len: 2048,
                max: 1024
            }
        ),
        "{err}"
    );
    assert!(matches!(
        pending.await.unwrap(),
        Err(Error::ConnectionClosed)
    ));
}

#[tokio::test]
async fn malformed_packets_close_the_connection() {
    let (_rpc, task, mut peer) = raw_peer(Config::default());
    peer.write_all(&[0b0011, 0, 0, 0, 1, 0, 0, 0, 1, 0])
        .await
        .unwrap();
    let err = task.await.unwrap().unwrap_err();
    assert!(matches!(err, Error::BadPacket(_)), "{err}");
}

#[tokio::test]
async fn truncated_packet_is_an_error() {
    let (_rpc, task, mut peer) = raw_peer(Config::default());
    peer.write_all(&[0b0010, 0, 0, 0, 10, 0, 0, 0, 1, b'{'])
        .await
        .unwrap();
    drop(peer);
    let err = task.await.unwrap().unwrap_err();
    assert!(matches!(err, Error::Truncated(_)), "{err}");
}

#[tokio::test]
async fn malformed_request_gets_an_error_reply() {
    let (_rpc, _task, mut peer) = raw_peer(Config::default());
    let p = Packet {
        stream: false,
        end: false,
        req: 1,
        body: Body::Json(Value::from(3)),
    };
    peer.write_all(&wire(&p)).await.unwrap();
    let mut header = [0u8; HEADER_LEN];
    peer.read_exact(&mut header).await.unwrap();
    let header_flags = header[0];
    assert_eq!(header_flags, 0b0110, "an async error reply: end flag, JSON");
    assert_eq!(&header[5..], &(-1i32).to_be_bytes());
}

#[tokio::test]
async fn a_slow_consumer_stalls_the_sender_instead_of_buffering() {
    let service = Service::default();
    let sent = service.forever_sent.clone();
    let ((rpc, _), _) = pair(service);
    let mut source = rpc.source("forever", json!([])).await.unwrap();
    assert_eq!(source.next().await.unwrap().unwrap(), json!(0));
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    let stalled_at = sent.load(Ordering::SeqCst);
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    assert_eq!(
        sent.load(Ordering::SeqCst),
        stalled_at,
        "the sender waits for the reader"
    );
    // Bounded: the stream channel, the outgoing queue and the 4 KiB pipe, nothing more.
    assert!(stalled_at < 1000, "{stalled_at} items in flight");
    for i in 1..=stalled_at {
        assert_eq!(source.next().await.unwrap().unwrap(), json!(i));
    }
}

#[tokio::test]
async fn pre_encoded_items_arrive_as_json_values_and_as_bytes() {
    let ((client, _), _server) = pair(Service::default());
    let values = client
        .source("encoded", json!([]))
        .await
        .unwrap()
        .collect()
        .await
        .unwrap();
    assert_eq!(values.len(), 2000);
    assert_eq!(values[1999]["i"], json!(1999));
    let mut source = client.source("encoded", json!([])).await.unwrap();
    let first = source.next_json_bytes().await.unwrap().unwrap();
    let expected = format!("{{\"i\":0,\"pad\":\"{}\"}}", "x".repeat(40));
    assert_eq!(first, expected.as_bytes());
}

#[test]
fn pre_encoded_items_have_the_wire_form_of_sent_values() {
    let mut by_value = Vec::new();
    Packet {
        stream: true,
        end: false,
        req: -3,
        body: Body::Json(json!({"a": [1, "b"]})),
    }
    .encode_into(&mut by_value);
    let mut pre_encoded = Vec::new();
    super::packet::encode_json_item(-3, br#"{"a":[1,"b"]}"#, &mut pre_encoded);
    assert_eq!(pre_encoded, by_value);
}

#[tokio::test]
async fn a_stream_item_that_is_not_json_closes_the_connection() {
    let (rpc, task, mut peer) = raw_peer(Config::default());
    let mut source = rpc.source("feed", json!([])).await.unwrap();
    let mut request = [0u8; HEADER_LEN];
    peer.read_exact(&mut request).await.unwrap();
    let len = u32::from_be_bytes(request[1..5].try_into().unwrap()) as usize;
    let mut body = vec![0u8; len];
    peer.read_exact(&mut body).await.unwrap();
    // A JSON-typed stream item for request 1 whose body is not JSON.
    peer.write_all(&[0b1010, 0, 0, 0, 3, 0xff, 0xff, 0xff, 0xff, b'{', b'{', b'{'])
        .await
        .unwrap();
    let item = source.next().await.unwrap();
    assert!(matches!(item, Err(Error::BadPacket(_))), "{item:?}");
    assert!(source.next().await.is_none());
    drop(peer);
    let _ = task.await.unwrap();
    assert!(rpc.is_closed());
}
