//! Content facts for the graph views, read once per record straight from the stored value JSON.
//!
//! Rebuilds and catch-ups used to parse every record's value into a `serde_json::Value` and let
//! each graph view walk it. [`Facts::scan`] instead walks the compact value bytes once, without
//! building a tree, and extracts what contacts, tangles and backlinks need: every `(ref, path)`
//! link, the contact edge and the tangle claims. The meaning is defined by the `Value` functions
//! ([`crate::backlinks::links`], [`crate::tangles::claims`], the contacts edge);
//! [`Facts::from_content`] applies those, and tests check that both agree on every fixture
//! record. Anything unusual for a stored record (escaped keys, duplicate keys, a ref-like string
//! with escapes, malformed JSON) makes the scanner give up, and the caller falls back to a full
//! parse ([`Facts::of_value_json`] does both).

use serde_json::Value;
use sluice_msg::{BlobId, FeedId, MsgId, Ref};

use crate::contacts::{self, Relation};
use crate::tangles::{self, Claim, ClaimRef};

/// What the graph views read from one public content object.
///
/// Built once per record in rebuilds, so it avoids allocating for the usual record: up to
/// two links are held inline, and the usual paths (`vote.link`, `root`, `mentions`, …) by number.
#[derive(Debug, Clone)]
pub struct Facts {
    /// The first links, each pair once, document order; `inline[..inline_len]` are used.
    inline: [Link; INLINE_LINKS],
    inline_len: u8,
    /// The links after the inline ones.
    spill: Vec<Link>,
    /// The paths of links not in [`COMMON_PATHS`], concatenated.
    paths: String,
    /// The edge a `type: contact` message sets.
    pub contact: Option<(FeedId, Relation)>,
    /// The thread claim (root, ancestor) when it has at most one ancestor, as nearly every
    /// reply has: held inline. It comes before the claims in `claims`.
    thread: Option<(MsgId, Option<MsgId>)>,
    /// The other valid tangle claims (SIP-009 tangles, a thread with several ancestors).
    claims: Vec<Claim>,
}

/// Links a [`Facts`] holds without allocating (most records have one or two).
const INLINE_LINKS: usize = 2;

/// Link paths common enough to be named by their index here instead of stored per record.
pub(crate) const COMMON_PATHS: [&str; 10] = [
    "vote.link",
    "mentions.link",
    "root",
    "branch",
    "contact",
    "fork",
    "about",
    "mentions",
    "image",
    "image.link",
];

/// The index of `path` in [`COMMON_PATHS`] (one `match`, which the compiler turns into a
/// switch on the length and a few comparisons, instead of up to ten string comparisons).
fn common_index(path: &str) -> Option<u8> {
    Some(match path {
        "vote.link" => 0,
        "mentions.link" => 1,
        "root" => 2,
        "branch" => 3,
        "contact" => 4,
        "fork" => 5,
        "about" => 6,
        "mentions" => 7,
        "image" => 8,
        "image.link" => 9,
        _ => return None,
    })
}

/// One link: the ref and its path.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Link {
    target: Ref,
    path: Path,
}

/// Where a link's path text is.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Path {
    /// `COMMON_PATHS[i]`.
    Common(u8),
    /// `paths[start..end]`.
    Text(u32, u32),
}

/// Fills unused inline slots.
const NO_LINK: Link = Link {
    target: Ref::Feed(FeedId([0; 32])),
    path: Path::Common(0),
};

impl Default for Facts {
    fn default() -> Self {
        Facts {
            inline: [NO_LINK; INLINE_LINKS],
            inline_len: 0,
            spill: Vec::new(),
            paths: String::new(),
            contact: None,
            thread: None,
            claims: Vec::new(),
        }
    }
}

/// Equal when they hold the same links (in order), contact edge and claims.
impl PartialEq for Facts {
    fn eq(&self, other: &Self) -> bool {
        self.links().eq(other.links())
            && self.contact == other.contact
            && self.claim_refs().eq(other.claim_refs())
    }
}

impl Facts {
    /// The facts of a parsed content object (the reference semantics).
    pub fn from_content(content: &Value) -> Facts {
        let mut facts = Facts {
            contact: contacts::contact_edge(content),
            ..Facts::default()
        };
        tangles::claims(content)
            .into_iter()
            .for_each(|c| facts.push_claim(c));
        for (r, path) in crate::backlinks::links(content) {
            facts.push_link(r, &path);
        }
        facts
    }

    /// The facts of a stored message value (`{"previous":…,"content":…}`): `Ok(None)` when
    /// the content is not an object (encrypted), `Err` when the JSON does not parse.
    pub fn of_value_json(json: &[u8]) -> Result<Option<Facts>, serde_json::Error> {
        match Facts::scan(json) {
            Some(scanned) => Ok(scanned),
            None => Facts::parse(json),
        }
    }

    /// The slow path of [`Facts::of_value_json`]: parses the content in full.
    fn parse(json: &[u8]) -> Result<Option<Facts>, serde_json::Error> {
        #[derive(serde::Deserialize)]
        struct ContentOnly {
            content: Value,
        }
        let parsed: ContentOnly = serde_json::from_slice(json)?;
        Ok(parsed
            .content
            .is_object()
            .then(|| Facts::from_content(&parsed.content)))
    }

