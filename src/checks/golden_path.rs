//! Milestone Golden path (C1-C3): the new-model scaffold against live policies, ApplicationSet
//! discovery, the scaffold serving.
//!
//! The original smoke test called the golden path proven when an object with the demo's name
//! existed. These checks take the scaffold `new-model` writes and prove each step: the live
//! admission chain admits it (C1), committed to the GitOps source it becomes a Synced+Healthy
//! child Application and is pruned again on removal (C2), and it serves predictions (C3).
//! As elsewhere, gathering records observations and `evaluate_*` functions decide.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use k8s_openapi::api::admissionregistration::v1::ValidatingWebhookConfiguration;
use kube::api::{Api, ListParams};
use serde_json::Value;

use super::admission::{self, AdmissionOutcome};
use super::env::{CheckFn, CheckFuture, CheckRun, CreatedObject};
use super::observe::api_failure;
use super::observe::{
    self, APPLICATION, APPLICATION_SET, ARGOCD_NAMESPACE, INFERENCE_SERVICE, VALIDATING_POLICY,
};
use super::outcome::{Diagnosis, Outcome};
use super::serving::{
    ask_model, evaluate_inference, isvc_likely_cause, no_ingress_url, ModelAnswer,
};
use crate::gitops::{self, scaffold, scaffold::ModelSpec, GitSource};
use crate::probe;
use crate::readiness;
use crate::scenario::{ModelProbe, Protocol};

/// The policy the scaffold's labels must satisfy.
const ISVC_LABEL_POLICY: &str = gitops::POLICY_NAMES[0];
const MODEL_APPLICATIONSET: &str = gitops::MODEL_APPLICATIONSET;
/// The owner label of the models the checks scaffold.
const PROBE_OWNER: &str = "neuroscale-checks";

/// This milestone's checks by id (see `super::catalogue`).
pub const CHECKS: &[(&str, CheckFn)] = &[("C1", c1), ("C2", c2), ("C3", c3)];

fn c1<'a>(run: &'a CheckRun<'a>) -> CheckFuture<'a> {
    Box::pin(scaffold_compliant(run))
}
fn c2<'a>(run: &'a CheckRun<'a>) -> CheckFuture<'a> {
    Box::pin(appset_discovery(run))
}
fn c3<'a>(run: &'a CheckRun<'a>) -> CheckFuture<'a> {
    Box::pin(scaffold_serves(run))
}

/// A unique, short model name for a check's scaffold (`nscheck-c2-5f3a1c`): a DNS-1123 label
/// that leaves room for KServe's `-predictor` suffixes.
pub fn probe_model_name(check: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos() ^ (d.as_secs() as u32))
        .unwrap_or(0);
    format!(
        "nscheck-{}-{:06x}",
        check.to_ascii_lowercase(),
        nanos & 0xff_ffff
    )
}

/// The scaffold the checks use: `new-model`'s defaults (the public iris model), labelled with
/// the scenario's first cost center.
fn probe_spec(run: &CheckRun<'_>, check: &str) -> Result<ModelSpec, Box<Outcome>> {
    let cost_center = run
        .env
        .scenario
        .cpu_models()
        .next()
        .map(|m| m.cost_center.clone())
        .unwrap_or_else(|| "platform".to_string());
    ModelSpec::new(probe_model_name(check), PROBE_OWNER, cost_center).map_err(|e| {
        Box::new(Outcome::fail(
            "could not scaffold a model",
            Diagnosis::new(
                e.to_string(),
                "the scenario's cost center is not a valid label value",
                format!(
                    "edit spec.models[0].costCenter in {}",
                    run.env.scenario.source.display()
                ),
            ),
        ))
    })
}

fn isvc_object(namespace: &str, name: &str) -> CreatedObject {
    CreatedObject {
        api_version: INFERENCE_SERVICE.api_version(),
        kind: INFERENCE_SERVICE.kind.to_string(),
        namespace: Some(namespace.to_string()),
        name: name.to_string(),
    }
}

fn mutations_refused(run: &CheckRun<'_>) -> Outcome {
    Outcome::fail(
        format!(
            "refused to create objects on context {}",
            run.env.context_name
        ),
        Diagnosis::new(
            format!(
                "context {} is not the harness's k3d cluster",
                run.env.context_name
            ),
            "this check creates a model endpoint; it runs only on the k3d context unless allowed",
            format!(
                "neuroscale check --only {} --allow-context {}",
                run.spec.id, run.env.context_name
            ),
        ),
    )
}

/// How often C1 asks again when the admission webhook could not be called, and how long it
/// pauses between: Kyverno's maintainers advise a retry after install (kyverno #7294).
const C1_ATTEMPTS: usize = 3;
const C1_RETRY_PAUSE: Duration = Duration::from_secs(2);

async fn scaffold_compliant(run: &CheckRun<'_>) -> Outcome {
    let spec = match probe_spec(run, "c1") {
        Ok(spec) => spec,
        Err(outcome) => return *outcome,
    };
    let isvc = scaffold::inference_service(&spec);
    let namespace = str_at(&isvc, "/metadata/namespace").to_string();
    let client = &run.env.client;
    let mut attempt = 0;
    loop {
        attempt += 1;
        let policies = match observe::list(client, &VALIDATING_POLICY, None).await {
            Ok(p) => p,
            Err(e) => return api_failure("Kyverno ValidatingPolicies", &e),
        };
        let kyverno_webhooks = match Api::<ValidatingWebhookConfiguration>::all(client.clone())
            .list(&ListParams::default())
            .await
        {
            Ok(list) => kyverno_isvc_webhooks(&list.items),
            Err(e) => return api_failure("validating webhook configurations", &e),
        };
        let started = Instant::now();
        // A dry-run persists nothing, so C1 needs no cleanup and no mutation guard.
        let dry_run = observe::create(client, &INFERENCE_SERVICE, Some(&namespace), &isvc, true)
            .await
            .map(|_| ())
            .map_err(|e| observe::error_message(&e));
        let observation = ScaffoldAdmission {
            isvc_name: spec.name.clone(),
            namespace: namespace.clone(),
            policies,
            kyverno_webhooks,
            dry_run,
            elapsed: started.elapsed(),
        };
        let outcome = evaluate_scaffold_compliant(&observation);
        run.saw(format!("attempt {attempt}: {}", outcome.summary));
        let unavailable = matches!(
            &observation.dry_run,
            Err(m) if matches!(admission::classify(m), AdmissionOutcome::WebhookUnavailable { .. })
        );
        if !unavailable
            || attempt >= C1_ATTEMPTS
            || observe::time_to_conclude(run) <= C1_RETRY_PAUSE
        {
            return outcome;
        }
        tokio::time::sleep(C1_RETRY_PAUSE).await;
    }
}

/// Removes a committed model folder when dropped without `remove` having run (a failing or
/// interrupted C2), so the ApplicationSet does not keep regenerating the probe Application
/// after the runner deleted it.
struct CommittedModel {
    dir: PathBuf,
    name: String,
    removed: bool,
}

impl CommittedModel {
    async fn remove(&mut self) -> Result<(), String> {
        let dir = self.dir.clone();
        let name = self.name.clone();
        let result = tokio::task::spawn_blocking(move || {
            GitSource::open(dir).and_then(|source| source.remove_model(&name))
        })
        .await
        .map_err(|e| e.to_string())?;
        self.removed = true;
        result.map(|_| ()).map_err(|e| e.to_string())
    }
}

