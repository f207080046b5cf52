//! Scripted controller behaviour: what the cluster's own controllers would do, derived from the
//! stored objects on every change.
//!
//! - The scheduler and kubelet: Deployments, StatefulSets and DaemonSets get pods, placed on a
//!   node whose labels their nodeSelector selects, whose taints they tolerate and (for GPU
//!   requests) that advertises `nvidia.com/gpu`; a pod whose required Secret or ConfigMap volume
//!   does not exist stays `ContainerCreating` with a `FailedMount` event; statuses follow
//!   (k8s-openapi `DeploymentStatus`/`StatefulSetStatus`/`DaemonSetStatus`/`PodStatus`).
//! - The endpoint-slice controller, k3s's servicelb (LoadBalancer ingress), the HPA controller
//!   (conditions only: no metrics, no scaling).
//! - KServe in Knative mode (kserve pkg/controller/v1beta1/inferenceservice): once the KServe
//!   controller runs, an InferenceService picks its runtime by model format, Knative's
//!   podspec feature flags gate nodeSelector/tolerations/runtimeClassName (config-features,
//!   "must not set the field(s)"), the predictor runs as the revision Deployment
//!   `<isvc>-predictor-00001-deployment`, and it becomes Ready with URL
//!   `http://<isvc>-predictor.<ns>.<config-domain>` once its pods are ready and Knative and the
//!   Kourier ingress (config-network `ingress-class`) route it. Status shapes: kserve
//!   pkg/apis/serving/v1beta1/inference_service_status.go.
//! - RBAC aggregation (`rbac`), cert-manager (`certmanager`) and Kyverno (`kyverno`).
//!
//! `Behaviour` holds the planted deviations (see `crate::faults`).

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use serde_json::{json, Value};

use crate::store::{now_rfc3339, State, WriteOptions};

/// Planted deviations from healthy behaviour (see `crate::faults`).
#[derive(Debug, Clone, Default)]
pub struct Behaviour {
    /// (namespace, workload) → how many of each pod's containers are not ready.
    pub unready_containers: BTreeMap<(String, String), usize>,
    /// InferenceServices (namespace/name) KServe never makes Ready.
    pub isvc_not_ready: BTreeSet<String>,
    /// Only InferenceServices synced from the GitOps source become Ready (ones created
    /// directly, e.g. by a check, never do).
    pub only_gitops_isvcs_ready: bool,
    /// Services (namespace/name) whose EndpointSlice lists no ready endpoint.
    pub services_without_endpoints: BTreeSet<String>,
    /// Policies Kyverno's webhook lets through although they report ready (fail-open).
    pub fail_open_policies: BTreeSet<String>,
    /// Kyverno's InferenceService label policy also requires this label, which the scaffold
    /// does not carry.
    pub extra_isvc_label: Option<String>,
    /// Webhook configurations Kyverno never registers.
    pub kyverno_unregistered: Vec<String>,
    /// The ApplicationSet controller generates nothing.
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
}

fn str_at<'a>(value: &'a Value, pointer: &str) -> &'a str {
    value.pointer(pointer).and_then(Value::as_str).unwrap_or("")
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

/// Whether Deployment `namespace/name` has as many ready replicas as it wants (and wants some):
/// what upstream controllers wait for before they act.
pub(crate) fn deployment_ready(state: &State, namespace: &str, name: &str) -> bool {
    state
        .resource_for("apps/v1", "Deployment")
        .ok()
        .and_then(|r| state.get(&r, namespace, name).cloned())
        .is_some_and(|d| {
            let wanted = d
                .pointer("/spec/replicas")
                .and_then(Value::as_i64)
                .unwrap_or(1);
            wanted > 0
                && d.pointer("/status/readyReplicas")
                    .and_then(Value::as_i64)
                    .unwrap_or(0)
                    >= wanted
        })
}

/// Runs controller passes until nothing changes (at most a few passes).
pub fn reconcile(state: &mut State, behaviour: &Behaviour) {
    for _ in 0..6 {
        let before = state.resource_version();
        crate::rbac::aggregate(state);
        crate::certmanager::reconcile(state);
        crate::kyverno::reconcile(state, &behaviour.kyverno_unregistered);
        inference_services(state, behaviour);
        workloads(state, behaviour);
        endpoint_slices(state, behaviour);
        load_balancers(state);
        autoscalers(state);
        if state.resource_version() == before {
            break;
        }
    }
}

