//! Seed-derived sequential nonces: gen's own ed25519 signer, for its public test keys only.
//!
//! **Never use gen's keys for anything real: two signatures reveal the secret key.**
//!
//! An ed25519 signature of `M` is `(R, s)` with `R = r·B`, `k = SHA-512(R ‖ A ‖ M) mod l` and
//! `s = r + k·a`; a verifier checks only `s·B = R + k·A`, so the nonce `r` may be any scalar.
//! RFC 8032 derives `r = SHA-512(prefix ‖ M)`, which costs a constant-time fixed-base
//! multiplication `r·B` per signature (two thirds of signing, most of gen's CPU). Here each
//! author instead has a base nonce `r0` (SHA-512 of a domain string and the author's secret
//! seed, reduced mod l, with `R0 = r0·B` computed once) and the message with sequence `n` uses
//! `r = r0 + n` and `R = R0 + n·B`. Along an author's run `R` then costs one point addition
//! ([`NonceCursor`] carries it from one sequence to the next).
//!
//! The price: anyone who sees two signatures of one author with known sequences can solve
//! `s1 - s2 = (n1 - n2) + (k1 - k2)·a` for the secret scalar `a`. That is harmless here only
//! because gen's keys are derived from the public `--seed` and are public already. This
//! module is private to sluice-gen and reachable only from its generator; `Keys::sign`,
//! `publish` and every user key keep RFC 8032's deterministic nonces.

use curve25519_dalek::constants::ED25519_BASEPOINT_POINT;
use curve25519_dalek::edwards::EdwardsPoint;
use curve25519_dalek::scalar::{Scalar, clamp_integer};
use sha2::{Digest as _, Sha512};

/// Domain string of the base nonce; bump with the generator's output version.
const NONCE_DOMAIN: &[u8] = b"sluice-gen/v1/sequential-nonce/";

/// One author's signer: its secret scalar, public key and base nonce.
#[derive(Clone)]
pub(crate) struct SequentialSigner {
    /// `a`: the clamped scalar of the seed's SHA-512, as RFC 8032 expands it.
    secret: Scalar,
    /// `A = a·B`, encoded: the feed id's key.
    public: [u8; 32],
    /// `r0`: the nonce of sequence 0.
    base_nonce: Scalar,
    /// `R0 = r0·B`.
    base_point: EdwardsPoint,
}

impl std::fmt::Debug for SequentialSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SequentialSigner({:02x?}…)", &self.public[..4])
    }
}

/// The nonce point of one sequence, kept so that the next one costs one point addition.
#[derive(Clone, Copy, Debug)]
pub(crate) struct NonceCursor {
    /// The sequence whose nonce point `point` is.
    sequence: u64,
    /// `R0 + sequence·B`.
    point: EdwardsPoint,
}

impl SequentialSigner {
    /// The signer of the ed25519 key with this 32-byte secret seed.
    pub(crate) fn new(seed: &[u8; 32]) -> Self {
        let expanded: [u8; 64] = Sha512::digest(seed).into();
        let lower: [u8; 32] = expanded[..32].try_into().expect("32 of 64 bytes");
        let secret = Scalar::from_bytes_mod_order(clamp_integer(lower));
        let public = EdwardsPoint::mul_base(&secret).compress().to_bytes();
        let base_nonce = wide_scalar(Sha512::new().chain_update(NONCE_DOMAIN).chain_update(seed));
        Self {
            secret,
            public,
            base_nonce,
            base_point: EdwardsPoint::mul_base(&base_nonce),
        }
    }

    /// The encoded public key (the feed id's 32 bytes).
    pub(crate) fn public(&self) -> [u8; 32] {
        self.public
    }

    /// A cursor at sequence 0 (no message has that sequence; the first is 1).
    pub(crate) fn start(&self) -> NonceCursor {
        NonceCursor {
            sequence: 0,
            point: self.base_point,
        }
    }

