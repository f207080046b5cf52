//! Test fixtures for milestones D, E and F: API objects and messages shaped like the real ones,
//! each builder citing where its shape comes from. Only compiled for tests.

use k8s_openapi::api::admissionregistration::v1::{
    MutatingWebhookConfiguration, ValidatingWebhookConfiguration,
};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{LimitRange, ResourceQuota, Service};
use k8s_openapi::api::discovery::v1::EndpointSlice;
use serde_json::{json, Value};

fn typed<T: serde::de::DeserializeOwned>(value: Value) -> T {
    serde_json::from_value(value).expect("fixture matches the typed API object")
}

/// A Deployment with `ready` of `desired` replicas ready; Available only when all are.
/// Shape: Kubernetes API reference apps/v1 DeploymentStatus (as `kubectl get deploy -o json`).
pub fn deployment(namespace: &str, name: &str, ready: i32, desired: i32) -> Deployment {
    let available = if ready >= desired { "True" } else { "False" };
    typed(json!({
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": name, "namespace": namespace, "generation": 1},
        "spec": {"replicas": desired, "selector": {"matchLabels": {"app": name}},
                 "template": {"metadata": {"labels": {"app": name}}, "spec": {"containers": [{"name": "main", "image": "x"}]}}},
        "status": {
            "observedGeneration": 1, "replicas": desired, "updatedReplicas": desired,
            "readyReplicas": ready, "availableReplicas": ready,
            "conditions": [{"type": "Available", "status": available,
                            "reason": if available == "True" { "MinimumReplicasAvailable" } else { "MinimumReplicasUnavailable" },
                            "message": if available == "True" { "Deployment has minimum availability." } else { "Deployment does not have minimum availability." }}]
        }
    }))
}

/// A Service. Shape: core/v1 Service.
pub fn service(namespace: &str, name: &str) -> Service {
    typed(json!({
        "apiVersion": "v1", "kind": "Service",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {"ports": [{"port": 443, "targetPort": 9443}]}
    }))
}

/// An EndpointSlice of `service` with the given ready and not-ready addresses.
/// Shape: discovery.k8s.io/v1 EndpointSlice, label `kubernetes.io/service-name`.
pub fn endpoint_slice(
    namespace: &str,
    service: &str,
    ready: &[&str],
    not_ready: &[&str],
) -> EndpointSlice {
    let endpoints: Vec<Value> = ready
        .iter()
        .map(|ip| json!({"addresses": [ip], "conditions": {"ready": true}}))
        .chain(
            not_ready
                .iter()
                .map(|ip| json!({"addresses": [ip], "conditions": {"ready": false}})),
        )
        .collect();
    typed(json!({
        "apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
        "metadata": {"name": format!("{service}-abcde"), "namespace": namespace,
                     "labels": {"kubernetes.io/service-name": service}},
        "addressType": "IPv4",
        "endpoints": endpoints,
        "ports": [{"port": 9443, "protocol": "TCP"}]
    }))
}

fn webhooks(hooks: &[(&str, &str, &str)], with_side_effects: bool) -> Vec<Value> {
    hooks
        .iter()
        .map(|(name, ns, svc)| {
            let mut hook = json!({
                "name": name,
                "admissionReviewVersions": ["v1"],
                "clientConfig": {"service": {"namespace": ns, "name": svc, "path": "/validate/fail", "port": 443}},
                "failurePolicy": "Fail",
                "rules": [{"apiGroups": ["*"], "apiVersions": ["*"], "operations": ["CREATE", "UPDATE"], "resources": ["*/*"]}]
            });
            if with_side_effects {
                hook["sideEffects"] = json!("NoneOnDryRun");
            }
            hook
        })
        .collect()
}

/// A ValidatingWebhookConfiguration whose webhooks `(name, service namespace, service name)`
/// call a Service. Shape: admissionregistration.k8s.io/v1; Kyverno's are built in kyverno
/// pkg/controllers/webhook/controller.go (label `webhook.kyverno.io/managed-by: kyverno`).
pub fn validating_config(
    name: &str,
    hooks: &[(&str, &str, &str)],
) -> ValidatingWebhookConfiguration {
    let labels = if name.starts_with("kyverno-") {
        json!({"webhook.kyverno.io/managed-by": "kyverno"})
    } else {
        json!({})
    };
    typed(json!({
        "apiVersion": "admissionregistration.k8s.io/v1", "kind": "ValidatingWebhookConfiguration",
        "metadata": {"name": name, "labels": labels},
        "webhooks": webhooks(hooks, true)
    }))
}

