//! Progress output: timestamped phase lines and spinners, silent unless
//! verbose (the tests run the demo quietly through the library).

use indicatif::{ProgressBar, ProgressStyle};
use std::time::{Duration, Instant};

pub(super) struct Ui {
    pub verbose: bool,
    pub start: Instant,
}

impl Ui {
    pub fn new(verbose: bool) -> Self {
        Self {
            verbose,
            start: Instant::now(),
        }
    }

    /// One line, prefixed with the seconds since the demo started.
    pub fn step(&self, text: impl AsRef<str>) {
        if self.verbose {
            println!(
                "[{:>5.1}s] {}",
                self.start.elapsed().as_secs_f64(),
                text.as_ref()
            );
        }
    }

    /// A spinner for a wait; the caller clears it when done.
    pub fn spinner(&self, text: &str) -> ProgressBar {
        let bar = if self.verbose {
            ProgressBar::new_spinner()
        } else {
            ProgressBar::hidden()
        };
        bar.set_style(ProgressStyle::with_template("        {spinner} {msg} ({elapsed})").unwrap());
        bar.set_message(text.to_string());
        bar.enable_steady_tick(Duration::from_millis(120));
        bar
    }

    /// A bar counting jobs that reached a final status.
    pub fn job_bar(&self, jobs: usize) -> ProgressBar {
        let bar = if self.verbose {
            ProgressBar::new(jobs as u64)
        } else {
            ProgressBar::hidden()
        };
        bar.set_style(
            ProgressStyle::with_template("        jobs [{bar:30}] {pos}/{len} final  {msg}")
                .unwrap()
                .progress_chars("=> "),
        );
        bar
    }
}

/// The first 12 characters of an id, for one-line reports.
pub(super) fn short_id(id: &str) -> String {
    if id.len() > 12 {
        format!("{}…", &id[..12])
    } else {
        id.to_string()
    }
}
