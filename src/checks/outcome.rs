//! What a check concludes, as types. A check's own verdict is passed, failed or skipped; the
//! kit and the runner add what else can happen to it: it timed out (what it waited for, how
//! long, what it saw last), it was not run (why), it was interrupted, it was refused on this
//! context, it errored (a panic, an API that did not answer), or it left objects behind. Each
//! kind maps to one verdict (PASS, FAIL or SKIP) for the exit code and the summary line, and
//! keeps its own fields for the JSON report (schema v2) and the JUnit `<failure>`/`<error>`
//! split. On anything but a pass or a skip there is a diagnosis: what was observed, the likely
//! cause, the next command to run.

use std::time::Duration;

use serde::Serialize;

use super::catalogue::{CheckId, Milestone};
use super::env::CreatedObject;
use crate::failures::FailureCode;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum Verdict {
    Pass,
    Fail,
    /// When the scenario disables the capability or the run leaves the check out, always with
    /// the reason.
    Skip,
}

/// Why a check errored: nothing about the platform was concluded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ErrorCause {
    /// The check panicked: a bug in neuroscale.
    Panic,
    /// The Kubernetes API did not answer a read the check needed (unreachable, RBAC).
    Api,
}

/// An object a check created that could not be deleted, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct LeftObject {
    #[serde(flatten)]
    pub object: CreatedObject,
    pub why: String,
}

/// What happened to a check.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(
    tag = "kind",
    rename_all = "kebab-case",
    rename_all_fields = "camelCase"
)]
pub enum OutcomeKind {
    /// The check's pass condition held.
    Passed,
    /// The check observed the platform and it does not meet the pass condition.
    Failed,
    /// The scenario disables the capability the check verifies, or the run leaves the check out
    /// (`--only`/`--skip`, the scenario's `spec.checks`/`spec.skip`); the summary says which.
    Skipped,
    /// The awaited state never came: what was awaited, for how long, and the last observation.
    TimedOut {
        waited_for: String,
        #[serde(rename = "waitedMs", serialize_with = "as_millis")]
        waited: Duration,
        last_seen: String,
    },
    /// The check was never started.
    NotRun { reason: String },
    /// The run was stopped (Ctrl-C) while the check ran.
    Interrupted { last_seen: String },
    /// The check creates or deletes objects and this context is not the harness's.
    Refused { context: String },
    /// The check could not conclude.
    Error { cause: ErrorCause, message: String },
    /// The check concluded, but objects it created could not be deleted.
    LeftBehind {
        concluded: Box<OutcomeKind>,
        objects: Vec<LeftObject>,
    },
}

fn as_millis<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_u64(d.as_millis() as u64)
}

impl OutcomeKind {
    /// The verdict this kind stands for: only `Passed` passes and only `Skipped` skips.
    pub fn verdict(&self) -> Verdict {
        match self {
            OutcomeKind::Passed => Verdict::Pass,
            OutcomeKind::Skipped => Verdict::Skip,
            _ => Verdict::Fail,
        }
    }

    /// The kind's name as the JSON report spells it (`timed-out`).
    pub fn name(&self) -> &'static str {
        match self {
            OutcomeKind::Passed => "passed",
            OutcomeKind::Failed => "failed",
            OutcomeKind::Skipped => "skipped",
            OutcomeKind::TimedOut { .. } => "timed-out",
            OutcomeKind::NotRun { .. } => "not-run",
            OutcomeKind::Interrupted { .. } => "interrupted",
            OutcomeKind::Refused { .. } => "refused",
            OutcomeKind::Error { .. } => "error",
            OutcomeKind::LeftBehind { .. } => "left-behind",
        }
    }

    /// Whether nothing about the platform was verified (JUnit `<error>`), as opposed to a
    /// verdict that it falls short (`<failure>`).
    pub fn is_error(&self) -> bool {
        matches!(
            self,
            OutcomeKind::Error { .. }
                | OutcomeKind::NotRun { .. }
                | OutcomeKind::Interrupted { .. }
                | OutcomeKind::Refused { .. }
        )
    }
}

/// A measured number reported with a check (e.g. drift healed after 7.2 s, p95 41 ms).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Figure {
    pub name: String,
    pub value: f64,
    pub unit: String,
}

