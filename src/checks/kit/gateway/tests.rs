//! The gateway's judgement of answers, and the Host header it sends.

use std::time::Duration;

use serde_json::json;

use super::*;
use crate::checks::fixtures::{self, diagnosis, isvc};
use crate::checks::outcome::Verdict;

fn iris() -> ModelProbe {
    ModelProbe {
        name: "sklearn-iris".into(),
        namespace: "models".into(),
        protocol: crate::scenario::Protocol::V1,
        instances: vec![vec![6.8, 2.8, 4.8, 1.4], vec![6.0, 3.4, 4.5, 1.6]],
        expected: vec![json!(1), json!(1)],
        cost_center: "ml-research".into(),
        gpu: false,
    }
}

fn answer(answer: ProbeAnswer) -> ModelAnswer {
    ModelAnswer {
        model: iris(),
        host: "sklearn-iris-predictor.models.neuroscale.localhost".into(),
        answer,
    }
}

#[test]
fn the_host_header_is_the_isvc_url_host() {
    let ready = isvc(fixtures::inference_service("models", "sklearn-iris", true));
    assert_eq!(
        host_of(&ready).as_deref(),
        Some("sklearn-iris-predictor.models.127.0.0.1.sslip.io")
    );
    assert_eq!(
        ready_host(&ready).as_deref(),
        Ok("sklearn-iris-predictor.models.127.0.0.1.sslip.io")
    );
    let pending = isvc(fixtures::inference_service("models", "x", false));
    assert_eq!(host_of(&pending), None);
    assert!(ready_host(&pending).unwrap_err().contains("Ready=False"));
}

#[test]
fn b4_passes_on_the_expected_predictions() {
    // KServe V1 answer for these rows: {"predictions": [1, 1]}.
    let outcome = evaluate_answers(
        &[answer(ProbeAnswer::Predictions {
            predictions: vec![json!(1), json!(1)],
            latency: Duration::from_millis(12),
        })],
        "http://127.0.0.1:8081",
    );
    assert_eq!(outcome.verdict(), Verdict::Pass, "{outcome:?}");
    assert_eq!(outcome.figures[0].value, 12.0);
}

#[test]
fn b4_fails_on_the_wrong_number_of_predictions() {
    let outcome = evaluate_answers(
        &[answer(ProbeAnswer::Predictions {
            predictions: vec![json!(1)],
            latency: Duration::from_millis(12),
        })],
        "http://127.0.0.1:8081",
    );
    assert_eq!(outcome.verdict(), Verdict::Fail);
    let d = diagnosis(&outcome);
    assert!(
        d.observed
            .contains("answered 1 predictions for 2 input rows"),
        "{}",
        d.observed
    );
    assert!(d
        .next_command
        .contains("Host: sklearn-iris-predictor.models.neuroscale.localhost"));
}

#[test]
fn b4_fails_when_the_probe_reports_the_wrong_number_of_predictions() {
    // What probe::predict reports when the server answers 1 prediction for 2 rows.
    let answer_from_probe = ProbeAnswer::from_probe(Err(ProbeError::PredictionCount {
        url: "http://127.0.0.1:8081/v1/models/sklearn-iris:predict".into(),
        sent: 2,
        got: 1,
    }));
    assert_eq!(answer_from_probe, ProbeAnswer::Count { sent: 2, got: 1 });
    assert!(!answer_from_probe.is_transient());
    let outcome = evaluate_answers(&[answer(answer_from_probe)], "http://127.0.0.1:8081");
    assert_eq!(outcome.verdict(), Verdict::Fail);
    assert!(diagnosis(&outcome)
        .observed
        .contains("answered 1 predictions for 2 input rows"));
}

#[test]
fn gateway_errors_are_transient_and_wrong_answers_are_not() {
    let busy = ProbeAnswer::from_probe(Err(ProbeError::Status {
        url: "http://127.0.0.1:8081/v1/models/sklearn-iris:predict".into(),
        host: Some("sklearn-iris-predictor.models.neuroscale.localhost".into()),
        status: 503,
        body: "no healthy upstream".into(),
    }));
    assert!(busy.is_transient());
    assert!(!ProbeAnswer::Status {
        status: 404,
        body: String::new()
    }
    .is_transient());
    assert!(!ProbeAnswer::Malformed("not JSON".into()).is_transient());
}

#[test]
fn b4_fails_on_a_wrong_prediction() {
    let outcome = evaluate_answers(
        &[answer(ProbeAnswer::Predictions {
            predictions: vec![json!(1), json!(2)],
            latency: Duration::from_millis(12),
        })],
        "http://127.0.0.1:8081",
    );
    assert_eq!(outcome.verdict(), Verdict::Fail);
    assert!(diagnosis(&outcome)
        .observed
        .contains("row 1: expected 1, got 2"));
}

#[test]
fn b4_explains_a_404_from_kourier() {
    let outcome = evaluate_answers(
        &[answer(ProbeAnswer::Status {
            status: 404,
            body: String::new(),
        })],
        "http://127.0.0.1:8081",
    );
    assert_eq!(outcome.verdict(), Verdict::Fail);
    assert!(diagnosis(&outcome)
        .likely_cause
        .contains("wrong Host header"));
}
