//! The platform a healthy `neuroscale up` leaves behind, as the objects the sim starts with:
//! namespaces, nodes, CRDs, every component's workloads, Services, webhook configurations,
//! ConfigMaps, the five Kyverno ValidatingPolicies, ArgoCD Applications, the drift canary, the
//! demo InferenceServices and the model namespace's governance. The scripted controllers
//! (`controllers`) derive pods, statuses and EndpointSlices from these.
//!
//! Names and shapes follow shared/UPSTREAM.md (ArgoCD install.yaml v3.5.1, Kyverno v1.19.0 webhook
//! configurations, KServe v0.20.0, Knative/net-kourier 1.23, OpenCost chart 2.5.17) and the
//! project's `src/components.rs` gates. When the project's `manifests/` exists, `healthy()` also
//! loads its objects (see `load_manifests`), so the sim carries the real platform content.

use std::path::Path;

use serde_json::{json, Value};

/// The cluster name the sim pretends k3d created (context `k3d-neuroscale`).
pub const CLUSTER: &str = "neuroscale";
pub const SERVER_NODE: &str = "k3d-neuroscale-server-0";
pub const CPU_AGENT_NODE: &str = "k3d-neuroscale-agent-0";
/// The agent that advertises `nvidia.com/gpu` (gpu: simulate).
pub const GPU_AGENT_NODE: &str = "k3d-neuroscale-agent-1";
/// The domain Knative publishes (config-domain) and InferenceService URLs use.
pub const DOMAIN: &str = "neuroscale.localhost";
pub const MODEL_NAMESPACE: &str = "models";
pub const CANARY_NAMESPACE: &str = "neuroscale-canary";
pub const CANARY_DEPLOYMENT: &str = "drift-canary";
pub const ARGOCD: &str = "argocd";
/// Namespaces the platform's components live in; the platform policies govern the others.
pub const PLATFORM_NAMESPACES: &[&str] = &[
    "kube-system",
    ARGOCD,
    "cert-manager",
    "kyverno",
    "knative-serving",
    "kourier-system",
    "kserve",
    "prometheus-system",
    "opencost",
];

/// The five platform policies (seeds/10; DESIGN.md §5 D2; named as manifests/platform/policies
/// names them) and what each requires.
pub const POLICIES: &[(&str, &str)] = &[
    (
        "require-standard-labels-inferenceservice",
        "InferenceServices must carry owner and cost-center labels",
    ),
    (
        "require-standard-labels-deployment",
        "Deployments must carry owner and cost-center labels",
    ),
    (
        "require-resource-limits",
        "Containers must set CPU and memory requests and limits",
    ),
    (
        "disallow-latest-tag",
        "Images must use a pinned tag, not latest",
    ),
    (
        "disallow-root-containers",
        "Containers must set securityContext.runAsNonRoot: true",
    ),
];

/// A model the sim serves (the scenario's demo models).
#[derive(Debug, Clone)]
pub struct Model {
    pub name: &'static str,
    pub cost_center: &'static str,
    pub protocol_v2: bool,
    pub gpu: bool,
}

/// scenarios/smoke.yaml's models.
pub const MODELS: &[Model] = &[
    Model {
        name: "sklearn-iris",
        cost_center: "ml-research",
        protocol_v2: false,
        gpu: false,
    },
    Model {
        name: "sklearn-iris-v2",
        cost_center: "ml-platform",
        protocol_v2: true,
        gpu: false,
    },
];

/// The platform Applications (components' `ApplicationHealthy` gates) besides the root and the
/// per-model children.
pub const APPLICATIONS: &[(&str, &str)] = &[
    ("cert-manager", "vendor/cert-manager"),
    ("kyverno", "vendor/kyverno"),
    ("knative-serving", "vendor/knative-serving"),
    ("kourier", "vendor/kourier"),
    ("kserve", "vendor/kserve"),
    ("prometheus", "vendor/prometheus"),
    ("opencost", "vendor/opencost"),
    ("platform", "manifests/platform"),
];
pub const ROOT_APPLICATION: &str = "neuroscale-root";

