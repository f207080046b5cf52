//! The milestone checks as `cargo test` trials (libtest-mimic, `harness = false`), run against
//! a live cluster through the same facades as the command line: the `Installer` (`up`) when
//! asked, and a `CheckSession` (`check`). Each catalogue row is one trial named
//! `milestone_<letter>::<slug>` (from `CheckSpec::trial_name`, e.g.
//! `milestone_d::deny_unlabeled_isvc`), so `cargo test --test milestones -- milestone_d` runs
//! milestone D and `cargo test --test milestones -- deny_unlabeled_isvc` one check.
//!
//! Trials run only with `NEUROSCALE_E2E=1` and a reachable cluster; otherwise each is ignored
//! with the reason. With `NEUROSCALE_E2E_UP=1` the platform is brought up first, as
//! `neuroscale up` would (Docker and k3d needed). Configuration comes from the environment:
//! `KUBECONFIG`, `NEUROSCALE_CONTEXT`, `NEUROSCALE_CLUSTER_NAME`, `NEUROSCALE_ALLOW_CONTEXT`,
//! `NEUROSCALE_SCENARIO` (default `scenarios/smoke.yaml`), `NEUROSCALE_INGRESS_URL`,
//! `NEUROSCALE_OPENCOST_URL`. A PASS passes, any other verdict but SKIP fails with the
//! diagnosis, a SKIP is ignored with its reason. Checks that run alone (mutating or measuring)
//! hold an exclusive lock so they never overlap another trial; the read-only ones share it.

use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};

use libtest_mimic::{Arguments, Completion, Failed, Trial};
use neuroscale::checks::{CheckId, CheckSession, Selection, Verdict, CATALOGUE};
use neuroscale::cluster::k3d_config::ConfigSource;
use neuroscale::connect::{self, Endpoints, Target};
use neuroscale::install::engine::Timeline;
use neuroscale::install::progress::{Progress, Style};
use neuroscale::install::{InstallRequest, Installer};
use neuroscale::scenario::Scenario;

struct Live {
    runtime: tokio::runtime::Runtime,
    session: CheckSession,
    /// Read for checks that share the cluster, write for those that run alone.
    exclusive: RwLock<()>,
}

fn var(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.is_empty())
}

/// Brings the platform up as `neuroscale up` does, through the same `Installer`.
fn bring_up(
    runtime: &tokio::runtime::Runtime,
    root: &Path,
    scenario: &Scenario,
) -> Result<(), String> {
    let installer = Installer::prepare(
        InstallRequest {
            config: ConfigSource::File(root.join("k3d/cluster.yaml")),
            cluster_name: var("NEUROSCALE_CLUSTER_NAME"),
            context: None,
            repo_url: None,
            revision: "HEAD".into(),
            gitops_addr: None,
            manifests: Some(root.join("manifests")),
        },
        scenario.clone(),
    )
    .map_err(|e| format!("`up` refused its inputs: {e}"))?;
    let progress = Progress::new(Style::detect(true), &installer.expected_components());
    let timeline = Timeline::new(&progress);
    let (target, components) = runtime
        .block_on(installer.run(&timeline))
        .map_err(|e| format!("`up` failed: {e}"))?;
    let report = timeline.finish(Some(target), components);
    if report.ok {
        Ok(())
    } else {
        Err("`up` finished with components not ready; see the progress above".into())
    }
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
    let selection = Selection::everything(&scenario).map_err(|e| e.to_string())?;
    let runtime = tokio::runtime::Runtime::new().map_err(|e| e.to_string())?;
    if var("NEUROSCALE_E2E_UP").as_deref() == Some("1") {
        bring_up(&runtime, root, &scenario)?;
    }
    let target = Target {
        kubeconfig: var("KUBECONFIG").map(PathBuf::from),
        context: var("NEUROSCALE_CONTEXT"),
        cluster_name: connect::cluster_name(var("NEUROSCALE_CLUSTER_NAME").as_deref()),
        allow_context: var("NEUROSCALE_ALLOW_CONTEXT"),
    };
    let endpoints = Endpoints {
        ingress_url: var("NEUROSCALE_INGRESS_URL"),
        opencost_url: var("NEUROSCALE_OPENCOST_URL"),
        ingress_host_port: neuroscale::cluster::k3d_config::K3dConfig::load(
            &root.join("k3d/cluster.yaml"),
        )
        .ok()
        .and_then(|c| c.ingress_host_port),
    };
    let session = runtime
        .block_on(CheckSession::open(
            &target,
            &endpoints,
            scenario,
            selection,
            neuroscale::cache::cache_dir().join("gitops"),
        ))
        .map_err(|e| format!("no cluster is reachable: {e}"))?;
    for note in session.notes() {
        eprintln!("note: {note}");
    }
    Ok(Live {
        runtime,
        session,
        exclusive: RwLock::new(()),
    })
}

fn run_check(live: &Live, id: CheckId) -> Result<Completion, Failed> {
    let _guard_read;
    let _guard_write;
    if id.spec().effect.runs_alone() {
        _guard_write = live.exclusive.write().unwrap_or_else(|p| p.into_inner());
    } else {
        _guard_read = live.exclusive.read().unwrap_or_else(|p| p.into_inner());
    }
    let result = live.runtime.block_on(live.session.run_check(id));
    match result.verdict() {
        Verdict::Pass => {
            println!("{}: {}", result.id, result.summary());
            Ok(Completion::Completed)
        }
        Verdict::Skip => Ok(Completion::ignored_with(result.summary().to_string())),
        Verdict::Fail => {
            let mut message = format!(
                "{} FAIL ({}): {}",
                result.id,
                result.kind().name(),
                result.summary()
            );
            if let Some(d) = result.diagnosis() {
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
            .with_kind(spec.id.as_str())
        })
        .collect();
    libtest_mimic::run(&args, trials).exit_code()
}
