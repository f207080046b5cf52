//! The milestone checks. `catalogue` is the ground floor: every check's
//! typed id, metadata and implementation in one table. `selection` resolves the scenario and
//! `--only/--skip` into the checks of a run, `outcome` says what can happen to a check,
//! `runner` runs a selection and is the one guard around every check (skip, refusal, deadline,
//! panic, cleanup, interruption), `events` is the stream its progress is reported on, and
//! `session` is the facade `neuroscale check` and the cargo test trials both use. `kit` is what
//! checks build on. Each milestone is a folder and each check a file in it, holding its
//! observation, its gather, its pure evaluation and their unit tests.

pub mod catalogue;
pub mod env;
pub mod events;
pub mod kit;
pub mod outcome;
pub mod runner;
pub mod selection;
pub mod session;

pub mod cost;
pub mod golden_path;
pub mod guardrails;
pub mod hardening;
pub mod serving;
pub mod spine;

#[cfg(test)]
pub(crate) mod fixtures;

pub use catalogue::{CheckId, CheckSpec, Effect, Milestone, Need, CATALOGUE};
pub use env::{CheckEnv, CheckFn, CheckFuture, CheckRun, CreatedObject};
pub use events::{CancelReason, EventSink, RunEvent};
pub use outcome::{CheckResult, Diagnosis, ErrorCause, Figure, Outcome, OutcomeKind, Verdict};
pub use runner::RunResults;
pub use selection::{Selection, SelectionError};
pub use session::CheckSession;
