//! Reading admission errors: telling a policy denial from a webhook that could not be reached.
//! The original smoke test counted any "admission webhook" error as a policy denial; this module
//! is why neuroscale cannot. Which Service
//! stands behind a known webhook is the platform topology's (`platform::service_for_webhook`).

use serde::Serialize;

/// What the API server's answer to a create/dry-run says happened at admission.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum AdmissionOutcome {
    /// A Kyverno policy denied the request; the policies named in the message.
    KyvernoDenial {
        webhook: String,
        policies: Vec<String>,
        message: String,
    },
    /// A Kubernetes ValidatingAdmissionPolicy denied it (e.g. one Kyverno generated).
    AdmissionPolicyDenial { policy: String, message: String },
    /// Another webhook denied it (KServe, Knative or cert-manager validation).
    OtherDenial { webhook: String, message: String },
    /// The webhook could not be called: an infrastructure failure, not a decision.
    WebhookUnavailable {
        webhook: String,
        service: Option<String>,
        cause: String,
    },
    /// Any other API error (validation, RBAC, not found...).
    OtherError { message: String },
}

fn quoted_after<'a>(text: &'a str, marker: &str) -> Option<&'a str> {
    let start = text.find(marker)? + marker.len();
    let rest = &text[start..];
    let end = rest.find('"')?;
    Some(&rest[..end])
}

fn is_kyverno_webhook(webhook: &str) -> bool {
    webhook.starts_with("validate.kyverno.svc") || webhook.starts_with("vpol.validate.kyverno.svc")
}

/// Policy names in a Kyverno denial: `Policy <name> failed:` (ValidatingPolicy) or the
/// `<policy>:` keys under `was blocked due to the following policies` (ClusterPolicy).
fn kyverno_policies(message: &str) -> Vec<String> {
    let mut policies = Vec::new();
    let mut rest = message;
    while let Some(at) = rest.find("Policy ") {
        let after = &rest[at + "Policy ".len()..];
        if let Some(end) = after.find(" failed") {
            let name = after[..end].trim();
            if !name.is_empty() && !name.contains(' ') && !policies.iter().any(|p| p == name) {
                policies.push(name.to_string());
            }
        }
        rest = after;
    }
    if let Some(at) = message.find("was blocked due to the following policies") {
        for line in message[at..].lines().skip(1) {
            let trimmed = line.trim_end();
            // Policy keys sit at the first indentation level and end with ':'.
            if !trimmed.starts_with(' ') && !trimmed.starts_with('\t') {
                if let Some(name) = trimmed.strip_suffix(':') {
                    let name = name.trim();
                    if !name.is_empty() && !policies.iter().any(|p| p == name) {
                        policies.push(name.to_string());
                    }
                }
            }
        }
    }
    policies
}

