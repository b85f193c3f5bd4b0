//! `sluice publish`: sign and store a new message of the keys' feed.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context as _, bail};
use serde_json::{Map, Value};
use sluice_msg::Keys;

/// Arguments of `sluice publish`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The content type (e.g. `post`); with --text makes `{type, text}`.
    #[arg(
        long = "type",
        value_name = "TYPE",
        conflicts_with = "content",
        required_unless_present = "content"
    )]
    pub kind: Option<String>,
    /// The text of the message (`content.text`).
    #[arg(long, requires = "kind")]
    pub text: Option<String>,
    /// The whole content as JSON (an object with a `type`, or a `….box` string).
    #[arg(long, value_name = "JSON")]
    pub content: Option<String>,
    /// The ssb-keys secret file to sign with [default: ~/.ssb/secret].
    #[arg(long, value_name = "PATH")]
    pub keys: Option<PathBuf>,
}

/// Publishes and prints the stored message as a `{key,value,timestamp}` line.
pub fn run(cli: &crate::Cli, args: &Args) -> anyhow::Result<ExitCode> {
    let content = content(args)?;
    let keys = read_keys(args.keys.as_ref())?;
    let db = crate::store::open_rw(&cli.db)?;
    let stored = db.publish(&keys, content)?;
    println!("{}", stored.to_json());
    Ok(ExitCode::SUCCESS)
}

fn content(args: &Args) -> anyhow::Result<Value> {
    if let Some(json) = &args.content {
        return serde_json::from_str(json).context("--content is not valid JSON");
    }
    let Some(kind) = &args.kind else {
        bail!("give --type or --content")
    };
    let mut map = Map::new();
    map.insert("type".into(), Value::String(kind.clone()));
    if let Some(text) = &args.text {
        map.insert("text".into(), Value::String(text.clone()));
    }
    Ok(Value::Object(map))
}

/// The default secret file: `~/.ssb/secret`.
pub fn default_keys() -> PathBuf {
    crate::store::home()
        .unwrap_or_else(|| PathBuf::from("."))
        .join(".ssb")
        .join("secret")
}

/// Reads the secret file at `path` (or the default).
pub fn read_keys(path: Option<&PathBuf>) -> anyhow::Result<Keys> {
    let path = path.cloned().unwrap_or_else(default_keys);
    Keys::read_secret_file(&path).with_context(|| {
        format!(
            "reading the secret {} (create one with `sluice keys new`)",
            path.display()
        )
    })
}
