//! Milestone AI serving (B1-B4): KServe control plane, Kourier ingress, InferenceService
//! readiness, inference through the ingress.
//!
//! Gathering reads the cluster and records what it saw; the `evaluate_*` functions decide from
//! those observations alone. The false greens these replace: "controller has 1 available
//! replica" while its pod is 1/2 and the webhook has no endpoints (seeds/08 failure 3), KServe
//! still configured for Istio (seeds/08 failure 1), and inference through a pod port-forward
//! instead of the Kourier gateway with the InferenceService's Host header.

use std::time::Duration;

use k8s_openapi::api::core::v1::{ConfigMap, Service};
use k8s_openapi::api::discovery::v1::EndpointSlice;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::Api;
use serde_json::Value;

use super::env::{CheckFn, CheckFuture, CheckRun};
use super::observe::{self, api_failure, ObservedWorkload, INFERENCE_SERVICE};
use super::outcome::{Diagnosis, Outcome};
use super::spine::container_trouble;
use crate::probe::{self, ProbeError};
use crate::readiness::{self, Readiness};
use crate::scenario::ModelProbe;

/// KServe's namespace and objects (kserve config/default, UPSTREAM.md §5).
pub const KSERVE_NAMESPACE: &str = "kserve";
pub const KSERVE_CONTROLLER: &str = "kserve-controller-manager";
pub const KSERVE_WEBHOOK_SERVICE: &str = "kserve-webhook-server-service";
pub const KSERVE_CONFIG: &str = "inferenceservice-config";
/// The CRDs an InferenceService needs (kserve config/crd/full).
pub const KSERVE_CRDS: &[&str] = &[
    "inferenceservices.serving.kserve.io",
    "servingruntimes.serving.kserve.io",
    "clusterservingruntimes.serving.kserve.io",
];
/// Knative and Kourier objects (knative/serving config/core, net-kourier config/, UPSTREAM.md §4).
pub const KNATIVE_NAMESPACE: &str = "knative-serving";
pub const KOURIER_NAMESPACE: &str = "kourier-system";
pub const KOURIER_GATEWAY: &str = "3scale-kourier-gateway";
pub const KOURIER_CONTROLLER: &str = "net-kourier-controller";
pub const KOURIER_SERVICE: &str = "kourier";
pub const KOURIER_INGRESS_CLASS: &str = "kourier.ingress.networking.knative.dev";
/// Knative's default domain: cluster-local, never published through the ingress.
pub const CLUSTER_LOCAL_DOMAIN: &str = "svc.cluster.local";

/// This milestone's checks by id (see `super::catalogue`).
pub const CHECKS: &[(&str, CheckFn)] = &[("B1", b1), ("B2", b2), ("B3", b3), ("B4", b4)];

fn b1<'a>(run: &'a CheckRun<'a>) -> CheckFuture<'a> {
    Box::pin(kserve_control_plane(run))
}
fn b2<'a>(run: &'a CheckRun<'a>) -> CheckFuture<'a> {
    Box::pin(kourier_ingress(run))
}
fn b3<'a>(run: &'a CheckRun<'a>) -> CheckFuture<'a> {
    Box::pin(isvc_ready(run))
}
fn b4<'a>(run: &'a CheckRun<'a>) -> CheckFuture<'a> {
    Box::pin(inference_request(run))
}

// ---------------------------------------------------------------------------------------------
// B1 kserve-control-plane

/// What B1 reads.
#[derive(Debug, Clone, Default)]
pub struct KserveObservation {
    pub controller: ObservedWorkload,
    pub webhook_slices: Vec<EndpointSlice>,
    /// Each required CRD by name, None when absent.
    pub crds: Vec<(String, Option<CustomResourceDefinition>)>,
}

async fn gather_kserve(run: &CheckRun<'_>) -> Result<KserveObservation, kube::Error> {
    let client = &run.env.client;
    let controller =
        observe::observe_deployment(client, KSERVE_NAMESPACE, KSERVE_CONTROLLER).await?;
    let webhook_slices =
        observe::endpoint_slices(client, KSERVE_NAMESPACE, KSERVE_WEBHOOK_SERVICE).await?;
    let api: Api<CustomResourceDefinition> = Api::all(client.clone());
    let mut crds = Vec::new();
    for name in KSERVE_CRDS {
        crds.push((name.to_string(), api.get_opt(name).await?));
    }
    Ok(KserveObservation {
        controller,
        webhook_slices,
        crds,
    })
}

async fn kserve_control_plane(run: &CheckRun<'_>) -> Outcome {
    poll_observation(
        run,
        "kserve",
        "the KServe control plane",
        || gather_kserve(run),
        evaluate_kserve_control_plane,
    )
    .await
}

/// Re-observes with `gather` until `evaluate` passes or time is up; an observation that cannot be
/// read is an API failure: `short` names it in the timeout message, `what` in the FAIL.
async fn poll_observation<'a, T, Fut>(
    run: &'a CheckRun<'a>,
    short: &str,
    what: &str,
    gather: impl Fn() -> Fut,
    evaluate: fn(&T) -> Outcome,
) -> Outcome
where
    Fut: std::future::Future<Output = Result<T, kube::Error>>,
{
    observe::poll_until_pass(run, || async {
        match gather().await {
            Ok(observation) => {
                let outcome = evaluate(&observation);
                run.saw(diagnosis_or_summary(&outcome));
                outcome
            }
            Err(e) => {
                run.saw(format!("{short} unreadable: {e}"));
                api_failure(what, &e)
            }
        }
    })
    .await
}

/// What a timeout should name: the diagnosis' observation on FAIL, else the summary.
fn diagnosis_or_summary(outcome: &Outcome) -> String {
    outcome
        .diagnosis
        .as_ref()
        .map(|d| d.observed.clone())
        .unwrap_or_else(|| outcome.summary.clone())
}

