//! Hostile peers against an in-process sluice node on 127.0.0.1: each misbehaviour costs the
//! peer its own connection (closed, with a logged reason), stores nothing invalid, and a good
//! connection made afterwards is served normally.

use std::sync::Arc;
use std::time::Duration;

use ed25519_dalek::SigningKey;
use serde_json::{Value, json};
use sluice_msg::{FeedId, FeedState, Keys, Message, create};
use sluice_net::muxrpc::{Handler, RejectAll, Request};
use sluice_net::{Listener, MultiAddr, Node, NodeConfig, Options};
use sluice_views::Db;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const STEP: Duration = Duration::from_secs(20);

async fn within<T>(what: &str, f: impl Future<Output = T>) -> T {
    tokio::time::timeout(STEP, f)
        .await
        .unwrap_or_else(|_| panic!("timed out: {what}"))
}

/// `n` messages of `keys`' feed on top of `state`, with `tag` in each text.
fn chain(keys: &Keys, state: Option<FeedState>, n: u64, tag: &str) -> Vec<Message> {
    let mut state = state;
    let mut out = Vec::new();
    for i in 0..n {
        let content = json!({"type": "post", "text": format!("{tag} {i}")});
        let msg = create(keys, state.as_ref(), content, 1.7e12 + i as f64, None).unwrap();
        state = Some(FeedState::of(&msg));
        out.push(msg);
    }
    out
}

/// The node under attack, listening on loopback, with `good` (3 messages of its own) stored.
struct Victim {
    node: Node,
    addr: MultiAddr,
    good: FeedId,
    _dir: tempfile::TempDir,
}

/// The feed a hostile peer serves.
fn evil_keys() -> Keys {
    Keys::from_seed([66; 32])
}

fn options() -> Options {
    let mut o = Options {
        handshake_timeout: Duration::from_millis(500),
        ..Options::default()
    };
    o.rpc.idle_timeout = Some(Duration::from_millis(700));
    o
}

impl Victim {
    async fn start(stored_evil: &[Message]) -> Victim {
        let dir = tempfile::tempdir().unwrap();
        let db = Arc::new(Db::open(dir.path()).unwrap());
        let good = Keys::from_seed([9; 32]);
        let mut msgs = chain(&good, None, 3, "good");
        msgs.extend(stored_evil.iter().cloned());
        db.add_batch(msgs, sluice_msg::VerifyMode::Full).unwrap();
        let keys = SigningKey::from_bytes(&[1; 32]);
        let config = NodeConfig {
            feeds: vec![evil_keys().id()],
            max_early: 50,
            net: options(),
            ..NodeConfig::default()
        };
        let node = Node::new(db, keys.clone(), config);
        let listener = Listener::bind("127.0.0.1:0", keys, options())
            .await
            .unwrap();
        let addr = listener.multiaddr().unwrap();
        let server = node.clone();
        tokio::spawn(async move { server.serve(listener).await });
        Victim {
            node,
            addr,
            good: good.id(),
            _dir: dir,
        }
    }

    /// A good client still gets the good feed.
    async fn still_serves(&self) {
        let me = SigningKey::from_bytes(&[2; 32]);
        let options = Options::default();
        let dial = sluice_net::connect_addr(&self.addr, &me, &options, Arc::new(RejectAll));
        let peer = within("good connect", dial).await.unwrap();
        let args = json!([{"id": self.good.to_string(), "keys": false}]);
        let src = peer.source("createHistoryStream", args).await.unwrap();
        assert_eq!(
            within("good history", src.collect()).await.unwrap().len(),
            3
        );
    }

    fn evil_latest(&self) -> u64 {
        let state = self.node.db().latest_seq(&evil_keys().id()).unwrap();
        state.map_or(0, |s| s.sequence)
    }
}

