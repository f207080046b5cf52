//! Readiness rules: what "ready" means for each kind of object, as pure functions over observed
//! state. The install engine's gates and the milestone checks share them, so "some pod is
//! Running" can never pass for "the controller is ready" in one place and not the other.

use k8s_openapi::api::apps::v1::{DaemonSet, Deployment, StatefulSet};
use k8s_openapi::api::core::v1::{Pod, Service};
use k8s_openapi::api::discovery::v1::EndpointSlice;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;

use crate::platform::views::{
    self, Application, InferenceService, ValidatingPolicy, ValidatingPolicyExt,
};

/// The outcome of one readiness rule: ready or not, with what was observed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Readiness {
    pub ready: bool,
    /// What was observed, e.g. "1/2 replicas ready" or "Synced/Progressing".
    pub observed: String,
}

impl Readiness {
    pub fn ready(observed: impl Into<String>) -> Self {
        Readiness {
            ready: true,
            observed: observed.into(),
        }
    }

    pub fn not_ready(observed: impl Into<String>) -> Self {
        Readiness {
            ready: false,
            observed: observed.into(),
        }
    }

    /// Both must be ready; the observations are joined.
    pub fn and(self, other: Readiness) -> Readiness {
        Readiness {
            ready: self.ready && other.ready,
            observed: format!("{}; {}", self.observed, other.observed),
        }
    }
}

fn generation_seen(generation: Option<i64>, observed: Option<i64>) -> bool {
    match (generation, observed) {
        (Some(g), Some(o)) => o >= g,
        (Some(_), None) => false,
        _ => true,
    }
}

/// A Deployment is ready when its controller saw the latest spec, it is Available, and every
/// desired replica is updated, ready and available. A Deployment scaled to zero is Available by
/// Kubernetes' definition but serves nothing, so it is not ready.
pub fn deployment(deploy: &Deployment) -> Readiness {
    let desired = deploy.spec.as_ref().and_then(|s| s.replicas).unwrap_or(1);
    if desired == 0 {
        return Readiness::not_ready("scaled to 0 replicas: nothing serves");
    }
    let Some(status) = &deploy.status else {
        return Readiness::not_ready(format!("0/{desired} replicas ready (no status yet)"));
    };
    let ready = status.ready_replicas.unwrap_or(0);
    let updated = status.updated_replicas.unwrap_or(0);
    let available = status.available_replicas.unwrap_or(0);
    let available_condition = status
        .conditions
        .iter()
        .flatten()
        .find(|c| c.type_ == "Available");
    let observed = format!("{ready}/{desired} replicas ready");
    if !generation_seen(deploy.metadata.generation, status.observed_generation) {
        return Readiness::not_ready(format!("{observed}, newest spec not yet observed"));
    }
    match available_condition {
        Some(c) if c.status == "True" => {}
        Some(c) => {
            return Readiness::not_ready(format!(
                "{observed}, Available={} ({})",
                c.status,
                c.message.clone().unwrap_or_default()
            ))
        }
        None => return Readiness::not_ready(format!("{observed}, no Available condition")),
    }
    if ready < desired || updated < desired || available < desired {
        return Readiness::not_ready(format!(
            "{observed} ({updated} updated, {available} available)"
        ));
    }
    Readiness::ready(observed)
}

/// A StatefulSet is ready when every desired replica is ready and on the current revision; one
/// scaled to zero serves nothing and is not ready.
pub fn stateful_set(set: &StatefulSet) -> Readiness {
    let desired = set.spec.as_ref().and_then(|s| s.replicas).unwrap_or(1);
    if desired == 0 {
        return Readiness::not_ready("scaled to 0 replicas: nothing serves");
    }
    let Some(status) = &set.status else {
        return Readiness::not_ready(format!("0/{desired} replicas ready (no status yet)"));
    };
    let ready = status.ready_replicas.unwrap_or(0);
    let observed = format!("{ready}/{desired} replicas ready");
    if !generation_seen(set.metadata.generation, status.observed_generation) {
        return Readiness::not_ready(format!("{observed}, newest spec not yet observed"));
    }
    let updated = status.updated_replicas.unwrap_or(0);
    if ready < desired || updated < desired {
        return Readiness::not_ready(format!("{observed} ({updated} updated)"));
    }
    Readiness::ready(observed)
}

