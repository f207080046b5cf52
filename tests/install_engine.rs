//! The install engine against the simulated cluster (neuroscale-testkit): apply order and
//! semantics, readiness gates reacting to watch events and timing out with a diagnosis, and the
//! bootstrap DAG from ArgoCD to the platform.

use std::time::Duration;

use neuroscale::components::{self, Component, Gate};
use neuroscale::install::apply::{parse_manifest, Applier, LAST_APPLIED_ANNOTATION};
use neuroscale::install::engine::{self, ComponentOutcome, GitopsTarget, InstallPlan};
use neuroscale::install::gates;
use neuroscale::install::progress::Silent;
use neuroscale_testkit::store::TOTAL_ANNOTATION_SIZE_LIMIT_BYTES;
use neuroscale_testkit::{RecordedRequest, SimCluster};
use serde_json::{json, Value};
use tokio::time::Instant;

/// Generous: only reached when something is broken.
const LONG: Duration = Duration::from_secs(60);
/// For waits that are meant to expire.
const SHORT: Duration = Duration::from_millis(600);

fn crd(group: &str, kind: &str, plural: &str, scope: &str) -> Value {
    // Shape: apiextensions.k8s.io/v1 CustomResourceDefinition (Kubernetes API reference).
    json!({"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
           "metadata": {"name": format!("{plural}.{group}")},
           "spec": {"group": group, "scope": scope,
                    "names": {"kind": kind, "plural": plural, "singular": kind.to_lowercase(), "listKind": format!("{kind}List")},
                    "versions": [{"name": "v1alpha1", "served": true, "storage": true,
                                  "schema": {"openAPIV3Schema": {"type": "object", "x-kubernetes-preserve-unknown-fields": true}}}]}})
}

/// A Deployment shaped like upstream's (apps/v1), with `spec.replicas` and a pod selector.
fn deployment(namespace: &str, name: &str, app_label: &str) -> Value {
    json!({"apiVersion": "apps/v1", "kind": "Deployment",
           "metadata": {"name": name, "namespace": namespace},
           "spec": {"replicas": 1, "selector": {"matchLabels": {"app": app_label}},
                    "template": {"metadata": {"labels": {"app": app_label}}, "spec": {"containers": []}}}})
}

/// Stores an object as a controller would (no admission), emitting a watch event.
fn put(sim: &SimCluster, object: Value) -> Value {
    sim.put(object).expect("the sim stores the object")
}

/// Replaces an object's status, as its controller would.
fn set_status(
    sim: &SimCluster,
    api_version: &str,
    kind: &str,
    namespace: &str,
    name: &str,
    status: Value,
) {
    sim.set_status(api_version, kind, namespace, name, status)
        .expect("the object is stored");
}

/// An empty simulated cluster with the namespaces k3s starts with.
async fn fresh_cluster() -> SimCluster {
    let sim = SimCluster::start()
        .await
        .expect("the simulated cluster starts");
    for ns in ["default", "kube-system", "kube-public"] {
        seed_namespace(&sim, ns);
    }
    sim
}

/// Waits (bounded) until the sim has seen a request matching `pred`.
async fn until_request(fake: &SimCluster, pred: impl Fn(&RecordedRequest) -> bool) {
    let deadline = Instant::now() + LONG;
    while !fake.requests().iter().any(&pred) {
        assert!(
            Instant::now() < deadline,
            "request never arrived: {:#?}",
            fake.requests()
                .iter()
                .map(|r| format!("{} {}", r.method, r.path))
                .collect::<Vec<_>>()
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

fn patches(fake: &SimCluster) -> Vec<RecordedRequest> {
    fake.requests()
        .into_iter()
        .filter(|r| r.method == "PATCH")
        .collect()
}

#[tokio::test]
async fn apply_puts_crds_and_namespaces_before_what_needs_them() {
    let fake = fresh_cluster().await;
    let applier = Applier::new(fake.client().unwrap());
    // Deliberately in the wrong order: a CR before its CRD, a Deployment before its Namespace.
    let objects = vec![
        json!({"apiVersion": "argoproj.io/v1alpha1", "kind": "AppProject",
               "metadata": {"name": "platform", "namespace": "argocd"}, "spec": {}}),
        deployment("argocd", "argocd-server", "argocd-server"),
        json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "argocd"}}),
        crd("argoproj.io", "AppProject", "appprojects", "Namespaced"),
    ];
    let summary = applier
        .apply_all(objects, None, Instant::now() + LONG)
        .await
        .expect("ordered apply succeeds");
    assert_eq!(
        (summary.crds, summary.namespaces, summary.others),
        (1, 1, 2)
    );
    let order: Vec<String> = patches(&fake).iter().map(|r| r.path.clone()).collect();
    assert_eq!(
        order,
        [
            "/apis/apiextensions.k8s.io/v1/customresourcedefinitions/appprojects.argoproj.io",
            "/api/v1/namespaces/argocd",
            "/apis/argoproj.io/v1alpha1/namespaces/argocd/appprojects/platform",
            "/apis/apps/v1/namespaces/argocd/deployments/argocd-server",
        ]
    );
    assert!(fake
        .get("argoproj.io/v1alpha1", "AppProject", "argocd", "platform")
        .is_some());
}

