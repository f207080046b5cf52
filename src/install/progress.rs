//! Progress output for `up`: on a terminal, an indicatif multi-progress with one line per
//! component (state, what it waits for, elapsed time); otherwise (CI logs, pipes) one plain line
//! per event, with repeated observations suppressed. The engine only emits [`Event`]s.

use std::collections::BTreeMap;
use std::io::{IsTerminal, Write};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

/// Something the install did or saw.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Event<'a> {
    PhaseStarted {
        phase: &'a str,
    },
    PhaseFinished {
        phase: &'a str,
        took: Duration,
        detail: &'a str,
    },
    PhaseFailed {
        phase: &'a str,
        took: Duration,
    },
    ComponentStarted {
        component: &'a str,
    },
    /// The latest observation of what a component still waits for.
    ComponentWaiting {
        component: &'a str,
        observed: &'a str,
    },
    ComponentReady {
        component: &'a str,
        took: Duration,
    },
    ComponentFailed {
        component: &'a str,
        took: Duration,
    },
    ComponentBlocked {
        component: &'a str,
        by: &'a str,
    },
}

/// Receives events; implementations must be cheap, they run on the install's task.
pub trait Reporter: Send + Sync {
    fn report(&self, event: Event<'_>);
}

/// Discards every event (tests, `--quiet`).
pub struct Silent;

impl Reporter for Silent {
    fn report(&self, _: Event<'_>) {}
}

/// How progress is shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Style {
    /// One live line per component (a terminal).
    Bars,
    /// One line per event on stdout.
    Lines,
    /// One line per event on stderr (stdout carries a JSON report).
    LinesToStderr,
}

impl Style {
    /// Bars on a terminal, plain lines otherwise; stderr when stdout is reserved for JSON.
    pub fn detect(json_on_stdout: bool) -> Style {
        if json_on_stdout {
            Style::LinesToStderr
        } else if std::io::stdout().is_terminal() {
            Style::Bars
        } else {
            Style::Lines
        }
    }
}

/// The progress display for one `up`.
pub struct Progress {
    started: Instant,
    inner: Inner,
}

enum Inner {
    Bars {
        multi: MultiProgress,
        bars: Mutex<BTreeMap<String, ProgressBar>>,
        style: ProgressStyle,
    },
    Lines {
        to_stderr: bool,
        last: Mutex<BTreeMap<String, String>>,
    },
}

impl Progress {
    /// A display with a line reserved for each of `components`, in install order; a component
    /// not listed gets its line when it starts.
    pub fn new(style: Style, components: &[&str]) -> Progress {
        let inner = match style {
            Style::Bars => {
                let multi = MultiProgress::with_draw_target(ProgressDrawTarget::stdout());
                let template = ProgressStyle::with_template(
                    "{spinner:.cyan} {prefix:<22} {elapsed:>5} {wide_msg}",
                )
                .expect("static template");
                let bars = components
                    .iter()
                    .map(|name| {
                        let bar = multi.add(ProgressBar::new_spinner());
                        bar.set_style(template.clone());
                        bar.set_prefix(name.to_string());
                        bar.set_message("pending");
                        (name.to_string(), bar)
                    })
                    .collect();
                Inner::Bars {
                    multi,
                    bars: Mutex::new(bars),
                    style: template,
                }
            }
            Style::Lines | Style::LinesToStderr => Inner::Lines {
                to_stderr: style == Style::LinesToStderr,
                last: Mutex::new(BTreeMap::new()),
            },
        };
        Progress {
            started: Instant::now(),
            inner,
        }
    }

