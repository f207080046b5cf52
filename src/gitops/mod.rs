//! The GitOps side of the platform: where the platform's manifests live for ArgoCD to sync, and
//! the golden path into it. `source` owns the local git repository, `daemon` its `git daemon`,
//! `scaffold` renders a model endpoint, `conformance` holds the Kyverno policies' rules in Rust
//! (so a scaffold or a manifest can be judged without a cluster), `governance` exposes the
//! model namespace's declared quota and limits. The names below are the contract the install
//! engine, the checks and `new-model` share with `manifests/`; tests compare them to the files.

pub mod conformance;
mod daemon;
pub mod endpoint;
pub mod governance;
pub mod scaffold;
pub mod source;

use std::path::{Path, PathBuf};

use crate::platform;

pub use source::{CommitId, GitSource, GitopsError};

/// Where model folders live, relative to the repository root. The ApplicationSet's git
/// directories generator watches `manifests/models/*`.
pub const MODELS_DIR: &str = "manifests/models";
/// The namespace every model endpoint is deployed into (quota and limits apply there) and the
/// Knative domain predictor hosts live under: the platform topology's.
pub use crate::platform::models::{INGRESS_DOMAIN, NAMESPACE as MODEL_NAMESPACE};
/// The five Kyverno ValidatingPolicies in `manifests/platform/policies/`.
pub const POLICY_NAMES: [&str; 5] = [
    "require-standard-labels-inferenceservice",
    "require-standard-labels-deployment",
    "require-resource-limits",
    "disallow-latest-tag",
    "disallow-root-containers",
];
/// The namespaces the policies leave alone: the platform's own components. Every other
/// namespace is governed.
pub const PLATFORM_NAMESPACES: [&str; 11] = [
    "kube-system",
    "kube-public",
    "kube-node-lease",
    platform::argocd::NAMESPACE,
    platform::cert_manager::NAMESPACE,
    platform::kyverno::NAMESPACE,
    platform::knative::NAMESPACE,
    platform::kourier::NAMESPACE,
    platform::kserve::NAMESPACE,
    platform::prometheus::NAMESPACE,
    platform::opencost::NAMESPACE,
];
/// The placeholder every `repoURL` in `manifests/` carries; `GitSource::sync_from` rewrites it to
/// the URL the cluster reaches the local repository at.
pub const REPO_URL_PLACEHOLDER: &str = "NEUROSCALE_GITOPS_URL";
/// The root Application (app-of-apps) the install engine applies, relative to the project root.
pub const ROOT_APPLICATION_FILE: &str = "manifests/root.yaml";
/// The root Application's name, the model ApplicationSet's, and the Application that syncs
/// the canary (and the rest of `manifests/platform/`).
pub use crate::platform::argocd::{MODEL_APPLICATIONSET, PLATFORM_APPLICATION, ROOT_APPLICATION};
/// ArgoCD settings the install engine server-side applies onto `argocd-cm` before the root
/// Application (the Application health check that makes app-of-apps waves wait).
pub const ARGOCD_CM_FILE: &str = "manifests/bootstrap/argocd-cm.yaml";
/// ArgoCD controller flags the install engine merges into `argocd-cmd-params-cm` likewise
/// (per-resource health kept in the Application's status).
pub const ARGOCD_CMD_PARAMS_FILE: &str = "manifests/bootstrap/argocd-cmd-params-cm.yaml";
/// Applications the harness applies only in some modes (the NVIDIA device plugin with a real
/// GPU), relative to the project root.
pub const OPTIONAL_APPLICATIONS_DIR: &str = "manifests/optional";
/// The GPU model check F3 applies itself (kept outside `MODELS_DIR`).
pub const GPU_MODEL_FILE: &str = "manifests/gpu/sklearn-iris-gpu/inferenceservice.yaml";
/// The drift canary check A4 deletes.
pub use crate::platform::canary::{
    DEPLOYMENT as DRIFT_CANARY_DEPLOYMENT, NAMESPACE as DRIFT_CANARY_NAMESPACE,
};