fn tolerates(tolerations: &[Value], taint: &Value) -> bool {
    tolerations.iter().any(|t| {
        let key_ok = match str_at(t, "/operator") {
            "Exists" => str_at(t, "/key").is_empty() || str_at(t, "/key") == str_at(taint, "/key"),
            _ => {
                str_at(t, "/key") == str_at(taint, "/key")
                    && str_at(t, "/value") == str_at(taint, "/value")
            }
        };
        key_ok
            && (str_at(t, "/effect").is_empty() || str_at(t, "/effect") == str_at(taint, "/effect"))
    })
}

fn wants_gpu(pod_spec: &Value) -> bool {
    pod_spec
        .pointer("/containers")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .any(|c| {
            c.pointer("/resources/limits/nvidia.com~1gpu").is_some()
                || c.pointer("/resources/requests/nvidia.com~1gpu").is_some()
        })
}

fn advertises_gpu(node: &Value) -> bool {
    let gpus = str_at(node, "/status/allocatable/nvidia.com~1gpu");
    let gpus = if gpus.is_empty() {
        str_at(node, "/status/capacity/nvidia.com~1gpu")
    } else {
        gpus
    };
    gpus.parse::<u32>().unwrap_or(0) > 0
}

/// The nodes a pod may run on (nodeSelector, taints, GPU capacity), or the scheduler's reason.
fn eligible_nodes(nodes: &[Value], pod_spec: &Value) -> Result<Vec<Value>, String> {
    let tolerations: Vec<Value> = pod_spec
        .get("tolerations")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let gpu = wants_gpu(pod_spec);
    let mut selector_misses = 0;
    let mut taint_misses = 0;
    let mut gpu_misses = 0;
    let mut fits = Vec::new();
    for node in nodes {
        let labels = node.pointer("/metadata/labels");
        let selected = pod_spec
            .get("nodeSelector")
            .and_then(Value::as_object)
            .is_none_or(|s| {
                s.iter()
                    .all(|(k, v)| labels.and_then(|l| l.get(k)) == Some(v))
            });
        if !selected {
            selector_misses += 1;
            continue;
        }
        let untolerated = node
            .pointer("/spec/taints")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .any(|t| {
                matches!(str_at(t, "/effect"), "NoSchedule" | "NoExecute")
                    && !tolerates(&tolerations, t)
            });
        if untolerated {
            taint_misses += 1;
            continue;
        }
        if gpu && !advertises_gpu(node) {
            gpu_misses += 1;
            continue;
        }
        fits.push(node.clone());
    }
    if fits.is_empty() {
        let mut reasons = Vec::new();
        if gpu_misses > 0 {
            reasons.push(format!("{gpu_misses} Insufficient nvidia.com/gpu"));
        }
        if selector_misses > 0 {
            reasons.push(format!(
                "{selector_misses} node(s) didn't match Pod's node affinity/selector"
            ));
        }
        if taint_misses > 0 {
            reasons.push(format!("{taint_misses} node(s) had untolerated taint(s)"));
        }
        return Err(format!(
            "0/{} nodes are available: {}.",
            nodes.len(),
            reasons.join(", ")
        ));
    }
    Ok(fits)
}

/// The volumes a pod cannot mount because their Secret or ConfigMap does not exist.
fn missing_volume(state: &State, namespace: &str, pod_spec: &Value) -> Option<String> {
    for volume in pod_spec
        .get("volumes")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        for (field, kind, name_field) in [
            ("secret", "Secret", "secretName"),
            ("configMap", "ConfigMap", "name"),
        ] {
            let Some(source) = volume.get(field) else {
                continue;
            };
            if source.get("optional").and_then(Value::as_bool) == Some(true) {
                continue;
            }
            let name = str_at(source, &format!("/{name_field}"));
            let exists = state
                .resource_for("v1", kind)
                .ok()
                .is_some_and(|r| state.get(&r, namespace, name).is_some());
            if !exists {
                return Some(format!(
                    "MountVolume.SetUp failed for volume \"{}\" : {} \"{name}\" not found",
                    str_at(volume, "/name"),
                    kind.to_lowercase()
                ));
            }
        }
    }
    None
}

fn event(
    state: &mut State,
    namespace: &str,
    involved: &Value,
    reason: &str,
    message: &str,
    kind: &str,
) {
    let name = format!(
        "{}.{}",
        str_at(involved, "/metadata/name"),
        reason.to_lowercase()
    );
    let Ok(events) = state.resource_for("v1", "Event") else {
        return;
    };
    if state
        .get(&events, namespace, &name)
        .is_some_and(|e| str_at(e, "/message") == message)
    {
        return;
    }
    put(
        state,
        json!({"apiVersion": "v1", "kind": "Event",
        "metadata": {"name": name, "namespace": namespace},
        "involvedObject": {"kind": kind, "namespace": namespace, "name": str_at(involved, "/metadata/name"),
                           "uid": str_at(involved, "/metadata/uid")},
        "reason": reason, "message": message, "type": "Warning", "count": 1,
        "firstTimestamp": now_rfc3339(), "lastTimestamp": now_rfc3339(),
        "source": {"component": if reason == "FailedScheduling" { "default-scheduler" } else { "kubelet" }}}),
    );
}

