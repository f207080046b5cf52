//! What D3 and D4 share: a real probe object (not a dry-run: a dry-run is refused outright by any
//! matching webhook with side effects, which would make the signal ambiguous) that exactly one
//! policy must deny. The create is retried while the webhook could not be called (Kyverno's
//! maintainers advise a retry after install, kyverno #7294); the probe is then removed and
//! confirmed absent, and the verdict passes only for a Kyverno denial naming the expected
//! policy with the probe gone. A webhook that could not be called, a denial by another policy
//! or webhook, or an admitted probe (deleted again at once) is a FAIL.

use std::time::{Duration, Instant};

use serde_json::Value;

use crate::checks::env::CheckRun;
use crate::checks::kit::admission::{self, AdmissionOutcome};
use crate::checks::kit::diagnose;
use crate::checks::kit::probe::{self, ProbeObject};
use crate::checks::kit::wait::Wait;
use crate::checks::outcome::{Diagnosis, Outcome};
use crate::failures::FailureCode;
use crate::observe::{self, Kind};
use crate::platform::kyverno::NAMESPACE as KYVERNO_NAMESPACE;

/// How many times a denial probe is created when the webhook could not be called; a persistent
/// failure still FAILs.
pub const ATTEMPTS: u32 = 3;
const RETRY_PAUSE: Duration = Duration::from_secs(2);

/// A probe object that exactly one policy must refuse.
#[derive(Debug, Clone)]
pub struct DenialProbe {
    pub kind: Kind,
    pub namespace: String,
    pub name: String,
    pub manifest: Value,
    /// The policy that must deny it.
    pub expected_policy: &'static str,
    /// What is wrong with it, for messages ("has no cost-center label").
    pub violation: &'static str,
}

impl DenialProbe {
    /// The probe as the kit creates and removes it.
    pub fn object(&self) -> ProbeObject {
        ProbeObject {
            kind: self.kind,
            namespace: self.namespace.clone(),
            name: self.name.clone(),
            manifest: self.manifest.clone(),
        }
    }

    fn label(&self) -> String {
        self.object().label()
    }
}

/// The API server's answer to the probe's create.
#[derive(Debug, Clone, PartialEq)]
pub enum AdmissionAttempt {
    Admitted,
    Rejected { code: Option<u16>, message: String },
}

impl AdmissionAttempt {
    fn webhook_unavailable(&self) -> bool {
        matches!(self, AdmissionAttempt::Rejected { message, .. }
            if matches!(admission::classify(message), AdmissionOutcome::WebhookUnavailable { .. }))
    }
}

/// What a denial probe observed.
#[derive(Debug, Clone)]
pub struct DenialObservation {
    pub attempt: AdmissionAttempt,
    /// Round trip of the last create call.
    pub elapsed: Duration,
    pub attempts: u32,
    /// Whether the probe object is gone after the check: `Ok(true)` confirmed absent,
    /// `Ok(false)` still there, `Err` when absence could not be confirmed.
    pub gone_afterwards: Result<bool, String>,
}

/// Creates the probe (retrying while the webhook cannot be called), removes it, and judges.
pub async fn run_denial_probe(run: &CheckRun<'_>, probe: &DenialProbe) -> Outcome {
    let object = probe.object();
    let object = &object;
    let created = Wait::new(format!("an admission decision on {}", probe.label()))
        .every(RETRY_PAUSE)
        .at_most(ATTEMPTS)
        .last_observation(
            run,
            |attempt| async move {
                run.saw(format!(
                    "creating probe {} ({}), attempt {}",
                    object.label(),
                    probe.violation,
                    attempt.number
                ));
                let started = Instant::now();
                let attempt = match probe::create_tracked(run, object).await {
                    Ok(_) => AdmissionAttempt::Admitted,
                    Err(e) => AdmissionAttempt::Rejected {
                        code: observe::error_code(&e),
                        message: observe::error_message(&e),
                    },
                };
                Ok::<_, Outcome>((attempt, started.elapsed()))
            },
            |(attempt, _)| !attempt.webhook_unavailable(),
        )
        .await;
    let ((attempt, elapsed), attempts) = match created {
        Ok(observed) => observed,
        Err(unreadable) => return unreadable,
    };
    let gone_afterwards = probe::remove(run, object).await;
    evaluate_denial(
        probe,
        &DenialObservation {
            attempt,
            elapsed,
            attempts,
            gone_afterwards,
        },
    )
}

