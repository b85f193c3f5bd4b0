//! The backlinks view: which messages link to a feed, message or blob, and under which path.
//!
//! # What is a link
//! Every string value anywhere in a public content object that is, as a whole, a strict ref
//! (`@…ed25519`, `%…sha256`, `&…sha256`, parsed by [`sluice_msg::Ref`]'s `FromStr`). Refs
//! inside free text (`"text": "see %abc…"`) are not links, nor are object keys.
//!
//! # Paths
//! A link's path is the dot-joined chain of object keys from the content root to the string,
//! with array indices skipped: `{"vote": {"link": "%…"}}` → `vote.link`,
//! `{"mentions": [{"link": "&…"}]}` → `mentions.link`, `{"mentions": ["@…"]}` → `mentions`,
//! `{"root": "%…"}` → `root`, `{"branch": ["%…"]}` → `branch`, `{"contact": "@…"}` → `contact`.
//! A query's path filter matches by whole-segment prefix: `mentions` matches `mentions` and
//! `mentions.link` but not `mentionsX`; `vote.link` matches only `vote.link` (and deeper).
//! One message links a target at most once per path.
//!
//! # Answers
//! Log offsets of the linking messages, ascending (log order), each once.

use serde_json::Value;
use sluice_msg::{BlobId, FeedId, MsgId, Ref};

use crate::codec::FastMap;
use crate::scan::Facts;
use crate::tangles::wire::{Reader, Writer};
use crate::view::{Indexed, View, ViewDataError};

/// A ref as a hashable key: its kind (0 feed, 1 message, 2 blob) and its 32 bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
struct Target(u8, [u8; 32]);

impl Target {
    fn of(r: &Ref) -> Target {
        match r {
            Ref::Feed(f) => Target(0, f.0),
            Ref::Msg(m) => Target(1, m.0),
            Ref::Blob(b) => Target(2, b.0),
        }
    }

    fn to_ref(self) -> Ref {
        match self.0 {
            0 => Ref::Feed(FeedId(self.1)),
            1 => Ref::Msg(MsgId(self.1)),
            _ => Ref::Blob(BlobId(self.1)),
        }
    }
}

/// One link into a target: the interned path and the source message's log offset.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Link {
    path: u32,
    offset: u64,
}

/// The backlinks view.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Backlinks {
    paths: Vec<String>,
    path_index: FastMap<String, u32>,
    /// Target → links, in log order.
    links: FastMap<Target, Vec<Link>>,
}

/// Whether `path` lies under `filter` by whole dot-separated segments.
pub fn path_matches(path: &str, filter: &str) -> bool {
    match path.strip_prefix(filter) {
        Some(rest) => rest.is_empty() || rest.starts_with('.') || filter.is_empty(),
        None => false,
    }
}

/// Every (ref, path) link in a content object, each pair once, in document order.
pub fn links(content: &Value) -> Vec<(Ref, String)> {
    let mut out: Vec<(Ref, String)> = Vec::new();
    walk(content, &mut Vec::new(), &mut |r, path| {
        let path = path.join(".");
        if !out.iter().any(|(r2, p2)| *r2 == r && *p2 == path) {
            out.push((r, path));
        }
    });
    out
}

/// Parses a whole string as a ref, rejecting by length and sigil before decoding.
pub(crate) fn as_ref(s: &str) -> Option<Ref> {
    const FEED_LEN: usize = 53; // '@' + 44 base64 chars + ".ed25519"
    const HASH_LEN: usize = 52; // '%' or '&' + 44 base64 chars + ".sha256"
    let plausible = match s.as_bytes().first() {
        Some(b'@') => s.len() == FEED_LEN,
        Some(b'%' | b'&') => s.len() == HASH_LEN,
        _ => false,
    };
    if plausible { s.parse().ok() } else { None }
}

/// Calls `found` with each ref string and the object keys above it (array levels skipped).
fn walk<'v>(v: &'v Value, path: &mut Vec<&'v str>, found: &mut impl FnMut(Ref, &[&'v str])) {
    match v {
        Value::String(s) => {
            if let Some(r) = as_ref(s) {
                found(r, path);
            }
        }
        Value::Array(items) => items.iter().for_each(|x| walk(x, path, found)),
        Value::Object(map) => {
            for (k, x) in map {
                path.push(k);
                walk(x, path, found);
                path.pop();
            }
        }
        Value::Null | Value::Bool(_) | Value::Number(_) => {}
    }
}

impl Backlinks {
    /// An empty view.
    pub fn new() -> Self {
        Self::default()
    }

    fn intern(&mut self, path: &str) -> u32 {
        if let Some(&i) = self.path_index.get(path) {
            return i;
        }
        let i = self.paths.len() as u32;
        self.paths.push(path.to_owned());
        self.path_index.insert(path.to_owned(), i);
        i
    }

    /// Records that the message at `offset` links `target` under `path`.
    pub fn add_link(&mut self, target: &Ref, path: &str, offset: u64) {
        let path = self.intern(path);
        self.links
            .entry(Target::of(target))
            .or_default()
            .push(Link { path, offset });
    }

    /// Log offsets (ascending, each once) of the messages linking `target`, optionally only
    /// under `path` (whole-segment prefix, see the module docs).
    pub fn backlinks(&self, target: &Ref, path: Option<&str>) -> Vec<u64> {
        let Some(links) = self.links.get(&Target::of(target)) else {
            return Vec::new();
        };
        let keep = |l: &&Link| path.is_none_or(|p| path_matches(&self.paths[l.path as usize], p));
        let mut out: Vec<u64> = links.iter().filter(keep).map(|l| l.offset).collect();
        out.dedup();
        out
    }

