//! The data both systems are measured on, and the query targets picked from it.
//!
//! A fixture is a `msgs.jsonl` (one `{key,value,timestamp}` per line) and optionally the same
//! messages as a flumelog-offset `log.offset`; `.zst` files are decompressed into the work
//! folder. The targets (main author, biggest thread, most-voted message, 1,000 keys) are
//! computed here once, so both systems answer exactly the same questions.

use std::collections::{HashMap, HashSet};
use std::fs::File;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};

use serde::Serialize;
use serde_json::Value;

use crate::{Result, RunArgs};

/// How many keys the "gets by key" query reads.
pub const GETS: usize = 1000;

/// The resolved input files.
#[derive(Debug, Clone, Serialize)]
pub struct Fixture {
    pub name: String,
    pub jsonl: PathBuf,
    pub log_offset: Option<PathBuf>,
}

/// What the warm queries ask, chosen from the data.
#[derive(Debug, Clone, Serialize)]
pub struct Targets {
    pub messages: usize,
    /// The author with the most messages.
    pub author: String,
    pub author_messages: usize,
    /// The fixture's main feed (its `secret`), else the biggest author.
    pub main_feed: String,
    /// The root with the most replies (`content.root`).
    pub thread_root: String,
    pub thread_replies: usize,
    /// The message with the most votes (`content.vote.link`).
    pub most_voted: String,
    pub votes: usize,
    /// [`GETS`] message ids spread evenly over the fixture.
    pub keys: Vec<String>,
}

/// Finds the fixture's files (decompressing into `work`), honouring `--jsonl` / `--log-offset`.
pub fn resolve(args: &RunArgs, work: &Path) -> Result<Fixture> {
    let dir = match args.fixture.as_str() {
        "small" | "medium" => data_dir(args)?.join("fixtures").join(&args.fixture),
        other => PathBuf::from(other),
    };
    let jsonl = match &args.jsonl {
        Some(p) => p.clone(),
        None => find(&dir, "msgs.jsonl", work)?
            .ok_or_else(|| format!("no msgs.jsonl in {}", dir.display()))?,
    };
    let log_offset = match &args.log_offset {
        Some(p) => Some(p.clone()),
        None => find(&dir, "log.offset", work)?,
    };
    Ok(Fixture {
        name: args.fixture.clone(),
        jsonl,
        log_offset,
    })
}

fn data_dir(args: &RunArgs) -> Result<PathBuf> {
    let dir = args
        .data_dir
        .clone()
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/data"));
    if dir.is_dir() {
        Ok(dir)
    } else {
        Err(format!(
            "shared data not found at {} (use --data-dir)",
            dir.display()
        ))
    }
}

/// `dir/name`, or `dir/name.zst` decompressed to `work/name`.
fn find(dir: &Path, name: &str, work: &Path) -> Result<Option<PathBuf>> {
    let plain = dir.join(name);
    if plain.is_file() {
        return Ok(Some(plain));
    }
    let packed = dir.join(format!("{name}.zst"));
    if !packed.is_file() {
        return Ok(None);
    }
    let out = work.join(name);
    decompress(&packed, &out)?;
    Ok(Some(out))
}

fn decompress(from: &Path, to: &Path) -> Result<()> {
    let input = File::open(from).map_err(|e| format!("open {}: {e}", from.display()))?;
    let mut output = File::create(to).map_err(|e| format!("create {}: {e}", to.display()))?;
    zstd::stream::copy_decode(input, &mut output)
        .map_err(|e| format!("decompress {}: {e}", from.display()))
}

/// Counts per key while reading the fixture.
#[derive(Default)]
struct Tally {
    ids: Vec<String>,
    per_author: HashMap<String, usize>,
    replies: HashMap<String, usize>,
    votes: HashMap<String, usize>,
}

impl Tally {
    fn add(&mut self, msg: &Value) {
        let key = msg["key"].as_str().unwrap_or_default().to_owned();
        let value = &msg["value"];
        if let Some(author) = value["author"].as_str() {
            *self.per_author.entry(author.to_owned()).or_default() += 1;
        }
        let content = &value["content"];
        if let Some(root) = content["root"].as_str() {
            *self.replies.entry(root.to_owned()).or_default() += 1;
        }
        if let Some(link) = content["vote"]["link"].as_str() {
            *self.votes.entry(link.to_owned()).or_default() += 1;
        }
        self.ids.push(key);
    }
}

