//! The read-only memory mapping of the log file: one large reservation, grown by adding larger ones.
//!
//! A mapping may be longer than the file: pages past the end of the file are never touched, and
//! as the file grows the kernel makes the new bytes visible through the same shared mapping. When
//! the file outgrows the reservation a twice-as-large one is added; older ones stay alive until the
//! `Mapping` is dropped, so every slice handed out stays valid for the borrow of `&self`.

use std::fs::File;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicUsize, Ordering};

use memmap2::{Mmap, MmapOptions};

/// Smallest reservation: virtual address space only, nothing is committed.
#[cfg(target_pointer_width = "64")]
const MIN_RESERVE: u64 = 1 << 32;
#[cfg(not(target_pointer_width = "64"))]
const MIN_RESERVE: u64 = 1 << 28;
/// How many successively doubled reservations one log can make.
const MAX_MAPS: usize = 24;

/// A growable set of mappings of one file; the newest covers every published byte.
#[derive(Debug)]
pub struct Mapping {
    maps: [OnceLock<Mmap>; MAX_MAPS],
    current: AtomicUsize,
}

impl Mapping {
    /// Maps `file` with a reservation of at least `2 * len` bytes.
    ///
    /// # Safety
    ///
    /// The caller guarantees, for as long as the `Mapping` lives, that:
    /// - bytes of the file that are read through [`Mapping::bytes`] are never modified or truncated
    ///   away (sluice only appends, and shrinks the file only in recovery, before publishing the
    ///   bytes past the new end, while holding the writer lock; the header, which is rewritten,
    ///   is never read through the mapping);
    /// - `bytes(start, end)` is only called with `end` no larger than the file's current length.
    ///
    /// Another program that truncates or rewrites the file breaks this and can crash the process
    /// (SIGBUS) or change bytes under a borrowed slice; the log file belongs to sluice.
    pub unsafe fn new(file: &File, len: u64) -> std::io::Result<Self> {
        let mapping = Self {
            maps: std::array::from_fn(|_| OnceLock::new()),
            current: AtomicUsize::new(0),
        };
        let reserve = len.saturating_mul(2).max(MIN_RESERVE).next_power_of_two();
        let map = map_reserved(file, reserve)?;
        mapping.maps[0].set(map).expect("fresh OnceLock is empty");
        Ok(mapping)
    }

    /// Makes sure the current mapping covers `len` bytes, adding a larger reservation if needed.
    /// Must be called by one thread at a time (the writer, or refresh under its lock).
    pub fn ensure(&self, file: &File, len: u64) -> std::io::Result<()> {
        let idx = self.current.load(Ordering::Acquire);
        let have = self.maps[idx].get().map_or(0, |m| m.len() as u64);
        if len <= have {
            return Ok(());
        }
        let next = idx + 1;
        if next >= MAX_MAPS {
            return Err(std::io::Error::other(
                "log outgrew its address-space reservations",
            ));
        }
        let reserve = len.saturating_mul(2).next_power_of_two();
        let map = map_reserved(file, reserve)?;
        self.maps[next]
            .set(map)
            .map_err(|_| std::io::Error::other("mapping grown twice"))?;
        self.current.store(next, Ordering::Release);
        Ok(())
    }

    /// Bytes `start..end` of the file.
    ///
    /// `end` must be a length the caller published after [`Mapping::ensure`] covered it (an
    /// Acquire load of that length orders this read after the mapping was installed), and no
    /// larger than the file; `start..end` must hold only bytes that are never rewritten (see
    /// [`Mapping::new`]).
    pub fn bytes(&self, start: u64, end: u64) -> &[u8] {
        let map = self.maps[self.current.load(Ordering::Acquire)]
            .get()
            .expect("current mapping is set");
        assert!(
            start <= end && end <= map.len() as u64,
            "range {start}..{end} outside mapping {}",
            map.len()
        );
        let start = usize::try_from(start).expect("start below the mapping length, hence usize");
        let len = usize::try_from(end).expect("end within the mapping, hence usize") - start;
        // SAFETY: `map` stays alive (in its OnceLock) until `self` is dropped, so the pointer is
        // valid for the lifetime of `&self`. `start..end` lies within the mapping (checked above)
        // and within the file (contract of `new`), so every page is readable, and those bytes
        // are never written while mapped (contract of `new`), so sharing them is sound.
        unsafe { std::slice::from_raw_parts(map.as_ptr().add(start), len) }
    }
}

fn map_reserved(file: &File, reserve: u64) -> std::io::Result<Mmap> {
    let len = usize::try_from(reserve)
        .map_err(|_| std::io::Error::other("reservation exceeds address space"))?;
    // SAFETY: a shared read-only mapping; it may extend past the end of the file, which is allowed
    // as long as nothing reads those pages: `Mapping::bytes` only exposes bytes below a length the
    // caller guarantees is within the file (contract of `Mapping::new`). memmap2's own `Deref` of
    // the whole `Mmap` is never used.
    unsafe { MmapOptions::new().len(len).map(file) }
}

/// Asks the CPU to start loading `bytes` into its caches (one hint per 64-byte line). A hint
/// only: it reads nothing architecturally, cannot fault, and changes no state.
pub(crate) fn prefetch(bytes: &[u8]) {
    #[cfg(target_arch = "x86_64")]
    for line in bytes.chunks(64) {
        // SAFETY: `line` lies within a live slice; a prefetch instruction never faults and
        // has no effect besides filling caches.
        unsafe {
            std::arch::x86_64::_mm_prefetch::<{ std::arch::x86_64::_MM_HINT_T0 }>(
                line.as_ptr().cast(),
            );
        }
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = bytes;
}
