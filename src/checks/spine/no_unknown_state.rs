//! A3 no-unknown-state: no Application is Unknown (sync or health) or carries a
//! ComparisonError, SyncError, InvalidSpecError or UnknownError condition, and when an error
//! comes from a webhook that could not be called, the webhook is named. No Applications at all
//! is a FAIL. Re-observed until the deadline.

use crate::checks::env::{CheckFuture, CheckRun};
use crate::checks::kit::admission::{self, AdmissionOutcome};
use crate::checks::kit::wait::{self, Decision};
use crate::checks::outcome::{Diagnosis, Outcome};
use crate::failures::FailureCode;
use crate::platform::views::Application;
use crate::readiness::{self, ApplicationState};

pub fn check<'a>(run: &'a CheckRun<'a>) -> CheckFuture<'a> {
    Box::pin(async move {
        wait::until(
            run,
            |_| super::list_applications(run),
            |apps| Decision::until_pass(evaluate_no_unknown_state(apps)),
        )
        .await
    })
}

/// Conditions that mean ArgoCD could not compare or apply, rather than that it is busy
/// (argo-cd pkg/apis/application/v1alpha1/types.go ApplicationConditionType).
const ERROR_CONDITIONS: &[&str] = &[
    "ComparisonError",
    "SyncError",
    "InvalidSpecError",
    "UnknownError",
];

/// A3: no Application Unknown or in error; no Applications at all is a FAIL.
pub fn evaluate_no_unknown_state(apps: &[Application]) -> Outcome {
    if apps.is_empty() {
        return Outcome::fail(
            "no Application to assess",
            Diagnosis::new(
                "namespace argocd holds no Application",
                "the root Application was never applied (run `neuroscale up`)",
                "kubectl -n argocd get applications",
            )
            .with_code(FailureCode::ApplicationMissing),
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
                    .any(|c| ERROR_CONDITIONS.iter().any(|k| c.starts_with(k)))
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
    let code = if webhook.is_some() {
        None
    } else if all_unknown
        || conditions
            .iter()
            .any(|c| c.contains("connection refused") || c.contains("Unavailable"))
    {
        Some(FailureCode::ApplicationUnknown)
    } else if conditions.iter().any(|c| c.starts_with("ComparisonError")) {
        Some(FailureCode::ApplicationComparisonError)
    } else {
        None
    };
    let likely = if let Some((webhook, service)) = webhook {
        format!(
            "applies fail at admission: webhook {webhook} cannot be called (service {}); stale or not-yet-ready webhooks block ArgoCD",
            service.unwrap_or_else(|| "unknown".into())
        )
    } else if all_unknown
        || conditions
            .iter()
            .any(|c| c.contains("connection refused") || c.contains("Unavailable"))
    {
        "ArgoCD cannot reach argocd-repo-server (crash-looping, or disrupted by Kyverno's webhooks during its install)".to_string()
    } else if conditions.iter().any(|c| c.starts_with("ComparisonError")) {
        "a source error: the GitOps repository is unreachable or a path/revision is wrong"
            .to_string()
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
                .map(|s| super::describe(s))
                .collect::<Vec<_>>()
                .join("; "),
            likely,
            format!(
                "kubectl -n argocd get application {} -o jsonpath='{{.status.conditions}}' && kubectl -n argocd get pods",
                bad[0].name
            ),
        )
        .with_code_opt(code),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checks::fixtures::{self, application, diagnosis, with_condition};
    use crate::checks::outcome::Verdict;

    #[test]
    fn a3_passes_without_unknown_or_error_states() {
        let apps = fixtures::apps(&[
            application("kserve", "Synced", "Healthy"),
            application("kyverno", "Synced", "Progressing"),
        ]);
        let outcome = evaluate_no_unknown_state(&apps);
        assert_eq!(outcome.verdict(), Verdict::Pass, "{outcome:?}");
        assert_eq!(outcome.figures[0].value, 2.0);
    }

    #[test]
    fn a3_fails_on_unknown_applications_and_blames_repo_server() {
        // every Application Unknown with "connection refused".
        let apps = fixtures::apps(&[
            with_condition(
                application("kserve", "Unknown", "Unknown"),
                "ComparisonError",
                "rpc error: code = Unavailable desc = connection refused",
            ),
            application("kyverno", "Unknown", "Unknown"),
        ]);
        let outcome = evaluate_no_unknown_state(&apps);
        assert_eq!(outcome.verdict(), Verdict::Fail);
        let d = diagnosis(&outcome);
        assert_eq!(
            diagnosis(&outcome).code,
            Some(FailureCode::ApplicationUnknown)
        );
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
        // Synced/Healthy shown while a stale webhook fails every apply.
        let apps = fixtures::apps(&[with_condition(
            application("test-app", "Synced", "Healthy"),
            "SyncError",
            "Failed sync attempt: one or more objects failed to apply, reason: Internal error occurred: failed calling webhook \"validate.nginx.ingress.kubernetes.io\": failed to call webhook: Post \"https://ingress-nginx-controller-admission.ingress-nginx.svc:443/networking/v1/ingresses?timeout=10s\": dial tcp 10.96.0.12:443: connect: connection refused",
        )]);
        let outcome = evaluate_no_unknown_state(&apps);
        assert_eq!(outcome.verdict(), Verdict::Fail);
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
        assert_eq!(evaluate_no_unknown_state(&[]).verdict(), Verdict::Fail);
    }
}
