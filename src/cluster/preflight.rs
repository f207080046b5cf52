//! Preflight: what `up` checks through the Docker Engine API (bollard) before it creates
//! anything, so a machine that cannot run the platform is told why in one sentence with the fix,
//! and nothing is left half-built.
//!
//! - Docker reachable (API version negotiated; see `docker`).
//! - Memory and CPUs Docker can give: below what the platform wants is a warning with the
//!   numbers, not a failure: it still runs, slowly, and a deadline may expire.
//! - The NVIDIA runtime when the scenario's GPU mode is `real` (a failure without it) or `auto`
//!   (which resolves to `real` with it and `simulate` without). Unlike `gpu::resolve_mode`, the
//!   k3d config must also request GPUs (`options.runtime.gpuRequest`) for `real`: a cluster
//!   created without `--gpus` cannot reach the GPU whatever Docker has.
//! - The host ports the k3d config publishes are free. A port published by a container of this
//!   very cluster is fine (re-running `up` reuses it); a port published by any other container
//!   is named with that container, because with Docker's userland proxy off a bind test alone
//!   would not see it; anything else is found by binding the port.

use std::net::{TcpListener, UdpSocket};

use bollard::query_parameters::ListContainersOptions;
use bollard::Docker;

use super::docker::{self, DockerUnreachable};
use super::k3d_config::{HostPort, K3dConfig, Protocol};
use super::ErrorClass;
use crate::failures::FailureCode;
use crate::scenario::GpuMode;

/// What the platform wants from Docker (README "Quick start": about 8 GiB and 4 CPUs).
pub const PLATFORM_MEMORY_BYTES: u64 = 8 * 1024 * 1024 * 1024;
pub const PLATFORM_CPUS: u64 = 4;
/// The Docker label k3d puts on every container of a cluster (k3d pkg/types/types.go LabelClusterName).
const K3D_CLUSTER_LABEL: &str = "k3d.cluster";

/// What preflight looks at.
#[derive(Debug, Clone)]
pub struct PreflightInput<'a> {
    pub config: &'a K3dConfig,
    /// The cluster name `up` will use (the config's, unless overridden on the command line).
    pub cluster_name: &'a str,
    pub gpu: GpuMode,
    pub memory_bytes: u64,
    pub cpus: u64,
}

impl<'a> PreflightInput<'a> {
    /// The platform's requirements for `config` in GPU mode `gpu`.
    pub fn new(config: &'a K3dConfig, cluster_name: &'a str, gpu: GpuMode) -> Self {
        PreflightInput {
            config,
            cluster_name,
            gpu,
            memory_bytes: PLATFORM_MEMORY_BYTES,
            cpus: PLATFORM_CPUS,
        }
    }
}

/// What preflight found when nothing failed.
#[derive(Debug, Clone)]
pub struct Report {
    pub docker_endpoint: String,
    pub docker_version: String,
    pub memory_bytes: u64,
    pub cpus: u64,
    pub nvidia_runtime: bool,
    /// The GPU mode `up` should use: `auto` resolved to `real` or `simulate`.
    pub gpu: GpuMode,
    /// Host ports already published by this cluster's own containers (it is being reused).
    pub ports_held_by_cluster: Vec<u16>,
    /// Ports checked and found free.
    pub ports_free: Vec<u16>,
    /// Things that are not failures but will hurt (each one sentence with numbers and the fix).
    pub warnings: Vec<String>,
}

