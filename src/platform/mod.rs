//! The platform's topology, declared once: every component's namespace and the objects the
//! harness reads or reaches by name (controllers, webhook Services, CRDs, the Kourier and
//! OpenCost ports, the ArgoCD and model namespaces). The pin table's gates, the checks, `doctor`,
//! the probe's port-forward, the GitOps contract and `connect` all read these constants, so a
//! renamed upstream object is one edit here. `views` holds the typed partial views of the
//! custom kinds the harness reads (Application, ApplicationSet, InferenceService,
//! ValidatingPolicy).
//!
//! Sources: the upstream release manifests as pinned in `components`, and
//! this project's `manifests/` for the objects the platform adds itself.

pub mod views;

/// A namespaced object named by the topology.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Named {
    pub namespace: &'static str,
    pub name: &'static str,
}

impl Named {
    /// `namespace/name`.
    pub fn path(&self) -> String {
        format!("{}/{}", self.namespace, self.name)
    }
}

impl std::fmt::Display for Named {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.namespace, self.name)
    }
}

/// ArgoCD (argo-cd manifests/install.yaml) and the Applications `manifests/` declares.
pub mod argocd {
    pub const NAMESPACE: &str = "argocd";
    /// A StatefulSet; the others are Deployments.
    pub const APPLICATION_CONTROLLER: &str = "argocd-application-controller";
    pub const REPO_SERVER: &str = "argocd-repo-server";
    pub const SERVER: &str = "argocd-server";
    pub const APPLICATIONSET_CONTROLLER: &str = "argocd-applicationset-controller";
    pub const REDIS: &str = "argocd-redis";
    pub const APPLICATIONS_CRD: &str = "applications.argoproj.io";
    pub const APPLICATIONSETS_CRD: &str = "applicationsets.argoproj.io";
    pub const APPPROJECTS_CRD: &str = "appprojects.argoproj.io";
    /// The root Application (app-of-apps) the install engine applies (`manifests/root.yaml`).
    pub const ROOT_APPLICATION: &str = "neuroscale-root";
    /// The Application that syncs `manifests/platform/` (policies, governance, the canary).
    pub const PLATFORM_APPLICATION: &str = "platform";
    /// The ApplicationSet that turns each model folder into a child Application.
    pub const MODEL_APPLICATIONSET: &str = "model-endpoints";
    /// The annotation ArgoCD (3.0+, annotation tracking) puts on every resource it manages:
    /// `<app>:<group>/<kind>:<namespace>/<name>` (argo-cd docs/user-guide/resource_tracking.md).
    pub const TRACKING_ID_ANNOTATION: &str = "argocd.argoproj.io/tracking-id";
}

/// cert-manager (cert-manager.yaml).
pub mod cert_manager {
    use super::Named;
    pub const NAMESPACE: &str = "cert-manager";
    pub const CONTROLLER: &str = "cert-manager";
    pub const CAINJECTOR: &str = "cert-manager-cainjector";
    pub const WEBHOOK: &str = "cert-manager-webhook";
    pub const WEBHOOK_SERVICE: Named = Named {
        namespace: NAMESPACE,
        name: WEBHOOK,
    };
    pub const CERTIFICATES_CRD: &str = "certificates.cert-manager.io";
    pub const ISSUERS_CRD: &str = "issuers.cert-manager.io";
}

/// Kyverno (install.yaml v1.19.0).
pub mod kyverno {
    use super::Named;
    pub const NAMESPACE: &str = "kyverno";
    pub const ADMISSION_CONTROLLER: &str = "kyverno-admission-controller";
    pub const BACKGROUND_CONTROLLER: &str = "kyverno-background-controller";
    pub const CLEANUP_CONTROLLER: &str = "kyverno-cleanup-controller";
    pub const REPORTS_CONTROLLER: &str = "kyverno-reports-controller";
    /// The four controllers, all Deployments.
    pub const CONTROLLERS: &[&str] = &[
        ADMISSION_CONTROLLER,
        BACKGROUND_CONTROLLER,
        CLEANUP_CONTROLLER,
        REPORTS_CONTROLLER,
    ];
    /// The admission webhook Service every resource webhook calls.
    pub const SERVICE: &str = "kyverno-svc";
    pub const WEBHOOK_SERVICE: Named = Named {
        namespace: NAMESPACE,
        name: SERVICE,
    };
    /// Webhook configurations the admission controller registers at runtime (kyverno
    /// pkg/config/config.go): resource validation (where ValidatingPolicies' `vpol.validate.*`
    /// webhooks live) and validation of policies themselves; resource mutation.
    pub const VALIDATING_CONFIGS: &[&str] = &[
        "kyverno-resource-validating-webhook-cfg",
        "kyverno-policy-validating-webhook-cfg",
    ];
    pub const MUTATING_CONFIGS: &[&str] = &["kyverno-resource-mutating-webhook-cfg"];
    pub const VALIDATING_POLICIES_CRD: &str = "validatingpolicies.policies.kyverno.io";
}

