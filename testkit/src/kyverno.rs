//! What Kyverno 1.19's controllers do at runtime, scripted: once the admission controller is
//! ready it registers its webhook configurations (names from kyverno pkg/config/config.go, the
//! `webhook.kyverno.io/managed-by: kyverno` label, the chart's `config.webhooks`
//! namespaceSelector excluding kube-system and kyverno), with one fine-grained
//! `vpol.validate.kyverno.svc-fail-finegrained-<policy>` webhook per ValidatingPolicy matching
//! the policy's resource rules; and its policy-status controller writes each ValidatingPolicy's
//! `status.conditionStatus`: `WebhookConfigured`, and with background evaluation on (the
//! default) `RBACPermissionsGranted`, from a SubjectAccessReview for the reports controller's
//! service account on get/list/watch of every matched resource (pkg/controllers/policystatus/
//! controller.go: "Policy is not ready for reporting, missing permissions: ..."). `ready` is
//! true only when every condition is. Registered webhooks stay when the controller goes away,
//! as real ones do. Enforcement itself is `webhooks`.

use serde_json::{json, Value};

use crate::controllers::deployment_ready;
use crate::rbac;
use crate::store::{now_rfc3339, State};

pub const NAMESPACE: &str = "kyverno";
pub const SERVICE: &str = "kyverno-svc";
pub const CLEANUP_SERVICE: &str = "kyverno-cleanup-controller";
pub const RESOURCE_VALIDATING: &str = "kyverno-resource-validating-webhook-cfg";
pub const RESOURCE_MUTATING: &str = "kyverno-resource-mutating-webhook-cfg";
pub const REPORTS_SERVICE_ACCOUNT: &str = "kyverno-reports-controller";
pub const MANAGED_BY_LABEL: &str = "webhook.kyverno.io/managed-by";

fn text<'a>(value: &'a Value, pointer: &str) -> &'a str {
    value.pointer(pointer).and_then(Value::as_str).unwrap_or("")
}

/// The fine-grained webhook Kyverno registers for a ValidatingPolicy.
pub fn policy_webhook(policy: &str) -> String {
    format!("vpol.validate.kyverno.svc-fail-finegrained-{policy}")
}

/// The chart's `config.webhooks` namespaceSelector (kube-system, and the kyverno namespace
/// with `excludeKyvernoNamespace`).
fn default_namespace_selector() -> Value {
    json!({"matchExpressions": [
        {"key": "kubernetes.io/metadata.name", "operator": "NotIn", "values": ["kube-system"]},
        {"key": "kubernetes.io/metadata.name", "operator": "NotIn", "values": [NAMESPACE]}]})
}

fn webhook(name: &str, service: &str, path: &str, rules: Value, failure: &str) -> Value {
    json!({"name": name, "admissionReviewVersions": ["v1"], "sideEffects": "NoneOnDryRun",
           "failurePolicy": failure, "timeoutSeconds": 10, "matchPolicy": "Equivalent",
           "namespaceSelector": default_namespace_selector(), "objectSelector": {},
           "clientConfig": {"service": {"namespace": NAMESPACE, "name": service, "path": path, "port": 443},
                            "caBundle": "LS0tLS1CRUdJTiBDRVJUSUZJQ0FURS0tLS0t"},
           "rules": rules})
}

fn configuration(kind: &str, name: &str, webhooks: Vec<Value>) -> Value {
    json!({"apiVersion": "admissionregistration.k8s.io/v1", "kind": kind,
           "metadata": {"name": name, "labels": {MANAGED_BY_LABEL: "kyverno"}},
           "webhooks": webhooks})
}

fn policy_rules(policy: &Value) -> Value {
    let rules: Vec<Value> = policy
        .pointer("/spec/matchConstraints/resourceRules")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .map(|r| {
            json!({"apiGroups": r.get("apiGroups").cloned().unwrap_or(json!(["*"])),
                   "apiVersions": r.get("apiVersions").cloned().unwrap_or(json!(["*"])),
                   "operations": r.get("operations").cloned().unwrap_or(json!(["CREATE", "UPDATE"])),
                   "resources": r.get("resources").cloned().unwrap_or(json!([])),
                   "scope": "*"})
        })
        .collect();
    json!(rules)
}

fn policies(state: &State) -> Vec<Value> {
    state
        .resource_for("policies.kyverno.io/v1", "ValidatingPolicy")
        .map(|r| state.list(&r, None, None, None))
        .unwrap_or_default()
}

