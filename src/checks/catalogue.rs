//! The catalogue of the 21 milestone checks (shared/DESIGN.md §5): ids, milestones, titles and
//! pass conditions. Scenarios, `--only/--skip`, `check --list`, the reports and the cargo test
//! trials all name checks through this table.

use serde::Serialize;

/// A milestone groups checks (and is a JUnit testsuite).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub enum Milestone {
    A,
    B,
    C,
    D,
    E,
    F,
}

impl Milestone {
    pub const ALL: [Milestone; 6] = [
        Milestone::A,
        Milestone::B,
        Milestone::C,
        Milestone::D,
        Milestone::E,
        Milestone::F,
    ];

    pub fn letter(self) -> char {
        match self {
            Milestone::A => 'A',
            Milestone::B => 'B',
            Milestone::C => 'C',
            Milestone::D => 'D',
            Milestone::E => 'E',
            Milestone::F => 'F',
        }
    }

    pub fn title(self) -> &'static str {
        match self {
            Milestone::A => "GitOps spine",
            Milestone::B => "AI serving",
            Milestone::C => "Golden path",
            Milestone::D => "Guardrails",
            Milestone::E => "Cost",
            Milestone::F => "Hardening",
        }
    }

    /// `milestone_a` etc.: the prefix of the cargo test trial names.
    pub fn trial_prefix(self) -> String {
        format!("milestone_{}", self.letter().to_ascii_lowercase())
    }

    pub fn parse(text: &str) -> Option<Milestone> {
        Milestone::ALL
            .into_iter()
            .find(|m| text.eq_ignore_ascii_case(&m.letter().to_string()))
    }
}

/// What a check does to the cluster, which decides whether it may run concurrently.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Effect {
    /// Only reads: runs concurrently with other read-only checks.
    ReadOnly,
    /// Creates, deletes or patches objects: runs alone, refuses foreign contexts.
    Mutating,
}

/// One entry of the catalogue.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct CheckSpec {
    pub id: &'static str,
    pub slug: &'static str,
    pub milestone: Milestone,
    pub title: &'static str,
    pub passes_when: &'static str,
    pub effect: Effect,
}

impl CheckSpec {
    /// `A1 argocd-ready`
    pub fn label(&self) -> String {
        format!("{} {}", self.id, self.slug)
    }

    /// `milestone_a::argocd_ready`: the libtest-mimic trial name.
    pub fn trial_name(&self) -> String {
        format!(
            "{}::{}",
            self.milestone.trial_prefix(),
            self.slug.replace('-', "_")
        )
    }
}

const fn spec(
    id: &'static str,
    slug: &'static str,
    milestone: Milestone,
    title: &'static str,
    passes_when: &'static str,
    effect: Effect,
) -> CheckSpec {
    CheckSpec {
        id,
        slug,
        milestone,
        title,
        passes_when,
        effect,
    }
}

use Effect::{Mutating, ReadOnly};
use Milestone::{A, B, C, D, E, F};

