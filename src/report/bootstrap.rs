//! The bootstrap a report shows beside the checks: the phases and components of one `up`, read
//! back from its saved JSON report (`up --format json`, schema `neuroscale.up/v1`) or taken
//! from the report `up` has just built. Only the fields the HTML timeline draws are read, so
//! additive changes to the `up` report keep older reports readable.

use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::install::engine::{self, ComponentOutcome, InstallReport, PhaseOutcome};

/// The `up` report could not be used.
#[derive(Debug, thiserror::Error)]
pub enum BootstrapError {
    #[error("cannot read the up report {}: {source}", path.display())]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{} is not an up report (`neuroscale up --format json`): {source}", path.display())]
    Parse {
        path: PathBuf,
        source: serde_json::Error,
    },
    #[error("{} has schema {found:?}; this neuroscale reads {}", path.display(), engine::REPORT_SCHEMA)]
    Schema { path: PathBuf, found: String },
}

/// One `up`: whether it succeeded, how long it took, its phases in order and its components.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct Bootstrap {
    pub ok: bool,
    pub total_seconds: f64,
    pub phases: Vec<Phase>,
    pub components: Vec<Component>,
}

/// A phase of `up` (preflight, cluster, artifacts, components, ...), run one after another.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct Phase {
    pub phase: String,
    /// `ok`, `failed` or `skipped`.
    pub outcome: String,
    pub seconds: f64,
    #[serde(default)]
    pub detail: String,
}

/// A platform component waited for during the `components` phase.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct Component {
    pub name: String,
    pub version: String,
    /// `ready`, `failed` or `blocked`.
    pub outcome: String,
    /// Seconds after the `components` phase began that it started.
    #[serde(default)]
    pub started_after_seconds: Option<f64>,
    #[serde(default)]
    pub seconds: Option<f64>,
    #[serde(default)]
    pub error: Option<String>,
}

#[derive(Deserialize)]
struct Versioned {
    schema: String,
}

/// The phase that runs the component DAG; components' start times count from its start.
const COMPONENTS_PHASE: &str = "components";

impl Bootstrap {
    /// Reads a saved `up --format json` report.
    pub fn load(path: &Path) -> Result<Bootstrap, BootstrapError> {
        let text = std::fs::read_to_string(path).map_err(|source| BootstrapError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        Bootstrap::parse(&text, path)
    }

    /// Parses the text of an `up --format json` report; `path` names it in errors.
    pub fn parse(text: &str, path: &Path) -> Result<Bootstrap, BootstrapError> {
        let parse_error = |source| BootstrapError::Parse {
            path: path.to_path_buf(),
            source,
        };
        let versioned: Versioned = serde_json::from_str(text).map_err(parse_error)?;
        if versioned.schema != engine::REPORT_SCHEMA {
            return Err(BootstrapError::Schema {
                path: path.to_path_buf(),
                found: versioned.schema,
            });
        }
        serde_json::from_str(text).map_err(parse_error)
    }

    /// Seconds from the start of `up` to the start of the component DAG: the phases before it
    /// ran one after another (all of them, when the DAG never started).
    pub fn components_offset(&self) -> f64 {
        self.phases
            .iter()
            .take_while(|p| p.phase != COMPONENTS_PHASE)
            .map(|p| p.seconds)
            .sum()
    }
}

impl From<&InstallReport> for Bootstrap {
    fn from(report: &InstallReport) -> Self {
        Bootstrap {
            ok: report.ok,
            total_seconds: report.total_seconds,
            phases: report
                .phases
                .iter()
                .map(|p| Phase {
                    phase: p.phase.clone(),
                    outcome: match p.outcome {
                        PhaseOutcome::Ok => "ok",
                        PhaseOutcome::Failed => "failed",
                        PhaseOutcome::Skipped => "skipped",
                    }
                    .into(),
                    seconds: p.seconds,
                    detail: p.detail.clone(),
                })
                .collect(),
            components: report
                .components
                .iter()
                .map(|c| Component {
                    name: c.name.clone(),
                    version: c.version.clone(),
                    outcome: match c.outcome {
                        ComponentOutcome::Ready => "ready",
                        ComponentOutcome::Failed => "failed",
                        ComponentOutcome::Blocked => "blocked",
                    }
                    .into(),
                    started_after_seconds: c.started_after_seconds,
                    seconds: c.seconds,
                    error: c.error.clone(),
                })
                .collect(),
        }
    }
}

#[cfg(test)]
pub(crate) mod fixtures {
    //! A failed bootstrap: every phase kind, and a ready, a failed and a blocked component.
    use super::*;

