//! The cluster a fresh `k3d cluster create` leaves (before anything of the platform exists),
//! and small object builders for tests.
//!
//! k3s v1.34 with k3d/cluster.yaml: one server and two agents (agent 1 labelled as the GPU
//! node), the four system namespaces, the bootstrap RBAC roles that matter to the platform
//! (`view` and the roles aggregated into it, kubernetes plugin/pkg/auth/authorizer/rbac/
//! bootstrappolicy/policy.go), and k3s's own kube-system workloads (CoreDNS, local-path
//! provisioner, metrics-server; traefik is disabled by the config). Everything else comes from
//! the real upstream artefacts, installed by `up` and synced by the sim's ArgoCD.

use serde_json::{json, Value};

/// The cluster name the sim pretends k3d created (context `k3d-neuroscale`).
pub const CLUSTER: &str = "neuroscale";
pub const SERVER_NODE: &str = "k3d-neuroscale-server-0";
pub const CPU_AGENT_NODE: &str = "k3d-neuroscale-agent-0";
/// The agent k3d/cluster.yaml labels `neuroscale.dev/gpu-node=true`.
pub const GPU_AGENT_NODE: &str = "k3d-neuroscale-agent-1";
pub const MODEL_NAMESPACE: &str = "models";

/// Everything a fresh k3d cluster holds, namespaces first.
pub fn k3s_cluster() -> Vec<Value> {
    let mut objects: Vec<Value> = ["default", "kube-system", "kube-public", "kube-node-lease"]
        .iter()
        .map(|ns| namespace(ns))
        .collect();
    objects.extend([
        node(SERVER_NODE, "server", false),
        node(CPU_AGENT_NODE, "agent", false),
        node(GPU_AGENT_NODE, "agent", true),
    ]);
    objects.extend(bootstrap_rbac());
    objects.push(json!({"apiVersion": "v1", "kind": "Service",
        "metadata": {"name": "kubernetes", "namespace": "default", "labels": {"component": "apiserver", "provider": "kubernetes"}},
        "spec": {"type": "ClusterIP", "clusterIP": "10.43.0.1", "ports": [{"name": "https", "port": 443, "protocol": "TCP", "targetPort": 6443}]}}));
    for (name, image, exposed) in [
        (
            "coredns",
            "rancher/mirrored-coredns-coredns:1.12.3",
            Some(("kube-dns", 53)),
        ),
        (
            "local-path-provisioner",
            "rancher/local-path-provisioner:v0.0.32",
            None,
        ),
        (
            "metrics-server",
            "rancher/mirrored-metrics-server:v0.8.0",
            Some(("metrics-server", 443)),
        ),
    ] {
        let mut deployment = deployment("kube-system", name, &[name], image);
        deployment["metadata"]["labels"]["k8s-app"] = json!(name);
        objects.push(deployment);
        if let Some((service_name, port)) = exposed {
            objects.push(service("kube-system", service_name, name, port));
        }
    }
    objects
}

pub fn namespace(name: &str) -> Value {
    json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name,
           "labels": {"kubernetes.io/metadata.name": name}}, "status": {"phase": "Active"}})
}

fn node(name: &str, role: &str, gpu_node_label: bool) -> Value {
    let capacity = json!({"cpu": "4", "memory": "8Gi", "pods": "110"});
    let mut labels = json!({"kubernetes.io/hostname": name, "kubernetes.io/os": "linux",
                            "kubernetes.io/arch": "amd64", "node.kubernetes.io/instance-type": "k3s"});
    if role == "server" {
        labels["node-role.kubernetes.io/control-plane"] = json!("true");
        labels["node-role.kubernetes.io/master"] = json!("true");
    }
    if gpu_node_label {
        // k3d/cluster.yaml `options.k3s.nodeLabels`: agent:1 is the GPU node. No GPU is
        // advertised until something (the device plugin, or F3 with gpu: simulate) adds it.
        labels["neuroscale.dev/gpu-node"] = json!("true");
    }
    json!({"apiVersion": "v1", "kind": "Node", "metadata": {"name": name, "labels": labels},
           "spec": {},
           "status": {"capacity": capacity, "allocatable": capacity,
                      "conditions": [{"type": "Ready", "status": "True", "reason": "KubeletReady"}],
                      "nodeInfo": {"kubeletVersion": crate::server::GIT_VERSION}}})
}

