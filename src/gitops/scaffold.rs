//! The golden-path scaffold: a model endpoint (one InferenceService in its own folder under
//! `manifests/models/`) that passes every platform policy by construction. `new-model` writes
//! or commits it; check C1 dry-runs `inference_service` against the live policies.

use std::path::PathBuf;

use serde_json::{json, Value};

use super::{model_dir, MODEL_NAMESPACE};
use crate::scenario::is_dns1123_label;

/// The public iris model from KServe's docs and e2e tests (a public GCS bucket).
pub const DEFAULT_STORAGE_URI: &str = "gs://kfserving-examples/models/sklearn/1.0/model";
/// The one model format the platform ships a runtime for (manifests/platform/serving-runtime.yaml).
pub const SUPPORTED_FORMATS: &[(&str, &str)] = &[("sklearn", "kserve-sklearnserver")];
/// The label the GPU node carries (k3d/*.yaml `nodeLabels`).
pub const GPU_NODE_LABEL: (&str, &str) = ("neuroscale.dev/gpu-node", "true");
/// The file a model folder holds.
pub const INFERENCE_SERVICE_FILE: &str = "inferenceservice.yaml";

/// What a scaffolded model endpoint is made of.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModelSpec {
    /// A DNS-1123 label: the folder, the InferenceService and (prefixed) the Application.
    pub name: String,
    /// The owning team, kebab-case (label `owner`).
    pub owner: String,
    /// The cost center, kebab-case (label `cost-center`, what OpenCost aggregates by).
    pub cost_center: String,
    /// The model format; it selects the serving runtime.
    pub format: String,
    pub storage_uri: String,
    /// One `nvidia.com/gpu`, scheduled onto the GPU node.
    pub gpu: bool,
}

/// Why a model spec cannot be scaffolded. Each message names the field and the fix.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ScaffoldError {
    #[error("model name `{0}` is not a DNS-1123 label: use at most 63 lower-case letters, digits and '-', starting and ending with a letter or digit (e.g. fraud-detector)")]
    InvalidName(String),
    #[error("--{field} `{value}` is not kebab-case: use lower-case words of letters and digits joined by single '-' (e.g. ml-platform)")]
    NotKebabCase { field: &'static str, value: String },
    #[error("model format `{0}` has no serving runtime on this platform; supported: {supported}", supported = supported_formats())]
    UnsupportedFormat(String),
    #[error("--storage-uri `{0}` must be a URI with a scheme (gs://, s3://, https://, pvc://, hf://, oci://)")]
    InvalidStorageUri(String),
}

fn supported_formats() -> String {
    SUPPORTED_FORMATS
        .iter()
        .map(|(format, _)| *format)
        .collect::<Vec<_>>()
        .join(", ")
}

/// Lower-case words of letters and digits joined by single dashes, at most 63 characters (a
/// label value). The same pattern the policies enforce.
pub fn is_kebab_case(value: &str) -> bool {
    !value.is_empty()
        && value.len() <= 63
        && value.split('-').all(|word| {
            !word.is_empty()
                && word
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
        })
}

impl ModelSpec {
    /// A validated spec for the default format and storage.
    pub fn new(
        name: impl Into<String>,
        owner: impl Into<String>,
        cost_center: impl Into<String>,
    ) -> Result<ModelSpec, ScaffoldError> {
        let spec = ModelSpec {
            name: name.into(),
            owner: owner.into(),
            cost_center: cost_center.into(),
            format: "sklearn".into(),
            storage_uri: DEFAULT_STORAGE_URI.into(),
            gpu: false,
        };
        spec.validate()?;
        Ok(spec)
    }

