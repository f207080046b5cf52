//! The scheduler on tokio's paused clock against fake servers: the figures are exact, and no
//! test waits in real time.

use super::*;
use crate::probe::closed_loop;
use crate::probe::figures::{Quantile, Threshold, Violation};
use crate::probe::load::ClosedLoop;

/// A server that answers every request `service` after it arrives, except that it freezes
/// whole from `freeze_at` (after its creation) for `freeze_for`: a request arriving during the
/// freeze is answered `service` after the freeze ends. `fail_every` makes every Nth call an
/// HTTP 500; `hang` makes it never answer.
struct FakeServer {
    origin: Instant,
    service: Duration,
    freeze_at: Duration,
    freeze_for: Duration,
    fail_every: u32,
    hang: bool,
    calls: AtomicU32,
}

impl FakeServer {
    fn healthy(service_ms: u64) -> FakeServer {
        FakeServer {
            origin: Instant::now(),
            service: Duration::from_millis(service_ms),
            freeze_at: Duration::ZERO,
            freeze_for: Duration::ZERO,
            fail_every: 0,
            hang: false,
            calls: AtomicU32::new(0),
        }
    }

    fn freezing(service_ms: u64, freeze_at_ms: u64, freeze_for_ms: u64) -> FakeServer {
        FakeServer {
            freeze_at: Duration::from_millis(freeze_at_ms),
            freeze_for: Duration::from_millis(freeze_for_ms),
            ..FakeServer::healthy(service_ms)
        }
    }
}

impl Exchange for FakeServer {
    async fn exchange(&self) -> Result<(), RequestFailure> {
        let call = self.calls.fetch_add(1, Ordering::Relaxed) + 1;
        if self.hang {
            std::future::pending::<()>().await;
        }
        let now = Instant::now();
        let (freeze_start, freeze_end) = (
            self.origin + self.freeze_at,
            self.origin + self.freeze_at + self.freeze_for,
        );
        let begins = if now >= freeze_start && now < freeze_end {
            freeze_end
        } else {
            now
        };
        tokio::time::sleep_until(begins + self.service).await;
        if self.fail_every > 0 && call.is_multiple_of(self.fail_every) {
            return Err(RequestFailure {
                kind: ErrorKind::Status(500),
                message: format!("answered HTTP 500 on call {call}"),
            });
        }
        Ok(())
    }
}

fn open(rate: f64, requests: u32, max_in_flight: u32) -> OpenLoop {
    OpenLoop {
        rate,
        requests,
        max_in_flight,
        warmup: 0,
        timeout: Duration::from_secs(30),
    }
}

fn slo() -> Vec<Threshold> {
    [
        (Quantile::P50, 150.0),
        (Quantile::P95, 400.0),
        (Quantile::P99, 800.0),
    ]
    .map(|(quantile, limit_ms)| Threshold { quantile, limit_ms })
    .to_vec()
}

#[tokio::test(start_paused = true)]
async fn a_healthy_server_at_the_offered_rate_passes() {
    let server = Arc::new(FakeServer::healthy(2));
    let report = run(server.clone(), &open(100.0, 2000, 64)).await;
    assert_eq!(report.sent, 2000);
    assert_eq!(report.measured, 2000);
    assert!(report.is_valid(), "{:?}", report.invalid);
    assert!(
        (report.achieved_rps - 100.0).abs() < 0.01,
        "{}",
        report.achieved_rps
    );
    assert_eq!(report.offered_rps, Some(100.0));
    assert!(report.corrected);
    // Each request takes its 2 ms of service and nothing else: no send lag on a paused clock.
    assert_eq!(report.value(Quantile::P99), Duration::from_millis(2));
    assert_eq!(report.max_send_lag, Duration::ZERO);
    assert_eq!(report.max_in_flight_seen, 1);
    assert!(report.violations(&slo()).is_empty());
    assert!(report
        .percentiles
        .iter()
        .all(|p| p.established == (p.name != Quantile::P999)));
}

