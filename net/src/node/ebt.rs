//! EBT replication (`ebt.replicate`, version 3, classic feeds) over one duplex stream: vector
//! clocks ("notes") both ways, then the messages each side asked for, stored and live.
//!
//! A note for a feed is `-1` ("I do not replicate this feed") or `seq << 1 | flag`, where `seq`
//! is the latest sequence the sender holds and the flag says whether it wants messages: 0 =
//! "send me what comes after `seq`", 1 = "don't send, I only tell you where I am"
//! (epidemic-broadcast-trees `v3.js`: `note(seq, rx) = seq << 1 | !rx`). The side that was
//! called sends its clock first; the caller waits for it, then answers with its own (as
//! ssb-ebt does). Later notes are partial updates. Messages travel as bare message values, in
//! feed order, only for feeds the receiver asked for.
//!
//! A session has two halves, so neither direction can stall the other: the receiving half
//! parses notes and messages (messages go to the node's one ingest task, which validates,
//! orders and de-duplicates them); the sending half sends notes and streams messages from the
//! database, woken by the receiving half and by the node's live fan-out. They share a small
//! state behind a mutex whose maps only hold feeds this node stores or wants, so a peer cannot
//! grow them with made-up feeds.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{Map, Value, json};
use sluice_msg::{FeedId, Message};
use sluice_views::StoredMsg;
use tokio::sync::Notify;
use tokio::sync::broadcast::{self, error::RecvError, error::TryRecvError};
use tokio::time::Instant;

use super::ingest::{Incoming, Origin};
use super::{FetchReport, Inner, Live, Stats, db_err, lock};
use crate::error::{Error, Result};
use crate::muxrpc::{Request, Rpc, Sink, Source};

/// How long a caller waits for the called side's first clock before giving up on EBT.
const FIRST_CLOCK: Duration = Duration::from_secs(10);
/// A `once` session that hears nothing for this long has everything the peer will send.
const ONCE_QUIET: Duration = Duration::from_secs(3);
/// Messages read from the database and sent per step.
const PAGE: usize = 256;
/// Notes per clock we send (~60 bytes each), so no packet gets near a peer's size limit.
const NOTES_PER_CLOCK: usize = 4096;
/// Live events handled per wake-up of the sending half.
const LIVE_BATCH: usize = 1024;
/// Feeds a peer may name that we neither hold nor want (each costs an entry in the session's
/// state); more is a flood and the peer is hung up on.
const MAX_UNKNOWN: usize = 100_000;
/// How often an idle sending half re-checks the feeds the peer receives (a safety net should a
/// live notification arrive before its message is readable).
const CHECK: Duration = Duration::from_secs(1);

/// The note for "I hold `seq`", asking for more (`receive`) or not.
fn note(seq: u64, receive: bool) -> i64 {
    let seq = i64::try_from(seq).unwrap_or(i64::MAX >> 1);
    (seq << 1) | i64::from(!receive)
}

/// What a peer's note says: `None` = it does not replicate the feed, else (its sequence,
/// whether it wants messages).
fn read_note(n: i64) -> Option<(u64, bool)> {
    let seq = u64::try_from(n >> 1).ok()?;
    (n >= 0).then_some((seq, n & 1 == 0))
}

/// How a session we asked for ended.
#[derive(Debug)]
pub(super) enum Called {
    /// The peer spoke EBT; this is what arrived.
    Replicated(FetchReport),
    /// The peer refused or ignored the call: fall back to `createHistoryStream`.
    Refused(Error),
}

