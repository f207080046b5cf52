//! The diagnostics bundle written when a check fails: the report, nodes, Applications' status,
//! InferenceServices' conditions, webhook configurations with their Services' endpoints, and per
//! platform namespace the workloads' readiness, pod and container states, recent events and log
//! tails of containers that are not ready. Secrets are never read, and everything written passes
//! through `redact`, so no Secret value, env value or last-applied annotation reaches the disk.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use k8s_openapi::api::admissionregistration::v1::ServiceReference;
use k8s_openapi::api::admissionregistration::v1::{
    MutatingWebhookConfiguration, ValidatingWebhookConfiguration,
};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{Event, Node, Pod, Service};
use k8s_openapi::api::discovery::v1::EndpointSlice;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use k8s_openapi::ClusterResourceScope;
use kube::api::{Api, ListParams, LogParams};
use kube::{Client, Resource};
use serde::de::DeserializeOwned;
use serde_json::{json, Value};

use crate::observe;
use crate::platform::views;
use crate::readiness;

/// Lines of log kept per container.
pub const LOG_TAIL_LINES: i64 = 100;
/// Events kept per namespace (the newest).
pub const EVENTS_PER_NAMESPACE: usize = 100;

/// Annotations that can carry whole manifests (Secrets included) and are never written.
const DROPPED_ANNOTATIONS: &[&str] = &["kubectl.kubernetes.io/last-applied-configuration"];

/// Strips what must never leave the cluster: a Secret keeps only its name; `data`/`stringData`
/// go wherever they appear under a Secret; every `env[].value` is replaced; last-applied
/// annotations and managed fields are dropped; webhook `caBundle`s are dropped (noise).
pub fn redact(value: Value) -> Value {
    match value {
        Value::Object(map) => {
            if map.get("kind").and_then(Value::as_str) == Some("Secret") {
                let metadata = map.get("metadata");
                return json!({
                    "kind": "Secret",
                    "metadata": {
                        "name": metadata.and_then(|m| m.get("name")).cloned().unwrap_or(Value::Null),
                        "namespace": metadata.and_then(|m| m.get("namespace")).cloned().unwrap_or(Value::Null),
                    },
                    "redacted": "Secret contents are never written to a bundle",
                });
            }
            let mut out = serde_json::Map::new();
            for (key, value) in map {
                match key.as_str() {
                    "managedFields" | "caBundle" => continue,
                    "annotations" => {
                        let mut annotations = match value {
                            Value::Object(a) => a,
                            other => {
                                out.insert(key, redact(other));
                                continue;
                            }
                        };
                        for dropped in DROPPED_ANNOTATIONS {
                            annotations.remove(*dropped);
                        }
                        out.insert(key, Value::Object(annotations));
                    }
                    "env" => {
                        out.insert(key, redact_env(value));
                    }
                    _ => {
                        out.insert(key, redact(value));
                    }
                }
            }
            Value::Object(out)
        }
        Value::Array(items) => Value::Array(items.into_iter().map(redact).collect()),
        other => other,
    }
}

fn redact_env(value: Value) -> Value {
    match value {
        Value::Array(vars) => Value::Array(
            vars.into_iter()
                .map(|var| match var {
                    Value::Object(mut map) => {
                        if map.contains_key("value") {
                            map.insert("value".into(), Value::String("<redacted>".into()));
                        }
                        redact(Value::Object(map))
                    }
                    other => redact(other),
                })
                .collect(),
        ),
        other => redact(other),
    }
}

/// Words after which a log line usually carries a credential (`password=...`, `token: ...`,
/// `Authorization: Bearer ...`).
const CREDENTIAL_WORDS: &[&str] = &[
    "password",
    "passwd",
    "secret",
    "token",
    "apikey",
    "api_key",
    "api-key",
    "authorization",
    "bearer",
];

