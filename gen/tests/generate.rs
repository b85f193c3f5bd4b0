//! End-to-end checks of the generator: determinism, valid chains, mix, threads, secrets.

use std::collections::{HashMap, HashSet};

use ed25519_dalek::{Signature, VerifyingKey};

use sluice_gen::{GenOptions, Generated, Generator, Kind, MIX, write_jsonl, write_secrets};
use sluice_msg::{FeedState, Keys, validate};

/// All messages of a run, in output order.
fn generate(opts: &GenOptions) -> Vec<Generated> {
    Generator::new(opts.clone())
        .expect("options")
        .flat_map(|w| w.expect("wave"))
        .collect()
}

/// The JSON lines of a run made on a pool of `threads` threads.
fn jsonl_with_threads(opts: &GenOptions, threads: usize) -> Vec<u8> {
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .expect("pool");
    pool.install(|| {
        let mut out = Vec::new();
        let mut generator = Generator::new(opts.clone()).expect("options");
        let count = write_jsonl(&mut generator, &mut out).expect("write");
        assert_eq!(count, opts.messages);
        out
    })
}

#[test]
fn same_seed_same_bytes_on_any_thread_count() {
    let opts = GenOptions::new(1_500, 12, "anchors");
    let one = jsonl_with_threads(&opts, 1);
    assert_eq!(one, jsonl_with_threads(&opts, 2));
    assert_eq!(one, jsonl_with_threads(&opts, 5));
    assert_eq!(one.iter().filter(|b| **b == b'\n').count(), 1_500);
    let other = jsonl_with_threads(&GenOptions::new(1_500, 12, "other seed"), 2);
    assert_ne!(one, other);
}

#[test]
fn every_message_validates_as_a_chain() {
    let msgs = generate(&GenOptions::new(3_000, 20, "chain"));
    let mut states: HashMap<String, FeedState> = HashMap::new();
    for g in &msgs {
        let author = g.message.author().to_string();
        let state = states.get(&author);
        validate(state, &g.message, None).unwrap_or_else(|e| panic!("{}: {e}", g.message.id()));
        if let Some(s) = state {
            assert!(
                g.message.timestamp() > s.timestamp,
                "timestamps increase per feed"
            );
        }
        states.insert(author, FeedState::of(&g.message));
    }
    assert!(
        msgs.windows(2).all(|w| w[0].received < w[1].received),
        "receive order"
    );
}

/// gen signs with seed-derived sequential nonces (`signer.rs`): every signature must still
/// pass ed25519-dalek's strict verification, and no author may reuse a nonce point `R`.
#[test]
fn signatures_verify_strictly_and_nonces_never_repeat() {
    let msgs = generate(&GenOptions::new(700, 7, "nonces"));
    let mut nonces: HashMap<u32, HashSet<[u8; 32]>> = HashMap::new();
    for g in &msgs {
        let key = VerifyingKey::from_bytes(&g.message.author().0).expect("a valid key");
        let signature = Signature::from_bytes(g.message.signature());
        let signed = g.message.signing_bytes();
        let verified = key.verify_strict(&signed, &signature);
        assert!(verified.is_ok(), "{}: {verified:?}", g.message.id());
        let point: [u8; 32] = g.message.signature()[..32].try_into().expect("R");
        let fresh = nonces.entry(g.author).or_default().insert(point);
        assert!(fresh, "{} reuses a nonce point", g.message.id());
    }
    assert_eq!(nonces.len(), 7, "every author wrote");
    assert!(
        nonces.values().all(|set| set.len() > 1),
        "several per author"
    );
}

#[test]
fn json_lines_round_trip_through_sluice_msg() {
    let msgs = generate(&GenOptions::new(300, 5, "lines"));
    for g in &msgs {
        let entry: serde_json::Value = serde_json::from_str(&g.json_line()).expect("json");
        let (parsed, received) = sluice_msg::Message::from_entry(entry).expect("entry");
        assert_eq!(parsed.id(), g.message.id());
        assert_eq!(received, Some(g.received as f64));
        assert_eq!(parsed.encoded(), g.message.encoded());
    }
}

#[test]
fn mix_and_shape_are_realistic() {
    let msgs = generate(&GenOptions::new(20_000, 40, "mix"));
    let mut kinds: HashMap<Kind, u64> = HashMap::new();
    let mut per_author: HashMap<u32, u64> = HashMap::new();
    for g in &msgs {
        *kinds.entry(g.kind).or_default() += 1;
        *per_author.entry(g.author).or_default() += 1;
    }
    for (kind, permille) in MIX {
        let got = kinds.get(&kind).copied().unwrap_or(0) / 20;
        assert!(
            got.abs_diff(u64::from(permille)) <= 15,
            "{kind:?}: {got}‰ want {permille}‰"
        );
    }
    let main = per_author[&0];
    assert!(
        per_author.values().all(|n| *n <= main),
        "the main feed is the largest"
    );
    assert!(
        msgs.iter().any(|g| !g.message.encoded().is_ascii()),
        "some non-ASCII content"
    );
    let biggest = biggest_thread(&msgs);
    assert!(biggest >= 30, "biggest thread has {biggest} messages");
}

/// Messages in the largest thread (root + replies naming it).
fn biggest_thread(msgs: &[Generated]) -> usize {
    let mut sizes: HashMap<&str, usize> = HashMap::new();
    for g in msgs {
        if let Some(root) = g.message.content().get("root").and_then(|r| r.as_str()) {
            *sizes.entry(root).or_insert(1) += 1;
        }
    }
    sizes.values().max().copied().unwrap_or(0)
}

#[test]
fn secrets_match_the_authors() {
    let opts = GenOptions::new(200, 3, "secrets");
    let dir = tempfile::tempdir().expect("tempdir");
    let generator = Generator::new(opts.clone()).expect("options");
    let paths = write_secrets(&generator, dir.path()).expect("secrets");
    assert_eq!(paths.len(), 3);
    let main = Keys::read_secret_file(&paths[0]).expect("read");
    let first = generate(&opts)
        .into_iter()
        .find(|g| g.author == 0)
        .expect("main feed writes");
    assert_eq!(main.id(), first.message.author());
    assert!(
        write_secrets(&generator, dir.path()).is_err(),
        "never overwrites"
    );
}

#[test]
fn zero_authors_is_an_error() {
    let err = Generator::new(GenOptions::new(10, 0, "x")).expect_err("invalid");
    assert!(err.to_string().contains("--authors"));
}
