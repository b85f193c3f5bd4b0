//! View files: one checksummed file per view holding its name, version, `since` and state,
//! replaced atomically (temp file, fsync, rename, directory fsync).
//!
//! Layout (little-endian, see `views/FORMAT.md`): magic, file format version, view name
//! (16 bytes, zero padded), view version, `since`, payload length, checked length, CRC32 of
//! everything before the checksum field plus the checked part of the payload, then the payload
//! from [`crate::View::encode_parts`]: its head, which is the checked part, then its bulk,
//! which the view checks itself, piece by piece, when it first reads it (a view that checks
//! nothing itself writes no bulk, and the checksum covers the whole payload). A large bulk is
//! written through a temporary file ([`Bulk`]), never held whole in memory.
//!
//! A file is read in place through a read-only mapping ([`sluice_log::MappedFile`]): files
//! are only ever replaced by rename, never changed in place, so a view may keep reading the
//! payload of the file it loaded ([`Payload`]).

use std::fs::{self, File};
use std::io::{self, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use sluice_log::MappedFile;

/// First bytes of every view file.
pub const VIEW_MAGIC: [u8; 4] = *b"SLVW";
/// Version of the view file layout (not of any view's payload).
pub const VIEW_FILE_VERSION: u32 = 2;
/// Room for the view's name in the header.
pub const NAME_LEN: usize = 16;

const MAGIC_AT: usize = 0;
const FORMAT_AT: usize = MAGIC_AT + VIEW_MAGIC.len();
const NAME_AT: usize = FORMAT_AT + size_of::<u32>();
const VERSION_AT: usize = NAME_AT + NAME_LEN;
const SINCE_AT: usize = VERSION_AT + size_of::<u32>();
const LENGTH_AT: usize = SINCE_AT + size_of::<u64>();
const CHECKED_AT: usize = LENGTH_AT + size_of::<u64>();
const CRC_AT: usize = CHECKED_AT + size_of::<u64>();
/// Header size; the payload starts here.
pub const FILE_HEADER_LEN: usize = CRC_AT + size_of::<u32>();

/// A view file read back and checked.
#[derive(Debug)]
pub struct Loaded {
    /// The view's version stored in the file.
    pub version: u32,
    /// Every log record below this offset is folded into the payload.
    pub since: u64,
    /// How many bytes at the payload's start the file checksum covers (the head of
    /// [`crate::View::encode_parts`]); the view checks the rest itself.
    pub checked: usize,
    /// The view's encoded state, read in place.
    pub payload: Payload,
}

impl Loaded {
    /// The view's encoded state.
    pub fn payload(&self) -> &[u8] {
        self.payload.bytes()
    }
}

/// A view's encoded state as stored in its file, shared and read in place: a view may keep
/// it to answer from it (cloning is cheap).
#[derive(Debug, Clone)]
pub struct Payload(Arc<Source>);

#[derive(Debug)]
enum Source {
    /// A whole view file (the payload follows its header).
    File(MappedFile),
    /// Payload bytes in memory.
    Owned(Vec<u8>),
}

impl Payload {
    /// Payload bytes held in memory.
    pub fn owned(bytes: Vec<u8>) -> Self {
        Self(Arc::new(Source::Owned(bytes)))
    }

    /// The payload's bytes.
    pub fn bytes(&self) -> &[u8] {
        match &*self.0 {
            Source::File(file) => &file.bytes()[FILE_HEADER_LEN..],
            Source::Owned(bytes) => bytes,
        }
    }
}

/// Why a view file cannot be used (the view is then rebuilt from the log).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Unusable {
    /// No file yet.
    Missing,
    /// Wrong magic, format version or name, or shorter than its header says.
    Malformed(&'static str),
    /// The checksum does not match: the file is corrupt.
    Checksum,
    /// Written by another version of the view.
    Version { found: u32, wanted: u32 },
    /// A part the view checks itself when it first reads it failed its check.
    Damaged(String),
}

impl std::fmt::Display for Unusable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Missing => write!(f, "missing"),
            Self::Malformed(why) => write!(f, "malformed ({why})"),
            Self::Checksum => write!(f, "checksum mismatch"),
            Self::Version { found, wanted } => write!(f, "version {found}, wanted {wanted}"),
            Self::Damaged(why) => write!(f, "damaged: {why}"),
        }
    }
}

/// The path of a view's file in the views directory.
pub fn path_of(dir: &Path, name: &str) -> PathBuf {
    dir.join(format!("{name}.view"))
}

/// Builds the file bytes for a view state whose payload is checked whole.
pub fn encode(name: &str, version: u32, since: u64, payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(FILE_HEADER_LEN + payload.len());
    out.extend_from_slice(&header(name, version, since, payload, payload.len()));
    out.extend_from_slice(payload);
    out
}

