//! A heartbeat around a long step with nothing else to say (training a tokenizer, pruning a real model):
//! for logs in files, where a progress bar does not show, a line on stderr every period until it ends.

use std::time::{Duration, Instant};

/// Runs `work`, printing `LABEL: Ns elapsed` on stderr every `every` until it returns (the label carries its
/// own prefix, e.g. `[data] training BPE`); with `every` `None`, just runs it.
pub fn around<T: Send>(label: &str, every: Option<Duration>, work: impl FnOnce() -> T + Send) -> T {
    let Some(every) = every else { return work() };
    let start = Instant::now();
    std::thread::scope(|s| {
        let (tx, rx) = std::sync::mpsc::channel::<()>();
        s.spawn(move || {
            while let Err(std::sync::mpsc::RecvTimeoutError::Timeout) = rx.recv_timeout(every) {
                eprintln!("{label}: {:.0}s elapsed", start.elapsed().as_secs_f64());
            }
        });
        let out = work();
        drop(tx);
        out
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_work_runs_once_and_its_value_comes_back_with_or_without_a_beat() {
        assert_eq!(around("[t] none", None, || 7), 7);
        let slow = || {
            std::thread::sleep(Duration::from_millis(30));
            8
        };
        assert_eq!(around("[t] beat", Some(Duration::from_millis(5)), slow), 8);
    }
}
