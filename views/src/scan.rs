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

use serde_json::{Map, Value};
use sluice_msg::{FeedId, Ref};

use crate::contacts::{self, Relation};
use crate::tangles::{self, Claim};

/// What the graph views read from one public content object.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Facts {
    /// Every link as (ref, start, end) of its path in `paths`, each pair once, document order.
    links: Vec<(Ref, u32, u32)>,
    /// The links' paths, concatenated.
    paths: String,
    /// The edge a `type: contact` message sets.
    pub contact: Option<(FeedId, Relation)>,
    /// The valid tangle claims (threads and SIP-009 tangles).
    pub claims: Vec<Claim>,
}

impl Facts {
    /// The facts of a parsed content object (the reference semantics).
    pub fn from_content(content: &Value) -> Facts {
        let mut facts = Facts {
            contact: contacts::contact_edge(content),
            claims: tangles::claims(content),
            ..Facts::default()
        };
        for (r, path) in crate::backlinks::links(content) {
            facts.push_link(r, &path);
        }
        facts
    }

    /// The facts of a stored message value (`{"previous":…,"content":…}`): `Ok(None)` when
    /// the content is not an object (encrypted), `Err` when the JSON does not parse.
    pub fn of_value_json(json: &[u8]) -> Result<Option<Facts>, serde_json::Error> {
        if let Some(scanned) = Facts::scan(json) {
            return Ok(scanned);
        }
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
        let mut c = Scanner { b: json, at: 0 };
        c.seek_top_key(b"content")?;
        c.ws()?;
        if c.peek()? != b'{' {
            return Some(None);
        }
        let mut walk = Walk::default();
        c.object(&mut PathStack::default(), &mut walk, true)?;
        walk.finish(c.b).map(Some)
    }

    fn push_link(&mut self, r: Ref, path: &str) {
        let start = self.paths.len() as u32;
        self.paths.push_str(path);
        self.links.push((r, start, self.paths.len() as u32));
    }

    /// The `(ref, path)` links, each pair once, in document order.
    pub fn links(&self) -> impl Iterator<Item = (&Ref, &str)> + '_ {
        self.links
            .iter()
            .map(|(r, s, e)| (r, &self.paths[*s as usize..*e as usize]))
    }
}

/// Top-level content keys that contacts and tangles read; their value spans are kept.
const TOP_KEYS: [&str; 8] = [
    "type",
    "contact",
    "following",
    "blocking",
    "flagged",
    "root",
    "branch",
    "tangles",
];

/// What the walk of one content object collected.
#[derive(Default)]
struct Walk {
    facts: Facts,
    /// Value spans of the top-level keys in [`TOP_KEYS`]; `None` for a key not seen.
    top: [Option<(usize, usize)>; TOP_KEYS.len()],
    /// Whether a top-level key of [`TOP_KEYS`] occurred twice.
    duplicate: bool,
}

impl Walk {
    /// Records a link, joining its path straight into the facts' path text (dropped again
    /// when the same (ref, path) pair is already there).
    fn link(&mut self, r: Ref, path: &[&str]) {
        let facts = &mut self.facts;
        let start = facts.paths.len();
        for (i, seg) in path.iter().enumerate() {
            if i > 0 {
                facts.paths.push('.');
            }
            facts.paths.push_str(seg);
        }
        let dup = {
            let new = &facts.paths[start..];
            facts
                .links
                .iter()
                .any(|(r2, s, e)| *r2 == r && &facts.paths[*s as usize..*e as usize] == new)
        };
        if dup {
            facts.paths.truncate(start);
        } else {
            let end = facts.paths.len() as u32;
            facts.links.push((r, start as u32, end));
        }
    }

    /// Reads contacts and tangles from a small object holding only the relevant top-level
    /// keys, through the same functions as the `Value` path.
    fn finish(mut self, b: &[u8]) -> Option<Facts> {
        if self.duplicate {
            return None; // leave duplicate keys to the full parser
        }
        if self.top[1..].iter().any(Option::is_some) {
            let mut map = Map::new();
            for (key, span) in TOP_KEYS.iter().zip(self.top) {
                if let Some((s, e)) = span {
                    map.insert((*key).to_owned(), serde_json::from_slice(&b[s..e]).ok()?);
                }
            }
            let mini = Value::Object(map);
            self.facts.contact = contacts::contact_edge(&mini);
            self.facts.claims = tangles::claims(&mini);
        }
        Some(self.facts)
    }
}

/// The object keys above the value being scanned, on the stack (no allocation per record).
#[derive(Default)]
struct PathStack<'a> {
    keys: [&'a str; MAX_DEPTH],
    len: usize,
}

/// Object nesting the scanner follows; deeper content is left to the full parser.
const MAX_DEPTH: usize = 16;

impl<'a> PathStack<'a> {
    /// Adds a key; `None` (give up) past [`MAX_DEPTH`].
    fn push(&mut self, key: &'a str) -> Option<()> {
        *self.keys.get_mut(self.len)? = key;
        self.len += 1;
        Some(())
    }

    fn pop(&mut self) {
        self.len -= 1;
    }

    fn keys(&self) -> &[&'a str] {
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
    fn value(&mut self, path: &mut PathStack<'a>, walk: &mut Walk) -> Option<()> {
        self.ws()?;
        match self.peek()? {
            b'"' => self.ref_string(path, walk),
            b'{' => self.object(path, walk, false),
            b'[' => self.array(path, walk),
            _ => self.scalar(),
        }
    }

    fn ref_string(&mut self, path: &PathStack<'a>, walk: &mut Walk) -> Option<()> {
        let (raw, escaped) = self.string()?;
        let sigil = matches!(raw.first(), Some(b'@' | b'%' | b'&' | b'\\'));
        if !sigil {
            return Some(());
        }
        let found = if escaped {
            // Rare: unescape the quoted string the way the full parser would.
            let quoted = self.b.get(self.at - raw.len() - 2..self.at)?;
            let text: String = serde_json::from_slice(quoted).ok()?;
            crate::backlinks::as_ref(&text)
        } else {
            crate::backlinks::as_ref(std::str::from_utf8(raw).ok()?)
        };
        if let Some(r) = found {
            walk.link(r, path.keys());
        }
        Some(())
    }

    fn array(&mut self, path: &mut PathStack<'a>, walk: &mut Walk) -> Option<()> {
        self.eat(b'[')?;
        self.ws()?;
        if self.peek()? == b']' {
            self.at += 1;
            return Some(());
        }
        loop {
            self.value(path, walk)?;
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

    fn object(&mut self, path: &mut PathStack<'a>, walk: &mut Walk, top: bool) -> Option<()> {
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
            path.push(std::str::from_utf8(key).ok()?)?;
            self.value(path, walk)?;
            path.pop();
            if top {
                note_top_key(walk, key, start, self.at);
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

fn note_top_key(walk: &mut Walk, key: &[u8], start: usize, end: usize) {
    if let Some(i) = TOP_KEYS.iter().position(|k| k.as_bytes() == key) {
        walk.duplicate |= walk.top[i].is_some();
        walk.top[i] = Some((start, end));
    }
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
        check(json!("c3RhdGU=.box"));
        check(json!({}));
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
