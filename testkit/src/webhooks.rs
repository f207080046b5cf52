//! Admission as the sim's API server performs it: every registered Validating/Mutating
//! webhook whose rules match a request is "called", which fails the way the real API server
//! fails when the webhook's Service is missing or has no ready endpoints (k8s.io/apiserver
//! pkg/admission/plugin/webhook: `failed calling webhook %q: failed to call webhook: Post %q:
//! no endpoints available for service %q`), and Kyverno's webhooks enforce the five platform
//! ValidatingPolicies with Kyverno's denial text (kyverno pkg/webhooks/resource/vpol/handler.go:
//! `Policy <name> failed: <message>` from the `vpol.validate.kyverno.svc-fail-finegrained-<policy>`
//! webhook).

use serde_json::Value;

use crate::controllers::Behaviour;
use crate::status::Status;
use crate::store::{AdmissionRequest, Operation, State};

fn str_at<'a>(value: &'a Value, pointer: &str) -> &'a str {
    value.pointer(pointer).and_then(Value::as_str).unwrap_or("")
}

fn list_has(list: Option<&Value>, wanted: &str) -> bool {
    list.and_then(Value::as_array).is_some_and(|items| {
        items
            .iter()
            .any(|i| i.as_str() == Some("*") || i.as_str() == Some(wanted))
    })
}

fn operation_name(operation: Operation) -> &'static str {
    match operation {
        Operation::Create => "CREATE",
        Operation::Update => "UPDATE",
        Operation::Delete => "DELETE",
    }
}

/// The labels of the namespace a request is in (cluster-scoped requests have none).
fn namespace_labels(state: &State, namespace: &str) -> Option<Value> {
    if namespace.is_empty() {
        return None;
    }
    let namespaces = state.resource_for("v1", "Namespace").ok()?;
    let mut labels = state
        .get(&namespaces, "", namespace)
        .and_then(|n| n.pointer("/metadata/labels").cloned())
        .unwrap_or(Value::Object(Default::default()));
    // The API server sets this label on every namespace (NamespaceDefaultLabelName).
    labels["kubernetes.io/metadata.name"] = Value::String(namespace.to_string());
    Some(labels)
}

/// Whether a webhook's rules, namespaceSelector and objectSelector send this request to it
/// (k8s.io/apiserver pkg/admission/plugin/webhook/predicates).
fn webhook_matches(state: &State, webhook: &Value, request: &AdmissionRequest) -> bool {
    let rules = webhook
        .get("rules")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let hit = rules.iter().any(|rule| {
        let resources_hit = rule
            .get("resources")
            .and_then(Value::as_array)
            .is_some_and(|items| {
                items
                    .iter()
                    .filter_map(Value::as_str)
                    .any(|r| r == "*" || r == "*/*" || r == request.resource.plural)
            });
        list_has(rule.get("apiGroups"), &request.resource.group)
            && resources_hit
            && list_has(rule.get("operations"), operation_name(request.operation))
    });
    if !hit {
        return false;
    }
    // The namespaceSelector applies to namespaced objects and to Namespaces themselves.
    let namespace_ok = match namespace_labels(state, request.namespace) {
        Some(labels) => crate::selector::selects(webhook.get("namespaceSelector"), Some(&labels)),
        None => true,
    };
    let object = request.object.or(request.old_object);
    let object_ok = crate::selector::selects(
        webhook.get("objectSelector"),
        object.and_then(|o| o.pointer("/metadata/labels")),
    );
    namespace_ok && object_ok
}

fn matching_webhooks(state: &State, request: &AdmissionRequest) -> Vec<Value> {
    let mut hooks = Vec::new();
    for kind in [
        "ValidatingWebhookConfiguration",
        "MutatingWebhookConfiguration",
    ] {
        let Ok(resource) = state.resource_for("admissionregistration.k8s.io/v1", kind) else {
            continue;
        };
        for config in state.list(&resource, None, None, None) {
            for webhook in config
                .get("webhooks")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                if webhook_matches(state, webhook, request) {
                    hooks.push(webhook.clone());
                }
            }
        }
    }
    hooks
}

