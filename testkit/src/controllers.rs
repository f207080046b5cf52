//! Scripted controller behaviour: what the cluster's controllers would do, derived from the
//! stored objects on every change. Deployments and StatefulSets get pods (scheduled onto the
//! sim's nodes) and a status; Services with a selector get an EndpointSlice of their pods;
//! InferenceServices get a predictor Deployment and KServe's status; Applications get ArgoCD's
//! sync and health; what an Application manages is recreated after deletion when its
//! `syncPolicy.automated.selfHeal` is on. `Behaviour` holds the planted deviations.
//!
//! Status shapes: k8s-openapi `DeploymentStatus`/`PodStatus`/`EndpointSlice` (Kubernetes API
//! reference), kserve pkg/apis/serving/v1beta1/inference_service_status.go (conditions
//! PredictorReady, IngressReady, Ready; `url`, `address.url`), argo-cd
//! pkg/apis/application/v1alpha1/types.go (`status.sync`, `status.health`, `operationState`).

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use serde_json::{json, Value};

use crate::preset::{CPU_AGENT_NODE, DOMAIN, SERVER_NODE};
use crate::store::State;

/// Planted deviations from healthy behaviour (see `crate::faults`).
#[derive(Debug, Clone, Default)]
pub struct Behaviour {
    /// (namespace, workload) → how many of each pod's containers are not ready.
    pub unready_containers: BTreeMap<(String, String), usize>,
    /// Application name → the state ArgoCD reports for it instead of Synced/Healthy.
    pub application_overrides: BTreeMap<String, ApplicationOverride>,
    /// InferenceServices (namespace/name) KServe never makes Ready.
    pub isvc_not_ready: BTreeSet<String>,
    /// Only the InferenceServices the platform started with become Ready (scaffolded ones, by
    /// `new-model` or the checks, never do).
    pub only_platform_isvcs_ready: bool,
    /// The InferenceServices (namespace/name) the platform started with.
    pub initial_isvcs: BTreeSet<String>,
    /// Services (namespace/name) whose EndpointSlice lists no ready endpoint.
    pub services_without_endpoints: BTreeSet<String>,
    /// Policies Kyverno's webhook lets through although they report ready (fail-open).
    pub fail_open_policies: BTreeSet<String>,
    /// Kyverno's InferenceService label policy also requires this label, which the scaffold
    /// does not carry (applies from the start; see `webhooks::AdmissionBehaviour`).
    pub extra_isvc_label: Option<String>,
    /// The model ApplicationSet generates nothing for new model folders.
    pub appset_stalled: bool,
    /// GPU pods are scheduled onto the server node, which has no GPU.
    pub gpu_on_wrong_node: bool,
    /// The inference endpoint answers every row with this class.
    pub wrong_prediction: Option<i64>,
    /// Added to every inference answer.
    pub inference_delay: Duration,
    /// OpenCost's `/healthz` and API answer 503.
    pub opencost_unhealthy: bool,
    /// OpenCost ignores pod labels (everything `__unallocated__`).
    pub opencost_ignores_labels: bool,
    /// Objects Applications manage, by tracking id, kept to recreate them (self-heal).
    pub managed: BTreeMap<String, Value>,
    /// The bare GitOps repository the model ApplicationSet reads (None: no generator runs).
    pub gitops_repo: Option<std::path::PathBuf>,
    /// Applications whose last sync failed, with the API server's message.
    pub sync_failures: BTreeMap<String, String>,
    /// The model folders last read from `gitops_repo`.
    pub model_folders: Option<crate::appset::ModelFolders>,
}

/// A planted Application state.
#[derive(Debug, Clone, PartialEq)]
pub struct ApplicationOverride {
    pub sync: String,
    pub health: String,
    /// An error condition (type, message), e.g. ComparisonError.
    pub condition: Option<(String, String)>,
}

const SINCE: &str = "2026-12-01T00:00:00Z";

fn str_at<'a>(value: &'a Value, pointer: &str) -> &'a str {
    value.pointer(pointer).and_then(Value::as_str).unwrap_or("")
}

fn matches_selector(labels: &Value, selector: &Value) -> bool {
    selector
        .as_object()
        .is_some_and(|s| !s.is_empty() && s.iter().all(|(k, v)| labels.get(k) == Some(v)))
}

