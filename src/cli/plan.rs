//! `neuroscale plan`: what `up` would install, in which order, at which versions, and what can
//! run concurrently. Reads the pin table only; touches nothing.

use clap::Args;
use serde::Serialize;

use super::{CliError, GlobalArgs, TextFormat};
use crate::components::{self, Component, Gate};
use crate::exit;
use crate::scenario::{GpuMode, Scenario};

#[derive(Debug, Args)]
pub struct PlanArgs {
    /// Output format.
    #[arg(long, value_enum, default_value = "human")]
    pub format: TextFormat,
    /// Include the NVIDIA device plugin (default: from the scenario's GPU mode; `auto` counts as real here).
    #[arg(long)]
    pub gpu: Option<bool>,
}

#[derive(Serialize)]
struct PlanReport<'a> {
    schema: &'static str,
    k3d: &'static str,
    k3s_image: &'static str,
    waves: Vec<WaveReport<'a>>,
}

#[derive(Serialize)]
struct WaveReport<'a> {
    wave: usize,
    concurrent: bool,
    components: Vec<&'a Component>,
}

pub fn run(global: &GlobalArgs, args: PlanArgs) -> Result<u8, CliError> {
    let real_gpu = match args.gpu {
        Some(gpu) => gpu,
        None => {
            let scenario = Scenario::resolve(global.scenario.as_deref())?;
            matches!(scenario.spec.gpu, GpuMode::Real | GpuMode::Auto)
        }
    };
    let selected = components::selected(real_gpu);
    let plan = components::plan(&selected).map_err(|e| CliError::Usage(e.to_string()))?;
    let find = |name: &str| selected.iter().find(|c| c.name == name).expect("planned");
    match args.format {
        TextFormat::Json => {
            let report = PlanReport {
                schema: "neuroscale.plan/v1",
                k3d: components::K3D_VERSION,
                k3s_image: components::K3S_IMAGE,
                waves: plan
                    .waves
                    .iter()
                    .enumerate()
                    .map(|(i, wave)| WaveReport {
                        wave: i,
                        concurrent: wave.len() > 1,
                        components: wave.iter().map(|n| find(n)).collect(),
                    })
                    .collect(),
            };
            println!(
                "{}",
                serde_json::to_string_pretty(&report).expect("plain data")
            );
        }
        TextFormat::Human => {
            println!(
                "cluster: k3d {} with {}",
                components::K3D_VERSION,
                components::K3S_IMAGE
            );
            for (i, wave) in plan.waves.iter().enumerate() {
                let note = if wave.len() > 1 { ", concurrently" } else { "" };
                println!("\nwave {i}{note}:");
                for name in wave {
                    let c = find(name);
                    let after = if c.depends_on.is_empty() {
                        "-".to_string()
                    } else {
                        c.depends_on.join(", ")
                    };
                    println!(
                        "  {:<22} {:<16} ns {:<18} after {}",
                        c.name, c.version, c.namespace, after
                    );
                    println!("  {:<22} ready when: {}", "", describe_gates(c.gates));
                    for artifact in c.artifacts {
                        println!("  {:<22} from {}", "", artifact.url);
                    }
                }
            }
        }
    }
    Ok(exit::SUCCESS)
}

fn describe_gates(gates: &[Gate]) -> String {
    gates
        .iter()
        .map(|g| match g {
            Gate::CrdEstablished { name } => format!("crd/{name} Established"),
            Gate::Deployment { namespace, name } => format!("deploy/{namespace}/{name} ready"),
            Gate::StatefulSet { namespace, name } => format!("sts/{namespace}/{name} ready"),
            Gate::DaemonSet { namespace, name } => format!("ds/{namespace}/{name} ready"),
            Gate::ServiceEndpoints { namespace, name } => {
                format!("svc/{namespace}/{name} has endpoints")
            }
            Gate::LoadBalancerAddress { namespace, name } => {
                format!("svc/{namespace}/{name} has an address")
            }
            Gate::ApplicationHealthy { name } => format!("app/{name} Synced+Healthy"),
        })
        .collect::<Vec<_>>()
        .join(", ")
}
