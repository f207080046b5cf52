//! `neuroscale vendor --out DIR --repo-url URL`: writes the GitOps tree `up` would commit —
//! the manifests tree (built in, or `--manifests DIR`) with every repoURL set to the user's repository, plus `vendor/`
//! with the pinned, checksum-verified upstream artefacts — for platform teams whose ArgoCD syncs
//! a repository of their own (`up --repo-url URL` then points the root Application at it).

use std::path::{Path, PathBuf};

use clap::Args;

use super::{CliError, GlobalArgs};
use crate::components;
use crate::exit;
use crate::install::artifacts::{ArtifactRequest, ArtifactStore};
use crate::install::{refuse_credentials_in_url, vendor};

#[derive(Debug, Args)]
pub struct VendorArgs {
    /// The directory to write (it must not exist yet, or be empty).
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,
    /// The repository ArgoCD will sync: every repoURL in the manifests points at it.
    #[arg(long, value_name = "URL")]
    pub repo_url: String,
    /// Leave out the NVIDIA device plugin (only installed with a real GPU).
    #[arg(long)]
    pub no_gpu: bool,
    /// The folder holding the manifests tree to write (default: the tree built into the binary).
    #[arg(long, value_name = "DIR")]
    pub manifests: Option<PathBuf>,
}

fn is_empty_or_missing(dir: &Path) -> bool {
    match std::fs::read_dir(dir) {
        Ok(mut entries) => entries.next().is_none(),
        Err(e) => e.kind() == std::io::ErrorKind::NotFound,
    }
}

pub async fn run(global: &GlobalArgs, args: VendorArgs) -> Result<u8, CliError> {
    refuse_credentials_in_url(&args.repo_url)?;
    if !is_empty_or_missing(&args.out) {
        return Err(CliError::Usage(format!(
            "{} exists and is not empty: `vendor` never overwrites files; pass a new directory",
            args.out.display()
        )));
    }
    let manifests = match &args.manifests {
        Some(dir) if !dir.join("root.yaml").is_file() => {
            return Err(CliError::Usage(format!(
                "{} has no root.yaml: --manifests must name the folder holding the manifests \
                 tree (or leave it out to use the built-in one)",
                dir.display()
            )));
        }
        Some(dir) => dir.clone(),
        None => crate::bundled::manifests_dir(&crate::cache::cache_dir())
            .map_err(|e| CliError::Environment(crate::install::engine::error_chain(&e)))?,
    };
    let http = crate::probe::http_client().map_err(CliError::failed)?;
    let store = ArtifactStore::in_cache(http);
    let selected = components::selected(!args.no_gpu);
    let fetched = store
        .fetch_all(&ArtifactRequest::for_components(&selected))
        .await
        .map_err(CliError::failed)?;
    let staging = tempfile::tempdir().map_err(CliError::failed)?;
    vendor::vendor_all(staging.path(), &fetched).map_err(CliError::failed)?;
    crate::gitops::source::write_tree(
        &manifests,
        Some(&staging.path().join(vendor::VENDOR_DIR)),
        &args.repo_url,
        &args.out,
    )
    .map_err(|e| CliError::Write {
        path: args.out.clone(),
        source: std::io::Error::other(e.to_string()),
    })?;
    if !global.quiet {
        println!(
            "wrote {} (manifests/ and vendor/: {} pinned files, verified against {})",
            args.out.display(),
            fetched.len(),
            store.lock_path().display()
        );
        println!(
            "next: commit and push it to {}, then `neuroscale up --repo-url {}`",
            args.repo_url, args.repo_url
        );
    }
    Ok(exit::SUCCESS)
}