/// Everything a healthy platform holds, in apply order (namespaces and CRDs first).
pub fn healthy() -> Vec<Value> {
    let mut objects = Vec::new();
    for ns in [
        "default",
        "kube-system",
        ARGOCD,
        "cert-manager",
        "kyverno",
        "knative-serving",
        "kourier-system",
        "kserve",
        "prometheus-system",
        "opencost",
        MODEL_NAMESPACE,
        CANARY_NAMESPACE,
    ] {
        objects.push(namespace(ns));
    }
    objects.extend(nodes());
    objects.extend(crds());
    objects.extend(argocd());
    objects.extend(cert_manager());
    objects.extend(kyverno());
    objects.extend(knative_and_kourier());
    objects.extend(kserve());
    objects.extend(cost());
    objects.extend(canary());
    objects.extend(governance());
    objects.extend(applications());
    for model in MODELS {
        objects.push(inference_service(
            model.name,
            MODEL_NAMESPACE,
            model.cost_center,
            model.gpu,
            true,
        ));
    }
    objects
}

pub fn namespace(name: &str) -> Value {
    json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name,
           "labels": {"kubernetes.io/metadata.name": name}}, "status": {"phase": "Active"}})
}

fn node(name: &str, role: &str, gpu_node_label: bool) -> Value {
    let capacity = json!({"cpu": "4", "memory": "8Gi", "pods": "110"});
    let mut labels = json!({"kubernetes.io/hostname": name, "kubernetes.io/os": "linux",
                            "node.kubernetes.io/instance-type": "k3s"});
    if role == "server" {
        labels["node-role.kubernetes.io/control-plane"] = json!("true");
    }
    if gpu_node_label {
        // k3d/cluster.yaml `options.k3s.nodeLabels`: agent:1 is the GPU node. No GPU is
        // advertised until something (the device plugin, or F3 with gpu: simulate) adds it.
        labels["neuroscale.dev/gpu-node"] = json!("true");
    }
    json!({"apiVersion": "v1", "kind": "Node", "metadata": {"name": name, "labels": labels},
           "spec": {},
           "status": {"capacity": capacity, "allocatable": capacity,
                      "conditions": [{"type": "Ready", "status": "True", "reason": "KubeletReady"}],
                      "nodeInfo": {"kubeletVersion": crate::server::GIT_VERSION}}})
}

fn nodes() -> Vec<Value> {
    vec![
        node(SERVER_NODE, "server", false),
        node(CPU_AGENT_NODE, "agent", false),
        node(GPU_AGENT_NODE, "agent", true),
    ]
}

/// A CRD with one served storage version and a status subresource.
pub fn crd(group: &str, kind: &str, plural: &str, versions: &[&str], namespaced: bool) -> Value {
    let versions: Vec<Value> = versions
        .iter()
        .enumerate()
        .map(|(i, v)| json!({"name": v, "served": true, "storage": i == 0,
                             "schema": {"openAPIV3Schema": {"type": "object", "x-kubernetes-preserve-unknown-fields": true}},
                             "subresources": {"status": {}}}))
        .collect();
    json!({"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
           "metadata": {"name": format!("{plural}.{group}")},
           "spec": {"group": group, "scope": if namespaced { "Namespaced" } else { "Cluster" },
                    "names": {"kind": kind, "plural": plural, "singular": kind.to_lowercase(),
                              "listKind": format!("{kind}List")},
                    "versions": versions}})
}

fn crds() -> Vec<Value> {
    vec![
        crd(
            "argoproj.io",
            "Application",
            "applications",
            &["v1alpha1"],
            true,
        ),
        crd(
            "argoproj.io",
            "ApplicationSet",
            "applicationsets",
            &["v1alpha1"],
            true,
        ),
        crd(
            "argoproj.io",
            "AppProject",
            "appprojects",
            &["v1alpha1"],
            true,
        ),
        crd(
            "cert-manager.io",
            "Certificate",
            "certificates",
            &["v1"],
            true,
        ),
        crd("cert-manager.io", "Issuer", "issuers", &["v1"], true),
        crd(
            "cert-manager.io",
            "ClusterIssuer",
            "clusterissuers",
            &["v1"],
            false,
        ),
        crd(
            "policies.kyverno.io",
            "ValidatingPolicy",
            "validatingpolicies",
            &["v1", "v1beta1"],
            false,
        ),
        crd(
            "policies.kyverno.io",
            "PolicyException",
            "policyexceptions",
            &["v1"],
            true,
        ),
        crd("serving.knative.dev", "Service", "services", &["v1"], true),
        crd("serving.knative.dev", "Route", "routes", &["v1"], true),
        crd(
            "serving.knative.dev",
            "Configuration",
            "configurations",
            &["v1"],
            true,
        ),
        crd(
            "serving.knative.dev",
            "Revision",
            "revisions",
            &["v1"],
            true,
        ),
        crd(
            "networking.internal.knative.dev",
            "Ingress",
            "ingresses",
            &["v1alpha1"],
            true,
        ),
        crd(
            "serving.kserve.io",
            "InferenceService",
            "inferenceservices",
            &["v1beta1"],
            true,
        ),
        crd(
            "serving.kserve.io",
            "ServingRuntime",
            "servingruntimes",
            &["v1alpha1"],
            true,
        ),
        crd(
            "serving.kserve.io",
            "ClusterServingRuntime",
            "clusterservingruntimes",
            &["v1alpha1"],
            false,
        ),
        crd(
            "serving.kserve.io",
            "TrainedModel",
            "trainedmodels",
            &["v1alpha1"],
            true,
        ),
        crd(
            "serving.kserve.io",
            "InferenceGraph",
            "inferencegraphs",
            &["v1alpha1"],
            true,
        ),
    ]
}

