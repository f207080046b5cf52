//! The JUnit XML report (via `quick-junit`), shaped as a public API: one testsuite per milestone
//! (named `A GitOps spine`), one testcase per check (named `A1 argocd-ready`, classname
//! `neuroscale.milestone_a`). A check the platform fails (failed, timed out, left objects behind)
//! is a `<failure>`; one that concluded nothing about the platform (an error, not run,
//! interrupted, refused) is an `<error>`; each carries the diagnosis, typed
//! `neuroscale.check.<kind>`. A skip carries its reason.
//!
//! The document is valid against the JUnit schema the Jenkins xUnit plugin validates with
//! (`junit-10.xsd`, checked by tests/junit_schema.rs). That schema allows `<properties>` on a
//! testsuite only, so a check's figures are suite properties named `<id>.<figure>` (and listed
//! in the testcase's `<system-out>`, which every reader shows).

use quick_junit::{
    NonSuccessKind, Property, Report as JunitReport, TestCase, TestCaseStatus, TestSuite,
};

use super::Report;
use crate::checks::{CheckResult, Figure, Verdict};

fn test_case(result: &CheckResult) -> TestCase {
    let status = match result.verdict() {
        Verdict::Pass => TestCaseStatus::success(),
        Verdict::Skip => {
            let mut status = TestCaseStatus::skipped();
            status.set_message(result.summary());
            status
        }
        Verdict::Fail => {
            let kind = if result.kind().is_error() {
                NonSuccessKind::Error
            } else {
                NonSuccessKind::Failure
            };
            let mut status = TestCaseStatus::non_success(kind);
            status.set_message(result.summary());
            status.set_type(format!("neuroscale.check.{}", result.kind().name()));
            if let Some(d) = result.diagnosis() {
                let code = d
                    .code
                    .map(|c| format!("\ncode: {}", c.reference()))
                    .unwrap_or_default();
                status.set_description(format!(
                    "observed: {}\nlikely cause: {}\nnext: {}{code}",
                    d.observed, d.likely_cause, d.next_command
                ));
            }
            status
        }
    };
    let mut case = TestCase::new(format!("{} {}", result.id, result.slug()), status);
    case.set_classname(format!("neuroscale.{}", result.milestone().trial_prefix()));
    case.set_time(result.duration);
    let mut out: Vec<String> = Vec::new();
    if result.verdict() == Verdict::Pass {
        out.push(result.summary().to_string());
    }
    out.extend(
        result
            .figures()
            .iter()
            .map(|f| format!("{}: {}", f.name, figure_value(f))),
    );
    if !out.is_empty() {
        case.set_system_out(out.join("\n"));
    }
    case
}

/// `7.2 s`, `6 count`, `3` (no unit).
fn figure_value(figure: &Figure) -> String {
    format!("{} {}", figure.value, figure.unit)
        .trim_end()
        .to_string()
}

/// A check's figures as testsuite properties: `A4.heal_seconds` = `7.2 s`.
fn figure_properties(result: &CheckResult) -> impl Iterator<Item = Property> + '_ {
    result
        .figures()
        .iter()
        .map(move |f| Property::new(format!("{}.{}", result.id, f.name), figure_value(f)))
}

/// The report as a JUnit document.
pub fn to_junit(report: &Report) -> JunitReport {
    let mut junit = JunitReport::new("neuroscale check");
    junit.set_time(report.duration);
    for (milestone, results) in report.by_milestone() {
        let mut suite = TestSuite::new(format!("{} {}", milestone.letter(), milestone.title()));
        suite.set_time(results.iter().map(|r| r.duration).sum());
        suite.add_property(Property::new(
            "context",
            report.environment.context.as_str(),
        ));
        suite.add_property(Property::new(
            "scenario",
            report.environment.scenario_name.as_str(),
        ));
        suite.add_properties(results.iter().flat_map(|r| figure_properties(r)));
        suite.add_test_cases(results.into_iter().map(test_case));
        junit.add_test_suite(suite);
    }
    junit
}

/// The report as JUnit XML.
pub fn render(report: &Report) -> Result<String, quick_junit::SerializeError> {
    Ok(without_root_skipped(&to_junit(report).to_string()?))
}

