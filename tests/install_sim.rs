//! The install engine installs the real platform into a fresh simulated cluster: ArgoCD from
//! the real pinned install.yaml, the harness objects, then every component through the sim's
//! ArgoCD, which renders each Application from the local GitOps source (the real pinned
//! artefacts, vendored as `up` vendors them) with the real renderers and syncs it. Every gate
//! of the pin table must pass, and a second install must change nothing.
//!
//! Needs the shared directory, git, kubectl and Helm's SDK; skips with the reason when one is
//! missing, fails under NEUROSCALE_REQUIRE_PEERS=1.

mod support;

use std::time::Duration;

use neuroscale::components;
use neuroscale::install::engine::{self, ComponentOutcome, InstallPlan};
use neuroscale::install::progress::Silent;
use neuroscale_testkit::SimPlatform;
use support::gitops_tree::{self, REPO_URL};

fn plan(upstream: &std::path::Path) -> InstallPlan {
    InstallPlan {
        components: components::selected(false),
        argocd_manifest: gitops_tree::argocd_manifest(upstream),
        harness_objects: neuroscale::gitops::harness_objects(
            &support::project_root().join("manifests"),
            REPO_URL,
            false,
        )
        .expect("the project's harness objects"),
        deadline: Duration::from_secs(120),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_real_platform_installs_into_a_fresh_cluster_and_a_second_install_changes_nothing() {
    let Some(upstream) = support::upstream_or_skip() else {
        return;
    };
    if support::renderers_or_skip().is_none() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let source = gitops_tree::source(&upstream, dir.path(), REPO_URL).await;
    let platform = SimPlatform::bare().await.expect("the sim starts");
    platform.alias_repo(REPO_URL, &source.repo_path());
    let client = platform.cluster.client().expect("a client for the sim");
    let plan = plan(&upstream);
    let reports = engine::install(&client, &plan, &Silent)
        .await
        .expect("the graph runs");
    for report in &reports {
        println!(
            "{:<16} started +{:.1}s took {:.1}s",
            report.name,
            report.started_after_seconds.unwrap_or(0.0),
            report.seconds.unwrap_or(0.0)
        );
        assert_eq!(
            report.outcome,
            ComponentOutcome::Ready,
            "{}: {}",
            report.name,
            report.error.clone().unwrap_or_default()
        );
    }
    // Everything is synced from git by now: the upstream objects are in the cluster.
    for (kind, ns, name) in [
        ("Deployment", "kserve", "kserve-controller-manager"),
        ("Deployment", "knative-serving", "activator"),
        ("Deployment", "kyverno", "kyverno-reports-controller"),
        ("Deployment", "opencost", "opencost"),
    ] {
        let object = platform
            .cluster
            .get("apps/v1", kind, ns, name)
            .unwrap_or_else(|| panic!("{kind} {ns}/{name} synced"));
        assert!(
            object["metadata"]["annotations"]["argocd.argoproj.io/tracking-id"]
                .as_str()
                .is_some_and(|id| !id.is_empty()),
            "{name} is tracked by its Application"
        );
    }
    // The harness's argocd-cmd-params-cm reached ArgoCD: resources carry their health again.
    let kserve = platform
        .cluster
        .get("argoproj.io/v1alpha1", "Application", "argocd", "kserve")
        .expect("the kserve Application");
    let resources = kserve["status"]["resources"].as_array().expect("resources");
    assert!(
        resources
            .iter()
            .any(|r| r["kind"] == "Deployment" && r["health"]["status"] == "Healthy"),
        "per-resource health persisted: {resources:?}"
    );
    assert!(kserve["status"].get("resourceHealthSource").is_none());

    let before = platform.desired_state();
    let again = engine::install(&client, &plan, &Silent).await.unwrap();
    assert!(again.iter().all(|r| r.outcome == ComponentOutcome::Ready));
    let root = platform
        .cluster
        .get(
            "argoproj.io/v1alpha1",
            "Application",
            "argocd",
            "neuroscale-root",
        )
        .expect("the root Application was applied");
    assert_eq!(root["spec"]["source"]["repoURL"], REPO_URL);
    let after = platform.desired_state();
    let changed: Vec<&String> = before
        .iter()
        .filter(|(key, object)| after.get(*key) != Some(object))
        .map(|(key, _)| key)
        .collect();
    assert!(changed.is_empty(), "a second install changed: {changed:#?}");
}
