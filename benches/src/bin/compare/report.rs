//! The results: a markdown table (median, min–max, ratio, bound) and a JSON file.

use std::fmt::Write as _;
use std::path::Path;

use serde::Serialize;

use crate::Result;
use crate::bound::Bounds;
use crate::child::PhaseOutput;
use crate::fixture::{Fixture, Targets};
use crate::machine::Machine;
use crate::runner::Collected;
use crate::stats::Summary;

/// One line of the table.
#[derive(Debug, Clone, Serialize)]
pub struct Row {
    pub name: String,
    pub unit: &'static str,
    pub sluice: Option<Summary>,
    pub ssb_db2: Option<Summary>,
    /// sluice median / ssb-db2 median (lower is better on every row).
    pub ratio: Option<f64>,
    /// The physical bound on this machine, in the row's unit, where one applies.
    pub bound: Option<f64>,
    pub bound_note: Option<&'static str>,
}

/// Everything a run produced.
#[derive(Debug, Serialize)]
pub struct Report {
    pub machine: Machine,
    pub fixture: Fixture,
    pub targets: Targets,
    pub bounds: Bounds,
    pub command: String,
    pub rows: Vec<Row>,
    pub failures: Vec<String>,
    pub phases: Vec<PhaseOutput>,
}

impl Report {
    /// Summarises the collected samples into rows.
    pub fn new(
        machine: Machine,
        fixture: &Fixture,
        targets: &Targets,
        bounds: Bounds,
        got: Collected,
        command: String,
    ) -> Self {
        let sluice_log = got
            .samples
            .get("disk.log_mib")
            .and_then(|m| m.get("sluice"))
            .map(|v| v[0]);
        let rows = got
            .order
            .iter()
            .map(|name| {
                let by = &got.samples[name];
                let s = by.get("sluice").and_then(|v| Summary::of(v));
                let d = by.get("ssb-db2").and_then(|v| Summary::of(v));
                let ratio = s.as_ref().zip(d.as_ref()).map(|(s, d)| s.median / d.median);
                let (bound, bound_note) = bound_for(name, &bounds, targets.messages, sluice_log);
                Row {
                    name: name.clone(),
                    unit: unit(name),
                    sluice: s,
                    ssb_db2: d,
                    ratio,
                    bound,
                    bound_note,
                }
            })
            .collect();
        Self {
            machine,
            fixture: fixture.clone(),
            targets: targets.clone(),
            bounds,
            command,
            rows,
            failures: got.failures,
            phases: got.outputs,
        }
    }
}

/// The unit of a row, from its name's suffix.
pub fn unit(name: &str) -> &'static str {
    if name.ends_with("ms") {
        "ms"
    } else if name.ends_with(".us") {
        "µs"
    } else if name.ends_with("mib") {
        "MiB"
    } else if name.ends_with("cpu_s") {
        "CPU s"
    } else if name.ends_with("per_s") {
        "/s"
    } else {
        ""
    }
}

fn bound_for(
    name: &str,
    b: &Bounds,
    messages: usize,
    sluice_log_mib: Option<f64>,
) -> (Option<f64>, Option<&'static str>) {
    match name {
        "import.ms" => (
            Some(b.import_ms(messages)),
            Some("every signature, batch-verified on all cores, the faster method"),
        ),
        "reindex.ms" => {
            let bytes = sluice_log_mib.map(|m| (m * 1024.0 * 1024.0) as u64);
            (
                bytes.map(|x| b.scan_ms(x)),
                Some("one CRC32 pass over sluice's log in memory"),
            )
        }
        _ => (None, None),
    }
}

/// A number with about three significant digits.
pub fn num(v: f64) -> String {
    let a = v.abs();
    if a >= 100.0 || a == 0.0 {
        format!("{v:.0}")
    } else if a >= 10.0 {
        format!("{v:.1}")
    } else if a >= 1.0 {
        format!("{v:.2}")
    } else {
        // Below 1: three significant digits, however many zeros come first.
        let zeros = ((-a.log10()).ceil() as usize).saturating_sub(1);
        format!("{v:.prec$}", prec = zeros + 3)
    }
}