    /// The fast path: `None` when the scanner gives up (see the module docs), else the facts
    /// (`Some(None)` when the content is not an object).
    pub fn scan(json: &[u8]) -> Option<Option<Facts>> {
        let mut slot = None;
        Facts::scan_into(json, &mut slot)?;
        Some(slot)
    }

    /// [`Facts::scan`] writing the facts straight into `slot` (a `Facts` is a few hundred
    /// bytes: rebuilds fill a chunk's slots in place instead of moving each one there).
    /// `None` when the scanner gives up; `slot` is then `None` too.
    pub(crate) fn scan_into(json: &[u8], slot: &mut Option<Facts>) -> Option<()> {
        let facts = slot.insert(Facts::default());
        let scanned = Facts::scan_content(json, facts);
        if scanned != Some(true) {
            *slot = None;
        }
        scanned.map(|_| ())
    }

    /// Scans the content of `json` into the empty `facts`: `Some(true)` when it is an object,
    /// `Some(false)` when it is not, `None` when the scanner gives up.
    fn scan_content(json: &[u8], facts: &mut Facts) -> Option<bool> {
        let mut c = Scanner { b: json, at: 0 };
        c.seek_content()?;
        c.ws()?;
        if c.peek()? != b'{' {
            return Some(false);
        }
        let mut walk = Walk::new(facts);
        c.object(&mut PathStack::default(), &mut walk, true)?;
        walk.finish().map(|()| true)
    }

    /// [`Facts::of_value_json`] into `slot` (see [`Facts::scan_into`]).
    pub(crate) fn of_value_json_into(
        json: &[u8],
        slot: &mut Option<Facts>,
    ) -> Result<(), serde_json::Error> {
        if Facts::scan_into(json, slot).is_none() {
            *slot = Facts::parse(json)?;
        }
        Ok(())
    }

    /// The valid tangle claims (threads and SIP-009 tangles), in document order.
    pub fn claims(&self) -> Vec<Claim> {
        self.claim_refs().map(ClaimRef::to_claim).collect()
    }

    /// [`Facts::claims`] without copying.
    pub(crate) fn claim_refs(&self) -> impl Iterator<Item = ClaimRef<'_>> + '_ {
        let thread = self.thread.iter().map(|(root, previous)| ClaimRef {
            root,
            name: None,
            previous: previous.as_slice(),
        });
        thread.chain(self.claims.iter().map(Claim::as_ref))
    }

    /// Adds a claim after those already there (inline when it is the first and a thread
    /// claim with at most one ancestor).
    fn push_claim(&mut self, claim: Claim) {
        let inline = self.thread.is_none()
            && self.claims.is_empty()
            && claim.name.is_none()
            && claim.previous.len() <= 1;
        if inline {
            self.thread = Some((claim.root, claim.previous.first().copied()));
        } else {
            self.claims.push(claim);
        }
    }

    /// Adds the thread claim of `root` (the first claim of a content).
    fn push_thread(&mut self, root: MsgId, previous: Ancestors) {
        match previous {
            Ancestors::Few(previous) => self.thread = Some((root, previous)),
            Ancestors::Many(previous) => self.push_claim(Claim {
                root,
                name: None,
                previous,
            }),
        }
    }

    fn push_link(&mut self, r: Ref, path: &str) {
        let path = self.path_of(path);
        self.push(Link { target: r, path });
    }

    /// The [`Path`] for `text`, storing it when it is not a common one.
    fn path_of(&mut self, text: &str) -> Path {
        match common_index(text) {
            Some(i) => Path::Common(i),
            None => {
                let start = self.paths.len() as u32;
                self.paths.push_str(text);
                Path::Text(start, self.paths.len() as u32)
            }
        }
    }

    fn push(&mut self, link: Link) {
        match self.inline.get_mut(usize::from(self.inline_len)) {
            Some(slot) => {
                *slot = link;
                self.inline_len += 1;
            }
            None => self.spill.push(link),
        }
    }

    fn text(&self, path: Path) -> &str {
        match path {
            Path::Common(i) => COMMON_PATHS[usize::from(i)],
            Path::Text(s, e) => &self.paths[s as usize..e as usize],
        }
    }

    fn all_links(&self) -> impl Iterator<Item = &Link> + '_ {
        self.inline[..usize::from(self.inline_len)]
            .iter()
            .chain(&self.spill)
    }

    /// [`Facts::links`] with, for a path in [`COMMON_PATHS`], its index there (so that a view
    /// can remember what it made of that path instead of looking it up each time).
    pub(crate) fn links_with_common(
        &self,
    ) -> impl Iterator<Item = (&Ref, Option<usize>, &str)> + '_ {
        self.all_links().map(|l| {
            let common = match l.path {
                Path::Common(i) => Some(usize::from(i)),
                Path::Text(..) => None,
            };
            (&l.target, common, self.text(l.path))
        })
    }

    /// The `(ref, path)` links, each pair once, in document order.
    pub fn links(&self) -> impl Iterator<Item = (&Ref, &str)> + '_ {
        self.all_links().map(|l| (&l.target, self.text(l.path)))
    }
}

