//! neuroscale: bootstrap a production-shaped AI inference platform on k3d and prove it works.
//!
//! Modules, one concern each: `components` (pin table and dependency graph), `scenario` (run
//! profiles), `cluster` (k3d), `readiness` (what ready means), `checks` (the 21 milestone
//! checks), `report` (human, JSON, JUnit), `cli` (the command line), `yaml` (typed YAML input),
//! `gitops` (the local GitOps source, the model scaffold and the policies' rules),
//! `exit` (exit codes).

pub mod cache;
pub mod checks;
pub mod cli;
pub mod cluster;
pub mod components;
pub mod connect;
pub mod doctor;
pub mod exit;
pub mod gitops;
pub mod gpu;
pub mod install;
pub mod probe;
pub mod readiness;
pub mod report;
pub mod scenario;
pub mod yaml;
