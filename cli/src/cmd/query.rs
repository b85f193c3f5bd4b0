//! `sluice query`: read-only questions to the store, answered as JSON lines (or a table).

use std::process::ExitCode;
use std::str::FromStr;

use anyhow::Context as _;
use serde_json::json;
use sluice_msg::{FeedId, MsgId, Ref};
use sluice_views::{Db, MsgRef};

use crate::print::Out;

/// Arguments of `sluice query`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Print a human-readable table instead of JSON lines.
    #[arg(long, global = true)]
    pub pretty: bool,
    #[command(subcommand)]
    pub question: Question,
}

/// The questions.
#[derive(Debug, clap::Subcommand)]
pub enum Question {
    /// The message with this id (`%….sha256`).
    Get {
        /// The message id.
        id: String,
    },
    /// A feed's messages in sequence order.
    Feed {
        /// The feed id (`@….ed25519`).
        id: String,
        /// The first sequence (with --reverse: the highest one) [default: 1, or the latest].
        #[arg(long)]
        from: Option<u64>,
        /// At most this many messages.
        #[arg(long)]
        limit: Option<usize>,
        /// Newest first.
        #[arg(long)]
        reverse: bool,
    },
    /// The most recently received messages of a content type, newest first.
    Latest {
        /// The content type (e.g. `post`).
        #[arg(long = "type", value_name = "TYPE")]
        kind: String,
        /// At most this many messages.
        #[arg(long, default_value_t = 20)]
        limit: usize,
    },
    /// Feeds this feed follows (one id per line).
    Follows {
        /// The feed id.
        id: String,
    },
    /// Feeds that follow this feed.
    Followers {
        /// The feed id.
        id: String,
    },
    /// Feeds this feed blocks.
    Blocks {
        /// The feed id.
        id: String,
    },
    /// Follow distances from this feed, ssb-friends style (`{"id","hops"}`; negative = blocked).
    Hops {
        /// The feed id.
        id: String,
        /// The largest distance followed.
        #[arg(long, default_value_t = 2)]
        max: u32,
    },
    /// A thread (or a SIP-009 tangle with --name) in topological order, root first.
    Tangle {
        /// The root message id.
        root: String,
        /// The tangle name (`content.tangles.<name>`); without it, the reply thread.
        #[arg(long)]
        name: Option<String>,
        /// Only the tips (messages nothing else in the tangle points at).
        #[arg(long)]
        tips: bool,
    },
    /// Messages whose content links to this ref (`%msg`, `@feed` or `&blob`).
    Backlinks {
        /// The target ref.
        target: String,
        /// Only links under this path (e.g. `vote.link`, `mentions`, `root`).
        #[arg(long)]
        path: Option<String>,
    },
}

/// Answers the question; unknown ids give an empty answer (exit 0), malformed ones exit 2.
pub fn run(cli: &crate::Cli, args: &Args) -> anyhow::Result<ExitCode> {
    check_ids(&args.question)?;
    let db = crate::store::open_ro(&cli.db)?;
    let mut out = Out::new(args.pretty);
    answer(&db, &args.question, &mut out)?;
    out.flush()?;
    Ok(ExitCode::SUCCESS)
}

/// Parses the ids first, so a malformed id is reported even without a database.
fn check_ids(q: &Question) -> anyhow::Result<()> {
    match q {
        Question::Get { id } | Question::Tangle { root: id, .. } => {
            parse::<MsgId>(id, "message id").map(drop)
        }
        Question::Feed { id, .. }
        | Question::Follows { id }
        | Question::Followers { id }
        | Question::Blocks { id }
        | Question::Hops { id, .. } => parse::<FeedId>(id, "feed id").map(drop),
        Question::Backlinks { target, .. } => parse::<Ref>(target, "ref").map(drop),
        Question::Latest { .. } => Ok(()),
    }
}

fn parse<T: FromStr>(s: &str, what: &str) -> anyhow::Result<T>
where
    T::Err: std::error::Error + Send + Sync + 'static,
{
    s.parse::<T>()
        .with_context(|| format!("malformed {what} `{s}`"))
}

fn answer(db: &Db, q: &Question, out: &mut Out) -> anyhow::Result<()> {
    match q {
        Question::Get { id } => msgs(out, db.get(&parse(id, "message id")?)?),
        Question::Feed {
            id,
            from,
            limit,
            reverse,
        } => {
            let from = from.unwrap_or(if *reverse { u64::MAX } else { 1 });
            let limit = limit.unwrap_or(usize::MAX);
            msgs(out, db.feed(&parse(id, "feed id")?, from, limit, *reverse)?)
        }
        Question::Latest { kind, limit } => msgs(out, db.latest(kind, *limit)?),
        Question::Follows { id } => ids(out, db.follows(&parse(id, "feed id")?)?),
        Question::Followers { id } => ids(out, db.followers(&parse(id, "feed id")?)?),
        Question::Blocks { id } => ids(out, db.blocks(&parse(id, "feed id")?)?),
        Question::Hops { id, max } => hops(out, db, &parse(id, "feed id")?, *max),
        Question::Tangle { root, name, tips } => {
            let t = db.tangle(&parse(root, "message id")?, name.as_deref())?;
            msgs(out, if *tips { t.tips } else { t.members })
        }
        Question::Backlinks { target, path } => {
            msgs(out, db.backlinks(&parse(target, "ref")?, path.as_deref())?)
        }
    }
}

fn msgs<'a>(out: &mut Out, list: impl IntoIterator<Item = MsgRef<'a>>) -> anyhow::Result<()> {
    list.into_iter().try_for_each(|m| out.msg(&m))
}

fn ids(out: &mut Out, list: Vec<FeedId>) -> anyhow::Result<()> {
    list.iter().try_for_each(|id| out.id(&id.to_string()))
}

fn hops(out: &mut Out, db: &Db, origin: &FeedId, max: u32) -> anyhow::Result<()> {
    let mut list: Vec<(FeedId, i32)> = db.hops(origin, max)?.into_iter().collect();
    list.sort_by_key(|(id, h)| (h.is_negative(), h.abs(), *id));
    for (id, h) in list {
        let text = format!("{h:>3} {id}");
        out.object(&json!({"id": id.to_string(), "hops": h}), &text)?;
    }
    Ok(())
}