/// One failed preflight check: a sentence saying what is wrong and how to fix it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Failure {
    #[error(
        "the scenario asks for a real GPU (gpu: real) but Docker has no `nvidia` runtime: install the NVIDIA \
         Container Toolkit, run `sudo nvidia-ctk runtime configure --runtime=docker` and restart Docker, \
         or set `gpu: simulate` in the scenario"
    )]
    NvidiaRuntimeMissing,
    #[error(
        "the scenario asks for a real GPU (gpu: real) but {config} requests no GPUs from Docker: use the GPU \
         cluster config (`neuroscale up --gpu`) or set `options.runtime.gpuRequest: all`"
    )]
    GpuNotRequested { config: String },
    #[error(
        "port {port}/{protocol} on {host_ip} ({field} in {config}) is published by container `{container}`: \
         stop it (`docker stop {container}`) or change {field}"
    )]
    PortPublished {
        port: u16,
        protocol: &'static str,
        host_ip: String,
        field: String,
        config: String,
        container: String,
    },
    #[error(
        "port {port}/{protocol} on {host_ip} ({field} in {config}) is in use by another process: free it \
         (`ss -lntup 'sport = :{port}'` shows which process holds it) or change {field}"
    )]
    PortInUse {
        port: u16,
        protocol: &'static str,
        host_ip: String,
        field: String,
        config: String,
    },
    #[error(
        "port {port}/{protocol} on {host_ip} ({field} in {config}) cannot be bound ({reason}): \
         use an address of this machine and a port you may bind, or change {field}"
    )]
    PortUnavailable {
        port: u16,
        protocol: &'static str,
        host_ip: String,
        field: String,
        config: String,
        reason: String,
    },
}

impl Failure {
    /// The catalogued failure (`docs/failures.md`).
    pub fn code(&self) -> FailureCode {
        match self {
            Failure::NvidiaRuntimeMissing => FailureCode::NvidiaRuntimeMissing,
            Failure::GpuNotRequested { .. } => FailureCode::GpuNotRequested,
            Failure::PortPublished { .. }
            | Failure::PortInUse { .. }
            | Failure::PortUnavailable { .. } => FailureCode::PortNotFree,
        }
    }