fn workloads(state: &mut State, behaviour: &Behaviour) {
    let mut pods: BTreeMap<String, Vec<Value>> = BTreeMap::new();
    for pod in all(state, "v1", "Pod") {
        let owner = pod
            .pointer("/metadata/ownerReferences/0/uid")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string();
        pods.entry(owner).or_default().push(pod);
    }
    let nodes = all(state, "v1", "Node");
    for kind in ["Deployment", "StatefulSet", "DaemonSet"] {
        for workload in all(state, "apps/v1", kind) {
            let owned = pods
                .get(str_at(&workload, "/metadata/uid"))
                .map(Vec::as_slice)
                .unwrap_or(&[]);
            reconcile_workload(state, behaviour, kind, &workload, owned, &nodes);
        }
    }
}

const SUFFIXES: [&str; 6] = ["x7k2p", "m4q9z", "b2n8w", "t6r3v", "h5j7d", "q8w2c"];

/// The pod a workload runs as `pod_name`, on `node` (or unschedulable with `unschedulable`).
#[allow(clippy::too_many_arguments)]
fn pod_for(
    state: &State,
    workload: &Value,
    kind: &str,
    pod_name: &str,
    index: usize,
    node: Option<&str>,
    unready: usize,
    blocked: Option<&str>,
    unschedulable: Option<&str>,
) -> (Value, bool) {
    let ns = str_at(workload, "/metadata/namespace");
    let name = str_at(workload, "/metadata/name");
    let template = workload
        .pointer("/spec/template")
        .cloned()
        .unwrap_or(json!({}));
    let pod_spec = template.get("spec").cloned().unwrap_or(json!({}));
    let containers: Vec<&Value> = pod_spec
        .get("containers")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .collect();
    let unready = unready.min(containers.len());
    let mut labels = template
        .pointer("/metadata/labels")
        .cloned()
        .unwrap_or(json!({}));
    if kind == "StatefulSet" {
        labels["statefulset.kubernetes.io/pod-name"] = json!(pod_name);
    }
    let started = str_at(workload, "/metadata/creationTimestamp").to_string();
    let since = if started.is_empty() {
        now_rfc3339()
    } else {
        started
    };
    let mut pod = json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": pod_name, "namespace": ns, "labels": labels,
                     "annotations": template.pointer("/metadata/annotations").cloned().unwrap_or(json!({})),
                     "ownerReferences": [{"apiVersion": "apps/v1", "kind": kind, "name": name,
                                          "uid": str_at(workload, "/metadata/uid"), "controller": true}]},
        "spec": pod_spec.clone(),
    });
    if let Some(reason) = unschedulable {
        pod["status"] = json!({"phase": "Pending", "conditions": [
            {"type": "PodScheduled", "status": "False", "reason": "Unschedulable", "message": reason,
             "lastTransitionTime": since}]});
        return (pod, false);
    }
    let node = node.unwrap_or("");
    pod["spec"]["nodeName"] = json!(node);
    if blocked.is_some() {
        let statuses: Vec<Value> = containers
            .iter()
            .map(|c| json!({"name": str_at(c, "/name"), "ready": false, "started": false, "restartCount": 0,
                            "image": str_at(c, "/image"),
                            "state": {"waiting": {"reason": "ContainerCreating"}}}))
            .collect();
        pod["status"] = json!({"phase": "Pending", "hostIP": "172.18.0.2", "startTime": since,
            "conditions": [
                {"type": "PodScheduled", "status": "True", "lastTransitionTime": since},
                {"type": "Initialized", "status": "True", "lastTransitionTime": since},
                {"type": "ContainersReady", "status": "False", "reason": "ContainersNotReady", "lastTransitionTime": since},
                {"type": "Ready", "status": "False", "reason": "ContainersNotReady", "lastTransitionTime": since}],
            "containerStatuses": statuses});
        return (pod, false);
    }
    let statuses: Vec<Value> = containers
        .iter()
        .enumerate()
        .map(|(c, container)| {
            let ready = c < containers.len() - unready;
            json!({"name": str_at(container, "/name"), "ready": ready, "started": true, "restartCount": 0,
                   "image": str_at(container, "/image"),
                   "state": {"running": {"startedAt": since}}})
        })
        .collect();
    let all_ready = unready == 0;
    let ready = if all_ready { "True" } else { "False" };
    pod["status"] = json!({"phase": "Running",
        "podIP": format!("10.42.{}.{}", (index + 1) % 250, (ns.len() + name.len()) % 250),
        "hostIP": "172.18.0.2", "startTime": since,
        "conditions": [
            {"type": "PodScheduled", "status": "True", "lastTransitionTime": since},
            {"type": "Initialized", "status": "True", "lastTransitionTime": since},
            {"type": "ContainersReady", "status": ready, "lastTransitionTime": since},
            {"type": "Ready", "status": ready, "lastTransitionTime": since}],
        "containerStatuses": statuses});
    let _ = state;
    (pod, all_ready)
}

