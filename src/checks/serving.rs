//! Milestone AI serving (B1-B4): KServe control plane, Kourier ingress, InferenceService readiness, inference through the ingress.

use super::env::CheckFn;

/// This milestone's checks by id (see `super::catalogue`).
pub const CHECKS: &[(&str, CheckFn)] = &[];