/// Runs controller passes until nothing changes (at most a few passes).
pub fn reconcile(state: &mut State, behaviour: &mut Behaviour) {
    for _ in 0..6 {
        let before = state.resource_version();
        if let (Some(folders), false) = (&behaviour.model_folders, behaviour.appset_stalled) {
            behaviour.sync_failures = crate::appset::reconcile(state, folders);
        }
        remember_managed(state, behaviour);
        inference_services(state, behaviour);
        workloads(state, behaviour);
        endpoint_slices(state, behaviour);
        applications(state, behaviour);
        self_heal(state, behaviour);
        if state.resource_version() == before {
            break;
        }
    }
}

fn all(state: &State, api_version: &str, kind: &str) -> Vec<Value> {
    match state.resource_for(api_version, kind) {
        Ok(resource) => state.list(&resource, None, None, None),
        Err(_) => Vec::new(),
    }
}

fn put(state: &mut State, object: Value) {
    let _ = state.put(object);
}

fn remember_managed(state: &State, behaviour: &mut Behaviour) {
    for (api_version, kind) in [
        ("apps/v1", "Deployment"),
        ("serving.kserve.io/v1beta1", "InferenceService"),
    ] {
        for object in all(state, api_version, kind) {
            let id = str_at(
                &object,
                "/metadata/annotations/argocd.argoproj.io~1tracking-id",
            );
            if id.is_empty() {
                continue;
            }
            let mut desired = object.clone();
            if let Some(map) = desired.as_object_mut() {
                map.remove("status");
            }
            if let Some(meta) = desired["metadata"].as_object_mut() {
                for field in [
                    "uid",
                    "resourceVersion",
                    "creationTimestamp",
                    "generation",
                    "deletionTimestamp",
                ] {
                    meta.remove(field);
                }
            }
            behaviour.managed.insert(id.to_string(), desired);
        }
    }
}

/// ArgoCD self-heal: a managed object that is gone comes back when its Application says so.
fn self_heal(state: &mut State, behaviour: &Behaviour) {
    let apps = all(state, "argoproj.io/v1alpha1", "Application");
    for (id, desired) in &behaviour.managed {
        let app_name = id.split(':').next().unwrap_or("");
        let Some(app) = apps
            .iter()
            .find(|a| str_at(a, "/metadata/name") == app_name)
        else {
            continue;
        };
        let automated = app.pointer("/spec/syncPolicy/automated");
        let heals = automated.is_some_and(|a| {
            a.get("enabled").and_then(Value::as_bool) != Some(false)
                && a.get("selfHeal").and_then(Value::as_bool) == Some(true)
        });
        if !heals || behaviour.application_overrides.contains_key(app_name) {
            continue;
        }
        let api_version = str_at(desired, "/apiVersion").to_string();
        let kind = str_at(desired, "/kind").to_string();
        let Ok(resource) = state.resource_for(&api_version, &kind) else {
            continue;
        };
        let ns = str_at(desired, "/metadata/namespace").to_string();
        let name = str_at(desired, "/metadata/name").to_string();
        if state.get(&resource, &ns, &name).is_none() {
            put(state, desired.clone());
        }
    }
}

/// Where the scheduler puts a pod: GPU pods on a node advertising `nvidia.com/gpu` that their
/// nodeSelector selects (None: Pending), other pods on the CPU agent.
fn pod_node(state: &State, pod_spec: &Value, behaviour: &Behaviour) -> Option<String> {
    let wants_gpu = pod_spec
        .pointer("/containers")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .any(|c| {
            c.pointer("/resources/limits/nvidia.com~1gpu").is_some()
                || c.pointer("/resources/requests/nvidia.com~1gpu").is_some()
        });
    if !wants_gpu {
        return Some(CPU_AGENT_NODE.to_string());
    }
    if behaviour.gpu_on_wrong_node {
        return Some(SERVER_NODE.to_string());
    }
    let selector = pod_spec.get("nodeSelector").cloned().unwrap_or(json!({}));
    all(state, "v1", "Node")
        .into_iter()
        .filter(|n| {
            let gpus = str_at(n, "/status/allocatable/nvidia.com~1gpu");
            let gpus = if gpus.is_empty() {
                str_at(n, "/status/capacity/nvidia.com~1gpu")
            } else {
                gpus
            };
            gpus.parse::<u32>().unwrap_or(0) > 0
        })
        .find(|n| {
            let labels = n.pointer("/metadata/labels").cloned().unwrap_or(json!({}));
            selector
                .as_object()
                .is_none_or(|s| s.iter().all(|(k, v)| labels.get(k) == Some(v)))
        })
        .map(|n| str_at(&n, "/metadata/name").to_string())
}

