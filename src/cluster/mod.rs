//! The k3d cluster: its config files, and (issue #3) preflight, the k3d binary, the image cache.

pub mod k3d_config;
