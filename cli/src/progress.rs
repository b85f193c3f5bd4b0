//! Progress reports on stderr: an indicatif bar on a terminal, plain periodic lines otherwise.

use std::io::IsTerminal as _;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressStyle};

/// How often plain (non-terminal) progress lines are printed.
const PLAIN_EVERY: Duration = Duration::from_secs(2);

/// A progress meter over a known or unknown total of `unit`s.
#[derive(Debug)]
pub struct Meter {
    bar: Option<ProgressBar>,
    what: String,
    total: Option<u64>,
    last_line: Instant,
    quiet: bool,
}

impl Meter {
    /// A meter for `what` (e.g. "importing"), counting bytes towards `total` when known.
    pub fn new(what: &str, total: Option<u64>) -> Meter {
        let bar = std::io::stderr().is_terminal().then(|| bar(total));
        if let Some(bar) = &bar {
            bar.set_message(what.to_owned());
        }
        Meter {
            bar,
            what: what.to_owned(),
            total,
            last_line: Instant::now(),
            quiet: false,
        }
    }

    /// A meter that reports nothing (for the demo and tests of the pipeline).
    pub fn hidden() -> Meter {
        Meter {
            bar: None,
            what: String::new(),
            total: None,
            last_line: Instant::now(),
            quiet: true,
        }
    }

    /// Reports that `done` bytes of the total are processed, with a short status text.
    pub fn set(&mut self, done: u64, status: &str) {
        if self.quiet {
            return;
        }
        if let Some(bar) = &self.bar {
            bar.set_position(done);
            bar.set_message(format!("{} {status}", self.what));
            return;
        }
        if self.last_line.elapsed() >= PLAIN_EVERY {
            self.last_line = Instant::now();
            eprintln!("{}: {}{status}", self.what, percent(done, self.total));
        }
    }

    /// Ends the bar (leaving it on screen).
    pub fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish();
        }
    }
}

fn percent(done: u64, total: Option<u64>) -> String {
    match total {
        Some(t) if t > 0 => format!("{:.0}% ", done as f64 * 100.0 / t as f64),
        _ => String::new(),
    }
}

fn bar(total: Option<u64>) -> ProgressBar {
    let Some(total) = total else {
        let bar = ProgressBar::new_spinner();
        bar.enable_steady_tick(Duration::from_millis(200));
        return bar;
    };
    let bar = ProgressBar::new(total);
    let style = ProgressStyle::with_template(
        "{wide_bar} {bytes}/{total_bytes} {elapsed_precise} eta {eta} {msg}",
    )
    .unwrap_or_else(|_| ProgressStyle::default_bar());
    bar.set_style(style);
    bar
}
