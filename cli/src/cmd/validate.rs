//! `sluice validate`: checks JSON-lines messages like ssb-validate, one verdict line per input line.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, BufWriter, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context as _, bail};
use serde_json::{Value, json};
use sluice_msg::{FeedId, FeedState, HmacKey, Message, ValidationError};

/// Arguments of `sluice validate`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The input: one message value or `{key, value, …}` entry per line; `-` is stdin.
    #[arg(default_value = "-")]
    pub file: String,
    /// Check each message alone (out of order): no feed chain.
    #[arg(long)]
    pub ooo: bool,
    /// The HMAC signing key (base64 of 32 bytes) of a network other than the main one.
    #[arg(long, value_name = "BASE64")]
    pub hmac_key: Option<String>,
}

/// Validates every line; exit 0 if all are valid, 1 if any is not, 2 on usage or I/O errors.
pub fn run(_cli: &crate::Cli, args: &Args) -> anyhow::Result<ExitCode> {
    let hmac = parse_hmac(args.hmac_key.as_deref())?;
    let input = open(&args.file)?;
    let stdout = std::io::stdout().lock();
    let mut out = BufWriter::new(stdout);
    let mut checker = Checker {
        ooo: args.ooo,
        hmac,
        feeds: HashMap::new(),
    };
    let mut all_valid = true;
    for (n, line) in input.lines().enumerate() {
        let line = line.with_context(|| format!("reading {} line {}", args.file, n + 1))?;
        if line.trim().is_empty() {
            continue;
        }
        let verdict = checker.check(&line);
        all_valid &= verdict.get("valid") == Some(&Value::Bool(true));
        let mut report = json!({"line": n + 1});
        report
            .as_object_mut()
            .expect("object")
            .extend(verdict.as_object().cloned().unwrap_or_default());
        writeln!(out, "{report}").context("writing to stdout")?;
    }
    out.flush().context("writing to stdout")?;
    Ok(if all_valid {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

fn parse_hmac(key: Option<&str>) -> anyhow::Result<Option<HmacKey>> {
    let Some(key) = key else { return Ok(None) };
    match key.parse::<HmacKey>() {
        Ok(k) => Ok(Some(k)),
        Err(e) => bail!("--hmac-key: {e}"),
    }
}

fn open(file: &str) -> anyhow::Result<Box<dyn BufRead>> {
    if file == "-" {
        return Ok(Box::new(BufReader::new(std::io::stdin())));
    }
    let path = PathBuf::from(file);
    let f = std::fs::File::open(&path).with_context(|| format!("opening {}", path.display()))?;
    Ok(Box::new(BufReader::new(f)))
}

/// The running state: the latest valid message of every feed seen so far.
struct Checker {
    ooo: bool,
    hmac: Option<HmacKey>,
    feeds: HashMap<FeedId, FeedState>,
}

impl Checker {
    /// The verdict for one line: `{"id", "valid"}` plus `"error"` when invalid.
    fn check(&mut self, line: &str) -> Value {
        let msg = match parse_line(line) {
            Ok(msg) => msg,
            Err(e) => return invalid(Value::Null, &e),
        };
        let id = Value::String(msg.id().to_string());
        match self.validate(&msg) {
            Ok(()) => json!({"id": id, "valid": true}),
            Err(e) => invalid(id, &e),
        }
    }

    fn validate(&mut self, msg: &Message) -> Result<(), ValidationError> {
        if self.ooo {
            return sluice_msg::validate_ooo(msg, self.hmac.as_ref());
        }
        let state = self.feeds.get(&msg.author());
        sluice_msg::validate(state, msg, self.hmac.as_ref())?;
        self.feeds.insert(msg.author(), FeedState::of(msg));
        Ok(())
    }
}

fn parse_line(line: &str) -> Result<Message, ValidationError> {
    let value: Value = serde_json::from_str(line).map_err(ValidationError::Json)?;
    Message::from_entry(value).map(|(msg, _)| msg)
}

fn invalid(id: Value, e: &ValidationError) -> Value {
    json!({"id": id, "valid": false, "error": format!("{}: {e}", e.check())})
}

#[cfg(test)]
mod tests {
    use super::*;

    fn small_lines() -> Vec<String> {
        let path =
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/data/small/msgs.jsonl");
        std::fs::read_to_string(path)
            .unwrap()
            .lines()
            .take(50)
            .map(String::from)
            .collect()
    }

    fn checker(ooo: bool) -> Checker {
        Checker {
            ooo,
            hmac: None,
            feeds: HashMap::new(),
        }
    }

    #[test]
    fn fixture_lines_are_valid_in_order_and_duplicates_are_named() {
        let lines = small_lines();
        let mut c = checker(false);
        for line in &lines {
            let v = c.check(line);
            assert_eq!(v["valid"], true, "{v}");
            assert!(v["id"].as_str().unwrap().starts_with('%'));
        }
        let again = c.check(&lines[0]);
        assert_eq!(again["valid"], false);
        let error = again["error"].as_str().unwrap();
        assert!(
            error.starts_with("duplicate: ") || error.starts_with("old: "),
            "{error}"
        );
    }

    #[test]
    fn bad_lines_get_a_check_name_and_maybe_no_id() {
        let mut c = checker(true);
        let v = c.check("{not json");
        assert_eq!(v["id"], Value::Null);
        assert!(v["error"].as_str().unwrap().starts_with("json: "));
        let mut entry: Value = serde_json::from_str(&small_lines()[2]).unwrap();
        entry["key"] = "%AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=.sha256".into();
        let v = c.check(&entry.to_string());
        assert!(v["error"].as_str().unwrap().starts_with("key: "), "{v}");
        // Out of order, a later message alone is fine.
        let v = c.check(&small_lines()[2]);
        assert_eq!(v["valid"], true, "{v}");
        assert_eq!(checker(false).check(&small_lines()[2])["valid"], false);
    }

    #[test]
    fn malformed_hmac_keys_are_usage_errors() {
        assert!(parse_hmac(Some("abc")).is_err());
        assert!(
            parse_hmac(Some("Z0e2zyrmHeit5ydNjaw2bLlrHBwx9UcivTAAGquwQ+Y="))
                .unwrap()
                .is_some()
        );
        assert!(parse_hmac(None).unwrap().is_none());
    }
}
