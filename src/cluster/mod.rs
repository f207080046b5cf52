//! The k3d cluster side of `up` and `down`: the config files (`k3d_config`), the Docker Engine
//! connection (`docker`), preflight (`preflight`), the k3d binary and cluster lifecycle (`k3d`)
//! and the persistent pull-through image cache (`registry`).
//!
//! `up` runs them through `bootstrap::bootstrap`, in this order: `preflight::run`,
//! `K3d::locate_or_fetch`, `registry::ensure_cache` (the cluster config names the cache
//! registries, so they must exist first), `K3d::ensure_cluster`, `K3d::write_kubeconfig`.
//! `down` calls `K3d::delete` and, with `--purge`, `registry::remove_cache`.

pub mod bootstrap;
pub mod docker;
pub mod k3d;
pub mod k3d_config;
pub mod preflight;
pub mod registry;

/// Who can fix a cluster error, which decides the exit code at the CLI top
/// (`BadInput` -> 2, `Environment` -> 3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorClass {
    /// A file or flag the user gave is wrong.
    BadInput,
    /// Docker, a port, a tool or the network is not as the platform needs it.
    Environment,
}
