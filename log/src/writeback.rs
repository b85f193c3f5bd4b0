//! Starting write-back early. A flush's fsync has to wait for every byte written since the
//! last one; a big batch (an import's: megabytes) then waits for all of it at the end. Asking
//! the kernel to start writing each megabyte back as soon as it is spilled lets the disk work
//! while the next records are encoded, and the fsync waits for the tail only (as RocksDB's
//! `bytes_per_sync` does). Only a hint: durability still comes from the fsync alone.

use std::fs::File;

/// Starts writing back `len` bytes of `file` at `at`, without waiting for it (Linux); does
/// nothing elsewhere. Errors are ignored: the fsync that follows reports any that matter.
pub(crate) fn start(file: &File, at: u64, len: usize) {
    #[cfg(target_os = "linux")]
    {
        use std::os::fd::AsRawFd;
        let (Ok(at), Ok(len)) = (libc::off64_t::try_from(at), libc::off64_t::try_from(len)) else {
            return;
        };
        // SAFETY: the call reads no memory of ours; `file` keeps the descriptor open for it.
        // SYNC_FILE_RANGE_WRITE only queues dirty pages of the range for write-back.
        unsafe {
            libc::sync_file_range(file.as_raw_fd(), at, len, libc::SYNC_FILE_RANGE_WRITE);
        }
    }
    #[cfg(not(target_os = "linux"))]
    let _ = (file, at, len);
}