fn workloads(state: &mut State, behaviour: &Behaviour) {
    for kind in ["Deployment", "StatefulSet", "DaemonSet"] {
        for workload in all(state, "apps/v1", kind) {
            reconcile_workload(state, behaviour, kind, &workload);
        }
    }
}

fn reconcile_workload(state: &mut State, behaviour: &Behaviour, kind: &str, workload: &Value) {
    let ns = str_at(workload, "/metadata/namespace").to_string();
    let name = str_at(workload, "/metadata/name").to_string();
    let uid = str_at(workload, "/metadata/uid").to_string();
    let replicas = if kind == "DaemonSet" {
        1
    } else {
        workload
            .pointer("/spec/replicas")
            .and_then(Value::as_i64)
            .unwrap_or(1)
            .max(0) as usize
    };
    let template = workload
        .pointer("/spec/template")
        .cloned()
        .unwrap_or(json!({}));
    let pod_spec = template.get("spec").cloned().unwrap_or(json!({}));
    let containers: Vec<String> = pod_spec
        .get("containers")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .map(|c| str_at(c, "/name").to_string())
        .collect();
    let unready = behaviour
        .unready_containers
        .get(&(ns.clone(), name.clone()))
        .copied()
        .unwrap_or(0)
        .min(containers.len());
    let node = pod_node(state, &pod_spec, behaviour);
    let pod_name = |i: usize| match kind {
        "StatefulSet" => format!("{name}-{i}"),
        _ => format!(
            "{name}-5d9c7b8f4-{}",
            ["x7k2p", "m4q9z", "b2n8w", "t6r3v"][i % 4]
        ),
    };
    let pods = all(state, "v1", "Pod");
    let owned: Vec<&Value> = pods
        .iter()
        .filter(|p| str_at(p, "/metadata/namespace") == ns)
        .filter(|p| {
            p.pointer("/metadata/ownerReferences")
                .and_then(Value::as_array)
                .is_some_and(|refs| refs.iter().any(|r| str_at(r, "/uid") == uid))
        })
        .collect();
    let wanted: Vec<String> = (0..replicas).map(pod_name).collect();
    for pod in &owned {
        let pod_name = str_at(pod, "/metadata/name");
        if !wanted.iter().any(|w| w == pod_name) {
            if let Ok(resource) = state.resource_for("v1", "Pod") {
                let _ = state.delete(
                    &resource,
                    &ns,
                    pod_name,
                    crate::store::WriteOptions::INTERNAL,
                );
            }
        }
    }
    let mut ready_pods = 0;
    for (i, pod_name) in wanted.iter().enumerate() {
        let statuses: Vec<Value> = containers
            .iter()
            .enumerate()
            .map(|(c, container)| {
                let ready = c < containers.len() - unready;
                json!({"name": container, "ready": ready, "started": true, "restartCount": 0,
                       "image": str_at(&pod_spec, &format!("/containers/{c}/image")),
                       "state": {"running": {"startedAt": SINCE}}})
            })
            .collect();
        let all_ready = unready == 0;
        if all_ready {
            ready_pods += 1;
        }
        let mut labels = template
            .pointer("/metadata/labels")
            .cloned()
            .unwrap_or(json!({}));
        if kind == "StatefulSet" {
            labels["statefulset.kubernetes.io/pod-name"] = json!(pod_name);
        }
        let pod = json!({
            "apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": pod_name, "namespace": ns, "labels": labels,
                         "annotations": template.pointer("/metadata/annotations").cloned().unwrap_or(json!({})),
                         "ownerReferences": [{"apiVersion": "apps/v1", "kind": kind, "name": name,
                                              "uid": uid, "controller": true}]},
            "spec": pod_spec.clone(),
            "status": {"phase": "Running", "podIP": format!("10.42.{}.{}", (i + 1) % 250, ns.len() + name.len()),
                       "hostIP": "172.18.0.2", "startTime": SINCE,
                       "conditions": [
                           {"type": "PodScheduled", "status": "True", "lastTransitionTime": SINCE},
                           {"type": "Initialized", "status": "True", "lastTransitionTime": SINCE},
                           {"type": "ContainersReady", "status": if all_ready { "True" } else { "False" }, "lastTransitionTime": SINCE},
                           {"type": "Ready", "status": if all_ready { "True" } else { "False" }, "lastTransitionTime": SINCE}],
                       "containerStatuses": statuses}
        });
        let pod = match &node {
            Some(node) => {
                let mut pod = pod;
                pod["spec"]["nodeName"] = json!(node);
                pod
            }
            None => {
                // Unschedulable: no node advertises the GPU it asks for (or none its
                // nodeSelector selects), as the scheduler reports it.
                let mut pod = pod;
                if all_ready {
                    ready_pods -= 1;
                }
                pod["status"] = json!({"phase": "Pending", "conditions": [
                    {"type": "PodScheduled", "status": "False", "reason": "Unschedulable",
                     "message": "0/3 nodes are available: 3 Insufficient nvidia.com/gpu.",
                     "lastTransitionTime": SINCE}]});
                pod
            }
        };
        put(state, pod);
    }
    let available = ready_pods == replicas;
    let generation = workload
        .pointer("/metadata/generation")
        .cloned()
        .unwrap_or(json!(1));
    let status = match kind {
        "Deployment" => json!({
            "observedGeneration": generation, "replicas": replicas, "updatedReplicas": replicas,
            "readyReplicas": ready_pods, "availableReplicas": ready_pods,
            "unavailableReplicas": replicas - ready_pods,
            "conditions": [
                {"type": "Available", "status": if available { "True" } else { "False" },
                 "reason": if available { "MinimumReplicasAvailable" } else { "MinimumReplicasUnavailable" },
                 "message": if available { "Deployment has minimum availability." } else { "Deployment does not have minimum availability." },
                 "lastTransitionTime": SINCE, "lastUpdateTime": SINCE},
                {"type": "Progressing", "status": "True", "reason": "NewReplicaSetAvailable",
                 "message": format!("ReplicaSet \"{name}-5d9c7b8f4\" has successfully progressed."),
                 "lastTransitionTime": SINCE, "lastUpdateTime": SINCE}]
        }),
        "StatefulSet" => json!({
            "observedGeneration": generation, "replicas": replicas, "readyReplicas": ready_pods,
            "currentReplicas": replicas, "updatedReplicas": replicas, "availableReplicas": ready_pods
        }),
        _ => json!({
            "observedGeneration": generation, "desiredNumberScheduled": 1, "currentNumberScheduled": 1,
            "numberReady": ready_pods, "updatedNumberScheduled": 1, "numberAvailable": ready_pods
        }),
    };
    if let Ok(resource) = state.resource_for("apps/v1", kind) {
        if workload.get("status") != Some(&status) {
            let _ = state.set_status(&resource, &ns, &name, status);
        }
    }
}

