//! Content planning: the type mix and the shape of each content type, modelled on ssb-fixtures.
//!
//! A plan only refers to messages of earlier waves (held in [`Memory`]), whose ids are known,
//! so every message of a wave can be planned and signed independently.

use std::sync::Arc;

use rand::Rng;
use rand_chacha::ChaCha8Rng;
use serde_json::{Map, Value, json};

use crate::authors::AuthorSampler;
use crate::memory::{Effect, Memory};
use crate::text::{self, CHANNELS, EXPRESSIONS, pick};

/// The kinds of message the generator makes, as counted in ssb-fixtures' reports.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Kind {
    /// `vote` on an earlier message.
    Vote,
    /// `post`: top-level or a reply (`root` + `branch`).
    Post,
    /// Encrypted content (a `.box` string).
    Private,
    /// `contact`: follow, block or unfollow.
    Contact,
    /// `about`: name, image or description of a feed.
    About,
    /// Anything else (`other`, `channel`, `pub`).
    Other,
}

/// The target mix in per-mille (ssb-fixtures' medium fixture: vote 43 %, post 25 %, …).
pub const MIX: [(Kind, u32); 6] = [
    (Kind::Vote, 430),
    (Kind::Post, 250),
    (Kind::Private, 120),
    (Kind::Contact, 90),
    (Kind::About, 20),
    (Kind::Other, 90),
];

/// Share of posts that are replies (medium fixture: 17,294 of 24,685).
const REPLY_RATE: f64 = 0.70;
/// Share of posts that mention feeds, blobs, channels or messages.
const MENTION_RATE: f64 = 0.6;
/// Share of posts carrying a `channel`.
const CHANNEL_RATE: f64 = 0.25;

/// What planning needs to know of the world, read-only during a wave.
#[derive(Clone, Copy, Debug)]
pub(crate) struct World<'a> {
    /// Feed ids (`@….ed25519`) of all authors.
    pub(crate) feeds: &'a [String],
    /// Authors' activity weights, also used to choose whom to follow or mention.
    pub(crate) sampler: &'a AuthorSampler,
    /// Earlier waves.
    pub(crate) memory: &'a Memory,
}

/// One planned message: its author, content and what it changes in memory once signed.
#[derive(Debug)]
pub(crate) struct Plan {
    pub(crate) author: u32,
    pub(crate) kind: Kind,
    pub(crate) content: Value,
    pub(crate) effect: Effect,
}

/// Plans one message from its own random stream.
pub(crate) fn plan(world: &World<'_>, rng: &mut ChaCha8Rng) -> Plan {
    let author = world.sampler.sample(rng);
    let (kind, content, effect) = match sample_kind(rng) {
        Kind::Vote => vote(world, rng),
        Kind::Post => post(world, rng),
        Kind::Private => (
            Kind::Private,
            Value::String(text::private_box(rng)),
            Effect::None,
        ),
        Kind::Contact => (Kind::Contact, contact(world, author, rng), Effect::None),
        Kind::About => (Kind::About, about(world, author, rng), Effect::None),
        Kind::Other => (Kind::Other, other(rng), Effect::None),
    };
    Plan {
        author,
        kind,
        content,
        effect,
    }
}

fn sample_kind(rng: &mut ChaCha8Rng) -> Kind {
    let mut x = rng.gen_range(0..1000u32);
    for (kind, permille) in MIX {
        if x < permille {
            return kind;
        }
        x -= permille;
    }
    Kind::Other
}

/// A vote on an earlier message; a post when nothing has been written yet.
fn vote(world: &World<'_>, rng: &mut ChaCha8Rng) -> (Kind, Value, Effect) {
    let Some(target) = world.memory.pick_vote_target(rng) else {
        return post(world, rng);
    };
    let expression = pick(rng, EXPRESSIONS);
    let value = i32::from(expression != "Unlike");
    let content = json!({
        "type": "vote",
        "vote": { "link": &**target, "value": value, "expression": expression },
    });
    (Kind::Vote, content, Effect::Vote(Arc::clone(target)))
}

