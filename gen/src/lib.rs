//! sluice-gen: a deterministic generator of realistic signed SSB feeds.
//!
//! [`Generator`] turns [`GenOptions`] (message count, author count, seed) into signed messages,
//! wave by wave, in a realistic receive order; [`write_jsonl`] streams them as JSON lines. The
//! same options give byte-identical output on any machine and with any number of threads.
#![forbid(unsafe_code)]

mod authors;
mod content;
mod error;
mod generator;
mod memory;
mod output;
mod seed;
mod signer;
mod text;

pub use content::{Kind, MIX};
pub use error::GenError;
pub use generator::{Generated, Generator};
pub use output::{secret_path, write_jsonl, write_secrets};

/// What to generate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GenOptions {
    /// How many messages in total.
    pub messages: u64,
    /// How many feeds write them (at least 1); feed 0 is the most active.
    pub authors: u32,
    /// Any string; the same seed gives the same output.
    pub seed: String,
    /// Claimed timestamp of the first message, ms since the epoch.
    pub start_timestamp: u64,
    /// Milliseconds between consecutive messages in receive order.
    pub interval_ms: u64,
}

impl GenOptions {
    /// `messages` messages by `authors` feeds from `seed`, starting in August 2015 (like
    /// ssb-fixtures) one message every 30 s.
    pub fn new(messages: u64, authors: u32, seed: impl Into<String>) -> Self {
        Self {
            messages,
            authors,
            seed: seed.into(),
            start_timestamp: 1_438_787_025_000,
            interval_ms: 30_000,
        }
    }
}