fn endpoint_slices(state: &mut State, behaviour: &Behaviour) {
    let pods = all(state, "v1", "Pod");
    for service in all(state, "v1", "Service") {
        let ns = str_at(&service, "/metadata/namespace").to_string();
        let name = str_at(&service, "/metadata/name").to_string();
        let Some(selector) = service.pointer("/spec/selector").cloned() else {
            continue;
        };
        let silenced = behaviour
            .services_without_endpoints
            .contains(&format!("{ns}/{name}"));
        let endpoints: Vec<Value> = pods
            .iter()
            .filter(|p| str_at(p, "/metadata/namespace") == ns)
            .filter(|p| matches_selector(p.pointer("/metadata/labels").unwrap_or(&Value::Null), &selector))
            .map(|p| {
                let ready = !silenced
                    && p.pointer("/status/conditions")
                        .and_then(Value::as_array)
                        .into_iter()
                        .flatten()
                        .any(|c| str_at(c, "/type") == "Ready" && str_at(c, "/status") == "True");
                json!({"addresses": [str_at(p, "/status/podIP")],
                       "conditions": {"ready": ready, "serving": ready, "terminating": false},
                       "nodeName": str_at(p, "/spec/nodeName"),
                       "targetRef": {"kind": "Pod", "namespace": ns, "name": str_at(p, "/metadata/name")}})
            })
            .collect();
        let ports: Vec<Value> = service
            .pointer("/spec/ports")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .map(|p| json!({"name": p.get("name").cloned().unwrap_or(json!("")), "port": p.get("targetPort").or(p.get("port")).cloned().unwrap_or(json!(443)), "protocol": "TCP"}))
            .collect();
        put(
            state,
            json!({
                "apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
                "metadata": {"name": format!("{name}-sim"), "namespace": ns,
                             "labels": {"kubernetes.io/service-name": name,
                                        "endpointslice.kubernetes.io/managed-by": "endpointslice-controller.k8s.io"},
                             "ownerReferences": [{"apiVersion": "v1", "kind": "Service", "name": name,
                                                  "uid": str_at(&service, "/metadata/uid"), "controller": true}]},
                "addressType": "IPv4", "endpoints": endpoints, "ports": ports
            }),
        );
    }
}