/// Drops the `skipped` count quick-junit writes on `<testsuites>`: the xUnit schema does not
/// allow it there (it refuses the whole file), and each testsuite still carries its own count.
fn without_root_skipped(xml: &str) -> String {
    let Some(root) = xml.find("<testsuites") else {
        return xml.to_string();
    };
    let tag_end = root + xml[root..].find('>').unwrap_or(xml.len() - root);
    let tag = &xml[root..tag_end];
    let Some(attr) = tag.find(" skipped=\"") else {
        return xml.to_string();
    };
    let value_start = root + attr + " skipped=\"".len();
    let Some(value_len) = xml[value_start..tag_end].find('"') else {
        return xml.to_string();
    };
    format!(
        "{}{}",
        &xml[..root + attr],
        &xml[value_start + value_len + 1..]
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::fixtures;

    #[test]
    fn the_xml_parses_back_with_a_suite_per_milestone() {
        let xml = render(&fixtures::report()).unwrap();
        let parsed = JunitReport::deserialize_from_str(&xml).expect("valid JUnit XML");
        let suites: Vec<&str> = parsed.test_suites.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(
            suites,
            vec!["A GitOps spine", "D Guardrails", "F Hardening"]
        );
        assert_eq!(parsed.tests, 4);
        assert_eq!(parsed.failures, 1);
        let d3 = &parsed.test_suites[1].test_cases[0];
        assert_eq!(d3.name.as_str(), "D3 deny-unlabeled-isvc");
        assert_eq!(
            d3.classname.as_ref().map(|c| c.as_str()),
            Some("neuroscale.milestone_d")
        );
        match &d3.status {
            TestCaseStatus::NonSuccess {
                kind: NonSuccessKind::Failure,
                description,
                ..
            } => {
                let description = description.as_ref().unwrap().as_str();
                assert!(description.contains("next: kubectl -n kserve get endpoints"));
            }
            other => panic!("D3 should be a failure: {other:?}"),
        }
        let f3 = &parsed.test_suites[2].test_cases[0];
        assert!(matches!(f3.status, TestCaseStatus::Skipped { .. }));
    }

    #[test]
    fn errors_are_errors_and_failures_are_failures() {
        let xml = render(&crate::report::every_kind::report()).unwrap();
        let parsed = JunitReport::deserialize_from_str(&xml).expect("valid JUnit XML");
        // failed, timed out, left behind / error (api), error (panic), not run, interrupted, refused.
        assert_eq!((parsed.failures, parsed.errors), (3, 5));
        let case = |name: &str| {
            parsed
                .test_suites
                .iter()
                .flat_map(|s| s.test_cases.iter())
                .find(|c| c.name.as_str().starts_with(name))
                .unwrap_or_else(|| panic!("{name} in {xml}"))
                .clone()
        };
        for (name, expected, kind) in [
            ("A2", NonSuccessKind::Failure, "failed"),
            ("B3", NonSuccessKind::Failure, "timed-out"),
            ("D3", NonSuccessKind::Failure, "left-behind"),
            ("C2", NonSuccessKind::Error, "not-run"),
            ("C3", NonSuccessKind::Error, "interrupted"),
            ("D4", NonSuccessKind::Error, "refused"),
            ("E1", NonSuccessKind::Error, "error"),
        ] {
            match case(name).status {
                TestCaseStatus::NonSuccess { kind: got, ty, .. } => {
                    assert_eq!(got, expected, "{name}");
                    assert_eq!(
                        ty.as_ref().map(|t| t.as_str().to_string()),
                        Some(format!("neuroscale.check.{kind}")),
                        "{name}"
                    );
                }
                other => panic!("{name}: {other:?}"),
            }
        }
    }

    #[test]
    fn figures_are_suite_properties_and_case_output() {
        let xml = render(&fixtures::report()).unwrap();
        let parsed = JunitReport::deserialize_from_str(&xml).expect("valid JUnit XML");
        let spine = &parsed.test_suites[0];
        let property = spine
            .properties
            .iter()
            .find(|p| p.name.as_str() == "A4.heal_seconds")
            .unwrap_or_else(|| panic!("A4's figure among {:?}", spine.properties));
        assert_eq!(property.value.as_str(), "7.2 s");
        let a4 = &spine.test_cases[1];
        assert!(
            a4.properties.is_empty(),
            "the xUnit schema refuses testcase properties"
        );
        let out = a4.system_out.as_ref().map(|o| o.as_str().to_string());
        assert_eq!(
            out.as_deref(),
            Some("canary recreated and Ready after 7.2s\nheal_seconds: 7.2 s")
        );
    }

    #[test]
    fn the_root_carries_no_skipped_count() {
        let xml = render(&fixtures::report()).unwrap();
        let root = xml.lines().nth(1).unwrap();
        assert_eq!(
            root,
            r#"<testsuites name="neuroscale check" tests="4" failures="1" errors="0" time="75.000">"#
        );
        assert!(xml.contains(r#"<testsuite name="F Hardening" tests="1" skipped="1""#));
        assert_eq!(without_root_skipped("<x/>"), "<x/>");
    }

    #[test]
    fn the_xml_renders_as_the_snapshot() {
        insta::assert_snapshot!(
            "junit_every_kind",
            render(&crate::report::every_kind::report()).unwrap()
        );
    }
}
