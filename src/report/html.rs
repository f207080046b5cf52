//! The HTML report: one self-contained page to open in a browser or attach to a CI run. It
//! shows the verdict, the bootstrap as a timeline (when the `up` report is given), the checks by
//! milestone with their figures and the diagnosis of each failure, the latency of the inference
//! probe (F4's figures) as a bar chart, and the environment. Inline CSS and SVG only: no script,
//! no external resource (a Content-Security-Policy forbids fetching any), and every string is
//! escaped by maud's templates.

use maud::{html, Markup, PreEscaped, DOCTYPE};

use super::bootstrap::Bootstrap;
use super::{cancel_text, charts, short_duration, trim_float, Report};
use crate::checks::catalogue::Milestone;
use crate::checks::{CheckId, CheckResult, Verdict};

/// Nothing is fetched: styles are inline, images are inline SVG.
const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; style-src 'unsafe-inline'";

/// The unit of the latency figures the histogram draws.
const LATENCY_UNIT: &str = "ms";

const STYLE: &str = r#"
:root { --pass: #1a7f37; --fail: #cf222e; --skip: #9a6700; --muted: #59636e; --line: #d1d9e0; }
* { box-sizing: border-box; }
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; color: #1f2328;
  margin: 0 auto; max-width: 1180px; padding: 24px; }
h1 { font-size: 22px; margin: 0 0 4px; }
h2 { font-size: 18px; border-bottom: 1px solid var(--line); padding-bottom: 4px; margin-top: 32px; }
h3 { font-size: 15px; margin: 20px 0 6px; }
nav a { margin-right: 14px; }
.muted, .note { color: var(--muted); }
.badge { display: inline-block; padding: 1px 8px; border-radius: 10px; color: #fff;
  font-weight: 600; font-size: 12px; }
.badge.PASS { background: var(--pass); } .badge.FAIL { background: var(--fail); }
.badge.SKIP { background: var(--skip); }
.verdict { font-size: 16px; padding: 3px 12px; }
.counts span { margin-right: 14px; }
table { border-collapse: collapse; width: 100%; }
th, td { text-align: left; vertical-align: top; padding: 5px 8px; border-bottom: 1px solid var(--line); }
th { font-size: 12px; color: var(--muted); font-weight: 600; }
td.time, th.time, td.num { white-space: nowrap; text-align: right; }
.milestone table { table-layout: fixed; }
.milestone th:nth-child(1) { width: 9%; } .milestone th:nth-child(2) { width: 26%; }
.milestone th:nth-child(4) { width: 9%; }
code { font: 12px ui-monospace, SFMono-Regular, Menlo, monospace; background: #f6f8fa;
  padding: 1px 4px; border-radius: 4px; }
tr.diagnosis td { background: #fff5f5; border-left: 3px solid var(--fail); }
dl { display: grid; grid-template-columns: max-content 1fr; gap: 2px 12px; margin: 0; }
dt { color: var(--muted); } dd { margin: 0; white-space: pre-wrap; }
.figures { color: var(--muted); font-size: 12px; }
svg.chart { max-width: 100%; height: auto; font-size: 12px; }
svg .label, svg .value { fill: #1f2328; } svg .axis text { fill: var(--muted); }
svg .axis line { stroke: var(--line); }
svg .ok .bar, svg .ready .bar { fill: var(--pass); }
svg .failed .bar { fill: var(--fail); }
svg .skipped .bar, svg .blocked .bar { fill: #afb8c1; }
svg .phase .bar { opacity: 0.65; }
svg .figure .bar { fill: #0969da; }
"#;

/// The page for `report`, with the bootstrap timeline when `bootstrap` is given.
pub fn render(report: &Report, bootstrap: Option<&Bootstrap>) -> String {
    let summary = report.summary();
    let env = &report.environment;
    let verdict = verdict_text(summary.verdict);
    let page = html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta http-equiv="Content-Security-Policy" content=(CONTENT_SECURITY_POLICY);
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { "neuroscale check: " (verdict) " (" (env.scenario_name) ")" }
                style { (PreEscaped(STYLE)) }
            }
            body {
                header #summary {
                    h1 {
                        "neuroscale check "
                        span class=(format!("badge verdict {verdict}")) { (verdict) }
                    }
                    p class="counts" {
                        span { (summary.passed) " passed" }
                        span { (summary.failed) " failed" }
                        @if summary.errors > 0 {
                            span { "(" (summary.errors) " of them concluded nothing)" }
                        }
                        span { (summary.skipped) " skipped" }
                        span class="muted" { "of " (summary.total) " checks in "
                            (short_duration(report.duration)) }
                    }
                    p class="muted" {
                        "scenario " code { (env.scenario_name) }
                        @if env.context.is_empty() { " without a cluster" }
                        @else { " on context " code { (env.context) } }
                        ", started "
                        (humantime::format_rfc3339_seconds(report.started_at).to_string())
                        @if let Some(reason) = report.cancelled {
                            ", " strong { (cancel_text(reason)) }
                        }
                    }
                    @if let Some(bundle) = &report.bundle {
                        p { "Diagnostics bundle: " code { (bundle.display().to_string()) } }
                    }
                    nav {
                        a href="#timeline" { "Bootstrap" }
                        a href="#milestones" { "Checks" }
                        a href="#latency" { "Latency" }
                        a href="#environment" { "Environment" }
                    }
                }
                (timeline_section(bootstrap))
                section #milestones {
                    h2 { "Checks by milestone" }
                    @for milestone in Milestone::ALL {
                        (milestone_section(report, milestone))
                    }
                }
                (latency_section(report))
                (environment_section(report))
                footer class="muted" {
                    p { "neuroscale " (env!("CARGO_PKG_VERSION")) }
                }
            }
        }
    };
    page.into_string()
}

