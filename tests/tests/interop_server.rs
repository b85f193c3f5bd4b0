//! Interop with a real ssb-server 16: sluice-net handshakes, fetches the server's feed with
//! `createHistoryStream`, validates it with sluice-msg, and answers the server's own calls; a
//! sluice `Node` and the server replicate each other's feeds, stored and live, over history
//! streams (EBT off), over EBT called by sluice, and over EBT called by the server.
//!
//! Needs node and `npm ci --prefix tests/js/server`. Without them the test skips with a
//! message, except under CI (`CI=true`), where it fails.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use ed25519_dalek::SigningKey;
use serde_json::{Value, json};
use sluice_msg::{FeedState, Message, validate};
use sluice_net::muxrpc::{CallKind, Handler, Request};
use sluice_net::{MAIN_CAPS, MultiAddr, Options, Peer};

/// How many posts the server publishes before the test connects.
const PUBLISHED: u64 = 25;
/// The longest any single step may take.
const STEP: Duration = Duration::from_secs(60);

fn server_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("js/server")
}

/// Whether node and the installed server package are here; panics under CI when they are not.
fn node_available() -> bool {
    let node = Command::new("node")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    let modules = server_dir().join("node_modules/ssb-server").is_dir();
    if node && modules {
        return true;
    }
    let why = match node {
        false => "node is not installed",
        true => "tests/js/server/node_modules is missing (run `npm ci --prefix tests/js/server`)",
    };
    if std::env::var("CI").is_ok_and(|v| v == "true") {
        panic!("CI=true but the ssb-server interop test cannot run: {why}");
    }
    eprintln!("skipping the ssb-server interop test: {why}");
    false
}

/// A child process that is killed when dropped, so a failing test never leaves a server behind.
struct KillOnDrop(Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A running `node server.js`.
struct NodeServer {
    _child: KillOnDrop,
    id: String,
    addr: MultiAddr,
    /// The server's JSON lines after the ready line (`stored`, `published` events).
    events: std::sync::mpsc::Receiver<Value>,
    /// Commands (`publish TEXT`); closing it stops the server.
    stdin: std::process::ChildStdin,
    _dir: tempfile::TempDir,
}

fn free_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind a loopback port");
    l.local_addr().expect("local addr").port()
}

impl NodeServer {
    /// Starts ssb-server on a free loopback port, publishing `publish` posts and following `follow`.
    fn start(publish: u64, follow: &str) -> NodeServer {
        let dir = tempfile::tempdir().expect("temp dir");
        let child = Command::new("node")
            .current_dir(server_dir())
            .arg("server.js")
            .args(["--dir", dir.path().to_str().expect("utf-8 temp path")])
            .args(["--port", &free_port().to_string()])
            .args(["--publish", &publish.to_string(), "--follow", follow])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start node server.js");
        let mut child = KillOnDrop(child);
        let stdin = child.0.stdin.take().expect("piped stdin");
        let events = json_lines(child.0.stdout.take().expect("piped stdout"));
        let ready = wait_ready(&events);
        let id = ready["id"]
            .as_str()
            .expect("ready line has an id")
            .to_owned();
        let addr = ready["address"]
            .as_str()
            .expect("ready line has an address");
        let addr = addr
            .parse()
            .expect("the server's multiserver address parses");
        NodeServer {
            _child: child,
            id,
            addr,
            events,
            stdin,
            _dir: dir,
        }
    }

    /// Asks the server to publish a post.
    fn publish(&mut self, text: &str) {
        use std::io::Write as _;
        writeln!(self.stdin, "publish {text}").expect("write to the server's stdin");
    }

    /// Asks the server to dial `address` (ssb-ebt then calls `ebt.replicate` on that peer).
    fn connect(&mut self, address: &str) {
        use std::io::Write as _;
        writeln!(self.stdin, "connect {address}").expect("write to the server's stdin");
    }

    /// Waits (bounded) until the server has stored message `sequence` of `author`.
    fn wait_stored(&self, author: &str, sequence: u64) {
        let deadline = std::time::Instant::now() + STEP;
        while let Some(left) = deadline.checked_duration_since(std::time::Instant::now()) {
            let Ok(event) = self.events.recv_timeout(left) else {
                break;
            };
            let stored = &event["stored"];
            if stored["author"] == author && stored["sequence"].as_u64() >= Some(sequence) {
                return;
            }
        }
        panic!("ssb-server did not store message {sequence} of {author} in time");
    }
}

/// Forwards every JSON line of the server's stdout to a channel (from a thread).
fn json_lines(stdout: std::process::ChildStdout) -> std::sync::mpsc::Receiver<Value> {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if let Ok(v) = serde_json::from_str::<Value>(&line) {
                let _ = tx.send(v);
            }
        }
    });
    rx
}

/// Waits (bounded) for the ready line.
fn wait_ready(events: &std::sync::mpsc::Receiver<Value>) -> Value {
    let deadline = std::time::Instant::now() + Duration::from_secs(120);
    while let Some(left) = deadline.checked_duration_since(std::time::Instant::now()) {
        match events.recv_timeout(left) {
            Ok(v) if v["ready"] == json!(true) => return v,
            Ok(_) => {}
            Err(_) => break,
        }
    }
    panic!("ssb-server did not print its ready line in time");
}