/// The likely cause and next command when a webhook could not be called, by whose it is.
fn unavailable_webhook_diagnosis(webhook: &str, service: Option<&str>) -> (String, String) {
    let known = crate::platform::service_for_webhook(webhook).map(|s| s.path());
    let (namespace, name) = match known.as_deref().and_then(|s| s.split_once('/')) {
        Some((ns, n)) => (ns.to_string(), n.to_string()),
        None => (
            "<namespace>".to_string(),
            service.unwrap_or("<service>").to_string(),
        ),
    };
    let cause = if webhook.starts_with("inferenceservice.kserve-webhook-server") {
        "KServe's webhook has no ready endpoints: the kserve-controller-manager pod is not fully ready (e.g. 1/2 containers with kube-rbac-proxy in ImagePullBackOff); this is an infrastructure failure, not a policy decision".to_string()
    } else if webhook.contains("kyverno.svc") {
        "Kyverno's admission controller is not serving (kyverno-svc has no ready endpoints); its Fail webhooks reject every matching create".to_string()
    } else if known.is_none() {
        "a webhook configuration points at a Service that no longer serves it (stale webhook)"
            .to_string()
    } else {
        format!("the {name} webhook Service has no ready endpoints, so admission cannot complete")
    };
    let command =
        format!("kubectl -n {namespace} get endpointslices -l kubernetes.io/service-name={name}");
    (cause, command)
}

