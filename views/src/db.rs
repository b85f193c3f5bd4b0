//! The database handle: opening (read-write or read-only), view freshness, queries, reindex
//! and view checks. Ingest lives in `ingest.rs`.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use rayon::prelude::*;
use sluice_log::Log;
use sluice_msg::{FeedId, FeedState, Message, MsgId};

use std::collections::BTreeMap;

use sluice_msg::Ref;

use crate::backlinks::Backlinks;
use crate::contacts::Contacts;
use crate::engine::{self, AnySlot, Progress, Slot};
use crate::error::Error;
use crate::feeds::FeedsView;
use crate::ingest::{PERSIST_AT_MOST, persist_due};
use crate::keys::KeysView;
use crate::stored::MsgRef;
use crate::subscribe::{Filter, Hub, Subscription};
use crate::tangles::Tangles;
use crate::types::TypesView;
use crate::view::ViewDataError;
use crate::viewfile::Unusable;

/// How many records ahead of the one being read a multi-record answer prefetches.
const PREFETCH_AHEAD: usize = 8;
/// Answers of this many records or more are read on every core ([`Db::all_at`]).
const PARALLEL_FROM: usize = 2048;
/// Records per part of an answer read in parallel.
const PARALLEL_PART: usize = 1024;

/// Options for [`Db::open_with`] and [`Db::open_read_only_with`].
#[derive(Debug, Clone)]
pub struct DbOptions {
    /// HMAC key for signatures (`None` on the main network).
    pub hmac_key: Option<[u8; 32]>,
    /// When true (the default) every query first applies every durable record to the views
    /// it reads (read-your-writes; in read-only mode this also picks up other processes'
    /// appends). When false, queries answer from the views as they are.
    pub read_your_writes: bool,
    /// Messages a subscription may hold before it is dropped for lagging.
    pub subscriber_capacity: usize,
    /// View files are rewritten after this many log bytes were applied, or an eighth of the
    /// log when that is more (and on drop, after a reindex). Until a view is written, what it
    /// learnt since its last write is held in memory, so this bounds a big import's memory:
    /// importing the medium fixture (83 MiB of log) peaked at 30 MiB of anonymous memory
    /// with 64 MiB here and at 22 MiB with 16 MiB, for 4–5 % more CPU. Past 8 × this, the
    /// eighth of the log decides: a 1M-message `chain` import (780 MiB of log) peaks at the
    /// same 77–81 MiB either way, and takes 5 % more CPU with 16 MiB, which writes the views
    /// every eighth of the log from 128 MiB on instead of every 64 MiB up to 512 MiB.
    pub persist_every: u64,
    /// While views are rebuilt or catch up from the log (reindex, a view rebuilt on open), their
    /// files are written after this many log bytes were applied, or an eighth of the log when
    /// that is more: what a view holds in memory until its next write stays bounded by a part
    /// of the log instead of growing with the store, and rewriting costs O(log) in total.
    /// `sluice reindex` of a 1M-message store (780 MiB of log), 3 runs each: 256 MiB here
    /// peaked at 71–72 MiB of anonymous memory in 1.7–2.0 s, 128 MiB at 44–48 MiB in
    /// 2.0–2.4 s, 64 MiB at 38–39 MiB in 2.3–2.7 s. The medium fixture (83 MiB of log) is not
    /// written midway at 128 MiB, so its rebuild stays as it was.
    pub rebuild_persist_every: u64,
    /// The longest stretch of log, in bytes, that views go without a write, whichever of the
    /// two intervals above applies: the eighth of the log stops growing here. Without a cap,
    /// what the views hold until their next write grows with the store (an eighth of a
    /// 10M-message log is ≈ 1 GB of messages' worth of entries); with one, each write still
    /// rewrites whole files, so the total written grows with the square of the store past
    /// 8 × this. A `--verify chain` import of 10M generated messages (7.7 GB of log), one run
    /// each: no cap peaked at 199.5 MiB of anonymous memory in 235 s (412 CPU-s), 256 MiB at
    /// 91.1 MiB in 243 s (414 CPU-s), 128 MiB at 67.4 MiB in 252 s (438 CPU-s). Stores up to
    /// 2 GB of log (≈ 2.5M messages) are not affected.
    pub persist_at_most: u64,
    /// A view file's payload is built in memory up to this many bytes; past it, the rest is
    /// written through a temporary file in the views directory, so writing a large view
    /// costs a bounded amount of memory.
    pub spill_above: usize,
}

