//! Progress bars for long steps (on stderr), or nothing when progress is off; off a terminal, heartbeat
//! lines instead ([`Heartbeat`] for byte counts, [`p2law_formats::heartbeat::around`] for a step with no
//! measurable progress).

use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressStyle};

/// Off a terminal (logs in files): a `[data] …` line on stderr at most every `every`, in place of a bar.
pub struct Heartbeat {
    label: &'static str,
    every: Duration,
    start: Instant,
    last: Instant,
}

impl Heartbeat {
    pub fn new(label: &'static str, every: Duration) -> Heartbeat {
        let now = Instant::now();
        Heartbeat { label, every, start: now, last: now }
    }

    /// `done` of `total` bytes: prints when the period is over.
    pub fn bytes(&mut self, done: u64, total: u64) {
        let now = Instant::now();
        if now.duration_since(self.last) < self.every {
            return;
        }
        self.last = now;
        let secs = now.duration_since(self.start).as_secs_f64();
        let rate = done as f64 / secs.max(1e-9);
        let eta =
            if done > 0 { format!("{:.0}s", total.saturating_sub(done) as f64 / rate) } else { "?".into() };
        eprintln!(
            "[data] {} {:.1}/{:.1} MB ({:.2} MB/s) ETA {eta}",
            self.label,
            done as f64 / 1e6,
            total as f64 / 1e6,
            rate / 1e6
        );
    }
}

/// A bar counting bytes, labelled `msg`; hidden when `show` is false.
pub fn bytes_bar(show: bool, total: u64, msg: &'static str) -> ProgressBar {
    if !show {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new(total).with_message(msg);
    let style =
        ProgressStyle::with_template("{msg:>12} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec} eta {eta}")
            .expect("static template is valid")
            .progress_chars("=> ");
    bar.set_style(style);
    bar
}

/// A spinner for a step with no measurable progress (tokenizer training); hidden when `show` is false.
pub fn spinner(show: bool, msg: &'static str) -> ProgressBar {
    if !show {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new_spinner().with_message(msg);
    bar.enable_steady_tick(std::time::Duration::from_millis(120));
    bar
}
