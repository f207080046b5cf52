//! The 21 milestone checks as `cargo test` trials (libtest-mimic, `harness = false`), run against
//! a live cluster. Each check is one trial named `milestone_<letter>::<slug>` (from
//! `CheckSpec::trial_name`, e.g. `milestone_d::deny_unlabeled_isvc`), so
//! `cargo test --test milestones -- milestone_d` runs milestone D and
//! `cargo test --test milestones -- deny_unlabeled_isvc` one check.
//!
//! Trials run only with `NEUROSCALE_E2E=1` and a reachable cluster; otherwise each is ignored
//! with the reason. Configuration comes from the environment: `KUBECONFIG`, `NEUROSCALE_CONTEXT`,
//! `NEUROSCALE_CLUSTER_NAME`, `NEUROSCALE_ALLOW_CONTEXT`, `NEUROSCALE_SCENARIO` (default
//! `scenarios/smoke.yaml`), `NEUROSCALE_INGRESS_URL`, `NEUROSCALE_OPENCOST_URL`.
//! A PASS passes, a FAIL fails with the diagnosis, a SKIP is ignored with its reason. Mutating
//! checks and the latency measurement (`runner::runs_alone`) hold an exclusive lock so they never
//! overlap another trial; the other read-only ones share it.

use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};

use libtest_mimic::{Arguments, Completion, Failed, Trial};
use neuroscale::checks::catalogue::CATALOGUE;
use neuroscale::checks::runner::{self, KubeCleanup};
use neuroscale::checks::{CheckEnv, Verdict};
use neuroscale::connect::{self, Endpoints, Target};
use neuroscale::scenario::Scenario;

struct Live {
    runtime: tokio::runtime::Runtime,
    env: CheckEnv,
    cleanup: KubeCleanup,
    /// Read for read-only checks, write for mutating ones.
    exclusive: RwLock<()>,
    /// Port-forwards to Kourier and OpenCost, open for the whole suite.
    _forwards: connect::Forwards,
}

fn var(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.is_empty())
}

/// Connects to the cluster, or says why the trials are ignored.
fn live() -> Result<Live, String> {
    if var("NEUROSCALE_E2E").as_deref() != Some("1") {
        return Err(
            "set NEUROSCALE_E2E=1 to run the live milestone checks against a cluster".into(),
        );
    }
    let _ = rustls::crypto::ring::default_provider().install_default();
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let scenario_path = var("NEUROSCALE_SCENARIO")
        .map(PathBuf::from)
        .unwrap_or_else(|| root.join("scenarios/smoke.yaml"));
    let scenario = Scenario::load(&scenario_path).map_err(|e| e.to_string())?;
    let runtime = tokio::runtime::Runtime::new().map_err(|e| e.to_string())?;
    let target = Target {
        kubeconfig: var("KUBECONFIG").map(PathBuf::from),
        context: var("NEUROSCALE_CONTEXT"),
        cluster_name: connect::cluster_name(var("NEUROSCALE_CLUSTER_NAME").as_deref()),
        allow_context: var("NEUROSCALE_ALLOW_CONTEXT"),
    };
    let connection = runtime
        .block_on(connect::connect(&target))
        .map_err(|e| format!("no cluster is reachable: {e}"))?;
    let endpoints = Endpoints {
        ingress_url: var("NEUROSCALE_INGRESS_URL"),
        opencost_url: var("NEUROSCALE_OPENCOST_URL"),
        ingress_host_port: neuroscale::cluster::k3d_config::K3dConfig::load(
            &root.join("k3d/cluster.yaml"),
        )
        .ok()
        .and_then(|c| c.ingress_host_port),
    };
    let (env, forwards, notes) = runtime.block_on(connect::check_env(
        &connection,
        scenario,
        &endpoints,
        &CATALOGUE.iter().collect::<Vec<_>>(),
    ));
    for note in notes {
        eprintln!("note: {note}");
    }
    Ok(Live {
        runtime,
        env,
        cleanup: KubeCleanup {
            client: connection.client.clone(),
        },
        exclusive: RwLock::new(()),
        _forwards: forwards,
    })
}

fn run_check(live: &Live, id: &'static str) -> Result<Completion, Failed> {
    let spec = neuroscale::checks::catalogue::find(id).expect("catalogue id");
    let _guard_read;
    let _guard_write;
    if runner::runs_alone(spec) {
        _guard_write = live.exclusive.write().unwrap_or_else(|p| p.into_inner());
    } else {
        _guard_read = live.exclusive.read().unwrap_or_else(|p| p.into_inner());
    }
    let results = live.runtime.block_on(runner::run(
        &live.env,
        &[spec],
        neuroscale::checks::implementation,
        &live.cleanup,
        1,
        futures::future::pending(),
        |_| {},
    ));
    let result = results.results.into_iter().next().expect("one result");
    match result.verdict {
        Verdict::Pass => {
            println!("{}: {}", result.id, result.summary);
            Ok(Completion::Completed)
        }
        Verdict::Skip => Ok(Completion::ignored_with(result.summary)),
        Verdict::Fail => {
            let mut message = format!("{} FAIL: {}", result.id, result.summary);
            if let Some(d) = result.diagnosis {
                message.push_str(&format!(
                    "\n  observed:     {}\n  likely cause: {}\n  next:         {}",
                    d.observed, d.likely_cause, d.next_command
                ));
            }
            Err(message.into())
        }
    }
}

fn main() -> std::process::ExitCode {
    let args = Arguments::from_args();
    let live = live().map(Arc::new);
    let trials = CATALOGUE
        .iter()
        .map(|spec| {
            let live = live.clone();
            let id = spec.id;
            Trial::ignorable_test(spec.trial_name(), move || match live {
                Ok(live) => run_check(&live, id),
                Err(reason) => Ok(Completion::ignored_with(reason)),
            })
            .with_kind(spec.id)
        })
        .collect();
    libtest_mimic::run(&args, trials).exit_code()
}
