//! The one writer path: validate, append, flush, apply to views, notify subscribers.
//!
//! Architecture invariant: a message reaches the log only after validation against the
//! feeds view (chain) and, in `Full` mode, its signature; views and subscribers see it only
//! after the log made it durable.

use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

use rayon::prelude::*;
use serde_json::Value;
use sluice_msg::{FeedId, FeedState, HmacKey, Keys, Message, MsgId, ValidationError, VerifyMode};

use crate::codec::{FastMap, FastSet};
use crate::db::{Db, lock};
use crate::error::Error;
use crate::record::{self, Header};
use crate::scan::Facts;
use crate::stored::StoredMsg;
use crate::view::Indexed;

/// What happened to one message of a batch.
#[derive(Debug)]
#[non_exhaustive]
pub enum Outcome {
    /// Validated and stored at this log offset.
    Appended(u64),
    /// The same message (same id) was already stored, or appeared earlier in the batch.
    AlreadyPresent,
    /// Refused; nothing was stored for it. A `Fork` error means another message holds its
    /// place in the feed.
    Rejected(ValidationError),
}

impl Outcome {
    /// The offset when appended.
    pub fn offset(&self) -> Option<u64> {
        match self {
            Self::Appended(o) => Some(*o),
            _ => None,
        }
    }
}

/// The current time in ms since the epoch, as SSB timestamps are.
pub(crate) fn now_ms() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0.0, |d| d.as_millis() as f64)
}

impl Db {
    /// Validates and stores one message (received now). See [`Db::add_batch`].
    pub fn add(&self, msg: Message, mode: VerifyMode) -> Result<Outcome, Error> {
        let mut out = self.add_batch(vec![msg], mode)?;
        Ok(out.pop().unwrap_or(Outcome::AlreadyPresent))
    }

    /// Validates a batch against the stored feeds (messages of one feed may come in any
    /// order), appends the valid ones in sequence order, makes them durable, applies them
    /// to the views and notifies subscribers. Returns one outcome per input, in input order.
    /// `Err` only for storage failures (then nothing of the batch was acknowledged).
    pub fn add_batch(&self, msgs: Vec<Message>, mode: VerifyMode) -> Result<Vec<Outcome>, Error> {
        self.add_batch_split(msgs, Vec::new(), mode)
    }

    /// [`Db::add_batch`] keeping each message's receive timestamp when given (imports keep
    /// the original store's; `None` means now).
    pub fn add_batch_received(
        &self,
        msgs: Vec<(Message, Option<f64>)>,
        mode: VerifyMode,
    ) -> Result<Vec<Outcome>, Error> {
        let (msgs, received) = msgs.into_iter().unzip();
        self.add_batch_split(msgs, received, mode)
    }

    /// [`Db::add_batch_received`] with the receive timestamps in their own vector
    /// (`received[i]` is for `msgs[i]`; missing ones mean now). Takes the messages as they
    /// are: a batch with nothing stored yet is validated and stored without moving them.
    pub fn add_batch_split(
        &self,
        msgs: Vec<Message>,
        mut received: Vec<Option<f64>>,
        mode: VerifyMode,
    ) -> Result<Vec<Outcome>, Error> {
        if self.read_only {
            return Err(Error::ReadOnly);
        }
        received.resize(msgs.len(), None);
        let mut last_persist = lock(&self.writer);
        self.catch_up()?;
        let latest = self.latest_of_authors(&msgs)?;
        let stored = self.already_stored(&msgs, &latest)?;
        let mut outcomes: Vec<Option<Outcome>> = stored
            .iter()
            .map(|&s| s.then_some(Outcome::AlreadyPresent))
            .collect();
        let mut batch = Batch::unstored(msgs, received, &stored);
        let results = self.validate(&batch.msgs, mode);
        let accepted = accepted_in_order(&batch.msgs, &results);
        batch.stamp(now_ms());
        let mut appended_records = self.append(&batch, &accepted)?;
        let offsets = &appended_records.offsets;
        for (&k, &offset) in accepted.iter().zip(offsets) {
            outcomes[batch.index[k]] = Some(Outcome::Appended(offset));
        }
        if results.iter().any(Result::is_err) {
            let appended: FastSet<MsgId> = accepted.iter().map(|&k| batch.msgs[k].id()).collect();
            for (k, result) in results.into_iter().enumerate() {
                if let Err(e) = result {
                    outcomes[batch.index[k]] = Some(classify(e, &batch.msgs[k], &appended));
                }
            }
        }
        self.after_append(&batch, &accepted, &appended_records, &mut last_persist)?;
        self.keep_facts_vec(&mut appended_records.facts);
        drop_batch(batch, appended_records, &self.spare_msgs);
        Ok(outcomes
            .into_iter()
            .map(|o| o.unwrap_or(Outcome::AlreadyPresent))
            .collect())
    }

