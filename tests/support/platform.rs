//! The installed platform the check tests run against: the real pinned artefacts installed once
//! per test binary into a fresh simulated cluster by the install engine (as `up` installs
//! them), synced by the sim's ArgoCD until every Application — the demo models' too — is Synced
//! and Healthy, then captured. Each test starts its own platform from that capture, with its
//! own copy of the GitOps source, and plants its fault the way it happens on a real cluster (a
//! commit to the GitOps source that ArgoCD then syncs, an object applied by hand, a controller
//! misbehaving).

use std::path::{Path, PathBuf};
use std::time::Duration;

use neuroscale::components;
use neuroscale::install::engine::{self, ComponentOutcome, InstallPlan};
use neuroscale::install::progress::Silent;
use neuroscale_testkit::{faults, Fault, SimPlatform, Snapshot};
use tokio::sync::OnceCell;

use super::gitops_tree::{self, REPO_URL};

/// The capture and the GitOps source it was synced from.
pub struct Installed {
    pub snapshot: Snapshot,
    source_dir: PathBuf,
    _dir: tempfile::TempDir,
}

/// The Applications a converged platform holds.
pub const APPLICATIONS: &[&str] = &[
    "neuroscale-root",
    "cert-manager",
    "kyverno",
    "knative-serving",
    "kourier",
    "kserve",
    "prometheus",
    "opencost",
    "platform",
    "model-sklearn-iris",
    "model-sklearn-iris-v2",
];

/// The installed platform, or None after saying which peer is missing.
pub async fn installed() -> Option<&'static Installed> {
    static INSTALLED: OnceCell<Option<Installed>> = OnceCell::const_new();
    INSTALLED
        .get_or_init(|| async {
            let upstream = super::upstream_or_skip()?;
            super::renderers_or_skip()?;
            if !std::process::Command::new("git")
                .arg("--version")
                .output()
                .is_ok_and(|o| o.status.success())
            {
                super::peer_missing("git is not installed");
                return None;
            }
            Some(install(&upstream).await)
        })
        .await
        .as_ref()
}

async fn install(upstream: &Path) -> Installed {
    let dir = tempfile::tempdir().unwrap();
    let source = gitops_tree::source(upstream, dir.path(), REPO_URL).await;
    let platform = SimPlatform::bare().await.expect("the sim starts");
    platform.alias_repo(REPO_URL, &source.repo_path());
    let client = platform.cluster.client().expect("a client for the sim");
    let plan = InstallPlan {
        components: components::selected(false),
        argocd_manifest: gitops_tree::argocd_manifest(upstream),
        harness_objects: neuroscale::gitops::harness_objects(
            &super::project_root().join("manifests"),
            REPO_URL,
            false,
        )
        .expect("the project's harness objects"),
        deadline: Duration::from_secs(180),
    };
    let reports = engine::install(&client, &plan, &Silent).await.unwrap();
    for report in &reports {
        assert_eq!(
            report.outcome,
            ComponentOutcome::Ready,
            "{}: {}",
            report.name,
            report.error.clone().unwrap_or_default()
        );
    }
    platform
        .wait_until(
            Duration::from_secs(120),
            "every Application Synced and Healthy",
            |state| neuroscale_testkit::platform::applications_converged(state, APPLICATIONS),
        )
        .await
        .unwrap();
    Installed {
        snapshot: platform.snapshot(),
        source_dir: dir.path().join("gitops"),
        _dir: dir,
    }
}

/// A platform started from the installed capture, with `fault` planted; its GitOps source is a
/// copy under `cache/gitops`. Git edits are committed and synced before this returns.
pub async fn start(installed: &Installed, fault: Option<Fault>, cache: &Path) -> SimPlatform {
    let source = cache.join("gitops");
    let status = std::process::Command::new("cp")
        .arg("-r")
        .arg(&installed.source_dir)
        .arg(&source)
        .status()
        .unwrap();
    assert!(status.success(), "copy the GitOps source");
    let planting = fault.map(Fault::planting).unwrap_or_default();
    let platform = SimPlatform::restore(&installed.snapshot, planting.behaviour)
        .await
        .expect("the sim starts");
    let repo = source.join(neuroscale::gitops::source::REPO_NAME);
    platform.alias_repo(REPO_URL, &repo);
    for object in planting.objects {
        platform
            .cluster
            .put(object)
            .expect("the planted object loads");
    }
    for gone in &planting.deleted {
        platform
            .cluster
            .delete(gone.api_version, gone.kind, gone.namespace, gone.name)
            .expect("the object to delete exists");
    }
    if !planting.edits.is_empty() {
        faults::commit_edits(&repo, &planting.edits, "a change someone pushed").unwrap();
        let head = String::from_utf8(
            std::process::Command::new("git")
                .args(["--git-dir"])
                .arg(&repo)
                .args(["rev-parse", "HEAD"])
                .output()
                .unwrap()
                .stdout,
        )
        .unwrap()
        .trim()
        .to_string();
        if std::env::var_os("NEUROSCALE_SIM_DEBUG").is_some() {
            eprintln!("planted commit {head}");
        }
        platform
            .wait_until(
                Duration::from_secs(60),
                "ArgoCD to sync the planted commit",
                |state| neuroscale_testkit::platform::applications_settled(state, &head),
            )
            .await
            .unwrap();
    }
    // What ArgoCD reports reflects the planted state before any check reads it.
    platform.argocd_catch_up(2).await;
    platform
}
