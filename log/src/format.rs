//! On-disk format: the file header, its checkpoint slots, and record frames, parsed from plain `&[u8]`.
//!
//! Every multi-byte integer is little-endian. See `log/FORMAT.md` for the byte diagram; a test in
//! `tests/format_doc.rs` checks that the document states the constants defined here.

use std::fmt;

/// The eight bytes every sluice log file starts with.
pub const MAGIC: [u8; 8] = *b"SLUICELG";
/// The format version this code writes and reads.
pub const VERSION: u32 = 1;

/// Size of the magic field.
const MAGIC_LEN: usize = MAGIC.len();
/// Size of a `u32` field.
const U32: usize = size_of::<u32>();
/// Size of a `u64` field.
const U64: usize = size_of::<u64>();

/// One checkpoint slot: `end: u64`, `seq: u64`, `crc: u32`, `reserved: u32`.
pub const SLOT_LEN: usize = U64 + U64 + U32 + U32;
/// Byte offset of the version field in the header.
const VERSION_AT: usize = MAGIC_LEN;
/// Byte offset of the header-length field.
const HEADER_LEN_AT: usize = VERSION_AT + U32;
/// Byte offsets of the two checkpoint slots.
pub const SLOT_AT: [usize; 2] = [HEADER_LEN_AT + U32, HEADER_LEN_AT + U32 + SLOT_LEN];
/// Size of the file header; the first record starts here.
pub const HEADER_LEN: usize = SLOT_AT[1] + SLOT_LEN;

/// Size of a frame's head: the length-and-flags word and the CRC.
pub const FRAME_HEAD_LEN: usize = U32 + U32;
/// Size of a frame's trailer: a copy of the length-and-flags word, for reverse iteration.
pub const FRAME_TRAILER_LEN: usize = U32;
/// Bytes a frame adds around its payload.
pub const FRAME_OVERHEAD: usize = FRAME_HEAD_LEN + FRAME_TRAILER_LEN;
/// Bits of the length-and-flags word that hold the payload length.
pub const LEN_BITS: u32 = 28;
/// Largest payload the format can describe (256 MiB - 1).
pub const MAX_RECORD_LEN: usize = (1 << LEN_BITS) - 1;
/// The flag bits (reserved: must be zero in version 1; bit 28 is planned as "tombstone").
const FLAG_MASK: u32 = !((1 << LEN_BITS) - 1);

/// Why bytes at some offset are not a valid record frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum FrameError {
    /// The frame (or its head) runs past the end of the valid data: a torn write.
    Truncated,
    /// Flag bits this version does not know are set.
    UnknownFlags(u32),
    /// The stored CRC32 does not match the length word and payload.
    ChecksumMismatch {
        /// CRC stored in the frame head.
        stored: u32,
        /// CRC computed from the bytes.
        computed: u32,
    },
    /// The trailer does not repeat the head's length word.
    TrailerMismatch,
}

impl fmt::Display for FrameError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Truncated => f.write_str("record frame cut short (torn write)"),
            Self::UnknownFlags(bits) => write!(f, "unknown record flag bits {bits:#010x}"),
            Self::ChecksumMismatch { stored, computed } => {
                write!(
                    f,
                    "CRC32 mismatch (stored {stored:#010x}, computed {computed:#010x})"
                )
            }
            Self::TrailerMismatch => f.write_str("record trailer does not match its head"),
        }
    }
}

impl std::error::Error for FrameError {}

/// A record found in a buffer: where its payload is and where the next frame starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Frame {
    /// Start of the payload in the buffer.
    pub payload_start: usize,
    /// Length of the payload.
    pub payload_len: usize,
    /// Position just past the frame (the next frame's start).
    pub next: usize,
}

impl Frame {
    /// The payload bytes of this frame inside `buf`.
    #[must_use]
    pub fn payload<'a>(&self, buf: &'a [u8]) -> &'a [u8] {
        &buf[self.payload_start..self.payload_start + self.payload_len]
    }
}

/// Total bytes a record of `payload_len` bytes takes on disk.
#[must_use]
pub const fn frame_len(payload_len: usize) -> usize {
    payload_len + FRAME_OVERHEAD
}

fn read_u32(buf: &[u8], at: usize) -> u32 {
    let mut word = [0; U32];
    word.copy_from_slice(&buf[at..at + U32]);
    u32::from_le_bytes(word)
}

fn read_u64(buf: &[u8], at: usize) -> u64 {
    let mut word = [0; U64];
    word.copy_from_slice(&buf[at..at + U64]);
    u64::from_le_bytes(word)
}

fn frame_crc(word: u32, payload: &[u8]) -> u32 {
    let mut hasher = crc32fast::Hasher::new();
    hasher.update(&word.to_le_bytes());
    hasher.update(payload);
    hasher.finalize()
}

