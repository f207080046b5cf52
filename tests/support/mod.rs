//! Test support shared by the integration tests: where the shared directory (upstream schemas,
//! the pinned upstream artefacts) lives, the peer-missing rule (skip with the reason, fail under
//! `NEUROSCALE_REQUIRE_PEERS=1`), the upstream schemas, and the GitOps tree `up` writes, built
//! from the real pinned artefacts.
#![allow(dead_code)]

pub mod gitops_tree;
pub mod platform;
pub mod reports;
pub mod schemas;

use std::path::PathBuf;

pub fn project_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// `$NEUROSCALE_SHARED_DIR`, else `shared/` next to or above the project root.
pub fn shared_dir() -> Option<PathBuf> {
    if let Some(dir) = std::env::var_os("NEUROSCALE_SHARED_DIR").filter(|v| !v.is_empty()) {
        return Some(PathBuf::from(dir));
    }
    let root = project_root();
    [
        root.join("shared"),
        root.join("../shared"),
        root.join("../../shared"),
    ]
    .into_iter()
    .find(|dir| dir.join("schemas/index.json").is_file() || dir.join("upstream").is_dir())
}

/// Whether peers are required (`.ci/run` sets it): a missing peer is then a failure.
pub fn peers_required() -> bool {
    std::env::var("NEUROSCALE_REQUIRE_PEERS").as_deref() == Ok("1")
}

/// Reports a missing peer: panics when peers are required, else prints the skip reason and
/// returns true (so `if missing && peer_missing(..) { return; }` reads naturally).
pub fn peer_missing(reason: &str) -> bool {
    assert!(
        !peers_required(),
        "{reason} (required: NEUROSCALE_REQUIRE_PEERS=1)"
    );
    println!("skipped: {reason}");
    true
}

/// The pinned upstream artefacts as a mirror tree (`<host>/<path>`), or None after saying why.
pub fn upstream_or_skip() -> Option<PathBuf> {
    match shared_dir()
        .map(|d| d.join("upstream"))
        .filter(|d| d.is_dir())
    {
        Some(dir) => Some(dir),
        None => {
            peer_missing(
                "no shared/upstream (the pinned release artefacts); set NEUROSCALE_SHARED_DIR",
            );
            None
        }
    }
}

/// The real renderers (kubectl kustomize, Helm's Go SDK), or None after saying why.
pub fn renderers_or_skip() -> Option<neuroscale_testkit::render::Renderers> {
    match neuroscale_testkit::render::Renderers::detect() {
        Ok(renderers) => Some(renderers),
        Err(reason) => {
            peer_missing(&reason);
            None
        }
    }
}
