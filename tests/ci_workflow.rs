//! Lints ci/nightly.yml without GitHub: it parses, it is scheduled and dispatchable, every
//! `uses:` action is pinned to a release tag or a commit, every `neuroscale` subcommand and flag
//! it calls exists in the clap definition (`Cli::command()`), every script it runs exists, the
//! reports are uploaded even when a step failed, the check step produces JUnit, JSON and the
//! HTML report with the bootstrap timeline, and both report steps append the Markdown report to
//! the job summary.

use std::path::Path;

use clap::CommandFactory;
use neuroscale::cli::Cli;
use serde_yaml::Value;

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn workflow() -> Value {
    let text = std::fs::read_to_string(root().join("ci/nightly.yml")).expect("ci/nightly.yml");
    serde_yaml::from_str(&text).expect("ci/nightly.yml is valid YAML")
}

fn steps(workflow: &Value) -> Vec<&Value> {
    workflow["jobs"]
        .as_mapping()
        .expect("jobs")
        .values()
        .flat_map(|job| job["steps"].as_sequence().expect("steps").iter())
        .collect()
}

/// The shell text of every `run:` step, continuation lines joined.
fn run_scripts(workflow: &Value) -> Vec<String> {
    steps(workflow)
        .iter()
        .filter_map(|s| s["run"].as_str())
        .map(|s| s.replace("\\\n", " "))
        .collect()
}

/// Each `neuroscale ...` invocation as its words after the binary (quotes stripped).
fn neuroscale_calls(workflow: &Value) -> Vec<Vec<String>> {
    let mut calls = Vec::new();
    for script in run_scripts(workflow) {
        for line in script.lines() {
            let words: Vec<&str> = line.split_whitespace().collect();
            let Some(at) = words
                .iter()
                .position(|w| w.ends_with("/neuroscale") || *w == "neuroscale")
            else {
                continue;
            };
            let call: Vec<String> = words[at + 1..]
                .iter()
                .take_while(|w| !matches!(**w, ">" | ">>" | "|" | "||" | "&&" | ";"))
                .map(|w| w.trim_matches('"').to_string())
                .collect();
            calls.push(call);
        }
    }
    calls
}

#[test]
fn it_parses_and_runs_nightly_and_on_demand() {
    let workflow = workflow();
    let on = &workflow["on"];
    let cron = on["schedule"][0]["cron"].as_str().expect("a cron schedule");
    assert_eq!(
        cron.split_whitespace().count(),
        5,
        "cron has five fields: {cron}"
    );
    assert!(
        on.get("workflow_dispatch").is_some(),
        "workflow_dispatch missing"
    );
}

fn is_pinned(reference: &str) -> bool {
    let is_sha = reference.len() == 40 && reference.chars().all(|c| c.is_ascii_hexdigit());
    let is_release = reference
        .strip_prefix('v')
        .map(|v| {
            let parts: Vec<&str> = v.split('.').collect();
            parts.len() == 3
                && parts
                    .iter()
                    .all(|p| !p.is_empty() && p.chars().all(|c| c.is_ascii_digit()))
        })
        .unwrap_or(false);
    is_sha || is_release
}

#[test]
fn every_action_is_pinned_to_a_release_or_commit() {
    let workflow = workflow();
    let uses: Vec<&str> = steps(&workflow)
        .iter()
        .filter_map(|s| s["uses"].as_str())
        .collect();
    assert!(
        uses.len() >= 3,
        "checkout, cache and upload are expected: {uses:?}"
    );
    for action in uses {
        let (_, reference) = action
            .split_once('@')
            .unwrap_or_else(|| panic!("{action} has no @ref"));
        assert!(
            is_pinned(reference),
            "{action} is not pinned to vX.Y.Z or a commit"
        );
    }
    assert!(!is_pinned("main") && !is_pinned("v4") && is_pinned("v4.2.2"));
}

