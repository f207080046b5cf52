//! F3 gpu-node-inference: an InferenceService requesting `nvidia.com/gpu: 1` (the shipped GPU
//! model) is scheduled on the GPU node and answers its known rows through the gateway, and is
//! removed afterwards. The GPU is the NVIDIA device plugin's (`gpu: real`, or `auto` finding
//! one) or simulated (`gpu: simulate`: an extended resource advertised on the agent the k3d
//! config labels as the GPU node). With `gpu: off` the runner skips it with the reason.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::{Node, Pod};
use kube::api::{Api, ListParams, Patch, PatchParams};
use serde_json::Value;

use crate::checks::env::{CheckFuture, CheckRun};
use crate::checks::kit::admission;
use crate::checks::kit::gateway::{self, Gateway};
use crate::checks::kit::probe::{self, ProbeObject};
use crate::checks::kit::wait::Wait;
use crate::checks::outcome::{Diagnosis, Outcome};
use crate::failures::FailureCode;
use crate::observe;
use crate::platform::kserve;
use crate::platform::views::{InferenceService, INFERENCE_SERVICE};
use crate::readiness;
use crate::scenario::{GpuMode, ModelProbe, Scenario};
use crate::{gpu, probe as inference};

pub fn check<'a>(run: &'a CheckRun<'a>) -> CheckFuture<'a> {
    Box::pin(gpu_node_inference(run))
}

/// The catalogue's skip rule: the scenario turns GPU-node inference off with `gpu: off`.
pub fn skipped(scenario: &Scenario) -> Option<String> {
    (scenario.spec.gpu == GpuMode::Off).then(|| {
        "the scenario sets gpu: off, so GPU-node inference is not part of this run".to_string()
    })
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// How the GPU node gets its `nvidia.com/gpu`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GpuSource {
    /// An extended resource patched into one agent's status (`gpu: simulate`).
    Simulated,
    /// The NVIDIA device plugin on a GPU node (`gpu: real`).
    DevicePlugin,
}

/// A predictor pod of the GPU model as observed.
#[derive(Debug, Clone, PartialEq)]
pub struct GpuPod {
    pub name: String,
    pub node: Option<String>,
    /// Phase and why, e.g. "Pending: 0/3 nodes are available: 3 Insufficient nvidia.com/gpu".
    pub state: String,
}

/// The prediction F3 got from the GPU model through the gateway.
#[derive(Debug, Clone, PartialEq)]
pub struct GpuPrediction {
    pub correct: bool,
    /// "2/2 predictions as expected" or which rows differ.
    pub summary: String,
    pub latency: Duration,
}

/// What F3 observed.
#[derive(Debug, Clone)]
pub struct GpuObservation {
    pub source: GpuSource,
    pub gpu_node: String,
    /// `namespace/name` of the GPU InferenceService.
    pub isvc: String,
    /// Its readiness when the wait ended.
    pub ready: readiness::Readiness,
    pub waited: Duration,
    pub pods: Vec<GpuPod>,
    /// `None` when the model never became ready, so nothing was sent.
    pub prediction: Option<Result<GpuPrediction, String>>,
    pub gone_afterwards: Result<bool, String>,
}

