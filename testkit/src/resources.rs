//! Which resources the sim serves: the built-in Kubernetes kinds the platform and the checks
//! touch, plus every CustomResourceDefinition stored in it; and the discovery documents
//! (`/api`, `/apis`, `/api/v1`, `/apis/<group>/<version>`) kube-rs's discovery reads.
//!
//! Document shapes: k8s.io/apimachinery pkg/apis/meta/v1/types.go (`APIVersions`,
//! `APIGroupList`, `APIResourceList`, `APIResource`).

use serde_json::{json, Value};

/// One served resource (all its versions share one storage).
#[derive(Debug, Clone, PartialEq)]
pub struct ResourceType {
    pub group: String,
    pub versions: Vec<String>,
    pub kind: String,
    pub plural: String,
    pub namespaced: bool,
    /// Whether `status` is a subresource (writes to the main resource leave it alone).
    pub status_subresource: bool,
    pub short_names: Vec<String>,
}

impl ResourceType {
    pub fn api_version(&self, version: &str) -> String {
        if self.group.is_empty() {
            version.to_string()
        } else {
            format!("{}/{version}", self.group)
        }
    }

    pub fn preferred_version(&self) -> &str {
        &self.versions[0]
    }

    fn singular(&self) -> String {
        self.kind.to_lowercase()
    }
}

fn builtin(
    group: &str,
    version: &str,
    kind: &str,
    plural: &str,
    namespaced: bool,
    status: bool,
    short: &[&str],
) -> ResourceType {
    ResourceType {
        group: group.into(),
        versions: vec![version.into()],
        kind: kind.into(),
        plural: plural.into(),
        namespaced,
        status_subresource: status,
        short_names: short.iter().map(|s| s.to_string()).collect(),
    }
}

/// The resources a real server has, as far as the platform and the checks use them.
pub fn builtin_types() -> Vec<ResourceType> {
    vec![
        builtin("", "v1", "Namespace", "namespaces", false, true, &["ns"]),
        builtin("", "v1", "Node", "nodes", false, true, &["no"]),
        builtin("", "v1", "Pod", "pods", true, true, &["po"]),
        builtin("", "v1", "Service", "services", true, true, &["svc"]),
        builtin("", "v1", "Endpoints", "endpoints", true, false, &["ep"]),
        builtin("", "v1", "ConfigMap", "configmaps", true, false, &["cm"]),
        builtin("", "v1", "Secret", "secrets", true, false, &[]),
        builtin(
            "",
            "v1",
            "ServiceAccount",
            "serviceaccounts",
            true,
            false,
            &["sa"],
        ),
        builtin("", "v1", "Event", "events", true, false, &["ev"]),
        builtin(
            "",
            "v1",
            "ResourceQuota",
            "resourcequotas",
            true,
            true,
            &["quota"],
        ),
        builtin(
            "",
            "v1",
            "LimitRange",
            "limitranges",
            true,
            false,
            &["limits"],
        ),
        builtin(
            "",
            "v1",
            "PersistentVolumeClaim",
            "persistentvolumeclaims",
            true,
            true,
            &["pvc"],
        ),
        builtin(
            "",
            "v1",
            "PersistentVolume",
            "persistentvolumes",
            false,
            true,
            &["pv"],
        ),
        builtin(
            "apps",
            "v1",
            "Deployment",
            "deployments",
            true,
            true,
            &["deploy"],
        ),
        builtin(
            "apps",
            "v1",
            "StatefulSet",
            "statefulsets",
            true,
            true,
            &["sts"],
        ),
        builtin("apps", "v1", "DaemonSet", "daemonsets", true, true, &["ds"]),
        builtin(
            "apps",
            "v1",
            "ReplicaSet",
            "replicasets",
            true,
            true,
            &["rs"],
        ),
        builtin("batch", "v1", "Job", "jobs", true, true, &[]),
        builtin("batch", "v1", "CronJob", "cronjobs", true, true, &["cj"]),
        builtin(
            "discovery.k8s.io",
            "v1",
            "EndpointSlice",
            "endpointslices",
            true,
            false,
            &[],
        ),
        builtin(
            "apiextensions.k8s.io",
            "v1",
            "CustomResourceDefinition",
            "customresourcedefinitions",
            false,
            true,
            &["crd", "crds"],
        ),
        builtin(
            "admissionregistration.k8s.io",
            "v1",
            "ValidatingWebhookConfiguration",
            "validatingwebhookconfigurations",
            false,
            false,
            &[],
        ),
        builtin(
            "admissionregistration.k8s.io",
            "v1",
            "MutatingWebhookConfiguration",
            "mutatingwebhookconfigurations",
            false,
            false,
            &[],
        ),
        builtin(
            "admissionregistration.k8s.io",
            "v1",
            "ValidatingAdmissionPolicy",
            "validatingadmissionpolicies",
            false,
            true,
            &[],
        ),
        builtin(
            "admissionregistration.k8s.io",
            "v1",
            "ValidatingAdmissionPolicyBinding",
            "validatingadmissionpolicybindings",
            false,
            false,
            &[],
        ),
        builtin(
            "rbac.authorization.k8s.io",
            "v1",
            "ClusterRole",
            "clusterroles",
            false,
            false,
            &[],
        ),
        builtin(
            "rbac.authorization.k8s.io",
            "v1",
            "ClusterRoleBinding",
            "clusterrolebindings",
            false,
            false,
            &[],
        ),
        builtin(
            "rbac.authorization.k8s.io",
            "v1",
            "Role",
            "roles",
            true,
            false,
            &[],
        ),
        builtin(
            "rbac.authorization.k8s.io",
            "v1",
            "RoleBinding",
            "rolebindings",
            true,
            false,
            &[],
        ),
        builtin(
            "networking.k8s.io",
            "v1",
            "NetworkPolicy",
            "networkpolicies",
            true,
            false,
            &["netpol"],
        ),
        builtin(
            "networking.k8s.io",
            "v1",
            "Ingress",
            "ingresses",
            true,
            true,
            &["ing"],
        ),
        builtin(
            "networking.k8s.io",
            "v1",
            "IngressClass",
            "ingressclasses",
            false,
            false,
            &[],
        ),
        builtin(
            "policy",
            "v1",
            "PodDisruptionBudget",
            "poddisruptionbudgets",
            true,
            true,
            &["pdb"],
        ),
        builtin(
            "coordination.k8s.io",
            "v1",
            "Lease",
            "leases",
            true,
            false,
            &[],
        ),
        builtin(
            "scheduling.k8s.io",
            "v1",
            "PriorityClass",
            "priorityclasses",
            false,
            false,
            &["pc"],
        ),
        builtin(
            "node.k8s.io",
            "v1",
            "RuntimeClass",
            "runtimeclasses",
            false,
            false,
            &[],
        ),
        builtin(
            "storage.k8s.io",
            "v1",
            "StorageClass",
            "storageclasses",
            false,
            false,
            &["sc"],
        ),
        builtin(
            "autoscaling",
            "v2",
            "HorizontalPodAutoscaler",
            "horizontalpodautoscalers",
            true,
            true,
            &["hpa"],
        ),
        builtin(
            "apiregistration.k8s.io",
            "v1",
            "APIService",
            "apiservices",
            false,
            true,
            &[],
        ),
        builtin(
            "events.k8s.io",
            "v1",
            "Event",
            "events",
            true,
            false,
            &["ev"],
        ),
    ]
}