/// Why the API server could not call a webhook's Service, if it could not.
fn unreachable_cause(state: &State, webhook: &Value) -> Option<(String, String)> {
    let service = webhook.pointer("/clientConfig/service")?;
    let ns = str_at(service, "/namespace");
    let name = str_at(service, "/name");
    let path = str_at(service, "/path");
    let url = format!("https://{name}.{ns}.svc:443{path}?timeout=10s");
    let services = state.resource_for("v1", "Service").ok()?;
    if state.get(&services, ns, name).is_none() {
        return Some((url, format!("service \"{name}\" not found")));
    }
    let slices = state
        .resource_for("discovery.k8s.io/v1", "EndpointSlice")
        .ok()?;
    let ready = state
        .list(&slices, Some(ns), None, None)
        .iter()
        .filter(|s| str_at(s, "/metadata/labels/kubernetes.io~1service-name") == name)
        .flat_map(|s| {
            s.get("endpoints")
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default()
        })
        .any(|e| {
            e.pointer("/conditions/ready")
                .and_then(Value::as_bool)
                .unwrap_or(true)
        });
    if !ready {
        return Some((
            url,
            format!("no endpoints available for service \"{name}\""),
        ));
    }
    None
}

fn labels<'a>(object: &'a Value, key: &str) -> &'a str {
    object
        .pointer("/metadata/labels")
        .and_then(|l| l.get(key))
        .and_then(Value::as_str)
        .unwrap_or("")
}

/// The containers of a Deployment's pod template or an InferenceService's predictor.
fn containers(object: &Value) -> Vec<Value> {
    let mut found: Vec<Value> = Vec::new();
    for pointer in [
        "/spec/template/spec/containers",
        "/spec/predictor/containers",
    ] {
        if let Some(list) = object.pointer(pointer).and_then(Value::as_array) {
            found.extend(list.iter().cloned());
        }
    }
    if let Some(model) = object.pointer("/spec/predictor/model") {
        found.push(model.clone());
    }
    found
}

fn pod_security(object: &Value) -> Option<&Value> {
    object
        .pointer("/spec/template/spec/securityContext")
        .or_else(|| object.pointer("/spec/predictor/securityContext"))
}

/// Which of the five platform rules a policy (by its name) carries; the sim evaluates the rule
/// in Rust rather than the policy's CEL.
fn rule_of(policy: &str) -> &'static str {
    if policy.contains("labels-inferenceservice") {
        "require-standard-labels-inferenceservice"
    } else if policy.contains("labels-deployment") {
        "require-standard-labels-deployment"
    } else if policy.contains("resource") {
        "require-resource-requests-limits"
    } else if policy.contains("latest") {
        "disallow-latest-image-tag"
    } else if policy.contains("root") {
        "disallow-root-containers"
    } else {
        ""
    }
}

/// Whether `object` (a Deployment or InferenceService) violates `policy` (one of the five
/// platform policies, by name as built in or as `manifests/` names it).
pub fn violates(policy: &str, object: &Value) -> bool {
    let kind = str_at(object, "/kind");
    match rule_of(policy) {
        "require-standard-labels-inferenceservice" => {
            kind == "InferenceService"
                && (labels(object, "owner").is_empty() || labels(object, "cost-center").is_empty())
        }
        "require-standard-labels-deployment" => {
            kind == "Deployment"
                && (labels(object, "owner").is_empty() || labels(object, "cost-center").is_empty())
        }
        "require-resource-requests-limits" => containers(object).iter().any(|c| {
            ["requests", "limits"].iter().any(|section| {
                ["cpu", "memory"]
                    .iter()
                    .any(|r| c.pointer(&format!("/resources/{section}/{r}")).is_none())
            })
        }),
        "disallow-latest-image-tag" => containers(object).iter().any(|c| {
            let image = str_at(c, "/image");
            !image.is_empty() && {
                let last = image.rsplit('/').next().unwrap_or(image);
                !last.contains(':') && !last.contains('@') || image.ends_with(":latest")
            }
        }),
        "disallow-root-containers" => {
            kind == "Deployment" && {
                let pod_level = pod_security(object)
                    .and_then(|s| s.get("runAsNonRoot"))
                    .and_then(Value::as_bool)
                    == Some(true);
                !pod_level
                    && containers(object).iter().any(|c| {
                        c.pointer("/securityContext/runAsNonRoot")
                            .and_then(Value::as_bool)
                            != Some(true)
                    })
            }
        }
        _ => false,
    }
}

fn policy_enforcing(policy: &Value) -> bool {
    list_has(policy.pointer("/spec/validationActions"), "Deny")
        && !policy
            .pointer("/spec/validationActions")
            .and_then(Value::as_array)
            .is_some_and(|a| a.iter().any(|v| v.as_str() == Some("*")))
        && policy
            .pointer("/spec/evaluation/admission/enabled")
            .and_then(Value::as_bool)
            != Some(false)
}

fn policy_resources(policy: &Value) -> Vec<String> {
    policy
        .pointer("/spec/matchConstraints/resourceRules")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .flat_map(|r| {
            r.get("resources")
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default()
        })
        .filter_map(|r| r.as_str().map(str::to_string))
        .collect()
}

