//! Milestone GitOps spine (A1-A4): ArgoCD readiness, Application sync and health, drift self-heal.

use super::env::CheckFn;

/// This milestone's checks by id (see `super::catalogue`).
pub const CHECKS: &[(&str, CheckFn)] = &[];
