//! Server-side apply of upstream manifests with one field manager ([`FIELD_MANAGER`]), in the
//! order the API server needs: CustomResourceDefinitions first, waited to `Established`; then
//! Namespaces; then everything else. Server-side apply never writes the
//! `kubectl.kubernetes.io/last-applied-configuration` annotation, so CRDs bigger than the 256 KiB
//! annotation limit (ArgoCD's ApplicationSet, Knative's, KServe's) apply
//! like any other object. Applying is declarative: an interrupted run is converged by the next.

use std::collections::HashMap;
use std::path::Path;

use kube::api::{ApiResource, DynamicObject, GroupVersionKind, Patch, PatchParams, TypeMeta};
use kube::discovery::{self, ApiCapabilities, Scope};
use kube::{Api, Client};
use serde_json::Value;
use tokio::sync::Mutex;
use tokio::time::Instant;

use super::gates::{self, GateError};
use super::FIELD_MANAGER;

/// The annotation client-side apply writes and server-side apply does not.
pub const LAST_APPLIED_ANNOTATION: &str = "kubectl.kubernetes.io/last-applied-configuration";

pub type Result<T, E = ApplyError> = std::result::Result<T, E>;

#[derive(Debug, thiserror::Error)]
pub enum ApplyError {
    #[error("{source_name}: document {index} is not a Kubernetes object: {message}")]
    Invalid {
        source_name: String,
        index: usize,
        message: String,
    },
    #[error("failed to read manifest {source_name}")]
    Yaml {
        source_name: String,
        #[source]
        source: crate::yaml::YamlError,
    },
    #[error("the cluster does not serve {api_version} {kind} (is its CRD installed?)")]
    Discovery {
        api_version: String,
        kind: String,
        #[source]
        source: kube::Error,
    },
    #[error("{object} is namespaced but names no namespace, and no default namespace was given")]
    NoNamespace { object: String },
    #[error("server-side apply of {object} was rejected")]
    Rejected {
        object: String,
        #[source]
        source: kube::Error,
    },
    #[error("a CustomResourceDefinition did not become Established")]
    CrdNotEstablished(#[source] Box<GateError>),
}

/// When an object is applied.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Stage {
    /// CustomResourceDefinitions, waited to Established before anything else.
    Crds,
    Namespaces,
    /// Everything else, in manifest order.
    Rest,
}

pub fn stage(object: &Value) -> Stage {
    let api_version = object.get("apiVersion").and_then(Value::as_str);
    match (api_version, object.get("kind").and_then(Value::as_str)) {
        (Some(v), Some("CustomResourceDefinition")) if v.starts_with("apiextensions.k8s.io/") => {
            Stage::Crds
        }
        (Some("v1"), Some("Namespace")) => Stage::Namespaces,
        _ => Stage::Rest,
    }
}

/// Sorts objects into apply order, stable within each stage.
pub fn order(mut objects: Vec<Value>) -> Vec<Value> {
    objects.sort_by_key(stage);
    objects
}

/// Parses a multi-document manifest into objects, naming the document that is not one.
pub fn parse_manifest(source_name: &str, text: &str) -> Result<Vec<Value>> {
    let docs = crate::yaml::parse_documents(Path::new(source_name), text).map_err(|source| {
        ApplyError::Yaml {
            source_name: source_name.to_string(),
            source,
        }
    })?;
    let mut objects = Vec::new();
    for (index, doc) in docs.into_iter().enumerate() {
        // A `kind: List` (kubectl's wrapper) is its items.
        if doc.get("kind").and_then(Value::as_str) == Some("List") {
            if let Some(items) = doc.get("items").and_then(Value::as_array) {
                objects.extend(items.iter().cloned());
                continue;
            }
        }
        let has = |p: &str| {
            doc.pointer(p)
                .and_then(Value::as_str)
                .is_some_and(|s| !s.is_empty())
        };
        if !(has("/apiVersion") && has("/kind") && has("/metadata/name")) {
            return Err(ApplyError::Invalid {
                source_name: source_name.to_string(),
                index,
                message: "apiVersion, kind and metadata.name are required".into(),
            });
        }
        objects.push(doc);
    }
    Ok(objects)
}

/// What one apply did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ApplySummary {
    pub crds: usize,
    pub namespaces: usize,
    pub others: usize,
}

impl ApplySummary {
    pub fn total(&self) -> usize {
        self.crds + self.namespaces + self.others
    }
}

/// Applies objects server-side, resolving each kind through API discovery (cached per kind).
pub struct Applier {
    client: Client,
    resources: Mutex<HashMap<GroupVersionKind, (ApiResource, ApiCapabilities)>>,
}

impl Applier {
    pub fn new(client: Client) -> Self {
        Applier {
            client,
            resources: Mutex::new(HashMap::new()),
        }
    }

    /// Applies `objects` in stage order. Namespaced objects without a namespace get
    /// `default_namespace` (as `kubectl apply -n`). CRDs must be Established by `deadline`.
    pub async fn apply_all(
        &self,
        objects: Vec<Value>,
        default_namespace: Option<&str>,
        deadline: Instant,
    ) -> Result<ApplySummary> {
        let mut summary = ApplySummary::default();
        let mut crds = Vec::new();
        let mut waited = false;
        for object in order(objects) {
            let stage = stage(&object);
            if stage != Stage::Crds && !waited {
                self.await_established(&crds, deadline).await?;
                waited = true;
            }
            let name = object
                .pointer("/metadata/name")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string();
            self.apply(object, default_namespace).await?;
            match stage {
                Stage::Crds => {
                    crds.push(name);
                    summary.crds += 1;
                }
                Stage::Namespaces => summary.namespaces += 1,
                Stage::Rest => summary.others += 1,
            }
        }
        if !waited {
            self.await_established(&crds, deadline).await?;
        }
        Ok(summary)
    }

