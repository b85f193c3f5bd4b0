//! EBT (`ebt.replicate` version 3) between in-process sluice nodes over loopback: once and
//! live, both directions, feed subsets by hops, the fallback to `createHistoryStream`, and
//! hostile EBT peers (garbage clocks, unasked messages, bad signatures) that get hung up on.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use ed25519_dalek::SigningKey;
use serde_json::{Value, json};
use sluice_msg::{FeedId, FeedState, Keys, Message, VerifyMode, create};
use sluice_net::muxrpc::{CallKind, Handler, RejectAll, Request};
use sluice_net::{Listener, MultiAddr, Node, NodeConfig, Options, Peer};
use sluice_views::Db;

const STEP: Duration = Duration::from_secs(30);

async fn within<T>(what: &str, f: impl Future<Output = T>) -> T {
    tokio::time::timeout(STEP, f)
        .await
        .unwrap_or_else(|_| panic!("timed out: {what}"))
}

fn key(seed: u8) -> SigningKey {
    SigningKey::from_bytes(&[seed; 32])
}

fn id(key: &SigningKey) -> FeedId {
    FeedId(key.verifying_key().to_bytes())
}

/// The small fixture's messages (1,000 messages, 10 authors).
fn fixture_msgs() -> Vec<Message> {
    let text = std::fs::read_to_string(sluice_tests::data_dir().join("small/msgs.jsonl"))
        .expect("small fixture");
    text.lines()
        .map(|l| {
            let entry = serde_json::from_str(l).expect("fixture line is JSON");
            Message::from_entry(entry).expect("fixture message").0
        })
        .collect()
}

fn db_with(dir: &std::path::Path, msgs: Vec<Message>) -> Arc<Db> {
    let db = Db::open(dir).expect("open db");
    db.add_batch(msgs, VerifyMode::Chain).expect("store");
    Arc::new(db)
}

fn empty_db(dir: &std::path::Path) -> Arc<Db> {
    Arc::new(Db::open(dir).expect("open db"))
}

/// Starts serving `node` on a loopback port; returns its address.
async fn serve(node: &Node, keys: SigningKey) -> MultiAddr {
    let listener = Listener::bind("127.0.0.1:0", keys, Options::default())
        .await
        .expect("bind");
    let addr = listener.multiaddr().expect("address");
    let node = node.clone();
    tokio::spawn(async move { node.serve(listener).await });
    addr
}

/// A node holding the small fixture, serving on loopback with `key(seed)`.
async fn serving_fixture(dir: &std::path::Path, seed: u8, config: NodeConfig) -> (Node, MultiAddr) {
    let node = Node::new(db_with(dir, fixture_msgs()), key(seed), config);
    let addr = serve(&node, key(seed)).await;
    (node, addr)
}

fn stat(node: &Node, pick: fn(&sluice_net::Stats) -> &std::sync::atomic::AtomicU64) -> u64 {
    pick(node.stats()).load(Ordering::Relaxed)
}

fn latest(node: &Node, feed: &FeedId) -> u64 {
    let state = node.db().latest_seq(feed).expect("db");
    state.map_or(0, |s| s.sequence)
}