/// Masks the value after a credential word in each log line. Logs are free text, so this is a
/// safety net: what a controller prints after `token=` or `Authorization: Bearer` never reaches
/// the bundle, at the price of masking a harmless word now and then.
pub fn redact_log(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for line in text.split_inclusive('\n') {
        out.push_str(&redact_log_line(line));
    }
    out
}

fn redact_log_line(line: &str) -> String {
    let lower = line.to_ascii_lowercase();
    let Some(end_of_word) = CREDENTIAL_WORDS
        .iter()
        .filter_map(|word| lower.find(word).map(|at| at + word.len()))
        .min()
    else {
        return line.to_string();
    };
    // Skip the separator (`=`, `:`, quotes, spaces, `Bearer`), then mask up to the end of the
    // value (whitespace, quote, comma or closing brace).
    let rest = &line[end_of_word..];
    let value_start = rest
        .find(|c: char| !matches!(c, '=' | ':' | '"' | '\'' | ' ' | '\t'))
        .unwrap_or(rest.len());
    let mut value = &rest[value_start..];
    let mut prefix_len = end_of_word + value_start;
    if value.to_ascii_lowercase().starts_with("bearer ") {
        prefix_len += "bearer ".len();
        value = &value["bearer ".len()..];
    }
    let value_len = value
        .find(|c: char| c.is_whitespace() || matches!(c, '"' | '\'' | ',' | '}'))
        .unwrap_or(value.len());
    if value_len == 0 {
        return line.to_string();
    }
    format!(
        "{}<redacted>{}",
        &line[..prefix_len],
        &line[prefix_len + value_len..]
    )
}

/// Files of a bundle before they are written (relative path -> contents).
#[derive(Debug, Default, Clone)]
pub struct Bundle {
    files: BTreeMap<String, String>,
    errors: Vec<String>,
}

impl Bundle {
    /// Adds a JSON file; the value is redacted first.
    pub fn add_json(&mut self, path: &str, value: Value) {
        let text = serde_json::to_string_pretty(&redact(value)).unwrap_or_default();
        self.files.insert(path.to_string(), text + "\n");
    }

    /// Adds a text file (log tails); credential-looking values are masked first.
    pub fn add_text(&mut self, path: &str, text: String) {
        self.files.insert(path.to_string(), redact_log(&text));
    }

    /// Records what could not be collected; written as `errors.txt`.
    pub fn add_error(&mut self, what: String) {
        self.errors.push(what);
    }

    pub fn files(&self) -> impl Iterator<Item = (&str, &str)> {
        self.files.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }

    /// Writes every file under `dir` (created if missing).
    pub fn write(&self, dir: &Path) -> std::io::Result<()> {
        std::fs::create_dir_all(dir)?;
        for (path, text) in &self.files {
            let target = dir.join(path);
            if let Some(parent) = target.parent() {
                std::fs::create_dir_all(parent)?;
            }
            std::fs::write(target, text)?;
        }
        if !self.errors.is_empty() {
            std::fs::write(dir.join("errors.txt"), self.errors.join("\n") + "\n")?;
        }
        Ok(())
    }
}

/// The default bundle location: `<cache>/bundles/check-<unix seconds>`.
pub fn default_dir() -> PathBuf {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    crate::cache::cache_dir()
        .join("bundles")
        .join(format!("check-{secs}"))
}

/// The namespaces a bundle looks into: every namespace of the platform topology.
pub fn platform_namespaces() -> Vec<String> {
    crate::platform::namespaces()
        .into_iter()
        .map(str::to_string)
        .collect()
}

