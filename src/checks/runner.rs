//! The check runner: runs a selection (read-only checks concurrently, then the mutating and
//! measuring checks one at a time, so a deleted drift canary or a probe object never disturbs
//! another check), each under its deadline, and is the one guard around every check: a check
//! the scenario turns off is skipped with the reason, a mutating check on a context that is not
//! the harness's is refused, a deadline becomes a timeout naming what was last seen, a panic
//! becomes an error, objects a check still tracks are deleted after it (and on Ctrl-C), and one
//! that cannot be deleted is reported as left behind. Everything it does is reported on the
//! event stream.

use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant, SystemTime};

use futures::future::BoxFuture;
use futures::{FutureExt, StreamExt};
use kube::api::{Api, DeleteParams, DynamicObject};
use kube::core::GroupVersionKind;

use super::catalogue::{CheckId, CheckSpec, Effect};
use super::env::{CheckEnv, CheckFn, CheckRun, CreatedObject};
use super::events::{CancelReason, EventSink, RunEvent};
use super::outcome::{
    CheckResult, Diagnosis, ErrorCause, LeftObject, Outcome, OutcomeKind, Verdict,
};
use super::selection::{Selected, Selection};
use crate::failures::FailureCode;

/// How many read-only checks run at once; each mostly waits on the API server.
pub const DEFAULT_CONCURRENCY: usize = 6;

/// How long deleting one leftover object may take before it is reported as left behind.
pub const CLEANUP_DEADLINE: Duration = Duration::from_secs(30);

/// Deletes objects checks created. The real one talks to the API server; tests record calls.
pub trait Cleanup: Send + Sync {
    /// Deletes `object`; an object that is already gone is a success.
    fn delete<'a>(&'a self, object: &'a CreatedObject) -> BoxFuture<'a, Result<(), String>>;
}

/// Deletes through the API server, resolving the object's kind by discovery so any kind a check
/// creates can be cleaned up.
pub struct KubeCleanup {
    pub client: kube::Client,
}

impl Cleanup for KubeCleanup {
    fn delete<'a>(&'a self, object: &'a CreatedObject) -> BoxFuture<'a, Result<(), String>> {
        async move {
            let (group, version) = match object.api_version.split_once('/') {
                Some((group, version)) => (group, version),
                None => ("", object.api_version.as_str()),
            };
            let gvk = GroupVersionKind::gvk(group, version, &object.kind);
            let resource = match kube::discovery::pinned_kind(&self.client, &gvk).await {
                Ok((resource, _)) => resource,
                // The server does not serve this kind, so no such object can exist.
                Err(kube::Error::Api(status)) if status.code == 404 => return Ok(()),
                Err(e) => {
                    return Err(format!(
                        "cannot resolve {}/{}: {}",
                        object.api_version,
                        object.kind,
                        crate::observe::error_message(&e)
                    ))
                }
            };
            let api: Api<DynamicObject> = match &object.namespace {
                Some(ns) => Api::namespaced_with(self.client.clone(), ns, &resource),
                None => Api::all_with(self.client.clone(), &resource),
            };
            match api.delete(&object.name, &DeleteParams::background()).await {
                Ok(_) => Ok(()),
                Err(kube::Error::Api(status)) if status.code == 404 => Ok(()),
                Err(e) => Err(crate::observe::error_message(&e)),
            }
        }
        .boxed()
    }
}

/// What a run produced: one result per selected check, in catalogue order.
#[derive(Debug, Clone)]
pub struct RunResults {
    pub results: Vec<CheckResult>,
    pub cancelled: Option<CancelReason>,
    pub duration: Duration,
}

impl RunResults {
    pub fn failed(&self) -> usize {
        self.count(Verdict::Fail)
    }

    pub fn count(&self, verdict: Verdict) -> usize {
        self.results
            .iter()
            .filter(|r| r.verdict() == verdict)
            .count()
    }

    /// True only when nothing failed and the run was not cut short.
    pub fn all_passed(&self) -> bool {
        self.failed() == 0 && self.cancelled.is_none()
    }
}