/// Waits (bounded) until `check` holds.
async fn until(what: &str, mut check: impl FnMut() -> bool) {
    within(what, async {
        while !check() {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await;
}

fn stored_feeds(node: &Node) -> BTreeSet<FeedId> {
    let feeds = node.db().feeds().expect("db");
    feeds.into_iter().map(|(f, _)| f).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replicate_once_uses_ebt_and_copies_every_wanted_feed() {
    let (da, dbd) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let (a, addr) = serving_fixture(da.path(), 1, NodeConfig::default()).await;
    let config = NodeConfig {
        feeds: stored_feeds(&a).into_iter().collect(),
        ..NodeConfig::default()
    };
    let b = Node::new(empty_db(dbd.path()), key(2), config);
    let report = within("replicate", b.replicate_once(&addr)).await.unwrap();
    assert_eq!(report.messages, 1000);
    assert_eq!(b.db().feeds().unwrap(), a.db().feeds().unwrap());
    let (received, appended, _, rejected) = b.stats().snapshot();
    assert_eq!((received, appended, rejected), (1000, 1000, 0));
    assert_eq!(stat(&b, |s| &s.ebt_received), 1000, "all of it came by EBT");
    assert_eq!(stat(&b, |s| &s.ebt_sessions), 1);
    until("a counts what it sent", || {
        stat(&a, |s| &s.ebt_sent) == 1000
    })
    .await;
    let again = within("replicate again", b.replicate_once(&addr)).await;
    assert_eq!(again.unwrap().messages, 0, "a second run finds nothing new");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn live_messages_flow_both_ways_over_ebt() {
    let (da, dbd) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let (ka, kb) = (key(3), key(4));
    let config = |other: FeedId| NodeConfig {
        feeds: vec![other],
        ..NodeConfig::default()
    };
    let a = Node::new(empty_db(da.path()), ka.clone(), config(id(&kb)));
    let b = Node::new(empty_db(dbd.path()), kb.clone(), config(id(&ka)));
    let post = |n: &Node, text: &str| {
        n.db()
            .publish(&n.keys(), json!({"type": "post", "text": text}))
            .expect("publish");
    };
    post(&a, "a before");
    post(&b, "b before");
    let addr = serve(&a, ka.clone()).await;
    let _peer = within("connect", b.connect(&addr)).await.unwrap();
    until("stored messages cross", || {
        latest(&b, &id(&ka)) == 1 && latest(&a, &id(&kb)) == 1
    })
    .await;
    for i in 2..=5 {
        post(&a, &format!("a live {i}"));
        post(&b, &format!("b live {i}"));
    }
    until("live messages cross", || {
        latest(&b, &id(&ka)) == 5 && latest(&a, &id(&kb)) == 5
    })
    .await;
    for node in [&a, &b] {
        let (received, appended, _, rejected) = node.stats().snapshot();
        assert_eq!((received, appended, rejected), (5, 5, 0));
        assert_eq!(
            stat(node, |s| &s.ebt_received),
            5,
            "no history-stream fallback"
        );
        assert_eq!(
            stat(node, |s| &s.ebt_sessions),
            1,
            "one session, both roles"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn messages_relay_through_a_middle_node_live() {
    let dirs: Vec<_> = (0..3).map(|_| tempfile::tempdir().unwrap()).collect();
    let (ka, kb, kc) = (key(8), key(9), key(10));
    let (ida, idc) = (id(&ka), id(&kc));
    let all = vec![ida, id(&kb), idc];
    let config = || NodeConfig {
        feeds: all.clone(),
        ..NodeConfig::default()
    };
    let a = Node::new(empty_db(dirs[0].path()), ka.clone(), config());
    let b = Node::new(empty_db(dirs[1].path()), kb.clone(), config());
    let c = Node::new(empty_db(dirs[2].path()), kc, config());
    let post = |n: &Node, text: &str| {
        n.db()
            .publish(&n.keys(), json!({"type": "post", "text": text}))
            .expect("publish");
    };
    post(&a, "a 1");
    let (addr_a, addr_b) = (serve(&a, ka).await, serve(&b, kb).await);
    // a ↔ b ↔ c: c never talks to a.
    let _ab = within("b dials a", b.connect(&addr_a)).await.unwrap();
    let _cb = within("c dials b", c.connect(&addr_b)).await.unwrap();
    until("a's stored message reaches c through b", || {
        latest(&c, &ida) == 1
    })
    .await;
    post(&a, "a 2");
    post(&c, "c 1");
    until("live messages cross b both ways", || {
        latest(&c, &ida) == 2 && latest(&a, &idc) == 1
    })
    .await;
    for node in [&a, &b, &c] {
        assert_eq!(node.stats().snapshot().3, 0, "nothing rejected");
        assert_eq!(stat(node, |s| &s.received), stat(node, |s| &s.ebt_received));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_follow_graph_within_hops_decides_the_feeds() {
    let (da, dbd) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let (a, addr) = serving_fixture(da.path(), 1, NodeConfig::default()).await;
    // B is the fixture's main identity with an empty store: it learns its own follows from
    // its own feed, then asks for them (hops 1) and for nothing else.
    let secret = sluice_tests::data_dir().join("small/secret");
    let keys = Keys::read_secret_file(secret).expect("fixture secret");
    let me = keys.id();
    let mut expected: BTreeSet<FeedId> = a
        .db()
        .hops(&me, 1)
        .unwrap()
        .into_iter()
        .filter(|(_, d)| *d >= 0)
        .map(|(f, _)| f)
        .collect();
    expected.insert(me);
    assert!(
        expected.len() < stored_feeds(&a).len(),
        "hops 1 is a strict subset"
    );
    let config = NodeConfig {
        hops: 1,
        refresh: Duration::from_millis(100),
        ..NodeConfig::default()
    };
    let signing = sluice_net::signing_key(&keys).unwrap();
    let b = Node::new(empty_db(dbd.path()), signing, config);
    let _peer = within("connect", b.connect(&addr)).await.unwrap();
    until("every feed within one hop arrives", || {
        expected.iter().all(|f| latest(&b, f) == latest(&a, f))
    })
    .await;
    // A few more refresh periods: nothing beyond the wanted feeds arrives.
    tokio::time::sleep(Duration::from_millis(500)).await;
    b.flush().await;
    assert_eq!(stored_feeds(&b), expected);
    assert!(stat(&b, |s| &s.ebt_received) > 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unfollowed_feed_stops_arriving() {
    let (da, dbd) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let (ka, kb) = (key(30), key(31));
    // c's feed lives on a; b wants it only while b follows c.
    let c = Keys::from_seed([32; 32]);
    let c_msgs: Vec<Message> = chain(&c, 2)
        .into_iter()
        .map(|v| Message::from_value(v).unwrap())
        .collect();
    let config = NodeConfig {
        feeds: vec![c.id()],
        ..NodeConfig::default()
    };
    let a = Node::new(empty_db(da.path()), ka.clone(), config);
    a.db()
        .add_batch(c_msgs[..1].to_vec(), VerifyMode::Full)
        .unwrap();
    let config = NodeConfig {
        hops: 1,
        refresh: Duration::from_millis(100),
        ..NodeConfig::default()
    };
    let b = Node::new(empty_db(dbd.path()), kb, config);
    let follow = |following: bool| {
        let content =
            json!({"type": "contact", "contact": c.id().to_string(), "following": following});
        b.db().publish(&b.keys(), content).expect("publish");
    };
    follow(true);
    let addr = serve(&a, ka).await;
    let _peer = within("connect", b.connect(&addr)).await.unwrap();
    until("the followed feed arrives", || latest(&b, &c.id()) == 1).await;
    follow(false);
    // A few refresh periods: b tells a it no longer wants c's feed.
    tokio::time::sleep(Duration::from_millis(500)).await;
    a.db()
        .add_batch(c_msgs[1..].to_vec(), VerifyMode::Full)
        .unwrap();
    tokio::time::sleep(Duration::from_millis(500)).await;
    b.flush().await;
    assert_eq!(latest(&b, &c.id()), 1, "unfollowed: nothing more is sent");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_peer_without_ebt_gets_history_streams_instead() {
    let (da, dbd) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let no_ebt = NodeConfig {
        ebt: false,
        ..NodeConfig::default()
    };
    let (a, addr) = serving_fixture(da.path(), 5, no_ebt).await;
    let probe = raw_client(&addr, &key(7)).await;
    let manifest = probe.call_async("manifest", json!([])).await.unwrap();
    assert!(manifest.get("ebt").is_none(), "{manifest}");
    let config = NodeConfig {
        feeds: stored_feeds(&a).into_iter().collect(),
        ..NodeConfig::default()
    };
    let b = Node::new(empty_db(dbd.path()), key(6), config);
    let report = within("replicate", b.replicate_once(&addr)).await.unwrap();
    assert_eq!(report.messages, 1000);
    assert_eq!(stat(&b, |s| &s.ebt_received), 0, "the fallback was used");
    assert_eq!(b.db().feeds().unwrap(), a.db().feeds().unwrap());

    // And an EBT node advertises it.
    let addr = serve(&b, key(6)).await;
    let probe = raw_client(&addr, &key(7)).await;
    let manifest = probe.call_async("manifest", json!([])).await.unwrap();
    assert_eq!(manifest["ebt"]["replicate"], "duplex");
}

/// Dials `addr` as `keys` without replicating, to call methods directly.
async fn raw_client(addr: &MultiAddr, keys: &SigningKey) -> Peer {
    let options = Options::default();
    let dial = sluice_net::connect_addr(addr, keys, &options, Arc::new(RejectAll));
    within("connect", dial).await.unwrap()
}

// ---- hostile EBT peers ----

fn evil_keys() -> Keys {
    Keys::from_seed([66; 32])
}

/// `n` messages of `keys`' feed from the start.
fn chain(keys: &Keys, n: u64) -> Vec<Value> {
    let mut state: Option<FeedState> = None;
    let mut out = Vec::new();
    for i in 0..n {
        let content = json!({"type": "post", "text": format!("evil {i}")});
        let msg = create(keys, state.as_ref(), content, 1.7e12 + i as f64, None).unwrap();
        state = Some(FeedState::of(&msg));
        out.push(msg.value().clone());
    }
    out
}

/// A peer answering `ebt.replicate` with a script of items (and refusing everything else).
struct EvilEbt(Vec<Value>);

impl Handler for EvilEbt {
    fn handle(&self, req: Request) {
        if req.method() != "ebt.replicate" || req.kind != CallKind::Duplex {
            return req.reject("no");
        }
        let script = self.0.clone();
        tokio::spawn(async move {
            // Keep reading what the victim sends, so its stream never stalls.
            let mut input = req.input.expect("duplex input");
            tokio::spawn(async move { while input.next().await.is_some() {} });
            for item in script {
                if req.sink.send(item).await.is_err() {
                    return;
                }
            }
            std::future::pending::<()>().await;
        });
    }
}

/// A victim node wanting the evil feed (and nothing else but its own).
fn victim(dir: &std::path::Path) -> Node {
    let config = NodeConfig {
        feeds: vec![evil_keys().id()],
        peer_feed: false,
        ..NodeConfig::default()
    };
    Node::new(empty_db(dir), key(20), config)
}

/// The victim dials a peer answering `ebt.replicate` with `script`; it must hang up.
async fn dial_evil(v: &Node, script: Vec<Value>) {
    let keys = key(21);
    let listener = Listener::bind("127.0.0.1:0", keys, Options::default())
        .await
        .unwrap();
    let addr = listener.multiaddr().unwrap();
    let handler: Arc<dyn Handler> = Arc::new(EvilEbt(script));
    tokio::spawn(async move {
        let peer = listener.accept(|_| handler).await.unwrap();
        peer.closed().await
    });
    let peer = within("dial the evil peer", v.connect(&addr))
        .await
        .unwrap();
    let _ = within("the victim hangs up", peer.closed()).await;
    v.flush().await;
    assert!(
        stat(v, |s| &s.peers_dropped) >= 1,
        "hung up for misbehaving"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn garbage_clocks_are_hung_up_on() {
    let garbage = [
        json!("not a clock"),
        json!({"@not-a-feed": 2}),
        json!({ evil_keys().id().to_string(): "lots" }),
        json!({ evil_keys().id().to_string(): -7 }),
        json!([1, 2, 3]),
    ];
    for clock in garbage {
        let dir = tempfile::tempdir().unwrap();
        let v = victim(dir.path());
        dial_evil(&v, vec![clock]).await;
        assert_eq!(latest(&v, &evil_keys().id()), 0);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flood_of_unknown_feeds_is_hung_up_on() {
    let dir = tempfile::tempdir().unwrap();
    let v = victim(dir.path());
    // Clocks of 10,000 made-up feeds each (under the 1 MiB packet limit); the session keeps
    // at most 100,000 such feeds.
    let clocks = (0..11u32)
        .map(|c| {
            let clock: serde_json::Map<String, Value> = (0..10_000u32)
                .map(|i| {
                    let mut bytes = [0u8; 32];
                    bytes[..4].copy_from_slice(&c.to_le_bytes());
                    bytes[4..8].copy_from_slice(&i.to_le_bytes());
                    (FeedId(bytes).to_string(), json!(0))
                })
                .collect();
            Value::Object(clock)
        })
        .collect();
    dial_evil(&v, clocks).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_message_nobody_asked_for_is_hung_up_on() {
    let dir = tempfile::tempdir().unwrap();
    let v = victim(dir.path());
    let stranger = Keys::from_seed([77; 32]);
    let msgs = chain(&stranger, 1);
    dial_evil(&v, vec![json!({}), msgs[0].clone()]).await;
    assert!(v.db().latest_seq(&stranger.id()).unwrap().is_none());
    assert_eq!(v.stats().snapshot().1, 0, "nothing stored");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bad_signature_is_hung_up_on() {
    let dir = tempfile::tempdir().unwrap();
    let v = victim(dir.path());
    let mut msgs = chain(&evil_keys(), 3);
    msgs[1]["content"]["text"] = json!("tampered");
    let clock = json!({ evil_keys().id().to_string(): 3 << 1 });
    let mut script = vec![clock];
    script.extend(msgs);
    dial_evil(&v, script).await;
    assert_eq!(
        latest(&v, &evil_keys().id()),
        1,
        "only the valid first message"
    );
    assert!(stat(&v, |s| &s.rejected) >= 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_caller_sending_garbage_is_hung_up_on() {
    let dir = tempfile::tempdir().unwrap();
    let v = victim(dir.path());
    let addr = serve(&v, key(20)).await;
    let evil = raw_client(&addr, &key(22)).await;
    let args = json!([{"version": 3, "format": "classic"}]);
    let (sink, mut source) = evil.duplex("ebt.replicate", args).await.unwrap();
    let clock = within("the callee's clock", source.next()).await;
    let clock = clock.expect("a clock").expect("no error");
    let wanted = evil_keys().id().to_string();
    assert_eq!(
        clock[&wanted], 0,
        "the victim asks for the evil feed: {clock}"
    );
    sink.send(json!({"clock": "garbage"})).await.unwrap();
    within("the victim hangs up", evil.closed()).await.ok();
    assert_eq!(stat(&v, |s| &s.peers_dropped), 1);
}