#[tokio::test]
async fn every_write_is_server_side_apply_by_one_forced_field_manager() {
    let fake = fresh_cluster().await;
    let applier = Applier::new(fake.client().unwrap());
    let objects = parse_manifest(
        "install.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: argocd-cm}\ndata: {a: b}\n---\n\
         apiVersion: v1\nkind: Namespace\nmetadata: {name: argocd}\n",
    )
    .unwrap();
    applier
        .apply_all(objects, Some("argocd"), Instant::now() + LONG)
        .await
        .unwrap();
    let writes = patches(&fake);
    assert_eq!(writes.len(), 2);
    for write in &writes {
        assert_eq!(
            write.content_type, "application/apply-patch+yaml",
            "{}",
            write.path
        );
        assert_eq!(
            write.query.get("fieldManager").map(String::as_str),
            Some("neuroscale")
        );
        assert_eq!(write.query.get("force").map(String::as_str), Some("true"));
    }
    assert!(
        fake.requests()
            .iter()
            .all(|r| r.method != "POST" && r.method != "PUT"),
        "no client-side create/replace"
    );
    // The namespace-less ConfigMap went where `-n argocd` would have put it.
    assert!(fake.get("v1", "ConfigMap", "argocd", "argocd-cm").is_some());
}

#[tokio::test]
async fn a_crd_bigger_than_the_annotation_limit_applies_because_nothing_writes_last_applied() {
    let fake = fresh_cluster().await;
    let applier = Applier::new(fake.client().unwrap());
    // ~400 KB, like Knative's services.serving.knative.dev.
    let mut big = crd("serving.knative.dev", "Service", "services", "Namespaced");
    big["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["description"] =
        json!("x".repeat(400 * 1024));
    applier
        .apply_all(vec![big.clone()], None, Instant::now() + LONG)
        .await
        .expect("server-side apply of a 400 KB CRD");
    let write = patches(&fake).pop().unwrap();
    assert!(!write.body.contains(LAST_APPLIED_ANNOTATION));
    let stored = fake
        .get(
            "apiextensions.k8s.io/v1",
            "CustomResourceDefinition",
            "",
            "services.serving.knative.dev",
        )
        .unwrap();
    assert!(stored.pointer("/metadata/annotations").is_none());

    // The sim enforces the API server's limit, so the assertion above can fail: client-side apply's
    // annotation on the same object is refused.
    let mut client_side = big;
    client_side["metadata"]["annotations"] =
        json!({LAST_APPLIED_ANNOTATION: "y".repeat(TOTAL_ANNOTATION_SIZE_LIMIT_BYTES + 1)});
    let err = applier.apply(client_side, None).await.unwrap_err();
    let chain = engine::error_chain(&err);
    assert!(chain.contains("Too long"), "{chain}");
}

#[tokio::test]
async fn custom_resources_wait_until_their_crd_is_established() {
    let fake = fresh_cluster().await;
    fake.establish_crds(false);
    let applier = Applier::new(fake.client().unwrap());
    let objects = vec![
        crd("argoproj.io", "AppProject", "appprojects", "Namespaced"),
        json!({"apiVersion": "argoproj.io/v1alpha1", "kind": "AppProject",
               "metadata": {"name": "platform", "namespace": "default"}, "spec": {}}),
    ];
    let apply = tokio::spawn(async move {
        applier
            .apply_all(objects, None, Instant::now() + LONG)
            .await
    });
    // The engine is now watching the CRD; the CR must not have been sent.
    until_request(&fake, |r| {
        r.path.ends_with("/customresourcedefinitions") && r.query.contains_key("watch")
    })
    .await;
    assert!(fake
        .get("argoproj.io/v1alpha1", "AppProject", "default", "platform")
        .is_none());
    assert!(!patches(&fake)
        .iter()
        .any(|r| r.path.contains("/appprojects/")));
    set_status(
        &fake,
        "apiextensions.k8s.io/v1",
        "CustomResourceDefinition",
        "",
        "appprojects.argoproj.io",
        json!({"conditions": [{"type": "Established", "status": "True"}]}),
    );
    apply.await.unwrap().expect("applies once Established");
    assert!(fake
        .get("argoproj.io/v1alpha1", "AppProject", "default", "platform")
        .is_some());
}

#[tokio::test]
async fn applying_twice_changes_nothing() {
    let fake = fresh_cluster().await;
    let applier = Applier::new(fake.client().unwrap());
    let objects = vec![
        json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "argocd"}}),
        deployment("argocd", "argocd-repo-server", "argocd-repo-server"),
    ];
    applier
        .apply_all(objects.clone(), None, Instant::now() + LONG)
        .await
        .unwrap();
    let before = fake
        .get("apps/v1", "Deployment", "argocd", "argocd-repo-server")
        .unwrap();
    applier
        .apply_all(objects, None, Instant::now() + LONG)
        .await
        .unwrap();
    let after = fake
        .get("apps/v1", "Deployment", "argocd", "argocd-repo-server")
        .unwrap();
    assert_eq!(
        before["metadata"]["resourceVersion"],
        after["metadata"]["resourceVersion"]
    );
}

