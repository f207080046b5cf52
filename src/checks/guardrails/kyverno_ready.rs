//! D1 kyverno-ready: Kyverno's four controllers Available, `kyverno-svc` with ready endpoints,
//! and the webhook configurations Kyverno registers at runtime present, holding webhooks, and
//! pointing at `kyverno-svc` (a configuration from another install is a stale webhook).

use k8s_openapi::api::admissionregistration::v1::{
    MutatingWebhookConfiguration, ValidatingWebhookConfiguration,
};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::Service;
use k8s_openapi::api::discovery::v1::EndpointSlice;
use kube::api::{Api, ListParams};

use crate::checks::env::{CheckFuture, CheckRun};
use crate::checks::kit::diagnose;
use crate::checks::outcome::{Diagnosis, Outcome};
use crate::failures::FailureCode;
use crate::observe;
use crate::platform::kyverno::{
    CONTROLLERS, MUTATING_CONFIGS, NAMESPACE as KYVERNO_NAMESPACE, SERVICE as KYVERNO_SERVICE,
    VALIDATING_CONFIGS,
};
use crate::readiness;

pub fn check<'a>(run: &'a CheckRun<'a>) -> CheckFuture<'a> {
    Box::pin(async move {
        match gather(run).await {
            Ok(observation) => evaluate_kyverno_ready(&observation),
            Err(unreadable) => unreadable,
        }
    })
}

/// What D1 observed.
#[derive(Debug, Clone, Default)]
pub struct KyvernoObservation {
    /// Each expected controller and the Deployment found under that name, if any.
    pub deployments: Vec<(String, Option<Deployment>)>,
    pub service: Option<Service>,
    pub endpoint_slices: Vec<EndpointSlice>,
    pub validating: Vec<ValidatingWebhookConfiguration>,
    pub mutating: Vec<MutatingWebhookConfiguration>,
}

async fn gather(run: &CheckRun<'_>) -> Result<KyvernoObservation, Outcome> {
    let client = &run.env.client;
    let deployments: Api<Deployment> = Api::namespaced(client.clone(), KYVERNO_NAMESPACE);
    let mut observation = KyvernoObservation::default();
    for name in CONTROLLERS {
        run.saw(format!("reading deployment {KYVERNO_NAMESPACE}/{name}"));
        let found = deployments.get_opt(name).await.map_err(|e| {
            Outcome::api_error(&format!("deployment {KYVERNO_NAMESPACE}/{name}"), &e)
        })?;
        observation.deployments.push((name.to_string(), found));
    }
    run.saw(format!(
        "reading service {KYVERNO_NAMESPACE}/{KYVERNO_SERVICE}"
    ));
    let services: Api<Service> = Api::namespaced(client.clone(), KYVERNO_NAMESPACE);
    observation.service = services
        .get_opt(KYVERNO_SERVICE)
        .await
        .map_err(|e| Outcome::api_error("service kyverno-svc", &e))?;
    observation.endpoint_slices =
        observe::endpoint_slices(client, KYVERNO_NAMESPACE, KYVERNO_SERVICE)
            .await
            .map_err(|e| Outcome::api_error("endpointslices of kyverno-svc", &e))?;
    run.saw("reading webhook configurations");
    observation.validating = Api::<ValidatingWebhookConfiguration>::all(client.clone())
        .list(&ListParams::default())
        .await
        .map_err(|e| Outcome::api_error("validatingwebhookconfigurations", &e))?
        .items;
    observation.mutating = Api::<MutatingWebhookConfiguration>::all(client.clone())
        .list(&ListParams::default())
        .await
        .map_err(|e| Outcome::api_error("mutatingwebhookconfigurations", &e))?
        .items;
    Ok(observation)
}

/// `(webhook name, what it calls)` for each webhook of one configuration.
type WebhookTargets = Vec<(String, String)>;

/// A webhook's Service as `namespace/name`, or `url <url>` when it calls a URL.
fn webhook_target(
    config: &k8s_openapi::api::admissionregistration::v1::WebhookClientConfig,
) -> String {
    match (&config.service, &config.url) {
        (Some(s), _) => format!("{}/{}", s.namespace, s.name),
        (None, Some(url)) => format!("url {url}"),
        (None, None) => "nothing".to_string(),
    }
}

