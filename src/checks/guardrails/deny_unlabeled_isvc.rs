//! D3 deny-unlabeled-isvc: an InferenceService without `cost-center` (compliant otherwise) is
//! created for real in the model namespace and must be denied by Kyverno naming
//! `require-standard-labels-inferenceservice`, and not exist afterwards. The probe is named
//! `neuroscale-d3-*` and labelled `app.kubernetes.io/managed-by=neuroscale-checks`.

use serde_json::json;

use super::denial::{run_denial_probe, DenialProbe};
use super::{LABELS_POLICY, OWNER_LABEL};
use crate::checks::env::{CheckFuture, CheckRun};
use crate::checks::kit::probe::{self, MANAGED_BY};
use crate::platform::models;
use crate::platform::views::INFERENCE_SERVICE;

pub fn check<'a>(run: &'a CheckRun<'a>) -> CheckFuture<'a> {
    Box::pin(async move {
        let probe =
            unlabeled_isvc_probe(models::NAMESPACE, &probe::generated_name("neuroscale-d3"));
        run_denial_probe(run, &probe).await
    })
}

/// D3's probe: an InferenceService that is compliant except for the missing cost-center label.
pub fn unlabeled_isvc_probe(namespace: &str, name: &str) -> DenialProbe {
    DenialProbe {
        kind: INFERENCE_SERVICE,
        namespace: namespace.to_string(),
        name: name.to_string(),
        // Shape: kserve serving.kserve.io/v1beta1 InferenceService.
        manifest: json!({
            "apiVersion": "serving.kserve.io/v1beta1",
            "kind": "InferenceService",
            "metadata": {
                "name": name,
                "namespace": namespace,
                "labels": {OWNER_LABEL: "neuroscale-checks", MANAGED_BY.0: MANAGED_BY.1}
            },
            "spec": {"predictor": {"model": {
                "modelFormat": {"name": "sklearn"},
                "storageUri": "gs://kfserving-examples/models/sklearn/1.0/model",
                // disallow-root-containers also governs InferenceServices: comply with it, so
                // the missing label is the only violation.
                "securityContext": {"runAsNonRoot": true},
                "resources": {"requests": {"cpu": "50m", "memory": "128Mi"},
                              "limits": {"cpu": "100m", "memory": "512Mi"}}
            }}}
        }),
        expected_policy: LABELS_POLICY,
        violation: "has no cost-center label",
    }
}
