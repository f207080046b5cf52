//! What a load run measured and how it is judged: the lossless HDR histogram (microseconds, 3
//! significant digits) of every measured request, the percentiles read from it with whether
//! enough requests back each one, the run's validity (did the offered load really go out?),
//! errors by kind, and the comparison of a latency SLO with those figures.
//!
//! A threshold is judged on the measured requests themselves: "p99 <= 800 ms" holds when at most
//! 1% of them took longer than 800 ms, counted in the histogram, not when a single interpolated
//! sample happens to sit under the line.

use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

use hdrhistogram::Histogram;
use serde::{Serialize, Serializer};

/// A percentile is established when at least this many measured requests lie above it: a p99
/// over 100 requests rests on one sample, over 2,000 on twenty.
pub const SAMPLES_ABOVE_A_PERCENTILE: u64 = 20;

/// The percentiles a run reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Quantile {
    P50,
    P90,
    P95,
    P99,
    P999,
}

impl Quantile {
    pub const ALL: [Quantile; 5] = [
        Quantile::P50,
        Quantile::P90,
        Quantile::P95,
        Quantile::P99,
        Quantile::P999,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Quantile::P50 => "p50",
            Quantile::P90 => "p90",
            Quantile::P95 => "p95",
            Quantile::P99 => "p99",
            Quantile::P999 => "p99.9",
        }
    }

    pub fn fraction(self) -> f64 {
        1.0 - 1.0 / self.one_in() as f64
    }

    /// One request in this many lies above the percentile.
    fn one_in(self) -> u64 {
        match self {
            Quantile::P50 => 2,
            Quantile::P90 => 10,
            Quantile::P95 => 20,
            Quantile::P99 => 100,
            Quantile::P999 => 1000,
        }
    }

    /// Measured requests needed before this percentile is established (p99: 2,000).
    pub fn samples_needed(self) -> u64 {
        SAMPLES_ABOVE_A_PERCENTILE * self.one_in()
    }

    /// How many measured requests may lie above a threshold on this percentile.
    pub fn allowed_above(self, measured: u64) -> u64 {
        measured / self.one_in()
    }
}

impl Serialize for Quantile {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.name())
    }
}

/// One percentile as measured.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PercentileFigure {
    pub name: Quantile,
    #[serde(rename = "ms", with = "super::millis")]
    pub value: Duration,
    /// False when fewer than `Quantile::samples_needed` requests were measured.
    pub established: bool,
}

/// How the load was sent.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "loop", rename_all = "lowercase")]
pub enum Method {
    /// Requests at fixed intended times whatever the answers; latency from the intended time.
    Open {
        rate_rps: f64,
        requests: u32,
        #[serde(rename = "duration_ms", with = "super::millis")]
        duration: Duration,
        max_in_flight: u32,
        warmup: u32,
        #[serde(rename = "timeout_ms", with = "super::millis")]
        timeout: Duration,
    },
    /// A fixed number of workers each waiting for its answer before sending again: a
    /// throughput measurement, whose latencies hide server stalls.
    Closed {
        requests: u32,
        concurrency: u32,
        warmup: u32,
        #[serde(rename = "timeout_ms", with = "super::millis")]
        timeout: Duration,
    },
}

impl Method {
    /// "open loop at 100 req/s, 2000 requests over 20 s, at most 256 in flight, timeout 30 s".
    pub fn describe(&self) -> String {
        match self {
            Method::Open {
                rate_rps,
                requests,
                duration,
                max_in_flight,
                timeout,
                ..
            } => format!(
                "open loop at {rate_rps} req/s, {requests} requests over {:.1} s, at most {max_in_flight} in flight, timeout {:.0} s; each latency from the request's intended send time",
                duration.as_secs_f64(),
                timeout.as_secs_f64()
            ),
            Method::Closed {
                requests,
                concurrency,
                timeout,
                ..
            } => format!(
                "closed loop (throughput), {requests} requests with {concurrency} in flight, timeout {:.0} s; latencies from the actual send, not corrected for server stalls",
                timeout.as_secs_f64()
            ),
        }
    }
}

