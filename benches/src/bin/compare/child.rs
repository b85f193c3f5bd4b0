//! Runs one phase in a child process and watches its memory from the outside.
//!
//! Both systems' phases print one JSON line `{"system","phase","rows","info","memory"}`; the
//! runner adds the peaks it saw in `/proc/<pid>/status` while the child ran (VmHWM, RssAnon,
//! RssFile), so peak RSS is per phase and anonymous memory is told apart from the mapped log.
//! It also reads the child's CPU time (user + system, `/proc/<pid>/stat`) until it exits: on
//! a shared machine that figure does not depend on what else runs, unlike the wall clock.

use std::collections::BTreeMap;
use std::io::Read;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::Result;

/// How often the runner samples the child's memory.
const POLL: Duration = Duration::from_millis(5);

/// Memory figures in KiB, as `/proc/<pid>/status` reports them.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize)]
pub struct Memory {
    #[serde(default)]
    pub vm_hwm_kib: Option<u64>,
    #[serde(default)]
    pub rss_anon_kib: Option<u64>,
    #[serde(default)]
    pub rss_file_kib: Option<u64>,
}

impl Memory {
    fn read(pid: u32) -> Option<Self> {
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
        Some(Self::parse(&status))
    }

    /// Parses the text of a `/proc/<pid>/status` file.
    pub fn parse(status: &str) -> Self {
        let kib = |name: &str| {
            status
                .lines()
                .find_map(|l| l.strip_prefix(name)?.strip_prefix(':'))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        };
        Self {
            vm_hwm_kib: kib("VmHWM"),
            rss_anon_kib: kib("RssAnon"),
            rss_file_kib: kib("RssFile"),
        }
    }

    fn max(self, other: Self) -> Self {
        let m = |a: Option<u64>, b: Option<u64>| a.max(b);
        Self {
            vm_hwm_kib: m(self.vm_hwm_kib, other.vm_hwm_kib),
            rss_anon_kib: m(self.rss_anon_kib, other.rss_anon_kib),
            rss_file_kib: m(self.rss_file_kib, other.rss_file_kib),
        }
    }
}

/// What one phase of one system printed, plus the memory peaks seen from outside.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PhaseOutput {
    pub system: String,
    pub phase: String,
    pub rows: BTreeMap<String, f64>,
    #[serde(default)]
    pub info: serde_json::Value,
    /// The child's own reading at its end (VmHWM is the exact peak).
    #[serde(default)]
    pub memory: Memory,
    /// Peaks of the runner's samples while the child ran.
    #[serde(default)]
    pub polled: Memory,
    /// The child's CPU time (user + system, seconds) at the runner's last sample before it
    /// exited (at most one sampling period short).
    #[serde(default)]
    pub cpu_s: Option<f64>,
}

impl PhaseOutput {
    /// The child's CPU seconds as a row, when it was sampled.
    pub fn cpu_row(&self) -> Option<(String, f64)> {
        Some((format!("{}.cpu_s", self.phase), self.cpu_s?))
    }

    /// Peak resident memory in MiB: total, anonymous, file-backed (the mapped log and files).
    pub fn memory_rows(&self) -> [(String, f64); 3] {
        // A child faster than the sampling period leaves only its own end-of-phase reading.
        let peak = self.polled.max(self.memory);
        let mib = |k: Option<u64>| k.unwrap_or(0) as f64 / 1024.0;
        [
            (format!("{}.peak_rss_mib", self.phase), mib(peak.vm_hwm_kib)),
            (
                format!("{}.peak_anon_mib", self.phase),
                mib(peak.rss_anon_kib),
            ),
            (
                format!("{}.peak_file_mib", self.phase),
                mib(peak.rss_file_kib),
            ),
        ]
    }
}

/// Runs `cmd` to completion, sampling its memory; returns its parsed last stdout line.
pub fn run(mut cmd: Command) -> Result<PhaseOutput> {
    let shown = format!("{cmd:?}");
    let mut child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .map_err(|e| format!("cannot start {shown}: {e}"))?;
    let pid = child.id();
    let mut stdout = child.stdout.take().ok_or("child has no stdout")?;
    let done = Arc::new(AtomicBool::new(false));
    let sampler = spawn_sampler(pid, Arc::clone(&done));
    let mut text = String::new();
    let read = stdout.read_to_string(&mut text);
    let status = child
        .wait()
        .map_err(|e| format!("waiting for {shown}: {e}"))?;
    done.store(true, Ordering::Relaxed);
    let (polled, cpu_s) = sampler.join().unwrap_or_default();
    read.map_err(|e| format!("reading output of {shown}: {e}"))?;
    if !status.success() {
        return Err(format!("{shown} failed ({status}); its output:\n{text}"));
    }
    let mut out = parse_output(&text, polled).map_err(|e| format!("{shown}: {e}"))?;
    out.cpu_s = cpu_s;
    Ok(out)
}

/// Samples the child's memory peaks and CPU time until it is reaped.
fn spawn_sampler(
    pid: u32,
    done: Arc<AtomicBool>,
) -> std::thread::JoinHandle<(Memory, Option<f64>)> {
    std::thread::spawn(move || {
        let mut peak = Memory::default();
        let mut cpu = None;
        while !done.load(Ordering::Relaxed) {
            match Memory::read(pid) {
                Some(m) => peak = peak.max(m),
                None => break,
            }
            cpu = cpu_seconds(pid).or(cpu);
            std::thread::sleep(POLL);
        }
        (peak, cpu)
    })
}

/// User + system CPU seconds of process `pid` so far (`None` once it is gone).
fn cpu_seconds(pid: u32) -> Option<f64> {
    let s = sluice_benches::proc_stat::cpu_seconds(&format!("/proc/{pid}/stat"));
    (s > 0.0).then_some(s)
}

fn parse_output(text: &str, polled: Memory) -> Result<PhaseOutput> {
    let line = text.lines().rev().find(|l| l.trim_start().starts_with('{'));
    let line = line.ok_or_else(|| format!("no JSON result line in its output:\n{text}"))?;
    let mut out: PhaseOutput =
        serde_json::from_str(line).map_err(|e| format!("bad result line {line:?}: {e}"))?;
    out.polled = polled;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_proc_status() {
        let m =
            Memory::parse("Name:\tnode\nVmHWM:\t  2048 kB\nRssAnon:\t 1024 kB\nRssFile:\t 10 kB\n");
        assert_eq!(
            (m.vm_hwm_kib, m.rss_anon_kib, m.rss_file_kib),
            (Some(2048), Some(1024), Some(10))
        );
    }

    #[test]
    fn takes_the_last_json_line() {
        let text = "noise\n{\"system\":\"x\",\"phase\":\"p\",\"rows\":{\"p.ms\":1.5}}\n";
        let out = parse_output(text, Memory::default()).expect("parses");
        assert_eq!(out.rows.get("p.ms"), Some(&1.5));
    }
}