/// Why KServe's controller cannot start with the live inferenceservice-config, if it cannot:
/// its config parser requires `kserveIngressGateway` and `ingressGateway` in the `ingress` key
/// (kserve pkg/apis/serving/v1beta1/configmap.go `NewIngressConfig`).
pub fn kserve_config_error(state: &State) -> Option<String> {
    let config = config_map(state, "kserve", "inferenceservice-config");
    let ingress = str_at(&config, "/data/ingress");
    if ingress.is_empty() {
        return Some("invalid ingress config - ingress config is missing".into());
    }
    let parsed: Value = match serde_json::from_str(ingress) {
        Ok(parsed) => parsed,
        Err(e) => return Some(format!("unable to parse ingress config json: {e}")),
    };
    for key in ["kserveIngressGateway", "ingressGateway"] {
        if str_at(&parsed, &format!("/{key}")).is_empty() {
            return Some(format!("invalid ingress config - {key} is required"));
        }
    }
    None
}

fn reconcile_workload(
    state: &mut State,
    behaviour: &Behaviour,
    kind: &str,
    workload: &Value,
    owned: &[Value],
    nodes: &[Value],
) {
    let ns = str_at(workload, "/metadata/namespace").to_string();
    let name = str_at(workload, "/metadata/name").to_string();
    let uid = str_at(workload, "/metadata/uid").to_string();
    let pod_spec = workload
        .pointer("/spec/template/spec")
        .cloned()
        .unwrap_or(json!({}));
    let mut unready = behaviour
        .unready_containers
        .get(&(ns.clone(), name.clone()))
        .copied()
        .unwrap_or(0);
    if kind == "Deployment" && ns == "kserve" && name == "kserve-controller-manager" {
        if let Some(error) = kserve_config_error(state) {
            // The manager exits at start-up: every container is reported not ready.
            unready = usize::MAX;
            event(
                state,
                &ns,
                workload,
                "BackOff",
                &format!("manager exited: {error}"),
                "Deployment",
            );
        }
    }
    let placement = if behaviour.gpu_on_wrong_node && wants_gpu(&pod_spec) {
        Ok(nodes
            .iter()
            .filter(|n| {
                n.pointer("/metadata/labels/node-role.kubernetes.io~1control-plane")
                    .is_some()
            })
            .cloned()
            .collect::<Vec<_>>())
    } else {
        eligible_nodes(nodes, &pod_spec)
    };
    // (pod name, node) for every pod the workload wants.
    let wanted: Vec<(String, Option<String>)> = match kind {
        "DaemonSet" => placement
            .as_ref()
            .map(|nodes| {
                nodes
                    .iter()
                    .enumerate()
                    .map(|(i, n)| {
                        (
                            format!("{name}-{}", SUFFIXES[i % SUFFIXES.len()]),
                            Some(str_at(n, "/metadata/name").to_string()),
                        )
                    })
                    .collect()
            })
            .unwrap_or_default(),
        _ => {
            let replicas = workload
                .pointer("/spec/replicas")
                .and_then(Value::as_i64)
                .unwrap_or(1)
                .max(0) as usize;
            (0..replicas)
                .map(|i| {
                    let pod_name = if kind == "StatefulSet" {
                        format!("{name}-{i}")
                    } else {
                        format!("{name}-5d9c7b8f4-{}", SUFFIXES[i % SUFFIXES.len()])
                    };
                    // Agents first, as the spread over a k3d cluster's nodes usually lands.
                    let node = placement.as_ref().ok().map(|nodes| {
                        let mut sorted: Vec<&Value> = nodes.iter().collect();
                        sorted.sort_by_key(|n| {
                            n.pointer("/metadata/labels/node-role.kubernetes.io~1control-plane")
                                .is_some()
                        });
                        str_at(sorted[i % sorted.len()], "/metadata/name").to_string()
                    });
                    (pod_name, node)
                })
                .collect()
        }
    };
    let _ = &uid;
    for pod in owned {
        let pod_name = str_at(pod, "/metadata/name");
        if !wanted.iter().any(|(w, _)| w == pod_name) {
            if let Ok(resource) = state.resource_for("v1", "Pod") {
                let _ = state.delete(&resource, &ns, pod_name, WriteOptions::INTERNAL);
            }
        }
    }
    let blocked = missing_volume(state, &ns, &pod_spec);
    let mut ready_pods = 0usize;
    for (i, (pod_name, node)) in wanted.iter().enumerate() {
        let unschedulable = placement.as_ref().err().map(String::as_str);
        let (pod, ready) = pod_for(
            state,
            workload,
            kind,
            pod_name,
            i,
            node.as_deref(),
            unready,
            blocked.as_deref(),
            unschedulable,
        );
        if ready {
            ready_pods += 1;
        }
        if let Some(reason) = unschedulable {
            event(state, &ns, &pod, "FailedScheduling", reason, "Pod");
        } else if let Some(reason) = &blocked {
            event(state, &ns, &pod, "FailedMount", reason, "Pod");
        }
        let live = owned
            .iter()
            .find(|p| str_at(p, "/metadata/name") == pod_name);
        let changed = live.is_none_or(|l| {
            l.get("status") != pod.get("status")
                || l.pointer("/metadata/labels") != pod.pointer("/metadata/labels")
                || l.get("spec") != pod.get("spec")
        });
        if changed {
            put(state, pod);
        }
    }
    let replicas = wanted.len();
    let generation = workload
        .pointer("/metadata/generation")
        .cloned()
        .unwrap_or(json!(1));
    let available = ready_pods == replicas;
    let status = match kind {
        "Deployment" => json!({
            "observedGeneration": generation, "replicas": replicas, "updatedReplicas": replicas,
            "readyReplicas": ready_pods, "availableReplicas": ready_pods,
            "unavailableReplicas": replicas - ready_pods,
            "conditions": [
                {"type": "Available", "status": if available { "True" } else { "False" },
                 "reason": if available { "MinimumReplicasAvailable" } else { "MinimumReplicasUnavailable" },
                 "message": if available { "Deployment has minimum availability." } else { "Deployment does not have minimum availability." }},
                {"type": "Progressing", "status": "True", "reason": "NewReplicaSetAvailable",
                 "message": format!("ReplicaSet \"{name}-5d9c7b8f4\" has successfully progressed.")}]
        }),
        "StatefulSet" => json!({
            "observedGeneration": generation, "replicas": replicas, "readyReplicas": ready_pods,
            "currentReplicas": replicas, "updatedReplicas": replicas, "availableReplicas": ready_pods
        }),
        _ => json!({
            "observedGeneration": generation, "desiredNumberScheduled": replicas,
            "currentNumberScheduled": replicas, "numberReady": ready_pods,
            "updatedNumberScheduled": replicas, "numberAvailable": ready_pods,
            "numberUnavailable": replicas - ready_pods, "numberMisscheduled": 0
        }),
    };
    let mut comparable = workload.get("status").cloned().unwrap_or(json!({}));
    let mut fresh = status.clone();
    for c in [&mut comparable, &mut fresh] {
        for cond in c
            .get_mut("conditions")
            .and_then(Value::as_array_mut)
            .into_iter()
            .flatten()
        {
            if let Some(map) = cond.as_object_mut() {
                map.remove("lastTransitionTime");
                map.remove("lastUpdateTime");
            }
        }
    }
    if comparable != fresh {
        if let Ok(resource) = state.resource_for("apps/v1", kind) {
            let _ = state.set_status(&resource, &ns, &name, status);
        }
    }
}