fn post(world: &World<'_>, rng: &mut ChaCha8Rng) -> (Kind, Value, Effect) {
    let mut c = Map::new();
    c.insert("type".into(), "post".into());
    c.insert("text".into(), text::post_text(rng).into());
    if rng.gen_bool(CHANNEL_RATE) {
        c.insert("channel".into(), pick(rng, CHANNELS).into());
    }
    let effect = reply_fields(world, rng, &mut c);
    if rng.gen_bool(MENTION_RATE) {
        c.insert("mentions".into(), mentions(world, rng));
    }
    (Kind::Post, Value::Object(c), effect)
}

/// Adds `root` and `branch` when the post replies in a thread; returns the memory effect.
fn reply_fields(world: &World<'_>, rng: &mut ChaCha8Rng, c: &mut Map<String, Value>) -> Effect {
    if !rng.gen_bool(REPLY_RATE) {
        return Effect::NewThread;
    }
    let Some((number, thread)) = world.memory.pick_thread(rng) else {
        return Effect::NewThread;
    };
    c.insert("root".into(), (*thread.root).into());
    let branch = match &thread.previous_tip {
        Some(prev) if rng.gen_bool(0.1) && prev != &thread.tip => json!([&*thread.tip, &**prev]),
        _ => (*thread.tip).into(),
    };
    c.insert("branch".into(), branch);
    Effect::Reply(number)
}

/// One to four mentions of feeds, blobs, channels or earlier messages.
fn mentions(world: &World<'_>, rng: &mut ChaCha8Rng) -> Value {
    let count = rng.gen_range(1..6);
    let list = (0..count).map(|_| mention(world, rng)).collect();
    Value::Array(list)
}

fn mention(world: &World<'_>, rng: &mut ChaCha8Rng) -> Value {
    match rng.gen_range(0..100u32) {
        0..50 => {
            let feed = &world.feeds[world.sampler.sample(rng) as usize];
            json!({ "link": feed, "name": text::name(rng) })
        }
        50..80 => blob_mention(rng),
        80..92 => json!({ "link": format!("#{}", pick(rng, CHANNELS)) }),
        _ => match world.memory.pick_post(rng) {
            Some(id) => json!({ "link": &**id }),
            None => blob_mention(rng),
        },
    }
}

fn blob_mention(rng: &mut ChaCha8Rng) -> Value {
    let mime = pick(rng, &["image/jpeg", "image/png", "image/gif", "audio/mpeg"]);
    let mut m = json!({ "link": text::blob_ref(rng), "type": mime, "size": rng.gen_range(1_000..3_000_000u32) });
    if rng.gen_bool(0.5) {
        m["name"] = text::words(rng, 1).into();
    }
    m
}

/// Follow (most), block or unfollow another author, chosen by activity.
fn contact(world: &World<'_>, author: u32, rng: &mut ChaCha8Rng) -> Value {
    let mut target = world.sampler.sample(rng);
    if target == author {
        target = (target + 1) % u32::try_from(world.feeds.len()).expect("author count fits u32");
    }
    let feed = &world.feeds[target as usize];
    match rng.gen_range(0..100u32) {
        0..80 => json!({ "type": "contact", "contact": feed, "following": true }),
        80..90 => json!({ "type": "contact", "contact": feed, "blocking": true }),
        _ => json!({ "type": "contact", "contact": feed, "following": false }),
    }
}

/// Name, image and/or description of the author's own feed.
fn about(world: &World<'_>, author: u32, rng: &mut ChaCha8Rng) -> Value {
    let mut c = Map::new();
    c.insert("type".into(), "about".into());
    c.insert("about".into(), world.feeds[author as usize].clone().into());
    let fields = rng.gen_range(1..8u32);
    if fields & 1 != 0 {
        c.insert("name".into(), text::name(rng).into());
    }
    if fields & 2 != 0 {
        c.insert("image".into(), image(rng));
    }
    if fields & 4 != 0 {
        c.insert("description".into(), text::post_text(rng).into());
    }
    Value::Object(c)
}

fn image(rng: &mut ChaCha8Rng) -> Value {
    json!({
        "link": text::blob_ref(rng),
        "type": pick(rng, &["image/png", "image/jpeg"]),
        "size": rng.gen_range(10_000..2_000_000u32),
        "width": rng.gen_range(64..2048u32),
        "height": rng.gen_range(64..2048u32),
    })
}

