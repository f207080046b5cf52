//! `doctor --pre`: before `up`, everything on this machine that would stop it, each as a finding
//! with its code. The checks are preflight's own (`cluster::preflight::assess`: Docker, CPUs and
//! memory, the GPU runtime, host ports, inotify limits) plus two `up` only meets later: an
//! existing cluster of this name built from another k3s image (which `up` would refuse), and
//! the architecture of the pinned k3s image where this machine can tell it offline. Nothing is
//! created, pulled or downloaded.

use std::path::Path;

use bollard::Docker;

use super::{step, Step, StepVerdict};
use crate::cluster::docker;
use crate::cluster::k3d::{self, K3d};
use crate::cluster::k3d_config::K3dConfig;
use crate::cluster::preflight::{self, Assessment, Failure, InotifyLimits, PreflightInput};
use crate::failures::FailureCode;
use crate::scenario::GpuMode;

/// What `doctor --pre` looks at.
pub struct PreInput<'a> {
    pub config: &'a K3dConfig,
    pub cluster_name: &'a str,
    pub gpu: GpuMode,
    pub cache_dir: &'a Path,
}

const DOCKER: &str = "Docker is reachable";
const RESOURCES: &str = "CPUs and memory";
const GPU: &str = "GPU runtime";
const PORTS: &str = "host ports are free";
const INOTIFY: &str = "inotify limits";
const CLUSTER: &str = "existing cluster";
const ARCHITECTURE: &str = "image architecture";

/// Every finding, in the order `up` would meet them. Without Docker the rest cannot be read
/// and is skipped, as the triage skips everything above broken nodes.
pub async fn findings(input: &PreInput<'_>) -> Vec<Step> {
    let docker = match docker::connect().await {
        Ok(docker) => docker,
        Err(unreachable) => {
            let mut steps = vec![step(
                1,
                DOCKER,
                StepVerdict::Fail,
                vec![unreachable.to_string()],
                "docker info",
            )
            .with_code(Some(FailureCode::DockerUnreachable))];
            for (number, title) in [
                (2, RESOURCES),
                (3, GPU),
                (4, PORTS),
                (6, CLUSTER),
                (7, ARCHITECTURE),
            ] {
                steps.push(step(
                    number,
                    title,
                    StepVerdict::Skip,
                    vec!["not checked: Docker is not reachable (finding 1)".into()],
                    "docker info",
                ));
            }
            steps.insert(4, inotify_step(InotifyLimits::read()));
            return steps;
        }
    };
    let preflight_input = PreflightInput::new(input.config, input.cluster_name, input.gpu);
    let assessment = match preflight::assess(&docker, &preflight_input).await {
        Ok(a) => a,
        Err(e) => {
            return vec![step(
                1,
                DOCKER,
                StepVerdict::Fail,
                vec![e.to_string()],
                "docker info",
            )
            .with_code(Some(FailureCode::DockerUnreachable))]
        }
    };
    let mut steps = assessment_steps(&assessment, &preflight_input);
    steps.push(inotify_step(InotifyLimits::read()));
    steps.push(cluster_step(input).await);
    steps.push(architecture_step(&docker, &input.config.image).await);
    steps
}

/// Findings 1–4 from preflight's assessment.
pub fn assessment_steps(assessment: &Assessment, input: &PreflightInput<'_>) -> Vec<Step> {
    let report = &assessment.report;
    let mut steps = vec![step(
        1,
        DOCKER,
        StepVerdict::Ok,
        vec![format!(
            "Docker {} at {}",
            report.docker_version, report.docker_endpoint
        )],
        "docker info",
    )];
    let gib = |bytes: u64| format!("{:.1} GiB", bytes as f64 / (1024.0 * 1024.0 * 1024.0));
    let small = (report.cpus > 0 && report.cpus < input.cpus)
        || (report.memory_bytes > 0 && report.memory_bytes < input.memory_bytes);
    steps.push(
        step(
            2,
            RESOURCES,
            if small {
                StepVerdict::Warn
            } else {
                StepVerdict::Ok
            },
            vec![format!(
                "Docker has {} CPUs and {}; the platform wants {} CPUs and {}",
                report.cpus,
                gib(report.memory_bytes),
                input.cpus,
                gib(input.memory_bytes)
            )],
            "docker info --format '{{.NCPU}} CPUs, {{.MemTotal}} bytes'",
        )
        .with_code(small.then_some(FailureCode::MachineTooSmall)),
    );
    let gpu_failures: Vec<&Failure> = assessment
        .failures
        .iter()
        .filter(|f| {
            matches!(
                f,
                Failure::NvidiaRuntimeMissing | Failure::GpuNotRequested { .. }
            )
        })
        .collect();
    steps.push(match gpu_failures.first() {
        None => step(
            3,
            GPU,
            StepVerdict::Ok,
            vec![format!(
                "GPU mode {} (NVIDIA runtime {})",
                format!("{:?}", report.gpu).to_lowercase(),
                if report.nvidia_runtime {
                    "present"
                } else {
                    "absent"
                }
            )],
            "docker info --format '{{.Runtimes}}'",
        ),
        Some(first) => step(
            3,
            GPU,
            StepVerdict::Fail,
            gpu_failures.iter().map(|f| f.to_string()).collect(),
            "docker info --format '{{.Runtimes}}'",
        )
        .with_code(Some(first.code())),
    });
    let port_failures: Vec<String> = assessment
        .failures
        .iter()
        .filter(|f| f.code() == FailureCode::PortNotFree)
        .map(|f| f.to_string())
        .collect();
    steps.push(if port_failures.is_empty() {
        let mut observed = vec![format!(
            "{} host port(s) checked: free {:?}",
            assessment.ports_checked, report.ports_free
        )];
        if !report.ports_held_by_cluster.is_empty() {
            observed.push(format!(
                "held by this cluster's own containers (it will be reused): {:?}",
                report.ports_held_by_cluster
            ));
        }
        step(
            4,
            PORTS,
            StepVerdict::Ok,
            observed,
            "docker ps --format '{{.Names}} {{.Ports}}'",
        )
    } else {
        step(
            4,
            PORTS,
            StepVerdict::Fail,
            port_failures,
            "docker ps --format '{{.Names}} {{.Ports}}'",
        )
        .with_code(Some(FailureCode::PortNotFree))
    });
    steps
}

