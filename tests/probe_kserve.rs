//! The probe against the real KServe Python model server on loopback: V1 and V2 answers parsed,
//! known iris inputs checked, and each injected fault (server-side delay, HTTP 500s, a missing
//! prediction, wrong classes) caught by the check that must catch it; the `probe` command's
//! open and closed loops. The latency SLO against planted faults is in tests/latency_slo_peer.rs.

#[path = "peers/kserve.rs"]
mod kserve_peer;

use std::time::Duration;

use neuroscale::probe::{
    self, ClosedLoop, LoadSpec, OpenLoop, ProbeError, Quantile, Target, Threshold, Violation,
};
use neuroscale::scenario::Protocol;
use serde_json::json;

fn target(server: &kserve_peer::KserveServer, protocol: Protocol) -> Target {
    Target {
        base_url: server.base_url(),
        host: None,
        model: server.model.clone(),
        protocol,
    }
}

/// A p95 threshold only: the short runs here establish a p95 (400 requests) but not a p99.
fn p95_under(limit_ms: f64) -> Vec<Threshold> {
    vec![Threshold {
        quantile: Quantile::P95,
        limit_ms,
    }]
}

fn open(rate: f64, requests: u32) -> LoadSpec {
    LoadSpec::Open(OpenLoop {
        rate,
        requests,
        max_in_flight: 256,
        warmup: 0,
        timeout: Duration::from_secs(30),
    })
}

fn closed(requests: u32, concurrency: u32) -> LoadSpec {
    LoadSpec::Closed(ClosedLoop {
        requests,
        concurrency,
        warmup: 0,
        timeout: Duration::from_secs(30),
    })
}

#[tokio::test]
async fn a_healthy_server_answers_known_inputs_over_v1_and_v2() {
    let _slot = kserve_peer::exclusive().await;
    let Some(server) = kserve_peer::start("sklearn-iris", &[]) else {
        return;
    };
    let http = probe::http_client().unwrap();
    for protocol in [Protocol::V1, Protocol::V2] {
        let target = target(&server, protocol);
        let verdict = probe::verify_iris(&http, &target)
            .await
            .unwrap_or_else(|err| {
                panic!(
                    "{protocol:?}: {}\n{}",
                    probe::error_chain(&err),
                    server.log_tail()
                )
            });
        assert!(verdict.is_correct(), "{protocol:?}: {}", verdict.summary());
        assert_eq!(
            verdict.predictions,
            vec![json!(1), json!(1), json!(0), json!(2)]
        );

        // The scenario's rows (KServe's e2e input) through the plain predict call.
        let rows = vec![vec![6.8, 2.8, 4.8, 1.4], vec![6.0, 3.4, 4.5, 1.6]];
        let predictions = probe::predict(&http, &target, &rows).await.unwrap();
        assert_eq!(predictions, vec![json!(1), json!(1)], "{protocol:?}");

        for spec in [open(100.0, 40), closed(20, 4)] {
            let report = probe::run_load(&http, &target, &spec).await.unwrap();
            assert_eq!(report.errors, 0, "{protocol:?}: {:?}", report.first_error);
            assert_eq!(u64::from(report.sent), report.measured);
            assert!(report.first_error.is_none());
            let values: Vec<Duration> = report.percentiles.iter().map(|p| p.value).collect();
            assert!(values[0] > Duration::ZERO, "{report:?}");
            assert!(values.windows(2).all(|w| w[0] <= w[1]), "{report:?}");
            assert!(values[4] <= report.max);
            assert!(report.achieved_rps > 0.0);
            assert_eq!(report.corrected, matches!(spec, LoadSpec::Open(_)));
        }
    }
}

#[tokio::test]
async fn cold_start_waits_for_readiness_and_times_the_first_request() {
    let _slot = kserve_peer::exclusive().await;
    let Some(server) = kserve_peer::start("sklearn-iris", &[]) else {
        return;
    };
    let http = probe::http_client().unwrap();
    for protocol in [Protocol::V1, Protocol::V2] {
        let cold = probe::cold_start(&http, &target(&server, protocol), Duration::from_secs(30))
            .await
            .unwrap();
        assert!(cold.first_request > Duration::ZERO, "{cold:?}");
    }
    // A model the server does not have: readiness never comes, and the error says what was seen.
    let mut missing = target(&server, Protocol::V1);
    missing.model = "no-such-model".into();
    let err = probe::cold_start(&http, &missing, Duration::from_millis(300))
        .await
        .unwrap_err();
    let text = err.to_string();
    assert!(matches!(err, ProbeError::NotReady { .. }), "{text}");
    assert!(
        text.contains("no-such-model") && text.contains("HTTP 404"),
        "{text}"
    );
}

