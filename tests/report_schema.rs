//! The JSON report matches its published JSON Schema (docs/report.schema.json), so the
//! documented schema and the code cannot drift apart, and the schema is strict enough to reject
//! a report without its version or a FAIL without a diagnosis.

use std::path::Path;
use std::time::{Duration, SystemTime};

use neuroscale::checks::runner::RunResults;
use neuroscale::checks::CheckId;
use neuroscale::checks::{CheckResult, Diagnosis, Outcome};
use neuroscale::failures::FailureCode;
use neuroscale::report::{json, Environment, Report};
use serde_json::Value;

fn schema() -> jsonschema::Validator {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/report.schema.json");
    let schema: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    jsonschema::validator_for(&schema).expect("a valid JSON Schema")
}

fn report() -> Report {
    let results = vec![
        CheckResult::new(
            CheckId::A4,
            Outcome::pass("canary recreated and Ready after 7.2s").with_figure(
                "heal_seconds",
                7.2,
                "s",
            ),
            Duration::from_secs(9),
        ),
        CheckResult::new(
            CheckId::D3,
            Outcome::fail(
                "admission failed for a reason that is not a Kyverno denial",
                Diagnosis::new(
                    "no endpoints available for service \"kserve-webhook-server-service\"",
                    "the KServe webhook has no ready endpoints",
                    "kubectl -n kserve get endpoints kserve-webhook-server-service",
                )
                .with_code(FailureCode::KserveWebhookNoEndpoints),
            ),
            Duration::from_secs(2),
        ),
        CheckResult::new(
            CheckId::F3,
            Outcome::skip("scenario sets gpu: off"),
            Duration::ZERO,
        ),
    ];
    let environment = Environment {
        context: "k3d-neuroscale".into(),
        server: Some("https://127.0.0.1:6550/".into()),
        kubernetes_version: Some("v1.34.8+k3s1".into()),
        harness_context: true,
        mutations_allowed: true,
        scenario_name: "smoke".into(),
        scenario_source: "scenarios/smoke.yaml".into(),
        gpu: "off".into(),
        versions: Environment::pinned_versions(),
    };
    Report::new(
        SystemTime::now(),
        environment,
        RunResults {
            results,
            cancelled: None,
            duration: Duration::from_secs(11),
        },
    )
}

fn errors(validator: &jsonschema::Validator, document: &Value) -> Vec<String> {
    validator
        .iter_errors(document)
        .map(|e| e.to_string())
        .collect()
}

#[test]
fn a_report_validates_against_the_published_schema() {
    let validator = schema();
    let document: Value = serde_json::from_str(&json::render(&report())).unwrap();
    assert_eq!(errors(&validator, &document), Vec::<String>::new());
    assert_eq!(document["checks"][1]["diagnosis"]["code"], "NS101");
}

#[test]
fn the_schema_rejects_a_code_outside_the_catalogue_form() {
    let validator = schema();
    let mut document = json::to_value(&report());
    document["checks"][1]["diagnosis"]["code"] = Value::from("E42");
    assert!(!validator.is_valid(&document));
}

#[test]
fn the_schema_rejects_a_report_without_its_version() {
    let validator = schema();
    let mut document = json::to_value(&report());
    document.as_object_mut().unwrap().remove("schemaVersion");
    assert!(!validator.is_valid(&document));
}

#[test]
fn the_schema_rejects_a_failure_without_a_diagnosis() {
    let validator = schema();
    let mut document = json::to_value(&report());
    document["checks"][1]["diagnosis"] = Value::Null;
    assert!(!validator.is_valid(&document));
}