impl Default for DbOptions {
    fn default() -> Self {
        Self {
            hmac_key: None,
            read_your_writes: true,
            subscriber_capacity: 1024,
            persist_every: 16 << 20,
            rebuild_persist_every: 128 << 20,
            persist_at_most: PERSIST_AT_MOST,
            spill_above: 256 << 10,
        }
    }
}

/// A view's name, version and how far it has applied the log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ViewInfo {
    /// The view's name (also its file name, `views/<name>.view`).
    pub name: &'static str,
    /// The view's version.
    pub version: u32,
    /// Every log record below this offset is applied.
    pub since: u64,
    /// Why the view's file was not used on open (the view was rebuilt), if it was not.
    pub rebuilt_because: Option<String>,
}

/// The result of checking one view (see [`Db::check_views`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ViewCheck {
    /// The view's name.
    pub name: &'static str,
    /// What is wrong with the view's file, if anything (`missing` before the first write).
    pub file: Option<String>,
    /// Whether the view's state equals a fresh rebuild from the log.
    pub matches_log: bool,
}

/// An SSB database: the message log plus views, queries and live subscriptions.
///
/// `Db` is `Send + Sync`: share it in an `Arc`. Writes go through one internal writer lock.
#[derive(Debug)]
pub struct Db {
    pub(crate) dir: PathBuf,
    pub(crate) log: Log,
    pub(crate) read_only: bool,
    pub(crate) opts: DbOptions,
    pub(crate) keys: Slot<KeysView>,
    pub(crate) feeds: Slot<FeedsView>,
    pub(crate) types: Slot<TypesView>,
    pub(crate) contacts: Slot<Contacts>,
    pub(crate) tangles: Slot<Tangles>,
    pub(crate) backlinks: Slot<Backlinks>,
    pub(crate) writer: Mutex<u64>,
    /// The facts vector of the last batch appended, emptied, for the next one (taken and put
    /// back under `writer`): see `Db::append`.
    pub(crate) spare_facts: Mutex<Vec<Option<crate::scan::Facts>>>,
    /// The message vector of the last big batch stored, emptied on the pool thread that freed
    /// its messages: see [`Db::take_spare_messages`].
    pub(crate) spare_msgs: Arc<Mutex<Vec<Message>>>,
    catching_up: Mutex<()>,
    pub(crate) hub: Hub,
}

impl Db {
    /// Opens (creating if needed) the database in `dir`: `dir/log` and `dir/views/`.
    ///
    /// Only the log is opened here. Each view loads its file when first needed: by the first
    /// query that reads it, or by the first write, which needs them all (a query waits only
    /// for the views it reads, so open → first answer does not grow with the other views).
    /// A view whose file is corrupt, of another version, or ahead of the log is then rebuilt
    /// from the log and its file rewritten at once; every view catches up with the log before
    /// it answers. [`Db::open_with_progress`] loads every view during the open instead.
    pub fn open(dir: impl AsRef<Path>) -> Result<Self, Error> {
        Self::open_with(dir, DbOptions::default())
    }

    /// [`Db::open`] with options.
    pub fn open_with(dir: impl AsRef<Path>, opts: DbOptions) -> Result<Self, Error> {
        let dir = dir.as_ref().to_path_buf();
        let log = Self::open_log(&dir)?;
        Ok(Self::assemble(dir, log, false, opts))
    }

