//! ArgoCD's resource health, as the sim's ArgoCD assesses it: the built-in checks of
//! gitops-engine `pkg/health` (Deployment, StatefulSet, DaemonSet, ReplicaSet, Service, PVC,
//! Pod, Job, APIService, HPA) and the Lua checks argo-cd ships in `resource_customizations/`
//! for the kinds this platform uses (CustomResourceDefinition, cert-manager Certificate and
//! Issuers, KServe InferenceService, ApplicationSet), plus the `argoproj.io/Application` check
//! `argocd-cm` adds (`resource.customizations.health.argoproj.io_Application`). A kind with no
//! check has no health and does not count, as in ArgoCD.

use serde_json::Value;

/// ArgoCD's health statuses, ordered from best to worst (gitops-engine `health.IsWorse`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Health {
    Healthy,
    Suspended,
    Progressing,
    Missing,
    Degraded,
    Unknown,
}

impl Health {
    pub fn as_str(self) -> &'static str {
        match self {
            Health::Healthy => "Healthy",
            Health::Suspended => "Suspended",
            Health::Progressing => "Progressing",
            Health::Missing => "Missing",
            Health::Degraded => "Degraded",
            Health::Unknown => "Unknown",
        }
    }
}

fn text<'a>(value: &'a Value, pointer: &str) -> &'a str {
    value.pointer(pointer).and_then(Value::as_str).unwrap_or("")
}

fn int(value: &Value, pointer: &str) -> i64 {
    value.pointer(pointer).and_then(Value::as_i64).unwrap_or(0)
}

fn condition<'a>(object: &'a Value, kind: &str) -> Option<&'a Value> {
    object
        .pointer("/status/conditions")
        .and_then(Value::as_array)?
        .iter()
        .find(|c| text(c, "/type") == kind)
}

fn condition_is(object: &Value, kind: &str, status: &str) -> bool {
    condition(object, kind).is_some_and(|c| text(c, "/status") == status)
}

fn generation_observed(object: &Value) -> bool {
    int(object, "/status/observedGeneration") >= int(object, "/metadata/generation")
}

