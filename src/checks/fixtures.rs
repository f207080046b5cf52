//! Test fixtures for the checks: builders of realistic API objects (as the API server returns
//! them) that the evaluation functions are tested on. Each builder cites where its shape comes
//! from. Test-only; checks D-F keep theirs in `fixtures_def.rs`. The gather loops run against
//! the project's one simulated API server (neuroscale-testkit's `SimCluster`), set up here.

use k8s_openapi::api::apps::v1::{Deployment, StatefulSet};
use k8s_openapi::api::core::v1::{ConfigMap, Pod, Service};
use k8s_openapi::api::discovery::v1::EndpointSlice;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use serde_json::{json, Value};

use super::observe::ObservedWorkload;

/// The diagnosis of a FAIL outcome; a test asking for it on anything else fails.
pub fn diagnosis(outcome: &crate::checks::Outcome) -> &crate::checks::Diagnosis {
    outcome
        .diagnosis
        .as_ref()
        .expect("a FAIL carries a diagnosis")
}

pub fn from<T: serde::de::DeserializeOwned>(value: Value) -> T {
    serde_json::from_value(value).expect("fixture matches the API type")
}

/// apps/v1 Deployment with status as the deployment controller writes it (k8s API reference,
/// DeploymentStatus; Available condition from pkg/controller/deployment/util).
pub fn deployment(namespace: &str, name: &str, desired: i32, ready: i32) -> Deployment {
    let available = if ready >= desired { "True" } else { "False" };
    let reason = if ready >= desired {
        "MinimumReplicasAvailable"
    } else {
        "MinimumReplicasUnavailable"
    };
    from(json!({
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"namespace": namespace, "name": name, "generation": 1, "uid": format!("uid-{name}"),
            "labels": {"app.kubernetes.io/name": name}},
        "spec": {"replicas": desired,
            "selector": {"matchLabels": {"app.kubernetes.io/name": name}},
            "template": {"metadata": {"labels": {"app.kubernetes.io/name": name}}, "spec": {"containers": []}}},
        "status": {
            "observedGeneration": 1, "replicas": desired, "updatedReplicas": desired,
            "readyReplicas": ready, "availableReplicas": ready,
            "conditions": [
                {"type": "Available", "status": available, "reason": reason,
                 "message": if ready >= desired { "Deployment has minimum availability." } else { "Deployment does not have minimum availability." }},
                {"type": "Progressing", "status": "True", "reason": "NewReplicaSetAvailable"}
            ]
        }
    }))
}

/// apps/v1 StatefulSet (k8s API reference, StatefulSetStatus).
pub fn stateful_set(namespace: &str, name: &str, desired: i32, ready: i32) -> StatefulSet {
    from(json!({
        "apiVersion": "apps/v1", "kind": "StatefulSet",
        "metadata": {"namespace": namespace, "name": name, "generation": 1},
        "spec": {"replicas": desired, "serviceName": name,
            "selector": {"matchLabels": {"app.kubernetes.io/name": name}},
            "template": {"metadata": {"labels": {"app.kubernetes.io/name": name}}, "spec": {"containers": []}}},
        "status": {"observedGeneration": 1, "replicas": desired, "readyReplicas": ready,
            "currentReplicas": desired, "updatedReplicas": desired, "availableReplicas": ready}
    }))
}

/// A container of `pod`: its name, whether it is ready, and when not, its waiting reason.
pub struct ContainerState<'a> {
    pub name: &'a str,
    pub ready: bool,
    pub waiting: Option<&'a str>,
    pub restarts: i32,
}

pub fn container(name: &str, ready: bool) -> ContainerState<'_> {
    ContainerState {
        name,
        ready,
        waiting: None,
        restarts: 0,
    }
}

pub fn waiting<'a>(name: &'a str, reason: &'a str, restarts: i32) -> ContainerState<'a> {
    ContainerState {
        name,
        ready: false,
        waiting: Some(reason),
        restarts,
    }
}

