//! How checks read and write the cluster: the custom kinds they look at (ArgoCD, KServe, Kyverno),
//! dynamic get/list/create/delete over them as JSON, waiting for an object to be gone, and the
//! message of an API error (the text admission classification reads). Typed core kinds
//! (Deployments, Pods, EndpointSlices) are read through `kube::Api` directly.

use std::time::Duration;

use k8s_openapi::api::apps::v1::{Deployment, StatefulSet};
use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::api::discovery::v1::EndpointSlice;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
use kube::api::{Api, DeleteParams, DynamicObject, ListParams, PostParams};
use kube::core::{ApiResource, GroupVersionKind};
use kube::Client;
use serde_json::Value;

use super::env::CheckRun;
use super::outcome::{Diagnosis, Outcome};

/// A custom resource kind a check reads or creates.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Kind {
    pub group: &'static str,
    pub version: &'static str,
    pub kind: &'static str,
    pub plural: &'static str,
    pub namespaced: bool,
}

impl Kind {
    pub fn api_version(&self) -> String {
        if self.group.is_empty() {
            self.version.to_string()
        } else {
            format!("{}/{}", self.group, self.version)
        }
    }

    pub fn api_resource(&self) -> ApiResource {
        ApiResource::from_gvk_with_plural(
            &GroupVersionKind::gvk(self.group, self.version, self.kind),
            self.plural,
        )
    }

    /// The API for this kind in `namespace`, or cluster-wide (all namespaces when namespaced).
    pub fn api(&self, client: &Client, namespace: Option<&str>) -> Api<DynamicObject> {
        let resource = self.api_resource();
        match (self.namespaced, namespace) {
            (true, Some(ns)) => Api::namespaced_with(client.clone(), ns, &resource),
            _ => Api::all_with(client.clone(), &resource),
        }
    }
}

// argo-cd manifests/crds/application-crd.yaml and applicationset-crd.yaml.
pub const APPLICATION: Kind = Kind {
    group: "argoproj.io",
    version: "v1alpha1",
    kind: "Application",
    plural: "applications",
    namespaced: true,
};
pub const APPLICATION_SET: Kind = Kind {
    group: "argoproj.io",
    version: "v1alpha1",
    kind: "ApplicationSet",
    plural: "applicationsets",
    namespaced: true,
};
// kserve config/crd/full/serving.kserve.io_inferenceservices.yaml.
pub const INFERENCE_SERVICE: Kind = Kind {
    group: "serving.kserve.io",
    version: "v1beta1",
    kind: "InferenceService",
    plural: "inferenceservices",
    namespaced: true,
};
pub const CLUSTER_SERVING_RUNTIME: Kind = Kind {
    group: "serving.kserve.io",
    version: "v1alpha1",
    kind: "ClusterServingRuntime",
    plural: "clusterservingruntimes",
    namespaced: false,
};
// kyverno config/crds/policies.kyverno.io/policies.kyverno.io_validatingpolicies.yaml.
pub const VALIDATING_POLICY: Kind = Kind {
    group: "policies.kyverno.io",
    version: "v1",
    kind: "ValidatingPolicy",
    plural: "validatingpolicies",
    namespaced: false,
};

/// The namespace ArgoCD and its Applications live in.
pub const ARGOCD_NAMESPACE: &str = "argocd";

/// Every object of `kind` (in `namespace`, or everywhere), as JSON.
pub async fn list(
    client: &Client,
    kind: &Kind,
    namespace: Option<&str>,
) -> Result<Vec<Value>, kube::Error> {
    let objects = kind
        .api(client, namespace)
        .list(&ListParams::default())
        .await?;
    Ok(objects.items.into_iter().map(to_json).collect())
}

/// One object, or `None` when it does not exist.
pub async fn get(
    client: &Client,
    kind: &Kind,
    namespace: Option<&str>,
    name: &str,
) -> Result<Option<Value>, kube::Error> {
    Ok(kind
        .api(client, namespace)
        .get_opt(name)
        .await?
        .map(to_json))
}

/// Creates `object` (a full manifest as JSON); with `dry_run` the API server runs admission
/// (webhooks included) and persists nothing.
pub async fn create(
    client: &Client,
    kind: &Kind,
    namespace: Option<&str>,
    object: &Value,
    dry_run: bool,
) -> Result<Value, kube::Error> {
    let object: DynamicObject =
        serde_json::from_value(object.clone()).map_err(kube::Error::SerdeError)?;
    let params = PostParams {
        dry_run,
        field_manager: Some("neuroscale".to_string()),
    };
    let created = kind.api(client, namespace).create(&params, &object).await?;
    Ok(to_json(created))
}

