//! `neuroscale up`: parses its flags, hands them to the `Installer` (preflight, k3d cluster,
//! image cache, pinned artefacts, the GitOps source, ArgoCD, the component DAG), shows progress,
//! and renders the summary with per-phase timings (`--format json` for machines).

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::Args;

use super::{CliError, Format, GlobalArgs};
use crate::cluster::k3d_config::ConfigSource;
use crate::exit;
use crate::install::engine::{ComponentOutcome, InstallReport, PhaseOutcome, Timeline};
use crate::install::progress::{Progress, Reporter, Silent, Style};
use crate::install::{InstallRequest, Installer};
use crate::scenario::Scenario;

#[derive(Debug, Args)]
pub struct UpArgs {
    /// The k3d cluster config file (default: the built-in k3d/cluster.yaml).
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Create the GPU cluster from the built-in k3d/gpu.yaml (a CUDA-enabled k3s image that
    /// requests the GPUs from Docker's NVIDIA runtime); pair it with `--scenario gpu`.
    #[arg(long, conflicts_with = "config")]
    pub gpu: bool,
    /// Sync the platform from this git repository instead of the local GitOps source (it must
    /// hold manifests/ with repoURLs pointing at itself, and vendor/ with the pinned artefacts).
    #[arg(long, value_name = "URL")]
    pub repo_url: Option<String>,
    /// The revision of --repo-url the root Application syncs.
    #[arg(
        long,
        value_name = "REV",
        requires = "repo_url",
        default_value = "HEAD"
    )]
    pub revision: String,
    /// Where the local GitOps source's git daemon listens: loopback or the k3d network's
    /// gateway only (default: the gateway on Linux Docker, 127.0.0.1 with Docker Desktop; port
    /// 9418). The cluster fetches from host.k3d.internal on the same port.
    #[arg(long, value_name = "IP:PORT", conflicts_with = "repo_url")]
    pub gitops_addr: Option<SocketAddr>,
    /// The folder holding the platform's manifests tree (root.yaml, apps/, components/, ...),
    /// to install your own edit of it (default: the tree built into the binary).
    #[arg(long, value_name = "DIR")]
    pub manifests: Option<PathBuf>,
    /// Output format: human, or json (per-phase and per-component timings; give the saved file
    /// to `check --html FILE --up-report up.json` for the bootstrap timeline). JUnit and Markdown
    /// are for `check`, so they are refused here and not listed.
    #[arg(long, value_enum, default_value = "human", hide_possible_values = true)]
    pub format: Format,
}

pub async fn run(global: &GlobalArgs, args: UpArgs) -> Result<u8, CliError> {
    if matches!(args.format, Format::Junit | Format::Markdown) {
        return Err(CliError::Usage(
            "`up` prints human or json, not junit or markdown (reports of `check`)".into(),
        ));
    }
    let scenario = Scenario::resolve(global.scenario.as_deref())?;
    // Every input is validated before anything is created, downloaded or applied, the
    // scenario's check selectors included (the run after `up` will need them).
    crate::checks::Selection::from_scenario(&scenario)?;
    let installer = Installer::prepare(
        InstallRequest {
            config: ConfigSource::from_flags(args.config.clone(), args.gpu),
            cluster_name: global.cluster_name.clone(),
            context: global.context.clone(),
            repo_url: args.repo_url.clone(),
            revision: args.revision.clone(),
            gitops_addr: args.gitops_addr,
            manifests: args.manifests.clone(),
        },
        scenario,
    )?;

    let json = args.format == Format::Json;
    if !global.quiet {
        // On stderr: with --format json, stdout carries the report only.
        eprintln!("using {}", installer.inputs());
    }
    let progress;
    let reporter: &dyn Reporter = if global.quiet {
        &Silent
    } else {
        progress = Progress::new(Style::detect(json), &installer.expected_components());
        &progress
    };
    let timeline = Timeline::new(reporter);
    let finished = tokio::select! {
        result = installer.run(&timeline) => Some(result),
        _ = tokio::signal::ctrl_c() => None,
    };
    let Some(result) = finished else {
        let so_far = timeline.finish(None, Vec::new());
        return Err(CliError::Interrupted(interrupted_message(&so_far)));
    };
    let (target, components) = result?;
    let report = timeline.finish(Some(target), components);
    if json {
        println!(
            "{}",
            serde_json::to_string_pretty(&report).expect("plain data")
        );
    } else {
        print!("{}", render_human(&report));
    }
    Ok(if report.ok {
        exit::SUCCESS
    } else {
        exit::CHECK_FAILED
    })
}