    /// Signs `content` as the next message of `keys`' feed, stores it and returns it.
    pub fn publish(&self, keys: &Keys, content: Value) -> Result<StoredMsg, Error> {
        if self.read_only {
            return Err(Error::ReadOnly);
        }
        let mut last_persist = lock(&self.writer);
        self.catch_up()?;
        let state = self.state_of(&keys.id());
        let hmac = self.hmac();
        let msg = sluice_msg::create(keys, state.as_ref(), content, now_ms(), hmac.as_ref())
            .map_err(Error::Publish)?;
        let mut batch = Batch::default();
        batch.push(0, msg, None);
        batch.stamp(now_ms());
        let mut appended = self.append(&batch, &[0])?;
        self.after_append(&batch, &[0], &appended, &mut last_persist)?;
        self.keep_facts_vec(&mut appended.facts);
        let offset = appended.offsets[0];
        Ok(StoredMsg::new(offset, self.log.get(offset)?.to_vec()))
    }

    /// Whether each message is already stored (one look at the keys view for the batch;
    /// should it land in a damaged block of the view's file, one by one after the rebuild).
    ///
    /// A message past its feed's `latest` stored sequence is not stored, and is not looked
    /// up: its id hashes its author and sequence, so a stored copy would be a stored message
    /// of that feed at that sequence. New messages (an import's, a replication's) thus cost
    /// no random read into the keys view's file, which grows with the store.
    fn already_stored(
        &self,
        msgs: &[Message],
        latest: &FastMap<FeedId, u64>,
    ) -> Result<Vec<bool>, Error> {
        let may_be_stored =
            |m: &Message| m.sequence() <= latest.get(&m.author()).copied().unwrap_or(0);
        let found = {
            let keys = self.keys.read();
            let stored = |m: &Message| -> Result<Option<bool>, Error> {
                if !may_be_stored(m) {
                    return Ok(Some(false));
                }
                let id = m.id();
                let Ok(candidates) = keys.candidates(&id) else {
                    return Ok(None);
                };
                for offset in candidates {
                    if record::id_of(self.log.get(offset)?) == Some(id) {
                        return Ok(Some(true));
                    }
                }
                Ok(Some(false))
            };
            msgs.iter()
                .map(stored)
                .collect::<Result<Option<Vec<bool>>, Error>>()?
        };
        match found {
            Some(found) => Ok(found),
            None => msgs
                .iter()
                .map(|m| Ok(may_be_stored(m) && self.stored_offset(&m.id())?.is_some()))
                .collect(),
        }
    }

    fn hmac(&self) -> Option<HmacKey> {
        self.opts.hmac_key.map(HmacKey)
    }

    fn validate(&self, msgs: &[Message], mode: VerifyMode) -> Vec<Result<(), ValidationError>> {
        let hmac = self.hmac();
        sluice_msg::validate_batch(
            msgs,
            |feed: &FeedId| self.state_of(feed),
            mode,
            hmac.as_ref(),
        )
    }

