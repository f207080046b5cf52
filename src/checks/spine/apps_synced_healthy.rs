//! A2 apps-synced-healthy: every Application Synced AND Healthy (Progressing, Degraded, Missing,
//! Suspended and Unknown all fail) without error conditions, and every expected Application
//! present: one per component, the root app-of-apps, one child per CPU model of the scenario.
//! Re-observed until the deadline.

use crate::checks::env::{CheckFuture, CheckRun};
use crate::checks::kit::admission::{self, AdmissionOutcome};
use crate::checks::kit::wait::{self, Decision};
use crate::checks::outcome::{Diagnosis, Outcome};
use crate::components::{self, Gate};
use crate::failures::FailureCode;
use crate::gitops::model_application_name;
use crate::platform::views::Application;
use crate::platform::{argocd, kserve};
use crate::readiness::{self, ApplicationState};
use crate::scenario::{GpuMode, Scenario};

pub fn check<'a>(run: &'a CheckRun<'a>) -> CheckFuture<'a> {
    Box::pin(async move {
        let expected = expected_applications(&run.env.scenario);
        wait::until(
            run,
            |_| super::list_applications(run),
            |apps| Decision::until_pass(evaluate_apps_synced_healthy(apps, &expected)),
        )
        .await
    })
}

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
    names.push(argocd::ROOT_APPLICATION.to_string());
    names.extend(
        scenario
            .cpu_models()
            .map(|m| model_application_name(&m.name)),
    );
    names.dedup();
    names
}

/// A2: every Application Synced AND Healthy, none carrying an error condition, and every
/// expected Application present.
pub fn evaluate_apps_synced_healthy(apps: &[Application], expected: &[String]) -> Outcome {
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
    let mut observed: Vec<String> = stuck.iter().map(|s| super::describe(s)).collect();
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
    let (likely, code) = if states.is_empty() {
        (
            "no Application exists: the root Application was never applied (run `neuroscale up`)"
                .to_string(),
            Some(FailureCode::ApplicationMissing),
        )
    } else if stuck.iter().any(|s| {
        s.error_conditions
            .iter()
            .any(|c| c.starts_with("ComparisonError"))
    }) {
        (
            "ArgoCD cannot render the source: the GitOps repository is unreachable from repo-server or a path is wrong".to_string(),
            Some(FailureCode::ApplicationComparisonError),
        )
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
            AdmissionOutcome::WebhookUnavailable {
                webhook, service, ..
            } => {
                let code = (service
                    .as_deref()
                    .is_some_and(|s| s.contains(kserve::WEBHOOK_SERVICE_NAME)))
                .then_some(FailureCode::KserveWebhookNoEndpoints);
                (
                    format!(
                        "sync fails at admission: webhook {webhook} has no working backend ({}); fix that component first",
                        service.unwrap_or_else(|| "unknown service".into())
                    ),
                    code,
                )
            }
            AdmissionOutcome::KyvernoDenial { policies, .. } => (
                format!(
                    "a platform manifest is denied by Kyverno policy {}: the manifest violates it",
                    policies.join(", ")
                ),
                None,
            ),
            _ => (
                "the last sync failed applying manifests; the operation message says which object"
                    .to_string(),
                None,
            ),
        }
    } else if stuck.iter().any(|s| s.health == "Progressing") {
        (
            "resources are still rolling out or stuck (images pulling, pods Pending on CPU/memory, a webhook without endpoints); Progressing is not Healthy".to_string(),
            Some(FailureCode::ApplicationProgressing),
        )
    } else if stuck.iter().any(|s| s.sync == "OutOfSync") {
        (
            "live state differs from git and automated sync has not fixed it (syncPolicy.automated off, or a mutated field such as a webhook caBundle without ignoreDifferences)".to_string(),
            None,
        )
    } else if stuck.iter().any(|s| s.health == "Degraded") {
        (
            "a managed resource is Degraded (crash-looping pods, failed Job, InferenceService not Ready)"
                .to_string(),
            None,
        )
    } else if !missing.is_empty() {
        (
            "an expected Application was never generated: the root app or the model-endpoints ApplicationSet has not synced it".to_string(),
            Some(FailureCode::ApplicationMissing),
        )
    } else {
        (
            "ArgoCD has not assessed these Applications (Unknown): repo-server or the application controller is unhealthy".to_string(),
            Some(FailureCode::ApplicationUnknown),
        )
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
        Diagnosis::new(observed.join("; "), likely, next).with_code_opt(code),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checks::fixtures::{self, application, diagnosis, smoke};
    use crate::checks::outcome::Verdict;
    use serde_json::Value;

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
        let apps = fixtures::apps(&healthy_apps(&expected));
        let outcome = evaluate_apps_synced_healthy(&apps, &expected);
        assert_eq!(outcome.verdict(), Verdict::Pass, "{outcome:?}");
        assert_eq!(outcome.figures[0].value, expected.len() as f64);
    }

    #[test]
    fn a2_fails_on_an_application_still_progressing() {
        let expected = expected_applications(&smoke());
        let mut apps = healthy_apps(&expected);
        apps[0] = application("kserve", "Synced", "Progressing");
        let outcome = evaluate_apps_synced_healthy(&fixtures::apps(&apps), &expected);
        assert_eq!(outcome.verdict(), Verdict::Fail);
        let d = diagnosis(&outcome);
        assert_eq!(
            diagnosis(&outcome).code,
            Some(FailureCode::ApplicationProgressing)
        );
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
        let outcome = evaluate_apps_synced_healthy(&fixtures::apps(&apps), &expected);
        assert_eq!(
            diagnosis(&outcome).code,
            Some(FailureCode::ApplicationMissing)
        );
        assert_eq!(outcome.verdict(), Verdict::Fail);
        assert!(diagnosis(&outcome)
            .observed
            .contains("missing: model-sklearn-iris-v2"));
    }

    #[test]
    fn a2_names_a_comparison_error() {
        // argo-cd ApplicationConditionComparisonError, as a kustomization naming a missing file
        // leaves it.
        let expected = vec!["cert-manager".to_string()];
        let mut app = application("cert-manager", "Unknown", "Healthy");
        app["status"]["conditions"] = serde_json::json!([{
            "type": "ComparisonError",
            "message": "Failed to load target state: kustomize build failed: missing.yaml: no such file or directory"
        }]);
        let outcome = evaluate_apps_synced_healthy(&[fixtures::app(app)], &expected);
        assert_eq!(outcome.verdict(), Verdict::Fail);
        assert!(diagnosis(&outcome).likely_cause.contains("cannot render"));
        assert_eq!(
            diagnosis(&outcome).code,
            Some(FailureCode::ApplicationComparisonError)
        );
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
        let outcome = evaluate_apps_synced_healthy(&[fixtures::app(app)], &expected);
        let d = diagnosis(&outcome);
        assert_eq!(
            diagnosis(&outcome).code,
            Some(FailureCode::KserveWebhookNoEndpoints)
        );
        assert!(
            d.likely_cause.contains("kserve-webhook-server-service"),
            "{}",
            d.likely_cause
        );
    }
}
