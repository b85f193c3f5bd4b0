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

/// The medium fixture (100k messages, 150 authors) in a database, served on loopback.
fn medium_source(rt: &Runtime) -> (sluice_net::Node, sluice_net::MultiAddr, tempfile::TempDir) {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = sluice_views::Db::open(dir.path()).expect("open");
    let entries =
        sluice_benches::net_child::parse_jsonl(&sluice_benches::net_child::medium_jsonl());
    db.add_batch_received(entries, sluice_msg::VerifyMode::Chain)
        .expect("add");
    let db = Arc::new(db);
    rt.block_on(async {
        let node = sluice_net::Node::new(db, key(1), sluice_net::NodeConfig::default());
        let listener = sluice_net::Listener::bind("127.0.0.1:0", key(1), Options::default())
            .await
            .expect("bind");
        let addr = listener.multiaddr().expect("addr");
        let serving = node.clone();
        tokio::spawn(async move { serving.serve(listener).await });
        (node, addr, dir)
    })
}

/// sluice ↔ sluice: an empty node fetches all 150 feeds (100k messages, full signature
/// verification) from another over loopback TCP, over EBT (`replicate_medium_100k`) and with
/// one `createHistoryStream` per feed (`replicate_medium_100k_history`). Both nodes share this
/// process; `src/bin/net_replicate.rs` runs the server in its own process.
fn replicate_medium(c: &mut Criterion) {
    let rt = Runtime::new().expect("runtime");
    let (source, addr, _dir) = medium_source(&rt);
    let feeds: Vec<_> = source
        .db()
        .feeds()
        .expect("feeds")
        .into_iter()
        .map(|(f, _)| f)
        .collect();
    let total: u64 = source
        .db()
        .feeds()
        .expect("feeds")
        .iter()
        .map(|(_, n)| n)
        .sum();
    let mut g = c.benchmark_group("net");
    g.sample_size(10).throughput(Throughput::Elements(total));
    for (name, ebt) in [
        ("replicate_medium_100k", true),
        ("replicate_medium_100k_history", false),
    ] {
        g.bench_function(name, |b| {
            b.iter_batched(
                || tempfile::tempdir().expect("tempdir"),
                |dir| {
                    rt.block_on(async {
                        let db = Arc::new(sluice_views::Db::open(dir.path()).expect("open"));
                        let config = sluice_net::NodeConfig {
                            feeds: feeds.clone(),
                            ebt,
                            ..sluice_net::NodeConfig::default()
                        };
                        let node = sluice_net::Node::new(db, key(2), config);
                        let report = node.replicate_once(&addr).await.expect("replicate");
                        assert_eq!(report.messages, total);
                        assert_eq!(node.stats().snapshot().1, total);
                    });
                    dir
                },
                criterion::BatchSize::PerIteration,
            );
        });
    }
    g.finish();
}

criterion_group!(
    benches,
    handshake,
    box_stream,
    source_stream,
    replicate_medium
);
criterion_main!(benches);