/// Classifies the message of an API error returned for a create or dry-run.
pub fn classify(message: &str) -> AdmissionOutcome {
    if let Some(webhook) = quoted_after(message, "failed calling webhook \"") {
        let service = quoted_after(message, "no endpoints available for service \"")
            .map(|s| s.to_string())
            .or_else(|| crate::platform::service_for_webhook(webhook).map(|s| s.path()));
        let cause = [
            "no endpoints available",
            "connection refused",
            "context deadline exceeded",
            "x509:",
            "i/o timeout",
        ]
        .iter()
        .find(|c| message.contains(*c))
        .map(|c| c.trim_end_matches(':').to_string())
        .unwrap_or_else(|| "the webhook could not be called".to_string());
        return AdmissionOutcome::WebhookUnavailable {
            webhook: webhook.to_string(),
            service,
            cause,
        };
    }
    if let Some(webhook) = quoted_after(message, "admission webhook \"") {
        if message.contains("denied the request") {
            let policies = kyverno_policies(message);
            if is_kyverno_webhook(webhook) && !policies.is_empty() {
                return AdmissionOutcome::KyvernoDenial {
                    webhook: webhook.to_string(),
                    policies,
                    message: message.to_string(),
                };
            }
            return AdmissionOutcome::OtherDenial {
                webhook: webhook.to_string(),
                message: message.to_string(),
            };
        }
    }
    if let Some(policy) = message
        .strip_prefix("ValidatingAdmissionPolicy '")
        .or_else(|| {
            message
                .find("ValidatingAdmissionPolicy '")
                .map(|i| &message[i + "ValidatingAdmissionPolicy '".len()..])
        })
        .and_then(|rest| rest.split('\'').next())
    {
        return AdmissionOutcome::AdmissionPolicyDenial {
            policy: policy.to_string(),
            message: message.to_string(),
        };
    }
    AdmissionOutcome::OtherError {
        message: message.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // The API server wraps webhook failures as in k8s.io/apiserver
    // pkg/admission/plugin/webhook/errors (`failed calling webhook %q: %v`) and denials as
    // `admission webhook %q denied the request: %s`.
    const KSERVE_NO_ENDPOINTS: &str = r#"Internal error occurred: failed calling webhook "inferenceservice.kserve-webhook-server.validator": failed to call webhook: Post "https://kserve-webhook-server-service.kserve.svc:443/validate-serving-kserve-io-v1beta1-inferenceservice?timeout=10s": no endpoints available for service "kserve-webhook-server-service""#;

    // ValidatingPolicy denial text: kyverno pkg/webhooks/resource/vpol/handler.go ("Policy %s failed: %s").
    const VPOL_DENIAL: &str = r#"admission webhook "vpol.validate.kyverno.svc-fail-finegrained-require-standard-labels-inferenceservice" denied the request: Policy require-standard-labels-inferenceservice failed: InferenceServices must carry kebab-case owner and cost-center labels"#;

    // ClusterPolicy denial text: kyverno pkg/webhooks/utils/block.go.
    const CPOL_DENIAL: &str = "admission webhook \"validate.kyverno.svc-fail\" denied the request: \n\nresource Deployment/models/root-probe was blocked due to the following policies \n\ndisallow-root-containers:\n  autogen-run-as-non-root: 'validation error: Running as root is not allowed. rule autogen-run-as-non-root failed at path /spec/template/spec/securityContext/runAsNonRoot/'\n";

    #[test]
    fn a_webhook_without_endpoints_is_not_a_denial() {
        match classify(KSERVE_NO_ENDPOINTS) {
            AdmissionOutcome::WebhookUnavailable {
                webhook,
                service,
                cause,
            } => {
                assert_eq!(webhook, "inferenceservice.kserve-webhook-server.validator");
                assert_eq!(service.as_deref(), Some("kserve-webhook-server-service"));
                assert_eq!(cause, "no endpoints available");
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_validating_policy_denial_names_the_policy() {
        match classify(VPOL_DENIAL) {
            AdmissionOutcome::KyvernoDenial { policies, .. } => {
                assert_eq!(policies, vec!["require-standard-labels-inferenceservice"]);
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_cluster_policy_denial_names_the_policy() {
        match classify(CPOL_DENIAL) {
            AdmissionOutcome::KyvernoDenial { policies, .. } => {
                assert_eq!(policies, vec!["disallow-root-containers"]);
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_knative_denial_is_not_a_kyverno_denial() {
        let text = r#"admission webhook "validation.webhook.serving.knative.dev" denied the request: validation failed: must not set the field(s): spec.template.spec.nodeSelector"#;
        assert!(matches!(
            classify(text),
            AdmissionOutcome::OtherDenial { .. }
        ));
    }

    #[test]
    fn a_denial_from_kyvernos_webhook_without_a_policy_name_is_not_trusted() {
        let text =
            r#"admission webhook "validate.kyverno.svc-fail" denied the request: something odd"#;
        assert!(matches!(
            classify(text),
            AdmissionOutcome::OtherDenial { .. }
        ));
    }

    #[test]
    fn other_errors_stay_other() {
        assert!(matches!(
            classify("namespaces \"models\" not found"),
            AdmissionOutcome::OtherError { .. }
        ));
    }
}
