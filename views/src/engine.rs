//! Keeping views in step with the log: one slot per view (state + `since`), loading and
//! storing view files, and the catch-up loop that feeds durable records to lagging views.
//!
//! Architecture invariant: a slot's `since` only moves to an offset the log has published as
//! durable, after every record below it was applied; so a view file never claims more than
//! the log holds.

use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Mutex, RwLock, RwLockReadGuard};

use rayon::prelude::*;
use sluice_log::{Log, Unverified};

use crate::error::Error;
use crate::record::{self, Header};
use crate::scan::Facts;
use crate::view::{Indexed, View, ViewDataError};
use crate::viewfile::{self, Bulk, Unusable};

/// Records decoded and handed to views at a time. Two chunks are in flight (one prepared
/// while the views apply the other), about 400 bytes a record with its facts: 4,096 took a
/// rebuild of the medium fixture from 20.8 to 18.8 MiB peak anonymous memory against 8,192,
/// at the same speed (8 alternating runs: 0.130 vs 0.135 s).
const CHUNK: usize = 4096;
/// `persisted` value meaning "no file written or loaded yet".
const NEVER: u64 = u64::MAX;

/// How far a catch-up or rebuild has come (log offsets).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Progress {
    /// Log offset reached.
    pub done: u64,
    /// Log offset the catch-up runs to.
    pub total: u64,
    /// Records read so far in this run.
    pub records: u64,
}

/// One view, its `since`, and how it was last loaded.
#[derive(Debug)]
pub(crate) struct Slot<V> {
    state: RwLock<V>,
    make: fn() -> V,
    /// The view's constant traits, read once: asking the view itself takes its lock, which
    /// an apply holds for a whole chunk, and a rebuild decoding the next chunk meanwhile
    /// asks them (a worker thread blocked on that lock cannot help with any other task).
    traits: Traits,
    since: AtomicU64,
    persisted: AtomicU64,
    rebuilt: Mutex<Option<Unusable>>,
    loaded: AtomicBool,
    /// Held while the view's file is written: two threads writing the same view (a writer's
    /// periodic write, and a query that rebuilt the view or caught it up far) take turns
    /// instead of writing the same temp file at once; the second finds nothing new to write.
    writing: Mutex<()>,
}

impl<V: View> Slot<V> {
    pub(crate) fn new(make: fn() -> V) -> Self {
        let view = make();
        let traits = Traits {
            name: view.name(),
            version: view.version(),
            needs_content: view.needs_content(),
            uses_facts: view.uses_facts(),
        };
        Self {
            state: RwLock::new(view),
            make,
            traits,
            since: AtomicU64::new(0),
            persisted: AtomicU64::new(NEVER),
            rebuilt: Mutex::new(None),
            loaded: AtomicBool::new(false),
            writing: Mutex::new(()),
        }
    }