/// B1: the controller Deployment Available with every pod at all containers ready, the webhook
/// Service with ready endpoints, the KServe CRDs Established.
pub fn evaluate_kserve_control_plane(observation: &KserveObservation) -> Outcome {
    let controller = observation.controller.readiness();
    let webhook = readiness::service_endpoints(KSERVE_WEBHOOK_SERVICE, &observation.webhook_slices);
    let crds: Vec<Readiness> = observation
        .crds
        .iter()
        .map(|(name, crd)| match crd {
            Some(crd) => readiness::crd_established(crd),
            None => Readiness::not_ready(format!("crd {name} does not exist")),
        })
        .collect();
    let crds_ready = crds.iter().filter(|r| r.ready).count();
    if controller.ready && webhook.ready && crds_ready == crds.len() {
        let endpoints = readiness::ready_endpoint_count(&observation.webhook_slices);
        let containers: usize = observation
            .controller
            .pods
            .iter()
            .map(|p| p.spec.as_ref().map_or(0, |s| s.containers.len()))
            .sum();
        return Outcome::pass(format!(
            "controller ready ({} pod(s), {containers} containers ready), webhook {endpoints} ready endpoint(s), {crds_ready}/{} CRDs Established",
            observation.controller.pods.len(),
            crds.len()
        ))
        .with_figure("webhook_endpoints", endpoints as f64, "count");
    }
    let mut observed = Vec::new();
    if !controller.ready {
        observed.push(controller.observed.clone());
    }
    if !webhook.ready {
        observed.push(webhook.observed.clone());
    }
    observed.extend(crds.iter().filter(|r| !r.ready).map(|r| r.observed.clone()));
    let (likely, next) = if !controller.ready {
        let partly_ready = observation
            .controller
            .pods
            .iter()
            .any(|p| !readiness::pod_containers(p).ready);
        let cause = if observation.controller.deployment.is_none() {
            "KServe is not installed (the kserve Application has not synced)".to_string()
        } else if partly_ready {
            format!(
                "a controller pod is not fully ready (e.g. 1/2: the kube-rbac-proxy sidecar failing, seeds/08 failure 3, seeds/11 failure 1); {}; without it the webhook serves nothing and every InferenceService admission fails",
                container_trouble(&controller.observed).unwrap_or("its events say why")
            )
        } else {
            "the controller has no ready replica yet (pods Pending or starting)".to_string()
        };
        (
            cause,
            format!(
                "kubectl -n {KSERVE_NAMESPACE} describe pod -l control-plane={KSERVE_CONTROLLER}"
            ),
        )
    } else if !webhook.ready {
        (
            format!("the webhook Service {KSERVE_WEBHOOK_SERVICE} has no ready endpoint: every InferenceService create fails with `no endpoints available` (seeds/11 failure 1)"),
            format!("kubectl -n {KSERVE_NAMESPACE} get endpointslices -l kubernetes.io/service-name={KSERVE_WEBHOOK_SERVICE} -o wide"),
        )
    } else {
        let first = observation
            .crds
            .iter()
            .zip(&crds)
            .find(|(_, r)| !r.ready)
            .map(|((name, _), _)| name.clone())
            .unwrap_or_default();
        (
            "a KServe CRD is missing or not Established: it was deleted (seeds/11 failure 2) or the install has not applied it yet".to_string(),
            format!("kubectl get crd {first} -o jsonpath='{{.status.conditions}}'"),
        )
    };
    Outcome::fail(
        format!(
            "KServe control plane not ready: controller {}, webhook {}, {crds_ready}/{} CRDs Established",
            if controller.ready { "ready" } else { "NOT ready" },
            if webhook.ready { "has endpoints" } else { "has NO endpoints" },
            crds.len()
        ),
        Diagnosis::new(observed.join("; "), likely, next),
    )
}

// ---------------------------------------------------------------------------------------------
// B2 kourier-ingress

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

async fn gather_kourier(run: &CheckRun<'_>) -> Result<KourierObservation, kube::Error> {
    let client = &run.env.client;
    let knative: Api<ConfigMap> = Api::namespaced(client.clone(), KNATIVE_NAMESPACE);
    let kserve: Api<ConfigMap> = Api::namespaced(client.clone(), KSERVE_NAMESPACE);
    Ok(KourierObservation {
        config_network: knative.get_opt("config-network").await?,
        config_domain: knative.get_opt("config-domain").await?,
        kserve_config: kserve.get_opt(KSERVE_CONFIG).await?,
        gateway: observe::observe_deployment(client, KOURIER_NAMESPACE, KOURIER_GATEWAY).await?,
        controller: observe::observe_deployment(client, KNATIVE_NAMESPACE, KOURIER_CONTROLLER)
            .await?,
        service: Api::<Service>::namespaced(client.clone(), KOURIER_NAMESPACE)
            .get_opt(KOURIER_SERVICE)
            .await?,
    })
}

