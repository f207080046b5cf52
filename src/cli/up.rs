//! `neuroscale up`: preflight, k3d cluster, image cache, pinned artefacts, the GitOps source,
//! ArgoCD, the root Application, then every component's readiness gates as a DAG, and a
//! summary with per-phase timings (`--format json` for machines).

use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::time::Duration;

use clap::Args;

use super::{CliError, Format, GlobalArgs};
use crate::cluster::bootstrap::{self, BootstrapInput, ClusterReady};
use crate::cluster::k3d_config::K3dConfig;
use crate::cluster::ErrorClass;
use crate::components;
use crate::exit;
use crate::gitops::endpoint::{self, DockerHost, GitopsEndpoint};
use crate::gitops::source::GitSource;
use crate::install::apply;
use crate::install::artifacts::{ArtifactRequest, ArtifactStore, FetchedArtifact};
use crate::install::engine::{
    self, ComponentOutcome, GitopsTarget, InstallPlan, InstallReport, PhaseOutcome, Timeline,
};
use crate::install::progress::{Progress, Reporter, Silent, Style};
use crate::install::vendor;
use crate::scenario::{GpuMode, Scenario};

#[derive(Debug, Args)]
pub struct UpArgs {
    /// The k3d cluster config.
    #[arg(long, value_name = "FILE", default_value = "k3d/cluster.yaml")]
    pub config: PathBuf,
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
    /// Where the local GitOps source's git daemon listens: loopback, or the k3d network's
    /// gateway (default: the gateway, port 9418, on Linux Docker; 127.0.0.1:9418 with Docker
    /// Desktop). The cluster always fetches from git://host.k3d.internal:PORT/neuroscale.git.
    #[arg(long, value_name = "IP:PORT", conflicts_with = "repo_url")]
    pub gitops_addr: Option<SocketAddr>,
    /// The project root: where manifests/ lives.
    #[arg(long, value_name = "DIR", default_value = ".")]
    pub project_root: PathBuf,
    /// Output format: human, or json (per-phase and per-component timings). JUnit is for
    /// `check`, so it is refused here and not listed.
    #[arg(long, value_enum, default_value = "human", hide_possible_values = true)]
    pub format: Format,
}

/// A `--repo-url` must not carry a credential: the URL is written into the root Application
/// (readable by anyone who can read Applications, and copied into diagnostics bundles) and into
/// the install report. ArgoCD takes repository credentials from a repository Secret instead.
/// A user name alone on ssh (`ssh://git@host/...`) is not a credential.
fn refuse_credentials_in_url(url: &str) -> Result<(), CliError> {
    let Some((scheme, rest)) = url.split_once("://") else {
        return Ok(());
    };
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    let Some((userinfo, _host)) = authority.rsplit_once('@') else {
        return Ok(());
    };
    let http = scheme.eq_ignore_ascii_case("http") || scheme.eq_ignore_ascii_case("https");
    if userinfo.contains(':') || http {
        return Err(CliError::Usage(
            "--repo-url carries a credential in its user part; it would be written into the              root Application and the reports. Pass the URL without it and give ArgoCD the              credential as a repository Secret (label argocd.argoproj.io/secret-type=repository)"
                .into(),
        ));
    }
    Ok(())
}

fn cluster_error(err: bootstrap::BootstrapError) -> CliError {
    let text = engine::error_chain(&err);
    match err.class() {
        ErrorClass::BadInput => CliError::Usage(text),
        ErrorClass::Environment => CliError::Environment(text),
    }
}