/// The header of a file whose payload is `len` bytes long and begins with `checked`, the part
/// its checksum covers.
pub fn header(
    name: &str,
    version: u32,
    since: u64,
    checked: &[u8],
    len: usize,
) -> [u8; FILE_HEADER_LEN] {
    debug_assert!(checked.len() <= len);
    let mut out = Vec::with_capacity(FILE_HEADER_LEN);
    out.extend_from_slice(&VIEW_MAGIC);
    out.extend_from_slice(&VIEW_FILE_VERSION.to_le_bytes());
    let mut padded = [0u8; NAME_LEN];
    let n = name.len().min(NAME_LEN);
    padded[..n].copy_from_slice(&name.as_bytes()[..n]);
    out.extend_from_slice(&padded);
    out.extend_from_slice(&version.to_le_bytes());
    out.extend_from_slice(&since.to_le_bytes());
    out.extend_from_slice(&(len as u64).to_le_bytes());
    out.extend_from_slice(&(checked.len() as u64).to_le_bytes());
    let crc = checksum(&out, checked);
    out.extend_from_slice(&crc.to_le_bytes());
    out.try_into()
        .expect("the fields add up to the header length")
}

fn checksum(header: &[u8], checked: &[u8]) -> u32 {
    let mut hasher = crc32fast::Hasher::new();
    hasher.update(&header[..CRC_AT]);
    hasher.update(checked);
    hasher.finalize()
}

/// Parses and checks file bytes for the view `name` at `version`.
pub fn decode(bytes: Vec<u8>, name: &str, version: u32) -> Result<Loaded, Unusable> {
    let (version, since, checked) = check(&bytes, name, version)?;
    let payload = Payload::owned(bytes[FILE_HEADER_LEN..].to_vec());
    Ok(Loaded {
        version,
        since,
        checked,
        payload,
    })
}

/// Checks a whole file's header and checksum; returns its view version, `since` and checked
/// length.
fn check(bytes: &[u8], name: &str, version: u32) -> Result<(u32, u64, usize), Unusable> {
    if bytes.len() < FILE_HEADER_LEN {
        return Err(Unusable::Malformed("shorter than its header"));
    }
    if bytes[MAGIC_AT..FORMAT_AT] != VIEW_MAGIC {
        return Err(Unusable::Malformed("bad magic"));
    }
    if le_u32(bytes, FORMAT_AT) != VIEW_FILE_VERSION {
        return Err(Unusable::Malformed("unknown file format version"));
    }
    let stored_name = &bytes[NAME_AT..NAME_AT + NAME_LEN];
    let n = name.len().min(NAME_LEN);
    if stored_name[..n] != name.as_bytes()[..n] || stored_name[n..].iter().any(|&b| b != 0) {
        return Err(Unusable::Malformed("file belongs to another view"));
    }
    let payload = &bytes[FILE_HEADER_LEN..];
    if le_u64(bytes, LENGTH_AT) != payload.len() as u64 {
        return Err(Unusable::Malformed(
            "payload length does not match the file size",
        ));
    }
    let checked = usize::try_from(le_u64(bytes, CHECKED_AT))
        .ok()
        .filter(|&c| c <= payload.len())
        .ok_or(Unusable::Malformed("checked length beyond the payload"))?;
    if le_u32(bytes, CRC_AT) != checksum(bytes, &payload[..checked]) {
        return Err(Unusable::Checksum);
    }
    let found = le_u32(bytes, VERSION_AT);
    if found != version {
        return Err(Unusable::Version {
            found,
            wanted: version,
        });
    }
    Ok((found, le_u64(bytes, SINCE_AT), checked))
}

/// Maps and checks a view file; a missing file is [`Unusable::Missing`].
pub fn load(dir: &Path, name: &str, version: u32) -> Result<Loaded, Unusable> {
    let file = match MappedFile::open(&path_of(dir, name)) {
        Ok(file) => file,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Err(Unusable::Missing),
        Err(_) => return Err(Unusable::Malformed("unreadable")),
    };
    let (version, since, checked) = check(file.bytes(), name, version)?;
    Ok(Loaded {
        version,
        since,
        checked,
        payload: Payload(Arc::new(Source::File(file))),
    })
}

/// Writes a view file atomically: temp file, fsync, rename over the old one, fsync the dir.
pub fn store(dir: &Path, name: &str, bytes: &[u8]) -> io::Result<()> {
    store_parts(dir, name, &[bytes], Bulk::memory())
}