fn verdict_text(verdict: Verdict) -> &'static str {
    match verdict {
        Verdict::Pass => "PASS",
        Verdict::Fail => "FAIL",
        Verdict::Skip => "SKIP",
    }
}

fn timeline_section(bootstrap: Option<&Bootstrap>) -> Markup {
    html! {
        section #timeline {
            h2 { "Bootstrap" }
            @match bootstrap {
                Some(bootstrap) => {
                    p {
                        "neuroscale up: "
                        @if bootstrap.ok { "platform ready" } @else { strong { "install failed" } }
                        " in " (trim_float(bootstrap.total_seconds)) "s: "
                        (bootstrap.phases.len()) " phases, " (bootstrap.components.len())
                        " components."
                    }
                    (charts::timeline(bootstrap))
                    @let problems: Vec<_> = bootstrap.components.iter()
                        .filter(|c| c.error.is_some()).collect();
                    @if !problems.is_empty() {
                        table {
                            tr { th { "Component" } th { "Version" } th { "Outcome" } th { "Why" } }
                            @for component in problems {
                                tr {
                                    td { (component.name) }
                                    td { code { (component.version) } }
                                    td { (component.outcome) }
                                    td { (component.error.as_deref().unwrap_or_default()) }
                                }
                            }
                        }
                    }
                }
                None => {
                    p class="note" {
                        "No bootstrap report was given. Save one with "
                        code { "neuroscale up --format json > up.json" }
                        " and pass it with " code { "--up-report up.json" } "."
                    }
                }
            }
        }
    }
}

fn figures_text(result: &CheckResult) -> String {
    result
        .figures()
        .iter()
        .map(|f| format!("{} {}{}", f.name, trim_float(f.value), f.unit))
        .collect::<Vec<_>>()
        .join(", ")
}

