//! The graph views (contacts, tangles, backlinks) against naive recomputations straight from
//! the JSONL fixtures, against the generator's own follow graph, and through encode/decode.
//!
//! Messages are fed to the views directly as `Indexed` values with offset = line index, so
//! these tests do not depend on the database.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::sync::OnceLock;

use serde_json::Value;
use sluice_msg::{FeedId, MsgId, Ref};
use sluice_views::backlinks::Backlinks;
use sluice_views::contacts::{Contacts, Relation};
use sluice_views::tangles::{TangleAnswer, Tangles};
use sluice_views::view::{Indexed, View};

/// One fixture: its `{key, value, timestamp}` lines, parsed.
struct Fixture {
    entries: Vec<Value>,
}

fn parse_lines(bytes: &[u8]) -> Fixture {
    let text = std::str::from_utf8(bytes).expect("fixture is UTF-8");
    let entries = text
        .lines()
        .filter(|l| !l.is_empty())
        .map(|l| serde_json::from_str(l).unwrap());
    Fixture {
        entries: entries.collect(),
    }
}

fn small() -> &'static Fixture {
    static F: OnceLock<Fixture> = OnceLock::new();
    F.get_or_init(|| {
        let path = sluice_tests::data_dir().join("small/msgs.jsonl");
        parse_lines(&std::fs::read(path).expect("small fixture"))
    })
}

fn medium() -> Option<&'static Fixture> {
    static F: OnceLock<Option<Fixture>> = OnceLock::new();
    F.get_or_init(|| {
        sluice_tests::shared_fixture("fixtures/medium/msgs.jsonl.zst").map(|b| parse_lines(&b))
    })
    .as_ref()
}

fn small_follow_graph() -> Value {
    let path = sluice_tests::data_dir().join("small/follow-graph.json");
    serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
}

fn medium_follow_graph() -> Option<Value> {
    sluice_tests::shared_fixture("fixtures/medium/follow-graph.json")
        .map(|b| serde_json::from_slice(&b).unwrap())
}

/// The views' input for line `offset` of a fixture.
fn indexed(offset: usize, entry: &Value) -> Indexed<'_> {
    Indexed::from_entry(offset as u64, entry).expect("a well-formed fixture entry")
}

fn build<V: View>(mut view: V, fx: &Fixture) -> V {
    for (i, e) in fx.entries.iter().enumerate() {
        view.apply(&indexed(i, e));
    }
    view
}

/// As `build`, but the view is written and read back (in place, for the views that read
/// their files so) every `every` messages: its state ends up split between a file and what
/// was applied since, and every query has to merge the two.
fn build_writing<V: View>(mut view: V, fx: &Fixture, every: usize) -> V {
    for (i, e) in fx.entries.iter().enumerate() {
        view.apply(&indexed(i, e));
        if i % every == every - 1 {
            let bytes = view.encode();
            view.decode(&bytes).unwrap();
        }
    }
    view
}

/// encode → decode gives an equal view and the same bytes.
fn assert_round_trip<V: View + PartialEq + std::fmt::Debug>(view: &V, mut empty: V) {
    let bytes = view.encode();
    empty.decode(&bytes).unwrap();
    assert!(empty == *view, "{} differs after decode", view.name());
    assert_eq!(empty.encode(), bytes);
}

// ---------------------------------------------------------------- contacts

/// Naive follow graph: for each (author, contact) the content of the highest-sequence message.
fn naive_edges(fx: &Fixture) -> BTreeMap<(String, String), &'static str> {
    let mut latest: HashMap<(String, String), (u64, &'static str)> = HashMap::new();
    for e in &fx.entries {
        let c = &e["value"]["content"];
        if c["type"] != "contact" || !c["contact"].is_string() {
            continue;
        }
        let state = if c["blocking"] == true {
            "block"
        } else if c["following"] == true {
            "follow"
        } else {
            "unfollow"
        };
        let key = (
            e["value"]["author"].as_str().unwrap().to_owned(),
            c["contact"].as_str().unwrap().to_owned(),
        );
        let seq = e["value"]["sequence"].as_u64().unwrap();
        if latest.get(&key).is_none_or(|&(s, _)| seq > s) {
            latest.insert(key, (seq, state));
        }
    }
    latest.into_iter().map(|(k, (_, s))| (k, s)).collect()
}

fn view_edges(c: &Contacts) -> BTreeMap<(String, String), &'static str> {
    let name = |r: Relation| match r {
        Relation::Follow => "follow",
        Relation::Block => "block",
        Relation::Unfollow => "unfollow",
    };
    c.edges()
        .unwrap()
        .into_iter()
        .map(|(s, d, r)| ((s.to_string(), d.to_string()), name(r)))
        .collect()
}

