//! Raw-log comparison, the sluice-log side: append N records, reopen and scan, random gets.
//!
//! Mirrors `benches/compare/rawlog.js` (async-append-only-log): the same record bytes, the
//! same pseudo-random read order, each log's own batch API, durable at the end of the append.
//!
//! Record `i` is record `i % RECORD_POOL` of a pool made up front, on both sides, so neither
//! holds its whole input (100k records of 600 bytes would be 60 MB): the memory rows measure
//! the log, not the harness's copy of the data.

use std::path::Path;
use std::time::Instant;

use serde_json::json;
use sluice_log::Log;

use crate::Result;

/// The parameters of one raw-log run.
#[derive(Debug, Clone, Copy)]
pub struct RawLogParams {
    pub records: usize,
    pub size: usize,
    pub gets: usize,
}

/// Distinct records (rawlog.js: `POOL`); record `i` is the pool's `i % RECORD_POOL`.
pub const RECORD_POOL: usize = 1024;

/// Pool record `i`: `size` bytes of xorshift64 output seeded by `i` (as in rawlog.js).
pub fn record(i: usize, size: usize) -> Vec<u8> {
    let mut x = (i as u64)
        .wrapping_mul(0x9e37_79b9_7f4a_7c15)
        .wrapping_add(1);
    let mut out = Vec::with_capacity(size + 8);
    while out.len() < size {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        out.extend_from_slice(&x.to_le_bytes());
    }
    out.truncate(size);
    out
}

/// The read order of rawlog.js: the MINSTD generator (exact in JS doubles) over the indexes.
fn read_order(records: usize, gets: usize) -> impl Iterator<Item = usize> {
    let mut seed: u64 = 12345;
    (0..gets).map(move |_| {
        seed = (seed * 48_271) % 2_147_483_647;
        usize::try_from(seed).expect("31-bit seed fits usize") % records
    })
}

fn ms(since: Instant) -> f64 {
    since.elapsed().as_secs_f64() * 1e3
}

/// Runs the three measurements in `dir` and returns the result line's rows and info.
pub fn run(dir: &Path, p: RawLogParams) -> Result<serde_json::Value> {
    let path = dir.join("raw.log");
    let pool: Vec<Vec<u8>> = (0..p.records.min(RECORD_POOL))
        .map(|i| record(i, p.size))
        .collect();
    let log = Log::open(&path).map_err(|e| e.to_string())?;
    let t = Instant::now();
    let offsets = log
        .append_batch((0..p.records).map(|i| pool[i % pool.len()].as_slice()))
        .map_err(|e| e.to_string())?;
    log.flush().map_err(|e| e.to_string())?;
    let append_ms = ms(t);
    drop(log);

    let log = Log::open(&path).map_err(|e| e.to_string())?;
    let t = Instant::now();
    let (mut count, mut bytes) = (0usize, 0usize);
    for item in log.iter(0) {
        bytes += item.map_err(|e| e.to_string())?.1.len();
        count += 1;
    }
    let scan_ms = ms(t);
    let t = Instant::now();
    let mut got = 0usize;
    for i in read_order(offsets.len(), p.gets) {
        got += log.get(offsets[i]).map_err(|e| e.to_string())?.len();
    }
    let get_us = ms(t) * 1e3 / p.gets as f64;
    let file_bytes = std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
    Ok(json!({
        "rows": {"rawlog.append.ms": append_ms, "rawlog.scan.ms": scan_ms, "rawlog.get.us": get_us},
        "info": {"n": p.records, "size": p.size, "gets": p.gets, "scanned": count,
                 "scanned_bytes": bytes, "got_bytes": got, "file_bytes": file_bytes},
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_are_deterministic_and_sized() {
        assert_eq!(record(7, 600), record(7, 600));
        assert_ne!(record(7, 600), record(8, 600));
        assert_eq!(record(0, 13).len(), 13);
    }

    #[test]
    fn read_order_matches_rawlog_js() {
        // node -e 's=12345; for (i of [1,2,3]) console.log((s = s * 48271 % 2147483647) % 1000)'
        let order: Vec<usize> = read_order(1000, 3).collect();
        assert_eq!(order, vec![495, 227, 989]);
    }

    #[test]
    fn appends_scans_and_gets() {
        let dir = tempfile::tempdir().expect("temp dir");
        let out = run(
            dir.path(),
            RawLogParams {
                records: 50,
                size: 600,
                gets: 20,
            },
        )
        .expect("runs");
        assert_eq!(out["info"]["scanned"], 50);
        assert_eq!(out["info"]["got_bytes"], 20 * 600);
    }
}