/// The outcome for a check that never ran, with the reason (an unreachable cluster, a failed
/// bootstrap, an interrupted run).
pub fn not_run(reason: &str, observed: &str) -> Outcome {
    Outcome {
        kind: OutcomeKind::NotRun {
            reason: reason.to_string(),
        },
        summary: format!("not run: {reason}"),
        figures: Vec::new(),
        diagnosis: Some(Diagnosis::new(
            observed,
            "no platform to check",
            "neuroscale doctor",
        )),
    }
}

/// Reports every selected check as not run, for `reason`, on `events` (the reports are then
/// still written: CI gets its JUnit and JSON, milestones not run instead of timed out).
pub fn report_not_run(
    selection: &Selection,
    reason: &str,
    observed: &str,
    events: &dyn EventSink,
) -> RunResults {
    events.event(&RunEvent::Started {
        selection,
        at: SystemTime::now(),
    });
    let mut results: Vec<CheckResult> = selection
        .ids()
        .map(|id| CheckResult::new(id, not_run(reason, observed), Duration::ZERO))
        .chain(deselected(selection))
        .collect();
    results.sort_by_key(|r| r.id);
    for result in &results {
        events.event(&RunEvent::Finished { result });
    }
    let results = RunResults {
        results,
        cancelled: None,
        duration: Duration::ZERO,
    };
    events.event(&RunEvent::Completed { results: &results });
    results
}

/// A SKIP for every catalogue check the selection leaves out, with the selector's reason.
fn deselected(selection: &Selection) -> impl Iterator<Item = CheckResult> + '_ {
    selection.deselected().iter().map(|left_out| {
        CheckResult::new(left_out.id, Outcome::skip(&left_out.reason), Duration::ZERO)
    })
}

fn refused(spec: &CheckSpec, context: &str) -> Outcome {
    Outcome {
        kind: OutcomeKind::Refused {
            context: context.to_string(),
        },
        summary: format!(
            "refused: {} creates or deletes objects and `{context}` is not the harness's k3d context",
            spec.id
        ),
        figures: Vec::new(),
        diagnosis: Some(Diagnosis::new(
            format!("context `{context}` is not the k3d cluster neuroscale created"),
            "mutating checks only run on the harness's cluster unless explicitly allowed",
            format!(
                "neuroscale check --allow-context {context} (or --skip {} to leave it out)",
                spec.id
            ),
        )),
    }
}

/// The hard deadline's verdict: what was seen last, and the failure code of the check's last
/// verdict when it identified one (a B1 stuck at 1/2 containers is still NS102).
fn timed_out(
    spec: &CheckSpec,
    deadline: Duration,
    last_seen: &str,
    last_code: Option<FailureCode>,
) -> Outcome {
    Outcome {
        kind: OutcomeKind::TimedOut {
            waited_for: spec.passes_when.to_string(),
            waited: deadline,
            last_seen: last_seen.to_string(),
        },
        summary: format!(
            "timed out after {} (last seen: {last_seen})",
            humantime::format_duration(deadline)
        ),
        figures: Vec::new(),
        diagnosis: Some(Diagnosis::new(
            format!(
                "{} did not conclude within its deadline; last seen: {last_seen}",
                spec.label()
            ),
            "the platform did not reach the expected state in time, or the deadline is too short for this machine",
            format!(
                "neuroscale doctor (or raise spec.deadlines.checks.{} in the scenario)",
                spec.id
            ),
        )
        .with_code_opt(last_code)),
    }
}

fn panicked(spec: &CheckSpec, payload: Box<dyn std::any::Any + Send>) -> Outcome {
    let message = payload
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "no message".to_string());
    Outcome {
        kind: OutcomeKind::Error {
            cause: ErrorCause::Panic,
            message: message.clone(),
        },
        summary: format!("the check panicked: {message}"),
        figures: Vec::new(),
        diagnosis: Some(Diagnosis::new(
            format!("{} panicked: {message}", spec.label()),
            "a bug in neuroscale, not a verdict about the platform",
            format!("neuroscale check -vv --only {}", spec.id),
        )),
    }
}

