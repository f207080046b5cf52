//! Install-engine benchmark (`cargo bench --bench install`; a report, not an assertion).
//!
//! 1. The DAG executor's wall time against the same installs one after another, with a
//!    readiness delay per component. The total of the delays is the run time reported for
//!    the sequential bash bootstrap ("bash scripts/bootstrap.sh # ~5 minutes"); how the 300 s split
//!    across components is this benchmark's assumption, listed in `DELAYS`. Modelled seconds run
//!    as `MS_PER_MODELLED_SECOND` real milliseconds.
//! 2. How fast a gate notices a status change: the watch-based wait of `install::gates` against
//!    a `sleep 5` polling loop (the bash smoke test's pattern), both against the simulated
//!    cluster of the tests (neuroscale-testkit), the change landing at spread offsets within the
//!    poll period.

use std::time::{Duration, Instant};

use k8s_openapi::api::apps::v1::Deployment;
use kube::Api;
use neuroscale::components::{self, Gate};
use neuroscale::install::dag::{self, Node};
use neuroscale::install::gates;
use neuroscale::readiness;
use neuroscale_testkit::SimCluster;
use serde_json::json;

const MS_PER_MODELLED_SECOND: u64 = 5;
const RUNS: usize = 5;
const POLL_PERIOD: Duration = Duration::from_secs(5);
const WATCH_SAMPLES: usize = 40;
const POLL_SAMPLES: usize = 8;

/// Modelled seconds from "applied" to "gates pass", per component (assumed split of the bash bootstrap's
/// ~300 s sequential bootstrap, weighted by how many workloads and webhooks each gates on).
const DELAYS: &[(&str, u64)] = &[
    ("argocd", 60),
    ("cert-manager", 30),
    ("kyverno", 40),
    ("knative-serving", 45),
    ("kourier", 20),
    ("kserve", 40),
    ("prometheus", 35),
    ("opencost", 20),
    ("platform", 10),
];

fn delay(name: &str) -> Duration {
    let secs = DELAYS
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(_, s)| *s)
        .unwrap_or(0);
    Duration::from_millis(secs * MS_PER_MODELLED_SECOND)
}

fn median(mut values: Vec<Duration>) -> Duration {
    values.sort();
    values[values.len() / 2]
}

fn modelled(real: Duration) -> f64 {
    real.as_secs_f64() * 1000.0 / MS_PER_MODELLED_SECOND as f64
}

async fn dag_vs_sequential() {
    let selected = components::selected(false);
    let nodes = Node::from_components(&selected);
    let plan = components::plan(&selected).expect("valid pin table");
    let mut concurrent = Vec::new();
    let mut sequential = Vec::new();
    for _ in 0..RUNS {
        let start = Instant::now();
        let run = dag::execute(
            &nodes,
            |name| async move {
                tokio::time::sleep(delay(&name)).await;
                Ok::<(), ()>(())
            },
            |_| {},
        )
        .await
        .expect("valid graph");
        assert!(run.all_succeeded());
        concurrent.push(start.elapsed());

        let start = Instant::now();
        for name in plan.order() {
            tokio::time::sleep(delay(name)).await;
        }
        sequential.push(start.elapsed());
    }
    let (c, s) = (median(concurrent), median(sequential));
    println!(
        "DAG executor vs one-after-another ({} components, median of {RUNS} runs):",
        nodes.len()
    );
    println!(
        "  sequential: {:>6.0} modelled s ({:?} real)\n  DAG:        {:>6.0} modelled s ({:?} real)\n  speed-up:   {:.2}x",
        modelled(s),
        s,
        modelled(c),
        c,
        s.as_secs_f64() / c.as_secs_f64()
    );
}

fn unavailable() -> serde_json::Value {
    json!({"observedGeneration": 1, "replicas": 1, "updatedReplicas": 1, "readyReplicas": 0,
           "availableReplicas": 0, "conditions": [{"type": "Available", "status": "False"}]})
}

fn available() -> serde_json::Value {
    json!({"observedGeneration": 1, "replicas": 1, "updatedReplicas": 1, "readyReplicas": 1,
           "availableReplicas": 1, "conditions": [{"type": "Available", "status": "True"}]})
}

/// A simulated cluster holding KServe's controller Deployment, not yet available (apps/v1
/// Deployment shaped like upstream's, with `spec.replicas` and a pod selector).
async fn fresh_cluster() -> SimCluster {
    let sim = SimCluster::start()
        .await
        .expect("the simulated cluster starts");
    sim.put(json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "kserve"}}))
        .expect("a namespace");
    sim.put(json!({"apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "kserve-controller-manager", "namespace": "kserve"},
        "spec": {"replicas": 1, "selector": {"matchLabels": {"app": "kserve"}},
                 "template": {"metadata": {"labels": {"app": "kserve"}}, "spec": {"containers": []}}},
        "status": unavailable()}))
    .expect("the controller Deployment");
    sim
}

/// Time from the status change to the waiter returning.
async fn reaction(
    sim: &SimCluster,
    offset: Duration,
    waiter: impl std::future::Future<Output = ()>,
) -> Duration {
    let flip = async move {
        tokio::time::sleep(offset).await;
        sim.set_status(
            "apps/v1",
            "Deployment",
            "kserve",
            "kserve-controller-manager",
            available(),
        )
        .expect("the Deployment is stored");
        Instant::now()
    };
    let (changed_at, ()) = tokio::join!(flip, waiter);
    changed_at.elapsed()
}

async fn watch_vs_poll() {
    let gate = Gate::Deployment {
        namespace: "kserve",
        name: "kserve-controller-manager",
    };
    let mut watch = Vec::new();
    for i in 0..WATCH_SAMPLES {
        let sim = fresh_cluster().await;
        let client = sim.client().expect("a client for the sim");
        let offset = POLL_PERIOD.mul_f64((i as f64 + 0.5) / WATCH_SAMPLES as f64) / 10;
        let waiter = async {
            gates::wait(
                &client,
                &gate,
                tokio::time::Instant::now() + Duration::from_secs(60),
                &|_| {},
            )
            .await
            .expect("becomes ready");
        };
        watch.push(reaction(&sim, offset, waiter).await);
    }
    let mut poll = Vec::new();
    for i in 0..POLL_SAMPLES {
        let sim = fresh_cluster().await;
        let client = sim.client().expect("a client for the sim");
        let offset = POLL_PERIOD.mul_f64((i as f64 + 0.5) / POLL_SAMPLES as f64);
        let waiter = async {
            let api: Api<Deployment> = Api::namespaced(client.clone(), "kserve");
            loop {
                let d = api.get("kserve-controller-manager").await.expect("exists");
                if readiness::deployment(&d).ready {
                    return;
                }
                tokio::time::sleep(POLL_PERIOD).await;
            }
        };
        poll.push(reaction(&sim, offset, waiter).await);
    }
    let mean = |v: &[Duration]| v.iter().sum::<Duration>() / v.len() as u32;
    println!("\nReaction to a Deployment becoming Available:");
    println!(
        "  watch (install::gates): median {:?}, max {:?} over {WATCH_SAMPLES} changes",
        median(watch.clone()),
        watch.iter().max().unwrap()
    );
    println!(
        "  5 s poll:               median {:?}, mean {:?} over {POLL_SAMPLES} changes spread across the period",
        median(poll.clone()),
        mean(&poll)
    );
}

fn main() {
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    runtime.block_on(async {
        dag_vs_sequential().await;
        watch_vs_poll().await;
    });
}
