//! F1 namespace-governance: the model namespace's live ResourceQuota and LimitRange are the ones
//! declared in `manifests/platform/governance.yaml`, value by value (`1` equals `1000m`);
//! fields the API server defaults are not compared.

use k8s_openapi::api::core::v1::{LimitRange, ResourceQuota};
use kube::api::{Api, ListParams};

use crate::checks::env::{CheckFuture, CheckRun};
use crate::checks::kit::quantity;
use crate::checks::outcome::{Diagnosis, Outcome};
use crate::failures::FailureCode;
use crate::observe;
use crate::platform::models;

pub fn check<'a>(run: &'a CheckRun<'a>) -> CheckFuture<'a> {
    Box::pin(namespace_governance(run))
}

/// The governance objects the platform declares for the model namespace.
#[derive(Debug, Clone, Default)]
pub struct DeclaredGovernance {
    /// Where they are declared.
    pub source: String,
    pub namespace: String,
    pub quotas: Vec<ResourceQuota>,
    pub limit_ranges: Vec<LimitRange>,
}

/// Where the declaration lives (built into the binary by `gitops::governance`).
pub const GOVERNANCE_FILE: &str = "manifests/platform/governance.yaml";

impl DeclaredGovernance {
    /// The platform's declaration as API objects, for comparison with the live ones.
    pub fn from_gitops(declared: &crate::gitops::governance::Governance) -> Result<Self, String> {
        let quota: ResourceQuota = serde_json::from_value(serde_json::json!({
            "metadata": {"name": declared.resource_quota, "namespace": declared.namespace},
            "spec": {"hard": declared.quota_hard}
        }))
        .map_err(|e| format!("{GOVERNANCE_FILE}: the ResourceQuota is malformed: {e}"))?;
        let limit_range: LimitRange = serde_json::from_value(serde_json::json!({
            "metadata": {"name": declared.limit_range, "namespace": declared.namespace},
            "spec": {"limits": declared.limits}
        }))
        .map_err(|e| format!("{GOVERNANCE_FILE}: the LimitRange is malformed: {e}"))?;
        Ok(DeclaredGovernance {
            source: GOVERNANCE_FILE.to_string(),
            namespace: declared.namespace.clone(),
            quotas: vec![quota],
            limit_ranges: vec![limit_range],
        })
    }
}

