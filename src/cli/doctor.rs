//! `neuroscale doctor`: the triage sequence, automated (see `crate::doctor`).
//! Exit 0 when no step failed, 1 when one did, 3 when the cluster is unreachable.

use clap::Args;

use super::{CliError, GlobalArgs, TextFormat};
use crate::connect::{self, Target};

/// How long reading everything the triage looks at may take.
const GATHER_DEADLINE: std::time::Duration = std::time::Duration::from_secs(90);

#[derive(Debug, Args)]
pub struct DoctorArgs {
    /// Output format (no junit: doctor has triage steps, not test cases).
    #[arg(long, value_enum, default_value = "human")]
    pub format: TextFormat,
}

pub async fn run(global: &GlobalArgs, args: DoctorArgs) -> Result<u8, CliError> {
    let target = Target {
        kubeconfig: global.kubeconfig.clone(),
        context: global.context.clone(),
        cluster_name: connect::cluster_name(global.cluster_name.as_deref()),
        allow_context: None,
    };
    let connection = connect::connect(&target)
        .await
        .map_err(|e| CliError::Environment(e.to_string()))?;
    let observations = tokio::time::timeout(
        GATHER_DEADLINE,
        crate::doctor::gather(&connection.client),
    )
    .await
    .map_err(|_| {
        CliError::Environment(format!(
            "the API server at {} (context `{}`) did not answer the triage reads within {}; run `kubectl get nodes` to see whether it responds at all",
            connection.server,
            connection.context,
            humantime::format_duration(GATHER_DEADLINE)
        ))
    })?;
    let steps = crate::doctor::triage(&observations);
    match args.format {
        TextFormat::Json => print!(
            "{}",
            crate::doctor::render_json(&connection.context, &steps)
        ),
        _ => print!(
            "{}",
            crate::doctor::render_human(
                &connection.context,
                &steps,
                crate::report::colour_enabled_for_stdout()
            )
        ),
    }
    Ok(crate::doctor::exit_code(&steps))
}