/// The "other" bucket: ssb-fixtures' `other`, channel subscriptions and pub announcements.
fn other(rng: &mut ChaCha8Rng) -> Value {
    match rng.gen_range(0..100u32) {
        0..60 => {
            json!({ "type": "other", "number": rng.gen_range(0..1000u32), "etc": "Does not matter" })
        }
        60..85 => {
            json!({ "type": "channel", "channel": pick(rng, CHANNELS), "subscribed": rng.gen_bool(0.85) })
        }
        _ => json!({
            "type": "pub",
            "address": {
                "host": format!("{}.example.net", text::words(rng, 1)),
                "port": 8008,
                "key": format!("@{}.ed25519", text::pub_key(rng)),
            },
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::memory::Id;
    use rand::SeedableRng;
    use std::collections::HashMap;

    /// Plans `n` messages the way the generator does (fake ids), returning them in order.
    fn simulate(n: u32, wave: u32) -> Vec<Plan> {
        let feeds: Vec<String> = (0..20).map(|i| format!("@feed{i:02}.ed25519")).collect();
        let sampler = AuthorSampler::new(20, &mut ChaCha8Rng::seed_from_u64(9));
        let mut memory = Memory::new();
        let mut out = Vec::new();
        for start in (0..n).step_by(wave as usize) {
            let world = World {
                feeds: &feeds,
                sampler: &sampler,
                memory: &memory,
            };
            let plans: Vec<Plan> = (start..(start + wave).min(n))
                .map(|i| plan(&world, &mut ChaCha8Rng::seed_from_u64(u64::from(i))))
                .collect();
            for (i, p) in (start..).zip(&plans) {
                memory.remember(&Id::from(format!("%m{i}.sha256")), &p.effect);
            }
            out.extend(plans);
        }
        out
    }

    #[test]
    fn mix_matches_the_fixture() {
        let plans = simulate(20_000, 200);
        let mut counts: HashMap<Kind, u32> = HashMap::new();
        for p in &plans {
            *counts.entry(p.kind).or_default() += 1;
        }
        for (kind, permille) in MIX {
            let got = counts.get(&kind).copied().unwrap_or(0) / 20;
            assert!(
                got.abs_diff(permille) <= 15,
                "{kind:?}: {got}‰, want {permille}‰"
            );
        }
    }

    #[test]
    fn replies_and_votes_point_backwards() {
        let plans = simulate(5_000, 100);
        for (i, p) in plans.iter().enumerate() {
            let refs = serde_json::to_string(&p.content).expect("json");
            for part in refs.split("%m").skip(1) {
                let n: usize = part
                    .split('.')
                    .next()
                    .and_then(|s| s.parse().ok())
                    .expect("index");
                assert!(
                    n / 100 < i / 100,
                    "message {i} refers to {n} of the same or a later wave"
                );
            }
        }
        let replies = plans
            .iter()
            .filter(|p| p.content.get("root").is_some())
            .count();
        let posts = plans.iter().filter(|p| p.kind == Kind::Post).count();
        assert!(
            replies * 10 > posts * 6,
            "{replies} replies of {posts} posts"
        );
    }

    #[test]
    fn types_have_the_fixture_fields() {
        for p in simulate(3_000, 100) {
            let c = &p.content;
            match p.kind {
                Kind::Vote => assert!(
                    c["vote"]["link"]
                        .as_str()
                        .is_some_and(|l| l.starts_with('%'))
                ),
                Kind::Post => assert!(c["text"].is_string()),
                Kind::Private => assert!(c.as_str().is_some_and(|s| s.ends_with(".box"))),
                Kind::Contact => assert!(c["contact"].as_str().is_some_and(|l| l.starts_with('@'))),
                Kind::About => assert!(c.as_object().is_some_and(|o| o.len() >= 3)),
                Kind::Other => assert!(
                    c["type"]
                        .as_str()
                        .is_some_and(|t| (3..=52).contains(&t.len()))
                ),
            }
        }
    }
}
