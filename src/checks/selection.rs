//! Which checks a run holds and each one's deadline, resolved once from the scenario's
//! selectors (`spec.checks`, `spec.skip`, `spec.deadlines.checks`) and the command line's
//! `--only`/`--skip`. Every selector is an id, a slug or a milestone letter; one that names
//! nothing is an error naming where it was written (exit code 2).

use std::time::Duration;

use super::catalogue::{self, CheckId, Need, CATALOGUE};
use crate::scenario::{CheckSelection, Scenario};
use crate::yaml::YamlError;

/// A selector that names no check and no milestone, or a selection that leaves nothing.
#[derive(Debug, thiserror::Error)]
pub enum SelectionError {
    #[error(
        "unknown check or milestone `{name}` in --{flag}: run `neuroscale check --list` for the catalogue"
    )]
    Unknown { flag: &'static str, name: String },
    /// A selector in the scenario file names nothing (the message names file and field).
    #[error(transparent)]
    Scenario(#[from] YamlError),
    #[error(
        "no check is selected: the scenario `{scenario}` with --only/--skip leaves nothing to run"
    )]
    Empty { scenario: String },
}

/// One selected check and how long it may take.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Selected {
    pub id: CheckId,
    pub deadline: Duration,
}

/// The checks of one run, in catalogue order, each with its deadline.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Selection {
    checks: Vec<Selected>,
}

fn unknown_in_scenario(scenario: &Scenario, field: String, name: &str) -> SelectionError {
    SelectionError::Scenario(YamlError::field(
        &scenario.source,
        field,
        format!("unknown check `{name}`: run `neuroscale check --list` for the catalogue"),
    ))
}

fn expand(flag: &'static str, selectors: &[String]) -> Result<Vec<CheckId>, SelectionError> {
    let mut ids = Vec::new();
    for selector in selectors {
        let checks = catalogue::select(selector).ok_or_else(|| SelectionError::Unknown {
            flag,
            name: selector.clone(),
        })?;
        ids.extend(checks);
    }
    Ok(ids)
}

impl Selection {
    /// The scenario's own selection: `spec.checks` minus `spec.skip`.
    pub fn from_scenario(scenario: &Scenario) -> Result<Selection, SelectionError> {
        Self::resolve(scenario, &[], &[])
    }

    /// Every check of the catalogue, with the scenario's deadlines (the live cargo test suite
    /// offers each as a trial and lets the test filter choose).
    pub fn everything(scenario: &Scenario) -> Result<Selection, SelectionError> {
        let deadlines = deadlines(scenario)?;
        Ok(Selection {
            checks: CATALOGUE
                .iter()
                .map(|spec| Selected {
                    id: spec.id,
                    deadline: deadline_of(scenario, &deadlines, spec.id),
                })
                .collect(),
        })
    }

    /// The checks to run, in catalogue order: the scenario's selection, replaced by `only` when
    /// given (an explicit request on the command line wins over the profile), minus the
    /// scenario's `skip` and `skip`. Every selector of the scenario is validated even when
    /// `only` replaces it, so a broken profile is found at once.
    pub fn resolve(
        scenario: &Scenario,
        only: &[String],
        skip: &[String],
    ) -> Result<Selection, SelectionError> {
        let deadlines = deadlines(scenario)?;
        let chosen: Vec<CheckId> = match &scenario.spec.checks {
            CheckSelection::All(_) => CheckId::all().collect(),
            CheckSelection::Some(list) => {
                let mut ids = Vec::new();
                for (i, name) in list.iter().enumerate() {
                    let found = catalogue::select(name).ok_or_else(|| {
                        unknown_in_scenario(scenario, format!("spec.checks[{i}]"), name)
                    })?;
                    ids.extend(found);
                }
                ids
            }
        };
        let mut skipped = Vec::new();
        for (i, name) in scenario.spec.skip.iter().enumerate() {
            let found = catalogue::select(name)
                .ok_or_else(|| unknown_in_scenario(scenario, format!("spec.skip[{i}]"), name))?;
            skipped.extend(found);
        }
        let only = expand("only", only)?;
        skipped.extend(expand("skip", skip)?);
        let base = if only.is_empty() { chosen } else { only };
        let checks: Vec<Selected> = CheckId::all()
            .filter(|id| base.contains(id) && !skipped.contains(id))
            .map(|id| Selected {
                id,
                deadline: deadline_of(scenario, &deadlines, id),
            })
            .collect();
        if checks.is_empty() {
            return Err(SelectionError::Empty {
                scenario: scenario.metadata.name.clone(),
            });
        }
        Ok(Selection { checks })
    }

    /// Exactly these checks, with the scenario's deadlines (tests, single trials).
    pub fn of(scenario: &Scenario, ids: &[CheckId]) -> Result<Selection, SelectionError> {
        let deadlines = deadlines(scenario)?;
        Ok(Selection {
            checks: CheckId::all()
                .filter(|id| ids.contains(id))
                .map(|id| Selected {
                    id,
                    deadline: deadline_of(scenario, &deadlines, id),
                })
                .collect(),
        })
    }

    pub fn checks(&self) -> &[Selected] {
        &self.checks
    }