/// Calls `ebt.replicate` on a peer we dialed and runs the session until the connection ends
/// (with `once`: until we hold what the peer had when it sent its clock).
pub(super) async fn call(
    inner: &Arc<Inner>,
    rpc: &Rpc,
    peer: FeedId,
    once: bool,
) -> Result<Called> {
    let args = json!([{"version": 3, "format": "classic"}]);
    let (sink, mut source) = rpc.duplex("ebt.replicate", args).await?;
    let first = match tokio::time::timeout(FIRST_CLOCK, source.next()).await {
        Err(_) => {
            return Ok(Called::Refused(Error::Timeout(
                "waiting for the first EBT clock",
            )));
        }
        Ok(None) => {
            let what = "the stream ended before the first clock";
            let method = "ebt.replicate".to_owned();
            return Ok(Called::Refused(Error::UnexpectedReply { method, what }));
        }
        Ok(Some(Err(e @ Error::Remote { .. }))) => return Ok(Called::Refused(e)),
        Ok(Some(Err(e))) => return Err(e),
        Ok(Some(Ok(first))) => first,
    };
    let session = Session::new(inner, rpc, peer, once)?;
    let _active = Active::enter(inner, peer);
    session
        .on_item(first)
        .await
        .inspect_err(|e| session.hang_up(e))?;
    session.say_hello();
    Ok(Called::Replicated(session.run(sink, source).await))
}

/// Answers a peer's `ebt.replicate` call (we send our clock first).
pub(super) fn answer(inner: Arc<Inner>, peer: FeedId, req: Request) {
    if let Err(why) = check_args(&req.args) {
        return req.reject(why);
    }
    let rpc = req.connection();
    let Request { sink, input, .. } = req;
    let Some(source) = input else {
        return sink.error_now("ebt.replicate is a duplex call");
    };
    tokio::spawn(async move {
        let session = match Session::new(&inner, &rpc, peer, false) {
            Ok(s) => s,
            Err(e) => return sink.error_now(&format!("cannot replicate now: {e}")),
        };
        let _active = Active::enter(&inner, peer);
        session.say_hello();
        session.run(sink, source).await;
    });
}

/// Accepts `[{version: 3, format?: "classic"}]`.
fn check_args(args: &[Value]) -> std::result::Result<(), &'static str> {
    let opts = args.first().and_then(Value::as_object);
    let version = opts.and_then(|o| o.get("version")).and_then(Value::as_u64);
    let format = opts.and_then(|o| o.get("format")).and_then(Value::as_str);
    match (version, format) {
        (Some(3), None | Some("classic")) => Ok(()),
        (Some(3), Some(_)) => Err("ebt.replicate: only the classic format is supported"),
        _ => Err("ebt.replicate: expected [{version: 3, format: \"classic\"}]"),
    }
}

/// Counts this node's running EBT sessions per peer while alive.
struct Active {
    inner: Arc<Inner>,
    peer: FeedId,
}

impl Active {
    fn enter(inner: &Arc<Inner>, peer: FeedId) -> Active {
        *lock(&inner.ebt_peers).entry(peer).or_default() += 1;
        Stats::bump(&inner.stats.ebt_sessions, 1);
        Active {
            inner: inner.clone(),
            peer,
        }
    }
}

impl Drop for Active {
    fn drop(&mut self) {
        let mut peers = lock(&self.inner.ebt_peers);
        if let Some(n) = peers.get_mut(&self.peer) {
            *n -= 1;
            if *n == 0 {
                peers.remove(&self.peer);
            }
        }
    }
}

/// What the two halves of a session share.
#[derive(Default)]
struct State {
    /// Feeds we replicate: own, follow graph within hops, explicit, the peer's (not blocked).
    want: BTreeSet<FeedId>,
    /// Feeds we block.
    blocked: BTreeSet<FeedId>,
    /// The latest sequence the peer holds, per feed it told us about (`None`: not replicated).
    theirs: HashMap<FeedId, Option<u64>>,
    /// Feeds the peer receives from us: the next sequence to send.
    sending: HashMap<FeedId, u64>,
    /// Feeds of `sending` that may have messages to send now.
    ready: BTreeSet<FeedId>,
    /// Notes waiting to be sent.
    notes: BTreeMap<FeedId, i64>,
    /// The last note queued per feed.
    told: HashMap<FeedId, i64>,
    /// Feeds we asked the peer to send; a message of any other feed breaks the protocol.
    asked: HashSet<FeedId>,
    /// Asked feeds the peer said nothing about yet.
    unanswered: HashSet<FeedId>,
    /// Asked feeds the peer holds beyond what we held then: the sequence it holds.
    expecting: HashMap<FeedId, u64>,
    /// Feeds the peer named that we neither hold nor want (answered with -1).
    unknown: usize,
    /// The first clock went out (sent even when empty).
    hello_sent: bool,
}