fn condition(kind: &str, ok: bool, reason: &str, message: &str) -> Value {
    let mut c = json!({"type": kind, "status": if ok { "True" } else { "False" }, "lastTransitionTime": SINCE});
    if !ok {
        c["reason"] = json!(reason);
        c["message"] = json!(message);
    }
    c
}

/// Whether the InferenceService asks for a GPU.
pub fn isvc_wants_gpu(isvc: &Value) -> bool {
    isvc.pointer("/spec/predictor/model/resources/limits/nvidia.com~1gpu")
        .is_some()
        || isvc
            .pointer("/spec/predictor/model/resources/requests/nvidia.com~1gpu")
            .is_some()
}

fn inference_services(state: &mut State, behaviour: &Behaviour) {
    let deployments = all(state, "apps/v1", "Deployment");
    for isvc in all(state, "serving.kserve.io/v1beta1", "InferenceService") {
        let ns = str_at(&isvc, "/metadata/namespace").to_string();
        let name = str_at(&isvc, "/metadata/name").to_string();
        let predictor = format!("{name}-predictor");
        let mut labels = isvc
            .pointer("/metadata/labels")
            .cloned()
            .unwrap_or(json!({}));
        labels["serving.kserve.io/inferenceservice"] = json!(name);
        labels["component"] = json!("predictor");
        labels["app.kubernetes.io/name"] = json!(predictor);
        let resources = isvc
            .pointer("/spec/predictor/model/resources")
            .cloned()
            .unwrap_or(json!({}));
        put(
            state,
            json!({
                "apiVersion": "apps/v1", "kind": "Deployment",
                "metadata": {"name": predictor, "namespace": ns, "labels": labels.clone(),
                             "ownerReferences": [{"apiVersion": "serving.kserve.io/v1beta1", "kind": "InferenceService",
                                                  "name": name, "uid": str_at(&isvc, "/metadata/uid"), "controller": true}]},
                "spec": {"replicas": 1, "selector": {"matchLabels": {"app.kubernetes.io/name": predictor}},
                         "template": {"metadata": {"labels": labels},
                                      "spec": {"nodeSelector": isvc.pointer("/spec/predictor/nodeSelector").cloned().unwrap_or(json!({})),
                                           "tolerations": isvc.pointer("/spec/predictor/tolerations").cloned().unwrap_or(json!([])),
                                           "containers": [{"name": "kserve-container",
                                                               "image": "kserve/sklearnserver:v0.20.0",
                                                               "resources": resources}]}}}
            }),
        );
        let predictor_ready = deployments
            .iter()
            .find(|d| {
                str_at(d, "/metadata/namespace") == ns && str_at(d, "/metadata/name") == predictor
            })
            .is_some_and(|d| {
                d.pointer("/status/readyReplicas")
                    .and_then(Value::as_i64)
                    .unwrap_or(0)
                    >= 1
            });
        let planted = behaviour.isvc_not_ready.contains(&format!("{ns}/{name}"))
            || (behaviour.only_platform_isvcs_ready
                && !behaviour.initial_isvcs.contains(&format!("{ns}/{name}")));
        // With disableIstioVirtualHost KServe publishes the predictor's Knative route as the
        // InferenceService URL: http://<name>-predictor.<namespace>.<domain>.
        let url = format!("http://{predictor}.{ns}.{DOMAIN}");
        let status = if planted {
            json!({"observedGeneration": isvc.pointer("/metadata/generation").cloned().unwrap_or(json!(1)),
                   "conditions": [
                       condition("IngressReady", false, "IngressNotConfigured", "Ingress has not been configured by the Kourier controller: no route for host"),
                       condition("PredictorReady", predictor_ready, "RevisionMissing", "Revision not ready"),
                       condition("Ready", false, "IngressNotConfigured", "Ingress has not been configured by the Kourier controller: no route for host")]})
        } else if !predictor_ready {
            json!({"observedGeneration": isvc.pointer("/metadata/generation").cloned().unwrap_or(json!(1)),
                   "conditions": [
                       condition("PredictorReady", false, "RevisionMissing", "Configuration \"predictor\" is waiting for a Revision to become ready."),
                       condition("Ready", false, "RevisionMissing", "Configuration \"predictor\" is waiting for a Revision to become ready.")]})
        } else {
            json!({"observedGeneration": isvc.pointer("/metadata/generation").cloned().unwrap_or(json!(1)),
                   "url": url,
                   "address": {"url": format!("http://{predictor}.{ns}.svc.cluster.local")},
                   "components": {"predictor": {"url": format!("http://{predictor}.{ns}.{DOMAIN}"),
                                                "latestReadyRevision": format!("{predictor}-00001"),
                                                "latestCreatedRevision": format!("{predictor}-00001"),
                                                "traffic": [{"revisionName": format!("{predictor}-00001"), "percent": 100, "latestRevision": true}]}},
                   "modelStatus": {"states": {"activeModelState": "Loaded", "targetModelState": "Loaded"},
                                   "transitionStatus": "UpToDate"},
                   "conditions": [
                       condition("IngressReady", true, "", ""),
                       condition("PredictorReady", true, "", ""),
                       condition("Ready", true, "", "")]})
        };
        if isvc.get("status") != Some(&status) {
            if let Ok(resource) =
                state.resource_for("serving.kserve.io/v1beta1", "InferenceService")
            {
                let _ = state.set_status(&resource, &ns, &name, status);
            }
        }
    }
}