    pub fn ids(&self) -> impl Iterator<Item = CheckId> + '_ {
        self.checks.iter().map(|s| s.id)
    }

    pub fn len(&self) -> usize {
        self.checks.len()
    }

    pub fn is_empty(&self) -> bool {
        self.checks.is_empty()
    }

    pub fn contains(&self, id: CheckId) -> bool {
        self.checks.iter().any(|s| s.id == id)
    }

    /// Whether any selected check needs `need` (so a route to it must be opened).
    pub fn needs(&self, need: Need) -> bool {
        self.ids().any(|id| id.spec().needs(need))
    }

    /// The deadline of a selected check.
    pub fn deadline(&self, id: CheckId) -> Option<Duration> {
        self.checks.iter().find(|s| s.id == id).map(|s| s.deadline)
    }
}

/// The scenario's per-check deadlines, each key resolved to a check.
fn deadlines(scenario: &Scenario) -> Result<Vec<(CheckId, Duration)>, SelectionError> {
    scenario
        .spec
        .deadlines
        .checks
        .iter()
        .map(|(key, deadline)| {
            CheckId::parse(key)
                .map(|id| (id, *deadline))
                .ok_or_else(|| unknown_in_scenario(scenario, "spec.deadlines.checks".into(), key))
        })
        .collect()
}

fn deadline_of(scenario: &Scenario, deadlines: &[(CheckId, Duration)], id: CheckId) -> Duration {
    deadlines
        .iter()
        .find(|(check, _)| *check == id)
        .map(|(_, d)| *d)
        .unwrap_or(scenario.spec.deadlines.default)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scenario::BUILTIN_SMOKE;
    use std::path::Path;

    fn smoke() -> Scenario {
        Scenario::parse(Path::new("scenarios/smoke.yaml"), BUILTIN_SMOKE).unwrap()
    }

    fn with(text: &str) -> Scenario {
        Scenario::parse(Path::new("bad.yaml"), text).unwrap()
    }

    fn ids(selection: &Selection) -> Vec<CheckId> {
        selection.ids().collect()
    }

    #[test]
    fn smoke_selects_the_whole_catalogue() {
        let selection = Selection::from_scenario(&smoke()).unwrap();
        assert_eq!(selection.len(), CATALOGUE.len());
        assert_eq!(selection.len(), 21);
    }

    #[test]
    fn only_and_skip_accept_ids_slugs_and_milestones_in_catalogue_order() {
        let only = vec!["latency-slo".to_string(), "D".to_string(), "a1".to_string()];
        let skip = vec!["D2".to_string()];
        let selection = Selection::resolve(&smoke(), &only, &skip).unwrap();
        use CheckId::*;
        assert_eq!(ids(&selection), vec![A1, D1, D3, D4, F4]);
    }

    #[test]
    fn an_unknown_selector_is_an_error_naming_the_flag() {
        let err = Selection::resolve(&smoke(), &[], &["Z9".to_string()]).unwrap_err();
        assert!(
            matches!(err, SelectionError::Unknown { flag: "skip", .. }),
            "{err}"
        );
        assert!(err.to_string().contains("`Z9` in --skip"), "{err}");
        let err = Selection::resolve(&smoke(), &["nope".to_string()], &[]).unwrap_err();
        assert!(
            matches!(err, SelectionError::Unknown { flag: "only", .. }),
            "{err}"
        );
    }

    #[test]
    fn an_unknown_check_in_the_scenario_names_the_file_and_field() {
        let scenario = with(&BUILTIN_SMOKE.replace("skip: []", "skip: [Z9]"));
        let err = Selection::from_scenario(&scenario).unwrap_err();
        assert!(matches!(err, SelectionError::Scenario(_)), "{err}");
        let text = err.to_string();
        assert!(
            text.contains("bad.yaml")
                && text.contains("spec.skip[0]")
                && text.contains("unknown check `Z9`"),
            "{text}"
        );
        let scenario = with(&BUILTIN_SMOKE.replace("A4: 3m", "Q7: 3m"));
        let err = Selection::from_scenario(&scenario).unwrap_err();
        assert!(err.to_string().contains("spec.deadlines.checks"), "{err}");
    }

    #[test]
    fn skipping_everything_is_an_error() {
        let err = Selection::resolve(&smoke(), &["B".to_string()], &["B".to_string()]).unwrap_err();
        assert!(matches!(err, SelectionError::Empty { .. }));
    }

    #[test]
    fn a_check_gets_its_own_deadline_else_the_default() {
        let scenario = smoke();
        let selection = Selection::from_scenario(&scenario).unwrap();
        let own = scenario
            .spec
            .deadlines
            .checks
            .iter()
            .find_map(|(k, d)| (CheckId::parse(k) == Some(CheckId::A4)).then_some(*d))
            .expect("smoke sets A4's deadline");
        assert_eq!(selection.deadline(CheckId::A4), Some(own));
        assert_eq!(
            selection.deadline(CheckId::A1),
            Some(scenario.spec.deadlines.default)
        );
    }

    #[test]
    fn needs_follow_the_selected_rows() {
        let scenario = smoke();
        let only_d = Selection::resolve(&scenario, &["D".to_string()], &[]).unwrap();
        assert!(!only_d.needs(Need::Ingress) && !only_d.needs(Need::OpenCost));
        let b4 = Selection::resolve(&scenario, &["B4".to_string()], &[]).unwrap();
        assert!(b4.needs(Need::Ingress));
    }
}
