//! D2 policies-enforced: the five platform ValidatingPolicies exist and each is enforcing:
//! Ready with its webhook configured (`status.conditionStatus`, not the deprecated
//! `status.ready`), evaluated at admission, `validationActions` including Deny (Audit or Warn
//! alone enforce nothing), and `failurePolicy` not Ignore (which admits everything while Kyverno
//! is down).

use crate::checks::env::{CheckFuture, CheckRun};
use crate::checks::outcome::{Diagnosis, Outcome};
use crate::failures::FailureCode;
use crate::observe;
use crate::platform::views::{self, ValidatingPolicy, ValidatingPolicyExt};
use crate::readiness;

/// The five platform ValidatingPolicies (`manifests/platform/policies/`).
pub const POLICY_NAMES: [&str; 5] = crate::gitops::POLICY_NAMES;

pub fn check<'a>(run: &'a CheckRun<'a>) -> CheckFuture<'a> {
    Box::pin(async move {
        run.saw("listing validatingpolicies.policies.kyverno.io");
        match observe::list_views::<ValidatingPolicy>(&run.env.client, None).await {
            Ok(policies) => evaluate_policies(&policies, &POLICY_NAMES),
            Err(e) if observe::error_code(&e) == Some(404) => Outcome::fail(
                "the ValidatingPolicy API is not served",
                Diagnosis::new(
                    format!(
                        "listing validatingpolicies.policies.kyverno.io/v1: {}",
                        observe::error_message(&e)
                    ),
                    "Kyverno's CRDs are not installed, or the installed Kyverno predates policies.kyverno.io/v1 (pin v1.19.0)",
                    "kubectl get crd validatingpolicies.policies.kyverno.io",
                ),
            ),
            Err(e) => Outcome::api_error("validatingpolicies", &e),
        }
    })
}

