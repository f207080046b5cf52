//! C1 scaffold-compliant: what `neuroscale new-model` renders is admitted by a server-side
//! dry-run through the live admission chain. It passes only while the label policy for
//! InferenceServices is live and Ready and a fail-closed (`failurePolicy: Fail`) Kyverno webhook
//! covering InferenceServices is registered (a fail-open one admits while Kyverno is down); a
//! Kyverno denial fails naming the policy; a webhook that cannot be called fails as
//! infrastructure, after retrying (kyverno #7294 advises a retry after install).

use std::time::{Duration, Instant};

use k8s_openapi::api::admissionregistration::v1::ValidatingWebhookConfiguration;
use kube::api::{Api, ListParams};

use crate::checks::env::{CheckFuture, CheckRun};
use crate::checks::kit::admission::{self, AdmissionOutcome};
use crate::checks::kit::diagnose;
use crate::checks::kit::probe::ProbeObject;
use crate::checks::kit::wait::{Decision, Wait};
use crate::checks::outcome::{Diagnosis, Outcome};
use crate::failures::FailureCode;
use crate::gitops::scaffold;
use crate::observe;
use crate::platform::views::{ValidatingPolicy, ValidatingPolicyExt, INFERENCE_SERVICE};
use crate::readiness;

/// The policy the scaffold's labels must satisfy.
pub const ISVC_LABEL_POLICY: &str = crate::gitops::POLICY_NAMES[0];

/// How often C1 asks when the admission webhook could not be called, and how long it pauses
/// between.
pub const ATTEMPTS: u32 = 3;
const RETRY_PAUSE: Duration = Duration::from_secs(2);

pub fn check<'a>(run: &'a CheckRun<'a>) -> CheckFuture<'a> {
    Box::pin(scaffold_compliant(run))
}

async fn scaffold_compliant(run: &CheckRun<'_>) -> Outcome {
    let spec = match super::probe_spec(run, "c1") {
        Ok(spec) => spec,
        Err(outcome) => return *outcome,
    };
    // Only dry-run: a probe object in shape, never created.
    let scaffold =
        ProbeObject::from_manifest(INFERENCE_SERVICE, scaffold::inference_service(&spec));
    let client = &run.env.client;
    let gather = |_| {
        let (isvc, namespace, name) = (
            &scaffold.manifest,
            scaffold.namespace.clone(),
            scaffold.name.clone(),
        );
        async move {
            let policies = observe::list_views::<ValidatingPolicy>(client, None)
                .await
                .map_err(|e| Outcome::api_error("Kyverno ValidatingPolicies", &e))?;
            let configurations = Api::<ValidatingWebhookConfiguration>::all(client.clone())
                .list(&ListParams::default())
                .await
                .map_err(|e| Outcome::api_error("validating webhook configurations", &e))?;
            let started = Instant::now();
            // A dry-run persists nothing, so C1 needs no cleanup and is read-only.
            let dry_run = observe::create(client, &INFERENCE_SERVICE, Some(&namespace), isvc, true)
                .await
                .map(|_| ())
                .map_err(|e| observe::error_message(&e));
            let elapsed = started.elapsed();
            // The negative control: the same scaffold without its cost-center label, dry-run
            // the same way, must be denied, or the admission above proves no policy ran.
            let control = observe::create(
                client,
                &INFERENCE_SERVICE,
                Some(&namespace),
                &without_cost_center(isvc),
                true,
            )
            .await
            .map(|_| ())
            .map_err(|e| observe::error_message(&e));
            Ok(ScaffoldAdmission {
                isvc_name: name,
                namespace,
                policies,
                kyverno_webhooks: kyverno_isvc_webhooks(&configurations.items),
                dry_run,
                control,
                elapsed,
            })
        }
    };
    Wait::for_check(run)
        .every(RETRY_PAUSE)
        .at_most(ATTEMPTS)
        .final_on_unreadable()
        .until(run, gather, |observation| {
            let unavailable = matches!(
                &observation.dry_run,
                Err(m) if matches!(admission::classify(m), AdmissionOutcome::WebhookUnavailable { .. })
            );
            Decision::retry_if(evaluate_scaffold_compliant(observation), unavailable)
        })
        .await
}