    /// Read access to the view's state (call only once it is fresh enough).
    pub(crate) fn read(&self) -> RwLockReadGuard<'_, V> {
        self.state
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, V> {
        self.state
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn try_load(&self, dir: &Path, log_end: u64) -> Result<(), Unusable> {
        let loaded = viewfile::load(dir, self.traits.name, self.traits.version)?;
        if loaded.since > log_end {
            return Err(Unusable::Malformed("ahead of the log"));
        }
        let mut fresh = (self.make)();
        fresh
            .load(loaded.payload)
            .map_err(|_| Unusable::Malformed("payload does not decode"))?;
        *self.write() = fresh;
        self.since.store(loaded.since, Ordering::Release);
        self.persisted.store(loaded.since, Ordering::Release);
        Ok(())
    }

    /// After the state at `since` was written: a view that reads its file in place switches
    /// to the new file, unless records were applied meanwhile (the next write switches then).
    fn switch_to_file(&self, dir: &Path, since: u64) {
        let mut view = self.write();
        if self.since.load(Ordering::Acquire) != since {
            return;
        }
        let Traits { name, version, .. } = self.traits;
        let switched = viewfile::load(dir, name, version)
            .map_err(|why| why.to_string())
            .and_then(|loaded| view.stored(loaded.payload).map_err(|e| e.to_string()));
        if let Err(why) = switched {
            tracing::warn!(view = name, reason = %why, "cannot read the view file just written; the view keeps its state in memory");
        }
    }
}

/// What a view says of itself that never changes ([`View::name`], [`View::version`],
/// [`View::needs_content`], [`View::uses_facts`]).
#[derive(Debug, Clone, Copy)]
struct Traits {
    name: &'static str,
    version: u32,
    needs_content: bool,
    uses_facts: bool,
}

/// What the database needs from a slot, whatever its view type.
pub(crate) trait AnySlot: Send + Sync {
    fn name(&self) -> &'static str;
    fn version(&self) -> u32;
    fn since(&self) -> u64;
    fn needs_content(&self) -> bool;
    /// Loads the view file once (later calls do nothing); on any defect empties the view (to
    /// be rebuilt from the log) and says why.
    fn load(&self, dir: &Path, log_end: u64) -> Option<Unusable>;
    /// Whether [`AnySlot::load`] ran.
    fn is_loaded(&self) -> bool;
    /// Why the view was rebuilt on open (None when its file was used).
    fn rebuilt_because(&self) -> Option<Unusable>;
    /// Whether the view reads content through [`Facts`].
    fn uses_facts(&self) -> bool;
    /// Applies records at or above `since` (with their content facts, `facts[i]` for
    /// `entries[i]`, when given and the view uses them), then moves `since` to `end`.
    fn apply_chunk(&self, entries: &[Indexed<'_>], facts: Option<&[Option<Facts>]>, end: u64);
    /// Empties the view for a rebuild.
    fn reset(&self);
    /// Empties the view for a rebuild because its file turned out damaged, and says so in
    /// [`AnySlot::rebuilt_because`].
    fn invalidate(&self, why: Unusable);
    /// Checks the parts of the loaded file the view checks itself (see `View::verify`).
    fn verify(&self) -> Result<(), ViewDataError>;
    /// What is wrong with the view's file as it is on disk, read whole (None when it is
    /// good); for fsck.
    fn check_file(&self, dir: &Path) -> Option<String>;
    /// Writes the view file if the view is loaded and `since` moved since the last write; a
    /// payload's bulk past `spill_above` bytes goes through a temporary file.
    fn persist(&self, dir: &Path, spill_above: usize) -> std::io::Result<()>;
    /// The encoded state and its `since`.
    fn snapshot(&self) -> (u64, Vec<u8>);
    /// A fresh, empty copy of this view (for checks).
    fn blank(&self) -> Box<dyn AnySlot>;
}

impl<V: View + 'static> AnySlot for Slot<V> {
    fn name(&self) -> &'static str {
        self.traits.name
    }
    fn version(&self) -> u32 {
        self.traits.version
    }
    fn since(&self) -> u64 {
        self.since.load(Ordering::Acquire)
    }
    fn needs_content(&self) -> bool {
        self.traits.needs_content
    }
    fn load(&self, dir: &Path, log_end: u64) -> Option<Unusable> {
        let mut rebuilt = self
            .rebuilt
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if self.is_loaded() {
            return None;
        }
        let result = self.try_load(dir, log_end);
        self.loaded.store(true, Ordering::Release);
        let why = result.err()?;
        self.reset();
        *rebuilt = Some(why.clone());
        Some(why)
    }
    fn is_loaded(&self) -> bool {
        self.loaded.load(Ordering::Acquire)
    }
    fn rebuilt_because(&self) -> Option<Unusable> {
        self.rebuilt
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }
    fn uses_facts(&self) -> bool {
        self.traits.uses_facts
    }
    fn apply_chunk(&self, entries: &[Indexed<'_>], facts: Option<&[Option<Facts>]>, end: u64) {
        let mut view = self.write();
        let since = self.since();
        let start = entries.partition_point(|e| e.offset < since);
        match facts.filter(|_| self.traits.uses_facts) {
            Some(facts) => {
                for (entry, f) in entries[start..].iter().zip(&facts[start..]) {
                    view.apply_facts(entry, f.as_ref());
                }
            }
            None => view.apply_run(&entries[start..]),
        }
        self.since.fetch_max(end, Ordering::AcqRel);
    }
    fn reset(&self) {
        // Cleared in place: the views keep their tables' and lists' capacity, so the rebuild
        // that follows neither grows them again nor waits for fresh pages, and what they
        // free item by item goes to a pool thread (see each view's `clear`). `since` moves
        // under the same lock, so nothing sees the cleared state with the old `since`.
        let mut view = self.write();
        view.clear();
        self.since.store(0, Ordering::Release);
        // The file no longer holds this state: the next persist writes it whatever `since`.
        self.persisted.store(NEVER, Ordering::Release);
        drop(view);
    }
    fn invalidate(&self, why: Unusable) {
        let mut rebuilt = self
            .rebuilt
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        self.reset();
        *rebuilt = Some(why);
    }
    fn verify(&self) -> Result<(), ViewDataError> {
        self.read().verify()
    }
    fn check_file(&self, dir: &Path) -> Option<String> {
        let (name, version) = (self.name(), self.version());
        let loaded = match viewfile::load(dir, name, version) {
            Ok(loaded) => loaded,
            Err(why) => return Some(why.to_string()),
        };
        let mut view = (self.make)();
        let read = view.load(loaded.payload).and_then(|()| view.verify());
        read.err().map(|e| e.to_string())
    }
    fn persist(&self, dir: &Path, spill_above: usize) -> std::io::Result<()> {
        let _writing = self
            .writing
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let view = self.read();
        let since = self.since();
        // A view never loaded holds nothing of its file: writing it would throw the file away.
        if !self.is_loaded() || self.persisted.load(Ordering::Acquire) == since {
            return Ok(());
        }
        // Never carry damage of the loaded file into a new one (the database checks first and
        // rebuilds a damaged view; this is the last guard).
        view.verify()
            .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e))?;
        let mut bulk = Bulk::spilling(dir, spill_above);
        let head = view.encode_parts(&mut bulk);
        let Traits { name, version, .. } = self.traits;
        let header = viewfile::header(name, version, since, &head, head.len() + bulk.len());
        let in_place = view.reads_in_place();
        drop(view);
        viewfile::store_parts(dir, name, &[&header, &head], bulk)?;
        drop(head);
        self.persisted.store(since, Ordering::Release);
        if in_place {
            self.switch_to_file(dir, since);
        }
        Ok(())
    }
    fn snapshot(&self) -> (u64, Vec<u8>) {
        let view = self.read();
        (self.since(), view.encode())
    }
    fn blank(&self) -> Box<dyn AnySlot> {
        Box::new(Slot::new(self.make))
    }
}

