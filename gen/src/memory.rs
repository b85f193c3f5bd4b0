//! What the generator remembers of earlier waves: threads, recent posts and vote targets.
//!
//! Memory is bounded (rings and a capped thread table), so a run of 10M messages keeps only
//! the recent past. Replies and votes use preferential attachment: a thread (or message) is
//! chosen in proportion to the replies (votes) it already has, which gives the long-tailed
//! thread sizes and vote counts of real networks.

use std::collections::HashMap;
use std::sync::Arc;

use rand::Rng;
use rand_chacha::ChaCha8Rng;

/// A message id shared between the rings that mention it.
pub(crate) type Id = Arc<str>;

/// How many threads stay open to replies.
const THREAD_CAP: u64 = 1 << 16;
/// Entries in the reply-attachment ring (one per message of a thread).
const ATTACH_CAP: usize = 1 << 18;
/// Recent posts that votes may land on.
const POSTS_CAP: usize = 1 << 15;
/// Entries in the vote-attachment ring (one per vote).
const VOTES_CAP: usize = 1 << 17;

/// A fixed-capacity ring that overwrites its oldest entry.
#[derive(Debug)]
pub(crate) struct Ring<T> {
    items: Vec<T>,
    cap: usize,
    next: usize,
}

impl<T> Ring<T> {
    fn new(cap: usize) -> Self {
        Self {
            items: Vec::new(),
            cap,
            next: 0,
        }
    }

    fn push(&mut self, item: T) {
        if self.items.len() < self.cap {
            self.items.push(item);
        } else {
            self.items[self.next] = item;
        }
        self.next = (self.next + 1) % self.cap;
    }

    /// A uniformly chosen entry, or `None` when empty.
    fn pick(&self, rng: &mut ChaCha8Rng) -> Option<&T> {
        let n = u32::try_from(self.items.len()).expect("ring capacity fits u32");
        (n > 0).then(|| &self.items[rng.gen_range(0..n) as usize])
    }
}

/// One conversation: its root and its latest messages.
#[derive(Debug)]
pub(crate) struct Thread {
    /// The root post.
    pub(crate) root: Id,
    /// The newest message of the thread (the branch a reply points at).
    pub(crate) tip: Id,
    /// The tip before `tip`, for the occasional reply that merges two branches.
    pub(crate) previous_tip: Option<Id>,
    /// Messages in the thread, root included.
    pub(crate) size: u32,
}

/// What a signed message changes in memory.
#[derive(Clone, Debug)]
pub(crate) enum Effect {
    /// Nothing to remember.
    None,
    /// A top-level post: it opens a thread.
    NewThread,
    /// A reply in the thread with this number.
    Reply(u64),
    /// A vote on this message.
    Vote(Id),
}

/// Bounded memory of earlier waves.
#[derive(Debug)]
pub(crate) struct Memory {
    threads: HashMap<u64, Thread>,
    next_thread: u64,
    attach: Ring<u64>,
    posts: Ring<Id>,
    votes: Ring<Id>,
}

impl Memory {
    pub(crate) fn new() -> Self {
        Self {
            threads: HashMap::new(),
            next_thread: 0,
            attach: Ring::new(ATTACH_CAP),
            posts: Ring::new(POSTS_CAP),
            votes: Ring::new(VOTES_CAP),
        }
    }

    /// A thread to reply to, chosen in proportion to its size; `None` if there is none open.
    ///
    /// The larger of two such picks wins: busy threads draw more replies than plain
    /// proportional attachment gives, which yields threads of hundreds of messages.
    pub(crate) fn pick_thread(&self, rng: &mut ChaCha8Rng) -> Option<(u64, &Thread)> {
        let first = self.attached_thread(rng)?;
        match self.attached_thread(rng) {
            Some(second) if second.1.size > first.1.size => Some(second),
            _ => Some(first),
        }
    }

    fn attached_thread(&self, rng: &mut ChaCha8Rng) -> Option<(u64, &Thread)> {
        let number = *self.attach.pick(rng)?;
        self.threads.get(&number).map(|t| (number, t))
    }

