//! Messages made by `create` pass the reference JS `ssb-validate` 4 (run with node).
//!
//! Needs `node` and `npm ci --prefix tests/js/validate`. Outside CI a missing one skips the test
//! with a message; under `CI=true` it fails.

use std::io::Write as _;
use std::path::PathBuf;
use std::process::{Command, Stdio};

use serde_json::{Value, json};
use sluice_msg::{FeedState, HmacKey, Keys, Message, create};

fn script() -> Option<PathBuf> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../tests/js/validate");
    let node_ok = Command::new("node")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    let why = if !node_ok {
        "node is not installed"
    } else if !dir.join("node_modules/ssb-validate").is_dir() {
        "tests/js/validate/node_modules is missing (run `npm ci --prefix tests/js/validate`)"
    } else {
        return Some(dir.join("validate.js"));
    };
    assert!(
        std::env::var("CI").as_deref() != Ok("true"),
        "CI=true but {why}"
    );
    eprintln!("skipping the JS ssb-validate test: {why}");
    None
}

/// The JS verdict per message: `(valid, error)`.
fn js_verdicts(script: &PathBuf, msgs: &[Message], hmac: Option<&str>) -> Vec<(bool, Value)> {
    let mut child = Command::new("node")
        .arg(script)
        .args(hmac)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("start node");
    let mut input = String::new();
    for m in msgs {
        input.push_str(&m.to_compact_json());
        input.push('\n');
    }
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "node failed");
    let text = String::from_utf8(out.stdout).unwrap();
    let lines: Vec<Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    lines
        .into_iter()
        .map(|v| (v["valid"].as_bool().unwrap(), v["error"].clone()))
        .collect()
}

/// Contents that exercise every encoding quirk.
fn contents() -> Vec<Value> {
    vec![
        json!({"type": "post", "text": "plain"}),
        json!({"type": "post", "10": 1, "2": 2, "a": 3, "0": [], "01": {}, "text": "keys"}),
        json!({"type": "numbers", "n": [1e21, 1e-7, -0.0, 0.1, 123.456, 1.0e300, 5e-324, 9007199254740993u64]}),
        json!({"type": "post", "text": "é ÿ ☃ 😀 𝄞 \u{1}\u{1f} \t\n\r\u{8}\u{c} \"q\" \\ / \u{7f} \u{2028}"}),
        json!({"type": "vote", "vote": {"link": "%ybJG6SQH63+71OtO9r7cnxeOgEZyZQdecsGaPQXo/CM=.sha256", "value": 1}}),
        json!("c2VjcmV0IGJveA==.box"),
        json!({"type": "abc", "nested": {"3": {"1": null, "b": true}, "x": [[], {}]}}),
        json!({"type": "post", "text": "a".repeat(7800)}),
    ]
}

/// Two feeds of quirky messages, interleaved.
fn messages(hmac: Option<&HmacKey>) -> Vec<Message> {
    let keys = [Keys::generate(), Keys::generate()];
    let mut heads: [Option<FeedState>; 2] = [None, None];
    let mut out = Vec::new();
    for (i, content) in contents().into_iter().enumerate() {
        let f = i % 2;
        let ts = 1_700_000_000_000.0 + i as f64 * 1.5;
        let msg = create(&keys[f], heads[f].as_ref(), content, ts, hmac).unwrap();
        heads[f] = Some(FeedState::of(&msg));
        out.push(msg);
    }
    out
}

#[test]
fn created_messages_pass_js_ssb_validate() {
    let Some(script) = script() else { return };
    let msgs = messages(None);
    let verdicts = js_verdicts(&script, &msgs, None);
    assert_eq!(verdicts.len(), msgs.len());
    for (m, (valid, error)) in msgs.iter().zip(&verdicts) {
        assert!(valid, "JS refused {}: {error}\n{}", m.id(), m.encoded());
    }
}

#[test]
fn created_messages_pass_js_with_an_hmac_key_and_fail_without() {
    let Some(script) = script() else { return };
    let b64 = "Z0e2zyrmHeit5ydNjaw2bLlrHBwx9UcivTAAGquwQ+Y=";
    let msgs = messages(Some(&b64.parse().unwrap()));
    assert!(
        js_verdicts(&script, &msgs, Some(b64))
            .iter()
            .all(|(v, _)| *v)
    );
    // Without the key the first message of each feed fails: the checker can say no.
    let plain = js_verdicts(&script, &msgs[..1], None);
    assert!(!plain[0].0);
}
