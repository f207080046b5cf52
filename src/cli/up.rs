//! `neuroscale up`: preflight, k3d cluster, image cache, and the dependency-ordered install.

use std::path::PathBuf;

use clap::Args;

use super::{CliError, Format, GlobalArgs};

#[derive(Debug, Args)]
pub struct UpArgs {
    /// The k3d cluster config.
    #[arg(long, value_name = "FILE", default_value = "k3d/cluster.yaml")]
    pub config: PathBuf,
    /// Sync the platform from this git repository instead of the local GitOps source.
    #[arg(long, value_name = "URL")]
    pub repo_url: Option<String>,
    /// The revision of --repo-url to sync.
    #[arg(
        long,
        value_name = "REV",
        requires = "repo_url",
        default_value = "HEAD"
    )]
    pub revision: String,
    /// Output format (json: per-phase timings).
    #[arg(long, value_enum, default_value = "human")]
    pub format: Format,
}

pub async fn run(_global: &GlobalArgs, _args: UpArgs) -> Result<u8, CliError> {
    Err(CliError::NotBuilt {
        command: "up",
        detail: "the cluster bootstrap and install engine land with issue #3; `neuroscale plan` shows what it will install",
    })
}