#[tokio::test(start_paused = true)]
async fn a_freeze_is_charged_to_every_request_it_delays() {
    // 100 req/s; the server freezes for 2 s at t = 1 s. Requests arriving at 1.00, 1.01, ...
    // 2.99 s wait for the freeze to end at 3 s: 200 requests with latencies from 2 s down to
    // 10 ms (plus 1 ms of service), measured from their intended send times.
    let server = Arc::new(FakeServer::freezing(1, 1000, 2000));
    let report = run(server, &open(100.0, 2000, 1000)).await;
    assert!(report.is_valid(), "{:?}", report.invalid);
    assert_eq!(report.measured, 2000);
    let max_ms = report.max.as_secs_f64() * 1000.0;
    assert!((2000.0..2004.0).contains(&max_ms), "{max_ms}");
    assert!(
        report.max_in_flight_seen >= 200,
        "{}",
        report.max_in_flight_seen
    );
    // Latency over 800 ms: the requests that arrived at 1.00 to 2.20 s, in the first 1.2 s of the
    // freeze.
    assert_eq!(report.count_over(800.0), 121);
    let violations = report.violations(&slo());
    assert_eq!(violations.len(), 2, "{violations:?}");
    match &violations[1] {
        Violation::OverThreshold {
            quantile,
            over,
            allowed,
            measured,
            ..
        } => assert_eq!(
            (*quantile, *over, *allowed, *measured),
            (Quantile::P99, 121, 20, 2000)
        ),
        other => panic!("expected p99 over its threshold, got {other}"),
    }
    let text = violations[1].to_string();
    assert!(
        text.contains(
            "exceeds the 800 ms threshold: 121 of 2000 requests took longer, at most 20 may"
        ),
        "{text}"
    );
    assert!(matches!(
        violations[0],
        Violation::OverThreshold {
            quantile: Quantile::P95,
            ..
        }
    ));
}

#[tokio::test(start_paused = true)]
async fn a_closed_loop_hides_the_same_freeze() {
    // The same freeze, measured the old way: 4 workers are stuck in it, so only 4 of 2000
    // samples see it and the p99 stays at the service time. This is why F4 runs open loop.
    let server = Arc::new(FakeServer::freezing(1, 100, 2000));
    let spec = ClosedLoop {
        requests: 2000,
        concurrency: 4,
        warmup: 0,
        timeout: Duration::from_secs(30),
    };
    let report = closed_loop::run(server, &spec).await;
    assert!(!report.corrected);
    assert_eq!(report.count_over(800.0), 4);
    assert_eq!(report.value(Quantile::P99), Duration::from_millis(1));
    assert!(report.violations(&slo()).is_empty());
}

#[tokio::test(start_paused = true)]
async fn hitting_the_in_flight_cap_makes_the_run_invalid() {
    // A 1 s freeze at 100 req/s needs 100 slots; 10 are allowed.
    let server = Arc::new(FakeServer::freezing(1, 500, 1000));
    let report = run(server, &open(100.0, 400, 10)).await;
    assert!(!report.is_valid());
    assert!(
        matches!(
            report.invalid[0],
            InvalidReason::InFlightCapHit { cap: 10, hits } if hits > 0
        ),
        "{:?}",
        report.invalid
    );
    assert_eq!(report.max_in_flight_seen, 10);
    let violations = report.violations(&slo());
    assert!(
        matches!(violations[0], Violation::Invalid(_)),
        "{violations:?}"
    );
    assert!(violations[0]
        .to_string()
        .starts_with("INVALID run: the in-flight cap of 10 was hit"));
}

#[tokio::test(start_paused = true)]
async fn a_client_that_cannot_keep_the_rate_makes_the_run_invalid() {
    // One slot and 100 ms per answer: at most 10 req/s go out of the 100 offered.
    let server = Arc::new(FakeServer::healthy(100));
    let report = run(server, &open(100.0, 50, 1)).await;
    let short = report
        .invalid
        .iter()
        .find_map(|r| match r {
            InvalidReason::RateShort { achieved_rps, .. } => Some(*achieved_rps),
            _ => None,
        })
        .expect("the rate shortfall is named");
    assert!((9.0..11.0).contains(&short), "{short}");
}

