//! sluice-benches: shared set-up for the criterion benches and the comparison harness.
#![forbid(unsafe_code)]

pub mod proc_stat;
