//! The GitOps side of the platform: where the platform's manifests live for ArgoCD to sync, and
//! the golden path into it. `source` owns the local git repository and its `git daemon`,
//! `scaffold` renders a model endpoint, `conformance` holds the Kyverno policies' rules in Rust
//! (so a scaffold or a manifest can be judged without a cluster), `governance` exposes the
//! model namespace's declared quota and limits. The names below are the contract the install
//! engine, the checks and `new-model` share with `manifests/`; tests compare them to the files.

pub mod conformance;
pub mod governance;
pub mod scaffold;
pub mod source;

pub use source::{CommitId, GitSource, GitopsError};

/// Where model folders live, relative to the repository root. The ApplicationSet's git
/// directories generator watches `manifests/models/*`.
pub const MODELS_DIR: &str = "manifests/models";
/// The namespace every model endpoint is deployed into (quota and limits apply there).
pub const MODEL_NAMESPACE: &str = "models";
/// The Knative domain (config-domain); predictor hosts are `<isvc>-predictor.<ns>.<domain>`.
/// `.localhost` resolves to loopback by RFC 6761, never to a public server (seeds/08 failure 4).
pub const INGRESS_DOMAIN: &str = "neuroscale.localhost";
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
    "argocd",
    "cert-manager",
    "kyverno",
    "knative-serving",
    "kourier-system",
    "kserve",
    "prometheus-system",
    "opencost",
];
/// The placeholder every `repoURL` in `manifests/` carries; `GitSource::sync_from` rewrites it to
/// the URL the cluster reaches the local repository at.
pub const REPO_URL_PLACEHOLDER: &str = "NEUROSCALE_GITOPS_URL";
/// The root Application (app-of-apps) the install engine applies, relative to the project root.
pub const ROOT_APPLICATION_FILE: &str = "manifests/root.yaml";
/// The root Application's name.
pub const ROOT_APPLICATION: &str = "neuroscale-root";
/// ArgoCD settings the install engine server-side applies onto `argocd-cm` before the root
/// Application (the Application health check that makes app-of-apps waves wait).
pub const ARGOCD_CM_FILE: &str = "manifests/bootstrap/argocd-cm.yaml";
/// Applications the harness applies only in some modes (the NVIDIA device plugin with a real
/// GPU), relative to the project root.
pub const OPTIONAL_APPLICATIONS_DIR: &str = "manifests/optional";
/// The ApplicationSet that turns each model folder into a child Application.
pub const MODEL_APPLICATIONSET: &str = "model-endpoints";
/// The GPU model check F3 applies itself (kept outside `MODELS_DIR`).
pub const GPU_MODEL_FILE: &str = "manifests/gpu/sklearn-iris-gpu/inferenceservice.yaml";
/// The drift canary check A4 deletes.
pub const DRIFT_CANARY_NAMESPACE: &str = "neuroscale-canary";
pub const DRIFT_CANARY_DEPLOYMENT: &str = "drift-canary";
/// The Application that syncs the canary (and the rest of `manifests/platform/`).
pub const PLATFORM_APPLICATION: &str = "platform";

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
