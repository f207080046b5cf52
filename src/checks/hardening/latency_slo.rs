//! F4 latency-slo: an open-loop load at the scenario's fixed rate through the Kourier gateway,
//! with the first CPU model's Host header: the run must be valid (the in-flight cap never hit,
//! at least 99% of the offered rate achieved), have zero errors, and keep each thresholded
//! percentile at or under its limit, judged on the measured requests with enough of them to
//! establish it. Latencies run from each request's intended send time, so a server that stalls
//! is charged for every request the stall delays. The figures are reported either way. The
//! measurement runs alone (its catalogue effect is measuring) so no other check's traffic
//! distorts it.

use crate::checks::env::{CheckFuture, CheckRun};
use crate::checks::kit::gateway::{self, Gateway};
use crate::checks::outcome::{Diagnosis, Outcome};
use crate::observe;
use crate::platform::views::InferenceService;
use crate::probe::{self, LoadReport, Violation};
use crate::scenario::Latency;

pub fn check<'a>(run: &'a CheckRun<'a>) -> CheckFuture<'a> {
    Box::pin(latency_slo(run))
}

fn ms(d: std::time::Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// The figures F4 reports, PASS or FAIL.
fn with_figures(outcome: Outcome, report: &LoadReport) -> Outcome {
    let mut outcome = outcome;
    for p in &report.percentiles {
        outcome = outcome.with_figure(p.name.name(), ms(p.value), "ms");
    }
    outcome = outcome
        .with_figure("max", ms(report.max), "ms")
        .with_figure("offered_rate", report.offered_rps.unwrap_or(0.0), "req/s")
        .with_figure("achieved_rate", report.achieved_rps, "req/s")
        .with_figure("measured", report.measured as f64, "count")
        .with_figure("errors", f64::from(report.errors), "count");
    if let Some(warmup) = &report.warmup {
        outcome = outcome.with_figure("cold_start", ms(warmup.first), "ms");
    }
    outcome
}

/// F4's verdict on a load run against `model` through the gateway with Host `host`.
pub fn evaluate_latency(slo: &Latency, model: &str, host: &str, report: &LoadReport) -> Outcome {
    let measured = format!(
        "{} via Kourier (Host {host}): {}",
        report.method.describe(),
        report.summary()
    );
    if report.sent == 0 {
        return with_figures(
            Outcome::fail(
                "no requests were measured",
                Diagnosis::new(
                    measured,
                    "the load run sent nothing",
                    "neuroscale probe --help",
                ),
            ),
            report,
        );
    }
    let violations = report.violations(&probe::thresholds(slo));
    let Some(first) = violations.first() else {
        let limits: Vec<String> = probe::thresholds(slo)
            .iter()
            .map(|t| format!("{} {} ms", t.quantile.name(), t.limit_ms))
            .collect();
        return with_figures(
            Outcome::pass(format!(
                "{} requests at {} req/s via Kourier (Host {host}), open loop, latency from intended send times: {} (SLO {})",
                report.sent,
                report.offered_rps.unwrap_or(report.achieved_rps),
                report.summary(),
                if limits.is_empty() { "errors only".to_string() } else { limits.join(", ") }
            )),
            report,
        );
    };
    let namespace_hint = format!("kubectl get inferenceservice -A | grep {model}");
    let (summary, cause, command) = match first {
        Violation::Invalid(reason) => (
            format!("INVALID run: {reason}"),
            match reason {
                probe::InvalidReason::InFlightCapHit { .. } => "the endpoint fell so far behind the offered rate that the in-flight cap filled: a stalled or CPU-starved predictor, or cold starts from scale-to-zero; the percentiles describe less load than was asked for, so the SLO cannot be judged".to_string(),
                probe::InvalidReason::RateShort { .. } => "the machine running the check could not send at the offered rate (CPU starved, or the rate is beyond one client); the percentiles describe less load than was asked for".to_string(),
            },
            "kubectl top pods -A".to_string(),
        ),
        Violation::Errors { errors, sent, first, .. } => {
            let first = first.as_deref().unwrap_or("");
            let (cause, command) = if first.contains("HTTP 404") {
                ("Kourier answered 404: no route for this Host header (wrong domain in config-domain, or a cluster-local URL)".to_string(), "kubectl -n knative-serving get configmap config-domain -o yaml".to_string())
            } else if first.contains("HTTP 503") || first.contains("HTTP 502") {
                ("no ready revision behind the route for part of the run (pod restarting or scaled to zero)".to_string(), namespace_hint)
            } else if first.contains("no answer within") || first.contains("timed out") || first.contains("connect") {
                ("the Kourier gateway or the model did not answer in time (gateway pod not ready, the port mapping/port-forward broke, or the predictor stalled)".to_string(), "kubectl -n kourier-system get pods,svc".to_string())
            } else {
                ("the model server failed some requests (wrong answer shape or server errors under load)".to_string(), namespace_hint)
            };
            (format!("{errors} of {sent} requests failed"), cause, command)
        }
        Violation::NotEstablished { quantile, .. } => (
            first.to_string(),
            format!(
                "too few requests were measured to establish the {}: requests that failed are not latency samples",
                quantile.name()
            ),
            "neuroscale check --list".to_string(),
        ),
        Violation::OverThreshold { .. } => {
            let over: Vec<String> = violations
                .iter()
                .filter_map(|v| match v {
                    Violation::OverThreshold { quantile, value, limit_ms, over, allowed, .. } => Some(format!(
                        "{} {:.1} ms > {limit_ms} ms ({over} requests over, {allowed} allowed)",
                        quantile.name(),
                        ms(*value)
                    )),
                    _ => None,
                })
                .collect();
            (
                format!("latency over the SLO: {}", over.join(", ")),
                "the model is too slow at this rate: a CPU-starved predictor (small limits, LimitRange defaults), pauses (GC, CPU throttling) or cold starts from scale-to-zero".to_string(),
                "kubectl top pods -A".to_string(),
            )
        }
    };
    let mut observed = vec![measured];
    observed.extend(violations.iter().map(Violation::to_string));
    with_figures(
        Outcome::fail(summary, Diagnosis::new(observed.join("; "), cause, command)),
        report,
    )
}

async fn latency_slo(run: &CheckRun<'_>) -> Outcome {
    let scenario = &run.env.scenario;
    let Some(model) = scenario.cpu_models().next() else {
        return Outcome::fail(
            "the scenario names no CPU model to load",
            Diagnosis::new(
                "spec.models has no model without gpu: true",
                "the scenario is incomplete",
                "neuroscale check --list",
            ),
        );
    };
    let gateway = match Gateway::of(run.env) {
        Ok(gateway) => gateway,
        Err(no_route) => return *no_route,
    };
    run.saw(format!(
        "reading inferenceservice {}/{}",
        model.namespace, model.name
    ));
    let isvc = match observe::get_view::<InferenceService>(
        &run.env.client,
        Some(&model.namespace),
        &model.name,
    )
    .await
    {
        Ok(isvc) => isvc,
        Err(e) => {
            return Outcome::api_error(
                &format!("inferenceservice {}/{}", model.namespace, model.name),
                &e,
            )
        }
    };
    let host = match isvc.as_ref().map(gateway::ready_host) {
        Some(Ok(host)) => host,
        _ => return gateway::not_servable(&model.namespace, &model.name, isvc.as_ref()),
    };
    let target = gateway.target(&host, &model.name, model.protocol);
    let slo = &scenario.spec.latency;
    let spec = probe::OpenLoop::from(slo);
    run.saw(format!(
        "sending {} requests ({} warm-up) open loop at {} req/s, at most {} in flight, to {} with Host {host}",
        spec.requests, spec.warmup, spec.rate, spec.max_in_flight, gateway.base_url
    ));
    match gateway.load(&target, &probe::LoadSpec::Open(spec)).await {
        Ok(report) => evaluate_latency(slo, &model.name, &host, &report),
        Err(e) => Outcome::fail(
            "the load run could not start",
            Diagnosis::new(
                probe::error_chain(&e),
                "the scenario's load settings are invalid",
                "neuroscale check --list",
            ),
        ),
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::checks::fixtures::diagnosis;
    use crate::checks::outcome::Verdict;
    use crate::probe::figures::synthetic_report;
    use crate::probe::InvalidReason;

    const HOST: &str = "sklearn-iris-predictor.models.127.0.0.1.sslip.io";

    fn slo() -> Latency {
        Latency {
            rate: 100.0,
            duration: Some(Duration::from_secs(20)),
            requests: None,
            max_in_flight: 256,
            warmup: 20,
            p50_ms: Some(150.0),
            p95_ms: Some(400.0),
            p99_ms: Some(800.0),
        }
    }

    /// 2000 requests: 12 ms each but the last `slow` ones, which take `slow_ms`.
    fn run(slow: usize, slow_ms: u64) -> LoadReport {
        let mut latencies = vec![Duration::from_millis(12); 2000 - slow];
        latencies.extend(vec![Duration::from_millis(slow_ms); slow]);
        synthetic_report(&latencies, &[], Vec::new())
    }

    fn evaluate(report: &LoadReport) -> Outcome {
        evaluate_latency(&slo(), "sklearn-iris", HOST, report)
    }

    #[test]
    fn f4_passes_within_the_slo_and_reports_the_figures() {
        let outcome = evaluate(&run(10, 950));
        assert_eq!(outcome.verdict(), Verdict::Pass, "{outcome:?}");
        let names: Vec<&str> = outcome.figures.iter().map(|f| f.name.as_str()).collect();
        assert_eq!(
            names,
            [
                "p50",
                "p90",
                "p95",
                "p99",
                "p99.9",
                "max",
                "offered_rate",
                "achieved_rate",
                "measured",
                "errors"
            ]
        );
        // 12 ms within the histogram's 3 significant digits.
        assert!(
            (outcome.figures[3].value - 12.0).abs() < 0.01,
            "{:?}",
            outcome.figures[3]
        );
        assert!(
            outcome
                .summary
                .starts_with("2000 requests at 100 req/s via Kourier"),
            "{}",
            outcome.summary
        );
        assert!(
            outcome.summary.contains("p99.9 950.3 ms (not established)"),
            "{}",
            outcome.summary
        );
    }

    #[test]
    fn f4_fails_over_the_threshold_counting_the_requests_over_it() {
        // 21 of 2000 requests over 800 ms: one more than the p99 allows.
        let outcome = evaluate(&run(21, 950));
        assert_eq!(outcome.verdict(), Verdict::Fail);
        assert!(
            outcome
                .summary
                .contains("p99 950.3 ms > 800 ms (21 requests over, 20 allowed)"),
            "{}",
            outcome.summary
        );
        assert!(diagnosis(&outcome).likely_cause.contains("too slow"));
    }

    #[test]
    fn f4_fails_on_any_error() {
        let errors = [(probe::ErrorKind::Status(503), "http://127.0.0.1:8080/v1/models/sklearn-iris:predict (Host: x) answered HTTP 503: no healthy upstream")];
        let report = synthetic_report(&[Duration::from_millis(12); 1999], &errors, Vec::new());
        let outcome = evaluate(&report);
        assert_eq!(outcome.verdict(), Verdict::Fail);
        assert_eq!(outcome.summary, "1 of 2000 requests failed");
        let d = diagnosis(&outcome);
        assert!(d.observed.contains("http_503 1"), "{d:?}");
        assert!(d.likely_cause.contains("no ready revision"), "{d:?}");
        assert!(
            !outcome.figures.is_empty(),
            "figures are reported on FAIL too"
        );
    }

    #[test]
    fn f4_never_passes_an_invalid_run() {
        let invalid = vec![InvalidReason::InFlightCapHit { hits: 40, cap: 256 }];
        let report = synthetic_report(&[Duration::from_millis(12); 2000], &[], invalid);
        let outcome = evaluate(&report);
        assert_eq!(outcome.verdict(), Verdict::Fail);
        assert!(
            outcome
                .summary
                .starts_with("INVALID run: the in-flight cap of 256 was hit 40 times"),
            "{}",
            outcome.summary
        );
        assert!(diagnosis(&outcome)
            .likely_cause
            .contains("cannot be judged"));
    }

    #[test]
    fn f4_says_when_a_thresholded_percentile_is_not_established() {
        let report = synthetic_report(&[Duration::from_millis(12); 600], &[], Vec::new());
        let outcome = evaluate(&report);
        assert_eq!(outcome.verdict(), Verdict::Fail);
        assert_eq!(
            outcome.summary,
            "p99 not established: 600 measured requests, a p99 threshold needs at least 2000 (20 above it)"
        );
    }

    #[tokio::test]
    async fn f4_fails_without_a_gateway_to_send_through() {
        let env = crate::checks::fixtures::offline_env(true);
        let run =
            crate::checks::CheckRun::new(&env, crate::checks::CheckId::F4, Duration::from_secs(30));
        let outcome = check(&run).await;
        assert_eq!(outcome.verdict(), Verdict::Fail);
        assert!(diagnosis(&outcome).next_command.contains("kourier-system"));
    }
}
