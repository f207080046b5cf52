//! The planted-fault catalogue: one fault per milestone check, each the failure the check
//! exists to catch (shared/DESIGN.md §5, seeds/08 and seeds/11). Planting a fault changes the
//! stored objects and/or the scripted behaviour; the target check must FAIL on it, and no check
//! that the fault breaks may PASS.

use serde_json::{json, Value};

use crate::controllers::{ApplicationOverride, Behaviour};
use crate::preset::{self, MODEL_NAMESPACE};

/// A planted fault, named after what goes wrong.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// A1: argocd-repo-server's only container never passes its readiness probe.
    ArgocdRepoServerNotReady,
    /// A2: the kserve Application is stuck Progressing.
    ApplicationStuckProgressing,
    /// A3: the cert-manager Application is Unknown with a ComparisonError.
    ApplicationUnknown,
    /// A4: selfHeal is off for the platform Application: the deleted canary never returns.
    DriftNotHealed,
    /// B1: the KServe controller pod is 1/2 ready (kube-rbac-proxy not ready), seeds/11 failure 1.
    KserveControllerHalfReady,
    /// B2: Knative's ingress class is Istio's.
    KnativeIngressIstio,
    /// B3: sklearn-iris stays IngressReady=False.
    InferenceServiceNotReady,
    /// B4: the model answers with the wrong class.
    WrongPredictions,
    /// C1: a live policy requires a label the scaffolded InferenceService does not carry.
    ScaffoldDenied,
    /// C2: the model ApplicationSet generates nothing for the new folder.
    ApplicationSetStalled,
    /// C3: a scaffolded InferenceService never becomes Ready.
    ScaffoldNeverReady,
    /// D1: Kyverno's resource validating webhook configuration is not registered.
    KyvernoWebhooksNotRegistered,
    /// D2: disallow-latest-image-tag is in Audit mode.
    PolicyInAuditMode,
    /// D3: KServe's webhook Service has no endpoints, so the unlabeled InferenceService fails at
    /// admission with "no endpoints available" instead of a Kyverno denial.
    KserveWebhookNoEndpoints,
    /// D4: disallow-root-containers reports ready but Kyverno lets violations through (fail-open).
    RootPolicyFailOpen,
    /// E1: the OpenCost API answers 503.
    OpenCostApiDown,
    /// E2: OpenCost attributes nothing to cost centers.
    OpenCostWithoutCostCenters,
    /// F1: the model namespace's ResourceQuota is missing.
    QuotaMissing,
    /// F2: a webhook configuration left behind points at a Service that no longer exists.
    StaleWebhookConfiguration,
    /// F3: GPU pods land on the server node, which has no GPU.
    GpuPodOnWrongNode,
    /// F4: every inference answer takes 400 ms.
    SlowInference,
}

impl Fault {
    pub const ALL: [Fault; 21] = [
        Fault::ArgocdRepoServerNotReady,
        Fault::ApplicationStuckProgressing,
        Fault::ApplicationUnknown,
        Fault::DriftNotHealed,
        Fault::KserveControllerHalfReady,
        Fault::KnativeIngressIstio,
        Fault::InferenceServiceNotReady,
        Fault::WrongPredictions,
        Fault::ScaffoldDenied,
        Fault::ApplicationSetStalled,
        Fault::ScaffoldNeverReady,
        Fault::KyvernoWebhooksNotRegistered,
        Fault::PolicyInAuditMode,
        Fault::KserveWebhookNoEndpoints,
        Fault::RootPolicyFailOpen,
        Fault::OpenCostApiDown,
        Fault::OpenCostWithoutCostCenters,
        Fault::QuotaMissing,
        Fault::StaleWebhookConfiguration,
        Fault::GpuPodOnWrongNode,
        Fault::SlowInference,
    ];