    /// [`Db::open_with`], but every view is loaded (and rebuilt or caught up) before it
    /// returns, reporting the progress of rebuilding or catching up (a view whose file was
    /// unusable is rebuilt from the start of the log; see [`Db::view_info`]).
    pub fn open_with_progress(
        dir: impl AsRef<Path>,
        opts: DbOptions,
        progress: &mut dyn FnMut(Progress),
    ) -> Result<Self, Error> {
        let dir = dir.as_ref().to_path_buf();
        let log = Self::open_log(&dir)?;
        let db = Self::assemble(dir, log, false, opts);
        db.load_all(progress)?;
        Ok(db)
    }

    /// Creates `dir/views/` if needed and opens (or creates) `dir/log` for writing.
    fn open_log(dir: &Path) -> Result<Log, Error> {
        let views = dir.join("views");
        std::fs::create_dir_all(&views).map_err(|source| Error::Dir {
            path: views,
            source,
        })?;
        Ok(Log::open(dir.join("log"))?)
    }

    /// Opens an existing database without writing anything: views load from their files
    /// and catch up from the log in memory. Another process may be writing meanwhile; each
    /// query (with `read_your_writes`) sees the log as far as that writer has made durable.
    pub fn open_read_only(dir: impl AsRef<Path>) -> Result<Self, Error> {
        Self::open_read_only_with(dir, DbOptions::default())
    }

    /// [`Db::open_read_only`] with options.
    pub fn open_read_only_with(dir: impl AsRef<Path>, opts: DbOptions) -> Result<Self, Error> {
        let dir = dir.as_ref().to_path_buf();
        let log = Log::open_read_only(dir.join("log"))?;
        Ok(Self::assemble(dir, log, true, opts))
    }

    /// A handle on an opened log whose views load on first use.
    fn assemble(dir: PathBuf, log: Log, read_only: bool, opts: DbOptions) -> Self {
        Self {
            dir,
            log,
            read_only,
            opts,
            keys: Slot::new(KeysView::new),
            feeds: Slot::new(FeedsView::new),
            types: Slot::new(TypesView::new),
            contacts: Slot::new(Contacts::new),
            tangles: Slot::new(Tangles::new),
            backlinks: Slot::new(Backlinks::new),
            writer: Mutex::new(0),
            spare_facts: Mutex::default(),
            spare_msgs: Arc::default(),
            catching_up: Mutex::new(()),
            hub: Hub::default(),
        }
    }

    /// Loads every view not loaded yet, rebuilds the unusable ones (reporting progress) and
    /// catches every view up with the log; a writer rewrites the rebuilt files.
    fn load_all(&self, progress: &mut dyn FnMut(Progress)) -> Result<(), Error> {
        self.ensure_loaded(&self.slots(), progress)?;
        self.catch_up_to(self.log.end(), progress)
    }

    /// Loads the files of those of `slots` not loaded yet (each view reads and decodes its
    /// own file: in parallel, as the writes are). When one was unusable, the views catch up
    /// at once (rebuilding it from the log, reporting progress) and a writer rewrites its
    /// file, so a crash after this does not cost the rebuild again.
    fn ensure_loaded(
        &self,
        slots: &[&dyn AnySlot],
        progress: &mut dyn FnMut(Progress),
    ) -> Result<(), Error> {
        let rebuilt: Vec<&dyn AnySlot> = slots
            .par_iter()
            .copied()
            .filter(|slot| self.load_slot(*slot))
            .collect();
        if rebuilt.is_empty() {
            return Ok(());
        }
        self.catch_up_to(self.log.end(), &mut |p| {
            tracing::info!(done = p.done, total = p.total, "rebuilding views");
            progress(p);
        })?;
        self.persist_slots(&rebuilt)
    }

