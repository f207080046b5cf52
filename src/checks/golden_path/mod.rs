//! Milestone C, golden path: the scaffold `new-model` writes, proven step by step. The live
//! admission chain admits it (C1); committed to the GitOps source it becomes a Synced+Healthy
//! child Application and is pruned again on removal (C2); created, it serves predictions through
//! the gateway (C3). The original smoke test called the golden path proven when an object with
//! the demo's name existed.

pub mod appset_discovery;
pub mod scaffold_compliant;
pub mod scaffold_serves;

use crate::checks::env::{CheckRun, CreatedObject};
use crate::checks::kit::probe;
use crate::checks::outcome::{Diagnosis, Outcome};
use crate::gitops::scaffold::ModelSpec;
use crate::platform::views::INFERENCE_SERVICE;

/// The owner label of the models the checks scaffold.
pub const PROBE_OWNER: &str = "neuroscale-checks";

/// A unique, short model name for a check's scaffold (`nscheck-c2-5f3a1c`): a DNS-1123 label
/// that leaves room for KServe's `-predictor` suffixes.
pub fn probe_model_name(check: &str) -> String {
    probe::generated_name(&format!("nscheck-{}", check.to_ascii_lowercase()))
}

/// The scaffold the checks use: `new-model`'s defaults (the public iris model), labelled with
/// the scenario's first cost center.
fn probe_spec(run: &CheckRun<'_>, check: &str) -> Result<ModelSpec, Box<Outcome>> {
    let cost_center = run
        .env
        .scenario
        .cpu_models()
        .next()
        .map(|m| m.cost_center.clone())
        .unwrap_or_else(|| "platform".to_string());
    ModelSpec::new(probe_model_name(check), PROBE_OWNER, cost_center).map_err(|e| {
        Box::new(Outcome::fail(
            "could not scaffold a model",
            Diagnosis::new(
                e.to_string(),
                "the scenario's cost center is not a valid label value",
                format!(
                    "edit spec.models[0].costCenter in {}",
                    run.env.scenario.source.display()
                ),
            ),
        ))
    })
}

/// The scaffold's InferenceService, as the runner deletes it.
fn isvc_object(namespace: &str, name: &str) -> CreatedObject {
    CreatedObject {
        api_version: INFERENCE_SERVICE.api_version(),
        kind: INFERENCE_SERVICE.kind.to_string(),
        namespace: Some(namespace.to_string()),
        name: name.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn probe_model_names_are_dns_labels_with_room_for_kserve_suffixes() {
        let name = probe_model_name("C2");
        assert!(crate::scenario::is_dns1123_label(&name), "{name}");
        assert!(name.starts_with("nscheck-c2-"), "{name}");
        assert!(
            name.len() + "-predictor-00001-deployment".len() <= 63,
            "{name}"
        );
    }
}