/// The 21 checks, in report order.
pub const CATALOGUE: &[CheckSpec] = &[
    spec("A1", "argocd-ready", A, "ArgoCD is ready",
        "every ArgoCD workload has all replicas and containers ready", ReadOnly),
    spec("A2", "apps-synced-healthy", A, "Applications are Synced and Healthy",
        "every Application is Synced AND Healthy within the deadline (Progressing is not a pass)", ReadOnly),
    spec("A3", "no-unknown-state", A, "no Application in an unknown or error state",
        "no Application is Unknown or carries a ComparisonError/SyncError condition", ReadOnly),
    spec("A4", "drift-self-heal", A, "drift is healed by ArgoCD",
        "the drift canary Deployment, deleted, is recreated by ArgoCD and Ready within the deadline", Mutating),
    spec("B1", "kserve-control-plane", B, "KServe control plane is ready",
        "controller Available with all containers ready, webhook Service has ready endpoints, KServe CRDs Established", ReadOnly),
    spec("B2", "kourier-ingress", B, "Kourier is the ingress",
        "Knative uses the Kourier ingress class, KServe's ingress config does not need Istio, Kourier gateway Available", ReadOnly),
    spec("B3", "isvc-ready", B, "InferenceServices are Ready",
        "every platform InferenceService is Ready=True with a URL", ReadOnly),
    spec("B4", "inference-request", B, "inference through the ingress",
        "a predict request through the Kourier gateway with the right Host header returns the expected predictions", ReadOnly),
    spec("C1", "scaffold-compliant", C, "scaffold passes the live policies",
        "`new-model` output is admitted by the live policies (server-side dry-run)", ReadOnly),
    spec("C2", "appset-discovery", C, "ApplicationSet discovers a new model",
        "the scaffolded folder, committed to the GitOps source, yields a child Application that becomes Synced+Healthy; removed afterwards and pruned", Mutating),
    spec("C3", "scaffold-serves", C, "scaffolded endpoint serves",
        "the scaffolded endpoint becomes Ready and answers a predict", Mutating),
    spec("D1", "kyverno-ready", D, "Kyverno is ready",
        "Kyverno controllers Available, admission webhook Service has ready endpoints, webhook configurations registered", ReadOnly),
    spec("D2", "policies-enforced", D, "policies are enforcing",
        "the five policies exist, are Ready and enforcing (deny, not audit)", ReadOnly),
    spec("D3", "deny-unlabeled-isvc", D, "unlabelled InferenceService is denied",
        "an InferenceService without cost-center is denied by Kyverno naming require-standard-labels-inferenceservice, and does not exist afterwards", Mutating),
    spec("D4", "deny-root-container", D, "root container is denied",
        "a Deployment without runAsNonRoot is denied by disallow-root-containers, and does not exist afterwards", Mutating),
    spec("E1", "opencost-ready", E, "OpenCost is ready",
        "OpenCost Available and its API answers", ReadOnly),
    spec("E2", "cost-attribution", E, "cost is attributed by cost-center",
        "OpenCost allocation aggregated by label:cost-center contains the platform's cost centers with non-zero allocation", ReadOnly),
    spec("F1", "namespace-governance", F, "model namespace is governed",
        "ResourceQuota and LimitRange exist in the model namespace with the declared limits", ReadOnly),
    spec("F2", "no-stale-webhooks", F, "no stale webhooks",
        "every Validating/MutatingWebhookConfiguration points at a Service that exists and has ready endpoints", ReadOnly),
    spec("F3", "gpu-node-inference", F, "GPU-node inference",
        "an InferenceService requesting nvidia.com/gpu: 1 is scheduled on the GPU node and answers predictions", Mutating),
    spec("F4", "latency-slo", F, "latency within the SLO",
        "N requests at concurrency c through Kourier: zero errors, p50/p95/p99 under the scenario's thresholds", ReadOnly),
];

/// Finds a check by id (`A1`), slug (`argocd-ready`) or label (`A1 argocd-ready`),
/// case-insensitively.
pub fn find(name: &str) -> Option<&'static CheckSpec> {
    let name = name.trim();
    CATALOGUE.iter().find(|c| {
        c.id.eq_ignore_ascii_case(name)
            || c.slug.eq_ignore_ascii_case(name)
            || c.label().eq_ignore_ascii_case(name)
    })
}

/// Expands a selector (a check id/slug or a milestone letter) into checks.
pub fn select(selector: &str) -> Option<Vec<&'static CheckSpec>> {
    if let Some(check) = find(selector) {
        return Some(vec![check]);
    }
    Milestone::parse(selector).map(|m| CATALOGUE.iter().filter(|c| c.milestone == m).collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn there_are_21_checks_with_unique_ids_and_slugs() {
        assert_eq!(CATALOGUE.len(), 21);
        let ids: HashSet<_> = CATALOGUE.iter().map(|c| c.id).collect();
        let slugs: HashSet<_> = CATALOGUE.iter().map(|c| c.slug).collect();
        assert_eq!(ids.len(), 21);
        assert_eq!(slugs.len(), 21);
        for check in CATALOGUE {
            assert_eq!(check.id.chars().next(), Some(check.milestone.letter()));
        }
    }

    #[test]
    fn selectors_accept_ids_slugs_and_milestones() {
        assert_eq!(find("d3").unwrap().slug, "deny-unlabeled-isvc");
        assert_eq!(find("latency-slo").unwrap().id, "F4");
        assert_eq!(select("B").unwrap().len(), 4);
        assert!(select("Z9").is_none());
        assert_eq!(
            find("A4").unwrap().trial_name(),
            "milestone_a::drift_self_heal"
        );
    }
}