impl State {
    /// Queues a note unless the peer already has the same one from us.
    fn tell(&mut self, feed: FeedId, value: i64) {
        if self.told.insert(feed, value) != Some(value) {
            self.notes.insert(feed, value);
        }
    }

    /// Asks the peer for `feed` after `ours`.
    fn ask(&mut self, feed: FeedId, ours: u64) {
        self.tell(feed, note(ours, true));
        if self.asked.insert(feed) {
            self.unanswered.insert(feed);
        }
        self.track(feed, ours);
    }

    /// Keeps `unanswered` and `expecting` in step with what was asked and answered.
    fn track(&mut self, feed: FeedId, ours: u64) {
        if !self.asked.contains(&feed) {
            return;
        }
        let Some(theirs) = self.theirs.get(&feed) else {
            return;
        };
        self.unanswered.remove(&feed);
        match *theirs {
            Some(t) if t > ours => {
                self.expecting.insert(feed, t);
            }
            _ => {
                self.expecting.remove(&feed);
            }
        }
    }

    /// The peer holds `feed` up to `seq` (it sent or acknowledged it).
    fn peer_has(&mut self, feed: FeedId, seq: u64) {
        let theirs = self.theirs.entry(feed).or_insert(None);
        *theirs = Some(theirs.map_or(seq, |t| t.max(seq)));
        if let Some(next) = self.sending.get_mut(&feed) {
            *next = (*next).max(seq + 1);
        }
        if self.expecting.get(&feed).is_some_and(|t| *t <= seq) {
            self.expecting.remove(&feed);
        }
    }

    fn stop_sending(&mut self, feed: &FeedId) {
        self.sending.remove(feed);
        self.ready.remove(feed);
    }

    fn caught_up(&self) -> bool {
        self.unanswered.is_empty() && self.expecting.is_empty()
    }
}

/// One EBT session with one peer.
struct Session {
    inner: Arc<Inner>,
    origin: Arc<Origin>,
    once: bool,
    state: Mutex<State>,
    /// Wakes the sending half when the receiving half queued work.
    wake: Notify,
    /// Subscribed at creation, so nothing stored after the first clock is missed.
    live: Mutex<Option<broadcast::Receiver<Live>>>,
    received: AtomicU64,
}

impl Session {
    fn new(inner: &Arc<Inner>, rpc: &Rpc, peer: FeedId, once: bool) -> Result<Arc<Session>> {
        let origin = Arc::new(Origin {
            peer,
            rpc: rpc.clone(),
        });
        let session = Arc::new(Session {
            inner: inner.clone(),
            origin,
            once,
            state: Mutex::default(),
            wake: Notify::new(),
            live: Mutex::new(Some(inner.live.subscribe())),
            received: AtomicU64::new(0),
        });
        session.refresh()?;
        Ok(session)
    }

    fn hang_up(&self, why: &Error) {
        if matches!(why, Error::Misbehaved(_)) {
            self.origin.hang_up(&self.inner, why);
        }
    }

    /// Queues our first clock: every wanted feed, asking for what comes after our latest.
    fn say_hello(&self) {
        let mut st = lock(&self.state);
        let want: Vec<FeedId> = st.want.iter().copied().collect();
        for feed in want {
            let ours = self.inner.latest(&feed).unwrap_or(0);
            st.ask(feed, ours);
        }
        drop(st);
        self.wake.notify_one();
    }