/// Feeds every record in `[min since, end)` to the slots that have not seen it, in chunks;
/// content JSON is parsed (in parallel) only when a lagging view needs it. Chunks are
/// pipelined: while the views apply one chunk, the next is read, decoded and scanned, so a
/// view that takes longer than the others does not leave the other cores idle. After each
/// chunk but the last, every slot is at least at its end, which `checkpoint` is given (to
/// write the view files when that is due).
pub(crate) fn catch_up(
    log: &Log,
    slots: &[&dyn AnySlot],
    end: u64,
    progress: &mut dyn FnMut(Progress),
    checkpoint: &mut dyn FnMut(u64) -> Result<(), Error>,
) -> Result<(), Error> {
    let Some(from) = slots.iter().map(|s| s.since()).min() else {
        return Ok(());
    };
    if from >= end {
        return Ok(());
    }
    let mut iter = log.iter_unverified(from).peekable();
    let mut records = 0u64;
    let mut ready =
        read_chunk(&mut iter, end).and_then(|raw| prepare(slots, raw, Buffers::default()))?;
    let mut spare = Buffers::default();
    loop {
        let (done, count) = (ready.end, ready.entries.len() as u64);
        let last = done >= end;
        let buffers = std::mem::take(&mut spare);
        // The applied chunk is also emptied on the applying side, off the serial path; its
        // buffers come back for the chunk after next.
        let (used, next) = rayon::join(
            move || apply_prepared(slots, ready),
            || {
                (!last).then(|| {
                    read_chunk(&mut iter, end).and_then(|raw| prepare(slots, raw, buffers))
                })
            },
        );
        spare = used;
        records += count;
        progress(Progress {
            done,
            total: end,
            records,
        });
        if !last {
            checkpoint(done)?;
        }
        match next {
            None => return Ok(()),
            Some(next) => ready = next?,
        }
    }
}

