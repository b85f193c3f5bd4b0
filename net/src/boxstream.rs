//! Box stream: the encrypted, authenticated framing that follows the secret handshake.
//!
//! Each box is a 34-byte boxed header (2-byte big-endian body length ‖ the body's MAC) followed
//! by the body (at most 4096 bytes) encrypted without its MAC. Nonces are a 24-byte big-endian
//! counter: the header takes `n`, the body `n + 1`. A boxed header of 18 zero bytes says goodbye.

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

use crate::crypto::{self, MAC_LEN, NONCE_LEN};
use crate::error::{Error, Result};
use crate::shs::BoxKeys;

/// The largest body one box carries.
pub const MAX_BODY: usize = 4096;
/// Boxes encrypted into one write (at most 64 KiB of data per write syscall).
const WRITE_BOXES: usize = 16;
/// The most buffer capacity a writer keeps between sends.
const KEEP_BUFFER: usize = 2 * (MAX_BODY + HEADER_LEN);
/// Length of the plain header: body length (u16 BE) ‖ body MAC.
const PLAIN_HEADER_LEN: usize = 2 + MAC_LEN;
/// Length of a boxed header on the wire.
pub const HEADER_LEN: usize = MAC_LEN + PLAIN_HEADER_LEN;

/// Adds one to a big-endian counter nonce, wrapping around.
fn increment(nonce: &mut [u8; NONCE_LEN]) {
    for byte in nonce.iter_mut().rev() {
        let (next, carry) = byte.overflowing_add(1);
        *byte = next;
        if !carry {
            return;
        }
    }
}

/// The nonce after this one.
fn next(nonce: &[u8; NONCE_LEN]) -> [u8; NONCE_LEN] {
    let mut n = *nonce;
    increment(&mut n);
    n
}

/// Encrypts one chunk (≤ [`MAX_BODY`] bytes) into header ‖ body, advancing the nonce by two.
fn seal_box(key: &[u8; 32], nonce: &mut [u8; NONCE_LEN], chunk: &[u8], out: &mut Vec<u8>) {
    debug_assert!(chunk.len() <= MAX_BODY);
    let start = out.len();
    out.resize(start + HEADER_LEN, 0);
    out.extend_from_slice(chunk);
    let body_mac = crypto::seal_detached(key, &next(nonce), &mut out[start + HEADER_LEN..]);
    let len = u16::try_from(chunk.len()).expect("chunk ≤ 4096 bytes");
    let mut header = [0u8; PLAIN_HEADER_LEN];
    header[..2].copy_from_slice(&len.to_be_bytes());
    header[2..].copy_from_slice(&body_mac);
    out[start..start + HEADER_LEN].copy_from_slice(&crypto::seal(key, nonce, &header));
    increment(nonce);
    increment(nonce);
}

/// The sending half of a box stream.
pub struct BoxWriter<W> {
    inner: W,
    key: [u8; 32],
    nonce: [u8; NONCE_LEN],
    buf: Vec<u8>,
}

impl<W> std::fmt::Debug for BoxWriter<W> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BoxWriter").finish_non_exhaustive()
    }
}

impl<W: AsyncWrite + Unpin> BoxWriter<W> {
    /// Wraps `inner`, encrypting with the send key and nonce of `keys`.
    pub fn new(inner: W, keys: &BoxKeys) -> Self {
        Self {
            inner,
            key: keys.send_key,
            nonce: keys.send_nonce,
            buf: Vec::new(),
        }
    }

    /// Encrypts and writes `data` (split into boxes of at most [`MAX_BODY`] bytes), then flushes.
    /// Boxes are written [`WRITE_BOXES`] at a time, so the buffer a connection keeps stays small.
    pub async fn send(&mut self, data: &[u8]) -> Result<()> {
        for group in data.chunks(MAX_BODY * WRITE_BOXES) {
            self.buf.clear();
            for chunk in group.chunks(MAX_BODY) {
                seal_box(&self.key, &mut self.nonce, chunk, &mut self.buf);
            }
            self.inner.write_all(&self.buf).await?;
        }
        if self.buf.capacity() > KEEP_BUFFER {
            // A burst is over: an idle connection keeps no 64 KiB buffer.
            self.buf = Vec::new();
        }
        self.inner.flush().await?;
        Ok(())
    }

