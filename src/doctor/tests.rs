//! Triage verdicts on realistic objects. Fixture shapes follow the Kubernetes API (core/v1 Node
//! and Pod, apps/v1 Deployment, discovery/v1 EndpointSlice, apiextensions/v1 CRD) and the
//! failure modes it exists for (1/2 containers with kube-rbac-proxy ImagePullBackOff, webhook
//! without endpoints, a stale ingress-nginx webhook).

use super::*;
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::api::discovery::v1::EndpointSlice;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use serde_json::{json, Value};

fn from<T: serde::de::DeserializeOwned>(value: Value) -> T {
    serde_json::from_value(value).unwrap()
}

fn node(name: &str, ready: &str) -> Node {
    from(json!({
        "metadata": {"name": name},
        "status": {"conditions": [{"type": "Ready", "status": ready, "message": if ready == "True" {"kubelet is posting ready status"} else {"container runtime network not ready"}}]}
    }))
}

fn app(name: &str, sync: &str, health: &str, conditions: Value) -> Application {
    from(json!({
        "apiVersion": "argoproj.io/v1alpha1", "kind": "Application",
        "metadata": {"name": name, "namespace": "argocd"},
        "spec": {"project": "default"},
        "status": {"sync": {"status": sync}, "health": {"status": health}, "conditions": conditions}
    }))
}

fn controller(ready_replicas: i32) -> Deployment {
    from(json!({
        "metadata": {"name": KSERVE_CONTROLLER, "namespace": "kserve", "generation": 1},
        "spec": {"replicas": 1, "selector": {"matchLabels": {"control-plane": KSERVE_CONTROLLER}},
                  "template": {"spec": {"containers": [{"name": "manager"}]}}},
        "status": {"observedGeneration": 1, "replicas": 1, "readyReplicas": ready_replicas,
                   "updatedReplicas": 1, "availableReplicas": ready_replicas,
                   "conditions": [{"type": "Available", "status": if ready_replicas > 0 {"True"} else {"False"}, "message": "Deployment has minimum availability."}]}
    }))
}

fn controller_pod(sidecar_ready: bool) -> Pod {
    let sidecar_state = if sidecar_ready {
        json!({"running": {}})
    } else {
        json!({"waiting": {"reason": "ImagePullBackOff"}})
    };
    from(json!({
        "metadata": {"name": "kserve-controller-manager-8d7c5b9f4-xr2lm", "namespace": "kserve"},
        "spec": {"containers": [{"name": "manager"}, {"name": "kube-rbac-proxy"}]},
        "status": {"phase": "Running", "containerStatuses": [
            {"name": "manager", "ready": true, "restartCount": 0, "image": "kserve/kserve-controller:v0.20.0", "imageID": "", "state": {"running": {}}},
            {"name": "kube-rbac-proxy", "ready": sidecar_ready, "restartCount": 0, "image": "gcr.io/kubebuilder/kube-rbac-proxy:v0.13.1", "imageID": "", "state": sidecar_state}
        ]}
    }))
}

fn crd(name: &str) -> CustomResourceDefinition {
    from(json!({
        "metadata": {"name": name},
        "spec": {"group": "serving.kserve.io", "names": {"kind": "X", "plural": "x"}, "scope": "Namespaced", "versions": []},
        "status": {"conditions": [{"type": "Established", "status": "True"}]}
    }))
}

fn slice(addresses: usize) -> EndpointSlice {
    let endpoints: Vec<Value> = (0..addresses)
        .map(|i| json!({"addresses": [format!("10.42.0.{}", 23 + i)], "conditions": {"ready": true}}))
        .collect();
    from(json!({
        "metadata": {"name": "kserve-webhook-server-service-abcde", "labels": {"kubernetes.io/service-name": KSERVE_WEBHOOK_SERVICE}},
        "addressType": "IPv4",
        "endpoints": endpoints
    }))
}

fn endpoints(addresses: usize) -> Readiness {
    readiness::service_endpoints(
        &format!("{KSERVE_NAMESPACE}/{KSERVE_WEBHOOK_SERVICE}"),
        &[slice(addresses)],
    )
}

fn crd_states(missing: Option<&str>) -> Vec<CrdState> {
    KSERVE_CRDS
        .iter()
        .map(|name| CrdState {
            name: name.to_string(),
            established: (Some(*name) != missing).then(|| readiness::crd_established(&crd(name))),
        })
        .collect()
}

fn context() -> Source {
    Source::Context("k3d-neuroscale".into())
}

