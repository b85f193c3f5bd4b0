//! sluice-net benches: handshake cost, box-stream throughput, and a muxrpc source stream of
//! message-sized JSON values through the whole stack (handshake + box stream) in memory.

use std::sync::Arc;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use ed25519_dalek::SigningKey;
use serde_json::{Value, json};
use sluice_net::boxstream::{BoxReader, BoxWriter};
use sluice_net::muxrpc::{Handler, RejectAll, Request};
use sluice_net::shs::{ClientHandshake, MAIN_CAPS, ServerHandshake};
use sluice_net::{Options, Peer};
use tokio::runtime::Runtime;

fn key(seed: u8) -> SigningKey {
    SigningKey::from_bytes(&[seed; 32])
}

fn handshake(c: &mut Criterion) {
    c.bench_function("net/shs_handshake", |b| {
        b.iter(|| {
            let mut client = ClientHandshake::new(MAIN_CAPS, key(1), key(2).verifying_key());
            let mut server = ServerHandshake::new(MAIN_CAPS, key(2));
            let msg2 = server.read_hello(&client.hello()).expect("hello");
            let msg3 = client.read_hello(&msg2).expect("auth");
            let msg4 = server.read_auth(&msg3).expect("accept");
            client.read_accept(&msg4).expect("session")
        })
    });
}

/// A pair of box-stream session keys from a real handshake.
fn session_keys() -> (sluice_net::shs::BoxKeys, sluice_net::shs::BoxKeys) {
    let mut client = ClientHandshake::new(MAIN_CAPS, key(1), key(2).verifying_key());
    let mut server = ServerHandshake::new(MAIN_CAPS, key(2));
    let msg2 = server.read_hello(&client.hello()).expect("hello");
    let msg4 = server
        .read_auth(&client.read_hello(&msg2).expect("auth"))
        .expect("accept");
    let c = client.read_accept(&msg4).expect("session").keys;
    (c, server.finish().expect("server session").keys)
}

fn box_stream(c: &mut Criterion) {
    const TOTAL: usize = 4 << 20;
    let rt = Runtime::new().expect("tokio runtime");
    let (ck, sk) = session_keys();
    let data = vec![0x5au8; 64 * 1024];
    let mut g = c.benchmark_group("net");
    g.throughput(Throughput::Bytes(TOTAL as u64));
    g.bench_function("box_stream_4MiB", |b| {
        b.iter(|| {
            rt.block_on(async {
                let (x, y) = tokio::io::duplex(256 * 1024);
                let mut w = BoxWriter::new(x, &ck);
                let mut r = BoxReader::new(y, &sk);
                let reader = tokio::spawn(async move {
                    let mut n = 0;
                    while let Some(chunk) = r.recv().await.expect("decrypts") {
                        n += chunk.len();
                    }
                    n
                });
                for _ in 0..TOTAL / data.len() {
                    w.send(&data).await.expect("encrypts");
                }
                w.goodbye().await.expect("goodbye");
                assert_eq!(reader.await.expect("reader task"), TOTAL);
            })
        })
    });
    g.finish();
}

/// Serves `feed`: a source of `n` message-sized values.
struct Feed(Arc<Value>);

impl Handler for Feed {
    fn handle(&self, req: Request) {
        let msg = self.0.clone();
        tokio::spawn(async move {
            let n = req.args[0].as_u64().unwrap_or(0);
            for _ in 0..n {
                req.sink.send((*msg).clone()).await?;
            }
            req.sink.end().await
        });
    }
}

fn sample_message() -> Value {
    json!({
        "previous": "%XphMUkWQtomKjXQvFGfsGYpt69sgEY7Y4Vou9cEuJho=.sha256",
        "author": "@FCX/tsDLpubCPKKfIrw4gc+SQkHcaD17s7GI6i/ziWY=.ed25519",
        "sequence": 2,
        "timestamp": 1514517078157_u64,
        "hash": "sha256",
        "content": { "type": "post", "text": "a post of ordinary length, ".repeat(12) },
        "signature": "z7W1ERg9UYZjNfE72ZwEuJF79khG+eOHWFp6iF+KLuSrw8Lqa6IousK4cCn9T5qFa8E14GVek4cAMmMbjqDnAg==.sig.ed25519"
    })
}

/// A connected pair over an in-memory pipe: full handshake, box stream and muxrpc.
async fn peers(handler: Arc<dyn Handler>) -> (Peer, Peer) {
    let (a, b) = tokio::io::duplex(64 * 1024);
    let options = Options::default();
    let server = tokio::spawn(async move {
        let o = Options::default();
        sluice_net::accept_stream(b, &key(2), &o, move |_| handler).await
    });
    let (ours, theirs) = (key(1), key(2).verifying_key());
    let client = sluice_net::connect_stream(a, &ours, &theirs, &options, Arc::new(RejectAll)).await;
    let client = client.expect("client handshake");
    (
        client,
        server
            .await
            .expect("server task")
            .expect("server handshake"),
    )
}

fn source_stream(c: &mut Criterion) {
    const N: u64 = 10_000;
    let rt = Runtime::new().expect("tokio runtime");
    let (client, _server) = rt.block_on(peers(Arc::new(Feed(Arc::new(sample_message())))));
    let mut g = c.benchmark_group("net");
    g.throughput(Throughput::Elements(N));
    g.sample_size(20);
    g.bench_function("muxrpc_source_10k_msgs", |b| {
        b.iter(|| {
            rt.block_on(async {
                let source = client.source("feed", json!([N])).await.expect("call");
                assert_eq!(source.collect().await.expect("stream").len() as u64, N);
            })
        })
    });
    g.finish();
}

criterion_group!(benches, handshake, box_stream, source_stream);
criterion_main!(benches);