    /// The stored feed state (the views are caught up: the writer lock is held). Call
    /// [`Db::latest_of_authors`] for the batch first: it reads every block this will.
    fn state_of(&self, feed: &FeedId) -> Option<FeedState> {
        let (_, offset) = self.feeds.read().last(feed).ok()??;
        let m = self.at(offset).ok()?;
        Some(crate::db::feed_state(&m))
    }

    /// The latest stored sequence of every feed in `msgs` that has one. Reading them first
    /// also finds a damaged block of the feeds view's file (and rebuilds the view) before
    /// validation relies on it.
    fn latest_of_authors(&self, msgs: &[Message]) -> Result<FastMap<FeedId, u64>, Error> {
        let authors: FastSet<FeedId> = msgs.iter().map(|m| m.author()).collect();
        let mut latest = FastMap::default();
        for author in authors {
            if let Some((sequence, _)) = self.read_or_rebuild(&self.feeds, |f| f.last(&author))? {
                latest.insert(author, sequence);
            }
        }
        Ok(latest)
    }

    /// Encodes and appends the accepted messages, then flushes; returns their offsets and
    /// content facts.
    ///
    /// Encodes [`ENCODE_WINDOW`] messages at a time and hands them to the log while the next
    /// window is encoded (the log's copying and writing is serial; encoding is parallel), so a
    /// big batch never holds more than two windows of records next to its messages.
    /// The flush at the end makes them durable together, as one `append_batch` would: a
    /// record of a valid message is far below the log's size limit, so only an I/O failure
    /// can stop it midway, and that poisons the log.
    fn append(&self, batch: &Batch, accepted: &[usize]) -> Result<Appended, Error> {
        if accepted.is_empty() {
            return Ok(Appended::default());
        }
        let now = now_ms();
        let mut facts = std::mem::take(&mut *lock(&self.spare_facts));
        facts.reserve(accepted.len());
        let mut appended = Appended {
            offsets: Vec::with_capacity(accepted.len()),
            facts,
        };
        let mut windows = accepted.chunks(ENCODE_WINDOW);
        let mut next = windows.next().map(|w| Encoded::of(batch, w, now));
        while let Some(encoded) = next.take() {
            let following = windows.next();
            let (offsets, upcoming) = rayon::join(
                || self.log.append_batch(encoded.records()),
                || following.map(|w| Encoded::of(batch, w, now)),
            );
            appended.offsets.extend(offsets?);
            encoded.move_facts_into(&mut appended.facts);
            next = upcoming;
        }
        self.log.flush()?;
        Ok(appended)
    }

    /// Applies the new durable records to the views, notifies subscribers, and rewrites
    /// the view files when enough was applied since the last write.
    fn after_append(
        &self,
        batch: &Batch,
        accepted: &[usize],
        appended: &Appended,
        last_persist: &mut u64,
    ) -> Result<(), Error> {
        if accepted.is_empty() {
            return Ok(());
        }
        let end = self.apply_appended(batch, accepted, appended)?;
        let offsets = &appended.offsets;
        if !self.hub.is_empty() {
            let news: Vec<(StoredMsg, &Message)> = accepted
                .iter()
                .zip(offsets)
                .map(|(&k, &o)| {
                    let record = self.log.get(o).map(<[u8]>::to_vec)?;
                    Ok((StoredMsg::new(o, record), &batch.msgs[k]))
                })
                .collect::<Result<_, Error>>()?;
            self.hub.publish(&news);
        }
        if persist_due(
            self.opts.persist_every,
            self.opts.persist_at_most,
            *last_persist,
            end,
        ) {
            self.persist_views()?;
            *last_persist = end;
        }
        Ok(())
    }

    /// An empty vector with room for a batch, left by the last big batch stored (or a new
    /// one). A bulk import that builds its next batch in it reuses memory the allocator would
    /// otherwise give back to the OS and fault in again: a batch of 4,096 messages is a
    /// 1.2 MB vector, and an import of the medium fixture took 6,900 of its 14,700 page
    /// faults filling fresh ones.
    pub fn take_spare_messages(&self) -> Vec<Message> {
        std::mem::take(&mut *lock(&self.spare_msgs))
    }