/// A DaemonSet is ready when every scheduled pod is up to date and ready.
pub fn daemon_set(set: &DaemonSet) -> Readiness {
    let Some(status) = &set.status else {
        return Readiness::not_ready("no status yet");
    };
    let desired = status.desired_number_scheduled;
    let ready = status.number_ready;
    let observed = format!("{ready}/{desired} pods ready");
    if !generation_seen(set.metadata.generation, status.observed_generation) {
        return Readiness::not_ready(format!("{observed}, newest spec not yet observed"));
    }
    if desired == 0 {
        return Readiness::not_ready("no node runs this DaemonSet (0 scheduled)");
    }
    let updated = status.updated_number_scheduled.unwrap_or(0);
    if ready < desired || updated < desired {
        return Readiness::not_ready(format!("{observed} ({updated} updated)"));
    }
    Readiness::ready(observed)
}

/// A pod is ready only when every container is ready: a controller pod at 1/2 containers (a
/// crash-looping kube-rbac-proxy) is not ready, whatever its phase.
pub fn pod_containers(pod: &Pod) -> Readiness {
    let name = pod.metadata.name.clone().unwrap_or_default();
    let declared = pod.spec.as_ref().map(|s| s.containers.len()).unwrap_or(0);
    let statuses = pod
        .status
        .as_ref()
        .and_then(|s| s.container_statuses.clone())
        .unwrap_or_default();
    let ready = statuses.iter().filter(|c| c.ready).count();
    let mut observed = format!("pod {name}: {ready}/{declared} containers ready");
    let not_ready: Vec<String> = statuses
        .iter()
        .filter(|c| !c.ready)
        .map(|c| {
            let state = c.state.as_ref();
            let why = state
                .and_then(|s| s.waiting.as_ref())
                .map(|w| w.reason.clone().unwrap_or_else(|| "Waiting".into()))
                .or_else(|| {
                    state
                        .and_then(|s| s.terminated.as_ref())
                        .map(|t| t.reason.clone().unwrap_or_else(|| "Terminated".into()))
                })
                .unwrap_or_else(|| "Running, readiness probe failing".into());
            format!("{} {} (restarts {})", c.name, why, c.restart_count)
        })
        .collect();
    if !not_ready.is_empty() {
        observed.push_str(&format!(" — not ready: {}", not_ready.join(", ")));
    }
    Readiness {
        ready: declared > 0 && ready == declared && statuses.len() == declared,
        observed,
    }
}

/// Pods of a workload: ready only if there is at least one and all are fully ready.
pub fn pods(pods: &[Pod]) -> Readiness {
    all_ready(pods.iter().map(pod_containers).collect(), "no pods")
}

/// Several readinesses as one: ready only if there is at least one and all are ready (`none`
/// says what an empty list means).
pub fn all_ready(results: Vec<Readiness>, none: &str) -> Readiness {
    if results.is_empty() {
        return Readiness::not_ready(none);
    }
    let ready = results.iter().all(|r| r.ready);
    let observed = results
        .iter()
        .map(|r| r.observed.as_str())
        .collect::<Vec<_>>()
        .join("; ");
    Readiness { ready, observed }
}

/// Ready endpoint addresses across a Service's EndpointSlices (an endpoint without a `ready`
/// condition counts as ready, as the EndpointSlice API specifies).
pub fn ready_endpoint_count(slices: &[EndpointSlice]) -> usize {
    slices
        .iter()
        .flat_map(|s| s.endpoints.iter())
        .filter(|e| e.conditions.as_ref().and_then(|c| c.ready).unwrap_or(true))
        .map(|e| e.addresses.len())
        .sum()
}

/// A webhook Service can answer only if it has at least one ready endpoint.
pub fn service_endpoints(service: &str, slices: &[EndpointSlice]) -> Readiness {
    let count = ready_endpoint_count(slices);
    if count == 0 {
        Readiness::not_ready(format!("service {service} has no ready endpoints"))
    } else {
        Readiness::ready(format!("service {service} has {count} ready endpoint(s)"))
    }
}

