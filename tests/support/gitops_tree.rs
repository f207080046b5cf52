//! The GitOps tree `up` writes (`manifests/` with repoURLs rewritten, plus `vendor/`), built the
//! way `up` builds it: the pinned artefacts downloaded through the artefact store from a loopback
//! mirror serving the shared directory's real upstream files, vendored by `install::vendor`, and
//! laid out by `gitops::source::write_tree` (or committed by `GitSource::sync_from`).

use std::path::{Path, PathBuf};

use neuroscale::components;
use neuroscale::gitops::GitSource;
use neuroscale::install::artifacts::{ArtifactRequest, ArtifactStore};
use neuroscale::install::vendor;

/// The URL the cluster reaches the local GitOps source at (`up`'s default, port 9418).
pub const REPO_URL: &str = "git://host.k3d.internal:9418/neuroscale.git";

/// Downloads the pinned artefacts (device plugin included) from the upstream mirror into
/// `dir/cache` and vendors them; returns the `vendor/` folder.
pub async fn vendor(upstream: &Path, dir: &Path) -> PathBuf {
    let (address, mirror) = neuroscale_testkit::mirror::serve(upstream.to_path_buf())
        .await
        .expect("serve the upstream mirror on loopback");
    let http = neuroscale::probe::http_client().expect("an HTTP client");
    let store = ArtifactStore::at(dir.join("cache"), http).with_mirror(format!("http://{address}"));
    let requests = ArtifactRequest::for_components(&components::selected(true));
    let fetched = store
        .fetch_all(&requests)
        .await
        .expect("the pinned artefacts download from the mirror and verify");
    mirror.abort();
    let staging = dir.join("staging");
    vendor::vendor_all(&staging, &fetched).expect("vendor the artefacts");
    staging.join(vendor::VENDOR_DIR)
}

/// Writes the tree into `dir/tree` with every repoURL set to `repo_url`. Returns its root.
pub async fn build(upstream: &Path, dir: &Path, repo_url: &str) -> PathBuf {
    let vendor_dir = vendor(upstream, dir).await;
    let tree = dir.join("tree");
    neuroscale::gitops::source::write_tree(
        &super::project_root().join("manifests"),
        Some(&vendor_dir),
        repo_url,
        &tree,
    )
    .expect("write the GitOps tree");
    tree
}

/// The local GitOps source `up` creates, under `dir/gitops`, holding the project's manifests
/// and the vendored artefacts, every repoURL set to `repo_url`.
pub async fn source(upstream: &Path, dir: &Path, repo_url: &str) -> GitSource {
    let vendor_dir = vendor(upstream, dir).await;
    let source = GitSource::create_or_open(dir.join("gitops")).expect("a bare GitOps repository");
    source
        .sync_from(
            &super::project_root().join("manifests"),
            Some(&vendor_dir),
            repo_url,
        )
        .expect("the GitOps tree committed");
    source
}

/// ArgoCD's install.yaml from the upstream mirror, as the install engine applies it.
pub fn argocd_manifest(upstream: &Path) -> Vec<serde_json::Value> {
    let component = components::find("argocd").expect("argocd is pinned");
    let url = component.artifacts[0].url;
    let path = neuroscale_testkit::mirror::path_for(upstream, url);
    let text = std::fs::read_to_string(&path).expect("install.yaml in the mirror");
    neuroscale::install::apply::parse_manifest(url, &text).expect("install.yaml parses")
}