/// The resources a CustomResourceDefinition declares (served versions, storage version first).
pub fn from_crd(crd: &Value) -> Option<ResourceType> {
    let spec = crd.get("spec")?;
    let names = spec.get("names")?;
    let mut versions: Vec<(bool, String, bool)> = spec
        .get("versions")?
        .as_array()?
        .iter()
        .filter(|v| v.get("served").and_then(Value::as_bool).unwrap_or(true))
        .filter_map(|v| {
            Some((
                v.get("storage").and_then(Value::as_bool).unwrap_or(false),
                v.get("name")?.as_str()?.to_string(),
                v.pointer("/subresources/status").is_some(),
            ))
        })
        .collect();
    if versions.is_empty() {
        return None;
    }
    versions.sort_by_key(|(storage, _, _)| !storage);
    Some(ResourceType {
        group: spec.get("group")?.as_str()?.to_string(),
        status_subresource: versions.iter().any(|(_, _, status)| *status),
        versions: versions.into_iter().map(|(_, name, _)| name).collect(),
        kind: names.get("kind")?.as_str()?.to_string(),
        plural: names.get("plural")?.as_str()?.to_string(),
        namespaced: spec.get("scope").and_then(Value::as_str) != Some("Cluster"),
        short_names: names
            .get("shortNames")
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(Value::as_str)
                    .map(str::to_string)
                    .collect()
            })
            .unwrap_or_default(),
    })
}

/// The set of served resources.
#[derive(Debug, Clone)]
pub struct Registry {
    types: Vec<ResourceType>,
}

impl Default for Registry {
    fn default() -> Self {
        Registry {
            types: builtin_types(),
        }
    }
}

impl Registry {
    pub fn by_plural(&self, group: &str, version: &str, plural: &str) -> Option<&ResourceType> {
        self.types.iter().find(|t| {
            t.group == group && t.plural == plural && t.versions.iter().any(|v| v == version)
        })
    }

    /// By `apiVersion` and `kind`, as written in a manifest.
    pub fn by_kind(&self, api_version: &str, kind: &str) -> Option<&ResourceType> {
        let (group, version) = split_api_version(api_version);
        self.types
            .iter()
            .find(|t| t.group == group && t.kind == kind && t.versions.iter().any(|v| v == version))
    }