/// F3's verdict: the GPU InferenceService became Ready, its predictor runs on the GPU node, it
/// answered the known inputs correctly through the gateway, and it was removed afterwards.
pub fn evaluate_gpu_inference(obs: &GpuObservation) -> Outcome {
    let source = match obs.source {
        GpuSource::Simulated => "simulated nvidia.com/gpu",
        GpuSource::DevicePlugin => "NVIDIA device plugin",
    };
    let pods = if obs.pods.is_empty() {
        "no predictor pods".to_string()
    } else {
        obs.pods
            .iter()
            .map(|p| {
                format!(
                    "pod {} on {}: {}",
                    p.name,
                    p.node.as_deref().unwrap_or("no node"),
                    p.state
                )
            })
            .collect::<Vec<_>>()
            .join("; ")
    };
    let namespace = obs.isvc.split('/').next().unwrap_or_default();
    let describe_pods = format!(
        "kubectl -n {namespace} describe pods -l serving.kserve.io/inferenceservice={}",
        obs.isvc.split('/').nth(1).unwrap_or_default()
    );
    if !obs.ready.ready {
        let insufficient = obs
            .pods
            .iter()
            .any(|p| p.state.contains("Insufficient nvidia.com/gpu"));
        let untolerated = obs
            .pods
            .iter()
            .any(|p| p.state.contains("untolerated taint"));
        let cause = if insufficient {
            match obs.source {
                GpuSource::DevicePlugin => "no node advertises a free nvidia.com/gpu: the device plugin is not running or not advertising (missing runtimeClassName nvidia or CUDA image, wrong affinity label)",
                GpuSource::Simulated => "the simulated nvidia.com/gpu capacity is gone or taken (kubelet resets extended capacity when it re-registers the node, or another pod holds it)",
            }
        } else if untolerated {
            "the GPU model does not tolerate the GPU node's nvidia.com/gpu:NoSchedule taint"
        } else if obs.pods.is_empty() {
            "KServe/Knative created no predictor pod: see the InferenceService conditions (a Knative podspec feature flag may be disabled)"
        } else {
            "the predictor pod on the GPU node is not ready (image pull, storage-initializer download, or crash)"
        };
        return Outcome::fail(
            format!(
                "GPU InferenceService {} not Ready after {:.0} s",
                obs.isvc,
                obs.waited.as_secs_f64()
            ),
            Diagnosis::new(
                format!("{}; {pods}", obs.ready.observed),
                cause,
                describe_pods,
            ),
        );
    }
    let off_node: Vec<&GpuPod> = obs
        .pods
        .iter()
        .filter(|p| p.node.as_deref() != Some(obs.gpu_node.as_str()))
        .collect();
    if obs.pods.is_empty() || !off_node.is_empty() {
        return Outcome::fail(
            format!("GPU model not scheduled on the GPU node {}", obs.gpu_node),
            Diagnosis::new(
                pods,
                "nvidia.com/gpu is advertised on another node too, or the GPU model does not request nvidia.com/gpu: 1",
                "kubectl get nodes -o custom-columns=NAME:.metadata.name,GPU:.status.allocatable.nvidia\\.com/gpu",
            ),
        );
    }
    let prediction =
        match &obs.prediction {
            Some(Ok(p)) if p.correct => p,
            Some(Ok(p)) => {
                return Outcome::fail(
                    "the GPU model answered wrong predictions",
                    Diagnosis::new(
                        p.summary.clone(),
                        "the model served is not the iris classifier the scenario expects",
                        format!("kubectl -n {namespace} get inferenceservice -o yaml"),
                    ),
                )
            }
            Some(Err(e)) => return Outcome::fail(
                "the GPU model did not answer through the gateway",
                Diagnosis::new(
                    e.clone(),
                    "Kourier has no route for the model's Host (404) or no ready revision (503)",
                    "kubectl -n kourier-system get pods,svc",
                ),
            ),
            None => {
                return Outcome::fail(
                    "no prediction was sent to the GPU model",
                    Diagnosis::new(
                        pods,
                        "the check could not reach the gateway",
                        "kubectl -n kourier-system get svc kourier",
                    ),
                )
            }
        };
    match &obs.gone_afterwards {
        Ok(true) => {}
        Ok(false) => {
            return Outcome::fail(
                "the GPU model was not removed afterwards",
                Diagnosis::new(
                    format!("inferenceservice {} still exists", obs.isvc),
                    "a finalizer holds it (KServe controller not running?)",
                    format!("kubectl -n {namespace} get inferenceservice -o yaml"),
                ),
            )
        }
        Err(e) => {
            return Outcome::fail(
                "the GPU model's removal could not be confirmed",
                Diagnosis::new(
                    e.clone(),
                    "the API server could not be read",
                    "neuroscale doctor",
                ),
            )
        }
    }
    Outcome::pass(format!(
        "{} scheduled on GPU node {} ({source}), Ready in {:.0} s, {} in {:.0} ms through Kourier; removed afterwards",
        obs.isvc,
        obs.gpu_node,
        obs.waited.as_secs_f64(),
        prediction.summary,
        ms(prediction.latency)
    ))
    .with_figure("ready after", obs.waited.as_secs_f64(), "s")
    .with_figure("predict latency", ms(prediction.latency), "ms")
}

