//! The parts of the `sluice` command that other programs reuse: the import pipeline
//! ([`ingest::Importer`]), progress reporting and opening a store the way the CLI does. The
//! comparison harness (`benches/src/bin/compare`) imports through this code, so what it
//! measures is what `sluice import` runs.
#![forbid(unsafe_code)]

pub mod ingest;
pub mod progress;
pub mod store;
