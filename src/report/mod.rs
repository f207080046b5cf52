//! Reports: rendering check results for humans (grouped by milestone, colour only on a TTY and
//! never with NO_COLOR), as versioned JSON (`docs/report-schema.md`) and as JUnit XML, and the
//! diagnostics bundle written when a check fails. One `Report` value feeds every format.

use std::collections::BTreeMap;
use std::io::IsTerminal;
use std::path::PathBuf;
use std::time::{Duration, SystemTime};

use crate::checks::runner::{CancelReason, RunResults};
use crate::checks::{CheckResult, Verdict};

pub mod bundle;
pub mod human;
pub mod json;
pub mod junit;

/// Colour is used only on a terminal and never when NO_COLOR is set (no-color.org).
pub fn colour_enabled(is_terminal: bool) -> bool {
    is_terminal && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
}

pub fn colour_enabled_for_stderr() -> bool {
    colour_enabled(std::io::stderr().is_terminal())
}

pub fn colour_enabled_for_stdout() -> bool {
    colour_enabled(std::io::stdout().is_terminal())
}

/// Where the checks ran: what a reader of a report needs to reproduce or compare it.
#[derive(Debug, Clone, PartialEq)]
pub struct Environment {
    /// The kube context.
    pub context: String,
    /// The API server URL.
    pub server: Option<String>,
    /// `gitVersion` of the API server, when it answered.
    pub kubernetes_version: Option<String>,
    /// Whether the context is the harness's own k3d cluster.
    pub harness_context: bool,
    /// Whether mutating checks were allowed to run.
    pub mutations_allowed: bool,
    pub scenario_name: String,
    pub scenario_source: PathBuf,
    /// `off`, `simulate`, `real` or `auto`.
    pub gpu: String,
    /// Pinned versions (component name -> version), from the pin table.
    pub versions: BTreeMap<String, String>,
}

impl Environment {
    /// The pin table as a name -> version map (k3d and the k3s image included).
    pub fn pinned_versions() -> BTreeMap<String, String> {
        let mut versions: BTreeMap<String, String> = crate::components::COMPONENTS
            .iter()
            .map(|c| (c.name.to_string(), c.version.to_string()))
            .collect();
        versions.insert("k3d".into(), crate::components::K3D_VERSION.into());
        versions.insert("k3s-image".into(), crate::components::K3S_IMAGE.into());
        versions.insert("neuroscale".into(), env!("CARGO_PKG_VERSION").into());
        versions
    }
}

/// Counts of verdicts and the overall verdict.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Summary {
    pub total: usize,
    pub passed: usize,
    pub failed: usize,
    pub skipped: usize,
    /// PASS only when nothing failed and the run was not interrupted.
    pub verdict: Verdict,
}

/// Everything one `neuroscale check` run reports.
#[derive(Debug, Clone)]
pub struct Report {
    pub started_at: SystemTime,
    pub duration: Duration,
    pub environment: Environment,
    pub cancelled: Option<CancelReason>,
    pub checks: Vec<CheckResult>,
    /// Where the diagnostics bundle was written, when one was.
    pub bundle: Option<PathBuf>,
}

impl Report {
    pub fn new(started_at: SystemTime, environment: Environment, results: RunResults) -> Self {
        Report {
            started_at,
            duration: results.duration,
            environment,
            cancelled: results.cancelled,
            checks: results.results,
            bundle: None,
        }
    }

    pub fn summary(&self) -> Summary {
        let count = |v: Verdict| self.checks.iter().filter(|c| c.verdict == v).count();
        let failed = count(Verdict::Fail);
        Summary {
            total: self.checks.len(),
            passed: count(Verdict::Pass),
            failed,
            skipped: count(Verdict::Skip),
            verdict: if failed == 0 && self.cancelled.is_none() {
                Verdict::Pass
            } else {
                Verdict::Fail
            },
        }
    }

    /// The process exit code this report stands for.
    pub fn exit_code(&self) -> u8 {
        match self.summary().verdict {
            Verdict::Fail => crate::exit::CHECK_FAILED,
            _ => crate::exit::SUCCESS,
        }
    }
}

/// `1m 12s`, `840ms`: durations as people read them (rounded to what matters).
pub fn short_duration(d: Duration) -> String {
    if d < Duration::from_secs(1) {
        format!("{}ms", d.as_millis())
    } else if d < Duration::from_secs(60) {
        format!("{:.1}s", d.as_secs_f64())
    } else {
        humantime::format_duration(Duration::from_secs(d.as_secs())).to_string()
    }
}

#[cfg(test)]
pub(crate) mod fixtures {
    //! A small report with one check of each verdict, shared by the format tests.
    use super::*;
    use crate::checks::catalogue::find;
    use crate::checks::{Diagnosis, Outcome};

    pub fn report() -> Report {
        let results = vec![
            CheckResult::new(
                find("A1").unwrap(),
                Outcome::pass("5/5 ArgoCD workloads ready"),
                Duration::from_millis(420),
            ),
            CheckResult::new(
                find("A4").unwrap(),
                Outcome::pass("canary recreated and Ready after 7.2s").with_figure(
                    "heal_seconds",
                    7.2,
                    "s",
                ),
                Duration::from_secs(9),
            ),
            CheckResult::new(
                find("D3").unwrap(),
                Outcome::fail(
                    "admission failed for a reason that is not a Kyverno denial",
                    Diagnosis::new(
                        "failed calling webhook \"inferenceservice.kserve-webhook-server.validator\": no endpoints available for service \"kserve-webhook-server-service\"",
                        "the KServe webhook has no ready endpoints (seeds/11 failure 1)",
                        "kubectl -n kserve get endpoints kserve-webhook-server-service",
                    ),
                ),
                Duration::from_secs(2),
            ),
            CheckResult::new(
                find("F3").unwrap(),
                Outcome::skip("scenario sets gpu: off"),
                Duration::ZERO,
            ),
        ];
        Report {
            started_at: SystemTime::UNIX_EPOCH + Duration::from_secs(1_796_000_000),
            duration: Duration::from_secs(75),
            environment: Environment {
                context: "k3d-neuroscale".into(),
                server: Some("https://127.0.0.1:6550".into()),
                kubernetes_version: Some("v1.34.8+k3s1".into()),
                harness_context: true,
                mutations_allowed: true,
                scenario_name: "smoke".into(),
                scenario_source: "scenarios/smoke.yaml".into(),
                gpu: "off".into(),
                versions: Environment::pinned_versions(),
            },
            cancelled: None,
            checks: results,
            bundle: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_failure_fails_the_report() {
        let report = fixtures::report();
        let summary = report.summary();
        assert_eq!(
            (
                summary.total,
                summary.passed,
                summary.failed,
                summary.skipped
            ),
            (4, 2, 1, 1)
        );
        assert_eq!(summary.verdict, Verdict::Fail);
        assert_eq!(report.exit_code(), crate::exit::CHECK_FAILED);
    }

    #[test]
    fn skips_alone_do_not_fail_but_an_interruption_does() {
        let mut report = fixtures::report();
        report.checks.retain(|c| c.verdict != Verdict::Fail);
        assert_eq!(report.exit_code(), crate::exit::SUCCESS);
        report.cancelled = Some(CancelReason::Interrupted);
        assert_eq!(report.exit_code(), crate::exit::CHECK_FAILED);
    }

    #[test]
    fn durations_read_naturally() {
        assert_eq!(short_duration(Duration::from_millis(840)), "840ms");
        assert_eq!(short_duration(Duration::from_millis(7250)), "7.2s");
        assert_eq!(short_duration(Duration::from_secs(72)), "1m 12s");
    }
}
