//! Which checks a run holds and each one's deadline, resolved once from the scenario's
//! selectors (`spec.checks`, `spec.skip`, `spec.deadlines.checks`) and the command line's
//! `--only`/`--skip`. Every selector is an id, a slug or a milestone letter; one that names
//! nothing is an error naming where it was written (exit code 2). A check left out stays in the
//! selection with the selector that left it out, and every report shows it as SKIP.

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

/// A catalogue check this run leaves out, and which selector left it out: reported as SKIP
/// with that reason, so a deselected check is visible in every report instead of vanishing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Deselected {
    pub id: CheckId,
    pub reason: String,
}

/// The checks of one run, in catalogue order, each with its deadline, and the catalogue checks
/// it leaves out with the reason.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Selection {
    checks: Vec<Selected>,
    deselected: Vec<Deselected>,
}

/// A deadline the scenario sets that its own load could never meet.
fn deadline_too_short(scenario: &Scenario, message: String) -> SelectionError {
    SelectionError::Scenario(YamlError::field(
        &scenario.source,
        "spec.deadlines.checks.F4".to_string(),
        message,
    ))
}

fn unknown_in_scenario(scenario: &Scenario, field: String, name: &str) -> SelectionError {
    SelectionError::Scenario(YamlError::field(
        &scenario.source,
        field,
        format!("unknown check `{name}`: run `neuroscale check --list` for the catalogue"),
    ))
}

/// Each check the selectors name, with the selector that named it.
fn expand(
    flag: &'static str,
    selectors: &[String],
) -> Result<Vec<(CheckId, String)>, SelectionError> {
    let mut ids = Vec::new();
    for selector in selectors {
        let checks = catalogue::select(selector).ok_or_else(|| SelectionError::Unknown {
            flag,
            name: selector.clone(),
        })?;
        ids.extend(checks.into_iter().map(|id| (id, selector.clone())));
    }
    Ok(ids)
}

fn named_by(named: &[(CheckId, String)], id: CheckId) -> Option<&str> {
    named
        .iter()
        .find(|(check, _)| *check == id)
        .map(|(_, selector)| selector.as_str())
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
            deselected: Vec::new(),
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
        let mut scenario_skip = Vec::new();
        for (i, name) in scenario.spec.skip.iter().enumerate() {
            let found = catalogue::select(name)
                .ok_or_else(|| unknown_in_scenario(scenario, format!("spec.skip[{i}]"), name))?;
            scenario_skip.extend(found.into_iter().map(|id| (id, name.clone())));
        }
        let only = expand("only", only)?;
        let skip = expand("skip", skip)?;
        let left_out = |id: CheckId| -> Option<String> {
            if let Some(selector) = named_by(&skip, id) {
                return Some(format!("deselected by --skip {selector}"));
            }
            if let Some(selector) = named_by(&scenario_skip, id) {
                return Some(format!(
                    "deselected by the scenario `{}` (spec.skip: {selector})",
                    scenario.metadata.name
                ));
            }
            if !only.is_empty() {
                return (named_by(&only, id).is_none()).then(|| "not chosen by --only".to_string());
            }
            (!chosen.contains(&id)).then(|| {
                format!(
                    "not in the scenario `{}`'s spec.checks",
                    scenario.metadata.name
                )
            })
        };
        let mut checks = Vec::new();
        let mut deselected = Vec::new();
        for id in CheckId::all() {
            match left_out(id) {
                Some(reason) => deselected.push(Deselected { id, reason }),
                None => checks.push(Selected {
                    id,
                    deadline: deadline_of(scenario, &deadlines, id),
                }),
            }
        }
        if checks.is_empty() {
            return Err(SelectionError::Empty {
                scenario: scenario.metadata.name.clone(),
            });
        }
        if let Some(latency) = checks.iter().find(|s| s.id == CheckId::F4) {
            let load = scenario.spec.latency.planned_duration();
            if latency.deadline <= load {
                return Err(deadline_too_short(
                    scenario,
                    format!(
                        "F4's deadline {} is not longer than the load it sends ({:.1}s: spec.latency's \
                         requests and warm-up at its rate); raise spec.deadlines.checks.F4 or send less",
                        humantime::format_duration(latency.deadline),
                        load.as_secs_f64()
                    ),
                ));
            }
        }
        Ok(Selection { checks, deselected })
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
            deselected: Vec::new(),
        })
    }

    pub fn checks(&self) -> &[Selected] {
        &self.checks
    }

    /// The catalogue checks this run leaves out, each with the reason (reported as SKIP).
    pub fn deselected(&self) -> &[Deselected] {
        &self.deselected
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
    fn every_check_left_out_is_kept_with_the_selector_that_left_it_out() {
        let scenario = with(&BUILTIN_SMOKE.replace("skip: []", "skip: [E]"));
        let only = vec!["D".to_string(), "E1".to_string()];
        let skip = vec!["D2".to_string()];
        let selection = Selection::resolve(&scenario, &only, &skip).unwrap();
        use CheckId::*;
        assert_eq!(ids(&selection), vec![D1, D3, D4]);
        let reason = |id: CheckId| {
            selection
                .deselected()
                .iter()
                .find(|d| d.id == id)
                .map(|d| d.reason.clone())
        };
        assert_eq!(
            selection.len() + selection.deselected().len(),
            CATALOGUE.len(),
            "every catalogue check is either run or reported as left out"
        );
        assert_eq!(reason(D2).as_deref(), Some("deselected by --skip D2"));
        assert!(
            reason(E1).unwrap().contains("spec.skip: E"),
            "{:?}",
            reason(E1)
        );
        assert_eq!(reason(A1).as_deref(), Some("not chosen by --only"));
        assert_eq!(reason(D1), None);

        let listed = with(&BUILTIN_SMOKE.replace("checks: all", "checks: [A1]"));
        let selection = Selection::from_scenario(&listed).unwrap();
        assert_eq!(ids(&selection), vec![A1]);
        assert_eq!(selection.deselected()[0].id, A2);
        assert!(
            selection.deselected()[0].reason.contains("spec.checks"),
            "{:?}",
            selection.deselected()
        );
    }

    #[test]
    fn a_latency_deadline_shorter_than_its_own_load_is_refused() {
        // smoke plans 100 req/s for 20 s plus 20 warm-up requests: 20.2 s.
        let scenario = with(&BUILTIN_SMOKE.replace("      F3: 8m", "      F3: 8m\n      F4: 15s"));
        let err = Selection::from_scenario(&scenario).unwrap_err();
        assert!(
            err.to_string().contains("spec.deadlines.checks.F4")
                && err.to_string().contains("20.2s"),
            "{err}"
        );
        // Leaving F4 out leaves its deadline alone.
        assert!(Selection::resolve(&scenario, &[], &["F4".to_string()]).is_ok());
        let roomy = with(&BUILTIN_SMOKE.replace("      F3: 8m", "      F3: 8m\n      F4: 30s"));
        assert!(Selection::from_scenario(&roomy).is_ok());
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
