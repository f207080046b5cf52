//! Scenarios: declarative run profiles (`scenarios/*.yaml`) saying which checks run, their
//! deadlines, latency thresholds and request counts, the models to probe and the GPU mode.
//! Like nextest's profiles, they keep policy out of code. A scenario is data: the check
//! selectors and per-check deadlines are resolved against the catalogue by
//! `checks::Selection`, once per run.
//!
//! The model namespace is not a scenario setting: `manifests/` governs one namespace
//! (`platform::models::NAMESPACE`), and a file that still sets `spec.modelNamespace` is refused
//! with the fix (remove the line), exit code 2.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::yaml::{self, YamlError};

pub const API_VERSION: &str = "neuroscale.dev/v1alpha1";
pub const KIND: &str = "Scenario";

/// The default scenario, relative to the project root.
pub const DEFAULT_PATH: &str = "scenarios/smoke.yaml";
/// The default scenario's built-in name (`--scenario smoke`).
pub const DEFAULT_NAME: &str = "smoke";

/// The default scenario, built into the binary.
pub const BUILTIN_SMOKE: &str = include_str!("../scenarios/smoke.yaml");

/// How the GPU check (F3) and the GPU model are handled.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum GpuMode {
    /// No GPU: F3 is skipped, with the reason.
    Off,
    /// Advertise `nvidia.com/gpu` as an extended resource on one agent node.
    Simulate,
    /// The NVIDIA device plugin on a GPU-capable k3d agent.
    Real,
    /// Real when Docker has the NVIDIA runtime, simulate otherwise.
    Auto,
}

/// KServe's inference protocols.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Protocol {
    V1,
    V2,
}

/// A model the checks send requests to, with known inputs and the predictions they must yield.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelProbe {
    pub name: String,
    pub namespace: String,
    #[serde(default = "default_protocol")]
    pub protocol: Protocol,
    /// Rows of features (for iris: four floats each).
    pub instances: Vec<Vec<f64>>,
    /// The predictions expected for `instances`, one per row.
    pub expected: Vec<serde_json::Value>,
    /// The label value used for cost attribution (E2).
    #[serde(rename = "costCenter")]
    pub cost_center: String,
    /// True for the model F3 deploys onto the GPU node.
    #[serde(default)]
    pub gpu: bool,
}

fn default_protocol() -> Protocol {
    Protocol::V1
}

/// Latency SLO for F4 (and the probe command's defaults).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Latency {
    pub requests: u32,
    pub concurrency: u32,
    #[serde(default)]
    pub warmup: u32,
    #[serde(rename = "p50Ms")]
    pub p50_ms: f64,
    #[serde(rename = "p95Ms")]
    pub p95_ms: f64,
    #[serde(rename = "p99Ms")]
    pub p99_ms: f64,
}

/// Deadlines. `default` applies to every check without its own entry in `checks`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Deadlines {
    #[serde(with = "humantime_serde")]
    pub default: Duration,
    /// Per-check deadlines, keyed by check id (`A4`) or slug (resolved by `checks::Selection`).
    #[serde(default, with = "duration_map")]
    pub checks: BTreeMap<String, Duration>,
    /// The whole `up`, from cluster to the platform layer.
    #[serde(default = "default_install_deadline", with = "humantime_serde")]
    pub install: Duration,
}

fn default_install_deadline() -> Duration {
    Duration::from_secs(20 * 60)
}

mod duration_map {
    use super::*;
    use serde::{Deserializer, Serializer};

    pub fn serialize<S: Serializer>(
        map: &BTreeMap<String, Duration>,
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        let text: BTreeMap<&String, String> = map
            .iter()
            .map(|(k, v)| (k, humantime::format_duration(*v).to_string()))
            .collect();
        text.serialize(serializer)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<BTreeMap<String, Duration>, D::Error> {
        let text = BTreeMap::<String, String>::deserialize(deserializer)?;
        text.into_iter()
            .map(|(k, v)| {
                humantime::parse_duration(&v)
                    .map(|d| (k.clone(), d))
                    .map_err(|e| serde::de::Error::custom(format!("{k}: {e}")))
            })
            .collect()
    }
}

/// Which checks run: all, or a list of ids, slugs or milestone letters.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum CheckSelection {
    All(AllKeyword),
    Some(Vec<String>),
}

/// The literal `all`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AllKeyword {
    All,
}

/// The scenario spec.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Spec {
    pub gpu: GpuMode,
    pub checks: CheckSelection,
    #[serde(default)]
    pub skip: Vec<String>,
    pub deadlines: Deadlines,
    pub latency: Latency,
    pub models: Vec<ModelProbe>,
    /// `modelNamespace`, removed: read only to refuse it with the fix.
    #[serde(rename = "modelNamespace", default, skip_serializing)]
    removed_model_namespace: Option<serde_yaml::Value>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Metadata {
    pub name: String,
    #[serde(default)]
    pub description: String,
}