    /// Signs `payload`, the message with `sequence`, moving `cursor` to that sequence.
    ///
    /// The signature depends only on the key, `sequence` and `payload`: a cursor one sequence
    /// behind costs a point addition, any other one a fixed-base multiplication.
    pub(crate) fn sign(&self, cursor: &mut NonceCursor, sequence: u64, payload: &[u8]) -> [u8; 64] {
        self.move_to(cursor, sequence);
        let nonce_point = cursor.point.compress().to_bytes();
        let challenge = wide_scalar(
            Sha512::new()
                .chain_update(nonce_point)
                .chain_update(self.public)
                .chain_update(payload),
        );
        let s = self.base_nonce + Scalar::from(sequence) + challenge * self.secret;
        let mut signature = [0u8; 64];
        signature[..32].copy_from_slice(&nonce_point);
        signature[32..].copy_from_slice(s.as_bytes());
        signature
    }

    /// Moves `cursor` to `sequence`: `R = R0 + sequence·B`.
    fn move_to(&self, cursor: &mut NonceCursor, sequence: u64) {
        if cursor.sequence == sequence {
            return;
        }
        cursor.point = if cursor.sequence.checked_add(1) == Some(sequence) {
            cursor.point + ED25519_BASEPOINT_POINT
        } else {
            self.base_point + EdwardsPoint::mul_base(&Scalar::from(sequence))
        };
        cursor.sequence = sequence;
    }
}

/// A SHA-512 hash reduced mod l.
fn wide_scalar(hash: Sha512) -> Scalar {
    Scalar::from_bytes_mod_order_wide(&hash.finalize().into())
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use ed25519_dalek::{Signature, SigningKey, VerifyingKey};

    use super::*;

    fn seed(i: u8) -> [u8; 32] {
        let mut seed = [i; 32];
        seed[31] = 0x5a;
        seed
    }

    #[test]
    fn public_key_is_dalek_s() {
        for i in 0..4 {
            let dalek = SigningKey::from_bytes(&seed(i)).verifying_key().to_bytes();
            assert_eq!(SequentialSigner::new(&seed(i)).public(), dalek);
        }
    }

    #[test]
    fn signatures_verify_strictly() {
        let signer = SequentialSigner::new(&seed(1));
        let key = VerifyingKey::from_bytes(&signer.public()).expect("a valid key");
        let mut cursor = signer.start();
        for sequence in 1..=50u64 {
            let payload = format!("message {sequence}").repeat(sequence as usize);
            let sig = signer.sign(&mut cursor, sequence, payload.as_bytes());
            let sig = Signature::from_bytes(&sig);
            assert!(
                key.verify_strict(payload.as_bytes(), &sig).is_ok(),
                "{sequence}"
            );
            assert!(key.verify_strict(b"other", &sig).is_err(), "{sequence}");
        }
    }

    #[test]
    fn a_jumping_cursor_signs_like_a_stepping_one() {
        let signer = SequentialSigner::new(&seed(2));
        let mut stepping = signer.start();
        let stepped: Vec<[u8; 64]> = (1..=20)
            .map(|n| signer.sign(&mut stepping, n, b"same"))
            .collect();
        for n in [20u64, 3, 1, 17] {
            let mut fresh = signer.start();
            assert_eq!(signer.sign(&mut fresh, n, b"same"), stepped[n as usize - 1]);
        }
    }

    #[test]
    fn nonce_points_never_repeat_within_an_author() {
        let signer = SequentialSigner::new(&seed(3));
        let mut cursor = signer.start();
        let points: HashSet<[u8; 32]> = (1..=300)
            .map(|n| {
                signer.sign(&mut cursor, n, b"same payload")[..32]
                    .try_into()
                    .expect("R")
            })
            .collect();
        assert_eq!(points.len(), 300);
        let other = SequentialSigner::new(&seed(4));
        let first = other.sign(&mut other.start(), 1, b"same payload");
        assert!(!points.contains(&first[..32]), "authors' nonces differ");
    }
}
