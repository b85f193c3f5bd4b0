//! The ingest task: batches messages from all peers, drops duplicates, buffers early arrivals
//! (bounded, per feed), stores the rest through `Db::add_batch`, and hangs up on peers whose
//! messages are refused.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use sluice_msg::{FeedId, Message};
use sluice_views::Outcome;
use tokio::sync::{mpsc, oneshot};

use super::{Inner, Stats, db_err};
use crate::error::Error;
use crate::muxrpc::Rpc;

/// Messages handed to one `add_batch` call at most.
const BATCH: usize = 4096;

/// The peer a message came from.
pub(super) struct Origin {
    pub(super) peer: FeedId,
    pub(super) rpc: Rpc,
}

impl Origin {
    /// Hangs up on this peer, logging why.
    pub(super) fn hang_up(&self, inner: &Inner, why: &Error) {
        if !self.rpc.is_closed() {
            tracing::warn!(peer = %self.peer, reason = %why, "closing connection");
            Stats::bump(&inner.stats.peers_dropped, 1);
        }
        self.rpc.abort();
    }
}

/// What the ingest task receives.
#[expect(
    clippy::large_enum_variant,
    reason = "messages are the common case; boxing each would add an allocation per message"
)]
pub(super) enum Incoming {
    /// A message and the peer that sent it.
    Msg(Message, Arc<Origin>),
    /// Answer once everything before this was processed.
    Flush(oneshot::Sender<()>),
}

/// Early arrivals, per feed by sequence.
#[derive(Default)]
struct Pending {
    feeds: HashMap<FeedId, BTreeMap<u64, (Message, Arc<Origin>)>>,
}

/// Runs until every sender is gone.
pub(super) async fn run(inner: Arc<Inner>, mut rx: mpsc::Receiver<Incoming>) {
    let mut pending = Pending::default();
    let mut flushes = Vec::new();
    while let Some(first) = rx.recv().await {
        let mut touched = Vec::new();
        let mut next = Some(first);
        while let Some(item) = next {
            match item {
                Incoming::Msg(msg, origin) => touched.push(pending.insert(msg, origin)),
                Incoming::Flush(tx) => flushes.push(tx),
            }
            next = (touched.len() < BATCH)
                .then(|| rx.try_recv().ok())
                .flatten();
        }
        let worker = inner.clone();
        let done = tokio::task::spawn_blocking(move || {
            pending.store(&worker, touched);
            pending
        });
        pending = match done.await {
            Ok(p) => p,
            Err(e) => {
                tracing::error!(error = %e, "the ingest worker panicked; replication stops");
                return;
            }
        };
        for tx in flushes.drain(..) {
            let _ = tx.send(());
        }
    }
}

impl Pending {
    fn insert(&mut self, msg: Message, origin: Arc<Origin>) -> FeedId {
        let feed = msg.author();
        self.feeds
            .entry(feed)
            .or_default()
            .insert(msg.sequence(), (msg, origin));
        feed
    }

    /// Stores the contiguous runs of the touched feeds; keeps the early rest (bounded).
    fn store(&mut self, inner: &Inner, mut touched: Vec<FeedId>) {
        touched.sort_unstable();
        touched.dedup();
        let mut batch = Vec::new();
        let mut origins = Vec::new();
        for feed in touched {
            self.take_ready(inner, feed, &mut batch, &mut origins);
        }
        if batch.is_empty() {
            return;
        }
        Stats::bump(&inner.stats.batches, 1);
        match inner.db.add_batch(batch, inner.config.verify) {
            Ok(outcomes) => judge(inner, &outcomes, &origins),
            Err(e) => tracing::error!(error = %db_err(e), "storing replicated messages failed"),
        }
    }

    /// Moves the feed's run that continues the stored chain into `batch`.
    fn take_ready(
        &mut self,
        inner: &Inner,
        feed: FeedId,
        batch: &mut Vec<Message>,
        origins: &mut Vec<Arc<Origin>>,
    ) {
        let Some(queue) = self.feeds.get_mut(&feed) else {
            return;
        };
        let latest = match inner.latest(&feed) {
            Ok(l) => l,
            Err(e) => return tracing::error!(error = %e, "reading a feed's state failed"),
        };
        let mut expect = latest + 1;
        let stale: Vec<u64> = queue.range(..expect).map(|(s, _)| *s).collect();
        Stats::bump(&inner.stats.duplicates, stale.len() as u64);
        stale.iter().for_each(|s| drop(queue.remove(s)));
        while let Some((msg, origin)) = queue.remove(&expect) {
            batch.push(msg);
            origins.push(origin);
            expect += 1;
        }
        if queue.len() > inner.config.max_early {
            flood(inner, queue);
        }
        if queue.is_empty() {
            self.feeds.remove(&feed);
        }
    }
}

/// Too many early arrivals for one feed: drop them and hang up on whoever sent them.
fn flood(inner: &Inner, queue: &mut BTreeMap<u64, (Message, Arc<Origin>)>) {
    let why = Error::Misbehaved(format!(
        "flooded {} out-of-sequence messages (the limit is {})",
        queue.len(),
        inner.config.max_early
    ));
    let mut seen = Vec::new();
    for (_, (_, origin)) in std::mem::take(queue) {
        if !seen.iter().any(|o: &Arc<Origin>| Arc::ptr_eq(o, &origin)) {
            origin.hang_up(inner, &why);
            seen.push(origin);
        }
    }
}

/// Counts outcomes and hangs up on the senders of refused messages.
fn judge(inner: &Inner, outcomes: &[Outcome], origins: &[Arc<Origin>]) {
    for (outcome, origin) in outcomes.iter().zip(origins) {
        match outcome {
            Outcome::Appended(_) => Stats::bump(&inner.stats.appended, 1),
            Outcome::AlreadyPresent => Stats::bump(&inner.stats.duplicates, 1),
            Outcome::Rejected(e) => {
                Stats::bump(&inner.stats.rejected, 1);
                let why = Error::Misbehaved(format!("sent an invalid message: {e}"));
                origin.hang_up(inner, &why);
            }
            _ => {}
        }
    }
}