fn hook(
    configuration: &str,
    webhook: &str,
    service: &str,
    exists: bool,
    ready: usize,
) -> WebhookTarget {
    WebhookTarget {
        configuration_kind: "ValidatingWebhookConfiguration",
        configuration: configuration.into(),
        webhook: webhook.into(),
        service: Some(service.into()),
        service_exists: exists,
        ready_endpoints: ready,
    }
}

fn healthy() -> Observations {
    Observations {
        nodes: Ok(vec![
            node("k3d-neuroscale-server-0", "True"),
            node("k3d-neuroscale-agent-0", "True"),
        ]),
        applications: Ok(vec![
            app("kserve", "Synced", "Healthy", json!([])),
            app("kyverno", "Synced", "Healthy", json!([])),
        ]),
        kserve_controller: Ok(Some(readiness::deployment(&controller(1)))),
        kserve_pods: Ok(vec![PodReadiness::of(&controller_pod(true))]),
        crds: Ok(crd_states(None)),
        controller_log: Ok("{\"level\":\"info\",\"msg\":\"Starting workers\"}\n".into()),
        kserve_webhook_endpoints: Ok(endpoints(1)),
        webhooks: Ok(vec![hook(
            "inferenceservice.serving.kserve.io",
            "inferenceservice.kserve-webhook-server.validator",
            "kserve/kserve-webhook-server-service",
            true,
            1,
        )]),
    }
}

fn verdicts(steps: &[Step]) -> Vec<StepVerdict> {
    steps.iter().map(|s| s.verdict).collect()
}

#[test]
fn a_healthy_platform_passes_every_step() {
    let steps = triage(&healthy());
    assert_eq!(verdicts(&steps), vec![StepVerdict::Ok; 6]);
    assert_eq!(exit_code(&steps), 0);
    assert!(steps.iter().all(|s| s.code.is_none()), "{steps:?}");
    assert_eq!(
        steps.iter().map(|s| s.number).collect::<Vec<_>>(),
        vec![1, 2, 3, 4, 5, 6]
    );
}

#[test]
fn a_node_that_is_not_ready_stops_the_triage() {
    let mut obs = healthy();
    obs.nodes = Ok(vec![node("k3d-neuroscale-agent-1", "False")]);
    let steps = triage(&obs);
    assert_eq!(steps[0].verdict, StepVerdict::Fail);
    assert_eq!(
        steps[0].next_command,
        "kubectl describe node k3d-neuroscale-agent-1"
    );
    assert!(steps[1..].iter().all(|s| s.verdict == StepVerdict::Skip));
    assert_eq!(exit_code(&steps), 1);
}

#[test]
fn a_sync_error_names_the_application_to_inspect() {
    let mut obs = healthy();
    obs.applications = Ok(vec![
        app("kserve", "Synced", "Healthy", json!([])),
        app(
            "test-app",
            "Synced",
            "Progressing",
            json!([{"type": "SyncError", "message": "failed calling webhook \"validate.nginx.ingress.kubernetes.io\": connection refused"}]),
        ),
    ]);
    let step = &triage(&obs)[1];
    assert_eq!(step.verdict, StepVerdict::Fail);
    assert_eq!(
        step.next_command,
        "kubectl -n argocd get application test-app -o yaml | grep -A 20 conditions"
    );
    assert!(
        step.observed[1].contains("SyncError"),
        "{:?}",
        step.observed
    );
}

#[test]
fn a_controller_pod_at_one_of_two_containers_fails_the_control_plane() {
    let mut obs = healthy();
    obs.kserve_pods = Ok(vec![PodReadiness::of(&controller_pod(false))]);
    let step = &triage(&obs)[2];
    assert_eq!(step.verdict, StepVerdict::Fail);
    assert_eq!(step.code, Some(FailureCode::KserveControllerHalfReady));
    assert!(
        step.observed
            .iter()
            .any(|l| l.contains("1/2 containers ready") && l.contains("ImagePullBackOff")),
        "{:?}",
        step.observed
    );
}

#[test]
fn a_missing_crd_points_at_the_crds() {
    let mut obs = healthy();
    obs.crds = Ok(crd_states(Some(KSERVE_CRDS[0])));
    let step = &triage(&obs)[2];
    assert_eq!(step.verdict, StepVerdict::Fail);
    assert_eq!(step.code, Some(FailureCode::CrdNotEstablished));
    assert_eq!(
        step.next_command,
        "kubectl get crd | grep serving.kserve.io"
    );
}

