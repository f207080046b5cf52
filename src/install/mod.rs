//! The install engine behind `neuroscale up`: pinned artefact downloads with checksums and a lock
//! file (`artifacts`), vendoring them into the GitOps source (`vendor`), server-side apply
//! (`apply`), readiness gates that wait on watch events with deadlines (`gates`), the
//! dependency-graph executor (`dag`), progress output (`progress`), the bootstrap sequence
//! that ties them together (`engine`), and the `installer` facade `up` calls.

pub mod apply;
pub mod artifacts;
pub mod dag;
pub mod engine;
pub mod gates;
pub mod installer;
pub mod progress;
pub mod vendor;

pub use installer::{refuse_credentials_in_url, InstallError, InstallRequest, Installer};

/// The one field manager every object the harness applies is owned by.
pub const FIELD_MANAGER: &str = "neuroscale";