/// D2's verdict over the live ValidatingPolicies: each expected one exists, is Ready with its
/// webhook configured (`status.conditionStatus`, not the deprecated `status.ready`), evaluates at
/// admission, and its `validationActions` include Deny (Audit or Warn alone enforce nothing).
pub fn evaluate_policies(policies: &[ValidatingPolicy], expected: &[&str]) -> Outcome {
    let mut problems: Vec<(String, &'static str, String, Option<FailureCode>)> = Vec::new();
    let mut enforcing = 0;
    for name in expected {
        let Some(policy) = policies
            .iter()
            .find(|p| p.metadata.name.as_deref() == Some(*name))
        else {
            problems.push((
                format!("policy {name} does not exist"),
                "the guardrails Application has not synced this policy (or it is written as a deprecated ClusterPolicy)",
                "kubectl get validatingpolicies".to_string(), None,));
            continue;
        };
        let describe = format!("kubectl get validatingpolicy {name} -o yaml");
        let actions = policy.validation_actions();
        let admission_enabled = policy.admission_enabled();
        let ready = readiness::validating_policy(policy);
        let webhook_configured = views::condition(policy.status_conditions(), "WebhookConfigured")
            .map(|c| {
                (
                    if c.status.is_empty() {
                        "Unknown".to_string()
                    } else {
                        c.status.clone()
                    },
                    c.message.clone().unwrap_or_default(),
                )
            });
        let before = problems.len();
        if !actions.iter().any(|a| a == "Deny") {
            let shown = if actions.is_empty() {
                "not set".to_string()
            } else {
                format!("[{}]", actions.join(", "))
            };
            problems.push((
                format!("policy {name} validationActions {shown}: reports but does not deny"),
                "the policy is in Audit/Warn mode; violations are recorded and admitted (guardrails that exist are not guardrails that enforce)",
                describe.clone(), Some(FailureCode::PolicyInAuditMode),));
        }
        // ValidatingPolicySpec.failurePolicy (kyverno api/policies.kyverno.io/v1, Fail by
        // default): Ignore admits every request while Kyverno cannot be reached.
        if policy.spec.failure_policy.as_deref() == Some("Ignore") {
            problems.push((
                format!("policy {name} has failurePolicy Ignore: it fails open"),
                "while Kyverno's admission controller is down or slow, the API server admits what this policy would deny",
                describe.clone(), Some(FailureCode::PolicyFailOpen),));
        }
        if !admission_enabled {
            problems.push((
                format!("policy {name} has spec.evaluation.admission.enabled=false"),
                "the policy only runs in background scans, never at admission",
                describe.clone(),
                None,
            ));
        }
        if !ready.ready {
            problems.push((
                ready.observed.clone(),
                "Kyverno has not configured this policy in its webhook (admission controller not healthy, or the policy failed to compile)",
                describe.clone(), ready.observed.contains("RBACPermissionsGranted").then_some(FailureCode::KyvernoPolicyRbac),));
        } else {
            match &webhook_configured {
                Some((status, _)) if status == "True" => {}
                Some((status, message)) => problems.push((
                    format!("policy {name} WebhookConfigured={status}: {message}"),
                    "Kyverno has not configured this policy in its webhook",
                    describe.clone(),
                    None,
                )),
                None if admission_enabled => problems.push((
                    format!("policy {name} reports ready without a WebhookConfigured condition"),
                    "the policy is not wired into Kyverno's admission webhook",
                    describe.clone(),
                    None,
                )),
                None => {}
            }
        }
        if problems.len() == before {
            enforcing += 1;
        }
    }
    let total = expected.len();
    if problems.is_empty() {
        return Outcome::pass(format!(
            "{enforcing}/{total} policies Ready with their webhook configured and validationActions [Deny]"
        ))
        .with_figure("policies enforcing", enforcing as f64, "count");
    }
    let observed: Vec<String> = problems.iter().map(|(o, _, _, _)| o.clone()).collect();
    let (_, cause, command, code) = &problems[0];
    Outcome::fail(
        format!("{enforcing}/{total} policies enforcing"),
        Diagnosis::new(observed.join("; "), *cause, command.clone()).with_code_opt(*code),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checks::fixtures::{self as fx, diagnosis};
    use crate::checks::guardrails::LABELS_POLICY;
    use crate::checks::outcome::Verdict;
    use serde_json::{json, Value};

    fn fx_views(policies: &[Value]) -> Vec<ValidatingPolicy> {
        policies.iter().cloned().map(fx::policy).collect()
    }

    fn five_policies() -> Vec<Value> {
        POLICY_NAMES
            .iter()
            .map(|n| fx::validating_policy(n, &["Deny"], true))
            .collect()
    }

    #[test]
    fn d2_passes_when_all_five_are_ready_and_deny() {
        let outcome = evaluate_policies(&fx_views(&five_policies()), &POLICY_NAMES);
        assert_eq!(outcome.verdict(), Verdict::Pass, "{outcome:?}");
        assert!(outcome.summary.starts_with("5/5"), "{}", outcome.summary);
    }

    #[test]
    fn d2_fails_on_an_audit_policy() {
        let mut policies = five_policies();
        policies[4] = fx::validating_policy("disallow-root-containers", &["Audit"], true);
        let outcome = evaluate_policies(&fx_views(&policies), &POLICY_NAMES);
        assert_eq!(outcome.verdict(), Verdict::Fail);
        assert!(outcome.summary.starts_with("4/5"));
        let d = diagnosis(&outcome);
        assert_eq!(
            diagnosis(&outcome).code,
            Some(FailureCode::PolicyInAuditMode)
        );
        assert!(
            d.observed
                .contains("disallow-root-containers validationActions [Audit]"),
            "{d:?}"
        );
        assert!(d.likely_cause.contains("Audit"));
    }

    #[test]
    fn d2_fails_on_a_fail_open_policy() {
        let mut policies = five_policies();
        policies[4]["spec"]["failurePolicy"] = serde_json::json!("Ignore");
        let outcome = evaluate_policies(&fx_views(&policies), &POLICY_NAMES);
        assert_eq!(diagnosis(&outcome).code, Some(FailureCode::PolicyFailOpen));
        assert_eq!(outcome.verdict(), Verdict::Fail);
        assert!(outcome.summary.starts_with("4/5"), "{}", outcome.summary);
        assert!(diagnosis(&outcome)
            .observed
            .contains("failurePolicy Ignore"));
        policies[4]["spec"]["failurePolicy"] = serde_json::json!("Fail");
        assert_eq!(
            evaluate_policies(&fx_views(&policies), &POLICY_NAMES).verdict(),
            Verdict::Pass
        );
    }

    #[test]
    fn d2_names_kyverno_rbac_when_a_policy_lacks_permissions() {
        // Kyverno sets RBACPermissionsGranted=False when its controllers may not read a kind
        // the policy matches (kyverno pkg/controllers/policystatus).
        let mut policies = five_policies();
        policies[0] = fx::validating_policy(LABELS_POLICY, &["Deny"], false);
        policies[0]["status"]["conditionStatus"]["conditions"][0]["status"] = json!("True");
        policies[0]["status"]["conditionStatus"]["conditions"][1]["status"] = json!("False");
        policies[0]["status"]["conditionStatus"]["conditions"][1]["message"] =
            json!("Policy is not ready for reporting, missing permissions: get,list,watch serving.kserve.io/inferenceservices");
        let outcome = evaluate_policies(&fx_views(&policies), &POLICY_NAMES);
        assert_eq!(outcome.verdict(), Verdict::Fail);
        assert!(
            diagnosis(&outcome)
                .observed
                .contains("RBACPermissionsGranted"),
            "{:?}",
            diagnosis(&outcome)
        );
        assert_eq!(
            diagnosis(&outcome).code,
            Some(FailureCode::KyvernoPolicyRbac)
        );
    }

    #[test]
    fn d2_fails_on_a_missing_or_unready_policy() {
        let mut policies = five_policies();
        policies.remove(1);
        policies[0] = fx::validating_policy(LABELS_POLICY, &["Deny"], false);
        let outcome = evaluate_policies(&fx_views(&policies), &POLICY_NAMES);
        assert_eq!(outcome.verdict(), Verdict::Fail);
        let d = diagnosis(&outcome);
        assert!(
            d.observed
                .contains("policy require-standard-labels-inferenceservice not ready"),
            "{d:?}"
        );
        assert!(
            d.observed
                .contains("require-standard-labels-deployment does not exist"),
            "{d:?}"
        );
    }

    #[test]
    fn d2_does_not_trust_the_deprecated_ready_field() {
        let mut policies = five_policies();
        policies[2]["status"] = json!({"ready": true});
        let outcome = evaluate_policies(&fx_views(&policies), &POLICY_NAMES);
        assert_eq!(outcome.verdict(), Verdict::Fail);
        assert!(diagnosis(&outcome).observed.contains(POLICY_NAMES[2]));
    }
}
