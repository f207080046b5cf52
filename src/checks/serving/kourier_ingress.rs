//! B2 kourier-ingress: Knative's `config-network` ingress class is Kourier's, KServe's
//! `inferenceservice-config` does not need Istio (`disableIstioVirtualHost: true` in Knative
//! mode), `config-domain` publishes a domain (not only `svc.cluster.local`, not a placeholder
//! that resolves on the public internet), the Kourier gateway and controller are ready and the
//! `kourier` LoadBalancer Service has an address. Re-observed until the deadline.

use k8s_openapi::api::core::v1::{ConfigMap, Service};
use kube::api::Api;
use serde_json::Value;

use crate::checks::env::{CheckFuture, CheckRun};
use crate::checks::kit::diagnose;
use crate::checks::kit::wait::{self, Decision};
use crate::checks::outcome::{Diagnosis, Outcome};
use crate::failures::FailureCode;
use crate::observe::{self, ObservedWorkload};
use crate::platform::knative::{
    CLUSTER_LOCAL_DOMAIN, CONFIG_DOMAIN, CONFIG_NETWORK, NAMESPACE as KNATIVE_NAMESPACE,
};
use crate::platform::kourier::{
    CONTROLLER as KOURIER_CONTROLLER, CONTROLLER_NAMESPACE as KOURIER_CONTROLLER_NAMESPACE,
    GATEWAY as KOURIER_GATEWAY, INGRESS_CLASS as KOURIER_INGRESS_CLASS,
    NAMESPACE as KOURIER_NAMESPACE, SERVICE as KOURIER_SERVICE,
};
use crate::platform::kserve::{CONFIG as KSERVE_CONFIG, NAMESPACE as KSERVE_NAMESPACE};
use crate::readiness::{self, Readiness};

pub fn check<'a>(run: &'a CheckRun<'a>) -> CheckFuture<'a> {
    Box::pin(async move {
        wait::until(
            run,
            |_| gather(run),
            |observation| Decision::until_pass(evaluate_kourier_ingress(observation)),
        )
        .await
    })
}

/// What B2 reads.
#[derive(Debug, Clone, Default)]
pub struct KourierObservation {
    /// knative-serving/config-network.
    pub config_network: Option<ConfigMap>,
    /// knative-serving/config-domain.
    pub config_domain: Option<ConfigMap>,
    /// kserve/inferenceservice-config.
    pub kserve_config: Option<ConfigMap>,
    pub gateway: ObservedWorkload,
    pub controller: ObservedWorkload,
    /// kourier-system/kourier.
    pub service: Option<Service>,
}

async fn gather(run: &CheckRun<'_>) -> Result<KourierObservation, Outcome> {
    let client = &run.env.client;
    let unreadable =
        |e: kube::Error| Outcome::api_error("the Knative/Kourier ingress configuration", &e);
    let knative: Api<ConfigMap> = Api::namespaced(client.clone(), KNATIVE_NAMESPACE);
    let kserve: Api<ConfigMap> = Api::namespaced(client.clone(), KSERVE_NAMESPACE);
    Ok(KourierObservation {
        config_network: knative.get_opt(CONFIG_NETWORK).await.map_err(unreadable)?,
        config_domain: knative.get_opt(CONFIG_DOMAIN).await.map_err(unreadable)?,
        kserve_config: kserve.get_opt(KSERVE_CONFIG).await.map_err(unreadable)?,
        gateway: observe::observe_deployment(client, KOURIER_NAMESPACE, KOURIER_GATEWAY)
            .await
            .map_err(unreadable)?,
        controller: observe::observe_deployment(
            client,
            KOURIER_CONTROLLER_NAMESPACE,
            KOURIER_CONTROLLER,
        )
        .await
        .map_err(unreadable)?,
        service: Api::<Service>::namespaced(client.clone(), KOURIER_NAMESPACE)
            .get_opt(KOURIER_SERVICE)
            .await
            .map_err(unreadable)?,
    })
}