/// The entry with the highest count among `known` keys (ties: the smallest key).
fn top(counts: &HashMap<String, usize>, known: &HashSet<&str>) -> (String, usize) {
    counts
        .iter()
        .filter(|(k, _)| known.contains(k.as_str()))
        .max_by(|a, b| a.1.cmp(b.1).then_with(|| b.0.cmp(a.0)))
        .map(|(k, n)| (k.clone(), *n))
        .unwrap_or_default()
}

/// Reads the fixture once and picks the query targets.
pub fn targets(fixture: &Fixture, main_feed: Option<String>) -> Result<Targets> {
    let file =
        File::open(&fixture.jsonl).map_err(|e| format!("open {}: {e}", fixture.jsonl.display()))?;
    let mut tally = Tally::default();
    for line in BufReader::new(file).lines() {
        let line = line.map_err(|e| format!("read {}: {e}", fixture.jsonl.display()))?;
        if line.trim().is_empty() {
            continue;
        }
        let msg: Value = serde_json::from_str(&line).map_err(|e| format!("bad line: {e}"))?;
        tally.add(&msg);
    }
    Ok(pick(&tally, main_feed))
}

fn pick(tally: &Tally, main_feed: Option<String>) -> Targets {
    let ids: HashSet<&str> = tally.ids.iter().map(String::as_str).collect();
    let authors: HashSet<&str> = tally.per_author.keys().map(String::as_str).collect();
    let (author, author_messages) = top(&tally.per_author, &authors);
    let (thread_root, thread_replies) = top(&tally.replies, &ids);
    let (most_voted, votes) = top(&tally.votes, &ids);
    let step = (tally.ids.len() / GETS).max(1);
    Targets {
        messages: tally.ids.len(),
        main_feed: main_feed.unwrap_or_else(|| author.clone()),
        author,
        author_messages,
        thread_root,
        thread_replies,
        most_voted,
        votes,
        keys: tally.ids.iter().step_by(step).take(GETS).cloned().collect(),
    }
}

/// The `id` of an ssb-keys `secret` file beside the fixture's messages, if there is one.
pub fn main_feed(fixture: &Fixture) -> Option<String> {
    let beside = fixture.jsonl.parent().map(|d| d.join("secret"));
    [beside, data_secret(&fixture.name)]
        .into_iter()
        .flatten()
        .find_map(|p| secret_id(&p))
}

fn data_secret(name: &str) -> Option<PathBuf> {
    matches!(name, "small" | "medium").then(|| {
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../shared/data/fixtures")
            .join(name)
            .join("secret")
    })
}

fn secret_id(path: &Path) -> Option<String> {
    let text = std::fs::read_to_string(path).ok()?;
    let json: String = text
        .lines()
        .filter(|l| !l.trim_start().starts_with('#'))
        .collect();
    let value: Value = serde_json::from_str(&json).ok()?;
    value["id"].as_str().map(str::to_owned)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn msg(key: &str, author: &str, content: Value) -> Value {
        serde_json::json!({"key": key, "value": {"author": author, "content": content}})
    }

    #[test]
    fn picks_the_biggest_author_thread_and_vote_target() {
        let mut tally = Tally::default();
        tally.add(&msg("%a", "@x", serde_json::json!({"type": "post"})));
        tally.add(&msg(
            "%b",
            "@y",
            serde_json::json!({"type": "post", "root": "%a"}),
        ));
        tally.add(&msg(
            "%c",
            "@y",
            serde_json::json!({"type": "vote", "vote": {"link": "%b"}}),
        ));
        tally.add(&msg(
            "%d",
            "@y",
            serde_json::json!({"type": "post", "root": "%missing"}),
        ));
        let t = pick(&tally, None);
        assert_eq!((t.author.as_str(), t.author_messages), ("@y", 3));
        assert_eq!((t.thread_root.as_str(), t.thread_replies), ("%a", 1));
        assert_eq!((t.most_voted.as_str(), t.votes), ("%b", 1));
        assert_eq!(t.main_feed, "@y");
        assert_eq!(t.keys.len(), 4);
    }
}