/// What the admission controller registers for the current policies.
pub fn resource_validating_configuration(policies: &[Value]) -> Value {
    // Without kyverno.io policies there are no classic `validate.kyverno.svc-*` webhooks: the
    // configuration holds one fine-grained webhook per ValidatingPolicy.
    let mut hooks = Vec::new();
    for policy in policies {
        let name = text(policy, "/metadata/name");
        let failure = match text(policy, "/spec/failurePolicy") {
            "Ignore" => "Ignore",
            _ => "Fail",
        };
        let mut hook = webhook(
            &policy_webhook(name),
            SERVICE,
            &format!("/vpol/validate/fail/finegrained/{name}"),
            policy_rules(policy),
            failure,
        );
        if let Some(selector) = policy.pointer("/spec/matchConstraints/objectSelector") {
            hook["objectSelector"] = selector.clone();
        }
        if let Some(selector) = policy.pointer("/spec/matchConstraints/namespaceSelector") {
            let mut merged = default_namespace_selector();
            for key in ["matchExpressions", "matchLabels"] {
                if let Some(extra) = selector.get(key) {
                    match (
                        merged.get_mut(key).and_then(Value::as_array_mut),
                        extra.as_array(),
                    ) {
                        (Some(list), Some(more)) => list.extend(more.iter().cloned()),
                        _ => merged[key] = extra.clone(),
                    }
                }
            }
            hook["namespaceSelector"] = merged;
        }
        hooks.push(hook);
    }
    configuration("ValidatingWebhookConfiguration", RESOURCE_VALIDATING, hooks)
}

fn runtime_configurations(policies: &[Value], cleanup_ready: bool) -> Vec<Value> {
    let policy_rules = json!([{"apiGroups": ["kyverno.io", "policies.kyverno.io"], "apiVersions": ["*"],
                               "operations": ["CREATE", "UPDATE"], "resources": ["*"], "scope": "*"}]);
    let mut configs = vec![
        resource_validating_configuration(policies),
        // No mutating policy: registered, empty.
        configuration(
            "MutatingWebhookConfiguration",
            RESOURCE_MUTATING,
            Vec::new(),
        ),
        configuration(
            "ValidatingWebhookConfiguration",
            "kyverno-policy-validating-webhook-cfg",
            vec![webhook(
                "validate-policy.kyverno.svc",
                SERVICE,
                "/policyvalidate",
                policy_rules.clone(),
                "Ignore",
            )],
        ),
        configuration(
            "MutatingWebhookConfiguration",
            "kyverno-policy-mutating-webhook-cfg",
            vec![webhook(
                "mutate-policy.kyverno.svc",
                SERVICE,
                "/policymutate",
                policy_rules,
                "Ignore",
            )],
        ),
        configuration(
            "MutatingWebhookConfiguration",
            "kyverno-verify-mutating-webhook-cfg",
            vec![webhook(
                "monitor-webhooks.kyverno.svc",
                SERVICE,
                "/verifymutate",
                json!([{"apiGroups": ["coordination.k8s.io"], "apiVersions": ["v1"], "operations": ["UPDATE"],
                            "resources": ["leases"], "scope": "Namespaced"}]),
                "Ignore",
            )],
        ),
        configuration(
            "ValidatingWebhookConfiguration",
            "kyverno-exception-validating-webhook-cfg",
            vec![webhook(
                "validate-policy-exception.kyverno.svc",
                SERVICE,
                "/exceptionvalidate",
                json!([{"apiGroups": ["kyverno.io"], "apiVersions": ["v2", "v2beta1"], "operations": ["CREATE", "UPDATE"],
                            "resources": ["policyexceptions"], "scope": "Namespaced"}]),
                "Ignore",
            )],
        ),
        configuration(
            "ValidatingWebhookConfiguration",
            "kyverno-cel-exception-validating-webhook-cfg",
            vec![webhook(
                "validate-cel-policy-exception.kyverno.svc",
                SERVICE,
                "/celexception/validate",
                json!([{"apiGroups": ["policies.kyverno.io"], "apiVersions": ["*"], "operations": ["CREATE", "UPDATE"],
                            "resources": ["policyexceptions"], "scope": "Namespaced"}]),
                "Ignore",
            )],
        ),
        configuration(
            "ValidatingWebhookConfiguration",
            "kyverno-global-context-validating-webhook-cfg",
            vec![webhook(
                "validate-global-context.kyverno.svc",
                SERVICE,
                "/globalcontextvalidate",
                json!([{"apiGroups": ["kyverno.io"], "apiVersions": ["v2alpha1"], "operations": ["CREATE", "UPDATE"],
                            "resources": ["globalcontextentries"], "scope": "Cluster"}]),
                "Ignore",
            )],
        ),
    ];
    if cleanup_ready {
        configs.push(configuration("ValidatingWebhookConfiguration", "kyverno-cleanup-validating-webhook-cfg", vec![
            webhook("kyverno-cleanup-controller.kyverno.svc", CLEANUP_SERVICE, "/validate",
                    json!([{"apiGroups": ["kyverno.io", "policies.kyverno.io"], "apiVersions": ["*"],
                            "operations": ["CREATE", "UPDATE"], "resources": ["cleanuppolicies", "clustercleanuppolicies", "deletingpolicies"],
                            "scope": "*"}]), "Fail")]));
        configs.push(configuration("ValidatingWebhookConfiguration", "kyverno-ttl-validating-webhook-cfg", vec![
            webhook("kyverno-cleanup-controller-ttl.kyverno.svc", CLEANUP_SERVICE, "/validate/ttl",
                    json!([{"apiGroups": ["*"], "apiVersions": ["*"], "operations": ["CREATE", "UPDATE"],
                            "resources": ["*"], "scope": "*"}]), "Ignore")]));
    }
    configs
}

