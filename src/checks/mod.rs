//! The milestone checks: the catalogue, and (issue #6) each check's evaluation over observed
//! cluster state with its diagnosis.

pub mod catalogue;