    /// Re-reads the wanted and blocked feeds: asks for newly wanted ones, stops asking for
    /// unwanted ones, answers `-1` for blocked ones.
    fn refresh(&self) -> Result<()> {
        let mut want = match self.inner.config.fetch {
            true => self.inner.wanted_feeds()?,
            false => BTreeSet::new(),
        };
        let me = self.inner.me;
        let blocked: BTreeSet<FeedId> = self
            .inner
            .db
            .blocks(&me)
            .map_err(db_err)?
            .into_iter()
            .collect();
        let peer = self.origin.peer;
        if self.inner.config.fetch && self.inner.config.peer_feed && !blocked.contains(&peer) {
            want.insert(peer);
        }
        let mut st = lock(&self.state);
        let known: Vec<FeedId> = blocked
            .iter()
            .copied()
            .filter(|f| st.told.contains_key(f))
            .collect();
        for feed in known {
            st.stop_sending(&feed);
            st.tell(feed, -1);
        }
        let (fresh, dropped): (Vec<FeedId>, Vec<FeedId>) = match st.hello_sent {
            true => (
                want.difference(&st.want).copied().collect(),
                st.want
                    .difference(&want)
                    .filter(|f| !blocked.contains(f))
                    .copied()
                    .collect(),
            ),
            false => Default::default(),
        };
        (st.want, st.blocked) = (want, blocked);
        for feed in fresh {
            let ours = self.inner.latest(&feed).unwrap_or(0);
            st.ask(feed, ours);
        }
        // No longer wanted (unfollowed): tell where we are, without asking for more.
        for feed in dropped {
            let ours = self.inner.latest(&feed).unwrap_or(0);
            st.tell(feed, note(ours, false));
        }
        Ok(())
    }

    /// Runs both halves until the receiving one ends; returns what arrived.
    async fn run(self: Arc<Self>, sink: Sink, source: Source) -> FetchReport {
        let live = lock(&self.live).take();
        let sender = tokio::spawn(self.clone().send_half(sink, live));
        if let Err(e) = self.receive_half(source).await {
            self.hang_up(&e);
            tracing::info!(peer = %self.origin.peer, error = %e, "EBT session ended");
        }
        sender.abort();
        let st = lock(&self.state);
        FetchReport {
            feeds: st.asked.len(),
            messages: self.received.load(Ordering::Relaxed),
        }
    }

    /// Reads the peer's notes and messages until the stream ends (or, `once`, we caught up).
    async fn receive_half(&self, mut source: Source) -> Result<()> {
        loop {
            if self.once && lock(&self.state).caught_up() {
                return Ok(());
            }
            let next = match self.once {
                true => tokio::time::timeout(ONCE_QUIET, source.next_json_bytes()).await,
                false => Ok(source.next_json_bytes().await),
            };
            match next {
                Err(_) | Ok(None) => return Ok(()),
                Ok(Some(bytes)) => self.on_bytes(&bytes?).await?,
            }
        }
    }

    /// An item as the peer sent it. A message (an object whose first member is `previous`,
    /// as in every valid message) goes to the tree-free parser; anything else is parsed as
    /// JSON and read as a clock (or refused).
    async fn on_bytes(&self, bytes: &[u8]) -> Result<()> {
        if bytes.trim_ascii_start().starts_with(b"{\"previous\"") {
            let msg = Message::parse(bytes)
                .map_err(|e| Error::Misbehaved(format!("sent a malformed message: {e}")))?;
            return self.on_msg(msg).await;
        }
        let item = serde_json::from_slice(bytes).map_err(|_| garbage("a body that is not JSON"))?;
        self.on_item(item).await
    }

    async fn on_item(&self, item: Value) -> Result<()> {
        match item {
            Value::Object(o) if o.contains_key("author") => self.on_message(Value::Object(o)).await,
            Value::Object(mut o) => match o.remove("clock") {
                Some(Value::Object(clock)) => self.on_notes(clock),
                Some(_) => Err(garbage("a `clock` that is not an object")),
                None => self.on_notes(o),
            },
            _ => Err(garbage("something that is neither a clock nor a message")),
        }
    }