    /// Keeps a batch's facts vector, emptied, for the next [`Db::append`]. A batch of an
    /// import holds thousands of facts of a few hundred bytes: a fresh vector per batch was a
    /// fifth of a medium import's page faults (6,000 of 31,000), as its allocator gives
    /// allocations that big back to the system when they are freed.
    fn keep_facts_vec(&self, facts: &mut Vec<Option<Facts>>) {
        facts.clear();
        *lock(&self.spare_facts) = std::mem::take(facts);
    }
}

/// Messages in a batch from which [`Db::add_batch`] frees it on a pool thread and keeps its
/// emptied vector for [`Db::take_spare_messages`] (`sluice import --verify chain` stores
/// batches of 3,072, and checks at compile time that they are at least this big).
pub const DROP_ASIDE: usize = 3072;

/// Frees a stored batch. A large one (an import's) is freed on a pool thread, off the
/// caller's path: 100k messages take tens of milliseconds to free, which the caller would
/// otherwise wait for before it could parse or send its next batch. Its emptied message
/// vector is then kept in `spare` for the caller's next batch ([`Db::take_spare_messages`]).
/// A small one (a publish, a replicated message) is freed here, where it is quicker than
/// handing it over.
fn drop_batch(batch: Batch, appended: Appended, spare: &Arc<Mutex<Vec<Message>>>) {
    if batch.msgs.len() >= DROP_ASIDE {
        let spare = Arc::clone(spare);
        rayon::spawn(move || {
            let Batch { mut msgs, .. } = batch;
            drop(appended);
            msgs.clear();
            *lock(&spare) = msgs;
        });
    }
}

/// Whether the view files are due for a rewrite after the log grew from `last` (their last
/// write) to `end`: every `every` bytes, or every eighth of the log when that is more, but at
/// least every `at_most` bytes. Each rewrite encodes whole views, so a fixed interval would
/// make a store's total rewriting cost grow with the square of its size; a geometric one keeps
/// it proportional to the log, while a crash never leaves more than an eighth of the log to
/// catch up on. The cap trades some of that back for memory: what the views hold until their
/// next write stops growing with the store.
pub(crate) fn persist_due(every: u64, at_most: u64, last: u64, end: u64) -> bool {
    end.saturating_sub(last) >= every.max(end / 8).min(at_most.max(every))
}

/// Default for [`crate::DbOptions::persist_at_most`].
pub const PERSIST_AT_MOST: u64 = 256 << 20;

impl Db {
    /// Feeds the just-appended (and flushed) messages to the views from memory, without
    /// re-reading and re-parsing them from the log; falls back to a log catch-up if a view
    /// is behind the first new record. Returns the durable end.
    fn apply_appended(
        &self,
        batch: &Batch,
        accepted: &[usize],
        appended: &Appended,
    ) -> Result<u64, Error> {
        let end = self.log.end();
        let entries: Vec<Indexed<'_>> = accepted
            .iter()
            .zip(&appended.offsets)
            .map(|(&k, &offset)| indexed(&batch.msgs[k], offset, batch.received[k]))
            .collect();
        let first = appended.offsets.first().copied().unwrap_or(end);
        if !self.apply_in_memory(&entries, &appended.facts, first, end) {
            return self.catch_up();
        }
        Ok(end)
    }
}

/// A message as the views see it. The receive time only matters to views that read it; the
/// record holds the same value (`now` is taken once per batch in `append`).
///
/// The content is left out: every view that reads content takes it from the batch's facts
/// (scanned from the record bytes), so the message's JSON value is never built here.
fn indexed(msg: &Message, offset: u64, received: Option<f64>) -> Indexed<'_> {
    Indexed {
        offset,
        id: msg.id(),
        author: msg.author(),
        sequence: msg.sequence(),
        timestamp: msg.timestamp(),
        received: received.unwrap_or(f64::NAN),
        content_type: msg.content_type(),
        encrypted: msg.is_encrypted(),
        content: None,
    }
}

