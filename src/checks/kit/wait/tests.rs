//! The wait over fake gathers, in paused time (no cluster, no sleeping).

use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use super::*;
use crate::checks::fixtures::offline_env;
use crate::checks::outcome::{Diagnosis, OutcomeKind};
use crate::checks::CheckId;

fn pending(observed: &str) -> Decision {
    Decision::Pending(Outcome::fail(
        format!("not yet: {observed}"),
        Diagnosis::new(observed, "still starting", "kubectl get pods"),
    ))
}

#[tokio::test(start_paused = true)]
async fn a_pass_concludes_at_once() {
    let env = offline_env(true);
    let run = CheckRun::new(&env, CheckId::A1, Duration::from_secs(60));
    let outcome = until(
        &run,
        |_| async { Ok::<_, Outcome>(()) },
        |_| Decision::Pass(Outcome::pass("ready")),
    )
    .await;
    assert_eq!(outcome.kind, OutcomeKind::Passed);
}

#[tokio::test(start_paused = true)]
async fn a_state_that_never_comes_times_out_with_what_was_awaited_and_seen_last() {
    let env = offline_env(true);
    let run = CheckRun::new(&env, CheckId::B1, Duration::from_secs(20));
    let looks = AtomicU32::new(0);
    let outcome = until(
        &run,
        |attempt| {
            looks.fetch_add(1, Ordering::SeqCst);
            async move { Ok::<_, Outcome>(attempt.number) }
        },
        |n| pending(&format!("controller 0/1 ready (look {n})")),
    )
    .await;
    let seen = looks.load(Ordering::SeqCst);
    match &outcome.kind {
        OutcomeKind::TimedOut {
            waited_for,
            waited,
            last_seen,
        } => {
            assert_eq!(waited_for, CheckId::B1.spec().passes_when);
            // The deadline less its margin (a tenth, at most 5 s).
            assert_eq!(*waited, Duration::from_secs(18));
            assert_eq!(last_seen, &format!("controller 0/1 ready (look {seen})"));
        }
        other => panic!("expected a timeout: {other:?}"),
    }
    assert_eq!(
        outcome.summary,
        format!("not yet: controller 0/1 ready (look {seen})")
    );
    assert_eq!(
        run.last_seen(),
        format!("controller 0/1 ready (look {seen})")
    );
    assert!(seen >= 18, "looked every second: {seen}");
}

#[tokio::test(start_paused = true)]
async fn a_final_failure_is_not_retried() {
    let env = offline_env(true);
    let run = CheckRun::new(&env, CheckId::B4, Duration::from_secs(60));
    let looks = AtomicU32::new(0);
    let outcome = until(
        &run,
        |_| {
            looks.fetch_add(1, Ordering::SeqCst);
            async { Ok::<_, Outcome>(()) }
        },
        |_| {
            Decision::Fail(Outcome::fail(
                "wrong answer",
                Diagnosis::new("got 2", "wrong model", "curl"),
            ))
        },
    )
    .await;
    assert_eq!(outcome.kind, OutcomeKind::Failed);
    assert_eq!(looks.load(Ordering::SeqCst), 1);
}

#[tokio::test(start_paused = true)]
async fn a_pass_must_hold_for_the_stable_count() {
    let env = offline_env(true);
    let run = CheckRun::new(&env, CheckId::A2, Duration::from_secs(60));
    // Flaps: pass, fail, pass, pass, pass.
    let script = [true, false, true, true, true];
    let outcome = Wait::for_check(&run)
        .stable_for(3)
        .until(
            &run,
            |attempt| async move { Ok::<_, Outcome>(attempt.number) },
            |n| {
                if script[(*n as usize - 1).min(script.len() - 1)] {
                    Decision::Pass(Outcome::pass(format!("pass at look {n}")))
                } else {
                    pending("flapped")
                }
            },
        )
        .await;
    assert_eq!(outcome.summary, "pass at look 5");
    let flapping = Wait::for_check(&run)
        .stable_for(2)
        .within(Duration::from_secs(10))
        .until(
            &run,
            |attempt| async move { Ok::<_, Outcome>(attempt.number) },
            |n| {
                if n % 2 == 0 {
                    Decision::Pass(Outcome::pass("up"))
                } else {
                    pending("down")
                }
            },
        )
        .await;
    assert!(
        matches!(flapping.kind, OutcomeKind::TimedOut { .. }),
        "a pass that never holds is not a pass: {flapping:?}"
    );
}

#[tokio::test(start_paused = true)]
async fn an_unreadable_observation_is_retried_and_named_when_time_runs_out() {
    let env = offline_env(true);
    let run = CheckRun::new(&env, CheckId::A3, Duration::from_secs(60));
    let recovered = until(
        &run,
        |attempt| async move {
            if attempt.number < 3 {
                Err(Outcome::fail(
                    "could not read",
                    Diagnosis::new("503", "api", "kubectl"),
                ))
            } else {
                Ok(())
            }
        },
        |_| Decision::Pass(Outcome::pass("read at last")),
    )
    .await;
    assert_eq!(recovered.summary, "read at last");
    let never = Wait::for_check(&run)
        .within(Duration::from_secs(3))
        .until(
            &run,
            |_| async {
                Err::<(), _>(Outcome::fail(
                    "could not read",
                    Diagnosis::new("503", "api", "kubectl"),
                ))
            },
            |_| Decision::Pass(Outcome::pass("never")),
        )
        .await;
    assert_eq!(never.summary, "could not read");
}

#[tokio::test(start_paused = true)]
async fn the_last_attempt_is_marked_and_retries_stop_at_the_limit() {
    let env = offline_env(true);
    let run = CheckRun::new(&env, CheckId::C1, Duration::from_secs(60));
    let outcome = Wait::for_check(&run)
        .within(Duration::from_secs(5))
        .until(
            &run,
            |attempt| async move { Ok::<_, Outcome>(attempt) },
            |attempt| {
                if attempt.last {
                    pending("the final look")
                } else {
                    pending("a look")
                }
            },
        )
        .await;
    assert!(matches!(outcome.kind, OutcomeKind::TimedOut { .. }));
    assert_eq!(outcome.summary, "not yet: the final look");
    let limited = Wait::for_check(&run)
        .at_most(3)
        .last_observation(
            &run,
            |attempt| async move { Ok::<_, Outcome>(attempt.number) },
            |_| false,
        )
        .await
        .unwrap();
    assert_eq!(limited, (3, 3));
}

#[tokio::test(start_paused = true)]
async fn an_unreadable_observation_can_be_final() {
    let env = offline_env(true);
    let run = CheckRun::new(&env, CheckId::C1, Duration::from_secs(60));
    let looks = AtomicU32::new(0);
    let outcome = Wait::for_check(&run)
        .final_on_unreadable()
        .until(
            &run,
            |_| {
                looks.fetch_add(1, Ordering::SeqCst);
                async {
                    Err::<(), _>(Outcome::fail(
                        "not served",
                        Diagnosis::new("404", "no CRD", "kubectl"),
                    ))
                }
            },
            |_| Decision::Pass(Outcome::pass("never")),
        )
        .await;
    assert_eq!(outcome.summary, "not served");
    assert_eq!(looks.load(Ordering::SeqCst), 1);
}
