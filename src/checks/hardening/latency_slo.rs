//! F4 latency-slo: N requests at concurrency c through the Kourier gateway, with the first CPU
//! model's Host header: zero errors, and p50/p95/p99 at or under the scenario's thresholds; the
//! percentiles are reported as figures either way. The measurement runs alone (its catalogue
//! effect is measuring) so no other check's traffic distorts it.

use std::time::Duration;

use crate::checks::env::{CheckFuture, CheckRun};
use crate::checks::kit::gateway::{self, Gateway};
use crate::checks::outcome::{Diagnosis, Outcome};
use crate::observe;
use crate::platform::views::InferenceService;
use crate::probe;
use crate::scenario::Latency;

pub fn check<'a>(run: &'a CheckRun<'a>) -> CheckFuture<'a> {
    Box::pin(latency_slo(run))
}

/// What a load run through the gateway measured (the figures of `probe::LoadReport`).
#[derive(Debug, Clone, PartialEq)]
pub struct LatencyRun {
    pub model: String,
    pub host: String,
    pub requests: u32,
    pub errors: u32,
    pub p50: Duration,
    pub p95: Duration,
    pub p99: Duration,
    pub max: Duration,
    pub throughput_rps: f64,
    pub first_error: Option<String>,
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// F4's verdict: zero errors and p50/p95/p99 each at or under the scenario's thresholds; the
/// percentiles are reported as figures either way.
pub fn evaluate_latency(slo: &Latency, run: &LatencyRun) -> Outcome {
    let figures = |outcome: Outcome| {
        outcome
            .with_figure("p50", ms(run.p50), "ms")
            .with_figure("p95", ms(run.p95), "ms")
            .with_figure("p99", ms(run.p99), "ms")
            .with_figure("max", ms(run.max), "ms")
            .with_figure("throughput", run.throughput_rps, "req/s")
            .with_figure("errors", run.errors as f64, "count")
    };
    let measured = format!(
        "{} requests via Kourier (Host {}): {} errors, p50 {:.1} ms, p95 {:.1} ms, p99 {:.1} ms, {:.0} req/s",
        run.requests,
        run.host,
        run.errors,
        ms(run.p50),
        ms(run.p95),
        ms(run.p99),
        run.throughput_rps
    );
    let over: Vec<String> = [
        ("p50", run.p50, slo.p50_ms),
        ("p95", run.p95, slo.p95_ms),
        ("p99", run.p99, slo.p99_ms),
    ]
    .into_iter()
    .filter(|(_, measured, limit)| ms(*measured) > *limit)
    .map(|(name, measured, limit)| format!("{name} {:.1} ms > {limit} ms", ms(measured)))
    .collect();
    if run.requests == 0 {
        return figures(Outcome::fail(
            "no requests were measured",
            Diagnosis::new(
                measured,
                "the load run sent nothing",
                "neuroscale probe --help",
            ),
        ));
    }
    if run.errors == 0 && over.is_empty() {
        return figures(Outcome::pass(format!(
            "{measured} (SLO p50 {} / p95 {} / p99 {} ms)",
            slo.p50_ms, slo.p95_ms, slo.p99_ms
        )));
    }
    let namespace_hint = format!("kubectl get inferenceservice -A | grep {}", run.model);
    let (cause, command) = if run.errors > 0 {
        let first = run.first_error.as_deref().unwrap_or("");
        if first.contains("HTTP 404") {
            ("Kourier answered 404: no route for this Host header (wrong domain in config-domain, or a cluster-local URL)".to_string(), "kubectl -n knative-serving get configmap config-domain -o yaml".to_string())
        } else if first.contains("HTTP 503") || first.contains("HTTP 502") {
            ("no ready revision behind the route for part of the run (pod restarting or scaled to zero)".to_string(), namespace_hint)
        } else if first.contains("timed out") || first.contains("connect") {
            ("the Kourier gateway did not answer (gateway pod not ready, or the port mapping/port-forward broke)".to_string(), "kubectl -n kourier-system get pods,svc".to_string())
        } else {
            ("the model server failed some requests (wrong answer shape or server errors under load)".to_string(), namespace_hint)
        }
    } else {
        (
            "the model is too slow at this concurrency: CPU-starved predictor (small limits, LimitRange defaults) or cold starts from scale-to-zero".to_string(),
            "kubectl top pods -A".to_string(),
        )
    };
    let mut observed = vec![measured];
    if run.errors > 0 {
        observed.push(format!(
            "{} of {} failed; first: {}",
            run.errors,
            run.requests,
            run.first_error.as_deref().unwrap_or("not recorded")
        ));
    }
    observed.extend(over.iter().cloned());
    let summary = if run.errors > 0 {
        format!("{} of {} requests failed", run.errors, run.requests)
    } else {
        format!("latency over the SLO: {}", over.join(", "))
    };
    figures(Outcome::fail(
        summary,
        Diagnosis::new(observed.join("; "), cause, command),
    ))
}

impl LatencyRun {
    /// The figures of a probe load run against `model` with Host `host`.
    pub fn from_report(model: &str, host: &str, report: &probe::LoadReport) -> LatencyRun {
        LatencyRun {
            model: model.to_string(),
            host: host.to_string(),
            requests: report.requests,
            errors: report.errors,
            p50: report.p50,
            p95: report.p95,
            p99: report.p99,
            max: report.max,
            throughput_rps: report.throughput_rps,
            first_error: report.first_error.clone(),
        }
    }
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
    run.saw(format!(
        "sending {} requests ({} warm-up) at concurrency {} to {} with Host {host}",
        slo.requests, slo.warmup, slo.concurrency, gateway.base_url
    ));
    match gateway.load(&target, &probe::LoadSpec::from(slo)).await {
        Ok(report) => evaluate_latency(slo, &LatencyRun::from_report(&model.name, &host, &report)),
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
    use super::*;
    use crate::checks::fixtures::diagnosis;
    use crate::checks::outcome::Verdict;

    fn slo() -> Latency {
        Latency {
            requests: 200,
            concurrency: 4,
            warmup: 20,
            p50_ms: 150.0,
            p95_ms: 400.0,
            p99_ms: 800.0,
        }
    }

    fn load(errors: u32, p99_ms: u64) -> LatencyRun {
        LatencyRun {
            model: "sklearn-iris".into(),
            host: "sklearn-iris-predictor.models.127.0.0.1.sslip.io".into(),
            requests: 200,
            errors,
            p50: Duration::from_millis(12),
            p95: Duration::from_millis(35),
            p99: Duration::from_millis(p99_ms),
            max: Duration::from_millis(p99_ms + 5),
            throughput_rps: 310.0,
            first_error: (errors > 0).then(|| {
                "http://127.0.0.1:8080/v1/models/sklearn-iris:predict (Host: x) answered HTTP 503: no healthy upstream".to_string()
            }),
        }
    }

    #[test]
    fn f4_passes_within_the_slo_and_reports_the_percentiles() {
        let outcome = evaluate_latency(&slo(), &load(0, 60));
        assert_eq!(outcome.verdict(), Verdict::Pass, "{outcome:?}");
        let names: Vec<&str> = outcome.figures.iter().map(|f| f.name.as_str()).collect();
        assert_eq!(&names[..3], ["p50", "p95", "p99"]);
        assert_eq!(outcome.figures[2].value, 60.0);
        assert!(
            outcome.summary.contains("p99 60.0 ms"),
            "{}",
            outcome.summary
        );
    }

    #[test]
    fn f4_fails_on_any_error() {
        let outcome = evaluate_latency(&slo(), &load(1, 60));
        assert_eq!(outcome.verdict(), Verdict::Fail);
        assert_eq!(outcome.summary, "1 of 200 requests failed");
        let d = diagnosis(&outcome);
        assert!(d.observed.contains("HTTP 503"), "{d:?}");
        assert!(d.likely_cause.contains("no ready revision"), "{d:?}");
        assert!(
            !outcome.figures.is_empty(),
            "figures are reported on FAIL too"
        );
    }

    #[test]
    fn f4_fails_over_the_threshold() {
        let outcome = evaluate_latency(&slo(), &load(0, 950));
        assert_eq!(outcome.verdict(), Verdict::Fail);
        assert!(
            outcome.summary.contains("p99 950.0 ms > 800 ms"),
            "{}",
            outcome.summary
        );
        assert!(diagnosis(&outcome).likely_cause.contains("too slow"));
    }

    #[test]
    fn latency_figures_come_from_the_probe_report() {
        let report = probe::LoadReport {
            requests: 200,
            errors: 0,
            error_rate: 0.0,
            p50: Duration::from_millis(3),
            p95: Duration::from_millis(7),
            p99: Duration::from_millis(11),
            max: Duration::from_millis(15),
            throughput_rps: 900.0,
            first_error: None,
        };
        let run = LatencyRun::from_report("sklearn-iris", "h", &report);
        assert_eq!(run.p99, Duration::from_millis(11));
        assert_eq!(evaluate_latency(&slo(), &run).verdict(), Verdict::Pass);
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
