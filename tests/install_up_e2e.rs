//! `neuroscale up`, the real binary, end to end: preflight against the real Docker Engine, the
//! cluster through testkit's stand-in `k3d`, the pinned artefacts from a loopback mirror
//! (`NEUROSCALE_ARTIFACT_MIRROR`), the local GitOps source served by a real `git daemon` on
//! loopback, and the install into testkit's simulated healthy platform. Needs Docker and git:
//! skips with the reason when either is missing, fails instead under NEUROSCALE_REQUIRE_PEERS=1.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::path::Path;
use std::sync::Arc;

use neuroscale::components::{self, ArtifactKind};
use neuroscale::gitops::GitSource;
use neuroscale_testkit::k3d_standin::{self, StandinCluster};
use neuroscale_testkit::SimPlatform;
use serde_json::Value;

fn skip_or_fail(reason: &str) {
    assert!(
        std::env::var("NEUROSCALE_REQUIRE_PEERS").as_deref() != Ok("1"),
        "{reason} (NEUROSCALE_REQUIRE_PEERS=1)"
    );
    println!("skipped: {reason}");
}

/// Serves `bodies` (path -> bytes) over HTTP/1.1 on loopback; returns the base URL.
fn serve(bodies: BTreeMap<String, Vec<u8>>) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let bodies = Arc::new(bodies);
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut line = String::new();
            if reader.read_line(&mut line).is_err() {
                continue;
            }
            let mut header = String::new();
            while reader.read_line(&mut header).is_ok() && header != "\r\n" && !header.is_empty() {
                header.clear();
            }
            let path = line.split_whitespace().nth(1).unwrap_or("/");
            let (status, body) = match bodies.get(path) {
                Some(body) => ("200 OK", body.clone()),
                None => ("404 Not Found", Vec::new()),
            };
            let head = format!(
                "HTTP/1.1 {status}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                body.len()
            );
            let _ = stream.write_all(head.as_bytes());
            let _ = stream.write_all(&body);
        }
    });
    base
}

/// A chart archive as `helm package` lays it out (one top-level folder).
fn chart(name: &str, version: &str) -> Vec<u8> {
    let mut builder = tar::Builder::new(flate2::write::GzEncoder::new(
        Vec::new(),
        flate2::Compression::default(),
    ));
    let chart_yaml = format!("apiVersion: v2\nname: {name}\nversion: {version}\n");
    let mut header = tar::Header::new_gnu();
    header.set_size(chart_yaml.len() as u64);
    header.set_mode(0o644);
    header.set_cksum();
    builder
        .append_data(
            &mut header,
            format!("{name}/Chart.yaml"),
            chart_yaml.as_bytes(),
        )
        .unwrap();
    builder.into_inner().unwrap().finish().unwrap()
}

/// Stand-ins for every pinned artefact, at the mirror paths `up` asks for. ArgoCD's is its
/// `argocd-cm` only: the simulated platform already runs ArgoCD.
fn mirror_contents() -> BTreeMap<String, Vec<u8>> {
    let mut bodies = BTreeMap::new();
    for component in components::COMPONENTS {
        for artifact in component.artifacts {
            let path = format!("/{}", artifact.url.split_once("://").unwrap().1);
            let body = match (component.name, artifact.kind) {
                ("argocd", _) => b"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: argocd-cm\n  labels: {app.kubernetes.io/part-of: argocd}\n".to_vec(),
                (name, ArtifactKind::HelmChart) => chart(name, component.version),
                (name, ArtifactKind::Manifest) => format!(
                    "apiVersion: v1\nkind: ConfigMap\nmetadata: {{name: {name}-standin, namespace: {}}}\n",
                    component.namespace
                )
                .into_bytes(),
            };
            bodies.insert(path, body);
        }
    }
    bodies
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn up_bootstraps_the_simulated_cluster_and_reports_every_phase() {
    let has_git = std::process::Command::new("git")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !has_git {
        return skip_or_fail("git is not installed");
    }
    if neuroscale::cluster::docker::connect().await.is_err() {
        return skip_or_fail("the Docker Engine is not reachable (preflight needs it)");
    }
    let platform = SimPlatform::healthy().await.expect("the sim starts");
    let scratch = tempfile::tempdir().unwrap();
    let bin = scratch.path().join("bin");
    k3d_standin::install(
        &bin,
        &platform.cluster.kubeconfig_yaml(),
        &StandinCluster {
            image: components::K3S_IMAGE.to_string(),
            agents: 2,
        },
    )
    .unwrap();
    let mirror = serve(mirror_contents());
    let git_port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let cache = scratch.path().join("cache");
    let path = format!(
        "{}:{}",
        bin.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let output = tokio::process::Command::new(env!("CARGO_BIN_EXE_neuroscale"))
        .args(["up", "--format", "json", "--gitops-addr"])
        .arg(format!("127.0.0.1:{git_port}"))
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env("PATH", path)
        .env("NEUROSCALE_CACHE_DIR", &cache)
        .env("NEUROSCALE_ARTIFACT_MIRROR", &mirror)
        .env_remove("KUBECONFIG")
        .output()
        .await
        .expect("the binary runs");
    // Whatever happened, stop the git daemon this run left serving.
    if let Ok(source) = GitSource::open(cache.join("gitops")) {
        let _ = source.stop_serving();
    }
    let stderr = String::from_utf8_lossy(&output.stderr);
    let stdout = String::from_utf8_lossy(&output.stdout);
    if stderr.contains("preflight") && output.status.code() == Some(3) {
        // A host port the k3d config publishes is taken on this machine, or Docker is too
        // small: an environment the test cannot control.
        return skip_or_fail(&format!("preflight refused this host: {stderr}"));
    }
    assert_eq!(
        output.status.code(),
        Some(0),
        "stdout:\n{stdout}\nstderr:\n{stderr}"
    );
    let report: Value = serde_json::from_str(&stdout).expect("a JSON report on stdout");
    assert_eq!(report["schema"], "neuroscale.up/v1");
    assert_eq!(report["ok"], true);
    let phases: Vec<&str> = report["phases"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["phase"].as_str().unwrap())
        .collect();
    for phase in [
        "preflight",
        "cluster",
        "connect",
        "artifacts",
        "gitops-source",
        "components",
    ] {
        assert!(phases.contains(&phase), "{phase} missing from {phases:?}");
    }
    for component in report["components"].as_array().unwrap() {
        assert_eq!(component["outcome"], "ready", "{component}");
    }
    // The lock file was written and the repository holds manifests/ plus vendor/.
    assert!(cache.join("artifacts/artifacts.lock.json").is_file());
    let repo = cache.join("gitops").join("neuroscale.git");
    let tree = std::process::Command::new("git")
        .args(["ls-tree", "-r", "--name-only", "main"])
        .current_dir(&repo)
        .output()
        .unwrap();
    let tree = String::from_utf8_lossy(&tree.stdout);
    assert!(tree.contains("vendor/opencost/Chart.yaml"), "{tree}");
    assert!(
        tree.contains("vendor/cert-manager/kustomization.yaml"),
        "{tree}"
    );
    assert!(tree.contains("manifests/root.yaml"), "{tree}");
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
        format!("git://127.0.0.1:{git_port}/neuroscale.git")
    );
    assert!(Path::new(&cache).join("kubeconfig").exists());
}
