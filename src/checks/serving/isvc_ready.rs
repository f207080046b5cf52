//! B3 isvc-ready: every platform InferenceService — each CPU model of the scenario, and every one
//! ArgoCD manages in the model namespaces — is Ready=True with a `status.url`. Objects other
//! checks create for themselves (D3, F3, C3 probes) carry no tracking annotation and are not
//! judged. Re-observed until the deadline.

use crate::checks::env::{CheckFuture, CheckRun};
use crate::checks::kit::diagnose;
use crate::checks::kit::wait::{self, Decision};
use crate::checks::outcome::{Diagnosis, Outcome};
use crate::failures::FailureCode;
use crate::observe;
use crate::platform::views::InferenceService;
use crate::platform::{argocd, models};
use crate::readiness::{self, Readiness};

pub fn check<'a>(run: &'a CheckRun<'a>) -> CheckFuture<'a> {
    Box::pin(async move {
        let expected: Vec<(String, String)> = run
            .env
            .scenario
            .cpu_models()
            .map(|m| (m.namespace.clone(), m.name.clone()))
            .collect();
        let namespaces = model_namespaces(run);
        wait::until(
            run,
            |_| gather(run, &namespaces),
            |isvcs| Decision::until_pass(evaluate_isvcs_ready(isvcs, &expected)),
        )
        .await
    })
}

/// The namespaces the platform's models live in: the model namespace, and any other a
/// scenario model names.
fn model_namespaces(run: &CheckRun<'_>) -> Vec<String> {
    let mut namespaces = vec![models::NAMESPACE.to_string()];
    for model in run.env.scenario.cpu_models() {
        if !namespaces.contains(&model.namespace) {
            namespaces.push(model.namespace.clone());
        }
    }
    namespaces
}

async fn gather(
    run: &CheckRun<'_>,
    namespaces: &[String],
) -> Result<Vec<InferenceService>, Outcome> {
    let mut isvcs = Vec::new();
    for ns in namespaces {
        let items = observe::list_views::<InferenceService>(&run.env.client, Some(ns))
            .await
            .map_err(|e| Outcome::api_error("InferenceServices", &e))?;
        isvcs.extend(items);
    }
    Ok(isvcs)
}

fn namespace_and_name(isvc: &InferenceService) -> (&str, &str) {
    (
        isvc.metadata.namespace.as_deref().unwrap_or_default(),
        isvc.metadata.name.as_deref().unwrap_or_default(),
    )
}

/// A platform InferenceService: one the scenario names, or one ArgoCD manages (GitOps-delivered).
fn is_platform_isvc(isvc: &InferenceService, expected: &[(String, String)]) -> bool {
    let (ns, name) = namespace_and_name(isvc);
    expected.iter().any(|(n, m)| n == ns && m == name)
        || isvc
            .metadata
            .annotations
            .as_ref()
            .is_some_and(|a| a.contains_key(argocd::TRACKING_ID_ANNOTATION))
}