    /// Loads one view's file if not yet done; true when it must be rebuilt from scratch.
    fn load_slot(&self, slot: &dyn AnySlot) -> bool {
        if slot.is_loaded() {
            return false;
        }
        let Some(why) = slot.load(&self.views_dir(), self.log.end()) else {
            return false;
        };
        report_rebuild(slot.name(), &why);
        why != Unusable::Missing
    }

    /// The views loaded so far (a read-only handle loads each on its first query).
    fn loaded_slots(&self) -> Vec<&dyn AnySlot> {
        self.slots().into_iter().filter(|s| s.is_loaded()).collect()
    }

    pub(crate) fn views_dir(&self) -> PathBuf {
        self.dir.join("views")
    }

    /// Every view slot, in a fixed order.
    pub(crate) fn slots(&self) -> Vec<&dyn AnySlot> {
        vec![
            &self.keys,
            &self.feeds,
            &self.types,
            &self.contacts,
            &self.tangles,
            &self.backlinks,
        ]
    }

    /// Whether this handle was opened read-only.
    pub fn is_read_only(&self) -> bool {
        self.read_only
    }

    /// The underlying log (offsets returned by queries index into it).
    pub fn log(&self) -> &Log {
        &self.log
    }

    /// The durable end of the log: every message below it is stored.
    pub fn end(&self) -> u64 {
        self.log.end()
    }

