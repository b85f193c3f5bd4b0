//! sluice ↔ sluice over loopback: the RPC surface of a node and replication between two
//! in-process nodes (once and live), with the small fixture.

use std::sync::Arc;
use std::time::Duration;

use ed25519_dalek::SigningKey;
use serde_json::{Value, json};
use sluice_msg::{FeedId, Message, VerifyMode};
use sluice_net::muxrpc::RejectAll;
use sluice_net::{Listener, MultiAddr, Node, NodeConfig, Options, Peer};
use sluice_views::Db;

const STEP: Duration = Duration::from_secs(30);

/// A database holding the small fixture (1,000 messages, 10 authors).
fn fixture_db(dir: &std::path::Path) -> Arc<Db> {
    let db = Db::open(dir).expect("open db");
    let text = std::fs::read_to_string(sluice_tests::data_dir().join("small/msgs.jsonl"))
        .expect("small fixture");
    let msgs: Vec<Message> = text
        .lines()
        .map(|l| {
            Message::from_entry(serde_json::from_str(l).unwrap())
                .unwrap()
                .0
        })
        .collect();
    let outcomes = db.add_batch(msgs, VerifyMode::Chain).unwrap();
    assert!(
        outcomes
            .iter()
            .all(|o| matches!(o, sluice_views::Outcome::Appended(_)))
    );
    Arc::new(db)
}

fn key(seed: u8) -> SigningKey {
    SigningKey::from_bytes(&[seed; 32])
}

async fn within<T>(what: &str, f: impl Future<Output = T>) -> T {
    tokio::time::timeout(STEP, f)
        .await
        .unwrap_or_else(|_| panic!("timed out: {what}"))
}

/// Starts serving `node` on a loopback port; returns its address.
async fn serve(node: &Node, keys: SigningKey, options: Options) -> MultiAddr {
    let listener = Listener::bind("127.0.0.1:0", keys, options).await.unwrap();
    let addr = listener.multiaddr().unwrap();
    let node = node.clone();
    tokio::spawn(async move { node.serve(listener).await });
    addr
}