/// The child Application the ApplicationSet generates for a model folder.
pub fn model_application_name(model: &str) -> String {
    format!("model-{model}")
}

/// The host Kourier routes to a model's predictor (the InferenceService's `status.url` host).
pub fn predictor_host(model: &str, namespace: &str) -> String {
    format!("{model}-predictor.{namespace}.{INGRESS_DOMAIN}")
}

/// Where a model's folder lives in the repository.
pub fn model_dir(model: &str) -> String {
    format!("{MODELS_DIR}/{model}")
}

/// Where `repo_path` (a path in the GitOps repository, under `manifests/`) lies in the folder
/// `manifests`: the folder may have any name, the repository always calls it `manifests/`.
pub fn in_manifests(manifests: &Path, repo_path: &str) -> PathBuf {
    manifests.join(repo_path.strip_prefix("manifests/").unwrap_or(repo_path))
}

/// What the harness itself applies once ArgoCD is ready, in order, with every repoURL
/// placeholder rewritten to `repo_url`: the `argocd-cm` settings, the root Application, and
/// (with a real GPU) the optional Applications. Everything else ArgoCD syncs from the source.
/// `manifests` is the folder holding the manifests tree (its `root.yaml`, `bootstrap/`, ...).
pub fn harness_objects(
    manifests: &Path,
    repo_url: &str,
    real_gpu: bool,
) -> Result<Vec<serde_json::Value>, crate::yaml::YamlError> {
    let mut files = vec![
        in_manifests(manifests, ARGOCD_CM_FILE),
        in_manifests(manifests, ARGOCD_CMD_PARAMS_FILE),
        in_manifests(manifests, ROOT_APPLICATION_FILE),
    ];
    if real_gpu {
        let dir = in_manifests(manifests, OPTIONAL_APPLICATIONS_DIR);
        let mut optional: Vec<_> = std::fs::read_dir(&dir)
            .map_err(|source| crate::yaml::YamlError::Read {
                path: dir.clone(),
                source,
            })?
            .filter_map(|entry| entry.ok().map(|e| e.path()))
            .filter(|path| path.extension().is_some_and(|e| e == "yaml"))
            .collect();
        optional.sort();
        files.extend(optional);
    }
    let mut objects = Vec::new();
    for file in files {
        let text =
            std::fs::read_to_string(&file).map_err(|source| crate::yaml::YamlError::Read {
                path: file.clone(),
                source,
            })?;
        let text = text.replace(REPO_URL_PLACEHOLDER, repo_url);
        objects.extend(crate::yaml::parse_documents(&file, &text)?);
    }
    Ok(objects)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn manifests() -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("manifests")
    }

    #[test]
    fn the_harness_applies_argocd_settings_then_the_root_application() {
        let url = "git://172.18.0.1:9418/neuroscale.git";
        let objects = harness_objects(&manifests(), url, false).unwrap();
        let names: Vec<&str> = objects
            .iter()
            .map(|o| o["metadata"]["name"].as_str().unwrap())
            .collect();
        assert_eq!(
            names,
            vec!["argocd-cm", "argocd-cmd-params-cm", ROOT_APPLICATION]
        );
        assert_eq!(objects[2]["spec"]["source"]["repoURL"], url);
        let with_gpu = harness_objects(&manifests(), url, true).unwrap();
        let last = with_gpu.last().unwrap();
        assert_eq!(last["metadata"]["name"], "nvidia-device-plugin");
        assert_eq!(last["spec"]["source"]["repoURL"], url);
    }

    #[test]
    fn names_are_derived_consistently() {
        assert_eq!(model_application_name("m"), "model-m");
        assert_eq!(model_dir("m"), "manifests/models/m");
        assert_eq!(
            predictor_host("m", "models"),
            "m-predictor.models.neuroscale.localhost"
        );
    }
}