/// core/v1 Pod in phase Running with the given container statuses (k8s API reference,
/// ContainerStatus; a pod at 1/2 is what `kubectl get pods` shows as READY 1/2, seeds/08).
pub fn pod(namespace: &str, name: &str, containers: &[ContainerState]) -> Pod {
    let specs: Vec<Value> = containers
        .iter()
        .map(|c| json!({"name": c.name, "image": format!("example/{}:v1", c.name)}))
        .collect();
    let statuses: Vec<Value> = containers
        .iter()
        .map(|c| {
            let state = match c.waiting {
                Some(reason) => json!({"waiting": {"reason": reason}}),
                None => json!({"running": {"startedAt": "2026-12-01T10:00:00Z"}}),
            };
            json!({"name": c.name, "ready": c.ready, "restartCount": c.restarts,
                   "image": format!("example/{}:v1", c.name), "imageID": "", "state": state})
        })
        .collect();
    let all_ready = containers.iter().all(|c| c.ready);
    from(json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"namespace": namespace, "name": name},
        "spec": {"containers": specs},
        "status": {"phase": "Running",
            "conditions": [{"type": "Ready", "status": if all_ready { "True" } else { "False" }}],
            "containerStatuses": statuses}
    }))
}

/// A Deployment with one pod per desired replica whose containers are all ready.
pub fn healthy_deployment(namespace: &str, name: &str, containers: &[&str]) -> ObservedWorkload {
    let states: Vec<ContainerState> = containers.iter().map(|c| container(c, true)).collect();
    ObservedWorkload {
        namespace: namespace.into(),
        name: name.into(),
        deployment: Some(deployment(namespace, name, 1, 1)),
        stateful_set: None,
        pods: vec![pod(namespace, &format!("{name}-7d9f8b6c5-x2lm4"), &states)],
    }
}

/// A StatefulSet with one fully ready pod.
pub fn healthy_stateful_set(namespace: &str, name: &str) -> ObservedWorkload {
    ObservedWorkload {
        namespace: namespace.into(),
        name: name.into(),
        deployment: None,
        stateful_set: Some(stateful_set(namespace, name, 1, 1)),
        pods: vec![pod(
            namespace,
            &format!("{name}-0"),
            &[container(name, true)],
        )],
    }
}

/// A workload that does not exist.
pub fn missing_workload(namespace: &str, name: &str) -> ObservedWorkload {
    ObservedWorkload {
        namespace: namespace.into(),
        name: name.into(),
        ..Default::default()
    }
}

/// discovery.k8s.io/v1 EndpointSlice of `service` (label kubernetes.io/service-name), one
/// endpoint per address with its ready condition (k8s API reference, EndpointConditions).
pub fn endpoint_slice(namespace: &str, service: &str, addresses: &[(&str, bool)]) -> EndpointSlice {
    let endpoints: Vec<Value> = addresses
        .iter()
        .map(|(ip, ready)| json!({"addresses": [ip], "conditions": {"ready": ready, "serving": ready, "terminating": false}}))
        .collect();
    from(json!({
        "apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
        "metadata": {"namespace": namespace, "name": format!("{service}-abcde"),
            "labels": {"kubernetes.io/service-name": service}},
        "addressType": "IPv4",
        "endpoints": endpoints,
        "ports": [{"name": "https", "port": 9443, "protocol": "TCP"}]
    }))
}

/// apiextensions.k8s.io/v1 CRD with its NamesAccepted and Established conditions (k8s API
/// reference, CustomResourceDefinitionCondition).
pub fn crd(name: &str, established: bool) -> CustomResourceDefinition {
    let (plural, group) = name.split_once('.').unwrap_or((name, ""));
    from(json!({
        "apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
        "metadata": {"name": name},
        "spec": {"group": group, "scope": "Namespaced",
            "names": {"plural": plural, "kind": plural},
            "versions": []},
        "status": {"conditions": [
            {"type": "NamesAccepted", "status": "True", "reason": "NoConflicts"},
            {"type": "Established", "status": if established { "True" } else { "False" },
             "reason": if established { "InitialNamesAccepted" } else { "Installing" }}
        ]}
    }))
}

