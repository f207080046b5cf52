//! The Markdown report: a compact summary for a CI job page (`$GITHUB_STEP_SUMMARY` renders
//! GitHub-flavoured Markdown): the verdict and counts, a table per milestone (verdict, id, name,
//! summary) and the diagnosis of each failure under its milestone. Text from the cluster is
//! escaped so that it cannot break a table or inject markup into the page.

use std::fmt::Write as _;

use super::{cancel_text, short_duration, Report};
use crate::checks::{CheckResult, Verdict};

fn verdict_cell(verdict: Verdict) -> &'static str {
    match verdict {
        Verdict::Pass => "✅ PASS",
        Verdict::Fail => "❌ FAIL",
        Verdict::Skip => "⏭️ SKIP",
    }
}

/// Text safe in a table cell or a paragraph: HTML is inert, Markdown syntax is literal, and
/// the text stays on one line (a newline would end the table row).
fn text(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for c in value.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '\n' | '\r' => out.push(' '),
            '\\' | '|' | '*' | '_' | '`' | '[' | ']' | '#' | '~' => {
                out.push('\\');
                out.push(c);
            }
            _ => out.push(c),
        }
    }
    out
}

/// An inline code span holding `value` verbatim: the fence is one backtick longer than the
/// longest run of backticks inside, as CommonMark requires.
fn code(value: &str) -> String {
    let one_line = value.replace(['\n', '\r'], " ");
    let longest_run = one_line
        .split(|c| c != '`')
        .map(str::len)
        .max()
        .unwrap_or(0);
    let fence = "`".repeat(longest_run + 1);
    let pad = if one_line.starts_with('`') || one_line.ends_with('`') {
        " "
    } else {
        ""
    };
    format!("{fence}{pad}{one_line}{pad}{fence}")
}

fn diagnosis(out: &mut String, check: &CheckResult) {
    let _ = writeln!(
        out,
        "**{} {}** ({}): {}\n",
        check.id,
        check.slug(),
        check.kind().name(),
        text(check.summary())
    );
    if let Some(d) = check.diagnosis() {
        let _ = writeln!(out, "- observed: {}", text(&d.observed));
        let _ = writeln!(out, "- likely cause: {}", text(&d.likely_cause));
        let _ = writeln!(out, "- next: {}", code(&d.next_command));
        if let Some(failure) = d.code {
            let _ = writeln!(
                out,
                "- code: {} {} ({})",
                failure.as_str(),
                text(failure.title()),
                code(&failure.link())
            );
        }
        out.push('\n');
    }
}

/// The report as GitHub-flavoured Markdown.
pub fn render(report: &Report) -> String {
    let summary = report.summary();
    let env = &report.environment;
    let mut out = String::new();
    let _ = writeln!(
        out,
        "## neuroscale check: {}\n",
        verdict_cell(summary.verdict)
    );
    let _ = writeln!(
        out,
        "{} passed, {} failed, {} skipped of {} checks in {}; scenario {} {}{}\n",
        summary.passed,
        summary.failed,
        summary.skipped,
        summary.total,
        short_duration(report.duration),
        code(&env.scenario_name),
        if env.context.is_empty() {
            "without a cluster".to_string()
        } else {
            format!("on context {}", code(&env.context))
        },
        match report.cancelled {
            Some(reason) => format!(" ({})", cancel_text(reason)),
            None => String::new(),
        }
    );
    for (milestone, checks) in report.by_milestone() {
        let _ = writeln!(
            out,
            "### {} {}\n\n| Verdict | Id | Name | Summary | Time |\n| --- | --- | --- | --- | --- |",
            milestone.letter(),
            milestone.title()
        );
        for check in &checks {
            let _ = writeln!(
                out,
                "| {} | {} | {} | {} | {} |",
                verdict_cell(check.verdict()),
                check.id,
                code(check.slug()),
                text(check.summary()),
                short_duration(check.duration)
            );
        }
        out.push('\n');
        for check in checks.iter().filter(|c| c.verdict() == Verdict::Fail) {
            diagnosis(&mut out, check);
        }
    }
    if let Some(bundle) = &report.bundle {
        let _ = writeln!(
            out,
            "Diagnostics bundle: {}\n",
            code(&bundle.display().to_string())
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::{every_kind, fixtures};

    #[test]
    fn a_table_per_milestone_and_the_diagnosis_of_each_failure() {
        let page = render(&fixtures::report());
        assert!(page.starts_with("## neuroscale check: ❌ FAIL\n"), "{page}");
        assert!(page.contains("### A GitOps spine\n"), "{page}");
        assert!(
            !page.contains("### B "),
            "no B check in the fixture: {page}"
        );
        assert!(
            page.contains("| ✅ PASS | A1 | `argocd-ready` | 5/5 ArgoCD workloads ready | 420ms |")
        );
        assert!(page
            .contains("- next: `kubectl -n kserve get endpoints kserve-webhook-server-service`"));
        assert!(
            page.contains("**D3 deny-unlabeled-isvc** (failed)"),
            "{page}"
        );
    }

    #[test]
    fn an_interrupted_run_says_so_in_both_pages() {
        let mut report = fixtures::report();
        report.cancelled = Some(crate::checks::CancelReason::Interrupted);
        let said = "interrupted (Ctrl-C) before every check concluded";
        assert!(render(&report).contains(said));
        assert!(crate::report::html::render(&report, None).contains(said));
        assert!(!render(&fixtures::report()).contains(said));
    }

    #[test]
    fn every_failure_kind_gets_its_diagnosis() {
        let page = render(&every_kind::report());
        assert_eq!(page.matches("- likely cause:").count(), 8, "{page}");
        assert!(page.contains("(not-run)"), "{page}");
    }

    #[test]
    fn cluster_text_cannot_break_the_table_or_inject_markup() {
        assert_eq!(
            text("a|b\n<img src=x> *c*"),
            "a\\|b &lt;img src=x&gt; \\*c\\*"
        );
        assert_eq!(code("kubectl get pods"), "`kubectl get pods`");
        assert_eq!(code("echo `date`"), "`` echo `date` ``");
        assert_eq!(code("a\nb"), "`a b`");
    }

    #[test]
    fn the_markdown_renders_as_the_snapshot() {
        insta::assert_snapshot!("markdown_every_kind", render(&every_kind::report()));
    }
}