/// Items per rayon task when encoding records: small batches stay on the calling thread.
const PAR_MIN: usize = 256;
/// Messages encoded (in parallel tasks of [`PAR_MIN`]) before their records go to the log.
const ENCODE_WINDOW: usize = 4 * PAR_MIN;

/// What [`Db::append`] stored: the offsets of the accepted messages and the facts of their
/// content (for the graph views), both in acceptance order.
#[derive(Default)]
struct Appended {
    offsets: Vec<u64>,
    facts: Vec<Option<Facts>>,
}

/// The encoded records of a batch, in acceptance order: one buffer per rayon task instead of
/// an allocation per record, and each record's content facts, scanned from its value JSON
/// while it is still in cache.
struct Encoded {
    parts: Vec<EncodedPart>,
}

struct EncodedPart {
    bytes: Vec<u8>,
    /// Where each record ends in `bytes`.
    ends: Vec<usize>,
    facts: Vec<Option<Facts>>,
}

impl Encoded {
    /// Encodes `batch.msgs[k]` for every `k` in `accepted` (in parallel for large batches).
    fn of(batch: &Batch, accepted: &[usize], now: f64) -> Encoded {
        let part = |ks: &[usize]| EncodedPart::of(batch, ks, now);
        let parts = if accepted.len() <= PAR_MIN {
            vec![part(accepted)]
        } else {
            accepted.par_chunks(PAR_MIN).map(part).collect()
        };
        Encoded { parts }
    }

    /// The records, in order.
    fn records(&self) -> impl Iterator<Item = &[u8]> {
        self.parts.iter().flat_map(|p| {
            let starts = std::iter::once(0).chain(p.ends.iter().copied());
            starts.zip(&p.ends).map(|(s, &e)| &p.bytes[s..e])
        })
    }

    /// Moves the records' facts, in order, to the end of `out`.
    fn move_facts_into(self, out: &mut Vec<Option<Facts>>) {
        self.parts.into_iter().for_each(|p| out.extend(p.facts));
    }
}

impl EncodedPart {
    fn of(batch: &Batch, ks: &[usize], now: f64) -> EncodedPart {
        let mut part = EncodedPart {
            bytes: Vec::with_capacity(ks.len() * RECORD_GUESS),
            ends: Vec::with_capacity(ks.len()),
            facts: Vec::with_capacity(ks.len()),
        };
        for &k in ks {
            let msg = &batch.msgs[k];
            let value_at =
                encode_record_into(msg, batch.received[k].unwrap_or(now), &mut part.bytes);
            part.facts.push(None);
            if let Some(slot) = part.facts.last_mut() {
                facts_into(msg, &part.bytes[value_at..], slot);
            }
            part.ends.push(part.bytes.len());
        }
        part
    }
}

/// A typical record's size (header and compact value JSON), to size buffers.
const RECORD_GUESS: usize = 1024;

/// Puts into `slot` the graph views' facts of a message's public content, scanned from its
/// compact value JSON (the same bytes a rebuild scans), or from the parsed content when the
/// scanner gives up; leaves it `None` for encrypted content.
fn facts_into(msg: &Message, value_json: &[u8], slot: &mut Option<Facts>) {
    if !msg.is_encrypted() && Facts::scan_into(value_json, slot).is_none() {
        *slot = Some(Facts::from_content(msg.content()));
    }
}

/// The messages of a batch not yet stored, with their input positions.
#[derive(Default)]
struct Batch {
    msgs: Vec<Message>,
    received: Vec<Option<f64>>,
    index: Vec<usize>,
}

