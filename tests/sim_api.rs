//! kube-rs against the simulated cluster: the API semantics the install engine and the checks rely
//! on (discovery, create, get, list with selectors, watch, server-side apply, dry-run, status
//! subresource, `metav1.Status` errors).

use std::time::Duration;

use futures::{StreamExt, TryStreamExt};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{ConfigMap, Namespace};
use kube::api::{
    Api, DeleteParams, ListParams, Patch, PatchParams, PostParams, WatchEvent, WatchParams,
};
use kube::discovery::Discovery;
use neuroscale_testkit::{SimCluster, Status};
use serde_json::json;

async fn sim_with_namespace(ns: &str) -> (SimCluster, kube::Client) {
    let sim = SimCluster::start().await.expect("sim starts");
    sim.put(json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}}))
        .expect("namespace");
    let client = sim.client().expect("client");
    (sim, client)
}

fn config_map(name: &str, data: &str) -> ConfigMap {
    serde_json::from_value(json!({
        "metadata": {"name": name, "labels": {"app": name}},
        "data": {"key": data}
    }))
    .unwrap()
}

#[tokio::test]
async fn create_get_list_and_not_found() {
    let (_sim, client) = sim_with_namespace("models").await;
    let api: Api<ConfigMap> = Api::namespaced(client, "models");
    let created = api
        .create(&PostParams::default(), &config_map("a", "1"))
        .await
        .unwrap();
    assert!(created.metadata.uid.is_some());
    api.create(&PostParams::default(), &config_map("b", "2"))
        .await
        .unwrap();

    let got = api.get("a").await.unwrap();
    assert_eq!(got.data.unwrap()["key"], "1");
    let listed = api
        .list(&ListParams::default().labels("app=b"))
        .await
        .unwrap();
    assert_eq!(listed.items.len(), 1);
    assert_eq!(listed.items[0].metadata.name.as_deref(), Some("b"));

    match api.get("missing").await.unwrap_err() {
        kube::Error::Api(status) => {
            assert_eq!(status.code, 404);
            assert_eq!(status.reason, "NotFound");
            assert_eq!(status.message, "configmaps \"missing\" not found");
        }
        other => panic!("expected a Status error, got {other:?}"),
    }
    match api
        .create(&PostParams::default(), &config_map("a", "1"))
        .await
        .unwrap_err()
    {
        kube::Error::Api(status) => assert_eq!(
            (status.code, status.reason.as_str()),
            (409, "AlreadyExists")
        ),
        other => panic!("expected AlreadyExists, got {other:?}"),
    }
}

#[tokio::test]
async fn server_side_apply_creates_then_merges_and_dry_run_persists_nothing() {
    let (_sim, client) = sim_with_namespace("models").await;
    let api: Api<Deployment> = Api::namespaced(client, "models");
    let params = PatchParams::apply("neuroscale").force();
    let manifest = json!({
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "web", "labels": {"a": "1", "b": "2"}},
        "spec": {"replicas": 1, "selector": {"matchLabels": {"app": "web"}},
                 "template": {"metadata": {"labels": {"app": "web"}},
                              "spec": {"containers": [{"name": "c", "image": "nginx"}]}}}
    });
    let created = api
        .patch("web", &params, &Patch::Apply(&manifest))
        .await
        .unwrap();
    assert_eq!(created.metadata.generation, Some(1));

    let mut changed = manifest.clone();
    changed["spec"]["replicas"] = json!(3);
    changed["metadata"]["labels"] = json!({"a": "1"});
    let updated = api
        .patch("web", &params, &Patch::Apply(&changed))
        .await
        .unwrap();
    assert_eq!(updated.spec.unwrap().replicas, Some(3));
    assert_eq!(updated.metadata.generation, Some(2));
    let labels = updated.metadata.labels.unwrap();
    assert!(
        labels.contains_key("a") && !labels.contains_key("b"),
        "{labels:?}"
    );

    let dry = PostParams {
        dry_run: true,
        ..Default::default()
    };
    let mut other: Deployment = serde_json::from_value(manifest).unwrap();
    other.metadata.name = Some("dry".into());
    api.create(&dry, &other).await.unwrap();
    assert!(api.get_opt("dry").await.unwrap().is_none());
}