/// A scenario file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Scenario {
    #[serde(rename = "apiVersion")]
    pub api_version: String,
    pub kind: String,
    pub metadata: Metadata,
    pub spec: Spec,
    /// Where it was read from (not part of the file).
    #[serde(skip)]
    pub source: PathBuf,
}

impl Scenario {
    /// Reads and validates a scenario file.
    pub fn load(path: &Path) -> Result<Scenario, YamlError> {
        let mut scenario: Scenario = yaml::load(path)?;
        scenario.source = path.to_path_buf();
        scenario.validate()?;
        Ok(scenario)
    }

    /// The scenario `--scenario` names: a file when the value names one on disk, else a
    /// built-in scenario by name (`smoke`, `nightly`, `gpu`); without the flag, the built-in
    /// `smoke`. A file in the working directory is never read unless the flag names it.
    pub fn resolve(flag: Option<&Path>) -> Result<Scenario, YamlError> {
        let Some(path) = flag else {
            return Self::builtin(DEFAULT_NAME).map(|s| s.expect("smoke is built in"));
        };
        if path.exists() {
            return Self::load(path);
        }
        let is_bare_name = path.components().count() == 1 && path.extension().is_none();
        match path.to_str().filter(|_| is_bare_name) {
            Some(name) => Self::builtin(name)?.ok_or_else(|| YamlError::Invalid {
                path: path.to_path_buf(),
                message: format!(
                    "no such file, and no built-in scenario of that name (built in: {})",
                    crate::bundled::scenario_names().join(", ")
                ),
            }),
            None => Self::load(path),
        }
    }

    /// The built-in scenario `name`, or None when the binary carries none of that name.
    fn builtin(name: &str) -> Result<Option<Scenario>, YamlError> {
        let Some(text) = crate::bundled::scenario(name) else {
            return Ok(None);
        };
        let shown = crate::bundled::display_name(&format!("scenarios/{name}.yaml"));
        Self::parse(Path::new(&shown), text).map(Some)
    }

    /// Parses and validates scenario text (tests, embedded defaults).
    pub fn parse(path: &Path, text: &str) -> Result<Scenario, YamlError> {
        let mut scenario: Scenario = yaml::parse(path, text)?;
        scenario.source = path.to_path_buf();
        scenario.validate()?;
        Ok(scenario)
    }

    fn validate(&self) -> Result<(), YamlError> {
        let path = self.source.as_path();
        if self.api_version != API_VERSION {
            return Err(YamlError::field(
                path,
                "apiVersion",
                format!("expected `{API_VERSION}`, found `{}`", self.api_version),
            ));
        }
        if self.kind != KIND {
            return Err(YamlError::field(
                path,
                "kind",
                format!("expected `{KIND}`, found `{}`", self.kind),
            ));
        }
        if self.spec.removed_model_namespace.is_some() {
            return Err(YamlError::field(
                path,
                "spec.modelNamespace",
                format!(
                    "the scenario no longer sets the model namespace: the platform's manifests govern `{}` (quota, limits, the model ApplicationSet); delete this line",
                    crate::platform::models::NAMESPACE
                ),
            ));
        }
        let latency = &self.spec.latency;
        if latency.requests == 0 || latency.concurrency == 0 {
            return Err(YamlError::field(
                path,
                "spec.latency",
                "requests and concurrency must be at least 1",
            ));
        }
        if !(latency.p50_ms <= latency.p95_ms && latency.p95_ms <= latency.p99_ms)
            || latency.p50_ms <= 0.0
        {
            return Err(YamlError::field(
                path,
                "spec.latency",
                "thresholds must be positive and ordered p50Ms <= p95Ms <= p99Ms",
            ));
        }
        for (i, model) in self.spec.models.iter().enumerate() {
            if !is_dns1123_label(&model.name) {
                return Err(YamlError::field(
                    path,
                    format!("spec.models[{i}].name"),
                    format!("`{}` is not a DNS-1123 label", model.name),
                ));
            }
            if model.instances.len() != model.expected.len() || model.instances.is_empty() {
                return Err(YamlError::field(
                    path,
                    format!("spec.models[{i}].expected"),
                    format!(
                        "{} instances but {} expected predictions: give one prediction per row",
                        model.instances.len(),
                        model.expected.len()
                    ),
                ));
            }
        }
        if self.spec.models.iter().filter(|m| !m.gpu).count() == 0 {
            return Err(YamlError::field(
                path,
                "spec.models",
                "at least one CPU model is needed for B4 and F4",
            ));
        }
        Ok(())
    }

