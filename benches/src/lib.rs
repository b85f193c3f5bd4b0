//! sluice-benches: shared set-up for the criterion benches and the comparison harness.
#![forbid(unsafe_code)]

pub mod net_child;
pub mod proc_stat;
