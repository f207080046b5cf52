//! Milestone GitOps spine (A1-A4): ArgoCD readiness, Application sync and health, drift self-heal.
//!
//! Each check gathers fresh observations (recording what it saw with `run.saw`) and hands them to
//! a pure `evaluate_*` function, re-observing until the verdict is PASS or the deadline passes.
//! What the original smoke test did and these checks must not: count "Running" pods as ready,
//! grep "Healthy" out of a table (so Progressing passed), and SKIP when the canary was missing.

use std::time::{Duration, Instant};

use k8s_openapi::api::apps::v1::Deployment;
use kube::api::{Api, DeleteParams};
use serde_json::Value;

use super::admission::{self, AdmissionOutcome};
use super::env::{CheckFn, CheckFuture, CheckRun};
use super::observe::{self, api_failure, ObservedWorkload, APPLICATION, ARGOCD_NAMESPACE};
use super::outcome::{Diagnosis, Outcome};
use crate::components::{self, Gate};
use crate::gitops::{
    model_application_name, DRIFT_CANARY_DEPLOYMENT, DRIFT_CANARY_NAMESPACE, PLATFORM_APPLICATION,
    ROOT_APPLICATION,
};
use crate::readiness::{self, ApplicationState};
use crate::scenario::{GpuMode, Scenario};

/// The annotation ArgoCD (3.0+, annotation tracking) puts on every resource it manages:
/// `<app>:<group>/<kind>:<namespace>/<name>` (argo-cd docs/user-guide/resource_tracking.md).
pub const TRACKING_ID_ANNOTATION: &str = "argocd.argoproj.io/tracking-id";

/// This milestone's checks by id (see `super::catalogue`).
pub const CHECKS: &[(&str, CheckFn)] = &[("A1", a1), ("A2", a2), ("A3", a3), ("A4", a4)];

fn a1<'a>(run: &'a CheckRun<'a>) -> CheckFuture<'a> {
    Box::pin(argocd_ready(run))
}
fn a2<'a>(run: &'a CheckRun<'a>) -> CheckFuture<'a> {
    Box::pin(apps_synced_healthy(run))
}
fn a3<'a>(run: &'a CheckRun<'a>) -> CheckFuture<'a> {
    Box::pin(no_unknown_state(run))
}
fn a4<'a>(run: &'a CheckRun<'a>) -> CheckFuture<'a> {
    Box::pin(drift_self_heal(run))
}

// ---------------------------------------------------------------------------------------------
// A1 argocd-ready

/// The ArgoCD workloads the platform installs (the argocd component's gates).
pub fn required_argocd_workloads() -> Vec<&'static str> {
    components::find("argocd")
        .map(|c| {
            c.gates
                .iter()
                .filter_map(|g| match g {
                    Gate::Deployment { name, .. } | Gate::StatefulSet { name, .. } => Some(*name),
                    _ => None,
                })
                .collect()
        })
        .unwrap_or_default()
}

async fn argocd_ready(run: &CheckRun<'_>) -> Outcome {
    let required = required_argocd_workloads();
    observe::poll_until_pass(run, || async {
        match observe::observe_workloads(&run.env.client, ARGOCD_NAMESPACE).await {
            Ok(workloads) => {
                let outcome = evaluate_argocd_ready(&workloads, &required);
                run.saw(outcome.summary.clone());
                outcome
            }
            Err(e) => {
                run.saw(format!("argocd workloads unreadable: {e}"));
                api_failure("the argocd namespace's workloads", &e)
            }
        }
    })
    .await
}

/// A likely cause for containers that are not ready, from their waiting reasons.
pub(crate) fn container_trouble(observed: &str) -> Option<&'static str> {
    if observed.contains("ImagePullBackOff") || observed.contains("ErrImagePull") {
        Some("an image cannot be pulled: the registry refuses it (seeds/08 failure 3: gcr.io kube-rbac-proxy 403) or the host is offline (UPSTREAM.md §10 item 15)")
    } else if observed.contains("CrashLoopBackOff") {
        Some("a container is crash-looping: its log says why")
    } else if observed.contains("CreateContainerConfigError") {
        Some("a container cannot start: a Secret or ConfigMap it mounts is missing")
    } else {
        None
    }
}

/// A1: every ArgoCD Deployment and StatefulSet has all replicas ready and every pod all of its
/// containers ready; the workloads the install gates on must exist.
pub fn evaluate_argocd_ready(workloads: &[ObservedWorkload], required: &[&str]) -> Outcome {
    let mut problems: Vec<String> = required
        .iter()
        .filter(|name| !workloads.iter().any(|w| w.name == **name))
        .map(|name| format!("{name} does not exist"))
        .collect();
    let mut pods = 0;
    let mut ready = 0;
    for workload in workloads {
        let r = workload.readiness();
        pods += workload.pods.len();
        if r.ready {
            ready += 1;
        } else {
            problems.push(r.observed);
        }
    }
    if problems.is_empty() && !workloads.is_empty() {
        return Outcome::pass(format!(
            "{ready}/{} ArgoCD workloads ready, {pods} pods with all containers ready",
            workloads.len()
        ))
        .with_figure("workloads_ready", ready as f64, "count");
    }
    if workloads.is_empty() {
        problems.push("no Deployment or StatefulSet in namespace argocd".into());
    }
    let observed = problems.join("; ");
    let likely = if workloads.is_empty() {
        "ArgoCD is not installed in namespace argocd (run `neuroscale up`)".to_string()
    } else if let Some(trouble) = container_trouble(&observed) {
        trouble.to_string()
    } else if observed.contains("argocd-repo-server") {
        "argocd-repo-server is down: every Application turns Unknown until it is back (seeds/03, seeds/11 failure 4)".to_string()
    } else {
        "pods still starting or failing their readiness probes; `kubectl describe` shows events"
            .to_string()
    };
    Outcome::fail(
        format!(
            "{ready}/{} ArgoCD workloads ready",
            workloads.len().max(required.len())
        ),
        Diagnosis::new(
            observed,
            likely,
            "kubectl -n argocd get pods -o wide && kubectl -n argocd describe pods",
        ),
    )
}