/// Why a run's figures do not describe the load that was asked for.
#[derive(Debug, Clone, PartialEq)]
pub enum InvalidReason {
    /// Requests waited for a free slot instead of going out at their intended time.
    InFlightCapHit { hits: u32, cap: u32 },
    /// The client sent fewer requests per second than offered.
    RateShort { achieved_rps: f64, offered_rps: f64 },
}

/// The achieved rate must reach this share of the offered rate.
pub const ACHIEVED_RATE_FLOOR: f64 = 0.99;

impl fmt::Display for InvalidReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            InvalidReason::InFlightCapHit { hits, cap } => write!(
                f,
                "the in-flight cap of {cap} was hit {hits} times: requests waited for a free slot instead of going out on schedule, so the offered load was not sent"
            ),
            InvalidReason::RateShort {
                achieved_rps,
                offered_rps,
            } => write!(
                f,
                "achieved {achieved_rps:.1} req/s, below 99% of the offered {offered_rps} req/s: the client could not keep the schedule"
            ),
        }
    }
}

impl Serialize for InvalidReason {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

/// The unmeasured warm-up, reported apart: its first request is the cold start.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct WarmupReport {
    pub requests: u32,
    pub errors: u32,
    /// The first request: connection set-up, lazy model paths, or a scale from zero.
    #[serde(rename = "first_ms", with = "super::millis")]
    pub first: Duration,
    #[serde(rename = "max_ms", with = "super::millis")]
    pub max: Duration,
}

/// What a load run measured.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LoadReport {
    pub method: Method,
    /// True when latencies run from intended send times (open loop): coordinated omission
    /// corrected.
    pub corrected: bool,
    /// Measured requests sent (warm-up excluded).
    pub sent: u32,
    /// Requests in the histogram: successes, and timeouts at the time they were abandoned.
    pub measured: u64,
    pub errors: u32,
    /// `errors / sent`, 0.0 to 1.0.
    pub error_rate: f64,
    /// Errors by kind: `timeout`, `connect`, `http_500`, `wrong_answer`, `other`.
    pub errors_by_kind: BTreeMap<String, u32>,
    /// The first failure seen, as one line.
    pub first_error: Option<String>,
    pub percentiles: Vec<PercentileFigure>,
    #[serde(rename = "max_ms", with = "super::millis")]
    pub max: Duration,
    /// The rate asked for (open loop only).
    pub offered_rps: Option<f64>,
    /// Requests sent per second of the measured phase.
    pub achieved_rps: f64,
    /// The most requests in flight at once.
    pub max_in_flight_seen: u32,
    /// How late the client sent a request at worst (open loop; charged to that request).
    #[serde(rename = "max_send_lag_ms", with = "super::millis")]
    pub max_send_lag: Duration,
    /// Why the run is INVALID; empty when it is valid.
    pub invalid: Vec<InvalidReason>,
    pub warmup: Option<WarmupReport>,
    #[serde(skip)]
    pub(crate) histogram: Histogram<u64>,
}

/// A latency SLO's limit on one percentile.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Threshold {
    pub quantile: Quantile,
    pub limit_ms: f64,
}

/// One way a run breaks its SLO.
#[derive(Debug, Clone, PartialEq)]
pub enum Violation {
    /// The figures do not describe the offered load.
    Invalid(InvalidReason),
    Errors {
        errors: u32,
        sent: u32,
        by_kind: BTreeMap<String, u32>,
        first: Option<String>,
    },
    /// Too few measured requests for a thresholded percentile.
    NotEstablished { quantile: Quantile, measured: u64 },
    OverThreshold {
        quantile: Quantile,
        value: Duration,
        limit_ms: f64,
        over: u64,
        allowed: u64,
        measured: u64,
    },
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Violation::Invalid(reason) => write!(f, "INVALID run: {reason}"),
            Violation::Errors {
                errors,
                sent,
                by_kind,
                first,
            } => {
                let kinds: Vec<String> = by_kind.iter().map(|(k, n)| format!("{k} {n}")).collect();
                write!(
                    f,
                    "{errors} of {sent} requests failed ({:.1}%: {}); first: {}",
                    f64::from(*errors) * 100.0 / f64::from((*sent).max(1)),
                    kinds.join(", "),
                    first.as_deref().unwrap_or("not recorded")
                )
            }
            Violation::NotEstablished { quantile, measured } => write!(
                f,
                "{} not established: {measured} measured requests, a {} threshold needs at least {} ({SAMPLES_ABOVE_A_PERCENTILE} above it)",
                quantile.name(),
                quantile.name(),
                quantile.samples_needed()
            ),
            Violation::OverThreshold {
                quantile,
                value,
                limit_ms,
                over,
                allowed,
                measured,
            } => write!(
                f,
                "{} latency {:.1} ms exceeds the {limit_ms} ms threshold: {over} of {measured} requests took longer, at most {allowed} may",
                quantile.name(),
                value.as_secs_f64() * 1000.0
            ),
        }
    }
}

