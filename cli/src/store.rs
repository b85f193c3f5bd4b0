//! Where the database lives and how commands open it.

use std::path::{Path, PathBuf};

use anyhow::{Context as _, bail};
use sluice_views::Db;

/// The default database directory: `$HOME/.sluice` (or `./.sluice` without a home).
pub fn default_dir() -> PathBuf {
    home().unwrap_or_else(|| PathBuf::from(".")).join(".sluice")
}

/// The user's home directory, from `HOME` (`USERPROFILE` on Windows).
pub fn home() -> Option<PathBuf> {
    std::env::var_os("HOME")
        .or_else(|| std::env::var_os("USERPROFILE"))
        .filter(|h| !h.is_empty())
        .map(PathBuf::from)
}

/// Opens (creating if needed) the database for writing.
pub fn open_rw(dir: &Path) -> anyhow::Result<Db> {
    Db::open(dir).with_context(|| format!("opening the database in {}", dir.display()))
}

/// Opens an existing database read-only (works while another process writes to it).
pub fn open_ro(dir: &Path) -> anyhow::Result<Db> {
    if !dir.join("log").exists() {
        bail!(
            "no sluice database in {} (choose one with --db or SLUICE_DB; `sluice import` creates one)",
            dir.display()
        );
    }
    Db::open_read_only(dir).with_context(|| format!("opening the database in {}", dir.display()))
}