fn endpoint_slices(state: &mut State, behaviour: &Behaviour) {
    let pods = all(state, "v1", "Pod");
    for service in all(state, "v1", "Service") {
        let ns = str_at(&service, "/metadata/namespace").to_string();
        let name = str_at(&service, "/metadata/name").to_string();
        let Some(selector) = service
            .pointer("/spec/selector")
            .filter(|s| s.as_object().is_some_and(|m| !m.is_empty()))
            .cloned()
        else {
            continue;
        };
        let silenced = behaviour
            .services_without_endpoints
            .contains(&format!("{ns}/{name}"));
        let endpoints: Vec<Value> = pods
            .iter()
            .filter(|p| str_at(p, "/metadata/namespace") == ns)
            .filter(|p| str_at(p, "/status/phase") == "Running")
            .filter(|p| {
                selector.as_object().is_some_and(|s| {
                    s.iter().all(|(k, v)| p.pointer("/metadata/labels").and_then(|l| l.get(k)) == Some(v))
                })
            })
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
            .map(|p| json!({"name": p.get("name").cloned().unwrap_or(json!("")),
                            "port": p.get("targetPort").filter(|t| t.is_number()).or(p.get("port")).cloned().unwrap_or(json!(443)),
                            "protocol": p.get("protocol").cloned().unwrap_or(json!("TCP"))}))
            .collect();
        let slice = json!({
            "apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
            "metadata": {"name": format!("{name}-sim"), "namespace": ns,
                         "labels": {"kubernetes.io/service-name": name,
                                    "endpointslice.kubernetes.io/managed-by": "endpointslice-controller.k8s.io"},
                         "ownerReferences": [{"apiVersion": "v1", "kind": "Service", "name": name,
                                              "uid": str_at(&service, "/metadata/uid"), "controller": true}]},
            "addressType": "IPv4", "endpoints": endpoints, "ports": ports
        });
        let live = state
            .resource_for("discovery.k8s.io/v1", "EndpointSlice")
            .ok()
            .and_then(|r| state.get(&r, &ns, &format!("{name}-sim")).cloned());
        if live.is_none_or(|l| {
            l.get("endpoints") != slice.get("endpoints") || l.get("ports") != slice.get("ports")
        }) {
            put(state, slice);
        }
    }
}

