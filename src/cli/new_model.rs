//! `neuroscale new-model`: the golden path, scaffolding a policy-compliant model endpoint.

use std::path::PathBuf;

use clap::Args;

use super::{CliError, GlobalArgs};

#[derive(Debug, Args)]
pub struct NewModelArgs {
    /// The model name (a DNS-1123 label; it names the folder, the InferenceService and the Application).
    #[arg(required_unless_present = "remove")]
    pub name: Option<String>,
    /// The owning team (kebab-case), the `owner` label.
    #[arg(long, required_unless_present = "remove")]
    pub owner: Option<String>,
    /// The cost center (kebab-case), the `cost-center` label OpenCost aggregates by.
    #[arg(long, required_unless_present = "remove")]
    pub cost_center: Option<String>,
    /// The model format served by the runtime.
    #[arg(long, default_value = "sklearn")]
    pub format: String,
    /// Where the model is stored.
    #[arg(long, value_name = "URI")]
    pub storage_uri: Option<String>,
    /// Request one nvidia.com/gpu and schedule onto the GPU node.
    #[arg(long)]
    pub gpu: bool,
    /// Write the folder under this path instead of committing to the GitOps source.
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// Remove the model NAME from the GitOps source instead.
    #[arg(long, value_name = "NAME", conflicts_with_all = ["name", "owner", "cost_center", "out"])]
    pub remove: Option<String>,
}

pub async fn run(_global: &GlobalArgs, _args: NewModelArgs) -> Result<u8, CliError> {
    Err(CliError::NotBuilt {
        command: "new-model",
        detail: "the golden path lands with issue #4",
    })
}
