//! Milestone Hardening (F1-F4): namespace governance, stale webhooks, GPU-node inference, latency SLO.

use super::env::CheckFn;

/// This milestone's checks by id (see `super::catalogue`).
pub const CHECKS: &[(&str, CheckFn)] = &[];