/// Top-level content keys that contacts and tangles read; their value spans are kept.
const TOP_KEYS: [&[u8]; 8] = [
    b"type",
    b"contact",
    b"following",
    b"blocking",
    b"flagged",
    b"root",
    b"branch",
    b"tangles",
];

/// Positions in [`TOP_KEYS`].
const TYPE: usize = 0;
const CONTACT: usize = 1;
const FOLLOWING: usize = 2;
const BLOCKING: usize = 3;
const FLAGGED: usize = 4;
const ROOT: usize = 5;
const BRANCH: usize = 6;
const TANGLES: usize = 7;

/// What the walk of one content object collected.
struct Walk<'a, 'f> {
    facts: &'f mut Facts,
    /// Value bytes of the top-level keys in [`TOP_KEYS`]; `None` for a key not seen.
    top: [Option<&'a [u8]>; TOP_KEYS.len()],
    /// Whether a top-level key of [`TOP_KEYS`] occurred twice.
    duplicate: bool,
}

impl<'a, 'f> Walk<'a, 'f> {
    fn new(facts: &'f mut Facts) -> Self {
        Walk {
            facts,
            top: [None; TOP_KEYS.len()],
            duplicate: false,
        }
    }

    /// Records a link (dropped when the same (ref, path) pair is already there). The path is
    /// joined on the stack and kept only when it is not a common one. `None` when a key is
    /// not UTF-8.
    fn link(&mut self, r: Ref, keys: &[&[u8]]) -> Option<()> {
        let mut joined = PathText::default();
        for (i, seg) in keys.iter().enumerate() {
            if i > 0 {
                joined.push(b".");
            }
            joined.push(seg);
        }
        let text = std::str::from_utf8(joined.bytes()).ok()?;
        let facts = &mut self.facts;
        // A common path is compared by its number; only other paths by their text.
        let common = common_index(text);
        let same_path = |l: &Link| match (common, l.path) {
            (Some(i), Path::Common(j)) => i == j,
            (None, Path::Text(..)) => facts.text(l.path) == text,
            _ => false,
        };
        if facts.all_links().any(|l| same_path(l) && l.target == r) {
            return Some(());
        }
        let path = facts.path_of(text);
        facts.push(Link { target: r, path });
        Some(())
    }

    /// Notes the value of a top-level key when it is one of [`TOP_KEYS`].
    fn top_key(&mut self, key: &[u8], value: &'a [u8]) {
        if let Some(i) = TOP_KEYS.iter().position(|k| *k == key) {
            self.duplicate |= self.top[i].is_some();
            self.top[i] = Some(value);
        }
    }