/// Why a check did not pass, for the person who has to fix it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Diagnosis {
    /// What was seen in the cluster.
    pub observed: String,
    /// The most likely cause.
    pub likely_cause: String,
    /// The next command a human would run.
    pub next_command: String,
    /// The catalogued failure this is, when the observation identifies one
    /// (`docs/failures.md`); none for a failure neuroscale does not recognise by name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub code: Option<FailureCode>,
}

impl Diagnosis {
    pub fn new(
        observed: impl Into<String>,
        likely_cause: impl Into<String>,
        next_command: impl Into<String>,
    ) -> Self {
        Diagnosis {
            observed: observed.into(),
            likely_cause: likely_cause.into(),
            next_command: next_command.into(),
            code: None,
        }
    }

    /// Names the catalogued failure this diagnosis identifies.
    pub fn with_code(mut self, code: FailureCode) -> Self {
        self.code = Some(code);
        self
    }

    /// Names the catalogued failure, if any.
    pub fn with_code_opt(mut self, code: Option<FailureCode>) -> Self {
        self.code = code;
        self
    }
}

/// A check's conclusion before the runner stamps identity and timing on it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Outcome {
    pub kind: OutcomeKind,
    /// One line: the measured figure or what was verified ("4/4 Applications Synced+Healthy").
    pub summary: String,
    pub figures: Vec<Figure>,
    pub diagnosis: Option<Diagnosis>,
}

impl Outcome {
    fn of(kind: OutcomeKind, summary: impl Into<String>, diagnosis: Option<Diagnosis>) -> Self {
        Outcome {
            kind,
            summary: summary.into(),
            figures: Vec::new(),
            diagnosis,
        }
    }

    pub fn pass(summary: impl Into<String>) -> Self {
        Self::of(OutcomeKind::Passed, summary, None)
    }

    pub fn fail(summary: impl Into<String>, diagnosis: Diagnosis) -> Self {
        Self::of(OutcomeKind::Failed, summary, Some(diagnosis))
    }

    pub fn skip(reason: impl Into<String>) -> Self {
        Self::of(OutcomeKind::Skipped, reason, None)
    }

    /// An API read that did not answer: the cluster, not the platform, is the problem.
    pub fn api_error(what: &str, error: &kube::Error) -> Self {
        let message = crate::observe::error_message(error);
        Self::of(
            OutcomeKind::Error {
                cause: ErrorCause::Api,
                message: message.clone(),
            },
            format!("could not read {what}"),
            Some(
                Diagnosis::new(
                    format!("reading {what} failed: {message}"),
                    "the API server is unreachable or this identity may not read it (RBAC)",
                    "kubectl auth can-i --list && neuroscale doctor",
                )
                .with_code(FailureCode::ApiUnreadable),
            ),
        )
    }

    /// The awaited state did not come: `last` is the check's own verdict on the last
    /// observation (its summary, figures and diagnosis are kept).
    pub fn timed_out(waited_for: impl Into<String>, waited: Duration, last: Outcome) -> Self {
        let last_seen = last
            .diagnosis
            .as_ref()
            .map(|d| d.observed.clone())
            .unwrap_or_else(|| last.summary.clone());
        Outcome {
            kind: OutcomeKind::TimedOut {
                waited_for: waited_for.into(),
                waited,
                last_seen,
            },
            ..last
        }
    }

    pub fn with_figure(
        mut self,
        name: impl Into<String>,
        value: f64,
        unit: impl Into<String>,
    ) -> Self {
        self.figures.push(Figure {
            name: name.into(),
            value,
            unit: unit.into(),
        });
        self
    }

    pub fn verdict(&self) -> Verdict {
        self.kind.verdict()
    }

    pub fn is_pass(&self) -> bool {
        self.kind == OutcomeKind::Passed
    }

    /// What a timeout should name: the diagnosis' observation on a FAIL, else the summary.
    pub fn observed(&self) -> String {
        self.diagnosis
            .as_ref()
            .map(|d| d.observed.clone())
            .unwrap_or_else(|| self.summary.clone())
    }
}

/// One check's result as reported (JSON report, JUnit testcase, human line).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CheckResult {
    pub id: CheckId,
    pub outcome: Outcome,
    #[serde(rename = "durationMs", serialize_with = "as_millis")]
    pub duration: Duration,
}

