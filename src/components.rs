//! The pin table and the component dependency graph: every upstream piece `up` installs, at
//! which version, from where, into which namespace, what it waits on to count as ready, and
//! what must be ready before it. `plan`, the install engine and the manifests' sync waves all
//! read this one table. Namespaces and object names come from `platform`, the topology.

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;

use crate::platform::{
    argocd, cert_manager, knative, kourier, kserve, kyverno, models, nvidia, opencost, prometheus,
};

/// The k3d release `up` uses, fetched into the cache when `k3d` is not on PATH.
pub const K3D_VERSION: &str = "v5.9.0";
/// The k3s node image. Knative 1.22+ refuses Kubernetes below v1.34.0 and k3d's built-in
/// fallback (v1.32.5-k3s1) is too old, so the image is always pinned.
pub const K3S_IMAGE: &str = "rancher/k3s:v1.34.8-k3s1";

/// How a component reaches the cluster.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Delivery {
    /// Applied by the harness itself with server-side apply (only ArgoCD: it cannot sync itself
    /// before it exists).
    Harness,
    /// An ArgoCD Application syncing the vendored artefacts from the local GitOps source.
    ArgoApplication,
}

/// When a component is part of the install.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Presence {
    Always,
    /// Only with a real GPU (`gpu: real`, or `auto` resolving to real).
    GpuReal,
}

/// What an upstream artefact is, which decides how it is vendored into the GitOps source.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ArtifactKind {
    /// A release manifest (multi-document YAML) applied as is.
    Manifest,
    /// A packaged Helm chart (.tgz) unpacked into the GitOps source for ArgoCD to render.
    HelmChart,
}

/// One downloaded upstream file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Artifact {
    pub url: &'static str,
    pub kind: ArtifactKind,
    /// Upstream's published SHA-256 where upstream publishes one; otherwise the lock file
    /// written on first download is the reference.
    pub sha256: Option<&'static str>,
}

/// A readiness gate: what must be true in the cluster before the component counts as ready.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(tag = "gate", rename_all = "kebab-case")]
pub enum Gate {
    CrdEstablished {
        name: &'static str,
    },
    Deployment {
        namespace: &'static str,
        name: &'static str,
    },
    StatefulSet {
        namespace: &'static str,
        name: &'static str,
    },
    DaemonSet {
        namespace: &'static str,
        name: &'static str,
    },
    /// A webhook Service with at least one ready endpoint.
    ServiceEndpoints {
        namespace: &'static str,
        name: &'static str,
    },
    /// A LoadBalancer Service with an ingress address (k3s servicelb).
    LoadBalancerAddress {
        namespace: &'static str,
        name: &'static str,
    },
    /// An ArgoCD Application that is Synced and Healthy.
    ApplicationHealthy {
        name: &'static str,
    },
}

/// One upstream component of the platform.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Component {
    pub name: &'static str,
    pub version: &'static str,
    pub namespace: &'static str,
    pub delivery: Delivery,
    pub presence: Presence,
    pub artifacts: &'static [Artifact],
    pub depends_on: &'static [&'static str],
    pub gates: &'static [Gate],
    /// Why this version (the pin table's rationale column).
    pub why: &'static str,
}

const fn manifest(url: &'static str) -> Artifact {
    Artifact {
        url,
        kind: ArtifactKind::Manifest,
        sha256: None,
    }
}

const fn chart(url: &'static str) -> Artifact {
    Artifact {
        url,
        kind: ArtifactKind::HelmChart,
        sha256: None,
    }
}

