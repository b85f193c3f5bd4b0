//! `sluice replicate ADDR…`: fetch the wanted feeds (own feed, follow graph within `--hops`,
//! `--feed`s, the peer's own feed) from SSB peers, once or live.

use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use sluice_msg::FeedId;
use sluice_net::{MultiAddr, Node, NodeConfig};

/// Arguments of `sluice replicate`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Peers as multiserver addresses: `net:HOST:PORT~shs:BASE64KEY`.
    #[arg(required = true, value_name = "ADDR")]
    pub addrs: Vec<MultiAddr>,
    /// Fetch what the peers have now, then stop (the default).
    #[arg(long, conflicts_with = "live")]
    pub once: bool,
    /// Keep the connections open, fetching new messages and serving ours, until Ctrl-C.
    #[arg(long)]
    pub live: bool,
    #[command(flatten)]
    pub want: Want,
}

/// Which feeds to replicate (shared with `serve`).
#[derive(Debug, Clone, clap::Args)]
pub struct Want {
    /// Follow-graph distance of the feeds to replicate (0 = own feed only).
    #[arg(long, default_value_t = 2)]
    pub hops: u32,
    /// Also replicate this feed (repeatable).
    #[arg(long = "feed", value_name = "@ID")]
    pub feeds: Vec<FeedId>,
    /// Never use EBT (`ebt.replicate`): one `createHistoryStream` per feed, as with peers
    /// that do not speak EBT. By default EBT is tried first and peers may call it on us.
    #[arg(long)]
    pub no_ebt: bool,
}

impl Want {
    /// The node configuration for these choices.
    pub fn config(&self) -> NodeConfig {
        NodeConfig {
            hops: self.hops,
            feeds: self.feeds.clone(),
            ebt: !self.no_ebt,
            ..NodeConfig::default()
        }
    }
}

/// Replicates with every address; prints a summary line.
pub fn run(cli: &crate::Cli, args: &Args) -> anyhow::Result<ExitCode> {
    let keys = super::whoami::node_keys(&cli.db)?;
    let db = Arc::new(crate::store::open_rw(&cli.db)?);
    let signing = sluice_net::signing_key(&keys)?;
    let mut config = args.want.config();
    config.live = args.live;
    let started = Instant::now();
    let node = sluice_net::node::block_on(async move {
        let node = Node::new(db, signing, config);
        let progress = tokio_free_progress(node.clone());
        let result = match args.live {
            true => live(&node, &args.addrs).await,
            false => once(&node, &args.addrs).await,
        };
        progress.stop();
        result.map(|()| node)
    })
    .context("starting the network runtime")??;
    let (received, appended, duplicates, rejected) = node.stats().snapshot();
    let secs = started.elapsed().as_secs_f64().max(1e-3);
    eprintln!(
        "replicated {} feeds: {received} received, {appended} stored, {duplicates} duplicates, {rejected} rejected in {secs:.1} s ({:.0} msgs/s)",
        node.wanted_feeds().map(|f| f.len()).unwrap_or(0),
        appended as f64 / secs
    );
    node.db().persist_views()?;
    Ok(ExitCode::SUCCESS)
}

async fn once(node: &Node, addrs: &[MultiAddr]) -> anyhow::Result<()> {
    for addr in addrs {
        let report = node
            .replicate_once(addr)
            .await
            .with_context(|| format!("replicating with {addr}"))?;
        tracing::info!(peer = %addr, feeds = report.feeds, messages = report.messages, "fetched");
    }
    Ok(())
}

async fn live(node: &Node, addrs: &[MultiAddr]) -> anyhow::Result<()> {
    let mut peers = Vec::new();
    for addr in addrs {
        let peer = node
            .connect(addr)
            .await
            .with_context(|| format!("connecting to {addr}"))?;
        peers.push(peer);
    }
    for peer in peers {
        if let Err(e) = peer.closed().await {
            tracing::warn!(error = %e, "connection ended");
        }
    }
    Ok(())
}

/// Prints feeds and messages/s to stderr every second while replication runs.
pub struct Progress {
    stop: Arc<std::sync::atomic::AtomicBool>,
}

impl Progress {
    /// Stops printing.
    pub fn stop(self) {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
    }
}

/// Starts the progress printer on its own thread (quiet when stderr is not a terminal).
pub fn tokio_free_progress(node: Node) -> Progress {
    use std::io::IsTerminal as _;
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    if std::io::stderr().is_terminal() {
        let flag = stop.clone();
        std::thread::spawn(move || print_progress(&node, &flag));
    }
    Progress { stop }
}

fn print_progress(node: &Node, stop: &std::sync::atomic::AtomicBool) {
    let mut last = (Instant::now(), 0u64);
    while !stop.load(std::sync::atomic::Ordering::Relaxed) {
        std::thread::sleep(Duration::from_secs(1));
        let (received, appended, _, rejected) = node.stats().snapshot();
        let rate = (appended - last.1) as f64 / last.0.elapsed().as_secs_f64();
        let feeds = node.wanted_feeds().map(|f| f.len()).unwrap_or(0);
        eprint!(
            "\r{feeds} feeds, {received} received, {appended} stored, {rejected} rejected, {rate:.0} msgs/s   "
        );
        last = (Instant::now(), appended);
    }
    eprintln!();
}
