//! Reports: rendering check results for humans (grouped by milestone, colour only on a TTY and
//! never with NO_COLOR), as versioned JSON (`docs/report-schema.md`), as JUnit XML, as Markdown
//! (a CI job summary) and as a single-file HTML page (with the bootstrap timeline of `up` when
//! its report is given), and the diagnostics bundle written when a check fails. A `Recorder` listens to the run's event stream
//! and builds the one `Report` value every format is rendered from.

use std::collections::BTreeMap;
use std::io::IsTerminal;
use std::path::PathBuf;
use std::sync::Mutex;
use std::time::{Duration, SystemTime};

use crate::checks::runner::RunResults;
use crate::checks::{CancelReason, CheckResult, EventSink, Milestone, RunEvent, Verdict};

pub mod bootstrap;
pub mod bundle;
mod charts;
pub mod html;
pub mod human;
pub mod json;
pub mod junit;
pub mod markdown;

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
    /// Every check that did not pass or skip, errors included.
    pub failed: usize,
    pub skipped: usize,
    /// Of the failed, those that concluded nothing about the platform (error, not run,
    /// interrupted, refused): JUnit `<error>`s.
    pub errors: usize,
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
    /// The checks of each milestone that has any in this report, in catalogue order: how every
    /// rendering groups them.
    pub fn by_milestone(&self) -> impl Iterator<Item = (Milestone, Vec<&CheckResult>)> + '_ {
        Milestone::ALL.into_iter().filter_map(|milestone| {
            let checks: Vec<&CheckResult> = self
                .checks
                .iter()
                .filter(|c| c.milestone() == milestone)
                .collect();
            (!checks.is_empty()).then_some((milestone, checks))
        })
    }

    /// A report of `results`, when they are at hand rather than recorded from the stream.
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
        let count = |v: Verdict| self.checks.iter().filter(|c| c.verdict() == v).count();
        let failed = count(Verdict::Fail);
        Summary {
            total: self.checks.len(),
            passed: count(Verdict::Pass),
            failed,
            skipped: count(Verdict::Skip),
            errors: self.checks.iter().filter(|c| c.kind().is_error()).count(),
            verdict: if failed == 0 && self.cancelled.is_none() {
                Verdict::Pass
            } else {
                Verdict::Fail
            },
        }
    }

    /// The process exit code this report stands for: interrupted, else failed, else success.
    pub fn exit_code(&self) -> u8 {
        if self.cancelled == Some(CancelReason::Interrupted) {
            return crate::exit::INTERRUPTED;
        }
        match self.summary().verdict {
            Verdict::Fail => crate::exit::CHECK_FAILED,
            _ => crate::exit::SUCCESS,
        }
    }
}

/// Listens to a run's event stream and builds its report: the start time from `Started`, each
/// result from `Finished`, the duration and cancel reason from `Completed`.
pub struct Recorder {
    environment: Environment,
    state: Mutex<Recorded>,
}

#[derive(Default)]
struct Recorded {
    started_at: Option<SystemTime>,
    checks: Vec<CheckResult>,
    completed: Option<(Duration, Option<CancelReason>)>,
}

impl Recorder {
    pub fn new(environment: Environment) -> Recorder {
        Recorder {
            environment,
            state: Mutex::new(Recorded::default()),
        }
    }

    /// The report of what was recorded, checks in catalogue order.
    pub fn report(&self) -> Report {
        let state = self.state.lock().expect("not poisoned");
        let mut checks = state.checks.clone();
        checks.sort_by_key(|c| c.id);
        let (duration, cancelled) = state.completed.unwrap_or_default();
        Report {
            started_at: state.started_at.unwrap_or_else(SystemTime::now),
            duration,
            environment: self.environment.clone(),
            cancelled,
            checks,
            bundle: None,
        }
    }
}

