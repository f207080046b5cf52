//! Readiness gates: waits for a [`Gate`] to hold, driven by watch events (kube-runtime's
//! `watcher`), never by fixed sleeps. Every wait has a deadline; when it expires the error names
//! the stuck object, what was last observed, and a diagnosis read from the cluster: the object's
//! conditions, its pods' container states and recent events.

use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

use futures::{Stream, StreamExt};
use k8s_openapi::api::apps::v1::{DaemonSet, Deployment, StatefulSet};
use k8s_openapi::api::core::v1::{Event as KubeEvent, Pod, Service};
use k8s_openapi::api::discovery::v1::EndpointSlice;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{ApiResource, DynamicObject, GroupVersionKind, ListParams};
use kube::runtime::watcher::{self, watcher};
use kube::runtime::WatchStreamExt;
use kube::{Api, Client, Resource, ResourceExt};
use serde::de::DeserializeOwned;
use serde_json::Value;
use tokio::time::Instant;

use crate::components::Gate;
use crate::failures::FailureCode;
use crate::platform::views::Application;
use crate::readiness::{self, Readiness};

/// Where ArgoCD and its Applications live (its install.yaml hard-wires this namespace).
pub use crate::platform::argocd::NAMESPACE as ARGOCD_NAMESPACE;
/// Recent events shown in a timeout diagnosis, per object.
const EVENTS_SHOWN: usize = 5;

pub type Result<T, E = GateError> = std::result::Result<T, E>;

/// A gate that did not hold in time.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "timed out after {}s waiting for {target}: {last_observed}{diagnosis}{}",
    waited.as_secs(),
    code_line(failure_code(.target, .last_observed, .diagnosis))
)]
pub struct GateError {
    /// The stuck object, e.g. `deploy/kserve/kserve-controller-manager`.
    pub target: String,
    pub waited: Duration,
    pub last_observed: String,
    pub diagnosis: Diagnosis,
}

/// What the cluster says about a stuck object.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Diagnosis {
    pub conditions: Vec<String>,
    pub containers: Vec<String>,
    pub events: Vec<String>,
}

impl fmt::Display for Diagnosis {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (label, lines) in [
            ("conditions", &self.conditions),
            ("containers", &self.containers),
            ("recent events", &self.events),
        ] {
            if !lines.is_empty() {
                write!(f, "\n  {label}: {}", lines.join("; "))?;
            }
        }
        Ok(())
    }
}

impl GateError {
    /// The catalogued failure this timeout shows, when what was observed identifies one.
    pub fn code(&self) -> Option<FailureCode> {
        failure_code(&self.target, &self.last_observed, &self.diagnosis)
    }
}

fn code_line(code: Option<FailureCode>) -> String {
    code.map(|c| format!("\n  code: {}", c.reference()))
        .unwrap_or_default()
}

/// Reads a gate's timeout like a person would: what the containers and events say first (an
/// image that cannot be pulled explains any stuck workload), then what the stuck object is.
/// `target` is [`target`]'s shorthand, so its kind prefix says which gate it was.
fn failure_code(target: &str, last_observed: &str, diagnosis: &Diagnosis) -> Option<FailureCode> {
    let seen = [
        diagnosis.containers.join(" "),
        diagnosis.events.join(" "),
        last_observed.to_string(),
    ]
    .join(" ");
    let conditions = diagnosis.conditions.join(" ");
    if seen.contains("ImagePullBackOff") || seen.contains("ErrImagePull") {
        return Some(FailureCode::ImagePullFailed);
    }
    if seen.contains("CrashLoopBackOff") {
        return Some(FailureCode::CrashLoop);
    }
    let kind = target.split('/').next().unwrap_or_default();
    match kind {
        "crd" => Some(FailureCode::CrdNotEstablished),
        "svc" => Some(FailureCode::LoadBalancerNoAddress),
        "endpoints"
            if target.ends_with(&format!(
                "/{}",
                crate::platform::kserve::WEBHOOK_SERVICE_NAME
            )) =>
        {
            Some(FailureCode::KserveWebhookNoEndpoints)
        }
        "application" if conditions.contains("does not exist") => {
            Some(FailureCode::ApplicationMissing)
        }
        "application" if conditions.contains("ComparisonError") => {
            Some(FailureCode::ApplicationComparisonError)
        }
        "application" if conditions.contains("health Progressing") => {
            Some(FailureCode::ApplicationProgressing)
        }
        "application"
            if conditions.contains("sync Unknown") || conditions.contains("health Unknown") =>
        {
            Some(FailureCode::ApplicationUnknown)
        }
        _ => None,
    }
}

