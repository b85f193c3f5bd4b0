//! Live subscriptions: filtered, bounded channels of newly added messages.
//!
//! Ingest never blocks on a subscriber. Each subscription has a bounded channel; when a
//! message would not fit because the subscriber is not keeping up, the subscription is
//! dropped: its channel is closed (after the messages already queued are drained, `recv`
//! reports disconnection) and [`Subscription::lagged`] turns true. The subscriber then
//! catches up with a query (e.g. `Db::feed` from the last sequence it saw, or
//! `Db::messages_from` from the last offset it saw) and subscribes again.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crossbeam_channel::{Receiver, RecvTimeoutError, Sender, TrySendError};
use serde_json::Value;
use sluice_msg::{FeedId, Message, MsgId};

use crate::stored::StoredMsg;

/// Which new messages a subscription receives.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Filter {
    /// Every message.
    All,
    /// Messages by this author.
    Author(FeedId),
    /// Public messages with this `content.type`.
    Type(String),
    /// The root itself and messages whose `content.root`, or `content.tangles.<name>.root`,
    /// is this message.
    Tangle(MsgId),
    /// Public messages with a string value anywhere in their content equal to this ref
    /// (`%…`, `@…` or `&…`, as printed).
    Backlink(String),
}

impl Filter {
    /// Whether `msg` (stored, parsed from `source`) passes. Only the tangle and backlink
    /// filters read the content, so only they build the message's JSON value.
    fn matches(&self, msg: &StoredMsg, source: &Message) -> bool {
        let content = || (!source.is_encrypted()).then(|| source.content());
        let m = msg.as_msg();
        match self {
            Self::All => true,
            Self::Author(author) => m.author() == *author,
            Self::Type(ty) => m.content_type() == Some(ty.as_str()),
            Self::Tangle(root) => {
                m.id() == *root || content().is_some_and(|c| in_tangle(c, &root.to_string()))
            }
            Self::Backlink(target) => content().is_some_and(|c| links_to(c, target)),
        }
    }
}

fn in_tangle(content: &Value, root: &str) -> bool {
    if content.get("root").and_then(Value::as_str) == Some(root) {
        return true;
    }
    let Some(tangles) = content.get("tangles").and_then(Value::as_object) else {
        return false;
    };
    tangles
        .values()
        .any(|t| t.get("root").and_then(Value::as_str) == Some(root))
}

fn links_to(value: &Value, target: &str) -> bool {
    match value {
        Value::String(s) => s == target,
        Value::Array(items) => items.iter().any(|v| links_to(v, target)),
        Value::Object(map) => map.values().any(|v| links_to(v, target)),
        _ => false,
    }
}

/// A live feed of new messages matching a [`Filter`].
#[derive(Debug)]
pub struct Subscription {
    rx: Receiver<StoredMsg>,
    lagged: Arc<AtomicBool>,
}

impl Subscription {
    /// Blocks for the next message; `None` once the database is gone or this subscriber
    /// was dropped for lagging (see [`Subscription::lagged`]).
    pub fn recv(&self) -> Option<StoredMsg> {
        self.rx.recv().ok()
    }
    /// Waits up to `timeout`; `Err(true)` when disconnected, `Err(false)` on timeout.
    pub fn recv_timeout(&self, timeout: Duration) -> Result<StoredMsg, bool> {
        self.rx
            .recv_timeout(timeout)
            .map_err(|e| matches!(e, RecvTimeoutError::Disconnected))
    }
    /// The next message if one is queued.
    pub fn try_recv(&self) -> Option<StoredMsg> {
        self.rx.try_recv().ok()
    }
    /// True once ingest dropped this subscription because its channel was full.
    pub fn lagged(&self) -> bool {
        self.lagged.load(Ordering::Acquire)
    }
    /// The underlying channel, for `crossbeam_channel::select!`.
    pub fn receiver(&self) -> &Receiver<StoredMsg> {
        &self.rx
    }
}

#[derive(Debug)]
struct Subscriber {
    filter: Filter,
    tx: Sender<StoredMsg>,
    lagged: Arc<AtomicBool>,
}

/// Every live subscriber.
#[derive(Debug, Default)]
pub(crate) struct Hub {
    subs: Mutex<Vec<Subscriber>>,
}

impl Hub {
    pub(crate) fn subscribe(&self, filter: Filter, capacity: usize) -> Subscription {
        let (tx, rx) = crossbeam_channel::bounded(capacity.max(1));
        let lagged = Arc::new(AtomicBool::new(false));
        self.lock().push(Subscriber {
            filter,
            tx,
            lagged: Arc::clone(&lagged),
        });
        Subscription { rx, lagged }
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.lock().is_empty()
    }

    /// Offers new messages to every subscriber without blocking; drops full ones.
    pub(crate) fn publish(&self, msgs: &[(StoredMsg, &Message)]) {
        self.lock()
            .retain(|sub| msgs.iter().all(|(msg, source)| offer(sub, msg, source)));
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<Subscriber>> {
        self.subs
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// Sends if the filter matches; false when the subscriber must be dropped.
fn offer(sub: &Subscriber, msg: &StoredMsg, source: &Message) -> bool {
    if !sub.filter.matches(msg, source) {
        return true;
    }
    match sub.tx.try_send(msg.clone()) {
        Ok(()) => true,
        Err(TrySendError::Full(_)) => {
            sub.lagged.store(true, Ordering::Release);
            false
        }
        Err(TrySendError::Disconnected(_)) => false,
    }
}