// ---------------------------------------------------------------------------------------------
// A2 apps-synced-healthy

/// The Applications the platform must have: one per ArgoCD-delivered component (with the
/// device plugin only for a real GPU), the root app-of-apps, and one child per CPU model of
/// the scenario (the model-endpoints ApplicationSet's output).
pub fn expected_applications(scenario: &Scenario) -> Vec<String> {
    let real_gpu = scenario.spec.gpu == GpuMode::Real;
    let mut names: Vec<String> = components::selected(real_gpu)
        .iter()
        .flat_map(|c| c.gates.iter())
        .filter_map(|g| match g {
            Gate::ApplicationHealthy { name } => Some(name.to_string()),
            _ => None,
        })
        .collect();
    names.push(ROOT_APPLICATION.to_string());
    names.extend(
        scenario
            .cpu_models()
            .map(|m| model_application_name(&m.name)),
    );
    names.dedup();
    names
}

async fn list_applications(run: &CheckRun<'_>) -> Result<Vec<Value>, Outcome> {
    observe::list(&run.env.client, &APPLICATION, Some(ARGOCD_NAMESPACE))
        .await
        .map_err(|e| {
            run.saw(format!("applications unreadable: {e}"));
            api_failure("ArgoCD Applications", &e)
        })
}

async fn apps_synced_healthy(run: &CheckRun<'_>) -> Outcome {
    let expected = expected_applications(&run.env.scenario);
    let outcome = observe::poll_until_pass(run, || async {
        match list_applications(run).await {
            Ok(apps) => {
                let outcome = evaluate_apps_synced_healthy(&apps, &expected);
                run.saw(outcome.summary.clone());
                outcome
            }
            Err(outcome) => outcome,
        }
    })
    .await;
    if outcome.is_pass() {
        outcome
    } else {
        at_deadline(outcome, run.deadline)
    }
}

/// Marks a FAIL as the state at the deadline (the check waited that long for it to change).
fn at_deadline(mut outcome: Outcome, deadline: Duration) -> Outcome {
    outcome.summary = format!(
        "{} (at the {} deadline)",
        outcome.summary,
        humantime::format_duration(deadline)
    );
    outcome
}

fn describe(state: &ApplicationState) -> String {
    let mut text = format!("{} {}/{}", state.name, state.sync, state.health);
    if !state.error_conditions.is_empty() {
        text.push_str(&format!(" [{}]", state.error_conditions.join("; ")));
    }
    if let Some(op) = &state.operation {
        if !op.starts_with("Succeeded") {
            text.push_str(&format!(" (last operation {op})"));
        }
    }
    text
}

