//! Milestone F, hardening: the model namespace governed as declared (F1), no stale admission
//! webhooks (F2), inference on the GPU node (F3), latency within the scenario's SLO (F4).

pub mod gpu_node_inference;
pub mod latency_slo;
pub mod namespace_governance;
pub mod no_stale_webhooks;