    /// A clock (full or partial) from the peer.
    fn on_notes(&self, clock: Map<String, Value>) -> Result<()> {
        let mut notes = Vec::with_capacity(clock.len());
        for (key, value) in clock {
            let feed: FeedId = key
                .parse()
                .map_err(|_| garbage(&format!("a clock with the key {key:?}, not a feed id")))?;
            let n = value
                .as_i64()
                .filter(|n| *n >= -1)
                .ok_or_else(|| garbage(&format!("the clock value {value} for {feed}")))?;
            notes.push((feed, n));
        }
        let mut st = lock(&self.state);
        for (feed, n) in notes {
            self.on_note(&mut st, feed, n)?;
        }
        drop(st);
        self.wake.notify_one();
        Ok(())
    }

    fn on_note(&self, st: &mut State, feed: FeedId, n: i64) -> Result<()> {
        let ours = self.inner.latest(&feed)?;
        let wanted = st.want.contains(&feed);
        if st.blocked.contains(&feed) || !(wanted || ours > 0) {
            if !st.told.contains_key(&feed) {
                st.unknown += 1;
            }
            if st.unknown > MAX_UNKNOWN {
                let why = format!("named more than {MAX_UNKNOWN} feeds we neither hold nor want");
                return Err(Error::Misbehaved(why));
            }
            st.stop_sending(&feed);
            st.tell(feed, -1);
            return Ok(());
        }
        let said = read_note(n);
        match said {
            None => {
                st.theirs.insert(feed, None);
            }
            Some((seq, _)) => st.peer_has(feed, seq),
        }
        st.track(feed, ours);
        match said {
            Some((seq, true)) if self.inner.config.serve => self.start_sending(st, feed, seq),
            _ => st.stop_sending(&feed),
        }
        let receives = matches!(said, Some((_, true)));
        let behind = said.is_some_and(|(seq, _)| seq < ours);
        if wanted && !st.told.contains_key(&feed) {
            st.ask(feed, ours);
        } else if !st.told.contains_key(&feed) || (behind && !receives) {
            st.tell(feed, note(ours, wanted));
        }
        Ok(())
    }

    fn start_sending(&self, st: &mut State, feed: FeedId, seq: u64) {
        let next = st.sending.entry(feed).or_insert(seq + 1);
        *next = (*next).max(seq + 1);
        st.ready.insert(feed);
    }

    /// A message from the peer: checked against what we asked for, then handed to ingest.
    async fn on_message(&self, value: Value) -> Result<()> {
        let msg = Message::from_value(value)
            .map_err(|e| Error::Misbehaved(format!("sent a malformed message: {e}")))?;
        self.on_msg(msg).await
    }

    /// A parsed message from the peer: checked against what we asked for, then ingested.
    async fn on_msg(&self, msg: Message) -> Result<()> {
        let (feed, seq) = (msg.author(), msg.sequence());
        {
            let mut st = lock(&self.state);
            if !st.asked.contains(&feed) {
                let why = format!("sent message {seq} of {feed}, which was not asked for");
                return Err(Error::Misbehaved(why));
            }
            st.peer_has(feed, seq);
            if st.blocked.contains(&feed) {
                return Ok(());
            }
        }
        self.received.fetch_add(1, Ordering::Relaxed);
        Stats::bump(&self.inner.stats.received, 1);
        Stats::bump(&self.inner.stats.ebt_received, 1);
        let incoming = Incoming::Msg(msg, self.origin.clone());
        self.inner
            .ingest
            .send(incoming)
            .await
            .map_err(|_| Error::ConnectionClosed)
    }