/// Reads the cluster into a bundle. Each part that cannot be read is recorded in `errors.txt`
/// rather than aborting: a bundle is most needed when the cluster is least healthy.
pub async fn collect(client: &Client, namespaces: &[String], report: Value) -> Bundle {
    let mut bundle = Bundle::default();
    bundle.add_json("report.json", report);

    match Api::<Node>::all(client.clone())
        .list(&ListParams::default())
        .await
    {
        Ok(nodes) => bundle.add_json(
            "nodes.json",
            Value::Array(
                nodes
                    .items
                    .iter()
                    .map(|n| {
                        json!({
                            "name": n.metadata.name,
                            "labels": n.metadata.labels,
                            "taints": n.spec.as_ref().and_then(|s| s.taints.clone()),
                            "conditions": n.status.as_ref().and_then(|s| s.conditions.clone()),
                            "allocatable": n.status.as_ref().and_then(|s| s.allocatable.clone()),
                        })
                    })
                    .collect(),
            ),
        ),
        Err(e) => bundle.add_error(format!("nodes: {}", observe::error_message(&e))),
    }

    match observe::list(
        client,
        &views::APPLICATION,
        Some(crate::platform::argocd::NAMESPACE),
    )
    .await
    {
        Ok(apps) => bundle.add_json(
            "applications.json",
            Value::Array(
                apps.iter()
                    .map(|app| {
                        json!({
                            "name": app.pointer("/metadata/name"),
                            "sync": app.pointer("/status/sync"),
                            "health": app.pointer("/status/health"),
                            "conditions": app.pointer("/status/conditions"),
                            "operationState": app.pointer("/status/operationState"),
                        })
                    })
                    .collect(),
            ),
        ),
        Err(e) => bundle.add_error(format!("applications: {}", observe::error_message(&e))),
    }

    match observe::list(client, &views::INFERENCE_SERVICE, None).await {
        Ok(services) => bundle.add_json(
            "inferenceservices.json",
            Value::Array(
                services
                    .iter()
                    .map(|isvc| {
                        json!({
                            "namespace": isvc.pointer("/metadata/namespace"),
                            "name": isvc.pointer("/metadata/name"),
                            "url": isvc.pointer("/status/url"),
                            "conditions": isvc.pointer("/status/conditions"),
                        })
                    })
                    .collect(),
            ),
        ),
        Err(e) => bundle.add_error(format!("inferenceservices: {}", observe::error_message(&e))),
    }

    collect_webhooks(client, &mut bundle).await;
    collect_crds(client, &mut bundle).await;
    for namespace in namespaces {
        collect_namespace(client, namespace, &mut bundle).await;
    }
    bundle
}

/// Ready endpoints of a Service, as the readiness rules count them.
pub async fn service_endpoints(
    client: &Client,
    namespace: &str,
    name: &str,
) -> Result<readiness::Readiness, kube::Error> {
    let slices = endpoint_slices(client, namespace, name).await?;
    Ok(readiness::service_endpoints(
        &format!("{namespace}/{name}"),
        &slices,
    ))
}

async fn endpoint_slices(
    client: &Client,
    namespace: &str,
    name: &str,
) -> Result<Vec<EndpointSlice>, kube::Error> {
    let slices: Api<EndpointSlice> = Api::namespaced(client.clone(), namespace);
    Ok(slices
        .list(&ListParams::default().labels(&format!("kubernetes.io/service-name={name}")))
        .await?
        .items)
}

/// The KServe CRDs `doctor` checks, each with whether it exists and is Established.
async fn collect_crds(client: &Client, bundle: &mut Bundle) {
    let api = Api::<CustomResourceDefinition>::all(client.clone());
    let mut entries = Vec::new();
    for name in crate::platform::kserve::CRDS {
        match api.get_opt(name).await {
            Ok(crd) => {
                let established = crd.as_ref().map(readiness::crd_established);
                entries.push(json!({
                    "name": name,
                    "exists": crd.is_some(),
                    "ready": established.as_ref().map(|r| r.ready),
                    "observed": established.map(|r| r.observed),
                }));
            }
            Err(e) => {
                bundle.add_error(format!("crd {name}: {}", observe::error_message(&e)));
                return;
            }
        }
    }
    bundle.add_json("crds.json", Value::Array(entries));
}