/// [`store`] of a file given in pieces: a [`header`], the payload's head, and its bulk (in
/// memory, or spilled to a temporary file and copied from there in the kernel), so no copy of
/// a large payload is made to put the header in front of it.
pub fn store_parts(dir: &Path, name: &str, parts: &[&[u8]], bulk: Bulk) -> io::Result<()> {
    let path = path_of(dir, name);
    let tmp = dir.join(format!("{name}.view.tmp"));
    let mut file = File::create(&tmp)?;
    for part in parts {
        file.write_all(part)?;
    }
    let len = bulk.len();
    match bulk.finish()? {
        Sink::Memory(bytes) => file.write_all(&bytes)?,
        Sink::Spill(spill) => {
            let mut spill = spill.into_inner().map_err(io::IntoInnerError::into_error)?;
            spill.seek(SeekFrom::Start(0))?;
            // `io::copy` between files is `copy_file_range` on Linux: no user-space buffer.
            let copied = io::copy(&mut spill, &mut file)?;
            if copied != len as u64 {
                return Err(io::Error::other(format!(
                    "the {name} view's spill file holds {copied} bytes, {len} were written"
                )));
            }
        }
    }
    file.sync_all()?;
    drop(file);
    fs::rename(&tmp, &path)?;
    File::open(dir)?.sync_all()
}

/// Where the bulk of a payload goes while a view encodes it ([`crate::View::encode_parts`]):
/// memory, until it passes a limit, then a temporary file in the views directory (unnamed:
/// it vanishes with the process, whatever way that ends), so writing a large view never holds
/// its payload whole in memory. Write errors are kept and reported when the file is stored.
#[derive(Debug)]
pub struct Bulk {
    sink: Sink,
    len: usize,
    /// Where to spill, and above how many bytes (`None`: always in memory).
    spill: Option<(PathBuf, usize)>,
    error: Option<io::Error>,
}

#[derive(Debug)]
enum Sink {
    Memory(Vec<u8>),
    Spill(io::BufWriter<File>),
}

/// Buffer between a spilling [`Bulk`] and its file.
const SPILL_BUFFER: usize = 256 << 10;

impl Bulk {
    /// A bulk held in memory.
    pub fn memory() -> Self {
        Self {
            sink: Sink::Memory(Vec::new()),
            len: 0,
            spill: None,
            error: None,
        }
    }

    /// A bulk that moves to a temporary file in `dir` once it holds more than `above` bytes.
    pub(crate) fn spilling(dir: &Path, above: usize) -> Self {
        Self {
            spill: Some((dir.to_path_buf(), above)),
            ..Self::memory()
        }
    }

    /// Bytes written so far.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether nothing was written.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Appends `bytes`.
    pub fn write(&mut self, bytes: &[u8]) {
        self.len += bytes.len();
        if self.error.is_some() {
            return;
        }
        let result = match (&mut self.sink, &self.spill) {
            // Moved before the bytes that would pass the limit, so the buffer never grows
            // past it.
            (Sink::Memory(held), Some((dir, above))) if held.len() + bytes.len() > *above => {
                Self::spill(dir, held, bytes).map(|file| self.sink = Sink::Spill(file))
            }
            (Sink::Memory(held), _) => {
                held.extend_from_slice(bytes);
                Ok(())
            }
            (Sink::Spill(file), _) => file.write_all(bytes),
        };
        if let Err(e) = result {
            self.error = Some(e);
        }
    }

    /// Moves the bytes held so far, then `more`, to a new temporary file in `dir`.
    fn spill(dir: &Path, held: &mut Vec<u8>, more: &[u8]) -> io::Result<io::BufWriter<File>> {
        let mut file = io::BufWriter::with_capacity(SPILL_BUFFER, tempfile::tempfile_in(dir)?);
        file.write_all(held)?;
        file.write_all(more)?;
        *held = Vec::new();
        Ok(file)
    }

    /// The bytes of a bulk held in memory. Panics on a spilled one (only
    /// [`Bulk::memory`] ones are read back this way).
    pub fn into_vec(self) -> Vec<u8> {
        match self.sink {
            Sink::Memory(bytes) => bytes,
            Sink::Spill(_) => panic!("a spilled bulk is read through its file"),
        }
    }

    fn finish(self) -> io::Result<Sink> {
        match self.error {
            Some(e) => Err(e),
            None => Ok(self.sink),
        }
    }
}

fn le_u32(bytes: &[u8], at: usize) -> u32 {
    let mut b = [0; 4];
    b.copy_from_slice(&bytes[at..at + 4]);
    u32::from_le_bytes(b)
}