#[test]
fn the_achieved_rate_is_judged_against_99_percent_of_the_offered() {
    // 1000 requests at 100 req/s leave on schedule when the last goes 9.99 s after the start.
    let on_time = achieved_rate(1000, Duration::from_millis(9990), 100.0);
    assert!((on_time - 100.0).abs() < 1e-9, "{on_time}");
    assert!(invalid_reasons(0, 64, on_time, 100.0).is_empty());
    // 50 ms late over 10 s is 99.5%: valid. 200 ms late is 98.0%: INVALID.
    let late = achieved_rate(1000, Duration::from_millis(10_040), 100.0);
    assert!(invalid_reasons(0, 64, late, 100.0).is_empty(), "{late}");
    let too_late = achieved_rate(1000, Duration::from_millis(10_190), 100.0);
    let reasons = invalid_reasons(0, 64, too_late, 100.0);
    assert_eq!(reasons.len(), 1);
    let text = reasons[0].to_string();
    assert!(
        text.starts_with("achieved 98.0 req/s, below 99% of the offered 100 req/s"),
        "{text}"
    );
}

#[tokio::test(start_paused = true)]
async fn too_few_requests_leave_the_p99_not_established() {
    let server = Arc::new(FakeServer::healthy(2));
    let report = run(server, &open(100.0, 500, 64)).await;
    assert!(!report.percentile(Quantile::P99).unwrap().established);
    assert!(report.percentile(Quantile::P95).unwrap().established);
    let violations = report.violations(&slo());
    assert_eq!(
        violations,
        vec![Violation::NotEstablished {
            quantile: Quantile::P99,
            measured: 500
        }]
    );
    assert_eq!(
        violations[0].to_string(),
        "p99 not established: 500 measured requests, a p99 threshold needs at least 2000 (20 above it)"
    );
    assert!(
        report.summary().contains("p99 2.0 ms (not established)"),
        "{}",
        report.summary()
    );
}

#[tokio::test(start_paused = true)]
async fn errors_are_counted_by_kind_and_break_the_slo() {
    let server = Arc::new(FakeServer {
        fail_every: 5,
        ..FakeServer::healthy(2)
    });
    let report = run(server, &open(100.0, 100, 64)).await;
    assert_eq!(report.errors, 20);
    assert_eq!(report.errors_by_kind.get("http_500"), Some(&20));
    // Failed answers are not latency samples.
    assert_eq!(report.measured, 80);
    let violations = report.violations(&[]);
    assert_eq!(violations.len(), 1);
    let text = violations[0].to_string();
    assert!(
        text.starts_with(
            "20 of 100 requests failed (20.0%: http_500 20); first: answered HTTP 500 on call 5"
        ),
        "{text}"
    );
}

#[tokio::test(start_paused = true)]
async fn a_timeout_is_an_error_recorded_at_the_timeout() {
    let server = Arc::new(FakeServer {
        hang: true,
        ..FakeServer::healthy(2)
    });
    let spec = OpenLoop {
        timeout: Duration::from_millis(250),
        ..open(100.0, 10, 64)
    };
    let report = run(server, &spec).await;
    assert_eq!(report.errors_by_kind.get("timeout"), Some(&10));
    assert_eq!(report.measured, 10, "timeouts stay in the histogram");
    // Within the histogram's 3 significant digits of the 250 ms timeout.
    let max_ms = report.max.as_secs_f64() * 1000.0;
    assert!((250.0..250.3).contains(&max_ms), "{max_ms}");
}

#[tokio::test(start_paused = true)]
async fn the_warm_up_is_reported_apart_with_its_cold_start() {
    // The server is frozen for its first 500 ms, as a model scaled to zero would be.
    let server = Arc::new(FakeServer::freezing(2, 0, 500));
    let spec = OpenLoop {
        warmup: 10,
        ..open(100.0, 500, 64)
    };
    let report = run(server.clone(), &spec).await;
    let warmup = report.warmup.clone().expect("a warm-up report");
    assert_eq!(warmup.requests, 10);
    assert_eq!(warmup.first, Duration::from_millis(502));
    assert_eq!(report.sent, 500);
    assert_eq!(
        report.max,
        Duration::from_millis(2),
        "the cold start is not measured"
    );
    assert_eq!(server.calls.load(Ordering::Relaxed), 510);
}

#[test]
fn only_the_timers_slack_of_send_lag_is_forgiven() {
    let intended = Instant::now();
    let on_tick = intended + Duration::from_micros(1700);
    assert_eq!(measured_from(intended, on_tick), on_tick);
    // 5 ms late: measured from 2 ms after the intended time, so 3 ms of the lag is charged.
    let late = intended + Duration::from_millis(5);
    assert_eq!(measured_from(intended, late), intended + TIMER_SLACK);
}