/// core/v1 ConfigMap with string data.
pub fn config_map(namespace: &str, name: &str, data: &[(&str, &str)]) -> ConfigMap {
    let data: serde_json::Map<String, Value> = data
        .iter()
        .map(|(k, v)| (k.to_string(), Value::String(v.to_string())))
        .collect();
    from(json!({
        "apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"namespace": namespace, "name": name},
        "data": data
    }))
}

/// core/v1 Service of type LoadBalancer as k3s servicelb (klipper) publishes it: node IPs in
/// `status.loadBalancer.ingress` (net-kourier config/300-kourier.yaml shapes the spec).
pub fn load_balancer_service(namespace: &str, name: &str, ips: &[&str]) -> Service {
    let ingress: Vec<Value> = ips
        .iter()
        .map(|ip| json!({"ip": ip, "ipMode": "VIP"}))
        .collect();
    from(json!({
        "apiVersion": "v1", "kind": "Service",
        "metadata": {"namespace": namespace, "name": name},
        "spec": {"type": "LoadBalancer", "ports": [
            {"name": "http2", "port": 80, "targetPort": 8080, "protocol": "TCP"},
            {"name": "https", "port": 443, "targetPort": 8443, "protocol": "TCP"}]},
        "status": {"loadBalancer": {"ingress": ingress}}
    }))
}

/// argoproj.io/v1alpha1 Application with sync and health status (argo-cd
/// pkg/apis/application/v1alpha1/types.go: SyncStatus, HealthStatus, ApplicationCondition).
pub fn application(name: &str, sync: &str, health: &str) -> Value {
    json!({
        "apiVersion": "argoproj.io/v1alpha1", "kind": "Application",
        "metadata": {"namespace": "argocd", "name": name},
        "spec": {
            "project": "default",
            "source": {"repoURL": "git://host.k3d.internal/neuroscale-gitops", "path": format!("vendor/{name}"), "targetRevision": "HEAD"},
            "destination": {"server": "https://kubernetes.default.svc", "namespace": name},
            "syncPolicy": {"automated": {"prune": true, "selfHeal": true}}
        },
        "status": {
            "sync": {"status": sync, "revision": "3f9c2e1"},
            "health": {"status": health, "lastTransitionTime": "2026-12-01T10:00:00Z"},
            "reconciledAt": "2026-12-01T10:00:05Z",
            "resourceHealthSource": "appTree"
        }
    })
}

/// Adds a `status.conditions[]` entry (type and message) to an Application.
pub fn with_condition(mut app: Value, kind: &str, message: &str) -> Value {
    let conditions = app["status"]
        .as_object_mut()
        .expect("status")
        .entry("conditions")
        .or_insert_with(|| json!([]));
    conditions.as_array_mut().expect("array").push(json!({
        "type": kind, "message": message, "lastTransitionTime": "2026-12-01T10:00:00Z"
    }));
    app
}

