//! `createHistoryStream({id, seq|sequence, limit, live, old, keys})` served from the database:
//! stored messages with sequence ≥ `seq`, then (live) new ones as they are stored.

use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;
use sluice_msg::FeedId;
use tokio::sync::broadcast::error::RecvError;

use super::{Inner, Live};
use crate::muxrpc::{Request, Sink};

/// Messages read from the database per step.
const PAGE: usize = 256;
/// How often an idle live stream checks that the peer still wants it, and re-reads the
/// database (a safety net should a notification arrive before the message is readable).
const CHECK: Duration = Duration::from_secs(1);

/// The parsed arguments of one call.
#[derive(Debug)]
struct Query {
    id: FeedId,
    seq: u64,
    limit: u64,
    live: bool,
    old: bool,
    keys: bool,
}

impl Query {
    fn parse(args: &[Value]) -> Option<Query> {
        let opts = args.first()?.as_object()?;
        let id = opts.get("id")?.as_str()?.parse().ok()?;
        let num = |k: &str| opts.get(k).and_then(Value::as_f64);
        let flag = |k: &str, default: bool| opts.get(k).and_then(Value::as_bool).unwrap_or(default);
        let seq = num("seq").or_else(|| num("sequence")).unwrap_or(0.0);
        let limit = num("limit").filter(|l| *l >= 0.0);
        Some(Query {
            id,
            seq: (seq.max(1.0)) as u64,
            limit: limit.map_or(u64::MAX, |l| l as u64),
            live: flag("live", false),
            old: flag("old", true),
            keys: flag("keys", true),
        })
    }
}

/// Starts serving one `createHistoryStream` call.
pub(super) fn serve(inner: Arc<Inner>, req: Request) {
    let Some(query) = Query::parse(&req.args) else {
        req.reject(
            "createHistoryStream: expected [{id: \"@…ed25519\", seq?, limit?, live?, old?, keys?}]",
        );
        return;
    };
    let sink = req.sink;
    tokio::spawn(async move {
        let id = query.id;
        match stream(&inner, &query, &sink).await {
            Ok(()) => drop(sink.end().await),
            Err(why) => {
                tracing::debug!(feed = %id, why, "createHistoryStream ended");
                sink.error_now(why);
            }
        }
    });
}

async fn stream(inner: &Inner, q: &Query, sink: &Sink) -> Result<(), &'static str> {
    // Subscribe before reading the stored part, so nothing stored in between is missed.
    let live = q.live.then(|| inner.live.subscribe());
    let mut sent = 0u64;
    let mut next = q.seq;
    if q.old {
        next = send_stored(inner, q, next, &mut sent, sink).await?;
    } else {
        next = next.max(inner.latest(&q.id).map_err(|_| "database error")? + 1);
    }
    if let Some(rx) = live {
        follow(inner, q, next, sent, rx, sink).await?;
    }
    Ok(())
}

/// Sends stored messages from `next` on; returns the sequence after the last one sent.
async fn send_stored(
    inner: &Inner,
    q: &Query,
    mut next: u64,
    sent: &mut u64,
    sink: &Sink,
) -> Result<u64, &'static str> {
    while *sent < q.limit {
        let want = usize::try_from(q.limit - *sent).unwrap_or(PAGE).min(PAGE);
        let n = send_page(inner, q, next, want, sink).await?;
        if n == 0 {
            break;
        }
        *sent += n;
        next += n;
    }
    Ok(next)
}

/// Sends up to `limit` stored messages from sequence `from` as they are stored (no parse and
/// re-encode); returns how many.
async fn send_page(
    inner: &Inner,
    q: &Query,
    from: u64,
    limit: usize,
    sink: &Sink,
) -> Result<u64, &'static str> {
    let msgs = inner
        .db
        .feed(&q.id, from, limit, false)
        .map_err(|_| "database error")?;
    if msgs.is_empty() {
        return Ok(0);
    }
    let entries: Vec<Vec<u8>> = match q.keys {
        true => msgs.iter().map(entry_json).collect(),
        false => Vec::new(),
    };
    let items: Vec<&[u8]> = match q.keys {
        true => entries.iter().map(Vec::as_slice).collect(),
        false => msgs.iter().map(|m| m.value_json()).collect(),
    };
    let sent = sink.send_json_items(&items).await;
    sent.map_err(|_| "the peer closed the stream")?;
    Ok(msgs.len() as u64)
}

/// `{key, value, timestamp}` of a stored message.
fn entry_json(m: &sluice_views::MsgRef<'_>) -> Vec<u8> {
    let mut out = Vec::with_capacity(m.value_json().len() + 160);
    m.write_json(&mut out);
    out
}

/// Live part: forwards new messages of the feed, re-reading the database after a gap.
async fn follow(
    inner: &Inner,
    q: &Query,
    mut next: u64,
    mut sent: u64,
    mut rx: tokio::sync::broadcast::Receiver<Live>,
    sink: &Sink,
) -> Result<(), &'static str> {
    // Catch up with anything stored between the stored read and the subscription.
    next = send_stored(inner, q, next, &mut sent, sink).await?;
    while sent < q.limit {
        let event = match tokio::time::timeout(CHECK, rx.recv()).await {
            Err(_) if sink.is_closed() => return Ok(()),
            Err(_) => Ok(Live::Resync),
            Ok(event) => event,
        };
        let gap = match event {
            Ok(Live::Msg(m)) => {
                let msg = m.as_msg();
                msg.author() == q.id && msg.sequence() >= next
            }
            Ok(Live::Resync) | Err(RecvError::Lagged(_)) => true,
            Err(RecvError::Closed) => return Ok(()),
        };
        if gap {
            next = send_stored(inner, q, next, &mut sent, sink).await?;
        }
    }
    Ok(())
}
