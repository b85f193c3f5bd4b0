//! Printing answers on stdout: JSON lines by default, or a human table with `--pretty`.

use std::io::{BufWriter, StdoutLock, Write};

use anyhow::Context as _;
use serde_json::Value;
use sluice_views::MsgRef;

/// A buffered stdout that prints messages, ids and rows.
#[derive(Debug)]
pub struct Out {
    out: BufWriter<StdoutLock<'static>>,
    pretty: bool,
    header_done: bool,
}

impl Out {
    /// Stdout, as JSON lines or (`pretty`) a table.
    pub fn new(pretty: bool) -> Out {
        Out {
            out: BufWriter::new(std::io::stdout().lock()),
            pretty,
            header_done: false,
        }
    }

    /// Prints one message: `{key,value,timestamp}`, or a table row.
    pub fn msg(&mut self, m: &MsgRef<'_>) -> anyhow::Result<()> {
        if !self.pretty {
            let mut line = Vec::with_capacity(m.value_json().len() + 160);
            m.write_json(&mut line);
            line.push(b'\n');
            return self.write(&line);
        }
        if !self.header_done {
            self.header_done = true;
            self.line(&format!(
                "{:<8} {:<14} {:<12} {:<24} {}",
                "SEQ", "AUTHOR", "TYPE", "CLAIMED (UTC)", "KEY / TEXT"
            ))?;
        }
        self.line(&row(m))
    }

    /// Prints a bare string (an id) on its own line.
    pub fn id(&mut self, id: &str) -> anyhow::Result<()> {
        self.line(id)
    }

    /// Prints a JSON object (or, when pretty, `text`).
    pub fn object(&mut self, value: &Value, text: &str) -> anyhow::Result<()> {
        if self.pretty {
            self.line(text)
        } else {
            self.line(&value.to_string())
        }
    }

    /// Prints a line of text.
    pub fn line(&mut self, text: &str) -> anyhow::Result<()> {
        self.write(text.as_bytes())?;
        self.write(b"\n")
    }

    fn write(&mut self, bytes: &[u8]) -> anyhow::Result<()> {
        self.out.write_all(bytes).context("writing to stdout")
    }

    /// Flushes stdout.
    pub fn flush(&mut self) -> anyhow::Result<()> {
        self.out.flush().context("writing to stdout")
    }
}

/// One table row: sequence, short author, type, claimed time, key and a text snippet.
fn row(m: &MsgRef<'_>) -> String {
    let author = m.author().to_string();
    let kind = m.content_type().unwrap_or("(private)");
    let text = m
        .value()
        .ok()
        .and_then(|v| v["content"]["text"].as_str().map(snippet))
        .unwrap_or_default();
    format!(
        "{:<8} {:<14} {:<12} {:<24} {} {}",
        m.sequence(),
        short(&author),
        short_type(kind),
        utc(m.timestamp()),
        m.id(),
        text
    )
}

/// The first characters of an id (`@abcdefgh…`).
pub fn short(id: &str) -> String {
    let head: String = id.chars().take(10).collect();
    format!("{head}…")
}

fn short_type(t: &str) -> String {
    if t.chars().count() > 12 {
        let head: String = t.chars().take(11).collect();
        format!("{head}…")
    } else {
        t.to_owned()
    }
}

/// The first line of a text, at most 60 characters.
pub fn snippet(text: &str) -> String {
    let line = text.lines().find(|l| !l.trim().is_empty()).unwrap_or("");
    let cut: String = line.chars().take(60).collect();
    if cut.len() < line.len() {
        format!("{cut}…")
    } else {
        cut
    }
}

/// A millisecond timestamp as `YYYY-MM-DD hh:mm:ss` UTC.
pub fn utc(ms: f64) -> String {
    let secs = (ms / 1000.0).floor() as i64;
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    let (y, mo, d) = civil_from_days(days);
    format!(
        "{y:04}-{mo:02}-{d:02} {:02}:{:02}:{:02}",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// Days since 1970-01-01 to a proleptic Gregorian date (Howard Hinnant's algorithm).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn utc_formats_known_instants() {
        assert_eq!(utc(0.0), "1970-01-01 00:00:00");
        assert_eq!(utc(1_456_154_790_701.0), "2016-02-22 15:26:30");
        assert_eq!(utc(951_782_400_000.0), "2000-02-29 00:00:00");
    }

    #[test]
    fn snippet_cuts_long_first_lines() {
        assert_eq!(snippet("\nhello\nworld"), "hello");
        let long = "x".repeat(80);
        assert_eq!(snippet(&long).chars().count(), 61);
    }
}