type LogIter<'a> = std::iter::Peekable<sluice_log::UnverifiedIter<'a>>;

/// Finds up to [`CHUNK`] records below `end`; the chunk ends where the next record starts
/// (or at `end`). Their CRCs are checked by [`prepare`], in parallel.
fn read_chunk<'a>(iter: &mut LogIter<'a>, end: u64) -> Result<RawChunk<'a>, Error> {
    let mut records = Vec::with_capacity(CHUNK);
    while records.len() < CHUNK {
        match iter.next_if(|item| item.as_ref().map_or(true, |r| r.offset() < end)) {
            Some(item) => records.push(item.map_err(Error::from)?),
            None => break,
        }
    }
    let chunk_end = match iter.peek() {
        Some(Ok(r)) if r.offset() < end => r.offset(),
        _ => end,
    };
    Ok(RawChunk {
        records,
        end: chunk_end,
    })
}

/// Records found in the log (their CRCs not checked yet), with the offset the chunk ends at.
struct RawChunk<'a> {
    records: Vec<Unverified<'a>>,
    end: u64,
}

/// The per-record vectors of a chunk, reused from one chunk to the one after next (two
/// chunks are in flight). They are megabytes per chunk (8,192 facts of 272 bytes alone are
/// 2.2 MB): allocated afresh, each chunk would map and fault in new pages, and a big store's
/// rebuild would churn through hundreds of megabytes of them.
#[derive(Default)]
struct Buffers<'a> {
    entries: Vec<Indexed<'a>>,
    facts: Vec<Option<Facts>>,
}

/// A chunk decoded for the views that lag behind its end: the views' inputs, plus parsed
/// contents or content facts when such a view needs them.
struct Prepared<'a> {
    /// One per record, without content (see `contents`).
    entries: Vec<Indexed<'a>>,
    /// Each record's parsed content, when a lagging view reads `Indexed::content`.
    contents: Vec<Option<serde_json::Value>>,
    facts: Vec<Option<Facts>>,
    end: u64,
}

/// Decodes one chunk for the slots still below its end. (Applying earlier chunks meanwhile
/// does not change which slots those are: it moves them only to earlier ends.) Each record's
/// CRC is checked, its header decoded and its content scanned in one parallel pass that
/// writes straight into place; the first bad record (by offset) fails the chunk.
fn prepare<'a>(
    slots: &[&dyn AnySlot],
    raw: RawChunk<'a>,
    buffers: Buffers<'a>,
) -> Result<Prepared<'a>, Error> {
    let lagging: Vec<&dyn AnySlot> = lagging(slots, raw.end);
    let want_facts = lagging.iter().any(|s| s.uses_facts());
    let want_contents = lagging.iter().any(|s| s.needs_content() && !s.uses_facts());
    let first_error: Mutex<Option<(u64, Error)>> = Mutex::new(None);
    let n = raw.records.len();
    let Buffers {
        mut entries,
        mut facts,
    } = buffers;
    entries.clear();
    entries.resize(n, placeholder(0));
    // The facts of the chunk before last are still here: each slot is overwritten (and what
    // it held freed) by the parallel pass below, not one by one on the applying side.
    facts.truncate(n);
    facts.resize_with(n, || None);
    (entries.par_iter_mut().zip(facts.par_iter_mut()))
        .zip(raw.records.par_iter())
        .for_each(|((entry, slot), record)| {
            let decoded = record
                .verify()
                .map_err(Error::from)
                .and_then(|(offset, bytes)| decode_into(offset, bytes, want_facts, entry, slot));
            if let Err(e) = decoded {
                keep_first(&first_error, record.offset(), e);
            }
        });
    let first = first_error
        .into_inner()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    if let Some((_, e)) = first {
        return Err(e);
    }
    let contents = if want_contents {
        parse_contents(&raw.records)?
    } else {
        Vec::new()
    };
    Ok(Prepared {
        entries,
        contents,
        facts,
        end: raw.end,
    })
}