    /// Reads the contact edge and the tangle claims from the kept top-level values, with the
    /// meaning of [`contacts::contact_edge`] and [`tangles::claims`]; `None` (give up) on
    /// anything those must decide (escapes, duplicate keys).
    fn finish(self) -> Option<()> {
        if self.duplicate {
            return None; // leave duplicate keys to the full parser
        }
        let top = self.top.map(|v| v.map(Json::of));
        self.facts.contact = contact(&top)?;
        claims(&top, self.facts)
    }
}

/// A top-level value as the contacts and tangles rules see it.
#[derive(Clone, Copy)]
enum Json<'a> {
    /// A string without escapes (its bytes between the quotes).
    Str(&'a [u8]),
    /// A string with escapes: the scanner leaves it to the full parser.
    Escaped,
    /// Any other value, as written.
    Other(&'a [u8]),
}

impl<'a> Json<'a> {
    fn of(value: &'a [u8]) -> Json<'a> {
        match value {
            [b'"', inner @ .., b'"'] if !inner.contains(&b'\\') => Json::Str(inner),
            [b'"', ..] => Json::Escaped,
            other => Json::Other(other),
        }
    }

    /// The string, `Ok(None)` for another kind of value, `Err` for an escaped string.
    fn str(self) -> Result<Option<&'a [u8]>, ()> {
        match self {
            Json::Str(s) => Ok(Some(s)),
            Json::Escaped => Err(()),
            Json::Other(_) => Ok(None),
        }
    }

    /// JavaScript truthiness (numbers go through the full parser).
    fn truthy(self) -> Option<bool> {
        match self {
            Json::Str(s) => Some(!s.is_empty()),
            Json::Escaped => Some(true), // an escape makes the string non-empty
            Json::Other(b"true" | [b'{' | b'[', ..]) => Some(true),
            Json::Other(b"false" | b"null") => Some(false),
            Json::Other(number) => {
                let v: Value = serde_json::from_slice(number).ok()?;
                Some(contacts::js_truthy(&v))
            }
        }
    }
}

type Top<'a> = [Option<Json<'a>>; TOP_KEYS.len()];

/// The edge of a `type: contact` content ([`contacts::contact_edge`]); `None` = give up.
fn contact(top: &Top<'_>) -> Option<Option<(FeedId, Relation)>> {
    let is_contact = match top[TYPE] {
        Some(t) => t.str().ok()? == Some(b"contact".as_slice()),
        None => false,
    };
    if !is_contact {
        return Some(None);
    }
    let dest = match top[CONTACT] {
        Some(c) => c.str().ok()?.and_then(parse_feed),
        None => None,
    };
    let Some(dest) = dest else { return Some(None) };
    let truthy = |i: usize| top[i].map_or(Some(false), Json::truthy);
    let relation = if truthy(BLOCKING)? || truthy(FLAGGED)? {
        Relation::Block
    } else if matches!(top[FOLLOWING], Some(Json::Other(b"true"))) {
        Relation::Follow
    } else {
        Relation::Unfollow
    };
    Some(Some((dest, relation)))
}

/// Adds the tangle claims ([`tangles::claims`]) to `facts`: the thread claim from
/// `root`/`branch`, then the named tangles (parsed in full: rare); `None` = give up.
fn claims(top: &Top<'_>, facts: &mut Facts) -> Option<()> {
    if let Some(root) = top[ROOT]
        && let Some((root, previous)) = thread_claim(root, top[BRANCH])?
    {
        facts.push_thread(root, previous);
    }
    if let Some(Json::Other(bytes)) = top[TANGLES] {
        let value: Value = serde_json::from_slice(bytes).ok()?;
        tangles::named_claims_in(&value).for_each(|c| facts.push_claim(c));
    }
    Some(())
}

/// A claim's ancestors as the scanner reads them: the usual none or one without allocating.
enum Ancestors {
    Few(Option<MsgId>),
    Many(Vec<MsgId>),
}

/// A thread claim (root, ancestors) from the `root` and `branch` values; `Some(None)` when it
/// is not valid.
fn thread_claim(root: Json<'_>, branch: Option<Json<'_>>) -> Option<Option<(MsgId, Ancestors)>> {
    let Some(root) = root.str().ok()?.and_then(parse_msg) else {
        return Some(None);
    };
    let previous = match branch {
        None | Some(Json::Other(b"null")) => Some(Ancestors::Few(None)),
        Some(b) => id_list(b)?,
    };
    Some(previous.map(|previous| (root, previous)))
}

/// A `%msg` id or an array of them, deduplicated; `Some(None)` when any item is not one.
fn id_list(v: Json<'_>) -> Option<Option<Ancestors>> {
    let items = match v {
        Json::Str(s) => return Some(parse_msg(s).map(|id| Ancestors::Few(Some(id)))),
        Json::Escaped => return None,
        Json::Other(b) if b.first() == Some(&b'[') => b,
        Json::Other(_) => return Some(None),
    };
    let mut out: Vec<MsgId> = Vec::new();
    let mut c = Scanner { b: items, at: 0 };
    let mut valid = true;
    c.items(|c| {
        c.ws()?;
        let start = c.at;
        c.skip()?;
        match Json::of(&c.b[start..c.at]).str().ok()? {
            Some(s) => match parse_msg(s) {
                Some(id) if !out.contains(&id) => out.push(id),
                Some(_) => {}
                None => valid = false,
            },
            None => valid = false,
        }
        Some(())
    })?;
    let few = out.len() <= 1;
    let ancestors = if few {
        Ancestors::Few(out.pop())
    } else {
        Ancestors::Many(out)
    };
    Some(valid.then_some(ancestors))
}

/// A link path being joined: on the stack up to [`PathText::STACK`] bytes, else on the heap.
#[derive(Default)]
struct PathText {
    stack: [u8; PathText::STACK],
    len: usize,
    heap: Vec<u8>,
}

impl PathText {
    const STACK: usize = 32;

    fn push(&mut self, bytes: &[u8]) {
        let end = self.len + bytes.len();
        match self.stack.get_mut(self.len..end) {
            Some(room) if self.heap.is_empty() => {
                room.copy_from_slice(bytes);
                self.len = end;
            }
            _ => {
                if self.heap.is_empty() {
                    self.heap.extend_from_slice(&self.stack[..self.len]);
                }
                self.heap.extend_from_slice(bytes);
            }
        }
    }

    fn bytes(&self) -> &[u8] {
        if self.heap.is_empty() {
            &self.stack[..self.len]
        } else {
            &self.heap
        }
    }
}

/// The object keys above the value being scanned, on the stack (no allocation per record).
#[derive(Default)]
struct PathStack<'a> {
    keys: [&'a [u8]; MAX_DEPTH],
    len: usize,
}

/// Object nesting the scanner follows; deeper content is left to the full parser.
const MAX_DEPTH: usize = 16;

impl<'a> PathStack<'a> {
    /// Adds a key; `None` (give up) past [`MAX_DEPTH`].
    fn push(&mut self, key: &'a [u8]) -> Option<()> {
        *self.keys.get_mut(self.len)? = key;
        self.len += 1;
        Some(())
    }

    fn pop(&mut self) {
        self.len -= 1;
    }

    fn keys(&self) -> &[&'a [u8]] {
        &self.keys[..self.len]
    }
}

/// A cursor over JSON bytes. Every method returns `None` to give up.
struct Scanner<'a> {
    b: &'a [u8],
    at: usize,
}

impl<'a> Scanner<'a> {
    fn peek(&self) -> Option<u8> {
        self.b.get(self.at).copied()
    }

    /// Skips whitespace; `None` at the end of input.
    fn ws(&mut self) -> Option<()> {
        while let Some(c) = self.peek() {
            if !matches!(c, b' ' | b'\n' | b'\r' | b'\t') {
                return Some(());
            }
            self.at += 1;
        }
        None
    }

