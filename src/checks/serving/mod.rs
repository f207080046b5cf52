//! Milestone B, AI serving: the KServe control plane (B1), Kourier as the ingress (B2),
//! InferenceServices Ready (B3), inference through the ingress (B4). The false greens these
//! replace: "controller has 1 available replica" while its pod is 1/2 and the webhook has no
//! endpoints, KServe still configured for Istio, and
//! inference through a pod port-forward instead of the Kourier gateway with the
//! InferenceService's Host header.

pub mod inference_request;
pub mod isvc_ready;
pub mod kourier_ingress;
pub mod kserve_control_plane;
