//! The check runner: which checks run (scenario, then `--only`/`--skip`), in what order
//! (read-only checks concurrently, then mutating checks and the latency measurement one at a
//! time, so a deleted drift canary or a probe object never disturbs another check), each under its scenario deadline, with the
//! objects a check still tracks deleted after it and on interruption (Ctrl-C). A check without an
//! implementation is a FAIL "not built", never a PASS or SKIP; a panicking check is a FAIL too.

use std::collections::BTreeSet;
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

use futures::future::BoxFuture;
use futures::{FutureExt, StreamExt};
use kube::api::{Api, DeleteParams, DynamicObject};
use kube::core::GroupVersionKind;

use super::catalogue::{self, CheckSpec, Effect};
use super::env::{CheckEnv, CheckFn, CheckRun, CreatedObject};
use super::outcome::{CheckResult, Diagnosis, Outcome, Verdict};
use crate::scenario::Scenario;

/// Read-only checks that still run alone: F4 measures latency percentiles, which other checks'
/// traffic on the same cluster would distort.
pub const MEASURING_CHECKS: &[&str] = &["F4"];

/// Whether a check runs alone (after the concurrent batch) rather than alongside others.
pub fn runs_alone(spec: &CheckSpec) -> bool {
    spec.effect == Effect::Mutating || MEASURING_CHECKS.contains(&spec.id)
}

/// How many read-only checks run at once; each mostly waits on the API server.
pub const DEFAULT_CONCURRENCY: usize = 6;

/// How long deleting one leftover object may take before it is reported as left behind.
pub const CLEANUP_DEADLINE: Duration = Duration::from_secs(30);

/// A selector given on the command line that names no check and no milestone.
#[derive(Debug, thiserror::Error)]
pub enum SelectionError {
    #[error(
        "unknown check or milestone `{name}` in --{flag}: run `neuroscale check --list` for the catalogue"
    )]
    Unknown { flag: &'static str, name: String },
    #[error(
        "no check is selected: the scenario `{scenario}` with --only/--skip leaves nothing to run"
    )]
    Empty { scenario: String },
}

fn expand(
    flag: &'static str,
    selectors: &[String],
) -> Result<BTreeSet<&'static str>, SelectionError> {
    let mut ids = BTreeSet::new();
    for selector in selectors {
        let checks = catalogue::select(selector).ok_or_else(|| SelectionError::Unknown {
            flag,
            name: selector.clone(),
        })?;
        ids.extend(checks.into_iter().map(|c| c.id));
    }
    Ok(ids)
}

/// The checks to run, in catalogue order: the scenario's selection, replaced by `--only` when
/// given (an explicit request on the command line wins over the profile), minus `--skip`.
pub fn select(
    scenario: &Scenario,
    only: &[String],
    skip: &[String],
) -> Result<Vec<&'static CheckSpec>, SelectionError> {
    let only = expand("only", only)?;
    let skip = expand("skip", skip)?;
    let base: Vec<&'static CheckSpec> = if only.is_empty() {
        scenario.selected_checks()
    } else {
        catalogue::CATALOGUE
            .iter()
            .filter(|c| only.contains(c.id))
            .collect()
    };
    let chosen: Vec<_> = base.into_iter().filter(|c| !skip.contains(c.id)).collect();
    if chosen.is_empty() {
        return Err(SelectionError::Empty {
            scenario: scenario.metadata.name.clone(),
        });
    }
    Ok(chosen)
}

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
                        super::observe::error_message(&e)
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
                Err(e) => Err(super::observe::error_message(&e)),
            }
        }
        .boxed()
    }
}

/// Why a run stopped early.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum CancelReason {
    /// The user pressed Ctrl-C (or the process got SIGINT).
    Interrupted,
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
        self.results.iter().filter(|r| r.verdict == verdict).count()
    }

    /// True only when nothing failed and the run was not cut short.
    pub fn all_passed(&self) -> bool {
        self.failed() == 0 && self.cancelled.is_none()
    }
}

/// The outcome for a check whose implementation does not exist yet.
pub fn not_built(spec: &CheckSpec) -> Outcome {
    Outcome::fail(
        "not built",
        Diagnosis::new(
            format!("check {} has no implementation in this build", spec.label()),
            "the check is not built yet, so nothing about the platform was verified",
            format!(
                "neuroscale check --skip {} (to run the rest while it is missing)",
                spec.id
            ),
        ),
    )
}

