//! `sluice serve` and `sluice replicate` as real processes on loopback: a store fetches every
//! feed of another, over EBT (the default) and over `createHistoryStream` (`--no-ebt`).

mod common;

use std::collections::BTreeSet;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use common::{export, import_ok, on, small, stdout_of};

/// How long the server may take to start listening.
const START: Duration = Duration::from_secs(30);

/// A `sluice serve` child, killed when dropped.
struct Server {
    child: Child,
    addr: String,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts `sluice --db DB serve` on a free loopback port; returns once it prints its address.
fn serve(db: &Path) -> Server {
    let mut child = Command::new(env!("CARGO_BIN_EXE_sluice"))
        .env_remove("SLUICE_DB")
        .env_remove("RUST_LOG")
        .arg("--db")
        .arg(db)
        .args(["serve", "--listen", "127.0.0.1:0"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start sluice serve");
    let stderr = child.stderr.take().expect("piped stderr");
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if let Some(addr) = line.strip_prefix("listening on ") {
                let _ = tx.send(addr.trim().to_owned());
            }
        }
    });
    let mut server = Server {
        child,
        addr: String::new(),
    };
    server.addr = rx
        .recv_timeout(START)
        .expect("sluice serve printed no `listening on` line in time");
    server
}

/// Every stored message of `db` as its `{key, value}` pair (receive timestamps differ by store).
fn messages(db: &Path) -> BTreeSet<String> {
    export(db)
        .lines()
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).expect("export line is JSON");
            format!("{}{}", v["key"], v["value"])
        })
        .collect()
}

/// The authors of the small fixture.
fn authors() -> Vec<String> {
    let jsonl = std::fs::read_to_string(small("msgs.jsonl")).expect("small fixture");
    let set: BTreeSet<String> = jsonl
        .lines()
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).expect("fixture line");
            v["value"]["author"].as_str().expect("author").to_owned()
        })
        .collect();
    set.into_iter().collect()
}

/// Replicates every fixture feed from `server` into a fresh store with `extra` flags.
fn fetch_all(server: &Server, extra: &[&str]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut cmd = on(dir.path(), &["replicate", "--once", "--hops", "0"]);
    for author in authors() {
        cmd.args(["--feed", &author]);
    }
    cmd.args(extra)
        .arg(&server.addr)
        .timeout(Duration::from_secs(120));
    stdout_of(&mut cmd);
    dir
}

#[test]
fn replicate_fetches_every_feed_over_ebt_and_history_streams() {
    let source = tempfile::tempdir().expect("tempdir");
    import_ok(source.path(), &small("msgs.jsonl"));
    let server = serve(source.path());
    let want = messages(source.path());
    assert_eq!(want.len(), 1000);

    let ebt = fetch_all(&server, &[]);
    assert_eq!(messages(ebt.path()), want, "over EBT");
    let history = fetch_all(&server, &["--no-ebt"]);
    assert_eq!(messages(history.path()), want, "over createHistoryStream");

    // The fetched stores are whole stores: fsck finds nothing wrong.
    for dir in [ebt.path(), history.path()] {
        on(dir, &["fsck"]).assert().success();
    }
}
