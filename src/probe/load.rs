//! Load: what to send (`LoadSpec`: open loop at a fixed rate, or closed loop for throughput),
//! the one operation both loops repeat (`Exchange`: one predict request and its verdict), and
//! `run_load`, which sends iris predict requests to a `Target` and returns the figures.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use super::figures::{ErrorKind, LoadReport, Quantile, RequestFailure, Threshold};
use super::{closed_loop, iris, open_loop, protocol, send_predict, ProbeError, Target};
use crate::scenario::Latency;

/// Open loop: requests at fixed intended times (`rate` per second) whatever the answers, up to
/// `max_in_flight` at once; each latency runs from the request's intended send time.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct OpenLoop {
    /// Requests per second offered.
    pub rate: f64,
    /// Measured requests (a duration is `rate × duration` requests).
    pub requests: u32,
    /// More in flight than this and the run is INVALID: the load was not offered.
    pub max_in_flight: u32,
    /// Requests sent first at the same rate, reported apart and not measured.
    pub warmup: u32,
    /// A request unanswered this long is a timeout error, recorded at this latency.
    pub timeout: Duration,
}

/// Closed loop: `concurrency` workers, each sending its next request when the last is answered.
/// It measures throughput; its latencies leave out the requests a stalled server kept back.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClosedLoop {
    pub requests: u32,
    pub concurrency: u32,
    pub warmup: u32,
    pub timeout: Duration,
}

/// How much load to send, and how.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum LoadSpec {
    Open(OpenLoop),
    Closed(ClosedLoop),
}

/// The open-loop spec a scenario's latency SLO asks for.
impl From<&Latency> for OpenLoop {
    fn from(latency: &Latency) -> Self {
        OpenLoop {
            rate: latency.rate,
            requests: latency.planned_requests(),
            max_in_flight: latency.max_in_flight,
            warmup: latency.warmup,
            timeout: super::REQUEST_TIMEOUT,
        }
    }
}

/// Why a load spec cannot run.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum SpecError {
    #[error("the rate must be a positive number of requests per second, not {0}")]
    Rate(f64),
    #[error("{0} must be at least 1")]
    Zero(&'static str),
    #[error("the request timeout must be longer than zero")]
    Timeout,
}

impl LoadSpec {
    /// Refuses a spec that would send nothing or never finish.
    pub fn validate(&self) -> Result<(), SpecError> {
        match self {
            LoadSpec::Open(open) => {
                if !(open.rate.is_finite() && open.rate > 0.0) {
                    return Err(SpecError::Rate(open.rate));
                }
                if open.requests == 0 {
                    return Err(SpecError::Zero("the number of requests"));
                }
                if open.max_in_flight == 0 {
                    return Err(SpecError::Zero("the in-flight cap"));
                }
                if open.timeout.is_zero() {
                    return Err(SpecError::Timeout);
                }
            }
            LoadSpec::Closed(closed) => {
                if closed.requests == 0 {
                    return Err(SpecError::Zero("the number of requests"));
                }
                if closed.concurrency == 0 {
                    return Err(SpecError::Zero("the concurrency"));
                }
                if closed.timeout.is_zero() {
                    return Err(SpecError::Timeout);
                }
            }
        }
        Ok(())
    }
}

/// One request of a load run: sends it and says whether its answer was right. The loops own
/// the timing; an exchange only sends.
pub trait Exchange: Send + Sync + 'static {
    fn exchange(&self) -> impl Future<Output = Result<(), RequestFailure>> + Send;
}

/// A predict request with one iris row to a target; the answer must hold one prediction.
pub struct PredictExchange {
    client: reqwest::Client,
    target: Target,
    body: Vec<u8>,
}

impl PredictExchange {
    pub fn new(client: &reqwest::Client, target: &Target) -> Result<Self, ProbeError> {
        let rows = vec![iris::KNOWN_INPUTS[0].to_vec()];
        Ok(PredictExchange {
            client: client.clone(),
            target: target.clone(),
            body: protocol::request_body(target.protocol, &rows)?,
        })
    }
}