/// Deletes an object (foreground, so dependants go too); `Ok(false)` when it was already gone.
pub async fn delete(
    client: &Client,
    kind: &Kind,
    namespace: Option<&str>,
    name: &str,
) -> Result<bool, kube::Error> {
    match kind
        .api(client, namespace)
        .delete(name, &DeleteParams::foreground())
        .await
    {
        Ok(_) => Ok(true),
        Err(kube::Error::Api(status)) if status.code == 404 => Ok(false),
        Err(e) => Err(e),
    }
}

/// Waits until the object no longer exists; `Ok(false)` when it still exists at the deadline.
/// Polls at a short interval: deletion has no condition to watch for and finalizers may hold it.
pub async fn wait_gone(
    client: &Client,
    kind: &Kind,
    namespace: Option<&str>,
    name: &str,
    deadline: Duration,
) -> Result<bool, kube::Error> {
    let give_up = tokio::time::Instant::now() + deadline;
    loop {
        if get(client, kind, namespace, name).await?.is_none() {
            return Ok(true);
        }
        if tokio::time::Instant::now() >= give_up {
            return Ok(false);
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// The object called `name` among `objects` (a live list matched against what was declared).
pub fn find_named<'a, K: kube::Resource>(objects: &'a [K], name: &str) -> Option<&'a K> {
    objects
        .iter()
        .find(|object| object.meta().name.as_deref() == Some(name))
}

/// The message an API error carries: for a `Status` answer (admission denials, webhook call
/// failures, validation) its `message`, which is what `super::admission::classify` reads.
pub fn error_message(error: &kube::Error) -> String {
    match error {
        kube::Error::Api(status) => status.message.clone(),
        other => other.to_string(),
    }
}

/// A FAIL for an API read that did not answer (the cluster, not the platform, is the problem).
pub(crate) fn api_failure(what: &str, error: &kube::Error) -> Outcome {
    Outcome::fail(
        format!("could not read {what}"),
        Diagnosis::new(
            format!("reading {what} failed: {}", error_message(error)),
            "the API server is unreachable or this identity may not read it (RBAC)",
            "kubectl auth can-i --list && neuroscale doctor",
        ),
    )
}

/// The HTTP code of an API `Status` error, when the server answered with one.
pub fn error_code(error: &kube::Error) -> Option<u16> {
    match error {
        kube::Error::Api(status) => Some(status.code),
        _ => None,
    }
}

/// A workload as a check observed it: the Deployment or StatefulSet (absent when it does not
/// exist) and the live pods its selector matches, so "Available" and "all containers ready" are
/// judged together (a 1/2 pod is not ready, seeds/11 failure 1).
#[derive(Debug, Clone, Default)]
pub struct ObservedWorkload {
    pub namespace: String,
    pub name: String,
    pub deployment: Option<Deployment>,
    pub stateful_set: Option<StatefulSet>,
    /// Pods matched by the workload's selector, terminating ones left out.
    pub pods: Vec<Pod>,
}

impl ObservedWorkload {
    /// `deployment/kserve-controller-manager` or `statefulset/argocd-application-controller`.
    pub fn label(&self) -> String {
        let kind = if self.stateful_set.is_some() {
            "statefulset"
        } else {
            "deployment"
        };
        format!("{kind} {}/{}", self.namespace, self.name)
    }

    /// Ready when the workload exists, its controller reports every replica ready, and every
    /// matched pod has all of its containers ready.
    pub fn readiness(&self) -> crate::readiness::Readiness {
        use crate::readiness::{self, Readiness};
        let workload = match (&self.deployment, &self.stateful_set) {
            (Some(d), _) => readiness::deployment(d),
            (None, Some(s)) => readiness::stateful_set(s),
            (None, None) => {
                return Readiness::not_ready(format!("{} does not exist", self.label()))
            }
        };
        let pods = readiness::pods(&self.pods);
        let ready = workload.ready && pods.ready;
        Readiness {
            ready,
            observed: format!("{}: {}; {}", self.label(), workload.observed, pods.observed),
        }
    }
}

/// A label selector's `matchLabels` as a list-query string. `matchExpressions` are not rendered:
/// the workloads checks read select by labels only.
pub fn match_labels_selector(selector: Option<&LabelSelector>) -> Option<String> {
    let labels = selector?.match_labels.as_ref()?;
    if labels.is_empty() {
        return None;
    }
    Some(
        labels
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join(","),
    )
}

async fn live_pods(
    client: &Client,
    namespace: &str,
    selector: Option<&LabelSelector>,
) -> Result<Vec<Pod>, kube::Error> {
    let Some(selector) = match_labels_selector(selector) else {
        return Ok(Vec::new());
    };
    let pods = Api::<Pod>::namespaced(client.clone(), namespace)
        .list(&ListParams::default().labels(&selector))
        .await?;
    Ok(pods
        .items
        .into_iter()
        .filter(|p| p.metadata.deletion_timestamp.is_none())
        .collect())
}

/// Reads a Deployment and its pods; a missing Deployment is an observation, not an error.
pub async fn observe_deployment(
    client: &Client,
    namespace: &str,
    name: &str,
) -> Result<ObservedWorkload, kube::Error> {
    let deployment = Api::<Deployment>::namespaced(client.clone(), namespace)
        .get_opt(name)
        .await?;
    let pods = match &deployment {
        Some(d) => live_pods(client, namespace, d.spec.as_ref().map(|s| &s.selector)).await?,
        None => Vec::new(),
    };
    Ok(ObservedWorkload {
        namespace: namespace.to_string(),
        name: name.to_string(),
        deployment,
        stateful_set: None,
        pods,
    })
}

/// Every Deployment and StatefulSet in `namespace`, each with its pods.
pub async fn observe_workloads(
    client: &Client,
    namespace: &str,
) -> Result<Vec<ObservedWorkload>, kube::Error> {
    let mut observed = Vec::new();
    let deployments = Api::<Deployment>::namespaced(client.clone(), namespace)
        .list(&ListParams::default())
        .await?;
    for d in deployments.items {
        let pods = live_pods(client, namespace, d.spec.as_ref().map(|s| &s.selector)).await?;
        observed.push(ObservedWorkload {
            namespace: namespace.to_string(),
            name: d.metadata.name.clone().unwrap_or_default(),
            deployment: Some(d),
            stateful_set: None,
            pods,
        });
    }
    let sets = Api::<StatefulSet>::namespaced(client.clone(), namespace)
        .list(&ListParams::default())
        .await?;
    for s in sets.items {
        let pods = live_pods(client, namespace, s.spec.as_ref().map(|s| &s.selector)).await?;
        observed.push(ObservedWorkload {
            namespace: namespace.to_string(),
            name: s.metadata.name.clone().unwrap_or_default(),
            deployment: None,
            stateful_set: Some(s),
            pods,
        });
    }
    Ok(observed)
}

/// The EndpointSlices of a Service (label `kubernetes.io/service-name`).
pub async fn endpoint_slices(
    client: &Client,
    namespace: &str,
    service: &str,
) -> Result<Vec<EndpointSlice>, kube::Error> {
    Ok(Api::<EndpointSlice>::namespaced(client.clone(), namespace)
        .list(&ListParams::default().labels(&format!("kubernetes.io/service-name={service}")))
        .await?
        .items)
}

/// Re-evaluates `attempt` (a fresh gather plus evaluation) until it passes or the check's
/// deadline is near (`time_to_conclude`), then returns the last outcome. An error from the API is recorded with
/// `run.saw` and retried: a transient API hiccup must not decide a check.
pub async fn poll_until_pass<'a, F, Fut>(run: &'a CheckRun<'a>, mut attempt: F) -> Outcome
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Outcome>,
{
    loop {
        let outcome = attempt().await;
        let left = time_to_conclude(run);
        if outcome.is_pass() || left.is_zero() {
            return outcome;
        }
        tokio::time::sleep(POLL_INTERVAL.min(left)).await;
    }
}

/// Time a waiting check has left before it must conclude with its own verdict: the deadline less
/// a margin (a tenth of the deadline, at most 5 s), so the check's diagnosis of the last state
/// lands before the runner's hard timeout replaces it with a generic one.
pub fn time_to_conclude(run: &CheckRun<'_>) -> Duration {
    let margin = (run.deadline / 10).min(Duration::from_secs(5));
    run.remaining().saturating_sub(margin)
}

/// How often a check re-observes while it waits (DESIGN: at most 1 s inside checks).
pub const POLL_INTERVAL: Duration = Duration::from_millis(1000);

fn to_json(object: DynamicObject) -> Value {
    serde_json::to_value(object).unwrap_or(Value::Null)
}