#[tokio::test]
async fn status_subresource_is_separate_from_spec() {
    let (sim, client) = sim_with_namespace("models").await;
    let api: Api<Deployment> = Api::namespaced(client, "models");
    sim.put(json!({"apiVersion": "apps/v1", "kind": "Deployment",
                   "metadata": {"name": "d", "namespace": "models"}, "spec": {"replicas": 1}}))
        .unwrap();
    api.patch_status(
        "d",
        &PatchParams::default(),
        &Patch::Merge(json!({"status": {"readyReplicas": 1}})),
    )
    .await
    .unwrap();
    let mut replaced = api.get("d").await.unwrap();
    replaced.status = None;
    let after = api
        .replace("d", &PostParams::default(), &replaced)
        .await
        .unwrap();
    assert_eq!(
        after.status.unwrap().ready_replicas,
        Some(1),
        "a spec write keeps status"
    );
}

#[tokio::test]
async fn watch_streams_changes_after_a_resource_version() {
    let (sim, client) = sim_with_namespace("models").await;
    let api: Api<ConfigMap> = Api::namespaced(client, "models");
    let list = api.list(&ListParams::default()).await.unwrap();
    let version = list.metadata.resource_version.unwrap();
    let mut stream = api
        .watch(&WatchParams::default().timeout(10), &version)
        .await
        .unwrap()
        .boxed();
    api.create(&PostParams::default(), &config_map("w", "1"))
        .await
        .unwrap();
    sim.delete("v1", "ConfigMap", "models", "w").unwrap();

    let first = tokio::time::timeout(Duration::from_secs(10), stream.try_next())
        .await
        .unwrap()
        .unwrap();
    assert!(
        matches!(first, Some(WatchEvent::Added(cm)) if cm.metadata.name.as_deref() == Some("w"))
    );
    let second = tokio::time::timeout(Duration::from_secs(10), stream.try_next())
        .await
        .unwrap()
        .unwrap();
    assert!(matches!(second, Some(WatchEvent::Deleted(_))));
}

#[tokio::test]
async fn discovery_sees_crds_once_stored_and_namespace_deletion_cascades() {
    let (sim, client) = sim_with_namespace("models").await;
    sim.put(json!({
        "apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
        "metadata": {"name": "inferenceservices.serving.kserve.io"},
        "spec": {"group": "serving.kserve.io", "scope": "Namespaced",
                 "names": {"kind": "InferenceService", "plural": "inferenceservices", "singular": "inferenceservice"},
                 "versions": [{"name": "v1beta1", "served": true, "storage": true, "subresources": {"status": {}}}]}
    }))
    .unwrap();
    let discovery = Discovery::new(client.clone()).run().await.unwrap();
    assert!(discovery.has_group("serving.kserve.io"));
    assert!(discovery.has_group("apps"));

    let cms: Api<ConfigMap> = Api::namespaced(client.clone(), "models");
    cms.create(&PostParams::default(), &config_map("c", "1"))
        .await
        .unwrap();
    let namespaces: Api<Namespace> = Api::all(client);
    namespaces
        .delete("models", &DeleteParams::default())
        .await
        .unwrap();
    assert!(cms.get_opt("c").await.unwrap().is_none());
}

#[tokio::test]
async fn admission_hooks_deny_with_their_status() {
    let (sim, client) = sim_with_namespace("models").await;
    sim.on_admission("", "ConfigMap", |request, _| {
        if request.name == "forbidden" {
            Err(Status::webhook_denied("validate.example", "no"))
        } else {
            Ok(())
        }
    });
    let api: Api<ConfigMap> = Api::namespaced(client, "models");
    match api
        .create(&PostParams::default(), &config_map("forbidden", "1"))
        .await
        .unwrap_err()
    {
        kube::Error::Api(status) => {
            assert_eq!(status.code, 400);
            assert_eq!(
                status.message,
                "admission webhook \"validate.example\" denied the request: no"
            );
        }
        other => panic!("expected a denial, got {other:?}"),
    }
    assert!(api.get_opt("forbidden").await.unwrap().is_none());
    api.create(&PostParams::default(), &config_map("fine", "1"))
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_watch_based_wait_sees_the_scripted_rollout_complete() {
    use kube::runtime::wait::{await_condition, conditions};
    use neuroscale_testkit::{preset, SimPlatform};

    let platform = SimPlatform::bare().await.expect("sim platform");
    let client = platform.cluster.client().unwrap();
    let api: Api<Deployment> = Api::namespaced(client, "default");
    let manifest = preset::deployment("default", "waited", &["c"], "nginx:1.27");
    api.patch(
        "waited",
        &PatchParams::apply("neuroscale"),
        &Patch::Apply(&manifest),
    )
    .await
    .unwrap();
    let completed = tokio::time::timeout(
        Duration::from_secs(20),
        await_condition(api, "waited", conditions::is_deployment_completed()),
    )
    .await
    .expect("the scripted controller completes the rollout")
    .unwrap();
    let status = completed.and_then(|d| d.status).expect("a status");
    assert_eq!(status.ready_replicas, Some(1));
}
