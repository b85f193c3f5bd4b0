//! The import pipeline: read entries (a reader thread), parse them in parallel batches (and
//! verify there the signatures each batch needs: all of them, or in `chain` mode the newest
//! of each feed), store each batch with `Db::add_batch_split`, hold messages whose feed
//! predecessor has not been seen yet and retry them once it is stored, and tally the outcomes.
//!
//! Memory stays bounded: at most [`CHANNEL`] + 2 batches of [`batch_size`] entries are in flight
//! (one being stored, one being read and parsed, and [`CHANNEL`] parsed ones waiting between
//! them), plus at most [`GAP_CAP`] held messages.

use std::collections::hash_map::Entry as MapEntry;
use std::collections::{BTreeMap, HashMap};
use std::io::Write;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, SyncSender, channel, sync_channel};
use std::thread::JoinHandle;

use anyhow::Context as _;
use rayon::prelude::*;
use serde_json::json;
use sluice_import::{Counts, Data, Entry, Position, ReadError, Reader};
use sluice_msg::{FeedId, Message, MsgId, ValidationError, VerifyMode};
use sluice_views::{Db, Outcome};

use crate::progress::Meter;

/// Entries parsed and stored per `add_batch` call when every signature is verified. Two
/// batches are in memory (one parsed ahead while the other is stored), so this sets much of
/// an import's footprint: on the medium fixture 4,096 → 2,048 took the peak anonymous memory
/// from 36–40 to 28–34 MiB (3 alternating runs each of `msgs.jsonl` and `log.offset`) for
/// 0–3 % more CPU. The signature batches are smaller than either (see `sluice_msg`).
pub const BATCH: usize = 2048;
/// Entries per batch in `chain` mode. One signature per feed per batch is verified, so
/// bigger batches mean fewer signatures, but every batch in flight holds its messages (about
/// 1 KiB each). On the medium fixture (150 feeds, most of them in every batch, their newest
/// signatures verified in one batched pass) 6,144 took ≈ 0.05 CPU-s more than 16,384, the
/// same wall time, and peaked ≈ 30 MiB lower; 4,096 then took the same time as 6,144 and
/// peaked 40.0 → 34.5 MiB (6 alternating runs, medians; 3,072: 32.3 MiB, 2 % more CPU).
/// Since the views hold less (session 15), 3,072 peaks at 23.1 MiB against 26.8 for 4,096 in
/// the same time (6 alternating runs: 0.64 vs 0.655 s, 1.00 vs 1.03 CPU-s); 2,048 peaked at
/// 19.9 MiB but took 16 % longer.
pub const CHAIN_BATCH: usize = 3072;
// A chain batch must be big enough for the store to free it off the import's path and hand
// its emptied vector back for the next one (smaller batches would silently stop that).
const _: () = assert!(CHAIN_BATCH >= sluice_views::DROP_ASIDE);
/// Parsed batches queued between the reader thread and the storing one. With none queued
/// (a rendezvous channel) the reader still parses the next batch while one is stored, and
/// then waits to hand it over: one batch less in memory for the same overlap.
pub const CHANNEL: usize = 0;

/// The batch size for a verification mode.
pub fn batch_size(mode: VerifyMode) -> usize {
    match mode {
        VerifyMode::Chain => CHAIN_BATCH,
        VerifyMode::Full => BATCH,
    }
}
/// Messages held back because their feed predecessor is not stored yet. Past this, further
/// such messages are rejected as `gap` at once (the whole file must then be re-imported
/// after its missing messages, which a rerun does: stored messages count as present).
pub const GAP_CAP: usize = 100_000;

/// A message read from a file, not yet stored.
struct Pending {
    msg: Message,
    received: Option<f64>,
    origin: Origin,
    /// The input's rank in this import (keeps the log in input order).
    rank: u64,
}

/// `ready` sorted by rank. Sorts indices and moves each message once: a message is a few
/// hundred bytes, and sorting them in place would move each one many times.
fn in_rank_order(ready: Vec<Pending>) -> Vec<Pending> {
    let mut order: Vec<(u64, usize)> = ready.iter().map(|p| p.rank).zip(0..).collect();
    order.sort_unstable();
    let mut slots: Vec<Option<Pending>> = ready.into_iter().map(Some).collect();
    order
        .into_iter()
        .filter_map(|(_, i)| slots[i].take())
        .collect()
}

/// Where an input came from: file name and position in it.
#[derive(Clone)]
struct Origin {
    file: Arc<str>,
    pos: Position,
}