/// F1's verdict: every declared ResourceQuota and LimitRange exists in the namespace with the
/// declared values; at least one of each must be declared.
pub fn evaluate_governance(
    namespace: &str,
    declared: &DeclaredGovernance,
    live_quotas: &[ResourceQuota],
    live_limit_ranges: &[LimitRange],
) -> Outcome {
    if declared.quotas.is_empty() || declared.limit_ranges.is_empty() {
        return Outcome::fail(
            format!("no declared governance for namespace {namespace}"),
            Diagnosis::new(
                format!(
                    "{} declares {} ResourceQuota(s) and {} LimitRange(s) for {namespace}",
                    declared.source,
                    declared.quotas.len(),
                    declared.limit_ranges.len()
                ),
                "the platform manifests declare no quota and limits for this namespace (the governance file declares another namespace than the platform's model namespace?)",
                format!("grep -nE 'kind: (ResourceQuota|LimitRange)' {}", declared.source),
            ),
        );
    }
    let mut problems: Vec<String> = Vec::new();
    let mut compared = 0;
    let mut quota_names = Vec::new();
    for quota in &declared.quotas {
        let name = quota.metadata.name.clone().unwrap_or_default();
        quota_names.push(name.clone());
        let Some(live) = observe::find_named(live_quotas, &name) else {
            problems.push(format!("ResourceQuota {namespace}/{name} does not exist"));
            continue;
        };
        let (n, diffs) = quantity::map_differences(
            &format!("ResourceQuota {name} hard"),
            quota.spec.as_ref().and_then(|s| s.hard.as_ref()),
            live.spec.as_ref().and_then(|s| s.hard.as_ref()),
        );
        compared += n;
        problems.extend(diffs);
    }
    let mut limit_names = Vec::new();
    for range in &declared.limit_ranges {
        let name = range.metadata.name.clone().unwrap_or_default();
        limit_names.push(name.clone());
        let Some(live) = observe::find_named(live_limit_ranges, &name) else {
            problems.push(format!("LimitRange {namespace}/{name} does not exist"));
            continue;
        };
        let live_items = live
            .spec
            .as_ref()
            .map(|s| s.limits.as_slice())
            .unwrap_or_default();
        for item in range
            .spec
            .as_ref()
            .map(|s| s.limits.as_slice())
            .unwrap_or_default()
        {
            let Some(live_item) = live_items.iter().find(|l| l.type_ == item.type_) else {
                problems.push(format!("LimitRange {name} has no {} limits", item.type_));
                continue;
            };
            for (field, want, have) in [
                ("default", item.default.as_ref(), live_item.default.as_ref()),
                (
                    "defaultRequest",
                    item.default_request.as_ref(),
                    live_item.default_request.as_ref(),
                ),
                ("max", item.max.as_ref(), live_item.max.as_ref()),
                ("min", item.min.as_ref(), live_item.min.as_ref()),
                (
                    "maxLimitRequestRatio",
                    item.max_limit_request_ratio.as_ref(),
                    live_item.max_limit_request_ratio.as_ref(),
                ),
            ] {
                let (n, diffs) = quantity::map_differences(
                    &format!("LimitRange {name} {} {field}", item.type_),
                    want,
                    have,
                );
                compared += n;
                problems.extend(diffs);
            }
        }
    }
    if problems.is_empty() {
        return Outcome::pass(format!(
            "ResourceQuota {} and LimitRange {} in {namespace}: {compared}/{compared} declared limits in force",
            quota_names.join(", "),
            limit_names.join(", ")
        ))
        .with_figure("declared limits in force", compared as f64, "count");
    }
    let missing = problems.iter().any(|p| p.ends_with("does not exist"));
    let cause = if missing {
        "the namespace-governance Application has not synced into the model namespace (or syncs into another namespace)"
    } else {
        "the live objects drifted from the GitOps source (edited by hand, or ArgoCD self-heal is off for them)"
    };
    Outcome::fail(
        format!("{} governance difference(s) in {namespace}", problems.len()),
        Diagnosis::new(
            problems.join("; "),
            cause,
            format!("kubectl -n {namespace} describe resourcequota,limitrange"),
        )
        .with_code_opt(missing.then_some(FailureCode::ModelQuotaMissing)),
    )
}

