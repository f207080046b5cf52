//! The installer: the one facade `neuroscale up` (and the live test suite, with
//! `NEUROSCALE_E2E_UP=1`) brings the platform up through. `Installer::prepare` validates every
//! input before anything is created, downloaded or applied; `Installer::run` then goes through
//! the cluster (preflight, k3d, image cache), the pinned artefacts, the GitOps source, ArgoCD and
//! the component DAG, recording each phase on the timeline. Rendering is the caller's.

use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::apply;
use super::artifacts::{ArtifactRequest, ArtifactStore, FetchedArtifact};
use super::engine::{
    self, ComponentOutcome, ComponentReport, GitopsTarget, InstallPlan, PhaseOutcome, Timeline,
};
use super::progress::Event;
use super::vendor;
use crate::cluster::bootstrap::{self, BootstrapInput, ClusterReady};
use crate::cluster::k3d_config::{ConfigSource, K3dConfig};
use crate::cluster::ErrorClass;
use crate::components;
use crate::gitops::endpoint::{self, DockerHost, GitopsEndpoint};
use crate::gitops::source::GitSource;
use crate::scenario::{GpuMode, Scenario};

/// Why the platform could not be brought up, by who can fix it.
#[derive(Debug, thiserror::Error)]
pub enum InstallError {
    /// An input that cannot be used (a flag, a URL, the manifests folder).
    #[error("{0}")]
    BadInput(String),
    /// A malformed file; the message names the file and field.
    #[error(transparent)]
    Config(#[from] crate::yaml::YamlError),
    /// The environment is not ready: Docker, the cluster, git.
    #[error("{0}")]
    Environment(String),
    /// Anything else, with its cause chain.
    #[error(transparent)]
    Failed(Box<dyn std::error::Error + Send + Sync>),
}

impl InstallError {
    fn failed(err: impl std::error::Error + Send + Sync + 'static) -> Self {
        InstallError::Failed(Box::new(err))
    }
}

/// What to bring up, as the command line or a test says it.
#[derive(Debug, Clone)]
pub struct InstallRequest {
    /// The k3d cluster config: a file, or one built into the binary.
    pub config: ConfigSource,
    /// `--cluster-name`; default the config's `metadata.name`.
    pub cluster_name: Option<String>,
    /// `--context`: only the harness's own context is accepted.
    pub context: Option<String>,
    /// A remote GitOps repository instead of the local source, and its revision.
    pub repo_url: Option<String>,
    pub revision: String,
    /// Where the local source's git daemon listens (loopback or the k3d network's gateway;
    /// default per `gitops::endpoint`). The cluster always fetches through host.k3d.internal.
    pub gitops_addr: Option<SocketAddr>,
    /// `--manifests DIR`: the folder holding the manifests tree; None uses the tree built into
    /// the binary (written once into the cache).
    pub manifests: Option<PathBuf>,
}

/// A validated install, ready to run.
#[derive(Debug)]
pub struct Installer {
    request: InstallRequest,
    scenario: Scenario,
    k3d: K3dConfig,
    cluster_name: String,
    /// The manifests folder in use: `--manifests DIR`, or the built-in tree in the cache.
    manifests: PathBuf,
}

/// A `--repo-url` must not carry a credential: the URL is written into the root Application
/// (readable by anyone who can read Applications, and copied into diagnostics bundles) and into
/// the install report. ArgoCD takes repository credentials from a repository Secret instead.
/// A user name alone on ssh (`ssh://git@host/...`) is not a credential.
pub fn refuse_credentials_in_url(url: &str) -> Result<(), InstallError> {
    let Some((scheme, rest)) = url.split_once("://") else {
        return Ok(());
    };
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    let Some((userinfo, _host)) = authority.rsplit_once('@') else {
        return Ok(());
    };
    let http = scheme.eq_ignore_ascii_case("http") || scheme.eq_ignore_ascii_case("https");
    if userinfo.contains(':') || http {
        return Err(InstallError::BadInput(
            "--repo-url carries a credential in its user part; it would be written into the \
             root Application and the reports. Pass the URL without it and give ArgoCD the \
             credential as a repository Secret (label argocd.argoproj.io/secret-type=repository)"
                .into(),
        ));
    }
    Ok(())
}

fn cluster_error(err: bootstrap::BootstrapError) -> InstallError {
    let text = engine::error_chain(&err);
    match err.class() {
        ErrorClass::BadInput => InstallError::BadInput(text),
        ErrorClass::Environment => InstallError::Environment(text),
    }
}

impl Installer {
    /// Validates every input before anything is created, downloaded or applied.
    pub fn prepare(request: InstallRequest, scenario: Scenario) -> Result<Installer, InstallError> {
        if let Some(url) = &request.repo_url {
            refuse_credentials_in_url(url)?;
        }
        if let Some(addr) = request.gitops_addr.filter(|a| a.ip().is_unspecified()) {
            return Err(InstallError::BadInput(format!(
                "--gitops-addr {addr} would serve the GitOps source on every interface; pass \
                 127.0.0.1:PORT (or the k3d network's gateway) instead"
            )));
        }
        let k3d = request.config.load()?;
        let cluster_name = request.cluster_name.clone().unwrap_or(k3d.name.clone());
        if let Some(context) = &request.context {
            let harness = crate::connect::harness_context(&cluster_name);
            if *context != harness {
                return Err(InstallError::BadInput(format!(
                    "`up` installs into the k3d cluster it manages, context `{harness}`; --context \
                     `{context}` names another (use `neuroscale check` for other clusters)"
                )));
            }
        }
        let manifests = match &request.manifests {
            Some(dir) if !dir.join("root.yaml").is_file() => {
                return Err(InstallError::BadInput(format!(
                    "{} has no root.yaml: --manifests must name the folder holding the \
                     manifests tree (or leave it out to use the built-in one)",
                    dir.display()
                )));
            }
            Some(dir) => dir.clone(),
            None => crate::bundled::manifests_dir(&crate::cache::cache_dir())
                .map_err(|e| InstallError::Environment(engine::error_chain(&e)))?,
        };
        // Parse the harness objects now so a malformed file fails before the cluster exists.
        crate::gitops::harness_objects(&manifests, "validation", true)?;
        Ok(Installer {
            request,
            scenario,
            k3d,
            cluster_name,
            manifests,
        })
    }