fn seed_namespace(fake: &SimCluster, name: &str) {
    put(
        fake,
        json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}}),
    );
}

/// apps/v1 DeploymentStatus of a rollout that has not become available.
fn unavailable() -> Value {
    json!({"observedGeneration": 1, "replicas": 1, "updatedReplicas": 1, "readyReplicas": 0,
           "availableReplicas": 0, "conditions": [{"type": "Available", "status": "False",
           "reason": "MinimumReplicasUnavailable", "message": "Deployment does not have minimum availability."}]})
}

fn available() -> Value {
    json!({"observedGeneration": 1, "replicas": 1, "updatedReplicas": 1, "readyReplicas": 1,
           "availableReplicas": 1, "conditions": [{"type": "Available", "status": "True"}]})
}

#[tokio::test]
async fn a_deployment_gate_passes_on_the_watch_event_that_makes_it_ready() {
    let fake = fresh_cluster().await;
    seed_namespace(&fake, "kserve");
    let mut controller = deployment("kserve", "kserve-controller-manager", "kserve");
    controller["status"] = unavailable();
    put(&fake, controller);
    let client = fake.client().unwrap();
    let gate = Gate::Deployment {
        namespace: "kserve",
        name: "kserve-controller-manager",
    };
    let wait =
        tokio::spawn(
            async move { gates::wait(&client, &gate, Instant::now() + LONG, &|_| {}).await },
        );
    until_request(&fake, |r| {
        r.path.ends_with("/deployments") && r.query.contains_key("watch")
    })
    .await;
    assert!(
        !wait.is_finished(),
        "an unavailable Deployment must not pass"
    );
    set_status(
        &fake,
        "apps/v1",
        "Deployment",
        "kserve",
        "kserve-controller-manager",
        available(),
    );
    let readiness = wait.await.unwrap().expect("ready after the status change");
    assert!(readiness.ready);
    assert!(readiness.observed.contains("1/1"), "{}", readiness.observed);
}