impl Drop for CommittedModel {
    fn drop(&mut self) {
        if !self.removed {
            if let Err(e) = GitSource::open(&self.dir).and_then(|s| s.remove_model(&self.name)) {
                tracing::warn!(model = %self.name, error = %e, "could not remove the probe model from the GitOps source");
            }
        }
    }
}

async fn appset_discovery(run: &CheckRun<'_>) -> Outcome {
    if !run.env.mutations_allowed {
        return mutations_refused(run);
    }
    let spec = match probe_spec(run, "c2") {
        Ok(spec) => spec,
        Err(outcome) => return *outcome,
    };
    let dir = run.env.gitops_cache_dir.clone();
    if let Err(e) = GitSource::open(&dir) {
        return Outcome::fail(
            "no GitOps source to commit to",
            Diagnosis::new(
                e.to_string(),
                "the local GitOps repository `neuroscale up` creates is missing (another cache dir, or a remote source)",
                "neuroscale up",
            ),
        );
    }
    let client = &run.env.client;
    let app_name = gitops::model_application_name(&spec.name);
    let namespace = gitops::MODEL_NAMESPACE;
    // Tracked before they can exist: the runner deletes them if this check is cut short.
    let application = CreatedObject {
        api_version: APPLICATION.api_version(),
        kind: APPLICATION.kind.to_string(),
        namespace: Some(ARGOCD_NAMESPACE.to_string()),
        name: app_name.clone(),
    };
    let isvc = isvc_object(namespace, &spec.name);
    run.track(isvc.clone());
    run.track(application.clone());
    let mut committed = CommittedModel {
        dir: dir.clone(),
        name: spec.name.clone(),
        removed: false,
    };
    let commit = {
        let spec = spec.clone();
        let dir = dir.clone();
        tokio::task::spawn_blocking(move || GitSource::open(dir)?.add_model(&spec)).await
    };
    match commit {
        Ok(Ok(id)) => run.saw(format!("committed model {} as {}", spec.name, id.short())),
        Ok(Err(e)) => {
            committed.removed = true;
            return Outcome::fail(
                "could not commit the scaffolded model",
                Diagnosis::new(
                    e.to_string(),
                    "the GitOps repository refused the commit",
                    "neuroscale doctor",
                ),
            );
        }
        Err(e) => {
            committed.removed = true;
            return Outcome::fail(
                "could not commit the scaffolded model",
                Diagnosis::new(e.to_string(), "the commit task failed", "neuroscale doctor"),
            );
        }
    }
    // Discovery gets two thirds of the time; the prune wait the rest.
    let started = Instant::now();
    let discovery_budget = observe::time_to_conclude(run) * 2 / 3;
    let discovery = loop {
        let app = observe::get(client, &APPLICATION, Some(ARGOCD_NAMESPACE), &app_name)
            .await
            .ok()
            .flatten();
        let isvc_exists = observe::get(client, &INFERENCE_SERVICE, Some(namespace), &spec.name)
            .await
            .ok()
            .flatten()
            .is_some();
        let deadline_passed = started.elapsed() >= discovery_budget;
        let application_set = if deadline_passed {
            observe::get(
                client,
                &APPLICATION_SET,
                Some(ARGOCD_NAMESPACE),
                MODEL_APPLICATIONSET,
            )
            .await
            .ok()
            .flatten()
        } else {
            None
        };
        run.saw(match &app {
            Some(a) => readiness::application(a).observed,
            None => format!(
                "no application {app_name} yet, {:.0} s after the commit",
                started.elapsed().as_secs_f64()
            ),
        });
        let observation = DiscoveryObservation {
            application_name: app_name.clone(),
            application: app,
            application_set,
            isvc_exists,
            elapsed: started.elapsed(),
            deadline_passed,
        };
        if let Some(outcome) = evaluate_discovery(&observation) {
            break outcome;
        }
        tokio::time::sleep(observe::POLL_INTERVAL).await;
    };
    if let Err(e) = committed.remove().await {
        return combine_discovery_and_prune(
            discovery,
            Outcome::fail(
                "could not remove the scaffolded model from the GitOps source",
                Diagnosis::new(
                    e,
                    "the GitOps repository refused the commit",
                    format!("neuroscale new-model --remove {}", spec.name),
                ),
            ),
        );
    }
    let removed_at = Instant::now();
    let prune = loop {
        let app = observe::get(client, &APPLICATION, Some(ARGOCD_NAMESPACE), &app_name)
            .await
            .ok()
            .flatten();
        let model = observe::get(client, &INFERENCE_SERVICE, Some(namespace), &spec.name)
            .await
            .ok()
            .flatten();
        let observation = PruneObservation {
            application_name: app_name.clone(),
            application: app,
            isvc: model,
            elapsed: removed_at.elapsed(),
            deadline_passed: observe::time_to_conclude(run).is_zero(),
        };
        if let Some(outcome) = evaluate_pruned(&observation) {
            if outcome.is_pass() {
                run.untrack(&application);
                run.untrack(&isvc);
            }
            break outcome;
        }
        run.saw(format!(
            "waiting for {app_name} and its InferenceService to be pruned ({:.0} s)",
            removed_at.elapsed().as_secs_f64()
        ));
        tokio::time::sleep(observe::POLL_INTERVAL).await;
    };
    combine_discovery_and_prune(discovery, prune)
}

/// How long C3 waits for its own InferenceService to be deleted before leaving it to the
/// runner's cleanup.
const C3_DELETE_WAIT: Duration = Duration::from_secs(60);