/// A2: every Application Synced AND Healthy (Progressing, Degraded, Missing, Suspended and
/// Unknown all fail), none carrying an error condition, and every expected Application present.
pub fn evaluate_apps_synced_healthy(apps: &[Value], expected: &[String]) -> Outcome {
    let states: Vec<ApplicationState> = apps.iter().map(readiness::application_state).collect();
    let missing: Vec<&String> = expected
        .iter()
        .filter(|name| !states.iter().any(|s| &s.name == *name))
        .collect();
    let stuck: Vec<&ApplicationState> = states
        .iter()
        .filter(|s| !(s.sync == "Synced" && s.health == "Healthy" && s.error_conditions.is_empty()))
        .collect();
    let good = states.len() - stuck.len();
    if stuck.is_empty() && missing.is_empty() && !states.is_empty() {
        return Outcome::pass(format!(
            "{good}/{} Applications Synced+Healthy",
            states.len()
        ))
        .with_figure("applications_healthy", good as f64, "count");
    }
    let mut observed: Vec<String> = stuck.iter().map(|s| describe(s)).collect();
    if !missing.is_empty() {
        observed.push(format!(
            "missing: {}",
            missing
                .iter()
                .map(|s| s.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    let first = stuck.first().map(|s| s.name.clone());
    let likely = if states.is_empty() {
        "no Application exists: the root Application was never applied (run `neuroscale up`)"
            .to_string()
    } else if stuck.iter().any(|s| {
        s.error_conditions
            .iter()
            .any(|c| c.starts_with("ComparisonError"))
    }) {
        "ArgoCD cannot render the source: the GitOps repository is unreachable from repo-server or a path is wrong (UPSTREAM.md §10 item 8)".to_string()
    } else if stuck.iter().any(|s| {
        s.operation
            .as_deref()
            .is_some_and(|o| o.starts_with("Failed") || o.starts_with("Error"))
    }) {
        let op = stuck
            .iter()
            .filter_map(|s| s.operation.as_deref())
            .find(|o| o.starts_with("Failed") || o.starts_with("Error"))
            .unwrap_or_default();
        match admission::classify(op) {
            AdmissionOutcome::WebhookUnavailable { webhook, service, .. } => format!(
                "sync fails at admission: webhook {webhook} has no working backend ({}); fix that component first (seeds/11 failures 1 and 5)",
                service.unwrap_or_else(|| "unknown service".into())
            ),
            AdmissionOutcome::KyvernoDenial { policies, .. } => format!(
                "a platform manifest is denied by Kyverno policy {}: the manifest violates it",
                policies.join(", ")
            ),
            _ => "the last sync failed applying manifests; the operation message says which object".to_string(),
        }
    } else if stuck.iter().any(|s| s.health == "Progressing") {
        "resources are still rolling out or stuck (images pulling, pods Pending on CPU/memory, a webhook without endpoints); Progressing is not Healthy".to_string()
    } else if stuck.iter().any(|s| s.sync == "OutOfSync") {
        "live state differs from git and automated sync has not fixed it (syncPolicy.automated off, or a mutated field such as a webhook caBundle without ignoreDifferences, UPSTREAM.md §10 item 11)".to_string()
    } else if stuck.iter().any(|s| s.health == "Degraded") {
        "a managed resource is Degraded (crash-looping pods, failed Job, InferenceService not Ready)"
            .to_string()
    } else if !missing.is_empty() {
        "an expected Application was never generated: the root app or the model-endpoints ApplicationSet has not synced it".to_string()
    } else {
        "ArgoCD has not assessed these Applications (Unknown): repo-server or the application controller is unhealthy".to_string()
    };
    let next = match first {
        Some(name) => format!("kubectl -n argocd describe application {name}"),
        None => "kubectl -n argocd get applications,applicationsets".to_string(),
    };
    Outcome::fail(
        format!(
            "{good}/{} Applications Synced+Healthy",
            states.len().max(expected.len())
        ),
        Diagnosis::new(observed.join("; "), likely, next),
    )
}

// ---------------------------------------------------------------------------------------------
// A3 no-unknown-state

async fn no_unknown_state(run: &CheckRun<'_>) -> Outcome {
    observe::poll_until_pass(run, || async {
        match list_applications(run).await {
            Ok(apps) => {
                let outcome = evaluate_no_unknown_state(&apps);
                run.saw(outcome.summary.clone());
                outcome
            }
            Err(outcome) => outcome,
        }
    })
    .await
}

/// Conditions that mean ArgoCD could not compare or apply, rather than that it is busy
/// (argo-cd pkg/apis/application/v1alpha1/types.go ApplicationConditionType).
const A3_ERROR_CONDITIONS: &[&str] = &[
    "ComparisonError",
    "SyncError",
    "InvalidSpecError",
    "UnknownError",
];

/// A3: no Application Unknown (sync or health) or carrying a ComparisonError, SyncError,
/// InvalidSpecError or UnknownError condition. No Applications at all is a FAIL.
pub fn evaluate_no_unknown_state(apps: &[Value]) -> Outcome {
    if apps.is_empty() {
        return Outcome::fail(
            "no Application to assess",
            Diagnosis::new(
                "namespace argocd holds no Application",
                "the root Application was never applied (run `neuroscale up`)",
                "kubectl -n argocd get applications",
            ),
        );
    }
    let states: Vec<ApplicationState> = apps.iter().map(readiness::application_state).collect();
    let bad: Vec<&ApplicationState> = states
        .iter()
        .filter(|s| {
            s.sync == "Unknown"
                || s.health == "Unknown"
                || s.error_conditions
                    .iter()
                    .any(|c| A3_ERROR_CONDITIONS.iter().any(|k| c.starts_with(k)))
        })
        .collect();
    if bad.is_empty() {
        return Outcome::pass(format!(
            "{} Applications assessed, none Unknown or in error",
            states.len()
        ))
        .with_figure("applications_assessed", states.len() as f64, "count");
    }
    let conditions: Vec<&String> = bad.iter().flat_map(|s| s.error_conditions.iter()).collect();
    let webhook = conditions
        .iter()
        .find_map(|c| match admission::classify(c) {
            AdmissionOutcome::WebhookUnavailable {
                webhook, service, ..
            } => Some((webhook, service)),
            _ => None,
        });
    let all_unknown = bad.len() == states.len() && bad.iter().all(|s| s.sync == "Unknown");
    let likely = if let Some((webhook, service)) = webhook {
        format!(
            "applies fail at admission: webhook {webhook} cannot be called (service {}); stale or not-yet-ready webhooks block ArgoCD (seeds/11 failures 4 and 5)",
            service.unwrap_or_else(|| "unknown".into())
        )
    } else if all_unknown
        || conditions
            .iter()
            .any(|c| c.contains("connection refused") || c.contains("Unavailable"))
    {
        "ArgoCD cannot reach argocd-repo-server (crash-looping, or disrupted by Kyverno's webhooks during its install: seeds/11 failure 4)".to_string()
    } else if conditions.iter().any(|c| c.starts_with("ComparisonError")) {
        "a source error: the GitOps repository is unreachable or a path/revision is wrong (UPSTREAM.md §10 item 8)".to_string()
    } else if conditions.iter().any(|c| c.starts_with("SyncError")) {
        "a sync error: ArgoCD could not apply a manifest; the condition names the object"
            .to_string()
    } else {
        "ArgoCD has no verdict for these Applications yet (Unknown)".to_string()
    };
    Outcome::fail(
        format!(
            "{}/{} Applications Unknown or in error",
            bad.len(),
            states.len()
        ),
        Diagnosis::new(
            bad.iter()
                .map(|s| describe(s))
                .collect::<Vec<_>>()
                .join("; "),
            likely,
            format!(
                "kubectl -n argocd get application {} -o jsonpath='{{.status.conditions}}' && kubectl -n argocd get pods",
                bad[0].name
            ),
        ),
    )
}

// ---------------------------------------------------------------------------------------------
// A4 drift-self-heal

/// What A4 saw after deleting the canary.
#[derive(Debug, Clone)]
pub struct DriftObservation {
    /// The uid of the Deployment the check deleted.
    pub deleted_uid: String,
    /// The canary Deployment as last observed (None: absent).
    pub current: Option<Deployment>,
    /// Seconds from the delete call to this observation.
    pub elapsed: Duration,
    /// Whether the check's deadline has passed.
    pub deadline_passed: bool,
    /// The Application that manages the canary, as last read (for the diagnosis).
    pub application: Option<Value>,
}

/// The verdict on one observation: `None` while still waiting.
pub fn evaluate_drift(observation: &DriftObservation) -> Option<Outcome> {
    let canary = format!("{DRIFT_CANARY_NAMESPACE}/{DRIFT_CANARY_DEPLOYMENT}");
    let recreated = observation
        .current
        .as_ref()
        .filter(|d| d.metadata.uid.as_deref() != Some(observation.deleted_uid.as_str()));
    if let Some(deployment) = recreated {
        let r = readiness::deployment(deployment);
        if r.ready {
            let seconds = observation.elapsed.as_secs_f64();
            return Some(
                Outcome::pass(format!(
                    "deployment {canary} recreated by ArgoCD and Ready after {seconds:.1} s"
                ))
                .with_figure("heal_seconds", seconds, "s"),
            );
        }
        if !observation.deadline_passed {
            return None;
        }
        return Some(Outcome::fail(
            format!("deployment {canary} recreated but not Ready at the deadline"),
            Diagnosis::new(
                format!("recreated deployment: {}", r.observed),
                container_trouble(&r.observed).unwrap_or(
                    "ArgoCD healed the drift but the pods do not become ready (image pull, Pending on quota, failing probe)",
                ),
                format!("kubectl -n {DRIFT_CANARY_NAMESPACE} describe pods -l app.kubernetes.io/name={DRIFT_CANARY_DEPLOYMENT}"),
            ),
        ));
    }
    if !observation.deadline_passed {
        return None;
    }
    let app = observation.application.as_ref();
    let app_name = app
        .and_then(|a| a.pointer("/metadata/name"))
        .and_then(Value::as_str)
        .unwrap_or(PLATFORM_APPLICATION);
    let self_heal = app
        .and_then(|a| a.pointer("/spec/syncPolicy/automated"))
        .map(|auto| {
            auto.get("enabled").and_then(Value::as_bool) != Some(false)
                && auto.get("selfHeal").and_then(Value::as_bool) == Some(true)
        });
    let state = app.map(readiness::application_state);
    let observed = format!(
        "deployment {canary} never recreated after {:.0} s; application {app_name}: {}",
        observation.elapsed.as_secs_f64(),
        match &state {
            Some(s) => describe(s),
            None => "not found".into(),
        }
    );
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
            "selfHeal is on and application {app_name} is OutOfSync, but its sync does not complete (failing operation or self-heal backoff up to 300 s after repeated drift, UPSTREAM.md §10 item 8)"
        ),
        (Some(true), _) => format!(
            "application {app_name} has not noticed the deletion: the application controller is not watching (restarting, or the canary lost its tracking annotation)"
        ),
    };
    Some(Outcome::fail(
        format!("deployment {canary} never recreated"),
        Diagnosis::new(
            observed,
            likely,
            format!("kubectl -n argocd get application {app_name} -o jsonpath='{{.spec.syncPolicy}}{{\"\\n\"}}{{.status.sync.status}} {{.status.operationState.message}}'"),
        ),
    ))
}

/// The Application named in a resource's tracking annotation.
pub fn tracking_application(
    annotations: Option<&std::collections::BTreeMap<String, String>>,
) -> Option<String> {
    annotations?
        .get(TRACKING_ID_ANNOTATION)?
        .split(':')
        .next()
        .filter(|s| !s.is_empty())
        .map(str::to_string)
}

/// The verdict before anything is deleted: A4 needs a Ready canary to start from. `Some` is the
/// FAIL that stops the check.
pub fn evaluate_drift_precondition(canary: Option<&Deployment>) -> Option<Outcome> {
    let name = format!("{DRIFT_CANARY_NAMESPACE}/{DRIFT_CANARY_DEPLOYMENT}");
    let Some(deployment) = canary else {
        return Some(Outcome::fail(
            format!("drift canary {name} does not exist"),
            Diagnosis::new(
                format!("deployment {name} not found"),
                "the platform Application has not synced the canary (manifests/platform), or it was deleted and never healed",
                format!("kubectl -n argocd describe application {PLATFORM_APPLICATION}"),
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
                format!("kubectl -n {DRIFT_CANARY_NAMESPACE} describe deployment {DRIFT_CANARY_DEPLOYMENT}"),
            ),
        ));
    }
    None
}

fn mutations_refused(run: &CheckRun<'_>) -> Outcome {
    Outcome::fail(
        format!(
            "refused to delete objects on context {}",
            run.env.context_name
        ),
        Diagnosis::new(
            format!(
                "context {} is not the harness's k3d cluster",
                run.env.context_name
            ),
            "this check deletes the drift canary; it runs only on the k3d context unless allowed",
            format!(
                "neuroscale check --only A4 --allow-context {}",
                run.env.context_name
            ),
        ),
    )
}

async fn drift_self_heal(run: &CheckRun<'_>) -> Outcome {
    if !run.env.mutations_allowed {
        return mutations_refused(run);
    }
    let client = &run.env.client;
    let deployments: Api<Deployment> = Api::namespaced(client.clone(), DRIFT_CANARY_NAMESPACE);
    let before = match deployments.get_opt(DRIFT_CANARY_DEPLOYMENT).await {
        Ok(d) => d,
        Err(e) => return api_failure("the drift canary", &e),
    };
    if let Some(outcome) = evaluate_drift_precondition(before.as_ref()) {
        return outcome;
    }
    let before = before.expect("checked by the precondition");
    let deleted_uid = before.metadata.uid.clone().unwrap_or_default();
    let app_name = tracking_application(before.metadata.annotations.as_ref())
        .unwrap_or_else(|| PLATFORM_APPLICATION.to_string());
    run.saw(format!(
        "deleting deployment {DRIFT_CANARY_NAMESPACE}/{DRIFT_CANARY_DEPLOYMENT} (uid {deleted_uid}), managed by application {app_name}"
    ));
    let started = Instant::now();
    // Background propagation: the Deployment object goes at once, as a `kubectl delete` would;
    // ArgoCD sees it missing and recreates it while the old pods wind down.
    if let Err(e) = deployments
        .delete(DRIFT_CANARY_DEPLOYMENT, &DeleteParams::background())
        .await
    {
        return api_failure("(delete) the drift canary", &e);
    }
    loop {
        let current = match deployments.get_opt(DRIFT_CANARY_DEPLOYMENT).await {
            Ok(d) => d,
            Err(e) => {
                run.saw(format!("canary unreadable: {e}"));
                None
            }
        };
        let deadline_passed = observe::time_to_conclude(run).is_zero();
        let application = if deadline_passed {
            observe::get(client, &APPLICATION, Some(ARGOCD_NAMESPACE), &app_name)
                .await
                .ok()
                .flatten()
        } else {
            None
        };
        let observation = DriftObservation {
            deleted_uid: deleted_uid.clone(),
            current,
            elapsed: started.elapsed(),
            deadline_passed,
            application,
        };
        run.saw(match &observation.current {
            Some(d) if d.metadata.uid.as_deref() != Some(deleted_uid.as_str()) => format!(
                "canary recreated after {:.1} s: {}",
                observation.elapsed.as_secs_f64(),
                readiness::deployment(d).observed
            ),
            Some(_) => "the deleted canary is still terminating".to_string(),
            None => format!(
                "canary absent {:.1} s after deletion",
                observation.elapsed.as_secs_f64()
            ),
        });
        if let Some(outcome) = evaluate_drift(&observation) {
            return outcome;
        }
        // A tight poll: the measured figure is only as precise as this interval.
        tokio::time::sleep(Duration::from_millis(250).min(observe::time_to_conclude(run))).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checks::fixtures::diagnosis;
    use crate::checks::fixtures::{self, application, with_condition};
    use crate::checks::outcome::Verdict;
    use crate::scenario::{Scenario, BUILTIN_SMOKE};
    use std::path::Path;

    fn argocd_workloads() -> Vec<ObservedWorkload> {
        vec![
            fixtures::healthy_stateful_set("argocd", "argocd-application-controller"),
            fixtures::healthy_deployment("argocd", "argocd-repo-server", &["argocd-repo-server"]),
            fixtures::healthy_deployment("argocd", "argocd-server", &["argocd-server"]),
            fixtures::healthy_deployment(
                "argocd",
                "argocd-applicationset-controller",
                &["argocd-applicationset-controller"],
            ),
            fixtures::healthy_deployment("argocd", "argocd-redis", &["redis"]),
            fixtures::healthy_deployment("argocd", "argocd-dex-server", &["dex"]),
        ]
    }

    #[test]
    fn a1_passes_when_every_argocd_workload_is_ready() {
        let outcome = evaluate_argocd_ready(&argocd_workloads(), &required_argocd_workloads());
        assert_eq!(outcome.verdict, Verdict::Pass, "{outcome:?}");
        assert!(outcome.summary.contains("6/6"), "{}", outcome.summary);
        assert_eq!(outcome.figures[0].value, 6.0);
    }

    #[test]
    fn a1_fails_on_a_crash_looping_repo_server_even_though_its_pod_is_running() {
        let mut workloads = argocd_workloads();
        workloads[1].pods = vec![fixtures::pod(
            "argocd",
            "argocd-repo-server-6c9f-abcde",
            &[fixtures::waiting(
                "argocd-repo-server",
                "CrashLoopBackOff",
                14,
            )],
        )];
        let outcome = evaluate_argocd_ready(&workloads, &required_argocd_workloads());
        assert_eq!(outcome.verdict, Verdict::Fail);
        let d = diagnosis(&outcome);
        assert!(
            d.observed
                .contains("argocd-repo-server CrashLoopBackOff (restarts 14)"),
            "{}",
            d.observed
        );
        assert!(
            d.likely_cause.contains("crash-looping"),
            "{}",
            d.likely_cause
        );
    }

    #[test]
    fn a1_fails_when_a_required_workload_is_missing() {
        let workloads: Vec<ObservedWorkload> = argocd_workloads()
            .into_iter()
            .filter(|w| w.name != "argocd-application-controller")
            .collect();
        let outcome = evaluate_argocd_ready(&workloads, &required_argocd_workloads());
        assert_eq!(outcome.verdict, Verdict::Fail);
        assert!(diagnosis(&outcome)
            .observed
            .contains("argocd-application-controller does not exist"));
    }

    fn smoke() -> Scenario {
        Scenario::parse(Path::new("smoke.yaml"), BUILTIN_SMOKE).unwrap()
    }

    fn healthy_apps(expected: &[String]) -> Vec<Value> {
        expected
            .iter()
            .map(|name| application(name, "Synced", "Healthy"))
            .collect()
    }

    #[test]
    fn the_expected_applications_cover_components_root_and_models() {
        let expected = expected_applications(&smoke());
        for name in [
            "kserve",
            "kyverno",
            "platform",
            "neuroscale-root",
            "model-sklearn-iris",
            "model-sklearn-iris-v2",
        ] {
            assert!(expected.iter().any(|e| e == name), "{name} in {expected:?}");
        }
        assert!(!expected.iter().any(|e| e == "nvidia-device-plugin"));
    }

    #[test]
    fn a2_passes_when_every_application_is_synced_and_healthy() {
        let expected = expected_applications(&smoke());
        let outcome = evaluate_apps_synced_healthy(&healthy_apps(&expected), &expected);
        assert_eq!(outcome.verdict, Verdict::Pass, "{outcome:?}");
        assert_eq!(outcome.figures[0].value, expected.len() as f64);
    }

    #[test]
    fn a2_fails_on_an_application_progressing_at_the_deadline() {
        let expected = expected_applications(&smoke());
        let mut apps = healthy_apps(&expected);
        apps[0] = application("kserve", "Synced", "Progressing");
        let outcome = at_deadline(
            evaluate_apps_synced_healthy(&apps, &expected),
            Duration::from_secs(300),
        );
        assert_eq!(outcome.verdict, Verdict::Fail);
        assert!(
            outcome.summary.contains("at the 5m deadline"),
            "{}",
            outcome.summary
        );
        let d = diagnosis(&outcome);
        assert!(
            d.observed.contains("kserve Synced/Progressing"),
            "{}",
            d.observed
        );
        assert!(d.likely_cause.contains("Progressing is not Healthy"));
        assert_eq!(
            d.next_command,
            "kubectl -n argocd describe application kserve"
        );
    }

    #[test]
    fn a2_fails_when_an_expected_application_is_missing() {
        let expected = expected_applications(&smoke());
        let apps: Vec<Value> = healthy_apps(&expected)
            .into_iter()
            .filter(|a| a["metadata"]["name"] != "model-sklearn-iris-v2")
            .collect();
        let outcome = evaluate_apps_synced_healthy(&apps, &expected);
        assert_eq!(outcome.verdict, Verdict::Fail);
        assert!(diagnosis(&outcome)
            .observed
            .contains("missing: model-sklearn-iris-v2"));
    }

    #[test]
    fn a2_names_the_webhook_when_a_sync_fails_at_admission() {
        // operationState.message as ArgoCD records a failed apply (argo-cd controller/sync.go),
        // the webhook text as the API server words it (k8s.io/apiserver webhook errors).
        let expected = vec!["model-sklearn-iris".to_string()];
        let mut app = application("model-sklearn-iris", "OutOfSync", "Missing");
        app["status"]["operationState"] = serde_json::json!({
            "phase": "Failed",
            "message": "one or more objects failed to apply, reason: Internal error occurred: failed calling webhook \"inferenceservice.kserve-webhook-server.validator\": failed to call webhook: Post \"https://kserve-webhook-server-service.kserve.svc:443/validate\": no endpoints available for service \"kserve-webhook-server-service\""
        });
        let outcome = evaluate_apps_synced_healthy(&[app], &expected);
        let d = diagnosis(&outcome);
        assert!(
            d.likely_cause.contains("kserve-webhook-server-service"),
            "{}",
            d.likely_cause
        );
    }

    #[test]
    fn a3_passes_without_unknown_or_error_states() {
        let apps = vec![
            application("kserve", "Synced", "Healthy"),
            application("kyverno", "Synced", "Progressing"),
        ];
        let outcome = evaluate_no_unknown_state(&apps);
        assert_eq!(outcome.verdict, Verdict::Pass, "{outcome:?}");
        assert_eq!(outcome.figures[0].value, 2.0);
    }

    #[test]
    fn a3_fails_on_unknown_applications_and_blames_repo_server() {
        // seeds/11 failure 4: every Application Unknown with "connection refused".
        let apps = vec![
            with_condition(
                application("kserve", "Unknown", "Unknown"),
                "ComparisonError",
                "rpc error: code = Unavailable desc = connection refused",
            ),
            application("kyverno", "Unknown", "Unknown"),
        ];
        let outcome = evaluate_no_unknown_state(&apps);
        assert_eq!(outcome.verdict, Verdict::Fail);
        let d = diagnosis(&outcome);
        assert!(
            d.likely_cause.contains("argocd-repo-server"),
            "{}",
            d.likely_cause
        );
        assert!(
            d.observed.contains("kserve Unknown/Unknown"),
            "{}",
            d.observed
        );
    }

    #[test]
    fn a3_fails_on_a_sync_error_behind_a_healthy_status() {
        // seeds/11 failure 5: Synced/Healthy shown while a stale webhook fails every apply.
        let apps = vec![with_condition(
            application("test-app", "Synced", "Healthy"),
            "SyncError",
            "Failed sync attempt: one or more objects failed to apply, reason: Internal error occurred: failed calling webhook \"validate.nginx.ingress.kubernetes.io\": failed to call webhook: Post \"https://ingress-nginx-controller-admission.ingress-nginx.svc:443/networking/v1/ingresses?timeout=10s\": dial tcp 10.96.0.12:443: connect: connection refused",
        )];
        let outcome = evaluate_no_unknown_state(&apps);
        assert_eq!(outcome.verdict, Verdict::Fail);
        let d = diagnosis(&outcome);
        assert!(
            d.likely_cause
                .contains("validate.nginx.ingress.kubernetes.io"),
            "{}",
            d.likely_cause
        );
    }

    #[test]
    fn a3_fails_when_there_is_no_application() {
        assert_eq!(evaluate_no_unknown_state(&[]).verdict, Verdict::Fail);
    }

    fn canary(uid: &str, ready: i32) -> Deployment {
        let mut d = fixtures::deployment(DRIFT_CANARY_NAMESPACE, DRIFT_CANARY_DEPLOYMENT, 1, ready);
        d.metadata.uid = Some(uid.to_string());
        d
    }

    fn observation(
        current: Option<Deployment>,
        deadline_passed: bool,
        app: Option<Value>,
    ) -> DriftObservation {
        DriftObservation {
            deleted_uid: "uid-old".into(),
            current,
            elapsed: Duration::from_millis(7_400),
            deadline_passed,
            application: app,
        }
    }

    #[test]
    fn a4_passes_with_the_measured_seconds_once_a_new_canary_is_ready() {
        let outcome = evaluate_drift(&observation(Some(canary("uid-new", 1)), false, None))
            .expect("a verdict");
        assert_eq!(outcome.verdict, Verdict::Pass);
        assert_eq!(outcome.figures[0].name, "heal_seconds");
        assert!((outcome.figures[0].value - 7.4).abs() < 1e-9);
        assert!(outcome.summary.contains("7.4 s"), "{}", outcome.summary);
    }

    #[test]
    fn a4_keeps_waiting_while_the_old_canary_terminates_or_the_new_one_starts() {
        assert!(evaluate_drift(&observation(Some(canary("uid-old", 1)), false, None)).is_none());
        assert!(evaluate_drift(&observation(Some(canary("uid-new", 0)), false, None)).is_none());
        assert!(evaluate_drift(&observation(None, false, None)).is_none());
    }

    #[test]
    fn a4_fails_when_the_canary_is_never_recreated_and_names_self_heal_off() {
        let mut app = application(PLATFORM_APPLICATION, "OutOfSync", "Missing");
        app["spec"]["syncPolicy"]["automated"]["selfHeal"] = serde_json::json!(false);
        let outcome = evaluate_drift(&observation(None, true, Some(app))).expect("a verdict");
        assert_eq!(outcome.verdict, Verdict::Fail);
        assert!(
            outcome.summary.contains("never recreated"),
            "{}",
            outcome.summary
        );
        let d = diagnosis(&outcome);
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
        let app = application(PLATFORM_APPLICATION, "OutOfSync", "Missing");
        let outcome = evaluate_drift(&observation(None, true, Some(app))).expect("a verdict");
        let d = diagnosis(&outcome);
        assert!(d.likely_cause.contains("OutOfSync"), "{}", d.likely_cause);
    }

    #[test]
    fn a4_fails_when_the_recreated_canary_never_becomes_ready() {
        let outcome = evaluate_drift(&observation(Some(canary("uid-new", 0)), true, None))
            .expect("a verdict");
        assert_eq!(outcome.verdict, Verdict::Fail);
        assert!(outcome.summary.contains("not Ready"), "{}", outcome.summary);
    }

    #[test]
    fn a4_refuses_to_start_without_a_ready_canary() {
        let missing = evaluate_drift_precondition(None).expect("a FAIL");
        assert_eq!(
            missing.verdict,
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
            TRACKING_ID_ANNOTATION.to_string(),
            "platform:apps/Deployment:neuroscale-canary/drift-canary".to_string(),
        );
        assert_eq!(
            tracking_application(Some(&annotations)).as_deref(),
            Some("platform")
        );
        assert_eq!(tracking_application(None), None);
    }

    /// The drift canary on the simulated cluster, tracked by Application `platform`
    /// (self-heal `self_heal`). When `heals`, a scripted ArgoCD recreates the canary (a new
    /// uid, Ready) a moment after it is deleted, as self-heal does; otherwise it stays gone.
    async fn drift_cluster(
        heals: bool,
        self_heal: bool,
    ) -> std::sync::Arc<neuroscale_testkit::SimCluster> {
        let sim = std::sync::Arc::new(
            fixtures::sim_cluster(&[DRIFT_CANARY_NAMESPACE, ARGOCD_NAMESPACE]).await,
        );
        fixtures::put_crd(
            &sim,
            "argoproj.io",
            "Application",
            "applications",
            "v1alpha1",
            true,
        );
        let mut app = application("platform", "OutOfSync", "Missing");
        app["spec"]["syncPolicy"]["automated"]["selfHeal"] = serde_json::json!(self_heal);
        fixtures::put(&sim, &app);
        let mut old = canary("uid-old", 1);
        old.metadata.annotations = Some(
            [(
                TRACKING_ID_ANNOTATION.to_string(),
                "platform:apps/Deployment:neuroscale-canary/drift-canary".to_string(),
            )]
            .into(),
        );
        fixtures::put(&sim, &old);
        if heals {
            let mut events = sim.subscribe();
            let argocd = sim.clone();
            tokio::spawn(async move {
                while let Ok(event) = events.recv().await {
                    let gone = event.event_type == neuroscale_testkit::EventType::Deleted
                        && event.plural == "deployments"
                        && event.object["metadata"]["name"] == DRIFT_CANARY_DEPLOYMENT;
                    if gone {
                        // Absent for a few of the check's reads before ArgoCD notices.
                        tokio::time::sleep(Duration::from_millis(600)).await;
                        fixtures::put(&argocd, &canary("uid-new", 1));
                    }
                }
            });
        }
        sim
    }

    fn a4_spec() -> &'static crate::checks::catalogue::CheckSpec {
        crate::checks::catalogue::find("A4").unwrap()
    }

    #[tokio::test]
    async fn a4_deletes_the_canary_and_measures_the_heal() {
        let sim = drift_cluster(true, true).await;
        let env = fixtures::sim_env(&sim, true);
        let run = CheckRun::new(&env, a4_spec(), Duration::from_secs(30));
        let outcome = drift_self_heal(&run).await;
        assert_eq!(outcome.verdict, Verdict::Pass, "{outcome:?}");
        assert_eq!(outcome.figures[0].name, "heal_seconds");
        assert!(outcome.figures[0].value > 0.0);
    }

    #[tokio::test]
    async fn a4_fails_when_argocd_never_recreates_the_canary() {
        let sim = drift_cluster(false, false).await;
        let env = fixtures::sim_env(&sim, true);
        let run = CheckRun::new(&env, a4_spec(), Duration::from_secs(2));
        let outcome = drift_self_heal(&run).await;
        assert_eq!(outcome.verdict, Verdict::Fail, "{outcome:?}");
        assert!(
            outcome.summary.contains("never recreated"),
            "{}",
            outcome.summary
        );
        assert!(diagnosis(&outcome)
            .likely_cause
            .contains("selfHeal is off for application platform"));
    }

    #[tokio::test]
    async fn a4_refuses_a_context_where_mutations_are_not_allowed() {
        let sim = drift_cluster(true, true).await;
        let env = fixtures::sim_env(&sim, false);
        let run = CheckRun::new(&env, a4_spec(), Duration::from_secs(2));
        let outcome = drift_self_heal(&run).await;
        assert_eq!(outcome.verdict, Verdict::Fail);
        assert!(outcome.summary.contains("refused"), "{}", outcome.summary);
    }

    #[tokio::test]
    async fn a2_gathers_applications_and_fails_on_one_still_progressing() {
        let sim = fixtures::sim_cluster(&[ARGOCD_NAMESPACE]).await;
        fixtures::put_crd(
            &sim,
            "argoproj.io",
            "Application",
            "applications",
            "v1alpha1",
            true,
        );
        let scenario = Scenario::parse(Path::new("smoke.yaml"), BUILTIN_SMOKE).unwrap();
        let mut items = healthy_apps(&expected_applications(&scenario));
        items[0] = application("cert-manager", "Synced", "Progressing");
        for app in &items {
            fixtures::put(&sim, app);
        }
        let env = fixtures::sim_env(&sim, true);
        let spec = crate::checks::catalogue::find("A2").unwrap();
        let run = CheckRun::new(&env, spec, Duration::from_secs(2));
        let outcome = apps_synced_healthy(&run).await;
        assert_eq!(outcome.verdict, Verdict::Fail, "{outcome:?}");
        assert!(
            outcome.summary.contains("at the 2s deadline"),
            "{}",
            outcome.summary
        );
        assert!(diagnosis(&outcome)
            .observed
            .contains("cert-manager Synced/Progressing"));
        assert!(
            run.last_seen().contains("Applications Synced+Healthy"),
            "{}",
            run.last_seen()
        );
    }
}
