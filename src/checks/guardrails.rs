//! Milestone Guardrails (D1-D4): Kyverno readiness, policies enforcing, denials that are really Kyverno's.

use super::env::CheckFn;

/// This milestone's checks by id (see `super::catalogue`).
pub const CHECKS: &[(&str, CheckFn)] = &[];