#[tokio::test]
async fn a_timed_out_gate_names_the_object_its_conditions_containers_and_events() {
    let fake = fresh_cluster().await;
    seed_namespace(&fake, "kserve");
    let mut controller = deployment("kserve", "kserve-controller-manager", "kserve");
    controller["status"] = unavailable();
    put(&fake, controller);
    // Shapes: core/v1 Pod and Event (Kubernetes API reference); a pod at 1/2 ready.
    put(
        &fake,
        json!({"apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": "kserve-controller-manager-7d9f", "namespace": "kserve", "labels": {"app": "kserve"}},
        "spec": {"containers": [{"name": "manager"}, {"name": "kube-rbac-proxy"}]},
        "status": {"phase": "Running", "containerStatuses": [
            {"name": "manager", "ready": true, "restartCount": 0, "image": "", "imageID": ""},
            {"name": "kube-rbac-proxy", "ready": false, "restartCount": 7, "image": "", "imageID": "",
             "state": {"waiting": {"reason": "ImagePullBackOff"}}}]}}),
    );
    put(
        &fake,
        json!({"apiVersion": "v1", "kind": "Event",
        "metadata": {"name": "kserve-controller-manager-7d9f.1", "namespace": "kserve"},
        "involvedObject": {"kind": "Pod", "name": "kserve-controller-manager-7d9f", "namespace": "kserve"},
        "type": "Warning", "reason": "Failed", "count": 12,
        "message": "Failed to pull image \"gcr.io/kubebuilder/kube-rbac-proxy:v0.13.1\""}),
    );
    let gate = Gate::Deployment {
        namespace: "kserve",
        name: "kserve-controller-manager",
    };
    let err = gates::wait(
        &fake.client().unwrap(),
        &gate,
        Instant::now() + SHORT,
        &|_| {},
    )
    .await
    .unwrap_err();
    let text = err.to_string();
    for expected in [
        "deploy/kserve/kserve-controller-manager",
        "0/1 replicas ready",
        "Available=False (MinimumReplicasUnavailable",
        "1/2 containers ready",
        "kube-rbac-proxy ImagePullBackOff (restarts 7)",
        "Warning Failed: Failed to pull image",
        "(x12)",
    ] {
        assert!(text.contains(expected), "missing {expected:?} in:\n{text}");
    }
}

#[tokio::test]
async fn a_webhook_gate_needs_a_ready_endpoint_not_just_a_service() {
    let fake = fresh_cluster().await;
    seed_namespace(&fake, "kyverno");
    put(
        &fake,
        json!({"apiVersion": "v1", "kind": "Service",
        "metadata": {"name": "kyverno-svc", "namespace": "kyverno"},
        "spec": {"selector": {"app.kubernetes.io/component": "admission-controller"}}}),
    );
    // Shape: discovery.k8s.io/v1 EndpointSlice, labelled with its Service as the EndpointSlice
    // controller does (kubernetes.io/service-name).
    let slice = |ready: bool| {
        json!({"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
        "metadata": {"name": "kyverno-svc-abcde", "namespace": "kyverno",
                     "labels": {"kubernetes.io/service-name": "kyverno-svc"}},
        "addressType": "IPv4",
        "endpoints": [{"addresses": ["10.42.0.17"], "conditions": {"ready": ready}}]})
    };
    put(&fake, slice(false));
    let gate = Gate::ServiceEndpoints {
        namespace: "kyverno",
        name: "kyverno-svc",
    };
    let err = gates::wait(
        &fake.client().unwrap(),
        &gate,
        Instant::now() + SHORT,
        &|_| {},
    )
    .await
    .unwrap_err();
    assert!(err.to_string().contains("no ready endpoints"), "{err}");
    assert_eq!(err.target, "endpoints/kyverno/kyverno-svc");

    put(&fake, slice(true));
    let ready = gates::wait(
        &fake.client().unwrap(),
        &gate,
        Instant::now() + LONG,
        &|_| {},
    )
    .await
    .expect("a ready endpoint passes");
    assert!(
        ready.observed.contains("1 ready endpoint"),
        "{}",
        ready.observed
    );
}