/// What happened to the inputs so far.
#[derive(Debug, Default, Clone)]
pub struct Tally {
    /// Messages stored by this run.
    pub imported: u64,
    /// Messages that were already stored (or repeated in the input).
    pub present: u64,
    /// Messages refused, by failed check (`verify`, `fork`, `gap`, …).
    pub rejected: BTreeMap<&'static str, u64>,
    /// Records that could not be read or parsed as JSON.
    pub unreadable: u64,
    /// Records deleted in the source store (ssb-db2), skipped.
    pub deleted: u64,
}

impl Tally {
    /// Messages refused, all reasons together.
    pub fn rejected_total(&self) -> u64 {
        self.rejected.values().sum()
    }
}

/// Imports files into a database (see the module docs).
pub struct Importer<'a> {
    db: &'a Db,
    mode: VerifyMode,
    held: HashMap<FeedId, Vec<Pending>>,
    held_count: usize,
    /// The running totals.
    pub tally: Tally,
    errors: Option<Box<dyn Write + 'a>>,
    stop: Arc<AtomicBool>,
    ranked: u64,
}

impl std::fmt::Debug for Importer<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Importer")
            .field("tally", &self.tally)
            .finish_non_exhaustive()
    }
}

impl<'a> Importer<'a> {
    /// An importer into `db`; `errors` receives one JSON line per bad input; setting `stop`
    /// ends the import after the current batch.
    pub fn new(
        db: &'a Db,
        mode: VerifyMode,
        errors: Option<Box<dyn Write + 'a>>,
        stop: Arc<AtomicBool>,
    ) -> Importer<'a> {
        Importer {
            db,
            mode,
            held: HashMap::new(),
            held_count: 0,
            tally: Tally::default(),
            errors,
            stop,
            ranked: 0,
        }
    }

    /// Whether a stop was requested (Ctrl-C).
    pub fn stopped(&self) -> bool {
        self.stop.load(Ordering::Relaxed)
    }

    /// Imports every entry of `reader` (named `name` in error reports), reporting progress.
    pub fn import(&mut self, name: &str, reader: Reader, meter: &mut Meter) -> anyhow::Result<()> {
        let file: Arc<str> = Arc::from(name);
        let (recycle, recycled) = channel();
        let (rx, handle) = spawn_reader(reader, file, (self.ranked, self.mode), recycled);
        for chunk in rx.iter() {
            self.ranked += chunk.entries as u64;
            let bytes = chunk.bytes;
            self.store_chunk(chunk)?;
            // The message vector of an earlier chunk, emptied, for the reader's next one.
            let spare = self.db.take_spare_messages();
            if spare.capacity() > 0 {
                let _ = recycle.send(spare);
            }
            meter.set(bytes, &self.status());
            if self.stopped() {
                break;
            }
        }
        drop(rx);
        let counts = handle
            .join()
            .map_err(|_| anyhow::anyhow!("the reader thread of {name} panicked"))?;
        self.tally.deleted += counts.deleted;
        Ok(())
    }

    /// A one-line status for progress reports.
    pub fn status(&self) -> String {
        let t = &self.tally;
        format!(
            "{} imported, {} present, {} rejected, {} unreadable",
            t.imported,
            t.present,
            t.rejected_total(),
            t.unreadable
        )
    }

    /// Rejects the messages still held for a missing predecessor (call after the last file).
    pub fn finish(&mut self) -> anyhow::Result<()> {
        let mut held: Vec<Pending> = self.held.drain().flat_map(|(_, v)| v).collect();
        held.sort_unstable_by_key(|p| p.rank);
        self.held_count = 0;
        for p in held {
            let e = ValidationError::Gap {
                expected: self.next_seq(&p.msg.author())?,
                found: p.msg.sequence(),
            };
            self.reject(&p.origin, Some(p.msg.id()), &e)?;
        }
        if let Some(out) = &mut self.errors {
            out.flush().context("writing the errors file")?;
        }
        Ok(())
    }

    /// Reports the chunk's unusable entries, then stores its messages: all at once when they
    /// can all extend their feeds in input order (the usual case, which moves no message),
    /// otherwise those that can, holding the rest (see [`Importer::split_ready`]).
    fn store_chunk(&mut self, mut chunk: Chunk) -> anyhow::Result<()> {
        for problem in std::mem::take(&mut chunk.problems) {
            match problem {
                Problem::Unreadable(origin, e) => self.unreadable(origin.as_ref(), &e)?,
                Problem::Rejected(origin, e) => self.reject(&origin, None, &e)?,
            }
        }
        if self.all_ready(&chunk.msgs)? {
            return self.submit(Ready {
                msgs: chunk.msgs,
                received: chunk.received,
                origins: chunk.origins,
            });
        }
        let ready = self.split_ready(chunk.into_pending())?;
        self.submit(Ready::from_pending(ready))
    }

    /// Whether every message can be stored in input order now: none of their feeds has
    /// messages held, and each sequence is at most one past the highest of its feed so far
    /// (stored or earlier in `msgs`). [`Importer::split_ready`] would then find all of them
    /// ready, in this order.
    fn all_ready(&self, msgs: &[Message]) -> anyhow::Result<bool> {
        let mut next: HashMap<FeedId, u64> = HashMap::new();
        for m in msgs {
            let feed = m.author();
            let expected = match next.entry(feed) {
                MapEntry::Occupied(e) => e.into_mut(),
                MapEntry::Vacant(_) if self.held.contains_key(&feed) => return Ok(false),
                MapEntry::Vacant(e) => e.insert(self.next_seq(&feed)?),
            };
            if m.sequence() > *expected {
                return Ok(false);
            }
            *expected = (*expected).max(m.sequence() + 1);
        }
        Ok(true)
    }

    /// Splits a batch (plus the held messages of its feeds) into the messages that can
    /// extend their feed now (or that duplicate or fork it), in sequence order per feed, and
    /// holds the rest until their predecessor arrives.
    fn split_ready(&mut self, pending: Vec<Pending>) -> anyhow::Result<Vec<Pending>> {
        let mut by_feed: HashMap<FeedId, Vec<Pending>> = HashMap::new();
        for p in pending {
            by_feed.entry(p.msg.author()).or_default().push(p);
        }
        let mut ready = Vec::new();
        for (feed, mut msgs) in by_feed {
            if let Some(held) = self.held.remove(&feed) {
                self.held_count -= held.len();
                msgs.extend(held);
            }
            msgs.sort_by_key(|p| p.msg.sequence());
            let mut expected = self.next_seq(&feed)?;
            let mut rest = Vec::new();
            for p in msgs {
                let seq = p.msg.sequence();
                if seq > expected || !rest.is_empty() {
                    rest.push(p);
                } else {
                    expected = expected.max(seq + 1);
                    ready.push(p);
                }
            }
            self.hold(feed, rest)?;
        }
        Ok(in_rank_order(ready))
    }

    /// The sequence that would extend `feed` as stored.
    fn next_seq(&self, feed: &FeedId) -> anyhow::Result<u64> {
        let state = self
            .db
            .latest_seq(feed)
            .context("reading a feed's latest message")?;
        Ok(state.map_or(1, |s| s.sequence + 1))
    }

    /// Holds messages of `feed` waiting for their predecessor, up to [`GAP_CAP`] in all.
    fn hold(&mut self, feed: FeedId, msgs: Vec<Pending>) -> anyhow::Result<()> {
        if msgs.is_empty() {
            return Ok(());
        }
        let room = GAP_CAP.saturating_sub(self.held_count);
        let mut msgs = msgs;
        let over = msgs.split_off(room.min(msgs.len()));
        if !over.is_empty() {
            let expected = self.next_seq(&feed)?;
            for p in over {
                let e = ValidationError::Gap {
                    expected,
                    found: p.msg.sequence(),
                };
                self.reject(&p.origin, Some(p.msg.id()), &e)?;
            }
        }
        self.held_count += msgs.len();
        if !msgs.is_empty() {
            self.held.insert(feed, msgs);
        }
        Ok(())
    }

    /// Stores `ready` with one `add_batch` call and tallies the outcomes.
    fn submit(&mut self, ready: Ready) -> anyhow::Result<()> {
        if ready.msgs.is_empty() {
            return Ok(());
        }
        let ids: Vec<MsgId> = ready.msgs.iter().map(Message::id).collect();
        let outcomes = self
            .db
            .add_batch_split(ready.msgs, ready.received, self.mode)
            .context("storing a batch of messages")?;
        for ((outcome, id), origin) in outcomes.into_iter().zip(ids).zip(&ready.origins) {
            match outcome {
                Outcome::Appended(_) => self.tally.imported += 1,
                Outcome::Rejected(e) => self.reject(origin, Some(id), &e)?,
                _ => self.tally.present += 1,
            }
        }
        Ok(())
    }

    fn reject(
        &mut self,
        origin: &Origin,
        id: Option<MsgId>,
        e: &ValidationError,
    ) -> anyhow::Result<()> {
        *self.tally.rejected.entry(e.check()).or_default() += 1;
        let line = json!({
            "file": &*origin.file,
            "position": origin.pos.to_string(),
            "id": id.map(|i| i.to_string()),
            "kind": "rejected",
            "reason": e.check(),
            "error": e.to_string(),
        });
        self.write_error(&line)
    }

    fn unreadable(&mut self, origin: Option<&Origin>, e: &ReadError) -> anyhow::Result<()> {
        self.tally.unreadable += 1;
        tracing::debug!(error = %e, "unreadable record");
        let line = json!({
            "file": origin.map(|o| &*o.file),
            "position": origin.map(|o| o.pos.to_string()),
            "id": null,
            "kind": "unreadable",
            "reason": "unreadable",
            "error": error_chain(e),
        });
        self.write_error(&line)
    }

    fn write_error(&mut self, line: &serde_json::Value) -> anyhow::Result<()> {
        if let Some(out) = &mut self.errors {
            writeln!(out, "{line}").context("writing the errors file")?;
        }
        Ok(())
    }
}