/// Decodes a record into its view input (without content) and, when `facts` is set, its
/// content facts into `slot`.
fn decode_into<'a>(
    offset: u64,
    bytes: &'a [u8],
    facts: bool,
    entry_out: &mut Indexed<'a>,
    slot: &mut Option<Facts>,
) -> Result<(), Error> {
    let (header, value) =
        record::decode(bytes).map_err(|source| Error::Record { offset, source })?;
    if facts && !header.encrypted {
        Facts::of_value_json_into(value, slot)
            .map_err(|source| Error::RecordJson { offset, source })?;
    } else {
        *slot = None;
    }
    *entry_out = entry(offset, &header);
    Ok(())
}

fn entry<'a>(offset: u64, header: &Header<'a>) -> Indexed<'a> {
    Indexed {
        offset,
        id: header.id,
        author: header.author,
        sequence: header.sequence,
        timestamp: header.claimed,
        received: header.received,
        content_type: header.content_type,
        encrypted: header.encrypted,
        content: None,
    }
}

/// Stands in for a record that failed to decode (the chunk is then dropped with its error).
fn placeholder(offset: u64) -> Indexed<'static> {
    Indexed {
        offset,
        id: sluice_msg::MsgId([0; 32]),
        author: sluice_msg::FeedId([0; 32]),
        sequence: 0,
        timestamp: 0.0,
        received: 0.0,
        content_type: None,
        encrypted: true,
        content: None,
    }
}

/// Keeps the error of the record with the lowest offset.
fn keep_first(slot: &Mutex<Option<(u64, Error)>>, offset: u64, e: Error) {
    let mut first = slot
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    if first.as_ref().is_none_or(|(o, _)| offset < *o) {
        *first = Some((offset, e));
    }
}

fn lagging<'s>(slots: &[&'s dyn AnySlot], end: u64) -> Vec<&'s dyn AnySlot> {
    slots.iter().copied().filter(|s| s.since() < end).collect()
}

/// Applies a prepared chunk to every slot still below its end, views in parallel, and returns
/// its vectors for reuse (the facts still in theirs: `prepare` overwrites them in parallel).
fn apply_prepared<'a>(slots: &[&dyn AnySlot], chunk: Prepared<'a>) -> Buffers<'a> {
    {
        let with_content: Vec<Indexed<'_>>;
        let entries = if chunk.contents.is_empty() {
            &chunk.entries
        } else {
            with_content = (chunk.entries.iter().zip(&chunk.contents))
                .map(|(e, c)| Indexed {
                    content: c.as_ref(),
                    ..*e
                })
                .collect();
            &with_content
        };
        lagging(slots, chunk.end)
            .par_iter()
            .for_each(|slot| slot.apply_chunk(entries, Some(&chunk.facts), chunk.end));
    }
    let Prepared {
        mut entries, facts, ..
    } = chunk;
    entries.clear();
    Buffers { entries, facts }
}