/// Appends the frame for `payload` to `out`. The caller has checked the length limit.
pub fn encode_frame(payload: &[u8], out: &mut Vec<u8>) {
    debug_assert!(payload.len() <= MAX_RECORD_LEN);
    let word = u32::try_from(payload.len()).expect("payload length checked against MAX_RECORD_LEN");
    out.reserve(frame_len(payload.len()));
    out.extend_from_slice(&word.to_le_bytes());
    out.extend_from_slice(&frame_crc(word, payload).to_le_bytes());
    out.extend_from_slice(payload);
    out.extend_from_slice(&word.to_le_bytes());
}

/// Parses the frame that starts at `pos` in `buf`; `buf` ends where valid data ends.
pub fn parse_frame(buf: &[u8], pos: usize) -> Result<Frame, FrameError> {
    let frame = frame_bounds(buf, pos)?;
    check_frame_crc(buf, pos, &frame)?;
    check_trailer(buf, pos, &frame)?;
    Ok(frame)
}

/// Parses the frame that starts at `pos` as [`parse_frame`] does, except that the CRC is not
/// checked (the length word, its flags and the trailer are). Its payload is not to be trusted
/// until [`check_frame_crc`] passes: this lets a reader walk the frames on one thread and
/// check their CRCs on many.
pub fn parse_frame_shape(buf: &[u8], pos: usize) -> Result<Frame, FrameError> {
    let frame = frame_bounds(buf, pos)?;
    check_trailer(buf, pos, &frame)?;
    Ok(frame)
}

/// Checks the CRC of the frame at `pos` (as found by [`parse_frame_shape`]).
pub fn check_frame_crc(buf: &[u8], pos: usize, frame: &Frame) -> Result<(), FrameError> {
    let stored = read_u32(buf, pos + U32);
    let computed = frame_crc(read_u32(buf, pos), frame.payload(buf));
    if stored != computed {
        return Err(FrameError::ChecksumMismatch { stored, computed });
    }
    Ok(())
}

/// The frame at `pos` from its length word: flags known, and inside `buf`.
fn frame_bounds(buf: &[u8], pos: usize) -> Result<Frame, FrameError> {
    let head_end = pos
        .checked_add(FRAME_HEAD_LEN)
        .ok_or(FrameError::Truncated)?;
    if head_end > buf.len() {
        return Err(FrameError::Truncated);
    }
    let word = read_u32(buf, pos);
    if word & FLAG_MASK != 0 {
        return Err(FrameError::UnknownFlags(word & FLAG_MASK));
    }
    let payload_len = (word & !FLAG_MASK) as usize;
    let next = head_end + payload_len + FRAME_TRAILER_LEN;
    if next > buf.len() {
        return Err(FrameError::Truncated);
    }
    Ok(Frame {
        payload_start: head_end,
        payload_len,
        next,
    })
}

fn check_trailer(buf: &[u8], pos: usize, frame: &Frame) -> Result<(), FrameError> {
    if read_u32(buf, frame.next - FRAME_TRAILER_LEN) != read_u32(buf, pos) {
        return Err(FrameError::TrailerMismatch);
    }
    Ok(())
}

/// Parses the frame that ends exactly at `end` in `buf` (reverse iteration); returns its start too.
pub fn parse_frame_before(buf: &[u8], end: usize) -> Result<(usize, Frame), FrameError> {
    if end > buf.len() || end < FRAME_OVERHEAD {
        return Err(FrameError::Truncated);
    }
    let word = read_u32(buf, end - FRAME_TRAILER_LEN);
    if word & FLAG_MASK != 0 {
        return Err(FrameError::UnknownFlags(word & FLAG_MASK));
    }
    let total = frame_len((word & !FLAG_MASK) as usize);
    let start = end.checked_sub(total).ok_or(FrameError::Truncated)?;
    let frame = parse_frame(&buf[..end], start)?;
    if frame.next != end {
        return Err(FrameError::TrailerMismatch);
    }
    Ok((start, frame))
}

/// A checkpoint: the durable, verified end of the log at some flush.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Checkpoint {
    /// Every byte below this offset was fsynced and checked when the checkpoint was written.
    pub end: u64,
    /// Monotonic write counter: the valid slot with the larger `seq` wins.
    pub seq: u64,
}

impl Checkpoint {
    /// The slot (0 or 1) this checkpoint is written to: slots alternate, so a torn slot write
    /// always leaves the previous checkpoint intact.
    #[must_use]
    pub fn slot(&self) -> usize {
        usize::from(self.seq % 2 == 1)
    }

    /// Encodes this checkpoint as one slot.
    #[must_use]
    pub fn encode(&self) -> [u8; SLOT_LEN] {
        let mut slot = [0; SLOT_LEN];
        slot[..U64].copy_from_slice(&self.end.to_le_bytes());
        slot[U64..2 * U64].copy_from_slice(&self.seq.to_le_bytes());
        let crc = crc32fast::hash(&slot[..2 * U64]);
        slot[2 * U64..2 * U64 + U32].copy_from_slice(&crc.to_le_bytes());
        slot
    }