impl LoadReport {
    /// The percentile as measured, if the run reports it.
    pub fn percentile(&self, quantile: Quantile) -> Option<&PercentileFigure> {
        self.percentiles.iter().find(|p| p.name == quantile)
    }

    /// The percentile's value, zero when nothing was measured.
    pub fn value(&self, quantile: Quantile) -> Duration {
        self.percentile(quantile)
            .map(|p| p.value)
            .unwrap_or_default()
    }

    pub fn is_valid(&self) -> bool {
        self.invalid.is_empty()
    }

    /// Measured requests that took longer than `limit_ms` (a sample whose histogram bucket
    /// reaches past the limit counts as over: the doubt goes against the SLO).
    pub fn count_over(&self, limit_ms: f64) -> u64 {
        let limit_us = (limit_ms * 1000.0).floor() as u64;
        self.histogram
            .iter_recorded()
            .filter(|v| v.value_iterated_to() > limit_us)
            .map(|v| v.count_at_value())
            .sum()
    }

    /// Every way this run breaks the thresholds, most fundamental first: an INVALID run, then
    /// errors (any error breaks an SLO), then percentiles without enough samples, then
    /// percentiles over their limit. Empty when the SLO holds.
    pub fn violations(&self, thresholds: &[Threshold]) -> Vec<Violation> {
        let mut found: Vec<Violation> = self
            .invalid
            .iter()
            .cloned()
            .map(Violation::Invalid)
            .collect();
        if self.errors > 0 {
            found.push(Violation::Errors {
                errors: self.errors,
                sent: self.sent,
                by_kind: self.errors_by_kind.clone(),
                first: self.first_error.clone(),
            });
        }
        for threshold in thresholds {
            let quantile = threshold.quantile;
            if self.measured < quantile.samples_needed() {
                found.push(Violation::NotEstablished {
                    quantile,
                    measured: self.measured,
                });
                continue;
            }
            let over = self.count_over(threshold.limit_ms);
            let allowed = quantile.allowed_above(self.measured);
            if over > allowed {
                found.push(Violation::OverThreshold {
                    quantile,
                    value: self.value(quantile),
                    limit_ms: threshold.limit_ms,
                    over,
                    allowed,
                    measured: self.measured,
                });
            }
        }
        found
    }

    /// One line: "2000 measured, 0 errors, p50 1.8 ms, ..., p99.9 9.0 ms (not established),
    /// max 12.0 ms; offered 100 req/s, achieved 100.0 req/s".
    pub fn summary(&self) -> String {
        let mut parts = vec![format!(
            "{} measured, {} errors",
            self.measured, self.errors
        )];
        for p in &self.percentiles {
            parts.push(format!(
                "{} {:.1} ms{}",
                p.name.name(),
                ms(p.value),
                if p.established {
                    ""
                } else {
                    " (not established)"
                }
            ));
        }
        parts.push(format!("max {:.1} ms", ms(self.max)));
        let rates = match self.offered_rps {
            Some(offered) => format!(
                "offered {offered} req/s, achieved {:.1} req/s",
                self.achieved_rps
            ),
            None => format!("{:.0} req/s (closed loop)", self.achieved_rps),
        };
        format!("{}; {rates}", parts.join(", "))
    }
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// A histogram for latencies in microseconds, 3 significant digits, up to an hour (a latency
/// longer than that is recorded as an hour).
pub(crate) fn new_histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 3_600_000_000, 3).expect("static histogram bounds are valid")
}