/// A MutatingWebhookConfiguration; see [`validating_config`].
pub fn mutating_config(name: &str, hooks: &[(&str, &str, &str)]) -> MutatingWebhookConfiguration {
    let labels = if name.starts_with("kyverno-") {
        json!({"webhook.kyverno.io/managed-by": "kyverno"})
    } else {
        json!({})
    };
    typed(json!({
        "apiVersion": "admissionregistration.k8s.io/v1", "kind": "MutatingWebhookConfiguration",
        "metadata": {"name": name, "labels": labels},
        "webhooks": webhooks(hooks, true)
    }))
}

/// A webhook configuration entry that calls a URL instead of a Service.
pub fn validating_config_with_url(name: &str, url: &str) -> ValidatingWebhookConfiguration {
    typed(json!({
        "apiVersion": "admissionregistration.k8s.io/v1", "kind": "ValidatingWebhookConfiguration",
        "metadata": {"name": name},
        "webhooks": [{"name": "external.example.dev", "admissionReviewVersions": ["v1"],
                      "clientConfig": {"url": url}, "sideEffects": "None"}]
    }))
}

/// A Kyverno ValidatingPolicy with `validationActions` and its status.
/// Shape: /work/shared/schemas/policies.kyverno.io_v1_ValidatingPolicy.json; a Ready status as
/// asserted by kyverno test/conformance/chainsaw/_step-templates/validating-policy-ready.yaml.
pub fn validating_policy(name: &str, actions: &[&str], ready: bool) -> Value {
    let (status, message) = if ready {
        ("True", "Webhook configured.")
    } else {
        ("False", "Policy is not configured in the webhook.")
    };
    json!({
        "apiVersion": "policies.kyverno.io/v1", "kind": "ValidatingPolicy",
        "metadata": {"name": name, "generation": 1},
        "spec": {
            "validationActions": actions,
            "matchConstraints": {"resourceRules": [{"apiGroups": ["serving.kserve.io"], "apiVersions": ["v1beta1"],
                                 "operations": ["CREATE", "UPDATE"], "resources": ["inferenceservices"]}]},
            "validations": [{"expression": "has(object.metadata.labels) && 'cost-center' in object.metadata.labels",
                             "message": "InferenceServices must carry owner and cost-center labels"}]
        },
        "status": {"conditionStatus": {
            "ready": ready,
            "conditions": [
                {"type": "WebhookConfigured", "status": status, "reason": if ready { "Succeeded" } else { "Failed" },
                 "message": message, "lastTransitionTime": "2026-12-01T12:00:00Z"},
                {"type": "RBACPermissionsGranted", "status": "True", "reason": "Succeeded",
                 "message": "Policy is ready for reporting.", "lastTransitionTime": "2026-12-01T12:00:00Z"}
            ]
        }}
    })
}

/// The API server's message for a ValidatingPolicy denial: k8s.io/apiserver webhook errors
/// (`admission webhook %q denied the request: %s`) around kyverno
/// pkg/webhooks/resource/vpol/handler.go (`Policy %s failed: %s`); the webhook name is
/// `vpol.validate.kyverno.svc-fail[-finegrained-<policy>]` (kyverno pkg/controllers/webhook).
pub fn vpol_denial(policy: &str, message: &str) -> String {
    format!(
        "admission webhook \"vpol.validate.kyverno.svc-fail\" denied the request: Policy {policy} failed: {message}"
    )
}

/// A ValidatingPolicy whose CEL expression errored: `Policy %s error: %s` (same handler).
pub fn vpol_error(policy: &str) -> String {
    format!(
        "admission webhook \"vpol.validate.kyverno.svc-fail\" denied the request: Policy {policy} error: no such key: cost-center"
    )
}

