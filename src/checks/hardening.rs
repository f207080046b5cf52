//! Milestone Hardening (F1-F4): namespace governance, stale webhooks, GPU-node inference,
//! latency SLO. F1 compares the model namespace's live ResourceQuota and LimitRange with the
//! ones declared in the GitOps source's `manifests/`; F2 follows every admission webhook to its
//! Service and that Service's ready endpoints (seeds/11 failure 5).

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use futures::FutureExt;
use k8s_openapi::api::admissionregistration::v1::{
    MutatingWebhookConfiguration, ValidatingWebhookConfiguration, WebhookClientConfig,
};
use k8s_openapi::api::core::v1::{LimitRange, Node, Pod, ResourceQuota, Service};
use kube::api::{Api, ListParams, Patch, PatchParams};
use serde_json::Value;

use super::admission;
use super::env::{CheckFn, CheckFuture, CheckRun, CreatedObject};
use super::guardrails::endpoint_slices;
use super::observe::{self, api_failure};
use super::outcome::{Diagnosis, Outcome};
use crate::readiness;
use crate::scenario::{GpuMode, Latency};
use crate::{gpu, probe};

/// This milestone's checks by id (see `super::catalogue`).
pub const CHECKS: &[(&str, CheckFn)] = &[
    ("F1", namespace_governance),
    ("F2", no_stale_webhooks),
    ("F3", gpu_node_inference),
    ("F4", latency_slo),
];

// ---------------------------------------------------------------------------------------------
// F1 namespace-governance

/// The governance objects the platform declares for the model namespace.
#[derive(Debug, Clone, Default)]
pub struct DeclaredGovernance {
    /// Where they are declared.
    pub source: String,
    pub namespace: String,
    pub quotas: Vec<ResourceQuota>,
    pub limit_ranges: Vec<LimitRange>,
}

/// Where the declaration lives (built into the binary by `gitops::governance`).
pub const GOVERNANCE_FILE: &str = "manifests/platform/governance.yaml";

impl DeclaredGovernance {
    /// The platform's declaration as API objects, for comparison with the live ones.
    pub fn from_gitops(declared: &crate::gitops::governance::Governance) -> Result<Self, String> {
        let quota: ResourceQuota = serde_json::from_value(serde_json::json!({
            "metadata": {"name": declared.resource_quota, "namespace": declared.namespace},
            "spec": {"hard": declared.quota_hard}
        }))
        .map_err(|e| format!("{GOVERNANCE_FILE}: the ResourceQuota is malformed: {e}"))?;
        let limit_range: LimitRange = serde_json::from_value(serde_json::json!({
            "metadata": {"name": declared.limit_range, "namespace": declared.namespace},
            "spec": {"limits": declared.limits}
        }))
        .map_err(|e| format!("{GOVERNANCE_FILE}: the LimitRange is malformed: {e}"))?;
        Ok(DeclaredGovernance {
            source: GOVERNANCE_FILE.to_string(),
            namespace: declared.namespace.clone(),
            quotas: vec![quota],
            limit_ranges: vec![limit_range],
        })
    }
}

/// A Kubernetes quantity ("500m", "4Gi", "1.5", "2e3") as a number, for comparing values the
/// API server may have rewritten into canonical form. (k8s-openapi keeps quantities as strings;
/// apimachinery pkg/api/resource/quantity.go defines the suffixes.)
pub fn quantity(text: &str) -> Option<f64> {
    let text = text.trim();
    const BINARY: &[(&str, f64)] = &[
        ("Ki", 1024.0),
        ("Mi", 1048576.0),
        ("Gi", 1073741824.0),
        ("Ti", 1099511627776.0),
        ("Pi", 1125899906842624.0),
        ("Ei", 1152921504606846976.0),
    ];
    const DECIMAL: &[(&str, f64)] = &[
        ("n", 1e-9),
        ("u", 1e-6),
        ("m", 1e-3),
        ("k", 1e3),
        ("M", 1e6),
        ("G", 1e9),
        ("T", 1e12),
        ("P", 1e15),
        ("E", 1e18),
    ];
    for (suffix, factor) in BINARY.iter().chain(DECIMAL) {
        if let Some(number) = text.strip_suffix(suffix) {
            // "1E" is exa, but "1e3" is an exponent: only a bare number may precede a suffix.
            if let Ok(n) = number.parse::<f64>() {
                if !number.contains(['e', 'E']) {
                    return Some(n * factor);
                }
            }
        }
    }
    text.parse::<f64>().ok()
}

fn same_quantity(a: &str, b: &str) -> bool {
    match (quantity(a), quantity(b)) {
        (Some(x), Some(y)) => (x - y).abs() <= f64::EPSILON * x.abs().max(y.abs()).max(1.0),
        _ => a == b,
    }
}

/// Differences between a declared quantity map and the live one (declared keys only: the API
/// server defaults unset LimitRange fields, so extra live keys are expected).
fn map_differences(
    what: &str,
    declared: Option<&BTreeMap<String, k8s_openapi::apimachinery::pkg::api::resource::Quantity>>,
    live: Option<&BTreeMap<String, k8s_openapi::apimachinery::pkg::api::resource::Quantity>>,
) -> (usize, Vec<String>) {
    let mut compared = 0;
    let mut differences = Vec::new();
    for (key, want) in declared.into_iter().flatten() {
        compared += 1;
        match live.and_then(|l| l.get(key)) {
            Some(have) if same_quantity(&want.0, &have.0) => {}
            Some(have) => {
                differences.push(format!("{what} {key} is {} (declared {})", have.0, want.0))
            }
            None => differences.push(format!("{what} {key} is not set (declared {})", want.0)),
        }
    }
    (compared, differences)
}

/// F1's verdict: every declared ResourceQuota and LimitRange exists in the namespace with the
/// declared values; at least one of each must be declared.
pub fn evaluate_governance(
    namespace: &str,
    declared: &DeclaredGovernance,
    live_quotas: &[ResourceQuota],
    live_limit_ranges: &[LimitRange],
) -> Outcome {
    if declared.quotas.is_empty() || declared.limit_ranges.is_empty() {
        return Outcome::fail(
            format!("no declared governance for namespace {namespace}"),
            Diagnosis::new(
                format!(
                    "{} declares {} ResourceQuota(s) and {} LimitRange(s) for {namespace}",
                    declared.source,
                    declared.quotas.len(),
                    declared.limit_ranges.len()
                ),
                "the platform manifests declare no quota and limits for this namespace (the scenario's modelNamespace differs from the governed namespace?)",
                format!("grep -nE 'kind: (ResourceQuota|LimitRange)' {}", declared.source),
            ),
        );
    }
    let mut problems: Vec<String> = Vec::new();
    let mut compared = 0;
    let mut quota_names = Vec::new();
    for quota in &declared.quotas {
        let name = quota.metadata.name.clone().unwrap_or_default();
        quota_names.push(name.clone());
        let Some(live) = observe::find_named(live_quotas, &name) else {
            problems.push(format!("ResourceQuota {namespace}/{name} does not exist"));
            continue;
        };
        let (n, diffs) = map_differences(
            &format!("ResourceQuota {name} hard"),
            quota.spec.as_ref().and_then(|s| s.hard.as_ref()),
            live.spec.as_ref().and_then(|s| s.hard.as_ref()),
        );
        compared += n;
        problems.extend(diffs);
    }
    let mut limit_names = Vec::new();
    for range in &declared.limit_ranges {
        let name = range.metadata.name.clone().unwrap_or_default();
        limit_names.push(name.clone());
        let Some(live) = observe::find_named(live_limit_ranges, &name) else {
            problems.push(format!("LimitRange {namespace}/{name} does not exist"));
            continue;
        };
        let live_items = live
            .spec
            .as_ref()
            .map(|s| s.limits.as_slice())
            .unwrap_or_default();
        for item in range
            .spec
            .as_ref()
            .map(|s| s.limits.as_slice())
            .unwrap_or_default()
        {
            let Some(live_item) = live_items.iter().find(|l| l.type_ == item.type_) else {
                problems.push(format!("LimitRange {name} has no {} limits", item.type_));
                continue;
            };
            for (field, want, have) in [
                ("default", item.default.as_ref(), live_item.default.as_ref()),
                (
                    "defaultRequest",
                    item.default_request.as_ref(),
                    live_item.default_request.as_ref(),
                ),
                ("max", item.max.as_ref(), live_item.max.as_ref()),
                ("min", item.min.as_ref(), live_item.min.as_ref()),
                (
                    "maxLimitRequestRatio",
                    item.max_limit_request_ratio.as_ref(),
                    live_item.max_limit_request_ratio.as_ref(),
                ),
            ] {
                let (n, diffs) = map_differences(
                    &format!("LimitRange {name} {} {field}", item.type_),
                    want,
                    have,
                );
                compared += n;
                problems.extend(diffs);
            }
        }
    }
    if problems.is_empty() {
        return Outcome::pass(format!(
            "ResourceQuota {} and LimitRange {} in {namespace}: {compared}/{compared} declared limits in force",
            quota_names.join(", "),
            limit_names.join(", ")
        ))
        .with_figure("declared limits in force", compared as f64, "count");
    }
    let missing = problems.iter().any(|p| p.ends_with("does not exist"));
    let cause = if missing {
        "the namespace-governance Application has not synced into the model namespace (or syncs into another namespace)"
    } else {
        "the live objects drifted from the GitOps source (edited by hand, or ArgoCD self-heal is off for them)"
    };
    Outcome::fail(
        format!("{} governance difference(s) in {namespace}", problems.len()),
        Diagnosis::new(
            problems.join("; "),
            cause,
            format!("kubectl -n {namespace} describe resourcequota,limitrange"),
        ),
    )
}

