//! The fetch side of replication: one `createHistoryStream` per wanted feed, from the stored
//! latest sequence + 1, whose messages go to the ingest task.

use std::collections::BTreeSet;
use std::sync::Arc;

use serde_json::json;
use sluice_msg::{FeedId, Message, ValidationError};
use tokio::task::JoinSet;

use super::ingest::{Incoming, Origin};
use super::{Inner, Stats};
use crate::error::{Error, Result};
use crate::muxrpc::Rpc;

/// What one fetch from a peer brought.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FetchReport {
    /// Feeds asked for.
    pub feeds: usize,
    /// Messages received (before validation and duplicate checks).
    pub messages: u64,
}

/// Fetches every wanted feed from the peer `who` over `rpc`; with `live`, keeps going (and
/// picks up newly wanted feeds) until the connection closes.
pub(super) async fn fetch_all(
    inner: &Arc<Inner>,
    rpc: &Rpc,
    who: FeedId,
    live: bool,
) -> Result<FetchReport> {
    let origin = Arc::new(Origin {
        peer: who,
        rpc: rpc.clone(),
    });
    let mut asked = BTreeSet::new();
    let mut tasks = JoinSet::new();
    let mut report = FetchReport::default();
    start_new(inner, &origin, live, &mut asked, &mut tasks)?;
    loop {
        let refresh = tokio::time::sleep(inner.config.refresh);
        tokio::select! {
            done = tasks.join_next() => match done {
                Some(result) => report.messages += task_result(result, &who),
                None if !live => break,
                None => rpc.closed().await,
            },
            () = refresh, if live => start_new(inner, &origin, live, &mut asked, &mut tasks)?,
            () = rpc.closed() => break,
        }
        if rpc.is_closed() {
            break;
        }
    }
    report.feeds = asked.len();
    Ok(report)
}

fn task_result(
    result: std::result::Result<Result<u64>, tokio::task::JoinError>,
    who: &FeedId,
) -> u64 {
    match result {
        Ok(Ok(n)) => n,
        Ok(Err(e)) => {
            tracing::debug!(peer = %who, error = %e, "a history stream failed");
            0
        }
        Err(e) => {
            tracing::warn!(peer = %who, error = %e, "a fetch task panicked");
            0
        }
    }
}

/// Opens a history stream for every wanted feed not asked for yet.
fn start_new(
    inner: &Arc<Inner>,
    origin: &Arc<Origin>,
    live: bool,
    asked: &mut BTreeSet<FeedId>,
    tasks: &mut JoinSet<Result<u64>>,
) -> Result<()> {
    let mut want = inner.wanted_feeds()?;
    if inner.config.peer_feed && !inner.blocked(&origin.peer) {
        want.insert(origin.peer);
    }
    for feed in want {
        if asked.insert(feed) {
            let (inner, origin) = (inner.clone(), origin.clone());
            tasks.spawn(async move { fetch_feed(&inner, &origin, feed, live).await });
        }
    }
    Ok(())
}

/// Fetches one feed; returns how many messages arrived.
async fn fetch_feed(inner: &Inner, origin: &Arc<Origin>, feed: FeedId, live: bool) -> Result<u64> {
    let from = inner.latest(&feed)? + 1;
    let args = json!([{"id": feed.to_string(), "seq": from, "live": live, "keys": false}]);
    let mut source = origin.rpc.source("createHistoryStream", args).await?;
    let mut count = 0;
    while let Some(item) = source.next_json_bytes().await {
        let msg = parse(&item?, &feed).inspect_err(|e| origin.hang_up(inner, e))?;
        count += 1;
        Stats::bump(&inner.stats.received, 1);
        let incoming = Incoming::Msg(msg, origin.clone());
        if inner.ingest.send(incoming).await.is_err() {
            break;
        }
    }
    Ok(count)
}

/// A history stream item: a message value (or `{key, value}`) of the feed asked for. Parsed
/// here, on the stream's own task, so the streams of many feeds parse in parallel; the text
/// goes straight to the message (no JSON tree when it allows).
fn parse(bytes: &[u8], feed: &FeedId) -> Result<Message> {
    let (msg, _) = Message::from_entry_slice(bytes).map_err(|e| match e {
        ValidationError::Json(e) => Error::Misbehaved(format!("sent a body that is not JSON: {e}")),
        e => Error::Misbehaved(format!("sent a malformed message: {e}")),
    })?;
    if msg.author() != *feed {
        return Err(Error::Misbehaved(format!(
            "sent a message of {} in the stream of {feed}",
            msg.author()
        )));
    }
    Ok(msg)
}