/// The percentiles of `histogram` over `measured` requests.
pub(crate) fn percentiles_of(histogram: &Histogram<u64>) -> Vec<PercentileFigure> {
    Quantile::ALL
        .iter()
        .map(|&quantile| PercentileFigure {
            name: quantile,
            value: if histogram.is_empty() {
                Duration::ZERO
            } else {
                Duration::from_micros(histogram.value_at_quantile(quantile.fraction()))
            },
            established: histogram.len() >= quantile.samples_needed(),
        })
        .collect()
}

/// What a request's failure was, for `errors_by_kind`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ErrorKind {
    /// No answer within the request timeout.
    Timeout,
    /// The connection could not be made or broke.
    Connect,
    /// A non-2xx status.
    Status(u16),
    /// 2xx, but not the protocol's shape or the wrong number of predictions.
    WrongAnswer,
    Other,
}

impl ErrorKind {
    pub fn label(&self) -> String {
        match self {
            ErrorKind::Timeout => "timeout".into(),
            ErrorKind::Connect => "connect".into(),
            ErrorKind::Status(code) => format!("http_{code}"),
            ErrorKind::WrongAnswer => "wrong_answer".into(),
            ErrorKind::Other => "other".into(),
        }
    }
}

/// A failed request: its kind and one line saying what happened.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestFailure {
    pub kind: ErrorKind,
    pub message: String,
}

/// What a phase of a run saw, request by request.
#[derive(Debug, Clone)]
pub(crate) struct Tally {
    pub histogram: Histogram<u64>,
    pub sent: u32,
    pub errors: u32,
    pub errors_by_kind: BTreeMap<String, u32>,
    /// The failure of the lowest-numbered failed request.
    pub first_error: Option<(u32, String)>,
    /// The first request's latency (the cold start when this is the warm-up).
    pub first: Option<Duration>,
}

impl Tally {
    pub fn new() -> Tally {
        Tally {
            histogram: new_histogram(),
            sent: 0,
            errors: 0,
            errors_by_kind: BTreeMap::new(),
            first_error: None,
            first: None,
        }
    }

    /// Records request `index`, which took `latency` and ended with `result`. Successes and
    /// timeouts go into the histogram (a timeout at the time it was abandoned: leaving it out
    /// would hide the slowest requests); other failures are counted by kind only.
    pub fn record(&mut self, index: u32, latency: Duration, result: Result<(), RequestFailure>) {
        self.sent += 1;
        if index == 0 {
            self.first = Some(latency);
        }
        let micros = (latency.as_micros().max(1)).min(u128::from(u64::MAX)) as u64;
        match result {
            Ok(()) => self.histogram.saturating_record(micros),
            Err(failure) => {
                if failure.kind == ErrorKind::Timeout {
                    self.histogram.saturating_record(micros);
                }
                self.errors += 1;
                *self.errors_by_kind.entry(failure.kind.label()).or_default() += 1;
                if self.first_error.as_ref().is_none_or(|(i, _)| index < *i) {
                    self.first_error = Some((index, failure.message));
                }
            }
        }
    }

    pub fn merge(&mut self, other: Tally) {
        self.histogram
            .add(&other.histogram)
            .expect("histograms share their bounds");
        self.sent += other.sent;
        self.errors += other.errors;
        for (kind, n) in other.errors_by_kind {
            *self.errors_by_kind.entry(kind).or_default() += n;
        }
        if let Some((index, message)) = other.first_error {
            if self.first_error.as_ref().is_none_or(|(i, _)| index < *i) {
                self.first_error = Some((index, message));
            }
        }
        self.first = self.first.or(other.first);
    }

    pub fn warmup_report(&self) -> WarmupReport {
        WarmupReport {
            requests: self.sent,
            errors: self.errors,
            first: self.first.unwrap_or_default(),
            max: Duration::from_micros(self.histogram.max()),
        }
    }
}

/// The parts of a report that depend on how the load was sent.
pub(crate) struct RunShape {
    pub method: Method,
    pub corrected: bool,
    pub offered_rps: Option<f64>,
    pub achieved_rps: f64,
    pub max_in_flight_seen: u32,
    pub max_send_lag: Duration,
    pub invalid: Vec<InvalidReason>,
    pub warmup: Option<WarmupReport>,
}

