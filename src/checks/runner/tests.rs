//! The runner with fake checks and a recording cleanup (no cluster).

use std::cell::RefCell;
use std::path::Path;
use std::sync::Arc;

use super::*;
use crate::checks::env::CheckFuture;
use crate::scenario::{GpuMode, Scenario};

fn scenario() -> Scenario {
    Scenario::parse(
        Path::new("scenarios/smoke.yaml"),
        crate::scenario::BUILTIN_SMOKE,
    )
    .unwrap()
}

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
        event(format!("start {}", run.id()));
        tokio::task::yield_now().await;
        event(format!("end {}", run.id()));
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

/// B1 stuck at 1/2 containers until the hard deadline: its last verdict named NS102.
fn hangs_half_ready<'a>(run: &'a CheckRun<'a>) -> CheckFuture<'a> {
    async move {
        run.saw_outcome(&Outcome::fail(
            "KServe control plane not ready",
            Diagnosis::new("1/2 containers ready", "kube-rbac-proxy failing", "kubectl")
                .with_code(crate::failures::FailureCode::KserveControllerHalfReady),
        ));
        futures::future::pending::<()>().await;
        unreachable!()
    }
    .boxed()
}

fn creates_and_passes<'a>(run: &'a CheckRun<'a>) -> CheckFuture<'a> {
    async move {
        run.track(probe_object(&format!(
            "probe-{}",
            run.id().as_str().to_lowercase()
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
        event(format!("start {}", run.id()));
        if run.id() == CheckId::A1 {
            notify.notified().await;
        } else {
            notify.notify_one();
        }
        event(format!("end {}", run.id()));
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

fn env_with(scenario: Scenario, mutations_allowed: bool) -> CheckEnv {
    // Never contacted: the fake checks do not use the client.
    let config = kube::Config::new("http://127.0.0.1:9".parse().unwrap());
    CheckEnv {
        client: kube::Client::try_from(config).unwrap(),
        scenario,
        http: reqwest::Client::new(),
        context_name: "k3d-neuroscale".into(),
        mutations_allowed,
        ingress_url: None,
        opencost_url: None,
        gitops_cache_dir: std::env::temp_dir(),
    }
}

fn env(mutations_allowed: bool) -> CheckEnv {
    env_with(scenario(), mutations_allowed)
}

fn selection(env: &CheckEnv, ids: &[CheckId]) -> Selection {
    Selection::of(&env.scenario, ids).unwrap()
}

async fn run_fakes(
    env: &CheckEnv,
    ids: &[CheckId],
    implementation: impl Fn(CheckId) -> CheckFn + Sync,
    cleanup: &dyn Cleanup,
) -> RunResults {
    run_with(
        env,
        &selection(env, ids),
        implementation,
        cleanup,
        DEFAULT_CONCURRENCY,
        futures::future::pending(),
        &super::super::events::Silent,
    )
    .await
}

fn verdicts(results: &RunResults) -> Vec<(CheckId, Verdict)> {
    results
        .results
        .iter()
        .map(|r| (r.id, r.verdict()))
        .collect()
}

use CheckId::*;

#[tokio::test(start_paused = true)]
async fn read_only_checks_run_concurrently() {
    PEER_STARTED.with(|p| *p.borrow_mut() = Some(Arc::new(tokio::sync::Notify::new())));
    let env = env(true);
    let results = run_fakes(
        &env,
        &[A1, A2],
        |_| waits_for_peer as CheckFn,
        &RecordingCleanup::default(),
    )
    .await;
    // Run one after the other, A1 would wait for A2 until its deadline and time out.
    assert_eq!(
        verdicts(&results),
        vec![(A1, Verdict::Pass), (A2, Verdict::Pass)]
    );
}

#[tokio::test(start_paused = true)]
async fn mutating_and_measuring_checks_run_alone_after_the_read_only_ones() {
    let env = env(true);
    let ids = [A4, D3, A1, B1, D1, F2, F4];
    let results = run_fakes(
        &env,
        &ids,
        |_| passes as CheckFn,
        &RecordingCleanup::default(),
    )
    .await;
    assert!(results.all_passed());
    let log = events();
    let position = |what: &str| log.iter().position(|e| e == what).unwrap();
    let starts = log.iter().filter(|e| e.starts_with("start")).count();
    assert_eq!(starts, ids.len(), "every check runs exactly once: {log:?}");
    for alone in ["A4", "D3", "F4"] {
        let start = position(&format!("start {alone}"));
        assert_eq!(
            log[start + 1],
            format!("end {alone}"),
            "{alone} overlapped another check: {log:?}"
        );
        for read_only in ["A1", "B1", "D1", "F2"] {
            assert!(position(&format!("end {read_only}")) < start, "{log:?}");
        }
    }
    // Reported in catalogue order whatever the execution order.
    assert_eq!(
        results.results.iter().map(|r| r.id).collect::<Vec<_>>(),
        vec![A1, A4, B1, D1, D3, F2, F4]
    );
}

#[tokio::test(start_paused = true)]
async fn a_deadline_times_out_naming_what_was_awaited_and_last_seen_and_cleans_up() {
    let env = env(true);
    let cleanup = RecordingCleanup::default();
    let results = run_fakes(&env, &[B3], |_| hangs as CheckFn, &cleanup).await;
    let result = &results.results[0];
    match result.kind() {
        OutcomeKind::TimedOut {
            waited_for,
            waited,
            last_seen,
        } => {
            assert_eq!(waited_for, B3.spec().passes_when);
            assert_eq!(*waited, Duration::from_secs(300));
            assert_eq!(last_seen, "InferenceService models/probe Ready=Unknown");
        }
        other => panic!("expected a timeout: {other:?}"),
    }
    assert_eq!(result.verdict(), Verdict::Fail);
    assert_eq!(
        *cleanup.deleted.lock().unwrap(),
        vec![probe_object("probe")]
    );
}

#[tokio::test(start_paused = true)]
async fn a_deadline_keeps_the_failure_code_of_the_last_verdict() {
    let env = env(true);
    let cleanup = RecordingCleanup::default();
    let results = run_fakes(&env, &[B1], |_| hangs_half_ready as CheckFn, &cleanup).await;
    let result = &results.results[0];
    assert!(matches!(result.kind(), OutcomeKind::TimedOut { .. }));
    assert_eq!(
        result.diagnosis().and_then(|d| d.code),
        Some(crate::failures::FailureCode::KserveControllerHalfReady)
    );
    assert_eq!(
        result.outcome.summary,
        "timed out after 5m (last seen: 1/2 containers ready)"
    );
}

#[tokio::test(start_paused = true)]
async fn tracked_objects_are_deleted_after_a_passing_check() {
    let env = env(true);
    let cleanup = RecordingCleanup::default();
    let results = run_fakes(&env, &[D3, D4], |_| creates_and_passes as CheckFn, &cleanup).await;
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
async fn an_object_left_behind_turns_a_pass_into_a_left_behind_failure() {
    let env = env(true);
    let cleanup = RecordingCleanup {
        refuse: true,
        ..Default::default()
    };
    let results = run_fakes(&env, &[D3], |_| creates_and_passes as CheckFn, &cleanup).await;
    let result = &results.results[0];
    assert_eq!(result.verdict(), Verdict::Fail);
    match result.kind() {
        OutcomeKind::LeftBehind { concluded, objects } => {
            assert_eq!(**concluded, OutcomeKind::Passed);
            assert_eq!(objects[0].object, probe_object("probe-d3"));
            assert_eq!(objects[0].why, "forbidden");
        }
        other => panic!("expected left-behind: {other:?}"),
    }
    assert_eq!(
        result.diagnosis().unwrap().next_command,
        "kubectl -n models delete inferenceservice probe-d3"
    );
}

#[tokio::test(start_paused = true)]
async fn mutating_checks_are_refused_on_a_foreign_context_without_running() {
    let env = env(false);
    let results = run_fakes(
        &env,
        &[A1, A4],
        |_| passes as CheckFn,
        &RecordingCleanup::default(),
    )
    .await;
    assert_eq!(
        verdicts(&results),
        vec![(A1, Verdict::Pass), (A4, Verdict::Fail)]
    );
    assert_eq!(
        *results.results[1].kind(),
        OutcomeKind::Refused {
            context: "k3d-neuroscale".into()
        }
    );
    assert!(
        !events().contains(&"start A4".to_string()),
        "A4 must not run"
    );
}

#[tokio::test(start_paused = true)]
async fn a_check_the_scenario_turns_off_skips_even_where_it_would_be_refused() {
    let mut scenario = scenario();
    scenario.spec.gpu = GpuMode::Off;
    let env = env_with(scenario, false);
    let results = run_fakes(
        &env,
        &[F3],
        |_| panics as CheckFn,
        &RecordingCleanup::default(),
    )
    .await;
    let result = &results.results[0];
    assert_eq!(*result.kind(), OutcomeKind::Skipped);
    assert!(
        result.summary().contains("gpu: off"),
        "{}",
        result.summary()
    );
    let mut scenario = self::scenario();
    scenario.spec.gpu = GpuMode::Simulate;
    let env = env_with(scenario, false);
    let results = run_fakes(
        &env,
        &[F3],
        |_| panics as CheckFn,
        &RecordingCleanup::default(),
    )
    .await;
    assert!(matches!(
        results.results[0].kind(),
        OutcomeKind::Refused { .. }
    ));
}

#[tokio::test(start_paused = true)]
async fn a_panicking_check_is_an_error_and_the_others_still_run() {
    let env = env(true);
    let implementation = |id: CheckId| if id == B1 { panics as CheckFn } else { passes };
    let results = run_fakes(
        &env,
        &[A1, B1, D3],
        implementation,
        &RecordingCleanup::default(),
    )
    .await;
    assert_eq!(
        verdicts(&results),
        vec![
            (A1, Verdict::Pass),
            (B1, Verdict::Fail),
            (D3, Verdict::Pass)
        ]
    );
    match results.results[1].kind() {
        OutcomeKind::Error { cause, message } => {
            assert_eq!(*cause, ErrorCause::Panic);
            assert_eq!(message, "index out of bounds");
        }
        other => panic!("expected an error: {other:?}"),
    }
}

#[tokio::test(start_paused = true)]
async fn interruption_cleans_up_and_reports_the_rest_as_not_run() {
    let env = env(true);
    let cleanup = RecordingCleanup::default();
    let implementation = |id: CheckId| if id == C2 { hangs as CheckFn } else { passes };
    let stop = Arc::new(tokio::sync::Notify::new());
    let trigger = stop.clone();
    // Interrupt once C2 (mutating, so it runs after A1) is in flight.
    let on_event = move |event: &RunEvent<'_>| {
        if let RunEvent::Finished { result } = event {
            if result.id == A1 {
                trigger.notify_one();
            }
        }
    };
    let cancel = async move {
        stop.notified().await;
        // Let C2 start and register its probe object.
        for _ in 0..10 {
            tokio::task::yield_now().await;
        }
    };
    let results = run_with(
        &env,
        &selection(&env, &[A1, C2, D3]),
        implementation,
        &cleanup,
        DEFAULT_CONCURRENCY,
        cancel,
        &on_event,
    )
    .await;
    assert_eq!(results.cancelled, Some(CancelReason::Interrupted));
    assert_eq!(
        verdicts(&results),
        vec![
            (A1, Verdict::Pass),
            (C2, Verdict::Fail),
            (D3, Verdict::Fail)
        ]
    );
    assert!(
        matches!(results.results[1].kind(), OutcomeKind::Interrupted { last_seen } if last_seen.contains("Ready=Unknown")),
        "{:?}",
        results.results[1].kind()
    );
    assert!(
        matches!(results.results[2].kind(), OutcomeKind::NotRun { .. }),
        "{:?}",
        results.results[2].kind()
    );
    assert_eq!(
        *cleanup.deleted.lock().unwrap(),
        vec![probe_object("probe")]
    );
    assert!(!results.all_passed());
}

#[tokio::test(start_paused = true)]
async fn every_step_is_an_event_in_order() {
    let env = env(true);
    let seen = Mutex::new(Vec::new());
    let sink = |event: &RunEvent<'_>| {
        let line = match event {
            RunEvent::Started { selection, .. } => format!("started {}", selection.len()),
            RunEvent::Observed { id, observation } => format!("observed {id}: {observation}"),
            RunEvent::Finished { result } => {
                format!("finished {} {}", result.id, result.kind().name())
            }
            RunEvent::Completed { results } => {
                format!("completed {:?}", results.cancelled)
            }
        };
        seen.lock().unwrap().push(line);
    };
    run_with(
        &env,
        &selection(&env, &[B3]),
        |_| hangs as CheckFn,
        &RecordingCleanup::default(),
        1,
        futures::future::pending(),
        &sink,
    )
    .await;
    assert_eq!(
        *seen.lock().unwrap(),
        vec![
            "started 1".to_string(),
            "observed B3: InferenceService models/probe Ready=Unknown".into(),
            "finished B3 timed-out".into(),
            "completed None".into(),
        ]
    );
}

#[test]
fn not_run_reports_every_selected_check_with_the_reason() {
    let scenario = scenario();
    let selection = Selection::of(&scenario, &[D1, D2]).unwrap();
    let results = report_not_run(
        &selection,
        "the cluster is unreachable",
        "connection refused",
        &super::super::events::Silent,
    );
    assert_eq!(results.results.len(), 2);
    for result in &results.results {
        assert_eq!(
            *result.kind(),
            OutcomeKind::NotRun {
                reason: "the cluster is unreachable".into()
            }
        );
    }
}
