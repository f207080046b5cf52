//! `neuroscale doctor`: the triage sequence of seeds/11, automated.

use clap::Args;

use super::{CliError, Format, GlobalArgs};

#[derive(Debug, Args)]
pub struct DoctorArgs {
    /// Output format.
    #[arg(long, value_enum, default_value = "human")]
    pub format: Format,
}

pub async fn run(_global: &GlobalArgs, _args: DoctorArgs) -> Result<u8, CliError> {
    Err(CliError::NotBuilt {
        command: "doctor",
        detail: "the automated triage lands with issue #6",
    })
}
