//! The event stream of a check run: the run started, a check observed something, a check
//! finished, the run finished (with its cancel reason when it was cut short). The human progress
//! lines, the report that the JSON, JUnit and human renderings and the diagnostics bundle are
//! made from, and the cargo test trials all listen to this one stream, as nextest's reporters
//! listen to its runner.

use std::time::SystemTime;

use super::catalogue::CheckId;
use super::outcome::CheckResult;
use super::runner::RunResults;
use super::selection::Selection;

/// Why a run stopped before every check concluded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum CancelReason {
    /// The user pressed Ctrl-C (or the process got SIGINT).
    Interrupted,
}

/// One event of a run.
#[derive(Debug, Clone, Copy)]
pub enum RunEvent<'a> {
    /// The run begins with these checks.
    Started {
        selection: &'a Selection,
        at: SystemTime,
    },
    /// A check recorded a new observation (what a timeout would name).
    Observed { id: CheckId, observation: &'a str },
    /// A check concluded (or was concluded for: not run, interrupted, refused).
    Finished { result: &'a CheckResult },
    /// The run is over; `results.cancelled` says whether it was cut short.
    Completed { results: &'a RunResults },
}

/// Something that listens to a run.
pub trait EventSink: Send + Sync {
    fn event(&self, event: &RunEvent<'_>);
}

impl<F> EventSink for F
where
    F: Fn(&RunEvent<'_>) + Send + Sync,
{
    fn event(&self, event: &RunEvent<'_>) {
        self(event)
    }
}

/// Listens to nothing.
pub struct Silent;

impl EventSink for Silent {
    fn event(&self, _: &RunEvent<'_>) {}
}

/// Hands every event to each sink in turn.
pub struct Fanout<'a>(pub Vec<&'a dyn EventSink>);

impl EventSink for Fanout<'_> {
    fn event(&self, event: &RunEvent<'_>) {
        for sink in &self.0 {
            sink.event(event);
        }
    }
}
