//! Anonymous memory each view takes once loaded, on an existing store:
//! `cargo run --release -p sluice-views --example view_memory -- DIR`. Opens the store
//! read-only, then runs one query per view (each loads only the views it reads, in the order
//! keys, feeds, types, contacts, tangles, backlinks) and prints the growth of the process's
//! anonymous resident memory (`RssAnon`, Linux) and the time each first query took.

use std::time::Instant;

use sluice_msg::{FeedId, MsgId, Ref};
use sluice_views::Db;

/// The process's anonymous resident memory in KiB.
fn anon_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").expect("/proc/self/status");
    status
        .lines()
        .find_map(|l| l.strip_prefix("RssAnon:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("RssAnon")
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dir = std::env::args().nth(1).ok_or("usage: view_memory DIR")?;
    let db = Db::open_read_only(&dir)?;
    let first = db.messages_from(0).next().ok_or("empty store")??;
    let (id, author): (MsgId, FeedId) = (first.id(), first.author());
    let mut last = anon_kib();
    println!("open: {last} KiB anonymous");
    let mut step = |view: &str, query: &mut dyn FnMut() -> Result<usize, sluice_views::Error>| {
        let start = Instant::now();
        let n = query()?;
        let took = start.elapsed();
        let now = anon_kib();
        println!(
            "{view:<10} +{:>7} KiB  first query {took:>10.2?}  ({n} results)",
            now.saturating_sub(last)
        );
        last = now;
        Ok::<(), sluice_views::Error>(())
    };
    step("keys", &mut || Ok(usize::from(db.get(&id)?.is_some())))?;
    step("feeds", &mut || Ok(db.feed(&author, 1, 10, false)?.len()))?;
    step("types", &mut || Ok(db.latest("post", 50)?.len()))?;
    step("contacts", &mut || Ok(db.follows(&author)?.len()))?;
    step("tangles", &mut || Ok(db.tangle(&id, None)?.members.len()))?;
    step("backlinks", &mut || {
        Ok(db.backlinks(&Ref::Msg(id), None)?.len())
    })?;
    println!("total: {} KiB anonymous", anon_kib());
    Ok(())
}