/// Finding 5: the host's inotify limits, or "not checked" where they cannot be read.
pub fn inotify_step(limits: Option<InotifyLimits>) -> Step {
    let next = "sysctl fs.inotify.max_user_instances fs.inotify.max_user_watches";
    let Some(limits) = limits else {
        return step(
            5,
            INOTIFY,
            StepVerdict::Skip,
            vec!["not checked: /proc/sys/fs/inotify is not readable on this machine (Docker Desktop's VM keeps its own limits)".into()],
            next,
        );
    };
    let observed = vec![format!(
        "max_user_instances {} (wanted ≥ {}), max_user_watches {} (wanted ≥ {})",
        limits.max_user_instances,
        InotifyLimits::WANTED_INSTANCES,
        limits.max_user_watches,
        InotifyLimits::WANTED_WATCHES
    )];
    if limits.shortfall().is_empty() {
        return step(5, INOTIFY, StepVerdict::Ok, observed, next);
    }
    step(
        5,
        INOTIFY,
        StepVerdict::Warn,
        observed,
        format!(
            "sudo sysctl fs.inotify.max_user_instances={} fs.inotify.max_user_watches={}",
            InotifyLimits::WANTED_INSTANCES.max(limits.max_user_instances),
            InotifyLimits::WANTED_WATCHES.max(limits.max_user_watches)
        ),
    )
    .with_code(Some(FailureCode::InotifyLimitsLow))
}

/// Finding 6: a cluster of this name that `up` would reuse, checked against the config the way
/// `up` checks it.
async fn cluster_step(input: &PreInput<'_>) -> Step {
    let Some(k3d) = K3d::locate(input.cache_dir) else {
        return step(
            6,
            CLUSTER,
            StepVerdict::Skip,
            vec!["not checked: no k3d on PATH or in the cache yet (`up` fetches the pinned release); no cluster k3d made can be listed without it".into()],
            "k3d cluster list",
        );
    };
    match k3d.cluster(input.cluster_name).await {
        Ok(existing) => cluster_verdict(input.config, input.cluster_name, existing.as_ref()),
        Err(e) => step(
            6,
            CLUSTER,
            StepVerdict::Skip,
            vec![format!("not checked: listing k3d clusters failed: {e}")],
            "k3d cluster list",
        ),
    }
}

/// Finding 6's verdict over what k3d listed.
pub fn cluster_verdict(
    config: &K3dConfig,
    name: &str,
    existing: Option<&k3d::ClusterInfo>,
) -> Step {
    let Some(existing) = existing else {
        return step(
            6,
            CLUSTER,
            StepVerdict::Ok,
            vec![format!(
                "no cluster `{name}` yet: `up` creates it from {}",
                config.image
            )],
            "k3d cluster list",
        );
    };
    match k3d::check_matches(config, existing) {
        Ok(()) => step(
            6,
            CLUSTER,
            StepVerdict::Ok,
            vec![format!(
                "cluster `{name}` exists with {} and {} agent(s): `up` reuses it",
                config.image, existing.agents
            )],
            "k3d cluster list",
        ),
        Err(mismatch) => step(
            6,
            CLUSTER,
            StepVerdict::Fail,
            vec![mismatch.to_string()],
            "neuroscale down",
        )
        .with_code(Some(FailureCode::ClusterVersionMismatch)),
    }
}