/// The platform, as `up` installs it. Sources: each component's release notes and manifests at the pinned tag.
pub const COMPONENTS: &[Component] = &[
    Component {
        name: "argocd",
        version: "v3.5.1",
        namespace: argocd::NAMESPACE,
        delivery: Delivery::Harness,
        presence: Presence::Always,
        artifacts: &[manifest(
            "https://raw.githubusercontent.com/argoproj/argo-cd/v3.5.1/manifests/install.yaml",
        )],
        depends_on: &[],
        gates: &[
            Gate::CrdEstablished { name: argocd::APPLICATIONS_CRD },
            Gate::CrdEstablished { name: argocd::APPLICATIONSETS_CRD },
            Gate::CrdEstablished { name: argocd::APPPROJECTS_CRD },
            Gate::StatefulSet { namespace: argocd::NAMESPACE, name: argocd::APPLICATION_CONTROLLER },
            Gate::Deployment { namespace: argocd::NAMESPACE, name: argocd::REPO_SERVER },
            Gate::Deployment { namespace: argocd::NAMESPACE, name: argocd::SERVER },
            Gate::Deployment { namespace: argocd::NAMESPACE, name: argocd::APPLICATIONSET_CONTROLLER },
            Gate::Deployment { namespace: argocd::NAMESPACE, name: argocd::REDIS },
        ],
        why: "stable tag (2026-08-12); tested on Kubernetes 1.33-1.36; ApplicationSet CRD needs server-side apply",
    },
    Component {
        name: "cert-manager",
        version: "v1.21.1",
        namespace: cert_manager::NAMESPACE,
        delivery: Delivery::ArgoApplication,
        presence: Presence::Always,
        artifacts: &[manifest(
            "https://github.com/cert-manager/cert-manager/releases/download/v1.21.1/cert-manager.yaml",
        )],
        depends_on: &["argocd"],
        gates: &[
            Gate::CrdEstablished { name: cert_manager::CERTIFICATES_CRD },
            Gate::CrdEstablished { name: cert_manager::ISSUERS_CRD },
            Gate::Deployment { namespace: cert_manager::NAMESPACE, name: cert_manager::CONTROLLER },
            Gate::Deployment { namespace: cert_manager::NAMESPACE, name: cert_manager::CAINJECTOR },
            Gate::Deployment { namespace: cert_manager::NAMESPACE, name: cert_manager::WEBHOOK },
            Gate::ServiceEndpoints { namespace: cert_manager::NAMESPACE, name: cert_manager::WEBHOOK },
            Gate::ApplicationHealthy { name: "cert-manager" },
        ],
        why: "newest release (2026-07-29); KServe's serving-cert needs it",
    },
    Component {
        name: "kyverno",
        version: "v1.19.0",
        namespace: kyverno::NAMESPACE,
        delivery: Delivery::ArgoApplication,
        presence: Presence::Always,
        artifacts: &[manifest(
            "https://github.com/kyverno/kyverno/releases/download/v1.19.0/install.yaml",
        )],
        depends_on: &["argocd"],
        gates: &[
            Gate::CrdEstablished { name: kyverno::VALIDATING_POLICIES_CRD },
            Gate::Deployment { namespace: kyverno::NAMESPACE, name: kyverno::ADMISSION_CONTROLLER },
            Gate::Deployment { namespace: kyverno::NAMESPACE, name: kyverno::BACKGROUND_CONTROLLER },
            Gate::Deployment { namespace: kyverno::NAMESPACE, name: kyverno::CLEANUP_CONTROLLER },
            Gate::Deployment { namespace: kyverno::NAMESPACE, name: kyverno::REPORTS_CONTROLLER },
            Gate::ServiceEndpoints { namespace: kyverno::NAMESPACE, name: kyverno::SERVICE },
            Gate::ApplicationHealthy { name: "kyverno" },
        ],
        why: "1.19.0 fixes the fail-open startup window (#16281) and offers excludeBootstrapResources (#16177); ValidatingPolicy is the recommended API",
    },
    Component {
        name: "knative-serving",
        version: "knative-v1.23.0",
        namespace: knative::NAMESPACE,
        delivery: Delivery::ArgoApplication,
        presence: Presence::Always,
        // serving-core.yaml already holds every CRD of serving-crds.yaml (knative/serving
        // hack/generate-yamls.sh builds it from all of config/core/, 300-resources included);
        // listing both in one kustomization is a duplicate-id error, and ArgoCD orders the CRDs
        // before the resources of the same sync anyway.
        artifacts: &[manifest(
            "https://github.com/knative/serving/releases/download/knative-v1.23.0/serving-core.yaml",
        )],
        depends_on: &["argocd"],
        gates: &[
            Gate::CrdEstablished { name: knative::SERVICES_CRD },
            Gate::Deployment { namespace: knative::NAMESPACE, name: knative::ACTIVATOR },
            Gate::Deployment { namespace: knative::NAMESPACE, name: knative::AUTOSCALER },
            Gate::Deployment { namespace: knative::NAMESPACE, name: knative::CONTROLLER },
            Gate::Deployment { namespace: knative::NAMESPACE, name: knative::WEBHOOK },
            Gate::ServiceEndpoints { namespace: knative::NAMESPACE, name: knative::WEBHOOK },
            Gate::ApplicationHealthy { name: "knative-serving" },
        ],
        why: "newest release (2026-07-29); needs Kubernetes >= 1.34, hence the pinned k3s image",
    },
    Component {
        name: "kourier",
        version: "knative-v1.23.0",
        namespace: kourier::NAMESPACE,
        delivery: Delivery::ArgoApplication,
        presence: Presence::Always,
        artifacts: &[manifest(
            "https://github.com/knative/net-kourier/releases/download/knative-v1.23.0/kourier.yaml",
        )],
        depends_on: &["knative-serving"],
        gates: &[
            Gate::Deployment { namespace: kourier::NAMESPACE, name: kourier::GATEWAY },
            Gate::Deployment { namespace: kourier::CONTROLLER_NAMESPACE, name: kourier::CONTROLLER },
            Gate::LoadBalancerAddress { namespace: kourier::NAMESPACE, name: kourier::SERVICE },
            Gate::ApplicationHealthy { name: "kourier" },
        ],
        why: "released with Knative Serving knative-v1.23.0; replaces Istio, which KServe must not assume",
    },
    Component {
        name: "kserve",
        version: "v0.20.0",
        namespace: kserve::NAMESPACE,
        delivery: Delivery::ArgoApplication,
        presence: Presence::Always,
        artifacts: &[manifest(
            "https://github.com/kserve/kserve/releases/download/v0.20.0/kserve.yaml",
        )],
        depends_on: &["cert-manager", "knative-serving", "kourier"],
        gates: &[
            Gate::CrdEstablished { name: kserve::INFERENCE_SERVICES_CRD },
            Gate::CrdEstablished { name: kserve::CLUSTER_SERVING_RUNTIMES_CRD },
            Gate::Deployment { namespace: kserve::NAMESPACE, name: kserve::CONTROLLER },
            Gate::ServiceEndpoints { namespace: kserve::NAMESPACE, name: kserve::WEBHOOK_SERVICE_NAME },
            Gate::ApplicationHealthy { name: "kserve" },
        ],
        why: "newest stable (2026-08-06); v0.21.0-rc0 is a pre-release",
    },
    Component {
        name: "prometheus",
        version: "29.27.0",
        namespace: prometheus::NAMESPACE,
        delivery: Delivery::ArgoApplication,
        presence: Presence::Always,
        artifacts: &[chart(
            "https://github.com/prometheus-community/helm-charts/releases/download/prometheus-29.27.0/prometheus-29.27.0.tgz",
        )],
        depends_on: &["argocd"],
        gates: &[
            Gate::Deployment { namespace: prometheus::NAMESPACE, name: prometheus::SERVER },
            Gate::ApplicationHealthy { name: "prometheus" },
        ],
        why: "chart 29.27.0 (app v3.14.0); the release name and namespace OpenCost expects by default",
    },
    Component {
        name: "opencost",
        version: "2.5.17",
        namespace: opencost::NAMESPACE,
        delivery: Delivery::ArgoApplication,
        presence: Presence::Always,
        artifacts: &[chart(
            "https://github.com/opencost/opencost-helm-chart/releases/download/opencost-2.5.17/opencost-2.5.17.tgz",
        )],
        depends_on: &["prometheus"],
        gates: &[
            Gate::Deployment { namespace: opencost::NAMESPACE, name: opencost::DEPLOYMENT },
            Gate::ApplicationHealthy { name: "opencost" },
        ],
        why: "chart 2.5.17 (app 1.120.1), the newest verified pair",
    },
    Component {
        name: "nvidia-device-plugin",
        version: "v0.20.0",
        namespace: nvidia::NAMESPACE,
        delivery: Delivery::ArgoApplication,
        presence: Presence::GpuReal,
        artifacts: &[manifest(
            "https://raw.githubusercontent.com/NVIDIA/k8s-device-plugin/v0.20.0/deployments/static/nvidia-device-plugin.yml",
        )],
        depends_on: &["argocd"],
        gates: &[
            Gate::DaemonSet { namespace: nvidia::NAMESPACE, name: nvidia::DEVICE_PLUGIN },
            Gate::ApplicationHealthy { name: "nvidia-device-plugin" },
        ],
        why: "newest release (2026-08-19); only with a real GPU, it crash-loops on nodes without NVML",
    },
    Component {
        name: "platform",
        version: "manifests/",
        namespace: models::NAMESPACE,
        delivery: Delivery::ArgoApplication,
        presence: Presence::Always,
        artifacts: &[],
        depends_on: &["kyverno", "kserve", "opencost"],
        gates: &[
            Gate::ApplicationHealthy { name: argocd::PLATFORM_APPLICATION },
        ],
        why: "this repository's policies, governance, serving runtime, drift canary and models; Kyverno must be ready before anything it governs syncs",
    },
];