    pub fn resource_types(&self) -> impl Iterator<Item = &ResourceType> {
        self.types.iter()
    }

    /// Adds or replaces (same group and plural) a resource type.
    pub fn register(&mut self, resource: ResourceType) {
        self.types
            .retain(|t| !(t.group == resource.group && t.plural == resource.plural));
        self.types.push(resource);
    }

    pub fn unregister(&mut self, group: &str, plural: &str) {
        self.types
            .retain(|t| !(t.group == group && t.plural == plural));
    }

    /// `GET /api`.
    pub fn core_versions(&self, server_address: &str) -> Value {
        json!({
            "kind": "APIVersions",
            "versions": ["v1"],
            "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": server_address}],
        })
    }

    fn group_entry(&self, group: &str) -> Value {
        let mut versions: Vec<&str> = Vec::new();
        for t in self.types.iter().filter(|t| t.group == group) {
            for v in &t.versions {
                if !versions.contains(&v.as_str()) {
                    versions.push(v);
                }
            }
        }
        let entries: Vec<Value> = versions
            .iter()
            .map(|v| json!({"groupVersion": format!("{group}/{v}"), "version": v}))
            .collect();
        json!({"name": group, "versions": entries, "preferredVersion": entries[0]})
    }

    /// `GET /apis`.
    pub fn group_list(&self) -> Value {
        let mut groups: Vec<&str> = Vec::new();
        for t in self.types.iter().filter(|t| !t.group.is_empty()) {
            if !groups.contains(&t.group.as_str()) {
                groups.push(&t.group);
            }
        }
        json!({
            "kind": "APIGroupList",
            "apiVersion": "v1",
            "groups": groups.iter().map(|g| self.group_entry(g)).collect::<Vec<_>>(),
        })
    }

    /// `GET /apis/<group>`.
    pub fn group(&self, group: &str) -> Option<Value> {
        if !self.types.iter().any(|t| t.group == group) {
            return None;
        }
        let mut entry = self.group_entry(group);
        entry["kind"] = json!("APIGroup");
        entry["apiVersion"] = json!("v1");
        Some(entry)
    }

    /// `GET /api/v1` or `GET /apis/<group>/<version>`.
    pub fn resource_list(&self, group: &str, version: &str) -> Option<Value> {
        let mut resources = Vec::new();
        for t in self
            .types
            .iter()
            .filter(|t| t.group == group && t.versions.iter().any(|v| v == version))
        {
            resources.push(json!({
                "name": t.plural,
                "singularName": t.singular(),
                "namespaced": t.namespaced,
                "kind": t.kind,
                "verbs": ["create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"],
                "shortNames": t.short_names,
            }));
            if t.status_subresource {
                resources.push(json!({
                    "name": format!("{}/status", t.plural),
                    "singularName": "",
                    "namespaced": t.namespaced,
                    "kind": t.kind,
                    "verbs": ["get", "patch", "update"],
                }));
            }
        }
        if resources.is_empty() {
            return None;
        }
        let group_version = if group.is_empty() {
            version.to_string()
        } else {
            format!("{group}/{version}")
        };
        Some(json!({
            "kind": "APIResourceList",
            "apiVersion": "v1",
            "groupVersion": group_version,
            "resources": resources,
        }))
    }
}

/// `apps/v1` → (`apps`, `v1`); `v1` → (``, `v1`).
pub fn split_api_version(api_version: &str) -> (&str, &str) {
    match api_version.split_once('/') {
        Some((group, version)) => (group, version),
        None => ("", api_version),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_crd_becomes_a_served_resource_with_its_storage_version_first() {
        let crd = json!({
            "spec": {
                "group": "serving.kserve.io", "scope": "Namespaced",
                "names": {"kind": "InferenceService", "plural": "inferenceservices", "shortNames": ["isvc"]},
                "versions": [
                    {"name": "v1alpha1", "served": true, "storage": false},
                    {"name": "v1beta1", "served": true, "storage": true, "subresources": {"status": {}}}
                ]
            }
        });
        let resource = from_crd(&crd).expect("valid CRD");
        assert_eq!(resource.versions, vec!["v1beta1", "v1alpha1"]);
        assert!(resource.namespaced && resource.status_subresource);
        let mut registry = Registry::default();
        registry.register(resource);
        assert!(registry
            .by_kind("serving.kserve.io/v1beta1", "InferenceService")
            .is_some());
        let list = registry
            .resource_list("serving.kserve.io", "v1beta1")
            .expect("served");
        assert_eq!(list["resources"][1]["name"], "inferenceservices/status");
    }

    #[test]
    fn unknown_groups_are_not_served() {
        let registry = Registry::default();
        assert!(registry.resource_list("argoproj.io", "v1alpha1").is_none());
        assert!(registry.by_plural("apps", "v1", "deployments").is_some());
    }
}
