//! The planted-fault catalogue: failures the checks exist to catch,
//! each planted the way it happens on a real cluster: a change committed
//! to the GitOps source (which the sim's ArgoCD then syncs), an object someone applied by hand,
//! or a controller behaving badly (a container that never gets ready, a Service without
//! endpoints, a policy engine failing open). The target check must FAIL on it, and no check the
//! fault also breaks may PASS.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use serde_json::{json, Value};

use crate::controllers::Behaviour;
use crate::preset::{self, MODEL_NAMESPACE};

/// A planted fault, named after what goes wrong.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// A1: argocd-repo-server's only container never passes its readiness probe; every
    /// Application then fails to load its target state.
    ArgocdRepoServerNotReady,
    /// A2: prometheus-server never gets ready, so the prometheus Application stays Progressing.
    ApplicationStuckProgressing,
    /// A3: the cert-manager component's kustomization names a file that is not in git, so its
    /// Application reports a ComparisonError.
    ApplicationUnknown,
    /// A4: selfHeal is turned off for the platform Application in git: the deleted canary never
    /// returns.
    DriftNotHealed,
    /// B1: the KServe controller pod is 1/2 ready (kube-rbac-proxy not ready).
    KserveControllerHalfReady,
    /// B2: Knative's ingress class is changed to Istio's in git.
    KnativeIngressIstio,
    /// B3: sklearn-iris stays IngressReady=False.
    InferenceServiceNotReady,
    /// B4: the model answers with the wrong class.
    WrongPredictions,
    /// C1: a live policy requires a label the scaffolded InferenceService does not carry.
    ScaffoldDenied,
    /// C2: the ApplicationSet controller generates nothing for a new folder.
    ApplicationSetStalled,
    /// C3: an InferenceService created outside GitOps never becomes Ready.
    ScaffoldNeverReady,
    /// D1: Kyverno's resource validating webhook configuration is never registered.
    KyvernoWebhooksNotRegistered,
    /// D2: disallow-latest-tag is switched to Audit in git.
    PolicyInAuditMode,
    /// D3: KServe's webhook Service has no endpoints, so the unlabeled InferenceService fails at
    /// admission with "no endpoints available" instead of a Kyverno denial.
    KserveWebhookNoEndpoints,
    /// D4: disallow-root-containers reports ready but Kyverno lets violations through.
    RootPolicyFailOpen,
    /// E1: the OpenCost API answers 503.
    OpenCostApiDown,
    /// E2: OpenCost attributes nothing to cost centers.
    OpenCostWithoutCostCenters,
    /// F1: the model namespace's ResourceQuota is deleted from git (and pruned).
    QuotaMissing,
    /// F2: a webhook configuration left behind points at a Service that no longer exists.
    StaleWebhookConfiguration,
    /// F3: GPU pods land on the server node, which has no GPU.
    GpuPodOnWrongNode,
    /// F4: every inference answer takes 400 ms.
    SlowInference,
}

/// A change to a file of the GitOps source: `from` must occur in it and becomes `to`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Edit {
    pub file: &'static str,
    pub from: &'static str,
    pub to: &'static str,
}

/// An object deleted by hand.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Deleted {
    pub api_version: &'static str,
    pub kind: &'static str,
    pub namespace: &'static str,
    pub name: &'static str,
}

