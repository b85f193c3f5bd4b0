//! The RPC surface a node offers a peer: manifest, createHistoryStream, ebt.replicate,
//! gossip.ping, empty blob streams, and whoami for local clients; anything else is answered
//! with a muxrpc error.

use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use ed25519_dalek::VerifyingKey;
use serde_json::{Value, json};
use sluice_msg::FeedId;

use super::{Inner, NodeConfig, ebt, history};
use crate::muxrpc::{CallKind, Handler, Request, Source};

/// Serves one peer's calls.
pub(super) struct NodeHandler {
    inner: Arc<Inner>,
    /// The peer's feed id.
    peer: FeedId,
    /// The caller holds our own key (a local client such as the CLI).
    local: bool,
}

impl NodeHandler {
    pub(super) fn new(inner: Arc<Inner>, peer: &VerifyingKey) -> Self {
        let peer = FeedId(peer.to_bytes());
        let local = peer == inner.me;
        Self { inner, peer, local }
    }
}

/// The methods a node answers, as a muxrpc manifest.
fn manifest(config: &NodeConfig) -> Value {
    let mut manifest = json!({
        "manifest": "sync",
        "whoami": "async",
        "createHistoryStream": "source",
        "gossip": {"ping": "duplex"},
        "blobs": {"createWants": "source", "changes": "source"},
    });
    if config.ebt {
        manifest["ebt"] = json!({"replicate": "duplex"});
    }
    manifest
}

impl Handler for NodeHandler {
    fn handle(&self, req: Request) {
        match (req.method().as_str(), req.kind) {
            ("manifest", _) => reply(req, manifest(&self.inner.config)),
            ("whoami", _) if self.local => reply(req, json!({"id": self.inner.me.to_string()})),
            ("createHistoryStream", CallKind::Source) if self.inner.config.serve => {
                history::serve(self.inner.clone(), req);
            }
            ("ebt.replicate", CallKind::Duplex) if self.inner.config.ebt => {
                ebt::answer(self.inner.clone(), self.peer, req);
            }
            ("gossip.ping", CallKind::Duplex) => pong(req),
            ("blobs.createWants" | "blobs.changes", CallKind::Source) => drop(req.sink),
            (method, _) => {
                tracing::debug!(method, "refused call");
                let msg = format!("method not supported: {method}");
                req.reject(&msg);
            }
        }
    }
}

fn reply(req: Request, value: Value) {
    tokio::spawn(async move {
        let _ = req.sink.send(value).await;
    });
}

fn now_ms() -> u64 {
    let since = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    u64::try_from(since.as_millis()).unwrap_or(u64::MAX)
}

/// `gossip.ping`: one timestamp back per ping received, ending when the peer ends.
fn pong(req: Request) {
    let Request { sink, input, .. } = req;
    let Some(mut input): Option<Source> = input else {
        return;
    };
    tokio::spawn(async move {
        while let Some(Ok(_)) = input.next_body().await {
            if sink.send(json!(now_ms())).await.is_err() {
                return;
            }
        }
        let _ = sink.end().await;
    });
}
