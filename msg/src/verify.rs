//! ed25519 verification with libsodium's strictness, single and batched.
//!
//! libsodium (what ssb-server uses) refuses small-order or non-canonical public keys,
//! small-order `R`, and non-canonical `S`, and compares `R` byte for byte with `s·B − k·A` (no
//! cofactor). `verify_strict` does the same. A batch equation checks none of the per-signature
//! rules, so [`precheck`] applies them to every signature before it joins a batch, and keys with
//! a torsion part are refused outright. One gap remains, which only a key's owner can use: an
//! `R` with a torsion part fails libsodium, but passes a batch whenever the random coefficients
//! happen to cancel that part (probability 1/2 for an order-2 part, less for larger orders).

use std::collections::HashMap;
use std::sync::{OnceLock, RwLock};

use curve25519_dalek::constants::EIGHT_TORSION;
use curve25519_dalek::scalar::Scalar;
// The batch equation runs on curve25519-dalek 5: its AVX-512 IFMA backend (picked at run time
// when the CPU has it, AVX2 otherwise) does the multiscalar multiplication in about half the
// time of version 4's AVX2 one. ed25519-dalek 2 (keys, single verification) stays on 4.
use curve25519_dalek_5::constants::ED25519_BASEPOINT_POINT;
use curve25519_dalek_5::edwards::{CompressedEdwardsY, EdwardsPoint};
use curve25519_dalek_5::scalar::Scalar as BatchScalar;
use curve25519_dalek_5::traits::{IsIdentity, VartimeMultiscalarMul};
use ed25519_dalek::{Signature, VerifyingKey};
use hmac::{Hmac, Mac};
use rand::Rng;
use sha2::{Digest, Sha512};

use crate::error::ValidationError;
use crate::refs::FeedId;
use crate::validate::HmacKey;

/// A key that passed [`check_key`], with its point as the batch equation needs it.
#[derive(Clone, Copy)]
struct Checked {
    key: VerifyingKey,
    point: EdwardsPoint,
}

/// Keys already checked, shared by every thread: the torsion check costs a scalar
/// multiplication, and decompressing a point costs a field exponentiation.
fn key_cache() -> &'static RwLock<HashMap<FeedId, Checked>> {
    static CACHE: OnceLock<RwLock<HashMap<FeedId, Checked>>> = OnceLock::new();
    CACHE.get_or_init(Default::default)
}

/// Bounds the cache's memory; past it the cache starts over.
const KEY_CACHE_LIMIT: usize = 1 << 16;

/// The author's key, refused when weak (small order), not canonical, or with a torsion part
/// (honest keys never have one; refusing them keeps batch and single verification equal).
pub(crate) fn verifying_key(author: &FeedId) -> Result<VerifyingKey, ValidationError> {
    checked(author).map(|c| c.key)
}

/// The author's checked key from the cache, checking and caching it first when needed.
fn checked(author: &FeedId) -> Result<Checked, ValidationError> {
    if let Some(hit) = key_cache().read().ok().and_then(|c| c.get(author).copied()) {
        return Ok(hit);
    }
    let checked = check_key(author)?;
    if let Ok(mut cache) = key_cache().write() {
        if cache.len() >= KEY_CACHE_LIMIT {
            cache.clear();
        }
        cache.insert(*author, checked);
    }
    Ok(checked)
}