/// A Deployment whose pods carry `app.kubernetes.io/name=<name>`; `containers` names them.
pub fn deployment(namespace: &str, name: &str, containers: &[&str], image: &str) -> Value {
    workload("apps/v1", "Deployment", namespace, name, containers, image)
}

fn workload(
    api_version: &str,
    kind: &str,
    namespace: &str,
    name: &str,
    containers: &[&str],
    image: &str,
) -> Value {
    let containers: Vec<Value> = containers
        .iter()
        .map(|c| {
            json!({"name": c, "image": image,
                        "securityContext": {"runAsNonRoot": true},
                        "resources": {"requests": {"cpu": "10m", "memory": "64Mi"},
                                      "limits": {"cpu": "500m", "memory": "512Mi"}}})
        })
        .collect();
    json!({"apiVersion": api_version, "kind": kind,
           "metadata": {"name": name, "namespace": namespace,
                        "labels": {"app.kubernetes.io/name": name, "app.kubernetes.io/part-of": namespace}},
           "spec": {"replicas": 1,
                    "selector": {"matchLabels": {"app.kubernetes.io/name": name}},
                    "template": {"metadata": {"labels": {"app.kubernetes.io/name": name}},
                                 "spec": {"containers": containers}}}})
}

/// A ClusterIP Service selecting `app.kubernetes.io/name=<selects>`.
pub fn service(namespace: &str, name: &str, selects: &str, port: u16) -> Value {
    json!({"apiVersion": "v1", "kind": "Service",
           "metadata": {"name": name, "namespace": namespace},
           "spec": {"type": "ClusterIP", "selector": {"app.kubernetes.io/name": selects},
                    "ports": [{"name": "https", "port": port, "protocol": "TCP"}]}})
}

fn argocd() -> Vec<Value> {
    let image = "quay.io/argoproj/argocd:v3.5.1";
    let mut objects = vec![workload(
        "apps/v1",
        "StatefulSet",
        ARGOCD,
        "argocd-application-controller",
        &["argocd-application-controller"],
        image,
    )];
    for name in [
        "argocd-repo-server",
        "argocd-server",
        "argocd-applicationset-controller",
        "argocd-notifications-controller",
    ] {
        objects.push(deployment(ARGOCD, name, &[name], image));
    }
    objects.push(deployment(
        ARGOCD,
        "argocd-redis",
        &["redis"],
        "public.ecr.aws/docker/library/redis:8.2.3-alpine",
    ));
    objects.push(deployment(
        ARGOCD,
        "argocd-dex-server",
        &["dex"],
        "ghcr.io/dexidp/dex:v2.45.0",
    ));
    for (name, port) in [
        ("argocd-server", 443),
        ("argocd-repo-server", 8081),
        ("argocd-redis", 6379),
    ] {
        objects.push(service(ARGOCD, name, name, port));
    }
    objects
}

/// A validating webhook configuration whose webhooks call `namespace/service`.
pub fn validating_webhooks(
    config: &str,
    webhooks: &[(&str, &str, &str)],
    namespace: &str,
    service: &str,
    fail: bool,
) -> Value {
    let hooks: Vec<Value> = webhooks
        .iter()
        .map(|(name, group, resource)| json!({
            "name": name,
            "admissionReviewVersions": ["v1"],
            "sideEffects": "None",
            "failurePolicy": if fail { "Fail" } else { "Ignore" },
            "timeoutSeconds": 10,
            "clientConfig": {"service": {"namespace": namespace, "name": service, "port": 443,
                                         "path": format!("/validate-{}", resource)},
                             "caBundle": "LS0tLS1CRUdJTi0tLS0t"},
            "rules": [{"apiGroups": [group], "apiVersions": ["*"], "operations": ["CREATE", "UPDATE"],
                       "resources": [resource], "scope": "*"}]
        }))
        .collect();
    json!({"apiVersion": "admissionregistration.k8s.io/v1", "kind": "ValidatingWebhookConfiguration",
           "metadata": {"name": config}, "webhooks": hooks})
}

