//! The catalogue of milestone checks, the ground floor everything in `checks/` stands on: one
//! row per check, in report order, holding its typed id, slug, milestone, title, pass condition,
//! effect on the cluster, what it needs to reach (the ingress, OpenCost), when the scenario
//! turns it off, and its implementation. `CheckId` is generated from the rows, so a check
//! cannot be named anywhere without a row, nor listed without an implementation. Scenarios,
//! `--only/--skip`, `check --list`, the reports and the cargo test trials all name checks
//! through it; the number of checks is whatever the rows hold.
//!
//! Adding a check: one file under its milestone's folder and one row here
//! (`docs/adding-a-check.md`).

use serde::Serialize;

use super::env::CheckFn;
use super::{cost, golden_path, guardrails, hardening, serving, spine};
use crate::scenario::Scenario;

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

/// What a check does to the cluster, which decides how the runner schedules and guards it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Effect {
    /// Only reads: runs concurrently with other read-only checks.
    ReadOnly,
    /// Creates, deletes or patches objects: runs alone, and the runner refuses it on a context
    /// that is not the harness's unless allowed.
    Mutating,
    /// Only reads, but measures (latency percentiles) what other checks' traffic would
    /// distort: runs alone.
    Measuring,
}

impl Effect {
    /// Whether the check runs alone, after the concurrent read-only batch.
    pub fn runs_alone(self) -> bool {
        self != Effect::ReadOnly
    }
}

/// Something outside the API server a check must reach; the check session opens a route to it
/// only when a selected check needs it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Need {
    /// The Kourier gateway (k3d's mapped port, `--ingress-url`, or a port-forward).
    Ingress,
    /// The OpenCost API (`--opencost-url`, or a port-forward).
    OpenCost,
}

/// Why the scenario turns a check off, when it does (the only reason a check SKIPs).
pub type SkipFn = fn(&Scenario) -> Option<String>;

/// One row of the catalogue.
#[derive(Clone, Copy)]
pub struct CheckSpec {
    pub id: CheckId,
    pub slug: &'static str,
    pub milestone: Milestone,
    pub title: &'static str,
    pub passes_when: &'static str,
    pub effect: Effect,
    pub needs: &'static [Need],
    pub skip_when: Option<SkipFn>,
    pub implementation: CheckFn,
}

impl std::fmt::Debug for CheckSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CheckSpec")
            .field("id", &self.id)
            .field("slug", &self.slug)
            .field("effect", &self.effect)
            .finish_non_exhaustive()
    }
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

    pub fn needs(&self, need: Need) -> bool {
        self.needs.contains(&need)
    }

    /// What this row needs besides the API server.
    const fn needing(mut self, needs: &'static [Need]) -> Self {
        self.needs = needs;
        self
    }

    /// When the scenario turns this check off.
    const fn skipped_when(mut self, skip: SkipFn) -> Self {
        self.skip_when = Some(skip);
        self
    }

    /// Stamps the id the catalogue macro generated for this row.
    const fn identified(mut self, id: CheckId) -> Self {
        self.id = id;
        self
    }
}

/// A row before its id is stamped on (`catalogue!` does that).
const fn row(
    slug: &'static str,
    milestone: Milestone,
    title: &'static str,
    passes_when: &'static str,
    effect: Effect,
    implementation: CheckFn,
) -> CheckSpec {
    CheckSpec {
        id: CheckId::FIRST,
        slug,
        milestone,
        title,
        passes_when,
        effect,
        needs: &[],
        skip_when: None,
        implementation,
    }
}

/// Generates `CheckId` (one variant per row, in row order) and `CATALOGUE` from the rows.
macro_rules! catalogue {
    ($first:ident => $first_row:expr, $($id:ident => $row:expr),* $(,)?) => {
        /// A check's typed identity (`A1` … as the catalogue's rows declare them).
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub enum CheckId {
            $first,
            $($id),*
        }

        impl CheckId {
            const FIRST: CheckId = CheckId::$first;

            /// The id as text (`A1`).
            pub fn as_str(self) -> &'static str {
                match self {
                    CheckId::$first => stringify!($first),
                    $(CheckId::$id => stringify!($id)),*
                }
            }
        }

        /// Every check, in report order.
        pub const CATALOGUE: &[CheckSpec] = &[
            $first_row.identified(CheckId::$first),
            $($row.identified(CheckId::$id)),*
        ];
    };
}

use Effect::{Measuring, Mutating, ReadOnly};
use Milestone::{A, B, C, D, E, F};
use Need::{Ingress, OpenCost};