/// Applies the same entries (with their content facts, for the views that read them) to
/// every slot, views in parallel, then moves them to `end`.
pub(crate) fn apply_all(
    slots: &[&dyn AnySlot],
    entries: &[Indexed<'_>],
    facts: &[Option<Facts>],
    end: u64,
) {
    slots
        .par_iter()
        .for_each(|slot| slot.apply_chunk(entries, Some(facts), end));
}

/// Only `content` is materialised; the other value fields are skipped by the parser.
#[derive(serde::Deserialize)]
struct ContentOnly {
    content: serde_json::Value,
}

fn parse_contents(records: &[Unverified<'_>]) -> Result<Vec<Option<serde_json::Value>>, Error> {
    records
        .par_iter()
        .map(|record| {
            let (offset, bytes) = record.verify()?;
            let (header, value) =
                record::decode(bytes).map_err(|source| Error::Record { offset, source })?;
            if header.encrypted {
                return Ok(None);
            }
            let parsed: ContentOnly = serde_json::from_slice(value)
                .map_err(|source| Error::RecordJson { offset, source })?;
            Ok(parsed.content.is_object().then_some(parsed.content))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(sequence: u64) -> Vec<u8> {
        let header = Header {
            id: sluice_msg::MsgId([sequence as u8; 32]),
            author: sluice_msg::FeedId([1; 32]),
            sequence,
            claimed: 1.0,
            received: 2.0,
            encrypted: false,
            content_type: Some("post"),
        };
        record::encode(&header, br#"{"content":{"type":"post"}}"#)
    }

    /// A log in `dir` holding `records`, and their offsets.
    fn log_of(dir: &Path, records: &[&[u8]]) -> (Log, Vec<u64>) {
        std::fs::create_dir_all(dir).expect("dir");
        let log = Log::open(dir.join("log")).expect("open log");
        let offsets = records
            .iter()
            .map(|r| log.append(r).expect("append"))
            .collect();
        log.flush().expect("flush");
        (log, offsets)
    }

    fn chunk_of(log: &Log) -> RawChunk<'_> {
        read_chunk(&mut log.iter_unverified(0).peekable(), log.end()).expect("frames")
    }

    /// Preparing the next chunk asks each slot what its view reads while another thread
    /// applies a chunk to that view under its write lock: the answers must not wait for it.
    #[test]
    fn a_slot_answers_what_its_view_reads_while_the_view_is_being_applied() {
        let slot = Slot::new(crate::backlinks::Backlinks::new);
        let applying = slot.write();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::scope(|scope| {
            scope.spawn(|| {
                let asked = (
                    slot.name(),
                    slot.version(),
                    slot.needs_content(),
                    slot.uses_facts(),
                );
                tx.send(asked).expect("send");
            });
            let answered = rx.recv_timeout(std::time::Duration::from_secs(10));
            drop(applying);
            let (name, _, _, uses_facts) = answered.expect("answered while the lock was held");
            assert_eq!((name, uses_facts), ("backlinks", true));
        });
    }

    #[test]
    fn prepare_decodes_in_order_and_reports_the_first_bad_record() {
        let dir = tempfile::tempdir().expect("temp dir");
        let (a, b) = (record(1), record(2));
        let (log, at) = log_of(&dir.path().join("good"), &[&a, &b]);
        let ready = prepare(&[], chunk_of(&log), Buffers::default()).expect("good chunk");
        let seqs: Vec<(u64, u64)> = ready
            .entries
            .iter()
            .map(|e| (e.offset, e.sequence))
            .collect();
        assert_eq!(seqs, vec![(at[0], 1), (at[1], 2)]);
        let bad = [9u8; 4];
        let records: Vec<&[u8]> = (0..64)
            .map(|i| if i == 7 || i == 40 { &bad[..] } else { &a[..] })
            .collect();
        let (log, at) = log_of(&dir.path().join("bad"), &records);
        let err = prepare(&[], chunk_of(&log), Buffers::default()).err();
        assert!(
            matches!(err, Some(Error::Record { offset, .. }) if offset == at[7]),
            "{err:?}"
        );
    }

    #[test]
    fn prepare_checks_every_crc_and_reports_the_first_mismatch() {
        let dir = tempfile::tempdir().expect("temp dir");
        let a = record(1);
        let path = dir.path().join("log");
        let (log, at) = log_of(dir.path(), &vec![&a[..]; 64]);
        drop(log);
        // Flip a payload byte of records 9 and 50.
        let mut bytes = std::fs::read(&path).expect("read log");
        for i in [9, 50] {
            let payload =
                usize::try_from(at[i]).expect("offset") + sluice_log::format::FRAME_HEAD_LEN;
            bytes[payload + 3] ^= 0x10;
        }
        std::fs::write(&path, &bytes).expect("write log");
        let log = Log::open(&path).expect("reopen");
        let err = prepare(&[], chunk_of(&log), Buffers::default()).err();
        assert!(
            matches!(err, Some(Error::Log(sluice_log::Error::Corrupt { offset, .. })) if offset == at[9]),
            "{err:?}"
        );
    }
}