/// What C1 saw: the live ValidatingPolicies and the answer to a server-side dry-run create of
/// the scaffolded InferenceService.
#[derive(Debug, Clone)]
pub struct ScaffoldAdmission {
    pub isvc_name: String,
    pub namespace: String,
    /// Every `policies.kyverno.io` ValidatingPolicy in the cluster.
    pub policies: Vec<ValidatingPolicy>,
    /// Kyverno's registered validating webhooks whose rules cover InferenceServices: without
    /// one, no policy is consulted at admission whatever the policies' status says.
    pub kyverno_webhooks: Vec<String>,
    /// `Ok` when admitted; the API error's message otherwise.
    pub dry_run: Result<(), String>,
    /// The negative control's answer: the scaffold without its cost-center label, which the
    /// label policy must deny.
    pub control: Result<(), String>,
    pub elapsed: Duration,
}

/// The scaffold with its `cost-center` label taken off: what the label policy exists to deny.
pub fn without_cost_center(isvc: &serde_json::Value) -> serde_json::Value {
    let mut control = isvc.clone();
    if let Some(labels) = control
        .pointer_mut("/metadata/labels")
        .and_then(serde_json::Value::as_object_mut)
    {
        labels.remove("cost-center");
    }
    control
}

/// Why the negative control does not show the label policy at work, if it does not.
fn control_failure(control: &Result<(), String>) -> Option<String> {
    match control {
        Ok(()) => Some("the same scaffold without its cost-center label was admitted too".into()),
        Err(message) => match admission::classify(message) {
            AdmissionOutcome::KyvernoDenial { policies, .. }
                if policies.iter().any(|p| p == ISVC_LABEL_POLICY) =>
            {
                None
            }
            _ => Some(format!(
                "the same scaffold without its cost-center label was refused, but not by {ISVC_LABEL_POLICY}: {message}"
            )),
        },
    }
}

/// Kyverno's validating webhooks (`validate.kyverno.svc-*`, `vpol.validate.kyverno.svc-*`,
/// registered at runtime by its admission controller) whose rules cover
/// InferenceServices and that fail closed. A `failurePolicy: Ignore` webhook admits when Kyverno
/// cannot be reached, so an admission through it proves nothing; the platform's policies are
/// `failurePolicy: Fail` (absent means Fail in admissionregistration/v1).
pub fn kyverno_isvc_webhooks(configurations: &[ValidatingWebhookConfiguration]) -> Vec<String> {
    configurations
        .iter()
        .flat_map(|c| c.webhooks.iter().flatten())
        .filter(|w| {
            w.name.starts_with("validate.kyverno.svc")
                || w.name.starts_with("vpol.validate.kyverno.svc")
        })
        .filter(|w| w.failure_policy.as_deref() != Some("Ignore"))
        .filter(|w| {
            w.rules.iter().flatten().any(|rule| {
                rule.resources
                    .iter()
                    .flatten()
                    .any(|r| r == "inferenceservices" || r == "*" || r == "*/*")
            })
        })
        .map(|w| w.name.clone())
        .collect()
}

