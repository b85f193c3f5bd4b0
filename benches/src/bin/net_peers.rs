//! Memory of a serving node holding many idle peers: a node serving the small fixture (1,000
//! messages, 10 feeds) runs in a child process; this process opens `--peers N` (default 100)
//! real loopback connections that complete the secret handshake and call a live
//! `createHistoryStream` for every feed, read the stored messages, then stay idle. Prints the
//! child's resident memory (VmRSS, and RssAnon: heap and stacks) before and with the peers held.
//! Run: `cargo run --release -p sluice-benches --bin net_peers [-- --peers N]`.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use ed25519_dalek::SigningKey;
use serde_json::json;
use sluice_benches::net_child::{fill, parse_jsonl, serve, spawn_server};
use sluice_benches::proc_stat::{load_average, status_kib};
use sluice_msg::FeedId;
use sluice_net::muxrpc::RejectAll;
use sluice_net::{MultiAddr, Options, Peer};

/// The `sluice` binary's allocator (`sluice serve` / `sluice replicate` run with it).
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

/// Fills a database in `dir` with the small fixture; returns its feeds.
fn fill_small(dir: &Path) -> Vec<FeedId> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/data/small/msgs.jsonl");
    let jsonl = std::fs::read(&path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
    fill(dir, parse_jsonl(&jsonl))
        .into_iter()
        .map(|(f, _)| f)
        .collect()
}

/// One peer: handshake, then a live history stream per feed, each read up to its live part.
async fn peer(seed: u32, addr: MultiAddr, feeds: Arc<Vec<FeedId>>) -> (Peer, usize) {
    let mut bytes = [0u8; 32];
    bytes[..4].copy_from_slice(&(seed + 1000).to_le_bytes());
    let key = SigningKey::from_bytes(&bytes);
    let peer = sluice_net::connect_addr(&addr, &key, &Options::default(), Arc::new(RejectAll))
        .await
        .expect("connect");
    let mut received = 0;
    for feed in feeds.iter() {
        let args = json!([{"id": feed.to_string(), "seq": 1, "live": true, "keys": false}]);
        let mut source = peer
            .source("createHistoryStream", args)
            .await
            .expect("call");
        // Read the stored messages; the stream then stays open, waiting for live ones.
        let quiet = Duration::from_millis(300);
        while let Ok(Some(item)) = tokio::time::timeout(quiet, source.next_json_bytes()).await {
            item.expect("history item");
            received += 1;
        }
        // Keep the stream open: the peer holds it for as long as the connection lives.
        tokio::spawn(async move { while source.next_json_bytes().await.is_some() {} });
    }
    (peer, received)
}

/// The child's `VmRSS` and `RssAnon` in MiB.
fn memory(pid: u32) -> (f64, f64) {
    let pid = pid.to_string();
    let mib = |field| status_kib(&pid, field) as f64 / 1024.0;
    (mib("VmRSS"), mib("RssAnon"))
}

fn arg(name: &str) -> Option<String> {
    let args: Vec<String> = std::env::args().collect();
    let i = args.iter().position(|a| a == name)?;
    args.get(i + 1).cloned()
}

fn main() {
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    if let Some(dir) = arg("--serve") {
        let options = Options {
            max_connections: 1024,
            ..Options::default()
        };
        return rt.block_on(serve(Path::new(&dir), options));
    }
    let n: u32 = arg("--peers").and_then(|n| n.parse().ok()).unwrap_or(100);
    let dir = tempfile::tempdir().expect("tempdir");
    let feeds = Arc::new(fill_small(dir.path()));
    let (mut child, addr) = spawn_server(dir.path());
    std::thread::sleep(Duration::from_secs(1));
    let (rss0, anon0) = memory(child.id());
    println!(
        "net_peers: serving node (child process), {} feeds",
        feeds.len()
    );
    println!("  idle, no peers:      VmRSS {rss0:6.1} MiB  RssAnon {anon0:6.1} MiB");
    let peers = rt.block_on(async {
        let tasks: Vec<_> = (0..n)
            .map(|i| tokio::spawn(peer(i, addr.clone(), feeds.clone())))
            .collect();
        let mut peers = Vec::new();
        for t in tasks {
            peers.push(t.await.expect("peer task"));
        }
        peers
    });
    let received: usize = peers.iter().map(|(_, r)| r).sum();
    std::thread::sleep(Duration::from_secs(2));
    let (rss, anon) = memory(child.id());
    println!(
        "  {n} peers held ({received} msgs sent, {} live streams): VmRSS {rss:6.1} MiB  \
         RssAnon {anon:6.1} MiB",
        n as usize * feeds.len()
    );
    println!(
        "  extra for {n} peers: VmRSS {:+.1} MiB  RssAnon {:+.1} MiB ({:.0} KiB per peer)  load {}",
        rss - rss0,
        anon - anon0,
        (anon - anon0) * 1024.0 / f64::from(n),
        load_average()
    );
    drop(peers);
    let _ = child.kill();
    let _ = child.wait();
}
