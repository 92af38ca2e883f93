//! Progress bars for long steps (on stderr), or nothing when progress is off.

use indicatif::{ProgressBar, ProgressStyle};

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