fn interrupted(last_seen: String) -> Outcome {
    Outcome {
        kind: OutcomeKind::Interrupted {
            last_seen: last_seen.clone(),
        },
        summary: format!("interrupted before it concluded (last seen: {last_seen})"),
        figures: Vec::new(),
        diagnosis: Some(Diagnosis::new(
            format!("the run was interrupted while this check ran; last seen: {last_seen}"),
            "interrupted (Ctrl-C); nothing was verified",
            "neuroscale check",
        )),
    }
}

fn not_started() -> Outcome {
    let mut outcome = not_run(
        "the run was interrupted",
        "the run was interrupted before this check started",
    );
    if let Some(d) = outcome.diagnosis.as_mut() {
        d.likely_cause = "interrupted (Ctrl-C); nothing was verified".into();
        d.next_command = "neuroscale check".into();
    }
    outcome
}

/// Deletes what `run` still tracks, untracking each object once it is gone. Returns the objects
/// that could not be deleted, each with the reason.
async fn clean_up(run: &CheckRun<'_>, cleanup: &dyn Cleanup) -> Vec<LeftObject> {
    let mut left_behind = Vec::new();
    // Newest first: dependants before what they depend on.
    for object in run.tracked().into_iter().rev() {
        match tokio::time::timeout(CLEANUP_DEADLINE, cleanup.delete(&object)).await {
            Ok(Ok(())) => run.untrack(&object),
            Ok(Err(why)) => left_behind.push(LeftObject { object, why }),
            Err(_) => left_behind.push(LeftObject {
                object,
                why: format!(
                    "deletion did not finish within {}",
                    humantime::format_duration(CLEANUP_DEADLINE)
                ),
            }),
        }
    }
    left_behind
}

/// A check that left objects behind fails, whatever it concluded: the cluster is not as it found it.
fn with_left_behind(outcome: Outcome, left_behind: Vec<LeftObject>) -> Outcome {
    if left_behind.is_empty() {
        return outcome;
    }
    let objects = left_behind
        .iter()
        .map(|left| format!("{} ({})", left.object.describe(), left.why))
        .collect::<Vec<_>>()
        .join(", ");
    let commands = left_behind
        .iter()
        .map(|left| left.object.delete_command())
        .collect::<Vec<_>>()
        .join(" && ");
    let concluded = format!("{:?}", outcome.verdict()).to_uppercase();
    let previous = outcome.diagnosis;
    Outcome {
        summary: format!(
            "{concluded} ({}), but objects it created were left behind: {objects}",
            outcome.summary
        ),
        diagnosis: Some(Diagnosis::new(
            match &previous {
                Some(d) => format!("{}; left behind: {objects}", d.observed),
                None => format!("left behind: {objects}"),
            },
            previous
                .map(|d| d.likely_cause)
                .unwrap_or_else(|| "the probe objects could not be deleted".to_string()),
            commands,
        )),
        kind: OutcomeKind::LeftBehind {
            concluded: Box::new(outcome.kind),
            objects: left_behind,
        },
        figures: outcome.figures,
    }
}

/// Where in its life a check is, for interruption handling.
struct Slot<'env> {
    selected: Selected,
    run: OnceLock<CheckRun<'env>>,
    result: Mutex<Option<CheckResult>>,
}

/// Runs `selection` against `env` with the catalogue's implementations; `cancel` resolves when
/// the run must stop (Ctrl-C). Results come back in catalogue order, and every step is an event.
pub async fn run<C>(
    env: &CheckEnv,
    selection: &Selection,
    cleanup: &dyn Cleanup,
    concurrency: usize,
    cancel: C,
    events: &dyn EventSink,
) -> RunResults
where
    C: Future<Output = ()>,
{
    run_with(
        env,
        selection,
        |id: CheckId| id.spec().implementation,
        cleanup,
        concurrency,
        cancel,
        events,
    )
    .await
}

