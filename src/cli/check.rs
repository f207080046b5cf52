//! `neuroscale check`: run the milestone checks and report; the exit code is the verdict.

use std::path::PathBuf;

use clap::Args;

use super::{CliError, Format, GlobalArgs};

#[derive(Debug, Args)]
pub struct CheckArgs {
    /// Run only these checks or milestones (repeatable): an id (B4), a slug (latency-slo) or a milestone letter (D).
    #[arg(long = "only", value_name = "ID|MILESTONE")]
    pub only: Vec<String>,
    /// Skip these checks or milestones (repeatable).
    #[arg(long = "skip", value_name = "ID|MILESTONE")]
    pub skip: Vec<String>,
    /// Output format on stdout.
    #[arg(long, value_enum, default_value = "human")]
    pub format: Format,
    /// Also write the report to this file (format from --format).
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
    /// Write a diagnostics bundle here when any check fails.
    #[arg(long, value_name = "DIR")]
    pub bundle: Option<PathBuf>,
    /// Print the catalogue of checks and exit.
    #[arg(long)]
    pub list: bool,
    /// Allow checks that create or delete objects on a context that is not the harness's k3d cluster.
    #[arg(long, value_name = "CONTEXT")]
    pub allow_context: Option<String>,
}

pub async fn run(_global: &GlobalArgs, args: CheckArgs) -> Result<u8, CliError> {
    if args.list {
        for spec in crate::checks::catalogue::CATALOGUE {
            println!("{:<3} {:<22} {}", spec.id, spec.slug, spec.passes_when);
        }
        return Ok(crate::exit::SUCCESS);
    }
    Err(CliError::NotBuilt {
        command: "check",
        detail:
            "the milestone checks land with issue #6; `neuroscale check --list` shows the catalogue",
    })
}