/// Knative Serving (serving-core.yaml).
pub mod knative {
    use super::Named;
    pub const NAMESPACE: &str = "knative-serving";
    pub const ACTIVATOR: &str = "activator";
    pub const AUTOSCALER: &str = "autoscaler";
    pub const CONTROLLER: &str = "controller";
    pub const WEBHOOK: &str = "webhook";
    pub const WEBHOOK_SERVICE: Named = Named {
        namespace: NAMESPACE,
        name: WEBHOOK,
    };
    pub const CONFIG_NETWORK: &str = "config-network";
    pub const CONFIG_DOMAIN: &str = "config-domain";
    pub const SERVICES_CRD: &str = "services.serving.knative.dev";
    /// Knative's default domain: cluster-local, never published through the ingress.
    pub const CLUSTER_LOCAL_DOMAIN: &str = "svc.cluster.local";
}

/// Kourier (net-kourier kourier.yaml): the gateway external traffic enters through.
pub mod kourier {
    pub const NAMESPACE: &str = "kourier-system";
    pub const GATEWAY: &str = "3scale-kourier-gateway";
    /// The controller lives in Knative's namespace.
    pub const CONTROLLER: &str = "net-kourier-controller";
    pub const CONTROLLER_NAMESPACE: &str = super::knative::NAMESPACE;
    /// The LoadBalancer Service in front of the gateway (config/300-gateway.yaml).
    pub const SERVICE: &str = "kourier";
    /// The Service's HTTP port (-> gateway 8080); k3d maps a host port to it.
    pub const HTTP_PORT: u16 = 80;
    /// The value Knative's `config-network` `ingress-class` must hold.
    pub const INGRESS_CLASS: &str = "kourier.ingress.networking.knative.dev";
}

/// KServe (kserve.yaml v0.20.0, config/default).
pub mod kserve {
    use super::Named;
    pub const NAMESPACE: &str = "kserve";
    pub const CONTROLLER: &str = "kserve-controller-manager";
    pub const WEBHOOK_SERVICE_NAME: &str = "kserve-webhook-server-service";
    pub const WEBHOOK_SERVICE: Named = Named {
        namespace: NAMESPACE,
        name: WEBHOOK_SERVICE_NAME,
    };
    /// The LLMInferenceService controller's webhooks (kserve config/llmisvc).
    pub const LLMISVC_WEBHOOK_SERVICE: Named = Named {
        namespace: NAMESPACE,
        name: "llmisvc-webhook-server-service",
    };
    /// The local model cache controller's webhook (kserve config/localmodels).
    pub const LOCALMODEL_WEBHOOK_SERVICE: Named = Named {
        namespace: NAMESPACE,
        name: "localmodel-webhook-server-service",
    };
    /// The ConfigMap holding KServe's ingress and deployment settings.
    pub const CONFIG: &str = "inferenceservice-config";
    pub const INFERENCE_SERVICES_CRD: &str = "inferenceservices.serving.kserve.io";
    pub const SERVING_RUNTIMES_CRD: &str = "servingruntimes.serving.kserve.io";
    pub const CLUSTER_SERVING_RUNTIMES_CRD: &str = "clusterservingruntimes.serving.kserve.io";
    /// The CRDs an InferenceService needs (kserve config/crd/full).
    pub const CRDS: &[&str] = &[
        INFERENCE_SERVICES_CRD,
        SERVING_RUNTIMES_CRD,
        CLUSTER_SERVING_RUNTIMES_CRD,
    ];
    /// The label KServe puts on an InferenceService's pods.
    pub const ISVC_POD_LABEL: &str = "serving.kserve.io/inferenceservice";
}

/// Prometheus (prometheus chart 29.27.0): the release name and namespace OpenCost expects.
pub mod prometheus {
    pub const NAMESPACE: &str = "prometheus-system";
    pub const SERVER: &str = "prometheus-server";
}

/// OpenCost (opencost chart 2.5.17).
pub mod opencost {
    pub const NAMESPACE: &str = "opencost";
    pub const DEPLOYMENT: &str = "opencost";
    /// The API Service and its port.
    pub const SERVICE: &str = "opencost";
    pub const API_PORT: u16 = 9003;
}

/// The NVIDIA device plugin (only with a real GPU).
pub mod nvidia {
    pub const NAMESPACE: &str = "kube-system";
    pub const DEVICE_PLUGIN: &str = "nvidia-device-plugin-daemonset";
}

/// Where the model endpoints live: the namespace `manifests/` governs (quota, limits, the
/// ApplicationSet's destination, the golden path's scaffold). The scenario cannot move it.
pub mod models {
    pub const NAMESPACE: &str = "models";
    /// The Knative domain (config-domain); predictor hosts are `<isvc>-predictor.<ns>.<domain>`.
    /// `.localhost` resolves to loopback by RFC 6761, never to a public server.
    pub const INGRESS_DOMAIN: &str = "neuroscale.localhost";
}

/// The drift canary check A4 deletes (`manifests/platform/`).
pub mod canary {
    pub const NAMESPACE: &str = "neuroscale-canary";
    pub const DEPLOYMENT: &str = "drift-canary";
}