    /// Sends the goodbye box (18 zero bytes, boxed) and shuts the writer down.
    pub async fn goodbye(&mut self) -> Result<()> {
        let bye = crypto::seal(&self.key, &self.nonce, &[0u8; PLAIN_HEADER_LEN]);
        increment(&mut self.nonce);
        increment(&mut self.nonce);
        self.inner.write_all(&bye).await?;
        self.inner.shutdown().await?;
        Ok(())
    }
}

/// The receiving half of a box stream.
pub struct BoxReader<R> {
    inner: R,
    key: [u8; 32],
    nonce: [u8; NONCE_LEN],
    done: bool,
}

impl<R> std::fmt::Debug for BoxReader<R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BoxReader")
            .field("done", &self.done)
            .finish_non_exhaustive()
    }
}

impl<R: AsyncRead + Unpin> BoxReader<R> {
    /// Wraps `inner`, decrypting with the receive key and nonce of `keys`.
    pub fn new(inner: R, keys: &BoxKeys) -> Self {
        Self {
            inner,
            key: keys.recv_key,
            nonce: keys.recv_nonce,
            done: false,
        }
    }

    /// Reads and decrypts the next box. `Ok(None)` once the peer said goodbye.
    pub async fn recv(&mut self) -> Result<Option<Vec<u8>>> {
        if self.done {
            return Ok(None);
        }
        let mut boxed = [0u8; HEADER_LEN];
        read_full(&mut self.inner, &mut boxed, "box header").await?;
        let header =
            crypto::open(&self.key, &self.nonce, &boxed).ok_or(Error::BoxDecrypt("header"))?;
        if header.iter().all(|&b| b == 0) {
            self.done = true;
            return Ok(None);
        }
        let len = usize::from(u16::from_be_bytes([header[0], header[1]]));
        if len > MAX_BODY {
            return Err(Error::BoxOversize { len, max: MAX_BODY });
        }
        let mut body = vec![0u8; len];
        read_full(&mut self.inner, &mut body, "box body").await?;
        if !crypto::open_detached(&self.key, &next(&self.nonce), &mut body, &header[2..]) {
            return Err(Error::BoxDecrypt("body"));
        }
        increment(&mut self.nonce);
        increment(&mut self.nonce);
        Ok(Some(body))
    }
}

