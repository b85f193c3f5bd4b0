//! The `Log` handle: opening with recovery, appending, flushing, reading and waiting.

use std::fs::{File, OpenOptions};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Condvar, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use crate::error::Error;
use crate::format::{self, Checkpoint, HEADER_LEN, MAX_RECORD_LEN};
use crate::iter::{Iter, Records, RevIter, Tail, UnverifiedIter};
use crate::map::Mapping;
use crate::recovery::{self, Recovery, RecoveryMode};
use crate::writer::Writer;

/// How many bytes of a record [`Log::prefetch`] asks for.
const PREFETCH_SPAN: u64 = 1024;

/// How to open a log. `LogOptions::default()` opens for writing, truncating a corrupt tail.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogOptions {
    /// Open without the writer lock; never modifies the file.
    pub read_only: bool,
    /// What to do with an invalid tail.
    pub recovery: RecoveryMode,
    /// Largest record `append` accepts (at most [`MAX_RECORD_LEN`]).
    pub max_record_size: usize,
    /// Appended bytes buffered in memory before they are written (not synced) to the file;
    /// the buffer never grows past this (but for a single larger record).
    pub write_buffer: usize,
}

impl Default for LogOptions {
    fn default() -> Self {
        Self {
            read_only: false,
            recovery: RecoveryMode::default(),
            max_record_size: 16 << 20,
            write_buffer: 1 << 20,
        }
    }
}

/// Result of [`Log::verify`]: what a full CRC scan covered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VerifyReport {
    /// Records checked.
    pub records: u64,
    /// Bytes of frames checked (the end minus the first offset).
    pub bytes: u64,
    /// The published end the scan stopped at.
    pub end: u64,
}