/// The health of one live object, or None when ArgoCD has no check for its kind.
/// `application_check` says whether argocd-cm customises `argoproj.io/Application` health.
pub fn assess(object: &Value, application_check: bool) -> Option<(Health, String)> {
    let api_version = text(object, "/apiVersion");
    let group = api_version.rsplit_once('/').map_or("", |(g, _)| g);
    let kind = text(object, "/kind");
    let progressing = |message: String| Some((Health::Progressing, message));
    let healthy = || Some((Health::Healthy, String::new()));
    match (group, kind) {
        ("apps", "Deployment") => {
            if object.pointer("/spec/paused").and_then(Value::as_bool) == Some(true) {
                return Some((Health::Suspended, "Deployment is paused".into()));
            }
            if !generation_observed(object) {
                return progressing(
                    "Waiting for rollout to finish: observed deployment generation less than desired generation".into(),
                );
            }
            if condition(object, "Progressing")
                .is_some_and(|c| text(c, "/reason") == "ProgressDeadlineExceeded")
            {
                return Some((
                    Health::Degraded,
                    format!(
                        "Deployment {:?} exceeded its progress deadline",
                        text(object, "/metadata/name")
                    ),
                ));
            }
            let replicas = object
                .pointer("/spec/replicas")
                .and_then(Value::as_i64)
                .unwrap_or(1);
            let updated = int(object, "/status/updatedReplicas");
            let available = int(object, "/status/availableReplicas");
            if updated < replicas {
                return progressing(format!(
                    "Waiting for rollout to finish: {updated} out of {replicas} new replicas have been updated..."
                ));
            }
            if int(object, "/status/replicas") > updated {
                return progressing(format!(
                    "Waiting for rollout to finish: {} old replicas are pending termination...",
                    int(object, "/status/replicas") - updated
                ));
            }
            if available < updated {
                return progressing(format!(
                    "Waiting for rollout to finish: {available} of {updated} updated replicas are available..."
                ));
            }
            healthy()
        }
        ("apps", "StatefulSet") => {
            if !generation_observed(object) {
                return progressing("Waiting for statefulset spec update to be observed...".into());
            }
            let replicas = object
                .pointer("/spec/replicas")
                .and_then(Value::as_i64)
                .unwrap_or(1);
            let ready = int(object, "/status/readyReplicas");
            if ready < replicas {
                return progressing(format!(
                    "Waiting for {} pods to be ready...",
                    replicas - ready
                ));
            }
            healthy()
        }
        ("apps", "DaemonSet") => {
            if !generation_observed(object) {
                return progressing("Waiting for rollout to finish: observed daemon set generation less than desired generation".into());
            }
            let desired = int(object, "/status/desiredNumberScheduled");
            let updated = int(object, "/status/updatedNumberScheduled");
            let available = int(object, "/status/numberAvailable");
            if updated < desired {
                return progressing(format!(
                    "Waiting for daemon set {:?} rollout to finish: {updated} out of {desired} new pods have been updated...",
                    text(object, "/metadata/name")
                ));
            }
            if available < desired {
                return progressing(format!(
                    "Waiting for daemon set {:?} rollout to finish: {available} of {desired} updated pods are available...",
                    text(object, "/metadata/name")
                ));
            }
            healthy()
        }
        ("apps", "ReplicaSet") => {
            let replicas = object
                .pointer("/spec/replicas")
                .and_then(Value::as_i64)
                .unwrap_or(1);
            if int(object, "/status/availableReplicas") < replicas {
                return progressing("Waiting for rollout to finish".into());
            }
            healthy()
        }
        ("", "Service") => {
            if text(object, "/spec/type") == "LoadBalancer"
                && object
                    .pointer("/status/loadBalancer/ingress")
                    .and_then(Value::as_array)
                    .is_none_or(Vec::is_empty)
            {
                return progressing(String::new());
            }
            healthy()
        }
        ("", "PersistentVolumeClaim") => match text(object, "/status/phase") {
            "Bound" => healthy(),
            "Lost" => Some((Health::Degraded, String::new())),
            _ => progressing(String::new()),
        },
        ("", "Pod") => match text(object, "/status/phase") {
            "Succeeded" => healthy(),
            "Failed" => Some((Health::Degraded, text(object, "/status/message").into())),
            "Running" if condition_is(object, "Ready", "True") => healthy(),
            _ => progressing(String::new()),
        },
        ("batch", "Job") => {
            if condition_is(object, "Failed", "True") {
                Some((Health::Degraded, "Job failed".into()))
            } else if condition_is(object, "Complete", "True") {
                healthy()
            } else {
                progressing(String::new())
            }
        }
        ("apiregistration.k8s.io", "APIService") => {
            if condition_is(object, "Available", "True") {
                healthy()
            } else {
                progressing(String::new())
            }
        }
        // resource_customizations/autoscaling/HorizontalPodAutoscaler/health.lua
        ("autoscaling", "HorizontalPodAutoscaler") => {
            if condition_is(object, "AbleToScale", "True")
                || condition_is(object, "ScalingLimited", "True")
            {
                healthy()
            } else {
                progressing("Waiting to Autoscale".into())
            }
        }
        // resource_customizations/apiextensions.k8s.io/CustomResourceDefinition/health.lua
        ("apiextensions.k8s.io", "CustomResourceDefinition") => {
            if condition_is(object, "Established", "True") {
                Some((Health::Healthy, "CRD is healthy".into()))
            } else if object.pointer("/status/conditions").is_none() {
                progressing("Status conditions not found".into())
            } else {
                Some((Health::Degraded, "CRD is not established".into()))
            }
        }
        // resource_customizations/cert-manager.io/{Certificate,Issuer,ClusterIssuer}/health.lua
        ("cert-manager.io", "Certificate" | "Issuer" | "ClusterIssuer") => {
            match condition(object, "Ready") {
                Some(c) if text(c, "/status") == "True" => {
                    Some((Health::Healthy, text(c, "/message").into()))
                }
                Some(c) if text(c, "/status") == "False" && kind != "Certificate" => {
                    Some((Health::Degraded, text(c, "/message").into()))
                }
                Some(c) => progressing(text(c, "/message").into()),
                None => progressing(format!("Waiting for {kind} to be ready")),
            }
        }
        // resource_customizations/serving.kserve.io/InferenceService/health.lua: Ready when every
        // readiness condition is True (the healthy test data), Degraded on a False one.
        ("serving.kserve.io", "InferenceService") => {
            let conditions = object
                .pointer("/status/conditions")
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default();
            if conditions.is_empty() {
                return progressing("Waiting for status update.".into());
            }
            let false_ones: Vec<String> = conditions
                .iter()
                .filter(|c| text(c, "/status") == "False")
                .map(|c| {
                    format!(
                        "{} is False, since {}. {}",
                        text(c, "/type"),
                        text(c, "/reason"),
                        text(c, "/message")
                    )
                })
                .collect();
            if !false_ones.is_empty() {
                return Some((Health::Degraded, false_ones.join("\n")));
            }
            if condition_is(object, "Ready", "True") {
                Some((Health::Healthy, "Inference Service is healthy.".into()))
            } else {
                progressing("Waiting for status update.".into())
            }
        }
        // resource_customizations/argoproj.io/ApplicationSet/health.lua
        ("argoproj.io", "ApplicationSet") => {
            if let Some(c) =
                condition(object, "ErrorOccurred").filter(|c| text(c, "/status") == "True")
            {
                return Some((Health::Degraded, text(c, "/message").into()));
            }
            if condition_is(object, "ResourcesUpToDate", "True") {
                healthy()
            } else {
                progressing("Waiting for the status to be reported".into())
            }
        }
        ("argoproj.io", "Application") if application_check => {
            match object
                .pointer("/status/health/status")
                .and_then(Value::as_str)
            {
                Some(status) => {
                    let health = match status {
                        "Healthy" => Health::Healthy,
                        "Suspended" => Health::Suspended,
                        "Progressing" => Health::Progressing,
                        "Missing" => Health::Missing,
                        "Degraded" => Health::Degraded,
                        _ => Health::Unknown,
                    };
                    Some((health, text(object, "/status/health/message").into()))
                }
                None => progressing(String::new()),
            }
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_deployment_is_healthy_only_when_its_new_replicas_are_available() {
        let mut deployment = json!({"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "d", "generation": 2}, "spec": {"replicas": 2},
            "status": {"observedGeneration": 2, "replicas": 2, "updatedReplicas": 2, "availableReplicas": 1}});
        assert_eq!(assess(&deployment, false).unwrap().0, Health::Progressing);
        deployment["status"]["availableReplicas"] = json!(2);
        assert_eq!(assess(&deployment, false).unwrap().0, Health::Healthy);
        deployment["status"]["observedGeneration"] = json!(1);
        assert_eq!(assess(&deployment, false).unwrap().0, Health::Progressing);
    }

    #[test]
    fn applications_have_health_only_with_the_argocd_cm_check() {
        let app = json!({"apiVersion": "argoproj.io/v1alpha1", "kind": "Application",
                         "status": {"health": {"status": "Degraded"}}});
        assert_eq!(assess(&app, false), None);
        assert_eq!(assess(&app, true).unwrap().0, Health::Degraded);
    }

    #[test]
    fn worse_means_later_in_argocds_order() {
        assert!(Health::Degraded > Health::Progressing);
        assert!(Health::Missing > Health::Healthy);
    }
}