fn refused(spec: &CheckSpec, context: &str) -> Outcome {
    Outcome::fail(
        format!("refused: {} creates or deletes objects and `{context}` is not the harness's k3d context", spec.id),
        Diagnosis::new(
            format!("context `{context}` is not the k3d cluster neuroscale created"),
            "mutating checks only run on the harness's cluster unless explicitly allowed",
            format!(
                "neuroscale check --allow-context {context} (or --skip {} to leave it out)",
                spec.id
            ),
        ),
    )
}

fn timed_out(spec: &CheckSpec, deadline: Duration, last_seen: &str) -> Outcome {
    Outcome::fail(
        format!(
            "timed out after {} (last seen: {last_seen})",
            humantime::format_duration(deadline)
        ),
        Diagnosis::new(
            format!("{} did not conclude within its deadline; last seen: {last_seen}", spec.label()),
            "the platform did not reach the expected state in time, or the deadline is too short for this machine",
            format!(
                "neuroscale doctor (or raise spec.deadlines.checks.{} in the scenario)",
                spec.id
            ),
        ),
    )
}

fn panicked(spec: &CheckSpec, payload: Box<dyn std::any::Any + Send>) -> Outcome {
    let message = payload
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "no message".to_string());
    Outcome::fail(
        format!("the check panicked: {message}"),
        Diagnosis::new(
            format!("{} panicked: {message}", spec.label()),
            "a bug in neuroscale, not a verdict about the platform",
            "neuroscale check -vv --only ".to_string() + spec.id,
        ),
    )
}

fn interrupted(started: bool, last_seen: Option<String>) -> Outcome {
    let (summary, observed) = if started {
        let seen = last_seen.unwrap_or_default();
        (
            format!("interrupted before it concluded (last seen: {seen})"),
            format!("the run was interrupted while this check ran; last seen: {seen}"),
        )
    } else {
        (
            "not run: the run was interrupted".to_string(),
            "the run was interrupted before this check started".to_string(),
        )
    };
    Outcome::fail(
        summary,
        Diagnosis::new(
            observed,
            "interrupted (Ctrl-C); nothing was verified",
            "neuroscale check",
        ),
    )
}

/// Deletes what `run` still tracks, untracking each object once it is gone. Returns the objects
/// that could not be deleted, each with the reason.
async fn clean_up(run: &CheckRun<'_>, cleanup: &dyn Cleanup) -> Vec<(CreatedObject, String)> {
    let mut left_behind = Vec::new();
    // Newest first: dependants before what they depend on.
    for object in run.tracked().into_iter().rev() {
        match tokio::time::timeout(CLEANUP_DEADLINE, cleanup.delete(&object)).await {
            Ok(Ok(())) => run.untrack(&object),
            Ok(Err(why)) => left_behind.push((object, why)),
            Err(_) => left_behind.push((
                object,
                format!(
                    "deletion did not finish within {}",
                    humantime::format_duration(CLEANUP_DEADLINE)
                ),
            )),
        }
    }
    left_behind
}

fn describe(object: &CreatedObject) -> String {
    match &object.namespace {
        Some(ns) => format!("{} {ns}/{}", object.kind, object.name),
        None => format!("{} {}", object.kind, object.name),
    }
}

fn delete_command(object: &CreatedObject) -> String {
    let kind = object.kind.to_lowercase();
    match &object.namespace {
        Some(ns) => format!("kubectl -n {ns} delete {kind} {}", object.name),
        None => format!("kubectl delete {kind} {}", object.name),
    }
}

/// A check that left objects behind fails, whatever it concluded: the cluster is not as it found it.
fn with_left_behind(mut outcome: Outcome, left_behind: &[(CreatedObject, String)]) -> Outcome {
    if left_behind.is_empty() {
        return outcome;
    }
    let objects = left_behind
        .iter()
        .map(|(o, why)| format!("{} ({why})", describe(o)))
        .collect::<Vec<_>>()
        .join(", ");
    let commands = left_behind
        .iter()
        .map(|(o, _)| delete_command(o))
        .collect::<Vec<_>>()
        .join(" && ");
    let concluded = format!("{:?}", outcome.verdict).to_uppercase();
    outcome.summary = format!(
        "{concluded} ({}), but objects it created were left behind: {objects}",
        outcome.summary
    );
    outcome.verdict = Verdict::Fail;
    let previous = outcome.diagnosis.take();
    outcome.diagnosis = Some(Diagnosis::new(
        match &previous {
            Some(d) => format!("{}; left behind: {objects}", d.observed),
            None => format!("left behind: {objects}"),
        },
        previous
            .map(|d| d.likely_cause)
            .unwrap_or_else(|| "the probe objects could not be deleted".to_string()),
        commands,
    ));
    outcome
}

