//! Messages made by `create`: V8 quirks survive a round trip, the size limit, chain errors,
//! batch verdicts, and secret files.

use serde_json::{Value, json};
use sluice_msg::{
    FeedState, HmacKey, Keys, MAX_MESSAGE_UNITS, Message, ValidationError, VerifyMode, create,
    encode, validate, validate_batch, validate_ooo, verify_ahead,
};

fn keys(n: u8) -> Keys {
    Keys::from_seed([n; 32])
}

/// A feed of `len` posts by `keys`.
fn feed(keys: &Keys, len: usize) -> Vec<Message> {
    let mut out: Vec<Message> = Vec::new();
    for i in 0..len {
        let state = out.last().map(FeedState::of);
        let content = json!({"type": "post", "text": format!("post {i}")});
        out.push(
            create(
                keys,
                state.as_ref(),
                content,
                1_600_000_000_000.0 + i as f64,
                None,
            )
            .unwrap(),
        );
    }
    out
}

/// Parses `text` as a message and checks it against a fresh feed.
fn reparse(text: &str) -> Message {
    let msg = Message::parse(text.as_bytes()).unwrap();
    assert_eq!(msg.encoded(), encode::to_v8_pretty(msg.value()));
    validate(None, &msg, None).unwrap();
    msg
}

#[test]
fn quirky_content_round_trips_through_the_encoding() {
    let k = keys(1);
    let content = json!({
        "type": "post", "b": 1, "10": "ten", "2": "two", "big": 1e21, "small": 1e-7,
        "text": "é ü 😀 \u{1} tab\t \"q\" \\ \u{2028}", "list": [1.5, -0.0, {"z": null, "0": []}]
    });
    let msg = create(&k, None, content, 1.5e12, None).unwrap();
    let text = msg.encoded();
    assert!(
        text.contains("\"2\": \"two\",\n    \"10\": \"ten\",\n    \"type\""),
        "{text}"
    );
    assert!(
        text.contains("\"big\": 1e+21") && text.contains("\"small\": 1e-7"),
        "{text}"
    );
    assert!(
        text.contains("\\u0001") && text.contains("\\t") && text.contains("😀"),
        "{text}"
    );
    assert!(!text.contains("-0") && text.contains("\"0\": []"), "{text}");
    // Reparsing the compact JSON gives the same message (encoding is a fixed point).
    let again = reparse(&msg.to_compact_json());
    assert_eq!(again.id(), msg.id());
    assert_eq!(again.encoded(), msg.encoded());
}

#[test]
fn non_ascii_id_hashes_latin1_not_utf8() {
    let msg = create(
        &keys(2),
        None,
        json!({"type": "post", "text": "ÿ☃😀"}),
        1.0,
        None,
    )
    .unwrap();
    let latin1 = encode::latin1_sha256(msg.encoded());
    assert_eq!(msg.id().0, latin1);
    use sha2_check::utf8_sha256;
    assert_ne!(msg.id().0, utf8_sha256(msg.encoded()));
}

mod sha2_check {
    /// sha256 of the UTF-8 bytes, via the encoder's ASCII path on an escaped copy.
    pub fn utf8_sha256(s: &str) -> [u8; 32] {
        // Map each UTF-8 byte to a char below 0x80..0xFF so latin1 hashing sees the UTF-8 bytes.
        let as_latin1: String = s.bytes().map(char::from).collect();
        sluice_msg::encode::latin1_sha256(&as_latin1)
    }
}

/// Content whose message encoding is exactly `units` UTF-16 code units, using `fill` chars.
fn sized_content(k: &Keys, units: usize, fill: char) -> Value {
    let base = create(k, None, json!({"type": "post", "text": ""}), 1.0, None).unwrap();
    let pad = units - encode::utf16_len(base.encoded());
    json!({"type": "post", "text": std::iter::repeat_n(fill, pad).collect::<String>()})
}

#[test]
fn size_limit_is_8192_utf16_units() {
    let k = keys(3);
    for fill in ['a', 'é'] {
        let ok = create(
            &k,
            None,
            sized_content(&k, MAX_MESSAGE_UNITS, fill),
            1.0,
            None,
        )
        .unwrap();
        assert_eq!(encode::utf16_len(ok.encoded()), 8192);
        reparse(&ok.to_compact_json());
        let over = create(
            &k,
            None,
            sized_content(&k, MAX_MESSAGE_UNITS + 1, fill),
            1.0,
            None,
        );
        assert!(
            matches!(over, Err(ValidationError::TooLarge { units: 8193 })),
            "{over:?}"
        );
    }
}

