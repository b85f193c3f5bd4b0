//! `sluice keys`: create or show an ssb-keys `secret` file.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context as _;
use sluice_msg::Keys;

use super::publish::{default_keys, read_keys};

/// Arguments of `sluice keys`.
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(subcommand)]
    pub action: Action,
}

/// What to do with keys.
#[derive(Debug, clap::Subcommand)]
pub enum Action {
    /// Generate a new key pair and write it (never overwrites); prints the feed id.
    New {
        /// Where to write it [default: ~/.ssb/secret].
        path: Option<PathBuf>,
    },
    /// Print the feed id of a secret file.
    Show {
        /// The secret file [default: ~/.ssb/secret].
        #[arg(long, value_name = "PATH")]
        keys: Option<PathBuf>,
    },
}

/// Runs the action.
pub fn run(_cli: &crate::Cli, args: &Args) -> anyhow::Result<ExitCode> {
    match &args.action {
        Action::New { path } => new(path.clone().unwrap_or_else(default_keys)),
        Action::Show { keys } => {
            println!("{}", read_keys(keys.as_ref())?.id());
            Ok(ExitCode::SUCCESS)
        }
    }
}

fn new(path: PathBuf) -> anyhow::Result<ExitCode> {
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent)
            .with_context(|| format!("creating {}", parent.display()))?;
    }
    let keys = Keys::generate();
    keys.write_secret_file(&path)
        .with_context(|| format!("writing {}", path.display()))?;
    eprintln!("wrote {}", path.display());
    println!("{}", keys.id());
    Ok(ExitCode::SUCCESS)
}