async fn namespace_governance(run: &CheckRun<'_>) -> Outcome {
    let namespace = models::NAMESPACE;
    let mut declared = match DeclaredGovernance::from_gitops(&crate::gitops::governance::declared())
    {
        Ok(d) => d,
        Err(e) => {
            return Outcome::fail(
                "the declared governance cannot be read",
                Diagnosis::new(
                    e,
                    "a build defect in the platform manifests",
                    "cargo test gitops",
                ),
            )
        }
    };
    if declared.namespace != namespace {
        // The governance file governs another namespace than the platform's models live in.
        declared.quotas.clear();
        declared.limit_ranges.clear();
    }
    run.saw(format!(
        "reading resourcequotas and limitranges in {namespace}"
    ));
    let quotas: Api<ResourceQuota> = Api::namespaced(run.env.client.clone(), namespace);
    let live_quotas = match quotas.list(&ListParams::default()).await {
        Ok(l) => l.items,
        Err(e) => return Outcome::api_error(&format!("resourcequotas in {namespace}"), &e),
    };
    let ranges: Api<LimitRange> = Api::namespaced(run.env.client.clone(), namespace);
    let live_ranges = match ranges.list(&ListParams::default()).await {
        Ok(l) => l.items,
        Err(e) => return Outcome::api_error(&format!("limitranges in {namespace}"), &e),
    };
    evaluate_governance(namespace, &declared, &live_quotas, &live_ranges)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checks::fixtures::{self as fx, diagnosis};
    use crate::checks::outcome::Verdict;
    use serde_json::{json, Value};

    fn declared() -> DeclaredGovernance {
        DeclaredGovernance::from_gitops(&crate::gitops::governance::declared()).unwrap()
    }

    /// The live objects for the shipped declaration, as the API server returns them: quantities
    /// rewritten into another canonical form ("4" as "4000m", "8Gi" as "8192Mi") and the
    /// LimitRange item with fields the API server defaults (core/v1 LimitRange defaulting).
    fn live_from_declaration() -> (Vec<ResourceQuota>, Vec<LimitRange>) {
        let g = crate::gitops::governance::declared();
        let mut hard = serde_json::Map::new();
        for (key, value) in &g.quota_hard {
            let rewritten = match value.as_str() {
                "4" => "4000m".to_string(),
                "8Gi" => "8192Mi".to_string(),
                other => other.to_string(),
            };
            hard.insert(key.clone(), Value::from(rewritten));
        }
        let mut item = g.limits[0].clone();
        item["maxLimitRequestRatio"] = json!({"cpu": "10"});
        (
            vec![fx::resource_quota(
                &g.namespace,
                &g.resource_quota,
                Value::Object(hard),
            )],
            vec![fx::limit_range(&g.namespace, &g.limit_range, item)],
        )
    }

    #[test]
    fn f1_passes_on_the_shipped_declaration_in_canonical_form() {
        let (quotas, ranges) = live_from_declaration();
        let outcome = evaluate_governance("models", &declared(), &quotas, &ranges);
        assert_eq!(outcome.verdict(), Verdict::Pass, "{outcome:?}");
        assert!(
            outcome.summary.contains("models-quota"),
            "{}",
            outcome.summary
        );
    }

    #[test]
    fn f1_fails_on_a_drifted_limit() {
        let (mut quotas, ranges) = live_from_declaration();
        let hard = quotas[0].spec.as_mut().unwrap().hard.as_mut().unwrap();
        hard.insert(
            "requests.cpu".into(),
            k8s_openapi::apimachinery::pkg::api::resource::Quantity("40".into()),
        );
        let outcome = evaluate_governance("models", &declared(), &quotas, &ranges);
        assert_eq!(outcome.verdict(), Verdict::Fail);
        let d = diagnosis(&outcome);
        assert!(
            d.observed.contains("requests.cpu is 40 (declared 4)"),
            "{d:?}"
        );
        assert!(d.likely_cause.contains("drifted"));
    }

    #[test]
    fn f1_fails_on_a_missing_quota_key_and_on_another_namespace() {
        let (mut quotas, ranges) = live_from_declaration();
        let hard = quotas[0].spec.as_mut().unwrap().hard.as_mut().unwrap();
        hard.remove("pods");
        let outcome = evaluate_governance("models", &declared(), &quotas, &ranges);
        assert_eq!(outcome.verdict(), Verdict::Fail);
        assert!(diagnosis(&outcome)
            .observed
            .contains("hard pods is not set"));
    }

    #[test]
    fn f1_fails_when_the_limit_range_is_missing() {
        let (quotas, _) = live_from_declaration();
        let outcome = evaluate_governance("models", &declared(), &quotas, &[]);
        assert_eq!(outcome.verdict(), Verdict::Fail);
        let d = diagnosis(&outcome);
        assert_eq!(
            diagnosis(&outcome).code,
            Some(FailureCode::ModelQuotaMissing)
        );
        assert!(
            d.observed
                .contains("LimitRange models/models-limits does not exist"),
            "{d:?}"
        );
        assert!(d.next_command.contains("-n models"));
    }

    #[test]
    fn f1_fails_when_nothing_is_declared() {
        let (quotas, ranges) = live_from_declaration();
        let outcome =
            evaluate_governance("models", &DeclaredGovernance::default(), &quotas, &ranges);
        assert_eq!(outcome.verdict(), Verdict::Fail);
        assert!(outcome.summary.contains("no declared governance"));
    }
}