impl Exchange for PredictExchange {
    async fn exchange(&self) -> Result<(), RequestFailure> {
        send_predict(&self.client, &self.target, self.body.clone(), 1)
            .await
            .map(|_| ())
            .map_err(|err| RequestFailure {
                kind: kind_of(&err),
                message: super::error_chain(&err),
            })
    }
}

fn kind_of(err: &ProbeError) -> ErrorKind {
    match err {
        ProbeError::Request { source, .. } if source.is_timeout() => ErrorKind::Timeout,
        ProbeError::Request { .. } => ErrorKind::Connect,
        ProbeError::Status { status, .. } => ErrorKind::Status(*status),
        ProbeError::Shape { .. } | ProbeError::PredictionCount { .. } => ErrorKind::WrongAnswer,
        _ => ErrorKind::Other,
    }
}

/// Sends the spec's warm-up and measured requests to `target`, each one iris row that must come
/// back with one prediction. Fails only when the spec is invalid; request failures are counted
/// in the report.
pub async fn run_load(
    client: &reqwest::Client,
    target: &Target,
    spec: &LoadSpec,
) -> Result<LoadReport, ProbeError> {
    spec.validate()
        .map_err(|err| ProbeError::InvalidRequest(err.to_string()))?;
    let exchange = Arc::new(PredictExchange::new(client, target)?);
    run_exchange(exchange, spec)
        .await
        .map_err(|err| ProbeError::InvalidRequest(err.to_string()))
}

/// Runs `spec` with any `Exchange` (a predict request, or a test's fake server).
pub async fn run_exchange<E: Exchange>(
    exchange: Arc<E>,
    spec: &LoadSpec,
) -> Result<LoadReport, SpecError> {
    spec.validate()?;
    Ok(match spec {
        LoadSpec::Open(open) => open_loop::run(exchange, open).await,
        LoadSpec::Closed(closed) => closed_loop::run(exchange, closed).await,
    })
}

/// The thresholds a scenario's latency SLO sets, in percentile order.
pub fn thresholds(latency: &Latency) -> Vec<Threshold> {
    [
        (Quantile::P50, latency.p50_ms),
        (Quantile::P95, latency.p95_ms),
        (Quantile::P99, latency.p99_ms),
    ]
    .into_iter()
    .filter_map(|(quantile, limit)| limit.map(|limit_ms| Threshold { quantile, limit_ms }))
    .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn specs_that_would_send_nothing_are_refused() {
        let open = OpenLoop {
            rate: 100.0,
            requests: 10,
            max_in_flight: 4,
            warmup: 0,
            timeout: Duration::from_secs(1),
        };
        assert!(LoadSpec::Open(open).validate().is_ok());
        for (bad, expected) in [
            (OpenLoop { rate: 0.0, ..open }, "positive number"),
            (
                OpenLoop {
                    rate: f64::NAN,
                    ..open
                },
                "positive number",
            ),
            (
                OpenLoop {
                    requests: 0,
                    ..open
                },
                "number of requests",
            ),
            (
                OpenLoop {
                    max_in_flight: 0,
                    ..open
                },
                "in-flight cap",
            ),
            (
                OpenLoop {
                    timeout: Duration::ZERO,
                    ..open
                },
                "timeout",
            ),
        ] {
            let err = LoadSpec::Open(bad).validate().unwrap_err().to_string();
            assert!(err.contains(expected), "{err}");
        }
        let closed = ClosedLoop {
            requests: 10,
            concurrency: 0,
            warmup: 0,
            timeout: Duration::from_secs(1),
        };
        let err = LoadSpec::Closed(closed).validate().unwrap_err().to_string();
        assert!(err.contains("concurrency"), "{err}");
    }

    #[tokio::test]
    async fn an_empty_spec_is_refused_before_anything_is_sent() {
        let target = Target {
            base_url: "http://127.0.0.1:9".into(),
            host: None,
            model: "m".into(),
            protocol: crate::scenario::Protocol::V1,
        };
        let spec = LoadSpec::Closed(ClosedLoop {
            requests: 0,
            concurrency: 1,
            warmup: 0,
            timeout: Duration::from_secs(1),
        });
        let err = run_load(&crate::probe::http_client().unwrap(), &target, &spec)
            .await
            .unwrap_err();
        assert!(matches!(err, ProbeError::InvalidRequest(_)), "{err}");
    }
}
