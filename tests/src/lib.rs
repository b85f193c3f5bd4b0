//! Shared helpers for sluice's integration tests: where the test data lives.
//!
//! Small fixtures are copied into `tests/data/` so a fresh clone passes on its own. Large
//! fixtures are read from `../shared/data` beside the repository: when that is missing a test
//! may skip, except under CI (`CI=true`), where a missing fixture is a failure.
#![forbid(unsafe_code)]

use std::path::{Path, PathBuf};

/// The repository's own test data folder (`tests/data`).
pub fn data_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("data")
}

/// The shared data folder (`../shared/data` beside the repository), if present.
///
/// Returns `None` when it is missing outside CI, so the caller can skip.
///
/// # Panics
/// When it is missing and the environment variable `CI` is `true`.
pub fn shared_data() -> Option<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/data");
    if dir.is_dir() {
        return Some(dir);
    }
    if std::env::var("CI").is_ok_and(|v| v == "true") {
        panic!(
            "CI=true but the shared fixtures are missing at {}",
            dir.display()
        );
    }
    eprintln!("skipping: shared fixtures not found at {}", dir.display());
    None
}

/// Reads a shared fixture, decompressing `.zst` files. `None` when skipped (see [`shared_data`]).
pub fn shared_fixture(rel: &str) -> Option<Vec<u8>> {
    let path = shared_data()?.join(rel);
    let raw = std::fs::read(&path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
    if rel.ends_with(".zst") {
        Some(zstd::decode_all(&raw[..]).unwrap_or_else(|e| panic!("zstd {}: {e}", path.display())))
    } else {
        Some(raw)
    }
}
