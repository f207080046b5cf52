//! The check kit: what every check builds on, so no check borrows from a sibling milestone.
//! `wait` is the one poll loop (gather, evaluate, look again until a final decision or the
//! deadline, optionally until the pass holds), `probe` creates tracked objects under generated
//! names and removes them for certain, `gateway` is the one client for inference through
//! Kourier with the right Host header, `admission` tells a policy denial from a webhook that
//! could not be called, `quantity` compares Kubernetes quantities by value, and `diagnose`
//! holds the likely causes several milestones share.

pub mod admission;
pub mod diagnose;
pub mod gateway;
pub mod probe;
pub mod quantity;
pub mod wait;