fn cert_manager() -> Vec<Value> {
    let mut objects = Vec::new();
    for name in [
        "cert-manager",
        "cert-manager-cainjector",
        "cert-manager-webhook",
    ] {
        objects.push(deployment(
            "cert-manager",
            name,
            &[name],
            "quay.io/jetstack/cert-manager-controller:v1.21.1",
        ));
    }
    objects.push(service(
        "cert-manager",
        "cert-manager-webhook",
        "cert-manager-webhook",
        443,
    ));
    objects.push(validating_webhooks(
        "cert-manager-webhook",
        &[("webhook.cert-manager.io", "cert-manager.io", "*")],
        "cert-manager",
        "cert-manager-webhook",
        true,
    ));
    objects
}

/// Kyverno's resource validating webhook configuration as the admission controller registers
/// it (UPSTREAM.md §6): the classic `validate.kyverno.svc-*` hooks plus one fine-grained
/// `vpol.validate.kyverno.svc-fail-finegrained-<policy>` hook per ValidatingPolicy.
pub fn kyverno_resource_webhooks() -> Value {
    let names: Vec<String> = POLICIES.iter().map(|(n, _)| n.to_string()).collect();
    kyverno_resource_webhooks_for(&names)
}

/// The same, with one fine-grained webhook per named policy.
pub fn kyverno_resource_webhooks_for(policies: &[String]) -> Value {
    let mut hooks: Vec<(String, &str, &str)> = vec![
        ("validate.kyverno.svc-fail".into(), "*", "*"),
        ("validate.kyverno.svc-ignore".into(), "*", "*"),
    ];
    for policy in policies {
        hooks.push((
            format!("vpol.validate.kyverno.svc-fail-finegrained-{policy}"),
            "*",
            "*",
        ));
    }
    let hooks: Vec<(&str, &str, &str)> =
        hooks.iter().map(|(n, g, r)| (n.as_str(), *g, *r)).collect();
    let mut config = validating_webhooks(
        "kyverno-resource-validating-webhook-cfg",
        &hooks,
        "kyverno",
        "kyverno-svc",
        true,
    );
    config["metadata"]["labels"] = json!({"webhook.kyverno.io/managed-by": "kyverno"});
    // The chart excludes kube-system and Kyverno's own namespace (UPSTREAM.md §6).
    for hook in config["webhooks"].as_array_mut().expect("webhooks") {
        hook["namespaceSelector"] = json!({"matchExpressions": [{"key": "kubernetes.io/metadata.name",
            "operator": "NotIn", "values": ["kube-system", "kyverno"]}]});
    }
    config
}

/// One of the five ValidatingPolicies, enforcing (`validationActions: [Deny]`) and Ready.
pub fn validating_policy(name: &str, message: &str) -> Value {
    let resources: &[&str] = if name.ends_with("inferenceservice") {
        &["inferenceservices"]
    } else {
        &["deployments", "inferenceservices"]
    };
    json!({"apiVersion": "policies.kyverno.io/v1", "kind": "ValidatingPolicy",
           "metadata": {"name": name},
           "spec": {"validationActions": ["Deny"],
                    "evaluation": {"admission": {"enabled": true}},
                    "matchConstraints": {"resourceRules": [{"apiGroups": ["apps", "serving.kserve.io"],
                        "apiVersions": ["*"], "operations": ["CREATE", "UPDATE"], "resources": resources}]},
                    "validations": [{"expression": "true", "message": message}]},
           "status": {"conditionStatus": {"ready": true, "conditions": [
               {"type": "WebhookConfigured", "status": "True", "reason": "Succeeded",
                "message": "Webhook configured.", "lastTransitionTime": "2026-12-01T00:00:00Z"},
               {"type": "RBACPermissionsGranted", "status": "True", "reason": "Succeeded",
                "message": "Policy is ready for reporting.", "lastTransitionTime": "2026-12-01T00:00:00Z"}]}}})
}