/// What planting a fault does.
#[derive(Debug, Clone, Default)]
pub struct Planting {
    pub behaviour: Behaviour,
    /// Committed to the GitOps source; ArgoCD syncs them.
    pub edits: Vec<Edit>,
    /// Applied by hand, outside GitOps.
    pub objects: Vec<Value>,
    /// Deleted by hand.
    pub deleted: Vec<Deleted>,
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
            // Without the repo-server no Application can load its target state: they turn
            // Unknown, drift is not healed, and the ApplicationSet cannot list folders.
            Fault::ArgocdRepoServerNotReady => &["A2", "A3", "A4", "C2"],
            Fault::ApplicationUnknown => &["A2"],
            // The kserve webhook Service selects the controller's pods: not ready, no endpoints.
            // Every sync that touches a KServe kind then fails its dry run, the platform
            // Application's self-heal of the canary included (it also holds the serving
            // runtime). Its Application is Progressing too.
            Fault::KserveControllerHalfReady => &["A2", "A4", "D3", "C1", "C2", "C3", "F2", "F3"],
            // No Kourier route: no InferenceService gets ready, nothing answers through it.
            Fault::KnativeIngressIstio => &["A2", "B3", "B4", "C2", "C3", "F3", "F4"],
            Fault::InferenceServiceNotReady => &["A2", "B4", "F4"],
            // F3 creates its InferenceService directly too.
            Fault::ScaffoldNeverReady => &["F3"],
            // Nothing denies any more, and the policies' webhooks are not configured.
            Fault::KyvernoWebhooksNotRegistered => &["D2", "D3", "D4", "C1"],
            Fault::KserveWebhookNoEndpoints => &["A4", "B1", "C1", "C2", "C3", "F2", "F3"],
            Fault::ScaffoldDenied => &["C2", "C3", "F3"],
            // C3 and F3 ask their own models too.
            Fault::WrongPredictions => &["C3", "F3"],
            // Allocation comes from the same API.
            Fault::OpenCostApiDown => &["E2"],
            _ => &[],
        }
    }

    /// What planting this fault changes.
    pub fn planting(self) -> Planting {
        let mut planting = Planting::default();
        let b = &mut planting.behaviour;
        match self {
            Fault::ArgocdRepoServerNotReady => {
                b.unready_containers
                    .insert(("argocd".into(), "argocd-repo-server".into()), 1);
            }
            Fault::ApplicationStuckProgressing => {
                b.unready_containers
                    .insert(("prometheus-system".into(), "prometheus-server".into()), 1);
            }
            Fault::ApplicationUnknown => planting.edits.push(Edit {
                file: "manifests/components/cert-manager/kustomization.yaml",
                from: "  - ../../../vendor/cert-manager\n",
                to: "  - ../../../vendor/cert-manager\n  - issuers.yaml\n",
            }),
            // Self-heal turned off, in the same commit as a change to the platform's own
            // objects, so the platform Application syncs that revision: ArgoCD re-syncs a
            // revision it already synced only with selfHeal (a deletion right after a commit
            // that the Application never synced would still be repaired by that first sync).
            Fault::DriftNotHealed => {
                planting.edits.push(Edit {
                    file: "manifests/apps/platform.yaml",
                    from: "      selfHeal: true",
                    to: "      selfHeal: false",
                });
                planting.edits.push(Edit {
                    file: "manifests/platform/drift-canary.yaml",
                    from: "    cost-center: platform\nspec:",
                    to: "    cost-center: platform\n    neuroscale.dev/reviewed: \"true\"\nspec:",
                });
            }
            Fault::KserveControllerHalfReady => {
                b.unready_containers
                    .insert(("kserve".into(), "kserve-controller-manager".into()), 1);
            }
            Fault::KnativeIngressIstio => planting.edits.push(Edit {
                file: "manifests/components/knative-serving/config-network.yaml",
                from: "ingress-class: kourier.ingress.networking.knative.dev",
                to: "ingress-class: istio.ingress.networking.knative.dev",
            }),
            Fault::InferenceServiceNotReady => {
                b.isvc_not_ready
                    .insert(format!("{MODEL_NAMESPACE}/sklearn-iris"));
            }
            Fault::WrongPredictions => b.wrong_prediction = Some(2),
            Fault::ScaffoldDenied => {
                b.extra_isvc_label = Some("neuroscale.dev/data-classification".into())
            }
            Fault::ApplicationSetStalled => b.appset_stalled = true,
            Fault::ScaffoldNeverReady => b.only_gitops_isvcs_ready = true,
            // Someone deleted the configuration (the documented recovery for a blocked API
            // server) and the admission controller has not re-registered it.
            Fault::KyvernoWebhooksNotRegistered => {
                b.kyverno_unregistered
                    .push(crate::kyverno::RESOURCE_VALIDATING.into());
                planting.deleted.push(Deleted {
                    api_version: "admissionregistration.k8s.io/v1",
                    kind: "ValidatingWebhookConfiguration",
                    namespace: "",
                    name: crate::kyverno::RESOURCE_VALIDATING,
                });
            }
            Fault::PolicyInAuditMode => planting.edits.push(Edit {
                file: "manifests/platform/policies/disallow-latest-tag.yaml",
                from: "  validationActions:\n    - Deny",
                to: "  validationActions:\n    - Audit",
            }),
            Fault::KserveWebhookNoEndpoints => {
                b.services_without_endpoints
                    .insert("kserve/kserve-webhook-server-service".into());
            }
            Fault::RootPolicyFailOpen => {
                b.fail_open_policies
                    .insert("disallow-root-containers".into());
            }
            Fault::OpenCostApiDown => b.opencost_unhealthy = true,
            Fault::OpenCostWithoutCostCenters => b.opencost_ignores_labels = true,
            Fault::QuotaMissing => planting.edits.push(Edit {
                file: "manifests/platform/kustomization.yaml",
                from: "  - governance.yaml\n",
                to: "  - limits.yaml\n",
            }),
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
                planting.objects.push(stale);
            }
            Fault::GpuPodOnWrongNode => b.gpu_on_wrong_node = true,
            Fault::SlowInference => b.inference_delay = Duration::from_millis(400),
        }
        planting
    }
}