async fn scaffold_serves(run: &CheckRun<'_>) -> Outcome {
    if !run.env.mutations_allowed {
        return mutations_refused(run);
    }
    let Some(ingress_url) = run.env.ingress_url.clone() else {
        return no_ingress_url();
    };
    let spec = match probe_spec(run, "c3") {
        Ok(spec) => spec,
        Err(outcome) => return *outcome,
    };
    let manifest = scaffold::inference_service(&spec);
    let namespace = str_at(&manifest, "/metadata/namespace").to_string();
    let client = &run.env.client;
    let object = isvc_object(&namespace, &spec.name);
    run.track(object.clone());
    let started = Instant::now();
    if let Err(e) = observe::create(
        client,
        &INFERENCE_SERVICE,
        Some(&namespace),
        &manifest,
        false,
    )
    .await
    {
        run.untrack(&object);
        let refused = evaluate_scaffold_compliant(&ScaffoldAdmission {
            isvc_name: spec.name.clone(),
            namespace: namespace.clone(),
            policies: Vec::new(),
            kyverno_webhooks: Vec::new(),
            dry_run: Err(observe::error_message(&e)),
            elapsed: started.elapsed(),
        });
        return Outcome::fail(
            format!("could not create the scaffold: {}", refused.summary),
            refused.diagnosis.unwrap_or_else(|| {
                Diagnosis::new(
                    observe::error_message(&e),
                    "the create failed",
                    "neuroscale doctor",
                )
            }),
        );
    }
    // The model the scaffold serves by default is KServe's iris sample: the probe's known rows.
    let model = ModelProbe {
        name: spec.name.clone(),
        namespace: namespace.clone(),
        protocol: Protocol::V1,
        instances: probe::iris::instances(),
        expected: probe::iris::expected(),
        cost_center: spec.cost_center.clone(),
        gpu: false,
    };
    let mut observation = ServeObservation {
        isvc: None,
        ready_after: None,
        answer: None,
        ingress_url: ingress_url.clone(),
    };
    loop {
        match observe::get(client, &INFERENCE_SERVICE, Some(&namespace), &spec.name).await {
            Ok(isvc) => observation.isvc = isvc,
            Err(e) => {
                // A transient API error is not evidence the endpoint vanished: look again.
                run.saw(format!("inferenceservice unreadable: {e}"));
                if observe::time_to_conclude(run).is_zero() {
                    break;
                }
                tokio::time::sleep(observe::POLL_INTERVAL).await;
                continue;
            }
        }
        let Some(isvc) = &observation.isvc else { break };
        let r = readiness::inference_service(isvc);
        run.saw(r.observed.clone());
        if r.ready {
            observation.ready_after = Some(started.elapsed());
            let answer = ask_model(&run.env.http, &ingress_url, isvc, &model).await;
            let transient = answer.answer.is_transient();
            observation.answer = Some(answer);
            if !transient || observe::time_to_conclude(run).is_zero() {
                break;
            }
        } else if observe::time_to_conclude(run).is_zero() {
            break;
        }
        tokio::time::sleep(observe::POLL_INTERVAL).await;
    }
    let outcome = evaluate_scaffold_serves(&observation);
    match observe::delete(client, &INFERENCE_SERVICE, Some(&namespace), &spec.name).await {
        Ok(_) => {
            if let Ok(true) = observe::wait_gone(
                client,
                &INFERENCE_SERVICE,
                Some(&namespace),
                &spec.name,
                C3_DELETE_WAIT,
            )
            .await
            {
                run.untrack(&object);
            }
        }
        Err(e) => run.saw(format!(
            "deleting the scaffold failed: {e}; the runner retries"
        )),
    }
    outcome
}

fn str_at<'a>(value: &'a Value, pointer: &str) -> &'a str {
    value.pointer(pointer).and_then(Value::as_str).unwrap_or("")
}

// ---------------------------------------------------------------------------------------------
// C1 scaffold-compliant

/// What C1 saw: the live ValidatingPolicies and the answer to a server-side dry-run create of
/// the scaffolded InferenceService.
#[derive(Debug, Clone)]
pub struct ScaffoldAdmission {
    pub isvc_name: String,
    pub namespace: String,
    /// Every `policies.kyverno.io` ValidatingPolicy in the cluster.
    pub policies: Vec<Value>,
    /// Kyverno's registered validating webhooks whose rules cover InferenceServices: without
    /// one, no policy is consulted at admission whatever the policies' status says.
    pub kyverno_webhooks: Vec<String>,
    /// `Ok` when admitted; the API error's message otherwise.
    pub dry_run: Result<(), String>,
    pub elapsed: Duration,
}

/// Whether a ValidatingPolicy's match constraints cover InferenceServices
/// (kyverno api/policies.kyverno.io/v1 ValidatingPolicySpec.matchConstraints.resourceRules).
pub fn policy_matches_isvcs(policy: &Value) -> bool {
    policy
        .pointer("/spec/matchConstraints/resourceRules")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .any(|rule| {
            rule.get("resources")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .any(|r| matches!(r.as_str(), Some("inferenceservices" | "*")))
        })
}