/// An append-only log of byte records in one memory-mapped file. See the crate docs for the
/// durability contract. `Send + Sync`: share it behind an `Arc`; appends serialise inside.
#[derive(Debug)]
pub struct Log {
    path: PathBuf,
    file: File,
    map: Mapping,
    /// The published durable end: every offset below it is readable.
    end: AtomicU64,
    /// The writer state; `None` for a read-only handle.
    writer: Option<Mutex<Writer>>,
    /// Serialises `refresh` on a read-only handle.
    refresh_lock: Mutex<()>,
    signal: Mutex<()>,
    published: Condvar,
    closed: AtomicBool,
    recovery: Recovery,
    max_record_size: usize,
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Log {
    /// Opens (creating if missing) `path` for writing, with the default options.
    pub fn open(path: impl AsRef<Path>) -> Result<Self, Error> {
        Self::open_with(path, LogOptions::default())
    }

    /// Opens an existing log without taking the writer lock; the file is never modified.
    pub fn open_read_only(path: impl AsRef<Path>) -> Result<Self, Error> {
        Self::open_with(
            path,
            LogOptions {
                read_only: true,
                ..LogOptions::default()
            },
        )
    }

    /// Opens `path` with `opts`: takes the writer lock (unless read-only), checks the header,
    /// scans the records past the checkpoint and recovers the tail as `opts.recovery` says.
    pub fn open_with(path: impl AsRef<Path>, opts: LogOptions) -> Result<Self, Error> {
        let path = path.as_ref().to_path_buf();
        let file = open_file(&path, opts.read_only)?;
        let checkpoint = recovery::read_checkpoint(&file, &path)?;
        let mut recovery = recovery::scan(&file, &path, checkpoint)?;
        if let Some(reason) = recovery.reason {
            if opts.recovery == RecoveryMode::Strict {
                return Err(Error::CorruptTail {
                    path,
                    offset: recovery.valid_end,
                    dropped: recovery.dropped(),
                    reason,
                });
            }
            if !opts.read_only {
                truncate(&file, &path, recovery.valid_end)?;
                recovery.truncated = true;
            }
        }
        Self::assemble(path, file, opts, checkpoint, recovery)
    }

    #[expect(
        unsafe_code,
        reason = "mapping the log file; the contract is in map.rs"
    )]
    fn assemble(
        path: PathBuf,
        file: File,
        opts: LogOptions,
        ckpt: Checkpoint,
        recovery: Recovery,
    ) -> Result<Self, Error> {
        // SAFETY: contract of `Mapping::new`: the log only ever appends to its file; the one
        // truncation (recovery, in `open_with`) happened before this mapping exists; `bytes` is
        // only called with published ends, which never exceed the file length.
        let map = unsafe { Mapping::new(&file, recovery.valid_end) }
            .map_err(|e| Error::io("map", &path, e))?;
        let end = recovery.valid_end;
        let writer =
            (!opts.read_only).then(|| Mutex::new(Writer::new(end, ckpt.seq, opts.write_buffer)));
        let log = Self {
            path,
            file,
            map,
            end: AtomicU64::new(end),
            writer,
            refresh_lock: Mutex::new(()),
            signal: Mutex::new(()),
            published: Condvar::new(),
            closed: AtomicBool::new(false),
            recovery,
            max_record_size: opts.max_record_size.min(MAX_RECORD_LEN),
        };
        if !log.is_read_only() && end != ckpt.end {
            // Records found past the checkpoint may not be synced yet: sync before recording them.
            log.with_writer(|w, log| {
                w.sync(&log.file, &log.path)?;
                w.checkpoint(&log.file, &log.path)
            })?;
        }
        Ok(log)
    }

    /// The file this log lives in.
    #[must_use]
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// What `open` found and dropped.
    #[must_use]
    pub fn recovery(&self) -> &Recovery {
        &self.recovery
    }

    /// Offset of the first record (just after the file header).
    #[must_use]
    pub fn first_offset(&self) -> u64 {
        HEADER_LEN as u64
    }

    /// The published durable end: every record below it is readable (and durable).
    #[must_use]
    pub fn end(&self) -> u64 {
        self.end.load(Ordering::Acquire)
    }

    /// Whether this handle was opened read-only.
    #[must_use]
    pub fn is_read_only(&self) -> bool {
        self.writer.is_none()
    }

    fn with_writer<T>(
        &self,
        f: impl FnOnce(&mut Writer, &Self) -> Result<T, Error>,
    ) -> Result<T, Error> {
        let writer = self.writer.as_ref().ok_or(Error::ReadOnly)?;
        let mut guard = lock(writer);
        guard.check()?;
        f(&mut guard, self)
    }

    fn check_size(&self, len: usize) -> Result<(), Error> {
        if len > self.max_record_size {
            return Err(Error::RecordTooLarge {
                len,
                max: self.max_record_size,
            });
        }
        Ok(())
    }

    /// Appends one record and returns its offset. It is invisible to readers, and not durable,
    /// until a [`Log::flush`] returns.
    pub fn append(&self, record: &[u8]) -> Result<u64, Error> {
        self.check_size(record.len())?;
        self.with_writer(|w, log| w.append(record, &log.file, &log.path))
    }

    /// Appends records in order and returns their offsets; either all are appended or none
    /// (a too-large record is reported before anything is written).
    pub fn append_batch<'a, I: IntoIterator<Item = &'a [u8]>>(
        &self,
        records: I,
    ) -> Result<Vec<u64>, Error> {
        let records: Vec<&[u8]> = records.into_iter().collect();
        records.iter().try_for_each(|r| self.check_size(r.len()))?;
        self.with_writer(|w, log| {
            records
                .iter()
                .map(|r| w.append(r, &log.file, &log.path))
                .collect()
        })
    }

    /// Writes and fsyncs everything appended, records a checkpoint, then publishes the new end to
    /// readers and wakes waiters. Returns the new durable end.
    pub fn flush(&self) -> Result<u64, Error> {
        self.with_writer(|w, log| {
            if w.next() == log.end() {
                return Ok(log.end());
            }
            w.sync(&log.file, &log.path)?;
            log.map
                .ensure(&log.file, w.next())
                .map_err(|e| Error::io("grow mapping of", &log.path, e))?;
            w.checkpoint(&log.file, &log.path)?;
            log.publish(w.next());
            Ok(w.next())
        })
    }

    fn publish(&self, end: u64) {
        self.end.store(end, Ordering::Release);
        let _guard = lock(&self.signal);
        self.published.notify_all();
    }

    /// On a read-only handle, picks up records another process has flushed since (as recorded in
    /// its checkpoint) and returns the new end. On a writer handle, returns [`Log::end`].
    pub fn refresh(&self) -> Result<u64, Error> {
        if self.writer.is_some() {
            return Ok(self.end());
        }
        let _guard = lock(&self.refresh_lock);
        let ckpt = recovery::read_checkpoint(&self.file, &self.path)?;
        if ckpt.end <= self.end() {
            return Ok(self.end());
        }
        let file_len = self
            .file
            .metadata()
            .map_err(|e| Error::io("stat", &self.path, e))?
            .len();
        if file_len < ckpt.end {
            return Err(Error::Truncated {
                path: self.path.clone(),
                checkpoint: ckpt.end,
                file_len,
            });
        }
        self.map
            .ensure(&self.file, ckpt.end)
            .map_err(|e| Error::io("grow mapping of", &self.path, e))?;
        self.publish(ckpt.end);
        Ok(ckpt.end)
    }

    /// The published records, zero-copy: the file from the first record up to `end`.
    pub(crate) fn records(&self, end: u64) -> Records<'_> {
        Records::new(
            self.map.bytes(self.first_offset(), end),
            self.first_offset(),
        )
    }

    /// The record at `offset` (an offset returned by `append`), CRC-checked, zero-copy.
    pub fn get(&self, offset: u64) -> Result<&[u8], Error> {
        let end = self.end();
        if offset < self.first_offset() || offset >= end {
            return Err(Error::OutOfRange {
                offset,
                first: self.first_offset(),
                end,
            });
        }
        self.records(end).read(offset).map(|(payload, _)| payload)
    }

    /// Hints that the record at `offset` will be read soon: the CPU starts loading its first
    /// bytes (up to 1 KiB, a typical SSB record) into its caches. Readers of many scattered
    /// records (a feed, a thread) call it a few records ahead, so that the memory fetches of
    /// several records overlap instead of each `get` waiting for its own. Does nothing for an
    /// offset outside the log; never fails.
    pub fn prefetch(&self, offset: u64) {
        let end = self.end();
        if offset < self.first_offset() || offset >= end {
            return;
        }
        crate::map::prefetch(self.map.bytes(offset, end.min(offset + PREFETCH_SPAN)));
    }

    /// Records at offsets `>= from` (from the first record if `from` is before it), up to the end
    /// published when the iterator is created. `from` must be a record offset or the end.
    #[must_use]
    pub fn iter(&self, from: u64) -> Iter<'_> {
        let end = self.end();
        Iter::new(self.records(end), from.max(self.first_offset()))
    }

    /// As [`Log::iter`], but each record's CRC is left for the caller to check with
    /// [`Unverified::verify`](crate::Unverified::verify) (the only way to its bytes), so that
    /// many threads can share the checking. The frames' lengths and trailers are checked while
    /// walking.
    #[must_use]
    pub fn iter_unverified(&self, from: u64) -> UnverifiedIter<'_> {
        let end = self.end();
        UnverifiedIter::new(self.records(end), from.max(self.first_offset()))
    }

    /// Records with offsets `< before` (clamped to the end), newest first. `before` must be a
    /// record offset or the end.
    #[must_use]
    pub fn iter_rev(&self, before: u64) -> RevIter<'_> {
        let end = self.end();
        RevIter::new(self.records(end), before.min(end))
    }

    /// Blocks until `end() > offset`, the timeout passes, or [`Log::close`] is called; returns
    /// `end()`. Woken by this handle's flushes (or refreshes, on a read-only handle).
    pub fn wait_for(&self, offset: u64, timeout: Option<Duration>) -> u64 {
        let deadline = timeout.map(|t| Instant::now() + t);
        let mut guard = lock(&self.signal);
        loop {
            let end = self.end();
            if end > offset || self.is_closed() {
                return end;
            }
            guard = match deadline {
                None => self
                    .published
                    .wait(guard)
                    .unwrap_or_else(PoisonError::into_inner),
                Some(deadline) => {
                    let Some(left) = deadline
                        .checked_duration_since(Instant::now())
                        .filter(|d| !d.is_zero())
                    else {
                        return end;
                    };
                    self.published
                        .wait_timeout(guard, left)
                        .unwrap_or_else(PoisonError::into_inner)
                        .0
                }
            };
        }
    }

    /// A blocking iterator over records at offsets `>= from` that waits for new ones; it ends on
    /// [`Log::close`], or after a quiet period set with [`Tail::timeout`].
    #[must_use]
    pub fn tail(&self, from: u64) -> Tail<'_> {
        Tail::new(self, from.max(self.first_offset()))
    }

    /// Wakes every blocked `wait_for` and `tail` and makes them return from now on. Reads and
    /// writes keep working.
    pub fn close(&self) {
        self.closed.store(true, Ordering::Release);
        let _guard = lock(&self.signal);
        self.published.notify_all();
    }

    /// Whether [`Log::close`] was called.
    #[must_use]
    pub fn is_closed(&self) -> bool {
        self.closed.load(Ordering::Acquire)
    }

    /// Checks the CRC of every record below `end()`: the full scan `open` skips thanks to the
    /// checkpoint. Returns the first damage found as [`Error::Corrupt`].
    pub fn verify(&self) -> Result<VerifyReport, Error> {
        let end = self.end();
        let mut records = 0;
        for item in self.iter(self.first_offset()) {
            item?;
            records += 1;
        }
        Ok(VerifyReport {
            records,
            bytes: end - self.first_offset(),
            end,
        })
    }

    /// Test hook: make the next write or fsync of this handle fail.
    #[cfg(test)]
    pub(crate) fn inject_failure(&self, step: crate::writer::Step) {
        lock(self.writer.as_ref().expect("writer handle")).inject(step);
    }

    /// Test hook: the capacity of the writer's buffer.
    #[cfg(test)]
    pub(crate) fn writer_buffer_capacity(&self) -> usize {
        lock(self.writer.as_ref().expect("writer handle")).buffer_capacity()
    }
}