/// A malformed component graph.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GraphError {
    #[error("component `{0}` is listed twice")]
    Duplicate(String),
    #[error("component `{component}` depends on `{missing}`, which is not in the table")]
    UnknownDependency { component: String, missing: String },
    #[error("dependency cycle: {}", .0.join(" -> "))]
    Cycle(Vec<String>),
}

/// The install order: waves of components whose dependencies are all in earlier waves, so each
/// wave's members can install concurrently. The wave index is also the ArgoCD sync wave.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Plan {
    pub waves: Vec<Vec<&'static str>>,
}

impl Plan {
    /// The wave a component installs in.
    pub fn wave_of(&self, name: &str) -> Option<usize> {
        self.waves.iter().position(|wave| wave.contains(&name))
    }

    /// Components in install order (wave by wave, alphabetical within a wave).
    pub fn order(&self) -> impl Iterator<Item = &'static str> + '_ {
        self.waves.iter().flatten().copied()
    }
}

/// Validates the graph and layers it into waves (Kahn's algorithm, by longest dependency path).
pub fn plan(components: &[Component]) -> Result<Plan, GraphError> {
    let mut by_name: BTreeMap<&'static str, &Component> = BTreeMap::new();
    for component in components {
        if by_name.insert(component.name, component).is_some() {
            return Err(GraphError::Duplicate(component.name.to_string()));
        }
    }
    for component in components {
        for dep in component.depends_on {
            if !by_name.contains_key(dep) {
                return Err(GraphError::UnknownDependency {
                    component: component.name.to_string(),
                    missing: dep.to_string(),
                });
            }
        }
    }
    let mut placed: BTreeSet<&'static str> = BTreeSet::new();
    let mut waves = Vec::new();
    while placed.len() < components.len() {
        let wave: Vec<&'static str> = by_name
            .values()
            .filter(|c| !placed.contains(c.name))
            .filter(|c| c.depends_on.iter().all(|d| placed.contains(d)))
            .map(|c| c.name)
            .collect();
        if wave.is_empty() {
            let remaining: BTreeSet<&'static str> = by_name
                .keys()
                .copied()
                .filter(|n| !placed.contains(n))
                .collect();
            return Err(GraphError::Cycle(find_cycle(&by_name, &remaining)));
        }
        placed.extend(wave.iter().copied());
        waves.push(wave);
    }
    Ok(Plan { waves })
}