fn le_u64(bytes: &[u8], at: usize) -> u64 {
    let mut b = [0; 8];
    b.copy_from_slice(&bytes[at..at + 8]);
    u64::from_le_bytes(b)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_each_defect_is_named() {
        let bytes = encode("keys", 3, 1234, b"payload");
        let loaded = decode(bytes.clone(), "keys", 3).expect("good file");
        assert_eq!((loaded.since, loaded.payload()), (1234, &b"payload"[..]));
        assert_eq!(
            decode(bytes.clone(), "keys", 4).unwrap_err(),
            Unusable::Version {
                found: 3,
                wanted: 4
            }
        );
        assert!(matches!(
            decode(bytes.clone(), "feeds", 3),
            Err(Unusable::Malformed(_))
        ));
        let mut flipped = bytes.clone();
        *flipped.last_mut().expect("non-empty") ^= 1;
        assert_eq!(decode(flipped, "keys", 3).unwrap_err(), Unusable::Checksum);
        let truncated = bytes[..bytes.len() - 1].to_vec();
        assert!(matches!(
            decode(truncated, "keys", 3),
            Err(Unusable::Malformed(_))
        ));
    }

    #[test]
    fn the_checksum_covers_the_checked_part_of_the_payload_only() {
        let payload = b"checked|left to the view";
        let mut bytes = header("keys", 1, 5, &payload[..8], payload.len()).to_vec();
        bytes.extend_from_slice(payload);
        let mut tail = bytes.clone();
        *tail.last_mut().expect("non-empty") ^= 1;
        assert!(decode(tail, "keys", 1).is_ok(), "the view checks the rest");
        let mut head = bytes.clone();
        head[FILE_HEADER_LEN + 3] ^= 1;
        assert_eq!(decode(head, "keys", 1).unwrap_err(), Unusable::Checksum);
        let mut beyond = bytes;
        beyond[CHECKED_AT..CHECKED_AT + 8].copy_from_slice(&1000u64.to_le_bytes());
        assert!(matches!(
            decode(beyond, "keys", 1),
            Err(Unusable::Malformed(_))
        ));
    }

    #[test]
    fn layout_matches_format_doc() {
        assert_eq!(
            (NAME_AT, VERSION_AT, SINCE_AT, LENGTH_AT, CHECKED_AT, CRC_AT),
            (8, 24, 28, 36, 44, 52)
        );
        assert_eq!(FILE_HEADER_LEN, 56);
    }

    #[test]
    fn store_then_load() {
        let dir = tempfile::tempdir().expect("tempdir");
        store(dir.path(), "feeds", &encode("feeds", 1, 9, b"x")).expect("store");
        assert_eq!(load(dir.path(), "feeds", 1).expect("load").since, 9);
        let head = header("keys", 2, 7, b"pay", 3);
        store_parts(dir.path(), "keys", &[&head, b"pay"], Bulk::memory()).expect("in parts");
        let back = std::fs::read(path_of(dir.path(), "keys")).expect("read");
        assert_eq!(back, encode("keys", 2, 7, b"pay"));
        assert_eq!(load(dir.path(), "keys", 2).expect("load").payload(), b"pay");
        assert_eq!(load(dir.path(), "types", 1).unwrap_err(), Unusable::Missing);
    }

    #[test]
    fn a_bulk_past_its_limit_is_spilled_and_stored_behind_the_head() {
        let dir = tempfile::tempdir().expect("tempdir");
        let payload: Vec<u8> = (0..100_000u32).map(|i| (i * 7 % 251) as u8).collect();
        let (head, rest) = payload.split_at(100);
        let mut bulk = Bulk::spilling(dir.path(), 1000);
        rest.chunks(777).for_each(|c| bulk.write(c));
        assert!(matches!(bulk.sink, Sink::Spill(_)), "past the limit");
        assert_eq!(bulk.len(), rest.len());
        let header = header("backlinks", 3, 11, head, payload.len());
        store_parts(dir.path(), "backlinks", &[&header, head], bulk).expect("store");
        let back = std::fs::read(path_of(dir.path(), "backlinks")).expect("read");
        let mut whole = encode("backlinks", 3, 11, &payload);
        whole[CHECKED_AT..CHECKED_AT + 8].copy_from_slice(&100u64.to_le_bytes());
        let crc = checksum(&whole, head);
        whole[CRC_AT..CRC_AT + 4].copy_from_slice(&crc.to_le_bytes());
        assert_eq!(back, whole);
        let names: Vec<_> = std::fs::read_dir(dir.path()).expect("dir").collect();
        assert_eq!(
            names.len(),
            1,
            "the spill file is gone, no temp file is left"
        );
        let mut small = Bulk::spilling(dir.path(), 1000);
        small.write(b"fits");
        assert_eq!(small.into_vec(), b"fits");
    }
}
