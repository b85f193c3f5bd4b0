//! Small crypto building blocks shared by the handshake and the box stream (NaCl equivalents).

use ed25519_dalek::{SigningKey, VerifyingKey};
use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256, Sha512};
use x25519_dalek::{PublicKey as CurvePublic, StaticSecret};
use xsalsa20poly1305::aead::{AeadInPlace, KeyInit};
use xsalsa20poly1305::{Tag, XSalsa20Poly1305};

/// Length of a secretbox MAC (Poly1305 tag).
pub const MAC_LEN: usize = 16;
/// Length of a secretbox nonce.
pub const NONCE_LEN: usize = 24;

type HmacSha512 = Hmac<Sha512>;

/// libsodium `crypto_auth`: HMAC-SHA-512 truncated to 32 bytes.
pub fn auth(key: &[u8; 32], msg: &[u8]) -> [u8; 32] {
    let mut mac = <HmacSha512 as Mac>::new_from_slice(key).expect("HMAC takes any key length");
    mac.update(msg);
    let full = mac.finalize().into_bytes();
    let mut out = [0u8; 32];
    out.copy_from_slice(&full[..32]);
    out
}

/// libsodium `crypto_auth_verify`, in constant time.
pub fn auth_verify(key: &[u8; 32], msg: &[u8], tag: &[u8]) -> bool {
    let mut mac = <HmacSha512 as Mac>::new_from_slice(key).expect("HMAC takes any key length");
    mac.update(msg);
    tag.len() == 32 && mac.verify_truncated_left(tag).is_ok()
}

/// SHA-256 of the concatenation of `parts`.
pub fn sha256(parts: &[&[u8]]) -> [u8; 32] {
    let mut h = Sha256::new();
    for p in parts {
        h.update(p);
    }
    h.finalize().into()
}

/// An ed25519 public key as a curve25519 (Montgomery) public key, as libsodium converts it.
pub fn curve_public(key: &VerifyingKey) -> CurvePublic {
    CurvePublic::from(key.to_montgomery().to_bytes())
}

/// An ed25519 secret key as a curve25519 secret: the clamped scalar bytes of SHA-512(seed).
pub fn curve_secret(key: &SigningKey) -> StaticSecret {
    StaticSecret::from(key.to_scalar_bytes())
}

/// X25519 Diffie-Hellman; `None` when the result is not contributory (a low-order peer key).
pub fn dh(secret: &StaticSecret, public: &CurvePublic) -> Option<[u8; 32]> {
    let shared = secret.diffie_hellman(public);
    shared.was_contributory().then(|| shared.to_bytes())
}

/// Encrypts `buf` in place with XSalsa20-Poly1305 and returns the detached MAC.
pub fn seal_detached(key: &[u8; 32], nonce: &[u8; NONCE_LEN], buf: &mut [u8]) -> [u8; MAC_LEN] {
    let cipher = XSalsa20Poly1305::new(key.into());
    let tag = cipher
        .encrypt_in_place_detached(nonce.into(), b"", buf)
        .expect("secretbox encryption cannot fail for in-memory buffers");
    tag.into()
}

/// Decrypts `buf` in place, checking the detached MAC; `false` when it does not authenticate.
pub fn open_detached(key: &[u8; 32], nonce: &[u8; NONCE_LEN], buf: &mut [u8], mac: &[u8]) -> bool {
    let cipher = XSalsa20Poly1305::new(key.into());
    cipher
        .decrypt_in_place_detached(nonce.into(), b"", buf, Tag::from_slice(mac))
        .is_ok()
}

/// NaCl `crypto_secretbox_easy`: MAC ‖ ciphertext.
pub fn seal(key: &[u8; 32], nonce: &[u8; NONCE_LEN], plain: &[u8]) -> Vec<u8> {
    let mut out = vec![0u8; MAC_LEN + plain.len()];
    out[MAC_LEN..].copy_from_slice(plain);
    let mac = seal_detached(key, nonce, &mut out[MAC_LEN..]);
    out[..MAC_LEN].copy_from_slice(&mac);
    out
}

/// NaCl `crypto_secretbox_open_easy`; `None` when it does not authenticate.
pub fn open(key: &[u8; 32], nonce: &[u8; NONCE_LEN], boxed: &[u8]) -> Option<Vec<u8>> {
    let (mac, cipher) = boxed.split_at_checked(MAC_LEN)?;
    let mut plain = cipher.to_vec();
    open_detached(key, nonce, &mut plain, mac).then_some(plain)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secretbox_round_trips_and_rejects_tampering() {
        let key = [7u8; 32];
        let nonce = [1u8; NONCE_LEN];
        let mut boxed = seal(&key, &nonce, b"hello");
        assert_eq!(boxed.len(), MAC_LEN + 5);
        assert_eq!(open(&key, &nonce, &boxed).as_deref(), Some(&b"hello"[..]));
        boxed[MAC_LEN] ^= 1;
        assert_eq!(open(&key, &nonce, &boxed), None);
        assert_eq!(open(&key, &nonce, &boxed[..3]), None);
    }

    #[test]
    fn auth_is_truncated_hmac_sha512() {
        let key = [9u8; 32];
        let tag = auth(&key, b"msg");
        assert!(auth_verify(&key, b"msg", &tag));
        assert!(!auth_verify(&key, b"msh", &tag));
        assert!(!auth_verify(&key, b"msg", &tag[..31]));
    }

    #[test]
    fn low_order_public_key_is_not_contributory() {
        let secret = StaticSecret::from([5u8; 32]);
        assert_eq!(dh(&secret, &CurvePublic::from([0u8; 32])), None);
        let other = CurvePublic::from(&StaticSecret::from([6u8; 32]));
        assert!(dh(&secret, &other).is_some());
    }
}