/// The generator's graph: true follows, false blocks, null unfollowed.
fn generator_edges(g: &Value) -> BTreeMap<(String, String), &'static str> {
    let mut out = BTreeMap::new();
    for (src, dests) in g.as_object().unwrap() {
        for (dst, v) in dests.as_object().unwrap() {
            let state = match v {
                Value::Bool(true) => "follow",
                Value::Bool(false) => "block",
                _ => "unfollow",
            };
            out.insert((src.clone(), dst.clone()), state);
        }
    }
    out
}

/// Naive ssb-friends hops: Jacobi iteration of "every node's value is the best candidate its
/// expandable in-neighbours offer", from scratch each round, until nothing changes.
fn naive_hops(
    edges: &BTreeMap<(String, String), &'static str>,
    origin: &str,
    max: i32,
) -> BTreeMap<String, i32> {
    let best = |a: i32, b: i32| {
        if a.abs() != b.abs() {
            if a.abs() < b.abs() { a } else { b }
        } else {
            a.max(b)
        }
    };
    let mut dist = BTreeMap::from([(origin.to_owned(), 0)]);
    loop {
        let mut next = BTreeMap::from([(origin.to_owned(), 0)]);
        for ((s, d), state) in edges {
            let Some(&h) = dist.get(s) else { continue };
            if h < 0 || h >= max || d == origin {
                continue;
            }
            let cand = match *state {
                "follow" => h + 1,
                "block" => -(h + 1),
                _ => -(h + 2),
            };
            let v = next.get(d).map_or(cand, |&o| best(o, cand));
            next.insert(d.clone(), v);
        }
        if next == dist {
            return dist;
        }
        dist = next;
    }
}

fn check_contacts(fx: &Fixture, generator: &Value) {
    let naive = naive_edges(fx);
    let every = (fx.entries.len() / 16).max(97);
    // Whole in memory, and split between files written along the way and what came since.
    for c in [
        build(Contacts::new(), fx),
        build_writing(Contacts::new(), fx, every),
    ] {
        assert_eq!(view_edges(&c), naive);
        assert_eq!(view_edges(&c), generator_edges(generator));
        let feeds: BTreeSet<&String> = naive.keys().flat_map(|(s, d)| [s, d]).collect();
        for f in &feeds {
            check_feed_queries(&c, &naive, f);
            let id: FeedId = f.parse().unwrap();
            for max in 0..=3 {
                let got: BTreeMap<String, i32> = c
                    .hops(&id, max)
                    .unwrap()
                    .into_iter()
                    .map(|(k, v)| (k.to_string(), v))
                    .collect();
                assert_eq!(got, naive_hops(&naive, f, max as i32), "hops({f}, {max})");
            }
        }
        assert_round_trip(&c, Contacts::new());
    }
}

fn check_feed_queries(c: &Contacts, naive: &BTreeMap<(String, String), &'static str>, f: &str) {
    let id: FeedId = f.parse().unwrap();
    let list = |v: Vec<FeedId>| {
        v.into_iter()
            .map(|x| x.to_string())
            .collect::<BTreeSet<_>>()
    };
    let out = |want: &str| -> BTreeSet<String> {
        naive
            .iter()
            .filter(|((s, _), st)| s == f && **st == want)
            .map(|((_, d), _)| d.clone())
            .collect()
    };
    let inn = |want: &str| -> BTreeSet<String> {
        naive
            .iter()
            .filter(|((_, d), st)| d == f && **st == want)
            .map(|((s, _), _)| s.clone())
            .collect()
    };
    assert_eq!(list(c.follows(&id).unwrap()), out("follow"));
    assert_eq!(list(c.blocks(&id).unwrap()), out("block"));
    assert_eq!(list(c.followers(&id).unwrap()), inn("follow"));
    assert_eq!(list(c.blocked_by(&id).unwrap()), inn("block"));
}

#[test]
fn contacts_small_match_oracle_and_generator() {
    check_contacts(small(), &small_follow_graph());
}

#[test]
fn contacts_medium_match_oracle_and_generator() {
    let (Some(fx), Some(g)) = (medium(), medium_follow_graph()) else {
        return;
    };
    check_contacts(fx, &g);
}

// ---------------------------------------------------------------- tangles

