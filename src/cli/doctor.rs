//! `neuroscale doctor`: the triage sequence, automated (see `crate::doctor`), over the live
//! cluster, over a diagnostics bundle offline (`--bundle DIR`), or before `up` over this machine
//! (`--pre`). Exit 0 when no step failed, 1 when one did, 3 when the cluster (or Docker, or the
//! bundle) cannot be read at all.

use std::path::PathBuf;

use clap::Args;

use super::{CliError, GlobalArgs, TextFormat};
use crate::cluster::k3d_config::ConfigSource;
use crate::connect::{self, Target};
use crate::doctor::{self, Source, Step};

/// How long reading everything the triage looks at may take.
const GATHER_DEADLINE: std::time::Duration = std::time::Duration::from_secs(90);

#[derive(Debug, Args)]
pub struct DoctorArgs {
    /// Output format (no junit: doctor has triage steps, not test cases).
    #[arg(long, value_enum, default_value = "human")]
    pub format: TextFormat,
    /// Before `up`: what on this machine would stop it (Docker, CPUs and memory, ports, the GPU
    /// runtime, inotify limits, an existing cluster of another k3s version, image architecture).
    #[arg(long, conflicts_with = "bundle")]
    pub pre: bool,
    /// Offline: the same triage over a diagnostics bundle (the folder `neuroscale check` wrote
    /// when a check failed, e.g. a CI artifact), with the same codes.
    #[arg(long, value_name = "DIR")]
    pub bundle: Option<PathBuf>,
    /// With --pre: the k3d cluster config `up` would use (default: the built-in k3d/cluster.yaml).
    #[arg(long, value_name = "FILE", requires = "pre")]
    pub config: Option<PathBuf>,
    /// With --pre: check for the GPU cluster config (`up --gpu`).
    #[arg(long, requires = "pre", conflicts_with = "config")]
    pub gpu: bool,
}

fn print(source: &Source, steps: &[Step], format: TextFormat) {
    match format {
        TextFormat::Json => print!("{}", doctor::render_json(source, steps)),
        _ => print!(
            "{}",
            doctor::render_human(source, steps, crate::report::colour_enabled_for_stdout())
        ),
    }
}

pub async fn run(global: &GlobalArgs, args: DoctorArgs) -> Result<u8, CliError> {
    if args.pre {
        return pre(global, &args).await;
    }
    if let Some(dir) = &args.bundle {
        let observations =
            doctor::bundle::observations(dir).map_err(|e| CliError::Usage(e.to_string()))?;
        let mut steps = doctor::triage(&observations);
        let next = steps.len() as u8 + 1;
        steps.push(doctor::bundle::report_step(dir, next));
        print(
            &Source::Bundle(dir.display().to_string()),
            &steps,
            args.format,
        );
        return Ok(doctor::exit_code(&steps));
    }
    let target = Target {
        kubeconfig: global.kubeconfig.clone(),
        context: global.context.clone(),
        cluster_name: connect::cluster_name(global.cluster_name.as_deref()),
        allow_context: None,
    };
    let connection = connect::connect(&target)
        .await
        .map_err(|e| CliError::Environment(e.to_string()))?;
    let observations = tokio::time::timeout(GATHER_DEADLINE, doctor::gather(&connection.client))
        .await
        .map_err(|_| {
            CliError::Environment(format!(
                "the API server at {} (context `{}`) did not answer the triage reads within {}; run `kubectl get nodes` to see whether it responds at all",
                connection.server,
                connection.context,
                humantime::format_duration(GATHER_DEADLINE)
            ))
        })?;
    let steps = doctor::triage(&observations);
    print(
        &Source::Context(connection.context.clone()),
        &steps,
        args.format,
    );
    Ok(doctor::exit_code(&steps))
}

async fn pre(global: &GlobalArgs, args: &DoctorArgs) -> Result<u8, CliError> {
    let config = ConfigSource::from_flags(args.config.clone(), args.gpu).load()?;
    let scenario = crate::scenario::Scenario::resolve(global.scenario.as_deref())?;
    let cluster_name = global
        .cluster_name
        .clone()
        .unwrap_or_else(|| config.name.clone());
    let cache_dir = crate::cache::cache_dir();
    let input = doctor::pre::PreInput {
        config: &config,
        cluster_name: &cluster_name,
        gpu: scenario.spec.gpu,
        cache_dir: &cache_dir,
    };
    let steps = doctor::pre::findings(&input).await;
    print(&Source::Machine, &steps, args.format);
    Ok(doctor::exit_code(&steps))
}