/// `read_exact` that reports a closed connection as [`Error::Truncated`].
async fn read_full<R: AsyncRead + Unpin>(
    r: &mut R,
    buf: &mut [u8],
    what: &'static str,
) -> Result<()> {
    match r.read_exact(buf).await {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => Err(Error::Truncated(what)),
        Err(e) => Err(e.into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys(seed: u8) -> (BoxKeys, BoxKeys) {
        let a = BoxKeys {
            send_key: [seed; 32],
            send_nonce: [seed.wrapping_add(1); NONCE_LEN],
            recv_key: [seed.wrapping_add(2); 32],
            recv_nonce: [seed.wrapping_add(3); NONCE_LEN],
        };
        let b = BoxKeys {
            send_key: a.recv_key,
            send_nonce: a.recv_nonce,
            recv_key: a.send_key,
            recv_nonce: a.send_nonce,
        };
        (a, b)
    }

    fn pair(bytes: &[u8]) -> Vec<u8> {
        let (a, _) = keys(1);
        let mut nonce = a.send_nonce;
        let mut out = Vec::new();
        for chunk in bytes.chunks(MAX_BODY) {
            seal_box(&a.send_key, &mut nonce, chunk, &mut out);
        }
        out
    }

    #[test]
    fn nonce_increments_big_endian_with_carry() {
        let mut n = [0u8; NONCE_LEN];
        n[23] = 0xff;
        n[22] = 0xff;
        increment(&mut n);
        assert_eq!(&n[21..], &[1, 0, 0]);
        let mut all = [0xffu8; NONCE_LEN];
        increment(&mut all);
        assert_eq!(all, [0u8; NONCE_LEN]);
    }

    #[tokio::test]
    async fn round_trip_splits_large_writes_and_ends_with_goodbye() {
        let (a, b) = keys(10);
        let (x, y) = tokio::io::duplex(1 << 16);
        let mut w = BoxWriter::new(x, &a);
        let mut r = BoxReader::new(y, &b);
        let data: Vec<u8> = (0..10_000u32).map(|i| (i % 251) as u8).collect();
        w.send(&data).await.unwrap();
        w.send(b"tail").await.unwrap();
        w.goodbye().await.unwrap();
        let mut got = Vec::new();
        let mut sizes = Vec::new();
        while let Some(chunk) = r.recv().await.unwrap() {
            sizes.push(chunk.len());
            got.extend_from_slice(&chunk);
        }
        assert_eq!(sizes, vec![4096, 4096, 1808, 4]);
        assert_eq!(&got[..10_000], &data[..]);
        assert_eq!(&got[10_000..], b"tail");
        assert!(r.recv().await.unwrap().is_none());
    }

    #[test]
    fn wire_layout_is_header_then_body() {
        let wire = pair(b"hello");
        assert_eq!(wire.len(), HEADER_LEN + 5);
    }

    async fn read_all(wire: Vec<u8>) -> Result<Vec<Vec<u8>>> {
        let (_, b) = keys(1);
        let mut r = BoxReader::new(&wire[..], &b);
        let mut out = Vec::new();
        while let Some(c) = r.recv().await? {
            out.push(c);
        }
        Ok(out)
    }

    #[tokio::test]
    async fn garbage_is_a_decrypt_error() {
        let err = read_all(vec![0x55; 100]).await.unwrap_err();
        assert!(matches!(err, Error::BoxDecrypt("header")), "{err}");
    }

    #[tokio::test]
    async fn tampered_body_is_a_decrypt_error() {
        let mut wire = pair(b"hello");
        wire[HEADER_LEN + 1] ^= 0x80;
        let err = read_all(wire).await.unwrap_err();
        assert!(matches!(err, Error::BoxDecrypt("body")), "{err}");
    }

    #[tokio::test]
    async fn truncation_is_reported() {
        let wire = pair(b"hello world");
        let err = read_all(wire[..HEADER_LEN + 3].to_vec()).await.unwrap_err();
        assert!(matches!(err, Error::Truncated("box body")), "{err}");
        let err = read_all(wire[..10].to_vec()).await.unwrap_err();
        assert!(matches!(err, Error::Truncated("box header")), "{err}");
    }

    #[tokio::test]
    async fn oversize_header_is_rejected() {
        let (a, _) = keys(1);
        let mut header = [0u8; PLAIN_HEADER_LEN];
        header[..2].copy_from_slice(&5000u16.to_be_bytes());
        header[2] = 1;
        let wire = crypto::seal(&a.send_key, &a.send_nonce, &header);
        let err = read_all(wire).await.unwrap_err();
        assert!(
            matches!(
                err,
                Error::BoxOversize {
                    len: 5000,
                    max: MAX_BODY
                }
            ),
            "{err}"
        );
    }

    #[tokio::test]
    async fn replayed_box_fails_because_the_nonce_moved_on() {
        let wire = pair(b"once");
        let twice = [wire.clone(), wire].concat();
        let err = read_all(twice).await.unwrap_err();
        assert!(matches!(err, Error::BoxDecrypt("header")), "{err}");
    }

    /// Boxed by the reference JS (pull-box-stream) with the client keys of the shs vector.
    const JS_BOXES: &str = "960cdcdf62b7f44dd3fea9020237a0a137fd21092cb321727f85edb0f66ede030f0e6dcca4d399b32f0e5221464b20e3da9a860197083c1b0e0216758b93edc5a3d20a8392d4a5e78d753a8cf68330ba9258701e";

    #[tokio::test]
    async fn matches_the_reference_implementation() {
        let keys = crate::shs::tests::vector_client_keys();
        let mut nonce = keys.send_nonce;
        let mut ours = Vec::new();
        seal_box(&keys.send_key, &mut nonce, b"hello box stream", &mut ours);
        ours.extend_from_slice(&crypto::seal(
            &keys.send_key,
            &nonce,
            &[0u8; PLAIN_HEADER_LEN],
        ));
        assert_eq!(ours, crate::shs::tests::unhex(JS_BOXES));
        let peer = BoxKeys {
            recv_key: keys.send_key,
            recv_nonce: keys.send_nonce,
            ..keys
        };
        let mut r = BoxReader::new(&ours[..], &peer);
        assert_eq!(
            r.recv().await.unwrap().as_deref(),
            Some(&b"hello box stream"[..])
        );
        assert_eq!(r.recv().await.unwrap(), None);
    }
}
