//! The model namespace's declared governance: the ResourceQuota and LimitRange of
//! `manifests/platform/governance.yaml`, built into the binary so check F1 compares the live
//! objects with exactly what the platform ships (one source of truth, no copied constants).

use std::collections::BTreeMap;
use std::path::Path;

use serde_json::Value;

/// `manifests/platform/governance.yaml`, as built.
pub const GOVERNANCE_MANIFEST: &str = include_str!("../../manifests/platform/governance.yaml");
const GOVERNANCE_PATH: &str = "manifests/platform/governance.yaml";

/// What the platform declares for the model namespace.
#[derive(Debug, Clone, PartialEq)]
pub struct Governance {
    pub namespace: String,
    pub resource_quota: String,
    /// `spec.hard` of the ResourceQuota (resource name to quantity, as written).
    pub quota_hard: BTreeMap<String, String>,
    pub limit_range: String,
    /// `spec.limits` of the LimitRange, as written.
    pub limits: Vec<Value>,
}

/// The declared quota and limits. The manifest is part of the build and a test parses it, so
/// failing here is a build defect, not a runtime condition.
pub fn declared() -> Governance {
    parse(GOVERNANCE_MANIFEST).expect("manifests/platform/governance.yaml is valid (unit-tested)")
}

fn parse(text: &str) -> Result<Governance, String> {
    let docs = crate::yaml::parse_documents(Path::new(GOVERNANCE_PATH), text)
        .map_err(|e| e.to_string())?;
    let find = |kind: &str| {
        docs.iter()
            .find(|d| d["kind"] == kind)
            .ok_or_else(|| format!("{GOVERNANCE_PATH} has no {kind}"))
    };
    let quota = find("ResourceQuota")?;
    let limit_range = find("LimitRange")?;
    let namespace = quota["metadata"]["namespace"]
        .as_str()
        .ok_or("the ResourceQuota has no namespace")?;
    if limit_range["metadata"]["namespace"] != namespace {
        return Err("the ResourceQuota and LimitRange are in different namespaces".into());
    }
    let quota_hard = quota["spec"]["hard"]
        .as_object()
        .ok_or("the ResourceQuota has no spec.hard")?
        .iter()
        .map(|(k, v)| match v {
            Value::String(s) => Ok((k.clone(), s.clone())),
            other => Err(format!(
                "spec.hard.{k} must be a quoted quantity, found {other}"
            )),
        })
        .collect::<Result<_, _>>()?;
    Ok(Governance {
        namespace: namespace.to_string(),
        resource_quota: quota["metadata"]["name"]
            .as_str()
            .unwrap_or_default()
            .to_string(),
        quota_hard,
        limit_range: limit_range["metadata"]["name"]
            .as_str()
            .unwrap_or_default()
            .to_string(),
        limits: limit_range["spec"]["limits"]
            .as_array()
            .cloned()
            .ok_or("the LimitRange has no spec.limits")?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_shipped_governance_targets_the_model_namespace() {
        let g = declared();
        assert_eq!(g.namespace, crate::gitops::MODEL_NAMESPACE);
        assert_eq!(g.resource_quota, "models-quota");
        assert_eq!(g.limit_range, "models-limits");
        for key in [
            "requests.cpu",
            "requests.memory",
            "limits.cpu",
            "limits.memory",
            "pods",
        ] {
            assert!(g.quota_hard.contains_key(key), "quota lacks {key}");
        }
        assert_eq!(g.limits[0]["type"], "Container");
        assert!(g.limits[0]["default"]["cpu"].is_string());
    }

    #[test]
    fn an_unquoted_quantity_is_refused() {
        let text = "kind: ResourceQuota\nmetadata: {name: q, namespace: m}\nspec: {hard: {pods: 3}}\n---\nkind: LimitRange\nmetadata: {name: l, namespace: m}\nspec: {limits: []}\n";
        let err = parse(text).unwrap_err();
        assert!(err.contains("spec.hard.pods"), "{err}");
    }
}