fn check_key(author: &FeedId) -> Result<Checked, ValidationError> {
    let key = VerifyingKey::from_bytes(&author.0).map_err(|_| ValidationError::WeakKey)?;
    let point = key.to_edwards();
    let canonical = point.compress().0 == author.0;
    if !canonical || key.is_weak() || !point.is_torsion_free() {
        return Err(ValidationError::WeakKey);
    }
    let point = CompressedEdwardsY(author.0)
        .decompress()
        .ok_or(ValidationError::WeakKey)?;
    Ok(Checked { key, point })
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

/// One batch of prechecked signatures; `true` only if every one verifies (then each would pass
/// [`verify_one`], but for an `R` with a torsion part: see the module's notes).
///
/// The check is ed25519-dalek's `verify_batch` equation, `Σ zᵢ·(sᵢ·B − Rᵢ − kᵢ·Aᵢ) = 0` with
/// `kᵢ = SHA-512(Rᵢ ‖ Aᵢ ‖ Mᵢ)` and independent random 128-bit `zᵢ`, regrouped by key: the
/// terms of one author add up to one `(Σ zᵢkᵢ)·A`, so the multiscalar multiplication has one
/// point per signature plus one per distinct author instead of two per signature (20–25 %
/// less CPU than `verify_batch` on the medium fixture in batches of 1,024, `--bench
/// ingest_cpu`; curve25519-dalek 5's IFMA backend takes another 7–16 % off). The `zᵢ` come
/// from the thread's CSPRNG (dalek derives them from the inputs), so a signer cannot choose
/// messages that make them cancel anything.
pub(crate) fn verify_many(keys: &[VerifyingKey], payloads: &[&[u8]], sigs: &[Signature]) -> bool {
    debug_assert!(keys.len() == payloads.len() && keys.len() == sigs.len());
    let mut rng = rand::thread_rng();
    let mut scalars = Vec::with_capacity(sigs.len() + 1);
    let mut points = Vec::with_capacity(sigs.len() + 1);
    let mut base = BatchScalar::ZERO;
    let mut authors: HashMap<[u8; 32], usize> = HashMap::new();
    let mut gathered: Vec<(BatchScalar, EdwardsPoint)> = Vec::new();
    for ((key, payload), sig) in keys.iter().zip(payloads).zip(sigs) {
        let s = BatchScalar::from_canonical_bytes(*sig.s_bytes());
        let Some(s) = Option::<BatchScalar>::from(s) else {
            return false;
        };
        let Some(r) = CompressedEdwardsY(*sig.r_bytes()).decompress() else {
            return false;
        };
        let k = challenge(sig.r_bytes(), key.as_bytes(), payload);
        let z = BatchScalar::from(rng.r#gen::<u128>());
        base += z * s;
        scalars.push(z);
        points.push(r);
        let slot = match authors.entry(key.to_bytes()) {
            std::collections::hash_map::Entry::Occupied(e) => *e.get(),
            std::collections::hash_map::Entry::Vacant(e) => {
                let Ok(author) = checked(&FeedId(key.to_bytes())) else {
                    return false;
                };
                gathered.push((BatchScalar::ZERO, author.point));
                *e.insert(gathered.len() - 1)
            }
        };
        gathered[slot].0 += z * k;
    }
    // Σ zᵢRᵢ + Σ_A (Σ zᵢkᵢ)·A − (Σ zᵢsᵢ)·B must be the identity.
    scalars.push(-base);
    points.push(ED25519_BASEPOINT_POINT);
    for (scalar, point) in gathered {
        scalars.push(scalar);
        points.push(point);
    }
    EdwardsPoint::vartime_multiscalar_mul(&scalars, &points).is_identity()
}

/// Whether every signature verifies, checked as sluice's validation checks them: libsodium's
/// per-key and per-signature rules, then one batch equation (see [`verify_many`]). Result
/// `true` is for `sigs[i]` by `authors[i]` over `payloads[i]`, for every `i`. For benches that
/// measure the signature bound and for tools; validation itself reports each message's verdict.
#[must_use]
pub fn batch_verifies(authors: &[FeedId], payloads: &[&[u8]], sigs: &[[u8; 64]]) -> bool {
    if authors.len() != payloads.len() || authors.len() != sigs.len() {
        return false;
    }
    let keys: Option<Vec<VerifyingKey>> = authors.iter().map(|a| verifying_key(a).ok()).collect();
    let sigs: Option<Vec<Signature>> = sigs.iter().map(|s| precheck(s).ok()).collect();
    match (keys, sigs) {
        (Some(keys), Some(sigs)) => verify_many(&keys, payloads, &sigs),
        _ => false,
    }
}

/// The challenge `k = SHA-512(R ‖ A ‖ M) mod l` of a signature.
fn challenge(r: &[u8; 32], key: &[u8; 32], payload: &[u8]) -> BatchScalar {
    let mut hash = Sha512::new();
    hash.update(r);
    hash.update(key);
    hash.update(payload);
    BatchScalar::from_bytes_mod_order_wide(&hash.finalize().into())
}

#[cfg(test)]
mod tests {
    use super::*;
    use ed25519_dalek::{Signer, SigningKey};

    /// `n` signed payloads of different lengths by three keys, the first key signing most.
    fn signed(n: usize) -> (Vec<VerifyingKey>, Vec<Vec<u8>>, Vec<Signature>) {
        let signers: Vec<SigningKey> = (1..=3u8)
            .map(|i| SigningKey::from_bytes(&[i; 32]))
            .collect();
        let (mut keys, mut payloads, mut sigs) = (vec![], vec![], vec![]);
        for i in 0..n {
            let signer = &signers[if i % 3 == 0 { i % 2 + 1 } else { 0 }];
            let payload: Vec<u8> = (0..(i * 37) % 700).map(|j| (i * 7 + j) as u8).collect();
            sigs.push(signer.sign(&payload));
            keys.push(signer.verifying_key());
            payloads.push(payload);
        }
        (keys, payloads, sigs)
    }

    fn batch(keys: &[VerifyingKey], payloads: &[Vec<u8>], sigs: &[Signature]) -> bool {
        let payloads: Vec<&[u8]> = payloads.iter().map(Vec::as_slice).collect();
        verify_many(keys, &payloads, sigs)
    }

    #[test]
    fn batches_of_valid_signatures_pass() {
        for n in [0, 1, 2, 5, 64, 200] {
            let (keys, payloads, sigs) = signed(n);
            assert!(batch(&keys, &payloads, &sigs), "batch of {n}");
        }
    }

    #[test]
    fn any_one_bad_signature_fails_the_batch() {
        let (keys, payloads, sigs) = signed(24);
        for i in 0..sigs.len() {
            let mut p = payloads.clone();
            p[i].push(b'!');
            assert!(!batch(&keys, &p, &sigs), "payload {i} changed");

            let mut s = sigs.clone();
            let mut bytes = s[i].to_bytes();
            bytes[32] ^= 1;
            s[i] = Signature::from_bytes(&bytes);
            assert!(!batch(&keys, &payloads, &s), "s of {i} changed");

            // Another signature's R: a valid point that is the wrong one.
            let mut s = sigs.clone();
            let mut bytes = s[i].to_bytes();
            bytes[..32].copy_from_slice(&sigs[(i + 1) % sigs.len()].r_bytes()[..]);
            s[i] = Signature::from_bytes(&bytes);
            assert!(!batch(&keys, &payloads, &s), "R of {i} changed");

            let mut k = keys.clone();
            k[i] = keys[(i + 1) % keys.len()];
            if k[i] != keys[i] {
                assert!(!batch(&k, &payloads, &sigs), "key of {i} changed");
            }
        }
    }

    #[test]
    fn swapped_signatures_of_one_author_fail() {
        // Terms of one key are added up: two of its signatures traded must still fail.
        let (keys, payloads, mut sigs) = signed(12);
        assert_eq!(keys[1], keys[2]);
        sigs.swap(1, 2);
        assert!(!batch(&keys, &payloads, &sigs));
    }

    #[test]
    fn an_r_that_is_not_a_point_fails_the_batch() {
        let (keys, payloads, mut sigs) = signed(8);
        let mut bytes = sigs[3].to_bytes();
        // y = 2 is not the y of any curve point.
        let mut not_a_point = [0u8; 32];
        not_a_point[0] = 2;
        bytes[..32].copy_from_slice(&not_a_point);
        sigs[3] = Signature::from_bytes(&bytes);
        assert!(
            CompressedEdwardsY(*sigs[3].r_bytes())
                .decompress()
                .is_none()
        );
        assert!(!batch(&keys, &payloads, &sigs));
    }

    #[test]
    fn agrees_with_dalek_and_single_verification() {
        let (keys, payloads, sigs) = signed(40);
        let refs: Vec<&[u8]> = payloads.iter().map(Vec::as_slice).collect();
        for flip in [None, Some(0), Some(17), Some(39)] {
            let mut s = sigs.clone();
            if let Some(i) = flip {
                let mut bytes = s[i].to_bytes();
                bytes[40] ^= 0x10;
                s[i] = Signature::from_bytes(&bytes);
            }
            let singles = (0..s.len()).all(|i| keys[i].verify_strict(refs[i], &s[i]).is_ok());
            let dalek = ed25519_dalek::verify_batch(&refs, &s, &keys).is_ok();
            let ours = verify_many(&keys, &refs, &s);
            assert_eq!(ours, singles, "flip {flip:?}");
            assert_eq!(ours, dalek, "flip {flip:?}");
        }
    }

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
