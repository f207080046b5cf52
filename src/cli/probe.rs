//! `neuroscale probe`: the inference client of B4/C3/F3/F4, pointed anywhere. It checks the
//! iris known inputs first (unless `--no-verify`), then sends load and compares the latency
//! percentiles with the given thresholds. The load is open loop at a fixed rate by default (the
//! method F4 uses: latency from each request's intended send time, INVALID when the in-flight
//! cap is hit or the rate is not achieved); `--closed --concurrency C` measures throughput
//! instead. Exit 0 when all holds, 1 when anything failed or the run was INVALID.

use std::time::Duration;

use clap::Args;
use serde::Serialize;

use super::{CliError, GlobalArgs, TextFormat};
use crate::probe::{
    self, forward::ServiceForward, ClosedLoop, LoadReport, LoadSpec, OpenLoop, Quantile, Target,
    Threshold, Verdict,
};
use crate::scenario::Protocol;

/// How long an open-loop run lasts when neither --requests nor --duration is given.
const DEFAULT_DURATION: Duration = Duration::from_secs(10);
/// Measured requests of a closed-loop run without --requests.
const DEFAULT_CLOSED_REQUESTS: u32 = 100;
/// Workers of a closed-loop run without --concurrency.
const DEFAULT_CONCURRENCY: u32 = 4;

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
    /// Open loop: requests per second, sent at their intended times whatever the answers.
    #[arg(long, default_value_t = 100.0, conflicts_with = "closed")]
    pub rate: f64,
    /// Measured requests in all (open loop: instead of --duration; closed loop: default 100).
    #[arg(long)]
    pub requests: Option<u32>,
    /// Open loop: how long to offer the rate, e.g. 30s (default 10s).
    #[arg(long, value_parser = humantime::parse_duration, conflicts_with_all = ["requests", "closed"])]
    pub duration: Option<Duration>,
    /// Open loop: more requests outstanding than this makes the run INVALID.
    #[arg(long, default_value_t = 256, conflicts_with = "closed")]
    pub max_in_flight: u32,
    /// Closed loop instead, for throughput: --concurrency workers, each sending when its last
    /// request is answered. Its latencies hide server stalls; the output says so.
    #[arg(long)]
    pub closed: bool,
    /// Closed loop: requests in flight at once (default 4).
    #[arg(long, requires = "closed")]
    pub concurrency: Option<u32>,
    /// Warm-up requests, sent first and reported apart (the first one is the cold start).
    #[arg(long, default_value_t = 10)]
    pub warmup: u32,
    /// A request unanswered this long is a timeout error, recorded at that latency.
    #[arg(long, value_parser = humantime::parse_duration, default_value = "30s")]
    pub timeout: Duration,
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
    /// False when the run is INVALID (open loop: the in-flight cap was hit or the rate not
    /// achieved); `load.invalid` says why.
    valid: bool,
    violations: &'a [String],
    passed: bool,
}

/// The load the flags ask for.
fn load_spec(args: &ProbeArgs) -> Result<LoadSpec, CliError> {
    let spec = if args.closed {
        LoadSpec::Closed(ClosedLoop {
            requests: args.requests.unwrap_or(DEFAULT_CLOSED_REQUESTS),
            concurrency: args.concurrency.unwrap_or(DEFAULT_CONCURRENCY),
            warmup: args.warmup,
            timeout: args.timeout,
        })
    } else {
        let requests = match (args.requests, args.duration) {
            (Some(requests), _) => requests,
            (None, duration) => {
                let duration = duration.unwrap_or(DEFAULT_DURATION);
                (duration.as_secs_f64() * args.rate).round() as u32
            }
        };
        LoadSpec::Open(OpenLoop {
            rate: args.rate,
            requests,
            max_in_flight: args.max_in_flight,
            warmup: args.warmup,
            timeout: args.timeout,
        })
    };
    spec.validate()
        .map_err(|err| CliError::Usage(format!("the load: {err}")))?;
    Ok(spec)
}

/// The thresholds the flags set.
fn thresholds(args: &ProbeArgs) -> Vec<Threshold> {
    [
        (Quantile::P50, args.p50_ms),
        (Quantile::P95, args.p95_ms),
        (Quantile::P99, args.p99_ms),
    ]
    .into_iter()
    .filter_map(|(quantile, limit)| limit.map(|limit_ms| Threshold { quantile, limit_ms }))
    .collect()
}

pub async fn run(global: &GlobalArgs, args: ProbeArgs) -> Result<u8, CliError> {
    let spec = load_spec(&args)?;
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
    let load = probe::run_load(&http, &target, &spec)
        .await
        .map_err(probe_error)?;
    if let Some(forward) = forward.take() {
        forward.stop().await;
    }

    let mut violations = Vec::new();
    if let Some(verdict) = verification.as_ref().filter(|v| !v.is_correct()) {
        violations.push(verdict.summary());
    }
    violations.extend(
        load.violations(&thresholds(&args))
            .iter()
            .map(ToString::to_string),
    );
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
                valid: load.is_valid(),
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
            println!("method: {}", load.method.describe());
            if let Some(warmup) = &load.warmup {
                println!(
                    "warm-up: {} requests, {} errors, first {:.1} ms (the cold start), max {:.1} ms; not measured",
                    warmup.requests,
                    warmup.errors,
                    warmup.first.as_secs_f64() * 1000.0,
                    warmup.max.as_secs_f64() * 1000.0
                );
            }
            println!("load: {}", load.summary());
            if !load.errors_by_kind.is_empty() {
                let kinds: Vec<String> = load
                    .errors_by_kind
                    .iter()
                    .map(|(kind, n)| format!("{kind} {n}"))
                    .collect();
                println!("errors: {}", kinds.join(", "));
            }
            for violation in &violations {
                println!("FAIL {violation}");
            }
            let verdict = match (passed, load.is_valid()) {
                (true, _) => "PASS",
                (false, false) => "FAIL (INVALID run)",
                (false, true) => "FAIL",
            };
            println!("{verdict}");
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