catalogue! {
    A1 => row("argocd-ready", A, "ArgoCD is ready",
        "every ArgoCD workload has all replicas and containers ready",
        ReadOnly, spine::argocd_ready::check),
    A2 => row("apps-synced-healthy", A, "Applications are Synced and Healthy",
        "every Application is Synced AND Healthy within the deadline (Progressing is not a pass)",
        ReadOnly, spine::apps_synced_healthy::check),
    A3 => row("no-unknown-state", A, "no Application in an unknown or error state",
        "no Application is Unknown or carries a ComparisonError/SyncError condition",
        ReadOnly, spine::no_unknown_state::check),
    A4 => row("drift-self-heal", A, "drift is healed by ArgoCD",
        "the drift canary Deployment, deleted, is recreated by ArgoCD and Ready within the deadline",
        Mutating, spine::drift_self_heal::check),
    B1 => row("kserve-control-plane", B, "KServe control plane is ready",
        "controller Available with all containers ready, webhook Service has ready endpoints, KServe CRDs Established",
        ReadOnly, serving::kserve_control_plane::check),
    B2 => row("kourier-ingress", B, "Kourier is the ingress",
        "Knative uses the Kourier ingress class, KServe's ingress config does not need Istio, Kourier gateway Available",
        ReadOnly, serving::kourier_ingress::check),
    B3 => row("isvc-ready", B, "InferenceServices are Ready",
        "every platform InferenceService is Ready=True with a URL",
        ReadOnly, serving::isvc_ready::check),
    B4 => row("inference-request", B, "inference through the ingress",
        "a predict request through the Kourier gateway with the right Host header returns the expected predictions",
        ReadOnly, serving::inference_request::check).needing(&[Ingress]),
    C1 => row("scaffold-compliant", C, "scaffold passes the live policies",
        "`new-model` output is admitted by the live policies (server-side dry-run), and the same scaffold without its cost-center label is denied",
        ReadOnly, golden_path::scaffold_compliant::check),
    C2 => row("appset-discovery", C, "ApplicationSet discovers a new model",
        "the scaffolded folder, committed to the GitOps source, yields a child Application that becomes Synced+Healthy; removed afterwards and pruned",
        Mutating, golden_path::appset_discovery::check),
    C3 => row("scaffold-serves", C, "scaffolded endpoint serves",
        "the scaffolded endpoint becomes Ready and answers a predict",
        Mutating, golden_path::scaffold_serves::check).needing(&[Ingress]),
    D1 => row("kyverno-ready", D, "Kyverno is ready",
        "Kyverno controllers Available, admission webhook Service has ready endpoints, webhook configurations registered",
        ReadOnly, guardrails::kyverno_ready::check),
    D2 => row("policies-enforced", D, "policies are enforcing",
        "the five policies exist, are Ready and enforcing (deny, not audit)",
        ReadOnly, guardrails::policies_enforced::check),
    D3 => row("deny-unlabeled-isvc", D, "unlabelled InferenceService is denied",
        "an InferenceService without cost-center is denied by Kyverno naming require-standard-labels-inferenceservice, and does not exist afterwards",
        Mutating, guardrails::deny_unlabeled_isvc::check),
    D4 => row("deny-root-container", D, "root container is denied",
        "a Deployment without runAsNonRoot is denied by disallow-root-containers, and does not exist afterwards",
        Mutating, guardrails::deny_root_container::check),
    E1 => row("opencost-ready", E, "OpenCost is ready",
        "OpenCost Available and its API answers",
        ReadOnly, cost::opencost_ready::check).needing(&[OpenCost]),
    E2 => row("cost-attribution", E, "cost is attributed by cost-center",
        "OpenCost allocation aggregated by label:cost-center contains the platform's cost centers with non-zero allocation",
        ReadOnly, cost::cost_attribution::check).needing(&[OpenCost]),
    F1 => row("namespace-governance", F, "model namespace is governed",
        "ResourceQuota and LimitRange exist in the model namespace with the declared limits",
        ReadOnly, hardening::namespace_governance::check),
    F2 => row("no-stale-webhooks", F, "no stale webhooks",
        "every failurePolicy Fail webhook reaches a Service with ready endpoints or a URL that accepts a connection (Ignore webhooks that reach nothing are warnings)",
        ReadOnly, hardening::no_stale_webhooks::check),
    F3 => row("gpu-node-inference", F, "GPU-node inference",
        "an InferenceService requesting nvidia.com/gpu: 1 is scheduled on the GPU node and answers predictions",
        Mutating, hardening::gpu_node_inference::check)
        .needing(&[Ingress])
        .skipped_when(hardening::gpu_node_inference::skipped),
    F4 => row("latency-slo", F, "latency within the SLO",
        "open loop at the scenario's fixed rate through Kourier, latency from each request's intended send time: a valid run (in-flight cap never hit, at least 99% of the rate achieved), zero errors, p50/p95/p99 under the scenario's thresholds",
        Measuring, hardening::latency_slo::check).needing(&[Ingress]),
}

