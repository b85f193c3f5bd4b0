//! The wave engine: plan a wave in parallel, sign it in parallel per author, emit it in order.
//!
//! Messages are numbered 0.. in receive order and cut into waves of fixed size. Content of a
//! wave refers only to messages of earlier waves, so within a wave each message is planned from
//! its own random stream and each author's run is signed on its own thread. Output does not
//! depend on the number of threads.

use std::collections::BTreeMap;

use rand::Rng;
use rayon::prelude::*;
use sluice_msg::{FeedId, FeedState, Keys, Message, create_with_signer};

use crate::GenOptions;
use crate::authors::AuthorSampler;
use crate::content::{Kind, Plan, World, plan};
use crate::error::GenError;
use crate::memory::{Effect, Id, Memory};
use crate::seed::Master;
use crate::signer::{NonceCursor, SequentialSigner};

/// Smallest and largest wave (messages planned against the same memory).
const WAVE_MIN: u64 = 64;
const WAVE_MAX: u64 = 2048;
/// Aim for at least this many waves, so that small runs still have threads and votes.
const WAVES_WANTED: u64 = 64;

/// One generated message with its receive timestamp.
#[derive(Debug, Clone)]
pub struct Generated {
    /// The signed message.
    pub message: Message,
    /// When a peer received it (ms since the epoch), increasing in output order.
    pub received: u64,
    /// What kind of message it is.
    pub kind: Kind,
    /// Its author's index in [`Generator::keys`] (0 = the main feed).
    pub author: u32,
}

impl Generated {
    /// The `{key,value,timestamp}` JSON line (no newline), value in canonical key order.
    pub fn json_line(&self) -> String {
        let mut line = Vec::with_capacity(self.message.encoded().len() + 96);
        self.write_json_line(&mut line);
        String::from_utf8(line).expect("JSON lines are UTF-8")
    }

    /// [`Generated::json_line`] appended to `out` (no newline), for writers that batch lines.
    pub fn write_json_line(&self, out: &mut Vec<u8>) {
        use std::io::Write as _;
        out.extend_from_slice(b"{\"key\":\"");
        // Writing into a Vec cannot fail.
        let _ = write!(out, "{}", self.message.id());
        out.extend_from_slice(b"\",\"value\":");
        self.message.write_compact_json(out);
        let _ = write!(out, ",\"timestamp\":{}}}", self.received);
    }
}

/// A deterministic stream of signed messages, produced wave by wave.
#[derive(Debug)]
pub struct Generator {
    opts: GenOptions,
    master: Master,
    keys: Vec<Keys>,
    /// Each author's signer (seed-derived sequential nonces, see `signer`).
    signers: Vec<SequentialSigner>,
    feeds: Vec<String>,
    sampler: AuthorSampler,
    states: Vec<Option<FeedState>>,
    /// Each author's nonce point at its latest message.
    nonces: Vec<NonceCursor>,
    memory: Memory,
    next: u64,
    wave: u64,
}

/// A planned message with its place and claimed timestamp, waiting to be signed.
struct Pending {
    index: u64,
    timestamp: u64,
    plan: Plan,
}

impl Generator {
    /// Prepares a run: derives the authors' keys and activity from the seed.
    pub fn new(opts: GenOptions) -> Result<Self, GenError> {
        if opts.authors == 0 {
            return Err(GenError::Options {
                detail: "--authors must be at least 1".into(),
            });
        }
        let master = Master::new(&opts.seed);
        let seeds: Vec<[u8; 32]> = (0..opts.authors).map(|i| master.author_seed(i)).collect();
        let keys: Vec<Keys> = seeds.iter().map(|s| Keys::from_seed(*s)).collect();
        let signers: Vec<SequentialSigner> = seeds.iter().map(SequentialSigner::new).collect();
        let nonces = signers.iter().map(SequentialSigner::start).collect();
        let feeds = keys.iter().map(|k| k.id().to_string()).collect();
        let sampler = AuthorSampler::new(opts.authors, &mut master.weights_rng());
        let wave = (opts.messages / WAVES_WANTED).clamp(WAVE_MIN, WAVE_MAX);
        let states = vec![None; keys.len()];
        Ok(Self {
            opts,
            master,
            keys,
            signers,
            feeds,
            sampler,
            states,
            nonces,
            memory: Memory::new(),
            next: 0,
            wave,
        })
    }

    /// The authors' keys; index 0 is the main (most active) feed.
    pub fn keys(&self) -> &[Keys] {
        &self.keys
    }

    /// The next wave of messages in receive order, or `None` when all have been made.
    pub fn next_wave(&mut self) -> Result<Option<Vec<Generated>>, GenError> {
        let end = (self.next + self.wave).min(self.opts.messages);
        if self.next >= end {
            return Ok(None);
        }
        let pending = self.plan_wave(self.next..end);
        let (signed, nonces) = self.sign_wave(pending)?;
        for (author, cursor) in nonces {
            self.nonces[author as usize] = cursor;
        }
        self.next = end;
        Ok(Some(self.remember(signed)))
    }

