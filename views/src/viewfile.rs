//! View files: one checksummed file per view holding its name, version, `since` and state,
//! replaced atomically (temp file, fsync, rename, directory fsync).
//!
//! Layout (little-endian, see `views/FORMAT.md`): magic, file format version, view name
//! (16 bytes, zero padded), view version, `since`, payload length, CRC32 of everything before
//! the checksum field plus the payload, then the payload from [`crate::View::encode`].

use std::fs::{self, File};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

/// First bytes of every view file.
pub const VIEW_MAGIC: [u8; 4] = *b"SLVW";
/// Version of the view file layout (not of any view's payload).
pub const VIEW_FILE_VERSION: u32 = 1;
/// Room for the view's name in the header.
pub const NAME_LEN: usize = 16;

const MAGIC_AT: usize = 0;
const FORMAT_AT: usize = MAGIC_AT + VIEW_MAGIC.len();
const NAME_AT: usize = FORMAT_AT + size_of::<u32>();
const VERSION_AT: usize = NAME_AT + NAME_LEN;
const SINCE_AT: usize = VERSION_AT + size_of::<u32>();
const LENGTH_AT: usize = SINCE_AT + size_of::<u64>();
const CRC_AT: usize = LENGTH_AT + size_of::<u64>();
/// Header size; the payload starts here.
pub const FILE_HEADER_LEN: usize = CRC_AT + size_of::<u32>();

/// A view file read back and checked.
#[derive(Debug)]
pub struct Loaded {
    /// The view's version stored in the file.
    pub version: u32,
    /// Every log record below this offset is folded into the payload.
    pub since: u64,
    /// The whole file (the payload is not moved out of it: see [`Loaded::payload`]).
    bytes: Vec<u8>,
}

impl Loaded {
    /// The view's encoded state.
    pub fn payload(&self) -> &[u8] {
        &self.bytes[FILE_HEADER_LEN..]
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
}

impl std::fmt::Display for Unusable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Missing => write!(f, "missing"),
            Self::Malformed(why) => write!(f, "malformed ({why})"),
            Self::Checksum => write!(f, "checksum mismatch"),
            Self::Version { found, wanted } => write!(f, "version {found}, wanted {wanted}"),
        }
    }
}

/// The path of a view's file in the views directory.
pub fn path_of(dir: &Path, name: &str) -> PathBuf {
    dir.join(format!("{name}.view"))
}

/// Builds the file bytes for a view state.
pub fn encode(name: &str, version: u32, since: u64, payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(FILE_HEADER_LEN + payload.len());
    out.extend_from_slice(&header(name, version, since, payload));
    out.extend_from_slice(payload);
    out
}

/// The header of the file holding `payload` (its checksum covers the payload).
pub fn header(name: &str, version: u32, since: u64, payload: &[u8]) -> [u8; FILE_HEADER_LEN] {
    let mut out = Vec::with_capacity(FILE_HEADER_LEN);
    out.extend_from_slice(&VIEW_MAGIC);
    out.extend_from_slice(&VIEW_FILE_VERSION.to_le_bytes());
    let mut padded = [0u8; NAME_LEN];
    let n = name.len().min(NAME_LEN);
    padded[..n].copy_from_slice(&name.as_bytes()[..n]);
    out.extend_from_slice(&padded);
    out.extend_from_slice(&version.to_le_bytes());
    out.extend_from_slice(&since.to_le_bytes());
    out.extend_from_slice(&(payload.len() as u64).to_le_bytes());
    let crc = checksum(&out, payload);
    out.extend_from_slice(&crc.to_le_bytes());
    out.try_into()
        .expect("the fields add up to the header length")
}

fn checksum(header: &[u8], payload: &[u8]) -> u32 {
    let mut hasher = crc32fast::Hasher::new();
    hasher.update(&header[..CRC_AT]);
    hasher.update(payload);
    hasher.finalize()
}