/// Naive threads: root key → (claimant line, parents as keys) for every `content.root` string.
fn naive_threads(fx: &Fixture) -> BTreeMap<String, Vec<(usize, Vec<String>)>> {
    let mut out: BTreeMap<String, Vec<(usize, Vec<String>)>> = BTreeMap::new();
    for (i, e) in fx.entries.iter().enumerate() {
        let c = &e["value"]["content"];
        let Some(root) = c["root"].as_str() else {
            continue;
        };
        let parents = match &c["branch"] {
            Value::String(s) => vec![s.clone()],
            Value::Array(a) => a.iter().map(|x| x.as_str().unwrap().to_owned()).collect(),
            _ => vec![],
        };
        let parents = if parents.is_empty() {
            vec![root.to_owned()]
        } else {
            parents
        };
        out.entry(root.to_owned()).or_default().push((i, parents));
    }
    out
}

/// Naive answer: repeatedly take the ready claimant with the smallest (timestamp, id bytes).
fn naive_order(
    fx: &Fixture,
    root: &str,
    root_line: usize,
    claims: &[(usize, Vec<String>)],
) -> TangleAnswer {
    let key = |i: usize| fx.entries[i]["key"].as_str().unwrap().to_owned();
    let mut done: HashSet<String> = HashSet::from([root.to_owned()]);
    let mut members = vec![root_line];
    let mut left: Vec<&(usize, Vec<String>)> = claims.iter().collect();
    loop {
        let ready = left
            .iter()
            .filter(|(_, ps)| ps.iter().all(|p| done.contains(p)));
        let sort_key = |(i, _): &&&(usize, Vec<String>)| {
            let ts = fx.entries[*i]["value"]["timestamp"].as_f64().unwrap();
            (ts.to_bits(), key(*i).parse::<MsgId>().unwrap())
        };
        let Some(&&(pick, _)) = ready.min_by_key(sort_key) else {
            break;
        };
        done.insert(key(pick));
        members.push(pick);
        left.retain(|(i, _)| *i != pick);
    }
    let member_keys: HashSet<String> = members.iter().map(|&i| key(i)).collect();
    let pointed: HashSet<&String> = claims
        .iter()
        .filter(|(i, _)| member_keys.contains(&key(*i)))
        .flat_map(|(_, ps)| ps)
        .collect();
    let tips = members
        .iter()
        .copied()
        .filter(|&i| !pointed.contains(&key(i)));
    let off = |i: usize| i as u64;
    TangleAnswer {
        members: members.iter().map(|&i| off(i)).collect(),
        tips: tips.map(off).collect(),
    }
}

fn check_threads(fx: &Fixture) -> usize {
    let t = build(Tangles::new(), fx);
    // The same answers from a view read from its file in place.
    let mut loaded = Tangles::new();
    loaded.decode(&t.encode()).unwrap();
    loaded.verify().unwrap();
    let lines: HashMap<&str, usize> = fx
        .entries
        .iter()
        .enumerate()
        .map(|(i, e)| (e["key"].as_str().unwrap(), i))
        .collect();
    let mut biggest = 0;
    for (root, claims) in naive_threads(fx) {
        let root_id: MsgId = root.parse().unwrap();
        let root_line = lines.get(root.as_str()).copied();
        let got = t
            .tangle(&root_id, None, root_line.map(|l| l as u64))
            .unwrap();
        let want = root_line
            .map(|l| naive_order(fx, &root, l, &claims))
            .unwrap_or_default();
        assert_eq!(got, want, "thread {root}");
        let from_file = loaded.tangle(&root_id, None, root_line.map(|l| l as u64));
        assert_eq!(from_file.unwrap(), want, "thread {root} read in place");
        biggest = biggest.max(got.members.len());
    }
    assert_round_trip(&t, Tangles::new());
    biggest
}

#[test]
fn threads_small_match_oracle() {
    assert!(check_threads(small()) > 10);
}

#[test]
fn threads_medium_match_oracle() {
    let Some(fx) = medium() else { return };
    assert_eq!(
        check_threads(fx),
        436,
        "the biggest thread: root + 435 replies"
    );
}

/// The biggest small-fixture thread, fed replies first and in reverse, answers the same once
/// its root is known, and nothing before.
#[test]
fn thread_whose_replies_arrive_before_the_root() {
    let fx = small();
    let threads = naive_threads(fx);
    let (root, claims) = threads.iter().max_by_key(|(_, c)| c.len()).unwrap();
    let root_id: MsgId = root.parse().unwrap();
    let root_line = fx
        .entries
        .iter()
        .position(|e| e["key"] == root.as_str())
        .unwrap() as u64;
    let in_order = build(Tangles::new(), fx)
        .tangle(&root_id, None, Some(root_line))
        .unwrap();
    let mut t = Tangles::new();
    for (line, _) in claims.iter().rev() {
        t.apply(&indexed(*line, &fx.entries[*line]));
    }
    assert_eq!(
        t.tangle(&root_id, None, None).unwrap(),
        TangleAnswer::default()
    );
    assert_eq!(t.tangle(&root_id, None, Some(root_line)).unwrap(), in_order);
    assert!(in_order.members.len() == claims.len() + 1);
}