fn kyverno() -> Vec<Value> {
    let mut objects = Vec::new();
    for name in [
        "kyverno-admission-controller",
        "kyverno-background-controller",
        "kyverno-cleanup-controller",
        "kyverno-reports-controller",
    ] {
        objects.push(deployment(
            "kyverno",
            name,
            &["kyverno"],
            "reg.kyverno.io/kyverno/kyverno:v1.19.0",
        ));
    }
    objects.push(service(
        "kyverno",
        "kyverno-svc",
        "kyverno-admission-controller",
        443,
    ));
    objects.push(kyverno_resource_webhooks());
    let mut policy_hooks = validating_webhooks(
        "kyverno-policy-validating-webhook-cfg",
        &[("validate-policy.kyverno.svc", "policies.kyverno.io", "*")],
        "kyverno",
        "kyverno-svc",
        false,
    );
    policy_hooks["metadata"]["labels"] = json!({"webhook.kyverno.io/managed-by": "kyverno"});
    objects.push(policy_hooks);
    let mut mutating = validating_webhooks(
        "kyverno-resource-mutating-webhook-cfg",
        &[("mutate.kyverno.svc-fail", "*", "*")],
        "kyverno",
        "kyverno-svc",
        false,
    );
    mutating["kind"] = json!("MutatingWebhookConfiguration");
    mutating["metadata"]["labels"] = json!({"webhook.kyverno.io/managed-by": "kyverno"});
    objects.push(mutating);
    for (name, message) in POLICIES {
        objects.push(validating_policy(name, message));
    }
    objects
}

fn config_map(namespace: &str, name: &str, data: Value) -> Value {
    json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name, "namespace": namespace}, "data": data})
}

fn knative_and_kourier() -> Vec<Value> {
    let mut objects = Vec::new();
    for name in ["activator", "autoscaler", "controller", "webhook"] {
        objects.push(deployment(
            "knative-serving",
            name,
            &[name],
            "gcr.io/knative-releases/knative.dev/serving/cmd/controller:v1.23.0",
        ));
    }
    objects.push(deployment(
        "knative-serving",
        "net-kourier-controller",
        &["controller"],
        "gcr.io/knative-releases/knative.dev/net-kourier/cmd/kourier:v1.23.0",
    ));
    objects.push(deployment(
        "kourier-system",
        "3scale-kourier-gateway",
        &["kourier-gateway"],
        "docker.io/envoyproxy/envoy:v1.34-latest-pinned",
    ));
    objects.push(service("knative-serving", "webhook", "webhook", 443));
    objects.push(validating_webhooks(
        "validation.webhook.serving.knative.dev",
        &[(
            "validation.webhook.serving.knative.dev",
            "serving.knative.dev",
            "*",
        )],
        "knative-serving",
        "webhook",
        true,
    ));
    let mut kourier = service("kourier-system", "kourier", "3scale-kourier-gateway", 80);
    kourier["spec"]["type"] = json!("LoadBalancer");
    kourier["status"] =
        json!({"loadBalancer": {"ingress": [{"ip": "172.18.0.3", "ipMode": "VIP"}]}});
    objects.push(kourier);
    objects.push(config_map(
        "knative-serving",
        "config-network",
        json!({"ingress-class": "kourier.ingress.networking.knative.dev"}),
    ));
    objects.push(config_map(
        "knative-serving",
        "config-domain",
        json!({DOMAIN: ""}),
    ));
    objects
}

fn kserve() -> Vec<Value> {
    let mut objects = vec![deployment(
        "kserve",
        "kserve-controller-manager",
        &["manager", "kube-rbac-proxy"],
        "kserve/kserve-controller:v0.20.0",
    )];
    objects.push(service(
        "kserve",
        "kserve-webhook-server-service",
        "kserve-controller-manager",
        443,
    ));
    objects.push(validating_webhooks(
        "inferenceservice.serving.kserve.io",
        &[(
            "inferenceservice.kserve-webhook-server.validator",
            "serving.kserve.io",
            "inferenceservices",
        )],
        "kserve",
        "kserve-webhook-server-service",
        true,
    ));
    // kserve config/configmap/inferenceservice.yaml keys, with Kourier instead of Istio.
    objects.push(config_map("kserve", "inferenceservice-config", json!({
        "deploy": "{\"defaultDeploymentMode\": \"Serverless\"}",
        "ingress": format!("{{\"enableGatewayApi\": false, \"ingressGateway\": \"knative-serving/knative-ingress-gateway\", \"localGateway\": \"knative-serving/knative-local-gateway\", \"localGatewayService\": \"kourier-internal.kourier-system.svc.cluster.local\", \"ingressDomain\": \"{DOMAIN}\", \"ingressClassName\": \"kourier\", \"urlScheme\": \"http\", \"disableIstioVirtualHost\": true, \"disableIngressCreation\": false}}"),
    })));
    objects.push(json!({"apiVersion": "serving.kserve.io/v1alpha1", "kind": "ClusterServingRuntime",
        "metadata": {"name": "kserve-sklearnserver"},
        "spec": {"supportedModelFormats": [{"name": "sklearn", "version": "1", "autoSelect": true}],
                 "protocolVersions": ["v1", "v2"],
                 "containers": [{"name": "kserve-container", "image": "kserve/sklearnserver:v0.20.0"}]}}));
    objects
}