/// Kyverno's validating webhooks (`validate.kyverno.svc-*`, `vpol.validate.kyverno.svc-*`,
/// registered at runtime by its admission controller, UPSTREAM.md §6) whose rules cover
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
    let governing: Vec<&Value> = observation
        .policies
        .iter()
        .filter(|p| policy_matches_isvcs(p))
        .collect();
    let not_ready: Vec<String> = governing
        .iter()
        .map(|p| readiness::validating_policy(p))
        .filter(|r| !r.ready)
        .map(|r| r.observed)
        .collect();
    let has_label_policy = governing
        .iter()
        .any(|p| str_at(p, "/metadata/name") == ISVC_LABEL_POLICY);
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
            ),
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
                        "`neuroscale new-model` renders something policy {} forbids: the scaffold and the policy disagree (e.g. label key costCenter vs cost-center, seeds/11 failure 3)",
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
                        format!("webhook {webhook} cannot be called ({cause}): service {service} has no ready endpoints or a bad certificate (seeds/11 failures 1 and 5, UPSTREAM.md §10 item 1)"),
                        format!("kubectl -n {ns} get endpointslices -l kubernetes.io/service-name={svc} -o wide"),
                    ),
                )
            }
            AdmissionOutcome::OtherDenial { webhook, .. } => Outcome::fail(
                format!("scaffold denied by webhook {webhook} (not a platform policy)"),
                Diagnosis::new(
                    message.clone(),
                    "KServe or Knative validation rejects the scaffold's spec (an invalid field, or a podspec field Knative's config-features do not allow, UPSTREAM.md §10 item 4)",
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

// ---------------------------------------------------------------------------------------------
// C2 appset-discovery

/// What C2 saw of the committed model at one instant.
#[derive(Debug, Clone)]
pub struct DiscoveryObservation {
    /// The child Application's expected name (`model-<name>`).
    pub application_name: String,
    pub application: Option<Value>,
    /// The model-endpoints ApplicationSet (its conditions explain a missing child).
    pub application_set: Option<Value>,
    /// Whether the model's InferenceService exists: an Application reported Synced+Healthy
    /// whose resource is absent is the false green of seeds/11 failure 5.
    pub isvc_exists: bool,
    pub elapsed: Duration,
    pub deadline_passed: bool,
}

/// `status.conditions` of an ApplicationSet that report an error (argo-cd
/// pkg/apis/application/v1alpha1/applicationset_types.go: ErrorOccurred, ParametersGenerated,
/// ResourcesUpToDate).
fn application_set_errors(appset: &Value) -> Vec<String> {
    appset
        .pointer("/status/conditions")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter(|c| {
            let kind = c.get("type").and_then(Value::as_str).unwrap_or("");
            let status = c.get("status").and_then(Value::as_str).unwrap_or("");
            (kind == "ErrorOccurred" && status == "True")
                || (matches!(kind, "ParametersGenerated" | "ResourcesUpToDate")
                    && status == "False")
        })
        .map(|c| {
            format!(
                "{}: {}",
                c.get("type").and_then(Value::as_str).unwrap_or(""),
                c.get("message").and_then(Value::as_str).unwrap_or("")
            )
        })
        .collect()
}

/// C2 step 1: the child Application exists and is Synced+Healthy. `None` while waiting;
/// `Some(PASS)` carries the seconds from commit to healthy.
pub fn evaluate_discovery(observation: &DiscoveryObservation) -> Option<Outcome> {
    let name = &observation.application_name;
    if let Some(app) = &observation.application {
        let r = readiness::application(app);
        if r.ready && !observation.isvc_exists {
            if !observation.deadline_passed {
                return None;
            }
            return Some(Outcome::fail(
                format!("application {name} reports Synced+Healthy but its InferenceService does not exist"),
                Diagnosis::new(
                    format!("{}; the model's InferenceService is absent", r.observed),
                    "ArgoCD's status contradicts the cluster: the apply was rejected or the object deleted after the sync (a stale or failing webhook, seeds/11 failure 5)",
                    format!("kubectl -n argocd get application {name} -o jsonpath='{{.status.conditions}}{{.status.operationState.message}}'"),
                ),
            ));
        }
        if r.ready {
            let seconds = observation.elapsed.as_secs_f64();
            return Some(
                Outcome::pass(format!(
                    "application {name} generated and Synced+Healthy {seconds:.1} s after the commit"
                ))
                .with_figure("discovery_seconds", seconds, "s"),
            );
        }
        if !observation.deadline_passed {
            return None;
        }
        let state = readiness::application_state(app);
        let operation = state.operation.clone().unwrap_or_default();
        let likely = match admission::classify(&operation) {
            AdmissionOutcome::KyvernoDenial { policies, .. } => format!(
                "the committed scaffold is denied by policy {} at sync time",
                policies.join(", ")
            ),
            AdmissionOutcome::WebhookUnavailable { webhook, service, .. } => format!(
                "the sync fails at admission: webhook {webhook} unavailable (service {}), seeds/11 failure 1",
                service.unwrap_or_default()
            ),
            _ if state.health == "Progressing" => "the InferenceService is still starting (predictor image pull or model download); Progressing is not Healthy".to_string(),
            _ if !state.error_conditions.is_empty() => state.error_conditions.join("; "),
            _ => "the Application did not converge; its conditions and operation say why".to_string(),
        };
        return Some(Outcome::fail(
            format!("application {name} generated but not Synced+Healthy at the deadline"),
            Diagnosis::new(
                r.observed,
                likely,
                format!("kubectl -n argocd describe application {name}"),
            ),
        ));
    }
    if !observation.deadline_passed {
        return None;
    }
    let appset_errors = observation
        .application_set
        .as_ref()
        .map(application_set_errors)
        .unwrap_or_default();
    let likely = match (&observation.application_set, appset_errors.is_empty()) {
        (None, _) => format!("ApplicationSet {MODEL_APPLICATIONSET} does not exist: the platform never deployed the golden path's delivery"),
        (Some(_), false) => format!("ApplicationSet {MODEL_APPLICATIONSET} reports: {}", appset_errors.join("; ")),
        (Some(_), true) => format!("ApplicationSet {MODEL_APPLICATIONSET} has not seen the commit: repo-server cannot reach the GitOps source (git daemon stopped?) or the generator's poll interval exceeds the deadline"),
    };
    Some(Outcome::fail(
        format!("application {name} never generated"),
        Diagnosis::new(
            format!(
                "no application {name} {:.0} s after the commit",
                observation.elapsed.as_secs_f64()
            ),
            likely,
            format!("kubectl -n argocd get applicationset {MODEL_APPLICATIONSET} -o jsonpath='{{.status.conditions}}'"),
        ),
    ))
}

/// What C2 saw after removing the model folder.
#[derive(Debug, Clone)]
pub struct PruneObservation {
    pub application_name: String,
    pub application: Option<Value>,
    /// The model's InferenceService (namespace/name) if it still exists.
    pub isvc: Option<Value>,
    pub elapsed: Duration,
    pub deadline_passed: bool,
}

/// C2 step 2: the Application and its InferenceService are gone. `None` while waiting.
pub fn evaluate_pruned(observation: &PruneObservation) -> Option<Outcome> {
    let name = &observation.application_name;
    if observation.application.is_none() && observation.isvc.is_none() {
        let seconds = observation.elapsed.as_secs_f64();
        return Some(
            Outcome::pass(format!(
                "application {name} and its InferenceService pruned {seconds:.1} s after removal"
            ))
            .with_figure("prune_seconds", seconds, "s"),
        );
    }
    if !observation.deadline_passed {
        return None;
    }
    let (observed, likely, next) = match (&observation.application, &observation.isvc) {
        (Some(app), _) => {
            let finalizers = app
                .pointer("/metadata/finalizers")
                .and_then(Value::as_array)
                .map(|f| {
                    f.iter()
                        .filter_map(Value::as_str)
                        .collect::<Vec<_>>()
                        .join(",")
                })
                .unwrap_or_default();
            let deleting = app.pointer("/metadata/deletionTimestamp").is_some();
            (
                format!(
                    "application {name} still exists{} (finalizers: {finalizers})",
                    if deleting { ", being deleted" } else { "" }
                ),
                if deleting {
                    "the Application's resources-finalizer is waiting for its resources to be deleted (an InferenceService finalizer or a failing webhook blocks it)".to_string()
                } else {
                    format!("ApplicationSet {MODEL_APPLICATIONSET} has not seen the removal commit (poll interval) or its policy does not delete Applications (applicationsSync: create-only)")
                },
                format!("kubectl -n argocd get application {name} -o yaml"),
            )
        }
        (None, Some(isvc)) => {
            let ns = str_at(isvc, "/metadata/namespace");
            let isvc_name = str_at(isvc, "/metadata/name");
            (
                format!("application {name} is gone but inferenceservice {ns}/{isvc_name} remains"),
                "the Application was deleted without cascading: its template lacks the resources-finalizer, so the InferenceService is orphaned".to_string(),
                format!("kubectl -n {ns} get inferenceservice {isvc_name} -o yaml"),
            )
        }
        (None, None) => unreachable!("handled above"),
    };
    Some(Outcome::fail(
        format!("application {name} not pruned within the deadline"),
        Diagnosis::new(observed, likely, next),
    ))
}

/// C2's verdict from its two steps: both PASS, or the first FAIL.
pub fn combine_discovery_and_prune(discovery: Outcome, prune: Outcome) -> Outcome {
    if !discovery.is_pass() {
        return discovery;
    }
    if !prune.is_pass() {
        return prune;
    }
    let mut combined = Outcome::pass(format!("{}; {}", discovery.summary, prune.summary));
    combined.figures = discovery.figures;
    combined.figures.extend(prune.figures);
    combined
}

// ---------------------------------------------------------------------------------------------
// C3 scaffold-serves

/// What C3 saw: the scaffolded InferenceService as last read, when it became Ready, and the
/// answer to a predict through the gateway once it was.
#[derive(Debug, Clone)]
pub struct ServeObservation {
    pub isvc: Option<Value>,
    /// Seconds from create to Ready=True with a URL; None if it never got there.
    pub ready_after: Option<Duration>,
    pub answer: Option<ModelAnswer>,
    pub ingress_url: String,
}

/// C3: the scaffolded endpoint became Ready with a URL and answered the known inputs correctly
/// through the Kourier gateway.
pub fn evaluate_scaffold_serves(observation: &ServeObservation) -> Outcome {
    let Some(isvc) = &observation.isvc else {
        return Outcome::fail(
            "the scaffolded InferenceService does not exist",
            Diagnosis::new(
                "the InferenceService the check created is gone",
                "something deleted it (a prune by ArgoCD, or a namespace cleanup) before it became Ready",
                "kubectl get events -A --field-selector involvedObject.kind=InferenceService",
            ),
        );
    };
    let name = str_at(isvc, "/metadata/name");
    let ns = str_at(isvc, "/metadata/namespace");
    let Some(ready_after) = observation.ready_after else {
        return Outcome::fail(
            format!("scaffolded inferenceservice {ns}/{name} not Ready at the deadline"),
            Diagnosis::new(
                readiness::inference_service(isvc).observed,
                isvc_likely_cause(isvc),
                format!("kubectl -n {ns} describe inferenceservice {name} && kubectl -n {ns} get pods -l serving.kserve.io/inferenceservice={name}"),
            ),
        );
    };
    let Some(answer) = &observation.answer else {
        return Outcome::fail(
            format!("scaffolded inferenceservice {ns}/{name} Ready but no request was sent"),
            Diagnosis::new(
                "no ingress URL or no status.url host to send the predict to",
                "the runner found no route to the Kourier gateway",
                "neuroscale doctor",
            ),
        );
    };
    let inference = evaluate_inference(std::slice::from_ref(answer), &observation.ingress_url);
    let seconds = ready_after.as_secs_f64();
    if !inference.is_pass() {
        return inference;
    }
    let mut outcome = Outcome::pass(format!(
        "scaffolded {ns}/{name} Ready after {seconds:.1} s; {}",
        inference.summary
    ))
    .with_figure("ready_seconds", seconds, "s");
    outcome.figures.extend(inference.figures);
    outcome
}

/// The real KServe model server (tests/peers) stands in for the predictor behind Kourier in
/// C3's tests.
#[cfg(test)]
#[path = "../../tests/peers/kserve.rs"]
mod kserve_peer;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checks::fixtures::diagnosis;
    use crate::checks::fixtures::{application, set_condition};
    use crate::checks::outcome::Verdict;
    use serde_json::json;

    /// A ValidatingPolicy as the gitops manifests declare it and Kyverno reports it (kyverno
    /// config/crds/policies.kyverno.io ValidatingPolicy; status.conditionStatus per UPSTREAM.md §6).
    fn policy(name: &str, resource: &str, ready: bool) -> Value {
        json!({
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
        })
    }

    fn live_policies() -> Vec<Value> {
        vec![
            policy(ISVC_LABEL_POLICY, "inferenceservices", true),
            policy("require-standard-labels-deployment", "deployments", true),
            policy("disallow-root-containers", "deployments", true),
        ]
    }

    /// Kyverno's resource validating webhook configuration as its admission controller registers
    /// it for a ValidatingPolicy (kyverno pkg/controllers/webhook; fine-grained webhook names per
    /// UPSTREAM.md §6; shape: admissionregistration.k8s.io/v1 ValidatingWebhookConfiguration).
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
            crate::checks::fixtures::from(kyverno_webhook_configuration());
        assert_eq!(
            kyverno_isvc_webhooks(std::slice::from_ref(&config)).len(),
            1
        );
        let mut deployments_only = kyverno_webhook_configuration();
        deployments_only["webhooks"][0]["rules"][0]["resources"] = json!(["deployments"]);
        let config: ValidatingWebhookConfiguration =
            crate::checks::fixtures::from(deployments_only);
        assert!(kyverno_isvc_webhooks(&[config]).is_empty());
        // Fail-open: with Kyverno down the API server admits anyway, so it cannot prove anything.
        let mut fail_open = kyverno_webhook_configuration();
        fail_open["webhooks"][0]["failurePolicy"] = json!("Ignore");
        let config: ValidatingWebhookConfiguration = crate::checks::fixtures::from(fail_open);
        assert!(kyverno_isvc_webhooks(&[config]).is_empty());
    }

    #[test]
    fn c1_fails_when_admitted_while_kyvernos_webhook_is_not_registered() {
        // A policy reporting Ready proves nothing when no webhook sends requests to Kyverno.
        let mut observation = admission(Ok(()));
        observation.kyverno_webhooks.clear();
        let outcome = evaluate_scaffold_compliant(&observation);
        assert_eq!(outcome.verdict, Verdict::Fail);
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
            elapsed: Duration::from_millis(85),
        }
    }

    #[test]
    fn c1_passes_when_live_policies_admit_the_scaffold() {
        let outcome = evaluate_scaffold_compliant(&admission(Ok(())));
        assert_eq!(outcome.verdict, Verdict::Pass, "{outcome:?}");
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
        assert_eq!(outcome.verdict, Verdict::Fail);
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
        assert_eq!(outcome.verdict, Verdict::Fail);
        assert!(
            outcome
                .summary
                .contains("infrastructure failure, not a compliance verdict"),
            "{}",
            outcome.summary
        );
        assert!(!outcome.summary.contains("denied"), "{}", outcome.summary);
        let d = diagnosis(&outcome);
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
        assert_eq!(outcome.verdict, Verdict::Fail);
        assert!(
            outcome.summary.contains("proves nothing"),
            "{}",
            outcome.summary
        );
        observation.policies = vec![];
        assert_eq!(
            evaluate_scaffold_compliant(&observation).verdict,
            Verdict::Fail
        );
    }

    #[test]
    fn c1_fails_on_a_knative_or_kserve_validation_denial_without_blaming_a_policy() {
        let message = r#"admission webhook "inferenceservice.kserve-webhook-server.validator" denied the request: the InferenceService "nscheck-c1-1a2b" is invalid: spec.predictor: Required value"#;
        let outcome = evaluate_scaffold_compliant(&admission(Err(message.into())));
        assert_eq!(outcome.verdict, Verdict::Fail);
        assert!(
            outcome.summary.contains("not a platform policy"),
            "{}",
            outcome.summary
        );
    }

    fn iris_answer(predictions: Vec<Value>) -> ModelAnswer {
        ModelAnswer {
            model: crate::scenario::ModelProbe {
                name: "nscheck-c3-1a2b".into(),
                namespace: "models".into(),
                protocol: crate::scenario::Protocol::V1,
                instances: vec![vec![6.8, 2.8, 4.8, 1.4], vec![5.1, 3.5, 1.4, 0.2]],
                expected: vec![json!(1), json!(0)],
                cost_center: "ml-research".into(),
                gpu: false,
            },
            host: "nscheck-c3-1a2b-predictor.models.neuroscale.localhost".into(),
            answer: crate::checks::serving::ProbeAnswer::Predictions {
                predictions,
                latency: Duration::from_millis(9),
            },
        }
    }

    fn served(isvc_ready: bool, answer: Option<ModelAnswer>) -> ServeObservation {
        let isvc =
            crate::checks::fixtures::inference_service("models", "nscheck-c3-1a2b", isvc_ready);
        ServeObservation {
            isvc: Some(isvc),
            ready_after: isvc_ready.then(|| Duration::from_secs(64)),
            answer,
            ingress_url: "http://127.0.0.1:8081".into(),
        }
    }

    #[test]
    fn c3_passes_when_the_scaffold_becomes_ready_and_answers() {
        let outcome =
            evaluate_scaffold_serves(&served(true, Some(iris_answer(vec![json!(1), json!(0)]))));
        assert_eq!(outcome.verdict, Verdict::Pass, "{outcome:?}");
        assert_eq!(outcome.figures[0].name, "ready_seconds");
        assert_eq!(outcome.figures[0].value, 64.0);
    }

    #[test]
    fn c3_fails_when_the_scaffold_never_becomes_ready() {
        let mut observation = served(false, None);
        observation.isvc = Some(set_condition(
            observation.isvc.unwrap(),
            "PredictorReady",
            "False",
            "RevisionMissing",
            "0/1 nodes are available: 1 Insufficient cpu.",
        ));
        let outcome = evaluate_scaffold_serves(&observation);
        assert_eq!(outcome.verdict, Verdict::Fail);
        assert!(
            diagnosis(&outcome)
                .likely_cause
                .contains("cannot be scheduled"),
            "{:?}",
            outcome.diagnosis
        );
    }

    #[test]
    fn c3_fails_on_a_wrong_answer() {
        let outcome = evaluate_scaffold_serves(&served(true, Some(iris_answer(vec![json!(1)]))));
        assert_eq!(outcome.verdict, Verdict::Fail);
        assert!(diagnosis(&outcome)
            .observed
            .contains("1 predictions for 2 input rows"));
    }

    #[test]
    fn c1_fails_when_a_webhook_refuses_dry_runs_and_names_it() {
        // k8s.io/apiserver pkg/admission/plugin/webhook: "admission webhook %q does not support dry run".
        let message = r#"admission webhook "legacy.example.com" does not support dry run"#;
        let outcome = evaluate_scaffold_compliant(&admission(Err(message.into())));
        assert_eq!(outcome.verdict, Verdict::Fail);
        assert!(
            outcome.summary.contains("legacy.example.com"),
            "{}",
            outcome.summary
        );
        assert!(diagnosis(&outcome).likely_cause.contains("sideEffects"));
    }

    fn discovery(
        app: Option<Value>,
        appset: Option<Value>,
        deadline_passed: bool,
    ) -> DiscoveryObservation {
        DiscoveryObservation {
            application_name: "model-nscheck-c2-1a2b".into(),
            application: app,
            application_set: appset,
            isvc_exists: true,
            elapsed: Duration::from_secs(41),
            deadline_passed,
        }
    }

    #[test]
    fn c2_discovery_fails_when_a_healthy_application_lacks_its_inference_service() {
        // seeds/11 failure 5: ArgoCD says synced, the object does not exist.
        let app = application("model-nscheck-c2-1a2b", "Synced", "Healthy");
        let mut observation = discovery(Some(app), None, false);
        observation.isvc_exists = false;
        assert!(
            evaluate_discovery(&observation).is_none(),
            "keeps waiting before the deadline"
        );
        observation.deadline_passed = true;
        let outcome = evaluate_discovery(&observation).expect("verdict");
        assert_eq!(outcome.verdict, Verdict::Fail);
        assert!(
            outcome.summary.contains("does not exist"),
            "{}",
            outcome.summary
        );
        assert!(diagnosis(&outcome)
            .likely_cause
            .contains("seeds/11 failure 5"));
    }

    fn appset(conditions: Value) -> Value {
        // argo-cd pkg/apis/application/v1alpha1/applicationset_types.go ApplicationSetCondition.
        json!({"apiVersion": "argoproj.io/v1alpha1", "kind": "ApplicationSet",
               "metadata": {"namespace": "argocd", "name": MODEL_APPLICATIONSET},
               "status": {"conditions": conditions}})
    }

    #[test]
    fn c2_discovery_passes_with_the_seconds_to_healthy() {
        let app = application("model-nscheck-c2-1a2b", "Synced", "Healthy");
        let outcome = evaluate_discovery(&discovery(Some(app), None, false)).expect("verdict");
        assert_eq!(outcome.verdict, Verdict::Pass);
        assert_eq!(outcome.figures[0].value, 41.0);
    }

    #[test]
    fn c2_discovery_waits_while_progressing_and_fails_at_the_deadline() {
        let app = application("model-nscheck-c2-1a2b", "Synced", "Progressing");
        assert!(evaluate_discovery(&discovery(Some(app.clone()), None, false)).is_none());
        let outcome = evaluate_discovery(&discovery(Some(app), None, true)).expect("verdict");
        assert_eq!(outcome.verdict, Verdict::Fail);
        assert!(diagnosis(&outcome)
            .likely_cause
            .contains("Progressing is not Healthy"));
    }

    #[test]
    fn c2_discovery_fails_when_never_generated_and_quotes_the_appset_error() {
        let set = appset(
            json!([{"type": "ErrorOccurred", "status": "True", "reason": "ApplicationGenerationFromParamsError",
            "message": "rpc error: code = Unknown desc = repository not found"}]),
        );
        let outcome = evaluate_discovery(&discovery(None, Some(set), true)).expect("verdict");
        assert_eq!(outcome.verdict, Verdict::Fail);
        assert!(outcome.summary.contains("never generated"));
        assert!(diagnosis(&outcome)
            .likely_cause
            .contains("repository not found"));
    }

    fn pruned(app: Option<Value>, isvc: Option<Value>, deadline_passed: bool) -> PruneObservation {
        PruneObservation {
            application_name: "model-nscheck-c2-1a2b".into(),
            application: app,
            isvc,
            elapsed: Duration::from_secs(33),
            deadline_passed,
        }
    }

    #[test]
    fn c2_prune_passes_once_application_and_isvc_are_gone() {
        let outcome = evaluate_pruned(&pruned(None, None, false)).expect("verdict");
        assert_eq!(outcome.verdict, Verdict::Pass);
        assert_eq!(outcome.figures[0].name, "prune_seconds");
        let combined = combine_discovery_and_prune(
            evaluate_discovery(&discovery(
                Some(application("model-nscheck-c2-1a2b", "Synced", "Healthy")),
                None,
                false,
            ))
            .unwrap(),
            outcome,
        );
        assert_eq!(combined.verdict, Verdict::Pass);
        assert_eq!(combined.figures.len(), 2);
    }

    #[test]
    fn c2_prune_fails_on_an_orphaned_isvc() {
        let isvc = set_condition(
            crate::checks::fixtures::inference_service("models", "nscheck-c2-1a2b", true),
            "Ready",
            "True",
            "",
            "",
        );
        assert!(evaluate_pruned(&pruned(None, Some(isvc.clone()), false)).is_none());
        let outcome = evaluate_pruned(&pruned(None, Some(isvc), true)).expect("verdict");
        assert_eq!(outcome.verdict, Verdict::Fail);
        assert!(diagnosis(&outcome)
            .likely_cause
            .contains("resources-finalizer"));
        let combined = combine_discovery_and_prune(Outcome::pass("found"), outcome);
        assert_eq!(combined.verdict, Verdict::Fail);
    }

    /// The live policies and Kyverno's webhook on the simulated cluster; `admission`, when
    /// given, is the answer admission gives every create of an InferenceService (a webhook
    /// call failure, say); otherwise the scaffold is admitted.
    async fn admission_cluster(
        admission: Option<neuroscale_testkit::Status>,
    ) -> neuroscale_testkit::SimCluster {
        use crate::checks::fixtures;
        let sim = fixtures::sim_cluster(&["models", "kyverno"]).await;
        fixtures::put_crd(
            &sim,
            "policies.kyverno.io",
            "ValidatingPolicy",
            "validatingpolicies",
            "v1",
            false,
        );
        fixtures::put_crd(
            &sim,
            "serving.kserve.io",
            "InferenceService",
            "inferenceservices",
            "v1beta1",
            true,
        );
        for policy in live_policies() {
            fixtures::put(&sim, &policy);
        }
        fixtures::put(&sim, &kyverno_webhook_configuration());
        if let Some(status) = admission {
            sim.on_admission(
                "serving.kserve.io",
                "InferenceService",
                move |request, _| {
                    if request.operation == neuroscale_testkit::Operation::Create {
                        return Err(status.clone());
                    }
                    Ok(())
                },
            );
        }
        sim
    }

    /// The requests the sim received, as `METHOD path?query`.
    fn requests_seen(sim: &neuroscale_testkit::SimCluster) -> Vec<String> {
        sim.requests()
            .iter()
            .map(|r| {
                let query: Vec<String> = r.query.iter().map(|(k, v)| format!("{k}={v}")).collect();
                format!("{} {}?{}", r.method, r.path, query.join("&"))
            })
            .collect()
    }

    #[tokio::test]
    async fn c1_dry_runs_the_scaffold_and_passes_when_admitted() {
        let sim = admission_cluster(None).await;
        let env = crate::checks::fixtures::sim_env(&sim, false);
        let run = CheckRun::new(
            &env,
            crate::checks::catalogue::find("C1").unwrap(),
            Duration::from_secs(10),
        );
        let outcome = scaffold_compliant(&run).await;
        assert_eq!(outcome.verdict, Verdict::Pass, "{outcome:?}");
        let requests = requests_seen(&sim);
        let post = requests
            .iter()
            .find(|r| r.starts_with("POST /apis/serving.kserve.io"))
            .expect("the scaffold was sent");
        assert!(
            post.contains("dryRun=All"),
            "a server-side dry-run, nothing persisted: {post}"
        );
    }

    #[tokio::test]
    async fn c1_reports_an_unreachable_webhook_as_infrastructure_after_retrying() {
        // k8s.io/apiserver's webhook call failure (InternalError, 500) for a Kyverno webhook
        // whose Service has no endpoints.
        let unavailable = neuroscale_testkit::Status::webhook_unreachable(
            "vpol.validate.kyverno.svc-fail",
            "https://kyverno-svc.kyverno.svc:443/validate/fail?timeout=10s",
            "no endpoints available for service \"kyverno-svc\"",
        );
        let sim = admission_cluster(Some(unavailable)).await;
        let env = crate::checks::fixtures::sim_env(&sim, false);
        let run = CheckRun::new(
            &env,
            crate::checks::catalogue::find("C1").unwrap(),
            Duration::from_secs(30),
        );
        let outcome = scaffold_compliant(&run).await;
        assert_eq!(outcome.verdict, Verdict::Fail);
        assert!(
            outcome.summary.contains("not a compliance verdict"),
            "{}",
            outcome.summary
        );
        let posts = requests_seen(&sim)
            .iter()
            .filter(|r| r.starts_with("POST"))
            .count();
        assert_eq!(posts, C1_ATTEMPTS, "an unavailable webhook is retried");
    }

    #[test]
    fn probe_model_names_are_dns_labels_with_room_for_kserve_suffixes() {
        let name = probe_model_name("C2");
        assert!(crate::scenario::is_dns1123_label(&name), "{name}");
        assert!(name.starts_with("nscheck-c2-"), "{name}");
        assert!(
            name.len() + "-predictor-00001-deployment".len() <= 63,
            "{name}"
        );
    }

    /// Real git is the peer C2 commits to; skip with the reason when it is missing.
    fn git_available() -> bool {
        let ok = std::process::Command::new("git")
            .arg("--version")
            .output()
            .is_ok_and(|o| o.status.success());
        if !ok {
            let reason = "git is not on PATH: C2's GitOps source cannot be exercised";
            if std::env::var("NEUROSCALE_REQUIRE_PEERS").is_ok_and(|v| v == "1") {
                panic!("NEUROSCALE_REQUIRE_PEERS=1 but {reason}");
            }
            eprintln!("SKIP: {reason}");
        }
        ok
    }

    /// ArgoCD as C2 sees it on the simulated cluster, driven by the real repository: the
    /// model ApplicationSet is up to date, and (when `discovers`) a scripted ArgoCD polls the
    /// repository as its git generator does: a model folder yields a Synced+Healthy child
    /// Application and its InferenceService; removing the folder prunes both.
    async fn appset_cluster(
        dir: std::path::PathBuf,
        discovers: bool,
    ) -> std::sync::Arc<neuroscale_testkit::SimCluster> {
        use crate::checks::fixtures;
        let sim = std::sync::Arc::new(fixtures::sim_cluster(&["argocd", "models"]).await);
        fixtures::put_crd(
            &sim,
            "argoproj.io",
            "Application",
            "applications",
            "v1alpha1",
            true,
        );
        fixtures::put_crd(
            &sim,
            "argoproj.io",
            "ApplicationSet",
            "applicationsets",
            "v1alpha1",
            true,
        );
        fixtures::put_crd(
            &sim,
            "serving.kserve.io",
            "InferenceService",
            "inferenceservices",
            "v1beta1",
            true,
        );
        fixtures::put(
            &sim,
            &appset(json!([{"type": "ResourcesUpToDate", "status": "True",
                "reason": "ApplicationSetUpToDate", "message": "All applications have been generated successfully"}])),
        );
        if discovers {
            let argocd = sim.clone();
            tokio::spawn(async move {
                loop {
                    let source = dir.clone();
                    let committed = tokio::task::spawn_blocking(move || {
                        GitSource::open(&source)
                            .and_then(|s| s.models())
                            .unwrap_or_default()
                    })
                    .await
                    .unwrap_or_default();
                    for model in &committed {
                        let app = format!("model-{model}");
                        if argocd
                            .get("argoproj.io/v1alpha1", "Application", "argocd", &app)
                            .is_none()
                        {
                            fixtures::put(&argocd, &application(&app, "Synced", "Healthy"));
                            fixtures::put(
                                &argocd,
                                &fixtures::inference_service("models", model, true),
                            );
                        }
                    }
                    for app in argocd.list("argoproj.io/v1alpha1", "Application", Some("argocd")) {
                        let name = app["metadata"]["name"]
                            .as_str()
                            .unwrap_or_default()
                            .to_string();
                        let Some(model) = name.strip_prefix("model-") else {
                            continue;
                        };
                        if !committed.iter().any(|m| m == model) {
                            let _ = argocd.delete(
                                "argoproj.io/v1alpha1",
                                "Application",
                                "argocd",
                                &name,
                            );
                            let _ = argocd.delete(
                                "serving.kserve.io/v1beta1",
                                "InferenceService",
                                "models",
                                model,
                            );
                        }
                    }
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
            });
        }
        sim
    }

    #[tokio::test]
    async fn c2_commits_the_scaffold_waits_for_discovery_then_removes_it_and_waits_for_the_prune() {
        if !git_available() {
            return;
        }
        let dir = tempfile::tempdir().unwrap();
        GitSource::create_or_open(dir.path()).unwrap();
        let sim = appset_cluster(dir.path().into(), true).await;
        let mut env = crate::checks::fixtures::sim_env(&sim, true);
        env.gitops_cache_dir = dir.path().into();
        let run = CheckRun::new(
            &env,
            crate::checks::catalogue::find("C2").unwrap(),
            Duration::from_secs(30),
        );
        let outcome = appset_discovery(&run).await;
        assert_eq!(outcome.verdict, Verdict::Pass, "{outcome:?}");
        let names: Vec<&str> = outcome.figures.iter().map(|f| f.name.as_str()).collect();
        assert_eq!(names, ["discovery_seconds", "prune_seconds"]);
        assert!(
            GitSource::open(dir.path())
                .unwrap()
                .models()
                .unwrap()
                .is_empty(),
            "the model folder is removed again"
        );
        assert!(
            run.tracked().is_empty(),
            "pruned objects are untracked: {:?}",
            run.tracked()
        );
    }

    #[tokio::test]
    async fn c2_fails_when_no_application_is_generated_and_still_removes_its_folder() {
        if !git_available() {
            return;
        }
        let dir = tempfile::tempdir().unwrap();
        GitSource::create_or_open(dir.path()).unwrap();
        let sim = appset_cluster(dir.path().into(), false).await;
        let mut env = crate::checks::fixtures::sim_env(&sim, true);
        env.gitops_cache_dir = dir.path().into();
        let run = CheckRun::new(
            &env,
            crate::checks::catalogue::find("C2").unwrap(),
            Duration::from_secs(3),
        );
        let outcome = appset_discovery(&run).await;
        assert_eq!(outcome.verdict, Verdict::Fail, "{outcome:?}");
        assert!(
            outcome.summary.contains("never generated"),
            "{}",
            outcome.summary
        );
        assert!(diagnosis(&outcome)
            .likely_cause
            .contains("has not seen the commit"));
        assert!(
            GitSource::open(dir.path())
                .unwrap()
                .models()
                .unwrap()
                .is_empty(),
            "the model folder is removed on failure too"
        );
    }

    #[test]
    fn an_interrupted_c2_removes_its_model_folder_when_dropped() {
        if !git_available() {
            return;
        }
        let dir = tempfile::tempdir().unwrap();
        let source = GitSource::create_or_open(dir.path()).unwrap();
        let spec = ModelSpec::new("nscheck-c2-abcdef", PROBE_OWNER, "ml-research").unwrap();
        source.add_model(&spec).unwrap();
        assert_eq!(
            source.models().unwrap(),
            vec!["nscheck-c2-abcdef".to_string()]
        );
        drop(CommittedModel {
            dir: dir.path().into(),
            name: spec.name.clone(),
            removed: false,
        });
        assert!(source.models().unwrap().is_empty());
    }

    use super::kserve_peer;

    /// The KServe model server C3's scaffold gets, once KServe has started it.
    type ModelServer = std::sync::Arc<std::sync::Mutex<Option<kserve_peer::KserveServer>>>;

    /// KServe and Kourier as C3 sees them, on the simulated cluster: a scripted KServe starts
    /// the real KServe model server (the Python peer) for each InferenceService created, under
    /// the InferenceService's name as KServe does, then reports it Ready; deleting it is the
    /// API server's own. The gateway stand-in forwards every connection to that server, as
    /// Kourier routes the predictor's Host to it. `None` when the peer is missing (skipped).
    async fn serving_cluster(
        faults: &'static [(&'static str, &'static str)],
    ) -> Option<(
        std::sync::Arc<neuroscale_testkit::SimCluster>,
        String,
        ModelServer,
    )> {
        use crate::checks::fixtures;
        if let Err(reason) = kserve_peer::python() {
            kserve_peer::skip(&reason);
            return None;
        }
        let sim = std::sync::Arc::new(fixtures::sim_cluster(&["models"]).await);
        fixtures::put_crd(
            &sim,
            "serving.kserve.io",
            "InferenceService",
            "inferenceservices",
            "v1beta1",
            true,
        );
        let server: ModelServer = Default::default();

        let mut events = sim.subscribe();
        let kserve = sim.clone();
        let started = server.clone();
        tokio::spawn(async move {
            while let Ok(event) = events.recv().await {
                if event.event_type != neuroscale_testkit::EventType::Added
                    || event.plural != "inferenceservices"
                {
                    continue;
                }
                let name = event.object["metadata"]["name"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string();
                let model = name.clone();
                let peer = tokio::task::spawn_blocking(move || kserve_peer::start(&model, faults))
                    .await
                    .expect("the model server start does not panic");
                *started.lock().unwrap() = peer;
                let ready = fixtures::inference_service("models", &name, true);
                let _ = kserve.set_status(
                    "serving.kserve.io/v1beta1",
                    "InferenceService",
                    "models",
                    &name,
                    ready["status"].clone(),
                );
            }
        });

        let gateway = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let ingress_url = format!("http://{}", gateway.local_addr().unwrap());
        let routes = server.clone();
        tokio::spawn(async move {
            while let Ok((mut inbound, _)) = gateway.accept().await {
                let port = routes.lock().unwrap().as_ref().map(|s| {
                    s.base_url()
                        .rsplit(':')
                        .next()
                        .unwrap_or_default()
                        .to_string()
                });
                let Some(port) = port else { continue };
                tokio::spawn(async move {
                    if let Ok(mut outbound) =
                        tokio::net::TcpStream::connect(format!("127.0.0.1:{port}")).await
                    {
                        let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                    }
                });
            }
        });
        Some((sim, ingress_url, server))
    }

    fn server_log(server: &ModelServer) -> String {
        server
            .lock()
            .unwrap()
            .as_ref()
            .map(|s| s.log_tail())
            .unwrap_or_else(|| "(no model server started)".into())
    }

    #[tokio::test]
    async fn c3_creates_the_scaffold_probes_it_through_the_gateway_and_deletes_it() {
        let Some((sim, ingress_url, server)) = serving_cluster(&[]).await else {
            return;
        };
        let mut env = crate::checks::fixtures::sim_env(&sim, true);
        env.ingress_url = Some(ingress_url);
        let run = CheckRun::new(
            &env,
            crate::checks::catalogue::find("C3").unwrap(),
            Duration::from_secs(60),
        );
        let outcome = scaffold_serves(&run).await;
        assert_eq!(
            outcome.verdict,
            Verdict::Pass,
            "{outcome:?}\n{}",
            server_log(&server)
        );
        assert_eq!(outcome.figures[0].name, "ready_seconds");
        let requests = requests_seen(&sim);
        assert!(
            requests.iter().any(|r| r.starts_with("DELETE")),
            "{requests:?}"
        );
        assert!(
            run.tracked().is_empty(),
            "deleted and confirmed gone: {:?}",
            run.tracked()
        );
    }

    #[tokio::test]
    async fn c3_fails_on_a_wrong_answer_and_still_deletes_the_scaffold() {
        let Some((sim, ingress_url, _server)) =
            serving_cluster(&[("NEUROSCALE_PEER_DROP_PREDICTION", "1")]).await
        else {
            return;
        };
        let mut env = crate::checks::fixtures::sim_env(&sim, true);
        env.ingress_url = Some(ingress_url);
        let run = CheckRun::new(
            &env,
            crate::checks::catalogue::find("C3").unwrap(),
            Duration::from_secs(60),
        );
        let outcome = scaffold_serves(&run).await;
        assert_eq!(outcome.verdict, Verdict::Fail);
        assert!(
            diagnosis(&outcome)
                .observed
                .contains("predictions for 4 input rows"),
            "{:?}",
            outcome.diagnosis
        );
        assert!(requests_seen(&sim).iter().any(|r| r.starts_with("DELETE")));
        assert!(run.tracked().is_empty());
    }
}