    /// Applies `entries` (the records in `[first, end)`, in order) to every view, when every
    /// view has applied exactly up to `first`; false (nothing applied) otherwise.
    pub(crate) fn apply_in_memory(
        &self,
        entries: &[crate::Indexed<'_>],
        facts: &[Option<crate::Facts>],
        first: u64,
        end: u64,
    ) -> bool {
        let _guard = lock(&self.catching_up);
        let slots = self.slots();
        if slots.iter().any(|s| !s.is_loaded() || s.since() != first) {
            return false;
        }
        engine::apply_all(&slots, entries, facts, end);
        true
    }

    pub(crate) fn catch_up_to(
        &self,
        end: u64,
        progress: &mut dyn FnMut(Progress),
    ) -> Result<(), Error> {
        let _guard = lock(&self.catching_up);
        let slots = self.loaded_slots();
        let mut checkpoint = self.checkpoints(&slots);
        engine::catch_up(&self.log, &slots, end, progress, &mut checkpoint)
    }

    /// Writes the files of `slots` (all at `done` or beyond) whenever
    /// [`DbOptions::rebuild_persist_every`] log bytes were applied since the last write, for
    /// [`engine::catch_up`]. A read-only handle never writes.
    fn checkpoints<'s>(
        &'s self,
        slots: &'s [&'s dyn AnySlot],
    ) -> impl FnMut(u64) -> Result<(), Error> + 's {
        let mut last = slots.iter().map(|s| s.since()).min().unwrap_or(0);
        move |done| {
            let every = self.opts.rebuild_persist_every;
            if self.read_only || !persist_due(every, self.opts.persist_at_most, last, done) {
                return Ok(());
            }
            last = done;
            self.persist_checked(slots)
        }
    }

    /// Brings `slot` up to the durable end of the log (read-your-writes).
    fn fresh(&self, slot: &dyn AnySlot) -> Result<(), Error> {
        if !slot.is_loaded() {
            self.ensure_loaded(&[slot], &mut |_| {})?;
            self.catch_up_to(self.log.end(), &mut |_| {})?;
        }
        if !self.opts.read_your_writes {
            return Ok(());
        }
        if self.read_only {
            self.log.refresh()?;
        }
        let end = self.log.end();
        if slot.since() < end {
            self.catch_up_to(end, &mut |_| {})?;
        }
        Ok(())
    }

    /// Applies every durable record to every view now (also picks up other processes'
    /// appends in read-only mode).
    pub fn catch_up(&self) -> Result<u64, Error> {
        if self.read_only {
            self.log.refresh()?;
        }
        self.ensure_loaded(&self.slots(), &mut |_| {})?;
        let end = self.log.end();
        self.catch_up_to(end, &mut |_| {})?;
        Ok(end)
    }

    /// The record at `offset` as a message.
    pub fn at(&self, offset: u64) -> Result<MsgRef<'_>, Error> {
        MsgRef::from_record(offset, self.log.get(offset)?)
    }

    /// The message with this id, if stored.
    pub fn get(&self, id: &MsgId) -> Result<Option<MsgRef<'_>>, Error> {
        self.fresh(&self.keys)?;
        self.stored_offset(id)?.map(|o| self.at(o)).transpose()
    }

    /// Whether the message with this id is stored.
    pub fn contains(&self, id: &MsgId) -> Result<bool, Error> {
        Ok(self.get(id)?.is_some())
    }

    /// Up to `limit` messages of `author` in sequence order, starting at sequence `from_seq`
    /// (inclusive); with `reverse`, newest first, starting at `from_seq` and going down
    /// (`from_seq = u64::MAX` starts at the latest).
    pub fn feed(
        &self,
        author: &FeedId,
        from_seq: u64,
        limit: usize,
        reverse: bool,
    ) -> Result<Vec<MsgRef<'_>>, Error> {
        let offsets = self.feed_offsets(author, from_seq, limit, reverse)?;
        self.all_at(&offsets)
    }

    /// The offsets [`Db::feed`] would return.
    pub fn feed_offsets(
        &self,
        author: &FeedId,
        from_seq: u64,
        limit: usize,
        reverse: bool,
    ) -> Result<Vec<u64>, Error> {
        self.fresh(&self.feeds)?;
        self.read_or_rebuild(&self.feeds, |f| f.range(author, from_seq, limit, reverse))
    }

    /// The `limit` most recently received public messages of `content_type`, newest first.
    pub fn latest(&self, content_type: &str, limit: usize) -> Result<Vec<MsgRef<'_>>, Error> {
        self.fresh(&self.types)?;
        let offsets = self.read_or_rebuild(&self.types, |t| t.latest(content_type, limit))?;
        self.all_at(&offsets)
    }

    /// Every content type with its message count, by name.
    pub fn type_counts(&self) -> Result<Vec<(String, usize)>, Error> {
        self.fresh(&self.types)?;
        Ok(self.types.read().counts())
    }

    /// The latest stored state of a feed (for validation and replication).
    pub fn latest_seq(&self, author: &FeedId) -> Result<Option<FeedState>, Error> {
        self.fresh(&self.feeds)?;
        let last = self.read_or_rebuild(&self.feeds, |f| f.last(author))?;
        last.map(|(_, o)| self.at(o).map(|m| feed_state(&m)))
            .transpose()
    }

    /// Every stored feed with its latest sequence, by feed id.
    pub fn feeds(&self) -> Result<Vec<(FeedId, u64)>, Error> {
        self.fresh(&self.feeds)?;
        Ok(self.feeds.read().latest_all())
    }

    /// Messages in log order from `offset` (use `0` for all; an offset from a previous
    /// message + 1 resumes after it). Reads only durable records.
    pub fn messages_from(
        &self,
        offset: u64,
    ) -> impl Iterator<Item = Result<MsgRef<'_>, Error>> + '_ {
        self.log.iter(offset).map(|item| {
            let (o, bytes) = item?;
            MsgRef::from_record(o, bytes)
        })
    }

    /// Subscribes to messages added from now on through this handle (see the `subscribe`
    /// module docs for what happens to a subscriber that does not keep up).
    pub fn subscribe(&self, filter: Filter) -> Subscription {
        self.hub.subscribe(filter, self.opts.subscriber_capacity)
    }

    /// Name, version and `since` of every view.
    pub fn view_info(&self) -> Vec<ViewInfo> {
        for slot in self.slots() {
            self.load_slot(slot);
        }
        self.slots()
            .into_iter()
            .map(|s| ViewInfo {
                name: s.name(),
                version: s.version(),
                since: s.since(),
                rebuilt_because: s.rebuilt_because().map(|u| u.to_string()),
            })
            .collect()
    }

    /// Rebuilds the named views (all when `names` is empty) from the log, reporting progress;
    /// the other views keep serving meanwhile. Writes the rebuilt files unless read-only.
    pub fn reindex(&self, names: &[&str], progress: &mut dyn FnMut(Progress)) -> Result<(), Error> {
        let chosen = self.pick(names)?;
        let _writer = lock(&self.writer);
        let end = self.log.end();
        {
            let _guard = lock(&self.catching_up);
            for slot in &chosen {
                self.load_slot(*slot);
                slot.reset();
            }
            let mut checkpoint = self.checkpoints(&chosen);
            engine::catch_up(&self.log, &chosen, end, progress, &mut checkpoint)?;
        }
        self.persist_slots(&chosen)
    }

    fn pick(&self, names: &[&str]) -> Result<Vec<&dyn AnySlot>, Error> {
        let all = self.slots();
        if names.is_empty() {
            return Ok(all);
        }
        names
            .iter()
            .map(|&n| {
                all.iter()
                    .copied()
                    .find(|s| s.name() == n)
                    .ok_or_else(|| Error::UnknownView {
                        name: n.to_owned(),
                        known: all.iter().map(|s| s.name()).collect::<Vec<_>>().join(", "),
                    })
            })
            .collect()
    }

    /// Checks every view: its file (present, checksum, version) and its state against a
    /// rebuild from the log (used by fsck). Brings the views up to the log end first.
    pub fn check_views(&self) -> Result<Vec<ViewCheck>, Error> {
        let end = self.catch_up()?;
        self.slots()
            .into_iter()
            .map(|slot| {
                let file = slot.check_file(&self.views_dir());
                let blank = slot.blank();
                let nothing = &mut |_| Ok(());
                engine::catch_up(&self.log, &[blank.as_ref()], end, &mut |_| {}, nothing)?;
                let matches_log = blank.snapshot() == slot.snapshot();
                Ok(ViewCheck {
                    name: slot.name(),
                    file,
                    matches_log,
                })
            })
            .collect()
    }

    /// Writes every loaded view whose state moved since its file was written (atomic per
    /// view). A view not loaded yet has nothing new: its file stays as it is.
    pub fn persist_views(&self) -> Result<(), Error> {
        self.persist_slots(&self.loaded_slots())
    }

    /// Writes the files of `slots` (those whose state moved), rebuilding first any whose
    /// loaded file turns out damaged where the view had not read it yet: damage is never
    /// carried into a new file.
    pub(crate) fn persist_slots(&self, slots: &[&dyn AnySlot]) -> Result<(), Error> {
        if self.read_only {
            return Ok(());
        }
        for slot in slots {
            if let Err(damage) = slot.verify() {
                self.rebuild_damaged(&[*slot], damage)?;
            }
        }
        self.persist_checked(slots)
    }

    /// Writes the files of `slots` whose state moved, each on its own thread.
    fn persist_checked(&self, slots: &[&dyn AnySlot]) -> Result<(), Error> {
        if self.read_only {
            return Ok(());
        }
        let (dir, spill_above) = (self.views_dir(), self.opts.spill_above);
        // One thread per view: encoding and the two fsyncs of each file overlap instead of
        // queueing up (each view file is independent; `since` is per view).
        let results: Vec<(&'static str, std::io::Result<()>)> = std::thread::scope(|scope| {
            let handles: Vec<_> = slots
                .iter()
                .map(|slot| scope.spawn(|| (slot.name(), slot.persist(&dir, spill_above))))
                .collect();
            handles
                .into_iter()
                .map(|h| {
                    h.join()
                        .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
                })
                .collect()
        });
        for (view, result) in results {
            result.map_err(|source| Error::ViewWrite {
                view,
                dir: dir.clone(),
                source,
            })?;
        }
        Ok(())
    }
}

