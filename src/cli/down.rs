//! `neuroscale down`: delete the k3d cluster, keeping the image cache unless `--purge`.

use clap::Args;

use super::{CliError, GlobalArgs};

#[derive(Debug, Args)]
pub struct DownArgs {
    /// Also delete the image cache registries and downloaded artefacts.
    #[arg(long)]
    pub purge: bool,
}

pub async fn run(_global: &GlobalArgs, _args: DownArgs) -> Result<u8, CliError> {
    Err(CliError::NotBuilt {
        command: "down",
        detail: "cluster deletion lands with issue #3",
    })
}