/// k3s servicelb (klipper): a LoadBalancer Service gets the nodes' addresses as ingress.
fn load_balancers(state: &mut State) {
    for service in all(state, "v1", "Service") {
        if str_at(&service, "/spec/type") != "LoadBalancer"
            || service.pointer("/status/loadBalancer/ingress").is_some()
        {
            continue;
        }
        if let Ok(resource) = state.resource_for("v1", "Service") {
            let _ = state.set_status(
                &resource,
                str_at(&service, "/metadata/namespace"),
                str_at(&service, "/metadata/name"),
                json!({"loadBalancer": {"ingress": [{"ip": "172.18.0.3", "ipMode": "VIP"}]}}),
            );
        }
    }
}

/// The HPA controller's conditions once it can read its target (no metrics, no scaling).
fn autoscalers(state: &mut State) {
    for hpa in all(state, "autoscaling/v2", "HorizontalPodAutoscaler") {
        if hpa.pointer("/status/conditions").is_some() {
            continue;
        }
        let min = hpa
            .pointer("/spec/minReplicas")
            .and_then(Value::as_i64)
            .unwrap_or(1);
        if let Ok(resource) = state.resource_for("autoscaling/v2", "HorizontalPodAutoscaler") {
            let _ = state.set_status(
                &resource,
                str_at(&hpa, "/metadata/namespace"),
                str_at(&hpa, "/metadata/name"),
                json!({"currentReplicas": min, "desiredReplicas": min, "conditions": [
                    {"type": "AbleToScale", "status": "True", "reason": "ReadyForNewScale",
                     "message": "recommended size matches current size"},
                    {"type": "ScalingActive", "status": "True", "reason": "ValidMetricFound",
                     "message": "the HPA was able to successfully calculate a replica count"}]}),
            );
        }
    }
}

