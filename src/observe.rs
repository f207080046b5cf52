//! How the harness reads and writes the cluster beyond typed core kinds: dynamic get, list,
//! create and delete of the custom kinds in `platform::views` (as JSON, or as typed views),
//! waiting for an object to be gone, a workload observed with the pods its selector matches, a
//! Service's EndpointSlices, and the message of an API error (the text admission
//! classification reads). The checks, `doctor`, the diagnostics bundle and `connect` share it.

use std::time::Duration;

use k8s_openapi::api::apps::v1::{Deployment, StatefulSet};
use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::api::discovery::v1::EndpointSlice;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
use kube::api::{Api, DeleteParams, DynamicObject, ListParams, PostParams};
use kube::Client;
use serde_json::Value;

pub use crate::platform::views::Kind;
use crate::platform::views::View;

/// Every object of view `V` (in `namespace`, or everywhere), typed.
pub async fn list_views<V: View>(
    client: &Client,
    namespace: Option<&str>,
) -> Result<Vec<V>, kube::Error> {
    Ok(V::api(client, namespace)
        .list(&ListParams::default())
        .await?
        .items)
}

/// One object of view `V`, or `None` when it does not exist.
pub async fn get_view<V: View>(
    client: &Client,
    namespace: Option<&str>,
    name: &str,
) -> Result<Option<V>, kube::Error> {
    V::api(client, namespace).get_opt(name).await
}

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

/// The HTTP code of an API `Status` error, when the server answered with one.
pub fn error_code(error: &kube::Error) -> Option<u16> {
    match error {
        kube::Error::Api(status) => Some(status.code),
        _ => None,
    }
}

/// A workload as a check observed it: the Deployment or StatefulSet (absent when it does not
/// exist) and the live pods its selector matches, so "Available" and "all containers ready" are
/// judged together (a 1/2 pod is not ready).
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

fn to_json(object: DynamicObject) -> Value {
    serde_json::to_value(object).unwrap_or(Value::Null)
}
