//! `neuroscale down`: delete the k3d cluster, keeping the image cache unless `--purge`.
//!
//! Also home of the mapping from the cluster module's errors to exit codes (bad input 2,
//! environment 3), which `up` shares through `?`.

use std::path::{Path, PathBuf};

use clap::Args;

use super::{CliError, GlobalArgs};
use crate::cache;
use crate::cluster::bootstrap::BootstrapError;
use crate::cluster::docker::{self, DockerUnreachable};
use crate::cluster::k3d::{self, Deleted, K3d, K3dError};
use crate::cluster::k3d_config::ConfigSource;
use crate::cluster::preflight::PreflightError;
use crate::cluster::registry::{self, RegistryError, Removal};
use crate::cluster::ErrorClass;
use crate::components::K3D_VERSION;
use crate::exit;

#[derive(Debug, Args)]
pub struct DownArgs {
    /// The k3d cluster config naming the cluster and its image cache registries (default: the
    /// built-in k3d/cluster.yaml).
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// The cluster `up --gpu` created (the built-in k3d/gpu.yaml).
    #[arg(long, conflicts_with = "config")]
    pub gpu: bool,
    /// Also delete the image cache registries with their volumes, and the downloaded k3d binary.
    #[arg(long)]
    pub purge: bool,
}

/// The error and its causes in one message (CliError's Usage and Environment carry text only).
fn with_causes(err: &(dyn std::error::Error + 'static)) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        text.push_str(&format!("\n  caused by: {cause}"));
        source = cause.source();
    }
    text
}