impl CheckResult {
    pub fn new(id: CheckId, outcome: Outcome, duration: Duration) -> Self {
        CheckResult {
            id,
            outcome,
            duration,
        }
    }

    pub fn verdict(&self) -> Verdict {
        self.outcome.verdict()
    }

    pub fn kind(&self) -> &OutcomeKind {
        &self.outcome.kind
    }

    pub fn milestone(&self) -> Milestone {
        self.id.spec().milestone
    }

    pub fn slug(&self) -> &'static str {
        self.id.spec().slug
    }

    pub fn title(&self) -> &'static str {
        self.id.spec().title
    }

    pub fn summary(&self) -> &str {
        &self.outcome.summary
    }

    pub fn diagnosis(&self) -> Option<&Diagnosis> {
        self.outcome.diagnosis.as_ref()
    }

    pub fn figures(&self) -> &[Figure] {
        &self.outcome.figures
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_passed_passes_and_only_skipped_skips() {
        let kinds = [
            OutcomeKind::Failed,
            OutcomeKind::TimedOut {
                waited_for: "x".into(),
                waited: Duration::from_secs(1),
                last_seen: "y".into(),
            },
            OutcomeKind::NotRun { reason: "r".into() },
            OutcomeKind::Interrupted {
                last_seen: "y".into(),
            },
            OutcomeKind::Refused {
                context: "gke".into(),
            },
            OutcomeKind::Error {
                cause: ErrorCause::Panic,
                message: "m".into(),
            },
            OutcomeKind::LeftBehind {
                concluded: Box::new(OutcomeKind::Passed),
                objects: Vec::new(),
            },
        ];
        for kind in kinds {
            assert_eq!(kind.verdict(), Verdict::Fail, "{kind:?}");
        }
        assert_eq!(OutcomeKind::Passed.verdict(), Verdict::Pass);
        assert_eq!(OutcomeKind::Skipped.verdict(), Verdict::Skip);
    }

    #[test]
    fn a_timeout_keeps_the_checks_own_diagnosis_and_names_what_it_saw() {
        let last = Outcome::fail(
            "3/4 Applications Synced+Healthy",
            Diagnosis::new("kserve Synced/Progressing", "still rolling out", "kubectl"),
        );
        let outcome =
            Outcome::timed_out("every Application Synced", Duration::from_secs(300), last);
        match &outcome.kind {
            OutcomeKind::TimedOut {
                waited_for,
                waited,
                last_seen,
            } => {
                assert_eq!(waited_for, "every Application Synced");
                assert_eq!(*waited, Duration::from_secs(300));
                assert_eq!(last_seen, "kserve Synced/Progressing");
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(outcome.summary, "3/4 Applications Synced+Healthy");
        assert_eq!(outcome.verdict(), Verdict::Fail);
    }

    #[test]
    fn an_unreadable_api_is_an_error_with_its_code() {
        let forbidden = kube::Error::Api(Box::new(kube::core::Status {
            code: 403,
            message: "applications.argoproj.io is forbidden".into(),
            reason: "Forbidden".into(),
            ..kube::core::Status::default()
        }));
        let outcome = Outcome::api_error("applications", &forbidden);
        assert!(matches!(
            outcome.kind,
            OutcomeKind::Error {
                cause: ErrorCause::Api,
                ..
            }
        ));
        let diagnosis = outcome.diagnosis.expect("a diagnosis");
        assert_eq!(diagnosis.code, Some(FailureCode::ApiUnreadable));
        let json = serde_json::to_value(&diagnosis).unwrap();
        assert_eq!(json["code"], "NS119");
        let uncoded = serde_json::to_value(Diagnosis::new("o", "c", "n")).unwrap();
        assert!(uncoded.get("code").is_none(), "{uncoded}");
    }

    #[test]
    fn kinds_serialize_with_their_fields_in_camel_case() {
        let kind = OutcomeKind::TimedOut {
            waited_for: "w".into(),
            waited: Duration::from_millis(1500),
            last_seen: "l".into(),
        };
        let value = serde_json::to_value(&kind).unwrap();
        assert_eq!(
            value,
            serde_json::json!({"kind": "timed-out", "waitedFor": "w", "waitedMs": 1500, "lastSeen": "l"})
        );
    }
}
