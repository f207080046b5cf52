//! A4 drift-self-heal: deletes the drift canary and looks every 250 ms until a Deployment with a
//! new uid is Ready, reporting the seconds (`heal_seconds`). A canary that is missing or not
//! Ready beforehand is a FAIL, never a SKIP; one never recreated times out naming the managing
//! Application's `selfHeal` and sync state.

use std::time::{Duration, Instant};

use k8s_openapi::api::apps::v1::Deployment;
use kube::api::{Api, DeleteParams};

use crate::checks::env::{CheckFuture, CheckRun};
use crate::checks::kit::diagnose::{container_trouble, container_trouble_code};
use crate::checks::kit::wait::{Attempt, Decision, Wait};
use crate::checks::outcome::{Diagnosis, Outcome};
use crate::failures::FailureCode;
use crate::observe;
use crate::platform::views::{self, Application};
use crate::platform::{argocd, canary};
use crate::readiness;

/// How often A4 looks: the measured figure is only as precise as this interval.
const POLL: Duration = Duration::from_millis(250);

pub fn check<'a>(run: &'a CheckRun<'a>) -> CheckFuture<'a> {
    Box::pin(drift_self_heal(run))
}

/// What A4 saw after deleting the canary.
#[derive(Debug, Clone)]
pub struct DriftObservation {
    /// The uid of the Deployment the check deleted.
    pub deleted_uid: String,
    /// The canary Deployment as last observed (None: absent).
    pub current: Option<Deployment>,
    /// From the delete call to this observation.
    pub elapsed: Duration,
    /// The Application that manages the canary, read for the final diagnosis only: `None` when
    /// not read, `Some(None)` when it does not exist.
    pub application: Option<Option<Application>>,
}

fn canary_path() -> String {
    format!("{}/{}", canary::NAMESPACE, canary::DEPLOYMENT)
}

/// The verdict on one observation after the deletion.
pub fn evaluate_drift(observation: &DriftObservation) -> Decision {
    let canary = canary_path();
    let recreated = observation
        .current
        .as_ref()
        .filter(|d| d.metadata.uid.as_deref() != Some(observation.deleted_uid.as_str()));
    if let Some(deployment) = recreated {
        let r = readiness::deployment(deployment);
        if r.ready {
            let seconds = observation.elapsed.as_secs_f64();
            return Decision::Pass(
                Outcome::pass(format!(
                    "deployment {canary} recreated by ArgoCD and Ready after {seconds:.1} s"
                ))
                .with_figure("heal_seconds", seconds, "s"),
            );
        }
        return Decision::Pending(Outcome::fail(
            format!("deployment {canary} recreated but not Ready"),
            Diagnosis::new(
                format!("recreated deployment: {}", r.observed),
                container_trouble(&r.observed).unwrap_or(
                    "ArgoCD healed the drift but the pods do not become ready (image pull, Pending on quota, failing probe)",
                ),
                format!("kubectl -n {} describe pods -l app.kubernetes.io/name={}", canary::NAMESPACE, canary::DEPLOYMENT),
            )
            .with_code_opt(container_trouble_code(&r.observed)),
        ));
    }
    let seconds = observation.elapsed.as_secs_f64();
    let Some(application) = &observation.application else {
        let state = match &observation.current {
            Some(_) => "the deleted canary is still terminating".to_string(),
            None => format!("canary absent {seconds:.1} s after deletion"),
        };
        return Decision::Pending(Outcome::fail(
            format!("deployment {canary} not recreated yet"),
            Diagnosis::new(
                state,
                "ArgoCD has not restored it yet",
                format!(
                    "kubectl -n {} get deployment {} -w",
                    canary::NAMESPACE,
                    canary::DEPLOYMENT
                ),
            ),
        ));
    };
    let app = application.as_ref();
    let app_name = app
        .and_then(|a| a.metadata.name.clone())
        .unwrap_or_else(|| argocd::PLATFORM_APPLICATION.to_string());
    let self_heal = app.and_then(views::self_heal);
    let state = app.map(readiness::application_state);
    let observed = format!(
        "deployment {canary} never recreated after {seconds:.0} s; application {app_name}: {}",
        match &state {
            Some(s) => super::describe(s),
            None => "not found".into(),
        }
    );
    // Only a self-heal that is off is the catalogued failure; the other branches are guesses.
    let code = matches!((self_heal, &state), (Some(false), _) | (None, Some(_)))
        .then_some(FailureCode::DriftNotHealed);
    let likely = match (self_heal, &state) {
        (None, None) => format!(
            "no Application manages the canary any more ({app_name} is missing), so nothing restores it"
        ),
        (Some(false), _) | (None, Some(_)) => format!(
            "selfHeal is off for application {app_name} (spec.syncPolicy.automated.selfHeal is not true): ArgoCD reports the drift as OutOfSync but does not repair it"
        ),
        (Some(true), Some(s)) if !s.error_conditions.is_empty() => format!(
            "selfHeal is on but application {app_name} cannot sync: {}",
            s.error_conditions.join("; ")
        ),
        (Some(true), Some(s)) if s.sync == "OutOfSync" => format!(
            "selfHeal is on and application {app_name} is OutOfSync, but its sync does not complete (failing operation or self-heal backoff up to 300 s after repeated drift)"
        ),
        (Some(true), _) => format!(
            "application {app_name} has not noticed the deletion: the application controller is not watching (restarting, or the canary lost its tracking annotation)"
        ),
    };
    Decision::Pending(Outcome::fail(
        format!("deployment {canary} never recreated"),
        Diagnosis::new(
            observed,
            likely,
            format!("kubectl -n argocd get application {app_name} -o jsonpath='{{.spec.syncPolicy}}{{\"\\n\"}}{{.status.sync.status}} {{.status.operationState.message}}'"),
        )
        .with_code_opt(code),
    ))
}

