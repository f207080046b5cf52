//! The JSON report: a stable, versioned document (`docs/report-schema.md`). Its shape is defined
//! here by view types, not by the internal structs, so internal changes cannot silently change
//! the public schema. Additive changes keep `schemaVersion`; anything else bumps it.

use std::collections::BTreeMap;

use serde::Serialize;

use super::Report;
use crate::checks::{CheckResult, Verdict};

/// The schema identifier every JSON report carries.
pub const SCHEMA_VERSION: &str = "neuroscale.report/v1";

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
}

fn check(result: &CheckResult) -> Check<'_> {
    Check {
        id: result.id,
        slug: result.slug,
        milestone: result.milestone.letter(),
        milestone_title: result.milestone.title(),
        title: result.title,
        verdict: result.verdict,
        summary: &result.summary,
        figures: result
            .figures
            .iter()
            .map(|f| Figure {
                name: &f.name,
                value: f.value,
                unit: &f.unit,
            })
            .collect(),
        diagnosis: result.diagnosis.as_ref().map(|d| Diagnosis {
            observed: &d.observed,
            likely_cause: &d.likely_cause,
            next_command: &d.next_command,
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
        summary: Summary {
            total: summary.total,
            passed: summary.passed,
            failed: summary.failed,
            skipped: summary.skipped,
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
        assert_eq!(value["schemaVersion"], "neuroscale.report/v1");
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
    }
}
