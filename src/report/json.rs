//! The JSON report: a stable, versioned document (`docs/report-schema.md`). Its shape is defined
//! here by view types, not by the internal structs, so internal changes cannot silently change
//! the public schema. Additive changes keep `schemaVersion`; anything else bumps it. v2 added
//! each check's typed `outcome` (what happened to it, with that kind's fields), the
//! `summary.errors` count and the run's `cancelReason`.

use std::collections::BTreeMap;

use serde::Serialize;

use super::Report;
use crate::checks::{CancelReason, CheckResult, OutcomeKind, Verdict};

/// The schema identifier every JSON report carries.
pub const SCHEMA_VERSION: &str = "neuroscale.report/v2";

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct Document<'a> {
    schema_version: &'static str,
    tool: Tool,
    /// RFC 3339, UTC.
    started_at: String,
    duration_ms: u64,
    verdict: Verdict,
    interrupted: bool,
    cancel_reason: Option<CancelReason>,
    summary: Summary,
    environment: Environment<'a>,
    checks: Vec<Check<'a>>,
    bundle: Option<String>,
}

#[derive(Debug, Serialize)]
struct Tool {
    name: &'static str,
    version: &'static str,
}

#[derive(Debug, Serialize)]
struct Summary {
    total: usize,
    passed: usize,
    failed: usize,
    skipped: usize,
    errors: usize,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct Environment<'a> {
    context: &'a str,
    server: Option<&'a str>,
    kubernetes_version: Option<&'a str>,
    harness_context: bool,
    mutations_allowed: bool,
    scenario: Scenario<'a>,
    versions: &'a BTreeMap<String, String>,
}

#[derive(Debug, Serialize)]
struct Scenario<'a> {
    name: &'a str,
    source: String,
    gpu: &'a str,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct Check<'a> {
    id: &'a str,
    slug: &'a str,
    milestone: char,
    milestone_title: &'static str,
    title: &'a str,
    verdict: Verdict,
    outcome: &'a OutcomeKind,
    summary: &'a str,
    figures: Vec<Figure<'a>>,
    diagnosis: Option<Diagnosis<'a>>,
    duration_ms: u64,
}

#[derive(Debug, Serialize)]
struct Figure<'a> {
    name: &'a str,
    value: f64,
    unit: &'a str,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct Diagnosis<'a> {
    observed: &'a str,
    likely_cause: &'a str,
    next_command: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    code: Option<&'static str>,
}

fn check(result: &CheckResult) -> Check<'_> {
    Check {
        id: result.id.as_str(),
        slug: result.slug(),
        milestone: result.milestone().letter(),
        milestone_title: result.milestone().title(),
        title: result.title(),
        verdict: result.verdict(),
        outcome: result.kind(),
        summary: result.summary(),
        figures: result
            .figures()
            .iter()
            .map(|f| Figure {
                name: &f.name,
                value: f.value,
                unit: &f.unit,
            })
            .collect(),
        diagnosis: result.diagnosis().map(|d| Diagnosis {
            observed: &d.observed,
            likely_cause: &d.likely_cause,
            next_command: &d.next_command,
            code: d.code.map(|c| c.as_str()),
        }),
        duration_ms: result.duration.as_millis() as u64,
    }
}

/// The report as a JSON value.
pub fn to_value(report: &Report) -> serde_json::Value {
    let summary = report.summary();
    let env = &report.environment;
    let document = Document {
        schema_version: SCHEMA_VERSION,
        tool: Tool {
            name: "neuroscale",
            version: env!("CARGO_PKG_VERSION"),
        },
        started_at: humantime::format_rfc3339_seconds(report.started_at).to_string(),
        duration_ms: report.duration.as_millis() as u64,
        verdict: summary.verdict,
        interrupted: report.cancelled.is_some(),
        cancel_reason: report.cancelled,
        summary: Summary {
            total: summary.total,
            passed: summary.passed,
            failed: summary.failed,
            skipped: summary.skipped,
            errors: summary.errors,
        },
        environment: Environment {
            context: &env.context,
            server: env.server.as_deref(),
            kubernetes_version: env.kubernetes_version.as_deref(),
            harness_context: env.harness_context,
            mutations_allowed: env.mutations_allowed,
            scenario: Scenario {
                name: &env.scenario_name,
                source: env.scenario_source.display().to_string(),
                gpu: &env.gpu,
            },
            versions: &env.versions,
        },
        checks: report.checks.iter().map(check).collect(),
        bundle: report.bundle.as_ref().map(|p| p.display().to_string()),
    };
    serde_json::to_value(document).expect("the report serializes")
}