/// The GPU model manifest F3 applies (`gitops::GPU_MODEL_FILE`), built into the binary.
pub const GPU_MODEL_MANIFEST: &str =
    include_str!("../../../manifests/gpu/sklearn-iris-gpu/inferenceservice.yaml");
/// Part of the deadline kept for deleting the GPU model after the wait.
const GPU_CLEANUP_RESERVE: Duration = Duration::from_secs(30);

/// The GPU model as F3 creates it: the manifest, plus `runtimeClassName: nvidia` when a real
/// device plugin provides the GPU (k3d-io/k3d docs/usage/advanced/cuda.md).
pub fn gpu_model_manifest(source: GpuSource) -> Result<Value, String> {
    let mut manifest: Value = serde_yaml::from_str(GPU_MODEL_MANIFEST)
        .map_err(|e| format!("{}: {e}", crate::gitops::GPU_MODEL_FILE))?;
    if manifest.get("kind").and_then(Value::as_str) != Some("InferenceService") {
        return Err(format!(
            "{} is not an InferenceService",
            crate::gitops::GPU_MODEL_FILE
        ));
    }
    if source == GpuSource::DevicePlugin {
        manifest["spec"]["predictor"]["runtimeClassName"] = Value::from("nvidia");
    }
    Ok(manifest)
}

/// The nodes a manifest's `spec.predictor.nodeSelector` selects.
pub fn selected_nodes<'a>(manifest: &Value, nodes: &'a [Node]) -> Vec<&'a Node> {
    let selector: BTreeMap<String, String> = manifest
        .pointer("/spec/predictor/nodeSelector")
        .and_then(Value::as_object)
        .map(|m| {
            m.iter()
                .filter_map(|(k, v)| v.as_str().map(|v| (k.clone(), v.to_string())))
                .collect()
        })
        .unwrap_or_default();
    nodes
        .iter()
        .filter(|n| {
            let labels = n.metadata.labels.clone().unwrap_or_default();
            selector.iter().all(|(k, v)| labels.get(k) == Some(v))
        })
        .collect()
}

/// A predictor pod as F3 reports it: phase, why it is not scheduled, container readiness.
pub fn gpu_pod(pod: &Pod) -> GpuPod {
    let status = pod.status.as_ref();
    let phase = status
        .and_then(|s| s.phase.clone())
        .unwrap_or_else(|| "Unknown".into());
    let unscheduled = status
        .and_then(|s| s.conditions.as_ref())
        .into_iter()
        .flatten()
        .find(|c| c.type_ == "PodScheduled" && c.status == "False")
        .map(|c| c.message.clone().unwrap_or_default());
    let state = match unscheduled {
        Some(message) => format!("{phase}: {message}"),
        None => format!("{phase}, {}", readiness::pod_containers(pod).observed),
    };
    GpuPod {
        name: pod.metadata.name.clone().unwrap_or_default(),
        node: pod.spec.as_ref().and_then(|s| s.node_name.clone()),
        state,
    }
}