    /// The models B4/F4 use (not the GPU one).
    pub fn cpu_models(&self) -> impl Iterator<Item = &ModelProbe> {
        self.spec.models.iter().filter(|m| !m.gpu)
    }

    /// The model F3 deploys on the GPU node, if the scenario names one.
    pub fn gpu_model(&self) -> Option<&ModelProbe> {
        self.spec.models.iter().find(|m| m.gpu)
    }
}

/// RFC 1123 label: lowercase alphanumerics and '-', starting and ending alphanumeric, <= 63.
pub fn is_dns1123_label(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 63
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        && !name.starts_with('-')
        && !name.ends_with('-')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn project_file(rel: &str) -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join(rel)
    }

    #[test]
    fn the_shipped_scenarios_load() {
        for name in ["smoke", "nightly", "gpu"] {
            let path = project_file(&format!("scenarios/{name}.yaml"));
            let scenario = Scenario::load(&path).unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(scenario.metadata.name, name);
        }
    }

    #[test]
    fn the_flag_names_a_file_or_a_built_in_scenario() {
        let default = Scenario::resolve(None).unwrap();
        assert_eq!(default.metadata.name, "smoke");
        assert_eq!(
            default.source,
            PathBuf::from("scenarios/smoke.yaml (built in)")
        );
        let gpu = Scenario::resolve(Some(Path::new("gpu"))).unwrap();
        assert_eq!(gpu.metadata.name, "gpu");
        let file = project_file("scenarios/nightly.yaml");
        assert_eq!(Scenario::resolve(Some(&file)).unwrap().source, file);
        let unknown = Scenario::resolve(Some(Path::new("weekly")))
            .unwrap_err()
            .to_string();
        assert!(
            unknown.contains("weekly") && unknown.contains("gpu, nightly, smoke"),
            "{unknown}"
        );
        let missing = Scenario::resolve(Some(Path::new("no/such.yaml")))
            .unwrap_err()
            .to_string();
        assert!(missing.contains("no/such.yaml"), "{missing}");
    }

    #[test]
    fn smoke_runs_with_a_simulated_gpu() {
        let scenario = Scenario::load(&project_file(DEFAULT_PATH)).unwrap();
        assert_eq!(scenario.spec.gpu, GpuMode::Simulate);
    }

    fn smoke_text() -> String {
        std::fs::read_to_string(project_file(DEFAULT_PATH)).unwrap()
    }

    fn reject(text: &str) -> String {
        Scenario::parse(Path::new("bad.yaml"), text)
            .expect_err("must be rejected")
            .to_string()
    }

    #[test]
    fn an_unknown_gpu_mode_names_the_field() {
        let text = smoke_text().replace("gpu: simulate", "gpu: maybe");
        let err = reject(&text);
        assert!(err.contains("field `spec.gpu`"), "{err}");
    }

    #[test]
    fn an_unknown_key_is_rejected() {
        let text = smoke_text().replace("spec:\n", "spec:\n  colour: red\n");
        let err = reject(&text);
        assert!(err.contains("unknown field `colour`"), "{err}");
    }

    #[test]
    fn a_bad_duration_names_the_field() {
        let text = smoke_text().replace("default: 5m", "default: soon");
        let err = reject(&text);
        assert!(err.contains("spec.deadlines.default"), "{err}");
    }

    #[test]
    fn unordered_latency_thresholds_are_rejected() {
        let text = smoke_text().replace("p95Ms: ", "p95Ms: 100000 #");
        let err = reject(&text);
        assert!(err.contains("spec.latency"), "{err}");
    }

    #[test]
    fn a_wrong_kind_is_rejected() {
        let text = smoke_text().replace("kind: Scenario", "kind: Cluster");
        assert!(reject(&text).contains("field `kind`"));
    }

    #[test]
    fn a_model_namespace_setting_is_refused_with_the_fix() {
        for value in ["models", "serving"] {
            let text = smoke_text().replace(
                "  models:\n",
                &format!("  modelNamespace: {value}\n  models:\n"),
            );
            let err = reject(&text);
            assert!(
                err.contains("spec.modelNamespace") && err.contains("delete this line"),
                "{err}"
            );
        }
    }

    #[test]
    fn predictions_must_match_instances() {
        let text = smoke_text().replace("expected: [1, 1]", "expected: [1]");
        assert!(reject(&text).contains("expected"));
    }

    #[test]
    fn dns_labels() {
        assert!(is_dns1123_label("sklearn-iris"));
        assert!(!is_dns1123_label("Sklearn"));
        assert!(!is_dns1123_label("-a"));
        assert!(!is_dns1123_label(&"a".repeat(64)));
    }
}
