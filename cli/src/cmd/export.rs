//! `sluice export`: stored messages as `{key,value,timestamp}` JSON lines, in log order.

use std::io::{BufWriter, Write};
use std::process::ExitCode;

use anyhow::Context as _;
use sluice_msg::FeedId;
use sluice_views::{Db, MsgRef};

/// Arguments of `sluice export`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Only this feed's messages (in sequence order).
    #[arg(long, value_name = "@ID")]
    pub author: Option<String>,
}

/// Writes the messages to stdout; `sluice import` reads them back into an identical store
/// (the timestamp is the original receive time, kept on import).
pub fn run(cli: &crate::Cli, args: &Args) -> anyhow::Result<ExitCode> {
    let author = args
        .author
        .as_deref()
        .map(|a| {
            a.parse::<FeedId>()
                .with_context(|| format!("malformed feed id `{a}`"))
        })
        .transpose()?;
    let db = crate::store::open_ro(&cli.db)?;
    let mut out = BufWriter::with_capacity(1 << 20, std::io::stdout().lock());
    match author {
        Some(a) => export(
            &mut out,
            db.feed(&a, 1, usize::MAX, false)?.into_iter().map(Ok),
        )?,
        None => export(&mut out, all(&db))?,
    }
    out.flush().context("writing to stdout")?;
    Ok(ExitCode::SUCCESS)
}

/// Every durable message in log order.
fn all(db: &Db) -> impl Iterator<Item = Result<MsgRef<'_>, sluice_views::Error>> + '_ {
    db.messages_from(0)
}

fn export<'a>(
    out: &mut impl Write,
    msgs: impl Iterator<Item = Result<MsgRef<'a>, sluice_views::Error>>,
) -> anyhow::Result<()> {
    let mut line = Vec::with_capacity(4096);
    for m in msgs {
        let m = m.context("reading the log")?;
        line.clear();
        m.write_json(&mut line);
        line.push(b'\n');
        out.write_all(&line).context("writing to stdout")?;
    }
    Ok(())
}