/// A LoadBalancer Service is routable once it has an ingress address.
pub fn load_balancer(service: &Service) -> Readiness {
    let name = service.metadata.name.clone().unwrap_or_default();
    let addresses: Vec<String> = service
        .status
        .as_ref()
        .and_then(|s| s.load_balancer.as_ref())
        .and_then(|lb| lb.ingress.as_ref())
        .into_iter()
        .flatten()
        .filter_map(|i| i.ip.clone().or_else(|| i.hostname.clone()))
        .collect();
    if addresses.is_empty() {
        Readiness::not_ready(format!("service {name} has no external address"))
    } else {
        Readiness::ready(format!("service {name} at {}", addresses.join(",")))
    }
}

/// A CRD is usable once it is Established (and its names accepted).
pub fn crd_established(crd: &CustomResourceDefinition) -> Readiness {
    let name = crd.metadata.name.clone().unwrap_or_default();
    let established = crd
        .status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .into_iter()
        .flatten()
        .find(|c| c.type_ == "Established");
    match established {
        Some(c) if c.status == "True" => Readiness::ready(format!("crd {name} Established")),
        Some(c) => Readiness::not_ready(format!("crd {name} Established={}", c.status)),
        None => Readiness::not_ready(format!("crd {name} not yet Established")),
    }
}

/// An ArgoCD Application's sync and health status, read from `status.sync.status` and
/// `status.health.status` (argo-cd pkg/apis/application/v1alpha1/types.go).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApplicationState {
    pub name: String,
    pub sync: String,
    pub health: String,
    /// `status.conditions[].type: message` for error conditions.
    pub error_conditions: Vec<String>,
    /// `status.operationState.phase` and message, when an operation ran.
    pub operation: Option<String>,
}

/// Condition types that mean the Application is broken rather than busy.
pub const APPLICATION_ERROR_CONDITIONS: &[&str] = &[
    "ComparisonError",
    "InvalidSpecError",
    "SyncError",
    "UnknownError",
    "DeletionError",
];

pub fn application_state(app: &Application) -> ApplicationState {
    let name = app.metadata.name.clone().unwrap_or_default();
    let status = app.status.clone().unwrap_or_default();
    let sync = status
        .sync
        .and_then(|s| s.status)
        .unwrap_or_else(|| "Unknown".to_string());
    let health = status
        .health
        .and_then(|h| h.status)
        .unwrap_or_else(|| "Unknown".to_string());
    let error_conditions = status
        .conditions
        .into_iter()
        .flatten()
        .filter(|c| APPLICATION_ERROR_CONDITIONS.contains(&c.type_.as_str()))
        .map(|c| format!("{}: {}", c.type_, c.message.unwrap_or_default()))
        .collect();
    let operation = status.operation_state.and_then(|op| {
        let phase = op.phase?;
        Some(match op.message {
            Some(m) => format!("{phase}: {m}"),
            None => phase,
        })
    });
    ApplicationState {
        name,
        sync,
        health,
        error_conditions,
        operation,
    }
}

/// Synced AND Healthy; Progressing is not a pass.
pub fn application(app: &Application) -> Readiness {
    let state = application_state(app);
    let observed = format!("application {} {}/{}", state.name, state.sync, state.health);
    if state.sync == "Synced" && state.health == "Healthy" && state.error_conditions.is_empty() {
        Readiness::ready(observed)
    } else if !state.error_conditions.is_empty() {
        Readiness::not_ready(format!("{observed}: {}", state.error_conditions.join("; ")))
    } else {
        Readiness::not_ready(observed)
    }
}

/// An InferenceService is ready when `Ready=True` and it has a `status.url`
/// (kserve pkg/apis/serving/v1beta1/inference_service_status.go).
pub fn inference_service(isvc: &InferenceService) -> Readiness {
    let name = isvc.metadata.name.as_deref().unwrap_or_default();
    let url = views::isvc_url(isvc);
    let ready = views::condition(views::isvc_conditions(isvc), "Ready");
    match (ready, url) {
        (Some(c), Some(url)) if c.status == "True" => {
            Readiness::ready(format!("inferenceservice {name} Ready at {url}"))
        }
        (Some(c), _) if c.status == "True" => Readiness::not_ready(format!(
            "inferenceservice {name} Ready but has no status.url"
        )),
        (Some(c), _) => Readiness::not_ready(format!(
            "inferenceservice {name} Ready={} {} {}",
            c.status,
            c.reason.as_deref().unwrap_or_default(),
            c.message.as_deref().unwrap_or_default()
        )),
        (None, _) => {
            Readiness::not_ready(format!("inferenceservice {name} has no Ready condition"))
        }
    }
}

