//! The single writer's state: the append buffer, file position, checkpoint counter and the latch
//! that refuses writes after an I/O failure.

use std::fs::File;
use std::io;
use std::os::unix::fs::FileExt;
use std::path::Path;

use crate::error::Error;
use crate::format::{self, Checkpoint, SLOT_AT};

/// An I/O step of the writer (named for failure injection in tests and for error messages).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// Writing appended frames to the file.
    Write,
    /// fsync of the file.
    Sync,
    /// Writing a checkpoint slot.
    Checkpoint,
}

impl Step {
    fn op(self) -> &'static str {
        match self {
            Self::Write => "write records to",
            Self::Sync => "fsync",
            Self::Checkpoint => "write checkpoint of",
        }
    }
}

/// State behind the writer mutex.
#[derive(Debug)]
pub struct Writer {
    /// Encoded frames not yet written to the file.
    buf: Vec<u8>,
    /// Bytes of the file written so far (the offset `buf` starts at).
    written: u64,
    /// The last checkpoint's counter.
    seq: u64,
    /// Whether a checkpoint was written since the last fsync.
    checkpoint_dirty: bool,
    /// Spill `buf` to the file once it holds this many bytes.
    spill_at: usize,
    /// The first write or fsync failure; set once, never cleared.
    failed: Option<String>,
    #[cfg(test)]
    inject: Option<Step>,
}

impl Writer {
    pub fn new(end: u64, seq: u64, spill_at: usize) -> Self {
        Self {
            buf: Vec::new(),
            written: end,
            seq,
            checkpoint_dirty: false,
            spill_at,
            failed: None,
            #[cfg(test)]
            inject: None,
        }
    }

    #[cfg(test)]
    pub fn buffer_capacity(&self) -> usize {
        self.buf.capacity()
    }

    /// The offset the next appended record gets.
    pub fn next(&self) -> u64 {
        self.written + self.buf.len() as u64
    }

    /// Refuses to go on after an I/O failure.
    pub fn check(&self) -> Result<(), Error> {
        match &self.failed {
            Some(cause) => Err(Error::Poisoned {
                cause: cause.clone(),
            }),
            None => Ok(()),
        }
    }

    /// Buffers a record's frame. The buffer is spilled before a frame would take it past
    /// `spill_at`, so it never grows beyond that (a single frame larger than `spill_at` is
    /// written on its own).
    pub fn append(&mut self, record: &[u8], file: &File, path: &Path) -> Result<u64, Error> {
        if self.buf.len() + format::frame_len(record.len()) > self.spill_at {
            self.spill(file, path)?;
        }
        if self.buf.capacity() == 0 {
            self.buf
                .reserve_exact(self.spill_at.max(format::frame_len(record.len())));
        }
        let offset = self.next();
        format::encode_frame(record, &mut self.buf);
        if self.buf.len() >= self.spill_at {
            self.spill(file, path)?;
        }
        Ok(offset)
    }

    /// Writes the buffered frames to the file (no fsync: they are not durable yet).
    fn spill(&mut self, file: &File, path: &Path) -> Result<(), Error> {
        self.write_buffered(file, path, true)
    }

    /// Writes the buffered frames to the file; with `early`, starts their write-back at once
    /// (a flush's fsync then has less left to wait for). A write that an fsync follows at
    /// once gains nothing from that.
    fn write_buffered(&mut self, file: &File, path: &Path, early: bool) -> Result<(), Error> {
        if self.buf.is_empty() {
            return Ok(());
        }
        let inject = self.inject_take(Step::Write);
        let (buf, at) = (&self.buf, self.written);
        run(&mut self.failed, inject, Step::Write, path, || {
            file.write_all_at(buf, at)
        })?;
        if early {
            crate::writeback::start(file, at, buf.len());
        }
        self.written += self.buf.len() as u64;
        self.buf.clear();
        if self.buf.capacity() > self.spill_at {
            // It held a record larger than the buffer: let that memory go.
            self.buf = Vec::new();
        }
        Ok(())
    }

    /// Writes everything buffered and fsyncs the file.
    pub fn sync(&mut self, file: &File, path: &Path) -> Result<(), Error> {
        self.write_buffered(file, path, false)?;
        let inject = self.inject_take(Step::Sync);
        run(&mut self.failed, inject, Step::Sync, path, || {
            file.sync_data()
        })?;
        self.checkpoint_dirty = false;
        Ok(())
    }

    /// Records `next()` as the verified durable end; only call after `sync`.
    pub fn checkpoint(&mut self, file: &File, path: &Path) -> Result<(), Error> {
        debug_assert!(
            self.buf.is_empty(),
            "checkpoint only after everything was written"
        );
        let ckpt = Checkpoint {
            end: self.written,
            seq: self.seq + 1,
        };
        let slot = ckpt.encode();
        let inject = self.inject_take(Step::Checkpoint);
        run(&mut self.failed, inject, Step::Checkpoint, path, || {
            file.write_all_at(&slot, SLOT_AT[ckpt.slot()] as u64)
        })?;
        self.seq = ckpt.seq;
        self.checkpoint_dirty = true;
        Ok(())
    }

    /// Makes the last checkpoint durable, so the next open scans nothing.
    pub fn sync_checkpoint(&mut self, file: &File, path: &Path) -> Result<(), Error> {
        if self.checkpoint_dirty {
            self.sync(file, path)
        } else {
            Ok(())
        }
    }

    #[cfg(test)]
    pub fn inject(&mut self, step: Step) {
        self.inject = Some(step);
    }

    #[cfg(test)]
    fn inject_take(&mut self, step: Step) -> bool {
        let hit = self.inject == Some(step);
        if hit {
            self.inject = None;
        }
        hit
    }

    #[cfg(not(test))]
    fn inject_take(&mut self, _step: Step) -> bool {
        false
    }
}

/// Runs one I/O step; a failure (real or injected) latches the writer.
fn run(
    failed: &mut Option<String>,
    inject: bool,
    step: Step,
    path: &Path,
    io: impl FnOnce() -> io::Result<()>,
) -> Result<(), Error> {
    let result = if inject {
        Err(io::Error::other("injected failure"))
    } else {
        io()
    };
    result.map_err(|e| {
        let err = Error::io(step.op(), path, e);
        failed.get_or_insert_with(|| err.to_string());
        err
    })
}
