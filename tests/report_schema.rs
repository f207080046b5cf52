//! The JSON report matches its published JSON Schema (docs/report.schema.json), so the
//! documented schema and the code cannot drift apart, and the schema is strict enough to reject
//! a report without its version or a FAIL without a diagnosis.

mod support;

use std::path::Path;

use neuroscale::report::{json, Report};
use serde_json::Value;

fn schema() -> jsonschema::Validator {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/report.schema.json");
    let schema: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    jsonschema::validator_for(&schema).expect("a valid JSON Schema")
}

fn report() -> Report {
    support::reports::sample()
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
    assert_eq!(document["checks"][2]["diagnosis"]["code"], "NS101");
}

#[test]
fn the_schema_rejects_a_code_outside_the_catalogue_form() {
    let validator = schema();
    let mut document = json::to_value(&report());
    document["checks"][2]["diagnosis"]["code"] = Value::from("E42");
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
    let failed = document["checks"]
        .as_array_mut()
        .unwrap()
        .iter_mut()
        .find(|c| c["verdict"] == "FAIL")
        .expect("the sample has a failure");
    failed["diagnosis"] = Value::Null;
    assert!(!validator.is_valid(&document));
}