    /// Decodes a slot; `None` when its CRC does not match (never written, or torn).
    #[must_use]
    pub fn decode(slot: &[u8]) -> Option<Self> {
        let crc = read_u32(slot, 2 * U64);
        (crc32fast::hash(&slot[..2 * U64]) == crc).then(|| Self {
            end: read_u64(slot, 0),
            seq: read_u64(slot, U64),
        })
    }
}

/// Why a file header cannot be used.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HeaderError {
    /// The file does not start with [`MAGIC`].
    BadMagic,
    /// The version field names a format this code does not read.
    UnsupportedVersion(u32),
    /// The header-length field disagrees with this version's header.
    BadHeaderLen(u32),
    /// Neither checkpoint slot holds a valid checkpoint.
    NoCheckpoint,
}

/// Builds the header of a new, empty log.
#[must_use]
pub fn new_header() -> [u8; HEADER_LEN] {
    let mut header = [0; HEADER_LEN];
    header[..MAGIC_LEN].copy_from_slice(&MAGIC);
    header[VERSION_AT..VERSION_AT + U32].copy_from_slice(&VERSION.to_le_bytes());
    let len = u32::try_from(HEADER_LEN).expect("header length fits u32");
    header[HEADER_LEN_AT..HEADER_LEN_AT + U32].copy_from_slice(&len.to_le_bytes());
    let first = Checkpoint {
        end: HEADER_LEN as u64,
        seq: 0,
    };
    header[SLOT_AT[0]..SLOT_AT[0] + SLOT_LEN].copy_from_slice(&first.encode());
    header
}

/// Checks magic, version and length, and returns the newest valid checkpoint.
pub fn parse_header(header: &[u8]) -> Result<Checkpoint, HeaderError> {
    if header.len() < HEADER_LEN || header[..MAGIC_LEN] != MAGIC {
        return Err(HeaderError::BadMagic);
    }
    let version = read_u32(header, VERSION_AT);
    if version != VERSION {
        return Err(HeaderError::UnsupportedVersion(version));
    }
    let len = read_u32(header, HEADER_LEN_AT);
    if len as usize != HEADER_LEN {
        return Err(HeaderError::BadHeaderLen(len));
    }
    SLOT_AT
        .iter()
        .filter_map(|&at| Checkpoint::decode(&header[at..at + SLOT_LEN]))
        .filter(|c| c.end >= HEADER_LEN as u64)
        .max_by_key(|c| c.seq)
        .ok_or(HeaderError::NoCheckpoint)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn framed(payloads: &[&[u8]]) -> Vec<u8> {
        let mut buf = Vec::new();
        for p in payloads {
            encode_frame(p, &mut buf);
        }
        buf
    }

    #[test]
    fn frames_parse_forward_and_backward() {
        let buf = framed(&[b"hello", b"", b"world!"]);
        let a = parse_frame(&buf, 0).unwrap();
        let b = parse_frame(&buf, a.next).unwrap();
        let c = parse_frame(&buf, b.next).unwrap();
        assert_eq!(
            (a.payload(&buf), b.payload(&buf), c.payload(&buf)),
            (&b"hello"[..], &b""[..], &b"world!"[..])
        );
        assert_eq!(c.next, buf.len());
        let (start, back) = parse_frame_before(&buf, buf.len()).unwrap();
        assert_eq!((start, back), (b.next, c));
    }

    #[test]
    fn every_truncation_is_reported() {
        let buf = framed(&[b"some payload"]);
        for cut in 0..buf.len() {
            assert_eq!(
                parse_frame(&buf[..cut], 0),
                Err(FrameError::Truncated),
                "cut at {cut}"
            );
        }
    }

    #[test]
    fn every_bit_flip_is_detected() {
        let buf = framed(&[b"payload bytes"]);
        for bit in 0..buf.len() * 8 {
            let mut bad = buf.clone();
            bad[bit / 8] ^= 1 << (bit % 8);
            assert!(
                parse_frame(&bad, 0).is_err(),
                "flip of bit {bit} went unnoticed"
            );
        }
    }

    #[test]
    fn header_picks_newest_valid_slot() {
        let mut header = new_header();
        assert_eq!(
            parse_header(&header),
            Ok(Checkpoint {
                end: HEADER_LEN as u64,
                seq: 0
            })
        );
        let next = Checkpoint { end: 1000, seq: 1 };
        header[SLOT_AT[next.slot()]..][..SLOT_LEN].copy_from_slice(&next.encode());
        assert_eq!(parse_header(&header), Ok(next));
        header[SLOT_AT[1] + 3] ^= 0xff;
        assert_eq!(parse_header(&header).map(|c| c.seq), Ok(0));
        header[SLOT_AT[0] + 3] ^= 0xff;
        assert_eq!(parse_header(&header), Err(HeaderError::NoCheckpoint));
    }
}