/// Parses and checks file bytes for the view `name` at `version`.
pub fn decode(bytes: Vec<u8>, name: &str, version: u32) -> Result<Loaded, Unusable> {
    if bytes.len() < FILE_HEADER_LEN {
        return Err(Unusable::Malformed("shorter than its header"));
    }
    if bytes[MAGIC_AT..FORMAT_AT] != VIEW_MAGIC {
        return Err(Unusable::Malformed("bad magic"));
    }
    if le_u32(&bytes, FORMAT_AT) != VIEW_FILE_VERSION {
        return Err(Unusable::Malformed("unknown file format version"));
    }
    let stored_name = &bytes[NAME_AT..NAME_AT + NAME_LEN];
    let n = name.len().min(NAME_LEN);
    if stored_name[..n] != name.as_bytes()[..n] || stored_name[n..].iter().any(|&b| b != 0) {
        return Err(Unusable::Malformed("file belongs to another view"));
    }
    let length = le_u64(&bytes, LENGTH_AT);
    if length != (bytes.len() - FILE_HEADER_LEN) as u64 {
        return Err(Unusable::Malformed(
            "payload length does not match the file size",
        ));
    }
    if le_u32(&bytes, CRC_AT) != checksum(&bytes, &bytes[FILE_HEADER_LEN..]) {
        return Err(Unusable::Checksum);
    }
    let found = le_u32(&bytes, VERSION_AT);
    if found != version {
        return Err(Unusable::Version {
            found,
            wanted: version,
        });
    }
    let since = le_u64(&bytes, SINCE_AT);
    Ok(Loaded {
        version: found,
        since,
        bytes,
    })
}

/// Reads and checks a view file; a missing file is [`Unusable::Missing`].
pub fn load(dir: &Path, name: &str, version: u32) -> Result<Loaded, Unusable> {
    match fs::read(path_of(dir, name)) {
        Ok(bytes) => decode(bytes, name, version),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Err(Unusable::Missing),
        Err(_) => Err(Unusable::Malformed("unreadable")),
    }
}

/// Writes a view file atomically: temp file, fsync, rename over the old one, fsync the dir.
pub fn store(dir: &Path, name: &str, bytes: &[u8]) -> io::Result<()> {
    store_parts(dir, name, &[bytes])
}

/// [`store`] of a file given in pieces (a [`header`] and its payload: no copy of a large
/// payload is made to put the header in front of it).
pub fn store_parts(dir: &Path, name: &str, parts: &[&[u8]]) -> io::Result<()> {
    let path = path_of(dir, name);
    let tmp = dir.join(format!("{name}.view.tmp"));
    let mut file = File::create(&tmp)?;
    for part in parts {
        file.write_all(part)?;
    }
    file.sync_all()?;
    drop(file);
    fs::rename(&tmp, &path)?;
    File::open(dir)?.sync_all()
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
    fn layout_matches_format_doc() {
        assert_eq!(
            (NAME_AT, VERSION_AT, SINCE_AT, LENGTH_AT, CRC_AT),
            (8, 24, 28, 36, 44)
        );
        assert_eq!(FILE_HEADER_LEN, 48);
    }

    #[test]
    fn store_then_load() {
        let dir = tempfile::tempdir().expect("tempdir");
        store(dir.path(), "feeds", &encode("feeds", 1, 9, b"x")).expect("store");
        assert_eq!(load(dir.path(), "feeds", 1).expect("load").since, 9);
        let head = header("keys", 2, 7, b"pay");
        store_parts(dir.path(), "keys", &[&head, b"pay"]).expect("store in parts");
        let back = std::fs::read(path_of(dir.path(), "keys")).expect("read");
        assert_eq!(back, encode("keys", 2, 7, b"pay"));
        assert_eq!(load(dir.path(), "keys", 2).expect("load").payload(), b"pay");
        assert_eq!(load(dir.path(), "types", 1).unwrap_err(), Unusable::Missing);
    }
}