async fn kourier_ingress(run: &CheckRun<'_>) -> Outcome {
    poll_observation(
        run,
        "ingress configuration",
        "the Knative/Kourier ingress configuration",
        || gather_kourier(run),
        evaluate_kourier_ingress,
    )
    .await
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
/// (kserve config/configmap/inferenceservice.yaml; UPSTREAM.md §5).
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
    let mut problems: Vec<(String, &'static str, String)> = Vec::new();
    let class = knative_ingress_class(observation.config_network.as_ref());
    if observation.config_network.is_none() {
        problems.push((
            format!("configmap {KNATIVE_NAMESPACE}/config-network does not exist"),
            "Knative Serving is not installed (the knative-serving Application has not synced)",
            "kubectl -n argocd describe application knative-serving".to_string(),
        ));
    } else if class != KOURIER_INGRESS_CLASS {
        problems.push((
            format!("config-network ingress-class is `{class}`, not `{KOURIER_INGRESS_CLASS}`"),
            "Knative still uses its default (Istio) ingress: routes are never programmed into Kourier",
            format!("kubectl -n {KNATIVE_NAMESPACE} get configmap config-network -o jsonpath='{{.data}}'"),
        ));
    }
    if let Some(problem) = kserve_ingress_problem(observation.kserve_config.as_ref()) {
        problems.push((
            problem,
            "KServe assumes Istio (seeds/08 failure 1): InferenceServices stay IngressReady=False with VirtualServiceCRDNotFound; set disableIstioVirtualHost: true",
            format!("kubectl -n {KSERVE_NAMESPACE} get configmap {KSERVE_CONFIG} -o jsonpath='{{.data.ingress}}'"),
        ));
    }
    let domains = knative_domains(observation.config_domain.as_ref());
    let published: Vec<&String> = domains
        .iter()
        .filter(|d| d.as_str() != CLUSTER_LOCAL_DOMAIN)
        .collect();
    if observation.config_network.is_some() && published.is_empty() {
        problems.push((
            format!("config-domain publishes no domain (only the default {CLUSTER_LOCAL_DOMAIN})"),
            "with the cluster-local default domain Kourier has no external route and every request answers 404 (UPSTREAM.md §10 item 5)",
            format!("kubectl -n {KNATIVE_NAMESPACE} get configmap config-domain -o jsonpath='{{.data}}'"),
        ));
    } else if let Some(placeholder) = published
        .iter()
        .find(|d| matches!(d.as_str(), "example.com" | "example.org" | "example.net"))
    {
        problems.push((
            format!("config-domain publishes the placeholder domain {placeholder}"),
            "a placeholder domain resolves on the public internet, so requests leave the cluster (seeds/08 failure 4)",
            format!("kubectl -n {KNATIVE_NAMESPACE} get configmap config-domain -o jsonpath='{{.data}}'"),
        ));
    }
    for workload in [&observation.gateway, &observation.controller] {
        let r = workload.readiness();
        if !r.ready {
            let cause = if workload.deployment.is_none() {
                "Kourier is not installed (the kourier Application has not synced)"
            } else {
                container_trouble(&r.observed).unwrap_or("the Kourier pods are not ready")
            };
            problems.push((
                r.observed,
                cause,
                format!(
                    "kubectl -n {} describe deployment {}",
                    workload.namespace, workload.name
                ),
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
            format!("kubectl -n {KOURIER_NAMESPACE} get service {KOURIER_SERVICE} -o wide && kubectl -n kube-system get pods -l svccontroller.k3s.cattle.io/svcname={KOURIER_SERVICE}"),
        ));
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
    let (_, likely, next) = problems[0].clone();
    Outcome::fail(
        format!("Kourier ingress: {count} problem(s)"),
        Diagnosis::new(
            problems
                .iter()
                .map(|(o, _, _)| o.as_str())
                .collect::<Vec<_>>()
                .join("; "),
            likely,
            next,
        ),
    )
}

// ---------------------------------------------------------------------------------------------
// B3 isvc-ready

/// The namespaces the platform's models live in.
fn model_namespaces(run: &CheckRun<'_>) -> Vec<String> {
    let spec = &run.env.scenario.spec;
    let mut namespaces = vec![spec.model_namespace.clone()];
    for model in run.env.scenario.cpu_models() {
        if !namespaces.contains(&model.namespace) {
            namespaces.push(model.namespace.clone());
        }
    }
    namespaces
}

async fn isvc_ready(run: &CheckRun<'_>) -> Outcome {
    let expected: Vec<(String, String)> = run
        .env
        .scenario
        .cpu_models()
        .map(|m| (m.namespace.clone(), m.name.clone()))
        .collect();
    let namespaces = model_namespaces(run);
    observe::poll_until_pass(run, || async {
        let mut isvcs = Vec::new();
        for ns in &namespaces {
            match observe::list(&run.env.client, &INFERENCE_SERVICE, Some(ns)).await {
                Ok(items) => isvcs.extend(items),
                Err(e) => {
                    run.saw(format!("inferenceservices in {ns} unreadable: {e}"));
                    return api_failure("InferenceServices", &e);
                }
            }
        }
        let outcome = evaluate_isvcs_ready(&isvcs, &expected);
        run.saw(diagnosis_or_summary(&outcome));
        outcome
    })
    .await
}

fn str_at<'a>(value: &'a Value, pointer: &str) -> &'a str {
    value.pointer(pointer).and_then(Value::as_str).unwrap_or("")
}

/// A platform InferenceService: one the scenario names, or one ArgoCD manages (GitOps-delivered).
/// Objects checks create for themselves (D3, F3, C3 probes) carry no tracking annotation.
fn is_platform_isvc(isvc: &Value, expected: &[(String, String)]) -> bool {
    let ns = str_at(isvc, "/metadata/namespace");
    let name = str_at(isvc, "/metadata/name");
    expected.iter().any(|(n, m)| n == ns && m == name)
        || isvc
            .pointer("/metadata/annotations")
            .and_then(|a| a.get(super::spine::TRACKING_ID_ANNOTATION))
            .is_some()
}

/// The likely cause of an InferenceService not being Ready, from its conditions
/// (kserve inference_service_status.go; UPSTREAM.md §10 items 5, 6, 15).
pub fn isvc_likely_cause(isvc: &Value) -> String {
    let conditions = isvc.pointer("/status/conditions").and_then(Value::as_array);
    let Some(conditions) = conditions.filter(|c| !c.is_empty()) else {
        return "the KServe controller has not reconciled it (no status): check B1 — controller down or webhook failing".to_string();
    };
    let failing: Vec<String> = conditions
        .iter()
        .filter(|c| c.get("status").and_then(Value::as_str) != Some("True"))
        .map(|c| {
            format!(
                "{} {} {}",
                c.get("type").and_then(Value::as_str).unwrap_or(""),
                c.get("reason").and_then(Value::as_str).unwrap_or(""),
                c.get("message").and_then(Value::as_str).unwrap_or("")
            )
        })
        .collect();
    let text = failing.join(" ");
    if text.contains("VirtualService") || text.contains("virtual service") || text.contains("istio")
    {
        "KServe assumes Istio: disableIstioVirtualHost is not set (seeds/08 failure 1, UPSTREAM.md §10 item 6)".into()
    } else if text.contains("Insufficient")
        || text.contains("Unschedulable")
        || text.contains("exceeded quota")
    {
        "the predictor pod cannot be scheduled: not enough CPU/memory on the nodes or the namespace quota is exhausted".into()
    } else if text.contains("storage-initializer")
        || text.contains("gs://")
        || text.contains("download")
    {
        "the storage-initializer cannot download the model (needs egress to the model bucket, UPSTREAM.md §10 item 15)".into()
    } else if text.contains("ImagePull") || text.contains("pull") {
        "the runtime image cannot be pulled (registry unreachable or offline host)".into()
    } else if text.starts_with("IngressReady") || text.contains(" IngressReady") {
        "the route is not ready: Knative/Kourier has not programmed it (check B2)".into()
    } else if text.contains("Predictor") || text.contains("Revision") {
        "the predictor revision is not ready: pods Pending, crash-looping or still loading the model".into()
    } else {
        format!("not ready: {text}")
    }
}

/// B3: every platform InferenceService (each CPU model of the scenario, and every one ArgoCD
/// manages in the model namespaces) is Ready=True with a `status.url`.
pub fn evaluate_isvcs_ready(isvcs: &[Value], expected: &[(String, String)]) -> Outcome {
    let platform: Vec<&Value> = isvcs
        .iter()
        .filter(|i| is_platform_isvc(i, expected))
        .collect();
    let missing: Vec<String> = expected
        .iter()
        .filter(|(ns, name)| {
            !platform.iter().any(|i| {
                str_at(i, "/metadata/namespace") == ns && str_at(i, "/metadata/name") == name
            })
        })
        .map(|(ns, name)| format!("{ns}/{name}"))
        .collect();
    let not_ready: Vec<(&Value, Readiness)> = platform
        .iter()
        .map(|i| (*i, readiness::inference_service(i)))
        .filter(|(_, r)| !r.ready)
        .collect();
    let ready = platform.len() - not_ready.len();
    if missing.is_empty() && not_ready.is_empty() && !platform.is_empty() {
        return Outcome::pass(format!(
            "{ready}/{} InferenceServices Ready=True with a URL",
            platform.len()
        ))
        .with_figure("inferenceservices_ready", ready as f64, "count");
    }
    let mut observed: Vec<String> = not_ready.iter().map(|(_, r)| r.observed.clone()).collect();
    if !missing.is_empty() {
        observed.push(format!("missing: {}", missing.join(", ")));
    }
    let (likely, next) = match not_ready.first() {
        Some((isvc, _)) => {
            let ns = str_at(isvc, "/metadata/namespace");
            let name = str_at(isvc, "/metadata/name");
            (
                isvc_likely_cause(isvc),
                format!("kubectl -n {ns} describe inferenceservice {name} && kubectl -n {ns} get pods -l serving.kserve.io/inferenceservice={name}"),
            )
        }
        None => (
            "the model's Application has not created it: its folder is missing from the GitOps source, or the ApplicationSet has not generated the Application".to_string(),
            "kubectl -n argocd get applicationset,applications".to_string(),
        ),
    };
    Outcome::fail(
        format!(
            "{ready}/{} InferenceServices Ready",
            (platform.len() + missing.len()).max(1)
        ),
        Diagnosis::new(observed.join("; "), likely, next),
    )
}

// ---------------------------------------------------------------------------------------------
// B4 inference-request

/// How one model's predict request through the gateway went.
#[derive(Debug, Clone, PartialEq)]
pub enum ProbeAnswer {
    /// The server answered 2xx with these predictions, in `latency`.
    Predictions {
        predictions: Vec<Value>,
        latency: Duration,
    },
    /// The server answered a non-2xx status.
    Status { status: u16, body: String },
    /// The server answered a number of predictions other than the number of rows sent.
    Count { sent: usize, got: usize },
    /// Nothing answered (connection refused, timeout).
    Unreachable(String),
    /// The body was not the protocol's shape.
    Malformed(String),
}

/// One model's request and its answer.
#[derive(Debug, Clone, PartialEq)]
pub struct ModelAnswer {
    pub model: ModelProbe,
    /// The Host header sent (the InferenceService's `status.url` host).
    pub host: String,
    pub answer: ProbeAnswer,
}

/// The Host header for an InferenceService: the host of its `status.url`.
pub fn isvc_host(isvc: &Value) -> Option<String> {
    probe::host_of_url(isvc.pointer("/status/url").and_then(Value::as_str)?)
}

impl ProbeAnswer {
    /// What the probe's result says, in the terms B4 and C3 judge.
    pub fn from_probe(result: Result<probe::Verdict, ProbeError>) -> ProbeAnswer {
        match result {
            Ok(verdict) => ProbeAnswer::Predictions {
                predictions: verdict.predictions,
                latency: verdict.latency,
            },
            Err(ProbeError::Status { status, body, .. }) => ProbeAnswer::Status { status, body },
            Err(ProbeError::PredictionCount { sent, got, .. }) => ProbeAnswer::Count { sent, got },
            Err(ProbeError::Shape { reason, .. }) => ProbeAnswer::Malformed(reason),
            Err(other) => ProbeAnswer::Unreachable(probe::error_chain(&other)),
        }
    }

    /// Whether asking again may help: the gateway or the revision was not up yet.
    pub fn is_transient(&self) -> bool {
        match self {
            ProbeAnswer::Status { status, .. } => matches!(status, 502..=504),
            ProbeAnswer::Unreachable(_) => true,
            _ => false,
        }
    }
}

/// Sends `model`'s known rows to the InferenceService through the gateway at `ingress_url`,
/// with the Host header of its `status.url`.
pub async fn ask_model(
    http: &reqwest::Client,
    ingress_url: &str,
    isvc: &Value,
    model: &ModelProbe,
) -> ModelAnswer {
    let host = isvc_host(isvc).unwrap_or_default();
    let target = probe::Target {
        base_url: ingress_url.to_string(),
        host: Some(host.clone()),
        model: str_at(isvc, "/metadata/name").to_string(),
        protocol: model.protocol,
    };
    let result = probe::verify(http, &target, &model.instances, &model.expected).await;
    ModelAnswer {
        model: model.clone(),
        host,
        answer: ProbeAnswer::from_probe(result),
    }
}

/// B4 fails at once when there is no gateway to send to.
pub(crate) fn no_ingress_url() -> Outcome {
    Outcome::fail(
        "no route to the Kourier gateway",
        Diagnosis::new(
            "the runner found no ingress URL (no k3d port mapped to the kourier Service, no --ingress-url, no port-forward possible)",
            "the Kourier gateway is not reachable from this machine; a pod port-forward is not the ingress path and is not used",
            "neuroscale doctor",
        ),
    )
}

async fn inference_request(run: &CheckRun<'_>) -> Outcome {
    let Some(ingress_url) = run.env.ingress_url.clone() else {
        return no_ingress_url();
    };
    let models: Vec<ModelProbe> = run.env.scenario.cpu_models().cloned().collect();
    loop {
        let mut answers = Vec::new();
        let mut not_ready = Vec::new();
        for model in &models {
            let isvc = match observe::get(
                &run.env.client,
                &INFERENCE_SERVICE,
                Some(&model.namespace),
                &model.name,
            )
            .await
            {
                Ok(isvc) => isvc,
                Err(e) => return api_failure("InferenceServices", &e),
            };
            match isvc {
                Some(isvc) if readiness::inference_service(&isvc).ready => {
                    answers.push(ask_model(&run.env.http, &ingress_url, &isvc, model).await);
                }
                Some(isvc) => not_ready.push((
                    readiness::inference_service(&isvc).observed,
                    isvc_likely_cause(&isvc),
                )),
                None => not_ready.push((
                    format!(
                        "inferenceservice {}/{} does not exist",
                        model.namespace, model.name
                    ),
                    "the model's Application has not created it (see B3)".to_string(),
                )),
            }
        }
        let outcome = if let Some((observed, likely)) = not_ready.first() {
            Outcome::fail(
                format!(
                    "{} model(s) not Ready to receive a request",
                    not_ready.len()
                ),
                Diagnosis::new(
                    observed.clone(),
                    likely.clone(),
                    format!(
                        "kubectl -n {} get inferenceservices",
                        run.env.scenario.spec.model_namespace
                    ),
                ),
            )
        } else {
            evaluate_inference(&answers, &ingress_url)
        };
        run.saw(diagnosis_or_summary(&outcome));
        let transient = !not_ready.is_empty() || answers.iter().any(|a| a.answer.is_transient());
        if outcome.is_pass() || !transient || observe::time_to_conclude(run).is_zero() {
            return outcome;
        }
        tokio::time::sleep(observe::POLL_INTERVAL.min(observe::time_to_conclude(run))).await;
    }
}

fn same_prediction(expected: &Value, got: &Value) -> bool {
    match (expected.as_f64(), got.as_f64()) {
        (Some(a), Some(b)) => a == b,
        _ => expected == got,
    }
}

/// B4: every CPU model answered through the gateway with exactly one prediction per input row,
/// each the expected one.
pub fn evaluate_inference(answers: &[ModelAnswer], ingress_url: &str) -> Outcome {
    let mut failures: Vec<(String, String, String)> = Vec::new();
    let mut latencies = Vec::new();
    for a in answers {
        let who = format!("{} (Host: {})", a.model.name, a.host);
        let curl = format!(
            "curl -sS -H 'Host: {}' -H 'Content-Type: application/json' {ingress_url}/v1/models/{}",
            a.host, a.model.name
        );
        match &a.answer {
            ProbeAnswer::Predictions {
                predictions,
                latency,
            } => {
                let sent = a.model.instances.len();
                if predictions.len() != sent {
                    failures.push((
                        format!("{who} answered {} predictions for {sent} input rows: {predictions:?}", predictions.len()),
                        "the answer does not belong to this request: the body was not parsed as sent (Content-Type must be exactly application/json, UPSTREAM.md §11) or another model serves this route".into(),
                        curl,
                    ));
                    continue;
                }
                let wrong: Vec<String> = a
                    .model
                    .expected
                    .iter()
                    .zip(predictions)
                    .enumerate()
                    .filter(|(_, (want, got))| !same_prediction(want, got))
                    .map(|(row, (want, got))| format!("row {row}: expected {want}, got {got}"))
                    .collect();
                if wrong.is_empty() {
                    latencies.push(latency.as_secs_f64() * 1000.0);
                } else {
                    failures.push((
                        format!("{who} answered wrong predictions: {}", wrong.join("; ")),
                        "a different model or model version is served at this route than the scenario expects (storageUri changed?)".into(),
                        curl,
                    ));
                }
            }
            ProbeAnswer::Status { status, body } => {
                let cause = match status {
                    404 => "Kourier has no route for this Host: wrong Host header or the cluster-local domain (UPSTREAM.md §10 item 5), or the model name is unknown to the server",
                    503 | 502 => "no ready revision behind the route (predictor pods not ready or scaled to zero, UPSTREAM.md §10 item 5)",
                    500 => "the model server failed on the request (wrong feature count, or the body was not parsed as JSON)",
                    _ => "the gateway or the model server refused the request",
                };
                failures.push((format!("{who} answered HTTP {status}: {body}"), cause.into(), curl));
            }
            ProbeAnswer::Count { sent, got } => failures.push((
                format!("{who} answered {got} predictions for {sent} input rows"),
                "the answer does not belong to this request: the body was not parsed as sent (Content-Type must be exactly application/json, UPSTREAM.md §11) or another model serves this route".into(),
                curl,
            )),
            ProbeAnswer::Unreachable(reason) => failures.push((
                format!("the gateway at {ingress_url} did not answer for {who}: {reason}"),
                "the Kourier gateway is not reachable from here: the k3d load balancer port is not mapped, or the kourier Service has no address (check B2)".into(),
                "neuroscale doctor".into(),
            )),
            ProbeAnswer::Malformed(reason) => failures.push((
                format!("{who} answered a body that is not a KServe prediction: {reason}"),
                "something other than the model server answered (an error page from a proxy, or a non-KServe runtime)".into(),
                curl,
            )),
        }
    }
    if answers.is_empty() {
        return Outcome::fail(
            "no model to send a request to",
            Diagnosis::new(
                "the scenario names no CPU model",
                "B4 needs at least one model with known inputs",
                "neuroscale check --list",
            ),
        );
    }
    if failures.is_empty() {
        let worst = latencies.iter().copied().fold(0.0, f64::max);
        let rows: usize = answers.iter().map(|a| a.model.instances.len()).sum();
        return Outcome::pass(format!(
            "{} model(s) answered {rows} known rows correctly through Kourier, slowest {worst:.0} ms",
            answers.len()
        ))
        .with_figure("latency_max_ms", worst, "ms");
    }
    let (_, likely, next) = failures[0].clone();
    Outcome::fail(
        format!(
            "{}/{} models answered correctly through the gateway",
            answers.len() - failures.len(),
            answers.len()
        ),
        Diagnosis::new(
            failures
                .iter()
                .map(|(o, _, _)| o.as_str())
                .collect::<Vec<_>>()
                .join("; "),
            likely,
            next,
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checks::fixtures::diagnosis;
    use crate::checks::fixtures::{self, config_map, container, waiting};
    use crate::checks::outcome::Verdict;
    use serde_json::json;

    fn healthy_kserve() -> KserveObservation {
        KserveObservation {
            controller: fixtures::healthy_deployment(
                KSERVE_NAMESPACE,
                KSERVE_CONTROLLER,
                &["manager", "kube-rbac-proxy"],
            ),
            webhook_slices: vec![fixtures::endpoint_slice(
                KSERVE_NAMESPACE,
                KSERVE_WEBHOOK_SERVICE,
                &[("10.42.0.23", true)],
            )],
            crds: KSERVE_CRDS
                .iter()
                .map(|n| (n.to_string(), Some(fixtures::crd(n, true))))
                .collect(),
        }
    }

    #[test]
    fn b1_passes_on_a_ready_control_plane() {
        let outcome = evaluate_kserve_control_plane(&healthy_kserve());
        assert_eq!(outcome.verdict, Verdict::Pass, "{outcome:?}");
        assert!(
            outcome.summary.contains("2 containers ready"),
            "{}",
            outcome.summary
        );
        assert!(outcome.summary.contains("3/3 CRDs"), "{}", outcome.summary);
    }

    #[test]
    fn b1_fails_on_a_controller_pod_at_one_of_two_containers() {
        // seeds/08 failure 3: the manager ready, kube-rbac-proxy in ImagePullBackOff, the
        // Deployment still reporting an available replica.
        let mut observation = healthy_kserve();
        observation.controller.pods = vec![fixtures::pod(
            KSERVE_NAMESPACE,
            "kserve-controller-manager-8d7c5b9f4-xr2lm",
            &[
                container("manager", true),
                waiting("kube-rbac-proxy", "ImagePullBackOff", 0),
            ],
        )];
        let outcome = evaluate_kserve_control_plane(&observation);
        assert_eq!(outcome.verdict, Verdict::Fail);
        let d = diagnosis(&outcome);
        assert!(
            d.observed.contains("1/2 containers ready"),
            "{}",
            d.observed
        );
        assert!(
            d.observed.contains("kube-rbac-proxy ImagePullBackOff"),
            "{}",
            d.observed
        );
        assert!(d.likely_cause.contains("1/2"), "{}", d.likely_cause);
        assert_eq!(
            d.next_command,
            "kubectl -n kserve describe pod -l control-plane=kserve-controller-manager"
        );
    }

    #[test]
    fn b1_fails_when_kserve_is_not_installed() {
        let mut observation = healthy_kserve();
        observation.controller = fixtures::missing_workload(KSERVE_NAMESPACE, KSERVE_CONTROLLER);
        let outcome = evaluate_kserve_control_plane(&observation);
        assert_eq!(outcome.verdict, Verdict::Fail);
        let d = diagnosis(&outcome);
        assert!(d.observed.contains("does not exist"), "{}", d.observed);
        assert!(
            d.likely_cause.contains("not installed"),
            "{}",
            d.likely_cause
        );
    }

    #[test]
    fn b1_fails_when_the_webhook_has_no_ready_endpoint() {
        let mut observation = healthy_kserve();
        observation.webhook_slices = vec![fixtures::endpoint_slice(
            KSERVE_NAMESPACE,
            KSERVE_WEBHOOK_SERVICE,
            &[("10.42.0.23", false)],
        )];
        let outcome = evaluate_kserve_control_plane(&observation);
        assert_eq!(outcome.verdict, Verdict::Fail);
        assert!(diagnosis(&outcome)
            .observed
            .contains("has no ready endpoints"));
        assert!(diagnosis(&outcome).next_command.contains("endpointslices"));
    }

    #[test]
    fn b1_fails_when_a_crd_is_missing_or_not_established() {
        let mut observation = healthy_kserve();
        observation.crds[0].1 = None;
        observation.crds[1].1 = Some(fixtures::crd(KSERVE_CRDS[1], false));
        let outcome = evaluate_kserve_control_plane(&observation);
        assert_eq!(outcome.verdict, Verdict::Fail);
        let d = diagnosis(&outcome);
        assert!(
            d.observed
                .contains("inferenceservices.serving.kserve.io does not exist"),
            "{}",
            d.observed
        );
        assert!(d.observed.contains("Established=False"), "{}", d.observed);
    }

    // inferenceservice-config `ingress` as the gitops manifests set it for Kourier
    // (kserve config/configmap/inferenceservice.yaml keys; UPSTREAM.md §5).
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
        assert_eq!(outcome.verdict, Verdict::Pass, "{outcome:?}");
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
        assert_eq!(outcome.verdict, Verdict::Fail);
        let d = diagnosis(&outcome);
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
        assert_eq!(outcome.verdict, Verdict::Fail);
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
        assert_eq!(outcome.verdict, Verdict::Fail);
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
        assert_eq!(outcome.verdict, Verdict::Fail);
        let d = diagnosis(&outcome);
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

    fn expected() -> Vec<(String, String)> {
        vec![
            ("models".into(), "sklearn-iris".into()),
            ("models".into(), "sklearn-iris-v2".into()),
        ]
    }

    #[test]
    fn b3_passes_when_every_platform_isvc_is_ready_with_a_url() {
        let isvcs = vec![
            fixtures::inference_service("models", "sklearn-iris", true),
            fixtures::inference_service("models", "sklearn-iris-v2", true),
        ];
        let outcome = evaluate_isvcs_ready(&isvcs, &expected());
        assert_eq!(outcome.verdict, Verdict::Pass, "{outcome:?}");
        assert_eq!(outcome.figures[0].value, 2.0);
    }

    #[test]
    fn b3_fails_on_an_isvc_stuck_on_istio_and_names_it() {
        // seeds/08 failure 1 / UPSTREAM.md §10 item 6: IngressReady False, no URL.
        let stuck = fixtures::set_condition(
            fixtures::inference_service("models", "sklearn-iris-v2", false),
            "IngressReady",
            "False",
            "ReconcileError",
            "Failed to reconcile ingress: VirtualServiceCRDNotFound",
        );
        let isvcs = vec![
            fixtures::inference_service("models", "sklearn-iris", true),
            stuck,
        ];
        let outcome = evaluate_isvcs_ready(&isvcs, &expected());
        assert_eq!(outcome.verdict, Verdict::Fail);
        let d = diagnosis(&outcome);
        assert!(
            d.observed.contains("sklearn-iris-v2 Ready=False"),
            "{}",
            d.observed
        );
        assert!(d.likely_cause.contains("Istio"), "{}", d.likely_cause);
        assert!(d
            .next_command
            .contains("describe inferenceservice sklearn-iris-v2"));
    }

    #[test]
    fn b3_fails_when_a_scenario_model_is_missing() {
        let isvcs = vec![fixtures::inference_service("models", "sklearn-iris", true)];
        let outcome = evaluate_isvcs_ready(&isvcs, &expected());
        assert_eq!(outcome.verdict, Verdict::Fail);
        assert!(diagnosis(&outcome)
            .observed
            .contains("missing: models/sklearn-iris-v2"));
    }

    #[test]
    fn b3_ignores_probe_objects_other_checks_create() {
        let mut probe = fixtures::inference_service("models", "nscheck-d3-probe", false);
        probe["metadata"]["annotations"] = json!({});
        let isvcs = vec![
            fixtures::inference_service("models", "sklearn-iris", true),
            fixtures::inference_service("models", "sklearn-iris-v2", true),
            probe,
        ];
        assert_eq!(
            evaluate_isvcs_ready(&isvcs, &expected()).verdict,
            Verdict::Pass
        );
    }

    fn iris() -> ModelProbe {
        ModelProbe {
            name: "sklearn-iris".into(),
            namespace: "models".into(),
            protocol: crate::scenario::Protocol::V1,
            instances: vec![vec![6.8, 2.8, 4.8, 1.4], vec![6.0, 3.4, 4.5, 1.6]],
            expected: vec![json!(1), json!(1)],
            cost_center: "ml-research".into(),
            gpu: false,
        }
    }

    fn answer(answer: ProbeAnswer) -> ModelAnswer {
        ModelAnswer {
            model: iris(),
            host: "sklearn-iris-predictor.models.neuroscale.localhost".into(),
            answer,
        }
    }

    #[test]
    fn the_host_header_is_the_isvc_url_host() {
        let isvc = fixtures::inference_service("models", "sklearn-iris", true);
        assert_eq!(
            isvc_host(&isvc).as_deref(),
            Some("sklearn-iris-predictor.models.127.0.0.1.sslip.io")
        );
        assert_eq!(
            isvc_host(&fixtures::inference_service("models", "x", false)),
            None
        );
    }

    #[test]
    fn b4_passes_on_the_expected_predictions() {
        // KServe V1 answer for these rows: {"predictions": [1, 1]} (UPSTREAM.md §5, §11).
        let outcome = evaluate_inference(
            &[answer(ProbeAnswer::Predictions {
                predictions: vec![json!(1), json!(1)],
                latency: Duration::from_millis(12),
            })],
            "http://127.0.0.1:8081",
        );
        assert_eq!(outcome.verdict, Verdict::Pass, "{outcome:?}");
        assert_eq!(outcome.figures[0].value, 12.0);
    }

    #[test]
    fn b4_fails_on_the_wrong_number_of_predictions() {
        let outcome = evaluate_inference(
            &[answer(ProbeAnswer::Predictions {
                predictions: vec![json!(1)],
                latency: Duration::from_millis(12),
            })],
            "http://127.0.0.1:8081",
        );
        assert_eq!(outcome.verdict, Verdict::Fail);
        let d = diagnosis(&outcome);
        assert!(
            d.observed
                .contains("answered 1 predictions for 2 input rows"),
            "{}",
            d.observed
        );
        assert!(d
            .next_command
            .contains("Host: sklearn-iris-predictor.models.neuroscale.localhost"));
    }

    #[test]
    fn b4_fails_when_the_probe_reports_the_wrong_number_of_predictions() {
        // What probe::predict reports when the server answers 1 prediction for 2 rows.
        let answer_from_probe = ProbeAnswer::from_probe(Err(ProbeError::PredictionCount {
            url: "http://127.0.0.1:8081/v1/models/sklearn-iris:predict".into(),
            sent: 2,
            got: 1,
        }));
        assert_eq!(answer_from_probe, ProbeAnswer::Count { sent: 2, got: 1 });
        assert!(!answer_from_probe.is_transient());
        let outcome = evaluate_inference(&[answer(answer_from_probe)], "http://127.0.0.1:8081");
        assert_eq!(outcome.verdict, Verdict::Fail);
        assert!(diagnosis(&outcome)
            .observed
            .contains("answered 1 predictions for 2 input rows"));
    }

    #[test]
    fn gateway_errors_are_transient_and_wrong_answers_are_not() {
        let busy = ProbeAnswer::from_probe(Err(ProbeError::Status {
            url: "http://127.0.0.1:8081/v1/models/sklearn-iris:predict".into(),
            host: Some("sklearn-iris-predictor.models.neuroscale.localhost".into()),
            status: 503,
            body: "no healthy upstream".into(),
        }));
        assert!(busy.is_transient());
        assert!(!ProbeAnswer::Status {
            status: 404,
            body: String::new()
        }
        .is_transient());
        assert!(!ProbeAnswer::Malformed("not JSON".into()).is_transient());
    }

    #[test]
    fn b4_fails_on_a_wrong_prediction() {
        let outcome = evaluate_inference(
            &[answer(ProbeAnswer::Predictions {
                predictions: vec![json!(1), json!(2)],
                latency: Duration::from_millis(12),
            })],
            "http://127.0.0.1:8081",
        );
        assert_eq!(outcome.verdict, Verdict::Fail);
        assert!(diagnosis(&outcome)
            .observed
            .contains("row 1: expected 1, got 2"));
    }

    #[test]
    fn b4_explains_a_404_from_kourier() {
        let outcome = evaluate_inference(
            &[answer(ProbeAnswer::Status {
                status: 404,
                body: String::new(),
            })],
            "http://127.0.0.1:8081",
        );
        assert_eq!(outcome.verdict, Verdict::Fail);
        assert!(diagnosis(&outcome)
            .likely_cause
            .contains("wrong Host header"));
    }

    /// The KServe control plane on the simulated cluster, the controller pod at `containers`
    /// (its webhook endpoint ready only when every container is).
    async fn kserve_cluster(
        pod_containers: Vec<(&'static str, bool)>,
    ) -> neuroscale_testkit::SimCluster {
        let sim = fixtures::sim_cluster(&[KSERVE_NAMESPACE]).await;
        fixtures::put(
            &sim,
            &fixtures::deployment(KSERVE_NAMESPACE, KSERVE_CONTROLLER, 1, 1),
        );
        let states: Vec<fixtures::ContainerState> = pod_containers
            .iter()
            .map(|(name, ready)| {
                if *ready {
                    container(name, true)
                } else {
                    waiting(name, "ImagePullBackOff", 0)
                }
            })
            .collect();
        let mut pod = serde_json::to_value(fixtures::pod(
            KSERVE_NAMESPACE,
            "kserve-controller-manager-8d7c5b9f4-xr2lm",
            &states,
        ))
        .unwrap();
        // The pod template's labels, which the Deployment's selector matches.
        pod["metadata"]["labels"] = json!({"app.kubernetes.io/name": KSERVE_CONTROLLER});
        fixtures::put(&sim, &pod);
        let ready = pod_containers.iter().all(|(_, r)| *r);
        fixtures::put(
            &sim,
            &fixtures::endpoint_slice(
                KSERVE_NAMESPACE,
                KSERVE_WEBHOOK_SERVICE,
                &[("10.42.0.23", ready)],
            ),
        );
        for name in KSERVE_CRDS {
            let (plural, group) = name.split_once('.').unwrap();
            let kind = match plural {
                "inferenceservices" => "InferenceService",
                "servingruntimes" => "ServingRuntime",
                "clusterservingruntimes" => "ClusterServingRuntime",
                other => other,
            };
            // kserve config/crd: ClusterServingRuntime is cluster-scoped.
            let namespaced = plural != "clusterservingruntimes";
            let version = if plural == "inferenceservices" {
                "v1beta1"
            } else {
                "v1alpha1"
            };
            fixtures::put(
                &sim,
                &neuroscale_testkit::preset::crd(group, kind, plural, &[version], namespaced),
            );
        }
        sim
    }

    #[tokio::test]
    async fn b1_gathers_the_control_plane_and_passes_when_ready() {
        let sim = kserve_cluster(vec![("manager", true), ("kube-rbac-proxy", true)]).await;
        let env = fixtures::sim_env(&sim, true);
        let run = CheckRun::new(
            &env,
            crate::checks::catalogue::find("B1").unwrap(),
            Duration::from_secs(5),
        );
        let outcome = kserve_control_plane(&run).await;
        assert_eq!(outcome.verdict, Verdict::Pass, "{outcome:?}");
    }

    #[tokio::test]
    async fn b1_gathers_a_half_ready_controller_and_fails_at_the_deadline() {
        let sim = kserve_cluster(vec![("manager", true), ("kube-rbac-proxy", false)]).await;
        let env = fixtures::sim_env(&sim, true);
        let run = CheckRun::new(
            &env,
            crate::checks::catalogue::find("B1").unwrap(),
            Duration::from_secs(2),
        );
        let outcome = kserve_control_plane(&run).await;
        assert_eq!(outcome.verdict, Verdict::Fail, "{outcome:?}");
        assert!(diagnosis(&outcome)
            .observed
            .contains("1/2 containers ready"));
        assert!(
            run.last_seen().contains("kube-rbac-proxy ImagePullBackOff"),
            "{}",
            run.last_seen()
        );
    }

    #[tokio::test]
    async fn b4_without_a_route_to_the_gateway_fails_and_never_port_forwards() {
        let sim = kserve_cluster(vec![]).await;
        let env = fixtures::sim_env(&sim, true);
        let run = CheckRun::new(
            &env,
            crate::checks::catalogue::find("B4").unwrap(),
            Duration::from_secs(2),
        );
        let outcome = inference_request(&run).await;
        assert_eq!(outcome.verdict, Verdict::Fail);
        assert_eq!(diagnosis(&outcome).next_command, "neuroscale doctor");
    }
}