/// `run`, with the implementations found by `implementation` (fakes in tests).
pub async fn run_with<I, C>(
    env: &CheckEnv,
    selection: &Selection,
    implementation: I,
    cleanup: &dyn Cleanup,
    concurrency: usize,
    cancel: C,
    events: &dyn EventSink,
) -> RunResults
where
    I: Fn(CheckId) -> CheckFn + Sync,
    C: Future<Output = ()>,
{
    let began = Instant::now();
    events.event(&RunEvent::Started {
        selection,
        at: SystemTime::now(),
    });
    let slots: Vec<Slot<'_>> = selection
        .checks()
        .iter()
        .map(|selected| Slot {
            selected: *selected,
            run: OnceLock::new(),
            result: Mutex::new(None),
        })
        .collect();
    let alone = |slot: &&Slot<'_>| slot.selected.id.spec().effect.runs_alone();

    let all = async {
        let concurrent = slots.iter().filter(|s| !alone(s));
        futures::stream::iter(
            concurrent
                .map(|slot| run_slot(env, slot, implementation(slot.selected.id), cleanup, events)),
        )
        .buffer_unordered(concurrency.max(1))
        .collect::<Vec<()>>()
        .await;
        for slot in slots.iter().filter(alone) {
            run_slot(env, slot, implementation(slot.selected.id), cleanup, events).await;
        }
    };

    let cancelled = tokio::select! {
        _ = all => None,
        _ = cancel => Some(CancelReason::Interrupted),
    };

    let mut results = Vec::with_capacity(slots.len());
    for slot in &slots {
        if let Some(result) = slot.result.lock().expect("not poisoned").take() {
            results.push(result);
            continue;
        }
        // Only an interrupted run gets here: clean up whatever the check had created.
        let (outcome, elapsed) = match slot.run.get() {
            Some(run) => {
                let left_behind = clean_up(run, cleanup).await;
                let outcome = interrupted(run.last_seen());
                (
                    with_left_behind(outcome, left_behind),
                    run.started.elapsed(),
                )
            }
            None => (not_started(), Duration::ZERO),
        };
        let result = CheckResult::new(slot.selected.id, outcome, elapsed);
        events.event(&RunEvent::Finished { result: &result });
        results.push(result);
    }
    for result in deselected(selection) {
        events.event(&RunEvent::Finished { result: &result });
        results.push(result);
    }
    results.sort_by_key(|r| r.id);
    let results = RunResults {
        results,
        cancelled,
        duration: began.elapsed(),
    };
    events.event(&RunEvent::Completed { results: &results });
    results
}

/// Runs one check in its slot and cleans up after it.
async fn run_slot<'env>(
    env: &'env CheckEnv,
    slot: &Slot<'env>,
    implementation: CheckFn,
    cleanup: &dyn Cleanup,
    events: &'env dyn EventSink,
) {
    let run = slot.run.get_or_init(|| {
        CheckRun::new(env, slot.selected.id, slot.selected.deadline).reporting_to(events)
    });
    let outcome = execute(env, run, implementation).await;
    let left_behind = clean_up(run, cleanup).await;
    let outcome = with_left_behind(outcome, left_behind);
    let result = CheckResult::new(slot.selected.id, outcome, run.started.elapsed());
    events.event(&RunEvent::Finished { result: &result });
    *slot.result.lock().expect("not poisoned") = Some(result);
}

/// One check's verdict: skipped when the scenario turns it off, refused on a foreign context
/// when it mutates, bounded by its deadline, and guarded against panics.
async fn execute(env: &CheckEnv, run: &CheckRun<'_>, check: CheckFn) -> Outcome {
    let spec = run.spec;
    if let Some(reason) = spec.skip_when.and_then(|skip| skip(&env.scenario)) {
        return Outcome::skip(reason);
    }
    if spec.effect == Effect::Mutating && !env.mutations_allowed {
        return refused(spec, &env.context_name);
    }
    let guarded = AssertUnwindSafe(tokio::time::timeout(run.deadline, check(run))).catch_unwind();
    match guarded.await {
        Ok(Ok(outcome)) => outcome,
        Ok(Err(_elapsed)) => timed_out(spec, run.deadline, &run.last_seen(), run.last_code()),
        Err(payload) => panicked(spec, payload),
    }
}

#[cfg(test)]
mod tests;