/// `view` and what aggregates into it (bootstrappolicy `ClusterRoles()`: `system:aggregate-to-view`).
fn bootstrap_rbac() -> Vec<Value> {
    let read = json!(["get", "list", "watch"]);
    vec![
        json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole",
               "metadata": {"name": "cluster-admin", "labels": {"kubernetes.io/bootstrapping": "rbac-defaults"}},
               "rules": [{"apiGroups": ["*"], "resources": ["*"], "verbs": ["*"]}]}),
        json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole",
               "metadata": {"name": "view", "labels": {"kubernetes.io/bootstrapping": "rbac-defaults",
                                                       "rbac.authorization.k8s.io/aggregate-to-edit": "true"}},
               "aggregationRule": {"clusterRoleSelectors": [{"matchLabels": {"rbac.authorization.k8s.io/aggregate-to-view": "true"}}]},
               "rules": []}),
        json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole",
               "metadata": {"name": "system:aggregate-to-view",
                            "labels": {"kubernetes.io/bootstrapping": "rbac-defaults",
                                       "rbac.authorization.k8s.io/aggregate-to-view": "true"}},
               "rules": [
                   {"apiGroups": [""], "resources": ["pods", "replicationcontrollers", "replicationcontrollers/scale",
                        "serviceaccounts", "services", "services/status", "endpoints", "persistentvolumeclaims",
                        "persistentvolumeclaims/status", "configmaps", "pods/log", "pods/status",
                        "replicationcontrollers/status", "bindings", "events", "limitranges", "namespaces/status",
                        "resourcequotas", "resourcequotas/status", "namespaces"], "verbs": read},
                   {"apiGroups": ["discovery.k8s.io"], "resources": ["endpointslices"], "verbs": read},
                   {"apiGroups": ["apps"], "resources": ["controllerrevisions", "daemonsets", "daemonsets/status",
                        "deployments", "deployments/scale", "deployments/status", "replicasets", "replicasets/scale",
                        "replicasets/status", "statefulsets", "statefulsets/scale", "statefulsets/status"], "verbs": read},
                   {"apiGroups": ["autoscaling"], "resources": ["horizontalpodautoscalers", "horizontalpodautoscalers/status"], "verbs": read},
                   {"apiGroups": ["batch"], "resources": ["cronjobs", "cronjobs/status", "jobs", "jobs/status"], "verbs": read},
                   {"apiGroups": ["policy"], "resources": ["poddisruptionbudgets", "poddisruptionbudgets/status"], "verbs": read},
                   {"apiGroups": ["networking.k8s.io"], "resources": ["ingresses", "ingresses/status", "networkpolicies"], "verbs": read}]}),
    ]
}

/// A CRD with the given served versions (the first stored) and a status subresource.
pub fn crd(group: &str, kind: &str, plural: &str, versions: &[&str], namespaced: bool) -> Value {
    let versions: Vec<Value> = versions
        .iter()
        .enumerate()
        .map(|(i, v)| json!({"name": v, "served": true, "storage": i == 0,
                             "schema": {"openAPIV3Schema": {"type": "object", "x-kubernetes-preserve-unknown-fields": true}},
                             "subresources": {"status": {}}}))
        .collect();
    json!({"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
           "metadata": {"name": format!("{plural}.{group}")},
           "spec": {"group": group, "scope": if namespaced { "Namespaced" } else { "Cluster" },
                    "names": {"kind": kind, "plural": plural, "singular": kind.to_lowercase(),
                              "listKind": format!("{kind}List")},
                    "versions": versions}})
}

