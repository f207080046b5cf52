//! F2 no-stale-webhooks: every admission webhook (validating and mutating) with
//! `failurePolicy: Fail` reaches something that answers: a Service that exists and has ready
//! endpoints, or a URL that accepts a connection (a webhook left behind by a removed component
//! fails every matching request). A webhook with `failurePolicy: Ignore` that reaches nothing
//! only slows requests down: it is a warning in the result, not a FAIL. No Service-backed
//! webhook at all is a FAIL, not a vacuous pass.

use std::collections::BTreeMap;
use std::time::Duration;

use k8s_openapi::api::admissionregistration::v1::{
    MutatingWebhookConfiguration, ValidatingWebhookConfiguration, WebhookClientConfig,
};
use k8s_openapi::api::core::v1::Service;
use kube::api::{Api, ListParams};

use crate::checks::env::{CheckFuture, CheckRun};
use crate::checks::outcome::{Diagnosis, Outcome};
use crate::failures::FailureCode;
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

/// How long a URL webhook's address gets to accept a connection.
const URL_CONNECT_TIMEOUT: Duration = Duration::from_secs(3);

/// Whether a URL webhook's address accepted a TCP connection from this machine, or why not.
pub type UrlReach = Result<(), String>;

/// Connects to the host and port of a webhook URL (the scheme's port when none is given).
async fn reach(url: &str) -> UrlReach {
    let parsed = reqwest::Url::parse(url).map_err(|e| format!("not a URL ({e})"))?;
    let host = parsed.host_str().ok_or("no host")?.to_string();
    let port = parsed.port_or_known_default().ok_or("no port")?;
    match tokio::time::timeout(
        URL_CONNECT_TIMEOUT,
        tokio::net::TcpStream::connect((host.as_str(), port)),
    )
    .await
    {
        Ok(Ok(_)) => Ok(()),
        Ok(Err(e)) => Err(format!("{host}:{port} refused the connection ({e})")),
        Err(_) => Err(format!(
            "{host}:{port} did not accept a connection within {}s",
            URL_CONNECT_TIMEOUT.as_secs()
        )),
    }
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
        let mut urls: BTreeMap<String, UrlReach> = BTreeMap::new();
        for url in refs.iter().filter_map(|r| r.url.clone()) {
            if let std::collections::btree_map::Entry::Vacant(entry) = urls.entry(url) {
                run.saw(format!("connecting to webhook URL {}", entry.key()));
                let reached = reach(entry.key()).await;
                entry.insert(reached);
            }
        }
        evaluate_webhooks(&refs, &services, &urls)
    }
}

/// One webhook that reaches nothing: where it is, what it calls, the likely cause and the next
/// command.
struct Unanswered {
    observed: String,
    cause: String,
    next: String,
    failure_policy_ignore: bool,
    code: Option<FailureCode>,
}

