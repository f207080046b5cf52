//! B4's judgement of real answers: the request path of check B4 (the kit's `Gateway::ask`, which
//! sends through `crate::probe` with the InferenceService's Host header) against the real KServe
//! Python model server on loopback, standing in for a predictor behind the Kourier gateway.
//! A healthy server PASSes; a server answering one prediction too few, or the wrong classes,
//! FAILs with a diagnosis naming it.

#[path = "peers/kserve.rs"]
mod kserve_peer;

use neuroscale::checks::kit::gateway::{
    evaluate_answers as evaluate_inference, Gateway, ProbeAnswer,
};
use neuroscale::checks::Verdict;
use neuroscale::platform::views::InferenceService;
use neuroscale::probe;
use neuroscale::scenario::{ModelProbe, Protocol, Scenario, BUILTIN_SMOKE};
use serde_json::json;

/// The scenario's model of this protocol (the smoke scenario's rows and expected classes).
fn scenario_model(protocol: Protocol) -> ModelProbe {
    let scenario = Scenario::parse(std::path::Path::new("smoke.yaml"), BUILTIN_SMOKE).unwrap();
    let mut model = scenario
        .cpu_models()
        .find(|m| m.protocol == protocol)
        .expect("the smoke scenario has a CPU model per protocol")
        .clone();
    // One server serves both protocols under one name.
    model.name = "sklearn-iris".into();
    model
}

/// The InferenceService as KServe reports it once Ready (kserve
/// pkg/apis/serving/v1beta1/inference_service_status.go; status.url is the predictor ksvc URL
/// with disableIstioVirtualHost).
fn ready_isvc() -> InferenceService {
    serde_json::from_value(json!({
        "apiVersion": "serving.kserve.io/v1beta1", "kind": "InferenceService",
        "metadata": {"namespace": "models", "name": "sklearn-iris"},
        "spec": {"predictor": {"model": {"modelFormat": {"name": "sklearn"}}}},
        "status": {
            "url": "http://sklearn-iris-predictor.models.neuroscale.localhost",
            "conditions": [{"type": "Ready", "status": "True"}]
        }
    }))
    .expect("an InferenceService")
}

#[tokio::test]
async fn b4_passes_on_a_real_kserve_server_over_v1_and_v2() {
    let Some(server) = kserve_peer::start("sklearn-iris", &[]) else {
        return;
    };
    let http = probe::http_client().unwrap();
    let mut answers = Vec::new();
    for protocol in [Protocol::V1, Protocol::V2] {
        let answer = Gateway::new(http.clone(), server.base_url())
            .ask(&ready_isvc(), &scenario_model(protocol))
            .await;
        assert_eq!(
            answer.host, "sklearn-iris-predictor.models.neuroscale.localhost",
            "the Host header is the status.url host"
        );
        answers.push(answer);
    }
    let outcome = evaluate_inference(&answers, &server.base_url());
    assert_eq!(
        outcome.verdict(),
        Verdict::Pass,
        "{outcome:?}\n{}",
        server.log_tail()
    );
    assert_eq!(outcome.figures[0].name, "latency_max_ms");
}

#[tokio::test]
async fn b4_fails_when_the_server_answers_one_prediction_too_few() {
    let Some(server) =
        kserve_peer::start("sklearn-iris", &[("NEUROSCALE_PEER_DROP_PREDICTION", "1")])
    else {
        return;
    };
    let http = probe::http_client().unwrap();
    let answer = Gateway::new(http.clone(), server.base_url())
        .ask(&ready_isvc(), &scenario_model(Protocol::V1))
        .await;
    assert_eq!(answer.answer, ProbeAnswer::Count { sent: 2, got: 1 });
    let outcome = evaluate_inference(&[answer], &server.base_url());
    assert_eq!(outcome.verdict(), Verdict::Fail);
    let diagnosis = outcome.diagnosis.expect("a FAIL carries a diagnosis");
    assert!(
        diagnosis
            .observed
            .contains("answered 1 predictions for 2 input rows"),
        "{}",
        diagnosis.observed
    );
}

#[tokio::test]
async fn b4_fails_when_the_server_answers_the_wrong_classes() {
    let Some(server) = kserve_peer::start("sklearn-iris", &[("NEUROSCALE_PEER_WRONG_CLASS", "1")])
    else {
        return;
    };
    let http = probe::http_client().unwrap();
    let answer = Gateway::new(http.clone(), server.base_url())
        .ask(&ready_isvc(), &scenario_model(Protocol::V2))
        .await;
    let outcome = evaluate_inference(&[answer], &server.base_url());
    assert_eq!(outcome.verdict(), Verdict::Fail);
    let diagnosis = outcome.diagnosis.expect("a FAIL carries a diagnosis");
    assert!(
        diagnosis.observed.contains("row 0: expected 1, got 2"),
        "{}",
        diagnosis.observed
    );
}