fn all_feeds(db: &Db) -> Vec<FeedId> {
    db.feeds().unwrap().into_iter().map(|(f, _)| f).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replicate_once_copies_every_wanted_feed() {
    let (da, db_dir) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let a = Node::new(fixture_db(da.path()), key(1), NodeConfig::default());
    let addr = serve(&a, key(1), Options::default()).await;
    let config = NodeConfig {
        feeds: all_feeds(a.db()),
        ..NodeConfig::default()
    };
    let b = Node::new(Arc::new(Db::open(db_dir.path()).unwrap()), key(2), config);
    let report = within("replicate", b.replicate_once(&addr)).await.unwrap();
    assert_eq!(report.messages, 1000);
    assert_eq!(b.db().feeds().unwrap(), a.db().feeds().unwrap());
    let (received, appended, _, rejected) = b.stats().snapshot();
    assert_eq!((received, appended, rejected), (1000, 1000, 0));
    // A second run finds nothing new.
    let again = within("replicate again", b.replicate_once(&addr))
        .await
        .unwrap();
    assert_eq!(again.messages, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hops_limit_the_wanted_feeds() {
    let dir = tempfile::tempdir().unwrap();
    let db = fixture_db(dir.path());
    let secret = sluice_tests::data_dir().join("small/secret");
    let keys = sluice_msg::Keys::read_secret_file(secret).unwrap();
    let me = keys.id();
    let node = Node::new(
        db.clone(),
        sluice_net::signing_key(&keys).unwrap(),
        NodeConfig::default(),
    );
    assert_eq!(node.id(), me);
    let want = node.wanted_feeds().unwrap();
    let hops = db.hops(&me, 2).unwrap();
    assert!(want.contains(&me));
    for (feed, d) in hops {
        assert_eq!(want.contains(&feed), d >= 0 || feed == me, "{feed} at {d}");
    }
    let zero = NodeConfig {
        hops: 0,
        ..NodeConfig::default()
    };
    let only_me = Node::new(db, sluice_net::signing_key(&keys).unwrap(), zero);
    assert_eq!(
        only_me
            .wanted_feeds()
            .unwrap()
            .into_iter()
            .collect::<Vec<_>>(),
        vec![me]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn live_messages_flow_both_ways() {
    let (da, dbd) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let config = |other: FeedId| NodeConfig {
        feeds: vec![other],
        ..NodeConfig::default()
    };
    let (ka, kb) = (key(3), key(4));
    let (ida, idb) = (
        FeedId(ka.verifying_key().to_bytes()),
        FeedId(kb.verifying_key().to_bytes()),
    );
    let a = Node::new(
        Arc::new(Db::open(da.path()).unwrap()),
        ka.clone(),
        config(idb),
    );
    let b = Node::new(Arc::new(Db::open(dbd.path()).unwrap()), kb, config(ida));
    a.db()
        .publish(&a.keys(), json!({"type": "post", "text": "before"}))
        .unwrap();
    let addr = serve(&a, ka, Options::default()).await;
    let _peer = within("connect", b.connect(&addr)).await.unwrap();
    wait_for_seq(&b, ida, 1).await;
    a.db()
        .publish(&a.keys(), json!({"type": "post", "text": "live a"}))
        .unwrap();
    wait_for_seq(&b, ida, 2).await;
    b.db()
        .publish(&b.keys(), json!({"type": "post", "text": "live b"}))
        .unwrap();
    wait_for_seq(&a, idb, 1).await;
}

async fn wait_for_seq(node: &Node, feed: FeedId, seq: u64) {
    within("a live message arrives", async {
        loop {
            let now = node
                .db()
                .latest_seq(&feed)
                .unwrap()
                .map_or(0, |s| s.sequence);
            if now >= seq {
                return;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await;
}

/// Dials `addr` as `keys` without replicating, to call methods directly.
async fn raw_client(addr: &MultiAddr, keys: &SigningKey) -> Peer {
    let options = Options::default();
    let dial = sluice_net::connect_addr(addr, keys, &options, Arc::new(RejectAll));
    within("connect", dial).await.unwrap()
}

async fn history(peer: &Peer, args: Value) -> Vec<Value> {
    let src = peer
        .source("createHistoryStream", json!([args]))
        .await
        .unwrap();
    within("history", src.collect()).await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rpc_surface() {
    let dir = tempfile::tempdir().unwrap();
    let a = Node::new(fixture_db(dir.path()), key(5), NodeConfig::default());
    let addr = serve(&a, key(5), Options::default()).await;
    let peer = raw_client(&addr, &key(6)).await;
    let manifest = peer.call_async("manifest", json!([])).await.unwrap();
    assert_eq!(manifest["createHistoryStream"], "source");

    let (feed, latest) = a.db().feeds().unwrap()[0];
    let id = feed.to_string();
    let all = history(&peer, json!({"id": id})).await;
    assert_eq!(all.len() as u64, latest);
    assert!(all[0]["key"].is_string() && all[0]["value"]["sequence"] == 1);
    let page = history(
        &peer,
        json!({"id": id, "seq": 3, "limit": 2, "keys": false}),
    )
    .await;
    assert_eq!(page.len(), 2);
    assert_eq!(page[0]["sequence"], 3);
    assert_eq!(page[1]["sequence"], 4);
    let by_sequence = history(&peer, json!({"id": id, "sequence": latest})).await;
    assert_eq!(by_sequence.len(), 1);
    let none = history(&peer, json!({"id": id, "old": false, "live": false})).await;
    assert!(none.is_empty());

    let wants = peer.source("blobs.createWants", json!([])).await.unwrap();
    assert!(within("wants", wants.collect()).await.unwrap().is_empty());
    let (ping, mut pongs) = peer
        .duplex("gossip.ping", json!([{"timeout": 1000}]))
        .await
        .unwrap();
    for _ in 0..3 {
        ping.send(json!(1)).await.unwrap();
        let pong = within("pong", pongs.next()).await.unwrap().unwrap();
        assert!(
            pong.as_u64().is_some_and(|t| t > 1_600_000_000_000),
            "{pong}"
        );
    }
    ping.end().await.unwrap();

    let err = peer.call_async("whoami", json!([])).await.unwrap_err();
    assert!(matches!(err, sluice_net::Error::Remote { .. }), "{err}");
    let err = peer
        .call_async("private.unbox", json!(["x"]))
        .await
        .unwrap_err();
    assert!(matches!(err, sluice_net::Error::Remote { .. }), "{err}");
    let bad = peer
        .source("createHistoryStream", json!([{"id": "nope"}]))
        .await
        .unwrap();
    assert!(within("bad args", bad.collect()).await.is_err());

    let local = raw_client(&addr, &key(5)).await;
    let me = local.call_async("whoami", json!([])).await.unwrap();
    assert_eq!(me["id"], a.id().to_string());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn live_history_stream_delivers_new_messages() {
    let dir = tempfile::tempdir().unwrap();
    let a = Node::new(
        Arc::new(Db::open(dir.path()).unwrap()),
        key(7),
        NodeConfig::default(),
    );
    let addr = serve(&a, key(7), Options::default()).await;
    let peer = raw_client(&addr, &key(8)).await;
    let args = json!([{"id": a.id().to_string(), "live": true, "keys": false}]);
    let mut src = peer.source("createHistoryStream", args).await.unwrap();
    for n in 1..=3u64 {
        a.db()
            .publish(&a.keys(), json!({"type": "post", "text": n.to_string()}))
            .unwrap();
        let v = within("live item", src.next()).await.unwrap().unwrap();
        assert_eq!(v["sequence"], n);
    }
}

fn free_udp_port() -> std::net::SocketAddr {
    let s = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    s.local_addr().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn local_discovery_on_loopback_connects_and_replicates() {
    let (da, dbd) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let (ka, kb) = (key(9), key(10));
    let ida = FeedId(ka.verifying_key().to_bytes());
    let a = Node::new(
        Arc::new(Db::open(da.path()).unwrap()),
        ka.clone(),
        NodeConfig::default(),
    );
    a.db()
        .publish(&a.keys(), json!({"type": "post", "text": "find me"}))
        .unwrap();
    let config = NodeConfig {
        feeds: vec![ida],
        ..NodeConfig::default()
    };
    let b = Node::new(Arc::new(Db::open(dbd.path()).unwrap()), kb.clone(), config);
    let addr_a = serve(&a, ka, Options::default()).await;
    let addr_b = serve(&b, kb, Options::default()).await;
    let (udp_a, udp_b) = (free_udp_port(), free_udp_port());
    // Each announces to the other's discovery port (loopback stands in for broadcast).
    a.spawn_discovery(addr_a, udp_a, udp_b);
    b.spawn_discovery(addr_b, udp_b, udp_a);
    wait_for_seq(&b, ida, 1).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fetch_only_refuses_history_and_serve_only_fetches_nothing() {
    let (da, dbd) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let fetch_only = NodeConfig {
        serve: false,
        ..NodeConfig::default()
    };
    let a = Node::new(fixture_db(da.path()), key(11), fetch_only);
    let addr = serve(&a, key(11), Options::default()).await;
    let peer = raw_client(&addr, &key(12)).await;
    let (feed, _) = a.db().feeds().unwrap()[0];
    let src = peer
        .source("createHistoryStream", json!([{"id": feed.to_string()}]))
        .await
        .unwrap();
    assert!(within("refused", src.collect()).await.is_err());

    let serve_only = NodeConfig {
        fetch: false,
        feeds: vec![feed],
        ..NodeConfig::default()
    };
    let b = Node::new(Arc::new(Db::open(dbd.path()).unwrap()), key(13), serve_only);
    let _peer = within("connect", b.connect(&addr)).await.unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    b.flush().await;
    assert_eq!(
        b.stats().snapshot().0,
        0,
        "a serve-only node asks for nothing"
    );
    assert!(b.db().latest_seq(&feed).unwrap().is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connection_limit_refuses_extra_peers() {
    let dir = tempfile::tempdir().unwrap();
    let a = Node::new(
        Arc::new(Db::open(dir.path()).unwrap()),
        key(14),
        NodeConfig::default(),
    );
    let options = Options {
        max_connections: 1,
        ..Options::default()
    };
    let addr = serve(&a, key(14), options).await;
    let first = raw_client(&addr, &key(15)).await;
    let options = Options::default();
    let k16 = key(16);
    let second = sluice_net::connect_addr(&addr, &k16, &options, Arc::new(RejectAll));
    assert!(within("second connect", second).await.is_err());
    assert!(first.call_async("manifest", json!([])).await.is_ok());
    first.close().await.unwrap();
    // Once the first connection is gone, its slot is free again.
    within("slot freed", async {
        loop {
            let dial = sluice_net::connect_addr(&addr, &k16, &options, Arc::new(RejectAll));
            if dial.await.is_ok() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await;
}