    fn class(&self) -> ErrorClass {
        match self {
            Failure::GpuNotRequested { .. } => ErrorClass::BadInput,
            _ => ErrorClass::Environment,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum PreflightError {
    #[error(transparent)]
    Docker(#[from] DockerUnreachable),
    #[error("Docker answered but {what} failed: {source}; check `docker info` and run again")]
    DockerQuery {
        what: &'static str,
        #[source]
        source: bollard::errors::Error,
    },
    #[error("{}", render_failures(.0))]
    Failed(Vec<Failure>),
}

fn render_failures(failures: &[Failure]) -> String {
    match failures {
        [one] => format!("preflight: {one} (code {})", one.code().reference()),
        many => {
            let mut text = format!("preflight found {} problems:", many.len());
            for failure in many {
                text.push_str(&format!(
                    "\n  - {failure} (code {})",
                    failure.code().reference()
                ));
            }
            text
        }
    }
}

impl PreflightError {
    /// Bad input only when every failure is a configuration mistake; an unready machine wins.
    pub fn class(&self) -> ErrorClass {
        match self {
            PreflightError::Failed(failures)
                if !failures.is_empty()
                    && failures.iter().all(|f| f.class() == ErrorClass::BadInput) =>
            {
                ErrorClass::BadInput
            }
            _ => ErrorClass::Environment,
        }
    }
}

/// A host port some container publishes (from `docker ps`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublishedPort {
    pub container: String,
    /// The k3d cluster the container belongs to, if any.
    pub cluster: Option<String>,
    pub host_ip: String,
    pub port: u16,
    pub protocol: Protocol,
}

/// Runs every preflight check against the Docker Engine. Creates nothing.
pub async fn run(input: &PreflightInput<'_>) -> Result<Report, PreflightError> {
    let docker = docker::connect().await?;
    run_with(&docker, input).await
}

/// Preflight with an existing Docker connection.
pub async fn run_with(
    docker: &Docker,
    input: &PreflightInput<'_>,
) -> Result<Report, PreflightError> {
    let assessment = assess(docker, input).await?;
    if !assessment.failures.is_empty() {
        return Err(PreflightError::Failed(assessment.failures));
    }
    Ok(assessment.report)
}

/// Every preflight finding, failures included, for `doctor --pre` (which reports each one
/// rather than stopping at the first); `run_with` turns failures into an error.
#[derive(Debug, Clone)]
pub struct Assessment {
    pub report: Report,
    pub failures: Vec<Failure>,
    /// How many host ports the k3d config publishes (each was checked).
    pub ports_checked: usize,
}

/// Runs every preflight check and keeps the failures beside what was found. Errs only when
/// Docker itself does not answer.
pub async fn assess(
    docker: &Docker,
    input: &PreflightInput<'_>,
) -> Result<Assessment, PreflightError> {
    let info = docker
        .info()
        .await
        .map_err(|source| PreflightError::DockerQuery {
            what: "reading its system info",
            source,
        })?;
    let memory_bytes = info.mem_total.unwrap_or(0).max(0) as u64;
    let cpus = info.ncpu.unwrap_or(0).max(0) as u64;
    let nvidia_runtime = crate::gpu::runtimes_include_nvidia(&info);
    let mut warnings = Vec::new();
    let mut failures = Vec::new();
    // An engine that does not report a figure (0) gets no warning rather than a wrong one.
    if cpus > 0 && cpus < input.cpus {
        warnings.push(format!(
            "Docker has {cpus} CPUs and the platform wants at least {}: installs will be slow and deadlines may pass; give Docker more CPUs (code {})",
            input.cpus,
            FailureCode::MachineTooSmall.reference()
        ));
    }
    if memory_bytes > 0 && memory_bytes < input.memory_bytes {
        warnings.push(format!(
            "Docker has {} of memory and the platform wants at least {}: pods may be evicted or stay Pending; give Docker more memory (code {})",
            gib(memory_bytes),
            gib(input.memory_bytes),
            FailureCode::MachineTooSmall.reference()
        ));
    }
    let config_name = input.config.path.display().to_string();
    let gpu = match input.gpu {
        GpuMode::Real => {
            if !nvidia_runtime {
                failures.push(Failure::NvidiaRuntimeMissing);
            }
            if input.config.gpu_request.is_none() {
                failures.push(Failure::GpuNotRequested {
                    config: config_name.clone(),
                });
            }
            GpuMode::Real
        }
        GpuMode::Auto if nvidia_runtime && input.config.gpu_request.is_some() => GpuMode::Real,
        GpuMode::Auto => {
            if nvidia_runtime {
                warnings.push(format!(
                    "Docker has the NVIDIA runtime but {config_name} requests no GPUs, so the GPU is simulated; use `neuroscale up --gpu` for a real one"
                ));
            }
            GpuMode::Simulate
        }
        other => other,
    };
    let published = published_ports(docker).await?;
    let ports = check_ports(
        &input.config.host_ports,
        &published,
        input.cluster_name,
        &config_name,
    );
    failures.extend(ports.failures);
    if let Some(limits) = InotifyLimits::read() {
        warnings.extend(limits.shortfall());
    }
    let report = Report {
        docker_endpoint: docker::endpoint(),
        docker_version: info.server_version.unwrap_or_default(),
        memory_bytes,
        cpus,
        nvidia_runtime,
        gpu,
        ports_held_by_cluster: ports.held_by_cluster,
        ports_free: ports.free,
        warnings,
    };
    Ok(Assessment {
        report,
        failures,
        ports_checked: input.config.host_ports.len(),
    })
}

/// The host's per-user inotify limits. Every container of every k3d node shares them, and the
/// kernel defaults (128 instances) run out with the platform's pod count: k3s reports it as
/// "too many open files" / "failed to create fsnotify watcher" (k3s-io/k3s#10020). The wanted
/// values are those the kind project documents for Kubernetes nodes in containers (kind "Known
/// Issues": Pod errors due to "too many open files"): 512 instances, 524288 watches.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InotifyLimits {
    pub max_user_instances: u64,
    pub max_user_watches: u64,
}

impl InotifyLimits {
    pub const WANTED_INSTANCES: u64 = 512;
    pub const WANTED_WATCHES: u64 = 524_288;

    /// `/proc/sys/fs/inotify/max_user_{instances,watches}`; `None` where there is no such file
    /// (not Linux: Docker Desktop's VM has its own limits, which this machine cannot read).
    pub fn read() -> Option<InotifyLimits> {
        let read = |name: &str| {
            std::fs::read_to_string(format!("/proc/sys/fs/inotify/{name}"))
                .ok()
                .and_then(|t| t.trim().parse::<u64>().ok())
        };
        Some(InotifyLimits {
            max_user_instances: read("max_user_instances")?,
            max_user_watches: read("max_user_watches")?,
        })
    }

    /// One warning per limit below what the platform wants, with the fix.
    pub fn shortfall(&self) -> Vec<String> {
        let mut warnings = Vec::new();
        for (name, have, want) in [
            (
                "max_user_instances",
                self.max_user_instances,
                Self::WANTED_INSTANCES,
            ),
            (
                "max_user_watches",
                self.max_user_watches,
                Self::WANTED_WATCHES,
            ),
        ] {
            if have < want {
                warnings.push(format!(
                    "fs.inotify.{name} is {have} and the platform wants at least {want}: pods may fail with `too many open files`; run `sudo sysctl fs.inotify.{name}={want}` (code {})",
                    FailureCode::InotifyLimitsLow.reference()
                ));
            }
        }
        warnings
    }
}

fn gib(bytes: u64) -> String {
    format!("{:.1} GiB", bytes as f64 / (1024.0 * 1024.0 * 1024.0))
}

async fn published_ports(docker: &Docker) -> Result<Vec<PublishedPort>, PreflightError> {
    let containers = docker
        .list_containers(Some(ListContainersOptions {
            all: false,
            ..Default::default()
        }))
        .await
        .map_err(|source| PreflightError::DockerQuery {
            what: "listing containers",
            source,
        })?;
    let mut published = Vec::new();
    for container in containers {
        let name = container
            .names
            .as_ref()
            .and_then(|names| names.first())
            .map(|n| n.trim_start_matches('/').to_string())
            .or(container.id.clone())
            .unwrap_or_default();
        let cluster = container
            .labels
            .as_ref()
            .and_then(|labels| labels.get(K3D_CLUSTER_LABEL))
            .filter(|c| !c.is_empty())
            .cloned();
        for port in container.ports.iter().flatten() {
            let Some(public) = port.public_port else {
                continue;
            };
            let protocol = match port.typ {
                Some(bollard::models::PortSummaryTypeEnum::UDP) => Protocol::Udp,
                _ => Protocol::Tcp,
            };
            published.push(PublishedPort {
                container: name.clone(),
                cluster: cluster.clone(),
                host_ip: port.ip.clone().unwrap_or_default(),
                port: public,
                protocol,
            });
        }
    }
    Ok(published)
}

/// The outcome of the port checks.
#[derive(Debug, Default)]
pub struct PortCheck {
    pub failures: Vec<Failure>,
    pub held_by_cluster: Vec<u16>,
    pub free: Vec<u16>,
}

fn is_wildcard(ip: &str) -> bool {
    matches!(ip, "" | "0.0.0.0" | "::" | "[::]")
}

fn protocol_name(protocol: Protocol) -> &'static str {
    match protocol {
        Protocol::Tcp => "tcp",
        Protocol::Udp => "udp",
    }
}

/// Checks each wanted host port against what containers publish, then by binding it.
pub fn check_ports(
    wanted: &[HostPort],
    published: &[PublishedPort],
    cluster: &str,
    config: &str,
) -> PortCheck {
    let mut check = PortCheck::default();
    for want in wanted {
        let protocol = protocol_name(want.protocol);
        let holder = published.iter().find(|p| {
            p.port == want.port
                && p.protocol == want.protocol
                && (p.host_ip == want.host_ip
                    || is_wildcard(&p.host_ip)
                    || is_wildcard(&want.host_ip))
        });
        match holder {
            Some(p) if p.cluster.as_deref() == Some(cluster) => {
                check.held_by_cluster.push(want.port);
            }
            Some(p) => check.failures.push(Failure::PortPublished {
                port: want.port,
                protocol,
                host_ip: want.host_ip.clone(),
                field: want.field.clone(),
                config: config.into(),
                container: p.container.clone(),
            }),
            None => {
                let address = (want.host_ip.as_str(), want.port);
                let bound = match want.protocol {
                    Protocol::Tcp => TcpListener::bind(address).map(drop),
                    Protocol::Udp => UdpSocket::bind(address).map(drop),
                };
                match bound {
                    Ok(()) => check.free.push(want.port),
                    Err(err) if err.kind() == std::io::ErrorKind::AddrInUse => {
                        check.failures.push(Failure::PortInUse {
                            port: want.port,
                            protocol,
                            host_ip: want.host_ip.clone(),
                            field: want.field.clone(),
                            config: config.into(),
                        })
                    }
                    Err(err) => check.failures.push(Failure::PortUnavailable {
                        port: want.port,
                        protocol,
                        host_ip: want.host_ip.clone(),
                        field: want.field.clone(),
                        config: config.into(),
                        reason: err.to_string(),
                    }),
                }
            }
        }
    }
    check
}

#[cfg(test)]
mod tests {
    use super::*;