/// B3: every platform InferenceService (each CPU model of the scenario, and every one ArgoCD
/// manages in the model namespaces) is Ready=True with a `status.url`.
pub fn evaluate_isvcs_ready(isvcs: &[InferenceService], expected: &[(String, String)]) -> Outcome {
    let platform: Vec<&InferenceService> = isvcs
        .iter()
        .filter(|i| is_platform_isvc(i, expected))
        .collect();
    let missing: Vec<String> = expected
        .iter()
        .filter(|(ns, name)| {
            !platform
                .iter()
                .any(|i| namespace_and_name(i) == (ns.as_str(), name.as_str()))
        })
        .map(|(ns, name)| format!("{ns}/{name}"))
        .collect();
    let not_ready: Vec<(&InferenceService, Readiness)> = platform
        .iter()
        .map(|i| (*i, readiness::inference_service(i)))
        .filter(|(_, r)| !r.ready)
        .collect();
    let ready = platform.len() - not_ready.len();
    if missing.is_empty() && not_ready.is_empty() && !platform.is_empty() {
        return Outcome::pass(format!(
            "{ready}/{} InferenceServices Ready=True with a URL",
            platform.len()
        ))
        .with_figure("inferenceservices_ready", ready as f64, "count");
    }
    let mut observed: Vec<String> = not_ready.iter().map(|(_, r)| r.observed.clone()).collect();
    if !missing.is_empty() {
        observed.push(format!("missing: {}", missing.join(", ")));
    }
    let (likely, next, code) = match not_ready.first() {
        Some((isvc, _)) => {
            let (ns, name) = namespace_and_name(isvc);
            (
                diagnose::isvc_likely_cause(isvc),
                format!("kubectl -n {ns} describe inferenceservice {name} && kubectl -n {ns} get pods -l serving.kserve.io/inferenceservice={name}"),
                diagnose::isvc_failure_code(isvc),
            )
        }
        None => (
            "the model's Application has not created it: its folder is missing from the GitOps source, or the ApplicationSet has not generated the Application".to_string(),
            "kubectl -n argocd get applicationset,applications".to_string(),
            Some(FailureCode::ApplicationMissing),
        ),
    };
    Outcome::fail(
        format!(
            "{ready}/{} InferenceServices Ready",
            (platform.len() + missing.len()).max(1)
        ),
        Diagnosis::new(observed.join("; "), likely, next).with_code_opt(code),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checks::fixtures::{self, diagnosis, isvc};
    use crate::checks::outcome::Verdict;
    use serde_json::json;

    fn expected() -> Vec<(String, String)> {
        vec![
            ("models".into(), "sklearn-iris".into()),
            ("models".into(), "sklearn-iris-v2".into()),
        ]
    }

    fn ready(name: &str) -> InferenceService {
        isvc(fixtures::inference_service("models", name, true))
    }

    #[test]
    fn b3_passes_when_every_platform_isvc_is_ready_with_a_url() {
        let isvcs = vec![ready("sklearn-iris"), ready("sklearn-iris-v2")];
        let outcome = evaluate_isvcs_ready(&isvcs, &expected());
        assert_eq!(outcome.verdict(), Verdict::Pass, "{outcome:?}");
        assert_eq!(outcome.figures[0].value, 2.0);
    }

    #[test]
    fn b3_fails_on_an_isvc_stuck_on_istio_and_names_it() {
        // IngressReady False, no URL.
        let stuck = isvc(fixtures::set_condition(
            fixtures::inference_service("models", "sklearn-iris-v2", false),
            "IngressReady",
            "False",
            "ReconcileError",
            "Failed to reconcile ingress: VirtualServiceCRDNotFound",
        ));
        let isvcs = vec![ready("sklearn-iris"), stuck];
        let outcome = evaluate_isvcs_ready(&isvcs, &expected());
        assert_eq!(outcome.verdict(), Verdict::Fail);
        let d = diagnosis(&outcome);
        assert_eq!(
            diagnosis(&outcome).code,
            Some(FailureCode::KserveAssumesIstio)
        );
        assert!(
            d.observed.contains("sklearn-iris-v2 Ready=False"),
            "{}",
            d.observed
        );
        assert!(d.likely_cause.contains("Istio"), "{}", d.likely_cause);
        assert!(d
            .next_command
            .contains("describe inferenceservice sklearn-iris-v2"));
    }

    #[test]
    fn b3_fails_when_a_scenario_model_is_missing() {
        let outcome = evaluate_isvcs_ready(&[ready("sklearn-iris")], &expected());
        assert_eq!(
            diagnosis(&outcome).code,
            Some(FailureCode::ApplicationMissing)
        );
        assert_eq!(outcome.verdict(), Verdict::Fail);
        assert!(diagnosis(&outcome)
            .observed
            .contains("missing: models/sklearn-iris-v2"));
    }

    #[test]
    fn b3_ignores_probe_objects_other_checks_create() {
        let mut probe = fixtures::inference_service("models", "nscheck-d3-probe", false);
        probe["metadata"]["annotations"] = json!({});
        let isvcs = vec![ready("sklearn-iris"), ready("sklearn-iris-v2"), isvc(probe)];
        assert_eq!(
            evaluate_isvcs_ready(&isvcs, &expected()).verdict(),
            Verdict::Pass
        );
    }
}
