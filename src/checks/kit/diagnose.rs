//! Likely causes shared by checks of several milestones, read from what was observed: why a
//! container is not ready (from its waiting reason) and why an InferenceService is not Ready
//! (from its conditions). Each cause names the failure it comes from.

use crate::failures::FailureCode;
use crate::platform::views::{self, InferenceService};

/// A likely cause for containers that are not ready, from their waiting reasons.
pub fn container_trouble(observed: &str) -> Option<&'static str> {
    if observed.contains("ImagePullBackOff") || observed.contains("ErrImagePull") {
        Some("an image cannot be pulled: the registry refuses it (gcr.io kube-rbac-proxy 403) or the host is offline")
    } else if observed.contains("CrashLoopBackOff") {
        Some("a container is crash-looping: its log says why")
    } else if observed.contains("CreateContainerConfigError") {
        Some("a container cannot start: a Secret or ConfigMap it mounts is missing")
    } else {
        None
    }
}

/// The catalogued failure of containers that are not ready, from their waiting reasons (the
/// same reading as [`container_trouble`]).
pub fn container_trouble_code(observed: &str) -> Option<FailureCode> {
    if observed.contains("ImagePullBackOff") || observed.contains("ErrImagePull") {
        Some(FailureCode::ImagePullFailed)
    } else if observed.contains("CrashLoopBackOff") {
        Some(FailureCode::CrashLoop)
    } else {
        None
    }
}

/// The catalogued failure behind an admission webhook that could not be called: KServe's
/// (NS101), or one no platform component serves any more (a stale webhook, NS109).
pub fn webhook_unavailable_code(webhook: &str) -> Option<FailureCode> {
    if webhook.starts_with("inferenceservice.kserve-webhook-server") {
        Some(FailureCode::KserveWebhookNoEndpoints)
    } else if crate::platform::service_for_webhook(webhook).is_none() {
        Some(FailureCode::StaleWebhook)
    } else {
        None
    }
}

/// The likely cause of an InferenceService not being Ready, from its conditions
/// (kserve inference_service_status.go).
pub fn isvc_likely_cause(isvc: &InferenceService) -> String {
    isvc_cause(isvc).0
}

/// The catalogued failure behind an InferenceService not being Ready, when its conditions name
/// one (the same reading as [`isvc_likely_cause`]).
pub fn isvc_failure_code(isvc: &InferenceService) -> Option<FailureCode> {
    isvc_cause(isvc).1
}

fn isvc_cause(isvc: &InferenceService) -> (String, Option<FailureCode>) {
    let conditions = views::isvc_conditions(isvc);
    if conditions.is_empty() {
        return ("the KServe controller has not reconciled it (no status): check B1 — controller down or webhook failing".to_string(), None);
    }
    let failing: Vec<String> = conditions
        .iter()
        .filter(|c| c.status != "True")
        .map(|c| {
            format!(
                "{} {} {}",
                c.type_,
                c.reason.as_deref().unwrap_or(""),
                c.message.as_deref().unwrap_or("")
            )
        })
        .collect();
    let text = failing.join(" ");
    if text.contains("VirtualService") || text.contains("virtual service") || text.contains("istio")
    {
        (
            "KServe assumes Istio: disableIstioVirtualHost is not set".into(),
            Some(FailureCode::KserveAssumesIstio),
        )
    } else if text.contains("Insufficient")
        || text.contains("Unschedulable")
        || text.contains("exceeded quota")
    {
        (
            "the predictor pod cannot be scheduled: not enough CPU/memory on the nodes or the namespace quota is exhausted".into(),
            Some(FailureCode::PredictorUnschedulable),
        )
    } else if text.contains("storage-initializer")
        || text.contains("gs://")
        || text.contains("download")
    {
        (
            "the storage-initializer cannot download the model (needs egress to the model bucket)"
                .into(),
            Some(FailureCode::ModelDownloadFailed),
        )
    } else if text.contains("ImagePull") || text.contains("pull") {
        (
            "the runtime image cannot be pulled (registry unreachable or offline host)".into(),
            Some(FailureCode::ImagePullFailed),
        )
    } else if text.starts_with("IngressReady") || text.contains(" IngressReady") {
        (
            "the route is not ready: Knative/Kourier has not programmed it (check B2)".into(),
            None,
        )
    } else if text.contains("Predictor") || text.contains("Revision") {
        ("the predictor revision is not ready: pods Pending, crash-looping or still loading the model".into(), None)
    } else {
        (format!("not ready: {text}"), None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checks::fixtures;

    #[test]
    fn waiting_reasons_name_their_cause() {
        assert!(container_trouble("manager ImagePullBackOff")
            .unwrap()
            .contains("pulled"));
        assert!(container_trouble("x CrashLoopBackOff (restarts 3)")
            .unwrap()
            .contains("crash-looping"));
        assert_eq!(container_trouble("1/1 containers ready"), None);
        assert_eq!(
            container_trouble_code("manager ImagePullBackOff"),
            Some(FailureCode::ImagePullFailed)
        );
        assert_eq!(
            container_trouble_code("x CrashLoopBackOff (restarts 3)"),
            Some(FailureCode::CrashLoop)
        );
        assert_eq!(container_trouble_code("1/1 containers ready"), None);
    }

    #[test]
    fn an_unschedulable_predictor_and_a_failed_download_carry_their_codes() {
        let pending = fixtures::isvc(fixtures::set_condition(
            fixtures::inference_service("models", "m", false),
            "PredictorReady",
            "False",
            "Unschedulable",
            "0/3 nodes are available: 3 Insufficient cpu.",
        ));
        assert_eq!(
            isvc_failure_code(&pending),
            Some(FailureCode::PredictorUnschedulable)
        );
        let download = fixtures::isvc(fixtures::set_condition(
            fixtures::inference_service("models", "m", false),
            "PredictorReady",
            "False",
            "RevisionFailed",
            "storage-initializer: failed to download gs://kfserving-examples/models/sklearn",
        ));
        assert_eq!(
            isvc_failure_code(&download),
            Some(FailureCode::ModelDownloadFailed)
        );
    }

    #[test]
    fn an_isvc_stuck_on_istio_is_named() {
        let isvc = fixtures::isvc(fixtures::set_condition(
            fixtures::inference_service("models", "m", false),
            "IngressReady",
            "False",
            "ReconcileError",
            "Failed to reconcile ingress: VirtualServiceCRDNotFound",
        ));
        assert!(isvc_likely_cause(&isvc).contains("Istio"));
        assert_eq!(
            isvc_failure_code(&isvc),
            Some(FailureCode::KserveAssumesIstio)
        );
        let fresh = fixtures::isvc(serde_json::json!({
            "metadata": {"name": "m", "namespace": "models"}, "spec": {}
        }));
        assert!(isvc_likely_cause(&fresh).contains("has not reconciled"));
    }
}