impl Batch {
    /// The messages not `stored`, with their receive times and input positions. Moves no
    /// message when none is stored (the usual case for an import).
    fn unstored(mut msgs: Vec<Message>, mut received: Vec<Option<f64>>, stored: &[bool]) -> Batch {
        if stored.iter().any(|&s| s) {
            let mut keep = stored.iter().map(|&s| !s);
            msgs.retain(|_| keep.next().unwrap_or(false));
            let mut keep = stored.iter().map(|&s| !s);
            received.retain(|_| keep.next().unwrap_or(false));
        }
        let index = (0..stored.len()).filter(|&i| !stored[i]).collect();
        Batch {
            msgs,
            received,
            index,
        }
    }

    /// Gives every message without a receive time the time `now`.
    fn stamp(&mut self, now: f64) {
        for r in &mut self.received {
            r.get_or_insert(now);
        }
    }

    fn push(&mut self, index: usize, msg: Message, received: Option<f64>) {
        self.msgs.push(msg);
        self.received.push(received);
        self.index.push(index);
    }
}

/// Positions of valid messages, one per id, in input order except that each feed's messages
/// are put in sequence order (over the input positions that feed occupies).
fn accepted_in_order(msgs: &[Message], results: &[Result<(), ValidationError>]) -> Vec<usize> {
    let mut seen = FastSet::default();
    let ok: Vec<usize> = (0..msgs.len())
        .filter(|&k| results[k].is_ok() && seen.insert(msgs[k].id()))
        .collect();
    let mut by_feed: FastMap<FeedId, Vec<usize>> = FastMap::default();
    for &k in &ok {
        by_feed.entry(msgs[k].author()).or_default().push(k);
    }
    let mut placed = vec![usize::MAX; msgs.len()];
    for positions in by_feed.into_values() {
        let mut by_seq = positions.clone();
        by_seq.sort_by_key(|&k| msgs[k].sequence());
        for (slot, k) in positions.into_iter().zip(by_seq) {
            placed[slot] = k;
        }
    }
    ok.iter().map(|&slot| placed[slot]).collect()
}

/// Turns a validation error into an outcome: a copy of a message appended in this batch is
/// already present; an older sequence whose id is not stored is a fork.
fn classify(e: ValidationError, msg: &Message, appended: &FastSet<MsgId>) -> Outcome {
    if appended.contains(&msg.id()) {
        return Outcome::AlreadyPresent;
    }
    match e {
        ValidationError::Old { .. } | ValidationError::Duplicate { .. } => {
            Outcome::Rejected(ValidationError::Fork {
                sequence: msg.sequence(),
                detail: format!(
                    "{} differs from the message stored at this sequence",
                    msg.id()
                ),
            })
        }
        other => Outcome::Rejected(other),
    }
}

/// Appends the log record of a message (see `record.rs`) to `out`; returns where its value
/// JSON starts.
fn encode_record_into(msg: &Message, received: f64, out: &mut Vec<u8>) -> usize {
    let header = Header {
        id: msg.id(),
        author: msg.author(),
        sequence: msg.sequence(),
        claimed: msg.timestamp(),
        received,
        encrypted: msg.is_encrypted(),
        content_type: msg.content_type(),
    };
    record::encode_header_into(&header, out);
    let value_at = out.len();
    msg.write_compact_json(out);
    value_at
}

#[cfg(test)]
mod tests {
    use super::persist_due;

    #[test]
    fn persisting_is_periodic_then_geometric_then_capped() {
        let (every, cap) = (64 << 20, 256 << 20);
        assert!(!persist_due(every, cap, 0, every - 1));
        assert!(persist_due(every, cap, 0, every));
        // A 1 GiB log waits for 128 MiB more, not 64.
        let gib = 1 << 30;
        assert!(!persist_due(every, cap, gib, gib + (100 << 20)));
        assert!(persist_due(every, cap, gib, gib + (160 << 20)));
        // An 8 GiB log waits for the cap, not for a GiB.
        let big = 8 * gib;
        assert!(!persist_due(every, cap, big, big + cap - 1));
        assert!(persist_due(every, cap, big, big + cap));
        // A cap below the fixed interval does not shorten it.
        assert!(!persist_due(every, 1 << 20, 0, every - 1));
    }
}
