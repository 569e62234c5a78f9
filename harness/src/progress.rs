//! Progress on stderr: an indicatif bar on a terminal, a plain line now and then otherwise
//! (CI logs), nothing with --no-progress.

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::io::IsTerminal;
use std::time::{Duration, Instant};

/// How often a plain line is printed, also while one input takes long.
pub const PLAIN_INTERVAL: Duration = Duration::from_secs(10);

pub struct Progress {
    bar: Option<ProgressBar>,
    plain: bool,
    case: String,
    case_done: u64,
    per_case: u64,
    done: u64,
    total: u64,
    started: Instant,
    last_line: Instant,
    /// The bar shows a waiting message instead of the case's name.
    bar_waiting: bool,
}

impl Progress {
    pub fn new(total: u64, enabled: bool) -> Progress {
        let terminal = enabled && std::io::stderr().is_terminal();
        let bar = terminal.then(|| {
            let bar = ProgressBar::with_draw_target(Some(total), ProgressDrawTarget::stderr());
            bar.set_style(
                ProgressStyle::with_template(
                    "{msg:24} [{bar:30}] {pos}/{len} inputs  {per_sec}  ETA {eta}",
                )
                .expect("template is valid")
                .progress_chars("=> "),
            );
            bar
        });
        Progress {
            bar,
            plain: enabled && !terminal,
            case: String::new(),
            case_done: 0,
            per_case: 0,
            done: 0,
            total,
            started: Instant::now(),
            last_line: Instant::now(),
            bar_waiting: false,
        }
    }

    /// One more input taken: the `done`th of `case`'s `inputs` (cases are taken interleaved).
    pub fn advance(&mut self, case: &str, done: u64, inputs: u64) {
        self.done += 1;
        let changed = self.case != case;
        if changed {
            self.case = case.to_string();
        }
        (self.case_done, self.per_case) = (done, inputs);
        if let Some(bar) = &self.bar {
            if std::mem::take(&mut self.bar_waiting) || changed {
                bar.set_message(self.case.clone());
            }
            bar.inc(1);
        } else if self.plain
            && (self.case_done == self.per_case || self.last_line.elapsed() >= PLAIN_INTERVAL)
        {
            self.last_line = Instant::now();
            let elapsed = self.started.elapsed().as_secs_f64();
            let rate = self.done as f64 / elapsed.max(1e-9);
            let eta = (self.total - self.done) as f64 / rate.max(1e-9);
            eprintln!(
                "tfdiff: {}: {}/{} inputs; all cases {}/{}, {rate:.1} inputs/s, ETA {eta:.0} s",
                self.case, self.case_done, self.per_case, self.done, self.total
            );
        }
    }

    /// The run has waited `waited` for `input` of `case`: a hang shows as what hangs.
    pub fn waiting(&mut self, case: &str, input: &str, waited: Duration) {
        let message = format!(
            "still evaluating {case} input {input} ({:.0} s)",
            waited.as_secs_f64()
        );
        if let Some(bar) = &self.bar {
            bar.set_message(message);
            self.bar_waiting = true;
        } else if self.plain {
            self.last_line = Instant::now();
            eprintln!("tfdiff: {message}");
        }
    }

    /// A message on stderr that does not tear the bar.
    pub fn note(&self, message: &str) {
        match &self.bar {
            Some(bar) => bar.suspend(|| eprintln!("{message}")),
            None => eprintln!("{message}"),
        }
    }

    pub fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}