    fn eat(&mut self, c: u8) -> Option<()> {
        self.ws()?;
        (self.peek()? == c).then(|| self.at += 1)
    }

    /// Reads a string; returns its raw bytes (between the quotes) and whether it has escapes.
    fn string(&mut self) -> Option<(&'a [u8], bool)> {
        self.eat(b'"')?;
        let start = self.at;
        let mut escaped = false;
        loop {
            self.at += quote_or_backslash(self.b.get(self.at..)?)?;
            if self.b[self.at] == b'"' {
                break;
            }
            escaped = true;
            self.at += 2;
        }
        let raw = self.b.get(start..self.at)?;
        self.at += 1;
        Some((raw, escaped))
    }

    /// Skips a number or a literal (`true`, `false`, `null`).
    fn scalar(&mut self) -> Option<()> {
        let start = self.at;
        while let Some(c) = self.peek() {
            if !(c.is_ascii_alphanumeric() || matches!(c, b'+' | b'-' | b'.')) {
                break;
            }
            self.at += 1;
        }
        (self.at > start).then_some(())
    }

    /// Moves the cursor to the value of the top-level `content` key: quickly when the value
    /// has the layout the store writes, else through [`Scanner::seek_top_key`].
    fn seek_content(&mut self) -> Option<()> {
        let start = self.at;
        if self.stored_layout().is_none() {
            self.at = start;
            return self.seek_top_key(b"content");
        }
        Some(())
    }

    /// Reads the keys the store writes before `content` (`previous`, `author`, `sequence`,
    /// `timestamp`, `hash`; compact, in any order) by their literal bytes, and their values by
    /// their fixed forms (a ref of known length, `null`, a number, `"sha256"`), so no string
    /// is searched for its end. `None` at anything else.
    fn stored_layout(&mut self) -> Option<()> {
        self.literal(b"{")?;
        loop {
            if self.literal(b"\"content\":").is_some() {
                return Some(());
            }
            if self.literal(b"\"previous\":").is_some() {
                if self.literal(b"null").is_none() {
                    self.plain_string(HASH_LEN)?;
                }
            } else if self.literal(b"\"author\":").is_some() {
                self.plain_string(FEED_LEN)?;
            } else if self.literal(b"\"sequence\":").is_some()
                || self.literal(b"\"timestamp\":").is_some()
            {
                self.scalar()?;
            } else {
                self.literal(b"\"hash\":\"sha256\"")?;
            }
            self.literal(b",")?;
        }
    }

    /// Steps over `lit` when the input continues with it.
    fn literal(&mut self, lit: &[u8]) -> Option<()> {
        let rest = self.b.get(self.at..)?;
        rest.starts_with(lit).then(|| self.at += lit.len())
    }

    /// Steps over a string of exactly `len` bytes with no quote or backslash inside.
    fn plain_string(&mut self, len: usize) -> Option<()> {
        let s = self.b.get(self.at..self.at + len + 2)?;
        let (open, inner, close) = (s[0], &s[1..=len], s[len + 1]);
        let special = inner
            .iter()
            .fold(false, |any, &c| any | (c == b'"') | (c == b'\\'));
        (open == b'"' && close == b'"' && !special).then(|| self.at += len + 2)
    }

    /// Moves the cursor to the value of the first top-level key `want` of the object at the
    /// cursor (stored values put `content` before `signature`, and hold each key once).
    fn seek_top_key(&mut self, want: &[u8]) -> Option<()> {
        self.eat(b'{')?;
        loop {
            let (key, escaped) = self.string()?;
            self.eat(b':')?;
            if escaped {
                return None;
            }
            if key == want {
                return Some(());
            }
            self.skip()?;
            self.eat(b',')?;
        }
    }

    /// Skips one value of any kind.
    fn skip(&mut self) -> Option<()> {
        self.ws()?;
        match self.peek()? {
            b'"' => self.string().map(|_| ()),
            b'{' | b'[' => self.skip_nested(),
            _ => self.scalar(),
        }
    }

    fn skip_nested(&mut self) -> Option<()> {
        let mut depth = 0usize;
        loop {
            match self.peek()? {
                b'"' => {
                    self.string()?;
                    continue;
                }
                b'{' | b'[' => depth += 1,
                b'}' | b']' => depth = depth.checked_sub(1)?,
                _ => {}
            }
            self.at += 1;
            if depth == 0 {
                return Some(());
            }
        }
    }

    /// Walks any value under `path`, reporting ref strings.
    fn value(&mut self, path: &mut PathStack<'a>, walk: &mut Walk<'a, '_>) -> Option<()> {
        self.ws()?;
        match self.peek()? {
            b'"' => self.ref_string(path, walk),
            b'{' => self.object(path, walk, false),
            b'[' => self.items(|c| c.value(path, walk)),
            _ => self.scalar(),
        }
    }

