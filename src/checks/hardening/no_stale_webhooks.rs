//! F2 no-stale-webhooks: every admission webhook (validating and mutating) that calls a
//! Service calls one that exists and has ready endpoints (a webhook left
//! behind by a removed component fails every matching request). Webhooks that call a URL have
//! no Service to follow; they are counted and named. No Service-backed webhook at all is a
//! FAIL, not a vacuous pass.

use std::collections::BTreeMap;

use k8s_openapi::api::admissionregistration::v1::{
    MutatingWebhookConfiguration, ValidatingWebhookConfiguration, WebhookClientConfig,
};
use k8s_openapi::api::core::v1::Service;
use kube::api::{Api, ListParams};

use crate::checks::env::{CheckFuture, CheckRun};
use crate::checks::outcome::{Diagnosis, Outcome};
use crate::observe;
use crate::platform::kserve;
use crate::readiness;

pub fn check<'a>(run: &'a CheckRun<'a>) -> CheckFuture<'a> {
    Box::pin(no_stale_webhooks(run))
}

/// One webhook of a Validating/MutatingWebhookConfiguration and what it calls.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebhookRef {
    /// `validatingwebhookconfiguration` or `mutatingwebhookconfiguration`.
    pub config_kind: &'static str,
    pub config: String,
    pub webhook: String,
    /// `(namespace, name)` of the Service, or `None` when it calls a URL.
    pub service: Option<(String, String)>,
    pub url: Option<String>,
    pub failure_policy: String,
}

fn target(config: &WebhookClientConfig) -> (Option<(String, String)>, Option<String>) {
    (
        config
            .service
            .as_ref()
            .map(|s| (s.namespace.clone(), s.name.clone())),
        config.url.clone(),
    )
}

/// Every webhook of every configuration, flattened.
pub fn webhook_refs(
    validating: &[ValidatingWebhookConfiguration],
    mutating: &[MutatingWebhookConfiguration],
) -> Vec<WebhookRef> {
    let mut refs = Vec::new();
    for config in validating {
        for hook in config.webhooks.iter().flatten() {
            let (service, url) = target(&hook.client_config);
            refs.push(WebhookRef {
                config_kind: "validatingwebhookconfiguration",
                config: config.metadata.name.clone().unwrap_or_default(),
                webhook: hook.name.clone(),
                service,
                url,
                failure_policy: hook.failure_policy.clone().unwrap_or_else(|| "Fail".into()),
            });
        }
    }
    for config in mutating {
        for hook in config.webhooks.iter().flatten() {
            let (service, url) = target(&hook.client_config);
            refs.push(WebhookRef {
                config_kind: "mutatingwebhookconfiguration",
                config: config.metadata.name.clone().unwrap_or_default(),
                webhook: hook.name.clone(),
                service,
                url,
                failure_policy: hook.failure_policy.clone().unwrap_or_else(|| "Fail".into()),
            });
        }
    }
    refs
}

/// A webhook Service as observed: whether it exists and how many ready endpoints it has.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ServiceState {
    pub exists: bool,
    pub ready_endpoints: usize,
}

async fn no_stale_webhooks(run: &CheckRun<'_>) -> Outcome {
    {
        let client = &run.env.client;
        run.saw("listing webhook configurations");
        let validating: Api<ValidatingWebhookConfiguration> = Api::all(client.clone());
        let validating = match validating.list(&ListParams::default()).await {
            Ok(l) => l.items,
            Err(e) => return Outcome::api_error("validatingwebhookconfigurations", &e),
        };
        let mutating: Api<MutatingWebhookConfiguration> = Api::all(client.clone());
        let mutating = match mutating.list(&ListParams::default()).await {
            Ok(l) => l.items,
            Err(e) => return Outcome::api_error("mutatingwebhookconfigurations", &e),
        };
        let refs = webhook_refs(&validating, &mutating);
        let mut services: BTreeMap<(String, String), ServiceState> = BTreeMap::new();
        for (namespace, name) in refs.iter().filter_map(|r| r.service.clone()) {
            if services.contains_key(&(namespace.clone(), name.clone())) {
                continue;
            }
            run.saw(format!(
                "reading service {namespace}/{name} and its endpoints"
            ));
            let api: Api<Service> = Api::namespaced(client.clone(), &namespace);
            let exists = match api.get_opt(&name).await {
                Ok(s) => s.is_some(),
                Err(e) => return Outcome::api_error(&format!("service {namespace}/{name}"), &e),
            };
            let ready_endpoints = if exists {
                match observe::endpoint_slices(client, &namespace, &name).await {
                    Ok(slices) => readiness::ready_endpoint_count(&slices),
                    Err(e) => {
                        return Outcome::api_error(
                            &format!("endpointslices of {namespace}/{name}"),
                            &e,
                        )
                    }
                }
            } else {
                0
            };
            services.insert(
                (namespace, name),
                ServiceState {
                    exists,
                    ready_endpoints,
                },
            );
        }
        evaluate_webhooks(&refs, &services)
    }
}