    /// The (path, offset) links into `target`, in log order.
    pub fn links_to(&self, target: &Ref) -> Vec<(&str, u64)> {
        let links = self
            .links
            .get(&Target::of(target))
            .map(Vec::as_slice)
            .unwrap_or_default();
        links
            .iter()
            .map(|l| (self.paths[l.path as usize].as_str(), l.offset))
            .collect()
    }

    /// Every target with at least one link, sorted.
    pub fn targets(&self) -> Vec<Ref> {
        let mut t: Vec<Target> = self.links.keys().copied().collect();
        t.sort_unstable();
        t.into_iter().map(Target::to_ref).collect()
    }
}

impl View for Backlinks {
    fn name(&self) -> &'static str {
        "backlinks"
    }

    fn version(&self) -> u32 {
        1
    }

    fn apply(&mut self, msg: &Indexed<'_>) {
        let Some(content) = msg.content else { return };
        for (target, path) in links(content) {
            self.add_link(&target, &path, msg.offset);
        }
    }

    fn uses_facts(&self) -> bool {
        true
    }

    fn apply_facts(&mut self, msg: &Indexed<'_>, facts: Option<&Facts>) {
        for (target, path) in facts.into_iter().flat_map(Facts::links) {
            self.add_link(target, path, msg.offset);
        }
    }

    /// Layout: path count, paths; target count, then per target (sorted) its kind byte, 32
    /// bytes, link count and per link the path index and the offset delta from the previous
    /// link of that target (varints).
    fn encode(&self) -> Vec<u8> {
        let mut w = Writer::default();
        w.len(self.paths.len());
        self.paths.iter().for_each(|p| w.str(p));
        let mut targets: Vec<&Target> = self.links.keys().collect();
        targets.sort_unstable();
        w.len(targets.len());
        for t in targets {
            w.u8(t.0);
            w.id(&t.1);
            let links = &self.links[t];
            w.len(links.len());
            let mut last = 0;
            for l in links {
                w.var(u64::from(l.path));
                w.var(l.offset - last);
                last = l.offset;
            }
        }
        w.0
    }

    fn decode(&mut self, bytes: &[u8]) -> Result<(), ViewDataError> {
        let mut fresh = Backlinks::new();
        let mut r = Reader::new(bytes);
        for _ in 0..r.len(1)? {
            let p = r.str()?;
            if fresh.path_index.contains_key(&p) {
                return Err(ViewDataError("a path is listed twice".into()));
            }
            fresh.intern(&p);
        }
        for _ in 0..r.len(34)? {
            let (kind, bytes) = (r.u8()?, r.id()?);
            if kind > 2 {
                return Err(ViewDataError(format!("unknown ref kind {kind}")));
            }
            let links = decode_links(&mut r, fresh.paths.len())?;
            if fresh.links.insert(Target(kind, bytes), links).is_some() {
                return Err(ViewDataError("a target is listed twice".into()));
            }
        }
        r.finish()?;
        *self = fresh;
        Ok(())
    }

    fn clear(&mut self) {
        *self = Backlinks::new();
    }
}

fn decode_links(r: &mut Reader<'_>, paths: usize) -> Result<Vec<Link>, ViewDataError> {
    let n = r.len(2)?;
    let mut links = Vec::with_capacity(n);
    let mut last = 0u64;
    for _ in 0..n {
        let path = r.index(paths)?;
        let offset = last
            .checked_add(r.var()?)
            .ok_or_else(|| ViewDataError("offset overflows".into()))?;
        links.push(Link { path, offset });
        last = offset;
    }
    Ok(links)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn path_prefix_is_by_whole_segments() {
        assert!(path_matches("mentions", "mentions"));
        assert!(path_matches("mentions.link", "mentions"));
        assert!(!path_matches("mentionsX", "mentions"));
        assert!(!path_matches("mentions", "mentions.link"));
        assert!(path_matches("vote.link", ""));
    }

    #[test]
    fn links_walks_objects_and_arrays_not_text() {
        let f = FeedId([1; 32]).to_string();
        let m = MsgId([2; 32]).to_string();
        let b = BlobId([3; 32]).to_string();
        let content = json!({
            "type": "post", "text": format!("hi {f}"), "root": m, "branch": [m],
            "mentions": [{"link": b, "name": "x"}, f, {"link": b}], "x": {"y": [[m]]}, "n": 1
        });
        let got: Vec<(String, String)> = links(&content)
            .into_iter()
            .map(|(r, p)| (r.to_string(), p))
            .collect();
        let want = [
            (&m, "root"),
            (&m, "branch"),
            (&b, "mentions.link"),
            (&f, "mentions"),
            (&m, "x.y"),
        ];
        assert_eq!(got, want.map(|(r, p)| (r.clone(), p.to_owned())));
    }

    #[test]
    fn queries_filter_and_deduplicate() {
        let m = Ref::Msg(MsgId([2; 32]));
        let mut v = Backlinks::new();
        v.add_link(&m, "root", 10);
        v.add_link(&m, "branch", 10);
        v.add_link(&m, "vote.link", 20);
        assert_eq!(v.backlinks(&m, None), vec![10, 20]);
        assert_eq!(v.backlinks(&m, Some("vote")), vec![20]);
        assert_eq!(v.backlinks(&m, Some("branch")), vec![10]);
        assert!(v.backlinks(&Ref::Blob(BlobId([2; 32])), None).is_empty());
        let mut back = Backlinks::new();
        back.decode(&v.encode()).unwrap();
        assert_eq!(back, v);
        assert!(back.decode(&v.encode()[1..]).is_err());
    }
}
