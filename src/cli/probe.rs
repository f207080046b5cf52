//! `neuroscale probe`: the inference client of B4/F4, pointed anywhere.

use clap::Args;

use super::{CliError, Format, GlobalArgs};
use crate::scenario::Protocol;

#[derive(Debug, Args)]
pub struct ProbeArgs {
    /// The endpoint base URL (e.g. http://127.0.0.1:8081).
    #[arg(long)]
    pub url: String,
    /// The Host header (an InferenceService's status.url host when going through Kourier).
    #[arg(long)]
    pub host: Option<String>,
    /// The model name.
    #[arg(long)]
    pub model: String,
    /// KServe inference protocol.
    #[arg(long, value_enum, default_value = "v1")]
    pub protocol: ProtocolArg,
    /// Measured requests.
    #[arg(long, default_value_t = 100)]
    pub requests: u32,
    /// Requests in flight at once.
    #[arg(long, default_value_t = 4)]
    pub concurrency: u32,
    /// Unmeasured warm-up requests.
    #[arg(long, default_value_t = 10)]
    pub warmup: u32,
    /// Fail when p95 latency exceeds this many milliseconds.
    #[arg(long = "p95-ms")]
    pub p95_ms: Option<f64>,
    /// Output format.
    #[arg(long, value_enum, default_value = "human")]
    pub format: Format,
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum ProtocolArg {
    V1,
    V2,
}

impl From<ProtocolArg> for Protocol {
    fn from(p: ProtocolArg) -> Self {
        match p {
            ProtocolArg::V1 => Protocol::V1,
            ProtocolArg::V2 => Protocol::V2,
        }
    }
}

pub async fn run(_global: &GlobalArgs, _args: ProbeArgs) -> Result<u8, CliError> {
    Err(CliError::NotBuilt {
        command: "probe",
        detail: "the inference probe lands with issue #5",
    })
}
