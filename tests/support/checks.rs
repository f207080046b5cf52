//! Support for the checks' tests against the simulated cluster: the API object builders the
//! unit tests use (`src/checks/fixtures/objects.rs`, compiled here too, so there is one set), the
//! simulated cluster with what a check needs stored in it, and a check environment pointed at
//! it. Included by the `checks_*` test files with `#[path]`.

#![allow(dead_code)]

#[path = "../../src/checks/fixtures/objects.rs"]
mod objects;

pub use objects::*;

use std::time::Duration;

use neuroscale::checks::{CheckEnv, CheckId, CheckRun, Diagnosis, Outcome};
use neuroscale_testkit::SimCluster;
use serde_json::{json, Value};

/// The diagnosis of a FAIL outcome; a test asking for it on anything else fails.
pub fn diagnosis(outcome: &Outcome) -> &Diagnosis {
    outcome
        .diagnosis
        .as_ref()
        .expect("a FAIL carries a diagnosis")
}

/// An empty simulated cluster holding only `namespaces`.
pub async fn sim_cluster(namespaces: &[&str]) -> SimCluster {
    let sim = SimCluster::start()
        .await
        .expect("the simulated cluster starts");
    for namespace in namespaces {
        put(
            &sim,
            &json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace}}),
        );
    }
    sim
}

/// Stores an object (a builder's typed object or JSON) as its controller would, status as
/// given. k8s-openapi serialises a resource's apiVersion and kind with it.
pub fn put<T: serde::Serialize>(sim: &SimCluster, object: &T) -> Value {
    let object = serde_json::to_value(object).expect("the fixture serialises");
    sim.put(object.clone())
        .unwrap_or_else(|status| panic!("the sim refused {object}: {status:?}"))
}

/// Stores a typed object whose builder leaves out apiVersion and kind.
pub fn put_as<T: serde::Serialize>(sim: &SimCluster, api_version: &str, kind: &str, object: &T) {
    let mut value = serde_json::to_value(object).expect("the fixture serialises");
    value["apiVersion"] = json!(api_version);
    value["kind"] = json!(kind);
    put(sim, &value);
}

/// Serves a custom resource kind: stores its CRD (served, Established at once).
pub fn put_crd(
    sim: &SimCluster,
    group: &str,
    kind: &str,
    plural: &str,
    version: &str,
    namespaced: bool,
) {
    put(
        sim,
        &neuroscale_testkit::preset::crd(group, kind, plural, &[version], namespaced),
    );
}

/// Serves InferenceServices.
pub fn serve_inference_services(sim: &SimCluster) {
    put_crd(
        sim,
        "serving.kserve.io",
        "InferenceService",
        "inferenceservices",
        "v1beta1",
        true,
    );
}

/// The smoke scenario, as built into the binary.
pub fn smoke() -> neuroscale::scenario::Scenario {
    neuroscale::scenario::Scenario::parse(
        std::path::Path::new("smoke.yaml"),
        neuroscale::scenario::BUILTIN_SMOKE,
    )
    .expect("the built-in scenario parses")
}

/// A check environment on the simulated cluster, with the smoke scenario.
pub fn sim_env(sim: &SimCluster, mutations_allowed: bool) -> CheckEnv {
    CheckEnv {
        client: sim.client().expect("a client for the sim"),
        scenario: smoke(),
        http: neuroscale::probe::http_client().expect("an HTTP client"),
        context_name: "k3d-neuroscale".into(),
        mutations_allowed,
        ingress_url: None,
        opencost_url: None,
        gitops_cache_dir: std::env::temp_dir(),
    }
}

/// Runs check `id`'s implementation directly (no runner: the test wants the check's own
/// verdict and what it still tracks).
pub async fn run_check(env: &CheckEnv, id: CheckId, deadline: Duration) -> (Outcome, Vec<String>) {
    let run = CheckRun::new(env, id, deadline);
    let outcome = (id.spec().implementation)(&run).await;
    let tracked = run.tracked().into_iter().map(|o| o.describe()).collect();
    (outcome, tracked)
}

/// The requests the sim received, as `METHOD path?query`.
pub fn requests_seen(sim: &SimCluster) -> Vec<String> {
    sim.requests()
        .iter()
        .map(|r| {
            let query: Vec<String> = r.query.iter().map(|(k, v)| format!("{k}={v}")).collect();
            format!("{} {}?{}", r.method, r.path, query.join("&"))
        })
        .collect()
}

/// Real git is the peer the GitOps source is written with; without it the test is skipped with
/// the reason (a failure under `NEUROSCALE_REQUIRE_PEERS=1`).
pub fn git_available() -> bool {
    let ok = std::process::Command::new("git")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !ok {
        let reason = "git is not on PATH: the GitOps source cannot be exercised";
        if std::env::var("NEUROSCALE_REQUIRE_PEERS").is_ok_and(|v| v == "1") {
            panic!("NEUROSCALE_REQUIRE_PEERS=1 but {reason}");
        }
        eprintln!("SKIP: {reason}");
    }
    ok
}