fn application(name: &str, sync: &str, health: &str) -> Value {
    // Shape: argoproj.io/v1alpha1 Application status (argo-cd pkg/apis/application/v1alpha1/types.go).
    json!({"apiVersion": "argoproj.io/v1alpha1", "kind": "Application",
           "metadata": {"name": name, "namespace": "argocd"},
           "spec": {"project": "default", "source": {"repoURL": "git://example.invalid/x", "path": "."},
                    "destination": {"server": "https://kubernetes.default.svc"}},
           "status": {"sync": {"status": sync}, "health": {"status": health}}})
}

fn application_crd() -> Value {
    crd("argoproj.io", "Application", "applications", "Namespaced")
}

#[tokio::test]
async fn an_application_gate_does_not_pass_on_progressing() {
    let fake = fresh_cluster().await;
    seed_namespace(&fake, "argocd");
    put(&fake, application_crd());
    put(&fake, application("kyverno", "Synced", "Progressing"));
    let gate = Gate::ApplicationHealthy { name: "kyverno" };
    let seen = std::sync::Mutex::new(Vec::new());
    let observe = |o: &str| seen.lock().unwrap().push(o.to_string());
    let err = gates::wait(
        &fake.client().unwrap(),
        &gate,
        Instant::now() + SHORT,
        &observe,
    )
    .await
    .unwrap_err();
    assert!(err.to_string().contains("Synced/Progressing"), "{err}");
    assert!(seen
        .lock()
        .unwrap()
        .iter()
        .any(|o| o.contains("Progressing")));
    set_status(
        &fake,
        "argoproj.io/v1alpha1",
        "Application",
        "argocd",
        "kyverno",
        json!({"sync": {"status": "Synced"}, "health": {"status": "Healthy"}}),
    );
    gates::wait(
        &fake.client().unwrap(),
        &gate,
        Instant::now() + LONG,
        &|_| {},
    )
    .await
    .expect("Synced and Healthy passes");
}

/// A small install.yaml with ArgoCD's real object names (argo-cd manifests/install.yaml v3.5.1:
/// three CRDs, the application-controller StatefulSet, the Deployments the gates name), no
/// Namespace (the real one has none either).
fn argocd_manifest() -> Vec<Value> {
    let mut objects = vec![
        crd("argoproj.io", "Application", "applications", "Namespaced"),
        crd(
            "argoproj.io",
            "ApplicationSet",
            "applicationsets",
            "Namespaced",
        ),
        crd("argoproj.io", "AppProject", "appprojects", "Namespaced"),
        json!({"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "argocd-server"}}),
        json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "argocd-cm",
               "labels": {"app.kubernetes.io/name": "argocd-cm", "app.kubernetes.io/part-of": "argocd"}}}),
        json!({"apiVersion": "apps/v1", "kind": "StatefulSet",
               "metadata": {"name": "argocd-application-controller"},
               "spec": {"replicas": 1, "serviceName": "argocd-application-controller",
                        "selector": {"matchLabels": {"app.kubernetes.io/name": "argocd-application-controller"}},
                        "template": {"spec": {"containers": []}}}}),
    ];
    for name in [
        "argocd-repo-server",
        "argocd-server",
        "argocd-applicationset-controller",
        "argocd-redis",
    ] {
        let mut d = deployment("argocd", name, name);
        d["metadata"].as_object_mut().unwrap().remove("namespace");
        objects.push(d);
    }
    objects
}

fn root_application() -> Vec<Value> {
    let root = json!({"apiVersion": "argoproj.io/v1alpha1", "kind": "Application",
        "metadata": {"name": "root"},
        "spec": {"project": "default", "source": {"repoURL": "placeholder", "path": "manifests/apps"},
                 "destination": {"server": "https://kubernetes.default.svc", "namespace": "argocd"},
                 "syncPolicy": {"automated": {"prune": true, "selfHeal": true}}}});
    // As manifests/bootstrap/argocd-cm.yaml patches ArgoCD's own ConfigMap.
    let settings = json!({"apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": "argocd-cm", "namespace": "argocd"},
        "data": {"timeout.reconciliation": "30s"}});
    engine::point_root_at(
        vec![settings, root],
        &GitopsTarget {
            repo_url: "git://host.k3d.internal/neuroscale".into(),
            revision: "main".into(),
        },
    )
    .unwrap()
}