/// The object a gate is about, in kubectl's `kind/namespace/name` shorthand.
pub fn target(gate: &Gate) -> String {
    match gate {
        Gate::CrdEstablished { name } => format!("crd/{name}"),
        Gate::Deployment { namespace, name } => format!("deploy/{namespace}/{name}"),
        Gate::StatefulSet { namespace, name } => format!("sts/{namespace}/{name}"),
        Gate::DaemonSet { namespace, name } => format!("ds/{namespace}/{name}"),
        Gate::ServiceEndpoints { namespace, name } => format!("endpoints/{namespace}/{name}"),
        Gate::LoadBalancerAddress { namespace, name } => format!("svc/{namespace}/{name}"),
        Gate::ApplicationHealthy { name } => format!("application/{ARGOCD_NAMESPACE}/{name}"),
    }
}

/// ArgoCD's Application kind (argoproj.io/v1alpha1, plural `applications`).
pub fn application_resource() -> ApiResource {
    ApiResource::from_gvk_with_plural(
        &GroupVersionKind::gvk("argoproj.io", "v1alpha1", "Application"),
        "applications",
    )
}

/// Watches the objects `config` selects and returns as soon as `evaluate` over the current set
/// says ready; `observe` hears every new observation. On the deadline, returns the last one.
async fn watch_until<K>(
    api: Api<K>,
    config: watcher::Config,
    deadline: Instant,
    evaluate: impl Fn(&[&K]) -> Readiness,
    observe: &(dyn Fn(&str) + Send + Sync),
) -> Result<Readiness, String>
where
    K: Resource + Clone + DeserializeOwned + fmt::Debug + Send + 'static,
{
    let stream = watcher(api, config).default_backoff();
    let mut stream: std::pin::Pin<Box<dyn Stream<Item = _> + Send>> = Box::pin(stream);
    let mut current: BTreeMap<String, K> = BTreeMap::new();
    let mut listing: BTreeMap<String, K> = BTreeMap::new();
    let mut last = String::from("nothing observed yet (the API server has not answered)");
    let key = |obj: &K| format!("{}/{}", obj.namespace().unwrap_or_default(), obj.name_any());
    loop {
        let next = match tokio::time::timeout_at(deadline, stream.next()).await {
            Ok(Some(next)) => next,
            Ok(None) | Err(_) => return Err(last),
        };
        let settled = match next {
            Ok(watcher::Event::Init) => {
                listing.clear();
                false
            }
            Ok(watcher::Event::InitApply(obj)) => {
                listing.insert(key(&obj), obj);
                false
            }
            Ok(watcher::Event::InitDone) => {
                current = std::mem::take(&mut listing);
                true
            }
            Ok(watcher::Event::Apply(obj)) => {
                current.insert(key(&obj), obj);
                true
            }
            Ok(watcher::Event::Delete(obj)) => {
                current.remove(&key(&obj));
                true
            }
            Err(err) => {
                let text = format!("watch failed, retrying: {err}");
                if text != last {
                    observe(&text);
                    last = text;
                }
                false
            }
        };
        if !settled {
            continue;
        }
        let objects: Vec<&K> = current.values().collect();
        let readiness = evaluate(&objects);
        if readiness.ready {
            return Ok(readiness);
        }
        if readiness.observed != last {
            observe(&readiness.observed);
            last = readiness.observed;
        }
    }
}

fn by_name(name: &str) -> watcher::Config {
    watcher::Config::default().fields(&format!("metadata.name={name}"))
}

fn single<'a, K, R: Fn(&K) -> Readiness + 'a>(
    what: &'a str,
    rule: R,
) -> impl Fn(&[&K]) -> Readiness + 'a {
    move |objects: &[&K]| match objects.first() {
        Some(obj) => rule(obj),
        None => Readiness::not_ready(format!("{what} does not exist yet")),
    }
}