/// Docker's name for this machine's architecture (Go's GOARCH, as image manifests use it).
pub fn docker_architecture(rust_arch: &str) -> &str {
    match rust_arch {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        "arm" => "arm",
        other => other,
    }
}

/// Finding 7: the pinned k3s image's architecture when Docker already holds it. An image not
/// pulled yet is "not checked", never "fine": its manifest list is not available offline.
async fn architecture_step(docker: &Docker, image: &str) -> Step {
    let found = docker
        .inspect_image(image)
        .await
        .ok()
        .and_then(|i| i.architecture);
    architecture_verdict(
        image,
        found.as_deref(),
        docker_architecture(std::env::consts::ARCH),
    )
}

pub fn architecture_verdict(image: &str, found: Option<&str>, host: &str) -> Step {
    let next = format!("docker image inspect {image} --format '{{{{.Os}}}}/{{{{.Architecture}}}}'");
    let others = "the images inside the vendored manifests: not checked (their architectures are not available offline)".to_string();
    match found {
        None => step(
            7,
            ARCHITECTURE,
            StepVerdict::Skip,
            vec![
                format!("{image}: not checked (not pulled yet; its manifest list is not available offline)"),
                others,
            ],
            next,
        ),
        Some(arch) if arch == host => step(
            7,
            ARCHITECTURE,
            StepVerdict::Ok,
            vec![format!("{image}: {arch}, as this machine"), others],
            next,
        ),
        Some(arch) => step(
            7,
            ARCHITECTURE,
            StepVerdict::Fail,
            vec![
                format!("{image} is {arch} and this machine is {host}: its containers fail with `exec format error`"),
                others,
            ],
            next,
        )
        .with_code(Some(FailureCode::ImageArchitecture)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;

    fn config() -> K3dConfig {
        crate::cluster::k3d_config::ConfigSource::BuiltIn { gpu: false }
            .load()
            .unwrap()
    }

    fn cluster(image: &str, agents: u32) -> k3d::ClusterInfo {
        k3d::ClusterInfo {
            name: "neuroscale".into(),
            servers: 1,
            servers_running: 1,
            agents,
            agents_running: agents,
            node_images: BTreeSet::from([image.to_string()]),
        }
    }

    #[test]
    fn a_cluster_of_another_k3s_image_is_named_with_the_fix() {
        let config = config();
        let other = cluster("rancher/k3s:v1.31.4-k3s1", config.agents as u32);
        let finding = cluster_verdict(&config, "neuroscale", Some(&other));
        assert_eq!(finding.verdict, StepVerdict::Fail);
        assert_eq!(finding.code, Some(FailureCode::ClusterVersionMismatch));
        assert!(finding.observed[0].contains("v1.31.4-k3s1"), "{finding:?}");
        assert_eq!(finding.next_command, "neuroscale down");
        let same = cluster(&config.image, config.agents as u32);
        assert_eq!(
            cluster_verdict(&config, "neuroscale", Some(&same)).verdict,
            StepVerdict::Ok
        );
        assert_eq!(
            cluster_verdict(&config, "neuroscale", None).verdict,
            StepVerdict::Ok
        );
    }

    #[test]
    fn an_image_this_machine_cannot_see_is_not_checked_rather_than_fine() {
        let unseen = architecture_verdict("rancher/k3s:v1", None, "amd64");
        assert_eq!(unseen.verdict, StepVerdict::Skip);
        assert!(unseen.observed[0].contains("not checked"));
        let foreign = architecture_verdict("rancher/k3s:v1", Some("arm64"), "amd64");
        assert_eq!(foreign.verdict, StepVerdict::Fail);
        assert_eq!(foreign.code, Some(FailureCode::ImageArchitecture));
        let native = architecture_verdict("rancher/k3s:v1", Some("amd64"), "amd64");
        assert_eq!(native.verdict, StepVerdict::Ok);
        assert_eq!(docker_architecture("x86_64"), "amd64");
        assert_eq!(docker_architecture("aarch64"), "arm64");
    }

    #[test]
    fn inotify_findings_warn_below_the_wanted_limits_and_skip_when_unreadable() {
        let low = inotify_step(Some(InotifyLimits {
            max_user_instances: 128,
            max_user_watches: 1_000_000,
        }));
        assert_eq!(low.verdict, StepVerdict::Warn);
        assert_eq!(low.code, Some(FailureCode::InotifyLimitsLow));
        assert!(
            low.next_command
                .contains("fs.inotify.max_user_instances=512 fs.inotify.max_user_watches=1000000"),
            "{low:?}"
        );
        assert_eq!(inotify_step(None).verdict, StepVerdict::Skip);
        let fine = inotify_step(Some(InotifyLimits {
            max_user_instances: 8192,
            max_user_watches: 1_000_000,
        }));
        assert_eq!(fine.verdict, StepVerdict::Ok);
        assert_eq!(fine.code, None);
    }
}