impl Drop for Db {
    fn drop(&mut self) {
        if let Err(e) = self.persist_views() {
            tracing::warn!(error = %e, "could not write view files on close; they catch up on next open");
        }
    }
}

pub(crate) fn feed_state(m: &MsgRef<'_>) -> FeedState {
    FeedState {
        id: m.id(),
        sequence: m.sequence(),
        timestamp: m.timestamp(),
    }
}

fn report_rebuild(name: &str, why: &Unusable) {
    if *why == Unusable::Missing {
        tracing::debug!(view = name, "no view file yet; building from the log");
    } else {
        tracing::warn!(view = name, reason = %why, "view file unusable; rebuilding this view from the log");
    }
}

pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// A tangle's answer: members in topological order (root first) and tips.
#[derive(Debug)]
pub struct Tangle<'a> {
    /// The root and every message whose ancestry reaches it, in topological order (ties by
    /// claimed timestamp, then message id).
    pub members: Vec<MsgRef<'a>>,
    /// Members that no other member points at, in the same order.
    pub tips: Vec<MsgRef<'a>>,
}

/// Graph queries (contacts, tangles, backlinks).
impl Db {
    /// Feeds `source` follows (and does not block), sorted by feed id.
    pub fn follows(&self, source: &FeedId) -> Result<Vec<FeedId>, Error> {
        self.fresh(&self.contacts)?;
        self.read_or_rebuild(&self.contacts, |c| c.follows(source))
    }