/// Answers what ssb-server calls on a peer: empty streams for blobs and history, pings back.
#[derive(Default)]
struct ServerCalls {
    seen: Mutex<Vec<String>>,
}

impl Handler for ServerCalls {
    fn handle(&self, req: Request) {
        let method = req.method();
        self.seen.lock().expect("not poisoned").push(method.clone());
        match (method.as_str(), req.kind) {
            ("blobs.createWants" | "blobs.changes" | "createHistoryStream", _) => {
                drop(tokio::spawn(async move { req.sink.end().await }));
            }
            ("gossip.ping", CallKind::Duplex) => drop(tokio::spawn(pong(req))),
            _ => req.reject(&format!("{method} is not supported by this peer")),
        }
    }
}

/// `gossip.ping`: one timestamp back per timestamp received.
async fn pong(mut req: Request) -> sluice_net::Result<()> {
    let mut input = req.input.take().expect("duplex calls have input");
    while let Some(item) = input.next().await {
        item?;
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as u64);
        req.sink.send(json!(now)).await?;
    }
    req.sink.end().await
}

async fn step<T>(what: &str, f: impl Future<Output = T>) -> T {
    tokio::time::timeout(STEP, f)
        .await
        .unwrap_or_else(|_| panic!("timed out: {what}"))
}

/// Fetches the server's feed and checks it is a valid chain of `expected` messages.
async fn fetch_and_validate(peer: &Peer, id: &str, expected: u64) {
    let args = json!([{ "id": id, "seq": 1, "keys": false }]);
    let source = step(
        "createHistoryStream call",
        peer.source("createHistoryStream", args),
    )
    .await;
    let values = step(
        "createHistoryStream replies",
        source.expect("call sent").collect(),
    )
    .await;
    let values = values.expect("history stream ends cleanly");
    assert_eq!(
        values.len() as u64,
        expected,
        "every message of the server's feed arrives"
    );
    let mut state: Option<FeedState> = None;
    for (i, value) in values.into_iter().enumerate() {
        let msg =
            Message::from_value(value).unwrap_or_else(|e| panic!("message {} parses: {e}", i + 1));
        validate(state.as_ref(), &msg, None)
            .unwrap_or_else(|e| panic!("message {} validates: {e}", i + 1));
        assert_eq!(msg.sequence(), i as u64 + 1);
        assert_eq!(msg.author().to_string(), id);
        state = Some(FeedState::of(&msg));
    }
}

