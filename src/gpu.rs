//! GPU nodes: detecting a real GPU path (Docker's NVIDIA runtime) and, in `gpu: simulate`,
//! making one agent node look like a GPU node to the scheduler.
//!
//! Simulation follows Kubernetes' "Advertise Extended Resources for a Node" task
//! (kubernetes.io/docs/tasks/administer-cluster/extended-resource-node/): a JSON patch on the
//! node's **status** subresource adds `nvidia.com/gpu` to capacity (and allocatable, which the
//! kubelet would otherwise derive on its next status update). No device exists, so a "GPU" pod
//! admitted there proves scheduling, not CUDA. The node is also
//! labelled and tainted the way a real GPU node is, so the GPU InferenceService needs the same
//! nodeSelector and toleration in both modes.

use bollard::models::SystemInfo;
use bollard::Docker;
use k8s_openapi::api::core::v1::{Node, Taint};
use kube::api::{ListParams, Patch, PatchParams};
use kube::{Api, Client};
use serde_json::json;

use crate::scenario::GpuMode;

/// The extended resource name the NVIDIA device plugin registers.
pub const GPU_RESOURCE: &str = "nvidia.com/gpu";
/// `nvidia.com/gpu` in a JSON pointer (`/` is escaped as `~1`, RFC 6901).
const GPU_RESOURCE_POINTER: &str = "nvidia.com~1gpu";
/// How many simulated GPUs the agent advertises.
pub const SIMULATED_GPU_COUNT: u32 = 1;

/// The label the device plugin's Helm affinity accepts as a manual "this node has a GPU"
/// (NVIDIA/k8s-device-plugin deployments/helm/nvidia-device-plugin/values.yaml).
pub const GPU_NODE_LABEL: &str = "nvidia.com/gpu.present";
pub const GPU_NODE_LABEL_VALUE: &str = "true";
/// Marks a node whose GPU is an advertised number only, so reports can say so.
pub const SIMULATED_LABEL: &str = "neuroscale.dev/gpu-simulated";
pub const SIMULATED_LABEL_VALUE: &str = "true";
/// The taint GPU nodes carry so only GPU workloads land there; the device plugin DaemonSet
/// tolerates exactly this key (deployments/static/nvidia-device-plugin.yml).
pub const GPU_TAINT_KEY: &str = "nvidia.com/gpu";
pub const GPU_TAINT_EFFECT: &str = "NoSchedule";

/// k3s marks servers with this label; agents do not carry it.
const CONTROL_PLANE_LABEL: &str = "node-role.kubernetes.io/control-plane";

#[derive(Debug, thiserror::Error)]
pub enum GpuError {
    #[error("failed to {action}")]
    Kube {
        action: String,
        #[source]
        source: kube::Error,
    },
    #[error("no agent node to simulate a GPU on: {observed}; the k3d config needs at least one agent (`agents: 1`)")]
    NoAgent { observed: String },
    #[error("cannot ask Docker for its runtimes")]
    Docker(#[source] bollard::errors::Error),
}

/// The GPU path a run takes once `auto` is decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GpuPath {
    Off,
    Simulate,
    Real,
}

/// Resolves the scenario's mode: `auto` is real when Docker has the NVIDIA runtime, simulate
/// otherwise.
pub async fn resolve_mode(mode: GpuMode, docker: &Docker) -> Result<GpuPath, GpuError> {
    Ok(match mode {
        GpuMode::Off => GpuPath::Off,
        GpuMode::Simulate => GpuPath::Simulate,
        GpuMode::Real => GpuPath::Real,
        GpuMode::Auto => {
            if docker_has_nvidia_runtime(docker).await? {
                GpuPath::Real
            } else {
                GpuPath::Simulate
            }
        }
    })
}

/// Whether the Docker Engine has a runtime named `nvidia` (what the NVIDIA Container Toolkit's
/// `nvidia-ctk runtime configure` registers, and what k3d's `--gpus` needs).
pub async fn docker_has_nvidia_runtime(docker: &Docker) -> Result<bool, GpuError> {
    let info = docker.info().await.map_err(GpuError::Docker)?;
    Ok(runtimes_include_nvidia(&info))
}

/// The decision on an `/info` answer, apart from the call.
pub fn runtimes_include_nvidia(info: &SystemInfo) -> bool {
    info.runtimes
        .as_ref()
        .is_some_and(|runtimes| runtimes.keys().any(|name| name == "nvidia"))
}