/// Waits until `gate` holds or `deadline` passes.
pub async fn wait(
    client: &Client,
    gate: &Gate,
    deadline: Instant,
    observe: &(dyn Fn(&str) + Send + Sync),
) -> Result<Readiness> {
    let started = Instant::now();
    let label = target(gate);
    let outcome = match *gate {
        Gate::CrdEstablished { name } => {
            return crd_established(client, name, deadline, observe).await
        }
        Gate::Deployment { namespace, name } => {
            let api: Api<Deployment> = Api::namespaced(client.clone(), namespace);
            let rule = single(&label, readiness::deployment);
            watch_until(api, by_name(name), deadline, rule, observe).await
        }
        Gate::StatefulSet { namespace, name } => {
            let api: Api<StatefulSet> = Api::namespaced(client.clone(), namespace);
            let rule = single(&label, readiness::stateful_set);
            watch_until(api, by_name(name), deadline, rule, observe).await
        }
        Gate::DaemonSet { namespace, name } => {
            let api: Api<DaemonSet> = Api::namespaced(client.clone(), namespace);
            let rule = single(&label, readiness::daemon_set);
            watch_until(api, by_name(name), deadline, rule, observe).await
        }
        Gate::ServiceEndpoints { namespace, name } => {
            let api: Api<EndpointSlice> = Api::namespaced(client.clone(), namespace);
            let config =
                watcher::Config::default().labels(&format!("kubernetes.io/service-name={name}"));
            let rule = |slices: &[&EndpointSlice]| {
                let owned: Vec<EndpointSlice> = slices.iter().map(|s| (*s).clone()).collect();
                readiness::service_endpoints(&format!("{namespace}/{name}"), &owned)
            };
            watch_until(api, config, deadline, rule, observe).await
        }
        Gate::LoadBalancerAddress { namespace, name } => {
            let api: Api<Service> = Api::namespaced(client.clone(), namespace);
            let rule = single(&label, readiness::load_balancer);
            watch_until(api, by_name(name), deadline, rule, observe).await
        }
        Gate::ApplicationHealthy { name } => {
            let api: Api<DynamicObject> =
                Api::namespaced_with(client.clone(), ARGOCD_NAMESPACE, &application_resource());
            let rule =
                single(
                    &label,
                    |app: &DynamicObject| match crate::platform::views::from_dynamic::<Application>(
                        app,
                    ) {
                        Some(app) => readiness::application(&app),
                        None => Readiness::not_ready(format!(
                            "application {} is not shaped like an Application",
                            app.name_any()
                        )),
                    },
                );
            watch_until(api, by_name(name), deadline, rule, observe).await
        }
    };
    match outcome {
        Ok(readiness) => Ok(readiness),
        Err(last_observed) => Err(GateError {
            target: label,
            waited: started.elapsed(),
            last_observed,
            diagnosis: diagnose(client, gate).await,
        }),
    }
}

/// Waits until the CustomResourceDefinition `name` is Established (its kinds can be served).
pub async fn crd_established(
    client: &Client,
    name: &str,
    deadline: Instant,
    observe: &(dyn Fn(&str) + Send + Sync),
) -> Result<Readiness> {
    let started = Instant::now();
    let label = format!("crd/{name}");
    let api: Api<CustomResourceDefinition> = Api::all(client.clone());
    let rule = single(&label, readiness::crd_established);
    match watch_until(api, by_name(name), deadline, rule, observe).await {
        Ok(readiness) => Ok(readiness),
        Err(last_observed) => {
            let mut diagnosis = Diagnosis::default();
            let api: Api<CustomResourceDefinition> = Api::all(client.clone());
            if let Ok(Some(crd)) = api.get_opt(name).await {
                diagnosis.conditions = conditions_of(&to_value(&crd));
            }
            Err(GateError {
                target: label,
                waited: started.elapsed(),
                last_observed,
                diagnosis,
            })
        }
    }
}