impl std::fmt::Display for Fault {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{self:?} ({})", self.target())
    }
}

/// Extra files an edit needs next to the one it changes (the LimitRange on its own once the
/// quota is gone from git).
fn companion_files(edit: &Edit, tree: &Path) -> std::io::Result<()> {
    if edit.to.contains("limits.yaml") {
        let governance = std::fs::read_to_string(tree.join("manifests/platform/governance.yaml"))?;
        let limits = governance
            .split("\n---\n")
            .find(|doc| doc.contains("kind: LimitRange"))
            .unwrap_or("")
            .to_string();
        std::fs::write(tree.join("manifests/platform/limits.yaml"), limits)?;
    }
    Ok(())
}

fn git(dir: &Path, args: &[&str]) -> Result<(), String> {
    let output = Command::new("git")
        .current_dir(dir)
        .args(args)
        .env("GIT_AUTHOR_NAME", "someone")
        .env("GIT_AUTHOR_EMAIL", "someone@example.com")
        .env("GIT_COMMITTER_NAME", "someone")
        .env("GIT_COMMITTER_EMAIL", "someone@example.com")
        .output()
        .map_err(|e| format!("cannot run git: {e}"))?;
    if output.status.success() {
        Ok(())
    } else {
        Err(format!(
            "git {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&output.stderr)
        ))
    }
}

/// Commits `edits` to the branch of the bare repository `repo` (a clone, edit, commit, push,
/// as a person changing the GitOps source would).
pub fn commit_edits(repo: &Path, edits: &[Edit], message: &str) -> Result<(), String> {
    let work = tempfile::tempdir().map_err(|e| e.to_string())?;
    let tree = work.path().join("tree");
    git(
        work.path(),
        &["clone", "--quiet", &repo.display().to_string(), "tree"],
    )?;
    for edit in edits {
        let path = tree.join(edit.file);
        let text = std::fs::read_to_string(&path).map_err(|e| format!("{}: {e}", edit.file))?;
        if !text.contains(edit.from) {
            return Err(format!("{}: {:?} not found", edit.file, edit.from));
        }
        std::fs::write(&path, text.replacen(edit.from, edit.to, 1)).map_err(|e| e.to_string())?;
        companion_files(edit, &tree).map_err(|e| e.to_string())?;
    }
    git(&tree, &["add", "--all"])?;
    git(&tree, &["commit", "--quiet", "-m", message])?;
    git(&tree, &["push", "--quiet", "origin", "HEAD"])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_check_has_exactly_one_fault() {
        let mut targets: Vec<&str> = Fault::ALL.iter().map(|f| f.target()).collect();
        targets.sort();
        targets.dedup();
        assert_eq!(targets.len(), Fault::ALL.len());
    }
}
