//! The cluster half of `neuroscale up` in one call, in the only order that works: preflight
//! (creates nothing, so a failure leaves nothing behind), the k3d binary, the image cache (the
//! cluster config names its registries, and k3d refuses a config whose registries do not
//! exist), the cluster, and neuroscale's own kubeconfig for it. Each phase is announced to the
//! caller (for progress lines) and timed (for the JSON report).

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde::Serialize;

use super::k3d::{self, ClusterState, K3d, K3dError};
use super::k3d_config::K3dConfig;
use super::preflight::{self, PreflightError, PreflightInput, Report};
use super::registry::{self, CacheAction, CacheRegistry, RegistryError};
use super::ErrorClass;
use crate::scenario::GpuMode;

/// A step of the cluster bootstrap.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Phase {
    Preflight,
    K3dBinary,
    ImageCache,
    Cluster,
    Kubeconfig,
}

impl Phase {
    /// The phase's name in reports, as serde writes it.
    pub fn as_str(self) -> &'static str {
        match self {
            Phase::Preflight => "preflight",
            Phase::K3dBinary => "k3d-binary",
            Phase::ImageCache => "image-cache",
            Phase::Cluster => "cluster",
            Phase::Kubeconfig => "kubeconfig",
        }
    }
}

impl std::fmt::Display for Phase {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How long a phase took.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PhaseTiming {
    pub phase: Phase,
    pub elapsed: Duration,
}

#[derive(Debug, Clone)]
pub struct BootstrapInput<'a> {
    pub config: &'a K3dConfig,
    /// The cluster name (the config's, unless overridden on the command line).
    pub cluster_name: &'a str,
    /// The scenario's GPU mode; the report carries `auto` resolved.
    pub gpu: GpuMode,
    /// `crate::cache::cache_dir()` in the product.
    pub cache_dir: &'a Path,
    /// Use this k3d instead of locating or fetching one (a stand-in in tests).
    pub k3d: Option<K3d>,
}

/// The cluster, ready for the install engine.
#[derive(Debug, Clone)]
pub struct ClusterReady {
    pub preflight: Report,
    pub k3d: K3d,
    pub cache: Vec<(CacheRegistry, CacheAction)>,
    pub state: ClusterState,
    /// neuroscale's kubeconfig for the cluster (mode 0600).
    pub kubeconfig: PathBuf,
    /// The context in it, `k3d-<cluster>`.
    pub context: String,
    pub timings: Vec<PhaseTiming>,
}

#[derive(Debug, thiserror::Error)]
pub enum BootstrapError {
    #[error(transparent)]
    Preflight(#[from] PreflightError),
    #[error(transparent)]
    K3d(#[from] K3dError),
    #[error(transparent)]
    Registry(#[from] RegistryError),
}

impl BootstrapError {
    pub fn class(&self) -> ErrorClass {
        match self {
            BootstrapError::Preflight(err) => err.class(),
            BootstrapError::K3d(err) => err.class(),
            BootstrapError::Registry(err) => err.class(),
        }
    }
}

/// Brings the cluster up (or reuses it), announcing each phase to `on_phase` as it starts.
pub async fn bootstrap(
    input: BootstrapInput<'_>,
    mut on_phase: impl FnMut(Phase),
) -> Result<ClusterReady, BootstrapError> {
    let mut timings = Vec::new();
    let mut started = |phase: Phase, timings: &mut Vec<PhaseTiming>, since: &mut Instant| {
        if let Some(last) = timings.last_mut() {
            last.elapsed = since.elapsed();
        }
        *since = Instant::now();
        timings.push(PhaseTiming {
            phase,
            elapsed: Duration::ZERO,
        });
        on_phase(phase);
    };
    let mut since = Instant::now();

    started(Phase::Preflight, &mut timings, &mut since);
    let preflight_input = PreflightInput::new(input.config, input.cluster_name, input.gpu);
    let preflight = preflight::run(&preflight_input).await?;

    started(Phase::K3dBinary, &mut timings, &mut since);
    let k3d = match input.k3d {
        Some(k3d) => k3d,
        None => K3d::locate_or_fetch(input.cache_dir).await?,
    };

    started(Phase::ImageCache, &mut timings, &mut since);
    let cache = registry::ensure_cache(&k3d, input.config).await?;

    started(Phase::Cluster, &mut timings, &mut since);
    let state = k3d.ensure_cluster(input.config, input.cluster_name).await?;

    started(Phase::Kubeconfig, &mut timings, &mut since);
    let kubeconfig = k3d::kubeconfig_path(input.cache_dir, input.cluster_name);
    k3d.write_kubeconfig(input.cluster_name, &kubeconfig)
        .await?;
    if let Some(last) = timings.last_mut() {
        last.elapsed = since.elapsed();
    }

    Ok(ClusterReady {
        preflight,
        k3d,
        cache,
        state,
        kubeconfig,
        context: format!("k3d-{}", input.cluster_name),
        timings,
    })
}