/// F2's verdict: every webhook that calls a Service calls one that exists and has ready
/// endpoints. Webhooks that call a URL have no Service to follow; they are counted and named.
pub fn evaluate_webhooks(
    refs: &[WebhookRef],
    services: &BTreeMap<(String, String), ServiceState>,
) -> Outcome {
    let mut problems: Vec<(String, String, String)> = Vec::new();
    let mut healthy = 0;
    let mut by_url = Vec::new();
    for hook in refs {
        let Some((namespace, name)) = &hook.service else {
            by_url.push(format!(
                "{} ({})",
                hook.webhook,
                hook.url.as_deref().unwrap_or("no target")
            ));
            continue;
        };
        let state = services
            .get(&(namespace.clone(), name.clone()))
            .copied()
            .unwrap_or(ServiceState {
                exists: false,
                ready_endpoints: 0,
            });
        let place = format!(
            "{} {}: webhook {} (failurePolicy {}) calls service {namespace}/{name}",
            hook.config_kind, hook.config, hook.webhook, hook.failure_policy
        );
        if !state.exists {
            problems.push((
                format!("{place}, which does not exist"),
                "a webhook left behind by a removed component: it intercepts every matching request and fails it".to_string(),
                format!("kubectl get {} {} -o yaml", hook.config_kind, hook.config),
            ));
        } else if state.ready_endpoints == 0 {
            let cause = if hook
                .webhook
                .starts_with("inferenceservice.kserve-webhook-server")
                || name == kserve::WEBHOOK_SERVICE_NAME
            {
                "the KServe controller is not fully ready (e.g. 1/2 containers with kube-rbac-proxy in ImagePullBackOff), so its webhook has no endpoints".to_string()
            } else if crate::platform::service_for_webhook(&hook.webhook).is_some() {
                format!("the component serving {name} is not ready, so every request through this webhook fails")
            } else {
                "the workload behind this webhook is gone or not ready (stale webhook)".to_string()
            };
            problems.push((
                format!("{place}, which has no ready endpoints"),
                cause,
                format!("kubectl -n {namespace} get endpointslices -l kubernetes.io/service-name={name}"),
            ));
        } else {
            healthy += 1;
        }
    }
    let service_backed = refs.len() - by_url.len();
    if service_backed == 0 {
        // "0/0 webhooks healthy" would be a vacuous pass: the platform registers Service-backed
        // webhooks (KServe, Knative, cert-manager, Kyverno), so none at all means they were not
        // seen, not that none is stale.
        return Outcome::fail(
            "no webhook configuration calls a Service",
            Diagnosis::new(
                format!(
                    "{} webhook(s) found, none Service-backed{url_list}",
                    refs.len(),
                    url_list = if by_url.is_empty() {
                        String::new()
                    } else {
                        format!(": {}", by_url.join(", "))
                    }
                ),
                "the platform's admission webhooks (KServe, Knative, cert-manager, Kyverno) are not registered: components not installed, or this identity cannot list webhook configurations",
                "kubectl get validatingwebhookconfigurations,mutatingwebhookconfigurations",
            ),
        );
    }
    let url_note = if by_url.is_empty() {
        String::new()
    } else {
        format!(
            "; {} call a URL and have no Service to check: {}",
            by_url.len(),
            by_url.join(", ")
        )
    };
    if problems.is_empty() {
        return Outcome::pass(format!(
            "{healthy}/{service_backed} webhooks call a Service with ready endpoints ({} services){url_note}",
            services.len()
        ))
        .with_figure("webhooks checked", service_backed as f64, "count")
        .with_figure("webhook services", services.len() as f64, "count");
    }
    let observed: Vec<String> = problems.iter().map(|(o, _, _)| o.clone()).collect();
    let (_, cause, command) = problems[0].clone();
    Outcome::fail(
        format!(
            "{} of {service_backed} webhooks point at a missing or unready Service",
            problems.len()
        ),
        Diagnosis::new(observed.join("; "), cause, command),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checks::fixtures::{self as fx, diagnosis};
    use crate::checks::outcome::Verdict;

    fn webhooks() -> Vec<WebhookRef> {
        webhook_refs(
            &[
                fx::validating_config(
                    "inferenceservice.serving.kserve.io",
                    &[(
                        "inferenceservice.kserve-webhook-server.validator",
                        "kserve",
                        "kserve-webhook-server-service",
                    )],
                ),
                fx::validating_config(
                    "kyverno-resource-validating-webhook-cfg",
                    &[("vpol.validate.kyverno.svc-fail", "kyverno", "kyverno-svc")],
                ),
            ],
            &[fx::mutating_config(
                "webhook.serving.knative.dev",
                &[("webhook.serving.knative.dev", "knative-serving", "webhook")],
            )],
        )
    }

    fn all_ready() -> BTreeMap<(String, String), ServiceState> {
        [
            ("kserve", "kserve-webhook-server-service"),
            ("kyverno", "kyverno-svc"),
            ("knative-serving", "webhook"),
        ]
        .into_iter()
        .map(|(ns, n)| {
            (
                (ns.to_string(), n.to_string()),
                ServiceState {
                    exists: true,
                    ready_endpoints: 1,
                },
            )
        })
        .collect()
    }

    #[test]
    fn f2_passes_when_every_webhook_service_has_endpoints() {
        let outcome = evaluate_webhooks(&webhooks(), &all_ready());
        assert_eq!(outcome.verdict(), Verdict::Pass, "{outcome:?}");
        assert!(
            outcome.summary.starts_with("3/3 webhooks"),
            "{}",
            outcome.summary
        );
    }

    #[test]
    fn f2_fails_on_a_stale_webhook_whose_service_is_gone() {
        // an ingress-nginx admission webhook outlived its controller.
        let mut refs = webhooks();
        refs.extend(webhook_refs(
            &[fx::validating_config(
                "ingress-nginx-admission",
                &[(
                    "validate.nginx.ingress.kubernetes.io",
                    "ingress-nginx",
                    "ingress-nginx-controller-admission",
                )],
            )],
            &[],
        ));
        let outcome = evaluate_webhooks(&refs, &all_ready());
        assert_eq!(outcome.verdict(), Verdict::Fail);
        let d = diagnosis(&outcome);
        assert!(
            d.observed
                .contains("ingress-nginx/ingress-nginx-controller-admission, which does not exist"),
            "{d:?}"
        );
        assert!(d.likely_cause.contains("webhook left behind"));
        assert!(d.next_command.contains("ingress-nginx-admission"));
    }

    #[test]
    fn f2_fails_when_kserves_webhook_has_no_endpoints() {
        let mut services = all_ready();
        services.insert(
            ("kserve".into(), "kserve-webhook-server-service".into()),
            ServiceState {
                exists: true,
                ready_endpoints: 0,
            },
        );
        let outcome = evaluate_webhooks(&webhooks(), &services);
        assert_eq!(outcome.verdict(), Verdict::Fail);
        let d = diagnosis(&outcome);
        assert!(d.observed.contains("no ready endpoints"));
        assert!(d.likely_cause.contains("kube-rbac-proxy"));
        assert!(d.next_command.contains("-n kserve"));
    }

    #[test]
    fn f2_fails_when_no_webhook_calls_a_service() {
        let outcome = evaluate_webhooks(&[], &all_ready());
        assert_eq!(outcome.verdict(), Verdict::Fail);
        let only_urls = webhook_refs(
            &[fx::validating_config_with_url(
                "external",
                "https://policy.example.dev/validate",
            )],
            &[],
        );
        let outcome = evaluate_webhooks(&only_urls, &all_ready());
        assert_eq!(outcome.verdict(), Verdict::Fail);
        assert!(
            outcome.diagnosis.unwrap().observed.contains("external"),
            "the URL webhook is named"
        );
    }

    #[test]
    fn f2_names_url_webhooks_without_failing_them() {
        let mut refs = webhooks();
        refs.extend(webhook_refs(
            &[fx::validating_config_with_url(
                "external",
                "https://policy.example.dev/validate",
            )],
            &[],
        ));
        let outcome = evaluate_webhooks(&refs, &all_ready());
        assert_eq!(outcome.verdict(), Verdict::Pass);
        assert!(
            outcome.summary.contains("1 call a URL"),
            "{}",
            outcome.summary
        );
    }
}