/// An error with its sources, `a: b: c`.
pub fn error_chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        out.push_str(": ");
        out.push_str(&s.to_string());
        source = s.source();
    }
    out
}

/// An entry that gave no message: unreadable, or a message that is not valid.
enum Problem {
    Unreadable(Option<Origin>, ReadError),
    Rejected(Origin, ValidationError),
}

/// One entry after parsing.
type Parsed = Result<Pending, Problem>;

/// A chunk of parsed entries as the reader thread hands it over: the messages, and side by
/// side their receive times, origins and ranks (so that the messages themselves need not
/// move again until they are stored), then the entries that gave no message.
struct Chunk {
    msgs: Vec<Message>,
    received: Vec<Option<f64>>,
    origins: Vec<Origin>,
    ranks: Vec<u64>,
    problems: Vec<Problem>,
    /// Entries read for this chunk (messages and problems).
    entries: usize,
    /// Bytes of the input read so far.
    bytes: u64,
}

impl Chunk {
    /// A chunk with room for `n` entries, its messages going into `msgs` (emptied).
    fn with_capacity(n: usize, mut msgs: Vec<Message>) -> Chunk {
        msgs.clear();
        msgs.reserve(n);
        Chunk {
            msgs,
            received: Vec::with_capacity(n),
            origins: Vec::with_capacity(n),
            ranks: Vec::with_capacity(n),
            problems: Vec::new(),
            entries: 0,
            bytes: 0,
        }
    }