fn applications(state: &mut State, behaviour: &Behaviour) {
    let isvcs = all(state, "serving.kserve.io/v1beta1", "InferenceService");
    for app in all(state, "argoproj.io/v1alpha1", "Application") {
        let name = str_at(&app, "/metadata/name").to_string();
        let ns = str_at(&app, "/metadata/namespace").to_string();
        let model_health = name.strip_prefix("model-").map(|model| {
            let ready = isvcs.iter().any(|i| {
                str_at(i, "/metadata/name") == model
                    && i.pointer("/status/conditions")
                        .and_then(Value::as_array)
                        .into_iter()
                        .flatten()
                        .any(|c| str_at(c, "/type") == "Ready" && str_at(c, "/status") == "True")
            });
            if ready {
                "Healthy"
            } else {
                "Progressing"
            }
        });
        let failure = behaviour.sync_failures.get(&name);
        let (sync, health, error) = match (behaviour.application_overrides.get(&name), failure) {
            (Some(o), _) => (o.sync.clone(), o.health.clone(), o.condition.clone()),
            (None, Some(message)) => (
                "OutOfSync".to_string(),
                "Missing".to_string(),
                Some((
                    "SyncError".to_string(),
                    format!("Failed sync attempt: one or more objects failed to apply, reason: {message}"),
                )),
            ),
            (None, None) => (
                "Synced".to_string(),
                model_health.unwrap_or("Healthy").to_string(),
                None,
            ),
        };
        let revision = "4b825dc642cb6eb9a060e54bf8d69288fbee4904";
        let mut status = json!({
            "sync": {"status": sync, "revision": revision,
                     "comparedTo": {"source": app.pointer("/spec/source").cloned().unwrap_or(json!({})),
                                    "destination": app.pointer("/spec/destination").cloned().unwrap_or(json!({}))}},
            "health": {"status": health, "lastTransitionTime": SINCE},
            "reconciledAt": SINCE,
            "resourceHealthSource": "appTree",
            "sourceType": "Directory",
            "operationState": {"phase": "Succeeded", "message": "successfully synced (all tasks run)",
                               "startedAt": SINCE, "finishedAt": SINCE,
                               "operation": {"sync": {"revision": revision}},
                               "syncResult": {"revision": revision}}
        });
        if let Some(message) = failure {
            status["operationState"]["phase"] = json!("Failed");
            status["operationState"]["message"] = json!(format!(
                "one or more objects failed to apply, reason: {message}"
            ));
        }
        if let Some((kind, message)) = error {
            status["conditions"] =
                json!([{"type": kind, "message": message, "lastTransitionTime": SINCE}]);
        }
        if app.get("status") != Some(&status) {
            if let Ok(resource) = state.resource_for("argoproj.io/v1alpha1", "Application") {
                let _ = state.set_status(&resource, &ns, &name, status);
            }
        }
    }
}