/// The Application named in a resource's tracking annotation.
pub fn tracking_application(
    annotations: Option<&std::collections::BTreeMap<String, String>>,
) -> Option<String> {
    annotations?
        .get(argocd::TRACKING_ID_ANNOTATION)?
        .split(':')
        .next()
        .filter(|s| !s.is_empty())
        .map(str::to_string)
}

/// The verdict before anything is deleted: A4 needs a Ready canary to start from. `Some` is the
/// FAIL that stops the check.
pub fn evaluate_drift_precondition(canary: Option<&Deployment>) -> Option<Outcome> {
    let name = canary_path();
    let Some(deployment) = canary else {
        return Some(Outcome::fail(
            format!("drift canary {name} does not exist"),
            Diagnosis::new(
                format!("deployment {name} not found"),
                "the platform Application has not synced the canary (manifests/platform), or it was deleted and never healed",
                format!("kubectl -n argocd describe application {}", argocd::PLATFORM_APPLICATION),
            ),
        ));
    };
    let r = readiness::deployment(deployment);
    if !r.ready {
        return Some(Outcome::fail(
            format!("drift canary {name} is not Ready before the test"),
            Diagnosis::new(
                r.observed.clone(),
                container_trouble(&r.observed)
                    .unwrap_or("the canary's pods do not become ready")
                    .to_string(),
                format!(
                    "kubectl -n {} describe deployment {}",
                    canary::NAMESPACE,
                    canary::DEPLOYMENT
                ),
            ),
        ));
    }
    None
}