    fn push(&mut self, item: Parsed) {
        self.entries += 1;
        match item {
            Ok(p) => {
                self.msgs.push(p.msg);
                self.received.push(p.received);
                self.origins.push(p.origin);
                self.ranks.push(p.rank);
            }
            Err(problem) => self.problems.push(problem),
        }
    }

    fn into_pending(self) -> Vec<Pending> {
        let meta = self.received.into_iter().zip(self.origins).zip(self.ranks);
        self.msgs
            .into_iter()
            .zip(meta)
            .map(|(msg, ((received, origin), rank))| Pending {
                msg,
                received,
                origin,
                rank,
            })
            .collect()
    }
}

/// Messages to store with one `add_batch` call, in order, with their receive times and
/// origins.
struct Ready {
    msgs: Vec<Message>,
    received: Vec<Option<f64>>,
    origins: Vec<Origin>,
}

impl Ready {
    fn from_pending(pending: Vec<Pending>) -> Ready {
        let mut ready = Ready {
            msgs: Vec::with_capacity(pending.len()),
            received: Vec::with_capacity(pending.len()),
            origins: Vec::with_capacity(pending.len()),
        };
        for p in pending {
            ready.msgs.push(p.msg);
            ready.received.push(p.received);
            ready.origins.push(p.origin);
        }
        ready
    }
}

fn parse(file: &Arc<str>, entry: Result<Entry, ReadError>, rank: u64) -> Parsed {
    let entry = match entry {
        Ok(entry) => entry,
        Err(e) => {
            let origin = e.position().map(|pos| Origin {
                file: file.clone(),
                pos,
            });
            return Err(Problem::Unreadable(origin, e));
        }
    };
    let origin = Origin {
        file: file.clone(),
        pos: entry.pos,
    };
    match entry_message(entry) {
        Err(e) => Err(Problem::Unreadable(Some(origin), e)),
        Ok(Ok((msg, received))) => Ok(Pending {
            msg,
            received,
            origin,
            rank,
        }),
        Ok(Err(e)) => Err(Problem::Rejected(origin, e)),
    }
}