/// Waits (bounded) until the server has called `method` on us.
async fn wait_for_call(calls: &ServerCalls, method: &str) -> bool {
    for _ in 0..100 {
        if calls
            .seen
            .lock()
            .expect("not poisoned")
            .iter()
            .any(|m| m == method)
        {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    false
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fetches_and_validates_the_server_feed() {
    if !node_available() {
        return;
    }
    let ours = SigningKey::from_bytes(&rand::random());
    let our_id = format!(
        "@{}.ed25519",
        STANDARD.encode(ours.verifying_key().as_bytes())
    );
    let server = NodeServer::start(PUBLISHED, &our_id);
    let calls = Arc::new(ServerCalls::default());
    let options = Options {
        caps: MAIN_CAPS,
        ..Options::default()
    };
    let dial = sluice_net::connect_addr(&server.addr, &ours, &options, calls.clone());
    let peer = step("connect + handshake", dial)
        .await
        .expect("handshake with ssb-server");
    assert_eq!(
        format!("@{}.ed25519", STANDARD.encode(peer.id().as_bytes())),
        server.id
    );

    // The server's feed: its posts plus the contact message that follows us.
    fetch_and_validate(&peer, &server.id, PUBLISHED + 1).await;
    assert!(
        wait_for_call(&calls, "blobs.createWants").await,
        "the server asks for blob wants"
    );
    assert!(
        wait_for_call(&calls, "createHistoryStream").await,
        "the server asks for our feed (it follows us)"
    );
    let err = step("whoami", peer.call_async("whoami", json!([])))
        .await
        .unwrap_err();
    assert!(
        matches!(err, sluice_net::Error::Remote { .. }),
        "ssb-server refuses whoami from peers: {err}"
    );

    let closed = step("goodbye", peer.close()).await;
    assert!(closed.is_ok(), "the connection ends cleanly: {closed:?}");
}

/// Waits (bounded) until `db` holds message `sequence` of `feed`.
async fn wait_for_seq(db: &sluice_views::Db, feed: &str, sequence: u64) {
    let feed: sluice_msg::FeedId = feed.parse().expect("feed id");
    step("a message arrives in sluice", async {
        while db.latest_seq(&feed).expect("db").map_or(0, |s| s.sequence) < sequence {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await;
}

/// A sluice node with three posts of its own, replicating with the given EBT setting.
fn sluice_node(dir: &Path, ebt: bool) -> sluice_net::Node {
    let db = Arc::new(sluice_views::Db::open(dir).expect("open db"));
    let ours = SigningKey::from_bytes(&[43; 32]);
    let config = sluice_net::NodeConfig {
        ebt,
        ..sluice_net::NodeConfig::default()
    };
    let node = sluice_net::Node::new(db.clone(), ours, config);
    for i in 1..=3 {
        db.publish(
            &node.keys(),
            json!({"type": "post", "text": format!("sluice {i}")}),
        )
        .expect("publish");
    }
    node
}

/// Both feeds cross, stored then live, between `node` and `server` (already connected).
async fn both_ways_live(node: &sluice_net::Node, server: &mut NodeServer) {
    let (db, our_id) = (node.db(), node.id().to_string());
    // sluice fetches the server's feed (its posts and the follow) into its database.
    wait_for_seq(db, &server.id, PUBLISHED + 1).await;
    // The server follows us, so it fetches our feed.
    tokio::task::block_in_place(|| server.wait_stored(&our_id, 3));
    // Live, sluice → server.
    db.publish(
        &node.keys(),
        json!({"type": "post", "text": "live from sluice"}),
    )
    .expect("publish");
    tokio::task::block_in_place(|| server.wait_stored(&our_id, 4));
    // Live, server → sluice.
    server.publish("live from ssb-server");
    wait_for_seq(db, &server.id, PUBLISHED + 2).await;
    let (received, _, _, rejected) = node.stats().snapshot();
    assert_eq!(rejected, 0, "every message from ssb-server validates");
    assert!(received >= PUBLISHED + 2);
}

fn ebt_stat(node: &sluice_net::Node, pick: fn(&sluice_net::Stats) -> &AtomicU64) -> u64 {
    pick(node.stats()).load(Ordering::Relaxed)
}

/// Asserts that everything crossed through EBT: no history-stream fallback either way.
fn assert_all_by_ebt(node: &sluice_net::Node) {
    let (received, _, _, _) = node.stats().snapshot();
    assert_eq!(ebt_stat(node, |s| &s.ebt_sessions), 1, "one EBT session");
    assert_eq!(
        ebt_stat(node, |s| &s.ebt_received),
        received,
        "every message from the server came through EBT"
    );
    assert_eq!(
        ebt_stat(node, |s| &s.ebt_sent),
        4,
        "the server got our four messages through EBT"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_and_sluice_node_replicate_both_ways_live_over_history_streams() {
    if !node_available() {
        return;
    }
    let dir = tempfile::tempdir().expect("temp dir");
    let node = sluice_node(dir.path(), false);
    let mut server = NodeServer::start(PUBLISHED, &node.id().to_string());
    let peer = step("connect", node.connect(&server.addr))
        .await
        .expect("handshake with ssb-server");
    both_ways_live(&node, &mut server).await;
    assert_eq!(ebt_stat(&node, |s| &s.ebt_sessions), 0, "EBT is off");
    let _ = step("goodbye", peer.close()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sluice_calls_ebt_replicate_on_the_server_both_ways_live() {
    if !node_available() {
        return;
    }
    let dir = tempfile::tempdir().expect("temp dir");
    let node = sluice_node(dir.path(), true);
    let mut server = NodeServer::start(PUBLISHED, &node.id().to_string());
    let peer = step("connect", node.connect(&server.addr))
        .await
        .expect("handshake with ssb-server");
    both_ways_live(&node, &mut server).await;
    assert_all_by_ebt(&node);
    let _ = step("goodbye", peer.close()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replicate_once_over_ebt_fetches_the_server_feed() {
    if !node_available() {
        return;
    }
    let dir = tempfile::tempdir().expect("temp dir");
    let node = sluice_node(dir.path(), true);
    let server = NodeServer::start(PUBLISHED, &node.id().to_string());
    let report = step("replicate once", node.replicate_once(&server.addr))
        .await
        .expect("replicate once with ssb-server");
    assert_eq!(
        report.messages,
        PUBLISHED + 1,
        "the server's posts and its follow"
    );
    let feed: sluice_msg::FeedId = server.id.parse().expect("feed id");
    let stored = node.db().latest_seq(&feed).expect("db");
    assert_eq!(stored.map(|s| s.sequence), Some(PUBLISHED + 1));
    assert_eq!(ebt_stat(&node, |s| &s.ebt_received), PUBLISHED + 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_server_calls_ebt_replicate_on_sluice_both_ways_live() {
    if !node_available() {
        return;
    }
    let dir = tempfile::tempdir().expect("temp dir");
    let node = sluice_node(dir.path(), true);
    let keys = SigningKey::from_bytes(&[43; 32]);
    let listener = sluice_net::Listener::bind("127.0.0.1:0", keys, Options::default())
        .await
        .expect("bind a loopback port");
    let addr = listener.multiaddr().expect("our address");
    let serving = node.clone();
    let serve = tokio::spawn(async move { serving.serve(listener).await });
    let mut server = NodeServer::start(PUBLISHED, &node.id().to_string());
    server.connect(&addr.to_string());
    both_ways_live(&node, &mut server).await;
    assert_all_by_ebt(&node);
    serve.abort();
}