    fn line(&self, to_stderr: bool, text: &str) {
        let stamp = self.started.elapsed().as_secs_f64();
        let line = format!("[{stamp:>7.1}s] {text}\n");
        // A closed pipe must not abort an install; progress is best effort.
        if to_stderr {
            let _ = std::io::stderr().lock().write_all(line.as_bytes());
        } else {
            let _ = std::io::stdout().lock().write_all(line.as_bytes());
        }
    }
}

/// The plain-text rendering of an event (also the bars' messages).
pub fn describe(event: &Event<'_>) -> String {
    match event {
        Event::PhaseStarted { phase } => format!("{phase}: started"),
        Event::PhaseFinished {
            phase,
            took,
            detail,
        } => {
            let detail = if detail.is_empty() {
                String::new()
            } else {
                format!(" ({detail})")
            };
            format!("{phase}: done in {:.1}s{detail}", took.as_secs_f64())
        }
        Event::PhaseFailed { phase, took } => {
            format!("{phase}: FAILED after {:.1}s", took.as_secs_f64())
        }
        Event::ComponentStarted { component } => format!("{component}: waiting"),
        Event::ComponentWaiting {
            component,
            observed,
        } => format!("{component}: waiting: {observed}"),
        Event::ComponentReady { component, took } => {
            format!("{component}: ready in {:.1}s", took.as_secs_f64())
        }
        Event::ComponentFailed { component, took } => {
            format!("{component}: FAILED after {:.1}s", took.as_secs_f64())
        }
        Event::ComponentBlocked { component, by } => {
            format!("{component}: not started, {by} did not become ready")
        }
    }
}

impl Reporter for Progress {
    fn report(&self, event: Event<'_>) {
        match &self.inner {
            Inner::Lines { to_stderr, last } => {
                if let Event::ComponentWaiting {
                    component,
                    observed,
                } = event
                {
                    let mut last = last.lock().expect("not poisoned");
                    if last.get(component).map(String::as_str) == Some(observed) {
                        return;
                    }
                    last.insert(component.to_string(), observed.to_string());
                }
                self.line(*to_stderr, &describe(&event));
            }
            Inner::Bars { multi, bars, style } => {
                let mut bars = bars.lock().expect("not poisoned");
                let component = match event {
                    Event::ComponentStarted { component }
                    | Event::ComponentWaiting { component, .. }
                    | Event::ComponentReady { component, .. }
                    | Event::ComponentFailed { component, .. }
                    | Event::ComponentBlocked { component, .. } => component,
                    Event::PhaseStarted { .. } => return,
                    Event::PhaseFinished { .. } | Event::PhaseFailed { .. } => {
                        let _ = multi.println(describe(&event));
                        return;
                    }
                };
                let bar = bars.entry(component.to_string()).or_insert_with(|| {
                    let bar = multi.add(ProgressBar::new_spinner());
                    bar.set_style(style.clone());
                    bar.set_prefix(component.to_string());
                    bar
                });
                match event {
                    Event::ComponentStarted { .. } => {
                        bar.reset_elapsed();
                        bar.enable_steady_tick(Duration::from_millis(120));
                        bar.set_message("waiting");
                    }
                    Event::ComponentWaiting { observed, .. } => {
                        bar.set_message(format!("waiting: {observed}"))
                    }
                    Event::ComponentReady { .. } => bar.finish_with_message("ready"),
                    Event::ComponentFailed { .. } => bar.finish_with_message("FAILED"),
                    Event::ComponentBlocked { by, .. } => {
                        bar.finish_with_message(format!("not started ({by} not ready)"))
                    }
                    _ => {}
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_read_as_sentences() {
        assert_eq!(
            describe(&Event::ComponentWaiting {
                component: "kserve",
                observed: "0/1 replicas ready"
            }),
            "kserve: waiting: 0/1 replicas ready"
        );
        assert_eq!(
            describe(&Event::ComponentBlocked {
                component: "platform",
                by: "kyverno"
            }),
            "platform: not started, kyverno did not become ready"
        );
        assert_eq!(
            describe(&Event::PhaseFinished {
                phase: "artifacts",
                took: Duration::from_millis(1500),
                detail: "9 files, 0 downloaded"
            }),
            "artifacts: done in 1.5s (9 files, 0 downloaded)"
        );
    }

    #[test]
    fn json_output_keeps_progress_off_stdout() {
        assert_eq!(Style::detect(true), Style::LinesToStderr);
    }
}