fn cost() -> Vec<Value> {
    vec![
        deployment(
            "prometheus-system",
            "prometheus-server",
            &["prometheus-server"],
            "quay.io/prometheus/prometheus:v3.14.0",
        ),
        service(
            "prometheus-system",
            "prometheus-server",
            "prometheus-server",
            80,
        ),
        deployment(
            "opencost",
            "opencost",
            &["opencost", "opencost-ui"],
            "ghcr.io/opencost/opencost:1.120.1",
        ),
        service("opencost", "opencost", "opencost", 9003),
    ]
}

/// The tracking annotation ArgoCD 3.x puts on what it manages (argo-cd
/// docs/user-guide/resource_tracking.md): `<app>:<group>/<kind>:<namespace>/<name>`.
pub fn tracking_id(app: &str, group: &str, kind: &str, namespace: &str, name: &str) -> String {
    format!("{app}:{group}/{kind}:{namespace}/{name}")
}

/// The drift canary Deployment the `platform` Application manages.
pub fn canary_deployment() -> Value {
    let mut canary = deployment(
        CANARY_NAMESPACE,
        CANARY_DEPLOYMENT,
        &["canary"],
        "registry.k8s.io/pause:3.10",
    );
    canary["metadata"]["annotations"] = json!({"argocd.argoproj.io/tracking-id":
        tracking_id("platform", "apps", "Deployment", CANARY_NAMESPACE, CANARY_DEPLOYMENT)});
    canary
}

fn canary() -> Vec<Value> {
    vec![canary_deployment()]
}

/// The model namespace's ResourceQuota and LimitRange (as declared in manifests/).
pub fn governance() -> Vec<Value> {
    vec![
        json!({"apiVersion": "v1", "kind": "ResourceQuota",
               "metadata": {"name": "models-quota", "namespace": MODEL_NAMESPACE},
               "spec": {"hard": {"requests.cpu": "4", "requests.memory": "8Gi",
                                  "limits.cpu": "8", "limits.memory": "16Gi", "pods": "20"}}}),
        json!({"apiVersion": "v1", "kind": "LimitRange",
               "metadata": {"name": "models-limits", "namespace": MODEL_NAMESPACE},
               "spec": {"limits": [{"type": "Container",
                                    "default": {"cpu": "500m", "memory": "512Mi"},
                                    "defaultRequest": {"cpu": "100m", "memory": "256Mi"},
                                    "max": {"cpu": "2", "memory": "4Gi"}}]}}),
    ]
}

/// An ArgoCD Application with automated sync and self-heal.
pub fn application(name: &str, path: &str, destination_namespace: &str) -> Value {
    json!({"apiVersion": "argoproj.io/v1alpha1", "kind": "Application",
           "metadata": {"name": name, "namespace": ARGOCD},
           "spec": {"project": "default",
                    "source": {"repoURL": "http://neuroscale-gitops.argocd.svc/neuroscale.git",
                               "targetRevision": "main", "path": path},
                    "destination": {"server": "https://kubernetes.default.svc", "namespace": destination_namespace},
                    "syncPolicy": {"automated": {"enabled": true, "prune": true, "selfHeal": true},
                                   "syncOptions": ["ServerSideApply=true", "CreateNamespace=true"]}}})
}

