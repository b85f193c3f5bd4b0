//! sluice fetching from a real ssb-server 16: the server (`tests/js/server/server.js
//! --import`, the interop tests' server) holds the first `--msgs N` messages of the medium
//! fixture (default 10,000, all 150 feeds); an empty sluice node fetches them all (full
//! verification), `--rounds R` times. Prints wall time and the CPU time (user + sys) of the
//! server process and of this process per round: whichever is busy for most of the wall time
//! limits the fetch. Needs node and `npm ci --prefix tests/js/server`; says so and exits
//! without them. Replicates over EBT, or with `--history` one `createHistoryStream` per feed.
//! Run: `cargo run --release -p sluice-benches --bin net_ssb_server [-- --msgs N] [--history]`.

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Instant;

use serde_json::Value;
use sluice_benches::net_child::{fetch_once, medium_jsonl};
use sluice_benches::proc_stat::{cpu_seconds, load_average};
use sluice_msg::FeedId;
use sluice_net::MultiAddr;

/// The `sluice` binary's allocator (`sluice serve` / `sluice replicate` run with it).
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// The first `n` lines of the medium fixture, and the feeds they hold.
fn fixture_prefix(n: usize) -> (Vec<u8>, Vec<FeedId>) {
    let jsonl = medium_jsonl();
    let lines: Vec<&[u8]> = jsonl
        .split(|&b| b == b'\n')
        .filter(|l| !l.is_empty())
        .take(n)
        .collect();
    let mut feeds: Vec<FeedId> = lines
        .iter()
        .map(|l| {
            let entry: Value = serde_json::from_slice(l).expect("JSON");
            entry["value"]["author"]
                .as_str()
                .and_then(|a| a.parse().ok())
                .expect("author")
        })
        .collect();
    feeds.sort_unstable();
    feeds.dedup();
    (lines.join(&b'\n'), feeds)
}

/// Why the bench cannot run here, if it cannot.
fn missing_node() -> Option<&'static str> {
    let node = Command::new("node").arg("--version").output();
    if !node.is_ok_and(|o| o.status.success()) {
        return Some("node is not installed");
    }
    let modules = repo().join("tests/js/server/node_modules/ssb-server");
    (!modules.exists()).then_some("run `npm ci --prefix tests/js/server` first")
}

fn free_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind a loopback port");
    l.local_addr().expect("local addr").port()
}

/// Starts the server on `msgs` and waits until it holds them all; returns its ready line.
fn start_server(dir: &Path, msgs: &Path) -> (Child, Value) {
    let mut child = Command::new("node")
        .current_dir(repo())
        .arg("tests/js/server/server.js")
        .args(["--dir".as_ref(), dir.as_os_str()])
        .args(["--port", &free_port().to_string()])
        .args(["--import".as_ref(), msgs.as_os_str()])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("start node tests/js/server/server.js");
    let out = child.stdout.take().expect("piped stdout");
    let mut line = String::new();
    BufReader::new(out)
        .read_line(&mut line)
        .expect("ready line");
    let ready: Value = serde_json::from_str(&line).expect("the ready line is JSON");
    (child, ready)
}

/// One round: an empty sluice node fetches `feeds` from the server; returns the messages stored.
async fn fetch(addr: &MultiAddr, feeds: &[FeedId]) -> u64 {
    let (node, _dir) = fetch_once(addr, feeds).await;
    let (received, appended, duplicates, rejected) = node.stats().snapshot();
    if appended != received || duplicates + rejected > 0 {
        println!(
            "  received {received}, stored {appended}, duplicates {duplicates}, rejected {rejected}"
        );
    }
    print_batches(node.stats());
    appended
}

/// The mean `add_batch` size: small batches mean sluice stored messages as fast as they came.
fn print_batches(stats: &sluice_net::Stats) {
    let batches = stats.batches.load(std::sync::atomic::Ordering::Relaxed);
    let appended = stats.snapshot().1;
    println!(
        "  {batches} add_batch calls, {:.0} msgs each on average",
        appended as f64 / batches.max(1) as f64
    );
}

fn arg(name: &str, default: usize) -> usize {
    let args: Vec<String> = std::env::args().collect();
    let i = args.iter().position(|a| a == name);
    i.and_then(|i| args.get(i + 1)?.parse().ok())
        .unwrap_or(default)
}

fn main() {
    if let Some(why) = missing_node() {
        println!("net_ssb_server: skipped: {why}");
        return;
    }
    let (n, rounds) = (arg("--msgs", 10_000), arg("--rounds", 3));
    let work = tempfile::tempdir().expect("tempdir");
    let (jsonl, feeds) = fixture_prefix(n);
    let msgs = work.path().join("msgs.jsonl");
    std::fs::write(&msgs, jsonl).expect("write the messages");
    let (mut server, ready) = start_server(&work.path().join("server"), &msgs);
    let addr: MultiAddr = ready["address"]
        .as_str()
        .and_then(|a| a.parse().ok())
        .expect("the ready line has a multiserver address");
    println!(
        "net_ssb_server: ssb-server holds {} msgs of {} feeds (added in {} ms)",
        ready["added"],
        feeds.len(),
        ready["add_ms"]
    );
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    for _ in 0..rounds {
        round(&rt, &addr, &feeds, server.id());
    }
    // Closing its stdin stops the server.
    drop(server.stdin.take().map(|mut s| s.flush()));
    let _ = server.kill();
    let _ = server.wait();
}

fn round(rt: &tokio::runtime::Runtime, addr: &MultiAddr, feeds: &[FeedId], server: u32) {
    let server_stat = format!("/proc/{server}/stat");
    let (ours, theirs) = (cpu_seconds("/proc/self/stat"), cpu_seconds(&server_stat));
    let wall = Instant::now();
    let stored = rt.block_on(fetch(addr, feeds));
    let wall = wall.elapsed().as_secs_f64();
    let ours = cpu_seconds("/proc/self/stat") - ours;
    let theirs = cpu_seconds(&server_stat) - theirs;
    println!(
        "fetched {stored} msgs: wall {wall:.2} s ({:.0} msgs/s)  cpu ssb-server {theirs:.2} s \
         ({:.0} % of wall)  cpu sluice {ours:.2} s ({:.0} % of wall)  load {}",
        stored as f64 / wall,
        100.0 * theirs / wall,
        100.0 * ours / wall,
        load_average()
    );
}