#[tokio::test]
async fn an_unknown_model_is_a_404_that_says_so() {
    let _slot = kserve_peer::exclusive().await;
    let Some(server) = kserve_peer::start("sklearn-iris", &[]) else {
        return;
    };
    let mut wrong = target(&server, Protocol::V1);
    wrong.model = "other".into();
    let err = probe::verify_iris(&probe::http_client().unwrap(), &wrong)
        .await
        .unwrap_err();
    match &err {
        ProbeError::Status { status, .. } => assert_eq!(*status, 404),
        other => panic!("expected a 404 status error, got {other}"),
    }
}

#[tokio::test]
async fn an_injected_server_delay_breaks_the_latency_slo() {
    let _slot = kserve_peer::exclusive().await;
    let Some(server) = kserve_peer::start("sklearn-iris", &[("NEUROSCALE_PEER_DELAY_MS", "300")])
    else {
        return;
    };
    let http = probe::http_client().unwrap();
    let report = probe::run_load(&http, &target(&server, Protocol::V1), &open(100.0, 400))
        .await
        .unwrap();
    assert_eq!(report.errors, 0, "{:?}", report.first_error);
    // Every request sleeps 300 ms on the server, so every one of them is over 100 ms.
    assert_eq!(report.count_over(100.0), 400);
    let violations = report.violations(&p95_under(100.0));
    assert!(
        violations.iter().any(|v| matches!(
            v,
            Violation::OverThreshold {
                quantile: Quantile::P95,
                over: 400,
                ..
            }
        )),
        "{violations:?}"
    );
}

#[tokio::test]
async fn injected_http_500s_are_counted_and_fail_the_error_check() {
    let _slot = kserve_peer::exclusive().await;
    let Some(server) = kserve_peer::start("sklearn-iris", &[("NEUROSCALE_PEER_FAIL_EVERY", "2")])
    else {
        return;
    };
    let http = probe::http_client().unwrap();
    let report = probe::run_load(&http, &target(&server, Protocol::V2), &closed(10, 2))
        .await
        .unwrap();
    // Every second predict call raises, which KServe answers with HTTP 500. The exception then
    // escapes to uvicorn, which closes that keep-alive connection ("Exception in ASGI
    // application" in the server log; seen on kserve 0.21), so a request sent on it before the
    // client notices the close fails without reaching the model: a real failure a client sees,
    // counted like any other. Of 10 requests, r reach
    // the model (calls 1..=r, every even one fails) and 10 - r are lost on a closed connection,
    // so errors = (10 - r) + r/2, which is at least 5 whatever r is.
    assert!(report.errors >= 5, "{report:?}");
    assert!((report.error_rate - f64::from(report.errors) / 10.0).abs() < f64::EPSILON);
    let first = report.first_error.clone().unwrap();
    assert!(first.contains("HTTP 500"), "{first}");
    let violations = report.violations(&[]);
    assert_eq!(violations.len(), 1, "{violations:?}");
    let text = violations[0].to_string();
    assert!(
        text.starts_with(&format!("{} of 10 requests failed", report.errors)),
        "{text}"
    );
    assert!(text.contains("http_500"), "{text}");
}

#[tokio::test]
async fn a_missing_prediction_is_a_count_error() {
    let _slot = kserve_peer::exclusive().await;
    let Some(server) =
        kserve_peer::start("sklearn-iris", &[("NEUROSCALE_PEER_DROP_PREDICTION", "1")])
    else {
        return;
    };
    let http = probe::http_client().unwrap();
    for protocol in [Protocol::V1, Protocol::V2] {
        let err = probe::verify_iris(&http, &target(&server, protocol))
            .await
            .unwrap_err();
        match &err {
            ProbeError::PredictionCount { sent, got, .. } => assert_eq!((*sent, *got), (4, 3)),
            other => panic!("{protocol:?}: expected a prediction count error, got {other}"),
        }
        assert!(
            err.to_string()
                .contains("answered 3 predictions for 4 input rows"),
            "{err}"
        );
    }
    // Under load every answer is short (one row sent, none back), so every request fails.
    let report = probe::run_load(&http, &target(&server, Protocol::V1), &open(100.0, 4))
        .await
        .unwrap();
    assert_eq!(report.errors, 4);
    assert_eq!(report.errors_by_kind.get("wrong_answer"), Some(&4));
}

