//! Milestone Golden path (C1-C3): the new-model scaffold against live policies, ApplicationSet discovery, the scaffold serving.

use super::env::CheckFn;

/// This milestone's checks by id (see `super::catalogue`).
pub const CHECKS: &[(&str, CheckFn)] = &[];
