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

/// Latency SLO for F4 (and the probe command's defaults). The load is open loop: `rate`
/// requests per second for `duration` (or `requests` in all), sent at their intended times
/// whatever the answers, with at most `maxInFlight` outstanding; each latency runs from the
/// request's intended send time. Thresholds are optional; each one needs enough planned
/// requests to be established (`probe::Quantile::samples_needed`: 2,000 for a p99).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Latency {
    /// Requests per second offered.
    pub rate: f64,
    /// How long to offer `rate` (e.g. `20s`); or give `requests`.
    #[serde(
        default,
        with = "humantime_serde",
        skip_serializing_if = "Option::is_none"
    )]
    pub duration: Option<Duration>,
    /// Measured requests in all; or give `duration`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub requests: Option<u32>,
    /// More requests outstanding than this and the run is INVALID (the load was not offered).
    #[serde(rename = "maxInFlight", default = "default_max_in_flight")]
    pub max_in_flight: u32,
    /// Requests sent first at the same rate, reported apart (the first is the cold start).
    #[serde(default)]
    pub warmup: u32,
    #[serde(rename = "p50Ms", default, skip_serializing_if = "Option::is_none")]
    pub p50_ms: Option<f64>,
    #[serde(rename = "p95Ms", default, skip_serializing_if = "Option::is_none")]
    pub p95_ms: Option<f64>,
    #[serde(rename = "p99Ms", default, skip_serializing_if = "Option::is_none")]
    pub p99_ms: Option<f64>,
}

fn default_max_in_flight() -> u32 {
    256
}

impl Latency {
    /// The measured requests the load plans: `requests`, or `rate × duration`.
    pub fn planned_requests(&self) -> u32 {
        match (self.requests, self.duration) {
            (Some(requests), _) => requests,
            (None, Some(duration)) => (duration.as_secs_f64() * self.rate).round() as u32,
            (None, None) => 0,
        }
    }

    /// How long the planned load takes at `rate`, warm-up included: the least time a check
    /// that runs it needs.
    pub fn planned_duration(&self) -> Duration {
        let requests = f64::from(self.planned_requests()) + f64::from(self.warmup);
        Duration::from_secs_f64(requests / self.rate)
    }

    fn validate(&self, path: &Path) -> Result<(), YamlError> {
        let field = |name: &str, message: String| {
            Err(YamlError::field(
                path,
                format!("spec.latency.{name}"),
                message,
            ))
        };
        if !(self.rate.is_finite() && self.rate > 0.0) {
            return field(
                "rate",
                "must be a positive number of requests per second".into(),
            );
        }
        match (self.duration, self.requests) {
            (Some(_), Some(_)) => {
                return field(
                    "requests",
                    "give either duration or requests, not both".into(),
                )
            }
            (None, None) => {
                return field(
                    "duration",
                    "give how long to offer the rate (e.g. `duration: 20s`) or `requests`".into(),
                )
            }
            _ => {}
        }
        let planned = self.planned_requests();
        if planned == 0 {
            return field("duration", "rate × duration plans no request".into());
        }
        if self.max_in_flight == 0 {
            return field("maxInFlight", "must be at least 1".into());
        }
        let limits: Vec<(&str, crate::probe::Quantile, f64)> = [
            ("p50Ms", crate::probe::Quantile::P50, self.p50_ms),
            ("p95Ms", crate::probe::Quantile::P95, self.p95_ms),
            ("p99Ms", crate::probe::Quantile::P99, self.p99_ms),
        ]
        .into_iter()
        .filter_map(|(name, quantile, limit)| limit.map(|limit| (name, quantile, limit)))
        .collect();
        for (name, _, limit) in &limits {
            if !(limit.is_finite() && *limit > 0.0) {
                return field(name, "must be a positive number of milliseconds".into());
            }
        }
        if limits.windows(2).any(|pair| pair[0].2 > pair[1].2) {
            return field(
                limits[0].0,
                "thresholds must be ordered p50Ms <= p95Ms <= p99Ms".into(),
            );
        }
        for (name, quantile, _) in &limits {
            let needed = quantile.samples_needed();
            if u64::from(planned) < needed {
                return field(
                    name,
                    format!(
                        "a {} threshold needs at least {needed} measured requests ({} above it) and the load plans {planned}: raise rate × duration (or requests), or remove {name}",
                        quantile.name(),
                        crate::probe::figures::SAMPLES_ABOVE_A_PERCENTILE
                    ),
                );
            }
        }
        Ok(())
    }
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
        self.spec.latency.validate(path)?;
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
        assert!(err.contains("spec.latency.p50Ms"), "{err}");
        assert!(err.contains("ordered"), "{err}");
    }

    #[test]
    fn the_smoke_load_is_open_loop_with_enough_requests_for_its_p99() {
        let scenario = Scenario::load(&project_file(DEFAULT_PATH)).unwrap();
        let latency = &scenario.spec.latency;
        assert!(latency.p99_ms.is_some());
        assert!(latency.planned_requests() >= 2000);
        assert!(latency.max_in_flight >= 1);
    }

    #[test]
    fn a_p99_threshold_over_too_few_requests_is_refused_with_the_fix() {
        let text = smoke_text().replace("duration: 20s", "duration: 5s");
        let err = reject(&text);
        assert!(err.contains("spec.latency.p99Ms"), "{err}");
        assert!(
            err.contains("a p99 threshold needs at least 2000 measured requests (20 above it) and the load plans 500"),
            "{err}"
        );
        // Without the p99 threshold, the same load is fine: p50 and p95 are established.
        let without = text.replace("    p99Ms: 800\n", "");
        Scenario::parse(Path::new("ok.yaml"), &without).unwrap();
    }

    #[test]
    fn the_load_needs_a_rate_and_one_length() {
        let both = smoke_text().replace("duration: 20s", "duration: 20s\n    requests: 2000");
        assert!(reject(&both).contains("either duration or requests"));
        let neither = smoke_text().replace("    duration: 20s\n", "");
        assert!(reject(&neither).contains("spec.latency.duration"));
        let stopped = smoke_text().replace("rate: 100", "rate: 0");
        assert!(reject(&stopped).contains("spec.latency.rate"));
        // The closed-loop setting of earlier scenarios is not read any more.
        let closed = smoke_text().replace("    rate: 100\n", "    rate: 100\n    concurrency: 4\n");
        assert!(reject(&closed).contains("unknown field `concurrency`"));
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