    /// Sends notes and messages until the connection or the stream closes.
    async fn send_half(self: Arc<Self>, sink: Sink, live: Option<broadcast::Receiver<Live>>) {
        let Some(mut live) = live else { return };
        let mut next_refresh = Instant::now() + self.inner.config.refresh;
        while !sink.is_closed() {
            if let Err(e) = self.send_pending(&sink).await {
                tracing::debug!(peer = %self.origin.peer, error = %e, "EBT sending stopped");
                return;
            }
            tokio::select! {
                () = self.wake.notified() => {}
                event = live.recv() => if !self.on_live(event, &mut live) { return },
                () = tokio::time::sleep(CHECK) => self.recheck(),
                () = tokio::time::sleep_until(next_refresh) => {
                    next_refresh = Instant::now() + self.inner.config.refresh;
                    if let Err(e) = self.refresh() {
                        tracing::warn!(error = %e, "could not re-read the wanted feeds");
                    }
                }
                () = self.origin.rpc.closed() => return,
            }
        }
    }

    /// Sends queued notes, then messages of every ready feed.
    async fn send_pending(&self, sink: &Sink) -> Result<()> {
        loop {
            while let Some(notes) = self.take_notes() {
                sink.send(notes).await?;
            }
            if !self.send_page(sink).await? {
                return Ok(());
            }
        }
    }

    /// The next clock to send (the first one even when empty), at most [`NOTES_PER_CLOCK`] notes.
    fn take_notes(&self) -> Option<Value> {
        let mut st = lock(&self.state);
        if st.notes.is_empty() && st.hello_sent {
            return None;
        }
        st.hello_sent = true;
        let mut notes = std::mem::take(&mut st.notes);
        if let Some(first_left) = notes.keys().nth(NOTES_PER_CLOCK).copied() {
            st.notes = notes.split_off(&first_left);
        }
        Some(Value::Object(
            notes
                .into_iter()
                .map(|(f, n)| (f.to_string(), json!(n)))
                .collect(),
        ))
    }

    /// Sends one page of one ready feed; false when no feed is ready.
    async fn send_page(&self, sink: &Sink) -> Result<bool> {
        let picked = {
            let mut st = lock(&self.state);
            let Some(feed) = st.ready.pop_first() else {
                return Ok(false);
            };
            st.sending.get(&feed).map(|next| (feed, *next))
        };
        let Some((feed, from)) = picked else {
            return Ok(true);
        };
        // Stored bytes go out as they are (no parse and re-encode), one write per page.
        let msgs = self
            .inner
            .db
            .feed(&feed, from, PAGE, false)
            .map_err(db_err)?;
        let sent = msgs.len();
        if sent > 0 {
            let items: Vec<&[u8]> = msgs.iter().map(|m| m.value_json()).collect();
            sink.send_json_items(&items).await?;
        }
        Stats::bump(&self.inner.stats.ebt_sent, sent as u64);
        let mut st = lock(&self.state);
        if let Some(next) = st.sending.get_mut(&feed) {
            *next = (*next).max(from + sent as u64);
            if sent == PAGE {
                st.ready.insert(feed);
            }
        }
        Ok(true)
    }

    /// Newly stored messages: the first event and whatever else is queued (up to
    /// [`LIVE_BATCH`]), handled in one go. False once the node is gone.
    fn on_live(
        &self,
        first: std::result::Result<Live, RecvError>,
        live: &mut broadcast::Receiver<Live>,
    ) -> bool {
        let mut next = Some(first);
        let mut handled = 0;
        while let Some(event) = next.take() {
            match event {
                Ok(Live::Msg(m)) => self.on_stored(&m),
                Ok(Live::Resync) | Err(RecvError::Lagged(_)) => self.mark_all_ready(),
                Err(RecvError::Closed) => return false,
            }
            handled += 1;
            if handled < LIVE_BATCH {
                next = match live.try_recv() {
                    Ok(event) => Some(Ok(event)),
                    Err(TryRecvError::Lagged(n)) => Some(Err(RecvError::Lagged(n))),
                    Err(TryRecvError::Closed) => Some(Err(RecvError::Closed)),
                    Err(TryRecvError::Empty) => None,
                };
            }
        }
        true
    }

