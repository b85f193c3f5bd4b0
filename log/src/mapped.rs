//! A whole file mapped read-only, for files that are written once and replaced by rename.
//!
//! sluice's view files are never changed in place: a new version is written to a temporary
//! file and renamed over the old one, so a mapping taken before the rename keeps showing the
//! old file's bytes (the kernel keeps the replaced inode alive while it is mapped). That is
//! what makes reading them in place sound.

use std::fs::File;
use std::path::Path;

use memmap2::{Mmap, MmapOptions};

/// The bytes of one immutable file, read in place through a shared read-only mapping.
///
/// The file belongs to sluice: another program truncating or rewriting it in place (instead
/// of replacing it) while it is mapped can crash the process (SIGBUS) or change bytes under a
/// borrowed slice, as for the log file itself.
#[derive(Debug)]
pub struct MappedFile {
    /// `None` for an empty file (an empty mapping cannot be made).
    map: Option<Mmap>,
}

impl MappedFile {
    /// Maps the whole file at `path` as it is now.
    pub fn open(path: &Path) -> std::io::Result<Self> {
        let file = File::open(path)?;
        let len = file.metadata()?.len();
        if len == 0 {
            return Ok(Self { map: None });
        }
        let len = usize::try_from(len)
            .map_err(|_| std::io::Error::other("file larger than the address space"))?;
        // SAFETY: a shared read-only mapping of exactly the file's current length. sluice never
        // modifies such a file in place or truncates it; it is only ever replaced by renaming a
        // new file over it, which leaves this mapping on the old inode (see the type's docs for
        // what another program could break).
        let map = unsafe { MmapOptions::new().len(len).map(&file)? };
        Ok(Self { map: Some(map) })
    }

    /// The file's bytes.
    pub fn bytes(&self) -> &[u8] {
        self.map.as_deref().unwrap_or(&[])
    }

    /// The file's length.
    pub fn len(&self) -> usize {
        self.bytes().len()
    }

    /// Whether the file is empty.
    pub fn is_empty(&self) -> bool {
        self.map.is_none()
    }
}

#[cfg(test)]
mod tests {
    use super::MappedFile;

    #[test]
    fn maps_a_file_and_keeps_it_across_a_rename_over_it() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("f");
        std::fs::write(&path, b"first version").expect("write");
        let mapped = MappedFile::open(&path).expect("map");
        let tmp = dir.path().join("f.tmp");
        std::fs::write(&tmp, b"second").expect("write");
        std::fs::rename(&tmp, &path).expect("rename");
        assert_eq!(mapped.bytes(), b"first version");
        assert_eq!(MappedFile::open(&path).expect("map").bytes(), b"second");
        std::fs::write(&tmp, b"").expect("write");
        let empty = MappedFile::open(&tmp).expect("map an empty file");
        assert!(empty.is_empty() && empty.bytes().is_empty());
        assert!(MappedFile::open(&dir.path().join("missing")).is_err());
    }
}
