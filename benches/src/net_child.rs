//! What the network bench binaries share: stores filled from a fixture, a serving node in a
//! child process (the same binary run with `--serve DIR`), and one fetch round.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;

use ed25519_dalek::SigningKey;
use sluice_msg::{FeedId, Message, VerifyMode};
use sluice_net::{Listener, MultiAddr, Node, NodeConfig, Options};
use sluice_views::Db;

/// The serving node's key (the fetching side uses [`fetcher_key`]).
pub fn server_key() -> SigningKey {
    SigningKey::from_bytes(&[1; 32])
}

/// The fetching node's key.
pub fn fetcher_key() -> SigningKey {
    SigningKey::from_bytes(&[2; 32])
}

/// The messages of a `{key,value,timestamp}` JSON lines file's bytes, in file order.
pub fn parse_jsonl(jsonl: &[u8]) -> Vec<(Message, Option<f64>)> {
    jsonl
        .split(|&b| b == b'\n')
        .filter(|l| !l.is_empty())
        .map(|l| Message::from_entry_slice(l).expect("msg"))
        .collect()
}

/// The medium fixture's JSON lines, decompressed (`../shared/data/fixtures/medium`).
pub fn medium_jsonl() -> Vec<u8> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../shared/data/fixtures/medium/msgs.jsonl.zst");
    let raw = std::fs::read(&path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
    zstd::decode_all(&raw[..]).expect("zstd")
}

/// Stores `entries` in a new database in `dir` (chain-verified); returns its feeds and how
/// many messages each holds.
pub fn fill(dir: &Path, entries: Vec<(Message, Option<f64>)>) -> Vec<(FeedId, u64)> {
    let db = Db::open(dir).expect("open");
    db.add_batch_received(entries, VerifyMode::Chain)
        .expect("add");
    db.feeds().expect("feeds")
}

/// Serves the database in `dir` on loopback until killed (the child process); prints its
/// multiserver address as the first line of stdout.
pub async fn serve(dir: &Path, options: Options) {
    let db = Arc::new(Db::open(dir).expect("open"));
    let node = Node::new(db, server_key(), NodeConfig::default());
    let listener = Listener::bind("127.0.0.1:0", server_key(), options)
        .await
        .expect("bind");
    println!("{}", listener.multiaddr().expect("addr"));
    node.serve(listener).await.expect("serve");
}

/// Starts this binary with `--serve DIR` and reads the address the child prints.
pub fn spawn_server(dir: &Path) -> (Child, MultiAddr) {
    let me = std::env::current_exe().expect("own path");
    let mut child = Command::new(me)
        .arg("--serve")
        .arg(dir)
        .stdout(Stdio::piped())
        .spawn()
        .expect("spawn the serving child");
    let mut line = String::new();
    let out = child.stdout.take().expect("child stdout");
    BufReader::new(out).read_line(&mut line).expect("address");
    (child, line.trim().parse().expect("multiserver address"))
}

/// An empty node in a temp dir fetches `feeds` from `addr` once, over EBT unless the command
/// line has `--history`; returns the node (its stats tell what arrived).
pub async fn fetch_once(addr: &MultiAddr, feeds: &[FeedId]) -> (Node, tempfile::TempDir) {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = Arc::new(Db::open(dir.path()).expect("open"));
    let config = NodeConfig {
        feeds: feeds.to_vec(),
        ebt: !std::env::args().any(|a| a == "--history"),
        ..NodeConfig::default()
    };
    let node = Node::new(db, fetcher_key(), config);
    node.replicate_once(addr).await.expect("replicate");
    (node, dir)
}
