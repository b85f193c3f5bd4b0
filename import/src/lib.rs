//! sluice-import: readers for foreign SSB stores (JSON lines, flumelog-offset, ssb-db2 log.bipf).
#![forbid(unsafe_code)]