    /// Reads a string and reports it when it is a ref. Only a string that starts with a
    /// sigil (or an escape) can be one, and only one of a ref's exact length is decoded.
    fn ref_string(&mut self, path: &PathStack<'a>, walk: &mut Walk<'a, '_>) -> Option<()> {
        let (raw, escaped) = self.string()?;
        let found = match raw.first() {
            Some(b'@' | b'%' | b'&') if !escaped => parse_ref(raw),
            Some(b'@' | b'%' | b'&' | b'\\') if escaped => {
                // Rare: unescape the quoted string the way the full parser would.
                let quoted = self.b.get(self.at - raw.len() - 2..self.at)?;
                let text: String = serde_json::from_slice(quoted).ok()?;
                crate::backlinks::as_ref(&text)
            }
            _ => None,
        };
        match found {
            Some(r) => walk.link(r, path.keys()),
            None => Some(()),
        }
    }

    /// Calls `item` at each element of the array at the cursor.
    fn items(&mut self, mut item: impl FnMut(&mut Self) -> Option<()>) -> Option<()> {
        self.eat(b'[')?;
        self.ws()?;
        if self.peek()? == b']' {
            self.at += 1;
            return Some(());
        }
        loop {
            item(self)?;
            self.ws()?;
            match self.peek()? {
                b',' => self.at += 1,
                b']' => {
                    self.at += 1;
                    return Some(());
                }
                _ => return None,
            }
        }
    }

    fn object(
        &mut self,
        path: &mut PathStack<'a>,
        walk: &mut Walk<'a, '_>,
        top: bool,
    ) -> Option<()> {
        self.eat(b'{')?;
        self.ws()?;
        if self.peek()? == b'}' {
            self.at += 1;
            return Some(());
        }
        loop {
            let (key, escaped) = self.string()?;
            if escaped {
                return None;
            }
            self.eat(b':')?;
            self.ws()?;
            let start = self.at;
            path.push(key)?;
            self.value(path, walk)?;
            path.pop();
            if top {
                walk.top_key(key, &self.b[start..self.at]);
            }
            self.ws()?;
            match self.peek()? {
                b',' => self.at += 1,
                b'}' => {
                    self.at += 1;
                    return Some(());
                }
                _ => return None,
            }
            self.ws()?;
        }
    }
}

/// Position of the first `"` or `\\` in `b`, eight bytes at a time.
fn quote_or_backslash(b: &[u8]) -> Option<usize> {
    const LO: u64 = 0x0101_0101_0101_0101;
    const HI: u64 = 0x8080_8080_8080_8080;
    let has = |w: u64, c: u8| {
        let x = w ^ (LO * u64::from(c));
        x.wrapping_sub(LO) & !x & HI
    };
    let mut i = 0;
    while let Some(chunk) = b.get(i..i + 8) {
        let w = u64::from_le_bytes(chunk.try_into().ok()?);
        let hit = has(w, b'"') | has(w, b'\\');
        if hit != 0 {
            return Some(i + (hit.trailing_zeros() / 8) as usize);
        }
        i += 8;
    }
    b[i..]
        .iter()
        .position(|&c| c == b'"' || c == b'\\')
        .map(|p| i + p)
}

/// Length of a feed ref: `@`, 44 base64 characters, `.ed25519`.
const FEED_LEN: usize = 53;
/// Length of a message or blob ref: `%` or `&`, 44 base64 characters, `.sha256`.
const HASH_LEN: usize = 52;
/// Base64 characters of 32 bytes (with one `=` of padding).
const B64_LEN: usize = 44;

/// Parses a whole (unescaped) string as a strict ref, as [`Ref`]'s `FromStr` does, without
/// allocating: length, sigil and suffix first, then canonical base64 of 32 bytes.
fn parse_ref(raw: &[u8]) -> Option<Ref> {
    let (&sigil, rest) = raw.split_first()?;
    let (b64, suffix) = rest.split_at_checked(B64_LEN)?;
    let key = match (sigil, raw.len(), suffix) {
        (b'@', FEED_LEN, b".ed25519") => return decode_b64_32(b64).map(|k| Ref::Feed(FeedId(k))),
        (b'%' | b'&', HASH_LEN, b".sha256") => decode_b64_32(b64)?,
        _ => return None,
    };
    Some(if sigil == b'%' {
        Ref::Msg(MsgId(key))
    } else {
        Ref::Blob(BlobId(key))
    })
}

fn parse_feed(raw: &[u8]) -> Option<FeedId> {
    match parse_ref(raw)? {
        Ref::Feed(f) => Some(f),
        _ => None,
    }
}

fn parse_msg(raw: &[u8]) -> Option<MsgId> {
    match parse_ref(raw)? {
        Ref::Msg(m) => Some(m),
        _ => None,
    }
}

/// Standard base64 alphabet values; `0xff` for every other byte.
const B64_VALUES: [u8; 256] = {
    let alphabet = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut table = [0xff; 256];
    let mut i = 0;
    while i < alphabet.len() {
        table[alphabet[i] as usize] = i as u8;
        i += 1;
    }
    table
};

