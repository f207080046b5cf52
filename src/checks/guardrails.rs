//! Milestone Guardrails (D1-D4): Kyverno readiness, policies enforcing, denials that are really
//! Kyverno's. D3/D4 create a real object that must be refused (not a dry-run: a dry-run is
//! refused outright by any matching webhook with side effects, which would make the signal
//! ambiguous), verify it does not exist afterwards, and delete it if it was admitted.

use std::time::{Duration, Instant};

use futures::FutureExt;
use k8s_openapi::api::admissionregistration::v1::{
    MutatingWebhookConfiguration, ValidatingWebhookConfiguration,
};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::Service;
use k8s_openapi::api::discovery::v1::EndpointSlice;
use kube::api::{Api, ListParams};
use kube::Client;
use serde_json::{json, Value};

use super::admission::{self, AdmissionOutcome};
use super::env::{CheckFn, CheckFuture, CheckRun, CreatedObject};
use super::observe::{self, api_failure, Kind};
use super::outcome::{Diagnosis, Outcome};
use crate::readiness;

/// This milestone's checks by id (see `super::catalogue`).
pub const CHECKS: &[(&str, CheckFn)] = &[
    ("D1", kyverno_ready),
    ("D2", policies_enforced),
    ("D3", deny_unlabeled_isvc),
    ("D4", deny_root_container),
];

pub const KYVERNO_NAMESPACE: &str = "kyverno";
/// The four Kyverno controllers (kyverno chart 3.9.0 / install.yaml v1.19.0, UPSTREAM.md §6).
pub const KYVERNO_DEPLOYMENTS: &[&str] = &[
    "kyverno-admission-controller",
    "kyverno-background-controller",
    "kyverno-cleanup-controller",
    "kyverno-reports-controller",
];
/// The admission webhook Service every resource webhook calls.
pub const KYVERNO_SERVICE: &str = "kyverno-svc";
/// Webhook configurations the admission controller registers at runtime (kyverno
/// pkg/config/config.go): resource validation (where ValidatingPolicies' `vpol.validate.*`
/// webhooks live), resource mutation, and validation of policies themselves.
pub const KYVERNO_VALIDATING_CONFIGS: &[&str] = &[
    "kyverno-resource-validating-webhook-cfg",
    "kyverno-policy-validating-webhook-cfg",
];
pub const KYVERNO_MUTATING_CONFIGS: &[&str] = &["kyverno-resource-mutating-webhook-cfg"];

/// The five platform ValidatingPolicies (`manifests/platform/policies/`).
pub const POLICY_NAMES: [&str; 5] = crate::gitops::POLICY_NAMES;
/// The policy D3's probe must be denied by.
pub const LABELS_POLICY: &str = "require-standard-labels-inferenceservice";
/// The policy D4's probe must be denied by.
pub const ROOT_POLICY: &str = "disallow-root-containers";
/// The label keys the label policies require.
pub const OWNER_LABEL: &str = "owner";
pub const COST_CENTER_LABEL: &str = "cost-center";

/// Label put on every probe object, so a human can find leftovers.
const PROBE_LABEL: (&str, &str) = ("app.kubernetes.io/managed-by", "neuroscale-checks");

const DEPLOYMENT: Kind = Kind {
    group: "apps",
    version: "v1",
    kind: "Deployment",
    plural: "deployments",
    namespaced: true,
};

/// How many times a denial probe is retried when the webhook could not be called (Kyverno's
/// maintainers advise a retry after install, kyverno#7294); a persistent failure still FAILs.
const PROBE_ATTEMPTS: u32 = 3;
const PROBE_RETRY_PAUSE: Duration = Duration::from_secs(2);
/// Longest wait for a probe object to be gone after deletion.
const CLEANUP_WAIT: Duration = Duration::from_secs(60);

// ---------------------------------------------------------------------------------------------
// Shared reads

/// EndpointSlices of a Service (label `kubernetes.io/service-name`).
pub(crate) async fn endpoint_slices(
    client: &Client,
    namespace: &str,
    service: &str,
) -> Result<Vec<EndpointSlice>, kube::Error> {
    let api: Api<EndpointSlice> = Api::namespaced(client.clone(), namespace);
    let params = ListParams::default().labels(&format!("kubernetes.io/service-name={service}"));
    Ok(api.list(&params).await?.items)
}

// ---------------------------------------------------------------------------------------------
// D1 kyverno-ready

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