fn condition(kind: &str, ok: bool, reason: &str, message: &str) -> Value {
    let mut c = json!({"type": kind, "status": if ok { "True" } else { "False" }, "lastTransitionTime": now_rfc3339()});
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

fn config_map(state: &State, namespace: &str, name: &str) -> Value {
    state
        .resource_for("v1", "ConfigMap")
        .ok()
        .and_then(|r| state.get(&r, namespace, name).cloned())
        .unwrap_or(Value::Null)
}

/// The (Cluster)ServingRuntime KServe picks for a predictor: the named runtime, else one that
/// auto-selects the model format.
fn runtime_for(state: &State, isvc: &Value) -> Option<Value> {
    let format = str_at(isvc, "/spec/predictor/model/modelFormat/name");
    let wanted = str_at(isvc, "/spec/predictor/model/runtime");
    let ns = str_at(isvc, "/metadata/namespace");
    let mut runtimes: Vec<Value> = all(state, "serving.kserve.io/v1alpha1", "ServingRuntime")
        .into_iter()
        .filter(|r| str_at(r, "/metadata/namespace") == ns)
        .collect();
    runtimes.extend(all(
        state,
        "serving.kserve.io/v1alpha1",
        "ClusterServingRuntime",
    ));
    runtimes.into_iter().find(|r| {
        let supports = r
            .pointer("/spec/supportedModelFormats")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .any(|f| {
                str_at(f, "/name") == format
                    && (!wanted.is_empty()
                        || f.get("autoSelect").and_then(Value::as_bool) == Some(true))
            });
        supports && (wanted.is_empty() || str_at(r, "/metadata/name") == wanted)
    })
}

/// Knative's validation of the revision's pod spec against config-features.
fn knative_rejects(state: &State, predictor: &Value) -> Option<String> {
    let features = config_map(state, "knative-serving", "config-features");
    let mut fields = Vec::new();
    for (field, flag) in [
        ("nodeSelector", "kubernetes.podspec-nodeselector"),
        ("tolerations", "kubernetes.podspec-tolerations"),
        ("runtimeClassName", "kubernetes.podspec-runtimeclassname"),
        ("affinity", "kubernetes.podspec-affinity"),
    ] {
        let set = predictor
            .get(field)
            .is_some_and(|v| !v.is_null() && v != &json!({}) && v != &json!([]));
        if set && str_at(&features, &format!("/data/{}", flag.replace('/', "~1"))) != "enabled" {
            fields.push(format!("spec.template.spec.{field}"));
        }
    }
    (!fields.is_empty()).then(|| format!("must not set the field(s): {}", fields.join(", ")))
}

fn inference_services(state: &mut State, behaviour: &Behaviour) {
    if !deployment_ready(state, "kserve", "kserve-controller-manager") {
        return;
    }
    let domain = config_map(state, "knative-serving", "config-domain")
        .get("data")
        .and_then(Value::as_object)
        .and_then(|d| d.keys().next().cloned())
        .unwrap_or_else(|| "svc.cluster.local".to_string());
    let ingress_class = str_at(
        &config_map(state, "knative-serving", "config-network"),
        "/data/ingress-class",
    )
    .to_string();
    let knative_ready = deployment_ready(state, "knative-serving", "controller")
        && deployment_ready(state, "knative-serving", "net-kourier-controller")
        && deployment_ready(state, "kourier-system", "3scale-kourier-gateway");
    let kourier = ingress_class == "kourier.ingress.networking.knative.dev";
    let deployments = all(state, "apps/v1", "Deployment");
    for isvc in all(state, "serving.kserve.io/v1beta1", "InferenceService") {
        let ns = str_at(&isvc, "/metadata/namespace").to_string();
        let name = str_at(&isvc, "/metadata/name").to_string();
        let revision = format!("{name}-predictor-00001");
        let deployment_name = format!("{revision}-deployment");
        let generation = isvc
            .pointer("/metadata/generation")
            .cloned()
            .unwrap_or(json!(1));
        let predictor = isvc
            .pointer("/spec/predictor")
            .cloned()
            .unwrap_or(json!({}));
        let not_ready = |reason: &str, message: &str| {
            json!({"observedGeneration": generation, "conditions": [
                condition("PredictorReady", false, reason, message),
                condition("Ready", false, reason, message)]})
        };
        let status = if let Some(message) = knative_rejects(state, &predictor) {
            not_ready("RevisionFailed", &format!("admission webhook \"validation.webhook.serving.knative.dev\" denied the request: validation failed: {message}"))
        } else if let Some(runtime) = runtime_for(state, &isvc) {
            let mut labels = predictor
                .get("labels")
                .cloned()
                .filter(Value::is_object)
                .unwrap_or(json!({}));
            for (key, value) in isvc
                .pointer("/metadata/labels")
                .and_then(Value::as_object)
                .into_iter()
                .flatten()
            {
                labels[key] = value.clone();
            }
            labels["serving.kserve.io/inferenceservice"] = json!(name);
            labels["component"] = json!("predictor");
            labels["serving.knative.dev/revision"] = json!(revision);
            labels["app"] = json!(revision);
            let mut container = runtime
                .pointer("/spec/containers/0")
                .cloned()
                .unwrap_or(json!({}));
            container["name"] = json!("kserve-container");
            if let Some(resources) = isvc.pointer("/spec/predictor/model/resources") {
                container["resources"] = resources.clone();
            }
            if let Some(security) = isvc.pointer("/spec/predictor/model/securityContext") {
                container["securityContext"] = security.clone();
            }
            let mut spec = json!({"containers": [container, {"name": "queue-proxy",
                "image": str_at(&config_map(state, "knative-serving", "config-deployment"), "/data/queue-sidecar-image")}]});
            for field in [
                "nodeSelector",
                "tolerations",
                "runtimeClassName",
                "affinity",
            ] {
                if let Some(value) = predictor.get(field) {
                    spec[field] = value.clone();
                }
            }
            let desired = json!({
                "apiVersion": "apps/v1", "kind": "Deployment",
                "metadata": {"name": deployment_name, "namespace": ns, "labels": labels.clone(),
                             "ownerReferences": [{"apiVersion": "serving.kserve.io/v1beta1", "kind": "InferenceService",
                                                  "name": name, "uid": str_at(&isvc, "/metadata/uid"), "controller": true}]},
                "spec": {"replicas": 1, "selector": {"matchLabels": {"app": revision}},
                         "template": {"metadata": {"labels": labels}, "spec": spec}}});
            let live = deployments.iter().find(|d| {
                str_at(d, "/metadata/namespace") == ns
                    && str_at(d, "/metadata/name") == deployment_name
            });
            if live.is_none_or(|l| l.get("spec") != desired.get("spec")) {
                put(state, desired);
            }
            let predictor_ready = live.is_some_and(|d| {
                d.pointer("/status/readyReplicas")
                    .and_then(Value::as_i64)
                    .unwrap_or(0)
                    >= 1
            });
            let planted = behaviour.isvc_not_ready.contains(&format!("{ns}/{name}"))
                || (behaviour.only_gitops_isvcs_ready
                    && str_at(
                        &isvc,
                        "/metadata/annotations/argocd.argoproj.io~1tracking-id",
                    )
                    .is_empty());
            let url = format!("http://{name}-predictor.{ns}.{domain}");
            if !predictor_ready {
                not_ready(
                    "RevisionMissing",
                    "Configuration \"predictor\" is waiting for a Revision to become ready.",
                )
            } else if !knative_ready || !kourier || planted {
                let message = "Ingress has not been configured by the ingress controller: no route for the predictor's host";
                json!({"observedGeneration": generation, "conditions": [
                    condition("IngressReady", false, "IngressNotConfigured", message),
                    condition("PredictorConfigurationReady", true, "", ""),
                    condition("PredictorReady", true, "", ""),
                    condition("PredictorRouteReady", false, "IngressNotConfigured", message),
                    condition("Ready", false, "IngressNotConfigured", message)]})
            } else {
                json!({"observedGeneration": generation, "url": url,
                       "address": {"url": format!("http://{name}-predictor.{ns}.svc.cluster.local")},
                       "components": {"predictor": {"url": url,
                                                    "latestReadyRevision": revision,
                                                    "latestCreatedRevision": revision,
                                                    "traffic": [{"revisionName": revision, "percent": 100, "latestRevision": true}]}},
                       "modelStatus": {"states": {"activeModelState": "Loaded", "targetModelState": "Loaded"},
                                       "transitionStatus": "UpToDate"},
                       "conditions": [
                           condition("IngressReady", true, "", ""),
                           condition("PredictorConfigurationReady", true, "", ""),
                           condition("PredictorReady", true, "", ""),
                           condition("PredictorRouteReady", true, "", ""),
                           condition("Ready", true, "", "")]})
            }
        } else {
            let format = str_at(&isvc, "/spec/predictor/model/modelFormat/name");
            not_ready(
                "NoSupportingRuntime",
                &format!(
                    "No runtime found to support predictor with model type: {{{format} <nil>}}"
                ),
            )
        };
        let same = |a: &Value, b: &Value| {
            let strip = |v: &Value| {
                let mut v = v.clone();
                for c in v
                    .get_mut("conditions")
                    .and_then(Value::as_array_mut)
                    .into_iter()
                    .flatten()
                {
                    if let Some(m) = c.as_object_mut() {
                        m.remove("lastTransitionTime");
                    }
                }
                v
            };
            strip(a) == strip(b)
        };
        if !isvc.get("status").is_some_and(|s| same(s, &status)) {
            if let Ok(resource) =
                state.resource_for("serving.kserve.io/v1beta1", "InferenceService")
            {
                let _ = state.set_status(&resource, &ns, &name, status);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kserve_refuses_an_ingress_config_without_its_gateways() {
        let mut state = State::new();
        state.put(crate::preset::namespace("kserve")).unwrap();
        let config = |ingress: &str| {
            json!({"apiVersion": "v1", "kind": "ConfigMap",
                   "metadata": {"name": "inferenceservice-config", "namespace": "kserve"},
                   "data": {"ingress": ingress}})
        };
        state
            .put(config(
                r#"{"kserveIngressGateway": "kserve/g", "ingressGateway": "knative-serving/g"}"#,
            ))
            .unwrap();
        assert_eq!(kserve_config_error(&state), None);
        state
            .put(config(r#"{"kserveIngressGateway": "kserve/g"}"#))
            .unwrap();
        assert_eq!(
            kserve_config_error(&state).as_deref(),
            Some("invalid ingress config - ingressGateway is required")
        );
    }

    #[test]
    fn a_taint_needs_a_matching_toleration() {
        let taint = json!({"key": "nvidia.com/gpu", "value": "present", "effect": "NoSchedule"});
        assert!(tolerates(
            &[json!({"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"})],
            &taint
        ));
        assert!(tolerates(&[json!({"operator": "Exists"})], &taint));
        assert!(!tolerates(
            &[json!({"key": "other", "operator": "Exists"})],
            &taint
        ));
        assert!(!tolerates(&[], &taint));
    }
}