    /// Feeds that follow `dest`, sorted by feed id.
    pub fn followers(&self, dest: &FeedId) -> Result<Vec<FeedId>, Error> {
        self.fresh(&self.contacts)?;
        self.read_or_rebuild(&self.contacts, |c| c.followers(dest))
    }

    /// Feeds `source` blocks, sorted by feed id.
    pub fn blocks(&self, source: &FeedId) -> Result<Vec<FeedId>, Error> {
        self.fresh(&self.contacts)?;
        self.read_or_rebuild(&self.contacts, |c| c.blocks(source))
    }

    /// Feeds that block `dest`, sorted by feed id.
    pub fn blocked_by(&self, dest: &FeedId) -> Result<Vec<FeedId>, Error> {
        self.fresh(&self.contacts)?;
        self.read_or_rebuild(&self.contacts, |c| c.blocked_by(dest))
    }

    /// ssb-friends hops from `origin` up to `max` follow steps: distance ≥ 0 for reached
    /// feeds, negative for blocked/unfollowed ones (see `contacts.rs`).
    pub fn hops(&self, origin: &FeedId, max: u32) -> Result<BTreeMap<FeedId, i32>, Error> {
        self.fresh(&self.contacts)?;
        self.read_or_rebuild(&self.contacts, |c| c.hops(origin, max))
    }

