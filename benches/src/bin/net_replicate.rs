//! sluice ↔ sluice replication of the medium fixture (100k messages, full verification) over
//! loopback TCP, with the serving node in a child process (two machines' roles) or in this
//! process (`--in-process`), over EBT (default) or one `createHistoryStream` per feed
//! (`--history`). Prints wall and CPU time (user + sys) of each side per round, and the load
//! average. Run: `cargo run --release -p sluice-benches --bin net_replicate
//! [-- --in-process] [--history] [--rounds N]`.

use std::path::Path;
use std::process::Child;
use std::sync::Arc;
use std::time::Instant;

use sluice_benches::net_child::{
    fetch_once, fill, medium_jsonl, parse_jsonl, serve, server_key, spawn_server,
};
use sluice_benches::proc_stat::{cpu_seconds, load_average};
use sluice_msg::FeedId;
use sluice_net::{Listener, MultiAddr, Node, NodeConfig, Options};
use sluice_views::Db;

/// The `sluice` binary's allocator (`sluice serve` / `sluice replicate` run with it).
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

/// Fills a database in `dir` with the medium fixture; returns its feeds and message count.
fn fill_source(dir: &Path) -> (Vec<FeedId>, u64) {
    let feeds = fill(dir, parse_jsonl(&medium_jsonl()));
    let total = feeds.iter().map(|(_, n)| n).sum();
    (feeds.into_iter().map(|(f, _)| f).collect(), total)
}

/// One round: an empty node fetches every feed from `addr`; returns the messages stored.
async fn replicate(addr: &MultiAddr, feeds: &[FeedId]) -> u64 {
    let (node, _dir) = fetch_once(addr, feeds).await;
    let stats = node.stats();
    let batches = stats.batches.load(std::sync::atomic::Ordering::Relaxed);
    println!(
        "  {batches} add_batch calls, {:.0} msgs each on average",
        stats.snapshot().1 as f64 / batches.max(1) as f64
    );
    stats.snapshot().1
}

fn rounds() -> usize {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == "--rounds")
        .and_then(|i| args.get(i + 1))
        .and_then(|n| n.parse().ok())
        .unwrap_or(3)
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    if let Some(i) = args.iter().position(|a| a == "--serve") {
        return rt.block_on(serve(Path::new(&args[i + 1]), Options::default()));
    }
    let in_process = args.iter().any(|a| a == "--in-process");
    let dir = tempfile::tempdir().expect("tempdir");
    let (feeds, total) = fill_source(dir.path());
    let (child, addr) = match in_process {
        true => (None, rt.block_on(in_process_server(dir.path()))),
        false => {
            let (c, a) = spawn_server(dir.path());
            (Some(c), a)
        }
    };
    let server_pid = child.as_ref().map(Child::id);
    println!(
        "net_replicate: {total} msgs, {} feeds, {}, server {}",
        feeds.len(),
        match std::env::args().any(|a| a == "--history") {
            true => "createHistoryStream",
            false => "EBT",
        },
        if in_process {
            "in process"
        } else {
            "child process"
        }
    );
    for _ in 0..rounds() {
        round(&rt, &addr, &feeds, total, server_pid);
    }
    if let Some(mut c) = child {
        let _ = c.kill();
        let _ = c.wait();
    }
}

fn round(
    rt: &tokio::runtime::Runtime,
    addr: &MultiAddr,
    feeds: &[FeedId],
    total: u64,
    server: Option<u32>,
) {
    let server_cpu = || server.map_or(0.0, |p| cpu_seconds(&format!("/proc/{p}/stat")));
    let (cpu, srv, wall) = (cpu_seconds("/proc/self/stat"), server_cpu(), Instant::now());
    let stored = rt.block_on(replicate(addr, feeds));
    let wall = wall.elapsed().as_secs_f64();
    let (cpu, srv) = (cpu_seconds("/proc/self/stat") - cpu, server_cpu() - srv);
    assert_eq!(stored, total, "every message stored");
    let who = if server.is_some() { "fetcher" } else { "both" };
    println!(
        "replicate {total} msgs: wall {wall:.3} s  cpu {who} {cpu:.2} s  server {srv:.2} s  \
         ({:.0} msgs/s)  load {}",
        total as f64 / wall,
        load_average()
    );
}

async fn in_process_server(dir: &Path) -> MultiAddr {
    let db = Arc::new(Db::open(dir).expect("open"));
    let node = Node::new(db, server_key(), NodeConfig::default());
    let listener = Listener::bind("127.0.0.1:0", server_key(), Options::default())
        .await
        .expect("bind");
    let addr = listener.multiaddr().expect("addr");
    tokio::spawn(async move { node.serve(listener).await });
    addr
}
