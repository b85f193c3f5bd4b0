//! The `View` trait: one index over the log, maintained incrementally, persisted on its own.
//!
//! A view sees each durable message once, in log order, through [`View::apply`]. The database
//! owns everything generic about a view: its `since` offset, its file (header, checksum,
//! atomic replace) and its rebuild. A view only knows how to fold a message into its state and
//! how to turn that state into bytes and back.

use sluice_msg::{FeedId, MsgId};

use crate::scan::Facts;
use crate::viewfile::{Bulk, Payload};

/// One message as the views see it: decoded once per record and shared by every view.
#[derive(Debug, Clone, Copy)]
pub struct Indexed<'a> {
    /// Log offset of the record: the message's stable local id, used by views as a pointer.
    pub offset: u64,
    /// The message id (`%….sha256`).
    pub id: MsgId,
    /// The author's feed id.
    pub author: FeedId,
    /// The message's sequence number in its feed (from 1).
    pub sequence: u64,
    /// The timestamp the author claimed (`value.timestamp`, ms since the epoch).
    pub timestamp: f64,
    /// When this store received the message (ms since the epoch).
    pub received: f64,
    /// `content.type` of public content (read from the record header, no JSON parsing).
    pub content_type: Option<&'a str>,
    /// Whether the content is encrypted (a `….box` string).
    pub encrypted: bool,
    /// The public content object; `None` when the content is encrypted, or when no view
    /// being fed this record asked for content (see [`View::needs_content`]).
    pub content: Option<&'a serde_json::Value>,
}

impl<'a> Indexed<'a> {
    /// A view's input for a `{key, value, timestamp}` JSON entry (as in a JSON lines export)
    /// standing at log offset `offset`: the way to feed a view without a store, e.g. to check
    /// it against a recomputation. `None` when the key, author, sequence or timestamp is
    /// missing or malformed; a missing receive timestamp counts as 0.
    pub fn from_entry(offset: u64, entry: &'a serde_json::Value) -> Option<Self> {
        let value = &entry["value"];
        let content = value["content"].is_object().then_some(&value["content"]);
        Some(Self {
            offset,
            id: entry["key"].as_str()?.parse().ok()?,
            author: value["author"].as_str()?.parse().ok()?,
            sequence: value["sequence"].as_u64()?,
            timestamp: value["timestamp"].as_f64()?,
            received: entry["timestamp"].as_f64().unwrap_or(0.0),
            content_type: content.and_then(|c| c["type"].as_str()),
            encrypted: content.is_none(),
            content,
        })
    }

    /// `content.type` when the content is public and has a string type.
    pub fn content_type(&self) -> Option<&'a str> {
        self.content_type
    }
}

/// A view's persisted state could not be read back: the database then rebuilds that view.
#[derive(Debug, thiserror::Error)]
#[error("view data is unreadable: {0}")]
pub struct ViewDataError(pub String);