#[tokio::test]
async fn wrong_classes_are_named_row_by_row() {
    let _slot = kserve_peer::exclusive().await;
    let Some(server) = kserve_peer::start("sklearn-iris", &[("NEUROSCALE_PEER_WRONG_CLASS", "1")])
    else {
        return;
    };
    let verdict = probe::verify_iris(
        &probe::http_client().unwrap(),
        &target(&server, Protocol::V1),
    )
    .await
    .unwrap();
    assert!(!verdict.is_correct());
    // Every row answers 2; only the virginica row (index 3) is right.
    let rows: Vec<usize> = verdict.mismatches.iter().map(|m| m.row).collect();
    assert_eq!(rows, vec![0, 1, 2]);
}

#[tokio::test]
async fn the_probe_command_passes_and_fails_on_its_verdict() {
    let _slot = kserve_peer::exclusive().await;
    let Some(healthy) = kserve_peer::start("sklearn-iris", &[]) else {
        return;
    };
    let Some(slow) = kserve_peer::start("sklearn-iris", &[("NEUROSCALE_PEER_DELAY_MS", "300")])
    else {
        return;
    };
    let run = |url: String, extra: &[&str]| {
        let mut args = vec![
            "probe".to_string(),
            "--url".into(),
            url,
            "--model".into(),
            "sklearn-iris".into(),
            "--warmup".into(),
            "2".into(),
            "--format".into(),
            "json".into(),
        ];
        args.extend(extra.iter().map(|s| s.to_string()));
        std::process::Command::new(env!("CARGO_BIN_EXE_neuroscale"))
            .args(&args)
            .output()
            .expect("the neuroscale binary runs")
    };

    let ok = run(
        healthy.base_url(),
        &["--protocol", "v2", "--rate", "100", "--duration", "1s"],
    );
    let stdout = String::from_utf8_lossy(&ok.stdout);
    assert_eq!(
        ok.status.code(),
        Some(0),
        "{stdout}\n{}",
        String::from_utf8_lossy(&ok.stderr)
    );
    let report: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(report["passed"], json!(true));
    assert_eq!(report["valid"], json!(true));
    assert_eq!(report["load"]["method"]["loop"], json!("open"));
    assert_eq!(report["load"]["method"]["rate_rps"], json!(100.0));
    assert_eq!(report["load"]["sent"], json!(100));
    assert_eq!(report["load"]["corrected"], json!(true));
    assert_eq!(report["load"]["warmup"]["requests"], json!(2));
    assert_eq!(report["verification"]["predictions"], json!([1, 1, 0, 2]));

    // 400 requests establish a p95; every one of them sleeps 300 ms.
    let slow_run = run(
        slow.base_url(),
        &["--rate", "100", "--requests", "400", "--p95-ms", "100"],
    );
    let stdout = String::from_utf8_lossy(&slow_run.stdout);
    assert_eq!(slow_run.status.code(), Some(1), "{stdout}");
    let report: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(report["passed"], json!(false));
    let violations = report["violations"].as_array().unwrap();
    assert!(
        violations
            .iter()
            .any(|v| v.as_str().unwrap().starts_with("p95 latency")),
        "{report}"
    );

    // The closed loop is named as such, and its latencies say they are not corrected.
    let closed_run = run(
        healthy.base_url(),
        &["--closed", "--concurrency", "2", "--requests", "20"],
    );
    let stdout = String::from_utf8_lossy(&closed_run.stdout);
    assert_eq!(closed_run.status.code(), Some(0), "{stdout}");
    let report: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(report["load"]["method"]["loop"], json!("closed"));
    assert_eq!(report["load"]["method"]["concurrency"], json!(2));
    assert_eq!(report["load"]["corrected"], json!(false));

    // An open-loop flag with --closed is a usage error (exit 2).
    let mixed = run(healthy.base_url(), &["--closed", "--rate", "10"]);
    assert_eq!(mixed.status.code(), Some(2));
}