/// Advertises `SIMULATED_GPU_COUNT` × `nvidia.com/gpu` on one agent node, labels and taints it,
/// and returns its name. Idempotent: a node already simulated is chosen again and re-patched.
pub async fn simulate_on_agent(client: Client) -> Result<String, GpuError> {
    let nodes: Api<Node> = Api::all(client);
    let listed = nodes
        .list(&ListParams::default())
        .await
        .map_err(|source| GpuError::Kube {
            action: "list nodes".into(),
            source,
        })?;
    let node = choose_agent(&listed.items)?;
    let name = node.metadata.name.clone().unwrap_or_default();

    let status_patch: json_patch::Patch =
        serde_json::from_value(capacity_patch(SIMULATED_GPU_COUNT))
            .expect("the capacity patch is a valid JSON patch");
    nodes
        .patch_status(
            &name,
            &PatchParams::default(),
            &Patch::Json::<()>(status_patch),
        )
        .await
        .map_err(|source| GpuError::Kube {
            action: format!("advertise {GPU_RESOURCE} in the status of node {name}"),
            source,
        })?;

    let taints = with_gpu_taint(
        node.spec
            .as_ref()
            .and_then(|s| s.taints.clone())
            .unwrap_or_default(),
    );
    let metadata_patch = json!({
        "metadata": {"labels": {
            GPU_NODE_LABEL: GPU_NODE_LABEL_VALUE,
            SIMULATED_LABEL: SIMULATED_LABEL_VALUE,
        }},
        // `spec.taints` has no merge key, so a merge patch replaces the list: send all of it.
        "spec": {"taints": taints},
    });
    nodes
        .patch(
            &name,
            &PatchParams::default(),
            &Patch::Merge(&metadata_patch),
        )
        .await
        .map_err(|source| GpuError::Kube {
            action: format!("label and taint node {name} as the GPU node"),
            source,
        })?;
    tracing::info!(node = %name, "simulated {SIMULATED_GPU_COUNT} {GPU_RESOURCE}");
    Ok(name)
}

/// Undoes `simulate_on_agent` on `node`: removes the advertised GPUs, the labels and the taint.
/// Refuses (returns `Ok(false)`) on a node without the simulated label, so a real GPU node's
/// device-plugin resource is never touched. `Ok(true)` when something was removed.
pub async fn clear_simulation(client: Client, node: &str) -> Result<bool, GpuError> {
    let nodes: Api<Node> = Api::all(client);
    let current = nodes.get(node).await.map_err(|source| GpuError::Kube {
        action: format!("read node {node}"),
        source,
    })?;
    let simulated = current
        .metadata
        .labels
        .as_ref()
        .and_then(|l| l.get(SIMULATED_LABEL))
        .is_some_and(|v| v == SIMULATED_LABEL_VALUE);
    if !simulated {
        return Ok(false);
    }
    let removal = capacity_removal_patch(&current);
    if !removal.as_array().is_some_and(Vec::is_empty) {
        let patch: json_patch::Patch =
            serde_json::from_value(removal).expect("the removal patch is a valid JSON patch");
        nodes
            .patch_status(node, &PatchParams::default(), &Patch::Json::<()>(patch))
            .await
            .map_err(|source| GpuError::Kube {
                action: format!("remove {GPU_RESOURCE} from the status of node {node}"),
                source,
            })?;
    }
    let taints = without_gpu_taint(
        current
            .spec
            .as_ref()
            .and_then(|s| s.taints.clone())
            .unwrap_or_default(),
    );
    // A null label value deletes the label in a merge patch (RFC 7386).
    let metadata_patch = json!({
        "metadata": {"labels": {GPU_NODE_LABEL: null, SIMULATED_LABEL: null}},
        "spec": {"taints": taints},
    });
    nodes
        .patch(
            node,
            &PatchParams::default(),
            &Patch::Merge(&metadata_patch),
        )
        .await
        .map_err(|source| GpuError::Kube {
            action: format!("remove the GPU label and taint from node {node}"),
            source,
        })?;
    Ok(true)
}

/// JSON-patch `remove` operations for the GPU entries the node's status has (a `remove` of an
/// absent path would fail the whole patch, so only present ones are listed).
pub fn capacity_removal_patch(node: &Node) -> serde_json::Value {
    let status = node.status.as_ref();
    let has = |map: Option<
        &std::collections::BTreeMap<
            String,
            k8s_openapi::apimachinery::pkg::api::resource::Quantity,
        >,
    >| { map.is_some_and(|m| m.contains_key(GPU_RESOURCE)) };
    let mut ops = Vec::new();
    if has(status.and_then(|s| s.capacity.as_ref())) {
        ops.push(
            json!({"op": "remove", "path": format!("/status/capacity/{GPU_RESOURCE_POINTER}")}),
        );
    }
    if has(status.and_then(|s| s.allocatable.as_ref())) {
        ops.push(
            json!({"op": "remove", "path": format!("/status/allocatable/{GPU_RESOURCE_POINTER}")}),
        );
    }
    serde_json::Value::Array(ops)
}