    fn want(port: u16) -> HostPort {
        HostPort {
            host_ip: "127.0.0.1".into(),
            port,
            protocol: Protocol::Tcp,
            field: "kubeAPI.hostPort".into(),
        }
    }

    fn published(port: u16, container: &str, cluster: Option<&str>) -> PublishedPort {
        PublishedPort {
            container: container.into(),
            cluster: cluster.map(str::to_string),
            host_ip: "0.0.0.0".into(),
            port,
            protocol: Protocol::Tcp,
        }
    }

    fn free_port() -> u16 {
        TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port()
    }

    #[test]
    fn a_port_held_by_this_cluster_is_fine() {
        let port = free_port();
        let check = check_ports(
            &[want(port)],
            &[published(
                port,
                "k3d-neuroscale-serverlb",
                Some("neuroscale"),
            )],
            "neuroscale",
            "k3d/cluster.yaml",
        );
        assert!(check.failures.is_empty(), "{:?}", check.failures);
        assert_eq!(check.held_by_cluster, vec![port]);
    }

    #[test]
    fn a_port_published_by_another_container_names_it() {
        let port = free_port();
        let check = check_ports(
            &[want(port)],
            &[published(port, "k3d-other-serverlb", Some("other"))],
            "neuroscale",
            "k3d/cluster.yaml",
        );
        let text = check.failures[0].to_string();
        assert!(
            text.contains("k3d-other-serverlb")
                && text.contains(&port.to_string())
                && text.contains("kubeAPI.hostPort"),
            "{text}"
        );
    }

