//! The GitOps tree `up` writes (`manifests/` with repoURLs rewritten, plus `vendor/`), built the
//! way `up` builds it: the pinned artefacts downloaded through the artefact store from a loopback
//! mirror serving the shared directory's real upstream files, vendored by `install::vendor`, and
//! laid out by `gitops::source::write_tree`.

use std::path::{Path, PathBuf};

use neuroscale::components;
use neuroscale::install::artifacts::{ArtifactRequest, ArtifactStore};
use neuroscale::install::vendor;

/// Writes the tree into `dir/tree` (artefact cache in `dir/cache`) with every repoURL set to
/// `repo_url`, the device plugin included. Returns the tree's root.
pub async fn build(upstream: &Path, dir: &Path, repo_url: &str) -> PathBuf {
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
    let tree = dir.join("tree");
    neuroscale::gitops::source::write_tree(
        &super::project_root(),
        Some(&staging.join(vendor::VENDOR_DIR)),
        repo_url,
        &tree,
    )
    .expect("write the GitOps tree");
    tree
}