impl Drop for Log {
    /// Best effort: flushes what was appended and syncs the last checkpoint, so the next open
    /// has nothing to scan. Errors are ignored here; call [`Log::flush`] to see them.
    fn drop(&mut self) {
        if let (Ok(_), Some(writer)) = (self.flush(), &self.writer) {
            let _ = lock(writer).sync_checkpoint(&self.file, &self.path);
        }
    }
}

fn open_file(path: &Path, read_only: bool) -> Result<File, Error> {
    if read_only {
        return File::open(path).map_err(|e| Error::io("open", path, e));
    }
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(path)
        .map_err(|e| Error::io("open", path, e))?;
    file.try_lock().map_err(|e| match e {
        std::fs::TryLockError::WouldBlock => Error::Locked { path: path.into() },
        std::fs::TryLockError::Error(e) => Error::io("lock", path, e),
    })?;
    init_if_new(&file, path)?;
    Ok(file)
}

/// Writes the header of a new log. A file shorter than the header that holds a prefix of a new
/// header is a creation interrupted by a crash: nothing in it was ever acknowledged.
fn init_if_new(file: &File, path: &Path) -> Result<(), Error> {
    let len = file
        .metadata()
        .map_err(|e| Error::io("stat", path, e))?
        .len();
    let header = format::new_header();
    if len >= HEADER_LEN as u64 {
        return Ok(());
    }
    let mut found = vec![0; usize::try_from(len).expect("shorter than the header")];
    file.read_exact_at(&mut found, 0)
        .map_err(|e| Error::io("read header of", path, e))?;
    if !header.starts_with(&found) {
        return Err(Error::NotALog { path: path.into() });
    }
    file.write_all_at(&header, 0)
        .map_err(|e| Error::io("write header of", path, e))?;
    file.sync_all().map_err(|e| Error::io("sync", path, e))?;
    sync_parent_dir(path)
}

fn sync_parent_dir(path: &Path) -> Result<(), Error> {
    let parent = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    File::open(parent)
        .and_then(|dir| dir.sync_all())
        .map_err(|e| Error::io("sync directory of", path, e))
}

fn truncate(file: &File, path: &Path, len: u64) -> Result<(), Error> {
    file.set_len(len)
        .map_err(|e| Error::io("truncate", path, e))?;
    file.sync_all().map_err(|e| Error::io("sync", path, e))
}