fn applications() -> Vec<Value> {
    let mut objects = vec![application(ROOT_APPLICATION, "manifests/apps", ARGOCD)];
    for (name, path) in APPLICATIONS {
        objects.push(application(name, path, name));
    }
    for model in MODELS {
        objects.push(application(
            &format!("model-{}", model.name),
            &format!("manifests/models/{}", model.name),
            MODEL_NAMESPACE,
        ));
    }
    objects.push(json!({"apiVersion": "argoproj.io/v1alpha1", "kind": "ApplicationSet",
        "metadata": {"name": "model-endpoints", "namespace": ARGOCD},
        "spec": {"generators": [{"git": {"repoURL": "http://neuroscale-gitops.argocd.svc/neuroscale.git",
                                         "revision": "main", "directories": [{"path": "manifests/models/*"}]}}],
                 "template": {"metadata": {"name": "model-{{path.basename}}"},
                              "spec": {"project": "default",
                                       "source": {"repoURL": "http://neuroscale-gitops.argocd.svc/neuroscale.git",
                                                  "targetRevision": "main", "path": "{{path}}"},
                                       "destination": {"server": "https://kubernetes.default.svc", "namespace": MODEL_NAMESPACE},
                                       "syncPolicy": {"automated": {"prune": true, "selfHeal": true}}}}}}));
    objects
}

/// A policy-compliant sklearn InferenceService (kserve docs sklearn-iris sample, with the
/// platform's labels); `managed` adds ArgoCD's tracking annotation for `model-<name>`.
pub fn inference_service(
    name: &str,
    namespace: &str,
    cost_center: &str,
    gpu: bool,
    managed: bool,
) -> Value {
    let mut resources = json!({"requests": {"cpu": "100m", "memory": "256Mi"},
                               "limits": {"cpu": "1", "memory": "1Gi"}});
    if gpu {
        resources["requests"]["nvidia.com/gpu"] = json!("1");
        resources["limits"]["nvidia.com/gpu"] = json!("1");
    }
    let mut isvc = json!({"apiVersion": "serving.kserve.io/v1beta1", "kind": "InferenceService",
        "metadata": {"name": name, "namespace": namespace,
                     "labels": {"owner": "ml-team", "cost-center": cost_center}},
        "spec": {"predictor": {"model": {"modelFormat": {"name": "sklearn"},
                                         "storageUri": "gs://kfserving-examples/models/sklearn/1.0/model",
                                         "resources": resources}}}});
    if managed {
        isvc["metadata"]["annotations"] = json!({"argocd.argoproj.io/tracking-id":
            tracking_id(&format!("model-{name}"), "serving.kserve.io", "InferenceService", namespace, name)});
    }
    isvc
}

fn identity(object: &Value) -> (String, String, String) {
    let text = |p: &str| {
        object
            .pointer(p)
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string()
    };
    (
        text("/kind"),
        text("/metadata/namespace"),
        text("/metadata/name"),
    )
}

/// Adds `object`, replacing a built-in one of the same kind, namespace and name.
fn overlay(objects: &mut Vec<Value>, object: Value) {
    let id = identity(&object);
    match objects.iter().position(|o| identity(o) == id) {
        Some(i) => objects[i] = object,
        None => objects.push(object),
    }
}

fn annotate_tracking(object: &mut Value, app: &str) {
    let text = |p: &str| {
        object
            .pointer(p)
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string()
    };
    let (api_version, kind, ns, name) = (
        text("/apiVersion"),
        text("/kind"),
        text("/metadata/namespace"),
        text("/metadata/name"),
    );
    let group = api_version.rsplit_once('/').map(|(g, _)| g).unwrap_or("");
    let id = tracking_id(app, group, &kind, &ns, &name);
    if !object["metadata"]["annotations"].is_object() {
        object["metadata"]["annotations"] = json!({});
    }
    object["metadata"]["annotations"]["argocd.argoproj.io/tracking-id"] = json!(id);
}