impl LoadReport {
    pub(crate) fn new(shape: RunShape, tally: Tally) -> LoadReport {
        let measured = tally.histogram.len();
        LoadReport {
            method: shape.method,
            corrected: shape.corrected,
            sent: tally.sent,
            measured,
            errors: tally.errors,
            error_rate: f64::from(tally.errors) / f64::from(tally.sent.max(1)),
            errors_by_kind: tally.errors_by_kind,
            first_error: tally.first_error.map(|(_, message)| message),
            percentiles: percentiles_of(&tally.histogram),
            max: if tally.histogram.is_empty() {
                Duration::ZERO
            } else {
                Duration::from_micros(tally.histogram.max())
            },
            offered_rps: shape.offered_rps,
            achieved_rps: shape.achieved_rps,
            max_in_flight_seen: shape.max_in_flight_seen,
            max_send_lag: shape.max_send_lag,
            invalid: shape.invalid,
            warmup: shape.warmup,
            histogram: tally.histogram,
        }
    }
}

/// A report over given latencies and failures, as an open-loop run at 100 req/s would give.
#[cfg(test)]
pub(crate) fn synthetic_report(
    latencies: &[Duration],
    errors: &[(ErrorKind, &str)],
    invalid: Vec<InvalidReason>,
) -> LoadReport {
    let mut tally = Tally::new();
    for (index, latency) in latencies.iter().enumerate() {
        tally.record(index as u32, *latency, Ok(()));
    }
    for (offset, (kind, message)) in errors.iter().enumerate() {
        let failure = RequestFailure {
            kind: kind.clone(),
            message: message.to_string(),
        };
        let index = (latencies.len() + offset) as u32;
        tally.record(index, Duration::from_millis(5), Err(failure));
    }
    let sent = tally.sent;
    let shape = RunShape {
        method: Method::Open {
            rate_rps: 100.0,
            requests: sent,
            duration: Duration::from_secs_f64(f64::from(sent) / 100.0),
            max_in_flight: 256,
            warmup: 0,
            timeout: Duration::from_secs(30),
        },
        corrected: true,
        offered_rps: Some(100.0),
        achieved_rps: 100.0,
        max_in_flight_seen: 3,
        max_send_lag: Duration::ZERO,
        invalid,
        warmup: None,
    };
    LoadReport::new(shape, tally)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_percentile_needs_twenty_requests_above_it() {
        let needed: Vec<u64> = Quantile::ALL.iter().map(|q| q.samples_needed()).collect();
        assert_eq!(needed, [40, 200, 400, 2000, 20000]);
        assert_eq!(Quantile::P99.allowed_above(2000), 20);
        assert_eq!(Quantile::P99.allowed_above(2099), 20);
    }

    #[test]
    fn a_threshold_is_judged_by_counting_the_requests_over_it() {
        // 20 of 2000 over 800 ms is exactly what a p99 of 800 ms allows; 21 is one too many,
        // whatever value the interpolated p99 itself lands on.
        let mut latencies = vec![Duration::from_millis(10); 1980];
        latencies.extend([Duration::from_millis(900); 20]);
        let report = synthetic_report(&latencies, &[], Vec::new());
        let p99 = [Threshold {
            quantile: Quantile::P99,
            limit_ms: 800.0,
        }];
        assert_eq!(report.count_over(800.0), 20);
        assert!(report.violations(&p99).is_empty());
        latencies[0] = Duration::from_millis(900);
        let report = synthetic_report(&latencies, &[], Vec::new());
        let found = report.violations(&p99);
        assert!(
            matches!(
                found[..],
                [Violation::OverThreshold {
                    over: 21,
                    allowed: 20,
                    ..
                }]
            ),
            "{found:?}"
        );
    }

    #[test]
    fn the_report_serialises_its_method_and_figures() {
        let report = synthetic_report(&[Duration::from_millis(2); 500], &[], Vec::new());
        let json = serde_json::to_value(&report).unwrap();
        assert_eq!(json["method"]["loop"], "open");
        assert_eq!(json["method"]["rate_rps"], 100.0);
        assert_eq!(json["corrected"], true);
        assert_eq!(json["percentiles"][3]["name"], "p99");
        assert_eq!(json["percentiles"][3]["established"], false);
        assert_eq!(json["percentiles"][2]["established"], true);
        assert_eq!(json["invalid"], serde_json::json!([]));
        assert!(json.get("histogram").is_none());
    }
}