/// D1's verdict: every controller Available, kyverno-svc with ready endpoints, and Kyverno's
/// webhook configurations registered and pointing at kyverno-svc.
pub fn evaluate_kyverno_ready(obs: &KyvernoObservation) -> Outcome {
    let kyverno_service = format!("{KYVERNO_NAMESPACE}/{KYVERNO_SERVICE}");
    let mut problems: Vec<(String, &'static str, String, Option<FailureCode>)> = Vec::new();

    let mut ready_controllers = 0;
    for (name, deployment) in &obs.deployments {
        match deployment {
            None => problems.push((
                format!("deployment {KYVERNO_NAMESPACE}/{name} does not exist"),
                "Kyverno is not installed, or its ArgoCD Application has not synced",
                format!("kubectl -n {KYVERNO_NAMESPACE} get deploy,pods"),
                None,
            )),
            Some(d) => {
                let r = readiness::deployment(d);
                if r.ready {
                    ready_controllers += 1;
                } else {
                    problems.push((
                        format!("deployment {KYVERNO_NAMESPACE}/{name}: {}", r.observed),
                        "a Kyverno controller is not Available (image pull, crash loop, or still starting); while the admission controller is down its Fail webhooks block admission cluster-wide",
                        format!("kubectl -n {KYVERNO_NAMESPACE} describe deployment {name}"), diagnose::container_trouble_code(&r.observed),));
                }
            }
        }
    }

    let endpoints = readiness::ready_endpoint_count(&obs.endpoint_slices);
    if obs.service.is_none() {
        problems.push((
            format!("service {kyverno_service} does not exist"),
            "Kyverno's admission Service is missing, so every Kyverno webhook call fails",
            format!("kubectl -n {KYVERNO_NAMESPACE} get svc"),
            None,
        ));
    } else if endpoints == 0 {
        problems.push((
            format!("service {kyverno_service} has no ready endpoints"),
            "the admission controller pods are not ready; creates that hit Kyverno's Fail webhooks are rejected with `no endpoints available for service \"kyverno-svc\"`",
            format!("kubectl -n {KYVERNO_NAMESPACE} get endpointslices -l kubernetes.io/service-name={KYVERNO_SERVICE}"), None,));
    }

    let mut webhook_count = 0;
    let registered_cmd =
        "kubectl get validatingwebhookconfigurations,mutatingwebhookconfigurations -l webhook.kyverno.io/managed-by=kyverno";
    let mut registered: Vec<(&str, &str, Option<WebhookTargets>)> = Vec::new();
    for name in VALIDATING_CONFIGS {
        let found = observe::find_named(&obs.validating, name).map(|c| {
            c.webhooks
                .iter()
                .flatten()
                .map(|w| (w.name.clone(), webhook_target(&w.client_config)))
                .collect()
        });
        registered.push(("validatingwebhookconfiguration", name, found));
    }
    for name in MUTATING_CONFIGS {
        let found = observe::find_named(&obs.mutating, name).map(|c| {
            c.webhooks
                .iter()
                .flatten()
                .map(|w| (w.name.clone(), webhook_target(&w.client_config)))
                .collect()
        });
        registered.push(("mutatingwebhookconfiguration", name, found));
    }
    for (kind, name, hooks) in registered {
        let Some(hooks) = hooks else {
            problems.push((
                format!("{kind} {name} is not registered"),
                "the admission controller registers its webhooks at runtime once healthy; it has not (yet), so nothing is enforced",
                registered_cmd.to_string(), Some(FailureCode::KyvernoWebhooksNotRegistered),));
            continue;
        };
        for (hook, target) in hooks {
            webhook_count += 1;
            if target != kyverno_service {
                problems.push((
                    format!("webhook {hook} in {name} calls {target}, not {kyverno_service}"),
                    "a webhook configuration left from another Kyverno install (stale webhook)",
                    format!("kubectl get {kind} {name} -o yaml"),
                    Some(FailureCode::StaleWebhook),
                ));
            }
        }
    }

    // Registered configurations that hold no webhook enforce nothing: an empty shell is not
    // "registered" in any sense that matters for admission.
    if webhook_count == 0 && problems.is_empty() {
        problems.push((
            "Kyverno's webhook configurations exist but hold no webhooks".to_string(),
            "the admission controller has not (re)registered its webhooks, so no request reaches Kyverno and nothing is enforced",
            registered_cmd.to_string(), Some(FailureCode::KyvernoWebhooksNotRegistered),));
    }

    let total = obs.deployments.len();
    let configs = VALIDATING_CONFIGS.len() + MUTATING_CONFIGS.len();
    if problems.is_empty() {
        return Outcome::pass(format!(
            "{ready_controllers}/{total} controllers Available, {KYVERNO_SERVICE} has {endpoints} ready endpoint(s), {configs} webhook configurations ({webhook_count} webhooks) registered"
        ))
        .with_figure("controllers ready", ready_controllers as f64, "count")
        .with_figure("kyverno-svc ready endpoints", endpoints as f64, "count")
        .with_figure("kyverno webhooks", webhook_count as f64, "count");
    }
    let observed: Vec<String> = problems.iter().map(|(o, _, _, _)| o.clone()).collect();
    let (_, cause, command, code) = &problems[0];
    Outcome::fail(
        format!(
            "Kyverno not ready: {} problem(s); {ready_controllers}/{total} controllers Available",
            problems.len()
        ),
        Diagnosis::new(observed.join("; "), *cause, command.clone()).with_code_opt(*code),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checks::fixtures::{self as fx, diagnosis};
    use crate::checks::outcome::Verdict;

    fn healthy_kyverno() -> KyvernoObservation {
        KyvernoObservation {
            deployments: CONTROLLERS
                .iter()
                .map(|n| (n.to_string(), Some(fx::deployment("kyverno", n, 1, 1))))
                .collect(),
            service: Some(fx::service("kyverno", "kyverno-svc")),
            endpoint_slices: vec![fx::endpoint_slice(
                "kyverno",
                "kyverno-svc",
                &[("10.42.0.12", true)],
            )],
            validating: vec![
                fx::validating_config(
                    "kyverno-resource-validating-webhook-cfg",
                    &[
                        ("validate.kyverno.svc-fail", "kyverno", "kyverno-svc"),
                        ("vpol.validate.kyverno.svc-fail", "kyverno", "kyverno-svc"),
                    ],
                ),
                fx::validating_config(
                    "kyverno-policy-validating-webhook-cfg",
                    &[("validate-policy.kyverno.svc", "kyverno", "kyverno-svc")],
                ),
            ],
            mutating: vec![fx::mutating_config(
                "kyverno-resource-mutating-webhook-cfg",
                &[("mutate.kyverno.svc-fail", "kyverno", "kyverno-svc")],
            )],
        }
    }

    #[test]
    fn d1_passes_when_kyverno_is_fully_ready() {
        let outcome = evaluate_kyverno_ready(&healthy_kyverno());
        assert_eq!(outcome.verdict(), Verdict::Pass, "{outcome:?}");
        assert!(
            outcome.summary.contains("4/4 controllers"),
            "{}",
            outcome.summary
        );
        assert!(
            outcome.summary.contains("4 webhooks"),
            "{}",
            outcome.summary
        );
    }

    #[test]
    fn d1_fails_when_kyverno_svc_has_no_ready_endpoints() {
        let mut obs = healthy_kyverno();
        obs.endpoint_slices = vec![fx::endpoint_slice(
            "kyverno",
            "kyverno-svc",
            &[("10.42.0.12", false)],
        )];
        let outcome = evaluate_kyverno_ready(&obs);
        assert_eq!(outcome.verdict(), Verdict::Fail);
        let d = diagnosis(&outcome);
        assert!(
            d.observed
                .contains("kyverno/kyverno-svc has no ready endpoints"),
            "{d:?}"
        );
        assert!(
            d.next_command
                .contains("kubernetes.io/service-name=kyverno-svc"),
            "{d:?}"
        );
    }

    #[test]
    fn d1_fails_on_a_controller_that_is_not_available() {
        let mut obs = healthy_kyverno();
        obs.deployments[0].1 = Some(fx::deployment(
            "kyverno",
            "kyverno-admission-controller",
            1,
            0,
        ));
        let outcome = evaluate_kyverno_ready(&obs);
        assert_eq!(outcome.verdict(), Verdict::Fail);
        let d = diagnosis(&outcome);
        assert!(
            d.observed.contains("kyverno-admission-controller: 0/1"),
            "{d:?}"
        );
        assert!(d
            .next_command
            .contains("describe deployment kyverno-admission-controller"));
    }

    #[test]
    fn d1_fails_when_webhooks_are_not_registered_or_point_elsewhere() {
        let mut obs = healthy_kyverno();
        obs.validating.remove(0);
        let outcome = evaluate_kyverno_ready(&obs);
        assert_eq!(
            diagnosis(&outcome).code,
            Some(FailureCode::KyvernoWebhooksNotRegistered)
        );
        assert_eq!(outcome.verdict(), Verdict::Fail);
        assert!(diagnosis(&outcome)
            .observed
            .contains("kyverno-resource-validating-webhook-cfg is not registered"));

        let mut obs = healthy_kyverno();
        obs.mutating = vec![fx::mutating_config(
            "kyverno-resource-mutating-webhook-cfg",
            &[("mutate.kyverno.svc-fail", "kyverno-old", "kyverno-svc")],
        )];
        let outcome = evaluate_kyverno_ready(&obs);
        assert_eq!(diagnosis(&outcome).code, Some(FailureCode::StaleWebhook));
        assert_eq!(outcome.verdict(), Verdict::Fail);
        assert!(diagnosis(&outcome)
            .observed
            .contains("calls kyverno-old/kyverno-svc"));
    }

    #[test]
    fn d1_fails_when_the_webhook_configurations_are_empty() {
        let mut obs = healthy_kyverno();
        for name in VALIDATING_CONFIGS {
            obs.validating
                .retain(|c| c.metadata.name.as_deref() != Some(*name));
            obs.validating.push(fx::validating_config(name, &[]));
        }
        obs.mutating = vec![fx::mutating_config(MUTATING_CONFIGS[0], &[])];
        let outcome = evaluate_kyverno_ready(&obs);
        assert_eq!(outcome.verdict(), Verdict::Fail, "{outcome:?}");
        assert!(
            diagnosis(&outcome).observed.contains("hold no webhooks"),
            "{outcome:?}"
        );
    }
}