/// The healthy platform with the project's real GitOps content laid over the built-in objects:
/// `manifests/apps` and `root.yaml` (the Applications and the model ApplicationSet, repoURL as
/// written), `manifests/platform` (namespaces, governance, the five policies, the drift canary,
/// the serving runtime; tracked by the `platform` Application), `manifests/models/*` (tracked by
/// `model-<folder>`) and the component ConfigMaps under `manifests/components`. Policies get the
/// status Kyverno gives a ready policy. Without a `manifests/` directory this is `healthy()`.
pub fn from_project(root: &Path) -> std::io::Result<Vec<Value>> {
    let mut objects = healthy();
    let manifests = root.join("manifests");
    if !manifests.is_dir() {
        return Ok(objects);
    }
    let ready = validating_policy("x", "x")["status"].clone();
    let mut platform_policies = Vec::new();
    for object in load_manifests(&manifests.join("platform"))? {
        let mut object = object;
        if object["kind"] == "Kustomization" {
            continue;
        }
        if object["kind"] == "ValidatingPolicy" {
            object["status"] = ready.clone();
            platform_policies.push(object["metadata"]["name"].clone());
        }
        if object.pointer("/metadata/namespace").is_none()
            && object["kind"] != "Namespace"
            && object["kind"] != "ValidatingPolicy"
            && object["kind"] != "ClusterServingRuntime"
        {
            object["metadata"]["namespace"] = json!(MODEL_NAMESPACE);
        }
        annotate_tracking(&mut object, "platform");
        overlay(&mut objects, object);
    }
    if !platform_policies.is_empty() {
        // The project's policies replace the built-in ones (their names may differ).
        objects.retain(|o| {
            o["kind"] != "ValidatingPolicy" || platform_policies.contains(&o["metadata"]["name"])
        });
        let names: Vec<String> = platform_policies
            .iter()
            .filter_map(|n| n.as_str().map(str::to_string))
            .collect();
        let index = objects
            .iter()
            .position(|o| o["metadata"]["name"] == "kyverno-resource-validating-webhook-cfg");
        if let Some(i) = index {
            objects[i] = kyverno_resource_webhooks_for(&names);
        }
    }
    let models_dir = manifests.join("models");
    if models_dir.is_dir() {
        let mut folders: Vec<_> = std::fs::read_dir(&models_dir)?.collect::<Result<_, _>>()?;
        folders.sort_by_key(|e| e.path());
        for folder in folders.into_iter().filter(|e| e.path().is_dir()) {
            let model = folder.file_name().to_string_lossy().to_string();
            let app = format!("model-{model}");
            for mut object in load_manifests(&folder.path())? {
                if object.pointer("/metadata/namespace").is_none() {
                    object["metadata"]["namespace"] = json!(MODEL_NAMESPACE);
                }
                annotate_tracking(&mut object, &app);
                overlay(&mut objects, object);
            }
            overlay(
                &mut objects,
                application(&app, &format!("manifests/models/{model}"), MODEL_NAMESPACE),
            );
        }
    }
    let mut apps = load_manifests(&manifests.join("apps"))?;
    if let Ok(root_app) = load_manifests_file(&manifests.join("root.yaml")) {
        apps.extend(root_app);
    }
    for object in apps {
        overlay(&mut objects, object);
    }
    for component in ["knative-serving", "kserve"] {
        let dir = manifests.join("components").join(component);
        if dir.is_dir() {
            for object in load_manifests(&dir)? {
                if object["kind"] == "ConfigMap" {
                    overlay(&mut objects, object);
                }
            }
        }
    }
    Ok(objects)
}

fn load_manifests_file(path: &Path) -> std::io::Result<Vec<Value>> {
    let text = std::fs::read_to_string(path)?;
    Ok(parse_documents(&text))
}

fn parse_documents(text: &str) -> Vec<Value> {
    let mut objects = Vec::new();
    for document in serde_yaml::Deserializer::from_str(text) {
        let Ok(value) = serde_yaml::Value::deserialize(document) else {
            continue;
        };
        let Ok(json) = serde_json::to_value(value) else {
            continue;
        };
        if json.get("kind").and_then(Value::as_str).is_some() {
            objects.push(json);
        }
    }
    objects
}

/// Every object in the YAML files under `dir` (recursively), skipping documents without a kind.
pub fn load_manifests(dir: &Path) -> std::io::Result<Vec<Value>> {
    let mut objects = Vec::new();
    let mut entries: Vec<_> = std::fs::read_dir(dir)?.collect::<Result<_, _>>()?;
    entries.sort_by_key(|e| e.path());
    for entry in entries {
        let path = entry.path();
        if path.is_dir() {
            objects.extend(load_manifests(&path)?);
        } else if path.extension().is_some_and(|e| e == "yaml" || e == "yml") {
            let text = std::fs::read_to_string(&path)?;
            for document in serde_yaml::Deserializer::from_str(&text) {
                let Ok(value) = serde_yaml::Value::deserialize(document) else {
                    continue;
                };
                let Ok(json) = serde_json::to_value(value) else {
                    continue;
                };
                if json.get("kind").and_then(Value::as_str).is_some() {
                    objects.push(json);
                }
            }
        }
    }
    Ok(objects)
}

use serde::Deserialize;