async fn drift_self_heal(run: &CheckRun<'_>) -> Outcome {
    let client = &run.env.client;
    let deployments: Api<Deployment> = Api::namespaced(client.clone(), canary::NAMESPACE);
    let before = match deployments.get_opt(canary::DEPLOYMENT).await {
        Ok(d) => d,
        Err(e) => return Outcome::api_error("the drift canary", &e),
    };
    if let Some(outcome) = evaluate_drift_precondition(before.as_ref()) {
        return outcome;
    }
    let before = before.expect("checked by the precondition");
    let deleted_uid = before.metadata.uid.clone().unwrap_or_default();
    let app_name = tracking_application(before.metadata.annotations.as_ref())
        .unwrap_or_else(|| argocd::PLATFORM_APPLICATION.to_string());
    run.saw(format!(
        "deleting deployment {} (uid {deleted_uid}), managed by application {app_name}",
        canary_path()
    ));
    let started = Instant::now();
    // Background propagation: the Deployment object goes at once, as a `kubectl delete` would;
    // ArgoCD sees it missing and recreates it while the old pods wind down.
    if let Err(e) = deployments
        .delete(canary::DEPLOYMENT, &DeleteParams::background())
        .await
    {
        return Outcome::api_error("(delete) the drift canary", &e);
    }
    let gather = |attempt: Attempt| {
        let deployments = deployments.clone();
        let deleted_uid = deleted_uid.clone();
        let app_name = app_name.clone();
        async move {
            let current = deployments
                .get_opt(canary::DEPLOYMENT)
                .await
                .map_err(|e| Outcome::api_error("the drift canary", &e))?;
            let application = if attempt.last {
                let app =
                    observe::get_view::<Application>(client, Some(argocd::NAMESPACE), &app_name)
                        .await
                        .ok()
                        .flatten();
                Some(app)
            } else {
                None
            };
            Ok(DriftObservation {
                deleted_uid,
                current,
                elapsed: started.elapsed(),
                application,
            })
        }
    };
    Wait::for_check(run)
        .every(POLL)
        .until(run, gather, evaluate_drift)
        .await
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checks::fixtures::{self, application, diagnosis};
    use crate::checks::outcome::Verdict;

    fn canary(uid: &str, ready: i32) -> Deployment {
        let mut d = fixtures::deployment(canary::NAMESPACE, canary::DEPLOYMENT, 1, ready);
        d.metadata.uid = Some(uid.to_string());
        d
    }

    fn observation(
        current: Option<Deployment>,
        application: Option<Option<serde_json::Value>>,
    ) -> DriftObservation {
        DriftObservation {
            deleted_uid: "uid-old".into(),
            current,
            elapsed: Duration::from_millis(7_400),
            application: application.map(|a| a.map(fixtures::app)),
        }
    }

    fn pending(decision: Decision) -> Outcome {
        match decision {
            Decision::Pending(outcome) => outcome,
            other => panic!("expected to keep waiting: {other:?}"),
        }
    }

    #[test]
    fn a4_passes_with_the_measured_seconds_once_a_new_canary_is_ready() {
        let Decision::Pass(outcome) =
            evaluate_drift(&observation(Some(canary("uid-new", 1)), None))
        else {
            panic!("a new Ready canary passes")
        };
        assert_eq!(outcome.figures[0].name, "heal_seconds");
        assert!((outcome.figures[0].value - 7.4).abs() < 1e-9);
        assert!(outcome.summary.contains("7.4 s"), "{}", outcome.summary);
    }

    #[test]
    fn a4_keeps_waiting_while_the_old_canary_terminates_or_the_new_one_starts() {
        for current in [Some(canary("uid-old", 1)), Some(canary("uid-new", 0)), None] {
            let outcome = pending(evaluate_drift(&observation(current, None)));
            assert_eq!(outcome.verdict(), Verdict::Fail);
        }
    }

    #[test]
    fn a4_never_recreated_names_self_heal_off_in_its_final_diagnosis() {
        let mut app = application(argocd::PLATFORM_APPLICATION, "OutOfSync", "Missing");
        app["spec"]["syncPolicy"]["automated"]["selfHeal"] = serde_json::json!(false);
        let outcome = pending(evaluate_drift(&observation(None, Some(Some(app)))));
        assert!(
            outcome.summary.contains("never recreated"),
            "{}",
            outcome.summary
        );
        let d = diagnosis(&outcome);
        assert_eq!(diagnosis(&outcome).code, Some(FailureCode::DriftNotHealed));
        assert!(
            d.likely_cause.contains("selfHeal is off"),
            "{}",
            d.likely_cause
        );
        assert!(
            d.observed.contains("platform OutOfSync/Missing"),
            "{}",
            d.observed
        );
    }

    #[test]
    fn a4_never_recreated_with_self_heal_on_points_at_the_out_of_sync_application() {
        let app = application(argocd::PLATFORM_APPLICATION, "OutOfSync", "Missing");
        let outcome = pending(evaluate_drift(&observation(None, Some(Some(app)))));
        assert!(
            diagnosis(&outcome).likely_cause.contains("OutOfSync"),
            "{}",
            diagnosis(&outcome).likely_cause
        );
        let outcome = pending(evaluate_drift(&observation(None, Some(None))));
        assert!(diagnosis(&outcome).likely_cause.contains("is missing"));
    }

    #[test]
    fn a4_a_recreated_canary_that_never_becomes_ready_is_named() {
        let outcome = pending(evaluate_drift(&observation(
            Some(canary("uid-new", 0)),
            None,
        )));
        assert!(outcome.summary.contains("not Ready"), "{}", outcome.summary);
    }

    #[test]
    fn a4_refuses_to_start_without_a_ready_canary() {
        let missing = evaluate_drift_precondition(None).expect("a FAIL");
        assert_eq!(
            missing.verdict(),
            Verdict::Fail,
            "a missing canary is a FAIL, never a SKIP"
        );
        assert!(evaluate_drift_precondition(Some(&canary("u", 0))).is_some());
        assert!(evaluate_drift_precondition(Some(&canary("u", 1))).is_none());
    }

    #[test]
    fn the_tracking_annotation_names_the_application() {
        let mut annotations = std::collections::BTreeMap::new();
        annotations.insert(
            argocd::TRACKING_ID_ANNOTATION.to_string(),
            "platform:apps/Deployment:neuroscale-canary/drift-canary".to_string(),
        );
        assert_eq!(
            tracking_application(Some(&annotations)).as_deref(),
            Some("platform")
        );
        assert_eq!(tracking_application(None), None);
    }
}