    /// Checks every field; the first problem found is returned.
    pub fn validate(&self) -> Result<(), ScaffoldError> {
        if !is_dns1123_label(&self.name) {
            return Err(ScaffoldError::InvalidName(self.name.clone()));
        }
        if !is_kebab_case(&self.owner) {
            return Err(ScaffoldError::NotKebabCase {
                field: "owner",
                value: self.owner.clone(),
            });
        }
        if !is_kebab_case(&self.cost_center) {
            return Err(ScaffoldError::NotKebabCase {
                field: "cost-center",
                value: self.cost_center.clone(),
            });
        }
        self.runtime()?;
        match self.storage_uri.split_once("://") {
            Some((scheme, rest))
                if !scheme.is_empty()
                    && scheme.bytes().all(|b| b.is_ascii_alphanumeric())
                    && !rest.is_empty() => {}
            _ => return Err(ScaffoldError::InvalidStorageUri(self.storage_uri.clone())),
        }
        Ok(())
    }

    /// The ClusterServingRuntime serving this format.
    pub fn runtime(&self) -> Result<&'static str, ScaffoldError> {
        SUPPORTED_FORMATS
            .iter()
            .find(|(format, _)| *format == self.format)
            .map(|(_, runtime)| *runtime)
            .ok_or_else(|| ScaffoldError::UnsupportedFormat(self.format.clone()))
    }

    /// The model's folder, relative to the repository root.
    pub fn folder(&self) -> String {
        model_dir(&self.name)
    }
}

/// A file of a rendered model folder.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RenderedFile {
    /// Relative to the repository root (`manifests/models/<name>/inferenceservice.yaml`).
    pub path: PathBuf,
    pub contents: String,
}

impl RenderedFile {
    /// The file's name inside the model folder.
    pub fn file_name(&self) -> &str {
        self.path
            .file_name()
            .and_then(|n| n.to_str())
            .expect("rendered paths end in a UTF-8 file name")
    }
}

/// The InferenceService for a spec. The spec must be valid (`ModelSpec::validate`).
/// Shape: kserve/kserve config/crd/full/serving.kserve.io_inferenceservices.yaml @v0.20.0.
pub fn inference_service(spec: &ModelSpec) -> Value {
    let runtime = spec
        .runtime()
        .expect("inference_service needs a validated spec");
    let labels = json!({ "owner": spec.owner, "cost-center": spec.cost_center });
    let mut requests = json!({ "cpu": "100m", "memory": "256Mi" });
    let mut limits = json!({ "cpu": "500m", "memory": "512Mi" });
    if spec.gpu {
        // Extended resources: requests must equal limits.
        requests["nvidia.com/gpu"] = json!("1");
        limits["nvidia.com/gpu"] = json!("1");
    }
    let mut predictor = json!({
        "minReplicas": 1,
        "labels": labels,
        "model": {
            "modelFormat": { "name": spec.format },
            "runtime": runtime,
            "storageUri": spec.storage_uri,
            "securityContext": { "runAsNonRoot": true },
            "resources": { "requests": requests, "limits": limits },
        },
    });
    if spec.gpu {
        predictor["nodeSelector"] = json!({ GPU_NODE_LABEL.0: GPU_NODE_LABEL.1 });
        predictor["tolerations"] =
            json!([{ "key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule" }]);
    }
    json!({
        "apiVersion": "serving.kserve.io/v1beta1",
        "kind": "InferenceService",
        "metadata": {
            "name": spec.name,
            "namespace": MODEL_NAMESPACE,
            "labels": labels,
        },
        "spec": { "predictor": predictor },
    })
}