/// A Deployment whose pods carry `app.kubernetes.io/name=<name>`; `containers` names them.
pub fn deployment(namespace: &str, name: &str, containers: &[&str], image: &str) -> Value {
    let containers: Vec<Value> = containers
        .iter()
        .map(|c| {
            json!({"name": c, "image": image,
                   "securityContext": {"runAsNonRoot": true},
                   "resources": {"requests": {"cpu": "10m", "memory": "64Mi"},
                                 "limits": {"cpu": "500m", "memory": "512Mi"}}})
        })
        .collect();
    json!({"apiVersion": "apps/v1", "kind": "Deployment",
           "metadata": {"name": name, "namespace": namespace,
                        "labels": {"app.kubernetes.io/name": name, "app.kubernetes.io/part-of": namespace}},
           "spec": {"replicas": 1,
                    "selector": {"matchLabels": {"app.kubernetes.io/name": name}},
                    "template": {"metadata": {"labels": {"app.kubernetes.io/name": name}},
                                 "spec": {"containers": containers}}}})
}

/// A ClusterIP Service selecting `app.kubernetes.io/name=<selects>`.
pub fn service(namespace: &str, name: &str, selects: &str, port: u16) -> Value {
    json!({"apiVersion": "v1", "kind": "Service",
           "metadata": {"name": name, "namespace": namespace},
           "spec": {"type": "ClusterIP", "selector": {"app.kubernetes.io/name": selects},
                    "ports": [{"name": "https", "port": port, "protocol": "TCP"}]}})
}

/// A validating webhook configuration whose webhooks call `namespace/service`.
pub fn validating_webhooks(
    config: &str,
    webhooks: &[(&str, &str, &str)],
    namespace: &str,
    service: &str,
    fail: bool,
) -> Value {
    let hooks: Vec<Value> = webhooks
        .iter()
        .map(|(name, group, resource)| json!({
            "name": name,
            "admissionReviewVersions": ["v1"],
            "sideEffects": "None",
            "failurePolicy": if fail { "Fail" } else { "Ignore" },
            "timeoutSeconds": 10,
            "clientConfig": {"service": {"namespace": namespace, "name": service, "port": 443,
                                         "path": format!("/validate-{}", resource)},
                             "caBundle": "LS0tLS1CRUdJTi0tLS0t"},
            "rules": [{"apiGroups": [group], "apiVersions": ["*"], "operations": ["CREATE", "UPDATE"],
                       "resources": [resource], "scope": "*"}]
        }))
        .collect();
    json!({"apiVersion": "admissionregistration.k8s.io/v1", "kind": "ValidatingWebhookConfiguration",
           "metadata": {"name": config}, "webhooks": hooks})
}

/// A policy-compliant sklearn InferenceService (kserve docs sklearn-iris sample, with the
/// platform's labels).
pub fn inference_service(name: &str, namespace: &str, cost_center: &str, gpu: bool) -> Value {
    let mut resources = json!({"requests": {"cpu": "100m", "memory": "256Mi"},
                               "limits": {"cpu": "1", "memory": "1Gi"}});
    if gpu {
        resources["requests"]["nvidia.com/gpu"] = json!("1");
        resources["limits"]["nvidia.com/gpu"] = json!("1");
    }
    json!({"apiVersion": "serving.kserve.io/v1beta1", "kind": "InferenceService",
        "metadata": {"name": name, "namespace": namespace,
                     "labels": {"owner": "ml-team", "cost-center": cost_center}},
        "spec": {"predictor": {"model": {"modelFormat": {"name": "sklearn"},
                                         "storageUri": "gs://kfserving-examples/models/sklearn/1.0/model",
                                         "securityContext": {"runAsNonRoot": true},
                                         "resources": resources}}}})
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_fresh_cluster_has_no_platform_in_it() {
        let objects = k3s_cluster();
        assert!(objects.iter().all(|o| o["kind"] != "Application"));
        let namespaces: Vec<&str> = objects
            .iter()
            .filter(|o| o["kind"] == "Namespace")
            .filter_map(|o| o["metadata"]["name"].as_str())
            .collect();
        assert_eq!(
            namespaces,
            ["default", "kube-system", "kube-public", "kube-node-lease"]
        );
    }
}
