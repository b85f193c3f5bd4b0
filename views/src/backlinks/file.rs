//! The backlinks view's file, read in place: the paths, then the targets as [`Keyed`] entries
//! (key: kind byte and 32 bytes; body: link count and links), so a query reads the one block
//! that holds its target. Layout in `views/FORMAT.md`.

use super::{Link, Target};
use crate::inplace::{Keyed, KeyedWriter};
use crate::tangles::wire::{Reader, Writer, strings};
use crate::view::ViewDataError;
use crate::viewfile::{Bulk, Payload};

/// Bytes of a target as a key.
const KEY: usize = 33;

/// The links of a loaded file.
#[derive(Debug, Default)]
pub(super) struct Stored {
    /// How many paths the file's links may index.
    paths: usize,
    keyed: Keyed,
}

/// One target's entry: the target, its link count and its links' bytes.
pub(super) struct Entry<'a> {
    pub(super) target: Target,
    pub(super) count: usize,
    pub(super) links: &'a [u8],
}

fn key(t: &Target) -> [u8; KEY] {
    let mut k = [0; KEY];
    k[0] = t.0;
    k[1..].copy_from_slice(&t.1);
    k
}

/// An entry from its key and body (count, then the links).
fn entry<'a>(k: &[u8], body: &'a [u8]) -> Result<Entry<'a>, ViewDataError> {
    let mut id = [0; 32];
    id.copy_from_slice(&k[1..]);
    if k[0] > 2 {
        return Err(ViewDataError(format!("unknown ref kind {}", k[0])));
    }
    let mut r = Reader::new(body);
    let count = r.len(2)?;
    let links = &body[body.len() - r.remaining()..];
    Ok(Entry {
        target: Target(k[0], id),
        count,
        links,
    })
}

/// Whether a body's links parse (the path bound is checked when they are read).
fn body_ok(body: &[u8]) -> bool {
    let mut r = Reader::new(body);
    let Ok(n) = r.len(2) else { return false };
    (0..n).all(|_| r.var().is_ok() && r.var().is_ok()) && r.finish().is_ok()
}

impl Stored {
    /// Reads the paths and the block directory of a payload.
    pub(super) fn load(payload: Payload) -> Result<(Self, Vec<String>), ViewDataError> {
        let (paths, at) = strings(payload.bytes())?;
        let (keyed, _) = Keyed::load("backlinks", payload, at, KEY, body_ok)?;
        let stored = Self {
            paths: paths.len(),
            keyed,
        };
        Ok((stored, paths))
    }

    /// Checks every block not checked yet.
    pub(super) fn verify(&self) -> Result<(), ViewDataError> {
        self.keyed.verify()
    }

    /// Marks every block checked (the file was just written from this process's state).
    pub(super) fn trust(&self) {
        self.keyed.trust();
    }

    /// Appends the file's links into `t` to `out`, in log order.
    pub(super) fn links_into(&self, t: &Target, out: &mut Vec<Link>) -> Result<(), ViewDataError> {
        let k = key(t);
        match self.keyed.find(&k)? {
            Some(body) => decode_links(&entry(&k, body)?, self.paths, out).map(drop),
            None => Ok(()),
        }
    }

    /// Every entry of the file, in target order (blocks as they are: check them first with
    /// [`Stored::verify`] where damage must not be carried forward).
    pub(super) fn entries(&self) -> impl Iterator<Item = Entry<'_>> + '_ {
        self.keyed
            .entries()
            .filter_map(|(k, body)| entry(k, body).ok())
    }
}

/// Walks an entry's links in order, calling `visit` with each; returns the last offset (0 when
/// none).
fn each_link(
    entry: &Entry<'_>,
    paths: usize,
    mut visit: impl FnMut(Link),
) -> Result<u64, ViewDataError> {
    let mut r = Reader::new(entry.links);
    let mut last = 0u64;
    for _ in 0..entry.count {
        let path = r.index(paths)?;
        last = last
            .checked_add(r.var()?)
            .ok_or_else(|| ViewDataError("offset overflows".into()))?;
        visit(Link { path, offset: last });
    }
    r.finish()?;
    Ok(last)
}

/// Appends an entry's links to `out`; returns the last offset (0 when none).
pub(super) fn decode_links(
    entry: &Entry<'_>,
    paths: usize,
    out: &mut Vec<Link>,
) -> Result<u64, ViewDataError> {
    out.reserve(entry.count);
    each_link(entry, paths, |link| out.push(link))
}

/// An entry's last offset (0 when it has no link), which the links added after it are
/// delta-coded from: the links are walked, not kept.
pub(super) fn last_offset(entry: &Entry<'_>, paths: usize) -> Result<u64, ViewDataError> {
    each_link(entry, paths, drop)
}

/// Writes a payload: paths, then the targets in order (their blocks to a [`Bulk`]).
pub(super) struct FileWriter<'b> {
    keyed: KeyedWriter<'b>,
    body: Vec<u8>,
}

impl<'b> FileWriter<'b> {
    /// A writer for a file whose links index `paths`, its blocks going to `bulk`.
    pub(super) fn new(paths: &[String], bulk: &'b mut Bulk) -> Self {
        let mut w = Writer::with_capacity(64);
        w.len(paths.len());
        paths.iter().for_each(|p| w.str(p));
        Self {
            keyed: KeyedWriter::new(w.0, bulk),
            body: Vec::new(),
        }
    }

    /// Adds a target (in increasing order) with `count` links encoded in `links`.
    pub(super) fn push(&mut self, target: Target, count: usize, links: &[u8]) {
        let mut w = Writer(std::mem::take(&mut self.body));
        w.0.clear();
        w.len(count);
        w.0.extend_from_slice(links);
        self.keyed.push(&key(&target), &w.0);
        self.body = w.0;
    }

    /// The payload's head (paths and block directory).
    pub(super) fn finish(self) -> Vec<u8> {
        self.keyed.finish()
    }
}

/// Encodes links as (path, offset delta) varints continuing from `last`; returns the new last.
pub(super) fn encode_links(links: &[Link], mut last: u64, out: &mut Vec<u8>) -> u64 {
    let mut w = Writer(std::mem::take(out));
    for l in links {
        w.var(u64::from(l.path));
        w.var(l.offset - last);
        last = l.offset;
    }
    *out = w.0;
    last
}
