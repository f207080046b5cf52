//! `neuroscale up`: preflight, k3d cluster, image cache, pinned artefacts, the GitOps source,
//! ArgoCD, the root Application, then every component's readiness gates as a DAG, and a
//! summary with per-phase timings (`--format json` for machines).

use std::path::PathBuf;
use std::time::Duration;

use clap::Args;

use super::{CliError, Format, GlobalArgs};
use crate::cluster::k3d_config::K3dConfig;
use crate::components::{self, Component};
use crate::exit;
use crate::install::apply;
use crate::install::artifacts::{ArtifactRequest, ArtifactStore, FetchedArtifact};
use crate::install::engine::{
    self, ComponentOutcome, GitopsTarget, InstallPlan, InstallReport, PhaseOutcome, Timeline,
};
use crate::install::progress::{Progress, Reporter, Silent, Style};
use crate::scenario::{GpuMode, Scenario};

/// The app-of-apps manifest, relative to the project root.
pub const ROOT_APPLICATION: &str = "manifests/root.yaml";

#[derive(Debug, Args)]
pub struct UpArgs {
    /// The k3d cluster config.
    #[arg(long, value_name = "FILE", default_value = "k3d/cluster.yaml")]
    pub config: PathBuf,
    /// Sync the platform from this git repository instead of the local GitOps source.
    #[arg(long, value_name = "URL")]
    pub repo_url: Option<String>,
    /// The revision of --repo-url to sync.
    #[arg(
        long,
        value_name = "REV",
        requires = "repo_url",
        default_value = "HEAD"
    )]
    pub revision: String,
    /// The root Application (app-of-apps) manifest.
    #[arg(long, value_name = "FILE", default_value = ROOT_APPLICATION)]
    pub root_app: PathBuf,
    /// Output format (json: per-phase and per-component timings).
    #[arg(long, value_enum, default_value = "human")]
    pub format: Format,
}

