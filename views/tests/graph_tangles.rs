//! SIP-009 named tangles and threads through `View::apply`: forks, merges, unknown and invalid
//! ancestry, late arrivals, and independence of threads and named tangles on one root.

use serde_json::{Value, json};
use sluice_msg::{FeedId, MsgId};
use sluice_views::tangles::{TangleAnswer, Tangles};
use sluice_views::view::{Indexed, View};

fn id(n: u8) -> MsgId {
    MsgId([n; 32])
}

/// Applies message `n` (offset `n`, claimed timestamp `ts`) with `content`.
fn apply(t: &mut Tangles, n: u8, ts: f64, content: &Value) {
    t.apply(&Indexed {
        offset: u64::from(n),
        id: id(n),
        author: FeedId([200; 32]),
        sequence: u64::from(n) + 1,
        timestamp: ts,
        received: ts,
        content_type: content["type"].as_str(),
        encrypted: false,
        content: Some(content),
    });
}

/// Content of a message in tangle `g` rooted at message 0 with the given previous.
fn in_g(previous: &[u8]) -> Value {
    let prev: Vec<String> = previous.iter().map(|&p| id(p).to_string()).collect();
    json!({"type": "gathering", "tangles": {"g": {"root": id(0).to_string(), "previous": prev}}})
}

fn g(t: &Tangles) -> TangleAnswer {
    t.tangle(&id(0), Some("g"), Some(0)).unwrap()
}

#[test]
fn named_tangle_with_forks_merges_unknown_and_invalid_ancestry() {
    let mut t = Tangles::new();
    apply(
        &mut t,
        0,
        0.0,
        &json!({"type": "gathering", "tangles": {"g": {"root": null, "previous": null}}}),
    );
    apply(&mut t, 1, 5.0, &in_g(&[0]));
    apply(&mut t, 2, 9.0, &in_g(&[1])); // fork A
    apply(&mut t, 3, 7.0, &in_g(&[1])); // fork B, earlier clock: ordered first
    apply(&mut t, 4, 8.0, &in_g(&[2, 3])); // merge
    apply(&mut t, 5, 8.0, &in_g(&[4, 42])); // 42 unknown: 5 waits
    let bad =
        json!({"type": "x", "tangles": {"g": {"root": id(0).to_string(), "previous": "nope"}}});
    apply(&mut t, 6, 1.0, &bad); // invalid: never joins
    apply(&mut t, 7, 1.0, &in_g(&[6])); // downstream of the invalid one
    apply(&mut t, 8, 1.0, &in_g(&[5])); // downstream of the waiting one
    assert_eq!(
        g(&t),
        TangleAnswer {
            members: vec![0, 1, 3, 2, 4],
            tips: vec![4]
        }
    );
    apply(&mut t, 42, 2.0, &in_g(&[1])); // the unknown ancestor arrives late
    assert_eq!(
        g(&t),
        TangleAnswer {
            members: vec![0, 1, 42, 3, 2, 4, 5, 8],
            tips: vec![8]
        }
    );
    assert_eq!(
        t.claimants(&id(0), Some("g")).unwrap(),
        vec![1, 2, 3, 4, 5, 7, 8, 42]
    );
    // The thread and other names on the same root are separate tangles.
    assert_eq!(
        t.tangle(&id(0), None, Some(0)).unwrap(),
        TangleAnswer {
            members: vec![0],
            tips: vec![0]
        }
    );
    assert_eq!(
        t.tangle(&id(0), Some("other"), None).unwrap(),
        TangleAnswer::default()
    );
}

#[test]
fn thread_replies_before_root_join_when_it_arrives() {
    let mut t = Tangles::new();
    let reply =
        |branch: Value| json!({"type": "post", "root": id(0).to_string(), "branch": branch});
    apply(&mut t, 1, 3.0, &reply(json!(id(0).to_string())));
    apply(&mut t, 2, 4.0, &reply(json!([id(1).to_string()])));
    apply(&mut t, 3, 2.0, &reply(Value::Null));
    assert_eq!(
        t.tangle(&id(0), None, None).unwrap(),
        TangleAnswer::default(),
        "no root yet"
    );
    apply(
        &mut t,
        0,
        1.0,
        &json!({"type": "post", "text": "the root, stored last"}),
    );
    let answer = t.tangle(&id(0), None, Some(0)).unwrap();
    assert_eq!(
        answer,
        TangleAnswer {
            members: vec![0, 3, 1, 2],
            tips: vec![3, 2]
        }
    );
}

/// A tiny deterministic generator (64-bit LCG), so the model test needs no dependency.
struct Lcg(u64);

impl Lcg {
    fn below(&mut self, n: u64) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (self.0 >> 33) % n
    }
}

/// Naive model: members are found by repeated scans; the order repeatedly takes the ready
/// message with the smallest (timestamp, id).
fn model(dag: &[(u8, f64, Vec<u8>)]) -> TangleAnswer {
    let mut done = vec![0u8];
    let mut left: Vec<&(u8, f64, Vec<u8>)> = dag.iter().collect();
    loop {
        let ready = left
            .iter()
            .filter(|(_, _, ps)| ps.iter().all(|p| done.contains(p)));
        let pick = ready.min_by(|a, b| a.1.total_cmp(&b.1).then(id(a.0).cmp(&id(b.0))));
        let Some(&&(n, _, _)) = pick else { break };
        done.push(n);
        left.retain(|x| x.0 != n);
    }
    let pointed = |m: u8| {
        dag.iter()
            .any(|(n, _, ps)| done.contains(n) && ps.contains(&m))
    };
    let tips = done
        .iter()
        .copied()
        .filter(|&m| !pointed(m))
        .map(u64::from)
        .collect();
    TangleAnswer {
        members: done.iter().map(|&m| u64::from(m)).collect(),
        tips,
    }
}

/// Random DAGs (forks, merges, unknown parents, equal timestamps) applied in random orders
/// give the model's answer.
#[test]
fn random_dags_in_random_arrival_orders_match_the_model() {
    let mut rng = Lcg(7);
    for _ in 0..200 {
        let n = 2 + rng.below(40) as u8;
        let dag: Vec<(u8, f64, Vec<u8>)> = (1..n)
            .map(|m| {
                let parents = (0..1 + rng.below(3)).map(|_| rng.below(u64::from(m)) as u8);
                let mut ps: Vec<u8> = parents.collect();
                if rng.below(15) == 0 {
                    ps.push(200 + rng.below(50) as u8); // never arrives
                }
                ps.dedup();
                (m, rng.below(6) as f64, ps)
            })
            .collect();
        let mut order: Vec<usize> = (0..dag.len()).collect();
        for i in (1..order.len()).rev() {
            order.swap(i, rng.below(i as u64 + 1) as usize);
        }
        let mut t = Tangles::new();
        for &i in &order {
            let (m, ts, ps) = &dag[i];
            apply(&mut t, *m, *ts, &in_g(ps));
        }
        assert_eq!(g(&t), model(&dag), "dag {dag:?} order {order:?}");
        // Read from its file in place (forward and unknown ancestors as they were written).
        let mut loaded = Tangles::new();
        loaded.decode(&t.encode()).unwrap();
        assert_eq!(g(&loaded), model(&dag), "read in place: dag {dag:?}");
    }
}