/// C1: the scaffold is admitted by a dry-run through live, Ready policies that govern
/// InferenceServices. A denial names the policy; an unreachable webhook is an infrastructure
/// failure, never a compliance verdict in either direction.
pub fn evaluate_scaffold_compliant(observation: &ScaffoldAdmission) -> Outcome {
    let governing: Vec<&ValidatingPolicy> = observation
        .policies
        .iter()
        .filter(|p| p.matches_resource("inferenceservices"))
        .collect();
    let not_ready: Vec<String> = governing
        .iter()
        .map(|p| readiness::validating_policy(p))
        .filter(|r| !r.ready)
        .map(|r| r.observed)
        .collect();
    let has_label_policy = governing
        .iter()
        .any(|p| p.metadata.name.as_deref() == Some(ISVC_LABEL_POLICY));
    let target = format!(
        "inferenceservice {}/{}",
        observation.namespace, observation.isvc_name
    );
    match &observation.dry_run {
        Ok(()) if observation.kyverno_webhooks.is_empty() => Outcome::fail(
            format!("{target} admitted, but no Kyverno webhook intercepts InferenceServices: the admission proves nothing"),
            Diagnosis::new(
                "no validate.kyverno.svc / vpol.validate.kyverno.svc webhook with failurePolicy Fail and rules for inferenceservices is registered",
                "Kyverno has not registered its resource webhooks (admission controller not ready, or its webhook configuration deleted), so the policies are never consulted whatever their status says",
                "kubectl get validatingwebhookconfigurations kyverno-resource-validating-webhook-cfg -o yaml",
            )
            .with_code(FailureCode::KyvernoWebhooksNotRegistered),
        ),
        Ok(()) => {
            if !has_label_policy || !not_ready.is_empty() {
                let observed = if has_label_policy {
                    not_ready.join("; ")
                } else {
                    format!(
                        "policy {ISVC_LABEL_POLICY} does not exist or does not match InferenceServices ({} policies govern them)",
                        governing.len()
                    )
                };
                return Outcome::fail(
                    format!("{target} admitted, but not by live policies: the admission proves nothing"),
                    Diagnosis::new(
                        observed,
                        "the Kyverno policies are missing or not Ready (the platform Application has not synced them, or Kyverno has not configured its webhooks): an admission without them is not compliance",
                        format!("kubectl get validatingpolicies.policies.kyverno.io {ISVC_LABEL_POLICY} -o jsonpath='{{.status.conditionStatus}}'"),
                    ),
                );
            }
            if let Some(observed) = control_failure(&observation.control) {
                return Outcome::fail(
                    format!("{target} admitted without any policy evaluating it"),
                    Diagnosis::new(
                        observed,
                        format!("policy {ISVC_LABEL_POLICY} reports Ready but does not deny at admission: its webhook's selectors, match conditions or operations leave the model namespace out, or its validationActions are not Deny"),
                        format!("kubectl get validatingpolicies.policies.kyverno.io {ISVC_LABEL_POLICY} -o yaml && kubectl get validatingwebhookconfigurations -l webhook.kyverno.io/managed-by=kyverno -o yaml"),
                    ),
                );
            }
            let ms = observation.elapsed.as_secs_f64() * 1000.0;
            Outcome::pass(format!(
                "scaffolded {target} admitted by {} live polic{} (server-side dry-run, {ms:.0} ms)",
                governing.len(),
                if governing.len() == 1 { "y" } else { "ies" }
            ))
            .with_figure("policies_governing", governing.len() as f64, "count")
            .with_figure("dry_run_ms", ms, "ms")
        }
        Err(message) => match admission::classify(message) {
            AdmissionOutcome::KyvernoDenial { policies, .. } => Outcome::fail(
                format!("scaffold denied by policy {}", policies.join(", ")),
                Diagnosis::new(
                    message.clone(),
                    format!(
                        "`neuroscale new-model` renders something policy {} forbids: the scaffold and the policy disagree (e.g. label key costCenter vs cost-center)",
                        policies.join(", ")
                    ),
                    format!(
                        "kubectl get validatingpolicies.policies.kyverno.io {} -o yaml",
                        policies[0]
                    ),
                ),
            ),
            AdmissionOutcome::AdmissionPolicyDenial { policy, .. } => Outcome::fail(
                format!("scaffold denied by admission policy {policy}"),
                Diagnosis::new(
                    message.clone(),
                    format!("the scaffold violates {policy} (a ValidatingAdmissionPolicy, possibly one Kyverno generated)"),
                    format!("kubectl get validatingadmissionpolicy {policy} -o yaml"),
                ),
            ),
            AdmissionOutcome::WebhookUnavailable {
                webhook,
                service,
                cause,
            } => {
                let service = service.unwrap_or_else(|| "its service".into());
                let (ns, svc) = service.split_once('/').unwrap_or(("kserve", &service));
                Outcome::fail(
                    format!("admission could not run: webhook {webhook} unavailable ({cause}); infrastructure failure, not a compliance verdict"),
                    Diagnosis::new(
                        message.clone(),
                        format!("webhook {webhook} cannot be called ({cause}): service {service} has no ready endpoints or a bad certificate"),
                        format!("kubectl -n {ns} get endpointslices -l kubernetes.io/service-name={svc} -o wide"),
                    )
                    .with_code_opt(diagnose::webhook_unavailable_code(&webhook)),
                )
            }
            AdmissionOutcome::OtherDenial { webhook, .. } => Outcome::fail(
                format!("scaffold denied by webhook {webhook} (not a platform policy)"),
                Diagnosis::new(
                    message.clone(),
                    "KServe or Knative validation rejects the scaffold's spec (an invalid field, or a podspec field Knative's config-features do not allow)",
                    "neuroscale new-model NAME --owner TEAM --cost-center CC --out /tmp/scaffold && kubectl apply --dry-run=server -f /tmp/scaffold",
                ),
            ),
            AdmissionOutcome::OtherError { .. } if message.contains("does not support dry run") => {
                let webhook = message
                    .split('"')
                    .nth(1)
                    .unwrap_or("a matching webhook")
                    .to_string();
                Outcome::fail(
                    format!("the dry-run could not be admitted: webhook {webhook} does not support dry run"),
                    Diagnosis::new(
                        message.clone(),
                        format!("webhook {webhook} declares sideEffects other than None/NoneOnDryRun, so the API server refuses every dry-run it matches: an admission configuration problem, not a compliance verdict"),
                        "kubectl get validatingwebhookconfigurations,mutatingwebhookconfigurations -o custom-columns=NAME:.metadata.name,SIDE_EFFECTS:.webhooks[*].sideEffects",
                    ),
                )
            }
            AdmissionOutcome::OtherError { .. } => Outcome::fail(
                "the dry-run create failed before admission decided",
                Diagnosis::new(
                    message.clone(),
                    "the request itself failed (missing namespace, CRD not installed, or RBAC)",
                    format!("kubectl get namespace {} && kubectl get crd inferenceservices.serving.kserve.io", observation.namespace),
                ),
            ),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checks::fixtures::{self, diagnosis};
    use crate::checks::outcome::Verdict;
    use serde_json::{json, Value};

    /// A ValidatingPolicy as the gitops manifests declare it and Kyverno reports it (kyverno
    /// config/crds/policies.kyverno.io ValidatingPolicy; status.conditionStatus).
    fn policy(name: &str, resource: &str, ready: bool) -> ValidatingPolicy {
        fixtures::policy(json!({
            "apiVersion": "policies.kyverno.io/v1", "kind": "ValidatingPolicy",
            "metadata": {"name": name},
            "spec": {
                "validationActions": ["Deny"],
                "matchConstraints": {"resourceRules": [{
                    "apiGroups": [if resource == "inferenceservices" { "serving.kserve.io" } else { "apps" }],
                    "apiVersions": ["*"], "operations": ["CREATE", "UPDATE"], "resources": [resource]}]},
                "validations": [{"expression": "true", "message": "m"}]
            },
            "status": {"conditionStatus": {"ready": ready, "conditions": [
                {"type": "WebhookConfigured", "status": if ready { "True" } else { "False" }, "reason": "Succeeded", "message": "webhook configured"},
                {"type": "RBACPermissionsGranted", "status": "True", "reason": "Succeeded", "message": "policy is ready for reporting"}
            ]}}
        }))
    }

    fn live_policies() -> Vec<ValidatingPolicy> {
        vec![
            policy(ISVC_LABEL_POLICY, "inferenceservices", true),
            policy("require-standard-labels-deployment", "deployments", true),
            policy("disallow-root-containers", "deployments", true),
        ]
    }

    /// Kyverno's resource validating webhook configuration as its admission controller registers
    /// it for a ValidatingPolicy (kyverno pkg/controllers/webhook; fine-grained webhook names per
    /// shape: admissionregistration.k8s.io/v1 ValidatingWebhookConfiguration).
    fn kyverno_webhook_configuration() -> Value {
        json!({
            "apiVersion": "admissionregistration.k8s.io/v1", "kind": "ValidatingWebhookConfiguration",
            "metadata": {"name": "kyverno-resource-validating-webhook-cfg"},
            "webhooks": [{
                "name": format!("vpol.validate.kyverno.svc-fail-finegrained-{ISVC_LABEL_POLICY}"),
                "admissionReviewVersions": ["v1"], "sideEffects": "NoneOnDryRun", "failurePolicy": "Fail",
                "clientConfig": {"service": {"namespace": "kyverno", "name": "kyverno-svc",
                    "path": format!("/vpol/validate/fail/finegrained/{ISVC_LABEL_POLICY}"), "port": 443}},
                "rules": [{"apiGroups": ["serving.kserve.io"], "apiVersions": ["v1beta1"],
                           "operations": ["CREATE", "UPDATE"], "resources": ["inferenceservices"], "scope": "*"}]
            }]
        })
    }

    #[test]
    fn kyverno_webhooks_for_isvcs_are_found_by_name_and_rules() {
        let config: ValidatingWebhookConfiguration =
            fixtures::from(kyverno_webhook_configuration());
        assert_eq!(
            kyverno_isvc_webhooks(std::slice::from_ref(&config)).len(),
            1
        );
        let mut deployments_only = kyverno_webhook_configuration();
        deployments_only["webhooks"][0]["rules"][0]["resources"] = json!(["deployments"]);
        let config: ValidatingWebhookConfiguration = fixtures::from(deployments_only);
        assert!(kyverno_isvc_webhooks(&[config]).is_empty());
        // Fail-open: with Kyverno down the API server admits anyway, so it cannot prove anything.
        let mut fail_open = kyverno_webhook_configuration();
        fail_open["webhooks"][0]["failurePolicy"] = json!("Ignore");
        let config: ValidatingWebhookConfiguration = fixtures::from(fail_open);
        assert!(kyverno_isvc_webhooks(&[config]).is_empty());
    }

    #[test]
    fn c1_fails_when_admitted_while_kyvernos_webhook_is_not_registered() {
        // A policy reporting Ready proves nothing when no webhook sends requests to Kyverno.
        let mut observation = admission(Ok(()));
        observation.kyverno_webhooks.clear();
        let outcome = evaluate_scaffold_compliant(&observation);
        assert_eq!(
            diagnosis(&outcome).code,
            Some(FailureCode::KyvernoWebhooksNotRegistered)
        );
        assert_eq!(outcome.verdict(), Verdict::Fail);
        assert!(
            outcome.summary.contains("no Kyverno webhook"),
            "{}",
            outcome.summary
        );
        assert!(diagnosis(&outcome)
            .next_command
            .contains("kyverno-resource-validating-webhook-cfg"));
    }

    fn admission(dry_run: Result<(), String>) -> ScaffoldAdmission {
        ScaffoldAdmission {
            isvc_name: "nscheck-c1-1a2b".into(),
            namespace: "models".into(),
            policies: live_policies(),
            kyverno_webhooks: vec![format!(
                "vpol.validate.kyverno.svc-fail-finegrained-{ISVC_LABEL_POLICY}"
            )],
            dry_run,
            control: Err(label_denial()),
            elapsed: Duration::from_millis(85),
        }
    }

    /// Kyverno's denial of the scaffold without its cost-center label.
    fn label_denial() -> String {
        fixtures::vpol_denial(
            ISVC_LABEL_POLICY,
            "InferenceServices must carry kebab-case owner and cost-center labels",
        )
    }

    #[test]
    fn c1_fails_when_the_negative_control_is_admitted_too() {
        let mut observation = admission(Ok(()));
        observation.control = Ok(());
        let outcome = evaluate_scaffold_compliant(&observation);
        assert_eq!(outcome.verdict(), Verdict::Fail, "{outcome:?}");
        assert!(
            outcome
                .summary
                .contains("admitted without any policy evaluating it"),
            "{}",
            outcome.summary
        );
        let d = diagnosis(&outcome);
        assert!(
            d.observed
                .contains("without its cost-center label was admitted"),
            "{d:?}"
        );
        assert!(
            d.likely_cause.contains("does not deny at admission"),
            "{d:?}"
        );

        observation.control = Err("admission webhook \"validation.webhook.serving.knative.dev\" denied the request: bad field".into());
        let outcome = evaluate_scaffold_compliant(&observation);
        assert_eq!(outcome.verdict(), Verdict::Fail, "{outcome:?}");
        assert!(
            diagnosis(&outcome)
                .observed
                .contains(&format!("not by {ISVC_LABEL_POLICY}")),
            "{outcome:?}"
        );
    }

    #[test]
    fn the_negative_control_is_the_scaffold_without_its_cost_center_label() {
        let isvc = json!({"metadata": {"name": "m", "labels": {"owner": "a", "cost-center": "b"}}});
        let control = without_cost_center(&isvc);
        assert_eq!(control["metadata"]["labels"], json!({"owner": "a"}));
        assert_eq!(
            isvc["metadata"]["labels"]["cost-center"], "b",
            "the scaffold is untouched"
        );
    }

    #[test]
    fn c1_passes_when_live_policies_admit_the_scaffold() {
        let outcome = evaluate_scaffold_compliant(&admission(Ok(())));
        assert_eq!(outcome.verdict(), Verdict::Pass, "{outcome:?}");
        assert!(
            outcome.summary.contains("1 live policy"),
            "{}",
            outcome.summary
        );
    }

    #[test]
    fn c1_fails_on_a_kyverno_denial_naming_the_policy() {
        // Denial text: kyverno pkg/webhooks/resource/vpol/handler.go ("Policy %s failed: %s").
        let message = format!("admission webhook \"vpol.validate.kyverno.svc-fail-finegrained-{ISVC_LABEL_POLICY}\" denied the request: Policy {ISVC_LABEL_POLICY} failed: InferenceServices must carry kebab-case owner and cost-center labels");
        let outcome = evaluate_scaffold_compliant(&admission(Err(message)));
        assert_eq!(outcome.verdict(), Verdict::Fail);
        assert!(
            outcome.summary.contains(ISVC_LABEL_POLICY),
            "{}",
            outcome.summary
        );
        assert!(diagnosis(&outcome)
            .likely_cause
            .contains("scaffold and the policy disagree"));
    }

    #[test]
    fn c1_fails_on_an_unavailable_webhook_as_infrastructure_not_compliance() {
        // k8s.io/apiserver webhook errors: `failed calling webhook %q: %v`.
        let message = r#"Internal error occurred: failed calling webhook "inferenceservice.kserve-webhook-server.validator": failed to call webhook: Post "https://kserve-webhook-server-service.kserve.svc:443/validate-serving-kserve-io-v1beta1-inferenceservice?timeout=10s": no endpoints available for service "kserve-webhook-server-service""#;
        let outcome = evaluate_scaffold_compliant(&admission(Err(message.into())));
        assert_eq!(outcome.verdict(), Verdict::Fail);
        assert!(
            outcome
                .summary
                .contains("infrastructure failure, not a compliance verdict"),
            "{}",
            outcome.summary
        );
        assert!(!outcome.summary.contains("denied"), "{}", outcome.summary);
        let d = diagnosis(&outcome);
        assert_eq!(
            diagnosis(&outcome).code,
            Some(FailureCode::KserveWebhookNoEndpoints)
        );
        assert!(
            d.next_command
                .contains("kubernetes.io/service-name=kserve-webhook-server-service"),
            "{}",
            d.next_command
        );
    }

    #[test]
    fn c1_fails_when_admitted_without_the_label_policy_live() {
        let mut observation = admission(Ok(()));
        observation.policies = vec![policy(ISVC_LABEL_POLICY, "inferenceservices", false)];
        let outcome = evaluate_scaffold_compliant(&observation);
        assert_eq!(outcome.verdict(), Verdict::Fail);
        assert!(
            outcome.summary.contains("proves nothing"),
            "{}",
            outcome.summary
        );
        observation.policies = vec![];
        assert_eq!(
            evaluate_scaffold_compliant(&observation).verdict(),
            Verdict::Fail
        );
    }

    #[test]
    fn c1_fails_on_a_knative_or_kserve_validation_denial_without_blaming_a_policy() {
        let message = r#"admission webhook "inferenceservice.kserve-webhook-server.validator" denied the request: the InferenceService "nscheck-c1-1a2b" is invalid: spec.predictor: Required value"#;
        let outcome = evaluate_scaffold_compliant(&admission(Err(message.into())));
        assert_eq!(outcome.verdict(), Verdict::Fail);
        assert!(
            outcome.summary.contains("not a platform policy"),
            "{}",
            outcome.summary
        );
    }

    #[test]
    fn c1_fails_when_a_webhook_refuses_dry_runs_and_names_it() {
        // k8s.io/apiserver pkg/admission/plugin/webhook: "admission webhook %q does not support dry run".
        let message = r#"admission webhook "legacy.example.com" does not support dry run"#;
        let outcome = evaluate_scaffold_compliant(&admission(Err(message.into())));
        assert_eq!(outcome.verdict(), Verdict::Fail);
        assert!(
            outcome.summary.contains("legacy.example.com"),
            "{}",
            outcome.summary
        );
        assert!(diagnosis(&outcome).likely_cause.contains("sideEffects"));
    }
}