/// Decodes canonical padded base64 of exactly 32 bytes (43 symbols and `=`, the last
/// symbol's two unused bits zero); `None` for anything else. Invalid symbols are collected
/// in one mask and checked once at the end.
fn decode_b64_32(b64: &[u8]) -> Option<[u8; 32]> {
    let (symbols, pad) = b64.split_at_checked(B64_LEN - 1)?;
    if pad != b"=" {
        return None;
    }
    let (groups, tail) = symbols.split_at(40);
    let value = |c: u8| u32::from(B64_VALUES[usize::from(c)]);
    let mut invalid = 0u32;
    let mut out = [0u8; 32];
    // Eight symbols (48 bits) make six bytes: five rounds, one six-byte store each.
    for (g, o) in groups.chunks_exact(8).zip(out.chunks_exact_mut(6)) {
        let v: [u32; 8] = std::array::from_fn(|i| value(g[i]));
        invalid |= v.iter().fold(0, |a, &x| a | x);
        // Two independent 24-bit halves, so the lookups and shifts overlap.
        let hi = (v[0] << 18) | (v[1] << 12) | (v[2] << 6) | v[3];
        let lo = (v[4] << 18) | (v[5] << 12) | (v[6] << 6) | v[7];
        let bits = (u64::from(hi) << 24) | u64::from(lo);
        o.copy_from_slice(&bits.to_be_bytes()[2..]);
    }
    // 3 symbols left: 18 bits = the last 2 bytes and 2 bits that must be zero.
    let v = [value(tail[0]), value(tail[1]), value(tail[2])];
    invalid |= v[0] | v[1] | v[2];
    let bits = (v[0] << 12) | (v[1] << 6) | v[2];
    if invalid > 63 || bits & 0b11 != 0 {
        return None;
    }
    out[30..].copy_from_slice(&((bits >> 2) as u16).to_be_bytes());
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use sluice_msg::{BlobId, MsgId};

    fn value_with(content: &Value) -> Vec<u8> {
        let v = json!({"previous": null, "author": "@x", "sequence": 1, "content": content,
            "signature": "s"});
        serde_json::to_vec(&v).unwrap()
    }

    fn check(content: Value) {
        let json = value_with(&content);
        let want = content.is_object().then(|| Facts::from_content(&content));
        assert_eq!(
            Facts::of_value_json(&json).unwrap(),
            want,
            "content {content}"
        );
        if let Some(fast) = Facts::scan(&json) {
            assert_eq!(fast, Facts::of_value_json(&json).unwrap());
        }
    }

    #[test]
    fn common_index_numbers_the_common_paths() {
        for (i, path) in COMMON_PATHS.iter().enumerate() {
            assert_eq!(common_index(path), Some(i as u8), "{path}");
        }
        assert_eq!(common_index("vote"), None);
        assert_eq!(common_index("mentions.link.x"), None);
    }

    #[test]
    fn scan_agrees_with_the_value_functions() {
        let f = FeedId([1; 32]).to_string();
        let m = MsgId([2; 32]).to_string();
        let b = BlobId([3; 32]).to_string();
        check(
            json!({"type": "post", "text": format!("hi {f}\n\"q\""), "root": m,
            "branch": [m, m], "mentions": [{"link": b, "name": "x"}, f, {"link": b}],
            "x": {"y": [[m]], "z": []}, "n": -1.5e3, "t": true, "u": null, "o": {}}),
        );
        check(json!({"type": "contact", "contact": f, "following": true, "blocking": 0}));
        check(json!({"type": "contact", "contact": f, "following": true, "flagged": "spam"}));
        check(json!({"type": "contact", "contact": f, "blocking": [], "following": false}));
        check(json!({"type": "vote", "vote": {"link": m, "value": 1, "expression": "Like"}}));
        check(
            json!({"type": "x", "tangles": {"g": {"root": m, "previous": [m]},
            "h": {"root": null, "previous": null}}, "root": 5}),
        );
        check(json!({"type": "post", "root": m, "branch": "not a ref"}));
        check(json!({"type": "post", "te\"xt": m, "k\\ey": [m]}));
        check(json!({"type": "post", "v": format!("{m}\n")}));
        check(
            json!({"type": "post", "a_rather_long_key_name": {"and_one_more_long_key": {
            "link": m, "again": [m, b, f]}}, "image": b, "fork": m, "about": f}),
        );
        check(json!("c3RhdGU=.box"));
        check(json!({}));
    }

    #[test]
    fn contact_and_thread_rules_match_the_value_functions() {
        let f = FeedId([1; 32]).to_string();
        let m = MsgId([2; 32]).to_string();
        let m2 = MsgId([4; 32]).to_string();
        for blocking in [
            json!(0),
            json!(-0.0),
            json!(0.0e5),
            json!(2),
            json!(""),
            json!("x"),
            json!([]),
            json!({}),
            json!(null),
            json!(false),
            json!(true),
            json!("\n"),
        ] {
            check(json!({"type": "contact", "contact": f, "blocking": blocking}));
            check(json!({"type": "contact", "contact": f, "flagged": blocking,
                "following": true}));
        }
        for following in [json!(1), json!("true"), json!(null), json!(false)] {
            check(json!({"type": "contact", "contact": f, "following": following}));
        }
        check(json!({"type": "contact", "contact": m, "following": true}));
        check(json!({"type": "contact", "contact": 7, "following": true}));
        check(json!({"type": "contacts", "contact": f, "following": true}));
        check(json!({"type": ["contact"], "contact": f, "following": true}));
        for branch in [
            json!(null),
            json!(m2),
            json!([m2, m, m2]),
            json!([]),
            json!([m2, 5]),
            json!([m2, f]),
            json!(f),
            json!(3),
            json!({"a": m2}),
            json!([[m2]]),
        ] {
            check(json!({"type": "post", "root": m, "branch": branch}));
        }
        check(json!({"type": "post", "root": f, "branch": m}));
        check(json!({"type": "post", "root": [m], "branch": m}));
        check(json!({"type": "post", "branch": m}));
    }

    /// Decodes `s` with the scanner's ref parser and with `Ref`'s `FromStr`.
    fn both_parsers(s: &str) -> (Option<Ref>, Option<Ref>) {
        (parse_ref(s.as_bytes()), crate::backlinks::as_ref(s))
    }

    #[test]
    fn ref_parser_agrees_with_from_str_on_mutations() {
        let refs = [
            FeedId([0xa5; 32]).to_string(),
            MsgId([0x3c; 32]).to_string(),
            BlobId([0xff; 32]).to_string(),
            MsgId([0; 32]).to_string(),
        ];
        let bytes: Vec<u8> = (0..=127u8).chain([0xc3, 0xff]).collect();
        let mut checked = 0;
        for r in &refs {
            let (fast, slow) = both_parsers(r);
            assert_eq!(fast, slow);
            assert!(fast.is_some(), "{r}");
            for at in 0..r.len() {
                for &b in &bytes {
                    let mut m = r.clone().into_bytes();
                    m[at] = b;
                    let Ok(m) = String::from_utf8(m) else {
                        continue;
                    };
                    let (fast, slow) = both_parsers(&m);
                    assert_eq!(fast, slow, "{m}");
                    checked += 1;
                }
            }
            for cut in [r.len() - 1, r.len() + 1] {
                let mut m = r.clone();
                m.truncate(cut.min(r.len()));
                m.extend(std::iter::repeat_n('A', cut.saturating_sub(r.len())));
                let (fast, slow) = both_parsers(&m);
                assert_eq!(fast, slow, "{m}");
            }
        }
        assert!(checked > 10_000);
    }

    /// Where each way of seeking `content` leaves the cursor (`None` = gave up).
    fn content_positions(json: &str) -> (Option<usize>, Option<usize>) {
        let fast = {
            let mut c = Scanner {
                b: json.as_bytes(),
                at: 0,
            };
            c.stored_layout().map(|()| c.at)
        };
        let mut c = Scanner {
            b: json.as_bytes(),
            at: 0,
        };
        (fast, c.seek_top_key(b"content").map(|()| c.at))
    }

    #[test]
    fn stored_layout_finds_content_where_the_general_seek_does() {
        let f = FeedId([1; 32]).to_string();
        let m = MsgId([2; 32]).to_string();
        let stored = [
            format!(
                r#"{{"previous":"{m}","author":"{f}","sequence":2,"timestamp":1.5e3,"hash":"sha256","content":{{"type":"x"}}}}"#
            ),
            format!(
                r#"{{"previous":null,"sequence":1,"author":"{f}","timestamp":1,"hash":"sha256","content":"Ym94.box"}}"#
            ),
        ];
        for json in &stored {
            let (fast, general) = content_positions(json);
            assert!(fast.is_some(), "{json}");
            assert_eq!(fast, general, "{json}");
        }
        let odd = [
            format!(
                r#"{{"previous":"{}\"x","author":"{f}","content":{{}}}}"#,
                &m[..50]
            ),
            format!(r#"{{"previous":"{m}", "author":"{f}","content":{{}}}}"#),
            format!(r#"{{"author":"{f}","hash":"sha512","content":{{}}}}"#),
            format!(r#"{{"author":"{m}","content":{{}}}}"#),
            r#"{"extra":{"content":1},"content":{}}"#.to_owned(),
        ];
        for json in &odd {
            assert_eq!(content_positions(json).0, None, "{json}");
            assert!(Facts::scan(json.as_bytes()).is_some(), "{json}");
        }
    }

    #[test]
    fn deep_content_falls_back_to_the_full_parse() {
        let m = MsgId([2; 32]).to_string();
        let mut deep = json!({"link": m});
        for i in 0..MAX_DEPTH + 2 {
            deep = json!({ format!("k{i}"): deep });
        }
        let content = json!({"type": "post", "deep": deep, "root": m});
        assert_eq!(Facts::scan(&value_with(&content)), None);
        check(content);
        let mut shallow = json!({"link": m});
        for i in 0..MAX_DEPTH - 3 {
            shallow = json!({ format!("k{i}"): shallow });
        }
        let content = json!({"type": "post", "shallow": shallow});
        assert!(Facts::scan(&value_with(&content)).is_some());
        check(content);
    }

    #[test]
    fn malformed_json_is_an_error_not_a_panic() {
        for bad in [
            &br#"{"content":{"a":"#[..],
            br#"{"content":{"a":[1,}"#,
            br#"{"content":"#,
            br#"{"content":{"a":"\"#,
        ] {
            assert_eq!(Facts::scan(bad), None);
            assert!(Facts::of_value_json(bad).is_err());
        }
    }
}
