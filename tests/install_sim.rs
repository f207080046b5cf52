//! The install engine against the sim engineer's simulated cluster (`neuroscale-testkit`, a real
//! HTTP API server on loopback with its own server-side apply, watches and scripted controllers),
//! an implementation independent of tests/install_support: on the healthy platform every
//! component of the pin table passes its gates, and a second install changes nothing.

use std::path::Path;
use std::time::Duration;

use neuroscale::components;
use neuroscale::install::engine::{self, ComponentOutcome, InstallPlan};
use neuroscale::install::progress::Silent;
use neuroscale_testkit::SimPlatform;

fn plan() -> InstallPlan {
    let url = "git://127.0.0.1:9418/neuroscale.git";
    InstallPlan {
        components: components::selected(false),
        // ArgoCD is already installed in the sim's healthy platform; the engine re-applies
        // only its Namespace and the harness objects.
        argocd_manifest: Vec::new(),
        harness_objects: neuroscale::gitops::harness_objects(
            Path::new(env!("CARGO_MANIFEST_DIR")),
            url,
            false,
        )
        .expect("the project's harness objects"),
        deadline: Duration::from_secs(60),
    }
}

#[tokio::test]
async fn every_gate_of_the_pin_table_passes_on_the_healthy_simulated_platform() {
    let platform = SimPlatform::healthy().await.expect("the sim starts");
    let client = platform.cluster.client().expect("a client for the sim");
    let plan = plan();
    let reports = engine::install(&client, &plan, &Silent)
        .await
        .expect("the graph runs");
    for report in &reports {
        assert_eq!(
            report.outcome,
            ComponentOutcome::Ready,
            "{}: {}",
            report.name,
            report.error.clone().unwrap_or_default()
        );
    }
    let root = platform
        .cluster
        .get(
            "argoproj.io/v1alpha1",
            "Application",
            "argocd",
            "neuroscale-root",
        )
        .expect("the root Application was applied");
    assert_eq!(
        root["spec"]["source"]["repoURL"],
        "git://127.0.0.1:9418/neuroscale.git"
    );
    let version = |root: &serde_json::Value| root["metadata"]["resourceVersion"].clone();
    let again = engine::install(&client, &plan, &Silent).await.unwrap();
    assert!(again.iter().all(|r| r.outcome == ComponentOutcome::Ready));
    let root_after = platform
        .cluster
        .get(
            "argoproj.io/v1alpha1",
            "Application",
            "argocd",
            "neuroscale-root",
        )
        .unwrap();
    assert_eq!(
        version(&root),
        version(&root_after),
        "a second install changed the root"
    );
}

#[tokio::test]
async fn a_half_ready_kserve_controller_fails_kserve_names_the_container_and_blocks_the_platform() {
    let platform = SimPlatform::start(Some(neuroscale_testkit::Fault::KserveControllerHalfReady))
        .await
        .expect("the sim starts");
    let client = platform.cluster.client().expect("a client for the sim");
    let plan = InstallPlan {
        deadline: Duration::from_secs(5),
        ..plan()
    };
    let reports = engine::install(&client, &plan, &Silent).await.unwrap();
    let by_name = |name: &str| reports.iter().find(|r| r.name == name).unwrap().clone();
    let kserve = by_name("kserve");
    assert_eq!(kserve.outcome, ComponentOutcome::Failed);
    let error = kserve.error.unwrap_or_default();
    assert!(
        error.contains("deploy/kserve/kserve-controller-manager"),
        "{error}"
    );
    assert!(error.contains("kube-rbac-proxy"), "{error}");
    assert_eq!(by_name("platform").outcome, ComponentOutcome::Blocked);
    for independent in ["cert-manager", "kyverno", "prometheus", "opencost"] {
        assert_eq!(
            by_name(independent).outcome,
            ComponentOutcome::Ready,
            "{independent}"
        );
    }
}