fn kyverno_ready<'a>(run: &'a CheckRun<'a>) -> CheckFuture<'a> {
    async move {
        let client = &run.env.client;
        let deployments: Api<Deployment> = Api::namespaced(client.clone(), KYVERNO_NAMESPACE);
        let mut observation = KyvernoObservation::default();
        for name in KYVERNO_DEPLOYMENTS {
            run.saw(format!("reading deployment {KYVERNO_NAMESPACE}/{name}"));
            match deployments.get_opt(name).await {
                Ok(found) => observation.deployments.push((name.to_string(), found)),
                Err(e) => {
                    return api_failure(&format!("deployment {KYVERNO_NAMESPACE}/{name}"), &e)
                }
            }
        }
        run.saw(format!(
            "reading service {KYVERNO_NAMESPACE}/{KYVERNO_SERVICE}"
        ));
        let services: Api<Service> = Api::namespaced(client.clone(), KYVERNO_NAMESPACE);
        observation.service = match services.get_opt(KYVERNO_SERVICE).await {
            Ok(s) => s,
            Err(e) => return api_failure("service kyverno-svc", &e),
        };
        observation.endpoint_slices =
            match endpoint_slices(client, KYVERNO_NAMESPACE, KYVERNO_SERVICE).await {
                Ok(s) => s,
                Err(e) => return api_failure("endpointslices of kyverno-svc", &e),
            };
        run.saw("reading webhook configurations");
        let validating: Api<ValidatingWebhookConfiguration> = Api::all(client.clone());
        observation.validating = match validating.list(&ListParams::default()).await {
            Ok(l) => l.items,
            Err(e) => return api_failure("validatingwebhookconfigurations", &e),
        };
        let mutating: Api<MutatingWebhookConfiguration> = Api::all(client.clone());
        observation.mutating = match mutating.list(&ListParams::default()).await {
            Ok(l) => l.items,
            Err(e) => return api_failure("mutatingwebhookconfigurations", &e),
        };
        evaluate_kyverno_ready(&observation)
    }
    .boxed()
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
    let mut problems: Vec<(String, &'static str, String)> = Vec::new();

    let mut ready_controllers = 0;
    for (name, deployment) in &obs.deployments {
        match deployment {
            None => problems.push((
                format!("deployment {KYVERNO_NAMESPACE}/{name} does not exist"),
                "Kyverno is not installed, or its ArgoCD Application has not synced",
                format!("kubectl -n {KYVERNO_NAMESPACE} get deploy,pods"),
            )),
            Some(d) => {
                let r = readiness::deployment(d);
                if r.ready {
                    ready_controllers += 1;
                } else {
                    problems.push((
                        format!("deployment {KYVERNO_NAMESPACE}/{name}: {}", r.observed),
                        "a Kyverno controller is not Available (image pull, crash loop, or still starting); while the admission controller is down its Fail webhooks block admission cluster-wide (seeds/11 failure 4)",
                        format!("kubectl -n {KYVERNO_NAMESPACE} describe deployment {name}"),
                    ));
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
        ));
    } else if endpoints == 0 {
        problems.push((
            format!("service {kyverno_service} has no ready endpoints"),
            "the admission controller pods are not ready; creates that hit Kyverno's Fail webhooks are rejected with `no endpoints available for service \"kyverno-svc\"` (UPSTREAM.md §6, seeds/11 failure 4)",
            format!("kubectl -n {KYVERNO_NAMESPACE} get endpointslices -l kubernetes.io/service-name={KYVERNO_SERVICE}"),
        ));
    }

    let mut webhook_count = 0;
    let registered_cmd =
        "kubectl get validatingwebhookconfigurations,mutatingwebhookconfigurations -l webhook.kyverno.io/managed-by=kyverno";
    let mut registered: Vec<(&str, &str, Option<WebhookTargets>)> = Vec::new();
    for name in KYVERNO_VALIDATING_CONFIGS {
        let found = observe::find_named(&obs.validating, name).map(|c| {
            c.webhooks
                .iter()
                .flatten()
                .map(|w| (w.name.clone(), webhook_target(&w.client_config)))
                .collect()
        });
        registered.push(("validatingwebhookconfiguration", name, found));
    }
    for name in KYVERNO_MUTATING_CONFIGS {
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
                registered_cmd.to_string(),
            ));
            continue;
        };
        for (hook, target) in hooks {
            webhook_count += 1;
            if target != kyverno_service {
                problems.push((
                    format!("webhook {hook} in {name} calls {target}, not {kyverno_service}"),
                    "a webhook configuration left from another Kyverno install (stale webhook, seeds/11 failure 5)",
                    format!("kubectl get {kind} {name} -o yaml"),
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
            registered_cmd.to_string(),
        ));
    }

    let total = obs.deployments.len();
    let configs = KYVERNO_VALIDATING_CONFIGS.len() + KYVERNO_MUTATING_CONFIGS.len();
    if problems.is_empty() {
        return Outcome::pass(format!(
            "{ready_controllers}/{total} controllers Available, {KYVERNO_SERVICE} has {endpoints} ready endpoint(s), {configs} webhook configurations ({webhook_count} webhooks) registered"
        ))
        .with_figure("controllers ready", ready_controllers as f64, "count")
        .with_figure("kyverno-svc ready endpoints", endpoints as f64, "count")
        .with_figure("kyverno webhooks", webhook_count as f64, "count");
    }
    let observed: Vec<String> = problems.iter().map(|(o, _, _)| o.clone()).collect();
    let (_, cause, command) = &problems[0];
    Outcome::fail(
        format!(
            "Kyverno not ready: {} problem(s); {ready_controllers}/{total} controllers Available",
            problems.len()
        ),
        Diagnosis::new(observed.join("; "), *cause, command.clone()),
    )
}

// ---------------------------------------------------------------------------------------------
// D2 policies-enforced

fn policies_enforced<'a>(run: &'a CheckRun<'a>) -> CheckFuture<'a> {
    async move {
        run.saw("listing validatingpolicies.policies.kyverno.io");
        match observe::list(&run.env.client, &observe::VALIDATING_POLICY, None).await {
            Ok(policies) => evaluate_policies(&policies, &POLICY_NAMES),
            Err(e) if observe::error_code(&e) == Some(404) => Outcome::fail(
                "the ValidatingPolicy API is not served",
                Diagnosis::new(
                    format!("listing validatingpolicies.policies.kyverno.io/v1: {}", observe::error_message(&e)),
                    "Kyverno's CRDs are not installed, or the installed Kyverno predates policies.kyverno.io/v1 (pin v1.19.0)",
                    "kubectl get crd validatingpolicies.policies.kyverno.io",
                ),
            ),
            Err(e) => api_failure("validatingpolicies", &e),
        }
    }
    .boxed()
}

fn string_list(value: Option<&Value>) -> Vec<String> {
    value
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .map(str::to_string)
        .collect()
}

/// D2's verdict over the live ValidatingPolicies: each expected one exists, is Ready with its
/// webhook configured (`status.conditionStatus`, not the deprecated `status.ready`), evaluates at
/// admission, and its `validationActions` include Deny (Audit or Warn alone enforce nothing).
pub fn evaluate_policies(policies: &[Value], expected: &[&str]) -> Outcome {
    let mut problems: Vec<(String, &'static str, String)> = Vec::new();
    let mut enforcing = 0;
    for name in expected {
        let Some(policy) = policies
            .iter()
            .find(|p| p.pointer("/metadata/name").and_then(Value::as_str) == Some(name))
        else {
            problems.push((
                format!("policy {name} does not exist"),
                "the guardrails Application has not synced this policy (or it is written as a deprecated ClusterPolicy)",
                "kubectl get validatingpolicies".to_string(),
            ));
            continue;
        };
        let describe = format!("kubectl get validatingpolicy {name} -o yaml");
        let actions = string_list(policy.pointer("/spec/validationActions"));
        let admission_enabled = policy
            .pointer("/spec/evaluation/admission/enabled")
            .and_then(Value::as_bool)
            .unwrap_or(true);
        let ready = readiness::validating_policy(policy);
        let webhook_configured = policy
            .pointer("/status/conditionStatus/conditions")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .find(|c| c.get("type").and_then(Value::as_str) == Some("WebhookConfigured"))
            .map(|c| {
                (
                    c.get("status")
                        .and_then(Value::as_str)
                        .unwrap_or("Unknown")
                        .to_string(),
                    c.get("message")
                        .and_then(Value::as_str)
                        .unwrap_or("")
                        .to_string(),
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
                "the policy is in Audit/Warn mode; violations are recorded and admitted (seeds/04: guardrails that exist are not guardrails that enforce)",
                describe.clone(),
            ));
        }
        // ValidatingPolicySpec.failurePolicy (kyverno api/policies.kyverno.io/v1, Fail by
        // default): Ignore admits every request while Kyverno cannot be reached.
        if policy
            .pointer("/spec/failurePolicy")
            .and_then(Value::as_str)
            == Some("Ignore")
        {
            problems.push((
                format!("policy {name} has failurePolicy Ignore: it fails open"),
                "while Kyverno's admission controller is down or slow, the API server admits what this policy would deny (seeds/11 failure 4)",
                describe.clone(),
            ));
        }
        if !admission_enabled {
            problems.push((
                format!("policy {name} has spec.evaluation.admission.enabled=false"),
                "the policy only runs in background scans, never at admission",
                describe.clone(),
            ));
        }
        if !ready.ready {
            problems.push((
                ready.observed.clone(),
                "Kyverno has not configured this policy in its webhook (admission controller not healthy, or the policy failed to compile)",
                describe.clone(),
            ));
        } else {
            match &webhook_configured {
                Some((status, _)) if status == "True" => {}
                Some((status, message)) => problems.push((
                    format!("policy {name} WebhookConfigured={status}: {message}"),
                    "Kyverno has not configured this policy in its webhook",
                    describe.clone(),
                )),
                None if admission_enabled => problems.push((
                    format!("policy {name} reports ready without a WebhookConfigured condition"),
                    "the policy is not wired into Kyverno's admission webhook",
                    describe.clone(),
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
    let observed: Vec<String> = problems.iter().map(|(o, _, _)| o.clone()).collect();
    let (_, cause, command) = &problems[0];
    Outcome::fail(
        format!("{enforcing}/{total} policies enforcing"),
        Diagnosis::new(observed.join("; "), *cause, command.clone()),
    )
}

// ---------------------------------------------------------------------------------------------
// D3 / D4 denial probes

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
    fn created_object(&self) -> CreatedObject {
        CreatedObject {
            api_version: self.kind.api_version(),
            kind: self.kind.kind.to_string(),
            namespace: Some(self.namespace.clone()),
            name: self.name.clone(),
        }
    }

    fn label(&self) -> String {
        format!("{} {}/{}", self.kind.kind, self.namespace, self.name)
    }
}

/// The API server's answer to the probe's create.
#[derive(Debug, Clone, PartialEq)]
pub enum AdmissionAttempt {
    Admitted,
    Rejected { code: Option<u16>, message: String },
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

/// A unique suffix so a probe never collides with a leftover from an interrupted run.
fn unique_suffix() -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or_default();
    format!(
        "{:x}",
        (nanos as u64 ^ std::process::id() as u64) & 0xff_ffff
    )
}

/// D3's probe: an InferenceService that is compliant except for the missing cost-center label.
pub fn unlabeled_isvc_probe(namespace: &str, name: &str) -> DenialProbe {
    DenialProbe {
        kind: observe::INFERENCE_SERVICE,
        namespace: namespace.to_string(),
        name: name.to_string(),
        // Shape: kserve serving.kserve.io/v1beta1 InferenceService (UPSTREAM.md §5 sklearn sample).
        manifest: json!({
            "apiVersion": "serving.kserve.io/v1beta1",
            "kind": "InferenceService",
            "metadata": {
                "name": name,
                "namespace": namespace,
                "labels": {OWNER_LABEL: "neuroscale-checks", PROBE_LABEL.0: PROBE_LABEL.1}
            },
            "spec": {"predictor": {"model": {
                "modelFormat": {"name": "sklearn"},
                "storageUri": "gs://kfserving-examples/models/sklearn/1.0/model",
                // disallow-root-containers also governs InferenceServices: comply with it, so
                // the missing label is the only violation.
                "securityContext": {"runAsNonRoot": true},
                "resources": {"requests": {"cpu": "50m", "memory": "128Mi"},
                              "limits": {"cpu": "100m", "memory": "512Mi"}}
            }}}
        }),
        expected_policy: LABELS_POLICY,
        violation: "has no cost-center label",
    }
}

/// D4's probe: a Deployment that is compliant (labels, requests/limits, pinned image) except
/// that nothing sets `runAsNonRoot`. Zero replicas, so even if admitted nothing runs.
pub fn root_deployment_probe(namespace: &str, name: &str) -> DenialProbe {
    let labels = json!({
        OWNER_LABEL: "neuroscale-checks",
        COST_CENTER_LABEL: "neuroscale-checks",
        PROBE_LABEL.0: PROBE_LABEL.1,
        "app": name
    });
    DenialProbe {
        kind: DEPLOYMENT,
        namespace: namespace.to_string(),
        name: name.to_string(),
        manifest: json!({
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": name, "namespace": namespace, "labels": labels.clone()},
            "spec": {
                "replicas": 0,
                "selector": {"matchLabels": {"app": name}},
                "template": {
                    "metadata": {"labels": labels},
                    "spec": {"containers": [{
                        "name": "probe",
                        "image": "registry.k8s.io/pause:3.10",
                        "resources": {"requests": {"cpu": "10m", "memory": "32Mi"},
                                      "limits": {"cpu": "50m", "memory": "64Mi"}}
                    }]}
                }
            }
        }),
        expected_policy: ROOT_POLICY,
        violation: "runs as root (no runAsNonRoot)",
    }
}

fn deny_unlabeled_isvc<'a>(run: &'a CheckRun<'a>) -> CheckFuture<'a> {
    async move {
        let namespace = run.env.scenario.spec.model_namespace.clone();
        let probe = unlabeled_isvc_probe(&namespace, &format!("neuroscale-d3-{}", unique_suffix()));
        run_denial_probe(run, &probe).await
    }
    .boxed()
}

fn deny_root_container<'a>(run: &'a CheckRun<'a>) -> CheckFuture<'a> {
    async move {
        let namespace = run.env.scenario.spec.model_namespace.clone();
        let probe =
            root_deployment_probe(&namespace, &format!("neuroscale-d4-{}", unique_suffix()));
        run_denial_probe(run, &probe).await
    }
    .boxed()
}

/// The refusal a check gives when it may not create objects on this context.
pub(crate) fn mutations_refused(run: &CheckRun<'_>, what: &str) -> Outcome {
    Outcome::fail(
        format!("refused: {what} on context {}", run.env.context_name),
        Diagnosis::new(
            format!(
                "context {} is not the harness's k3d cluster and was not allowed",
                run.env.context_name
            ),
            "checks that create or delete objects only run on the harness's k3d context unless explicitly allowed",
            format!(
                "neuroscale check --allow-context {}",
                run.env.context_name
            ),
        ),
    )
}

/// Deletes a probe object if it exists and waits until it is gone; untracks it once confirmed.
/// `Ok(true)` when the object is confirmed absent.
pub(crate) async fn remove_probe(
    run: &CheckRun<'_>,
    kind: &Kind,
    object: &CreatedObject,
) -> Result<bool, String> {
    let client = &run.env.client;
    let namespace = object.namespace.as_deref();
    run.saw(format!("deleting probe {} {}", object.kind, object.name));
    observe::delete(client, kind, namespace, &object.name)
        .await
        .map_err(|e| observe::error_message(&e))?;
    let wait = run.remaining().clamp(Duration::from_secs(5), CLEANUP_WAIT);
    let gone = observe::wait_gone(client, kind, namespace, &object.name, wait)
        .await
        .map_err(|e| observe::error_message(&e))?;
    if gone {
        run.untrack(object);
    }
    Ok(gone)
}

async fn run_denial_probe(run: &CheckRun<'_>, probe: &DenialProbe) -> Outcome {
    if !run.env.mutations_allowed {
        return mutations_refused(run, &format!("creating probe {}", probe.label()));
    }
    let object = probe.created_object();
    // Tracked before the create: if the check is interrupted mid-call, the runner deletes it.
    run.track(object.clone());
    let mut attempts = 0;
    let (attempt, elapsed) = loop {
        attempts += 1;
        run.saw(format!(
            "creating probe {} ({}), attempt {attempts}",
            probe.label(),
            probe.violation
        ));
        let started = Instant::now();
        let result = observe::create(
            &run.env.client,
            &probe.kind,
            Some(&probe.namespace),
            &probe.manifest,
            false,
        )
        .await;
        let elapsed = started.elapsed();
        let attempt = match result {
            Ok(_) => AdmissionAttempt::Admitted,
            Err(e) => AdmissionAttempt::Rejected {
                code: observe::error_code(&e),
                message: observe::error_message(&e),
            },
        };
        let unavailable = matches!(&attempt, AdmissionAttempt::Rejected { message, .. }
            if matches!(admission::classify(message), AdmissionOutcome::WebhookUnavailable { .. }));
        if unavailable && attempts < PROBE_ATTEMPTS && run.remaining() > PROBE_RETRY_PAUSE * 2 {
            run.saw(format!(
                "probe {}: webhook unavailable, retrying",
                probe.label()
            ));
            tokio::time::sleep(PROBE_RETRY_PAUSE).await;
            continue;
        }
        break (attempt, elapsed);
    };
    let gone_afterwards = remove_probe(run, &probe.kind, &object).await;
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
    let known = admission::service_for_webhook(webhook);
    let (namespace, name) = match known.and_then(|s| s.split_once('/')) {
        Some((ns, n)) => (ns.to_string(), n.to_string()),
        None => (
            "<namespace>".to_string(),
            service.unwrap_or("<service>").to_string(),
        ),
    };
    let cause = if webhook.starts_with("inferenceservice.kserve-webhook-server") {
        "KServe's webhook has no ready endpoints: the kserve-controller-manager pod is not fully ready (e.g. 1/2 containers with kube-rbac-proxy in ImagePullBackOff, seeds/08 failure 3, seeds/11 failure 1); this is an infrastructure failure, not a policy decision".to_string()
    } else if webhook.contains("kyverno.svc") {
        "Kyverno's admission controller is not serving (kyverno-svc has no ready endpoints); its Fail webhooks reject every matching create (UPSTREAM.md §6, seeds/11 failure 4)".to_string()
    } else if known.is_none() {
        "a webhook configuration points at a Service that no longer serves it (stale webhook, seeds/11 failure 5)".to_string()
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
                    ),
                )
            }
            AdmissionOutcome::AdmissionPolicyDenial { policy: vap, .. } => Outcome::fail(
                format!("{what} denied by ValidatingAdmissionPolicy {vap}, not by Kyverno's webhook"),
                Diagnosis::new(
                    message.clone(),
                    "enforcement was handed to a Kubernetes ValidatingAdmissionPolicy (spec.autogen.validatingAdmissionPolicy.enabled); the platform expects Kyverno's own webhook to deny",
                    "kubectl get validatingadmissionpolicies,validatingadmissionpolicybindings",
                ),
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
pub(crate) mod tests_support {
    /// The InferenceService CRD as the simulated API server needs it to serve the kind
    /// (shape: kserve config/crd/full/serving.kserve.io_inferenceservices.yaml, trimmed).
    pub const ISVC_CRD: &str = r#"{
        "apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
        "metadata": {"name": "inferenceservices.serving.kserve.io"},
        "spec": {"group": "serving.kserve.io", "scope": "Namespaced",
                 "names": {"kind": "InferenceService", "plural": "inferenceservices", "singular": "inferenceservice"},
                 "versions": [{"name": "v1beta1", "served": true, "storage": true, "subresources": {"status": {}}}]}
    }"#;
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checks::fixtures::diagnosis;
    use crate::checks::fixtures_def as fx;
    use crate::checks::outcome::Verdict;

    fn healthy_kyverno() -> KyvernoObservation {
        KyvernoObservation {
            deployments: KYVERNO_DEPLOYMENTS
                .iter()
                .map(|n| (n.to_string(), Some(fx::deployment("kyverno", n, 1, 1))))
                .collect(),
            service: Some(fx::service("kyverno", "kyverno-svc")),
            endpoint_slices: vec![fx::endpoint_slice(
                "kyverno",
                "kyverno-svc",
                &["10.42.0.12"],
                &[],
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
        assert_eq!(outcome.verdict, Verdict::Pass, "{outcome:?}");
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
            &[],
            &["10.42.0.12"],
        )];
        let outcome = evaluate_kyverno_ready(&obs);
        assert_eq!(outcome.verdict, Verdict::Fail);
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
            0,
            1,
        ));
        let outcome = evaluate_kyverno_ready(&obs);
        assert_eq!(outcome.verdict, Verdict::Fail);
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
        assert_eq!(outcome.verdict, Verdict::Fail);
        assert!(diagnosis(&outcome)
            .observed
            .contains("kyverno-resource-validating-webhook-cfg is not registered"));

        let mut obs = healthy_kyverno();
        obs.mutating = vec![fx::mutating_config(
            "kyverno-resource-mutating-webhook-cfg",
            &[("mutate.kyverno.svc-fail", "kyverno-old", "kyverno-svc")],
        )];
        let outcome = evaluate_kyverno_ready(&obs);
        assert_eq!(outcome.verdict, Verdict::Fail);
        assert!(diagnosis(&outcome)
            .observed
            .contains("calls kyverno-old/kyverno-svc"));
    }

    #[test]
    fn d1_fails_when_the_webhook_configurations_are_empty() {
        let mut obs = healthy_kyverno();
        for name in KYVERNO_VALIDATING_CONFIGS {
            obs.validating
                .retain(|c| c.metadata.name.as_deref() != Some(*name));
            obs.validating.push(fx::validating_config(name, &[]));
        }
        obs.mutating = vec![fx::mutating_config(KYVERNO_MUTATING_CONFIGS[0], &[])];
        let outcome = evaluate_kyverno_ready(&obs);
        assert_eq!(outcome.verdict, Verdict::Fail, "{outcome:?}");
        assert!(
            diagnosis(&outcome).observed.contains("hold no webhooks"),
            "{outcome:?}"
        );
    }

    fn five_policies() -> Vec<Value> {
        POLICY_NAMES
            .iter()
            .map(|n| fx::validating_policy(n, &["Deny"], true))
            .collect()
    }

    #[test]
    fn d2_passes_when_all_five_are_ready_and_deny() {
        let outcome = evaluate_policies(&five_policies(), &POLICY_NAMES);
        assert_eq!(outcome.verdict, Verdict::Pass, "{outcome:?}");
        assert!(outcome.summary.starts_with("5/5"), "{}", outcome.summary);
    }

    #[test]
    fn d2_fails_on_an_audit_policy() {
        let mut policies = five_policies();
        policies[4] = fx::validating_policy("disallow-root-containers", &["Audit"], true);
        let outcome = evaluate_policies(&policies, &POLICY_NAMES);
        assert_eq!(outcome.verdict, Verdict::Fail);
        assert!(outcome.summary.starts_with("4/5"));
        let d = diagnosis(&outcome);
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
        let outcome = evaluate_policies(&policies, &POLICY_NAMES);
        assert_eq!(outcome.verdict, Verdict::Fail);
        assert!(outcome.summary.starts_with("4/5"), "{}", outcome.summary);
        assert!(diagnosis(&outcome)
            .observed
            .contains("failurePolicy Ignore"));
        policies[4]["spec"]["failurePolicy"] = serde_json::json!("Fail");
        assert_eq!(
            evaluate_policies(&policies, &POLICY_NAMES).verdict,
            Verdict::Pass
        );
    }

    #[test]
    fn d2_fails_on_a_missing_or_unready_policy() {
        let mut policies = five_policies();
        policies.remove(1);
        policies[0] = fx::validating_policy(LABELS_POLICY, &["Deny"], false);
        let outcome = evaluate_policies(&policies, &POLICY_NAMES);
        assert_eq!(outcome.verdict, Verdict::Fail);
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
        let outcome = evaluate_policies(&policies, &POLICY_NAMES);
        assert_eq!(outcome.verdict, Verdict::Fail);
        assert!(diagnosis(&outcome).observed.contains(POLICY_NAMES[2]));
    }

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
        assert_eq!(outcome.verdict, Verdict::Pass, "{outcome:?}");
        assert!(outcome.summary.contains(LABELS_POLICY));
        assert_eq!(outcome.figures[0].value, 120.0);
    }

    #[test]
    fn d3_fails_when_kserves_webhook_has_no_endpoints() {
        let mut obs = rejected(fx::kserve_no_endpoints());
        obs.code_500();
        obs.attempts = 3;
        let outcome = evaluate_denial(&d3_probe(), &obs);
        assert_eq!(outcome.verdict, Verdict::Fail);
        assert!(
            outcome.summary.contains("not a policy denial"),
            "{}",
            outcome.summary
        );
        let d = diagnosis(&outcome);
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
        assert_eq!(outcome.verdict, Verdict::Fail);
        let d = diagnosis(&outcome);
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
        assert_eq!(outcome.verdict, Verdict::Fail);
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
        assert_eq!(outcome.verdict, Verdict::Fail);
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
        assert_eq!(outcome.verdict, Verdict::Fail);
        assert!(diagnosis(&outcome).observed.contains("still exists"));
    }

    #[test]
    fn d3_fails_on_other_webhooks_vaps_and_policy_errors() {
        for (message, expect) in [
            (fx::kserve_validation_denial(), "not Kyverno"),
            (fx::vap_denial(LABELS_POLICY), "ValidatingAdmissionPolicy"),
            (fx::vpol_error(LABELS_POLICY), "errored"),
        ] {
            let outcome = evaluate_denial(&d3_probe(), &rejected(message));
            assert_eq!(outcome.verdict, Verdict::Fail);
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
        assert_eq!(ok.verdict, Verdict::Pass, "{ok:?}");
        let wrong = evaluate_denial(
            &probe,
            &rejected(fx::vpol_denial(
                "require-standard-labels-deployment",
                "owner and cost-center labels required",
            )),
        );
        assert_eq!(wrong.verdict, Verdict::Fail);
        assert!(diagnosis(&wrong).likely_cause.contains(ROOT_POLICY));
    }

    #[test]
    fn the_expected_policies_are_platform_policies() {
        assert!(POLICY_NAMES.contains(&LABELS_POLICY));
        assert!(POLICY_NAMES.contains(&ROOT_POLICY));
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
    // The probes against the simulated API server (neuroscale-testkit): the real create, delete
    // and wait-gone path, with admission planted as a hook returning the API server's Status.
    async fn sim() -> neuroscale_testkit::SimCluster {
        let sim = neuroscale_testkit::SimCluster::start()
            .await
            .expect("sim starts");
        sim.put(json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "models"}}))
            .unwrap();
        sim.put(serde_json::from_str(tests_support::ISVC_CRD).unwrap())
            .unwrap();
        sim
    }

    fn sim_env(sim: &neuroscale_testkit::SimCluster) -> crate::checks::CheckEnv {
        crate::checks::CheckEnv {
            client: sim.client().unwrap(),
            scenario: crate::scenario::Scenario::parse(
                std::path::Path::new("scenarios/smoke.yaml"),
                crate::scenario::BUILTIN_SMOKE,
            )
            .unwrap(),
            http: reqwest::Client::new(),
            context_name: "k3d-neuroscale".into(),
            mutations_allowed: true,
            ingress_url: None,
            opencost_url: None,
            gitops_cache_dir: std::env::temp_dir(),
        }
    }

    async fn run_probe_check(
        env: &crate::checks::CheckEnv,
        id: &str,
    ) -> (Outcome, Vec<CreatedObject>) {
        let spec = crate::checks::catalogue::find(id).unwrap();
        let check = crate::checks::implementation(id).unwrap();
        let run = CheckRun::new(env, spec, Duration::from_secs(60));
        let outcome = check(&run).await;
        (outcome, run.tracked())
    }

    #[tokio::test]
    async fn d3_passes_against_a_cluster_whose_kyverno_denies() {
        let sim = sim().await;
        sim.on_admission("serving.kserve.io", "InferenceService", |request, _| {
            let labels = request.object.and_then(|o| o.pointer("/metadata/labels/cost-center"));
            match labels {
                None => Err(neuroscale_testkit::Status::webhook_denied(
                    "vpol.validate.kyverno.svc-fail",
                    "Policy require-standard-labels-inferenceservice failed: label `cost-center` is required and must be kebab-case",
                )),
                Some(_) => Ok(()),
            }
        });
        let (outcome, tracked) = run_probe_check(&sim_env(&sim), "D3").await;
        assert_eq!(outcome.verdict, Verdict::Pass, "{outcome:?}");
        assert!(tracked.is_empty(), "nothing left to clean up: {tracked:?}");
        assert!(sim
            .list(
                "serving.kserve.io/v1beta1",
                "InferenceService",
                Some("models")
            )
            .is_empty());
    }

    #[tokio::test]
    async fn d3_fails_against_a_cluster_whose_kserve_webhook_has_no_endpoints() {
        let sim = sim().await;
        sim.on_admission("serving.kserve.io", "InferenceService", |_, _| {
            Err(neuroscale_testkit::Status::webhook_unreachable(
                "inferenceservice.kserve-webhook-server.validator",
                "https://kserve-webhook-server-service.kserve.svc:443/validate-serving-kserve-io-v1beta1-inferenceservice?timeout=10s",
                "no endpoints available for service \"kserve-webhook-server-service\"",
            ))
        });
        let (outcome, _) = run_probe_check(&sim_env(&sim), "D3").await;
        assert_eq!(outcome.verdict, Verdict::Fail);
        assert!(
            outcome.summary.contains("not a policy denial"),
            "{}",
            outcome.summary
        );
        assert!(diagnosis(&outcome).observed.contains("after 3 attempt(s)"));
    }

    #[tokio::test]
    async fn d4_fails_and_cleans_up_when_the_root_deployment_is_admitted() {
        let sim = sim().await;
        let (outcome, tracked) = run_probe_check(&sim_env(&sim), "D4").await;
        assert_eq!(outcome.verdict, Verdict::Fail);
        assert!(outcome.summary.contains("ADMITTED"), "{}", outcome.summary);
        assert!(
            tracked.is_empty(),
            "the admitted probe was deleted: {tracked:?}"
        );
        assert!(sim.list("apps/v1", "Deployment", Some("models")).is_empty());
    }
}
