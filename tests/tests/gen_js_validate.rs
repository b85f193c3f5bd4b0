//! Every message `sluice gen` makes passes the JS reference validator (`ssb-validate` 4 in node).
//!
//! A small run is validated in full as feed chains (signature, chain, format, and the id computed
//! by JS equals our key). Needs `node` and an `ssb-validate` under `tests/js/*/node_modules`:
//! when missing the test skips, except under CI (`CI=true`), where it fails.

use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Stdio};

use sluice_gen::{GenOptions, Generator, Kind, write_jsonl};

/// Reads JSON lines on stdin, appends each value to an ssb-validate state (chain + signature),
/// checks the id, prints `{"valid":N,"errors":[…]}`.
const SCRIPT: &str = r"
const v = require('ssb-validate');
const lines = require('fs').readFileSync(0, 'utf8').split('\n').filter(Boolean);
let state = v.initial(), valid = 0;
const errors = [];
for (const line of lines) {
  const kvt = JSON.parse(line);
  try {
    if (v.id(kvt.value) !== kvt.key) throw new Error('id differs: ' + v.id(kvt.value));
    state = v.append(state, null, kvt.value);
    valid++;
  } catch (e) { errors.push(kvt.key + ': ' + e.message); }
}
console.log(JSON.stringify({ valid, errors: errors.slice(0, 10) }));
";

fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true")
}

/// Skips (returns `None`) outside CI, fails under CI.
fn missing(what: &str) -> Option<PathBuf> {
    assert!(!in_ci(), "CI=true but {what}");
    eprintln!("skipping: {what}");
    None
}

/// The `node_modules` folder holding `ssb-validate` (the validate package first, then others).
fn node_modules() -> Option<PathBuf> {
    let js = sluice_tests::data_dir().join("../js");
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(&js)
        .map(|d| {
            d.filter_map(|e| e.ok().map(|e| e.path().join("node_modules")))
                .collect()
        })
        .unwrap_or_default();
    dirs.sort_by_key(|d| !d.starts_with(js.join("validate")));
    let found = dirs
        .into_iter()
        .find(|d| d.join("ssb-validate/package.json").is_file());
    found.or_else(|| missing("no ssb-validate in tests/js/*/node_modules (run npm ci there)"))
}

/// Runs the script under node with `jsonl` on stdin; `None` when node is missing.
fn run_node(modules: &PathBuf, jsonl: &[u8]) -> Option<serde_json::Value> {
    let child = Command::new("node")
        .arg("-e")
        .arg(SCRIPT)
        .env("NODE_PATH", modules)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn();
    let Ok(mut child) = child else {
        missing("node is not installed");
        return None;
    };
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(jsonl)
        .expect("write to node");
    let out = child.wait_with_output().expect("node runs");
    assert!(out.status.success(), "node failed: {}", out.status);
    Some(serde_json::from_slice(&out.stdout).expect("node prints one JSON object"))
}

#[test]
fn generated_messages_pass_js_ssb_validate() {
    let Some(modules) = node_modules() else {
        return;
    };
    let opts = GenOptions::new(600, 6, "js-validate");
    let kinds: std::collections::HashSet<Kind> = Generator::new(opts.clone())
        .expect("options")
        .flat_map(|w| w.expect("wave"))
        .map(|g| g.kind)
        .collect();
    assert_eq!(kinds.len(), 6, "the sample covers every kind: {kinds:?}");
    let mut jsonl = Vec::new();
    write_jsonl(&mut Generator::new(opts).expect("options"), &mut jsonl).expect("generate");
    let Some(report) = run_node(&modules, &jsonl) else {
        return;
    };
    assert_eq!(
        report["errors"],
        serde_json::json!([]),
        "ssb-validate refused some messages"
    );
    assert_eq!(report["valid"], 600);
}