/// What an interrupted `up` tells its user: what it finished, and that running it again resumes.
fn interrupted_message(so_far: &InstallReport) -> String {
    let done: Vec<String> = so_far
        .phases
        .iter()
        .filter(|p| p.outcome == PhaseOutcome::Ok)
        .map(|p| format!("{} ({:.1}s)", p.phase, p.seconds))
        .collect();
    let done = if done.is_empty() {
        "no phase had finished".to_string()
    } else {
        format!("finished: {}", done.join(", "))
    };
    format!(
        "{done}. Nothing is left half-done: the cluster, the image cache, the verified artefacts \
         and the GitOps source are reused, and everything applied was applied server-side and is \
         declarative. Run `neuroscale up` again: it resumes from here."
    )
}

/// The summary a person reads after `up`.
pub fn render_human(report: &InstallReport) -> String {
    let mut out = String::new();
    let verdict = if report.ok {
        "platform ready"
    } else {
        "install FAILED"
    };
    out.push_str(&format!(
        "\nneuroscale up: {verdict} in {:.1}s\n\nphases:\n",
        report.total_seconds
    ));
    for phase in &report.phases {
        let outcome = match phase.outcome {
            PhaseOutcome::Ok => "ok",
            PhaseOutcome::Failed => "FAILED",
            PhaseOutcome::Skipped => "skipped",
        };
        out.push_str(&format!(
            "  {:<14} {:<10} {:>7.1}s  {}\n",
            phase.phase, outcome, phase.seconds, phase.detail
        ));
    }
    if !report.components.is_empty() {
        out.push_str("\ncomponents:\n");
    }
    for component in &report.components {
        let outcome = match component.outcome {
            ComponentOutcome::Ready => "ready",
            ComponentOutcome::Failed => "FAILED",
            ComponentOutcome::Blocked => "blocked",
        };
        let timing = match (component.started_after_seconds, component.seconds) {
            (Some(start), Some(took)) => format!("started +{start:.1}s, took {took:.1}s"),
            _ => "not started".to_string(),
        };
        out.push_str(&format!(
            "  {:<22} {:<16} {:<8} {timing}\n",
            component.name, component.version, outcome
        ));
        if let Some(error) = &component.error {
            for line in error.lines() {
                out.push_str(&format!("      {line}\n"));
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::install::engine::{self, ComponentReport, PhaseTiming};

    #[test]
    fn the_summary_names_failures_and_skipped_phases() {
        let report = InstallReport {
            schema: engine::REPORT_SCHEMA,
            ok: false,
            total_seconds: 12.0,
            gitops: None,
            phases: vec![PhaseTiming {
                phase: "vendor".into(),
                outcome: PhaseOutcome::Skipped,
                seconds: 0.0,
                detail: "remote repository: nothing to vendor".into(),
            }],
            components: vec![
                ComponentReport {
                    name: "kyverno".into(),
                    version: "v1.19.0".into(),
                    outcome: ComponentOutcome::Failed,
                    started_after_seconds: Some(3.0),
                    seconds: Some(9.0),
                    error: Some(
                        "timed out after 9s waiting for endpoints/kyverno/kyverno-svc".into(),
                    ),
                },
                ComponentReport {
                    name: "platform".into(),
                    version: "manifests/".into(),
                    outcome: ComponentOutcome::Blocked,
                    started_after_seconds: None,
                    seconds: None,
                    error: Some("not started: kyverno did not become ready".into()),
                },
            ],
        };
        let text = render_human(&report);
        assert!(text.contains("install FAILED"), "{text}");
        assert!(text.contains("skipped"), "{text}");
        assert!(text.contains("endpoints/kyverno/kyverno-svc"), "{text}");
        assert!(
            text.contains("platform") && text.contains("not started"),
            "{text}"
        );
    }
}
