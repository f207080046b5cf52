//! What a check concludes: a verdict, the measured figure, and on FAIL a diagnosis naming what
//! was observed, the likely cause and the next command to run. Reports are built from these.

use std::time::Duration;

use serde::Serialize;

use super::catalogue::{CheckSpec, Milestone};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum Verdict {
    Pass,
    Fail,
    /// Only when the scenario disables the capability, always with the reason.
    Skip,
}

/// A measured number reported with a check (e.g. drift healed after 7.2 s, p95 41 ms).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Figure {
    pub name: String,
    pub value: f64,
    pub unit: String,
}

/// Why a check failed, for the person who has to fix it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Diagnosis {
    /// What was seen in the cluster.
    pub observed: String,
    /// The most likely cause (from the failure catalogue of seeds/07..11 and UPSTREAM.md §10).
    pub likely_cause: String,
    /// The next command a human would run.
    pub next_command: String,
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
        }
    }
}

/// A check's conclusion before the runner stamps identity and timing on it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Outcome {
    pub verdict: Verdict,
    /// One line: the measured figure or what was verified ("4/4 Applications Synced+Healthy").
    pub summary: String,
    pub figures: Vec<Figure>,
    pub diagnosis: Option<Diagnosis>,
}

impl Outcome {
    pub fn pass(summary: impl Into<String>) -> Self {
        Outcome {
            verdict: Verdict::Pass,
            summary: summary.into(),
            figures: Vec::new(),
            diagnosis: None,
        }
    }

    pub fn fail(summary: impl Into<String>, diagnosis: Diagnosis) -> Self {
        Outcome {
            verdict: Verdict::Fail,
            summary: summary.into(),
            figures: Vec::new(),
            diagnosis: Some(diagnosis),
        }
    }

    pub fn skip(reason: impl Into<String>) -> Self {
        Outcome {
            verdict: Verdict::Skip,
            summary: reason.into(),
            figures: Vec::new(),
            diagnosis: None,
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

    pub fn is_pass(&self) -> bool {
        self.verdict == Verdict::Pass
    }
}

/// One check's result as reported (JSON schema `neuroscale.check/v1`, JUnit testcase).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CheckResult {
    pub id: &'static str,
    pub slug: &'static str,
    pub milestone: Milestone,
    pub title: &'static str,
    pub verdict: Verdict,
    pub summary: String,
    pub figures: Vec<Figure>,
    pub diagnosis: Option<Diagnosis>,
    #[serde(rename = "durationMs", serialize_with = "as_millis")]
    pub duration: Duration,
}

fn as_millis<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_u64(d.as_millis() as u64)
}

impl CheckResult {
    pub fn new(spec: &'static CheckSpec, outcome: Outcome, duration: Duration) -> Self {
        CheckResult {
            id: spec.id,
            slug: spec.slug,
            milestone: spec.milestone,
            title: spec.title,
            verdict: outcome.verdict,
            summary: outcome.summary,
            figures: outcome.figures,
            diagnosis: outcome.diagnosis,
            duration,
        }
    }
}