/// Where in its life a check is, for interruption handling.
struct Slot<'env> {
    spec: &'static CheckSpec,
    run: OnceLock<CheckRun<'env>>,
    result: Mutex<Option<CheckResult>>,
}

/// Runs the checks against `env`. `registry` finds implementations (`super::implementation` in
/// the product, fakes in tests); `cancel` resolves when the run must stop (Ctrl-C); `on_result`
/// sees each result as it lands (live progress). Results come back in catalogue order.
pub async fn run<R, C, P>(
    env: &CheckEnv,
    checks: &[&'static CheckSpec],
    registry: R,
    cleanup: &dyn Cleanup,
    concurrency: usize,
    cancel: C,
    on_result: P,
) -> RunResults
where
    R: Fn(&str) -> Option<CheckFn> + Sync,
    C: Future<Output = ()>,
    P: Fn(&CheckResult) + Sync,
{
    let began = Instant::now();
    let slots: Vec<Slot<'_>> = checks
        .iter()
        .map(|spec| Slot {
            spec,
            run: OnceLock::new(),
            result: Mutex::new(None),
        })
        .collect();

    let all = async {
        let read_only = slots.iter().filter(|s| !runs_alone(s.spec));
        futures::stream::iter(
            read_only.map(|slot| run_slot(env, slot, registry(slot.spec.id), cleanup, &on_result)),
        )
        .buffer_unordered(concurrency.max(1))
        .collect::<Vec<()>>()
        .await;
        for slot in slots.iter().filter(|s| runs_alone(s.spec)) {
            run_slot(env, slot, registry(slot.spec.id), cleanup, &on_result).await;
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
                let outcome = interrupted(true, Some(run.last_seen()));
                (
                    with_left_behind(outcome, &left_behind),
                    run.started.elapsed(),
                )
            }
            None => (interrupted(false, None), Duration::ZERO),
        };
        let result = CheckResult::new(slot.spec, outcome, elapsed);
        on_result(&result);
        results.push(result);
    }
    results.sort_by_key(|r| catalogue::CATALOGUE.iter().position(|c| c.id == r.id));
    RunResults {
        results,
        cancelled,
        duration: began.elapsed(),
    }
}

/// Runs one check in its slot and cleans up after it.
async fn run_slot<'env>(
    env: &'env CheckEnv,
    slot: &Slot<'env>,
    implementation: Option<CheckFn>,
    cleanup: &dyn Cleanup,
    on_result: &(impl Fn(&CheckResult) + Sync),
) {
    let deadline = env.scenario.deadline(slot.spec);
    let run = slot
        .run
        .get_or_init(|| CheckRun::new(env, slot.spec, deadline));
    let outcome = execute(env, run, implementation).await;
    let left_behind = clean_up(run, cleanup).await;
    let outcome = with_left_behind(outcome, &left_behind);
    let result = CheckResult::new(slot.spec, outcome, run.started.elapsed());
    on_result(&result);
    *slot.result.lock().expect("not poisoned") = Some(result);
}

