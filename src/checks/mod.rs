//! The milestone checks (shared/DESIGN.md §5): the catalogue, the outcome types, how admission
//! errors are read, each check's evaluation over observed cluster state with its diagnosis (one
//! module per milestone), and the registry the runner uses.

pub mod admission;
pub mod catalogue;
pub mod env;
pub mod observe;
pub mod outcome;
pub mod runner;

#[cfg(test)]
mod fixtures;

pub mod cost;
pub mod golden_path;
pub mod guardrails;
pub mod hardening;
pub mod serving;
pub mod spine;

#[cfg(test)]
pub(crate) mod fixtures_def;

pub use env::{CheckEnv, CheckFn, CheckRun, CreatedObject};
pub use outcome::{CheckResult, Diagnosis, Figure, Outcome, Verdict};

/// The implementation of a check, by id; `None` while a check is not built.
pub fn implementation(id: &str) -> Option<CheckFn> {
    [
        spine::CHECKS,
        serving::CHECKS,
        golden_path::CHECKS,
        guardrails::CHECKS,
        cost::CHECKS,
        hardening::CHECKS,
    ]
    .into_iter()
    .flatten()
    .find(|(check, _)| *check == id)
    .map(|(_, f)| *f)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_registered_check_is_in_the_catalogue() {
        for list in [
            spine::CHECKS,
            serving::CHECKS,
            golden_path::CHECKS,
            guardrails::CHECKS,
            cost::CHECKS,
            hardening::CHECKS,
        ] {
            for (id, _) in list {
                let spec = catalogue::find(id).expect("registered id is in the catalogue");
                assert_eq!(spec.id, *id);
            }
        }
    }
}
