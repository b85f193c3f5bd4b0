//! `sluice whoami`: the node's identity. The node's key pair lives in `<db>/secret` (an ssb-keys
//! file), created on first use; `serve` and `replicate` use it for the secret handshake.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context as _;
use sluice_msg::Keys;

/// Arguments of `sluice whoami`.
#[derive(Debug, clap::Args)]
pub struct Args {}

/// Prints the node's feed id (creating its key pair if the store has none yet).
pub fn run(cli: &crate::Cli, _args: &Args) -> anyhow::Result<ExitCode> {
    println!("{}", node_keys(&cli.db)?.id());
    Ok(ExitCode::SUCCESS)
}

/// Where the node's key pair lives.
pub fn secret_path(db: &Path) -> PathBuf {
    db.join("secret")
}

/// The node's key pair: `<db>/secret`, created (with the directory) on first use.
pub fn node_keys(db: &Path) -> anyhow::Result<Keys> {
    let path = secret_path(db);
    if !path.exists() {
        std::fs::create_dir_all(db).with_context(|| format!("creating {}", db.display()))?;
        Keys::generate()
            .write_secret_file(&path)
            .with_context(|| format!("writing the node's key pair to {}", path.display()))?;
    }
    Keys::read_secret_file(&path)
        .with_context(|| format!("reading the node's key pair {}", path.display()))
}