#[test]
fn chain_errors_are_distinct() {
    let k = keys(4);
    let msgs = feed(&k, 3);
    let s2 = FeedState::of(&msgs[1]);
    assert!(validate(Some(&s2), &msgs[2], None).is_ok());
    assert!(matches!(
        validate(Some(&s2), &msgs[1], None),
        Err(ValidationError::Duplicate { .. })
    ));
    assert!(matches!(
        validate(Some(&s2), &msgs[0], None),
        Err(ValidationError::Old { .. })
    ));
    assert!(matches!(
        validate(None, &msgs[2], None),
        Err(ValidationError::Gap { expected: 1, .. })
    ));
    // Another message at sequence 2: a fork, both as "same sequence" and "wrong previous".
    let other = create(
        &k,
        Some(&FeedState::of(&msgs[0])),
        json!({"type": "xyz"}),
        5.0,
        None,
    )
    .unwrap();
    let fork = validate(Some(&s2), &other, None).unwrap_err();
    assert_eq!(fork.check(), "fork");
    let wrong_prev = FeedState {
        id: other.id(),
        ..s2
    };
    assert_eq!(
        validate(Some(&wrong_prev), &msgs[2], None)
            .unwrap_err()
            .check(),
        "fork"
    );
}

#[test]
fn hmac_key_changes_what_verifies() {
    let k = keys(5);
    let hmac: HmacKey = "Z0e2zyrmHeit5ydNjaw2bLlrHBwx9UcivTAAGquwQ+Y="
        .parse()
        .unwrap();
    let msg = create(&k, None, json!({"type": "post"}), 1.0, Some(&hmac)).unwrap();
    assert!(validate_ooo(&msg, Some(&hmac)).is_ok());
    assert!(matches!(
        validate_ooo(&msg, None),
        Err(ValidationError::BadSignature)
    ));
    assert!("Z0e2".parse::<HmacKey>().is_err());
}

/// A copy of `msg` with one character of its signature changed (still canonical base64).
fn tampered(msg: &Message) -> Message {
    let mut v = msg.value().clone();
    let sig = v["signature"].as_str().unwrap().to_string();
    let flipped = if sig.starts_with('A') {
        sig.replacen('A', "B", 1)
    } else {
        format!("A{}", &sig[1..])
    };
    v["signature"] = flipped.into();
    Message::from_value(v).unwrap()
}

#[test]
fn batch_names_the_bad_message_and_what_follows_it() {
    for mode in [VerifyMode::Full, VerifyMode::Chain] {
        let (a, b) = (feed(&keys(6), 120), feed(&keys(7), 5));
        let mut msgs: Vec<Message> = a.iter().rev().cloned().collect(); // any order within a feed
        msgs.extend(b.iter().cloned());
        msgs[120 - 50] = tampered(&a[49]); // sequence 50 of feed a
        let verdicts = validate_batch(&msgs, |_| None, mode, None);
        for (i, v) in verdicts.iter().enumerate() {
            let seq = msgs[i].sequence();
            let from_a = msgs[i].author() == a[0].author();
            match v {
                Ok(()) => assert!(!from_a || seq < 50, "{mode:?} seq {seq}"),
                Err(ValidationError::BadSignature) => assert!(from_a && seq == 50, "{mode:?}"),
                Err(ValidationError::Gap { expected: 50, .. }) => assert!(from_a && seq > 50),
                Err(e) => panic!("{mode:?}: unexpected {e}"),
            }
        }
    }
}

/// Signatures are verified in batches grouped by author; each verdict still lands on its own
/// message when the feeds come interleaved (several batches of each author's run).
#[test]
fn interleaved_feeds_get_their_own_verdicts() {
    let feeds: Vec<Vec<Message>> = (40..43).map(|i| feed(&keys(i), 60)).collect();
    let mut msgs: Vec<Message> = (0..60)
        .flat_map(|s| feeds.iter().map(move |f| f[s].clone()))
        .collect();
    let bad_seq = [17u64, 60, 33]; // per feed, the sequence with a forged signature
    for m in &mut msgs {
        let f = feeds
            .iter()
            .position(|f| f[0].author() == m.author())
            .unwrap();
        if m.sequence() == bad_seq[f] {
            *m = tampered(m);
        }
    }
    let refs: Vec<&Message> = msgs.iter().collect();
    assert_eq!(verify_ahead(&refs, None), msgs.len() - 3);
    let verdicts = validate_batch(&msgs, |_| None, VerifyMode::Full, None);
    for (m, v) in msgs.iter().zip(&verdicts) {
        let f = feeds
            .iter()
            .position(|f| f[0].author() == m.author())
            .unwrap();
        let (seq, bad) = (m.sequence(), bad_seq[f]);
        match v {
            Ok(()) => assert!(seq < bad, "feed {f} seq {seq}"),
            Err(ValidationError::BadSignature) => assert_eq!(seq, bad, "feed {f}"),
            Err(ValidationError::Gap { expected, .. }) => {
                assert!(seq > bad && *expected == bad, "feed {f} seq {seq}")
            }
            Err(e) => panic!("feed {f} seq {seq}: {e}"),
        }
    }
}