/// argocd -> kyverno -> platform, with the pin table's real gates.
fn three_components() -> Vec<Component> {
    let kyverno = *components::find("kyverno").unwrap();
    let platform = Component {
        depends_on: &["kyverno"],
        ..*components::find("platform").unwrap()
    };
    vec![*components::find("argocd").unwrap(), kyverno, platform]
}

/// What ArgoCD would have created for Kyverno once synced: ready controllers, a webhook Service
/// with an endpoint, and its Application.
fn seed_synced_kyverno(fake: &SimCluster, endpoint_ready: bool) {
    seed_namespace(fake, "kyverno");
    put(
        fake,
        crd(
            "policies.kyverno.io",
            "ValidatingPolicy",
            "validatingpolicies",
            "Cluster",
        ),
    );
    for name in [
        "kyverno-admission-controller",
        "kyverno-background-controller",
        "kyverno-cleanup-controller",
        "kyverno-reports-controller",
    ] {
        let mut d = deployment("kyverno", name, name);
        d["status"] = available();
        put(fake, d);
    }
    put(
        fake,
        json!({"apiVersion": "v1", "kind": "Service",
        "metadata": {"name": "kyverno-svc", "namespace": "kyverno"},
        "spec": {"selector": {"app": "kyverno-admission-controller"}}}),
    );
    put(
        fake,
        json!({"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
        "metadata": {"name": "kyverno-svc-1", "namespace": "kyverno",
                     "labels": {"kubernetes.io/service-name": "kyverno-svc"}},
        "addressType": "IPv4",
        "endpoints": [{"addresses": ["10.42.0.9"], "conditions": {"ready": endpoint_ready}}]}),
    );
}

#[tokio::test]
async fn install_runs_argocd_then_the_root_app_then_each_component_after_its_dependencies() {
    let fake = fresh_cluster().await;
    fake.workloads_become_ready(true);
    seed_synced_kyverno(&fake, true);
    let plan = InstallPlan {
        components: three_components(),
        argocd_manifest: argocd_manifest(),
        harness_objects: root_application(),
        deadline: LONG,
    };
    let client = fake.client().unwrap();
    let install = tokio::spawn(async move { engine::install(&client, &plan, &Silent).await });

    // ArgoCD was applied and the root Application handed the platform to it.
    until_request(&fake, |r| {
        r.method == "PATCH" && r.path.ends_with("/applications/root")
    })
    .await;
    let root = fake
        .get("argoproj.io/v1alpha1", "Application", "argocd", "root")
        .unwrap();
    assert_eq!(
        root["spec"]["source"]["repoURL"],
        "git://host.k3d.internal/neuroscale"
    );
    // Kyverno's Application is Progressing: platform must wait.
    put(&fake, application("kyverno", "Synced", "Progressing"));
    put(&fake, application("platform", "Synced", "Healthy"));
    until_request(&fake, |r| {
        r.path.ends_with("/applications")
            && r.query
                .get("fieldSelector")
                .is_some_and(|f| f.contains("kyverno"))
    })
    .await;
    assert!(!install.is_finished());
    assert!(
        !fake.requests().iter().any(|r| r
            .query
            .get("fieldSelector")
            .is_some_and(|f| f == "metadata.name=platform")),
        "platform's gates started before kyverno was ready"
    );
    set_status(
        &fake,
        "argoproj.io/v1alpha1",
        "Application",
        "argocd",
        "kyverno",
        json!({"sync": {"status": "Synced"}, "health": {"status": "Healthy"}}),
    );
    let reports = install.await.unwrap().expect("the graph runs");
    for report in &reports {
        assert_eq!(report.outcome, ComponentOutcome::Ready, "{report:?}");
    }
    let started = |name: &str| {
        reports
            .iter()
            .find(|r| r.name == name)
            .unwrap()
            .started_after_seconds
            .unwrap()
    };
    assert!(started("argocd") <= started("kyverno") && started("kyverno") <= started("platform"));
    // ArgoCD's install went in server-side, CRDs first, into its namespace.
    let first_patch = patches(&fake).into_iter().next().unwrap();
    assert!(
        first_patch.path.contains("customresourcedefinitions"),
        "{}",
        first_patch.path
    );
    assert!(fake
        .get("v1", "ServiceAccount", "argocd", "argocd-server")
        .is_some());
}

