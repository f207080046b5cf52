//! neuroscale: bootstrap a production-shaped AI inference platform on k3d and prove it works.
//!
//! Modules, one concern each, from the ground floor up: `platform` (the topology: every
//! component's namespace and key objects, and typed views of the custom kinds), `components`
//! (pin table and dependency graph), `scenario` (run profiles), `yaml` (typed YAML input),
//! `readiness` (what ready means), `observe` (reading the cluster), `cache` (where downloads
//! live), `bundled` (the manifests, k3d configs and scenarios built into the binary), `exit`
//! (exit codes); then `cluster` (k3d), `gitops` (the local GitOps source, the
//! model scaffold and the policies' rules), `install` (the install engine and its `Installer`
//! facade), `connect` (reaching a cluster), `probe` (the inference client), `gpu`, `checks`
//! (the milestone checks: a typed catalogue, a kit, one folder per milestone, the runner and
//! the check session facade), `doctor` (triage), `report` (human, JSON, JUnit, bundle); `cli`
//! (the command line) on top. The README's layout table maps folders to what they own.

pub mod bundled;
pub mod cache;
pub mod checks;
pub mod cli;
pub mod cluster;
pub mod components;
pub mod connect;
pub mod doctor;
pub mod exit;
pub mod failures;
pub mod gitops;
pub mod gpu;
pub mod install;
pub mod observe;
pub mod platform;
pub mod probe;
pub mod readiness;
pub mod report;
pub mod scenario;
pub mod yaml;