/// serving.kserve.io/v1beta1 InferenceService status as the KServe controller writes it with
/// `disableIstioVirtualHost` (kserve pkg/apis/serving/v1beta1/inference_service_status.go;
/// reconcilers/ingress/ingress_reconciler.go: status.url is the predictor ksvc URL).
pub fn inference_service(namespace: &str, name: &str, ready: bool) -> Value {
    let status = if ready { "True" } else { "False" };
    let mut isvc = json!({
        "apiVersion": "serving.kserve.io/v1beta1", "kind": "InferenceService",
        "metadata": {"namespace": namespace, "name": name,
            "labels": {"owner": "ml-team", "cost-center": "ml-research"},
            "annotations": {"argocd.argoproj.io/tracking-id": format!("{name}:serving.kserve.io/InferenceService:{namespace}/{name}")}},
        "spec": {"predictor": {"model": {"modelFormat": {"name": "sklearn"},
            "storageUri": "gs://kfserving-examples/models/sklearn/1.0/model"}}},
        "status": {
            "observedGeneration": 1,
            "conditions": [
                {"type": "IngressReady", "status": status},
                {"type": "PredictorConfigurationReady", "status": status},
                {"type": "PredictorReady", "status": status},
                {"type": "PredictorRouteReady", "status": status},
                {"type": "Ready", "status": status}
            ],
            "address": {"url": format!("http://{name}-predictor.{namespace}.svc.cluster.local")},
            "components": {"predictor": {"latestReadyRevision": format!("{name}-predictor-00001")}}
        }
    });
    if ready {
        isvc["status"]["url"] = json!(format!(
            "http://{name}-predictor.{namespace}.127.0.0.1.sslip.io"
        ));
    }
    isvc
}

/// Replaces one condition of an object's `status.conditions` (status, reason, message).
pub fn set_condition(
    mut obj: Value,
    kind: &str,
    status: &str,
    reason: &str,
    message: &str,
) -> Value {
    let conditions = obj["status"]["conditions"]
        .as_array_mut()
        .expect("conditions");
    conditions.retain(|c| c["type"] != kind);
    conditions.push(json!({"type": kind, "status": status, "reason": reason, "message": message}));
    obj
}

/// The simulated cluster (neuroscale-testkit) the checks' gather loops run against: an empty
/// API server holding only `namespaces`. Tests put the objects a scenario needs with `put` and
/// `put_crd`, and script controllers and admission through the testkit's own knobs.
pub async fn sim_cluster(namespaces: &[&str]) -> neuroscale_testkit::SimCluster {
    let sim = neuroscale_testkit::SimCluster::start()
        .await
        .expect("the simulated cluster starts");
    for namespace in namespaces {
        put(
            &sim,
            &json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace}}),
        );
    }
    sim
}

/// Stores an object (a builder's typed object or JSON) as its controller would, status as
/// given. k8s-openapi serialises a resource's apiVersion and kind with it.
pub fn put<T: serde::Serialize>(sim: &neuroscale_testkit::SimCluster, object: &T) -> Value {
    let object = serde_json::to_value(object).expect("the fixture serialises");
    sim.put(object.clone())
        .unwrap_or_else(|status| panic!("the sim refused {object}: {status:?}"))
}

/// Serves a custom resource kind: stores its CRD (served, Established at once).
pub fn put_crd(
    sim: &neuroscale_testkit::SimCluster,
    group: &str,
    kind: &str,
    plural: &str,
    version: &str,
    namespaced: bool,
) {
    put(
        sim,
        &neuroscale_testkit::preset::crd(group, kind, plural, &[version], namespaced),
    );
}

/// A check environment on the simulated cluster, with the smoke scenario.
pub fn sim_env(sim: &neuroscale_testkit::SimCluster, mutations_allowed: bool) -> super::CheckEnv {
    check_env(
        sim.client().expect("a client for the sim"),
        mutations_allowed,
    )
}

/// A check environment around `client`, with the smoke scenario.
pub fn check_env(client: kube::Client, mutations_allowed: bool) -> super::CheckEnv {
    super::CheckEnv {
        client,
        scenario: crate::scenario::Scenario::parse(
            std::path::Path::new("smoke.yaml"),
            crate::scenario::BUILTIN_SMOKE,
        )
        .expect("the built-in scenario parses"),
        http: crate::probe::http_client().expect("an HTTP client"),
        context_name: "k3d-neuroscale".into(),
        mutations_allowed,
        ingress_url: None,
        opencost_url: None,
        gitops_cache_dir: std::env::temp_dir(),
    }
}