#[test]
fn chain_mode_checks_each_feeds_newest_signature() {
    // Feeds whose newest message is forged get every signature verified; the others pass.
    let feeds: Vec<Vec<Message>> = (20..26)
        .map(|i| feed(&keys(i), 3 + usize::from(i)))
        .collect();
    let mut msgs: Vec<Message> = feeds.iter().flatten().cloned().collect();
    let forged = [1usize, 4];
    let mut at = 0;
    for (f, run) in feeds.iter().enumerate() {
        at += run.len();
        if forged.contains(&f) {
            msgs[at - 1] = tampered(&run[run.len() - 1]);
        }
    }
    let verdicts = validate_batch(&msgs, |_| None, VerifyMode::Chain, None);
    let mut at = 0;
    for (f, run) in feeds.iter().enumerate() {
        for (k, _) in run.iter().enumerate() {
            let newest_forged = forged.contains(&f) && k == run.len() - 1;
            match &verdicts[at + k] {
                Ok(()) => assert!(!newest_forged, "feed {f} message {k}"),
                Err(ValidationError::BadSignature) => {
                    assert!(newest_forged, "feed {f} message {k}")
                }
                Err(e) => panic!("feed {f} message {k}: {e}"),
            }
        }
        at += run.len();
    }
}

#[test]
fn signatures_verified_ahead_are_not_trusted_beyond_what_verified() {
    let (a, b) = (feed(&keys(30), 40), feed(&keys(31), 7));
    let mut msgs: Vec<Message> = a.iter().chain(&b).cloned().collect();
    msgs[12] = tampered(&a[12]);
    let alone = validate_batch(&msgs, |_| None, VerifyMode::Full, None);
    let refs: Vec<&Message> = msgs.iter().collect();
    assert_eq!(verify_ahead(&refs, None), msgs.len() - 1);
    for mode in [VerifyMode::Full, VerifyMode::Chain] {
        let after = validate_batch(&msgs, |_| None, mode, None);
        let names = |v: &[Result<(), ValidationError>]| -> Vec<String> {
            v.iter().map(|r| format!("{r:?}")).collect()
        };
        assert_eq!(names(&after), names(&alone), "{mode:?}");
        assert!(matches!(after[12], Err(ValidationError::BadSignature)));
    }
    // Verified on the main network says nothing about a network with an HMAC key.
    let hmac: HmacKey = "Z0e2zyrmHeit5ydNjaw2bLlrHBwx9UcivTAAGquwQ+Y="
        .parse()
        .unwrap();
    let other = validate_batch(&msgs[40..], |_| None, VerifyMode::Full, Some(&hmac));
    assert!(matches!(other[0], Err(ValidationError::BadSignature)));
    assert!(other.iter().all(Result::is_err));
}

#[test]
fn batch_chains_from_state_and_spots_duplicates_and_gaps() {
    let k = keys(8);
    let msgs = feed(&k, 6);
    let state = FeedState::of(&msgs[1]);
    let batch = vec![
        msgs[5].clone(),
        msgs[2].clone(),
        msgs[1].clone(),
        msgs[3].clone(),
        msgs[3].clone(),
    ];
    let v = validate_batch(&batch, |_| Some(state), VerifyMode::Full, None);
    assert!(matches!(
        v[0],
        Err(ValidationError::Gap {
            expected: 5,
            found: 6
        })
    ));
    assert!(v[1].is_ok() && v[3].is_ok());
    assert!(matches!(v[2], Err(ValidationError::Duplicate { .. })));
    assert!(matches!(v[4], Err(ValidationError::Duplicate { .. })));
}

#[test]
fn secret_files_round_trip_and_refuse_overwrite() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("secret");
    let k = Keys::generate();
    k.write_secret_file(&path).unwrap();
    assert_eq!(Keys::read_secret_file(&path).unwrap().id(), k.id());
    assert!(k.write_secret_file(&path).is_err());
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(
            std::fs::metadata(&path).unwrap().permissions().mode() & 0o777,
            0o600
        );
    }
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(text.starts_with('#'));
    let sig = k.sign(b"hello");
    assert_eq!(sig.len(), 64);
}

#[test]
fn the_fixture_secret_is_the_main_feed() {
    let secret = sluice_tests::data_dir().join("small/secret");
    let k = Keys::read_secret_file(secret).unwrap();
    let jsonl = std::fs::read_to_string(sluice_tests::data_dir().join("small/msgs.jsonl")).unwrap();
    let author = k.id().to_string();
    assert!(jsonl.lines().any(|l| l.contains(&author)));
    assert!(Keys::parse_secret("# only a comment\n").is_err());
}
