//! Bulk validation: many messages of many feeds at once, with batched ed25519 in parallel.

use std::collections::HashMap;

use ed25519_dalek::{Signature, VerifyingKey};
use rayon::prelude::*;

use crate::error::ValidationError;
use crate::message::Message;
use crate::refs::FeedId;
use crate::validate::{FeedState, HmacKey, check_chain};
use crate::verify;

/// How much of the signature work [`validate_batch`] does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum VerifyMode {
    /// Every signature is verified (batched and in parallel).
    #[default]
    Full,
    /// Every hash and link is checked; only the newest message of each feed's run in the batch
    /// has its signature verified, which authenticates the rest through the hash chain
    /// (ssb-validate's queue semantics). A bad newest signature falls back to `Full` for that feed.
    Chain,
}

/// Signatures per `verify_batch` call: larger batches cost less per signature (the multiscalar
/// multiplication switches to Pippenger's method past ~190 points; 1024 per batch takes ~40 %
/// less CPU than 64 on the medium fixture), smaller ones keep every core busy on short inputs
/// and make the one-by-one re-check of a failed batch cheaper.
const BATCH_MIN: usize = 64;
const BATCH_MAX: usize = 1024;

/// The batch size for `n` signatures: about two batches per rayon thread, within the bounds.
fn batch_size(n: usize) -> usize {
    (n / (2 * rayon::current_num_threads().max(1))).clamp(BATCH_MIN, BATCH_MAX)
}

type Verdict = Result<(), ValidationError>;
/// A feed's verdicts in sequence order: `(index in the batch, verdict)`.
type FeedVerdicts = Vec<(usize, Verdict)>;

/// Validates `msgs`; result `i` is for `msgs[i]`. Messages of one feed may come in any order:
/// they are chained in sequence order from `state(author)`. A message whose predecessor is
/// neither in `state` nor valid in the batch gets [`ValidationError::Gap`].
pub fn validate_batch(
    msgs: &[Message],
    state: impl Fn(&FeedId) -> Option<FeedState> + Sync,
    mode: VerifyMode,
    hmac: Option<&HmacKey>,
) -> Vec<Verdict> {
    let feeds = group_by_feed(msgs);
    let sigs = match mode {
        VerifyMode::Full => Some(verify_signatures(
            msgs,
            &(0..msgs.len()).collect::<Vec<_>>(),
            hmac,
        )),
        VerifyMode::Chain => None,
    };
    let per_feed: Vec<FeedVerdicts> = match &sigs {
        Some(sigs) => feeds
            .iter()
            .map(|(author, idx)| walk(msgs, idx, state(author), |i| clone_verdict(&sigs[i])))
            .collect(),
        None => chain_feeds(msgs, &feeds, &state, hmac),
    };
    scatter(msgs.len(), per_feed)
}

/// The indices of each feed's messages, sorted by (sequence, position in the batch).
fn group_by_feed(msgs: &[Message]) -> Vec<(FeedId, Vec<usize>)> {
    let mut map: HashMap<FeedId, Vec<usize>> = HashMap::new();
    for (i, m) in msgs.iter().enumerate() {
        map.entry(m.author()).or_default().push(i);
    }
    let mut feeds: Vec<(FeedId, Vec<usize>)> = map.into_iter().collect();
    for (_, idx) in &mut feeds {
        idx.sort_by_key(|&i| (msgs[i].sequence(), i));
    }
    feeds
}

fn scatter(len: usize, per_feed: Vec<FeedVerdicts>) -> Vec<Verdict> {
    let mut out: Vec<Option<Verdict>> = (0..len).map(|_| None).collect();
    for (i, verdict) in per_feed.into_iter().flatten() {
        out[i] = Some(verdict);
    }
    out.into_iter()
        .map(|v| v.expect("every message belongs to one feed"))
        .collect()
}

/// A copy of a verdict; signature errors carry no data that cannot be rebuilt.
fn clone_verdict(v: &Verdict) -> Verdict {
    match v {
        Ok(()) => Ok(()),
        Err(ValidationError::WeakKey) => Err(ValidationError::WeakKey),
        Err(_) => Err(ValidationError::BadSignature),
    }
}

/// Chains one feed's messages (sorted) from `start`; `sig(i)` is message `i`'s signature verdict.
///
/// Walks run on the calling thread, one feed after the other: a link check is a few
/// comparisons (a 4,096-message batch takes well under a millisecond), while handing them
/// to the thread pool made the caller wait behind whatever the pool was busy with (an
/// importer parses the next batch there).
fn walk(
    msgs: &[Message],
    idx: &[usize],
    start: Option<FeedState>,
    sig: impl Fn(usize) -> Verdict,
) -> FeedVerdicts {
    let mut head = start;
    let mut out = Vec::with_capacity(idx.len());
    for &i in idx {
        let m = &msgs[i];
        let verdict = check_chain(head.as_ref(), m).and_then(|()| sig(i));
        if verdict.is_ok() {
            head = Some(FeedState::of(m));
        }
        out.push((i, verdict));
    }
    out
}