#[test]
fn every_neuroscale_subcommand_and_flag_exists() {
    let workflow = workflow();
    let calls = neuroscale_calls(&workflow);
    assert!(
        calls.len() >= 3,
        "up, check and down are expected: {calls:?}"
    );
    let cli = Cli::command();
    let global_flags: Vec<String> = cli
        .get_arguments()
        .filter_map(|a| a.get_long().map(str::to_string))
        .collect();
    for call in &calls {
        let name = call
            .first()
            .unwrap_or_else(|| panic!("bare neuroscale call"));
        let sub = cli
            .find_subcommand(name)
            .unwrap_or_else(|| panic!("`neuroscale {name}` is not a subcommand"));
        for word in call.iter().filter(|w| w.starts_with("--")) {
            let flag = word.trim_start_matches("--").split('=').next().unwrap();
            let known = global_flags.iter().any(|g| g == flag)
                || sub.get_arguments().any(|a| a.get_long() == Some(flag));
            assert!(
                known,
                "`neuroscale {name} --{flag}` is not a flag of the CLI"
            );
        }
    }
    let names: Vec<&str> = calls.iter().map(|c| c[0].as_str()).collect();
    for expected in ["up", "check", "down"] {
        assert!(
            names.contains(&expected),
            "`neuroscale {expected}` is not called: {names:?}"
        );
    }
}

#[test]
fn the_check_step_writes_junit_json_html_and_a_bundle() {
    let workflow = workflow();
    let check = neuroscale_calls(&workflow)
        .into_iter()
        .find(|c| c[0] == "check" && !c.iter().any(|w| w == "--not-run"))
        .expect("a check call that runs the checks");
    let value_of = |flag: &str| {
        check
            .iter()
            .position(|w| w == flag)
            .and_then(|i| check.get(i + 1))
            .cloned()
    };
    for flag in ["--junit", "--json", "--html", "--bundle"] {
        assert!(value_of(flag).is_some(), "check is called without {flag}");
    }
    assert_eq!(
        value_of("--up-report").as_deref(),
        Some("$RESULTS/up.json"),
        "the HTML report draws the bootstrap up saved"
    );
}

/// The steps that call `neuroscale check`, as their shell text.
fn check_scripts(workflow: &Value) -> Vec<String> {
    run_scripts(workflow)
        .into_iter()
        .filter(|s| s.contains("neuroscale check"))
        .collect()
}

#[test]
fn both_report_steps_append_the_markdown_report_to_the_job_summary() {
    let workflow = workflow();
    let scripts = check_scripts(&workflow);
    assert_eq!(
        scripts.len(),
        2,
        "the check step and the not-run step: {scripts:?}"
    );
    for script in scripts {
        let words: Vec<&str> = script.split_whitespace().collect();
        let format = words
            .iter()
            .position(|w| *w == "--format")
            .map(|i| words[i + 1]);
        assert_eq!(format, Some("markdown"), "{script}");
        assert!(
            script.contains(">> \"$GITHUB_STEP_SUMMARY\""),
            "stdout is appended to the summary, not written over it: {script}"
        );
        assert!(
            words.contains(&"--junit"),
            "JUnit still goes to its file: {script}"
        );
    }
}

#[test]
fn the_not_run_step_passes_the_up_report_only_when_up_wrote_one() {
    let workflow = workflow();
    let not_run = check_scripts(&workflow)
        .into_iter()
        .find(|s| s.contains("--not-run"))
        .expect("the not-run step");
    assert!(
        not_run.contains("[ -s \"$RESULTS/up.json\" ]"),
        "an empty up.json (up stopped early) would make check refuse it: {not_run}"
    );
}

#[test]
fn reports_are_uploaded_even_when_a_step_failed() {
    let workflow = workflow();
    let all_steps = steps(&workflow);
    let uploads: Vec<&&Value> = all_steps
        .iter()
        .filter(|s| {
            s["uses"]
                .as_str()
                .is_some_and(|u| u.starts_with("actions/upload-artifact@"))
        })
        .collect();
    assert!(
        uploads.len() >= 4,
        "JUnit, JSON, HTML and bundle uploads expected"
    );
    assert!(
        uploads
            .iter()
            .any(|u| u["with"]["path"].as_str() == Some("results/report.html")),
        "the HTML report is uploaded"
    );
    for upload in uploads {
        let condition = upload["if"].as_str().unwrap_or_default();
        assert!(
            condition.contains("always()"),
            "upload {:?} lacks if: always()",
            upload["name"]
        );
    }
    let caches = steps(&workflow)
        .iter()
        .filter(|s| {
            s["uses"]
                .as_str()
                .is_some_and(|u| u.starts_with("actions/cache@"))
        })
        .count();
    assert!(caches >= 2, "cargo and the image cache are cached");
}

#[test]
fn every_script_it_runs_exists() {
    let workflow = workflow();
    for script in run_scripts(&workflow) {
        for word in script.split_whitespace().filter(|w| w.starts_with("ci/")) {
            assert!(
                root().join(word).is_file(),
                "{word} is run but does not exist"
            );
        }
    }
}