/// The node's taints without the GPU taint.
pub fn without_gpu_taint(mut taints: Vec<Taint>) -> Vec<Taint> {
    taints.retain(|t| !(t.key == GPU_TAINT_KEY && t.effect == GPU_TAINT_EFFECT));
    taints
}

/// The agent to use: one already labelled as the GPU node, else the first (by name) node that
/// is not a control-plane node.
pub fn choose_agent(nodes: &[Node]) -> Result<&Node, GpuError> {
    let label = |node: &Node, key: &str| {
        node.metadata
            .labels
            .as_ref()
            .and_then(|l| l.get(key))
            .cloned()
    };
    let mut agents: Vec<&Node> = nodes
        .iter()
        .filter(|n| label(n, CONTROL_PLANE_LABEL).is_none())
        .collect();
    agents.sort_by(|a, b| a.metadata.name.cmp(&b.metadata.name));
    // The node the k3d config designates (the label the GPU model's nodeSelector names) comes
    // first, then one already marked as a GPU node, then the first agent.
    let (designated_key, designated_value) = crate::gitops::scaffold::GPU_NODE_LABEL;
    for (key, value) in [
        (designated_key, designated_value),
        (GPU_NODE_LABEL, GPU_NODE_LABEL_VALUE),
    ] {
        if let Some(node) = agents
            .iter()
            .find(|n| label(n, key).as_deref() == Some(value))
        {
            return Ok(node);
        }
    }
    agents.first().copied().ok_or_else(|| GpuError::NoAgent {
        observed: if nodes.is_empty() {
            "the cluster lists no nodes".into()
        } else {
            format!(
                "all {} nodes are control-plane nodes ({})",
                nodes.len(),
                nodes
                    .iter()
                    .filter_map(|n| n.metadata.name.as_deref())
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        },
    })
}

/// The JSON patch for the status subresource. `add` on an existing key replaces it (RFC 6902
/// §4.1), which makes the patch idempotent.
pub fn capacity_patch(count: u32) -> serde_json::Value {
    let value = count.to_string();
    json!([
        {"op": "add", "path": format!("/status/capacity/{GPU_RESOURCE_POINTER}"), "value": value},
        {"op": "add", "path": format!("/status/allocatable/{GPU_RESOURCE_POINTER}"), "value": value},
    ])
}

/// The node's taints with the GPU taint present exactly once.
pub fn with_gpu_taint(taints: Vec<Taint>) -> Vec<Taint> {
    let mut taints = without_gpu_taint(taints);
    taints.push(Taint {
        key: GPU_TAINT_KEY.into(),
        effect: GPU_TAINT_EFFECT.into(),
        value: Some("present".into()),
        time_added: None,
    });
    taints
}

/// How many `nvidia.com/gpu` a node can allocate (0 when it advertises none).
pub fn allocatable_gpus(node: &Node) -> u64 {
    node.status
        .as_ref()
        .and_then(|s| s.allocatable.as_ref())
        .and_then(|a| a.get(GPU_RESOURCE))
        .and_then(|q| q.0.parse().ok())
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    // Node shapes as k3s registers them: servers carry node-role.kubernetes.io/control-plane
    // (k3s pkg/agent/config), agents do not; k3d names them k3d-<cluster>-server-N / -agent-N.
    fn node(name: &str, control_plane: bool, extra_labels: &[(&str, &str)]) -> Node {
        let mut labels = serde_json::Map::new();
        labels.insert("kubernetes.io/hostname".into(), name.into());
        if control_plane {
            labels.insert(CONTROL_PLANE_LABEL.into(), "true".into());
        }
        for (k, v) in extra_labels {
            labels.insert((*k).into(), (*v).into());
        }
        serde_json::from_value(json!({
            "apiVersion": "v1", "kind": "Node",
            "metadata": {"name": name, "labels": labels},
            "status": {"capacity": {"cpu": "2"}, "allocatable": {"cpu": "2"}},
        }))
        .unwrap()
    }

    #[test]
    fn an_agent_is_chosen_over_the_server() {
        let nodes = vec![
            node("k3d-neuroscale-server-0", true, &[]),
            node("k3d-neuroscale-agent-1", false, &[]),
            node("k3d-neuroscale-agent-0", false, &[]),
        ];
        let chosen = choose_agent(&nodes).unwrap();
        assert_eq!(
            chosen.metadata.name.as_deref(),
            Some("k3d-neuroscale-agent-0")
        );
    }

    #[test]
    fn the_node_already_labelled_is_chosen_again() {
        let nodes = vec![
            node("k3d-neuroscale-agent-0", false, &[]),
            node("k3d-neuroscale-agent-1", false, &[(GPU_NODE_LABEL, "true")]),
        ];
        let chosen = choose_agent(&nodes).unwrap();
        assert_eq!(
            chosen.metadata.name.as_deref(),
            Some("k3d-neuroscale-agent-1")
        );
    }

    #[test]
    fn the_node_the_k3d_config_designates_is_chosen() {
        let (key, value) = crate::gitops::scaffold::GPU_NODE_LABEL;
        let nodes = vec![
            node("k3d-neuroscale-agent-0", false, &[]),
            node("k3d-neuroscale-agent-1", false, &[(key, value)]),
        ];
        let chosen = choose_agent(&nodes).unwrap();
        assert_eq!(
            chosen.metadata.name.as_deref(),
            Some("k3d-neuroscale-agent-1")
        );
    }

    #[test]
    fn a_server_only_cluster_has_no_agent() {
        let nodes = vec![node("k3d-neuroscale-server-0", true, &[])];
        let err = choose_agent(&nodes).unwrap_err().to_string();
        assert!(
            err.contains("all 1 nodes are control-plane nodes (k3d-neuroscale-server-0)"),
            "{err}"
        );
    }

    #[test]
    fn the_capacity_patch_applies_to_a_node_status() {
        let mut doc = serde_json::to_value(node("k3d-neuroscale-agent-0", false, &[])).unwrap();
        let patch: json_patch::Patch = serde_json::from_value(capacity_patch(1)).unwrap();
        json_patch::patch(&mut doc, &patch).unwrap();
        // Applying twice changes nothing: the patch is idempotent.
        json_patch::patch(&mut doc, &patch).unwrap();
        let patched: Node = serde_json::from_value(doc).unwrap();
        assert_eq!(allocatable_gpus(&patched), 1);
        let capacity = patched.status.unwrap().capacity.unwrap();
        assert_eq!(capacity.get(GPU_RESOURCE).map(|q| q.0.as_str()), Some("1"));
    }

    #[test]
    fn removal_undoes_the_capacity_patch_and_only_lists_present_entries() {
        let bare = node("k3d-neuroscale-agent-0", false, &[]);
        assert_eq!(capacity_removal_patch(&bare), json!([]));
        let mut doc = serde_json::to_value(&bare).unwrap();
        let add: json_patch::Patch = serde_json::from_value(capacity_patch(1)).unwrap();
        json_patch::patch(&mut doc, &add).unwrap();
        let simulated: Node = serde_json::from_value(doc.clone()).unwrap();
        let removal: json_patch::Patch =
            serde_json::from_value(capacity_removal_patch(&simulated)).unwrap();
        json_patch::patch(&mut doc, &removal).unwrap();
        let cleared: Node = serde_json::from_value(doc).unwrap();
        assert_eq!(allocatable_gpus(&cleared), 0);
        assert_eq!(cleared.status, bare.status);
    }

    #[test]
    fn a_node_without_gpus_allocates_none() {
        assert_eq!(allocatable_gpus(&node("n", false, &[])), 0);
    }

    #[test]
    fn the_gpu_taint_is_added_once_and_others_are_kept() {
        let other = Taint {
            key: "dedicated".into(),
            effect: "NoSchedule".into(),
            value: Some("ml".into()),
            time_added: None,
        };
        let once = with_gpu_taint(vec![other.clone()]);
        let twice = with_gpu_taint(once.clone());
        assert_eq!(once, twice);
        assert_eq!(twice.len(), 2);
        assert_eq!(twice[0], other);
        assert_eq!(twice[1].key, GPU_TAINT_KEY);
    }

    // The `Runtimes` map of Docker's GET /info (moby api/swagger.yaml SystemInfo.Runtimes), as a
    // host with the NVIDIA Container Toolkit configured reports it.
    #[test]
    fn the_nvidia_runtime_is_recognised_in_docker_info() {
        let with: SystemInfo = serde_json::from_value(json!({
            "Runtimes": {"runc": {"path": "runc"}, "nvidia": {"path": "nvidia-container-runtime"}}
        }))
        .unwrap();
        let without: SystemInfo = serde_json::from_value(json!({
            "Runtimes": {"runc": {"path": "runc"}, "io.containerd.runc.v2": {"path": "runc"}}
        }))
        .unwrap();
        assert!(runtimes_include_nvidia(&with));
        assert!(!runtimes_include_nvidia(&without));
        assert!(!runtimes_include_nvidia(&SystemInfo::default()));
    }
}