impl EventSink for Recorder {
    fn event(&self, event: &RunEvent<'_>) {
        let mut state = self.state.lock().expect("not poisoned");
        match event {
            RunEvent::Started { at, .. } => state.started_at = Some(*at),
            RunEvent::Observed { .. } => {}
            RunEvent::Finished { result } => state.checks.push((*result).clone()),
            RunEvent::Completed { results } => {
                state.completed = Some((results.duration, results.cancelled))
            }
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

/// Why a run stopped early, as the HTML and Markdown reports say it.
pub fn cancel_text(reason: CancelReason) -> &'static str {
    match reason {
        CancelReason::Interrupted => "interrupted (Ctrl-C) before every check concluded",
    }
}

/// `7.25`, `6`, `0.5`: a figure with at most two decimals and no trailing zeros.
pub fn trim_float(value: f64) -> String {
    if value.fract() == 0.0 && value.abs() < 1e15 {
        format!("{value:.0}")
    } else {
        format!("{value:.2}")
            .trim_end_matches('0')
            .trim_end_matches('.')
            .to_string()
    }
}

#[cfg(test)]
pub(crate) mod fixtures {
    //! A small report with one check of each verdict, shared by the format tests.
    use super::*;
    use crate::checks::{CheckId, Diagnosis, Outcome};

    pub fn report() -> Report {
        let results = vec![
            CheckResult::new(
                CheckId::A1,
                Outcome::pass("5/5 ArgoCD workloads ready"),
                Duration::from_millis(420),
            ),
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
                        "failed calling webhook \"inferenceservice.kserve-webhook-server.validator\": no endpoints available for service \"kserve-webhook-server-service\"",
                        "the KServe webhook has no ready endpoints",
                        "kubectl -n kserve get endpoints kserve-webhook-server-service",
                    ),
                ),
                Duration::from_secs(2),
            ),
            CheckResult::new(
                CheckId::F3,
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
pub(crate) mod every_kind {
    //! A report holding one check of every outcome kind, for the schema and rendering tests.
    use super::*;
    use crate::checks::env::CreatedObject;
    use crate::checks::outcome::{ErrorCause, LeftObject};
    use crate::checks::{CheckId, Diagnosis, Outcome, OutcomeKind};

    fn outcome(kind: OutcomeKind, summary: &str, diagnosis: bool) -> Outcome {
        Outcome {
            kind,
            summary: summary.into(),
            figures: Vec::new(),
            diagnosis: diagnosis.then(|| {
                Diagnosis::new(
                    format!("observed for {summary}"),
                    "the likely cause",
                    "neuroscale doctor",
                )
            }),
        }
    }

    /// One result per kind, each on its own check.
    pub fn report() -> Report {
        let probe = CreatedObject {
            api_version: "serving.kserve.io/v1beta1".into(),
            kind: "InferenceService".into(),
            namespace: Some("models".into()),
            name: "neuroscale-d3-1a2b3c".into(),
        };
        let results = vec![
            (CheckId::A1, outcome(OutcomeKind::Passed, "6/6 ArgoCD workloads ready", false)
                .with_figure("workloads_ready", 6.0, "count")),
            (CheckId::A2, outcome(OutcomeKind::Failed, "4/5 Applications Synced+Healthy", true)),
            (CheckId::B3, outcome(
                OutcomeKind::TimedOut {
                    waited_for: "every platform InferenceService is Ready=True with a URL".into(),
                    waited: Duration::from_secs(270),
                    last_seen: "inferenceservice sklearn-iris Ready=False".into(),
                },
                "1/2 InferenceServices Ready",
                true,
            )),
            (CheckId::C2, outcome(
                OutcomeKind::NotRun { reason: "the cluster is unreachable".into() },
                "not run: the cluster is unreachable",
                true,
            )),
            (CheckId::C3, outcome(
                OutcomeKind::Interrupted { last_seen: "inferenceservice nscheck-c3-1a2b3c Ready=Unknown".into() },
                "interrupted before it concluded (last seen: inferenceservice nscheck-c3-1a2b3c Ready=Unknown)",
                true,
            )),
            (CheckId::D3, outcome(
                OutcomeKind::LeftBehind {
                    concluded: Box::new(OutcomeKind::Passed),
                    objects: vec![LeftObject { object: probe, why: "forbidden".into() }],
                },
                "PASS (denied), but objects it created were left behind: InferenceService models/neuroscale-d3-1a2b3c (forbidden)",
                true,
            )),
            (CheckId::D4, outcome(
                OutcomeKind::Refused { context: "gke_lab".into() },
                "refused: D4 creates or deletes objects and `gke_lab` is not the harness's k3d context",
                true,
            )),
            (CheckId::E1, outcome(
                OutcomeKind::Error { cause: ErrorCause::Api, message: "connection refused".into() },
                "could not read OpenCost's deployments",
                true,
            )),
            (CheckId::E2, outcome(
                OutcomeKind::Error { cause: ErrorCause::Panic, message: "index out of bounds".into() },
                "the check panicked: index out of bounds",
                true,
            )),
            (CheckId::F3, outcome(OutcomeKind::Skipped, "the scenario sets gpu: off", false)),
        ];
        let mut report = super::fixtures::report();
        report.checks = results
            .into_iter()
            .map(|(id, outcome)| CheckResult::new(id, outcome, Duration::from_millis(1500)))
            .collect();
        report
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
        report.checks.retain(|c| c.verdict() != Verdict::Fail);
        assert_eq!(report.exit_code(), crate::exit::SUCCESS);
        report.cancelled = Some(CancelReason::Interrupted);
        assert_eq!(report.summary().verdict, Verdict::Fail);
        assert_eq!(report.exit_code(), crate::exit::INTERRUPTED);
    }

    #[test]
    fn errors_are_counted_among_the_failures() {
        let summary = every_kind::report().summary();
        assert_eq!((summary.passed, summary.skipped), (1, 1));
        assert_eq!(summary.failed, 8);
        // error (api), error (panic), not run, interrupted, refused.
        assert_eq!(summary.errors, 5);
    }

    #[test]
    fn the_recorder_builds_the_report_from_the_event_stream() {
        use crate::checks::{CheckId, Outcome, RunResults, Selection};
        let scenario = crate::checks::fixtures::smoke();
        let selection = Selection::of(&scenario, &[CheckId::A1, CheckId::B1]).unwrap();
        let recorder = Recorder::new(fixtures::report().environment);
        let at = SystemTime::UNIX_EPOCH + Duration::from_secs(1_796_000_000);
        recorder.event(&RunEvent::Started {
            selection: &selection,
            at,
        });
        let b1 = CheckResult::new(CheckId::B1, Outcome::pass("ready"), Duration::from_secs(1));
        let a1 = CheckResult::new(CheckId::A1, Outcome::pass("ready"), Duration::from_secs(2));
        recorder.event(&RunEvent::Finished { result: &b1 });
        recorder.event(&RunEvent::Finished { result: &a1 });
        let results = RunResults {
            results: vec![a1.clone(), b1.clone()],
            cancelled: Some(CancelReason::Interrupted),
            duration: Duration::from_secs(3),
        };
        recorder.event(&RunEvent::Completed { results: &results });
        let report = recorder.report();
        assert_eq!(report.started_at, at);
        assert_eq!(report.duration, Duration::from_secs(3));
        assert_eq!(report.cancelled, Some(CancelReason::Interrupted));
        assert_eq!(
            report.checks.iter().map(|c| c.id).collect::<Vec<_>>(),
            vec![CheckId::A1, CheckId::B1],
            "catalogue order, whatever the finishing order"
        );
    }

    #[test]
    fn durations_read_naturally() {
        assert_eq!(short_duration(Duration::from_millis(840)), "840ms");
        assert_eq!(short_duration(Duration::from_millis(7250)), "7.2s");
        assert_eq!(short_duration(Duration::from_secs(72)), "1m 12s");
    }
}