fn milestone_section(report: &Report, milestone: Milestone) -> Markup {
    let checks: Vec<&CheckResult> = report
        .checks
        .iter()
        .filter(|c| c.milestone() == milestone)
        .collect();
    let id = format!("milestone-{}", milestone.letter().to_ascii_lowercase());
    html! {
        section id=(id) class="milestone" {
            h3 { (milestone.letter()) " " (milestone.title()) }
            @if checks.is_empty() {
                p class="note" { "No check of this milestone is in this report." }
            } @else {
                table {
                    tr { th { "Verdict" } th { "Check" } th { "Summary" } th.time { "Time" } }
                    @for check in checks {
                        @let verdict = verdict_text(check.verdict());
                        tr id=(format!("check-{}", check.id)) class=(format!("check {verdict}")) {
                            td { span class=(format!("badge {verdict}")) { (verdict) } }
                            td { strong { (check.id) } " " code { (check.slug()) }
                                br; span class="muted" { (check.title()) } }
                            td {
                                (check.summary())
                                @if !check.figures().is_empty() {
                                    br; span class="figures" { (figures_text(check)) }
                                }
                            }
                            td class="time" { (short_duration(check.duration)) }
                        }
                        @if let Some(diagnosis) = check.diagnosis().filter(|_| check.verdict() == Verdict::Fail) {
                            tr class="diagnosis" {
                                td colspan="4" {
                                    dl {
                                        dt { "outcome" } dd { (check.kind().name()) }
                                        dt { "observed" } dd { (diagnosis.observed) }
                                        dt { "likely cause" } dd { (diagnosis.likely_cause) }
                                        dt { "next" } dd { code { (diagnosis.next_command) } }
                                        @if let Some(failure) = diagnosis.code {
                                            dt { "code" } dd { (failure.as_str()) ": " (failure.title()) " (" code { (failure.link()) } ")" }
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}

fn latency_section(report: &Report) -> Markup {
    let probe = report.checks.iter().find(|c| c.id == CheckId::F4);
    let in_ms: Vec<(&str, f64)> = probe
        .map(|p| {
            p.figures()
                .iter()
                .filter(|f| f.unit == LATENCY_UNIT && f.value.is_finite())
                .map(|f| (f.name.as_str(), f.value))
                .collect()
        })
        .unwrap_or_default();
    let others: Vec<_> = probe
        .map(|p| {
            p.figures()
                .iter()
                .filter(|f| f.unit != LATENCY_UNIT)
                .collect()
        })
        .unwrap_or_default();
    html! {
        section #latency {
            h2 { "Latency" }
            @match probe {
                None => p class="note" { "F4 (latency under load) is not in this report." },
                Some(probe) if in_ms.is_empty() => p class="note" {
                    "F4 measured no latency: " (probe.summary())
                },
                Some(probe) => {
                    p { strong { (probe.id) } " " (probe.summary()) }
                    (charts::figure_bars("F4 latency percentiles", LATENCY_UNIT, &in_ms))
                    @if !others.is_empty() {
                        table {
                            @for figure in others {
                                tr { th { (figure.name) }
                                    td class="num" { (trim_float(figure.value)) " " (figure.unit) } }
                            }
                        }
                    }
                }
            }
        }
    }
}

fn environment_section(report: &Report) -> Markup {
    let env = &report.environment;
    html! {
        section #environment {
            h2 { "Environment" }
            table {
                tr { th { "context" } td { code { (env.context) } }
                    td class="muted" { @if env.harness_context { "the harness's k3d cluster" }
                        @else { "not the harness's cluster" } } }
                tr { th { "server" } td { (env.server.as_deref().unwrap_or("unknown")) } td {} }
                tr { th { "Kubernetes" }
                    td { (env.kubernetes_version.as_deref().unwrap_or("unknown")) } td {} }
                tr { th { "scenario" } td { code { (env.scenario_name) } }
                    td class="muted" { (env.scenario_source.display().to_string()) } }
                tr { th { "gpu" } td { (env.gpu) } td {} }
                tr { th { "mutating checks" }
                    td { @if env.mutations_allowed { "allowed" } @else { "not allowed" } } td {} }
            }
            h3 { "Pinned versions" }
            table {
                @for (name, version) in &env.versions {
                    tr { th { (name) } td { code { (version) } } }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checks::{Diagnosis, Outcome};
    use crate::report::bootstrap::fixtures::bootstrap;
    use crate::report::fixtures;
    use std::time::Duration;

    fn with_latency() -> Report {
        let mut report = fixtures::report();
        report.checks.push(CheckResult::new(
            CheckId::F4,
            Outcome::pass("p95 41ms <= 300ms at 20 req/s")
                .with_figure("p50", 12.5, "ms")
                .with_figure("p95", 41.0, "ms")
                .with_figure("p999", 80.0, "ms")
                .with_figure("throughput", 19.8, "req/s"),
            Duration::from_secs(30),
        ));
        report
    }

    #[test]
    fn every_section_is_there() {
        let page = render(&with_latency(), Some(&bootstrap()));
        for id in [
            "summary",
            "timeline",
            "milestones",
            "milestone-a",
            "milestone-f",
            "latency",
            "environment",
        ] {
            assert!(page.contains(&format!("id=\"{id}\"")), "#{id} missing");
        }
        assert!(page.contains("class=\"badge verdict FAIL\""), "{page}");
        assert!(page.contains("id=\"check-D3\""));
    }

    #[test]
    fn every_latency_figure_in_ms_is_a_bar_whatever_its_name() {
        let page = render(&with_latency(), None);
        let latency = &page[page.find("id=\"latency\"").unwrap()..];
        for name in ["p50", "p95", "p999"] {
            assert!(latency.contains(&format!(">{name}</text>")), "{name}");
        }
        assert!(!latency.contains(">throughput</text>"), "not a latency");
        assert!(latency.contains("<th>throughput</th>"), "listed instead");
        assert!(render(&fixtures::report(), None).contains("F4 (latency under load) is not in"));
    }

    #[test]
    fn a_failure_shows_its_diagnosis_and_a_pass_does_not() {
        let page = render(&fixtures::report(), None);
        assert!(page.contains("kubectl -n kserve get endpoints kserve-webhook-server-service"));
        assert_eq!(page.matches("class=\"diagnosis\"").count(), 1, "only D3");
        assert!(page.contains("No bootstrap report was given"));
    }

    #[test]
    fn every_string_is_escaped() {
        let mut report = fixtures::report();
        report.environment.scenario_name = "<script>alert(1)</script>".into();
        report.checks[2] = CheckResult::new(
            CheckId::D3,
            Outcome::fail(
                "denied <b>\"x\" & 'y'</b>",
                Diagnosis::new("<img src=x>", "a & b", "kubectl get \"<x>\""),
            ),
            Duration::from_secs(1),
        );
        let page = render(&report, Some(&bootstrap()));
        assert!(!page.contains("<script"), "no script element at all");
        assert!(!page.contains("<img"), "{page}");
        assert!(!page.contains("<b>"), "{page}");
        assert!(page.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
        assert!(page.contains("denied &lt;b&gt;&quot;x&quot; &amp; 'y'&lt;/b&gt;"));
    }

    #[test]
    fn nothing_outside_the_page_is_referenced() {
        let page = render(&with_latency(), Some(&bootstrap()));
        assert!(!page.contains("src="), "no fetched resource");
        for (at, _) in page.match_indices("href=\"") {
            assert_eq!(&page[at + 6..at + 7], "#", "in-page links only");
        }
        assert!(page.contains(CONTENT_SECURITY_POLICY));
    }
}