/// The API server Status message when a webhook's Service has no endpoints: k8s.io/apiserver
/// pkg/admission/plugin/webhook/errors (`failed calling webhook %q: %v`) wrapping the
/// service resolver's `no endpoints available for service %q`.
pub fn kserve_no_endpoints() -> String {
    r#"Internal error occurred: failed calling webhook "inferenceservice.kserve-webhook-server.defaulter": failed to call webhook: Post "https://kserve-webhook-server-service.kserve.svc:443/mutate-serving-kserve-io-v1beta1-inferenceservice?timeout=10s": no endpoints available for service "kserve-webhook-server-service""#.to_string()
}

/// The same failure for Kyverno's own webhook.
pub fn kyverno_no_endpoints() -> String {
    r#"Internal error occurred: failed calling webhook "vpol.validate.kyverno.svc-fail": failed to call webhook: Post "https://kyverno-svc.kyverno.svc:443/vpol?timeout=10s": no endpoints available for service "kyverno-svc""#.to_string()
}

/// A Kubernetes ValidatingAdmissionPolicy denial: k8s.io/apiserver
/// pkg/admission/plugin/policy/validating (`ValidatingAdmissionPolicy '%s' with binding '%s'
/// denied request: %s`).
pub fn vap_denial(policy: &str) -> String {
    format!("ValidatingAdmissionPolicy '{policy}' with binding '{policy}-binding' denied request: InferenceServices must carry owner and cost-center labels")
}

/// A Knative/KServe validation denial (not a policy): a webhook that denied the spec.
pub fn kserve_validation_denial() -> String {
    r#"admission webhook "inferenceservice.kserve-webhook-server.validator" denied the request: exactly one predictor.model.storageUri or predictor.model.storage must be specified"#.to_string()
}

/// A ResourceQuota. Shape: core/v1 ResourceQuota (spec.hard, status.hard/used).
pub fn resource_quota(namespace: &str, name: &str, hard: Value) -> ResourceQuota {
    typed(json!({
        "apiVersion": "v1", "kind": "ResourceQuota",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {"hard": hard.clone()},
        "status": {"hard": hard, "used": {"pods": "3"}}
    }))
}

/// A LimitRange with one Container item. Shape: core/v1 LimitRange (spec.limits[]).
pub fn limit_range(namespace: &str, name: &str, item: Value) -> LimitRange {
    typed(json!({
        "apiVersion": "v1", "kind": "LimitRange",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {"limits": [item]}
    }))
}

/// One Allocation as OpenCost serialises it (opencost core/pkg/opencost/allocation_json.go
/// AllocationJSON; a subset of its fields, the rest are ignored by the checks).
pub fn allocation(name: &str, total_cost: f64) -> Value {
    json!({
        "name": name,
        "properties": {"cluster": "default-cluster", "labels": {"cost_center": name}},
        "window": {"start": "2026-12-01T12:00:00Z", "end": "2026-12-01T13:00:00Z"},
        "start": "2026-12-01T12:00:00Z", "end": "2026-12-01T13:00:00Z", "minutes": 60.0,
        "cpuCores": 0.1, "cpuCoreHours": 0.1, "cpuCost": total_cost * 0.7,
        "gpuCount": 0.0, "gpuHours": 0.0, "gpuCost": 0.0,
        "ramBytes": 134217728.0, "ramByteHours": 134217728.0, "ramCost": total_cost * 0.3,
        "pvCost": 0.0, "networkCost": 0.0, "loadBalancerCost": 0.0, "sharedCost": 0.0,
        "externalCost": 0.0, "totalCost": total_cost, "totalEfficiency": 0.4
    })
}

/// The `/allocation/compute` answer: opencost pkg/costmodel/router.go WrapData
/// (`{"code":200,"status":"success","data":...}`) around an AllocationSetRange, which
/// serialises as an array of `{name: Allocation}` maps (allocation_json.go MarshalJSON).
pub fn allocation_response(sets: Vec<Vec<(&str, f64)>>) -> String {
    let data: Vec<Value> = sets
        .into_iter()
        .map(|set| {
            let mut map = serde_json::Map::new();
            for (name, cost) in set {
                map.insert(name.to_string(), allocation(name, cost));
            }
            Value::Object(map)
        })
        .collect();
    json!({"code": 200, "status": "success", "data": data}).to_string()
}

/// OpenCost's error body when the query fails (router.go WrapData with an error).
pub fn allocation_error(message: &str) -> String {
    json!({"code": 500, "status": "error", "message": message, "data": null}).to_string()
}
