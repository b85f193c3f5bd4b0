//! sluice-log: a generic, crash-safe, memory-mapped, append-only log of byte records.