pub async fn run(global: &GlobalArgs, args: UpArgs) -> Result<u8, CliError> {
    if args.format == Format::Junit {
        return Err(CliError::Usage(
            "`up` prints human or json, not junit".into(),
        ));
    }
    // Every input is validated before anything is created, downloaded or applied.
    if let Some(url) = &args.repo_url {
        refuse_credentials_in_url(url)?;
    }
    if let Some(addr) = args.gitops_addr.filter(|a| a.ip().is_unspecified()) {
        return Err(CliError::Usage(format!(
            "--gitops-addr {addr} would serve the GitOps source on every interface; pass \
             127.0.0.1:PORT (or the k3d network's gateway) instead"
        )));
    }
    let scenario = Scenario::load_or_builtin(&global.scenario)?;
    let k3d = K3dConfig::load(&args.config)?;
    let cluster_name = global.cluster_name.clone().unwrap_or(k3d.name.clone());
    if let Some(context) = &global.context {
        if *context != crate::connect::harness_context(&cluster_name) {
            return Err(CliError::Usage(format!(
                "`up` installs into the k3d cluster it manages, context `{}`; --context \
                 `{context}` names another (use `neuroscale check` for other clusters)",
                crate::connect::harness_context(&cluster_name)
            )));
        }
    }
    let manifests = args.project_root.join("manifests");
    if !manifests.join("root.yaml").is_file() {
        return Err(CliError::Usage(format!(
            "{} has no root.yaml: run `up` from the project root or pass --project-root",
            manifests.display()
        )));
    }
    // Parse the harness objects now so a malformed file fails before the cluster exists.
    crate::gitops::harness_objects(&args.project_root, "validation", true)?;

    let json = args.format == Format::Json;
    let progress;
    let reporter: &dyn Reporter = if global.quiet {
        &Silent
    } else {
        // The device plugin's line appears only if preflight resolves a real GPU.
        let all: Vec<&str> = components::selected(false).iter().map(|c| c.name).collect();
        progress = Progress::new(Style::detect(json), &all);
        &progress
    };
    let timeline = Timeline::new(reporter);
    let work = install(&args, &k3d, &cluster_name, &scenario, &timeline);
    let (target, components) = tokio::select! {
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
    args: &UpArgs,
    k3d: &K3dConfig,
    cluster_name: &str,
    scenario: &Scenario,
    timeline: &Timeline<'_>,
) -> Result<(GitopsTarget, Vec<engine::ComponentReport>), CliError> {
    let cache_dir = crate::cache::cache_dir();
    let reporter = timeline.reporter();
    let cluster: ClusterReady = {
        let began = std::time::Instant::now();
        let input = BootstrapInput {
            config: k3d,
            cluster_name,
            gpu: scenario.spec.gpu,
            cache_dir: &cache_dir,
            k3d: None,
        };
        let result = bootstrap::bootstrap(input, |phase| {
            reporter.report(crate::install::progress::Event::PhaseStarted {
                phase: phase.as_str(),
            })
        })
        .await;
        match result {
            Ok(ready) => {
                for timing in &ready.timings {
                    reporter.report(crate::install::progress::Event::PhaseFinished {
                        phase: timing.phase.as_str(),
                        took: timing.elapsed,
                        detail: "",
                    });
                    timeline.record(
                        timing.phase.as_str(),
                        PhaseOutcome::Ok,
                        timing.elapsed,
                        String::new(),
                    );
                }
                for warning in &ready.preflight.warnings {
                    eprintln!("warning: {warning}");
                }
                ready
            }
            Err(err) => {
                timeline.record(
                    "cluster",
                    PhaseOutcome::Failed,
                    began.elapsed(),
                    String::new(),
                );
                return Err(cluster_error(err));
            }
        }
    };
    let real_gpu = cluster.preflight.gpu == GpuMode::Real;
    let selected = components::selected(real_gpu);
    components::plan(&selected).map_err(|e| CliError::Usage(e.to_string()))?;

    let connection = timeline
        .run(
            "connect",
            crate::connect::connect(&crate::connect::Target {
                kubeconfig: Some(cluster.kubeconfig.clone()),
                context: Some(cluster.context.clone()),
                cluster_name: cluster_name.to_string(),
                allow_context: None,
            }),
            |c| format!("context {}", c.context),
        )
        .await
        .map_err(|e| CliError::Environment(engine::error_chain(&e)))?;

    let http = reqwest::Client::builder()
        .user_agent(concat!("neuroscale/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(CliError::failed)?;
    let store = ArtifactStore::in_cache(http);
    let requests = ArtifactRequest::for_components(&selected);
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
        .map_err(CliError::failed)?;

    let target = match &args.repo_url {
        Some(url) => {
            timeline.record(
                "gitops-source",
                PhaseOutcome::Skipped,
                Duration::ZERO,
                format!("remote repository {url}@{}", args.revision),
            );
            GitopsTarget {
                repo_url: url.clone(),
                revision: args.revision.clone(),
            }
        }
        None => {
            let endpoint = gitops_endpoint(k3d, cluster_name, args.gitops_addr).await?;
            timeline
                .run(
                    "gitops-source",
                    local_source(&args.project_root, &fetched, &endpoint),
                    |t: &GitopsTarget| format!("{} serving {}", t.repo_url, t.revision),
                )
                .await?
        }
    };
    let mut harness =
        crate::gitops::harness_objects(&args.project_root, &target.repo_url, real_gpu)?;
    if args.repo_url.is_some() {
        harness =
            engine::point_root_at(harness, &target).map_err(|e| CliError::Usage(e.to_string()))?;
    }

    let argocd = fetched
        .iter()
        .filter(|f| f.component == "argocd")
        .map(|f| {
            let text = std::fs::read_to_string(&f.path).map_err(|e| {
                CliError::Failed(format!("cannot read {}: {e}", f.path.display()).into())
            })?;
            apply::parse_manifest(&f.url, &text).map_err(CliError::failed)
        })
        .collect::<Result<Vec<_>, _>>()?
        .into_iter()
        .flatten()
        .collect();
    let plan = InstallPlan {
        components: selected.to_vec(),
        argocd_manifest: argocd,
        harness_objects: harness,
        deadline: scenario.spec.deadlines.install,
    };
    let reports = timeline
        .run(
            "components",
            engine::install(&connection.client, &plan, reporter),
            |reports| {
                let ready = reports
                    .iter()
                    .filter(|r| r.outcome == ComponentOutcome::Ready)
                    .count();
                format!("{ready}/{} ready", reports.len())
            },
        )
        .await
        .map_err(CliError::failed)?;
    Ok((target, reports))
}

/// Builds the local GitOps repository from the project's manifests/ plus the vendored
/// artefacts, and serves it with a detached git daemon that outlives `up`.
async fn local_source(
    project_root: &Path,
    fetched: &[FetchedArtifact],
    endpoint: &GitopsEndpoint,
) -> Result<GitopsTarget, CliError> {
    let staging = tempfile::tempdir().map_err(CliError::failed)?;
    vendor::vendor_all(staging.path(), fetched).map_err(CliError::failed)?;
    let source = GitSource::create_or_open(GitSource::default_dir())
        .map_err(|e| CliError::Environment(engine::error_chain(&e)))?;
    let repo_url = endpoint.cluster_url.clone();
    source
        .sync_from(
            project_root,
            Some(&staging.path().join(vendor::VENDOR_DIR)),
            &repo_url,
        )
        .map_err(|e| CliError::Environment(engine::error_chain(&e)))?;
    source
        .serve(endpoint.bind)
        .map_err(|e| CliError::Environment(engine::error_chain(&e)))?;
    Ok(GitopsTarget {
        repo_url,
        revision: crate::gitops::source::BRANCH.to_string(),
    })
}

/// Where the git daemon binds and the URL the cluster fetches from, for the Docker Engine in
/// use (see `gitops::endpoint`).
async fn gitops_endpoint(
    k3d: &K3dConfig,
    cluster_name: &str,
    requested: Option<SocketAddr>,
) -> Result<GitopsEndpoint, CliError> {
    let docker = crate::cluster::docker::connect()
        .await
        .map_err(|e| CliError::Environment(e.to_string()))?;
    let engine_os = docker
        .info()
        .await
        .ok()
        .and_then(|info| info.operating_system)
        .unwrap_or_default();
    if !endpoint::needs_docker_host(requested) {
        return endpoint::decide(DockerHost::Desktop, requested)
            .map_err(|e| CliError::Usage(e.to_string()));
    }
    let gateway = if std::env::consts::OS == "linux" && !engine_os.contains("Docker Desktop") {
        Some(k3d_gateway(k3d, cluster_name).await?)
    } else {
        None
    };
    let host = DockerHost::detect(std::env::consts::OS, &engine_os, gateway).ok_or_else(|| {
        CliError::Environment(
            "cannot tell how the cluster reaches this machine; pass --gitops-addr IP:PORT".into(),
        )
    })?;
    endpoint::decide(host, requested).map_err(|e| CliError::Usage(e.to_string()))
}

/// The gateway of the cluster's Docker network: the host's address as k3d containers see it on
/// native Linux Docker.
async fn k3d_gateway(k3d: &K3dConfig, cluster_name: &str) -> Result<IpAddr, CliError> {
    let network = k3d
        .raw
        .get("network")
        .and_then(serde_json::Value::as_str)
        .map(str::to_string)
        .unwrap_or_else(|| format!("k3d-{cluster_name}"));
    let docker = crate::cluster::docker::connect()
        .await
        .map_err(|e| CliError::Environment(e.to_string()))?;
    let inspect = docker.inspect_network(&network, None).await.map_err(|e| {
        CliError::Environment(format!(
            "cannot inspect Docker network {network} to find the address the cluster \
                 reaches the GitOps source at: {e}; pass --gitops-addr IP:PORT"
        ))
    })?;
    inspect
        .ipam
        .and_then(|ipam| ipam.config)
        .into_iter()
        .flatten()
        .filter_map(|c| c.gateway)
        .filter_map(|g| g.parse::<IpAddr>().ok())
        .find(IpAddr::is_ipv4)
        .ok_or_else(|| {
            CliError::Environment(format!(
                "Docker network {network} has no IPv4 gateway; pass --gitops-addr IP:PORT"
            ))
        })
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
    use crate::install::engine::{ComponentReport, PhaseTiming};

    #[test]
    fn a_repo_url_with_a_credential_is_refused_without_echoing_it() {
        for url in [
            "https://ghp_secret0token@github.com/org/platform.git",
            "https://user:ghp_secret0token@github.com/org/platform.git",
            "ssh://git:ghp_secret0token@example.com/platform.git",
        ] {
            let err = refuse_credentials_in_url(url).expect_err(url);
            assert_eq!(err.exit_code(), crate::exit::USAGE);
            assert!(!err.to_string().contains("ghp_secret0token"), "{err}");
        }
        for url in [
            "https://github.com/org/platform.git",
            "ssh://git@github.com/org/platform.git",
            "git@github.com:org/platform.git",
            "git://host.k3d.internal/platform.git",
            "https://github.com/org/platform.git?ref=a@b",
        ] {
            assert!(refuse_credentials_in_url(url).is_ok(), "{url}");
        }
    }

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