    /// A message to vote on: often one that already has votes, else a recent post.
    pub(crate) fn pick_vote_target(&self, rng: &mut ChaCha8Rng) -> Option<&Id> {
        if rng.gen_bool(0.6)
            && let Some(id) = self.votes.pick(rng)
        {
            return Some(id);
        }
        self.posts.pick(rng)
    }

    /// A recent post (for mentions of messages).
    pub(crate) fn pick_post(&self, rng: &mut ChaCha8Rng) -> Option<&Id> {
        self.posts.pick(rng)
    }

    /// Records a signed message with id `id` and its effect.
    pub(crate) fn remember(&mut self, id: &Id, effect: &Effect) {
        match effect {
            Effect::None => {}
            Effect::NewThread => self.open_thread(id),
            Effect::Reply(number) => self.extend_thread(*number, id),
            Effect::Vote(target) => self.votes.push(Arc::clone(target)),
        }
    }

    fn open_thread(&mut self, id: &Id) {
        let number = self.next_thread;
        self.next_thread += 1;
        if let Some(old) = number.checked_sub(THREAD_CAP) {
            self.threads.remove(&old);
        }
        let thread = Thread {
            root: Arc::clone(id),
            tip: Arc::clone(id),
            previous_tip: None,
            size: 1,
        };
        self.threads.insert(number, thread);
        self.attach.push(number);
        self.posts.push(Arc::clone(id));
    }

    fn extend_thread(&mut self, number: u64, id: &Id) {
        if let Some(t) = self.threads.get_mut(&number) {
            t.previous_tip = Some(std::mem::replace(&mut t.tip, Arc::clone(id)));
            t.size += 1;
            self.attach.push(number);
        }
        self.posts.push(Arc::clone(id));
    }

    /// Sizes of the open threads (for tests of the distribution).
    #[cfg(test)]
    pub(crate) fn thread_sizes(&self) -> Vec<u32> {
        self.threads.values().map(|t| t.size).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    fn id(n: u32) -> Id {
        Arc::from(format!("%{n}.sha256"))
    }

    #[test]
    fn ring_overwrites_oldest() {
        let mut r = Ring::new(2);
        for i in 0..5 {
            r.push(i);
        }
        assert_eq!(r.items, vec![4, 3]);
    }

    #[test]
    fn replies_move_the_tip() {
        let mut m = Memory::new();
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        m.remember(&id(1), &Effect::NewThread);
        let (number, t) = m.pick_thread(&mut rng).expect("thread");
        assert_eq!(&*t.root, "%1.sha256");
        m.remember(&id(2), &Effect::Reply(number));
        let (_, t) = m.pick_thread(&mut rng).expect("thread");
        assert_eq!(
            (&*t.tip, t.previous_tip.as_deref(), t.size),
            ("%2.sha256", Some("%1.sha256"), 2)
        );
    }

    #[test]
    fn preferential_attachment_grows_a_big_thread() {
        let mut m = Memory::new();
        let mut rng = ChaCha8Rng::seed_from_u64(2);
        for n in 0..20_000 {
            let effect = match m.pick_thread(&mut rng) {
                Some((number, _)) if rng.gen_bool(0.7) => Effect::Reply(number),
                _ => Effect::NewThread,
            };
            m.remember(&id(n), &effect);
        }
        let sizes = m.thread_sizes();
        let biggest = sizes.iter().max().copied().unwrap_or(0);
        assert!(biggest >= 100, "biggest thread {biggest}");
        let singles = sizes.iter().filter(|s| **s == 1).count();
        assert!(singles * 3 > sizes.len(), "most threads stay small");
    }

    #[test]
    fn votes_concentrate() {
        let mut m = Memory::new();
        let mut rng = ChaCha8Rng::seed_from_u64(3);
        for n in 0..100 {
            m.remember(&id(n), &Effect::NewThread);
        }
        let mut counts: HashMap<Id, u32> = HashMap::new();
        for _ in 0..5_000 {
            let target = Arc::clone(m.pick_vote_target(&mut rng).expect("target"));
            *counts.entry(Arc::clone(&target)).or_default() += 1;
            m.remember(&id(0), &Effect::Vote(target));
        }
        let top = counts.values().max().copied().unwrap_or(0);
        assert!(top > 150, "most-voted message has {top} votes");
    }
}