/// D3/D4's verdict: PASS only for a Kyverno denial naming the expected policy, with the probe
/// confirmed absent afterwards. A webhook that could not be called, a denial by another policy
/// or webhook, an admitted object, or an unconfirmed cleanup all FAIL.
pub fn evaluate_denial(probe: &DenialProbe, obs: &DenialObservation) -> Outcome {
    let what = probe.label();
    let policy = probe.expected_policy;
    let describe_policy = format!("kubectl get validatingpolicy {policy} -o yaml");
    let leftover = match &obs.gone_afterwards {
        Ok(true) => None,
        Ok(false) => Some(format!("{what} still exists after deletion")),
        Err(e) => Some(format!("could not confirm {what} is gone: {e}")),
    };
    match &obs.attempt {
        AdmissionAttempt::Admitted => Outcome::fail(
            format!("{what} ({}) was ADMITTED", probe.violation),
            Diagnosis::new(
                format!(
                    "the API server created {what} although it {}; it was deleted again{}",
                    probe.violation,
                    leftover.as_deref().map(|l| format!(" — but {l}")).unwrap_or_default()
                ),
                format!("policy {policy} is not enforcing here: Audit instead of Deny, not Ready, not matching the namespace {}, or Kyverno failing open (webhook failurePolicy Ignore while down)", probe.namespace),
                describe_policy,
            ),
        ),
        AdmissionAttempt::Rejected { code, message } => match admission::classify(message) {
            AdmissionOutcome::KyvernoDenial {
                webhook, policies, ..
            } if policies.iter().any(|p| p == policy) => {
                if let Some(leftover) = leftover {
                    return Outcome::fail(
                        format!("{what} was denied by {policy}, but its absence is not confirmed"),
                        Diagnosis::new(
                            leftover,
                            "the object exists under the probe's name anyway (created by someone else?) or the API server could not be read",
                            format!("kubectl -n {} get {} {}", probe.namespace, probe.kind.plural, probe.name),
                        ),
                    );
                }
                let others: Vec<&String> = policies.iter().filter(|p| *p != policy).collect();
                let also = if others.is_empty() {
                    String::new()
                } else {
                    format!(
                        " (also named: {})",
                        others.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(", ")
                    )
                };
                let ms = obs.elapsed.as_secs_f64() * 1000.0;
                Outcome::pass(format!(
                    "{} {} denied by Kyverno policy {policy} via {webhook} in {ms:.0} ms{also}; absent afterwards",
                    probe.kind.kind, probe.violation
                ))
                .with_figure("admission round trip", ms, "ms")
                .with_figure("attempts", obs.attempts as f64, "count")
            }
            AdmissionOutcome::KyvernoDenial { policies, .. } => Outcome::fail(
                format!("{what} denied by {}, not by {policy}", policies.join(", ")),
                Diagnosis::new(
                    format!("Kyverno denied the probe naming {} — {}", policies.join(", "), message),
                    format!("the probe was meant to violate only {policy}; another policy matched it, or {policy} is missing from the denial because it is not enforcing"),
                    describe_policy,
                ),
            ),
            AdmissionOutcome::WebhookUnavailable {
                webhook,
                service,
                cause,
            } => {
                let (likely, command) = unavailable_webhook_diagnosis(&webhook, service.as_deref());
                Outcome::fail(
                    format!("{what}: webhook {webhook} could not be called ({cause}) — not a policy denial"),
                    Diagnosis::new(
                        format!("after {} attempt(s): {message}", obs.attempts),
                        likely,
                        command,
                    )
                    .with_code_opt(diagnose::webhook_unavailable_code(&webhook)),
                )
            }
            AdmissionOutcome::AdmissionPolicyDenial { policy: vap, .. } => Outcome::fail(
                format!("{what} denied by ValidatingAdmissionPolicy {vap}, not by Kyverno's webhook"),
                Diagnosis::new(
                    message.clone(),
                    "enforcement was handed to a Kubernetes ValidatingAdmissionPolicy (spec.autogen.validatingAdmissionPolicy.enabled); the platform expects Kyverno's own webhook to deny",
                    "kubectl get validatingadmissionpolicies,validatingadmissionpolicybindings",
                )
                .with_code(FailureCode::EnforcementByAdmissionPolicy),
            ),
            AdmissionOutcome::OtherDenial { webhook, .. } => {
                let (cause, command) = if webhook.contains("kyverno.svc") {
                    if message.contains(&format!("Policy {policy} error")) {
                        (format!("policy {policy} errored while evaluating (a CEL runtime error), so the request was refused without a validation verdict"), describe_policy)
                    } else {
                        ("Kyverno's webhook refused the request without naming a policy verdict".to_string(), format!("kubectl -n {KYVERNO_NAMESPACE} logs deploy/kyverno-admission-controller --tail=50"))
                    }
                } else {
                    (format!("webhook {webhook} (not Kyverno) rejected the probe's spec before any policy verdict"), "kubectl get validatingwebhookconfigurations".to_string())
                };
                Outcome::fail(
                    format!("{what} denied by webhook {webhook}, not by Kyverno policy {policy}"),
                    Diagnosis::new(message.clone(), cause, command),
                )
            }
            AdmissionOutcome::OtherError { message } => {
                let (cause, command) = if *code == Some(404) || message.contains("not found") {
                    (format!("the model namespace {} or the {} API does not exist", probe.namespace, probe.kind.kind), format!("kubectl get namespace {}", probe.namespace))
                } else if message.contains("exceeded quota") {
                    (format!("the ResourceQuota of {} refused the probe before policy evaluation", probe.namespace), format!("kubectl -n {} describe resourcequota", probe.namespace))
                } else if *code == Some(403) {
                    ("this identity may not create the probe (RBAC)".to_string(), format!("kubectl auth can-i create {} -n {}", probe.kind.plural, probe.namespace))
                } else {
                    ("the API server refused the probe for a reason other than admission".to_string(), "neuroscale doctor".to_string())
                };
                Outcome::fail(
                    format!("{what} refused, but not by a policy"),
                    Diagnosis::new(message, cause, command),
                )
            }
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checks::fixtures::{self as fx, diagnosis};
    use crate::checks::guardrails::deny_root_container::root_deployment_probe;
    use crate::checks::guardrails::deny_unlabeled_isvc::unlabeled_isvc_probe;
    use crate::checks::guardrails::{COST_CENTER_LABEL, LABELS_POLICY, OWNER_LABEL, ROOT_POLICY};
    use crate::checks::outcome::Verdict;

    fn d3_probe() -> DenialProbe {
        unlabeled_isvc_probe("models", "neuroscale-d3-abc")
    }

    fn rejected(message: String) -> DenialObservation {
        DenialObservation {
            attempt: AdmissionAttempt::Rejected {
                code: Some(400),
                message,
            },
            elapsed: Duration::from_millis(120),
            attempts: 1,
            gone_afterwards: Ok(true),
        }
    }

    #[test]
    fn d3_passes_on_a_kyverno_denial_naming_the_label_policy() {
        let obs = rejected(fx::vpol_denial(
            LABELS_POLICY,
            "InferenceServices must carry owner and cost-center labels",
        ));
        let outcome = evaluate_denial(&d3_probe(), &obs);
        assert_eq!(outcome.verdict(), Verdict::Pass, "{outcome:?}");
        assert!(outcome.summary.contains(LABELS_POLICY));
        assert_eq!(outcome.figures[0].value, 120.0);
    }

    #[test]
    fn d3_fails_when_kserves_webhook_has_no_endpoints() {
        let mut obs = rejected(fx::kserve_no_endpoints());
        obs.code_500();
        obs.attempts = 3;
        let outcome = evaluate_denial(&d3_probe(), &obs);
        assert_eq!(outcome.verdict(), Verdict::Fail);
        assert!(
            outcome.summary.contains("not a policy denial"),
            "{}",
            outcome.summary
        );
        let d = diagnosis(&outcome);
        assert_eq!(
            diagnosis(&outcome).code,
            Some(FailureCode::KserveWebhookNoEndpoints)
        );
        assert!(d.likely_cause.contains("KServe"), "{d:?}");
        assert!(d.next_command.contains("-n kserve"), "{d:?}");
        assert!(
            d.next_command.contains("kserve-webhook-server-service"),
            "{d:?}"
        );
    }

    #[test]
    fn d3_fails_when_kyvernos_own_webhook_is_unreachable() {
        let outcome = evaluate_denial(&d3_probe(), &rejected(fx::kyverno_no_endpoints()));
        assert_eq!(outcome.verdict(), Verdict::Fail);
        let d = diagnosis(&outcome);
        assert_eq!(
            d.code, None,
            "Kyverno is a known component, not a stale webhook"
        );
        assert!(d.likely_cause.contains("kyverno-svc"), "{d:?}");
        assert!(d.next_command.contains("-n kyverno"), "{d:?}");
    }

    #[test]
    fn d3_fails_when_a_different_policy_denies() {
        let obs = rejected(fx::vpol_denial(
            "disallow-latest-image-tag",
            "images must be pinned",
        ));
        let outcome = evaluate_denial(&d3_probe(), &obs);
        assert_eq!(outcome.verdict(), Verdict::Fail);
        assert!(outcome.summary.contains(
            "denied by disallow-latest-image-tag, not by require-standard-labels-inferenceservice"
        ));
    }

    #[test]
    fn d3_fails_when_the_probe_was_admitted() {
        let obs = DenialObservation {
            attempt: AdmissionAttempt::Admitted,
            elapsed: Duration::from_millis(80),
            attempts: 1,
            gone_afterwards: Ok(true),
        };
        let outcome = evaluate_denial(&d3_probe(), &obs);
        assert_eq!(outcome.verdict(), Verdict::Fail);
        assert!(outcome.summary.contains("ADMITTED"));
        let d = diagnosis(&outcome);
        assert!(d.observed.contains("deleted again"), "{d:?}");
        assert!(d.next_command.contains(LABELS_POLICY));
    }

    #[test]
    fn d3_fails_on_a_denial_whose_absence_is_not_confirmed() {
        let mut obs = rejected(fx::vpol_denial(LABELS_POLICY, "labels required"));
        obs.gone_afterwards = Ok(false);
        let outcome = evaluate_denial(&d3_probe(), &obs);
        assert_eq!(outcome.verdict(), Verdict::Fail);
        assert!(diagnosis(&outcome).observed.contains("still exists"));
    }

    #[test]
    fn d3_a_denial_by_a_validating_admission_policy_is_named_by_its_code() {
        let outcome = evaluate_denial(&d3_probe(), &rejected(fx::vap_denial(LABELS_POLICY)));
        assert_eq!(outcome.verdict(), Verdict::Fail);
        assert_eq!(
            diagnosis(&outcome).code,
            Some(FailureCode::EnforcementByAdmissionPolicy)
        );
    }

    #[test]
    fn d3_fails_on_other_webhooks_vaps_and_policy_errors() {
        for (message, expect) in [
            (fx::kserve_validation_denial(), "not Kyverno"),
            (fx::vap_denial(LABELS_POLICY), "ValidatingAdmissionPolicy"),
            (fx::vpol_error(LABELS_POLICY), "errored"),
        ] {
            let outcome = evaluate_denial(&d3_probe(), &rejected(message));
            assert_eq!(outcome.verdict(), Verdict::Fail);
            let d = diagnosis(&outcome);
            assert!(
                d.likely_cause.contains(expect) || outcome.summary.contains(expect),
                "{expect}: {outcome:?}"
            );
        }
    }

    #[test]
    fn d4_passes_on_the_root_policy_and_fails_on_the_label_policy() {
        let probe = root_deployment_probe("models", "neuroscale-d4-abc");
        let ok = evaluate_denial(
            &probe,
            &rejected(fx::vpol_denial(
                ROOT_POLICY,
                "containers must set runAsNonRoot: true",
            )),
        );
        assert_eq!(ok.verdict(), Verdict::Pass, "{ok:?}");
        let wrong = evaluate_denial(
            &probe,
            &rejected(fx::vpol_denial(
                "require-standard-labels-deployment",
                "owner and cost-center labels required",
            )),
        );
        assert_eq!(wrong.verdict(), Verdict::Fail);
        assert!(diagnosis(&wrong).likely_cause.contains(ROOT_POLICY));
    }

    #[test]
    fn the_policies_rules_deny_each_probe_for_its_own_policy_only() {
        // gitops::conformance states the five policies' rules in Rust (tested there against
        // their CEL): each probe must break exactly the policy its check expects.
        let denied_by = |probe: &DenialProbe| -> Vec<&'static str> {
            let mut policies: Vec<&'static str> =
                crate::gitops::conformance::violations(&probe.manifest)
                    .into_iter()
                    .map(|v| v.policy)
                    .collect();
            policies.dedup();
            policies
        };
        assert_eq!(
            denied_by(&unlabeled_isvc_probe("models", "p")),
            [LABELS_POLICY]
        );
        assert_eq!(
            denied_by(&root_deployment_probe("models", "p")),
            [ROOT_POLICY]
        );
    }

    #[test]
    fn the_probes_violate_only_their_own_policy() {
        let isvc = unlabeled_isvc_probe("models", "p");
        let labels = isvc.manifest.pointer("/metadata/labels").unwrap();
        assert!(labels.get(OWNER_LABEL).is_some());
        assert!(labels.get(COST_CENTER_LABEL).is_none());
        let deploy = root_deployment_probe("models", "p");
        let container = deploy
            .manifest
            .pointer("/spec/template/spec/containers/0")
            .unwrap();
        assert!(container.get("securityContext").is_none());
        assert!(container.pointer("/resources/limits/cpu").is_some());
        assert!(!container["image"].as_str().unwrap().ends_with(":latest"));
        assert!(deploy
            .manifest
            .pointer("/metadata/labels/cost-center")
            .is_some());
        assert!(deploy
            .manifest
            .pointer("/spec/template/spec/securityContext")
            .is_none());
    }

    impl DenialObservation {
        fn code_500(&mut self) {
            if let AdmissionAttempt::Rejected { code, .. } = &mut self.attempt {
                *code = Some(500);
            }
        }
    }
}