/// Walks unplaced components along unplaced dependencies until a name repeats.
fn find_cycle(
    by_name: &BTreeMap<&'static str, &Component>,
    remaining: &BTreeSet<&'static str>,
) -> Vec<String> {
    let mut path: Vec<&'static str> = Vec::new();
    let mut current = *remaining
        .iter()
        .next()
        .expect("a stuck graph has nodes left");
    loop {
        if let Some(start) = path.iter().position(|n| *n == current) {
            let mut cycle: Vec<String> = path[start..].iter().map(|s| s.to_string()).collect();
            cycle.push(current.to_string());
            return cycle;
        }
        path.push(current);
        current = by_name[current]
            .depends_on
            .iter()
            .copied()
            .find(|d| remaining.contains(d))
            .expect("a node left in a stuck graph has an unplaced dependency");
    }
}

/// Looks a component up by name.
pub fn find(name: &str) -> Option<&'static Component> {
    COMPONENTS.iter().find(|c| c.name == name)
}

/// The components installed for a GPU mode (the device plugin only with a real GPU).
pub fn selected(real_gpu: bool) -> Vec<Component> {
    COMPONENTS
        .iter()
        .filter(|c| c.presence == Presence::Always || real_gpu)
        .copied()
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node(name: &'static str, depends_on: &'static [&'static str]) -> Component {
        Component {
            name,
            depends_on,
            ..COMPONENTS[0]
        }
    }

    #[test]
    fn the_real_graph_orders_dependencies_before_dependents() {
        let plan = plan(COMPONENTS).expect("the pin table is a valid DAG");
        for component in COMPONENTS {
            let wave = plan.wave_of(component.name).unwrap();
            for dep in component.depends_on {
                assert!(
                    plan.wave_of(dep).unwrap() < wave,
                    "{dep} before {}",
                    component.name
                );
            }
        }
        assert_eq!(plan.waves[0], vec!["argocd"]);
        assert_eq!(plan.order().last(), Some("platform"));
        assert!(plan.wave_of("kyverno").unwrap() < plan.wave_of("platform").unwrap());
    }

    #[test]
    fn independent_components_share_a_wave() {
        let plan = plan(COMPONENTS).unwrap();
        let first_after_argocd = &plan.waves[1];
        for name in ["cert-manager", "kyverno", "knative-serving", "prometheus"] {
            assert!(
                first_after_argocd.contains(&name),
                "{name} in {first_after_argocd:?}"
            );
        }
    }

    #[test]
    fn a_cycle_is_an_error_naming_it() {
        let graph = [node("a", &["c"]), node("b", &["a"]), node("c", &["b"])];
        match plan(&graph) {
            Err(GraphError::Cycle(cycle)) => {
                assert_eq!(cycle.first(), cycle.last());
                assert_eq!(cycle.len(), 4, "{cycle:?}");
            }
            other => panic!("expected a cycle, got {other:?}"),
        }
    }

    #[test]
    fn an_unknown_dependency_is_an_error() {
        let graph = [node("a", &["ghost"])];
        assert_eq!(
            plan(&graph),
            Err(GraphError::UnknownDependency {
                component: "a".into(),
                missing: "ghost".into()
            })
        );
    }

    #[test]
    fn a_duplicate_name_is_an_error() {
        let graph = [node("a", &[]), node("a", &[])];
        assert_eq!(plan(&graph), Err(GraphError::Duplicate("a".into())));
    }

    #[test]
    fn the_device_plugin_is_only_installed_with_a_real_gpu() {
        assert!(!selected(false)
            .iter()
            .any(|c| c.name == "nvidia-device-plugin"));
        assert!(selected(true)
            .iter()
            .any(|c| c.name == "nvidia-device-plugin"));
        plan(&selected(false)).expect("the CPU-only graph is valid too");
    }

    #[test]
    fn every_download_is_pinned_to_its_version() {
        for component in COMPONENTS {
            for artifact in component.artifacts {
                assert!(
                    artifact.url.contains(component.version),
                    "{} must name {}",
                    artifact.url,
                    component.version
                );
            }
        }
    }
}