/// Registers or updates the webhook configurations (only while the controllers run) and writes
/// every ValidatingPolicy's status. `unregistered` names configurations a planted fault keeps
/// away.
pub fn reconcile(state: &mut State, unregistered: &[String]) {
    let policies = policies(state);
    let admission_ready = deployment_ready(state, NAMESPACE, "kyverno-admission-controller");
    if admission_ready {
        let cleanup_ready = deployment_ready(state, NAMESPACE, "kyverno-cleanup-controller");
        for config in runtime_configurations(&policies, cleanup_ready) {
            if unregistered
                .iter()
                .any(|n| n == text(&config, "/metadata/name"))
            {
                continue;
            }
            let kind = text(&config, "/kind").to_string();
            let Ok(resource) = state.resource_for("admissionregistration.k8s.io/v1", &kind) else {
                continue;
            };
            let live = state
                .get(&resource, "", text(&config, "/metadata/name"))
                .cloned();
            let same = live.as_ref().is_some_and(|l| {
                l.get("webhooks") == config.get("webhooks")
                    && l.pointer("/metadata/labels") == config.pointer("/metadata/labels")
            });
            if !same {
                let _ = state.put(config);
            }
        }
    }
    let registered: Vec<String> = state
        .resource_for(
            "admissionregistration.k8s.io/v1",
            "ValidatingWebhookConfiguration",
        )
        .ok()
        .and_then(|r| state.get(&r, "", RESOURCE_VALIDATING).cloned())
        .and_then(|c| c.get("webhooks").cloned())
        .and_then(|w| w.as_array().cloned())
        .unwrap_or_default()
        .iter()
        .map(|w| text(w, "/name").to_string())
        .collect();
    if !admission_ready {
        return;
    }
    let rbac = rbac::Rbac::read(state);
    for policy in &policies {
        let status = policy_status(&rbac, policy, &registered);
        let unchanged = policy.pointer("/status/conditionStatus/ready")
            == status.pointer("/conditionStatus/ready")
            && strip(policy.pointer("/status/conditionStatus/conditions"))
                == strip(status.pointer("/conditionStatus/conditions"));
        if !unchanged {
            if let Ok(resource) = state.resource_for("policies.kyverno.io/v1", "ValidatingPolicy") {
                let _ = state.set_status(&resource, "", text(policy, "/metadata/name"), status);
            }
        }
    }
}

fn strip(conditions: Option<&Value>) -> Value {
    let mut copy = conditions.cloned().unwrap_or(json!([]));
    for c in copy.as_array_mut().into_iter().flatten() {
        if let Some(map) = c.as_object_mut() {
            map.remove("lastTransitionTime");
        }
    }
    copy
}

/// The status Kyverno's policy-status controller writes for one policy.
pub fn policy_status(rbac: &rbac::Rbac, policy: &Value, registered: &[String]) -> Value {
    let name = text(policy, "/metadata/name");
    let now = now_rfc3339();
    let condition = |kind: &str, ok: bool, message: String| {
        json!({"type": kind, "status": if ok { "True" } else { "False" },
               "reason": if ok { "Succeeded" } else { "Failed" }, "message": message,
               "lastTransitionTime": now})
    };
    let configured = registered.contains(&policy_webhook(name));
    let mut conditions = vec![condition(
        "WebhookConfigured",
        configured,
        if configured {
            "Webhook configured.".into()
        } else {
            "Policy is not configured in the webhook.".into()
        },
    )];
    let background = policy
        .pointer("/spec/evaluation/background/enabled")
        .and_then(Value::as_bool)
        != Some(false);
    if background {
        let mut missing = Vec::new();
        for rule in policy
            .pointer("/spec/matchConstraints/resourceRules")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            for group in rule
                .get("apiGroups")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                for version in rule
                    .get("apiVersions")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                {
                    for resource in rule
                        .get("resources")
                        .and_then(Value::as_array)
                        .into_iter()
                        .flatten()
                    {
                        let (group, version, resource) = (
                            group.as_str().unwrap_or(""),
                            version.as_str().unwrap_or(""),
                            resource.as_str().unwrap_or(""),
                        );
                        for verb in ["get", "list", "watch"] {
                            if !rbac.allowed(
                                NAMESPACE,
                                REPORTS_SERVICE_ACCOUNT,
                                group,
                                resource,
                                verb,
                            ) {
                                missing.push(format!(
                                    "{verb} {group}/{version}, Resource={resource}: system:serviceaccount:{NAMESPACE}:{REPORTS_SERVICE_ACCOUNT} requires permissions {verb},{resource},{group}"
                                ));
                            }
                        }
                    }
                }
            }
        }
        conditions.push(condition(
            "RBACPermissionsGranted",
            missing.is_empty(),
            if missing.is_empty() {
                "Policy is ready for reporting.".into()
            } else {
                format!(
                    "Policy is not ready for reporting, missing permissions: {}.",
                    missing.join("; ")
                )
            },
        ));
    }
    let ready = conditions.iter().all(|c| c["status"] == "True");
    json!({"conditionStatus": {"ready": ready, "conditions": conditions, "message": ""}})
}
