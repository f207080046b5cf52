//! Load: unmeasured warm-up, then N predict requests with C in flight, latencies recorded in an
//! HDR histogram (microsecond resolution, 3 significant digits), and the figures compared with
//! a scenario's latency SLO.

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use serde::Serialize;

use super::{iris, protocol, send_predict, ProbeError, Target};
use crate::scenario::Latency;

/// How much load to send.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LoadSpec {
    /// Measured requests.
    pub requests: u32,
    /// Requests in flight at once.
    pub concurrency: u32,
    /// Requests sent first and not measured (connection set-up, lazy model paths).
    pub warmup: u32,
}

impl From<&Latency> for LoadSpec {
    fn from(latency: &Latency) -> Self {
        LoadSpec {
            requests: latency.requests,
            concurrency: latency.concurrency,
            warmup: latency.warmup,
        }
    }
}

/// What a load run measured. Percentiles are over the requests that succeeded; failed ones are
/// counted in `errors` (any failure, including a 200 with the wrong answer shape or count).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LoadReport {
    pub requests: u32,
    pub errors: u32,
    /// `errors / requests`, 0.0 to 1.0.
    pub error_rate: f64,
    #[serde(rename = "p50_ms", with = "super::millis")]
    pub p50: Duration,
    #[serde(rename = "p95_ms", with = "super::millis")]
    pub p95: Duration,
    #[serde(rename = "p99_ms", with = "super::millis")]
    pub p99: Duration,
    #[serde(rename = "max_ms", with = "super::millis")]
    pub max: Duration,
    /// Measured requests (successful or not) per second of the measured phase.
    pub throughput_rps: f64,
    /// The first failure seen, as one line.
    pub first_error: Option<String>,
}

impl LoadReport {
    /// Every way this run breaks the SLO, one sentence each; empty when it holds. Any error
    /// is a violation: an SLO over failed requests would be meaningless.
    pub fn violations(&self, slo: &Latency) -> Vec<String> {
        let mut found = Vec::new();
        if self.errors > 0 {
            found.push(format!(
                "{} of {} requests failed ({:.1}%); first: {}",
                self.errors,
                self.requests,
                self.error_rate * 100.0,
                self.first_error.as_deref().unwrap_or("not recorded")
            ));
        }
        for (name, measured, limit_ms) in [
            ("p50", self.p50, slo.p50_ms),
            ("p95", self.p95, slo.p95_ms),
            ("p99", self.p99, slo.p99_ms),
        ] {
            let measured_ms = measured.as_secs_f64() * 1000.0;
            if measured_ms > limit_ms {
                found.push(format!(
                    "{name} latency {measured_ms:.1} ms exceeds the {limit_ms} ms threshold"
                ));
            }
        }
        found
    }

    /// One line: "200 requests, 0 errors, p50 1.8 ms, p95 3.1 ms, p99 4.0 ms, max 6.2 ms, 1850 req/s".
    pub fn summary(&self) -> String {
        let ms = |d: Duration| d.as_secs_f64() * 1000.0;
        format!(
            "{} requests, {} errors, p50 {:.1} ms, p95 {:.1} ms, p99 {:.1} ms, max {:.1} ms, {:.0} req/s",
            self.requests,
            self.errors,
            ms(self.p50),
            ms(self.p95),
            ms(self.p99),
            ms(self.max),
            self.throughput_rps
        )
    }
}

/// The histogram's range: 1 µs to one request timeout, 3 significant digits.
fn new_histogram() -> Histogram<u64> {
    let high = super::REQUEST_TIMEOUT.as_micros() as u64 * 2;
    Histogram::new_with_bounds(1, high, 3).expect("static histogram bounds are valid")
}

/// What one worker saw.
struct WorkerTally {
    latencies: Histogram<u64>,
    errors: u32,
    first_error: Option<(u32, String)>,
}

/// Sends `spec.warmup` unmeasured requests, then `spec.requests` measured ones, with at most
/// `spec.concurrency` in flight. Each request carries one iris row and must come back with one
/// prediction. Fails only when the spec is invalid; request failures are counted in the report.
pub async fn run_load(
    client: &reqwest::Client,
    target: &Target,
    spec: &LoadSpec,
) -> Result<LoadReport, ProbeError> {
    if spec.requests == 0 || spec.concurrency == 0 {
        return Err(ProbeError::InvalidRequest(format!(
            "requests ({}) and concurrency ({}) must be at least 1",
            spec.requests, spec.concurrency
        )));
    }
    let rows = vec![iris::KNOWN_INPUTS[0].to_vec()];
    let body = Arc::new(protocol::request_body(target.protocol, &rows)?);

    if spec.warmup > 0 {
        let warmup = LoadSpec {
            requests: spec.warmup,
            ..*spec
        };
        drive(client, target, &body, &warmup).await;
    }
    let started = Instant::now();
    let tallies = drive(client, target, &body, spec).await;
    let elapsed = started.elapsed();

    let mut latencies = new_histogram();
    let mut errors = 0;
    let mut first_error: Option<(u32, String)> = None;
    for tally in tallies {
        latencies
            .add(&tally.latencies)
            .expect("histograms share their bounds");
        errors += tally.errors;
        if let Some((index, message)) = tally.first_error {
            if first_error.as_ref().is_none_or(|(first, _)| index < *first) {
                first_error = Some((index, message));
            }
        }
    }
    let micros = |q: f64| {
        if latencies.is_empty() {
            Duration::ZERO
        } else {
            Duration::from_micros(latencies.value_at_quantile(q))
        }
    };
    Ok(LoadReport {
        requests: spec.requests,
        errors,
        error_rate: f64::from(errors) / f64::from(spec.requests),
        p50: micros(0.50),
        p95: micros(0.95),
        p99: micros(0.99),
        max: if latencies.is_empty() {
            Duration::ZERO
        } else {
            Duration::from_micros(latencies.max())
        },
        throughput_rps: f64::from(spec.requests) / elapsed.as_secs_f64().max(f64::EPSILON),
        first_error: first_error.map(|(_, message)| message),
    })
}

