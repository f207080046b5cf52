//! The human report: checks grouped by milestone, one line each with the verdict and the measured
//! figure, the diagnosis under each FAIL, and a one-line summary. Colour only when asked for
//! (the caller decides with `super::colour_enabled_for_stdout`).

use std::fmt::Write as _;

use super::{short_duration, trim_float, Report};
use crate::checks::{CheckResult, OutcomeKind, Verdict};

const GREEN: &str = "\x1b[32m";
const RED: &str = "\x1b[31m";
const YELLOW: &str = "\x1b[33m";
const BOLD: &str = "\x1b[1m";
const DIM: &str = "\x1b[2m";
const RESET: &str = "\x1b[0m";

struct Paint(bool);

impl Paint {
    fn wrap(&self, style: &str, text: &str) -> String {
        if self.0 {
            format!("{style}{text}{RESET}")
        } else {
            text.to_string()
        }
    }

    fn verdict(&self, verdict: Verdict) -> String {
        let (style, text) = match verdict {
            Verdict::Pass => (GREEN, "PASS"),
            Verdict::Fail => (RED, "FAIL"),
            Verdict::Skip => (YELLOW, "SKIP"),
        };
        self.wrap(style, text)
    }
}

/// One line for a finished check (also the live progress line).
pub fn check_line(result: &CheckResult, colour: bool) -> String {
    let paint = Paint(colour);
    let figures = result
        .figures()
        .iter()
        .map(|f| format!("{}={}{}", f.name, trim_float(f.value), f.unit))
        .collect::<Vec<_>>()
        .join(" ");
    let mut line = format!(
        "{}  {:<3} {:<22} {}",
        paint.verdict(result.verdict()),
        result.id.as_str(),
        result.slug(),
        result.summary()
    );
    if !figures.is_empty() {
        line.push_str(&format!(" [{figures}]"));
    }
    line.push_str(&paint.wrap(DIM, &format!(" ({})", short_duration(result.duration))));
    line
}

/// The whole report as text.
pub fn render(report: &Report, colour: bool) -> String {
    let paint = Paint(colour);
    let env = &report.environment;
    let mut out = String::new();
    // A report written without a cluster (`--not-run`) has no context to name or refuse.
    let on = if env.context.is_empty() {
        "no cluster".to_string()
    } else {
        format!("context {}", env.context)
    };
    let _ = writeln!(
        out,
        "neuroscale check: {on}, scenario {} ({})",
        env.scenario_name,
        env.scenario_source.display()
    );
    if !env.mutations_allowed && !env.context.is_empty() {
        let _ = writeln!(
            out,
            "note: `{}` is not the harness's k3d context; checks that create or delete objects are refused (--allow-context {} to allow)",
            env.context, env.context
        );
    }
    for (milestone, checks) in report.by_milestone() {
        let _ = writeln!(
            out,
            "\n{}",
            paint.wrap(
                BOLD,
                &format!("{} {}", milestone.letter(), milestone.title())
            )
        );
        for check in checks {
            let _ = writeln!(out, "  {}", check_line(check, colour));
            if let OutcomeKind::TimedOut {
                waited_for, waited, ..
            } = check.kind()
            {
                let _ = writeln!(
                    out,
                    "        timed out:    after {} waiting for: {waited_for}",
                    short_duration(*waited)
                );
            }
            if let (Verdict::Fail, Some(d)) = (check.verdict(), check.diagnosis()) {
                let _ = writeln!(out, "        observed:     {}", d.observed);
                let _ = writeln!(out, "        likely cause: {}", d.likely_cause);
                let _ = writeln!(out, "        next:         {}", d.next_command);
                if let Some(code) = d.code {
                    let _ = writeln!(out, "        code:         {}", code.reference());
                }
            }
        }
    }
    let summary = report.summary();
    let _ = writeln!(out);
    if report.cancelled.is_some() {
        let _ = writeln!(
            out,
            "interrupted: the run was stopped before every check concluded"
        );
    }
    if let Some(bundle) = &report.bundle {
        let _ = writeln!(out, "diagnostics bundle: {}", bundle.display());
    }
    let errors = if summary.errors > 0 {
        format!(" ({} could not conclude)", summary.errors)
    } else {
        String::new()
    };
    let _ = writeln!(
        out,
        "{}: {} check{}, {} passed, {} failed{errors}, {} skipped in {}",
        paint.verdict(summary.verdict),
        summary.total,
        if summary.total == 1 { "" } else { "s" },
        summary.passed,
        summary.failed,
        summary.skipped,
        short_duration(report.duration)
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::fixtures;

    #[test]
    fn checks_are_grouped_under_their_milestone_in_order() {
        let text = render(&fixtures::report(), false);
        let at = |needle: &str| {
            text.find(needle)
                .unwrap_or_else(|| panic!("`{needle}` missing in:\n{text}"))
        };
        assert!(at("A GitOps spine") < at("PASS  A1"));
        assert!(at("PASS  A4") < at("D Guardrails"));
        assert!(at("D Guardrails") < at("FAIL  D3"));
        assert!(at("FAIL  D3") < at("F Hardening"));
        assert!(at("F Hardening") < at("SKIP  F3"));
        assert!(
            !text.contains("B AI serving"),
            "no checks of B ran:\n{text}"
        );
    }

    #[test]
    fn a_failure_carries_its_diagnosis_and_a_pass_its_figure() {
        let text = render(&fixtures::report(), false);
        assert!(text.contains("[heal_seconds=7.2s]"), "{text}");
        assert!(text.contains(
            "next:         kubectl -n kserve get endpoints kserve-webhook-server-service"
        ));
        assert!(text
            .lines()
            .last()
            .unwrap()
            .starts_with("FAIL: 4 checks, 2 passed, 1 failed, 1 skipped in 1m 15s"));
    }

    #[test]
    fn colour_only_when_asked() {
        let report = fixtures::report();
        assert!(!render(&report, false).contains('\x1b'));
        assert!(render(&report, true).contains("\x1b[31mFAIL\x1b[0m"));
    }

    #[test]
    fn the_report_renders_as_the_snapshot() {
        insta::assert_snapshot!("human_report", render(&fixtures::report(), false));
    }

    #[test]
    fn every_outcome_kind_renders_as_the_snapshot() {
        insta::assert_snapshot!(
            "human_every_kind",
            render(&crate::report::every_kind::report(), false)
        );
    }
}