/// The model folder's files. The spec must be valid.
pub fn render(spec: &ModelSpec) -> Vec<RenderedFile> {
    let header = format!(
        "# Model endpoint `{name}`, scaffolded by `neuroscale new-model`.\n\
         # The model-endpoints ApplicationSet turns this folder into Application model-{name};\n\
         # the labels and resources satisfy every policy in manifests/platform/policies/.\n",
        name = spec.name
    );
    let body = crate::yaml::to_string(&inference_service(spec));
    vec![RenderedFile {
        path: PathBuf::from(spec.folder()).join(INFERENCE_SERVICE_FILE),
        contents: format!("{header}{body}"),
    }]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gitops::conformance;

    fn spec() -> ModelSpec {
        ModelSpec::new("fraud-detector", "ml-platform", "ml-research").unwrap()
    }

    #[test]
    fn kebab_case_accepts_words_joined_by_single_dashes() {
        for ok in ["ml-platform", "team1", "a-b-c", "x"] {
            assert!(is_kebab_case(ok), "{ok}");
        }
        for bad in [
            "",
            "ML-platform",
            "ml_platform",
            "-ml",
            "ml-",
            "ml--platform",
            "ml platform",
            &"a".repeat(64),
        ] {
            assert!(!is_kebab_case(bad), "{bad:?}");
        }
    }

    #[test]
    fn rejects_each_bad_field_naming_it() {
        let bad_name = ModelSpec::new("Fraud_Detector", "ml", "cc").unwrap_err();
        assert_eq!(
            bad_name,
            ScaffoldError::InvalidName("Fraud_Detector".into())
        );
        assert!(bad_name.to_string().contains("DNS-1123"));
        let bad_owner = ModelSpec::new("m", "ML Team", "cc").unwrap_err();
        assert!(
            bad_owner.to_string().starts_with("--owner `ML Team`"),
            "{bad_owner}"
        );
        let bad_cc = ModelSpec::new("m", "ml", "Cost_Center").unwrap_err();
        assert!(bad_cc.to_string().starts_with("--cost-center"), "{bad_cc}");
        let mut other_format = spec();
        other_format.format = "onnx".into();
        assert_eq!(
            other_format.validate(),
            Err(ScaffoldError::UnsupportedFormat("onnx".into()))
        );
        let mut bad_uri = spec();
        bad_uri.storage_uri = "/tmp/model".into();
        assert!(matches!(
            bad_uri.validate(),
            Err(ScaffoldError::InvalidStorageUri(_))
        ));
    }

    #[test]
    fn the_scaffold_passes_every_policy() {
        for gpu in [false, true] {
            let spec = ModelSpec { gpu, ..spec() };
            let isvc = inference_service(&spec);
            assert!(conformance::in_scope(&isvc));
            assert_eq!(conformance::violations(&isvc), vec![], "gpu={gpu}");
        }
    }

    #[test]
    fn the_scaffold_carries_the_cost_labels_on_the_object_and_the_pods() {
        let isvc = inference_service(&spec());
        for labels in [
            &isvc["metadata"]["labels"],
            &isvc["spec"]["predictor"]["labels"],
        ] {
            assert_eq!(labels["owner"], "ml-platform");
            assert_eq!(labels["cost-center"], "ml-research");
        }
        assert_eq!(isvc["metadata"]["namespace"], MODEL_NAMESPACE);
        assert_eq!(
            isvc["spec"]["predictor"]["model"]["runtime"],
            "kserve-sklearnserver"
        );
    }

    #[test]
    fn a_gpu_scaffold_requests_one_gpu_on_the_gpu_node() {
        let isvc = inference_service(&ModelSpec {
            gpu: true,
            ..spec()
        });
        let predictor = &isvc["spec"]["predictor"];
        assert_eq!(
            predictor["model"]["resources"]["limits"]["nvidia.com/gpu"],
            "1"
        );
        assert_eq!(
            predictor["model"]["resources"]["requests"]["nvidia.com/gpu"],
            "1"
        );
        assert_eq!(
            predictor["nodeSelector"][GPU_NODE_LABEL.0],
            GPU_NODE_LABEL.1
        );
        let plain = inference_service(&spec());
        assert!(plain["spec"]["predictor"].get("nodeSelector").is_none());
    }

    #[test]
    fn render_writes_one_parsable_file_in_the_model_folder() {
        let files = render(&spec());
        assert_eq!(files.len(), 1);
        assert_eq!(
            files[0].path,
            PathBuf::from("manifests/models/fraud-detector/inferenceservice.yaml")
        );
        assert_eq!(files[0].file_name(), INFERENCE_SERVICE_FILE);
        let docs =
            crate::yaml::parse_documents(&files[0].path, &files[0].contents).expect("valid YAML");
        assert_eq!(docs, vec![inference_service(&spec())]);
    }
}