    #[test]
    fn a_bound_port_is_in_use_and_a_free_one_is_free() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let taken = listener.local_addr().unwrap().port();
        let free = free_port();
        let check = check_ports(
            &[want(taken), want(free)],
            &[],
            "neuroscale",
            "k3d/cluster.yaml",
        );
        assert_eq!(check.failures.len(), 1, "{:?}", check.failures);
        assert!(matches!(&check.failures[0], Failure::PortInUse { port, .. } if *port == taken));
        assert!(check.failures[0].to_string().contains("ss -lntup"));
        assert_eq!(check.free, vec![free]);
    }

    #[test]
    fn a_gpu_mismatch_alone_is_bad_input_and_anything_else_is_environment() {
        let gpu = Failure::GpuNotRequested {
            config: "k3d/cluster.yaml".into(),
        };
        assert_eq!(
            PreflightError::Failed(vec![gpu.clone()]).class(),
            ErrorClass::BadInput
        );
        assert_eq!(
            PreflightError::Failed(vec![gpu, Failure::NvidiaRuntimeMissing]).class(),
            ErrorClass::Environment
        );
    }

    #[test]
    fn inotify_limits_below_the_wanted_values_warn_with_the_fix() {
        let low = InotifyLimits {
            max_user_instances: 128,
            max_user_watches: 8192,
        };
        let warnings = low.shortfall();
        assert_eq!(warnings.len(), 2, "{warnings:?}");
        assert!(warnings[0].contains("fs.inotify.max_user_instances is 128"));
        assert!(warnings[0].contains("sysctl fs.inotify.max_user_instances=512"));
        assert!(warnings[1].contains("(code NS307 (docs/failures.md#ns307))"));
        let enough = InotifyLimits {
            max_user_instances: 512,
            max_user_watches: 524_288,
        };
        assert!(enough.shortfall().is_empty());
    }

    #[test]
    fn several_failures_are_listed_one_per_line() {
        let text = PreflightError::Failed(vec![
            Failure::NvidiaRuntimeMissing,
            Failure::GpuNotRequested {
                config: "k3d/cluster.yaml".into(),
            },
        ])
        .to_string();
        assert!(text.starts_with("preflight found 2 problems:"), "{text}");
        assert_eq!(text.lines().count(), 3, "{text}");
        assert!(
            text.contains("(code NS305 (docs/failures.md#ns305))")
                && text.contains("(code NS306 (docs/failures.md#ns306))"),
            "{text}"
        );
    }
}