#[tokio::test]
async fn a_stuck_component_fails_with_its_diagnosis_and_blocks_only_its_dependents() {
    let fake = fresh_cluster().await;
    fake.workloads_become_ready(true);
    seed_synced_kyverno(&fake, false); // kyverno-svc never gets a ready endpoint
    seed_namespace(&fake, "argocd");
    put(&fake, application_crd());
    put(&fake, application("kyverno", "Synced", "Healthy"));
    let plan = InstallPlan {
        components: three_components(),
        argocd_manifest: argocd_manifest(),
        harness_objects: root_application(),
        deadline: Duration::from_secs(2),
    };
    let reports = engine::install(&fake.client().unwrap(), &plan, &Silent)
        .await
        .unwrap();
    let by_name = |name: &str| reports.iter().find(|r| r.name == name).unwrap().clone();
    assert_eq!(by_name("argocd").outcome, ComponentOutcome::Ready);
    let kyverno = by_name("kyverno");
    assert_eq!(kyverno.outcome, ComponentOutcome::Failed);
    let error = kyverno.error.unwrap();
    assert!(error.contains("endpoints/kyverno/kyverno-svc"), "{error}");
    assert!(error.contains("no ready endpoints"), "{error}");
    let platform = by_name("platform");
    assert_eq!(platform.outcome, ComponentOutcome::Blocked);
    assert!(platform.error.unwrap().contains("kyverno"));
}

#[tokio::test]
async fn a_second_install_on_a_converged_cluster_writes_nothing_new() {
    let fake = fresh_cluster().await;
    fake.workloads_become_ready(true);
    seed_synced_kyverno(&fake, true);
    seed_namespace(&fake, "argocd");
    put(&fake, application_crd());
    put(&fake, application("kyverno", "Synced", "Healthy"));
    put(&fake, application("platform", "Synced", "Healthy"));
    let plan = InstallPlan {
        components: three_components(),
        argocd_manifest: argocd_manifest(),
        harness_objects: root_application(),
        deadline: LONG,
    };
    let first = engine::install(&fake.client().unwrap(), &plan, &Silent)
        .await
        .unwrap();
    assert!(
        first.iter().all(|r| r.outcome == ComponentOutcome::Ready),
        "{first:?}"
    );
    let stored_before = fake
        .get("apps/v1", "Deployment", "argocd", "argocd-server")
        .unwrap();
    let root_before = fake
        .get("argoproj.io/v1alpha1", "Application", "argocd", "root")
        .unwrap();
    let cm_before = fake.get("v1", "ConfigMap", "argocd", "argocd-cm").unwrap();
    let second = engine::install(&fake.client().unwrap(), &plan, &Silent)
        .await
        .unwrap();
    assert!(
        second.iter().all(|r| r.outcome == ComponentOutcome::Ready),
        "{second:?}"
    );
    let stored_after = fake
        .get("apps/v1", "Deployment", "argocd", "argocd-server")
        .unwrap();
    let root_after = fake
        .get("argoproj.io/v1alpha1", "Application", "argocd", "root")
        .unwrap();
    assert_eq!(
        stored_before["metadata"]["resourceVersion"],
        stored_after["metadata"]["resourceVersion"]
    );
    assert_eq!(
        root_before["metadata"]["resourceVersion"],
        root_after["metadata"]["resourceVersion"]
    );
    // ArgoCD's ConfigMap carries both install.yaml's labels and the harness settings, and the
    // second run did not flap it.
    let cm = fake.get("v1", "ConfigMap", "argocd", "argocd-cm").unwrap();
    assert_eq!(cm["data"]["timeout.reconciliation"], "30s");
    assert_eq!(
        cm["metadata"]["labels"]["app.kubernetes.io/part-of"],
        "argocd"
    );
    assert_eq!(
        cm["metadata"]["resourceVersion"],
        cm_before["metadata"]["resourceVersion"]
    );
}