fn data<'a>(cm: Option<&'a ConfigMap>, key: &str) -> Option<&'a str> {
    cm?.data.as_ref()?.get(key).map(String::as_str)
}

/// The ingress class Knative uses: `ingress-class`, else the legacy `ingress.class`, else
/// Knative's default, Istio (knative networking pkg/config/config.go).
pub fn knative_ingress_class(config_network: Option<&ConfigMap>) -> String {
    data(config_network, "ingress-class")
        .or_else(|| data(config_network, "ingress.class"))
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .unwrap_or("istio.ingress.networking.knative.dev")
        .to_string()
}

/// The domains config-domain publishes (keys other than the `_example` block).
pub fn knative_domains(config_domain: Option<&ConfigMap>) -> Vec<String> {
    config_domain
        .and_then(|cm| cm.data.as_ref())
        .map(|d| d.keys().filter(|k| !k.starts_with('_')).cloned().collect())
        .unwrap_or_default()
}

/// Problems with KServe's `ingress` config for a cluster without Istio, or None when fine
/// (kserve config/configmap/inferenceservice.yaml).
pub fn kserve_ingress_problem(kserve_config: Option<&ConfigMap>) -> Option<String> {
    let Some(cm) = kserve_config else {
        return Some(format!(
            "configmap {KSERVE_NAMESPACE}/{KSERVE_CONFIG} does not exist"
        ));
    };
    let Some(text) = data(Some(cm), "ingress") else {
        return Some(format!(
            "{KSERVE_CONFIG} has no `ingress` key: KServe falls back to its Istio defaults"
        ));
    };
    let ingress: Value = match serde_json::from_str(text) {
        Ok(v) => v,
        Err(e) => return Some(format!("{KSERVE_CONFIG} `ingress` is not valid JSON: {e}")),
    };
    let mode = data(Some(cm), "deploy")
        .and_then(|d| serde_json::from_str::<Value>(d).ok())
        .and_then(|d| {
            d.get("defaultDeploymentMode")
                .and_then(Value::as_str)
                .map(str::to_string)
        })
        .unwrap_or_else(|| "Serverless".to_string());
    let raw = matches!(mode.as_str(), "RawDeployment" | "Standard");
    if raw {
        let class = ingress
            .get("ingressClassName")
            .and_then(Value::as_str)
            .unwrap_or("istio");
        if class == "istio" {
            return Some(format!(
                "{KSERVE_CONFIG} deploys in {mode} mode with ingressClassName `istio`"
            ));
        }
        return None;
    }
    if ingress
        .get("disableIstioVirtualHost")
        .and_then(Value::as_bool)
        != Some(true)
    {
        return Some(format!(
            "{KSERVE_CONFIG} `ingress.disableIstioVirtualHost` is not true ({mode} mode): KServe will try to create Istio VirtualServices"
        ));
    }
    None
}

