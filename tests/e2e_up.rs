//! `neuroscale up` then `neuroscale check` end to end against the simulated cluster (shared/
//! DESIGN.md §7): the stand-in `k3d` first on PATH, upstream artefacts from a local mirror of
//! stand-ins (this machine cannot download releases; `NEUROSCALE_ARTIFACT_MIRROR`), the local
//! GitOps source served by `git daemon` on loopback. The sim starts with the platform already
//! converged (its ArgoCD does not render components from git), so this proves `up`'s whole
//! path (preflight, image cache, cluster, kubeconfig, artefacts, GitOps source, harness objects,
//! every readiness gate) runs through a kubeconfig and converges, and that `check` passes after it.
//! Needs Docker (preflight), `git` (with `git daemon`) and `tar`; skips with the reason when
//! one is missing, and fails instead under `NEUROSCALE_REQUIRE_PEERS=1`.

use std::path::Path;
use std::process::Command;

use neuroscale::components::{self, ArtifactKind};
use neuroscale_testkit::k3d_standin::{self, StandinCluster};
use neuroscale_testkit::{mirror, preset, SimPlatform};

fn peer_missing(reason: &str) -> bool {
    assert!(
        std::env::var("NEUROSCALE_REQUIRE_PEERS").as_deref() != Ok("1"),
        "{reason} (required: NEUROSCALE_REQUIRE_PEERS=1)"
    );
    println!("skipped: {reason}");
    true
}

/// Stops the `git daemon` that `up` leaves serving the GitOps source, even when the test fails.
struct StopGitDaemon(std::path::PathBuf);

impl Drop for StopGitDaemon {
    fn drop(&mut self) {
        if let Ok(source) = neuroscale::gitops::GitSource::open(&self.0) {
            let _ = source.stop_serving();
        }
    }
}

fn works(program: &str, args: &[&str]) -> bool {
    Command::new(program)
        .args(args)
        .output()
        .is_ok_and(|o| o.status.success())
}