/// F2's verdict: every Fail-policy webhook reaches a Service with ready endpoints or a URL that
/// accepts a connection; Ignore-policy webhooks that reach nothing are warnings.
pub fn evaluate_webhooks(
    refs: &[WebhookRef],
    services: &BTreeMap<(String, String), ServiceState>,
    urls: &BTreeMap<String, UrlReach>,
) -> Outcome {
    let mut unanswered: Vec<Unanswered> = Vec::new();
    let mut healthy = 0;
    let mut by_url = Vec::new();
    for hook in refs {
        let ignore = hook.failure_policy == "Ignore";
        let Some((namespace, name)) = &hook.service else {
            let url = hook.url.as_deref().unwrap_or("no target");
            by_url.push(format!("{} ({url})", hook.webhook));
            match urls.get(url) {
                Some(Err(why)) => unanswered.push(Unanswered {
                    observed: format!(
                        "{} {}: webhook {} (failurePolicy {}) calls {url}, which does not answer from this machine: {why}",
                        hook.config_kind, hook.config, hook.webhook, hook.failure_policy
                    ),
                    cause: "the webhook's server is gone or unreachable: with failurePolicy Fail every matching request fails".to_string(),
                    next: format!("kubectl get {} {} -o yaml", hook.config_kind, hook.config),
                    failure_policy_ignore: ignore,
                    code: None,
                }),
                _ => healthy += 1,
            }
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
            unanswered.push(Unanswered {
                observed: format!("{place}, which does not exist"),
                cause: "a webhook left behind by a removed component: it intercepts every matching request and fails it".to_string(),
                next: format!("kubectl get {} {} -o yaml", hook.config_kind, hook.config),
                failure_policy_ignore: ignore,
                code: Some(FailureCode::StaleWebhook),
            });
        } else if state.ready_endpoints == 0 {
            let (cause, code) = if hook
                .webhook
                .starts_with("inferenceservice.kserve-webhook-server")
                || name == kserve::WEBHOOK_SERVICE_NAME
            {
                ("the KServe controller is not fully ready (e.g. 1/2 containers with kube-rbac-proxy in ImagePullBackOff), so its webhook has no endpoints".to_string(), Some(FailureCode::KserveWebhookNoEndpoints))
            } else if crate::platform::service_for_webhook(&hook.webhook).is_some() {
                (format!("the component serving {name} is not ready, so every request through this webhook fails"), None)
            } else {
                (
                    "the workload behind this webhook is gone or not ready (stale webhook)"
                        .to_string(),
                    Some(FailureCode::StaleWebhook),
                )
            };
            unanswered.push(Unanswered {
                observed: format!("{place}, which has no ready endpoints"),
                cause,
                next: format!("kubectl -n {namespace} get endpointslices -l kubernetes.io/service-name={name}"),
                failure_policy_ignore: ignore,
                code,
            });
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
    let (warnings, failing): (Vec<Unanswered>, Vec<Unanswered>) = unanswered
        .into_iter()
        .partition(|u| u.failure_policy_ignore);
    let url_note = if by_url.is_empty() {
        String::new()
    } else {
        format!("; {} call a URL: {}", by_url.len(), by_url.join(", "))
    };
    let warning_note = if warnings.is_empty() {
        String::new()
    } else {
        format!(
            "; warning: {} (failurePolicy Ignore: requests skip it after its timeout)",
            warnings
                .iter()
                .map(|w| w.observed.as_str())
                .collect::<Vec<_>>()
                .join("; ")
        )
    };
    if failing.is_empty() {
        return Outcome::pass(format!(
            "{healthy}/{} webhooks reach a Service with ready endpoints or an answering URL ({} services){url_note}{warning_note}",
            refs.len(),
            services.len()
        ))
        .with_figure("webhooks checked", refs.len() as f64, "count")
        .with_figure("webhook services", services.len() as f64, "count")
        .with_figure("webhook warnings", warnings.len() as f64, "count");
    }
    let observed: Vec<&str> = failing.iter().map(|u| u.observed.as_str()).collect();
    Outcome::fail(
        format!(
            "{} of {} failurePolicy Fail webhooks reach nothing that answers",
            failing.len(),
            refs.len() - warnings.len()
        ),
        Diagnosis::new(
            format!("{}{warning_note}", observed.join("; ")),
            failing[0].cause.clone(),
            failing[0].next.clone(),
        )
        .with_code_opt(failing[0].code),
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
        let outcome = evaluate_webhooks(&webhooks(), &all_ready(), &BTreeMap::new());
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
        let outcome = evaluate_webhooks(&refs, &all_ready(), &BTreeMap::new());
        assert_eq!(outcome.verdict(), Verdict::Fail);
        let d = diagnosis(&outcome);
        assert_eq!(diagnosis(&outcome).code, Some(FailureCode::StaleWebhook));
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
        let outcome = evaluate_webhooks(&webhooks(), &services, &BTreeMap::new());
        assert_eq!(outcome.verdict(), Verdict::Fail);
        let d = diagnosis(&outcome);
        assert_eq!(
            diagnosis(&outcome).code,
            Some(FailureCode::KserveWebhookNoEndpoints)
        );
        assert!(d.observed.contains("no ready endpoints"));
        assert!(d.likely_cause.contains("kube-rbac-proxy"));
        assert!(d.next_command.contains("-n kserve"));
    }

    #[test]
    fn f2_fails_when_no_webhook_calls_a_service() {
        let outcome = evaluate_webhooks(&[], &all_ready(), &BTreeMap::new());
        assert_eq!(outcome.verdict(), Verdict::Fail);
        let only_urls = webhook_refs(
            &[fx::validating_config_with_url(
                "external",
                "https://policy.example.dev/validate",
            )],
            &[],
        );
        let outcome = evaluate_webhooks(&only_urls, &all_ready(), &BTreeMap::new());
        assert_eq!(outcome.verdict(), Verdict::Fail);
        assert!(
            outcome.diagnosis.unwrap().observed.contains("external"),
            "the URL webhook is named"
        );
    }

    fn with_url(policy: &str) -> Vec<WebhookRef> {
        let mut refs = webhooks();
        let mut external = webhook_refs(
            &[fx::validating_config_with_url(
                "external",
                "https://policy.example.dev/validate",
            )],
            &[],
        );
        external[0].failure_policy = policy.to_string();
        refs.extend(external);
        refs
    }

    fn url_reach(reach: UrlReach) -> BTreeMap<String, UrlReach> {
        [("https://policy.example.dev/validate".to_string(), reach)].into()
    }

    #[test]
    fn f2_passes_a_url_webhook_that_answers_and_names_it() {
        let outcome = evaluate_webhooks(&with_url("Fail"), &all_ready(), &url_reach(Ok(())));
        assert_eq!(outcome.verdict(), Verdict::Pass, "{outcome:?}");
        assert!(
            outcome.summary.contains("4/4 webhooks") && outcome.summary.contains("1 call a URL"),
            "{}",
            outcome.summary
        );
    }

    #[test]
    fn f2_fails_a_fail_policy_url_webhook_that_does_not_answer() {
        let unreachable = url_reach(Err(
            "policy.example.dev:443 refused the connection (connection refused)".into(),
        ));
        let outcome = evaluate_webhooks(&with_url("Fail"), &all_ready(), &unreachable);
        assert_eq!(outcome.verdict(), Verdict::Fail, "{outcome:?}");
        let d = diagnosis(&outcome);
        assert!(
            d.observed
                .contains("calls https://policy.example.dev/validate, which does not answer")
                && d.observed.contains("refused the connection"),
            "{d:?}"
        );
        assert!(
            d.likely_cause.contains("every matching request fails"),
            "{d:?}"
        );
        assert!(d.next_command.contains("external"), "{d:?}");
    }

    #[test]
    fn f2_warns_about_ignore_policy_webhooks_that_reach_nothing_without_failing() {
        let unreachable = url_reach(Err(
            "policy.example.dev:443 did not accept a connection within 3s".into(),
        ));
        let outcome = evaluate_webhooks(&with_url("Ignore"), &all_ready(), &unreachable);
        assert_eq!(outcome.verdict(), Verdict::Pass, "{outcome:?}");
        assert!(
            outcome.summary.contains("warning:")
                && outcome.summary.contains("external.example.dev"),
            "{}",
            outcome.summary
        );

        let mut refs = webhooks();
        refs[1].failure_policy = "Ignore".into();
        let mut services = all_ready();
        services.insert(
            ("kyverno".into(), "kyverno-svc".into()),
            ServiceState {
                exists: true,
                ready_endpoints: 0,
            },
        );
        let outcome = evaluate_webhooks(&refs, &services, &BTreeMap::new());
        assert_eq!(outcome.verdict(), Verdict::Pass, "{outcome:?}");
        assert!(
            outcome.summary.contains("warning:") && outcome.summary.contains("kyverno-svc"),
            "{}",
            outcome.summary
        );
    }

    #[tokio::test]
    async fn a_url_is_reached_by_connecting_to_its_host_and_port() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        assert_eq!(
            reach(&format!("https://127.0.0.1:{port}/validate")).await,
            Ok(())
        );
        drop(listener);
        let refused = reach(&format!("https://127.0.0.1:{port}/validate"))
            .await
            .unwrap_err();
        assert!(
            refused.contains(&format!("127.0.0.1:{port} refused")),
            "{refused}"
        );
        assert!(reach("not a url").await.unwrap_err().contains("not a URL"));
    }
}