/// Waits for every gate in turn against one deadline (the slowest gate dominates either way, and
/// sequential waits keep one observation line per component).
pub async fn wait_all(
    client: &Client,
    gates: &[Gate],
    deadline: Instant,
    observe: &(dyn Fn(&str) + Send + Sync),
) -> Result<Vec<Readiness>> {
    let mut passed = Vec::with_capacity(gates.len());
    for (index, gate) in gates.iter().enumerate() {
        let prefix = format!("[{}/{}] {}: ", index + 1, gates.len(), target(gate));
        let observe_gate = |observed: &str| observe(&format!("{prefix}{observed}"));
        passed.push(wait(client, gate, deadline, &observe_gate).await?);
    }
    Ok(passed)
}

/// Reads what the cluster says about a gate's object; best effort (a failing read is skipped,
/// the timeout is the error that matters).
pub async fn diagnose(client: &Client, gate: &Gate) -> Diagnosis {
    let mut diagnosis = Diagnosis::default();
    let (namespace, name, selector) = match *gate {
        Gate::CrdEstablished { name } => {
            let api: Api<CustomResourceDefinition> = Api::all(client.clone());
            if let Ok(Some(crd)) = api.get_opt(name).await {
                diagnosis.conditions = conditions_of(&to_value(&crd));
            }
            return diagnosis;
        }
        Gate::Deployment { namespace, name } => {
            let (selector, conditions) =
                workload_selector_and_conditions::<Deployment>(client, namespace, name).await;
            diagnosis.conditions = conditions;
            (namespace, name, selector)
        }
        Gate::StatefulSet { namespace, name } => {
            let (selector, conditions) =
                workload_selector_and_conditions::<StatefulSet>(client, namespace, name).await;
            diagnosis.conditions = conditions;
            (namespace, name, selector)
        }
        Gate::DaemonSet { namespace, name } => {
            let (selector, conditions) =
                workload_selector_and_conditions::<DaemonSet>(client, namespace, name).await;
            diagnosis.conditions = conditions;
            (namespace, name, selector)
        }
        Gate::ServiceEndpoints { namespace, name }
        | Gate::LoadBalancerAddress { namespace, name } => {
            let api: Api<Service> = Api::namespaced(client.clone(), namespace);
            let service = api.get_opt(name).await.ok().flatten();
            if service.is_none() {
                diagnosis.conditions = vec![format!("service {namespace}/{name} does not exist")];
            }
            let selector = service.and_then(|s| s.spec).and_then(|s| s.selector);
            (namespace, name, selector)
        }
        Gate::ApplicationHealthy { name } => {
            let api: Api<DynamicObject> =
                Api::namespaced_with(client.clone(), ARGOCD_NAMESPACE, &application_resource());
            if let Ok(Some(app)) = api.get_opt(name).await {
                let value = to_value(&app);
                let state = crate::platform::views::from_value::<Application>(&value)
                    .map(|app| readiness::application_state(&app));
                let Some(state) = state else {
                    diagnosis.conditions = vec![format!(
                        "application {name} is not shaped like an Application"
                    )];
                    return diagnosis;
                };
                diagnosis
                    .conditions
                    .push(format!("sync {} health {}", state.sync, state.health));
                diagnosis.conditions.extend(state.error_conditions);
                if let Some(operation) = state.operation {
                    diagnosis
                        .conditions
                        .push(format!("last operation {operation}"));
                }
                diagnosis.conditions.extend(unhealthy_resources(&value));
            } else {
                diagnosis.conditions = vec![format!(
                    "application {name} does not exist (has the root Application synced?)"
                )];
            }
            diagnosis.events = events(client, ARGOCD_NAMESPACE, name).await;
            return diagnosis;
        }
    };
    diagnosis.events = events(client, namespace, name).await;
    if let Some(labels) = selector.filter(|l| !l.is_empty()) {
        let selector = labels
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join(",");
        let pods: Api<Pod> = Api::namespaced(client.clone(), namespace);
        if let Ok(list) = pods.list(&ListParams::default().labels(&selector)).await {
            diagnosis.containers = vec![readiness::pods(&list.items).observed];
            for pod in list
                .items
                .iter()
                .filter(|p| !readiness::pod_containers(p).ready)
            {
                let pod_name = pod.name_any();
                for event in events(client, namespace, &pod_name).await {
                    diagnosis.events.push(format!("pod {pod_name}: {event}"));
                }
            }
        }
    }
    diagnosis
}

