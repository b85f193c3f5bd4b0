//! ed25519 verification with libsodium's strictness, single and batched.
//!
//! libsodium (what ssb-server uses) refuses small-order or non-canonical public keys,
//! small-order `R`, and non-canonical `S`. `verify_strict` does the same; `verify_batch` does
//! not, so [`precheck`] applies those rules to every signature before it joins a batch.

use std::collections::HashMap;
use std::sync::{OnceLock, RwLock};

use curve25519_dalek::constants::EIGHT_TORSION;
use curve25519_dalek::scalar::Scalar;
use ed25519_dalek::{Signature, VerifyingKey};
use hmac::{Hmac, Mac};
use sha2::Sha512;

use crate::error::ValidationError;
use crate::refs::FeedId;
use crate::validate::HmacKey;

/// Keys already checked, shared by every thread: the torsion check costs a scalar multiplication.
fn key_cache() -> &'static RwLock<HashMap<FeedId, VerifyingKey>> {
    static CACHE: OnceLock<RwLock<HashMap<FeedId, VerifyingKey>>> = OnceLock::new();
    CACHE.get_or_init(Default::default)
}

/// Bounds the cache's memory; past it the cache starts over.
const KEY_CACHE_LIMIT: usize = 1 << 16;

/// The author's key, refused when weak (small order), not canonical, or with a torsion part
/// (honest keys never have one; refusing them keeps batch and single verification equal).
pub(crate) fn verifying_key(author: &FeedId) -> Result<VerifyingKey, ValidationError> {
    if let Some(key) = key_cache().read().ok().and_then(|c| c.get(author).copied()) {
        return Ok(key);
    }
    let key = check_key(author)?;
    if let Ok(mut cache) = key_cache().write() {
        if cache.len() >= KEY_CACHE_LIMIT {
            cache.clear();
        }
        cache.insert(*author, key);
    }
    Ok(key)
}

fn check_key(author: &FeedId) -> Result<VerifyingKey, ValidationError> {
    let key = VerifyingKey::from_bytes(&author.0).map_err(|_| ValidationError::WeakKey)?;
    let point = key.to_edwards();
    let canonical = point.compress().0 == author.0;
    if !canonical || key.is_weak() || !point.is_torsion_free() {
        return Err(ValidationError::WeakKey);
    }
    Ok(key)
}

/// Encodings of the small-order points, sign bit cleared (canonical ones plus `p` and `p+1`).
fn small_order_encodings() -> &'static [[u8; 32]] {
    static SET: OnceLock<Vec<[u8; 32]>> = OnceLock::new();
    SET.get_or_init(|| {
        let mut set: Vec<[u8; 32]> = EIGHT_TORSION
            .iter()
            .map(|p| {
                let mut b = p.compress().0;
                b[31] &= 0x7f;
                b
            })
            .collect();
        // y = p and y = p + 1 are non-canonical encodings of y = 0 and y = 1.
        let mut p = [0xff; 32];
        p[0] = 0xed;
        p[31] = 0x7f;
        let mut p1 = p;
        p1[0] = 0xee;
        set.extend([p, p1]);
        set
    })
}

/// The per-signature rules of strict verification that batch verification skips.
pub(crate) fn precheck(sig: &[u8; 64]) -> Result<Signature, ValidationError> {
    let mut r: [u8; 32] = sig[..32].try_into().expect("32 bytes");
    let s: [u8; 32] = sig[32..].try_into().expect("32 bytes");
    if Scalar::from_canonical_bytes(s).is_none().into() {
        return Err(ValidationError::BadSignature);
    }
    r[31] &= 0x7f;
    if small_order_encodings().contains(&r) {
        return Err(ValidationError::BadSignature);
    }
    // An R that does not decompress fails the batch, and then its single re-check.
    Ok(Signature::from_bytes(sig))
}

/// The bytes the signature covers: the encoding, or its HMAC-SHA-512-256 under `hmac`.
pub(crate) fn signed_payload(encoding: Vec<u8>, hmac: Option<&HmacKey>) -> Vec<u8> {
    let Some(key) = hmac else { return encoding };
    let mut mac = Hmac::<Sha512>::new_from_slice(&key.0).expect("HMAC takes any key length");
    mac.update(&encoding);
    mac.finalize().into_bytes()[..32].to_vec()
}

/// Strict single verification (libsodium `crypto_sign_verify_detached` semantics).
pub(crate) fn verify_one(
    key: &VerifyingKey,
    payload: &[u8],
    sig: &[u8; 64],
) -> Result<(), ValidationError> {
    let sig = precheck(sig)?;
    key.verify_strict(payload, &sig)
        .map_err(|_| ValidationError::BadSignature)
}

/// One batch of prechecked signatures; `Ok` only if every one verifies.
pub(crate) fn verify_many(keys: &[VerifyingKey], payloads: &[&[u8]], sigs: &[Signature]) -> bool {
    ed25519_dalek::verify_batch(payloads, sigs, keys).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn small_order_r_and_weak_keys_are_refused() {
        let identity = {
            let mut b = [0u8; 32];
            b[0] = 1;
            b
        };
        assert!(matches!(
            verifying_key(&FeedId(identity)),
            Err(ValidationError::WeakKey)
        ));
        let mut sig = [0u8; 64];
        sig[..32].copy_from_slice(&identity);
        assert!(matches!(precheck(&sig), Err(ValidationError::BadSignature)));
        // S = l (the group order) is not canonical.
        let mut sig2 = [0u8; 64];
        sig2[..32].copy_from_slice(&curve25519_dalek::constants::ED25519_BASEPOINT_COMPRESSED.0);
        let l: [u8; 32] = [
            0xed, 0xd3, 0xf5, 0x5c, 0x1a, 0x63, 0x12, 0x58, 0xd6, 0x9c, 0xf7, 0xa2, 0xde, 0xf9,
            0xde, 0x14, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x10,
        ];
        sig2[32..].copy_from_slice(&l);
        assert!(matches!(
            precheck(&sig2),
            Err(ValidationError::BadSignature)
        ));
    }
}