    pub const UP_JSON: &str = r#"{
  "schema": "neuroscale.up/v1",
  "ok": false,
  "total_seconds": 95.5,
  "gitops": {"repo_url": "git://host.k3d.internal:9418/gitops", "revision": "HEAD"},
  "phases": [
    {"phase": "preflight", "outcome": "ok", "seconds": 1.25, "detail": "docker 28.1"},
    {"phase": "cluster", "outcome": "ok", "seconds": 30.0, "detail": "k3d-neuroscale created"},
    {"phase": "vendor", "outcome": "skipped", "seconds": 0.0, "detail": "remote repository"},
    {"phase": "components", "outcome": "failed", "seconds": 64.25}
  ],
  "components": [
    {"name": "argocd", "version": "v3.2.0", "outcome": "ready", "started_after_seconds": 0.0, "seconds": 20.5},
    {"name": "kyverno", "version": "v1.19.0", "outcome": "failed", "started_after_seconds": 20.5, "seconds": 43.75,
     "error": "timed out waiting for endpoints/kyverno/kyverno-svc <none>"},
    {"name": "platform", "version": "manifests/", "outcome": "blocked", "error": "not started: kyverno did not become ready"}
  ]
}"#;

    pub fn bootstrap() -> Bootstrap {
        Bootstrap::parse(UP_JSON, Path::new("up.json")).expect("the fixture parses")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::install::engine::{ComponentReport, PhaseTiming};

    #[test]
    fn a_saved_up_report_reads_back() {
        let bootstrap = fixtures::bootstrap();
        assert!(!bootstrap.ok);
        assert_eq!(bootstrap.phases.len(), 4);
        assert_eq!(bootstrap.phases[2].outcome, "skipped");
        assert_eq!(bootstrap.components[2].started_after_seconds, None);
        assert_eq!(bootstrap.components_offset(), 31.25);
    }

    #[test]
    fn another_schema_or_not_json_is_refused_with_the_file_named() {
        let other = fixtures::UP_JSON.replace("neuroscale.up/v1", "neuroscale.up/v9");
        let err = Bootstrap::parse(&other, Path::new("old.json")).unwrap_err();
        assert!(matches!(err, BootstrapError::Schema { .. }), "{err}");
        assert!(err.to_string().contains("old.json"), "{err}");
        let err = Bootstrap::parse("{\"checks\": []}", Path::new("report.json")).unwrap_err();
        assert!(matches!(err, BootstrapError::Parse { .. }), "{err}");
        let err = Bootstrap::load(Path::new("/nonexistent/up.json")).unwrap_err();
        assert!(matches!(err, BootstrapError::Read { .. }), "{err}");
    }

    #[test]
    fn the_report_up_builds_converts_as_its_json_reads_back() {
        let report = InstallReport {
            schema: engine::REPORT_SCHEMA,
            ok: false,
            total_seconds: 12.0,
            gitops: None,
            phases: vec![PhaseTiming {
                phase: "vendor".into(),
                outcome: PhaseOutcome::Skipped,
                seconds: 0.0,
                detail: "remote repository: nothing to vendor".into(),
            }],
            components: vec![ComponentReport {
                name: "kyverno".into(),
                version: "v1.19.0".into(),
                outcome: ComponentOutcome::Blocked,
                started_after_seconds: None,
                seconds: None,
                error: Some("not started".into()),
            }],
        };
        let json = serde_json::to_string(&report).unwrap();
        let read_back = Bootstrap::parse(&json, Path::new("up.json")).unwrap();
        assert_eq!(Bootstrap::from(&report), read_back);
    }
}