/// A workload's pod selector (`spec.selector.matchLabels`) and its `status.conditions`; both empty
/// when it cannot be read (the diagnosis is best effort).
async fn workload_selector_and_conditions<K>(
    client: &Client,
    namespace: &str,
    name: &str,
) -> (Option<BTreeMap<String, String>>, Vec<String>)
where
    K: Resource<Scope = k8s_openapi::NamespaceResourceScope, DynamicType = ()>
        + Clone
        + DeserializeOwned
        + fmt::Debug
        + serde::Serialize,
{
    let api: Api<K> = Api::namespaced(client.clone(), namespace);
    let Some(object) = api.get_opt(name).await.ok().flatten() else {
        return (None, Vec::new());
    };
    let object = to_value(&object);
    let selector = object
        .pointer("/spec/selector/matchLabels")
        .and_then(|labels| serde_json::from_value(labels.clone()).ok());
    (selector, conditions_of(&object))
}

fn to_value<T: serde::Serialize>(object: &T) -> Value {
    serde_json::to_value(object).unwrap_or_default()
}

/// `status.conditions` as `Type=Status (Reason: message)` lines.
pub fn conditions_of(object: &Value) -> Vec<String> {
    object
        .pointer("/status/conditions")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .map(|c| {
            let field = |k: &str| c.get(k).and_then(Value::as_str).unwrap_or("");
            let mut line = format!("{}={}", field("type"), field("status"));
            match (field("reason"), field("message")) {
                ("", "") => {}
                (reason, "") => line.push_str(&format!(" ({reason})")),
                ("", message) => line.push_str(&format!(" ({message})")),
                (reason, message) => line.push_str(&format!(" ({reason}: {message})")),
            }
            line
        })
        .collect()
}

/// An Application's resources that are not Synced or not Healthy, as ArgoCD lists them in
/// `status.resources[]` (argo-cd pkg/apis/application/v1alpha1/types.go ResourceStatus).
fn unhealthy_resources(app: &Value) -> Vec<String> {
    app.pointer("/status/resources")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|r| {
            let field = |p: &str| r.pointer(p).and_then(Value::as_str).unwrap_or("");
            let health = field("/health/status");
            let sync = field("/status");
            let bad = (!sync.is_empty() && sync != "Synced")
                || (!health.is_empty() && health != "Healthy");
            bad.then(|| {
                let message = field("/health/message");
                format!(
                    "{} {}/{} {sync}/{health}{}",
                    field("/kind"),
                    field("/namespace"),
                    field("/name"),
                    if message.is_empty() {
                        String::new()
                    } else {
                        format!(" ({message})")
                    }
                )
            })
        })
        .collect()
}