async fn webhook_entry(
    client: &Client,
    name: &str,
    service: Option<&ServiceReference>,
    failure_policy: Option<&String>,
) -> Value {
    let Some(service) = service else {
        return json!({"name": name, "target": "url", "failurePolicy": failure_policy});
    };
    let endpoints = match endpoint_slices(client, &service.namespace, &service.name).await {
        Ok(slices) => {
            let r = readiness::service_endpoints(
                &format!("{}/{}", service.namespace, service.name),
                &slices,
            );
            json!({"ready": r.ready, "observed": r.observed, "readyEndpoints": readiness::ready_endpoint_count(&slices)})
        }
        Err(e) => json!({"error": e.to_string()}),
    };
    // `doctor --bundle` tells a webhook whose Service is gone (a leftover) from one whose
    // Service has no endpoints, as it does on a live cluster.
    let service_exists = Api::<Service>::namespaced(client.clone(), &service.namespace)
        .get_opt(&service.name)
        .await
        .map(|s| s.is_some())
        .ok();
    json!({
        "name": name,
        "service": format!("{}/{}", service.namespace, service.name),
        "serviceExists": service_exists,
        "failurePolicy": failure_policy,
        "endpoints": endpoints,
    })
}

/// The `WebhookRef`s of a Validating- or MutatingWebhookConfiguration: their webhooks have the
/// same fields but are distinct types with no common trait.
macro_rules! webhook_refs {
    ($config:expr) => {
        $config
            .webhooks
            .iter()
            .flatten()
            .map(|h| {
                (
                    h.name.as_str(),
                    h.client_config.service.as_ref(),
                    h.failure_policy.as_ref(),
                )
            })
            .collect()
    };
}

async fn collect_webhooks(client: &Client, bundle: &mut Bundle) {
    let mut configurations = Vec::new();
    let validating_listed = collect_webhook_configurations::<ValidatingWebhookConfiguration>(
        client,
        bundle,
        &mut configurations,
        |config| webhook_refs!(config),
    )
    .await;
    let mutating_listed = collect_webhook_configurations::<MutatingWebhookConfiguration>(
        client,
        bundle,
        &mut configurations,
        |config| webhook_refs!(config),
    )
    .await;
    // A partial list would read as "these are all the webhooks": errors.txt says what is missing.
    if validating_listed && mutating_listed {
        bundle.add_json("webhooks.json", Value::Array(configurations));
    }
}

/// One webhook of a configuration: its name, the Service it calls, its failurePolicy.
type WebhookRef<'a> = (&'a str, Option<&'a ServiceReference>, Option<&'a String>);

/// Appends every configuration of kind `K` with its webhooks to `configurations`; false (and the
/// reason in errors.txt) when they could not be listed.
async fn collect_webhook_configurations<K>(
    client: &Client,
    bundle: &mut Bundle,
    configurations: &mut Vec<Value>,
    webhooks_of: fn(&K) -> Vec<WebhookRef<'_>>,
) -> bool
where
    K: Resource<DynamicType = (), Scope = ClusterResourceScope>
        + Clone
        + DeserializeOwned
        + std::fmt::Debug,
{
    match Api::<K>::all(client.clone())
        .list(&ListParams::default())
        .await
    {
        Ok(list) => {
            for config in list.items {
                let mut hooks = Vec::new();
                for (name, service, failure_policy) in webhooks_of(&config) {
                    hooks.push(webhook_entry(client, name, service, failure_policy).await);
                }
                configurations.push(json!({
                    "kind": K::kind(&()),
                    "name": config.meta().name,
                    "webhooks": hooks,
                }));
            }
            true
        }
        Err(e) => {
            bundle.add_error(format!(
                "{}: {}",
                K::plural(&()),
                observe::error_message(&e)
            ));
            false
        }
    }
}