/// The message of an entry: JSON text goes through [`Message::from_entry_slice`] (no JSON
/// tree when the text allows), BIPF-decoded values through [`Message::from_entry`]. Text that
/// is not JSON is unreadable (the outer error); a message that is not valid is rejected.
fn entry_message(
    entry: Entry,
) -> Result<Result<(Message, Option<f64>), ValidationError>, ReadError> {
    match entry.data {
        Data::Json(bytes) => match Message::from_entry_slice(&bytes) {
            Err(ValidationError::Json(source)) => Err(ReadError::Json {
                pos: entry.pos,
                source,
            }),
            parsed => Ok(parsed),
        },
        _ => entry.into_value().map(Message::from_entry),
    }
}

/// Reads and parses `reader` on its own thread in chunks of [`batch_size`] entries, and
/// verifies the signatures the chunk's batch will need (they depend on no feed's state; see
/// [`verify_ahead`]), so both overlap with the storing of the previous chunk. The thread ends
/// early when the receiver is dropped, and returns the reader's counts. `rank` numbers the
/// entries from there on.
///
/// The chunks' message vectors come back emptied through `recycled` (see
/// [`Db::take_spare_messages`]), so that they are not faulted in afresh for every chunk.
fn spawn_reader(
    mut reader: Reader,
    file: Arc<str>,
    (rank, mode): (u64, VerifyMode),
    recycled: Receiver<Vec<Message>>,
) -> (Receiver<Chunk>, JoinHandle<Counts>) {
    let (tx, rx) = sync_channel(CHANNEL);
    let handle = std::thread::spawn(move || {
        read_chunks(&mut reader, &file, (rank, mode), &tx, &recycled);
        reader.counts()
    });
    (rx, handle)
}

fn read_chunks(
    reader: &mut Reader,
    file: &Arc<str>,
    (mut rank, mode): (u64, VerifyMode),
    tx: &SyncSender<Chunk>,
    recycled: &Receiver<Vec<Message>>,
) {
    let size = batch_size(mode);
    let mut step = Vec::with_capacity(PARSE_STEP);
    loop {
        let msgs = recycled.try_recv().unwrap_or_default();
        let mut chunk = Chunk::with_capacity(size, msgs);
        read_chunk(reader, file, &mut rank, size, &mut chunk, &mut step);
        verify_ahead(&chunk.msgs, mode);
        if chunk.entries == 0 || tx.send(chunk).is_err() {
            return;
        }
    }
}

/// Verifies, before the chunk is stored, the signatures `add_batch` will check: every one in
/// `Full` mode, the newest message of each feed in `Chain` mode (the one that authenticates
/// the feed's run in the batch when the chunk is stored as one batch). `add_batch` then skips
/// the good ones (the messages remember it), so this work leaves the storing thread's path.
/// The store uses no HMAC key, as `sluice` opens it.
fn verify_ahead(msgs: &[Message], mode: VerifyMode) {
    let msgs: Vec<&Message> = match mode {
        VerifyMode::Full => msgs.iter().collect(),
        VerifyMode::Chain => newest_of_each_feed(msgs),
    };
    sluice_msg::verify_ahead(&msgs, None);
}

/// The message with the highest sequence of each feed in `msgs`.
fn newest_of_each_feed(msgs: &[Message]) -> Vec<&Message> {
    let mut newest: HashMap<FeedId, &Message> = HashMap::new();
    for m in msgs {
        let slot = newest.entry(m.author()).or_insert(m);
        if m.sequence() > slot.sequence() {
            *slot = m;
        }
    }
    newest.into_values().collect()
}

/// Entries read and parsed at a time while a chunk fills up.
const PARSE_STEP: usize = 1024;

/// Reads and parses up to `size` entries into `chunk`, numbering them from `rank` on.
/// Reads [`PARSE_STEP`] entries at a time, so that only those are held as raw bytes next to
/// the parsed ones (a whole chunk of raw entries would be as big again as the chunk). Each
/// step is parsed in parallel into `step` (kept by the caller, so its memory is reused) and
/// moved from there into the chunk: parsing a whole chunk into a fresh vector first cost a
/// quarter of a medium import's page faults (8,000 of 31,000).
fn read_chunk(
    reader: &mut Reader,
    file: &Arc<str>,
    rank: &mut u64,
    size: usize,
    chunk: &mut Chunk,
    step: &mut Vec<Parsed>,
) {
    reader.read_steps(size, PARSE_STEP, |entries| {
        let base = *rank;
        *rank += entries.len() as u64;
        step.par_extend(
            entries
                .into_par_iter()
                .enumerate()
                .map(|(i, e)| parse(file, e, base + i as u64)),
        );
        step.drain(..).for_each(|item| chunk.push(item));
    });
    chunk.bytes = reader.bytes_read();
}
