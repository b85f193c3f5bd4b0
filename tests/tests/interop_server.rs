//! Interop with a real ssb-server 16: sluice-net handshakes, fetches the server's feed with
//! `createHistoryStream`, validates it with sluice-msg, and answers the server's own calls.
//!
//! Needs node and `npm ci --prefix tests/js/server`. Without them the test skips with a
//! message, except under CI (`CI=true`), where it fails.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
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
        let ready = wait_ready(child.0.stdout.take().expect("piped stdout"));
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
            _dir: dir,
        }
    }
}

/// Reads stdout until the ready line (on a thread, so the wait is bounded).
fn wait_ready(stdout: std::process::ChildStdout) -> Value {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if let Ok(v) = serde_json::from_str::<Value>(&line)
                && v["ready"] == json!(true)
            {
                let _ = tx.send(v);
            }
        }
    });
    rx.recv_timeout(Duration::from_secs(120))
        .expect("ssb-server printed its ready line in time")
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
