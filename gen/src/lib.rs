//! sluice-gen: a deterministic generator of realistic signed SSB feeds.
#![forbid(unsafe_code)]