pub async fn run(global: &GlobalArgs, args: UpArgs) -> Result<u8, CliError> {
    if args.format == Format::Junit {
        return Err(CliError::Usage(
            "`up` prints human or json, not junit".into(),
        ));
    }
    // Every input is validated before anything is downloaded or applied.
    let scenario = Scenario::load_or_builtin(&global.scenario)?;
    let k3d = K3dConfig::load(&args.config)?;
    let cluster_name = global.cluster_name.clone().unwrap_or(k3d.name.clone());
    let context = global
        .context
        .clone()
        .unwrap_or_else(|| format!("k3d-{cluster_name}"));
    if !context.starts_with("k3d-") {
        return Err(CliError::Environment(format!(
            "refusing to install into context `{context}`: `up` installs only into k3d clusters \
             (contexts named k3d-*); use `neuroscale check` for other clusters"
        )));
    }
    let root_text = std::fs::read_to_string(&args.root_app).map_err(|err| {
        CliError::Usage(format!(
            "cannot read the root Application {}: {err}; run `up` from the project root or pass --root-app",
            args.root_app.display()
        ))
    })?;
    let root_documents = apply::parse_manifest(&args.root_app.display().to_string(), &root_text)
        .map_err(|e| CliError::Usage(engine::error_chain(&e)))?;
    let Some(repo_url) = args.repo_url.clone() else {
        return Err(CliError::NotBuilt {
            command: "up",
            detail: "the local GitOps source (crate::gitops::GitSource, git daemon) is not built \
                     yet; pass --repo-url URL [--revision REV] pointing at a repository that \
                     holds manifests/ and vendor/",
        });
    };
    let target = GitopsTarget {
        repo_url,
        revision: args.revision.clone(),
    };
    let root_application = engine::point_root_at(root_documents, &target)
        .map_err(|e| CliError::Usage(format!("{}: {e}", args.root_app.display())))?;

    // `auto` needs the preflight's NVIDIA runtime detection, which this build lacks.
    let real_gpu = scenario.spec.gpu == GpuMode::Real;
    let selected = components::selected(real_gpu);
    components::plan(&selected).map_err(|e| CliError::Usage(e.to_string()))?;

    let json = args.format == Format::Json;
    let names: Vec<&str> = selected.iter().map(|c| c.name).collect();
    let progress;
    let reporter: &dyn Reporter = if global.quiet {
        &Silent
    } else {
        progress = Progress::new(Style::detect(json), &names);
        &progress
    };
    let timeline = Timeline::new(reporter);
    for (phase, detail) in [
        (
            "preflight",
            "Docker, memory and port checks are not built yet (branch cluster)",
        ),
        (
            "cluster",
            "k3d cluster creation is not built yet (branch cluster); using the existing context",
        ),
        (
            "image-cache",
            "the pull-through registry cache is not built yet (branch cluster)",
        ),
    ] {
        timeline.record(phase, PhaseOutcome::NotBuilt, Duration::ZERO, detail.into());
    }

    let work = install(
        global,
        &context,
        &selected,
        &scenario,
        target.clone(),
        root_application,
        &timeline,
    );
    let components = tokio::select! {
        result = work => result?,
        _ = tokio::signal::ctrl_c() => {
            eprintln!(
                "interrupted: everything applied so far was applied server-side and is \
                 declarative; run `neuroscale up` again to converge"
            );
            return Ok(exit::CHECK_FAILED);
        }
    };
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

async fn install(
    global: &GlobalArgs,
    context: &str,
    selected: &[Component],
    scenario: &Scenario,
    target: GitopsTarget,
    root_application: Vec<serde_json::Value>,
    timeline: &Timeline<'_>,
) -> Result<Vec<engine::ComponentReport>, CliError> {
    let client = timeline
        .run("connect", connect(global, context), |_| {
            format!("context {context}")
        })
        .await?;

    let http = reqwest::Client::builder()
        .user_agent(concat!("neuroscale/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(CliError::failed)?;
    let store = ArtifactStore::in_cache(http);
    let requests = ArtifactRequest::for_components(selected);
    let fetched: Vec<FetchedArtifact> = timeline
        .run("artifacts", store.fetch_all(&requests), |fetched| {
            let downloaded = fetched.iter().filter(|f| f.downloaded).count();
            format!(
                "{} files verified, {downloaded} downloaded, lock file {}",
                fetched.len(),
                store.lock_path().display()
            )
        })
        .await
        .map_err(|e| CliError::Failed(Box::new(e)))?;
    timeline.record(
        "gitops-source",
        PhaseOutcome::Skipped,
        Duration::ZERO,
        format!(
            "remote repository {}@{}: its vendor/ must already hold the pinned artefacts",
            target.repo_url, target.revision
        ),
    );

    let argocd = fetched
        .iter()
        .filter(|f| f.component == "argocd")
        .map(|f| {
            let text = std::fs::read_to_string(&f.path).map_err(|e| {
                CliError::Failed(format!("cannot read {}: {e}", f.path.display()).into())
            })?;
            apply::parse_manifest(&f.url, &text).map_err(|e| CliError::Failed(Box::new(e)))
        })
        .collect::<Result<Vec<_>, _>>()?
        .into_iter()
        .flatten()
        .collect();
    let plan = InstallPlan {
        components: selected.to_vec(),
        argocd_manifest: argocd,
        root_application,
        deadline: scenario.spec.deadlines.install,
    };
    timeline
        .run(
            "components",
            engine::install(&client, &plan, timeline.reporter()),
            |reports| {
                let ready = reports
                    .iter()
                    .filter(|r| r.outcome == ComponentOutcome::Ready)
                    .count();
                format!("{ready}/{} ready", reports.len())
            },
        )
        .await
        .map_err(|e| CliError::Failed(Box::new(e)))
}

async fn connect(global: &GlobalArgs, context: &str) -> Result<kube::Client, CliError> {
    use kube::config::{KubeConfigOptions, Kubeconfig};
    let options = KubeConfigOptions {
        context: Some(context.to_string()),
        ..Default::default()
    };
    let unreachable = |err: &dyn std::fmt::Display| {
        CliError::Environment(format!(
            "cannot use kube context `{context}`: {err}; is the cluster up (`k3d cluster list`)?"
        ))
    };
    let config = match &global.kubeconfig {
        Some(path) if !path.to_string_lossy().contains(':') => {
            let kubeconfig = Kubeconfig::read_from(path).map_err(|e| unreachable(&e))?;
            kube::Config::from_custom_kubeconfig(kubeconfig, &options)
                .await
                .map_err(|e| unreachable(&e))?
        }
        _ => kube::Config::from_kubeconfig(&options)
            .await
            .map_err(|e| unreachable(&e))?,
    };
    let client = kube::Client::try_from(config).map_err(|e| unreachable(&e))?;
    client
        .apiserver_version()
        .await
        .map_err(|e| unreachable(&e))?;
    Ok(client)
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
            PhaseOutcome::NotBuilt => "not built",
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
    use crate::install::engine::{ComponentReport, PhaseTiming};

    #[test]
    fn the_summary_names_failures_and_unbuilt_phases() {
        let report = InstallReport {
            schema: engine::REPORT_SCHEMA,
            ok: false,
            total_seconds: 12.0,
            gitops: None,
            phases: vec![PhaseTiming {
                phase: "cluster".into(),
                outcome: PhaseOutcome::NotBuilt,
                seconds: 0.0,
                detail: "k3d cluster creation is not built yet".into(),
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
        assert!(text.contains("not built"), "{text}");
        assert!(text.contains("endpoints/kyverno/kyverno-svc"), "{text}");
        assert!(
            text.contains("platform") && text.contains("not started"),
            "{text}"
        );
    }
}