fn classified(class: ErrorClass, err: &(dyn std::error::Error + 'static)) -> CliError {
    match class {
        ErrorClass::BadInput => CliError::Usage(with_causes(err)),
        ErrorClass::Environment => CliError::Environment(with_causes(err)),
    }
}

impl From<K3dError> for CliError {
    fn from(err: K3dError) -> Self {
        classified(err.class(), &err)
    }
}

impl From<RegistryError> for CliError {
    fn from(err: RegistryError) -> Self {
        classified(err.class(), &err)
    }
}

impl From<PreflightError> for CliError {
    fn from(err: PreflightError) -> Self {
        classified(err.class(), &err)
    }
}

impl From<BootstrapError> for CliError {
    fn from(err: BootstrapError) -> Self {
        classified(err.class(), &err)
    }
}

impl From<DockerUnreachable> for CliError {
    fn from(err: DockerUnreachable) -> Self {
        classified(ErrorClass::Environment, &err)
    }
}

pub async fn run(global: &GlobalArgs, args: DownArgs) -> Result<u8, CliError> {
    let config = ConfigSource::from_flags(args.config, args.gpu).load()?;
    let name = global.cluster_name.as_deref().unwrap_or(&config.name);
    let say = |line: String| {
        if !global.quiet {
            println!("{line}");
        }
    };
    let cache = cache::cache_dir();
    // Docker first: k3d's own message for an unreachable daemon does not say what to do.
    let docker = docker::connect().await?;
    let k3d = match K3d::locate_or_fetch(&cache).await {
        Ok(k3d) => k3d,
        Err(err) => {
            // Without k3d nothing can be deleted, but when Docker holds nothing of neuroscale's
            // there is nothing to delete either, and that is not an error.
            let cache_registries: Vec<String> = registry::plan(&config)?
                .into_iter()
                .map(|r| r.container)
                .collect();
            if k3d_containers(&docker, name, &cache_registries)
                .await?
                .is_empty()
            {
                say(format!(
                    "no cluster `{name}` and no image cache: nothing to delete"
                ));
                return Ok(exit::SUCCESS);
            }
            return Err(err.into());
        }
    };

    match k3d.delete(name).await? {
        Deleted::Deleted => say(format!("deleted cluster `{name}`")),
        Deleted::Absent => say(format!("no cluster `{name}`: nothing to delete")),
    }
    let kubeconfig = k3d::kubeconfig_path(&cache, name);
    remove_file_if_present(&kubeconfig)?;
    stop_gitops_daemon(&say);

    if !args.purge {
        let kept: Vec<String> = registry::plan(&config)?
            .into_iter()
            .map(|r| r.container)
            .collect();
        if !kept.is_empty() {
            say(format!(
                "kept the image cache ({}); `neuroscale down --purge` removes it",
                kept.join(", ")
            ));
        }
        return Ok(exit::SUCCESS);
    }

    for (registry, removal) in registry::remove_cache(&k3d, &docker, &config).await? {
        match removal {
            Removal::Removed => say(format!(
                "removed image cache `{}` and its volume `{}`",
                registry.container, registry.volume
            )),
            Removal::Absent => say(format!("no image cache `{}`", registry.container)),
        }
    }
    let cached = K3d::cached_binary(&cache, K3D_VERSION);
    if remove_file_if_present(&cached)? {
        remove_file_if_present(&cached.with_extension("sha256"))?;
        say(format!("removed the downloaded k3d {}", cached.display()));
    }
    Ok(exit::SUCCESS)
}

/// With the cluster gone nothing syncs from the local GitOps source, so its `git daemon` (which
/// `up` leaves running) stops too. The repository itself stays: it holds the models `new-model`
/// committed, and the next `up` serves it again.
fn stop_gitops_daemon(say: &impl Fn(String)) {
    let Ok(source) = crate::gitops::GitSource::open(crate::gitops::GitSource::default_dir()) else {
        return;
    };
    if !source.is_serving() {
        return;
    }
    match source.stop_serving() {
        Ok(()) => say("stopped serving the local GitOps source (the repository is kept)".into()),
        Err(err) => say(format!(
            "could not stop the local GitOps source's git daemon: {err}"
        )),
    }
}

/// The names of k3d containers (label `app=k3d`, k3d pkg/types/types.go DefaultRuntimeLabels)
/// that belong to cluster `name` or are one of its cache registries, running or not.
async fn k3d_containers(
    docker: &bollard::Docker,
    name: &str,
    cache_registries: &[String],
) -> Result<Vec<String>, CliError> {
    let options = bollard::query_parameters::ListContainersOptions {
        all: true,
        filters: Some(std::collections::HashMap::from([(
            "label".to_string(),
            vec!["app=k3d".to_string()],
        )])),
        ..Default::default()
    };
    let containers = docker.list_containers(Some(options)).await.map_err(|err| {
        CliError::Environment(format!(
            "Docker answered but listing containers failed: {err}"
        ))
    })?;
    Ok(containers
        .into_iter()
        .filter_map(|c| {
            let container = c.names?.first()?.trim_start_matches('/').to_string();
            let cluster = c
                .labels
                .as_ref()
                .and_then(|l| l.get("k3d.cluster"))
                .map(String::as_str);
            (cluster == Some(name) || cache_registries.contains(&container)).then_some(container)
        })
        .collect())
}

fn remove_file_if_present(path: &Path) -> Result<bool, CliError> {
    match std::fs::remove_file(path) {
        Ok(()) => Ok(true),
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => Ok(false),
        Err(err) => Err(CliError::Environment(format!(
            "cannot remove {}: {err}",
            path.display()
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cluster_errors_map_to_their_exit_codes() {
        let bad = RegistryError::BadEntry {
            config: "k3d/x.yaml".into(),
            entry: "myregistry:5000".into(),
            problem: "is not k3d-managed".into(),
        };
        assert_eq!(CliError::from(bad).exit_code(), exit::USAGE);
        let env = K3dError::Command {
            command: "cluster list -o json".into(),
            status: "exit status: 1".into(),
            stderr: "Cannot connect to the Docker daemon".into(),
        };
        assert_eq!(CliError::from(env).exit_code(), exit::ENVIRONMENT);
    }

    #[test]
    fn a_missing_explicit_config_is_bad_input() {
        let err = CliError::from(
            ConfigSource::from_flags(Some("does/not/exist.yaml".into()), false)
                .load()
                .unwrap_err(),
        );
        assert_eq!(err.exit_code(), exit::USAGE);
        assert!(err.to_string().contains("does/not/exist.yaml"), "{err}");
    }
}