fn namespace_governance<'a>(run: &'a CheckRun<'a>) -> CheckFuture<'a> {
    async move {
        let namespace = run.env.scenario.spec.model_namespace.clone();
        let mut declared =
            match DeclaredGovernance::from_gitops(&crate::gitops::governance::declared()) {
                Ok(d) => d,
                Err(e) => {
                    return Outcome::fail(
                        "the declared governance cannot be read",
                        Diagnosis::new(
                            e,
                            "a build defect in the platform manifests",
                            "cargo test gitops",
                        ),
                    )
                }
            };
        if declared.namespace != namespace {
            // The scenario's models live in a namespace the platform does not govern.
            declared.quotas.clear();
            declared.limit_ranges.clear();
        }
        run.saw(format!(
            "reading resourcequotas and limitranges in {namespace}"
        ));
        let quotas: Api<ResourceQuota> = Api::namespaced(run.env.client.clone(), &namespace);
        let live_quotas = match quotas.list(&ListParams::default()).await {
            Ok(l) => l.items,
            Err(e) => return api_failure(&format!("resourcequotas in {namespace}"), &e),
        };
        let ranges: Api<LimitRange> = Api::namespaced(run.env.client.clone(), &namespace);
        let live_ranges = match ranges.list(&ListParams::default()).await {
            Ok(l) => l.items,
            Err(e) => return api_failure(&format!("limitranges in {namespace}"), &e),
        };
        evaluate_governance(&namespace, &declared, &live_quotas, &live_ranges)
    }
    .boxed()
}

// ---------------------------------------------------------------------------------------------
// F2 no-stale-webhooks

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

