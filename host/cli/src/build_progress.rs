//! How `symphony build` shows its progress, on stderr. On a terminal: one indicatif spinner per
//! crate (units compiled so far, the last one, time so far) that gives way to the crate's result
//! line. Anywhere else (a pipe, a file, CI): plain lines, one when a crate starts and one when
//! it is done, with its time, and no cursor movement or colour. What is built is `build`'s.

use std::io::IsTerminal;
use std::path::Path;
use std::time::{Duration, Instant};

use indicatif::{MultiProgress, ProgressBar, ProgressStyle};

use super::display;

/// How often a spinner redraws on its own while cargo is quiet.
const TICK: Duration = Duration::from_millis(120);

/// The display for a whole `symphony build`.
#[derive(Debug)]
pub(crate) enum BuildProgress {
    /// stderr is a terminal: live spinners.
    Bars(MultiProgress),
    /// stderr is not a terminal: a line per event.
    Lines,
}

impl BuildProgress {
    /// Spinners when stderr is a terminal, plain lines otherwise.
    pub(crate) fn for_stderr() -> Self {
        if std::io::stderr().is_terminal() { Self::Bars(MultiProgress::new()) } else { Self::Lines }
    }

    /// Crate number `index` (1-based) of `total`, at `crate_dir`, starts building.
    pub(crate) fn start(&self, index: usize, total: usize, crate_dir: &Path) -> CrateProgress {
        let label = format!("[{index}/{total}] {}", crate_dir.display());
        let bar = match self {
            Self::Bars(multi) => {
                let style =
                    ProgressStyle::with_template("{spinner:.cyan} {prefix} · {wide_msg} {elapsed:>4}")
                        .unwrap_or_else(|_| ProgressStyle::default_spinner());
                let bar = multi.add(ProgressBar::new_spinner().with_style(style).with_prefix(label.clone()));
                bar.set_message("starting cargo");
                bar.enable_steady_tick(TICK);
                Some((multi.clone(), bar))
            }
            Self::Lines => {
                eprintln!("building {label}");
                None
            }
        };
        CrateProgress { bar, label, started: Instant::now() }
    }
}

/// One crate's build, as it goes.
#[derive(Debug)]
pub(crate) struct CrateProgress {
    bar: Option<(MultiProgress, ProgressBar)>,
    label: String,
    started: Instant,
}

impl CrateProgress {
    /// cargo finished `unit` (a dependency or the crate itself). Lines mode says nothing: one
    /// line per crate, not per unit.
    pub(crate) fn compiled(&self, unit: &str) {
        if let Some((_, bar)) = &self.bar {
            bar.inc(1);
            bar.set_message(format!(
                "{} compiled, last {unit}",
                display::plural(bar.position(), "unit", "units")
            ));
        }
    }

    /// Seconds since the crate started.
    pub(crate) fn elapsed_s(&self) -> f64 {
        self.started.elapsed().as_secs_f64()
    }

    /// The crate is built: `summary` replaces its spinner (or follows its start line).
    pub(crate) fn finished(self, summary: &str) {
        self.end(summary);
    }

    /// The crate failed to build.
    pub(crate) fn failed(self) {
        let line = format!("failed {} after {:.1} s", self.label, self.elapsed_s());
        self.end(&line);
    }

    fn end(self, line: &str) {
        match self.bar {
            Some((multi, bar)) => {
                bar.finish_and_clear();
                // Printed above any live bars; a closed terminal leaves nothing to tell.
                if multi.println(line).is_err() {
                    eprintln!("{line}");
                }
                multi.remove(&bar);
            }
            None => eprintln!("{line}"),
        }
    }
}