    async fn await_established(&self, crds: &[String], deadline: Instant) -> Result<()> {
        for name in crds {
            gates::crd_established(&self.client, name, deadline, &|_| {})
                .await
                .map_err(|e| ApplyError::CrdNotEstablished(Box::new(e)))?;
        }
        Ok(())
    }

    /// Applies one object with `force` (as `kubectl apply --server-side --force-conflicts`, which
    /// ArgoCD's install documents) and returns what the server stored.
    pub async fn apply(
        &self,
        mut object: Value,
        default_namespace: Option<&str>,
    ) -> Result<DynamicObject> {
        let types: TypeMeta =
            serde_json::from_value(object.clone()).map_err(|e| ApplyError::Invalid {
                source_name: "object".into(),
                index: 0,
                message: e.to_string(),
            })?;
        let name = object
            .pointer("/metadata/name")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string();
        let (resource, capabilities) = self.resolve(&types).await?;
        let api: Api<DynamicObject> = match capabilities.scope {
            Scope::Cluster => Api::all_with(self.client.clone(), &resource),
            Scope::Namespaced => {
                let namespace = object
                    .pointer("/metadata/namespace")
                    .and_then(Value::as_str)
                    .map(str::to_string)
                    .or_else(|| default_namespace.map(str::to_string))
                    .ok_or_else(|| ApplyError::NoNamespace {
                        object: format!("{} {name}", types.kind),
                    })?;
                object["metadata"]["namespace"] = Value::String(namespace.clone());
                Api::namespaced_with(self.client.clone(), &namespace, &resource)
            }
        };
        let label = describe(&object);
        let params = PatchParams::apply(FIELD_MANAGER).force();
        api.patch(&name, &params, &Patch::Apply(&object))
            .await
            .map_err(|source| ApplyError::Rejected {
                object: label,
                source,
            })
    }

    async fn resolve(&self, types: &TypeMeta) -> Result<(ApiResource, ApiCapabilities)> {
        let gvk = GroupVersionKind::try_from(types).map_err(|e| ApplyError::Invalid {
            source_name: "object".into(),
            index: 0,
            message: e.to_string(),
        })?;
        let mut cache = self.resources.lock().await;
        if let Some(found) = cache.get(&gvk) {
            return Ok(found.clone());
        }
        let found = discovery::pinned_kind(&self.client, &gvk)
            .await
            .map_err(|source| ApplyError::Discovery {
                api_version: types.api_version.clone(),
                kind: types.kind.clone(),
                source,
            })?;
        cache.insert(gvk, found.clone());
        Ok(found)
    }
}

/// `Kind namespace/name` (or `Kind name`) for messages.
pub fn describe(object: &Value) -> String {
    let field = |p: &str| object.pointer(p).and_then(Value::as_str).unwrap_or("");
    match field("/metadata/namespace") {
        "" => format!("{} {}", field("/kind"), field("/metadata/name")),
        ns => format!("{} {ns}/{}", field("/kind"), field("/metadata/name")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // Document shapes as in ArgoCD's manifests/install.yaml (CRDs, then a Namespace-less
    // ServiceAccount, then workloads) plus a Namespace, to check the sort.
    const MANIFEST: &str = r#"
apiVersion: v1
kind: ServiceAccount
metadata: {name: argocd-server}
---
apiVersion: v1
kind: Namespace
metadata: {name: argocd}
---
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata: {name: applications.argoproj.io}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: argocd-server}
---
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata: {name: applicationsets.argoproj.io}
"#;

    #[test]
    fn crds_then_namespaces_then_the_rest_in_manifest_order() {
        let objects = order(parse_manifest("install.yaml", MANIFEST).unwrap());
        let names: Vec<String> = objects.iter().map(describe).collect();
        assert_eq!(
            names,
            [
                "CustomResourceDefinition applications.argoproj.io",
                "CustomResourceDefinition applicationsets.argoproj.io",
                "Namespace argocd",
                "ServiceAccount argocd-server",
                "Deployment argocd-server",
            ]
        );
    }

    #[test]
    fn a_document_without_a_name_is_refused_with_its_index() {
        let err = parse_manifest("x.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata: {}\n")
            .unwrap_err()
            .to_string();
        assert!(err.contains("x.yaml: document 0"), "{err}");
    }

    #[test]
    fn a_list_is_flattened_into_its_items() {
        let objects = parse_manifest(
            "list.yaml",
            "apiVersion: v1\nkind: List\nitems:\n- {apiVersion: v1, kind: ConfigMap, metadata: {name: a}}\n",
        )
        .unwrap();
        assert_eq!(objects.len(), 1);
        assert_eq!(describe(&objects[0]), "ConfigMap a");
    }

    #[test]
    fn a_namespace_named_like_a_crd_kind_in_another_group_is_not_a_crd() {
        let fake =
            serde_json::json!({"apiVersion": "example.com/v1", "kind": "CustomResourceDefinition"});
        assert_eq!(stage(&fake), Stage::Rest);
    }
}
