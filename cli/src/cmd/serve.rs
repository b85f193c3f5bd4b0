//! `sluice serve`: accept SSB peers, serve our feeds and replicate the wanted ones from them.

use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context as _;
use sluice_net::{Listener, Node};

use super::replicate::{Want, tokio_free_progress};

/// Arguments of `sluice serve`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The address to listen on.
    #[arg(long, default_value = "127.0.0.1:8008", value_name = "HOST:PORT")]
    pub listen: String,
    /// Only serve our feeds; fetch nothing from peers.
    #[arg(long, conflicts_with = "fetch_only")]
    pub serve_only: bool,
    /// Only fetch from peers; refuse their createHistoryStream calls.
    #[arg(long)]
    pub fetch_only: bool,
    /// Local discovery: broadcast our address on UDP port 8008 every second and dial the
    /// peers heard there.
    #[arg(long)]
    pub discover: bool,
    /// The most peer connections held at once.
    #[arg(long, default_value_t = 256)]
    pub max_connections: usize,
    #[command(flatten)]
    pub want: Want,
}

/// Serves until the listener fails or the process is stopped.
pub fn run(cli: &crate::Cli, args: &Args) -> anyhow::Result<ExitCode> {
    let keys = super::whoami::node_keys(&cli.db)?;
    let db = Arc::new(crate::store::open_rw(&cli.db)?);
    let signing = sluice_net::signing_key(&keys)?;
    let mut config = args.want.config();
    config.serve = !args.fetch_only;
    config.fetch = !args.serve_only;
    config.net.max_connections = args.max_connections;
    let net = config.net.clone();
    sluice_net::node::block_on(async move {
        let listener = Listener::bind(&args.listen, signing.clone(), net)
            .await
            .with_context(|| format!("listening on {}", args.listen))?;
        eprintln!("listening on {}", listener.multiaddr()?);
        let node = Node::new(db, signing, config);
        let progress = tokio_free_progress(node.clone());
        if args.discover {
            let own = listener.multiaddr()?;
            let port = sluice_net::discovery::PORT;
            let listen = std::net::SocketAddr::from(([0, 0, 0, 0], port));
            let broadcast = std::net::SocketAddr::from(([255, 255, 255, 255], port));
            node.spawn_discovery(own, listen, broadcast);
        }
        let result = node.serve(listener).await;
        progress.stop();
        result.context("accepting peers")
    })
    .context("starting the network runtime")??;
    Ok(ExitCode::SUCCESS)
}