/// Webhook name prefixes and the Service behind each: how an admission
/// error that names a webhook is traced to the component that should be serving it.
/// KServe's names come from its release (kserve config/webhook/manifests.yaml at v0.20.0: the
/// InferenceService defaulter, validator and pod mutator, and the validators of serving
/// runtimes, cluster serving runtimes, trained models and inference graphs); longer prefixes
/// first, so `llminferenceservice…` is not read as `inferenceservice…`.
pub const WEBHOOK_SERVICES: &[(&str, Named)] = &[
    (
        "llminferenceserviceconfig.kserve-webhook-server",
        kserve::LLMISVC_WEBHOOK_SERVICE,
    ),
    (
        "llminferenceservice.kserve-webhook-server",
        kserve::LLMISVC_WEBHOOK_SERVICE,
    ),
    (
        "localmodelcache.kserve-webhook-server",
        kserve::LOCALMODEL_WEBHOOK_SERVICE,
    ),
    (
        "inferenceservice.kserve-webhook-server",
        kserve::WEBHOOK_SERVICE,
    ),
    (
        "clusterservingruntime.kserve-webhook-server",
        kserve::WEBHOOK_SERVICE,
    ),
    (
        "servingruntime.kserve-webhook-server",
        kserve::WEBHOOK_SERVICE,
    ),
    (
        "trainedmodel.kserve-webhook-server",
        kserve::WEBHOOK_SERVICE,
    ),
    (
        "inferencegraph.kserve-webhook-server",
        kserve::WEBHOOK_SERVICE,
    ),
    ("webhook.serving.knative.dev", knative::WEBHOOK_SERVICE),
    (
        "validation.webhook.serving.knative.dev",
        knative::WEBHOOK_SERVICE,
    ),
    (
        "config.webhook.serving.knative.dev",
        knative::WEBHOOK_SERVICE,
    ),
    ("webhook.cert-manager.io", cert_manager::WEBHOOK_SERVICE),
    ("validate.kyverno.svc", kyverno::WEBHOOK_SERVICE),
    ("mutate.kyverno.svc", kyverno::WEBHOOK_SERVICE),
    ("vpol.validate.kyverno.svc", kyverno::WEBHOOK_SERVICE),
];

/// The Service behind a webhook, when the webhook is a known one.
pub fn service_for_webhook(webhook: &str) -> Option<Named> {
    WEBHOOK_SERVICES
        .iter()
        .find(|(prefix, _)| webhook.starts_with(prefix))
        .map(|(_, service)| *service)
}

/// Every namespace the platform occupies (its components' namespaces, Kourier's, the models'),
/// sorted: what a diagnostics bundle collects.
pub fn namespaces() -> Vec<&'static str> {
    let mut namespaces: Vec<&'static str> = crate::components::COMPONENTS
        .iter()
        .map(|c| c.namespace)
        .chain([kourier::NAMESPACE, models::NAMESPACE])
        .collect();
    namespaces.sort();
    namespaces.dedup();
    namespaces
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::components::{Gate, COMPONENTS};

    #[test]
    fn the_pin_table_places_components_where_the_topology_says() {
        let namespace = |name: &str| crate::components::find(name).unwrap().namespace;
        assert_eq!(namespace("argocd"), argocd::NAMESPACE);
        assert_eq!(namespace("kserve"), kserve::NAMESPACE);
        assert_eq!(namespace("kyverno"), kyverno::NAMESPACE);
        assert_eq!(namespace("kourier"), kourier::NAMESPACE);
        assert_eq!(namespace("opencost"), opencost::NAMESPACE);
        assert_eq!(namespace("platform"), models::NAMESPACE);
    }

    #[test]
    fn every_gate_names_an_object_of_the_topology() {
        // The gates are written with these constants; a literal slipping back in shows here.
        let known_namespaces = namespaces();
        for component in COMPONENTS {
            for gate in component.gates {
                let namespace = match gate {
                    Gate::Deployment { namespace, .. }
                    | Gate::StatefulSet { namespace, .. }
                    | Gate::DaemonSet { namespace, .. }
                    | Gate::ServiceEndpoints { namespace, .. }
                    | Gate::LoadBalancerAddress { namespace, .. } => namespace,
                    _ => continue,
                };
                assert!(
                    known_namespaces.contains(namespace),
                    "{}: {namespace} is not a platform namespace",
                    component.name
                );
            }
        }
    }

    #[test]
    fn webhooks_trace_to_their_service() {
        assert_eq!(
            service_for_webhook("inferenceservice.kserve-webhook-server.validator")
                .map(|s| s.path()),
            Some("kserve/kserve-webhook-server-service".to_string())
        );
        assert_eq!(
            service_for_webhook("validate.nginx.ingress.kubernetes.io"),
            None
        );
    }

    #[test]
    fn the_bundle_namespaces_include_the_model_namespace_once() {
        let all = namespaces();
        assert!(all.contains(&kserve::NAMESPACE));
        assert!(all.contains(&argocd::NAMESPACE));
        assert_eq!(all.iter().filter(|n| **n == models::NAMESPACE).count(), 1);
    }
}