/// A Kyverno ValidatingPolicy is ready when `status.conditionStatus.ready` is true; the
/// deprecated `status.ready` is not read (kyverno api/policies.kyverno.io).
pub fn validating_policy(policy: &ValidatingPolicy) -> Readiness {
    let name = policy.metadata.name.as_deref().unwrap_or_default();
    match policy.ready() {
        Some(true) => Readiness::ready(format!("policy {name} ready")),
        Some(false) => {
            let reasons: Vec<String> = policy
                .status_conditions()
                .iter()
                .filter(|c| c.status != "True")
                .map(|c| {
                    format!(
                        "{}: {}",
                        if c.type_.is_empty() { "?" } else { &c.type_ },
                        c.message.as_deref().unwrap_or("")
                    )
                })
                .collect();
            Readiness::not_ready(format!("policy {name} not ready: {}", reasons.join("; ")))
        }
        None => Readiness::not_ready(format!("policy {name} has no status.conditionStatus yet")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{json, Value};

    fn from<T: serde::de::DeserializeOwned>(value: Value) -> T {
        serde_json::from_value(value).unwrap()
    }

    // Shapes follow the Kubernetes API reference (apps/v1 DeploymentStatus, core/v1 PodStatus).
    fn deployment_with(ready: i32, available_condition: &str) -> Deployment {
        from(json!({
            "metadata": {"name": "kserve-controller-manager", "generation": 2},
            "spec": {"replicas": 1, "selector": {}, "template": {}},
            "status": {
                "observedGeneration": 2, "replicas": 1, "updatedReplicas": 1,
                "readyReplicas": ready, "availableReplicas": ready,
                "conditions": [{"type": "Available", "status": available_condition}]
            }
        }))
    }

    #[test]
    fn an_available_deployment_is_ready() {
        assert!(deployment(&deployment_with(1, "True")).ready);
    }

    #[test]
    fn a_deployment_without_ready_replicas_is_not_ready() {
        let r = deployment(&deployment_with(0, "False"));
        assert!(!r.ready);
        assert!(r.observed.contains("0/1"), "{}", r.observed);
    }

    #[test]
    fn a_deployment_scaled_to_zero_is_not_ready() {
        // Kubernetes reports Available=True with 0/0 replicas (minimum availability is met).
        let d: Deployment = from(json!({
            "metadata": {"name": "kserve-controller-manager", "generation": 2},
            "spec": {"replicas": 0, "selector": {}, "template": {}},
            "status": {
                "observedGeneration": 2,
                "conditions": [{"type": "Available", "status": "True"}]
            }
        }));
        let r = deployment(&d);
        assert!(!r.ready);
        assert!(r.observed.contains("scaled to 0"), "{}", r.observed);
        let s: StatefulSet = from(json!({
            "metadata": {"name": "argocd-application-controller", "generation": 1},
            "spec": {"replicas": 0, "selector": {}, "serviceName": "", "template": {}},
            "status": {"observedGeneration": 1, "replicas": 0}
        }));
        assert!(!stateful_set(&s).ready);
    }

    #[test]
    fn a_deployment_whose_new_spec_is_unobserved_is_not_ready() {
        let mut d = deployment_with(1, "True");
        d.metadata.generation = Some(3);
        assert!(!deployment(&d).ready);
    }

    #[test]
    fn a_pod_at_one_of_two_containers_is_not_ready() {
        let pod: Pod = from(json!({
            "metadata": {"name": "kserve-controller-manager-7d9f"},
            "spec": {"containers": [{"name": "manager"}, {"name": "kube-rbac-proxy"}]},
            "status": {"phase": "Running", "containerStatuses": [
                {"name": "manager", "ready": true, "restartCount": 0, "image": "", "imageID": ""},
                {"name": "kube-rbac-proxy", "ready": false, "restartCount": 7, "image": "", "imageID": "",
                 "state": {"waiting": {"reason": "ImagePullBackOff"}}}
            ]}
        }));
        let r = pod_containers(&pod);
        assert!(!r.ready);
        assert!(
            r.observed.contains("1/2 containers ready"),
            "{}",
            r.observed
        );
        assert!(
            r.observed.contains("kube-rbac-proxy ImagePullBackOff"),
            "{}",
            r.observed
        );
        assert!(!pods(&[pod]).ready);
        assert!(!pods(&[]).ready);
    }

    #[test]
    fn endpoints_count_only_ready_addresses() {
        let slice: EndpointSlice = from(json!({
            "addressType": "IPv4",
            "endpoints": [
                {"addresses": ["10.42.0.5"], "conditions": {"ready": false}},
            ]
        }));
        assert!(!service_endpoints("kyverno-svc", std::slice::from_ref(&slice)).ready);
        let ready: EndpointSlice = from(json!({
            "addressType": "IPv4",
            "endpoints": [{"addresses": ["10.42.0.6"], "conditions": {"ready": true}}]
        }));
        assert!(service_endpoints("kyverno-svc", &[slice, ready]).ready);
        assert!(!service_endpoints("kyverno-svc", &[]).ready);
    }

    #[test]
    fn crds_must_be_established() {
        let crd: CustomResourceDefinition = from(json!({
            "metadata": {"name": "inferenceservices.serving.kserve.io"},
            "spec": {"group": "serving.kserve.io", "names": {"kind": "InferenceService", "plural": "inferenceservices"}, "scope": "Namespaced", "versions": []},
            "status": {"conditions": [{"type": "NamesAccepted", "status": "True"}, {"type": "Established", "status": "False"}]}
        }));
        assert!(!crd_established(&crd).ready);
    }

    #[test]
    fn progressing_applications_are_not_ready() {
        let app: Application = from(json!({"metadata": {"name": "kserve"}, "spec": {},
            "status": {"sync": {"status": "Synced"}, "health": {"status": "Progressing"}}}));
        assert!(!application(&app).ready);
        let healthy: Application = from(json!({"metadata": {"name": "kserve"}, "spec": {},
            "status": {"sync": {"status": "Synced"}, "health": {"status": "Healthy"}}}));
        assert!(application(&healthy).ready);
    }

    #[test]
    fn a_comparison_error_is_not_ready_even_if_healthy() {
        let app: Application = from(
            json!({"metadata": {"name": "platform"}, "spec": {}, "status": {
            "sync": {"status": "Synced"}, "health": {"status": "Healthy"},
            "conditions": [{"type": "ComparisonError", "message": "repository not found"}]}}),
        );
        let r = application(&app);
        assert!(!r.ready);
        assert!(r.observed.contains("repository not found"));
    }

    #[test]
    fn an_isvc_needs_ready_and_a_url() {
        let ready: InferenceService = from(
            json!({"metadata": {"name": "sklearn-iris"}, "spec": {}, "status": {
            "url": "http://sklearn-iris-predictor.models.127.0.0.1.sslip.io",
            "conditions": [{"type": "Ready", "status": "True"}]}}),
        );
        assert!(inference_service(&ready).ready);
        let no_url: InferenceService = from(
            json!({"metadata": {"name": "sklearn-iris"}, "spec": {}, "status": {
            "conditions": [{"type": "Ready", "status": "True"}]}}),
        );
        assert!(!inference_service(&no_url).ready);
    }

    #[test]
    fn a_validating_policy_reads_condition_status_not_the_deprecated_field() {
        let deprecated_only: ValidatingPolicy = from(
            json!({"metadata": {"name": "disallow-root-containers"}, "spec": {}, "status": {"ready": true}}),
        );
        assert!(!validating_policy(&deprecated_only).ready);
        let ready: ValidatingPolicy = from(
            json!({"metadata": {"name": "disallow-root-containers"}, "spec": {},
            "status": {"conditionStatus": {"ready": true}}}),
        );
        assert!(validating_policy(&ready).ready);
    }
}