impl CheckId {
    /// Every check, in report order.
    pub fn all() -> impl Iterator<Item = CheckId> {
        CATALOGUE.iter().map(|spec| spec.id)
    }

    /// This check's catalogue row.
    pub fn spec(self) -> &'static CheckSpec {
        // The macro generates the variants and the rows in the same order.
        &CATALOGUE[self as usize]
    }

    /// Parses an id (`A1`), slug (`argocd-ready`) or label (`A1 argocd-ready`),
    /// case-insensitively.
    pub fn parse(name: &str) -> Option<CheckId> {
        find(name).map(|spec| spec.id)
    }
}

impl std::fmt::Display for CheckId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for CheckId {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

/// Finds a check by id (`A1`), slug (`argocd-ready`) or label (`A1 argocd-ready`),
/// case-insensitively.
pub fn find(name: &str) -> Option<&'static CheckSpec> {
    let name = name.trim();
    CATALOGUE.iter().find(|c| {
        c.id.as_str().eq_ignore_ascii_case(name)
            || c.slug.eq_ignore_ascii_case(name)
            || c.label().eq_ignore_ascii_case(name)
    })
}

/// Expands a selector (a check id/slug or a milestone letter) into checks.
pub fn select(selector: &str) -> Option<Vec<CheckId>> {
    if let Some(check) = find(selector) {
        return Some(vec![check.id]);
    }
    Milestone::parse(selector).map(|m| {
        CATALOGUE
            .iter()
            .filter(|c| c.milestone == m)
            .map(|c| c.id)
            .collect()
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn there_are_21_checks_with_unique_ids_and_slugs() {
        assert_eq!(CATALOGUE.len(), 21);
        let slugs: HashSet<_> = CATALOGUE.iter().map(|c| c.slug).collect();
        assert_eq!(slugs.len(), CATALOGUE.len());
        for (position, check) in CATALOGUE.iter().enumerate() {
            assert_eq!(check.id as usize, position, "{check:?}");
            assert_eq!(check.id.spec().slug, check.slug);
            assert_eq!(
                check.id.as_str().chars().next(),
                Some(check.milestone.letter())
            );
        }
    }

    #[test]
    fn selectors_accept_ids_slugs_and_milestones() {
        assert_eq!(find("d3").unwrap().slug, "deny-unlabeled-isvc");
        assert_eq!(CheckId::parse("latency-slo"), Some(CheckId::F4));
        assert_eq!(CheckId::parse("A2 apps-synced-healthy"), Some(CheckId::A2));
        assert_eq!(select("B").unwrap().len(), 4);
        assert!(select("Z9").is_none());
        assert_eq!(
            CheckId::A4.spec().trial_name(),
            "milestone_a::drift_self_heal"
        );
    }

    #[test]
    fn mutating_and_measuring_checks_run_alone() {
        let alone: Vec<CheckId> = CATALOGUE
            .iter()
            .filter(|c| c.effect.runs_alone())
            .map(|c| c.id)
            .collect();
        use CheckId::*;
        assert_eq!(alone, vec![A4, C2, C3, D3, D4, F3, F4]);
        assert_eq!(F4.spec().effect, Effect::Measuring);
    }

    #[test]
    fn the_gateway_and_opencost_checks_say_so() {
        let needing = |need| -> Vec<CheckId> {
            CATALOGUE
                .iter()
                .filter(|c| c.needs(need))
                .map(|c| c.id)
                .collect()
        };
        use CheckId::*;
        assert_eq!(needing(Need::Ingress), vec![B4, C3, F3, F4]);
        assert_eq!(needing(Need::OpenCost), vec![E1, E2]);
    }

    #[test]
    fn only_f3_is_turned_off_by_the_scenario() {
        let skippable: Vec<CheckId> = CATALOGUE
            .iter()
            .filter(|c| c.skip_when.is_some())
            .map(|c| c.id)
            .collect();
        assert_eq!(skippable, vec![CheckId::F3]);
    }
}