/// Runs `spec.concurrency` workers that take request numbers from one counter until
/// `spec.requests` are sent; each worker keeps its own histogram (no shared lock on the hot path).
async fn drive(
    client: &reqwest::Client,
    target: &Target,
    body: &Arc<Vec<u8>>,
    spec: &LoadSpec,
) -> Vec<WorkerTally> {
    let next = Arc::new(AtomicU32::new(0));
    let mut workers = tokio::task::JoinSet::new();
    for _ in 0..spec.concurrency.min(spec.requests) {
        let (client, target, body, next) =
            (client.clone(), target.clone(), body.clone(), next.clone());
        let total = spec.requests;
        workers.spawn(async move {
            let mut tally = WorkerTally {
                latencies: new_histogram(),
                errors: 0,
                first_error: None,
            };
            loop {
                let index = next.fetch_add(1, Ordering::Relaxed);
                if index >= total {
                    break;
                }
                let sent = Instant::now();
                match send_predict(&client, &target, body.as_ref().clone(), 1).await {
                    Ok(_) => tally
                        .latencies
                        .saturating_record(sent.elapsed().as_micros().max(1) as u64),
                    Err(err) => {
                        tally.errors += 1;
                        if tally.first_error.is_none() {
                            tally.first_error = Some((index, super::error_chain(&err)));
                        }
                    }
                }
            }
            tally
        });
    }
    let mut tallies = Vec::with_capacity(workers.len());
    while let Some(joined) = workers.join_next().await {
        match joined {
            Ok(tally) => tallies.push(tally),
            // A worker only ends early by panicking; that must surface, not shrink the figures.
            Err(err) => std::panic::resume_unwind(err.into_panic()),
        }
    }
    tallies
}

#[cfg(test)]
mod tests {
    use super::*;

    fn slo() -> Latency {
        Latency {
            requests: 100,
            concurrency: 4,
            warmup: 0,
            p50_ms: 100.0,
            p95_ms: 200.0,
            p99_ms: 400.0,
        }
    }

    fn report(p50: u64, p95: u64, p99: u64, errors: u32) -> LoadReport {
        LoadReport {
            requests: 100,
            errors,
            error_rate: f64::from(errors) / 100.0,
            p50: Duration::from_millis(p50),
            p95: Duration::from_millis(p95),
            p99: Duration::from_millis(p99),
            max: Duration::from_millis(p99),
            throughput_rps: 50.0,
            first_error: (errors > 0).then(|| "HTTP 500".to_string()),
        }
    }

    #[test]
    fn figures_under_the_thresholds_violate_nothing() {
        assert!(report(10, 20, 30, 0).violations(&slo()).is_empty());
    }

    #[test]
    fn each_percentile_over_its_threshold_is_named() {
        let found = report(150, 250, 450, 0).violations(&slo());
        assert_eq!(found.len(), 3, "{found:?}");
        assert!(
            found[0].starts_with("p50 latency 150.0 ms exceeds the 100 ms"),
            "{found:?}"
        );
        assert!(found[1].starts_with("p95"), "{found:?}");
        assert!(found[2].starts_with("p99"), "{found:?}");
    }

    #[test]
    fn any_error_is_a_violation() {
        let found = report(10, 20, 30, 1).violations(&slo());
        assert_eq!(found.len(), 1);
        assert!(
            found[0].contains("1 of 100 requests failed (1.0%); first: HTTP 500"),
            "{found:?}"
        );
    }

    #[test]
    fn a_latency_slo_becomes_a_load_spec() {
        let spec = LoadSpec::from(&slo());
        assert_eq!((spec.requests, spec.concurrency, spec.warmup), (100, 4, 0));
    }

    #[tokio::test]
    async fn an_empty_spec_is_refused() {
        let target = Target {
            base_url: "http://127.0.0.1:9".into(),
            host: None,
            model: "m".into(),
            protocol: crate::scenario::Protocol::V1,
        };
        let spec = LoadSpec {
            requests: 0,
            concurrency: 1,
            warmup: 0,
        };
        let err = run_load(&crate::probe::http_client().unwrap(), &target, &spec)
            .await
            .unwrap_err();
        assert!(matches!(err, ProbeError::InvalidRequest(_)), "{err}");
    }
}