#[test]
fn error_lines_in_the_controller_log_warn_without_failing() {
    let mut obs = healthy();
    obs.controller_log = Ok("{\"level\":\"info\",\"msg\":\"ok\"}\n{\"level\":\"error\",\"msg\":\"Reconciler error\",\"error\":\"no matches for kind VirtualService\"}\n".into());
    let steps = triage(&obs);
    assert_eq!(steps[3].verdict, StepVerdict::Warn);
    assert!(steps[3]
        .observed
        .iter()
        .any(|l| l.contains("VirtualService")));
    assert_eq!(exit_code(&steps), 0);
}

#[test]
fn a_webhook_without_endpoints_fails_step_5() {
    let mut obs = healthy();
    obs.kserve_webhook_endpoints = Ok(endpoints(0));
    let step = &triage(&obs)[4];
    assert_eq!(step.verdict, StepVerdict::Fail);
    assert_eq!(step.code, Some(FailureCode::KserveWebhookNoEndpoints));
    assert!(step.observed[0].contains("no ready endpoints"));
}

#[test]
fn a_stale_webhook_is_found_and_its_deletion_suggested() {
    let mut obs = healthy();
    let mut hooks = obs.webhooks.clone().unwrap();
    hooks.push(hook(
        "ingress-nginx-admission",
        "validate.nginx.ingress.kubernetes.io",
        "ingress-nginx/ingress-nginx-controller-admission",
        false,
        0,
    ));
    obs.webhooks = Ok(hooks);
    let step = &triage(&obs)[5];
    assert_eq!(step.verdict, StepVerdict::Fail);
    assert_eq!(
        step.next_command,
        "kubectl delete validatingwebhookconfiguration ingress-nginx-admission"
    );
    assert_eq!(step.code, Some(FailureCode::StaleWebhook));
    assert_eq!(
        step.observed.len(),
        1,
        "only the stale one: {:?}",
        step.observed
    );
}

#[test]
fn an_unreadable_part_fails_its_step_with_the_reason() {
    let mut obs = healthy();
    obs.applications = Err("applications.argoproj.io is forbidden".into());
    let step = &triage(&obs)[1];
    assert_eq!(step.verdict, StepVerdict::Fail);
    assert!(step.observed[0].contains("forbidden"));
}

#[test]
fn a_part_the_source_never_held_skips_its_step() {
    let mut obs = healthy();
    obs.controller_log = Err(Unread::NotCollected(
        "the bundle keeps logs only of containers that are not ready".into(),
    ));
    let steps = triage(&obs);
    assert_eq!(steps[3].verdict, StepVerdict::Skip);
    assert!(steps[3].observed[0].starts_with("not collected:"));
    assert_eq!(exit_code(&steps), 0);
}

#[test]
fn a_progressing_application_and_an_istio_log_carry_their_codes() {
    let mut obs = healthy();
    obs.applications = Ok(vec![app("prometheus", "Synced", "Progressing", json!([]))]);
    obs.controller_log = Ok("{\"level\":\"error\",\"msg\":\"Reconciler error\",\"error\":\"no matches for kind VirtualService\"}\n".into());
    let steps = triage(&obs);
    assert_eq!(steps[1].code, Some(FailureCode::ApplicationProgressing));
    assert_eq!(steps[3].code, Some(FailureCode::KserveAssumesIstio));
    let text = render_human(&context(), &steps, false);
    assert!(
        text.contains("code: NS105 (docs/failures.md#ns105)"),
        "{text}"
    );
}

#[test]
fn json_and_human_renderings() {
    let mut obs = healthy();
    obs.kserve_webhook_endpoints = Ok(endpoints(0));
    let steps = triage(&obs);
    let value: Value = serde_json::from_str(&render_json(&context(), &steps)).unwrap();
    assert_eq!(value["schemaVersion"], "neuroscale.doctor/v1");
    assert_eq!(value["verdict"], "FAIL");
    assert_eq!(value["steps"][4]["verdict"], "FAIL");
    assert!(value["steps"][4]["nextCommand"]
        .as_str()
        .unwrap()
        .starts_with("kubectl -n kserve"));
    let text = render_human(&context(), &steps, false);
    assert!(
        text.contains("FAIL 5. KServe webhook has ready endpoints"),
        "{text}"
    );
    assert!(!text.contains('\x1b'));
}

#[test]
fn the_renderings_match_their_snapshots() {
    let mut obs = healthy();
    obs.kserve_webhook_endpoints = Ok(endpoints(0));
    let steps = triage(&obs);
    insta::assert_snapshot!("doctor_human", render_human(&context(), &steps, false));
    insta::assert_snapshot!("doctor_json", render_json(&context(), &steps));
    insta::assert_snapshot!(
        "doctor_healthy_human",
        render_human(&context(), &triage(&healthy()), false)
    );
}