fn no_stale_webhooks<'a>(run: &'a CheckRun<'a>) -> CheckFuture<'a> {
    async move {
        let client = &run.env.client;
        run.saw("listing webhook configurations");
        let validating: Api<ValidatingWebhookConfiguration> = Api::all(client.clone());
        let validating = match validating.list(&ListParams::default()).await {
            Ok(l) => l.items,
            Err(e) => return api_failure("validatingwebhookconfigurations", &e),
        };
        let mutating: Api<MutatingWebhookConfiguration> = Api::all(client.clone());
        let mutating = match mutating.list(&ListParams::default()).await {
            Ok(l) => l.items,
            Err(e) => return api_failure("mutatingwebhookconfigurations", &e),
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
                Err(e) => return api_failure(&format!("service {namespace}/{name}"), &e),
            };
            let ready_endpoints = if exists {
                match endpoint_slices(client, &namespace, &name).await {
                    Ok(slices) => readiness::ready_endpoint_count(&slices),
                    Err(e) => {
                        return api_failure(&format!("endpointslices of {namespace}/{name}"), &e)
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
    .boxed()
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
                "a webhook left behind by a removed component (seeds/11 failure 5): it intercepts every matching request and fails it".to_string(),
                format!("kubectl get {} {} -o yaml", hook.config_kind, hook.config),
            ));
        } else if state.ready_endpoints == 0 {
            let cause = if hook
                .webhook
                .starts_with("inferenceservice.kserve-webhook-server")
                || name == "kserve-webhook-server-service"
            {
                "the KServe controller is not fully ready (e.g. 1/2 containers with kube-rbac-proxy in ImagePullBackOff, seeds/08 failure 3), so its webhook has no endpoints".to_string()
            } else if admission::service_for_webhook(&hook.webhook).is_some() {
                format!("the component serving {name} is not ready, so every request through this webhook fails")
            } else {
                "the workload behind this webhook is gone or not ready (stale webhook, seeds/11 failure 5)".to_string()
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

// ---------------------------------------------------------------------------------------------
// Shared by F3 and F4: reaching a model through the Kourier gateway

/// The Host header Kourier routes on: the host of the InferenceService's `status.url`
/// (with `disableIstioVirtualHost` it is the predictor ksvc URL, UPSTREAM.md §5).
pub fn isvc_host(isvc: &Value) -> Result<String, String> {
    let name = isvc
        .pointer("/metadata/name")
        .and_then(Value::as_str)
        .unwrap_or("?");
    let ready = readiness::inference_service(isvc);
    if !ready.ready {
        return Err(ready.observed);
    }
    super::serving::isvc_host(isvc).ok_or_else(|| {
        format!(
            "inferenceservice {name} status.url {:?} has no host",
            isvc.pointer("/status/url")
                .and_then(Value::as_str)
                .unwrap_or_default()
        )
    })
}

// ---------------------------------------------------------------------------------------------
// F4 latency-slo

/// What a load run through the gateway measured (the figures of `probe::LoadReport`).
#[derive(Debug, Clone, PartialEq)]
pub struct LatencyRun {
    pub model: String,
    pub host: String,
    pub requests: u32,
    pub errors: u32,
    pub p50: Duration,
    pub p95: Duration,
    pub p99: Duration,
    pub max: Duration,
    pub throughput_rps: f64,
    pub first_error: Option<String>,
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// F4's verdict: zero errors and p50/p95/p99 each at or under the scenario's thresholds; the
/// percentiles are reported as figures either way.
pub fn evaluate_latency(slo: &Latency, run: &LatencyRun) -> Outcome {
    let figures = |outcome: Outcome| {
        outcome
            .with_figure("p50", ms(run.p50), "ms")
            .with_figure("p95", ms(run.p95), "ms")
            .with_figure("p99", ms(run.p99), "ms")
            .with_figure("max", ms(run.max), "ms")
            .with_figure("throughput", run.throughput_rps, "req/s")
            .with_figure("errors", run.errors as f64, "count")
    };
    let measured = format!(
        "{} requests via Kourier (Host {}): {} errors, p50 {:.1} ms, p95 {:.1} ms, p99 {:.1} ms, {:.0} req/s",
        run.requests,
        run.host,
        run.errors,
        ms(run.p50),
        ms(run.p95),
        ms(run.p99),
        run.throughput_rps
    );
    let over: Vec<String> = [
        ("p50", run.p50, slo.p50_ms),
        ("p95", run.p95, slo.p95_ms),
        ("p99", run.p99, slo.p99_ms),
    ]
    .into_iter()
    .filter(|(_, measured, limit)| ms(*measured) > *limit)
    .map(|(name, measured, limit)| format!("{name} {:.1} ms > {limit} ms", ms(measured)))
    .collect();
    if run.requests == 0 {
        return figures(Outcome::fail(
            "no requests were measured",
            Diagnosis::new(
                measured,
                "the load run sent nothing",
                "neuroscale probe --help",
            ),
        ));
    }
    if run.errors == 0 && over.is_empty() {
        return figures(Outcome::pass(format!(
            "{measured} (SLO p50 {} / p95 {} / p99 {} ms)",
            slo.p50_ms, slo.p95_ms, slo.p99_ms
        )));
    }
    let namespace_hint = format!("kubectl get inferenceservice -A | grep {}", run.model);
    let (cause, command) = if run.errors > 0 {
        let first = run.first_error.as_deref().unwrap_or("");
        if first.contains("HTTP 404") {
            ("Kourier answered 404: no route for this Host header (wrong domain in config-domain, or a cluster-local URL, UPSTREAM.md §10 item 5)".to_string(), "kubectl -n knative-serving get configmap config-domain -o yaml".to_string())
        } else if first.contains("HTTP 503") || first.contains("HTTP 502") {
            ("no ready revision behind the route for part of the run (pod restarting or scaled to zero)".to_string(), namespace_hint)
        } else if first.contains("timed out") || first.contains("connect") {
            ("the Kourier gateway did not answer (gateway pod not ready, or the port mapping/port-forward broke)".to_string(), "kubectl -n kourier-system get pods,svc".to_string())
        } else {
            ("the model server failed some requests (wrong answer shape or server errors under load)".to_string(), namespace_hint)
        }
    } else {
        (
            "the model is too slow at this concurrency: CPU-starved predictor (small limits, LimitRange defaults) or cold starts from scale-to-zero".to_string(),
            "kubectl top pods -A".to_string(),
        )
    };
    let mut observed = vec![measured];
    if run.errors > 0 {
        observed.push(format!(
            "{} of {} failed; first: {}",
            run.errors,
            run.requests,
            run.first_error.as_deref().unwrap_or("not recorded")
        ));
    }
    observed.extend(over.iter().cloned());
    let summary = if run.errors > 0 {
        format!("{} of {} requests failed", run.errors, run.requests)
    } else {
        format!("latency over the SLO: {}", over.join(", "))
    };
    figures(Outcome::fail(
        summary,
        Diagnosis::new(observed.join("; "), cause, command),
    ))
}

// ---------------------------------------------------------------------------------------------
// F3 gpu-node-inference

/// How the GPU node gets its `nvidia.com/gpu`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GpuSource {
    /// An extended resource patched into one agent's status (`gpu: simulate`).
    Simulated,
    /// The NVIDIA device plugin on a GPU node (`gpu: real`).
    DevicePlugin,
}

/// A predictor pod of the GPU model as observed.
#[derive(Debug, Clone, PartialEq)]
pub struct GpuPod {
    pub name: String,
    pub node: Option<String>,
    /// Phase and why, e.g. "Pending: 0/3 nodes are available: 3 Insufficient nvidia.com/gpu".
    pub state: String,
}

/// The prediction F3 got from the GPU model through the gateway.
#[derive(Debug, Clone, PartialEq)]
pub struct GpuPrediction {
    pub correct: bool,
    /// "2/2 predictions as expected" or which rows differ.
    pub summary: String,
    pub latency: Duration,
}

/// What F3 observed.
#[derive(Debug, Clone)]
pub struct GpuObservation {
    pub source: GpuSource,
    pub gpu_node: String,
    /// `namespace/name` of the GPU InferenceService.
    pub isvc: String,
    /// Its readiness when the wait ended.
    pub ready: readiness::Readiness,
    pub waited: Duration,
    pub pods: Vec<GpuPod>,
    /// `None` when the model never became ready, so nothing was sent.
    pub prediction: Option<Result<GpuPrediction, String>>,
    pub gone_afterwards: Result<bool, String>,
}

/// F3's verdict: the GPU InferenceService became Ready, its predictor runs on the GPU node, it
/// answered the known inputs correctly through the gateway, and it was removed afterwards.
pub fn evaluate_gpu_inference(obs: &GpuObservation) -> Outcome {
    let source = match obs.source {
        GpuSource::Simulated => "simulated nvidia.com/gpu",
        GpuSource::DevicePlugin => "NVIDIA device plugin",
    };
    let pods = if obs.pods.is_empty() {
        "no predictor pods".to_string()
    } else {
        obs.pods
            .iter()
            .map(|p| {
                format!(
                    "pod {} on {}: {}",
                    p.name,
                    p.node.as_deref().unwrap_or("no node"),
                    p.state
                )
            })
            .collect::<Vec<_>>()
            .join("; ")
    };
    let namespace = obs.isvc.split('/').next().unwrap_or_default();
    let describe_pods = format!(
        "kubectl -n {namespace} describe pods -l serving.kserve.io/inferenceservice={}",
        obs.isvc.split('/').nth(1).unwrap_or_default()
    );
    if !obs.ready.ready {
        let insufficient = obs
            .pods
            .iter()
            .any(|p| p.state.contains("Insufficient nvidia.com/gpu"));
        let untolerated = obs
            .pods
            .iter()
            .any(|p| p.state.contains("untolerated taint"));
        let cause = if insufficient {
            match obs.source {
                GpuSource::DevicePlugin => "no node advertises a free nvidia.com/gpu: the device plugin is not running or not advertising (missing runtimeClassName nvidia or CUDA image, wrong affinity label; UPSTREAM.md §10 item 13)",
                GpuSource::Simulated => "the simulated nvidia.com/gpu capacity is gone or taken (kubelet resets extended capacity when it re-registers the node, or another pod holds it)",
            }
        } else if untolerated {
            "the GPU model does not tolerate the GPU node's nvidia.com/gpu:NoSchedule taint"
        } else if obs.pods.is_empty() {
            "KServe/Knative created no predictor pod: see the InferenceService conditions (a Knative podspec feature flag may be disabled, UPSTREAM.md §10 item 4)"
        } else {
            "the predictor pod on the GPU node is not ready (image pull, storage-initializer download, or crash)"
        };
        return Outcome::fail(
            format!(
                "GPU InferenceService {} not Ready after {:.0} s",
                obs.isvc,
                obs.waited.as_secs_f64()
            ),
            Diagnosis::new(
                format!("{}; {pods}", obs.ready.observed),
                cause,
                describe_pods,
            ),
        );
    }
    let off_node: Vec<&GpuPod> = obs
        .pods
        .iter()
        .filter(|p| p.node.as_deref() != Some(obs.gpu_node.as_str()))
        .collect();
    if obs.pods.is_empty() || !off_node.is_empty() {
        return Outcome::fail(
            format!("GPU model not scheduled on the GPU node {}", obs.gpu_node),
            Diagnosis::new(
                pods,
                "nvidia.com/gpu is advertised on another node too, or the GPU model does not request nvidia.com/gpu: 1",
                "kubectl get nodes -o custom-columns=NAME:.metadata.name,GPU:.status.allocatable.nvidia\\.com/gpu",
            ),
        );
    }
    let prediction =
        match &obs.prediction {
            Some(Ok(p)) if p.correct => p,
            Some(Ok(p)) => {
                return Outcome::fail(
                    "the GPU model answered wrong predictions",
                    Diagnosis::new(
                        p.summary.clone(),
                        "the model served is not the iris classifier the scenario expects",
                        format!("kubectl -n {namespace} get inferenceservice -o yaml"),
                    ),
                )
            }
            Some(Err(e)) => return Outcome::fail(
                "the GPU model did not answer through the gateway",
                Diagnosis::new(
                    e.clone(),
                    "Kourier has no route for the model's Host (404) or no ready revision (503)",
                    "kubectl -n kourier-system get pods,svc",
                ),
            ),
            None => {
                return Outcome::fail(
                    "no prediction was sent to the GPU model",
                    Diagnosis::new(
                        pods,
                        "the check could not reach the gateway",
                        "kubectl -n kourier-system get svc kourier",
                    ),
                )
            }
        };
    match &obs.gone_afterwards {
        Ok(true) => {}
        Ok(false) => {
            return Outcome::fail(
                "the GPU model was not removed afterwards",
                Diagnosis::new(
                    format!("inferenceservice {} still exists", obs.isvc),
                    "a finalizer holds it (KServe controller not running?)",
                    format!("kubectl -n {namespace} get inferenceservice -o yaml"),
                ),
            )
        }
        Err(e) => {
            return Outcome::fail(
                "the GPU model's removal could not be confirmed",
                Diagnosis::new(
                    e.clone(),
                    "the API server could not be read",
                    "neuroscale doctor",
                ),
            )
        }
    }
    Outcome::pass(format!(
        "{} scheduled on GPU node {} ({source}), Ready in {:.0} s, {} in {:.0} ms through Kourier; removed afterwards",
        obs.isvc,
        obs.gpu_node,
        obs.waited.as_secs_f64(),
        prediction.summary,
        ms(prediction.latency)
    ))
    .with_figure("ready after", obs.waited.as_secs_f64(), "s")
    .with_figure("predict latency", ms(prediction.latency), "ms")
}

// ---------------------------------------------------------------------------------------------
// F4 gather

impl LatencyRun {
    /// The figures of a probe load run against `model` with Host `host`.
    pub fn from_report(model: &str, host: &str, report: &probe::LoadReport) -> LatencyRun {
        LatencyRun {
            model: model.to_string(),
            host: host.to_string(),
            requests: report.requests,
            errors: report.errors,
            p50: report.p50,
            p95: report.p95,
            p99: report.p99,
            max: report.max,
            throughput_rps: report.throughput_rps,
            first_error: report.first_error.clone(),
        }
    }
}

fn no_ingress() -> Outcome {
    Outcome::fail(
        "the Kourier gateway is not reachable from the harness",
        Diagnosis::new(
            "no ingress URL: the runner could not reach service kourier-system/kourier",
            "the Kourier gateway Service is missing or has no ready endpoints, so neither the k3d port mapping nor a port-forward reaches it",
            "kubectl -n kourier-system get pods,svc",
        ),
    )
}

/// Reads a model's InferenceService and returns its Host header, or the FAIL that explains why
/// there is none.
async fn model_host(run: &CheckRun<'_>, namespace: &str, name: &str) -> Result<String, Outcome> {
    run.saw(format!("reading inferenceservice {namespace}/{name}"));
    let isvc = observe::get(
        &run.env.client,
        &observe::INFERENCE_SERVICE,
        Some(namespace),
        name,
    )
    .await
    .map_err(|e| api_failure(&format!("inferenceservice {namespace}/{name}"), &e))?;
    let Some(isvc) = isvc else {
        return Err(Outcome::fail(
            format!("inferenceservice {namespace}/{name} does not exist"),
            Diagnosis::new(
                format!("no inferenceservice {name} in {namespace}"),
                "the model's Application has not synced (ApplicationSet model-endpoints)",
                "kubectl -n argocd get applications",
            ),
        ));
    };
    isvc_host(&isvc).map_err(|observed| {
        Outcome::fail(
            format!("inferenceservice {namespace}/{name} is not ready to serve"),
            Diagnosis::new(
                observed,
                super::serving::isvc_likely_cause(&isvc),
                format!("kubectl -n {namespace} describe inferenceservice {name}"),
            ),
        )
    })
}

fn latency_slo<'a>(run: &'a CheckRun<'a>) -> CheckFuture<'a> {
    async move {
        let scenario = &run.env.scenario;
        let Some(model) = scenario.cpu_models().next() else {
            return Outcome::fail(
                "the scenario names no CPU model to load",
                Diagnosis::new(
                    "spec.models has no model without gpu: true",
                    "the scenario is incomplete",
                    "neuroscale check --list",
                ),
            );
        };
        let Some(ingress) = run.env.ingress_url.clone() else {
            return no_ingress();
        };
        let host = match model_host(run, &model.namespace, &model.name).await {
            Ok(h) => h,
            Err(outcome) => return outcome,
        };
        let target = probe::Target {
            base_url: ingress.clone(),
            host: Some(host.clone()),
            model: model.name.clone(),
            protocol: model.protocol,
        };
        let slo = &scenario.spec.latency;
        run.saw(format!(
            "sending {} requests ({} warm-up) at concurrency {} to {ingress} with Host {host}",
            slo.requests, slo.warmup, slo.concurrency
        ));
        match probe::run_load(&run.env.http, &target, &probe::LoadSpec::from(slo)).await {
            Ok(report) => {
                evaluate_latency(slo, &LatencyRun::from_report(&model.name, &host, &report))
            }
            Err(e) => Outcome::fail(
                "the load run could not start",
                Diagnosis::new(
                    probe::error_chain(&e),
                    "the scenario's load settings are invalid",
                    "neuroscale check --list",
                ),
            ),
        }
    }
    .boxed()
}

// ---------------------------------------------------------------------------------------------
// F3 gather

/// The GPU model manifest F3 applies (`gitops::GPU_MODEL_FILE`), built into the binary.
pub const GPU_MODEL_MANIFEST: &str =
    include_str!("../../manifests/gpu/sklearn-iris-gpu/inferenceservice.yaml");
/// Part of the deadline kept for deleting the GPU model after the wait.
const GPU_CLEANUP_RESERVE: Duration = Duration::from_secs(30);
/// How often F3 looks at the GPU model while it starts.
const GPU_POLL: Duration = Duration::from_secs(1);

/// The GPU model as F3 creates it: the manifest, plus `runtimeClassName: nvidia` when a real
/// device plugin provides the GPU (k3d-io/k3d docs/usage/advanced/cuda.md).
pub fn gpu_model_manifest(source: GpuSource) -> Result<Value, String> {
    let mut manifest: Value = serde_yaml::from_str(GPU_MODEL_MANIFEST)
        .map_err(|e| format!("{}: {e}", crate::gitops::GPU_MODEL_FILE))?;
    if manifest.get("kind").and_then(Value::as_str) != Some("InferenceService") {
        return Err(format!(
            "{} is not an InferenceService",
            crate::gitops::GPU_MODEL_FILE
        ));
    }
    if source == GpuSource::DevicePlugin {
        manifest["spec"]["predictor"]["runtimeClassName"] = Value::from("nvidia");
    }
    Ok(manifest)
}

/// The nodes a manifest's `spec.predictor.nodeSelector` selects.
pub fn selected_nodes<'a>(manifest: &Value, nodes: &'a [Node]) -> Vec<&'a Node> {
    let selector: BTreeMap<String, String> = manifest
        .pointer("/spec/predictor/nodeSelector")
        .and_then(Value::as_object)
        .map(|m| {
            m.iter()
                .filter_map(|(k, v)| v.as_str().map(|v| (k.clone(), v.to_string())))
                .collect()
        })
        .unwrap_or_default();
    nodes
        .iter()
        .filter(|n| {
            let labels = n.metadata.labels.clone().unwrap_or_default();
            selector.iter().all(|(k, v)| labels.get(k) == Some(v))
        })
        .collect()
}

/// A predictor pod as F3 reports it: phase, why it is not scheduled, container readiness.
pub fn gpu_pod(pod: &Pod) -> GpuPod {
    let status = pod.status.as_ref();
    let phase = status
        .and_then(|s| s.phase.clone())
        .unwrap_or_else(|| "Unknown".into());
    let unscheduled = status
        .and_then(|s| s.conditions.as_ref())
        .into_iter()
        .flatten()
        .find(|c| c.type_ == "PodScheduled" && c.status == "False")
        .map(|c| c.message.clone().unwrap_or_default());
    let state = match unscheduled {
        Some(message) => format!("{phase}: {message}"),
        None => format!("{phase}, {}", readiness::pod_containers(pod).observed),
    };
    GpuPod {
        name: pod.metadata.name.clone().unwrap_or_default(),
        node: pod.spec.as_ref().and_then(|s| s.node_name.clone()),
        state,
    }
}

fn gpu_node_inference<'a>(run: &'a CheckRun<'a>) -> CheckFuture<'a> {
    async move {
        let scenario = &run.env.scenario;
        if scenario.spec.gpu == GpuMode::Off {
            return Outcome::skip("the scenario sets gpu: off, so GPU-node inference is not part of this run");
        }
        if !run.env.mutations_allowed {
            return super::guardrails::mutations_refused(run, "creating the GPU model");
        }
        let Some(model) = scenario.gpu_model() else {
            return Outcome::fail(
                "the scenario names no GPU model",
                Diagnosis::new("spec.models has no model with gpu: true", "the scenario is incomplete: F3 needs the GPU model and its known inputs", "neuroscale check --list"),
            );
        };
        let client = &run.env.client;
        let nodes_api: Api<Node> = Api::all(client.clone());
        let nodes = match nodes_api.list(&ListParams::default()).await {
            Ok(l) => l.items,
            Err(e) => return api_failure("nodes", &e),
        };
        let simulated = |n: &Node| {
            n.metadata.labels.as_ref().and_then(|l| l.get(gpu::SIMULATED_LABEL)).map(String::as_str)
                == Some(gpu::SIMULATED_LABEL_VALUE)
        };
        let plugin_node = nodes
            .iter()
            .find(|n| gpu::allocatable_gpus(n) > 0 && !simulated(n))
            .and_then(|n| n.metadata.name.clone());
        let (source, gpu_node) = match (scenario.spec.gpu, plugin_node) {
            (GpuMode::Real | GpuMode::Auto, Some(node)) => (GpuSource::DevicePlugin, node),
            (GpuMode::Real, None) => {
                return Outcome::fail(
                    "no node advertises nvidia.com/gpu",
                    Diagnosis::new(
                        format!("{} node(s), none with allocatable nvidia.com/gpu from a device plugin", nodes.len()),
                        "the NVIDIA device plugin is not running or not advertising (missing runtimeClassName nvidia or the CUDA k3s image, or the node lacks nvidia.com/gpu.present=true; UPSTREAM.md §10 item 13)",
                        "kubectl -n kube-system get pods -l name=nvidia-device-plugin-ds -o wide",
                    ),
                )
            }
            _ => {
                // gpu::simulate_on_agent picks the agent already labelled as a GPU node; mark the
                // one node the GPU model is pinned to (k3d config nodeLabels) so it is chosen.
                let pinned: Vec<String> = gpu_model_manifest(GpuSource::Simulated)
                    .map(|m| {
                        selected_nodes(&m, &nodes)
                            .iter()
                            .filter_map(|n| n.metadata.name.clone())
                            .collect()
                    })
                    .unwrap_or_default();
                if let [node] = pinned.as_slice() {
                    run.saw(format!(
                        "labelling node {node} {}={}",
                        gpu::GPU_NODE_LABEL,
                        gpu::GPU_NODE_LABEL_VALUE
                    ));
                    let patch = serde_json::json!({"metadata": {"labels": {
                        gpu::GPU_NODE_LABEL: gpu::GPU_NODE_LABEL_VALUE}}});
                    if let Err(e) = nodes_api
                        .patch(node, &PatchParams::default(), &Patch::Merge(&patch))
                        .await
                    {
                        return api_failure(&format!("node {node} (label as the GPU node)"), &e);
                    }
                }
                run.saw("advertising a simulated nvidia.com/gpu on an agent node");
                match gpu::simulate_on_agent(client.clone()).await {
                    Ok(node) => (GpuSource::Simulated, node),
                    Err(e) => {
                        return Outcome::fail(
                            "could not simulate a GPU node",
                            Diagnosis::new(probe::error_chain(&e), "no agent node, or this identity may not patch node status", "kubectl get nodes"),
                        )
                    }
                }
            }
        };
        let manifest = match gpu_model_manifest(source) {
            Ok(m) => m,
            Err(e) => return Outcome::fail("the GPU model manifest is unusable", Diagnosis::new(e, "a build defect in manifests/gpu/", "cargo test gitops")),
        };
        // The manifest pins the model to the GPU node by label; it must select the node that has
        // the GPU, or the pod can never be scheduled.
        let selected: Vec<String> = selected_nodes(&manifest, &nodes)
            .iter()
            .filter_map(|n| n.metadata.name.clone())
            .collect();
        if !selected.contains(&gpu_node) {
            return Outcome::fail(
                format!("the GPU model cannot land on the GPU node {gpu_node}"),
                Diagnosis::new(
                    format!(
                        "nvidia.com/gpu is on {gpu_node}; the GPU model's nodeSelector {} selects {}",
                        manifest.pointer("/spec/predictor/nodeSelector").cloned().unwrap_or_default(),
                        if selected.is_empty() { "no node".to_string() } else { selected.join(", ") }
                    ),
                    "the node labelled as the GPU node (k3d config nodeLabels) is not the node the GPU is advertised on",
                    "kubectl get nodes --show-labels",
                ),
            );
        }
        let namespace = manifest.pointer("/metadata/namespace").and_then(Value::as_str).unwrap_or(&model.namespace).to_string();
        let name = manifest.pointer("/metadata/name").and_then(Value::as_str).unwrap_or(&model.name).to_string();
        let object = CreatedObject {
            api_version: observe::INFERENCE_SERVICE.api_version(),
            kind: observe::INFERENCE_SERVICE.kind.to_string(),
            namespace: Some(namespace.clone()),
            name: name.clone(),
        };
        run.track(object.clone());
        run.saw(format!("creating inferenceservice {namespace}/{name} (nvidia.com/gpu: 1)"));
        let started = Instant::now();
        if let Err(e) = observe::create(client, &observe::INFERENCE_SERVICE, Some(&namespace), &manifest, false).await {
            let message = observe::error_message(&e);
            let _ = super::guardrails::remove_probe(run, &observe::INFERENCE_SERVICE, &object).await;
            let cause = match admission::classify(&message) {
                admission::AdmissionOutcome::OtherDenial { webhook, .. } if message.contains("must not set the field") => format!("Knative's webhook {webhook} rejects the podspec field: the matching config-features flag is disabled (a config problem, not a GPU problem; UPSTREAM.md §10 item 4)"),
                admission::AdmissionOutcome::KyvernoDenial { policies, .. } => format!("the GPU model violates {}", policies.join(", ")),
                admission::AdmissionOutcome::WebhookUnavailable { webhook, .. } => format!("webhook {webhook} could not be called (no endpoints): an infrastructure failure"),
                _ => "the API server refused the GPU model".to_string(),
            };
            return Outcome::fail(
                format!("inferenceservice {namespace}/{name} was not created"),
                Diagnosis::new(message, cause, "neuroscale doctor"),
            );
        }
        // Time kept back for deleting the model; a quarter of a short deadline at most.
        let reserve = GPU_CLEANUP_RESERVE.min(run.deadline / 4);
        let pods_api: Api<Pod> = Api::namespaced(client.clone(), &namespace);
        let selector = format!("serving.kserve.io/inferenceservice={name}");
        let mut pods = Vec::new();
        let mut last_isvc = Value::Null;
        let ready = loop {
            let ready = match observe::get(client, &observe::INFERENCE_SERVICE, Some(&namespace), &name).await {
                Ok(Some(isvc)) => {
                    let ready = readiness::inference_service(&isvc);
                    last_isvc = isvc;
                    ready
                }
                Ok(None) => readiness::Readiness::not_ready(format!("inferenceservice {name} disappeared")),
                Err(e) => readiness::Readiness::not_ready(observe::error_message(&e)),
            };
            if let Ok(list) = pods_api.list(&ListParams::default().labels(&selector)).await {
                pods = list.items.iter().filter(|p| p.metadata.deletion_timestamp.is_none()).map(gpu_pod).collect();
            }
            run.saw(format!("{}; {} predictor pod(s)", ready.observed, pods.len()));
            if ready.ready || run.remaining() <= reserve + GPU_POLL {
                break ready;
            }
            tokio::time::sleep(GPU_POLL).await;
        };
        let waited = started.elapsed();
        let prediction = if ready.ready {
            match (&run.env.ingress_url, isvc_host(&last_isvc)) {
                (Some(base), Ok(host)) => {
                    let target = probe::Target { base_url: base.clone(), host: Some(host), model: name.clone(), protocol: model.protocol };
                    run.saw(format!("predicting through {base}"));
                    Some(match probe::verify(&run.env.http, &target, &model.instances, &model.expected).await {
                        Ok(v) => Ok(GpuPrediction { correct: v.is_correct(), summary: v.summary(), latency: v.latency }),
                        Err(e) => Err(probe::error_chain(&e)),
                    })
                }
                (None, _) => Some(Err("no ingress URL: the runner could not reach the Kourier gateway".to_string())),
                (_, Err(e)) => Some(Err(e)),
            }
        } else {
            None
        };
        let gone_afterwards = super::guardrails::remove_probe(run, &observe::INFERENCE_SERVICE, &object).await;
        evaluate_gpu_inference(&GpuObservation {
            source,
            gpu_node,
            isvc: format!("{namespace}/{name}"),
            ready,
            waited,
            pods,
            prediction,
            gone_afterwards,
        })
    }
    .boxed()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checks::fixtures::diagnosis;
    use crate::checks::fixtures_def as fx;
    use crate::checks::outcome::Verdict;
    use serde_json::json;

    #[test]
    fn quantities_compare_by_value() {
        assert_eq!(quantity("500m"), Some(0.5));
        assert_eq!(quantity("4Gi"), Some(4.0 * 1073741824.0));
        assert_eq!(quantity("2e3"), Some(2000.0));
        assert_eq!(quantity("1k"), Some(1000.0));
        assert!(same_quantity("1", "1000m"));
        assert!(same_quantity("8Gi", "8192Mi"));
        assert!(!same_quantity("8Gi", "8G"));
        assert_eq!(quantity("lots"), None);
    }

    fn declared() -> DeclaredGovernance {
        DeclaredGovernance::from_gitops(&crate::gitops::governance::declared()).unwrap()
    }

    /// The live objects for the shipped declaration, as the API server returns them: quantities
    /// rewritten into another canonical form ("4" as "4000m", "8Gi" as "8192Mi") and the
    /// LimitRange item with fields the API server defaults (core/v1 LimitRange defaulting).
    fn live_from_declaration() -> (Vec<ResourceQuota>, Vec<LimitRange>) {
        let g = crate::gitops::governance::declared();
        let mut hard = serde_json::Map::new();
        for (key, value) in &g.quota_hard {
            let rewritten = match value.as_str() {
                "4" => "4000m".to_string(),
                "8Gi" => "8192Mi".to_string(),
                other => other.to_string(),
            };
            hard.insert(key.clone(), Value::from(rewritten));
        }
        let mut item = g.limits[0].clone();
        item["maxLimitRequestRatio"] = json!({"cpu": "10"});
        (
            vec![fx::resource_quota(
                &g.namespace,
                &g.resource_quota,
                Value::Object(hard),
            )],
            vec![fx::limit_range(&g.namespace, &g.limit_range, item)],
        )
    }

    #[test]
    fn f1_passes_on_the_shipped_declaration_in_canonical_form() {
        let (quotas, ranges) = live_from_declaration();
        let outcome = evaluate_governance("models", &declared(), &quotas, &ranges);
        assert_eq!(outcome.verdict, Verdict::Pass, "{outcome:?}");
        assert!(
            outcome.summary.contains("models-quota"),
            "{}",
            outcome.summary
        );
    }

    #[test]
    fn f1_fails_on_a_drifted_limit() {
        let (mut quotas, ranges) = live_from_declaration();
        let hard = quotas[0].spec.as_mut().unwrap().hard.as_mut().unwrap();
        hard.insert(
            "requests.cpu".into(),
            k8s_openapi::apimachinery::pkg::api::resource::Quantity("40".into()),
        );
        let outcome = evaluate_governance("models", &declared(), &quotas, &ranges);
        assert_eq!(outcome.verdict, Verdict::Fail);
        let d = diagnosis(&outcome);
        assert!(
            d.observed.contains("requests.cpu is 40 (declared 4)"),
            "{d:?}"
        );
        assert!(d.likely_cause.contains("drifted"));
    }

    #[test]
    fn f1_fails_on_a_missing_quota_key_and_on_another_namespace() {
        let (mut quotas, ranges) = live_from_declaration();
        let hard = quotas[0].spec.as_mut().unwrap().hard.as_mut().unwrap();
        hard.remove("pods");
        let outcome = evaluate_governance("models", &declared(), &quotas, &ranges);
        assert_eq!(outcome.verdict, Verdict::Fail);
        assert!(diagnosis(&outcome)
            .observed
            .contains("hard pods is not set"));
    }

    #[test]
    fn f1_fails_when_the_limit_range_is_missing() {
        let (quotas, _) = live_from_declaration();
        let outcome = evaluate_governance("models", &declared(), &quotas, &[]);
        assert_eq!(outcome.verdict, Verdict::Fail);
        let d = diagnosis(&outcome);
        assert!(
            d.observed
                .contains("LimitRange models/models-limits does not exist"),
            "{d:?}"
        );
        assert!(d.next_command.contains("-n models"));
    }

    #[test]
    fn f1_fails_when_nothing_is_declared() {
        let (quotas, ranges) = live_from_declaration();
        let outcome =
            evaluate_governance("models", &DeclaredGovernance::default(), &quotas, &ranges);
        assert_eq!(outcome.verdict, Verdict::Fail);
        assert!(outcome.summary.contains("no declared governance"));
    }

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
        assert_eq!(outcome.verdict, Verdict::Pass, "{outcome:?}");
        assert!(
            outcome.summary.starts_with("3/3 webhooks"),
            "{}",
            outcome.summary
        );
    }

    #[test]
    fn f2_fails_on_a_stale_webhook_whose_service_is_gone() {
        // seeds/11 failure 5: an ingress-nginx admission webhook outlived its controller.
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
        assert_eq!(outcome.verdict, Verdict::Fail);
        let d = diagnosis(&outcome);
        assert!(
            d.observed
                .contains("ingress-nginx/ingress-nginx-controller-admission, which does not exist"),
            "{d:?}"
        );
        assert!(d.likely_cause.contains("seeds/11 failure 5"));
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
        assert_eq!(outcome.verdict, Verdict::Fail);
        let d = diagnosis(&outcome);
        assert!(d.observed.contains("no ready endpoints"));
        assert!(d.likely_cause.contains("kube-rbac-proxy"));
        assert!(d.next_command.contains("-n kserve"));
    }

    #[test]
    fn f2_fails_when_no_webhook_calls_a_service() {
        let outcome = evaluate_webhooks(&[], &all_ready());
        assert_eq!(outcome.verdict, Verdict::Fail);
        let only_urls = webhook_refs(
            &[fx::validating_config_with_url(
                "external",
                "https://policy.example.dev/validate",
            )],
            &[],
        );
        let outcome = evaluate_webhooks(&only_urls, &all_ready());
        assert_eq!(outcome.verdict, Verdict::Fail);
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
        assert_eq!(outcome.verdict, Verdict::Pass);
        assert!(
            outcome.summary.contains("1 call a URL"),
            "{}",
            outcome.summary
        );
    }
    fn slo() -> Latency {
        Latency {
            requests: 200,
            concurrency: 4,
            warmup: 20,
            p50_ms: 150.0,
            p95_ms: 400.0,
            p99_ms: 800.0,
        }
    }

    fn load(errors: u32, p99_ms: u64) -> LatencyRun {
        LatencyRun {
            model: "sklearn-iris".into(),
            host: "sklearn-iris-predictor.models.127.0.0.1.sslip.io".into(),
            requests: 200,
            errors,
            p50: Duration::from_millis(12),
            p95: Duration::from_millis(35),
            p99: Duration::from_millis(p99_ms),
            max: Duration::from_millis(p99_ms + 5),
            throughput_rps: 310.0,
            first_error: (errors > 0).then(|| {
                "http://127.0.0.1:8080/v1/models/sklearn-iris:predict (Host: x) answered HTTP 503: no healthy upstream".to_string()
            }),
        }
    }

    #[test]
    fn f4_passes_within_the_slo_and_reports_the_percentiles() {
        let outcome = evaluate_latency(&slo(), &load(0, 60));
        assert_eq!(outcome.verdict, Verdict::Pass, "{outcome:?}");
        let names: Vec<&str> = outcome.figures.iter().map(|f| f.name.as_str()).collect();
        assert_eq!(&names[..3], ["p50", "p95", "p99"]);
        assert_eq!(outcome.figures[2].value, 60.0);
        assert!(
            outcome.summary.contains("p99 60.0 ms"),
            "{}",
            outcome.summary
        );
    }

    #[test]
    fn f4_fails_on_any_error() {
        let outcome = evaluate_latency(&slo(), &load(1, 60));
        assert_eq!(outcome.verdict, Verdict::Fail);
        assert_eq!(outcome.summary, "1 of 200 requests failed");
        let d = diagnosis(&outcome);
        assert!(d.observed.contains("HTTP 503"), "{d:?}");
        assert!(d.likely_cause.contains("no ready revision"), "{d:?}");
        assert!(
            !outcome.figures.is_empty(),
            "figures are reported on FAIL too"
        );
    }

    #[test]
    fn f4_fails_over_the_threshold() {
        let outcome = evaluate_latency(&slo(), &load(0, 950));
        assert_eq!(outcome.verdict, Verdict::Fail);
        assert!(
            outcome.summary.contains("p99 950.0 ms > 800 ms"),
            "{}",
            outcome.summary
        );
        assert!(diagnosis(&outcome).likely_cause.contains("too slow"));
    }

    #[test]
    fn the_host_header_comes_from_the_isvc_url() {
        let isvc = json!({"metadata": {"name": "sklearn-iris"}, "status": {
            "url": "http://sklearn-iris-predictor.models.127.0.0.1.sslip.io",
            "conditions": [{"type": "Ready", "status": "True"}]}});
        assert_eq!(
            isvc_host(&isvc).unwrap(),
            "sklearn-iris-predictor.models.127.0.0.1.sslip.io"
        );
        let not_ready = json!({"metadata": {"name": "sklearn-iris"}, "status": {
            "conditions": [{"type": "Ready", "status": "False", "reason": "IngressNotConfigured"}]}});
        assert!(isvc_host(&not_ready).unwrap_err().contains("Ready=False"));
    }

    fn gpu_ok() -> GpuObservation {
        GpuObservation {
            source: GpuSource::Simulated,
            gpu_node: "k3d-neuroscale-agent-0".into(),
            isvc: "models/sklearn-iris-gpu".into(),
            ready: readiness::Readiness::ready("inferenceservice sklearn-iris-gpu Ready"),
            waited: Duration::from_secs(42),
            pods: vec![GpuPod {
                name: "sklearn-iris-gpu-predictor-00001-deployment-7c9".into(),
                node: Some("k3d-neuroscale-agent-0".into()),
                state: "Running, 2/2 containers ready".into(),
            }],
            prediction: Some(Ok(GpuPrediction {
                correct: true,
                summary: "2/2 predictions as expected".into(),
                latency: Duration::from_millis(9),
            })),
            gone_afterwards: Ok(true),
        }
    }

    #[test]
    fn f3_passes_on_the_gpu_node_with_correct_predictions() {
        let outcome = evaluate_gpu_inference(&gpu_ok());
        assert_eq!(outcome.verdict, Verdict::Pass, "{outcome:?}");
        assert!(outcome.summary.contains("k3d-neuroscale-agent-0"));
        assert_eq!(outcome.figures[0].value, 42.0);
    }

    #[test]
    fn f3_fails_when_the_pod_lands_elsewhere() {
        let mut obs = gpu_ok();
        obs.pods[0].node = Some("k3d-neuroscale-server-0".into());
        let outcome = evaluate_gpu_inference(&obs);
        assert_eq!(outcome.verdict, Verdict::Fail);
        assert!(diagnosis(&outcome)
            .observed
            .contains("on k3d-neuroscale-server-0"));
    }

    #[test]
    fn f3_fails_pending_on_insufficient_gpus_naming_the_device_plugin() {
        let mut obs = gpu_ok();
        obs.source = GpuSource::DevicePlugin;
        obs.ready =
            readiness::Readiness::not_ready("inferenceservice sklearn-iris-gpu Ready=False");
        obs.pods[0].node = None;
        obs.pods[0].state =
            "Pending: 0/3 nodes are available: 3 Insufficient nvidia.com/gpu.".into();
        obs.prediction = None;
        let outcome = evaluate_gpu_inference(&obs);
        assert_eq!(outcome.verdict, Verdict::Fail);
        let d = diagnosis(&outcome);
        assert!(d.likely_cause.contains("device plugin"), "{d:?}");
        assert!(d
            .next_command
            .contains("serving.kserve.io/inferenceservice=sklearn-iris-gpu"));
    }

    #[test]
    fn f3_fails_on_wrong_predictions_or_no_answer() {
        let mut obs = gpu_ok();
        obs.prediction = Some(Ok(GpuPrediction {
            correct: false,
            summary: "1 of 2 predictions wrong: row 1 [5.1, 3.5, 1.4, 0.2]: expected 0, got 2"
                .into(),
            latency: Duration::from_millis(9),
        }));
        assert_eq!(evaluate_gpu_inference(&obs).verdict, Verdict::Fail);
        let mut obs = gpu_ok();
        obs.prediction = Some(Err("answered HTTP 404".into()));
        let outcome = evaluate_gpu_inference(&obs);
        assert_eq!(outcome.verdict, Verdict::Fail);
        assert!(diagnosis(&outcome).observed.contains("404"));
        let mut obs = gpu_ok();
        obs.gone_afterwards = Ok(false);
        assert_eq!(evaluate_gpu_inference(&obs).verdict, Verdict::Fail);
    }
    fn test_env(gpu: GpuMode, mutations_allowed: bool) -> crate::checks::CheckEnv {
        // The kube client points at a closed port: these paths must decide before any read.
        let config = kube::Config::new("http://127.0.0.1:9".parse().unwrap());
        let mut scenario = crate::scenario::Scenario::parse(
            std::path::Path::new("scenarios/smoke.yaml"),
            crate::scenario::BUILTIN_SMOKE,
        )
        .unwrap();
        scenario.spec.gpu = gpu;
        crate::checks::CheckEnv {
            client: kube::Client::try_from(config).unwrap(),
            scenario,
            http: reqwest::Client::new(),
            context_name: "k3d-neuroscale".into(),
            mutations_allowed,
            ingress_url: None,
            opencost_url: None,
            gitops_cache_dir: std::env::temp_dir(),
        }
    }

    async fn run_check(env: &crate::checks::CheckEnv, id: &str, check: CheckFn) -> Outcome {
        let spec = crate::checks::catalogue::find(id).unwrap();
        let run = CheckRun::new(env, spec, Duration::from_secs(30));
        check(&run).await
    }

    #[tokio::test]
    async fn f3_skips_with_the_reason_only_when_the_scenario_turns_gpus_off() {
        let outcome = run_check(&test_env(GpuMode::Off, true), "F3", gpu_node_inference).await;
        assert_eq!(outcome.verdict, Verdict::Skip);
        assert!(outcome.summary.contains("gpu: off"), "{}", outcome.summary);
        let refused = run_check(
            &test_env(GpuMode::Simulate, false),
            "F3",
            gpu_node_inference,
        )
        .await;
        assert_eq!(refused.verdict, Verdict::Fail);
        assert!(diagnosis(&refused).next_command.contains("--allow-context"));
    }

    #[tokio::test]
    async fn f4_fails_without_a_gateway_to_send_through() {
        let outcome = run_check(&test_env(GpuMode::Simulate, true), "F4", latency_slo).await;
        assert_eq!(outcome.verdict, Verdict::Fail);
        assert!(diagnosis(&outcome).next_command.contains("kourier-system"));
    }

    #[test]
    fn the_gpu_model_is_the_shipped_manifest_with_runtime_class_only_for_a_real_gpu() {
        let simulated = gpu_model_manifest(GpuSource::Simulated).unwrap();
        assert_eq!(
            simulated.pointer("/spec/predictor/model/resources/limits/nvidia.com~1gpu"),
            Some(&json!("1"))
        );
        assert!(simulated
            .pointer("/spec/predictor/runtimeClassName")
            .is_none());
        let real = gpu_model_manifest(GpuSource::DevicePlugin).unwrap();
        assert_eq!(real["spec"]["predictor"]["runtimeClassName"], "nvidia");
        assert!(crate::gitops::GPU_MODEL_FILE.ends_with("sklearn-iris-gpu/inferenceservice.yaml"));
        // The scenario's GPU model is the one the manifest deploys.
        let scenario = crate::scenario::Scenario::parse(
            std::path::Path::new("scenarios/smoke.yaml"),
            crate::scenario::BUILTIN_SMOKE,
        )
        .unwrap();
        assert_eq!(
            simulated["metadata"]["name"],
            scenario.gpu_model().unwrap().name.as_str()
        );
    }

    // Node and pod shapes as k3s reports them (core/v1 Node labels from k3d nodeLabels; a Pending
    // pod's PodScheduled=False condition carries the scheduler's message).
    fn node(name: &str, labels: Value) -> Node {
        serde_json::from_value(json!({"metadata": {"name": name, "labels": labels}})).unwrap()
    }

    #[test]
    fn the_gpu_model_selects_only_the_labelled_gpu_node() {
        let nodes = vec![
            node(
                "k3d-neuroscale-server-0",
                json!({"node-role.kubernetes.io/control-plane": "true"}),
            ),
            node("k3d-neuroscale-agent-0", json!({})),
            node(
                "k3d-neuroscale-agent-1",
                json!({"neuroscale.dev/gpu-node": "true"}),
            ),
        ];
        let manifest = gpu_model_manifest(GpuSource::Simulated).unwrap();
        let selected: Vec<_> = selected_nodes(&manifest, &nodes)
            .iter()
            .filter_map(|n| n.metadata.name.clone())
            .collect();
        assert_eq!(selected, ["k3d-neuroscale-agent-1"]);
    }

    #[test]
    fn a_pending_gpu_pod_reports_the_schedulers_message() {
        let pod: Pod = serde_json::from_value(json!({
            "metadata": {"name": "sklearn-iris-gpu-predictor-00001-deployment-5d8"},
            "spec": {"containers": [{"name": "kserve-container"}, {"name": "queue-proxy"}]},
            "status": {"phase": "Pending", "conditions": [{"type": "PodScheduled", "status": "False",
                "reason": "Unschedulable",
                "message": "0/3 nodes are available: 1 Insufficient nvidia.com/gpu, 2 node(s) didn't match Pod's node affinity/selector."}]}
        }))
        .unwrap();
        let p = gpu_pod(&pod);
        assert_eq!(p.node, None);
        assert!(p.state.starts_with("Pending: 0/3 nodes"), "{}", p.state);
        assert!(p.state.contains("Insufficient nvidia.com/gpu"));
    }

    #[test]
    fn latency_figures_come_from_the_probe_report() {
        let report = probe::LoadReport {
            requests: 200,
            errors: 0,
            error_rate: 0.0,
            p50: Duration::from_millis(3),
            p95: Duration::from_millis(7),
            p99: Duration::from_millis(11),
            max: Duration::from_millis(15),
            throughput_rps: 900.0,
            first_error: None,
        };
        let run = LatencyRun::from_report("sklearn-iris", "h", &report);
        assert_eq!(run.p99, Duration::from_millis(11));
        assert_eq!(evaluate_latency(&slo(), &run).verdict, Verdict::Pass);
    }
    // F1 and F2 against the simulated API server (neuroscale-testkit): the real reads.
    async fn sim_env(sim: &neuroscale_testkit::SimCluster) -> crate::checks::CheckEnv {
        let mut env = test_env(GpuMode::Simulate, true);
        env.client = sim.client().unwrap();
        env
    }

    fn put_json<T: serde::Serialize>(
        sim: &neuroscale_testkit::SimCluster,
        kind: &str,
        api_version: &str,
        object: &T,
    ) {
        let mut value = serde_json::to_value(object).unwrap();
        value["apiVersion"] = json!(api_version);
        value["kind"] = json!(kind);
        sim.put(value).unwrap();
    }

    #[tokio::test]
    async fn f1_and_f2_read_a_live_cluster() {
        let sim = neuroscale_testkit::SimCluster::start().await.unwrap();
        for ns in ["models", "kserve", "ingress-nginx"] {
            sim.put(json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}}))
                .unwrap();
        }
        let (quotas, ranges) = live_from_declaration();
        put_json(&sim, "ResourceQuota", "v1", &quotas[0]);
        put_json(&sim, "LimitRange", "v1", &ranges[0]);
        put_json(
            &sim,
            "ValidatingWebhookConfiguration",
            "admissionregistration.k8s.io/v1",
            &fx::validating_config(
                "inferenceservice.serving.kserve.io",
                &[(
                    "inferenceservice.kserve-webhook-server.validator",
                    "kserve",
                    "kserve-webhook-server-service",
                )],
            ),
        );
        put_json(
            &sim,
            "Service",
            "v1",
            &fx::service("kserve", "kserve-webhook-server-service"),
        );
        put_json(
            &sim,
            "EndpointSlice",
            "discovery.k8s.io/v1",
            &fx::endpoint_slice(
                "kserve",
                "kserve-webhook-server-service",
                &["10.42.0.23"],
                &[],
            ),
        );
        let env = sim_env(&sim).await;
        let f1 = run_check(&env, "F1", namespace_governance).await;
        assert_eq!(f1.verdict, Verdict::Pass, "{f1:?}");
        let f2 = run_check(&env, "F2", no_stale_webhooks).await;
        assert_eq!(f2.verdict, Verdict::Pass, "{f2:?}");

        // seeds/11 failure 5: a webhook whose controller was uninstalled.
        put_json(
            &sim,
            "ValidatingWebhookConfiguration",
            "admissionregistration.k8s.io/v1",
            &fx::validating_config(
                "ingress-nginx-admission",
                &[(
                    "validate.nginx.ingress.kubernetes.io",
                    "ingress-nginx",
                    "ingress-nginx-controller-admission",
                )],
            ),
        );
        let f2 = run_check(&env, "F2", no_stale_webhooks).await;
        assert_eq!(f2.verdict, Verdict::Fail);
        assert!(diagnosis(&f2)
            .observed
            .contains("ingress-nginx-controller-admission, which does not exist"));
    }
    /// A stand-in for the Kourier gateway in front of a V1 model: answers every predict with one
    /// prediction (kserve v1_endpoints.py shape) and records the Host headers it saw.
    async fn gateway_stand_in(
        body: &'static str,
    ) -> (String, std::sync::Arc<std::sync::Mutex<Vec<String>>>) {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let hosts = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let record = hosts.clone();
        tokio::spawn(async move {
            while let Ok((mut socket, _)) = listener.accept().await {
                let record = record.clone();
                tokio::spawn(async move {
                    let mut buffer = vec![0u8; 16384];
                    let mut pending = String::new();
                    loop {
                        let n = match socket.read(&mut buffer).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => n,
                        };
                        pending.push_str(&String::from_utf8_lossy(&buffer[..n]));
                        // One request per read cycle: head plus a Content-Length body.
                        while let Some(end) = pending.find("\r\n\r\n") {
                            let head = pending[..end].to_string();
                            let length = head
                                .lines()
                                .find_map(|l| {
                                    l.to_ascii_lowercase()
                                        .strip_prefix("content-length:")
                                        .map(|v| v.trim().parse::<usize>().unwrap_or(0))
                                })
                                .unwrap_or(0);
                            if pending.len() < end + 4 + length {
                                break;
                            }
                            if let Some(host) = head.lines().find_map(|l| {
                                l.to_ascii_lowercase()
                                    .strip_prefix("host:")
                                    .map(|v| v.trim().to_string())
                            }) {
                                record.lock().unwrap().push(host);
                            }
                            pending.drain(..end + 4 + length);
                            let response = format!(
                                "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{body}",
                                body.len()
                            );
                            if socket.write_all(response.as_bytes()).await.is_err() {
                                return;
                            }
                        }
                    }
                });
            }
        });
        (url, hosts)
    }

    #[tokio::test]
    async fn f4_loads_the_model_through_the_gateway_with_its_host_header() {
        let sim = neuroscale_testkit::SimCluster::start().await.unwrap();
        sim.put(json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "models"}}))
            .unwrap();
        sim.put(serde_json::from_str(super::super::guardrails::tests_support::ISVC_CRD).unwrap())
            .unwrap();
        sim.put(json!({
            "apiVersion": "serving.kserve.io/v1beta1", "kind": "InferenceService",
            "metadata": {"name": "sklearn-iris", "namespace": "models"},
            "status": {"url": "http://sklearn-iris-predictor.models.neuroscale.localhost",
                       "conditions": [{"type": "Ready", "status": "True"}]}
        }))
        .unwrap();
        let (gateway, hosts) = gateway_stand_in(r#"{"predictions":[1]}"#).await;
        let mut env = sim_env(&sim).await;
        env.ingress_url = Some(gateway);
        env.scenario.spec.latency.requests = 40;
        env.scenario.spec.latency.warmup = 2;
        let outcome = run_check(&env, "F4", latency_slo).await;
        assert_eq!(outcome.verdict, Verdict::Pass, "{outcome:?}");
        assert!(
            outcome.summary.starts_with("40 requests"),
            "{}",
            outcome.summary
        );
        let hosts = hosts.lock().unwrap();
        assert_eq!(
            hosts.len(),
            42,
            "warm-up and measured requests all went through the gateway"
        );
        assert!(hosts
            .iter()
            .all(|h| h == "sklearn-iris-predictor.models.neuroscale.localhost"));
    }
    fn k3d_nodes(sim: &neuroscale_testkit::SimCluster, gpu_label_on: &str) {
        for (name, control_plane) in [
            ("k3d-neuroscale-server-0", true),
            ("k3d-neuroscale-agent-0", false),
            ("k3d-neuroscale-agent-1", false),
        ] {
            let mut labels = json!({"kubernetes.io/hostname": name});
            if control_plane {
                labels["node-role.kubernetes.io/control-plane"] = json!("true");
            }
            if name == gpu_label_on {
                labels["neuroscale.dev/gpu-node"] = json!("true");
            }
            sim.put(json!({"apiVersion": "v1", "kind": "Node",
                "metadata": {"name": name, "labels": labels},
                "status": {"capacity": {"cpu": "4", "memory": "8Gi"}, "allocatable": {"cpu": "4", "memory": "8Gi"}}}))
                .unwrap();
        }
    }

    async fn gpu_sim(gpu_label_on: &str) -> std::sync::Arc<neuroscale_testkit::SimCluster> {
        let sim = neuroscale_testkit::SimCluster::start().await.unwrap();
        sim.put(json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "models"}}))
            .unwrap();
        sim.put(serde_json::from_str(super::super::guardrails::tests_support::ISVC_CRD).unwrap())
            .unwrap();
        k3d_nodes(&sim, gpu_label_on);
        std::sync::Arc::new(sim)
    }

    #[tokio::test]
    async fn f3_fails_when_no_node_carries_the_gpu_node_label() {
        // The GPU is advertised on the first agent while the model's nodeSelector picks the
        // node labelled neuroscale.dev/gpu-node, and there is none: the pod could never run.
        let sim = gpu_sim("no-such-node").await;
        let env = sim_env(&sim).await;
        let outcome = run_check(&env, "F3", gpu_node_inference).await;
        assert_eq!(outcome.verdict, Verdict::Fail, "{outcome:?}");
        let d = diagnosis(&outcome);
        assert!(
            d.observed
                .contains("nvidia.com/gpu is on k3d-neuroscale-agent-0"),
            "{d:?}"
        );
        assert!(d.observed.contains("selects no node"), "{d:?}");
        assert!(
            sim.list(
                "serving.kserve.io/v1beta1",
                "InferenceService",
                Some("models")
            )
            .is_empty(),
            "nothing was created"
        );
    }

    #[tokio::test]
    async fn f3_passes_when_the_gpu_model_runs_on_the_gpu_node_and_answers() {
        // k3d/cluster.yaml labels agent 1 as the GPU node; the simulated GPU must go there.
        let sim = gpu_sim("k3d-neuroscale-agent-1").await;
        // A scripted KServe: once the GPU InferenceService exists, it becomes Ready with a URL
        // and its predictor pod runs on the node the scheduler would pick (the GPU node).
        let controller = {
            let sim = sim.clone();
            tokio::spawn(async move {
                loop {
                    if let Some(mut isvc) = sim.get(
                        "serving.kserve.io/v1beta1",
                        "InferenceService",
                        "models",
                        "sklearn-iris-gpu",
                    ) {
                        isvc["status"] = json!({
                            "url": "http://sklearn-iris-gpu-predictor.models.neuroscale.localhost",
                            "conditions": [{"type": "Ready", "status": "True"}]});
                        sim.put(isvc).unwrap();
                        sim.put(json!({"apiVersion": "v1", "kind": "Pod",
                            "metadata": {"name": "sklearn-iris-gpu-predictor-00001-deployment-5d8", "namespace": "models",
                                         "labels": {"serving.kserve.io/inferenceservice": "sklearn-iris-gpu"}},
                            "spec": {"nodeName": "k3d-neuroscale-agent-1", "containers": [{"name": "kserve-container"}]},
                            "status": {"phase": "Running", "containerStatuses": [
                                {"name": "kserve-container", "ready": true, "restartCount": 0, "image": "", "imageID": ""}]}}))
                            .unwrap();
                        return;
                    }
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            })
        };
        let (gateway, hosts) = gateway_stand_in(r#"{"predictions":[1,0]}"#).await;
        let mut env = sim_env(&sim).await;
        env.ingress_url = Some(gateway);
        let outcome = run_check(&env, "F3", gpu_node_inference).await;
        controller.abort();
        assert_eq!(outcome.verdict, Verdict::Pass, "{outcome:?}");
        assert!(
            outcome
                .summary
                .contains("k3d-neuroscale-agent-1 (simulated nvidia.com/gpu)"),
            "{}",
            outcome.summary
        );
        assert_eq!(
            hosts.lock().unwrap()[0],
            "sklearn-iris-gpu-predictor.models.neuroscale.localhost"
        );
        let node = sim.get("v1", "Node", "", "k3d-neuroscale-agent-1").unwrap();
        assert_eq!(
            node.pointer("/status/allocatable/nvidia.com~1gpu"),
            Some(&json!("1"))
        );
        assert!(
            sim.list(
                "serving.kserve.io/v1beta1",
                "InferenceService",
                Some("models")
            )
            .is_empty(),
            "the GPU model was removed"
        );
    }
}