/// Finds or makes the GPU node: the device plugin's (real GPU), or one agent given a simulated
/// `nvidia.com/gpu`, labelled as the node the GPU model is pinned to.
async fn gpu_node(
    run: &CheckRun<'_>,
    nodes_api: &Api<Node>,
    nodes: &[Node],
) -> Result<(GpuSource, String), Outcome> {
    let simulated = |n: &Node| {
        n.metadata
            .labels
            .as_ref()
            .and_then(|l| l.get(gpu::SIMULATED_LABEL))
            .map(String::as_str)
            == Some(gpu::SIMULATED_LABEL_VALUE)
    };
    let plugin_node = nodes
        .iter()
        .find(|n| gpu::allocatable_gpus(n) > 0 && !simulated(n))
        .and_then(|n| n.metadata.name.clone());
    match (run.env.scenario.spec.gpu, plugin_node) {
        (GpuMode::Real | GpuMode::Auto, Some(node)) => Ok((GpuSource::DevicePlugin, node)),
        (GpuMode::Real, None) => Err(Outcome::fail(
            "no node advertises nvidia.com/gpu",
            Diagnosis::new(
                format!(
                    "{} node(s), none with allocatable nvidia.com/gpu from a device plugin",
                    nodes.len()
                ),
                "the NVIDIA device plugin is not running or not advertising (missing runtimeClassName nvidia or the CUDA k3s image, or the node lacks nvidia.com/gpu.present=true)",
                "kubectl -n kube-system get pods -l name=nvidia-device-plugin-ds -o wide",
            )
            .with_code(FailureCode::NoGpuNode),
        )),
        _ => {
            // gpu::simulate_on_agent picks the agent already labelled as a GPU node; mark the
            // one node the GPU model is pinned to (k3d config nodeLabels) so it is chosen.
            let pinned: Vec<String> = gpu_model_manifest(GpuSource::Simulated)
                .map(|m| {
                    selected_nodes(&m, nodes)
                        .iter()
                        .filter_map(|n| n.metadata.name.clone())
                        .collect()
                })
                .unwrap_or_default();
            if let [node] = pinned.as_slice() {
                run.saw(format!(
                    "labelling node {node} {}={}",
                    gpu::GPU_NODE_LABEL,
                    gpu::GPU_NODE_LABEL_VALUE
                ));
                let patch = serde_json::json!({"metadata": {"labels": {
                    gpu::GPU_NODE_LABEL: gpu::GPU_NODE_LABEL_VALUE}}});
                nodes_api
                    .patch(node, &PatchParams::default(), &Patch::Merge(&patch))
                    .await
                    .map_err(|e| {
                        Outcome::api_error(&format!("node {node} (label as the GPU node)"), &e)
                    })?;
            }
            run.saw("advertising a simulated nvidia.com/gpu on an agent node");
            gpu::simulate_on_agent(run.env.client.clone())
                .await
                .map(|node| (GpuSource::Simulated, node))
                .map_err(|e| {
                    Outcome::fail(
                        "could not simulate a GPU node",
                        Diagnosis::new(
                            inference::error_chain(&e),
                            "no agent node, or this identity may not patch node status",
                            "kubectl get nodes",
                        ),
                    )
                })
        }
    }
}

/// The GPU model as last seen while it starts: its readiness, the InferenceService, its pods.
struct Starting {
    ready: readiness::Readiness,
    isvc: Option<InferenceService>,
    pods: Vec<GpuPod>,
}