fn cell(s: Option<&Summary>) -> String {
    match s {
        None => "—".into(),
        Some(s) if s.samples.len() == 1 => num(s.median),
        Some(s) => format!("{} ({}–{})", num(s.median), num(s.min), num(s.max)),
    }
}

fn ratio_cell(r: Option<f64>) -> String {
    match r {
        None => "—".into(),
        Some(r) if r > 0.0 && r < 1.0 => format!("{} ({}× better)", num(r), num(1.0 / r)),
        Some(r) => num(r),
    }
}

/// The markdown table.
pub fn markdown(report: &Report) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "| row | unit | sluice median (min–max) | ssb-db2 median (min–max) | sluice/ssb-db2 | bound |"
    );
    let _ = writeln!(out, "|---|---|---|---|---|---|");
    for r in &report.rows {
        let bound = r.bound.map_or("—".into(), |b| {
            format!("{} ({})", num(b), r.bound_note.unwrap_or(""))
        });
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {} | {} |",
            r.name,
            r.unit,
            cell(r.sluice.as_ref()),
            cell(r.ssb_db2.as_ref()),
            ratio_cell(r.ratio),
            bound
        );
    }
    out
}

/// The header lines above the table: machine, fixture, bounds, command.
pub fn preamble(report: &Report) -> String {
    let t = &report.targets;
    let b = &report.bounds;
    format!(
        "Machine: {}\nFixture: {} ({} messages; {})\nTargets: author {} ({} msgs), thread {} ({} replies), most-voted {} ({} votes), main feed {}\nBounds: ed25519-dalek verify_batch /64 {:.1} µs/sig on 1 core, {:.1} µs/sig on all cores; sluice-msg batch_verifies /1024 {:.1} µs/sig on all cores; CRC32 {:.1} GiB/s\nCommand: {}\n",
        report.machine.describe(),
        report.fixture.name,
        t.messages,
        report.fixture.jsonl.display(),
        t.author,
        t.author_messages,
        t.thread_root,
        t.thread_replies,
        t.most_voted,
        t.votes,
        t.main_feed,
        b.verify_us_per_sig_1core,
        b.verify_us_per_sig_all,
        b.sluice_us_per_sig_all,
        b.crc_gib_s,
        report.command,
    )
}

/// Writes the report as JSON to `out`.
pub fn save(report: &Report, out: &Path) -> Result<()> {
    let json = serde_json::to_vec_pretty(report).map_err(|e| e.to_string())?;
    std::fs::write(out, json).map_err(|e| format!("write {}: {e}", out.display()))
}

/// Prints the table and writes the JSON (and the table beside it as `.md`).
pub fn write(report: &Report, out: &Path) -> Result<()> {
    let text = format!("{}\n{}", preamble(report), markdown(report));
    println!("{text}");
    for f in &report.failures {
        println!("FAILED: {f}");
    }
    save(report, out)?;
    let md = out.with_extension("md");
    std::fs::write(&md, text).map_err(|e| format!("write {}: {e}", md.display()))?;
    eprintln!("wrote {} and {}", out.display(), md.display());
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn units_follow_suffixes() {
        assert_eq!(unit("import.ms"), "ms");
        assert_eq!(unit("open.first_get_ms"), "ms");
        assert_eq!(unit("rawlog.get.us"), "µs");
        assert_eq!(unit("import.peak_anon_mib"), "MiB");
        assert_eq!(unit("import.cpu_s"), "CPU s");
        assert_eq!(unit("disk.views_per_log"), "");
    }

    #[test]
    fn numbers_keep_three_digits() {
        assert_eq!(num(40712.3), "40712");
        assert_eq!(num(12.34), "12.3");
        assert_eq!(num(0.01234), "0.0123");
        assert_eq!(num(0.5), "0.500");
        assert_eq!(num(0.000251), "0.000251");
        assert_eq!(ratio_cell(Some(0.1)), "0.100 (10.0× better)");
    }
}
