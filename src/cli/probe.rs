//! `neuroscale probe`: the inference client of B4/C3/F3/F4, pointed anywhere. It checks the
//! iris known inputs first (unless `--no-verify`), then sends load and compares the latency
//! percentiles with the given thresholds. Exit 0 when all holds, 1 when anything failed.

use clap::Args;
use serde::Serialize;

use super::{CliError, GlobalArgs, TextFormat};
use crate::probe::{self, forward::ServiceForward, LoadReport, LoadSpec, Target, Verdict};
use crate::scenario::{Latency, Protocol};

#[derive(Debug, Args)]
#[command(group(clap::ArgGroup::new("endpoint").required(true).args(["url", "forward"])))]
pub struct ProbeArgs {
    /// The endpoint base URL (e.g. the Kourier gateway at http://127.0.0.1:8081, or a model
    /// server directly).
    #[arg(long)]
    pub url: Option<String>,
    /// Reach the endpoint over a port-forward to this Service instead, as NAMESPACE/NAME:PORT
    /// (e.g. kourier-system/kourier:80), using --kubeconfig and --context.
    #[arg(long, value_name = "NAMESPACE/NAME:PORT")]
    pub forward: Option<String>,
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
    /// Fail when p50 latency exceeds this many milliseconds.
    #[arg(long = "p50-ms")]
    pub p50_ms: Option<f64>,
    /// Fail when p95 latency exceeds this many milliseconds.
    #[arg(long = "p95-ms")]
    pub p95_ms: Option<f64>,
    /// Fail when p99 latency exceeds this many milliseconds.
    #[arg(long = "p99-ms")]
    pub p99_ms: Option<f64>,
    /// Skip the iris known-inputs check (for models that are not iris classifiers).
    #[arg(long)]
    pub no_verify: bool,
    /// Output format.
    #[arg(long, value_enum, default_value = "human")]
    pub format: TextFormat,
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

/// The `--format json` document.
#[derive(Debug, Serialize)]
struct ProbeOutput<'a> {
    url: &'a str,
    host: Option<&'a str>,
    model: &'a str,
    protocol: Protocol,
    verification: Option<&'a Verdict>,
    load: &'a LoadReport,
    violations: &'a [String],
    passed: bool,
}

pub async fn run(global: &GlobalArgs, args: ProbeArgs) -> Result<u8, CliError> {
    if args.requests == 0 || args.concurrency == 0 {
        return Err(CliError::Usage(
            "--requests and --concurrency must be at least 1".into(),
        ));
    }
    // Kept alive until the probe ends; dropping it closes the forward.
    let mut forward = None;
    let base_url = match (&args.url, &args.forward) {
        (Some(url), _) => url.clone(),
        (None, Some(spec)) => {
            let (namespace, service, port) = parse_forward(spec)?;
            let client = kube_client(global).await?;
            let started = ServiceForward::start(client, &namespace, &service, port)
                .await
                .map_err(|err| CliError::Environment(probe::error_chain(&err)))?;
            let url = started.base_url();
            forward = Some(started);
            url
        }
        (None, None) => unreachable!("clap requires --url or --forward"),
    };
    let target = Target {
        base_url,
        host: args.host.clone(),
        model: args.model.clone(),
        protocol: args.protocol.into(),
    };
    let http = probe::http_client()
        .map_err(|err| CliError::Environment(format!("cannot build the HTTP client: {err}")))?;

    let verification = if args.no_verify {
        None
    } else {
        Some(
            probe::verify_iris(&http, &target)
                .await
                .map_err(probe_error)?,
        )
    };
    let spec = LoadSpec {
        requests: args.requests,
        concurrency: args.concurrency,
        warmup: args.warmup,
    };
    let load = probe::run_load(&http, &target, &spec)
        .await
        .map_err(probe_error)?;
    if let Some(forward) = forward.take() {
        forward.stop().await;
    }

    let slo = Latency {
        requests: args.requests,
        concurrency: args.concurrency,
        warmup: args.warmup,
        p50_ms: args.p50_ms.unwrap_or(f64::INFINITY),
        p95_ms: args.p95_ms.unwrap_or(f64::INFINITY),
        p99_ms: args.p99_ms.unwrap_or(f64::INFINITY),
    };
    let mut violations = Vec::new();
    if let Some(verdict) = verification.as_ref().filter(|v| !v.is_correct()) {
        violations.push(verdict.summary());
    }
    violations.extend(load.violations(&slo));
    let passed = violations.is_empty();

    match args.format {
        TextFormat::Json => {
            let output = ProbeOutput {
                url: &target.base_url,
                host: target.host.as_deref(),
                model: &target.model,
                protocol: target.protocol,
                verification: verification.as_ref(),
                load: &load,
                violations: &violations,
                passed,
            };
            let text = serde_json::to_string_pretty(&output)
                .map_err(|err| CliError::Failed(Box::new(err)))?;
            println!("{text}");
        }
        _ => {
            if let Some(verdict) = &verification {
                println!("predictions: {}", verdict.summary());
            }
            println!("load: {}", load.summary());
            for violation in &violations {
                println!("FAIL {violation}");
            }
            println!("{}", if passed { "PASS" } else { "FAIL" });
        }
    }
    Ok(if passed {
        crate::exit::SUCCESS
    } else {
        crate::exit::CHECK_FAILED
    })
}

/// Nothing answering is the environment's problem (exit 3); a wrong answer is a failure (exit 1).
fn probe_error(err: probe::ProbeError) -> CliError {
    if err.is_unreachable() {
        CliError::Environment(probe::error_chain(&err))
    } else {
        CliError::Failed(Box::new(err))
    }
}

/// `NAMESPACE/NAME:PORT`.
fn parse_forward(spec: &str) -> Result<(String, String, u16), CliError> {
    let usage = || {
        CliError::Usage(format!(
            "--forward {spec:?}: expected NAMESPACE/NAME:PORT, e.g. kourier-system/kourier:80"
        ))
    };
    let (namespace, rest) = spec.split_once('/').ok_or_else(usage)?;
    let (name, port) = rest.rsplit_once(':').ok_or_else(usage)?;
    let port: u16 = port.parse().map_err(|_| usage())?;
    if namespace.is_empty() || name.is_empty() {
        return Err(usage());
    }
    Ok((namespace.to_string(), name.to_string(), port))
}

/// The kube client for --kubeconfig/--context, resolved the way every command resolves it.
async fn kube_client(global: &GlobalArgs) -> Result<kube::Client, CliError> {
    let target = crate::connect::Target {
        kubeconfig: global.kubeconfig.clone(),
        context: global.context.clone(),
        cluster_name: crate::connect::cluster_name(global.cluster_name.as_deref()),
        allow_context: None,
    };
    crate::connect::connect(&target)
        .await
        .map(|connection| connection.client)
        .map_err(|err| CliError::Environment(err.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forward_specs_are_parsed() {
        let (ns, name, port) = parse_forward("kourier-system/kourier:80").unwrap();
        assert_eq!(
            (ns.as_str(), name.as_str(), port),
            ("kourier-system", "kourier", 80)
        );
        for bad in [
            "kourier:80",
            "kourier-system/kourier",
            "/kourier:80",
            "ns/svc:http",
        ] {
            assert!(parse_forward(bad).is_err(), "{bad} was accepted");
        }
    }
}
