//! D4 deny-root-container: a Deployment without `runAsNonRoot` (compliant otherwise, zero
//! replicas) is created for real in the model namespace and must be denied by
//! `disallow-root-containers`, and not exist afterwards. The probe is named `neuroscale-d4-*`.

use serde_json::json;

use super::denial::{run_denial_probe, DenialProbe};
use super::{COST_CENTER_LABEL, OWNER_LABEL, ROOT_POLICY};
use crate::checks::env::{CheckFuture, CheckRun};
use crate::checks::kit::probe::{self, MANAGED_BY};
use crate::platform::models;
use crate::platform::views::DEPLOYMENT;

pub fn check<'a>(run: &'a CheckRun<'a>) -> CheckFuture<'a> {
    Box::pin(async move {
        let probe =
            root_deployment_probe(models::NAMESPACE, &probe::generated_name("neuroscale-d4"));
        run_denial_probe(run, &probe).await
    })
}

/// D4's probe: a Deployment that is compliant (labels, requests/limits, pinned image) except
/// that nothing sets `runAsNonRoot`. Zero replicas, so even if admitted nothing runs.
pub fn root_deployment_probe(namespace: &str, name: &str) -> DenialProbe {
    let labels = json!({
        OWNER_LABEL: "neuroscale-checks",
        COST_CENTER_LABEL: "neuroscale-checks",
        MANAGED_BY.0: MANAGED_BY.1,
        "app": name
    });
    DenialProbe {
        kind: DEPLOYMENT,
        namespace: namespace.to_string(),
        name: name.to_string(),
        manifest: json!({
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": name, "namespace": namespace, "labels": labels.clone()},
            "spec": {
                "replicas": 0,
                "selector": {"matchLabels": {"app": name}},
                "template": {
                    "metadata": {"labels": labels},
                    "spec": {"containers": [{
                        "name": "probe",
                        "image": "registry.k8s.io/pause:3.10",
                        "resources": {"requests": {"cpu": "10m", "memory": "32Mi"},
                                      "limits": {"cpu": "50m", "memory": "64Mi"}}
                    }]}
                }
            }
        }),
        expected_policy: ROOT_POLICY,
        violation: "runs as root (no runAsNonRoot)",
    }
}