/// The report as pretty-printed JSON.
pub fn render(report: &Report) -> String {
    let mut text = serde_json::to_string_pretty(&to_value(report)).expect("valid JSON");
    text.push('\n');
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::fixtures;

    #[test]
    fn the_document_carries_its_schema_version_and_verdicts() {
        let value: serde_json::Value = serde_json::from_str(&render(&fixtures::report())).unwrap();
        assert_eq!(value["schemaVersion"], "neuroscale.report/v2");
        assert_eq!(value["verdict"], "FAIL");
        assert_eq!(value["summary"]["failed"], 1);
        assert_eq!(value["startedAt"], "2026-11-30T00:53:20Z");
        assert_eq!(value["environment"]["scenario"]["name"], "smoke");
        assert_eq!(value["environment"]["versions"]["kserve"], "v0.20.0");
        let d3 = &value["checks"][2];
        assert_eq!(d3["id"], "D3");
        assert_eq!(d3["milestone"], "D");
        assert_eq!(d3["verdict"], "FAIL");
        assert_eq!(
            d3["diagnosis"]["nextCommand"],
            "kubectl -n kserve get endpoints kserve-webhook-server-service"
        );
        assert_eq!(value["checks"][1]["figures"][0]["value"], 7.2);
        assert_eq!(value["checks"][1]["durationMs"], 9000);
        assert_eq!(value["checks"][3]["verdict"], "SKIP");
        assert_eq!(value["checks"][2]["outcome"]["kind"], "failed");
        assert_eq!(value["cancelReason"], serde_json::Value::Null);
    }

    fn schema() -> serde_json::Value {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/report.schema.json");
        serde_json::from_str(&std::fs::read_to_string(path).expect("the published schema"))
            .expect("the schema is JSON")
    }

    #[test]
    fn every_outcome_kind_is_published_and_reads_back() {
        let mut report = crate::report::every_kind::report();
        report.cancelled = Some(CancelReason::Interrupted);
        let value = to_value(&report);
        let validator = jsonschema::validator_for(&schema()).expect("a valid JSON Schema");
        let problems: Vec<String> = validator
            .iter_errors(&value)
            .map(|e| format!("{}: {e}", e.instance_path()))
            .collect();
        assert!(problems.is_empty(), "{problems:#?}");
        assert_eq!(value["cancelReason"], "interrupted");
        assert_eq!(value["summary"]["errors"], 5);
        let by_id = |id: &str| {
            value["checks"]
                .as_array()
                .unwrap()
                .iter()
                .find(|c| c["id"] == id)
                .cloned()
                .unwrap_or_else(|| panic!("{id} reported"))
        };
        let kind = |id: &str| by_id(id)["outcome"]["kind"].as_str().unwrap().to_string();
        assert_eq!(kind("A1"), "passed");
        assert_eq!(kind("A2"), "failed");
        assert_eq!(kind("F3"), "skipped");
        let timed_out = by_id("B3")["outcome"].clone();
        assert_eq!(timed_out["kind"], "timed-out");
        assert_eq!(timed_out["waitedMs"], 270_000);
        assert_eq!(
            timed_out["waitedFor"],
            "every platform InferenceService is Ready=True with a URL"
        );
        assert_eq!(
            timed_out["lastSeen"],
            "inferenceservice sklearn-iris Ready=False"
        );
        assert_eq!(
            by_id("C2")["outcome"]["reason"],
            "the cluster is unreachable"
        );
        assert_eq!(by_id("C3")["outcome"]["kind"], "interrupted");
        assert!(by_id("C3")["outcome"]["lastSeen"].is_string());
        let left = by_id("D3")["outcome"].clone();
        assert_eq!(left["kind"], "left-behind");
        assert_eq!(left["concluded"]["kind"], "passed");
        assert_eq!(left["objects"][0]["name"], "neuroscale-d3-1a2b3c");
        assert_eq!(
            left["objects"][0]["apiVersion"],
            "serving.kserve.io/v1beta1"
        );
        assert_eq!(left["objects"][0]["why"], "forbidden");
        assert_eq!(by_id("D4")["outcome"]["context"], "gke_lab");
        assert_eq!(by_id("E1")["outcome"]["cause"], "api");
        assert_eq!(by_id("E2")["outcome"]["cause"], "panic");
        assert_eq!(by_id("E2")["outcome"]["message"], "index out of bounds");
        for check in value["checks"].as_array().unwrap() {
            let expected = match check["outcome"]["kind"].as_str().unwrap() {
                "passed" => "PASS",
                "skipped" => "SKIP",
                _ => "FAIL",
            };
            assert_eq!(check["verdict"], expected, "{check}");
        }
    }

    #[test]
    fn the_schema_refuses_an_unknown_outcome_kind() {
        let mut value = to_value(&fixtures::report());
        value["checks"][0]["outcome"] = serde_json::json!({"kind": "maybe"});
        assert!(!jsonschema::is_valid(&schema(), &value));
    }
}