async fn gpu_node_inference(run: &CheckRun<'_>) -> Outcome {
    let scenario = &run.env.scenario;
    let Some(model) = scenario.gpu_model() else {
        return Outcome::fail(
            "the scenario names no GPU model",
            Diagnosis::new(
                "spec.models has no model with gpu: true",
                "the scenario is incomplete: F3 needs the GPU model and its known inputs",
                "neuroscale check --list",
            ),
        );
    };
    let client = &run.env.client;
    let nodes_api: Api<Node> = Api::all(client.clone());
    let nodes = match nodes_api.list(&ListParams::default()).await {
        Ok(l) => l.items,
        Err(e) => return Outcome::api_error("nodes", &e),
    };
    let (source, gpu_node) = match gpu_node(run, &nodes_api, &nodes).await {
        Ok(found) => found,
        Err(outcome) => return outcome,
    };
    let manifest = match gpu_model_manifest(source) {
        Ok(m) => m,
        Err(e) => {
            return Outcome::fail(
                "the GPU model manifest is unusable",
                Diagnosis::new(e, "a build defect in manifests/gpu/", "cargo test gitops"),
            )
        }
    };
    // The manifest pins the model to the GPU node by label; it must select the node that has
    // the GPU, or the pod can never be scheduled.
    let selected: Vec<String> = selected_nodes(&manifest, &nodes)
        .iter()
        .filter_map(|n| n.metadata.name.clone())
        .collect();
    if !selected.contains(&gpu_node) {
        return Outcome::fail(
            format!("the GPU model cannot land on the GPU node {gpu_node}"),
            Diagnosis::new(
                format!(
                    "nvidia.com/gpu is on {gpu_node}; the GPU model's nodeSelector {} selects {}",
                    manifest
                        .pointer("/spec/predictor/nodeSelector")
                        .cloned()
                        .unwrap_or_default(),
                    if selected.is_empty() {
                        "no node".to_string()
                    } else {
                        selected.join(", ")
                    }
                ),
                "the node labelled as the GPU node (k3d config nodeLabels) is not the node the GPU is advertised on",
                "kubectl get nodes --show-labels",
            ),
        );
    }
    let gpu_model = ProbeObject::from_manifest(INFERENCE_SERVICE, manifest);
    let (namespace, name) = (gpu_model.namespace.clone(), gpu_model.name.clone());
    run.saw(format!(
        "creating inferenceservice {namespace}/{name} (nvidia.com/gpu: 1)"
    ));
    let started = Instant::now();
    if let Err(e) = probe::create_tracked(run, &gpu_model).await {
        let message = observe::error_message(&e);
        let _ = probe::remove(run, &gpu_model).await;
        let cause = match admission::classify(&message) {
            admission::AdmissionOutcome::OtherDenial { webhook, .. } if message.contains("must not set the field") => format!("Knative's webhook {webhook} rejects the podspec field: the matching config-features flag is disabled (a config problem, not a GPU problem)"),
            admission::AdmissionOutcome::KyvernoDenial { policies, .. } => format!("the GPU model violates {}", policies.join(", ")),
            admission::AdmissionOutcome::WebhookUnavailable { webhook, .. } => format!("webhook {webhook} could not be called (no endpoints): an infrastructure failure"),
            _ => "the API server refused the GPU model".to_string(),
        };
        return Outcome::fail(
            format!("inferenceservice {namespace}/{name} was not created"),
            Diagnosis::new(message, cause, "neuroscale doctor"),
        );
    }
    // Time kept back for deleting the model; a quarter of a short deadline at most.
    let reserve = GPU_CLEANUP_RESERVE.min(run.deadline / 4);
    let pods_api: Api<Pod> = Api::namespaced(client.clone(), &namespace);
    let selector = format!("{}={name}", kserve::ISVC_POD_LABEL);
    let (pods_api, selector, namespace_ref, name_ref) = (&pods_api, &selector, &namespace, &name);
    let starting = Wait::new(format!("inferenceservice {namespace}/{name} Ready"))
        .within(run.time_to_conclude().saturating_sub(reserve))
        .last_observation(
            run,
            |_| async move {
                let (ready, isvc) = match observe::get_view::<InferenceService>(
                    client,
                    Some(namespace_ref),
                    name_ref,
                )
                .await
                {
                    Ok(Some(isvc)) => (readiness::inference_service(&isvc), Some(isvc)),
                    Ok(None) => (
                        readiness::Readiness::not_ready(format!(
                            "inferenceservice {name_ref} disappeared"
                        )),
                        None,
                    ),
                    Err(e) => (
                        readiness::Readiness::not_ready(observe::error_message(&e)),
                        None,
                    ),
                };
                let pods = match pods_api.list(&ListParams::default().labels(selector)).await {
                    Ok(list) => list
                        .items
                        .iter()
                        .filter(|p| p.metadata.deletion_timestamp.is_none())
                        .map(gpu_pod)
                        .collect(),
                    Err(_) => Vec::new(),
                };
                run.saw(format!(
                    "{}; {} predictor pod(s)",
                    ready.observed,
                    pods.len()
                ));
                Ok::<_, Outcome>(Starting { ready, isvc, pods })
            },
            |starting| starting.ready.ready,
        )
        .await;
    let Starting { ready, isvc, pods } = match starting {
        Ok((starting, _)) => starting,
        Err(unreadable) => return unreadable,
    };
    let waited = started.elapsed();
    let prediction = if ready.ready {
        Some(predict(run, isvc.as_ref(), &name, model).await)
    } else {
        None
    };
    let gone_afterwards = probe::remove(run, &gpu_model).await;
    evaluate_gpu_inference(&GpuObservation {
        source,
        gpu_node,
        isvc: format!("{namespace}/{name}"),
        ready,
        waited,
        pods,
        prediction,
        gone_afterwards,
    })
}