    /// Plans messages `range`, each from its own random stream, against the current memory.
    fn plan_wave(&self, range: std::ops::Range<u64>) -> Vec<Pending> {
        let world = World {
            feeds: &self.feeds,
            sampler: &self.sampler,
            memory: &self.memory,
        };
        range
            .into_par_iter()
            .map(|index| {
                let mut rng = self.master.message_rng(index);
                let jitter = rng.gen_range(0..self.opts.interval_ms / 2 + 1);
                let timestamp = self.opts.start_timestamp + index * self.opts.interval_ms + jitter;
                Pending {
                    index,
                    timestamp,
                    plan: plan(&world, &mut rng),
                }
            })
            .collect()
    }

    /// Signs each author's run of the wave on its own thread; returns messages in wave order
    /// and the authors' nonce cursors after the wave.
    fn sign_wave(&self, pending: Vec<Pending>) -> Result<SignedWave, GenError> {
        let len = pending.len();
        let runs: Vec<SignedRun> = runs_longest_first(pending)
            .into_par_iter()
            // One task per run: the few long runs (the main feed's) start first and the short
            // ones fill the gaps, so no core waits at the end of the wave.
            .with_max_len(1)
            .map(|(author, run)| self.sign_run(author, run))
            .collect::<Result<_, _>>()?;
        let mut slots: Vec<Option<(Generated, Effect)>> = (0..len).map(|_| None).collect();
        let mut nonces = Vec::with_capacity(runs.len());
        for (signed, nonce) in runs {
            for (index, generated, effect) in signed {
                slots[usize::try_from(index - self.next).expect("wave fits memory")] =
                    Some((generated, effect));
            }
            nonces.push(nonce);
        }
        let messages = slots
            .into_iter()
            .map(|s| s.expect("every message of the wave is signed"))
            .collect();
        Ok((messages, nonces))
    }

    /// Signs one author's messages of a wave, chained on the feed's latest state; returns
    /// them with the author's nonce cursor after the run.
    fn sign_run(&self, author: u32, run: Vec<Pending>) -> Result<SignedRun, GenError> {
        let signer = &self.signers[author as usize];
        let feed = FeedId(signer.public());
        let mut cursor = self.nonces[author as usize];
        let mut state = self.states[author as usize];
        let mut out = Vec::with_capacity(run.len());
        for Pending {
            index,
            timestamp,
            plan,
        } in run
        {
            let sequence = state.map_or(1, |s| s.sequence + 1);
            let sign = |payload: &[u8]| signer.sign(&mut cursor, sequence, payload);
            let claimed = claimed_timestamp(timestamp);
            let message =
                create_with_signer(&feed, state.as_ref(), plan.content, claimed, None, sign)
                    .map_err(|source| GenError::Sign { index, source })?;
            state = Some(FeedState::of(&message));
            let received = self.opts.start_timestamp + (index + 1) * self.opts.interval_ms;
            let kind = plan.kind;
            let generated = Generated {
                message,
                received,
                kind,
                author,
            };
            out.push((index, generated, plan.effect));
        }
        Ok((out, (author, cursor)))
    }

    /// Updates feed states and memory with a signed wave, in order; returns its messages.
    fn remember(&mut self, signed: Vec<(Generated, Effect)>) -> Vec<Generated> {
        signed
            .into_iter()
            .map(|(generated, effect)| {
                self.states[generated.author as usize] = Some(FeedState::of(&generated.message));
                if !matches!(effect, Effect::None) {
                    self.memory
                        .remember(&Id::from(generated.message.id().to_string()), &effect);
                }
                generated
            })
            .collect()
    }
}

/// A claimed timestamp (ms) as the JSON number a message carries.
#[expect(
    clippy::cast_precision_loss,
    reason = "ms timestamps are far below 2^53"
)]
fn claimed_timestamp(ms: u64) -> f64 {
    ms as f64
}

/// A signed wave in order, with the nonce cursor of each author that wrote in it.
type SignedWave = (Vec<(Generated, Effect)>, Vec<(u32, NonceCursor)>);
/// One author's signed run (wave index, message, effect) and its nonce cursor after it.
type SignedRun = (Vec<(u64, Generated, Effect)>, (u32, NonceCursor));

/// The wave's messages grouped by author (each run in wave order), longest run first; ties
/// in author order, so the grouping does not depend on anything but the plan.
fn runs_longest_first(pending: Vec<Pending>) -> Vec<(u32, Vec<Pending>)> {
    let mut by_author: BTreeMap<u32, Vec<Pending>> = BTreeMap::new();
    for p in pending {
        by_author.entry(p.plan.author).or_default().push(p);
    }
    let mut runs: Vec<(u32, Vec<Pending>)> = by_author.into_iter().collect();
    runs.sort_by_key(|(_, run)| std::cmp::Reverse(run.len()));
    runs
}

impl Iterator for Generator {
    type Item = Result<Vec<Generated>, GenError>;

    fn next(&mut self) -> Option<Self::Item> {
        self.next_wave().transpose()
    }
}