/// `Chain` mode: each feed's links first, then the signatures of every feed's newest linked
/// message in one batched pass; a feed whose newest signature fails has all of its signatures
/// verified.
fn chain_feeds(
    msgs: &[Message],
    feeds: &[(FeedId, Vec<usize>)],
    state: &(impl Fn(&FeedId) -> Option<FeedState> + Sync),
    hmac: Option<&HmacKey>,
) -> Vec<FeedVerdicts> {
    let linked: Vec<(Option<FeedState>, FeedVerdicts)> = feeds
        .iter()
        .map(|(author, idx)| {
            let start = state(author);
            let verdicts = walk(msgs, idx, start, |_| Ok(()));
            (start, verdicts)
        })
        .collect();
    let newest: Vec<usize> = linked
        .iter()
        .filter_map(|(_, verdicts)| newest_linked(verdicts))
        .collect();
    let newest_ok: HashMap<usize, bool> = newest
        .iter()
        .copied()
        .zip(
            verify_signatures(msgs, &newest, hmac)
                .iter()
                .map(Result::is_ok),
        )
        .collect();
    feeds
        .iter()
        .zip(linked)
        .map(|((_, idx), (start, verdicts))| {
            match newest_linked(&verdicts).map(|i| newest_ok[&i]) {
                None | Some(true) => verdicts,
                Some(false) => {
                    let sigs = verify_signatures(msgs, idx, hmac);
                    let by_index: HashMap<usize, &Verdict> =
                        idx.iter().copied().zip(sigs.iter()).collect();
                    walk(msgs, idx, start, |i| clone_verdict(by_index[&i]))
                }
            }
        })
        .collect()
}

/// The newest message of a feed's run whose links hold.
fn newest_linked(verdicts: &[(usize, Verdict)]) -> Option<usize> {
    verdicts
        .iter()
        .rev()
        .find(|(_, v)| v.is_ok())
        .map(|(i, _)| *i)
}

/// Verifies every signature of `msgs` not yet known to verify, and remembers in each message
/// the ones that do, so that a later [`validate_batch`] with the same `hmac` skips them (both
/// modes). Signatures do not depend on any feed's state: a pipeline can verify the next batch
/// while the current one is stored. Returns how many of `msgs` are known to verify.
pub fn verify_ahead(msgs: &[&Message], hmac: Option<&HmacKey>) -> usize {
    verify_refs(msgs, hmac).iter().filter(|v| v.is_ok()).count()
}

/// Verifies the signatures of `msgs[idx]`; result `k` is for `idx[k]`.
pub(crate) fn verify_signatures(
    msgs: &[Message],
    idx: &[usize],
    hmac: Option<&HmacKey>,
) -> Vec<Verdict> {
    let refs: Vec<&Message> = idx.iter().map(|&i| &msgs[i]).collect();
    verify_refs(&refs, hmac)
}

/// Verifies the signatures of `msgs` in parallel batches; result `k` is for `msgs[k]`.
/// Messages already known to verify under `hmac` are not checked again; the ones that verify
/// here are remembered.
///
/// The batches take the messages grouped by author: the batch equation has one point per
/// signature and one per distinct author in the batch (see `verify::verify_many`), so a batch
/// of one author's run is cheaper than one of the same size drawn from many.
fn verify_refs(msgs: &[&Message], hmac: Option<&HmacKey>) -> Vec<Verdict> {
    let mut todo: Vec<usize> = (0..msgs.len())
        .filter(|&k| !msgs[k].signature_verified(hmac))
        .collect();
    if todo.is_empty() {
        // All verified ahead: no need to wait for the thread pool.
        return msgs.iter().map(|_| Ok(())).collect();
    }
    todo.sort_by_key(|&k| msgs[k].author());
    let grouped: Vec<&Message> = todo.iter().map(|&k| msgs[k]).collect();
    let fresh = grouped
        .par_chunks(batch_size(grouped.len()))
        .flat_map_iter(|chunk| verify_chunk(chunk, hmac))
        .collect::<Vec<_>>();
    let mut verdicts: Vec<Verdict> = msgs.iter().map(|_| Ok(())).collect();
    for (k, verdict) in todo.into_iter().zip(fresh) {
        verdicts[k] = verdict;
    }
    verdicts
}

/// One message made ready for batch verification.
struct Prepared {
    key: VerifyingKey,
    payload: Vec<u8>,
    sig: Signature,
}

fn prepare(msg: &Message, hmac: Option<&HmacKey>) -> Result<Prepared, ValidationError> {
    let key = verify::verifying_key(&msg.author())?;
    let sig = verify::precheck(msg.signature())?;
    let payload = verify::signed_payload(msg.signing_bytes(), hmac);
    Ok(Prepared { key, payload, sig })
}

fn verify_chunk(chunk: &[&Message], hmac: Option<&HmacKey>) -> Vec<Verdict> {
    let prepared: Vec<Result<Prepared, ValidationError>> =
        chunk.iter().map(|m| prepare(m, hmac)).collect();
    let ready: Vec<&Prepared> = prepared.iter().filter_map(|p| p.as_ref().ok()).collect();
    let keys: Vec<VerifyingKey> = ready.iter().map(|p| p.key).collect();
    let payloads: Vec<&[u8]> = ready.iter().map(|p| p.payload.as_slice()).collect();
    let sigs: Vec<Signature> = ready.iter().map(|p| p.sig).collect();
    let all_good = ready.is_empty() || verify::verify_many(&keys, &payloads, &sigs);
    chunk
        .iter()
        .zip(prepared)
        .map(|(msg, p)| {
            let p = p?;
            if !all_good {
                // The batch failed: find the bad ones one by one.
                p.key
                    .verify_strict(&p.payload, &p.sig)
                    .map_err(|_| ValidationError::BadSignature)?;
            }
            msg.mark_verified(hmac);
            Ok(())
        })
        .collect()
}