    /// Which inputs this install uses, for the line `up` prints first: the k3d config, the
    /// manifests and the scenario, each either a file or "built in".
    pub fn inputs(&self) -> String {
        let manifests = match &self.request.manifests {
            Some(dir) => dir.display().to_string(),
            None => crate::bundled::display_name("manifests/"),
        };
        format!(
            "k3d config: {}; manifests: {manifests}; scenario: {}",
            self.k3d.path.display(),
            self.scenario.source.display()
        )
    }

    /// The components a progress display should show before preflight decides the GPU mode
    /// (the device plugin's line appears only if preflight resolves a real GPU).
    pub fn expected_components(&self) -> Vec<&'static str> {
        components::selected(false).iter().map(|c| c.name).collect()
    }

    /// Brings the platform up, recording every phase on `timeline`.
    pub async fn run(
        &self,
        timeline: &Timeline<'_>,
    ) -> Result<(GitopsTarget, Vec<ComponentReport>), InstallError> {
        let cache_dir = crate::cache::cache_dir();
        let reporter = timeline.reporter();
        let cluster: ClusterReady = {
            let began = std::time::Instant::now();
            let input = BootstrapInput {
                config: &self.k3d,
                cluster_name: &self.cluster_name,
                gpu: self.scenario.spec.gpu,
                cache_dir: &cache_dir,
                k3d: None,
            };
            let result = bootstrap::bootstrap(input, |phase| {
                reporter.report(Event::PhaseStarted {
                    phase: phase.as_str(),
                })
            })
            .await;
            match result {
                Ok(ready) => {
                    for timing in &ready.timings {
                        reporter.report(Event::PhaseFinished {
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
        components::plan(&selected).map_err(|e| InstallError::BadInput(e.to_string()))?;

        let connection = timeline
            .run(
                "connect",
                crate::connect::connect(&crate::connect::Target {
                    kubeconfig: Some(cluster.kubeconfig.clone()),
                    context: Some(cluster.context.clone()),
                    cluster_name: self.cluster_name.clone(),
                    allow_context: None,
                }),
                |c| format!("context {}", c.context),
            )
            .await
            .map_err(|e| InstallError::Environment(engine::error_chain(&e)))?;

        let http = reqwest::Client::builder()
            .user_agent(concat!("neuroscale/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(InstallError::failed)?;
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
            .map_err(InstallError::failed)?;

        let request = &self.request;
        let target = match &request.repo_url {
            Some(url) => {
                timeline.record(
                    "gitops-source",
                    PhaseOutcome::Skipped,
                    Duration::ZERO,
                    format!("remote repository {url}@{}", request.revision),
                );
                GitopsTarget {
                    repo_url: url.clone(),
                    revision: request.revision.clone(),
                }
            }
            None => {
                let endpoint =
                    gitops_endpoint(&self.k3d, &self.cluster_name, request.gitops_addr).await?;
                timeline
                    .run(
                        "gitops-source",
                        local_source(&self.manifests, &fetched, &endpoint),
                        |t: &GitopsTarget| format!("{} serving {}", t.repo_url, t.revision),
                    )
                    .await?
            }
        };
        let mut harness =
            crate::gitops::harness_objects(&self.manifests, &target.repo_url, real_gpu)?;
        if request.repo_url.is_some() {
            harness = engine::point_root_at(harness, &target)
                .map_err(|e| InstallError::BadInput(e.to_string()))?;
        }

        let argocd = fetched
            .iter()
            .filter(|f| f.component == "argocd")
            .map(|f| {
                let text = std::fs::read_to_string(&f.path).map_err(|e| {
                    InstallError::Failed(format!("cannot read {}: {e}", f.path.display()).into())
                })?;
                apply::parse_manifest(&f.url, &text).map_err(InstallError::failed)
            })
            .collect::<Result<Vec<_>, _>>()?
            .into_iter()
            .flatten()
            .collect();
        let plan = InstallPlan {
            components: selected.to_vec(),
            argocd_manifest: argocd,
            harness_objects: harness,
            deadline: self.scenario.spec.deadlines.install,
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
            .map_err(InstallError::failed)?;
        Ok((target, reports))
    }
}

/// Builds the local GitOps repository from the manifests folder plus the vendored artefacts,
/// and serves it with a detached git daemon that outlives `up`.
async fn local_source(
    manifests: &Path,
    fetched: &[FetchedArtifact],
    endpoint: &GitopsEndpoint,
) -> Result<GitopsTarget, InstallError> {
    let staging = tempfile::tempdir().map_err(InstallError::failed)?;
    vendor::vendor_all(staging.path(), fetched).map_err(InstallError::failed)?;
    let source = GitSource::create_or_open(GitSource::default_dir())
        .map_err(|e| InstallError::Environment(engine::error_chain(&e)))?;
    let repo_url = endpoint.cluster_url.clone();
    source
        .sync_from(
            manifests,
            Some(&staging.path().join(vendor::VENDOR_DIR)),
            &repo_url,
        )
        .map_err(|e| InstallError::Environment(engine::error_chain(&e)))?;
    source
        .serve(endpoint.bind)
        .map_err(|e| InstallError::Environment(engine::error_chain(&e)))?;
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
) -> Result<GitopsEndpoint, InstallError> {
    if !endpoint::needs_docker_host(requested) {
        return endpoint::decide(DockerHost::Desktop, requested)
            .map_err(|e| InstallError::BadInput(e.to_string()));
    }
    let docker = crate::cluster::docker::connect()
        .await
        .map_err(|e| InstallError::Environment(e.to_string()))?;
    let engine_os = docker
        .info()
        .await
        .ok()
        .and_then(|info| info.operating_system)
        .unwrap_or_default();
    let gateway = if std::env::consts::OS == "linux" && !engine_os.contains("Docker Desktop") {
        Some(k3d_gateway(k3d, cluster_name).await?)
    } else {
        None
    };
    let host = DockerHost::detect(std::env::consts::OS, &engine_os, gateway).ok_or_else(|| {
        InstallError::Environment(
            "cannot tell how the cluster reaches this machine; pass --gitops-addr IP:PORT".into(),
        )
    })?;
    endpoint::decide(host, requested).map_err(|e| InstallError::BadInput(e.to_string()))
}

/// The gateway of the cluster's Docker network: the host's address as k3d containers see it on
/// native Linux Docker.
async fn k3d_gateway(k3d: &K3dConfig, cluster_name: &str) -> Result<IpAddr, InstallError> {
    let network = k3d
        .raw
        .get("network")
        .and_then(serde_json::Value::as_str)
        .map(str::to_string)
        .unwrap_or_else(|| format!("k3d-{cluster_name}"));
    let docker = crate::cluster::docker::connect()
        .await
        .map_err(|e| InstallError::Environment(e.to_string()))?;
    let inspect = docker.inspect_network(&network, None).await.map_err(|e| {
        InstallError::Environment(format!(
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
            InstallError::Environment(format!(
                "Docker network {network} has no IPv4 gateway; pass --gitops-addr IP:PORT"
            ))
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_repo_url_with_a_credential_is_refused_without_echoing_it() {
        for url in [
            "https://ghp_secret0token@github.com/org/platform.git",
            "https://user:ghp_secret0token@github.com/org/platform.git",
            "ssh://git:ghp_secret0token@example.com/platform.git",
        ] {
            let err = refuse_credentials_in_url(url).expect_err(url);
            assert!(matches!(err, InstallError::BadInput(_)), "{err:?}");
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
    fn the_credential_refusal_reads_as_one_sentence() {
        let err = refuse_credentials_in_url("https://t@github.com/o/p.git").unwrap_err();
        let text = err.to_string();
        assert!(
            !text.contains("  "),
            "no runs of spaces from line breaks: {text:?}"
        );
        assert!(
            text.contains("written into the root Application and the reports"),
            "{text}"
        );
    }
}
