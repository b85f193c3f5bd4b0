//! A replicating SSB node: serves a peer's calls from the database and fetches the feeds it
//! wants from every peer, feeding them through the database's one ingest path.
//!
//! Data flow: per connection, either one EBT session (`ebt.replicate`: vector clocks, then
//! messages both ways over one duplex stream) or, with peers that do not speak EBT, fetch tasks
//! (one `createHistoryStream` per wanted feed) parse messages and push them into one bounded
//! ingest channel; the ingest task batches them, drops duplicates, buffers early arrivals per
//! feed (bounded), and calls `Db::add_batch`. A peer whose messages are rejected, or that floods
//! out-of-sequence messages, is hung up on.

mod ebt;
mod fetch;
mod history;
mod ingest;
mod rpc;

use std::collections::{BTreeSet, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use ed25519_dalek::{SigningKey, VerifyingKey};
use sluice_msg::{FeedId, Keys, VerifyMode};
use sluice_views::{Db, Filter, StoredMsg, Subscription};
use tokio::sync::{broadcast, mpsc};

use crate::addr::MultiAddr;
use crate::error::{Error, Result};
use crate::muxrpc::Handler;
use crate::peer::{Listener, Options, Peer, connect_addr};

pub use fetch::FetchReport;

/// What a node does and its limits.
#[derive(Debug, Clone)]
pub struct NodeConfig {
    /// Follow-graph distance of the feeds to replicate (own feed = 0; default 2).
    pub hops: u32,
    /// Feeds replicated whatever the follow graph says (unless blocked).
    pub feeds: Vec<FeedId>,
    /// Also replicate each connected peer's own feed (unless blocked).
    pub peer_feed: bool,
    /// Answer peers' `createHistoryStream` (false = fetch-only).
    pub serve: bool,
    /// Fetch wanted feeds from peers (false = serve-only).
    pub fetch: bool,
    /// Keep fetch streams open for new messages (`live: true`).
    pub live: bool,
    /// How incoming messages are verified.
    pub verify: VerifyMode,
    /// Early (out-of-order) messages buffered per feed before the sender is hung up on.
    pub max_early: usize,
    /// Capacity of the ingest channel (messages), shared by all peers.
    pub ingest_capacity: usize,
    /// How often a live connection re-reads the follow graph for newly wanted feeds.
    pub refresh: Duration,
    /// Replicate with EBT (`ebt.replicate`) when the peer supports it (default true); false
    /// uses `createHistoryStream` only, and refuses peers' `ebt.replicate` calls.
    pub ebt: bool,
    /// Network options (caps key, handshake/idle timeouts, connection limit).
    pub net: Options,
}

impl Default for NodeConfig {
    fn default() -> Self {
        let mut net = Options::default();
        net.rpc.idle_timeout = Some(Duration::from_secs(300));
        Self {
            hops: 2,
            feeds: Vec::new(),
            peer_feed: true,
            serve: true,
            fetch: true,
            live: true,
            verify: VerifyMode::Full,
            max_early: 4096,
            ingest_capacity: 8192,
            refresh: Duration::from_secs(10),
            ebt: true,
            net,
        }
    }
}

/// Replication counters (monotonic).
#[derive(Debug, Default)]
pub struct Stats {
    /// Messages received from peers.
    pub received: AtomicU64,
    /// Messages stored.
    pub appended: AtomicU64,
    /// Messages dropped as already stored.
    pub duplicates: AtomicU64,
    /// Messages refused by validation.
    pub rejected: AtomicU64,
    /// Peers hung up on for misbehaving.
    pub peers_dropped: AtomicU64,
    /// EBT sessions started (both roles).
    pub ebt_sessions: AtomicU64,
    /// Messages received through EBT (also counted in `received`).
    pub ebt_received: AtomicU64,
    /// Messages sent to peers through EBT.
    pub ebt_sent: AtomicU64,
    /// `Db::add_batch` calls made by the ingest task (appended / batches = the mean batch: it
    /// reaches the ingest batch limit only when the database, not the peers, is the limit).
    pub batches: AtomicU64,
}

impl Stats {
    fn bump(counter: &AtomicU64, n: u64) {
        counter.fetch_add(n, Ordering::Relaxed);
    }

    /// `(received, appended, duplicates, rejected)` now.
    pub fn snapshot(&self) -> (u64, u64, u64, u64) {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        (
            get(&self.received),
            get(&self.appended),
            get(&self.duplicates),
            get(&self.rejected),
        )
    }
}

/// A live-feed event for the history streams.
#[derive(Debug, Clone)]
enum Live {
    /// A newly stored message.
    Msg(StoredMsg),
    /// Events were lost: re-read the database.
    Resync,
}

struct Inner {
    db: Arc<Db>,
    keys: SigningKey,
    me: FeedId,
    config: NodeConfig,
    stats: Stats,
    live: broadcast::Sender<Live>,
    ingest: mpsc::Sender<ingest::Incoming>,
    /// Running EBT sessions per peer.
    ebt_peers: Mutex<HashMap<FeedId, usize>>,
}

/// A replicating node over one database. Cheap to clone; create it inside a tokio runtime.
#[derive(Clone)]
pub struct Node {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Node {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Node({})", self.inner.me)
    }
}

impl Node {
    /// A node serving and replicating `db` as the identity `keys`.
    pub fn new(db: Arc<Db>, keys: SigningKey, config: NodeConfig) -> Node {
        let (live, _) = broadcast::channel(1024);
        let (tx, rx) = mpsc::channel(config.ingest_capacity.max(1));
        let inner = Arc::new(Inner {
            me: FeedId(keys.verifying_key().to_bytes()),
            db,
            keys,
            config,
            stats: Stats::default(),
            live,
            ingest: tx,
            ebt_peers: Mutex::default(),
        });
        spawn_live_hub(&inner);
        tokio::spawn(ingest::run(inner.clone(), rx));
        Node { inner }
    }

    /// This node's feed id.
    pub fn id(&self) -> FeedId {
        self.inner.me
    }

    /// The database.
    pub fn db(&self) -> &Arc<Db> {
        &self.inner.db
    }

    /// The replication counters.
    pub fn stats(&self) -> &Stats {
        &self.inner.stats
    }

    /// The node's keys as an ssb-keys pair (for publishing).
    pub fn keys(&self) -> Keys {
        Keys::from_seed(self.inner.keys.to_bytes())
    }

    /// The handler serving calls from the peer `peer`.
    pub fn handler(&self, peer: &VerifyingKey) -> Arc<dyn Handler> {
        Arc::new(rpc::NodeHandler::new(self.inner.clone(), peer))
    }

    /// The feeds this node wants: own feed, follow graph within `hops`, explicit feeds, minus
    /// the ones it blocks.
    pub fn wanted_feeds(&self) -> Result<BTreeSet<FeedId>> {
        self.inner.wanted_feeds()
    }

    /// Dials `addr` and starts replicating with it (fetching unless serve-only).
    pub async fn connect(&self, addr: &MultiAddr) -> Result<Peer> {
        let handler = self.handler(&addr.key);
        let peer = connect_addr(addr, &self.inner.keys, &self.inner.config.net, handler).await?;
        tracing::info!(peer = %addr, "connected");
        self.start_dialed(&peer);
        Ok(peer)
    }

    /// Dials `addr`, fetches every wanted feed up to what the peer has now (not live), waits
    /// until the messages are stored, and hangs up.
    pub async fn replicate_once(&self, addr: &MultiAddr) -> Result<FetchReport> {
        let handler = self.handler(&addr.key);
        let peer = connect_addr(addr, &self.inner.keys, &self.inner.config.net, handler).await?;
        let who = FeedId(peer.id().to_bytes());
        let report = self.fetch_once(peer.rpc(), who).await;
        self.flush().await;
        let _ = peer.close().await;
        report
    }

    /// Waits until every message queued for ingest so far has been processed.
    pub async fn flush(&self) {
        let (tx, rx) = tokio::sync::oneshot::channel();
        if self
            .inner
            .ingest
            .send(ingest::Incoming::Flush(tx))
            .await
            .is_ok()
        {
            let _ = rx.await;
        }
    }

    /// Accepts peers on `listener` until it fails, replicating with each.
    pub async fn serve(&self, listener: Listener) -> Result<()> {
        let me = self.clone();
        let on_peer = self.clone();
        listener
            .run(
                move |key| me.handler(key),
                move |peer| {
                    tracing::info!(peer = %FeedId(peer.id().to_bytes()), "accepted");
                    on_peer.start_accepted(&peer);
                },
            )
            .await
    }

    /// Local discovery: announces `own` to `broadcast_to` every second and dials every new peer
    /// heard on `listen_on` (once per key while its connection lasts). Runs until a socket fails.
    pub async fn discover(
        &self,
        own: MultiAddr,
        listen_on: std::net::SocketAddr,
        broadcast_to: std::net::SocketAddr,
    ) -> Result<()> {
        let heard = crate::discovery::Discovery::bind(listen_on).await?;
        let every = Duration::from_secs(1);
        let announcing =
            tokio::spawn(
                async move { crate::discovery::announce(&own, broadcast_to, every).await },
            );
        let connected = Arc::new(std::sync::Mutex::new(BTreeSet::new()));
        let result = loop {
            let addrs = match heard.next().await {
                Ok(addrs) => addrs,
                Err(e) => break Err(e),
            };
            for addr in addrs {
                self.dial_discovered(addr, &connected);
            }
        };
        announcing.abort();
        result
    }

    /// [`Node::discover`] on a task of its own, logging why it stops.
    pub fn spawn_discovery(
        &self,
        own: MultiAddr,
        listen_on: std::net::SocketAddr,
        broadcast_to: std::net::SocketAddr,
    ) {
        let node = self.clone();
        tokio::spawn(async move {
            if let Err(e) = node.discover(own, listen_on, broadcast_to).await {
                tracing::warn!(error = %e, "local discovery stopped");
            }
        });
    }

    fn dial_discovered(
        &self,
        addr: MultiAddr,
        connected: &Arc<std::sync::Mutex<BTreeSet<[u8; 32]>>>,
    ) {
        let key = addr.key.to_bytes();
        let fresh = key != self.inner.me.0 && lock(connected).insert(key);
        if !fresh {
            return;
        }
        let (node, connected) = (self.clone(), connected.clone());
        tokio::spawn(async move {
            tracing::info!(peer = %addr, "discovered");
            match node.connect(&addr).await {
                Ok(peer) => drop(peer.closed().await),
                Err(e) => {
                    tracing::info!(peer = %addr, error = %e, "could not dial a discovered peer")
                }
            }
            lock(&connected).remove(&key);
        });
    }

    /// EBT when the peer answers `ebt.replicate`, else one `createHistoryStream` per feed.
    async fn fetch_once(&self, rpc: &crate::muxrpc::Rpc, who: FeedId) -> Result<FetchReport> {
        if self.inner.config.ebt {
            match ebt::call(&self.inner, rpc, who, true).await? {
                ebt::Called::Replicated(report) => return Ok(report),
                ebt::Called::Refused(e) => {
                    tracing::info!(peer = %who, error = %e, "no EBT; fetching feed by feed");
                }
            }
        }
        fetch::fetch_all(&self.inner, rpc, who, false).await
    }

    /// Replication on a connection we dialed: we call `ebt.replicate` (also when serve-only,
    /// so the peer can fetch from us) and fall back to history streams if the peer refuses.
    /// Without `live`, the session ends once we hold what the peer had.
    fn start_dialed(&self, peer: &Peer) {
        let config = &self.inner.config;
        if !config.ebt || !(config.fetch || config.serve) {
            return self.start_fetching(peer);
        }
        let (node, rpc) = (self.clone(), peer.rpc().clone());
        let who = FeedId(peer.id().to_bytes());
        let once = !config.live;
        tokio::spawn(async move {
            match ebt::call(&node.inner, &rpc, who, once).await {
                Ok(ebt::Called::Replicated(_)) => {}
                Ok(ebt::Called::Refused(e)) => {
                    tracing::info!(peer = %who, error = %e, "no EBT; fetching feed by feed");
                    node.fetch_legacy(&rpc, who).await;
                }
                Err(e) => tracing::info!(peer = %who, error = %e, "EBT session failed"),
            }
        });
    }

    /// Replication on an accepted connection: the dialer calls `ebt.replicate` if it speaks
    /// EBT; if no session with this peer started within [`EBT_GRACE`], fetch feed by feed.
    fn start_accepted(&self, peer: &Peer) {
        if !self.inner.config.ebt {
            return self.start_fetching(peer);
        }
        if !self.inner.config.fetch {
            return;
        }
        let (node, rpc) = (self.clone(), peer.rpc().clone());
        let who = FeedId(peer.id().to_bytes());
        tokio::spawn(async move {
            tokio::time::sleep(EBT_GRACE).await;
            if !rpc.is_closed() && !lock(&node.inner.ebt_peers).contains_key(&who) {
                node.fetch_legacy(&rpc, who).await;
            }
        });
    }

    async fn fetch_legacy(&self, rpc: &crate::muxrpc::Rpc, who: FeedId) {
        if !self.inner.config.fetch {
            return;
        }
        let live = self.inner.config.live;
        if let Err(e) = fetch::fetch_all(&self.inner, rpc, who, live).await {
            tracing::info!(peer = %who, error = %e, "replication with peer ended");
        }
    }

    /// Starts fetching feed by feed (`createHistoryStream`, no EBT) on an open connection
    /// (no-op when serve-only).
    pub fn start_fetching(&self, peer: &Peer) {
        if !self.inner.config.fetch {
            return;
        }
        let inner = self.inner.clone();
        let rpc = peer.rpc().clone();
        let who = FeedId(peer.id().to_bytes());
        let live = inner.config.live;
        tokio::spawn(async move {
            if let Err(e) = fetch::fetch_all(&inner, &rpc, who, live).await {
                tracing::info!(peer = %who, error = %e, "replication with peer ended");
            }
        });
    }
}

impl Inner {
    fn wanted_feeds(&self) -> Result<BTreeSet<FeedId>> {
        let hops = self.db.hops(&self.me, self.config.hops).map_err(db_err)?;
        let blocked: BTreeSet<FeedId> = self
            .db
            .blocks(&self.me)
            .map_err(db_err)?
            .into_iter()
            .collect();
        let mut want: BTreeSet<FeedId> = hops
            .into_iter()
            .filter(|(_, d)| *d >= 0)
            .map(|(f, _)| f)
            .collect();
        want.insert(self.me);
        want.extend(self.config.feeds.iter().copied());
        want.retain(|f| !blocked.contains(f));
        Ok(want)
    }

    fn blocked(&self, feed: &FeedId) -> bool {
        self.db.blocks(&self.me).is_ok_and(|b| b.contains(feed))
    }

    fn latest(&self, feed: &FeedId) -> Result<u64> {
        let state = self.db.latest_seq(feed).map_err(db_err)?;
        Ok(state.map_or(0, |s| s.sequence))
    }
}

/// How long an accepted connection waits for the dialer's `ebt.replicate` call before fetching
/// feed by feed (ssb-ebt calls it as soon as it connects).
const EBT_GRACE: Duration = Duration::from_secs(2);

/// The ed25519 signing key of an ssb-keys pair (the node identity of a store's `secret`).
pub fn signing_key(keys: &Keys) -> Result<SigningKey> {
    let text = keys.to_secret_string();
    let secret = text
        .lines()
        .filter(|l| !l.trim_start().starts_with('#'))
        .collect::<String>();
    let value: serde_json::Value = serde_json::from_str(&secret)
        .map_err(|e| Error::BadKey(format!("unreadable key pair: {e}")))?;
    let private = value["private"].as_str().unwrap_or_default();
    let b64 = private.trim_end_matches(".ed25519");
    let bytes = base64::Engine::decode(&base64::engine::general_purpose::STANDARD, b64)
        .map_err(|e| Error::BadKey(format!("unreadable private key: {e}")))?;
    let seed: [u8; 32] = bytes
        .get(..32)
        .and_then(|s| s.try_into().ok())
        .ok_or_else(|| Error::BadKey("private key shorter than 32 bytes".into()))?;
    Ok(SigningKey::from_bytes(&seed))
}

fn lock<T>(m: &std::sync::Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn db_err(e: sluice_views::Error) -> Error {
    Error::Database(Box::new(e))
}

/// Forwards the database's new messages to the history streams (one blocking thread per node).
fn spawn_live_hub(inner: &Arc<Inner>) {
    // Subscribe here, not on the thread, so nothing stored after `Node::new` returns is missed.
    let first = inner.db.subscribe(Filter::All);
    let db = Arc::downgrade(&inner.db);
    let tx = inner.live.clone();
    let spawned = std::thread::Builder::new()
        .name("sluice-net-live".into())
        .spawn(move || live_hub(first, &db, &tx));
    if let Err(e) = spawned {
        tracing::error!(error = %e, "could not start the live-feed thread; live streams poll");
    }
}

fn live_hub(first: Subscription, db: &std::sync::Weak<Db>, tx: &broadcast::Sender<Live>) {
    let mut sub = first;
    loop {
        loop {
            match sub.recv_timeout(Duration::from_millis(500)) {
                Ok(msg) => drop(tx.send(Live::Msg(msg))),
                Err(false) if db.strong_count() > 0 => {}
                Err(_) => break,
            }
        }
        if !sub.lagged() {
            return;
        }
        let Some(next) = db.upgrade().map(|db| db.subscribe(Filter::All)) else {
            return;
        };
        sub = next;
        let _ = tx.send(Live::Resync);
    }
}

/// Runs `f` to completion on a new multi-threaded tokio runtime (for synchronous callers such
/// as the CLI, which then need no runtime of their own).
pub fn block_on<F: std::future::Future>(f: F) -> std::io::Result<F::Output> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    Ok(rt.block_on(f))
}