async fn collect_namespace(client: &Client, namespace: &str, bundle: &mut Bundle) {
    let base = format!("namespaces/{namespace}");
    match Api::<Deployment>::namespaced(client.clone(), namespace)
        .list(&ListParams::default())
        .await
    {
        Ok(list) => bundle.add_json(
            &format!("{base}/deployments.json"),
            Value::Array(
                list.items
                    .iter()
                    .map(|d| {
                        let ready = readiness::deployment(d);
                        json!({
                            "name": d.metadata.name,
                            "selector": d.spec.as_ref().and_then(|s| s.selector.match_labels.clone()),
                            "ready": ready.ready,
                            "observed": ready.observed,
                            "conditions": d.status.as_ref().and_then(|s| s.conditions.clone()),
                        })
                    })
                    .collect(),
            ),
        ),
        Err(e) => bundle.add_error(format!(
            "{namespace} deployments: {}",
            observe::error_message(&e)
        )),
    }

    let pods_api = Api::<Pod>::namespaced(client.clone(), namespace);
    match pods_api.list(&ListParams::default()).await {
        Ok(list) => {
            let mut entries = Vec::new();
            for pod in &list.items {
                let ready = readiness::pod_containers(pod);
                let status = pod.status.as_ref();
                entries.push(json!({
                    "name": pod.metadata.name,
                    "labels": pod.metadata.labels,
                    "containers": pod.spec.as_ref().map(|s| s.containers.len()),
                    "phase": status.and_then(|s| s.phase.clone()),
                    "node": pod.spec.as_ref().and_then(|s| s.node_name.clone()),
                    "ready": ready.ready,
                    "observed": ready.observed,
                    "conditions": status.and_then(|s| s.conditions.clone()),
                    "containerStatuses": status.and_then(|s| s.container_statuses.clone()),
                }));
                if ready.ready {
                    continue;
                }
                let pod_name = pod.metadata.name.clone().unwrap_or_default();
                for container in status
                    .and_then(|s| s.container_statuses.clone())
                    .unwrap_or_default()
                    .iter()
                    .filter(|c| !c.ready)
                {
                    let params = LogParams {
                        container: Some(container.name.clone()),
                        tail_lines: Some(LOG_TAIL_LINES),
                        ..LogParams::default()
                    };
                    let path = format!("{base}/logs/{pod_name}.{}.log", container.name);
                    match pods_api.logs(&pod_name, &params).await {
                        Ok(text) => bundle.add_text(&path, text),
                        Err(e) => bundle.add_error(format!(
                            "logs of {namespace}/{pod_name} {}: {}",
                            container.name,
                            observe::error_message(&e)
                        )),
                    }
                }
            }
            bundle.add_json(&format!("{base}/pods.json"), Value::Array(entries));
        }
        Err(e) => bundle.add_error(format!("{namespace} pods: {}", observe::error_message(&e))),
    }

    match Api::<Event>::namespaced(client.clone(), namespace)
        .list(&ListParams::default())
        .await
    {
        Ok(list) => {
            let mut events = list.items;
            events.sort_by_key(|e| {
                e.last_timestamp
                    .as_ref()
                    .map(|t| t.0)
                    .or_else(|| e.event_time.as_ref().map(|t| t.0))
            });
            let newest: Vec<Value> = events
                .iter()
                .rev()
                .take(EVENTS_PER_NAMESPACE)
                .map(|e| {
                    json!({
                        "type": e.type_,
                        "reason": e.reason,
                        "object": format!(
                            "{}/{}",
                            e.involved_object.kind.clone().unwrap_or_default(),
                            e.involved_object.name.clone().unwrap_or_default()
                        ),
                        "message": e.message,
                        "count": e.count,
                        "lastTimestamp": e.last_timestamp,
                    })
                })
                .collect();
            bundle.add_json(&format!("{base}/events.json"), Value::Array(newest));
        }
        Err(e) => bundle.add_error(format!(
            "{namespace} events: {}",
            observe::error_message(&e)
        )),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn log_tails_never_carry_a_credential_value() {
        let log = "level=info msg=\"starting\"\n\
                   level=debug password=hunter2 user=admin\n\
                   GET / Authorization: Bearer eyJhbGciOi.payload.sig\n\
                   {\"token\": \"s3cr3t-value\", \"ok\": true}\n";
        let redacted = super::redact_log(log);
        for secret in ["hunter2", "eyJhbGciOi.payload.sig", "s3cr3t-value"] {
            assert!(!redacted.contains(secret), "{secret} leaked: {redacted}");
        }
        assert!(
            redacted.contains("level=info msg=\"starting\"\n"),
            "{redacted}"
        );
        assert!(redacted.contains("user=admin"), "{redacted}");
        assert_eq!(redacted.lines().count(), 4, "{redacted}");
    }

    use super::*;

    const SECRET_VALUE: &str = "s3cr3t-hunter2";
    /// `printf s3cr3t-hunter2 | base64`: how the API server returns it in `data`.
    const SECRET_VALUE_BASE64: &str = "czNjcjN0LWh1bnRlcjI=";

    fn all_text(bundle: &Bundle) -> String {
        bundle
            .files()
            .map(|(_, text)| text)
            .collect::<Vec<_>>()
            .join("\n")
    }

    #[test]
    fn a_secret_value_cannot_reach_the_bundle() {
        let encoded = SECRET_VALUE_BASE64.to_string();
        // Shapes as the API server returns them (core/v1 Secret, Pod env, kubectl's annotation).
        let secret = json!({
            "apiVersion": "v1", "kind": "Secret",
            "metadata": {"name": "db", "namespace": "models"},
            "data": {"password": encoded}, "stringData": {"password": SECRET_VALUE}
        });
        let pod = json!({
            "apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": "p", "annotations": {
                "kubectl.kubernetes.io/last-applied-configuration": format!("{{\"password\":\"{SECRET_VALUE}\"}}"),
                "team": "ml"
            }},
            "spec": {"containers": [{"name": "c", "env": [
                {"name": "PASSWORD", "value": SECRET_VALUE},
                {"name": "FROM_SECRET", "valueFrom": {"secretKeyRef": {"name": "db", "key": "password"}}}
            ]}]}
        });
        let mut bundle = Bundle::default();
        bundle.add_json("secret.json", secret);
        bundle.add_json("pod.json", pod);
        bundle.add_json(
            "list.json",
            json!({"items": [{"kind": "Secret", "data": {"k": encoded}}]}),
        );
        let text = all_text(&bundle);
        assert!(!text.contains(SECRET_VALUE), "{text}");
        assert!(!text.contains(&encoded), "{text}");
        // What is kept is still useful.
        assert!(text.contains("\"name\": \"db\""));
        assert!(text.contains("secretKeyRef"));
        assert!(text.contains("\"team\": \"ml\""));
    }

    #[test]
    fn the_bundle_is_written_with_its_errors() {
        let dir = tempfile::tempdir().unwrap();
        let mut bundle = Bundle::default();
        bundle.add_json("namespaces/kserve/pods.json", json!([{"name": "p"}]));
        bundle.add_error("events: forbidden".into());
        bundle.write(dir.path()).unwrap();
        let pods = std::fs::read_to_string(dir.path().join("namespaces/kserve/pods.json")).unwrap();
        assert!(pods.contains("\"p\""));
        let errors = std::fs::read_to_string(dir.path().join("errors.txt")).unwrap();
        assert_eq!(errors, "events: forbidden\n");
    }

    #[test]
    fn platform_namespaces_include_the_model_namespace_once() {
        let namespaces = platform_namespaces();
        assert!(namespaces.contains(&"kserve".to_string()));
        assert!(namespaces.contains(&"argocd".to_string()));
        assert_eq!(namespaces.iter().filter(|n| *n == "models").count(), 1);
    }
}