/// B2: Knative's ingress class is Kourier, KServe's ingress config does not need Istio, a
/// domain Kourier publishes is configured (not the cluster-local default), and the Kourier
/// gateway and controller are ready with the gateway's LoadBalancer Service addressed.
pub fn evaluate_kourier_ingress(observation: &KourierObservation) -> Outcome {
    let mut problems: Vec<(String, &'static str, String, Option<FailureCode>)> = Vec::new();
    let class = knative_ingress_class(observation.config_network.as_ref());
    if observation.config_network.is_none() {
        problems.push((
            format!("configmap {KNATIVE_NAMESPACE}/config-network does not exist"),
            "Knative Serving is not installed (the knative-serving Application has not synced)",
            "kubectl -n argocd describe application knative-serving".to_string(),
            None,
        ));
    } else if class != KOURIER_INGRESS_CLASS {
        problems.push((
            format!("config-network ingress-class is `{class}`, not `{KOURIER_INGRESS_CLASS}`"),
            "Knative still uses its default (Istio) ingress: routes are never programmed into Kourier",
            format!("kubectl -n {KNATIVE_NAMESPACE} get configmap config-network -o jsonpath='{{.data}}'"), Some(FailureCode::KnativeIngressNotKourier),));
    }
    if let Some(problem) = kserve_ingress_problem(observation.kserve_config.as_ref()) {
        problems.push((
            problem,
            "KServe assumes Istio: InferenceServices stay IngressReady=False with VirtualServiceCRDNotFound; set disableIstioVirtualHost: true",
            format!("kubectl -n {KSERVE_NAMESPACE} get configmap {KSERVE_CONFIG} -o jsonpath='{{.data.ingress}}'"), Some(FailureCode::KserveAssumesIstio),));
    }
    let domains = knative_domains(observation.config_domain.as_ref());
    let published: Vec<&String> = domains
        .iter()
        .filter(|d| d.as_str() != CLUSTER_LOCAL_DOMAIN)
        .collect();
    if observation.config_network.is_some() && published.is_empty() {
        problems.push((
            format!("config-domain publishes no domain (only the default {CLUSTER_LOCAL_DOMAIN})"),
            "with the cluster-local default domain Kourier has no external route and every request answers 404",
            format!("kubectl -n {KNATIVE_NAMESPACE} get configmap config-domain -o jsonpath='{{.data}}'"), Some(FailureCode::ClusterLocalDomainOnly),));
    } else if let Some(placeholder) = published
        .iter()
        .find(|d| matches!(d.as_str(), "example.com" | "example.org" | "example.net"))
    {
        problems.push((
            format!("config-domain publishes the placeholder domain {placeholder}"),
            "a placeholder domain resolves on the public internet, so requests leave the cluster",
            format!("kubectl -n {KNATIVE_NAMESPACE} get configmap config-domain -o jsonpath='{{.data}}'"), None,));
    }
    for workload in [&observation.gateway, &observation.controller] {
        let r = workload.readiness();
        if !r.ready {
            let cause = if workload.deployment.is_none() {
                "Kourier is not installed (the kourier Application has not synced)"
            } else {
                diagnose::container_trouble(&r.observed).unwrap_or("the Kourier pods are not ready")
            };
            let code = if workload.deployment.is_none() {
                None
            } else {
                diagnose::container_trouble_code(&r.observed)
            };
            problems.push((
                r.observed,
                cause,
                format!(
                    "kubectl -n {} describe deployment {}",
                    workload.namespace, workload.name
                ),
                code,
            ));
        }
    }
    let address = match &observation.service {
        Some(service) => readiness::load_balancer(service),
        None => Readiness::not_ready(format!(
            "service {KOURIER_NAMESPACE}/{KOURIER_SERVICE} does not exist"
        )),
    };
    if !address.ready {
        problems.push((
            address.observed.clone(),
            "the kourier LoadBalancer Service has no address: k3s servicelb is disabled or its svclb pods cannot bind ports 80/443",
            format!("kubectl -n {KOURIER_NAMESPACE} get service {KOURIER_SERVICE} -o wide && kubectl -n kube-system get pods -l svccontroller.k3s.cattle.io/svcname={KOURIER_SERVICE}"), Some(FailureCode::LoadBalancerNoAddress),));
    }
    if problems.is_empty() {
        return Outcome::pass(format!(
            "ingress class Kourier, KServe without Istio, domain {}, gateway ready, {}",
            published
                .iter()
                .map(|s| s.as_str())
                .collect::<Vec<_>>()
                .join(","),
            address.observed
        ))
        .with_figure(
            "gateway_pods_ready",
            observation.gateway.pods.len() as f64,
            "count",
        );
    }
    let count = problems.len();
    let (_, likely, next, code) = problems[0].clone();
    Outcome::fail(
        format!("Kourier ingress: {count} problem(s)"),
        Diagnosis::new(
            problems
                .iter()
                .map(|(o, _, _, _)| o.as_str())
                .collect::<Vec<_>>()
                .join("; "),
            likely,
            next,
        )
        .with_code_opt(code),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checks::fixtures::{self, config_map, diagnosis, waiting};
    use crate::checks::outcome::Verdict;

    // inferenceservice-config `ingress` as the gitops manifests set it for Kourier
    // (kserve config/configmap/inferenceservice.yaml keys).
    const KSERVE_INGRESS_KOURIER: &str = r#"{"enableGatewayApi": false, "ingressGateway": "knative-serving/knative-ingress-gateway", "localGateway": "knative-serving/knative-local-gateway", "localGatewayService": "knative-local-gateway.istio-system.svc.cluster.local", "ingressDomain": "neuroscale.localhost", "ingressClassName": "istio", "urlScheme": "http", "disableIstioVirtualHost": true, "disableIngressCreation": false}"#;

    fn healthy_kourier() -> KourierObservation {
        KourierObservation {
            config_network: Some(config_map(
                KNATIVE_NAMESPACE,
                "config-network",
                &[("ingress-class", KOURIER_INGRESS_CLASS)],
            )),
            config_domain: Some(config_map(
                KNATIVE_NAMESPACE,
                "config-domain",
                &[
                    ("neuroscale.localhost", ""),
                    ("_example", "################################\n# example"),
                ],
            )),
            kserve_config: Some(config_map(
                KSERVE_NAMESPACE,
                KSERVE_CONFIG,
                &[
                    ("ingress", KSERVE_INGRESS_KOURIER),
                    ("deploy", r#"{"defaultDeploymentMode": "Serverless"}"#),
                ],
            )),
            gateway: fixtures::healthy_deployment(
                KOURIER_NAMESPACE,
                KOURIER_GATEWAY,
                &["kourier-gateway"],
            ),
            controller: fixtures::healthy_deployment(
                KNATIVE_NAMESPACE,
                KOURIER_CONTROLLER,
                &["controller"],
            ),
            service: Some(fixtures::load_balancer_service(
                KOURIER_NAMESPACE,
                KOURIER_SERVICE,
                &["172.18.0.3", "172.18.0.4"],
            )),
        }
    }

    #[test]
    fn b2_passes_with_kourier_and_kserve_without_istio() {
        let outcome = evaluate_kourier_ingress(&healthy_kourier());
        assert_eq!(outcome.verdict(), Verdict::Pass, "{outcome:?}");
        assert!(
            outcome.summary.contains("neuroscale.localhost"),
            "{}",
            outcome.summary
        );
        assert!(
            outcome.summary.contains("172.18.0.3"),
            "{}",
            outcome.summary
        );
    }

    #[test]
    fn b2_fails_when_kserve_assumes_istio() {
        let mut observation = healthy_kourier();
        let istio = KSERVE_INGRESS_KOURIER.replace(
            "\"disableIstioVirtualHost\": true",
            "\"disableIstioVirtualHost\": false",
        );
        observation.kserve_config = Some(config_map(
            KSERVE_NAMESPACE,
            KSERVE_CONFIG,
            &[("ingress", &istio)],
        ));
        let outcome = evaluate_kourier_ingress(&observation);
        assert_eq!(outcome.verdict(), Verdict::Fail);
        let d = diagnosis(&outcome);
        assert_eq!(
            diagnosis(&outcome).code,
            Some(FailureCode::KserveAssumesIstio)
        );
        assert!(
            d.observed.contains("disableIstioVirtualHost"),
            "{}",
            d.observed
        );
        assert!(
            d.likely_cause.contains("assumes Istio"),
            "{}",
            d.likely_cause
        );
    }

    #[test]
    fn b2_fails_when_knative_keeps_the_istio_ingress_class() {
        let mut observation = healthy_kourier();
        observation.config_network = Some(config_map(KNATIVE_NAMESPACE, "config-network", &[]));
        let outcome = evaluate_kourier_ingress(&observation);
        assert_eq!(
            diagnosis(&outcome).code,
            Some(FailureCode::KnativeIngressNotKourier)
        );
        assert_eq!(outcome.verdict(), Verdict::Fail);
        assert!(diagnosis(&outcome)
            .observed
            .contains("istio.ingress.networking.knative.dev"));
    }

    #[test]
    fn b2_reads_the_legacy_ingress_class_key_but_prefers_the_new_one() {
        let legacy = config_map(
            KNATIVE_NAMESPACE,
            "config-network",
            &[("ingress.class", KOURIER_INGRESS_CLASS)],
        );
        assert_eq!(knative_ingress_class(Some(&legacy)), KOURIER_INGRESS_CLASS);
        let both = config_map(
            KNATIVE_NAMESPACE,
            "config-network",
            &[
                ("ingress.class", KOURIER_INGRESS_CLASS),
                ("ingress-class", "istio.ingress.networking.knative.dev"),
            ],
        );
        assert_ne!(knative_ingress_class(Some(&both)), KOURIER_INGRESS_CLASS);
    }

    #[test]
    fn b2_fails_without_a_published_domain_or_with_a_placeholder() {
        let mut observation = healthy_kourier();
        observation.config_domain = Some(config_map(
            KNATIVE_NAMESPACE,
            "config-domain",
            &[("_example", "#")],
        ));
        let outcome = evaluate_kourier_ingress(&observation);
        assert_eq!(
            diagnosis(&outcome).code,
            Some(FailureCode::ClusterLocalDomainOnly)
        );
        assert_eq!(outcome.verdict(), Verdict::Fail);
        assert!(diagnosis(&outcome).likely_cause.contains("404"));
        observation.config_domain = Some(config_map(
            KNATIVE_NAMESPACE,
            "config-domain",
            &[("example.com", "")],
        ));
        let outcome = evaluate_kourier_ingress(&observation);
        assert!(diagnosis(&outcome).likely_cause.contains("public internet"));
    }

    #[test]
    fn b2_fails_when_the_gateway_service_has_no_address_or_the_gateway_is_down() {
        let mut observation = healthy_kourier();
        observation.service = Some(fixtures::load_balancer_service(
            KOURIER_NAMESPACE,
            KOURIER_SERVICE,
            &[],
        ));
        observation.gateway.pods = vec![fixtures::pod(
            KOURIER_NAMESPACE,
            "3scale-kourier-gateway-5d8f-abcde",
            &[waiting("kourier-gateway", "CrashLoopBackOff", 3)],
        )];
        let outcome = evaluate_kourier_ingress(&observation);
        assert_eq!(outcome.verdict(), Verdict::Fail);
        let d = diagnosis(&outcome);
        // The first problem (the crash-looping gateway) names the diagnosis and its code.
        assert_eq!(diagnosis(&outcome).code, Some(FailureCode::CrashLoop));
        assert!(
            d.observed.contains("kourier-gateway CrashLoopBackOff"),
            "{}",
            d.observed
        );
        assert!(
            d.observed.contains("has no external address"),
            "{}",
            d.observed
        );
    }

    #[test]
    fn b2_a_gateway_service_without_an_address_alone_is_the_load_balancer_failure() {
        let mut observation = healthy_kourier();
        observation.service = Some(fixtures::load_balancer_service(
            KOURIER_NAMESPACE,
            KOURIER_SERVICE,
            &[],
        ));
        let outcome = evaluate_kourier_ingress(&observation);
        assert_eq!(outcome.verdict(), Verdict::Fail);
        assert_eq!(
            diagnosis(&outcome).code,
            Some(FailureCode::LoadBalancerNoAddress)
        );
    }
}
