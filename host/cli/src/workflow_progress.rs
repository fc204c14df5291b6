//! How `symphony workflow run` shows a run while it goes, on stderr: on a terminal one
//! indicatif bar per step (the guest's reported fraction, its message, time left) under a line
//! with the run's ETA; anywhere else one plain line per step change. It only reads
//! [`RunProgress`] snapshots; what runs is the runner's.

use std::io::IsTerminal;
use std::sync::Arc;
use std::time::Duration;

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

use symphony_host::workflow::{ProgressSnapshot, RunProgress, StepPhase, StepSnapshot};

/// How often the display looks at the run.
const REFRESH: Duration = Duration::from_millis(100);
/// Bar resolution, in steps of the 0..=1 fraction.
const BAR_LENGTH: u64 = 1_000;

/// Watch `progress` until `done` resolves, drawing bars on a terminal and lines elsewhere.
pub(crate) async fn watch<F: std::future::Future>(progress: &Arc<RunProgress>, done: F) -> F::Output {
    let mut display = Display::for_stderr(&progress.snapshot());
    tokio::pin!(done);
    let mut tick = tokio::time::interval(REFRESH);
    loop {
        tokio::select! {
            output = &mut done => {
                display.update(&progress.snapshot());
                display.finish();
                return output;
            }
            _ = tick.tick() => display.update(&progress.snapshot()),
        }
    }
}

enum Display {
    Bars { multi: MultiProgress, header: ProgressBar, steps: Vec<ProgressBar> },
    Lines { last: Vec<(StepPhase, Option<String>)> },
}

impl Display {
    fn for_stderr(first: &ProgressSnapshot) -> Self {
        if !std::io::stderr().is_terminal() {
            return Self::Lines { last: first.steps.iter().map(|s| (s.phase, None)).collect() };
        }
        let multi = MultiProgress::with_draw_target(ProgressDrawTarget::stderr());
        let header = multi.add(ProgressBar::new_spinner());
        header.set_style(
            ProgressStyle::with_template("{spinner:.cyan} {wide_msg}")
                .unwrap_or_else(|_| ProgressStyle::default_spinner()),
        );
        let width = first.steps.iter().map(|s| s.id.len()).max().unwrap_or(4);
        let style =
            ProgressStyle::with_template(&format!("{{prefix:>{width}}} [{{bar:24.cyan/blue}}] {{wide_msg}}"))
                .unwrap_or_else(|_| ProgressStyle::default_bar())
                .progress_chars("=> ");
        let steps = first
            .steps
            .iter()
            .map(|step| {
                let bar = multi.add(ProgressBar::new(BAR_LENGTH).with_style(style.clone()));
                bar.set_prefix(step.id.clone());
                bar
            })
            .collect();
        Self::Bars { multi, header, steps }
    }

    fn update(&mut self, snapshot: &ProgressSnapshot) {
        match self {
            Self::Bars { header, steps, .. } => {
                header.set_message(format!(
                    "elapsed {} · ETA {}",
                    seconds(snapshot.elapsed_ms),
                    eta(snapshot.eta_ms)
                ));
                header.tick();
                for (bar, step) in steps.iter().zip(&snapshot.steps) {
                    let fraction = match step.phase {
                        StepPhase::Ok | StepPhase::Skipped => 1.0,
                        _ => step.fraction.map_or_else(|| estimated_fraction(step), f64::from),
                    };
                    bar.set_position((fraction * BAR_LENGTH as f64) as u64);
                    bar.set_message(describe(step));
                }
            }
            Self::Lines { last } => {
                for (seen, step) in last.iter_mut().zip(&snapshot.steps) {
                    let waiting = step.waiting.as_ref().map(|_| describe(step));
                    if (seen.0, seen.1.as_ref()) != (step.phase, waiting.as_ref()) {
                        eprintln!("[{:>7}] {}: {}", seconds(snapshot.elapsed_ms), step.id, describe(step));
                        *seen = (step.phase, waiting);
                    }
                }
            }
        }
    }

    fn finish(&self) {
        if let Self::Bars { multi, header, steps } = self {
            header.finish_and_clear();
            for bar in steps {
                bar.abandon();
            }
            let _ = multi.clear();
        }
    }
}

/// Without a reported fraction: how much of the estimate has gone by, capped below done.
fn estimated_fraction(step: &StepSnapshot) -> f64 {
    match (step.estimate_ms, step.remaining_ms) {
        (Some(estimate), Some(remaining)) if estimate > 0 && step.phase == StepPhase::Running => {
            (1.0 - remaining as f64 / estimate as f64).clamp(0.0, 0.95)
        }
        _ => 0.0,
    }
}

/// One step in words: its phase, what it waits on and until when, the guest's message, time
/// left.
pub(crate) fn describe(step: &StepSnapshot) -> String {
    let mut text = step.phase.as_str().to_owned();
    if let Some(waiting) = &step.waiting {
        let what = if waiting.reason == "quarantined" { "quarantine of" } else { "open breaker of" };
        text = format!("waiting on the {what} {}", waiting.extension);
        if let Some(remaining) = step.remaining_ms {
            text.push_str(&format!(", may recover in {}", seconds(remaining)));
        }
        if let Some(mean) = waiting.mean_recovery_ms {
            text.push_str(&format!(" (earlier trips recovered in {} on average)", seconds(mean)));
        }
        return text;
    }
    if let Some(fraction) = step.fraction
        && !step.phase.is_final()
    {
        text.push_str(&format!(" {:.0}%", fraction * 100.0));
    }
    if !step.message.is_empty() && !step.phase.is_final() {
        text.push_str(&format!(" · {}", step.message));
    }
    if step.phase == StepPhase::Running
        && let Some(remaining) = step.remaining_ms
    {
        text.push_str(&format!(" · ~{} left", seconds(remaining)));
    }
    text
}

fn eta(eta_ms: Option<u64>) -> String {
    eta_ms.map_or_else(|| "unknown (no baseline yet)".to_owned(), seconds)
}

/// Milliseconds as seconds with two decimals.
pub(crate) fn seconds(ms: u64) -> String {
    format!("{:.2}s", ms as f64 / 1_000.0)
}
