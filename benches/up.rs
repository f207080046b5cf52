//! `neuroscale up` against the simulated cluster with the real pinned artefacts
//! (`cargo bench --bench up`; a report, not an assertion): the real binary, a fresh sim, the
//! stand-in `k3d`, the shared directory's upstream files served as the artefact mirror, the
//! GitOps source served by `git daemon` on loopback and fetched by the sim's ArgoCD, every
//! component rendered by the real renderers. Prints the wall time of each phase and component
//! from `up`'s JSON report, for a first `up` on a fresh cluster and a second one on the
//! converged cluster. What it measures is the harness plus the sim: rendering, ordering, apply
//! and gates; not image pulls or real controllers.
//!
//! Needs Docker (preflight), git, kubectl, Helm's SDK (`NEUROSCALE_PYTHON`) and the shared
//! directory (`NEUROSCALE_SHARED_DIR`, else `../shared`).

use std::path::PathBuf;
use std::time::Instant;

use neuroscale_testkit::k3d_standin::{self, StandinCluster};
use neuroscale_testkit::{mirror, SimPlatform};
use serde_json::Value;

fn shared() -> Option<PathBuf> {
    std::env::var_os("NEUROSCALE_SHARED_DIR")
        .map(PathBuf::from)
        .or_else(|| Some(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared")))
        .filter(|d| d.join("upstream").is_dir())
}

fn print_report(label: &str, wall: f64, report: &Value) {
    println!(
        "{label}: {wall:.1} s wall, ok {}, total {} s",
        report["ok"], report["total_seconds"]
    );
    for phase in report["phases"].as_array().into_iter().flatten() {
        println!(
            "  phase     {:<16} {:>7.2} s  {}",
            phase["phase"].as_str().unwrap_or(""),
            phase["seconds"].as_f64().unwrap_or(0.0),
            phase["outcome"].as_str().unwrap_or("")
        );
    }
    for component in report["components"].as_array().into_iter().flatten() {
        println!(
            "  component {:<22} started +{:>5.2} s, took {:>5.2} s  {}",
            component["name"].as_str().unwrap_or(""),
            component["started_after_seconds"].as_f64().unwrap_or(0.0),
            component["seconds"].as_f64().unwrap_or(0.0),
            component["outcome"].as_str().unwrap_or("")
        );
    }
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let Some(shared) = shared() else {
        println!("skipped: no shared directory with upstream/ (set NEUROSCALE_SHARED_DIR)");
        return;
    };
    let platform = SimPlatform::bare().await.expect("the sim starts");
    let scratch = platform.cluster.scratch_dir().to_path_buf();
    let bin = scratch.join("bin");
    k3d_standin::install(
        &bin,
        &platform.cluster.kubeconfig_yaml(),
        &StandinCluster {
            image: neuroscale::components::K3S_IMAGE.into(),
            agents: 2,
        },
    )
    .expect("the stand-in k3d");
    let (address, _task) = mirror::serve(shared.join("upstream"))
        .await
        .expect("mirror");
    let cache = scratch.join("cache");
    let git_port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let path = format!(
        "{}:{}",
        bin.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let up = || {
        let path = path.clone();
        let cache = cache.clone();
        let scratch = scratch.clone();
        async move {
            let started = Instant::now();
            let output = tokio::process::Command::new(env!("CARGO_BIN_EXE_neuroscale"))
                .current_dir(env!("CARGO_MANIFEST_DIR"))
                .env("PATH", path)
                .env("NEUROSCALE_CACHE_DIR", &cache)
                .env("NEUROSCALE_ARTIFACT_MIRROR", format!("http://{address}"))
                .env("HOME", &scratch)
                .env_remove("KUBECONFIG")
                .args(["up", "--format", "json", "--gitops-addr"])
                .arg(format!("127.0.0.1:{git_port}"))
                .output()
                .await
                .expect("neuroscale runs");
            let wall = started.elapsed().as_secs_f64();
            if std::env::var_os("NEUROSCALE_BENCH_PROGRESS").is_some() {
                eprintln!("{}", String::from_utf8_lossy(&output.stderr));
            }
            let report: Value = serde_json::from_slice(&output.stdout).unwrap_or_else(|e| {
                panic!(
                    "no report ({e}): {}",
                    String::from_utf8_lossy(&output.stderr)
                )
            });
            (wall, report)
        }
    };
    let (wall, first) = up().await;
    print_report("first up (fresh cluster)", wall, &first);
    let (wall, second) = up().await;
    print_report("second up (converged cluster)", wall, &second);
    if let Ok(source) = neuroscale::gitops::GitSource::open(cache.join("gitops")) {
        let _ = source.stop_serving();
    }
}