/// An incrementally maintained index over the log.
///
/// Architecture invariant: `apply` is called only with durable records, in increasing offset
/// order, exactly once per record since the view's state was last cleared or decoded.
///
/// `encode` must be deterministic (same state, same bytes): `Db::check_views` compares a
/// view's bytes with those of a copy rebuilt from the log.
pub trait View: Send + Sync {
    /// Stable name; also names the view's file. This and [`View::version`],
    /// [`View::needs_content`] and [`View::uses_facts`] are asked once, of a fresh view, and
    /// must not change.
    fn name(&self) -> &'static str;
    /// Bump when the state's meaning or encoding changes: the view is then rebuilt alone.
    fn version(&self) -> u32;
    /// Folds one durable message into the state.
    fn apply(&mut self, msg: &Indexed<'_>);

    /// Applies messages in log order, as [`View::apply`] on each in turn (the default). A
    /// view that reads a record's bytes through a borrowed field (`content_type`) overrides
    /// it to fetch those a few messages ahead: a rebuild's chunk is megabytes of records, and
    /// each would otherwise be a cache miss on the applying side.
    fn apply_run(&mut self, msgs: &[Indexed<'_>]) {
        msgs.iter().for_each(|msg| self.apply(msg));
    }
    /// Serialises the whole state (the database adds header, `since` and checksum): the head
    /// from [`View::encode_parts`] followed by its bulk.
    fn encode(&self) -> Vec<u8> {
        let mut bulk = Bulk::memory();
        let mut head = self.encode_parts(&mut bulk);
        head.extend_from_slice(&bulk.into_vec());
        head
    }
    /// Serialises the state in two parts: returns the head, which the file's checksum covers,
    /// and writes the rest to `bulk`, which may spill to a file as it grows (so a large view is
    /// never held whole in memory while it is written). Whatever `bulk` gets, the view must
    /// check itself, piece by piece, when it reads it; a view that does not writes nothing
    /// there.
    fn encode_parts(&self, bulk: &mut Bulk) -> Vec<u8>;
    /// Replaces the state with one read back from [`View::encode`]'s bytes.
    fn decode(&mut self, bytes: &[u8]) -> Result<(), ViewDataError>;
    /// Replaces the state with the payload of the view's file. The default decodes it; a view
    /// that answers from its file in place keeps `payload` (and checks the parts the file
    /// checksum leaves to it, the bulk of [`View::encode_parts`], as it reads them).
    fn load(&mut self, payload: Payload) -> Result<(), ViewDataError> {
        self.decode(payload.bytes())
    }
    /// Checks every part of a loaded file the view has not checked yet; the database calls it
    /// before writing the state again, so damage is never carried into a new file. The
    /// default has nothing to check.
    fn verify(&self) -> Result<(), ViewDataError> {
        Ok(())
    }
    /// Whether the view reads its file in place: the database then hands it each file it
    /// writes through [`View::stored`]. The default is `false`.
    fn reads_in_place(&self) -> bool {
        false
    }
    /// Marks every part of the loaded file checked (see [`View::stored`]). The default has
    /// nothing to mark.
    fn trust(&self) {}
    /// The state was just written to a file (`payload`) and nothing was applied since: a view
    /// that reads in place switches to it (loads it, and trusts it: this process wrote it from
    /// the state it held) and lets go of what it held in memory.
    fn stored(&mut self, payload: Payload) -> Result<(), ViewDataError> {
        self.load(payload)?;
        self.trust();
        Ok(())
    }
    /// Empties the state before a rebuild.
    fn clear(&mut self);
    /// Whether [`Indexed::content`] must be filled in. Views that read only header fields
    /// (ids, author, sequence, timestamps, content type) return `false`, so rebuilds of those
    /// views skip JSON parsing entirely. The default is `true`.
    fn needs_content(&self) -> bool {
        true
    }
    /// Whether the view can read content from [`Facts`] through [`View::apply_facts`]. Then
    /// rebuilds and catch-ups scan each record's value JSON once for all such views instead of
    /// parsing it into a `serde_json::Value`. The default is `false`.
    fn uses_facts(&self) -> bool {
        false
    }
    /// Folds one durable message given the facts of its public content (`None` when the
    /// content is encrypted or not an object); `msg.content` may then be `None`. The database
    /// calls it instead of [`View::apply`] when [`View::uses_facts`] is true; both must fold
    /// the same message to the same state. The default calls [`View::apply`].
    fn apply_facts(&mut self, msg: &Indexed<'_>, facts: Option<&Facts>) {
        let _ = facts;
        self.apply(msg);
    }
}

/// Helpers for the views' unit tests.
#[cfg(test)]
pub(crate) mod testing {
    use super::{Indexed, View};

    /// A deterministic xorshift generator for randomized tests: each call gives a number
    /// below `n` (`n > 0`).
    pub(crate) fn xorshift(mut seed: u64) -> impl FnMut(u64) -> u64 {
        move |n| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed % n
        }
    }

    /// A message without content at `offset`: by the feed of `author` repeated, at `sequence`,
    /// of `content_type` (encrypted when `None`).
    pub(crate) fn indexed(
        offset: u64,
        author: u8,
        sequence: u64,
        content_type: Option<&'static str>,
    ) -> Indexed<'static> {
        Indexed {
            offset,
            id: sluice_msg::MsgId([0; 32]),
            author: sluice_msg::FeedId([author; 32]),
            sequence,
            timestamp: 0.0,
            received: 0.0,
            content_type,
            encrypted: content_type.is_none(),
            content: None,
        }
    }

    /// `view` encoded and read back into a fresh view.
    pub(crate) fn reloaded<V: View + Default>(view: &V) -> V {
        let mut back = V::default();
        back.decode(&view.encode()).expect("decodes");
        back
    }
}

#[cfg(test)]
mod tests {
    use super::Indexed;

    #[test]
    fn entries_become_view_input_or_none() {
        let entry = serde_json::json!({
            "key": "%Nb9fAByqX9YatRZIi8kF0k/aZtyx0pclWHGk+TNqtuM=.sha256",
            "value": {"author": "@FCX/tsDLpubCPKKfIrw4gc+SQkHcaD17s7GI6i/ziWY=.ed25519",
                      "sequence": 2, "timestamp": 1.5, "content": {"type": "post"}},
            "timestamp": 7.0,
        });
        let got = Indexed::from_entry(40, &entry).expect("well formed");
        assert_eq!((got.offset, got.sequence, got.received), (40, 2, 7.0));
        assert_eq!(got.content_type(), Some("post"));
        assert!(!got.encrypted);
        let mut bad = entry.clone();
        bad["value"]["author"] = "@not-a-feed".into();
        assert!(Indexed::from_entry(0, &bad).is_none());
    }
}