/// The planted admission deviations, fixed when the sim starts (the hook runs under the API
/// state lock, so it reads no shared controller state).
#[derive(Debug, Clone, Default)]
pub struct AdmissionBehaviour {
    /// Policies Kyverno's webhook lets through although they report ready (fail-open).
    pub fail_open_policies: std::collections::BTreeSet<String>,
    /// The InferenceService label policy also requires this label (a live policy stricter than
    /// what `new-model` scaffolds).
    pub extra_isvc_label: Option<String>,
}

impl AdmissionBehaviour {
    pub fn from(behaviour: &Behaviour) -> Self {
        AdmissionBehaviour {
            fail_open_policies: behaviour.fail_open_policies.clone(),
            extra_isvc_label: behaviour.extra_isvc_label.clone(),
        }
    }
}

/// The admission hook the sim installs for every kind.
pub fn admission_hook(
    behaviour: AdmissionBehaviour,
) -> impl Fn(&AdmissionRequest, &State) -> Result<(), Status> + Send + Sync + 'static {
    move |request, state| {
        if request.operation == Operation::Delete {
            return Ok(());
        }
        let hooks = matching_webhooks(state, request);
        for webhook in &hooks {
            if let Some((url, cause)) = unreachable_cause(state, webhook) {
                if str_at(webhook, "/failurePolicy") != "Ignore" {
                    return Err(Status::webhook_unreachable(
                        str_at(webhook, "/name"),
                        &url,
                        &cause,
                    ));
                }
            }
        }
        let Some(object) = request.object else {
            return Ok(());
        };
        let Ok(policies) = state.resource_for("policies.kyverno.io/v1", "ValidatingPolicy") else {
            return Ok(());
        };
        if !matches!(
            request.resource.kind.as_str(),
            "Deployment" | "InferenceService"
        ) {
            return Ok(());
        }
        for policy in state.list(&policies, None, None, None) {
            let policy = &policy;
            let name = str_at(policy, "/metadata/name");
            // Kyverno only sees what its fine-grained webhook for the policy is sent (rules and
            // selectors as registered); the policy's own namespaceSelector is evaluated again.
            let webhook = crate::kyverno::policy_webhook(name);
            if !hooks.iter().any(|h| str_at(h, "/name") == webhook) {
                continue;
            }
            let in_scope = match namespace_labels(state, request.namespace) {
                Some(labels) => crate::selector::selects(
                    policy.pointer("/spec/matchConstraints/namespaceSelector"),
                    Some(&labels),
                ),
                None => true,
            };
            if !policy_enforcing(policy)
                || behaviour
                    .fail_open_policies
                    .iter()
                    .any(|p| rule_of(p) == rule_of(name))
                || !in_scope
            {
                continue;
            }
            if !policy_resources(policy)
                .iter()
                .any(|r| *r == request.resource.plural || r == "*")
            {
                continue;
            }
            let stricter = behaviour.extra_isvc_label.as_deref().is_some_and(|label| {
                rule_of(name) == "require-standard-labels-inferenceservice"
                    && request.resource.kind == "InferenceService"
                    && labels(object, label).is_empty()
            });
            if violates(name, object) || stricter {
                let extra = behaviour
                    .extra_isvc_label
                    .as_deref()
                    .filter(|_| stricter && !violates(name, object))
                    .map(|label| format!("label `{label}` is required"));
                let message = extra.unwrap_or_else(|| {
                    policy
                        .pointer("/spec/validations/0/message")
                        .and_then(Value::as_str)
                        .unwrap_or("validation failed")
                        .to_string()
                });
                return Err(Status::webhook_denied(
                    &webhook,
                    &format!("Policy {name} failed: {message}"),
                ));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn policies_judge_labels_resources_tags_and_root() {
        let isvc = crate::preset::inference_service("m", "models", "cc", false);
        assert!(!violates("require-standard-labels-inferenceservice", &isvc));
        let mut unlabeled = isvc.clone();
        unlabeled["metadata"]["labels"] = json!({"owner": "x"});
        assert!(violates(
            "require-standard-labels-inferenceservice",
            &unlabeled
        ));

        let mut deployment = crate::preset::deployment("models", "d", &["c"], "nginx:1.27");
        assert!(!violates("disallow-root-containers", &deployment));
        assert!(!violates("disallow-latest-image-tag", &deployment));
        deployment["spec"]["template"]["spec"]["containers"][0]["securityContext"] = json!({});
        deployment["spec"]["template"]["spec"]["containers"][0]["image"] = json!("nginx:latest");
        assert!(violates("disallow-root-containers", &deployment));
        assert!(violates("disallow-latest-image-tag", &deployment));
    }
}