/// The newest events about `name` in `namespace`, oldest first, as `Type Reason: message`.
async fn events(client: &Client, namespace: &str, name: &str) -> Vec<String> {
    let api: Api<KubeEvent> = Api::namespaced(client.clone(), namespace);
    let params = ListParams::default().fields(&format!("involvedObject.name={name}"));
    let Ok(list) = api.list(&params).await else {
        return Vec::new();
    };
    let mut items = list.items;
    items.sort_by_key(|e| {
        e.last_timestamp
            .as_ref()
            .map(|t| t.0)
            .or_else(|| e.event_time.as_ref().map(|t| t.0))
            .or_else(|| e.metadata.creation_timestamp.as_ref().map(|t| t.0))
    });
    let skip = items.len().saturating_sub(EVENTS_SHOWN);
    items
        .into_iter()
        .skip(skip)
        .map(|e| {
            let count = e
                .count
                .filter(|c| *c > 1)
                .map(|c| format!(" (x{c})"))
                .unwrap_or_default();
            format!(
                "{} {}: {}{count}",
                e.type_.unwrap_or_default(),
                e.reason.unwrap_or_default(),
                e.message.unwrap_or_default().trim()
            )
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn targets_read_like_kubectl() {
        assert_eq!(
            target(&Gate::Deployment {
                namespace: "kserve",
                name: "kserve-controller-manager"
            }),
            "deploy/kserve/kserve-controller-manager"
        );
        assert_eq!(
            target(&Gate::ApplicationHealthy { name: "kyverno" }),
            "application/argocd/kyverno"
        );
    }

    #[test]
    fn conditions_render_with_reason_and_message() {
        // Shape: apps/v1 DeploymentCondition (Kubernetes API reference).
        let deploy = json!({"status": {"conditions": [
            {"type": "Available", "status": "False", "reason": "MinimumReplicasUnavailable",
             "message": "Deployment does not have minimum availability."},
            {"type": "Progressing", "status": "True"}
        ]}});
        assert_eq!(
            conditions_of(&deploy),
            vec![
                "Available=False (MinimumReplicasUnavailable: Deployment does not have minimum availability.)",
                "Progressing=True"
            ]
        );
    }

    #[test]
    fn unhealthy_application_resources_are_named() {
        // Shape: argo-cd ResourceStatus in status.resources (pkg/apis/application/v1alpha1/types.go).
        let app = json!({"status": {"resources": [
            {"kind": "Deployment", "namespace": "kserve", "name": "kserve-controller-manager",
             "status": "Synced", "health": {"status": "Progressing", "message": "Waiting for rollout"}},
            {"kind": "Service", "namespace": "kserve", "name": "kserve-webhook-server-service",
             "status": "Synced", "health": {"status": "Healthy"}}
        ]}});
        assert_eq!(
            unhealthy_resources(&app),
            vec!["Deployment kserve/kserve-controller-manager Synced/Progressing (Waiting for rollout)"]
        );
    }

    fn timeout(target: &str, diagnosis: Diagnosis) -> GateError {
        GateError {
            target: target.into(),
            waited: Duration::from_secs(300),
            last_observed: "0/1 ready".into(),
            diagnosis,
        }
    }

    #[test]
    fn a_timeout_names_its_catalogued_failure() {
        let pulling = timeout(
            "deploy/kserve/kserve-controller-manager",
            Diagnosis {
                containers: vec!["kube-rbac-proxy ImagePullBackOff".into()],
                ..Diagnosis::default()
            },
        );
        assert_eq!(pulling.code(), Some(FailureCode::ImagePullFailed));
        assert!(
            pulling
                .to_string()
                .ends_with("\n  code: NS203 (docs/failures.md#ns203)"),
            "{pulling}"
        );
        let comparison = timeout(
            "application/argocd/cert-manager",
            Diagnosis {
                conditions: vec![
                    "sync Unknown health Healthy".into(),
                    "ComparisonError: Failed to load target state".into(),
                ],
                ..Diagnosis::default()
            },
        );
        assert_eq!(
            comparison.code(),
            Some(FailureCode::ApplicationComparisonError)
        );
        let missing = timeout(
            "application/argocd/kserve",
            Diagnosis {
                conditions: vec![
                    "application kserve does not exist (has the root Application synced?)".into(),
                ],
                ..Diagnosis::default()
            },
        );
        assert_eq!(missing.code(), Some(FailureCode::ApplicationMissing));
        assert_eq!(
            timeout("svc/kourier-system/kourier", Diagnosis::default()).code(),
            Some(FailureCode::LoadBalancerNoAddress)
        );
        assert_eq!(
            timeout(
                "crd/inferenceservices.serving.kserve.io",
                Diagnosis::default()
            )
            .code(),
            Some(FailureCode::CrdNotEstablished)
        );
        let unknown = timeout("deploy/argocd/argocd-server", Diagnosis::default());
        assert_eq!(unknown.code(), None);
        assert!(!unknown.to_string().contains("code:"), "{unknown}");
    }

    #[test]
    fn a_diagnosis_lists_only_what_was_found() {
        let diagnosis = Diagnosis {
            conditions: vec!["Available=False".into()],
            containers: vec![],
            events: vec!["Warning BackOff: back-off restarting".into()],
        };
        assert_eq!(
            diagnosis.to_string(),
            "\n  conditions: Available=False\n  recent events: Warning BackOff: back-off restarting"
        );
    }
}