    /// The thread (`name = None`) or SIP-009 tangle `name` rooted at `root`. Empty when the
    /// root is not stored.
    pub fn tangle(&self, root: &MsgId, name: Option<&str>) -> Result<Tangle<'_>, Error> {
        self.fresh(&self.tangles)?;
        self.fresh(&self.keys)?;
        let root_offset = self.stored_offset(root)?;
        let answer = self.read_or_rebuild(&self.tangles, |t| t.tangle(root, name, root_offset))?;
        Ok(Tangle {
            members: self.all_at(&answer.members)?,
            tips: self.all_at(&answer.tips)?,
        })
    }

    /// Messages linking `target` (optionally only under `path`, e.g. `vote.link`), in log order.
    pub fn backlinks(&self, target: &Ref, path: Option<&str>) -> Result<Vec<MsgRef<'_>>, Error> {
        self.fresh(&self.backlinks)?;
        let offsets = self.read_or_rebuild(&self.backlinks, |b| b.backlinks(target, path))?;
        self.all_at(&offsets)
    }

    /// The messages at `offsets`, in order. Reading a record means fetching it from memory
    /// and checking its CRC, and the records of an answer lie scattered over the log: answers
    /// of [`PARALLEL_FROM`] records or more are read in parts on every core, and within a
    /// part each record is prefetched [`PREFETCH_AHEAD`] records before it is read, so that
    /// the memory fetches overlap instead of each read waiting for its own.
    fn all_at(&self, offsets: &[u64]) -> Result<Vec<MsgRef<'_>>, Error> {
        if offsets.len() < PARALLEL_FROM {
            return self.all_at_serial(offsets);
        }
        let parts: Vec<Vec<MsgRef<'_>>> = offsets
            .par_chunks(PARALLEL_PART)
            .map(|part| self.all_at_serial(part))
            .collect::<Result<_, _>>()?;
        let mut out = Vec::with_capacity(offsets.len());
        parts.into_iter().for_each(|part| out.extend(part));
        Ok(out)
    }

    /// [`Db::all_at`] on this thread (the vector is sized once: long feeds would otherwise
    /// regrow and copy it a dozen times).
    fn all_at_serial(&self, offsets: &[u64]) -> Result<Vec<MsgRef<'_>>, Error> {
        let mut out = Vec::with_capacity(offsets.len());
        for &o in offsets.iter().take(PREFETCH_AHEAD) {
            self.log.prefetch(o);
        }
        for (i, &o) in offsets.iter().enumerate() {
            if let Some(&ahead) = offsets.get(i + PREFETCH_AHEAD) {
                self.log.prefetch(ahead);
            }
            out.push(self.at(o)?);
        }
        Ok(out)
    }
}

impl Db {
    /// Offsets of records whose id shares `id`'s prefix, from the keys view as it is. When the
    /// lookup lands in a damaged block of the view's file, the view is rebuilt from the log
    /// first (and its file rewritten by a writer).
    pub(crate) fn key_candidates(&self, id: &MsgId) -> Result<Vec<u64>, Error> {
        self.read_or_rebuild(&self.keys, |k| k.candidates(id).map(Iterator::collect))
    }

    /// Answers `query` from a view that reads its file in place; when the query lands in a
    /// damaged part of the file, rebuilds the view from the log (a writer rewrites its file)
    /// and answers again.
    pub(crate) fn read_or_rebuild<V: crate::View + 'static, T>(
        &self,
        slot: &Slot<V>,
        query: impl Fn(&V) -> Result<T, ViewDataError>,
    ) -> Result<T, Error> {
        let first = query(&slot.read());
        let damage = match first {
            Ok(answer) => return Ok(answer),
            Err(damage) => damage,
        };
        self.rebuild_damaged(&[slot], damage)?;
        let again = query(&slot.read());
        again.map_err(|source| Error::ViewData {
            view: slot.name(),
            source,
        })
    }

    /// Rebuilds views whose loaded file turned out damaged, then rewrites their files.
    fn rebuild_damaged(&self, slots: &[&dyn AnySlot], damage: ViewDataError) -> Result<(), Error> {
        let why = Unusable::Damaged(damage.0);
        for slot in slots {
            report_rebuild(slot.name(), &why);
            slot.invalidate(why.clone());
        }
        self.catch_up_to(self.log.end(), &mut |_| {})?;
        self.persist_checked(slots)
    }

    /// The offset of a stored message, from the keys view as it is (no catch-up).
    pub(crate) fn stored_offset(&self, id: &MsgId) -> Result<Option<u64>, Error> {
        for offset in self.key_candidates(id)? {
            if crate::record::id_of(self.log.get(offset)?) == Some(*id) {
                return Ok(Some(offset));
            }
        }
        Ok(None)
    }
}
