//! The stand-in `k3d` driven by neuroscale's real k3d client (`neuroscale::cluster::k3d`):
//! create-or-reuse from the project's k3d config, the kubeconfig it hands out reaches the
//! simulated cluster, and delete. Needs `bash`, which every supported machine has.

use std::path::Path;

use k8s_openapi::api::core::v1::Namespace;
use kube::api::{Api, ListParams};
use neuroscale::cluster::k3d::{ClusterState, K3d};
use neuroscale::cluster::k3d_config::K3dConfig;
use neuroscale_testkit::k3d_standin::{self, StandinCluster};
use neuroscale_testkit::SimCluster;
use serde_json::json;

#[tokio::test]
async fn the_k3d_client_creates_reuses_and_deletes_through_the_standin() {
    let sim = SimCluster::start().await.expect("sim");
    sim.put(json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "argocd"}}))
        .unwrap();
    let config_path = Path::new(env!("CARGO_MANIFEST_DIR")).join("k3d/cluster.yaml");
    let config = K3dConfig::load(&config_path).expect("the project's k3d config loads");
    let dir = tempfile::tempdir().unwrap();
    let binary = k3d_standin::install(
        dir.path(),
        &sim.kubeconfig_yaml(),
        &StandinCluster {
            image: config.image.clone(),
            agents: config.agents as u32,
        },
    )
    .unwrap();
    let k3d = K3d::at(&binary);

    assert_eq!(
        k3d.ensure_cluster(&config, &config.name).await.unwrap(),
        ClusterState::Created
    );
    assert_eq!(
        k3d.ensure_cluster(&config, &config.name).await.unwrap(),
        ClusterState::Reused
    );

    let kubeconfig = dir.path().join("written.yaml");
    k3d.write_kubeconfig(&config.name, &kubeconfig)
        .await
        .unwrap();
    let loaded = kube::config::Kubeconfig::read_from(&kubeconfig).unwrap();
    let client_config = kube::Config::from_custom_kubeconfig(loaded, &Default::default())
        .await
        .unwrap();
    let client = kube::Client::try_from(client_config).unwrap();
    let namespaces = Api::<Namespace>::all(client)
        .list(&ListParams::default())
        .await
        .unwrap();
    assert_eq!(namespaces.items.len(), 1);

    k3d.delete(&config.name).await.unwrap();
    assert!(k3d.cluster(&config.name).await.unwrap().is_none());
    let calls = k3d_standin::calls(dir.path());
    assert!(
        calls
            .iter()
            .any(|c| c.starts_with(&format!("cluster create {} --config", config.name))),
        "{calls:?}"
    );
}