    /// A newly stored message: send it if the peer receives its feed, else tell the peer we
    /// are ahead of it.
    fn on_stored(&self, stored: &StoredMsg) {
        let msg = stored.as_msg();
        let (feed, seq) = (msg.author(), msg.sequence());
        let mut st = lock(&self.state);
        if st.sending.contains_key(&feed) {
            st.ready.insert(feed);
        } else if let Some(Some(theirs)) = st.theirs.get(&feed)
            && *theirs < seq
            && st.told.get(&feed).is_some_and(|n| *n >= 0)
        {
            let wanted = st.want.contains(&feed);
            st.tell(feed, note(seq, wanted));
        }
    }

    fn mark_all_ready(&self) {
        let mut st = lock(&self.state);
        let all: Vec<FeedId> = st.sending.keys().copied().collect();
        st.ready.extend(all);
    }

    /// Marks ready the feeds the peer receives whose next message is stored.
    fn recheck(&self) {
        let mut st = lock(&self.state);
        let due: Vec<FeedId> = st
            .sending
            .iter()
            .filter(|(f, next)| self.inner.latest(f).is_ok_and(|l| l >= **next))
            .map(|(f, _)| *f)
            .collect();
        st.ready.extend(due);
    }
}

fn garbage(what: &str) -> Error {
    Error::Misbehaved(format!("sent {what} on the EBT stream"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn notes_match_epidemic_broadcast_trees() {
        // v3.js: note(seq, rx) = seq << 1 | !rx; getReceive = !(n & 1); -1 = not replicated.
        assert_eq!(note(0, true), 0);
        assert_eq!(note(0, false), 1);
        assert_eq!(note(5, true), 10);
        assert_eq!(note(5, false), 11);
        assert_eq!(read_note(10), Some((5, true)));
        assert_eq!(read_note(11), Some((5, false)));
        assert_eq!(read_note(-1), None);
    }

    fn feed(n: u8) -> FeedId {
        FeedId([n; 32])
    }

    #[test]
    fn a_note_is_queued_once_until_it_changes() {
        let mut st = State::default();
        st.tell(feed(1), note(3, true));
        st.tell(feed(1), note(3, true));
        assert_eq!(std::mem::take(&mut st.notes).len(), 1);
        st.tell(feed(1), note(3, true));
        assert!(st.notes.is_empty(), "the peer already has this note");
        st.tell(feed(1), note(4, true));
        assert_eq!(st.notes.get(&feed(1)), Some(&8));
    }

    #[test]
    fn caught_up_once_every_asked_feed_is_answered_and_arrived() {
        let mut st = State::default();
        st.ask(feed(1), 2);
        st.ask(feed(2), 0);
        assert!(!st.caught_up(), "no answers yet");
        st.theirs.insert(feed(1), Some(5));
        st.track(feed(1), 2);
        st.theirs.insert(feed(2), None);
        st.track(feed(2), 0);
        assert!(!st.caught_up(), "messages 3..=5 of feed 1 are announced");
        st.peer_has(feed(1), 4);
        assert!(!st.caught_up());
        st.peer_has(feed(1), 5);
        assert!(st.caught_up());
    }

    #[test]
    fn what_the_peer_has_is_not_sent_back() {
        let mut st = State::default();
        st.sending.insert(feed(1), 1);
        st.peer_has(feed(1), 7);
        assert_eq!(st.sending[&feed(1)], 8);
        assert_eq!(st.theirs[&feed(1)], Some(7));
        st.peer_has(feed(1), 3);
        assert_eq!(st.theirs[&feed(1)], Some(7), "never goes back");
    }

    #[test]
    fn only_version_3_classic_is_accepted() {
        assert!(check_args(&[json!({"version": 3})]).is_ok());
        assert!(check_args(&[json!({"version": 3, "format": "classic"})]).is_ok());
        assert!(check_args(&[json!({"version": 3, "format": "bendybutt-v1"})]).is_err());
        assert!(check_args(&[json!({"version": 2})]).is_err());
        assert!(check_args(&[]).is_err());
    }
}