/// Sends the GPU model's known rows through the gateway with its Host header.
async fn predict(
    run: &CheckRun<'_>,
    isvc: Option<&InferenceService>,
    name: &str,
    model: &ModelProbe,
) -> Result<GpuPrediction, String> {
    let gateway = Gateway::of(run.env).map_err(|_| {
        "no ingress URL: the runner could not reach the Kourier gateway".to_string()
    })?;
    let host = match isvc.map(gateway::ready_host) {
        Some(host) => host?,
        None => return Err(format!("inferenceservice {name} disappeared")),
    };
    let target = gateway.target(&host, name, model.protocol);
    run.saw(format!("predicting through {}", gateway.base_url));
    gateway
        .verify(&target, &model.instances, &model.expected)
        .await
        .map(|v| GpuPrediction {
            correct: v.is_correct(),
            summary: v.summary(),
            latency: v.latency,
        })
        .map_err(|e| inference::error_chain(&e))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checks::fixtures::diagnosis;
    use crate::checks::outcome::Verdict;
    use serde_json::json;

    fn gpu_ok() -> GpuObservation {
        GpuObservation {
            source: GpuSource::Simulated,
            gpu_node: "k3d-neuroscale-agent-0".into(),
            isvc: "models/sklearn-iris-gpu".into(),
            ready: readiness::Readiness::ready("inferenceservice sklearn-iris-gpu Ready"),
            waited: Duration::from_secs(42),
            pods: vec![GpuPod {
                name: "sklearn-iris-gpu-predictor-00001-deployment-7c9".into(),
                node: Some("k3d-neuroscale-agent-0".into()),
                state: "Running, 2/2 containers ready".into(),
            }],
            prediction: Some(Ok(GpuPrediction {
                correct: true,
                summary: "2/2 predictions as expected".into(),
                latency: Duration::from_millis(9),
            })),
            gone_afterwards: Ok(true),
        }
    }

    #[test]
    fn f3_passes_on_the_gpu_node_with_correct_predictions() {
        let outcome = evaluate_gpu_inference(&gpu_ok());
        assert_eq!(outcome.verdict(), Verdict::Pass, "{outcome:?}");
        assert!(outcome.summary.contains("k3d-neuroscale-agent-0"));
        assert_eq!(outcome.figures[0].value, 42.0);
    }

    #[test]
    fn f3_fails_when_the_pod_lands_elsewhere() {
        let mut obs = gpu_ok();
        obs.pods[0].node = Some("k3d-neuroscale-server-0".into());
        let outcome = evaluate_gpu_inference(&obs);
        assert_eq!(outcome.verdict(), Verdict::Fail);
        assert!(diagnosis(&outcome)
            .observed
            .contains("on k3d-neuroscale-server-0"));
    }

    #[test]
    fn f3_fails_pending_on_insufficient_gpus_naming_the_device_plugin() {
        let mut obs = gpu_ok();
        obs.source = GpuSource::DevicePlugin;
        obs.ready =
            readiness::Readiness::not_ready("inferenceservice sklearn-iris-gpu Ready=False");
        obs.pods[0].node = None;
        obs.pods[0].state =
            "Pending: 0/3 nodes are available: 3 Insufficient nvidia.com/gpu.".into();
        obs.prediction = None;
        let outcome = evaluate_gpu_inference(&obs);
        assert_eq!(outcome.verdict(), Verdict::Fail);
        let d = diagnosis(&outcome);
        assert!(d.likely_cause.contains("device plugin"), "{d:?}");
        assert!(d
            .next_command
            .contains("serving.kserve.io/inferenceservice=sklearn-iris-gpu"));
    }

    #[test]
    fn f3_fails_on_wrong_predictions_or_no_answer() {
        let mut obs = gpu_ok();
        obs.prediction = Some(Ok(GpuPrediction {
            correct: false,
            summary: "1 of 2 predictions wrong: row 1 [5.1, 3.5, 1.4, 0.2]: expected 0, got 2"
                .into(),
            latency: Duration::from_millis(9),
        }));
        assert_eq!(evaluate_gpu_inference(&obs).verdict(), Verdict::Fail);
        let mut obs = gpu_ok();
        obs.prediction = Some(Err("answered HTTP 404".into()));
        let outcome = evaluate_gpu_inference(&obs);
        assert_eq!(outcome.verdict(), Verdict::Fail);
        assert!(diagnosis(&outcome).observed.contains("404"));
        let mut obs = gpu_ok();
        obs.gone_afterwards = Ok(false);
        assert_eq!(evaluate_gpu_inference(&obs).verdict(), Verdict::Fail);
    }
    #[test]
    fn the_gpu_model_is_the_shipped_manifest_with_runtime_class_only_for_a_real_gpu() {
        let simulated = gpu_model_manifest(GpuSource::Simulated).unwrap();
        assert_eq!(
            simulated.pointer("/spec/predictor/model/resources/limits/nvidia.com~1gpu"),
            Some(&json!("1"))
        );
        assert!(simulated
            .pointer("/spec/predictor/runtimeClassName")
            .is_none());
        let real = gpu_model_manifest(GpuSource::DevicePlugin).unwrap();
        assert_eq!(real["spec"]["predictor"]["runtimeClassName"], "nvidia");
        assert!(crate::gitops::GPU_MODEL_FILE.ends_with("sklearn-iris-gpu/inferenceservice.yaml"));
        // The scenario's GPU model is the one the manifest deploys.
        let scenario = crate::scenario::Scenario::parse(
            std::path::Path::new("scenarios/smoke.yaml"),
            crate::scenario::BUILTIN_SMOKE,
        )
        .unwrap();
        assert_eq!(
            simulated["metadata"]["name"],
            scenario.gpu_model().unwrap().name.as_str()
        );
    }

    // Node and pod shapes as k3s reports them (core/v1 Node labels from k3d nodeLabels; a Pending
    // pod's PodScheduled=False condition carries the scheduler's message).
    fn node(name: &str, labels: Value) -> Node {
        serde_json::from_value(json!({"metadata": {"name": name, "labels": labels}})).unwrap()
    }

    #[test]
    fn the_gpu_model_selects_only_the_labelled_gpu_node() {
        let nodes = vec![
            node(
                "k3d-neuroscale-server-0",
                json!({"node-role.kubernetes.io/control-plane": "true"}),
            ),
            node("k3d-neuroscale-agent-0", json!({})),
            node(
                "k3d-neuroscale-agent-1",
                json!({"neuroscale.dev/gpu-node": "true"}),
            ),
        ];
        let manifest = gpu_model_manifest(GpuSource::Simulated).unwrap();
        let selected: Vec<_> = selected_nodes(&manifest, &nodes)
            .iter()
            .filter_map(|n| n.metadata.name.clone())
            .collect();
        assert_eq!(selected, ["k3d-neuroscale-agent-1"]);
    }

    #[test]
    fn a_pending_gpu_pod_reports_the_schedulers_message() {
        let pod: Pod = serde_json::from_value(json!({
            "metadata": {"name": "sklearn-iris-gpu-predictor-00001-deployment-5d8"},
            "spec": {"containers": [{"name": "kserve-container"}, {"name": "queue-proxy"}]},
            "status": {"phase": "Pending", "conditions": [{"type": "PodScheduled", "status": "False",
                "reason": "Unschedulable",
                "message": "0/3 nodes are available: 1 Insufficient nvidia.com/gpu, 2 node(s) didn't match Pod's node affinity/selector."}]}
        }))
        .unwrap();
        let p = gpu_pod(&pod);
        assert_eq!(p.node, None);
        assert!(p.state.starts_with("Pending: 0/3 nodes"), "{}", p.state);
        assert!(p.state.contains("Insufficient nvidia.com/gpu"));
    }
}