/// Reads until the other side closes; panics if it stays open.
async fn expect_closed(stream: &mut TcpStream) {
    let mut buf = [0u8; 1024];
    within("the victim closes the connection", async {
        loop {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
        }
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_caps_key() {
    let v = Victim::start(&[]).await;
    let options = Options {
        caps: [7; 32],
        ..Options::default()
    };
    let me = SigningKey::from_bytes(&[3; 32]);
    let dial = sluice_net::connect_addr(&v.addr, &me, &options, Arc::new(RejectAll));
    assert!(within("dial", dial).await.is_err());
    v.still_serves().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn garbage_before_the_handshake() {
    let v = Victim::start(&[]).await;
    let mut s = TcpStream::connect(v.addr.socket_addr()).await.unwrap();
    s.write_all(&[0xAB; 64]).await.unwrap();
    expect_closed(&mut s).await;
    v.still_serves().await;
}

/// Dials the victim and completes the handshake by hand, returning the raw stream.
async fn handshaken(v: &Victim) -> (TcpStream, sluice_net::shs::Session) {
    let mut s = TcpStream::connect(v.addr.socket_addr()).await.unwrap();
    let me = SigningKey::from_bytes(&[4; 32]);
    let hs = sluice_net::shs::client(&mut s, &sluice_net::MAIN_CAPS, &me, &v.addr.key);
    let session = within("handshake", hs).await.unwrap();
    (s, session)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn garbage_after_the_handshake() {
    let v = Victim::start(&[]).await;
    let (mut s, _) = handshaken(&v).await;
    s.write_all(&[0x5A; 200]).await.unwrap();
    expect_closed(&mut s).await;
    v.still_serves().await;
}

/// Sends `packet` (raw muxrpc bytes) in the box stream after a real handshake.
async fn send_boxed(v: &Victim, packet: &[u8]) -> TcpStream {
    let (s, session) = handshaken(v).await;
    let std = s.into_std().unwrap();
    let (r, w) = (std.try_clone().unwrap(), std);
    let mut writer =
        sluice_net::boxstream::BoxWriter::new(TcpStream::from_std(w).unwrap(), &session.keys);
    writer.send(packet).await.unwrap();
    TcpStream::from_std(r).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_frame() {
    let v = Victim::start(&[]).await;
    // Body type 3 does not exist; the body is not JSON either.
    let mut packet = vec![0b0000_1011, 0, 0, 0, 4, 0, 0, 0, 1];
    packet.extend_from_slice(b"{{{{");
    let mut s = send_boxed(&v, &packet).await;
    expect_closed(&mut s).await;
    v.still_serves().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversized_frame() {
    let v = Victim::start(&[]).await;
    // A JSON packet announcing 256 MiB.
    let packet = [0b0000_1010, 0x10, 0, 0, 0, 0, 0, 0, 1];
    let mut s = send_boxed(&v, &packet).await;
    expect_closed(&mut s).await;
    v.still_serves().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn silent_peer_before_and_after_the_handshake() {
    let v = Victim::start(&[]).await;
    let mut silent = TcpStream::connect(v.addr.socket_addr()).await.unwrap();
    let (mut quiet, _) = handshaken(&v).await;
    v.still_serves().await;
    expect_closed(&mut silent).await;
    expect_closed(&mut quiet).await;
    v.still_serves().await;
}

/// A peer serving `evil` as the history of the evil feed (and nothing else).
struct EvilServer(Vec<Value>);

impl Handler for EvilServer {
    fn handle(&self, req: Request) {
        if req.method() != "createHistoryStream" {
            return req.reject("no");
        }
        let wanted = req
            .args
            .first()
            .and_then(|a| a["id"].as_str())
            .map(str::to_owned);
        let msgs = match wanted == Some(evil_keys().id().to_string()) {
            true => self.0.clone(),
            false => Vec::new(),
        };
        tokio::spawn(async move {
            for m in msgs {
                if req.sink.send(m).await.is_err() {
                    return;
                }
            }
            let _ = req.sink.end().await;
        });
    }
}

/// The victim dials a peer that serves `evil`; the victim must hang up on it.
async fn fetch_from_evil(v: &Victim, evil: Vec<Value>) {
    let keys = SigningKey::from_bytes(&[5; 32]);
    let listener = Listener::bind("127.0.0.1:0", keys, Options::default())
        .await
        .unwrap();
    let addr = listener.multiaddr().unwrap();
    let handler: Arc<dyn Handler> = Arc::new(EvilServer(evil));
    tokio::spawn(async move {
        let peer = listener.accept(|_| handler).await.unwrap();
        peer.closed().await
    });
    let peer = within("dial the evil peer", v.node.connect(&addr))
        .await
        .unwrap();
    let _ = within("the victim hangs up", peer.closed()).await;
    v.node.flush().await;
    assert!(
        v.node
            .stats()
            .peers_dropped
            .load(std::sync::atomic::Ordering::Relaxed)
            >= 1
    );
}

fn values(msgs: &[Message]) -> Vec<Value> {
    msgs.iter().map(|m| m.value().clone()).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalid_signature() {
    let v = Victim::start(&[]).await;
    let mut evil = values(&chain(&evil_keys(), None, 2, "evil"));
    evil[1]["content"]["text"] = json!("tampered");
    fetch_from_evil(&v, evil).await;
    assert_eq!(v.evil_latest(), 1, "only the valid first message is stored");
    v.still_serves().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fork() {
    let stored = chain(&evil_keys(), None, 2, "real");
    let v = Victim::start(&stored).await;
    let alt = chain(&evil_keys(), Some(FeedState::of(&stored[0])), 2, "fork");
    // Sequence 3 on top of a different sequence 2: the feed forked.
    fetch_from_evil(&v, values(&alt[1..])).await;
    assert_eq!(v.evil_latest(), 2);
    v.still_serves().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn out_of_sequence_flood() {
    let v = Victim::start(&[]).await;
    let all = chain(&evil_keys(), None, 120, "flood");
    fetch_from_evil(&v, values(&all[5..])).await;
    assert_eq!(
        v.evil_latest(),
        0,
        "nothing stored without the start of the chain"
    );
    v.still_serves().await;
}