/// One check's verdict: guarded by context safety, its deadline, and panics.
async fn execute(env: &CheckEnv, run: &CheckRun<'_>, implementation: Option<CheckFn>) -> Outcome {
    let spec = run.spec;
    let Some(check) = implementation else {
        return not_built(spec);
    };
    if spec.effect == Effect::Mutating && !env.mutations_allowed {
        return refused(spec, &env.context_name);
    }
    let guarded = AssertUnwindSafe(tokio::time::timeout(run.deadline, check(run))).catch_unwind();
    match guarded.await {
        Ok(Ok(outcome)) => outcome,
        Ok(Err(_elapsed)) => timed_out(spec, run.deadline, &run.last_seen()),
        Err(payload) => panicked(spec, payload),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checks::catalogue::find;
    use std::path::Path;
    use std::sync::Arc;

    fn scenario() -> Scenario {
        Scenario::parse(
            Path::new("scenarios/smoke.yaml"),
            crate::scenario::BUILTIN_SMOKE,
        )
        .unwrap()
    }

    fn ids(checks: &[&CheckSpec]) -> Vec<&'static str> {
        checks.iter().map(|c| c.id).collect()
    }

    #[test]
    fn the_scenario_selects_when_no_flags_are_given() {
        let chosen = select(&scenario(), &[], &[]).unwrap();
        assert_eq!(chosen.len(), 21);
    }

    #[test]
    fn only_and_skip_accept_ids_slugs_and_milestones_in_catalogue_order() {
        let only = vec!["latency-slo".to_string(), "D".to_string(), "a1".to_string()];
        let skip = vec!["D2".to_string()];
        let chosen = select(&scenario(), &only, &skip).unwrap();
        assert_eq!(ids(&chosen), vec!["A1", "D1", "D3", "D4", "F4"]);
    }

    #[test]
    fn an_unknown_selector_is_an_error_naming_the_flag() {
        let err = select(&scenario(), &[], &["Z9".to_string()]).unwrap_err();
        assert!(err.to_string().contains("`Z9` in --skip"), "{err}");
        let err = select(&scenario(), &["nope".to_string()], &[]).unwrap_err();
        assert!(err.to_string().contains("--only"), "{err}");
    }

    #[test]
    fn skipping_everything_is_an_error() {
        let err = select(&scenario(), &["B".to_string()], &["B".to_string()]).unwrap_err();
        assert!(matches!(err, SelectionError::Empty { .. }));
    }

    // ---- the runner, with fake checks and a recording cleanup (no cluster) ----

    use crate::checks::env::CheckFuture;
    use std::cell::RefCell;

    thread_local! {
        /// What the fake checks did, in order ("start A1", "end A1"); tests run on one thread.
        static EVENTS: RefCell<Vec<String>> = const { RefCell::new(Vec::new()) };
        static PEER_STARTED: RefCell<Option<Arc<tokio::sync::Notify>>> = const { RefCell::new(None) };
    }

    fn event(text: String) {
        EVENTS.with(|e| e.borrow_mut().push(text));
    }

    fn events() -> Vec<String> {
        EVENTS.with(|e| e.borrow().clone())
    }

    fn probe_object(name: &str) -> CreatedObject {
        CreatedObject {
            api_version: "serving.kserve.io/v1beta1".into(),
            kind: "InferenceService".into(),
            namespace: Some("models".into()),
            name: name.into(),
        }
    }

    fn passes<'a>(run: &'a CheckRun<'a>) -> CheckFuture<'a> {
        async move {
            event(format!("start {}", run.spec.id));
            tokio::task::yield_now().await;
            event(format!("end {}", run.spec.id));
            Outcome::pass("fine")
        }
        .boxed()
    }

    fn hangs<'a>(run: &'a CheckRun<'a>) -> CheckFuture<'a> {
        async move {
            run.saw("InferenceService models/probe Ready=Unknown");
            run.track(probe_object("probe"));
            futures::future::pending::<()>().await;
            unreachable!()
        }
        .boxed()
    }

    fn creates_and_passes<'a>(run: &'a CheckRun<'a>) -> CheckFuture<'a> {
        async move {
            run.track(probe_object(&format!(
                "probe-{}",
                run.spec.id.to_lowercase()
            )));
            Outcome::pass("denied as expected")
        }
        .boxed()
    }

    fn panics<'a>(_run: &'a CheckRun<'a>) -> CheckFuture<'a> {
        async move { panic!("index out of bounds") }.boxed()
    }

    /// Waits until the other read-only fake has started: only concurrency lets both finish.
    fn waits_for_peer<'a>(run: &'a CheckRun<'a>) -> CheckFuture<'a> {
        let notify = PEER_STARTED
            .with(|p| p.borrow().clone())
            .expect("set by the test");
        async move {
            event(format!("start {}", run.spec.id));
            if run.spec.id == "A1" {
                notify.notified().await;
            } else {
                notify.notify_one();
            }
            event(format!("end {}", run.spec.id));
            Outcome::pass("both ran at once")
        }
        .boxed()
    }

    #[derive(Default)]
    struct RecordingCleanup {
        deleted: Mutex<Vec<CreatedObject>>,
        refuse: bool,
    }

    impl Cleanup for RecordingCleanup {
        fn delete<'a>(&'a self, object: &'a CreatedObject) -> BoxFuture<'a, Result<(), String>> {
            async move {
                if self.refuse {
                    return Err("forbidden".to_string());
                }
                self.deleted.lock().unwrap().push(object.clone());
                Ok(())
            }
            .boxed()
        }
    }

    fn env(mutations_allowed: bool) -> CheckEnv {
        // Never contacted: the fake checks do not use the client.
        let config = kube::Config::new("http://127.0.0.1:9".parse().unwrap());
        CheckEnv {
            client: kube::Client::try_from(config).unwrap(),
            scenario: scenario(),
            http: reqwest::Client::new(),
            context_name: "k3d-neuroscale".into(),
            mutations_allowed,
            ingress_url: None,
            opencost_url: None,
            gitops_cache_dir: std::env::temp_dir(),
        }
    }

    fn specs(ids: &[&str]) -> Vec<&'static CheckSpec> {
        ids.iter().map(|id| find(id).unwrap()).collect()
    }

    async fn run_with(
        env: &CheckEnv,
        ids: &[&str],
        registry: impl Fn(&str) -> Option<CheckFn> + Sync,
        cleanup: &dyn Cleanup,
    ) -> RunResults {
        run(
            env,
            &specs(ids),
            registry,
            cleanup,
            DEFAULT_CONCURRENCY,
            futures::future::pending(),
            |_| {},
        )
        .await
    }

    fn verdicts(results: &RunResults) -> Vec<(&'static str, Verdict)> {
        results.results.iter().map(|r| (r.id, r.verdict)).collect()
    }

    #[tokio::test(start_paused = true)]
    async fn a_missing_implementation_fails_as_not_built() {
        let env = env(true);
        let registry = |id: &str| (id == "A1").then_some(passes as CheckFn);
        let results = run_with(&env, &["A1", "A2"], registry, &RecordingCleanup::default()).await;
        assert_eq!(
            verdicts(&results),
            vec![("A1", Verdict::Pass), ("A2", Verdict::Fail)]
        );
        assert_eq!(results.results[1].summary, "not built");
        assert!(!results.all_passed());
    }

    #[tokio::test(start_paused = true)]
    async fn read_only_checks_run_concurrently() {
        PEER_STARTED.with(|p| *p.borrow_mut() = Some(Arc::new(tokio::sync::Notify::new())));
        let env = env(true);
        let registry = |_: &str| Some(waits_for_peer as CheckFn);
        let results = run_with(&env, &["A1", "A2"], registry, &RecordingCleanup::default()).await;
        // Run one after the other, A1 would wait for A2 until its deadline and fail.
        assert_eq!(
            verdicts(&results),
            vec![("A1", Verdict::Pass), ("A2", Verdict::Pass)]
        );
    }

    #[tokio::test(start_paused = true)]
    async fn mutating_checks_run_alone_after_the_read_only_ones() {
        let env = env(true);
        let registry = |_: &str| Some(passes as CheckFn);
        let ids = ["A4", "D3", "A1", "B1", "D1", "F2", "F4"];
        let results = run_with(&env, &ids, registry, &RecordingCleanup::default()).await;
        assert!(results.all_passed());
        let log = events();
        let position = |what: &str| log.iter().position(|e| e == what).unwrap();
        let starts = log.iter().filter(|e| e.starts_with("start")).count();
        assert_eq!(starts, ids.len(), "every check runs exactly once: {log:?}");
        for mutating in ["A4", "D3", "F4"] {
            let start = position(&format!("start {mutating}"));
            assert_eq!(
                log[start + 1],
                format!("end {mutating}"),
                "{mutating} overlapped another check: {log:?}"
            );
            for read_only in ["A1", "B1", "D1", "F2"] {
                assert!(position(&format!("end {read_only}")) < start, "{log:?}");
            }
        }
        // Reported in catalogue order whatever the execution order.
        assert_eq!(
            results.results.iter().map(|r| r.id).collect::<Vec<_>>(),
            vec!["A1", "A4", "B1", "D1", "D3", "F2", "F4"]
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_deadline_fails_naming_what_was_last_seen_and_cleans_up() {
        let env = env(true);
        let cleanup = RecordingCleanup::default();
        let registry = |_: &str| Some(hangs as CheckFn);
        let results = run_with(&env, &["B3"], registry, &cleanup).await;
        let result = &results.results[0];
        assert_eq!(result.verdict, Verdict::Fail);
        assert!(
            result.summary.starts_with("timed out after 5m"),
            "{}",
            result.summary
        );
        assert!(
            result
                .summary
                .contains("InferenceService models/probe Ready=Unknown"),
            "{}",
            result.summary
        );
        assert_eq!(
            *cleanup.deleted.lock().unwrap(),
            vec![probe_object("probe")]
        );
    }

    #[tokio::test(start_paused = true)]
    async fn tracked_objects_are_deleted_after_a_passing_check() {
        let env = env(true);
        let cleanup = RecordingCleanup::default();
        let registry = |_: &str| Some(creates_and_passes as CheckFn);
        let results = run_with(&env, &["D3", "D4"], registry, &cleanup).await;
        assert!(results.all_passed());
        let names: Vec<_> = cleanup
            .deleted
            .lock()
            .unwrap()
            .iter()
            .map(|o| o.name.clone())
            .collect();
        assert_eq!(names, vec!["probe-d3", "probe-d4"]);
    }

    #[tokio::test(start_paused = true)]
    async fn an_object_left_behind_turns_a_pass_into_a_fail() {
        let env = env(true);
        let cleanup = RecordingCleanup {
            refuse: true,
            ..Default::default()
        };
        let registry = |_: &str| Some(creates_and_passes as CheckFn);
        let results = run_with(&env, &["D3"], registry, &cleanup).await;
        let result = &results.results[0];
        assert_eq!(result.verdict, Verdict::Fail);
        assert!(result.summary.contains("left behind"), "{}", result.summary);
        let diagnosis = result.diagnosis.as_ref().unwrap();
        assert_eq!(
            diagnosis.next_command,
            "kubectl -n models delete inferenceservice probe-d3"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn mutating_checks_refuse_a_foreign_context() {
        let env = env(false);
        let registry = |_: &str| Some(passes as CheckFn);
        let results = run_with(&env, &["A1", "A4"], registry, &RecordingCleanup::default()).await;
        assert_eq!(
            verdicts(&results),
            vec![("A1", Verdict::Pass), ("A4", Verdict::Fail)]
        );
        assert!(results.results[1].summary.starts_with("refused"));
        assert!(
            !events().contains(&"start A4".to_string()),
            "A4 must not run"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_panicking_check_fails_and_the_others_still_run() {
        let env = env(true);
        let registry = |id: &str| {
            Some(if id == "B1" {
                panics as CheckFn
            } else {
                passes
            })
        };
        let results = run_with(
            &env,
            &["A1", "B1", "D3"],
            registry,
            &RecordingCleanup::default(),
        )
        .await;
        assert_eq!(
            verdicts(&results),
            vec![
                ("A1", Verdict::Pass),
                ("B1", Verdict::Fail),
                ("D3", Verdict::Pass)
            ]
        );
        assert!(results.results[1].summary.contains("index out of bounds"));
    }

    #[tokio::test(start_paused = true)]
    async fn interruption_cleans_up_and_reports_the_rest_as_not_run() {
        let env = env(true);
        let cleanup = RecordingCleanup::default();
        let registry = |id: &str| Some(if id == "C2" { hangs as CheckFn } else { passes });
        let stop = Arc::new(tokio::sync::Notify::new());
        let trigger = stop.clone();
        // Interrupt once C2 (mutating, so it runs after A1) is in flight.
        let on_result = move |r: &CheckResult| {
            if r.id == "A1" {
                trigger.notify_one();
            }
        };
        let cancel = async move {
            stop.notified().await;
            // Let C2 start and register its probe object.
            for _ in 0..10 {
                tokio::task::yield_now().await;
            }
        };
        let results = run(
            &env,
            &specs(&["A1", "C2", "D3"]),
            registry,
            &cleanup,
            DEFAULT_CONCURRENCY,
            cancel,
            on_result,
        )
        .await;
        assert_eq!(results.cancelled, Some(CancelReason::Interrupted));
        assert_eq!(
            verdicts(&results),
            vec![
                ("A1", Verdict::Pass),
                ("C2", Verdict::Fail),
                ("D3", Verdict::Fail)
            ]
        );
        assert!(results.results[1].summary.starts_with("interrupted"));
        assert!(results.results[2].summary.starts_with("not run"));
        assert_eq!(
            *cleanup.deleted.lock().unwrap(),
            vec![probe_object("probe")]
        );
        assert!(!results.all_passed());
    }
}
