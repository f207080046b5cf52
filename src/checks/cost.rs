//! Milestone Cost (E1-E2): OpenCost readiness and cost attribution by cost-center.

use super::env::CheckFn;

/// This milestone's checks by id (see `super::catalogue`).
pub const CHECKS: &[(&str, CheckFn)] = &[];
