//! Milestone D, guardrails: Kyverno ready (D1), the five policies enforcing (D2), and denials
//! that are really Kyverno's (D3, D4, sharing `denial`). The original smoke test counted any
//! admission error as a policy denial, including a webhook that had no endpoints.

pub mod denial;
pub mod deny_root_container;
pub mod deny_unlabeled_isvc;
pub mod kyverno_ready;
pub mod policies_enforced;

/// The policy D3's probe must be denied by.
pub const LABELS_POLICY: &str = "require-standard-labels-inferenceservice";
/// The policy D4's probe must be denied by.
pub const ROOT_POLICY: &str = "disallow-root-containers";
/// The label keys the label policies require.
pub const OWNER_LABEL: &str = "owner";
pub const COST_CENTER_LABEL: &str = "cost-center";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_expected_policies_are_platform_policies() {
        assert!(crate::gitops::POLICY_NAMES.contains(&LABELS_POLICY));
        assert!(crate::gitops::POLICY_NAMES.contains(&ROOT_POLICY));
    }
}
