//! F4's latency SLO against the real KServe Python model server on loopback, through the check
//! kit's request path (`Gateway::load`, open loop) and F4's judgement (`evaluate_latency`). The
//! healthy server PASSes; each planted fault FAILs for its own reason:
//! - +120 ms in every predict: the p50 is over its 100 ms threshold (every request is);
//! - 20% of predicts answer HTTP 500: exactly 400 of the 2,000 measured requests fail;
//! - the whole server freezes for 1 s every 2 s (a blocking sleep, as a GC pause would): with
//!   room for every delayed request in flight, the p99 is over 800 ms; with a cap of 50 in
//!   flight, the run is INVALID because the cap was hit (200 requests fall due per frozen second).
//!
//! The verdicts and causes are what is asserted; no figure is compared with a clock.

#[path = "peers/kserve.rs"]
mod kserve_peer;

use neuroscale::checks::hardening::latency_slo::evaluate_latency;
use neuroscale::checks::kit::gateway::Gateway;
use neuroscale::checks::{Outcome, Verdict};
use neuroscale::probe::{self, LoadReport, LoadSpec, OpenLoop, Quantile, Target, Violation};
use neuroscale::scenario::{Latency, Protocol};

const MODEL: &str = "sklearn-iris";
const HOST: &str = "sklearn-iris-predictor.models.neuroscale.localhost";

/// 2,000 measured requests (enough for a p99) at 200 per second: 10 s per run.
fn slo(max_in_flight: u32) -> Latency {
    Latency {
        rate: 200.0,
        duration: None,
        requests: Some(2000),
        max_in_flight,
        warmup: 20,
        p50_ms: Some(100.0),
        p95_ms: Some(400.0),
        p99_ms: Some(800.0),
    }
}

/// Starts the server with `faults`, runs F4's load against it and judges it. `None` when the
/// peer is missing (the skip is printed by `kserve_peer::start`).
async fn f4_against(
    faults: &[(&str, &str)],
    max_in_flight: u32,
) -> Option<(Outcome, LoadReport, String)> {
    let server = kserve_peer::start(MODEL, faults)?;
    let target = Target {
        base_url: server.base_url(),
        host: Some(HOST.into()),
        model: MODEL.into(),
        protocol: Protocol::V1,
    };
    let slo = slo(max_in_flight);
    let gateway = Gateway::new(probe::http_client().unwrap(), server.base_url());
    let report = gateway
        .load(&target, &LoadSpec::Open(OpenLoop::from(&slo)))
        .await
        .expect("a valid load spec");
    let outcome = evaluate_latency(&slo, MODEL, HOST, &report);
    Some((outcome, report, server.log_tail()))
}

fn observed(outcome: &Outcome) -> String {
    outcome
        .diagnosis
        .as_ref()
        .map(|d| d.observed.clone())
        .unwrap_or_default()
}

#[tokio::test]
async fn a_healthy_server_passes_the_slo() {
    let _slot = kserve_peer::exclusive().await;
    let Some((outcome, report, log)) = f4_against(&[], 1000).await else {
        return;
    };
    assert_eq!(outcome.verdict(), Verdict::Pass, "{outcome:?}\n{log}");
    assert_eq!(report.measured, 2000);
    assert!(report.corrected);
    assert!(report.percentile(Quantile::P99).unwrap().established);
    assert_eq!(report.warmup.as_ref().map(|w| w.requests), Some(20));
}

#[tokio::test]
async fn an_added_120_ms_fails_the_p50() {
    let _slot = kserve_peer::exclusive().await;
    let Some((outcome, report, log)) =
        f4_against(&[("NEUROSCALE_PEER_DELAY_MS", "120")], 1000).await
    else {
        return;
    };
    assert_eq!(outcome.verdict(), Verdict::Fail, "{outcome:?}\n{log}");
    assert_eq!(report.errors, 0, "{:?}", report.first_error);
    // Every request sleeps 120 ms in the server: all 2,000 are over the 100 ms p50 threshold.
    let found = report.violations(&probe::thresholds(&slo(1000)));
    assert!(
        found.iter().any(|v| matches!(
            v,
            Violation::OverThreshold {
                quantile: Quantile::P50,
                over: 2000,
                ..
            }
        )),
        "{found:?}"
    );
    assert!(observed(&outcome).contains("p50 latency"), "{outcome:?}");
}

#[tokio::test]
async fn a_20_percent_error_rate_fails_on_the_errors() {
    let _slot = kserve_peer::exclusive().await;
    let Some((outcome, report, log)) =
        f4_against(&[("NEUROSCALE_PEER_ERROR_RATE", "0.2")], 1000).await
    else {
        return;
    };
    assert_eq!(outcome.verdict(), Verdict::Fail, "{outcome:?}\n{log}");
    // Predict calls 21..=2020 are the measured ones; the server fails every fifth call.
    assert_eq!(
        report.errors_by_kind.get("http_500"),
        Some(&400),
        "{report:?}"
    );
    assert!(
        observed(&outcome).contains("400 of 2000 requests failed (20.0%: http_500 400)"),
        "{outcome:?}"
    );
}

/// 1 s frozen out of every 2 s, from the first predict call on.
const FREEZE: [(&str, &str); 2] = [
    ("NEUROSCALE_PEER_FREEZE_EVERY_MS", "2000"),
    ("NEUROSCALE_PEER_FREEZE_FOR_MS", "1000"),
];

#[tokio::test]
async fn a_periodic_freeze_fails_the_p99() {
    let _slot = kserve_peer::exclusive().await;
    let Some((outcome, report, log)) = f4_against(&FREEZE, 1000).await else {
        return;
    };
    assert_eq!(outcome.verdict(), Verdict::Fail, "{outcome:?}\n{log}");
    // At least one freeze falls in the 10 s measured: the 200 requests due in that second wait
    // for its end, so at least 40 of them take over 800 ms, twice what the p99 allows.
    assert!(report.count_over(800.0) > 20, "{report:?}");
    assert!(observed(&outcome).contains("p99 latency"), "{outcome:?}");
    assert!(
        !report
            .invalid
            .iter()
            .any(|r| matches!(r, probe::InvalidReason::InFlightCapHit { .. })),
        "1000 slots hold a frozen second: {report:?}"
    );
}

#[tokio::test]
async fn a_periodic_freeze_under_a_small_cap_is_an_invalid_run() {
    let _slot = kserve_peer::exclusive().await;
    let Some((outcome, report, log)) = f4_against(&FREEZE, 50).await else {
        return;
    };
    assert_eq!(outcome.verdict(), Verdict::Fail, "{outcome:?}\n{log}");
    assert!(
        outcome
            .summary
            .starts_with("INVALID run: the in-flight cap of 50 was hit"),
        "{outcome:?}"
    );
    assert!(!report.is_valid());
}