// ---------------------------------------------------------------- backlinks

/// Naive links: (target string, path, line) for every whole-string ref in public content.
fn naive_links(fx: &Fixture) -> BTreeSet<(String, String, usize)> {
    fn walk(v: &Value, path: &str, line: usize, out: &mut BTreeSet<(String, String, usize)>) {
        match v {
            Value::String(s) if s.parse::<Ref>().is_ok() => {
                out.insert((s.clone(), path.to_owned(), line));
            }
            Value::Array(a) => a.iter().for_each(|x| walk(x, path, line, out)),
            Value::Object(m) => m.iter().for_each(|(k, x)| {
                let p = if path.is_empty() {
                    k.clone()
                } else {
                    format!("{path}.{k}")
                };
                walk(x, &p, line, out);
            }),
            _ => {}
        }
    }
    let mut out = BTreeSet::new();
    for (i, e) in fx.entries.iter().enumerate() {
        let c = &e["value"]["content"];
        if c.is_object() {
            walk(c, "", i, &mut out);
        }
    }
    out
}

fn check_backlinks(fx: &Fixture) {
    let b = build(Backlinks::new(), fx);
    // The same answers from a view read from its file in place.
    let mut loaded = Backlinks::new();
    loaded.decode(&b.encode()).unwrap();
    loaded.verify().unwrap();
    let naive = naive_links(fx);
    let mut by_target: BTreeMap<&str, Vec<(&str, usize)>> = BTreeMap::new();
    for (t, p, l) in &naive {
        by_target.entry(t).or_default().push((p, *l));
    }
    let targets: BTreeSet<String> = b.targets().unwrap().iter().map(|r| r.to_string()).collect();
    let want: BTreeSet<String> = by_target.keys().map(|t| t.to_string()).collect();
    assert!(
        targets == want,
        "targets differ: {:?}",
        targets
            .symmetric_difference(&want)
            .take(5)
            .collect::<Vec<_>>()
    );
    for (t, links) in &by_target {
        let r: Ref = t.parse().unwrap();
        let lines = |f: &dyn Fn(&str) -> bool| {
            links
                .iter()
                .filter(|(p, _)| f(p))
                .map(|&(_, l)| l as u64)
                .collect::<BTreeSet<_>>()
                .into_iter()
                .collect::<Vec<_>>()
        };
        assert_eq!(b.backlinks(&r, None).unwrap(), lines(&|_| true), "{t}");
        assert_eq!(loaded.backlinks(&r, None).unwrap(), lines(&|_| true), "{t}");
        let paths: BTreeSet<&str> = links.iter().map(|l| l.0).collect();
        for p in paths {
            assert_eq!(
                b.backlinks(&r, Some(p)).unwrap(),
                lines(&|q| q == p || q.starts_with(&format!("{p}."))),
                "{t} {p}"
            );
            assert_eq!(
                loaded.backlinks(&r, Some(p)).unwrap(),
                b.backlinks(&r, Some(p)).unwrap()
            );
            let first = p.split('.').next().unwrap();
            assert_eq!(
                b.backlinks(&r, Some(first)).unwrap(),
                lines(&|q| q.split('.').next() == Some(first)),
                "{t} {first}"
            );
        }
    }
    assert_round_trip(&b, Backlinks::new());
}

#[test]
fn backlinks_small_match_oracle() {
    check_backlinks(small());
}

#[test]
fn backlinks_medium_match_oracle() {
    let Some(fx) = medium() else { return };
    check_backlinks(fx);
}

/// The encoded views stay small next to the fixture (the budget for all views is 0.15 of the log).
#[test]
fn encoded_graph_views_are_compact() {
    let Some(fx) = medium() else { return };
    let log_bytes: usize = fx.entries.iter().map(|e| e.to_string().len()).sum();
    let sizes = [
        build(Contacts::new(), fx).encode().len(),
        build(Tangles::new(), fx).encode().len(),
        build(Backlinks::new(), fx).encode().len(),
    ];
    eprintln!("graph view bytes {sizes:?} vs JSON {log_bytes}");
    assert!(
        sizes.iter().sum::<usize>() * 20 < log_bytes,
        "graph views exceed 5 % of the log"
    );
}