/// Stand-in release files: each release YAML holds one ConfigMap naming what it stands for
/// (ArgoCD's holds the preset's ArgoCD objects, which `up` applies itself); each chart is a
/// minimal chart archive.
fn fill_mirror(root: &Path) {
    for component in components::COMPONENTS {
        for artifact in component.artifacts {
            let path = mirror::path_for(root, artifact.url);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            match artifact.kind {
                ArtifactKind::HelmChart => {
                    let staging = tempfile::tempdir().unwrap();
                    let chart = staging.path().join(component.name);
                    std::fs::create_dir_all(chart.join("templates")).unwrap();
                    std::fs::write(
                        chart.join("Chart.yaml"),
                        format!(
                            "apiVersion: v2\nname: {}\nversion: {}\n",
                            component.name, component.version
                        ),
                    )
                    .unwrap();
                    let status = Command::new("tar")
                        .arg("czf")
                        .arg(&path)
                        .arg("-C")
                        .arg(staging.path())
                        .arg(component.name)
                        .status()
                        .unwrap();
                    assert!(status.success(), "tar builds the stand-in chart");
                }
                _ => {
                    let mut documents = vec![format!(
                        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: neuroscale-sim-standin\n  namespace: {}\ndata:\n  standsFor: {}\n",
                        component.namespace, artifact.url
                    )];
                    if component.name == "argocd" {
                        documents = preset::healthy()
                            .into_iter()
                            .filter(|o| {
                                o.pointer("/metadata/namespace").and_then(|n| n.as_str())
                                    == Some("argocd")
                                    && o["kind"] != "Application"
                                    && o["kind"] != "ApplicationSet"
                                    || o["metadata"]["name"]
                                        .as_str()
                                        .is_some_and(|n| n.ends_with(".argoproj.io"))
                            })
                            .map(|o| serde_yaml::to_string(&o).unwrap())
                            .collect();
                    }
                    std::fs::write(&path, documents.join("---\n")).unwrap();
                }
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn up_then_check_against_the_sim() {
    if !works("docker", &["info"])
        && peer_missing("the Docker Engine is not reachable (preflight needs it)")
    {
        return;
    }
    if !works("git", &["daemon", "--help"])
        && !works("git", &["--version"])
        && peer_missing("git is not installed")
    {
        return;
    }
    if !works("tar", &["--version"]) && peer_missing("tar is not installed") {
        return;
    }
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let platform = SimPlatform::for_project(root, None).await.expect("sim");
    let scratch = platform.cluster.scratch_dir().to_path_buf();
    let bin = scratch.join("bin");
    k3d_standin::install(
        &bin,
        &platform.cluster.kubeconfig_yaml(),
        &StandinCluster {
            image: "rancher/k3s:v1.34.8-k3s1".into(),
            agents: 2,
        },
    )
    .unwrap();
    let mirror_root = scratch.join("mirror");
    fill_mirror(&mirror_root);
    let (mirror_addr, _mirror_task) = mirror::serve(mirror_root).await.unwrap();
    let cache = scratch.join("cache");
    let path = format!(
        "{}:{}",
        bin.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let git_port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();

    let _stop_daemon = StopGitDaemon(cache.join("gitops"));
    let up = tokio::process::Command::new(env!("CARGO_BIN_EXE_neuroscale"))
        .current_dir(root)
        .env("PATH", &path)
        .env("NEUROSCALE_CACHE_DIR", &cache)
        .env(
            "NEUROSCALE_ARTIFACT_MIRROR",
            format!("http://{mirror_addr}"),
        )
        .env("HOME", &scratch)
        .env("NO_COLOR", "1")
        .env_remove("KUBECONFIG")
        .args([
            "up",
            "--format",
            "json",
            "--gitops-addr",
            &format!("127.0.0.1:{git_port}"),
        ])
        .output()
        .await
        .expect("neuroscale runs");
    let stdout = String::from_utf8_lossy(&up.stdout);
    let stderr = String::from_utf8_lossy(&up.stderr);
    assert_eq!(
        up.status.code(),
        Some(0),
        "`up` converges on the sim\nstdout: {stdout}\nstderr: {stderr}"
    );
    let calls = k3d_standin::calls(&bin);
    assert!(
        calls
            .iter()
            .any(|c| c.starts_with("cluster create neuroscale")),
        "{calls:?}"
    );
    println!("up: {stdout}");

    // The GitOps source `up` created (and serves with `git daemon`, which outlives `up`).
    let gitops = neuroscale::gitops::GitSource::open(cache.join("gitops"))
        .expect("up created the GitOps source");
    platform.watch_gitops_repo(&gitops.repo_path());
    let scenario = scratch.join("sim.yaml");
    std::fs::write(&scenario, include_str!("e2e_sim_scenario.yaml")).unwrap();
    let mut check = tokio::process::Command::new(env!("CARGO_BIN_EXE_neuroscale"));
    check
        .current_dir(root)
        .env("NEUROSCALE_CACHE_DIR", &cache)
        .env("HOME", &scratch)
        .env("NO_COLOR", "1")
        .env_remove("KUBECONFIG")
        .arg("check")
        .args(["--format", "json", "--quiet", "--scenario"])
        .arg(&scenario)
        .arg("--kubeconfig")
        .arg(cache.join("kubeconfig").join("neuroscale.yaml"))
        .args([
            "--ingress-url",
            &platform.ingress_url(),
            "--opencost-url",
            &platform.opencost_url(),
        ]);
    let checked = check.output().await.expect("neuroscale runs");
    let report: serde_json::Value = serde_json::from_slice(&checked.stdout).unwrap_or_else(|e| {
        panic!(
            "no JSON report ({e}): {}",
            String::from_utf8_lossy(&checked.stderr)
        )
    });
    let failed: Vec<String> = report["checks"]
        .as_array()
        .expect("checks")
        .iter()
        .filter(|c| c["verdict"] != "PASS")
        .map(|c| format!("{} {}: {}", c["id"], c["verdict"], c["summary"]))
        .collect();
    assert!(
        failed.is_empty(),
        "after `up`, every check passes: {failed:#?}"
    );
    assert_eq!(checked.status.code(), Some(0));
}
