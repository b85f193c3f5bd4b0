//! Physical bounds measured on this machine, for the rows where one applies.
//!
//! - Import with full validation must check every ed25519 signature: the bound is the fastest
//!   batch-verification rate we have on all cores (sluice-msg's `batch_verifies` in batches of
//!   1,024, which gathers the terms of one key) times the message count; ed25519-dalek's
//!   `verify_batch` in batches of 64 is measured too, for reference.
//! - Rebuilding views must at least read the whole log once: the bound is one CRC32 pass over
//!   the log's bytes in memory (what sluice-log's checked framing costs per scan).

use std::time::Instant;

use ed25519_dalek::{Signature, Signer, SigningKey, VerifyingKey};
use rand::{RngCore, SeedableRng};
use rayon::prelude::*;
use serde::Serialize;
use sluice_msg::FeedId;

/// Signatures per ed25519-dalek `verify_batch` call (a batch of one feed's messages is of this order).
const BATCH: usize = 64;
/// Signatures per sluice-msg `batch_verifies` call: what sluice's validation uses.
const SLUICE_BATCH: usize = 1024;
/// Bytes per signed message, about the size of an SSB message.
const MSG_BYTES: usize = 600;

/// The measured rates.
#[derive(Debug, Clone, Serialize)]
pub struct Bounds {
    pub signatures: usize,
    /// Batch verification, one core, µs per signature.
    pub verify_us_per_sig_1core: f64,
    /// Batch verification over all cores (rayon), µs per signature.
    pub verify_us_per_sig_all: f64,
    /// sluice-msg's batch verification (batches of 1,024) over all cores, µs per signature.
    pub sluice_us_per_sig_all: f64,
    /// One CRC32 pass over memory, GiB/s.
    pub crc_gib_s: f64,
}

impl Bounds {
    /// Import bound in ms for `messages` signatures.
    pub fn import_ms(&self, messages: usize) -> f64 {
        messages as f64 * self.sluice_us_per_sig_all.min(self.verify_us_per_sig_all) / 1e3
    }

    /// Scan bound in ms for `bytes` of log.
    pub fn scan_ms(&self, bytes: u64) -> f64 {
        bytes as f64 / (self.crc_gib_s * (1u64 << 30) as f64) * 1e3
    }
}

struct Signed {
    author: FeedId,
    key: VerifyingKey,
    msg: Vec<u8>,
    sig: Signature,
}

fn sign_all(n: usize) -> Vec<Signed> {
    let mut rng = seeded_rng();
    let keys: Vec<SigningKey> = (0..150).map(|_| SigningKey::generate(&mut rng)).collect();
    (0..n)
        .into_par_iter()
        .map(|i| {
            let key = &keys[i % keys.len()];
            let mut msg = vec![0u8; MSG_BYTES];
            msg[..8].copy_from_slice(&(i as u64).to_le_bytes());
            Signed {
                author: FeedId(key.verifying_key().to_bytes()),
                key: key.verifying_key(),
                sig: key.sign(&msg),
                msg,
            }
        })
        .collect()
}

/// A seeded RNG from `rand` (StdRng), so the key set is the same on every run.
fn seeded_rng() -> rand::rngs::StdRng {
    rand::rngs::StdRng::seed_from_u64(0x5eed)
}

fn verify_chunk(chunk: &[Signed]) -> bool {
    let msgs: Vec<&[u8]> = chunk.iter().map(|s| s.msg.as_slice()).collect();
    let sigs: Vec<Signature> = chunk.iter().map(|s| s.sig).collect();
    let keys: Vec<VerifyingKey> = chunk.iter().map(|s| s.key).collect();
    ed25519_dalek::verify_batch(&msgs, &sigs, &keys).is_ok()
}

fn sluice_verify_chunk(chunk: &[Signed]) -> bool {
    let authors: Vec<FeedId> = chunk.iter().map(|s| s.author).collect();
    let msgs: Vec<&[u8]> = chunk.iter().map(|s| s.msg.as_slice()).collect();
    let sigs: Vec<[u8; 64]> = chunk.iter().map(|s| s.sig.to_bytes()).collect();
    sluice_msg::batch_verifies(&authors, &msgs, &sigs)
}

fn per_sig_us(n: usize, f: impl FnOnce() -> bool) -> Result<f64, String> {
    let t = Instant::now();
    if !f() {
        return Err("batch verification failed on valid signatures".into());
    }
    Ok(t.elapsed().as_secs_f64() * 1e6 / n as f64)
}

fn crc_rate(bytes: usize) -> f64 {
    let mut buf = vec![0u8; bytes];
    rand::rngs::StdRng::seed_from_u64(1).fill_bytes(&mut buf);
    let t = Instant::now();
    let crc = crc32fast::hash(&buf);
    let secs = t.elapsed().as_secs_f64();
    std::hint::black_box(crc);
    buf.len() as f64 / secs / (1u64 << 30) as f64
}

/// Measures the bounds with `signatures` signatures (100k in a normal run) and a CRC32 pass
/// over `crc_bytes` bytes (256 MiB in a normal run).
pub fn measure(signatures: usize, crc_bytes: usize) -> Result<Bounds, String> {
    let signed = sign_all(signatures);
    let one = per_sig_us(signatures, || signed.chunks(BATCH).all(verify_chunk))?;
    let all = per_sig_us(signatures, || signed.par_chunks(BATCH).all(verify_chunk))?;
    let sluice = per_sig_us(signatures, || {
        signed.par_chunks(SLUICE_BATCH).all(sluice_verify_chunk)
    })?;
    Ok(Bounds {
        signatures,
        verify_us_per_sig_1core: one,
        verify_us_per_sig_all: all,
        sluice_us_per_sig_all: sluice,
        crc_gib_s: crc_rate(crc_bytes),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn measures_positive_rates_and_rejects_nothing_valid() {
        let b = measure(256, 1 << 20).expect("valid signatures verify");
        assert!(b.verify_us_per_sig_all > 0.0 && b.crc_gib_s > 0.0);
        assert!(b.import_ms(1000) > 0.0);
    }

    #[test]
    fn a_forged_signature_fails_the_batch() {
        let mut signed = sign_all(4);
        signed[2].msg[100] ^= 1;
        assert!(!verify_chunk(&signed));
        assert!(!sluice_verify_chunk(&signed));
    }
}