    /// The check this fault must make FAIL.
    pub fn target(self) -> &'static str {
        match self {
            Fault::ArgocdRepoServerNotReady => "A1",
            Fault::ApplicationStuckProgressing => "A2",
            Fault::ApplicationUnknown => "A3",
            Fault::DriftNotHealed => "A4",
            Fault::KserveControllerHalfReady => "B1",
            Fault::KnativeIngressIstio => "B2",
            Fault::InferenceServiceNotReady => "B3",
            Fault::WrongPredictions => "B4",
            Fault::ScaffoldDenied => "C1",
            Fault::ApplicationSetStalled => "C2",
            Fault::ScaffoldNeverReady => "C3",
            Fault::KyvernoWebhooksNotRegistered => "D1",
            Fault::PolicyInAuditMode => "D2",
            Fault::KserveWebhookNoEndpoints => "D3",
            Fault::RootPolicyFailOpen => "D4",
            Fault::OpenCostApiDown => "E1",
            Fault::OpenCostWithoutCostCenters => "E2",
            Fault::QuotaMissing => "F1",
            Fault::StaleWebhookConfiguration => "F2",
            Fault::GpuPodOnWrongNode => "F3",
            Fault::SlowInference => "F4",
        }
    }

    /// Other checks this fault legitimately breaks too (they may FAIL, and must not PASS).
    pub fn also_breaks(self) -> &'static [&'static str] {
        match self {
            // The repo server is down, so every Application would turn Unknown on a real
            // cluster; the sim keeps them as they were, so nothing else is implied.
            Fault::ArgocdRepoServerNotReady => &[],
            Fault::ApplicationUnknown => &["A2"],
            // The kserve webhook Service selects the controller's pods: not ready, no endpoints.
            Fault::KserveControllerHalfReady => &["D3", "C1", "C2", "C3", "F2", "F3"],
            Fault::InferenceServiceNotReady => &["A2", "B4", "F4"],
            // C2's model, synced from git, never becomes Healthy either.
            Fault::ScaffoldNeverReady => &["C2", "F3"],
            // Nothing denies any more: the denial probes are admitted, and an admitted scaffold
            // proves nothing without Kyverno's webhook.
            Fault::KyvernoWebhooksNotRegistered => &["D3", "D4", "C1"],
            Fault::KserveWebhookNoEndpoints => &["B1", "C1", "C2", "C3", "F2", "F3"],
            Fault::ScaffoldDenied => &["C2", "C3", "F3"],
            // C3 creates its InferenceService directly, not through git: unaffected.
            Fault::ApplicationSetStalled => &[],
            // C3 and F3 ask their own models too.
            Fault::WrongPredictions => &["C3", "F3"],
            // Allocation comes from the same API.
            Fault::OpenCostApiDown => &["E2"],
            _ => &[],
        }
    }

    /// Changes the objects (already stored through `put`) and the behaviour for this fault.
    pub fn plant(self, objects: &mut Vec<Value>, behaviour: &mut Behaviour) {
        let find = |objects: &mut Vec<Value>, kind: &str, ns: &str, name: &str| -> Option<usize> {
            objects.iter().position(|o| {
                o["kind"] == kind
                    && o.pointer("/metadata/namespace")
                        .and_then(Value::as_str)
                        .unwrap_or("")
                        == ns
                    && o["metadata"]["name"] == name
            })
        };
        match self {
            Fault::ArgocdRepoServerNotReady => {
                behaviour
                    .unready_containers
                    .insert(("argocd".into(), "argocd-repo-server".into()), 1);
            }
            Fault::ApplicationStuckProgressing => {
                behaviour.application_overrides.insert(
                    "kserve".into(),
                    ApplicationOverride {
                        sync: "Synced".into(),
                        health: "Progressing".into(),
                        condition: None,
                    },
                );
            }
            Fault::ApplicationUnknown => {
                behaviour.application_overrides.insert("cert-manager".into(), ApplicationOverride {
                    sync: "Unknown".into(),
                    health: "Unknown".into(),
                    condition: Some((
                    "ComparisonError".into(),
                    "Failed to load target state: failed to generate manifest for source 1 of 1: rpc error: code = Unavailable desc = connection error: desc = \"transport: Error while dialing: dial tcp 10.43.12.7:8081: connect: connection refused\"".into(),
                    )),
                });
            }
            Fault::DriftNotHealed => {
                if let Some(i) = find(objects, "Application", preset::ARGOCD, "platform") {
                    objects[i]["spec"]["syncPolicy"]["automated"]["selfHeal"] = json!(false);
                }
            }
            Fault::KserveControllerHalfReady => {
                behaviour
                    .unready_containers
                    .insert(("kserve".into(), "kserve-controller-manager".into()), 1);
            }
            Fault::KnativeIngressIstio => {
                if let Some(i) = find(objects, "ConfigMap", "knative-serving", "config-network") {
                    objects[i]["data"] =
                        json!({"ingress-class": "istio.ingress.networking.knative.dev"});
                }
            }
            Fault::InferenceServiceNotReady => {
                behaviour
                    .isvc_not_ready
                    .insert(format!("{MODEL_NAMESPACE}/sklearn-iris"));
            }
            Fault::WrongPredictions => behaviour.wrong_prediction = Some(2),
            Fault::ScaffoldDenied => {
                behaviour.extra_isvc_label = Some("neuroscale.dev/data-classification".into())
            }
            Fault::ApplicationSetStalled => behaviour.appset_stalled = true,
            Fault::ScaffoldNeverReady => behaviour.only_platform_isvcs_ready = true,
            Fault::KyvernoWebhooksNotRegistered => {
                objects
                    .retain(|o| o["metadata"]["name"] != "kyverno-resource-validating-webhook-cfg");
            }
            Fault::PolicyInAuditMode => {
                let latest = objects.iter().position(|o| {
                    o["kind"] == "ValidatingPolicy"
                        && o["metadata"]["name"]
                            .as_str()
                            .is_some_and(|n| n.contains("latest"))
                });
                if let Some(i) = latest {
                    objects[i]["spec"]["validationActions"] = json!(["Audit"]);
                }
            }
            Fault::KserveWebhookNoEndpoints => {
                behaviour
                    .services_without_endpoints
                    .insert("kserve/kserve-webhook-server-service".into());
            }
            Fault::RootPolicyFailOpen => {
                behaviour
                    .fail_open_policies
                    .insert("disallow-root-containers".into());
            }
            Fault::OpenCostApiDown => behaviour.opencost_unhealthy = true,
            Fault::OpenCostWithoutCostCenters => behaviour.opencost_ignores_labels = true,
            Fault::QuotaMissing => {
                objects.retain(|o| o["kind"] != "ResourceQuota");
            }
            Fault::StaleWebhookConfiguration => {
                let mut stale = preset::validating_webhooks(
                    "legacy-model-validator",
                    &[(
                        "validate.legacy-models.example.com",
                        "example.com",
                        "widgets",
                    )],
                    "legacy-system",
                    "legacy-webhook",
                    false,
                );
                stale["metadata"]["labels"] = json!({"app.kubernetes.io/part-of": "legacy"});
                objects.push(stale);
            }
            Fault::GpuPodOnWrongNode => behaviour.gpu_on_wrong_node = true,
            Fault::SlowInference => {
                behaviour.inference_delay = std::time::Duration::from_millis(400)
            }
        }
    }
}

impl std::fmt::Display for Fault {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{self:?} ({})", self.target())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_check_has_exactly_one_fault() {
        let mut targets: Vec<&str> = Fault::ALL.iter().map(|f| f.target()).collect();
        targets.sort();
        targets.dedup();
        assert_eq!(targets.len(), 21);
    }
}
