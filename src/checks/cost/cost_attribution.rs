//! E2 cost-attribution: OpenCost's allocation over the last hour aggregated by
//! `label:cost-center` has a group for every cost center of the scenario's models with a total
//! cost above zero. Asked again until the deadline while Prometheus has not scraped yet; a
//! rejected query is not asked again.

use std::collections::BTreeMap;
use std::time::Instant;

use serde_json::Value;

use super::{
    get, no_url, parse_allocation, HttpAnswer, ALLOCATION_PATH, ATTRIBUTION_WINDOW,
    COST_CENTER_AGGREGATE, IDLE, OPENCOST_LOGS, POLL_INTERVAL, PORT_FORWARD, UNALLOCATED,
};
use crate::checks::env::{CheckFuture, CheckRun};
use crate::checks::kit::wait::{Decision, Wait};
use crate::checks::outcome::{Diagnosis, Outcome};

pub fn check<'a>(run: &'a CheckRun<'a>) -> CheckFuture<'a> {
    Box::pin(cost_attribution(run))
}

/// The cost centers the platform's models carry (the scenario's CPU models: the GPU model exists
/// only while F3 runs).
pub fn expected_cost_centers(scenario: &crate::scenario::Scenario) -> Vec<String> {
    let mut centers: Vec<String> = scenario
        .cpu_models()
        .map(|m| m.cost_center.clone())
        .collect();
    centers.sort();
    centers.dedup();
    centers
}

async fn cost_attribution(run: &CheckRun<'_>) -> Outcome {
    let expected = expected_cost_centers(&run.env.scenario);
    let Some(base) = run
        .env
        .opencost_url
        .as_deref()
        .map(|u| u.trim_end_matches('/'))
    else {
        return no_url();
    };
    let url = format!("{base}{ALLOCATION_PATH}");
    let query = [
        ("window", ATTRIBUTION_WINDOW),
        ("aggregate", COST_CENTER_AGGREGATE),
        ("accumulate", "true"),
    ];
    let started = Instant::now();
    let (url, query, expected) = (&url, &query, &expected);
    // Data that is missing or zero may still arrive with the next Prometheus scrape; a rejected
    // query will not improve.
    Wait::for_check(run)
        .every(POLL_INTERVAL)
        .until(
            run,
            |_| async move {
                let answer = get(&run.env.http, url, query).await;
                Ok::<_, Outcome>((answer, started.elapsed()))
            },
            |(answer, waited)| {
                let outcome = evaluate_cost_attribution(expected, answer);
                if outcome.is_pass() {
                    return Decision::Pass(outcome.with_figure(
                        "waited for allocation data",
                        waited.as_secs_f64(),
                        "s",
                    ));
                }
                let outcome = Outcome {
                    summary: format!("{} (after {:.0} s)", outcome.summary, waited.as_secs_f64()),
                    ..outcome
                };
                Decision::retry_if(outcome, may_improve(answer))
            },
        )
        .await
}

/// Whether asking again can change the verdict: transport errors (a port-forward hiccup),
/// server errors (Prometheus not ready) and successful answers whose data is not there yet.
pub fn may_improve(answer: &HttpAnswer) -> bool {
    match answer {
        Err(_) => true,
        Ok((status, _)) => *status == 200 || *status >= 500,
    }
}

fn total_cost(allocation: &Value) -> f64 {
    allocation
        .get("totalCost")
        .and_then(Value::as_f64)
        .unwrap_or(0.0)
}

/// E2's verdict: the allocation aggregated by `label:cost-center` has a group for every expected
/// cost center with a total cost above zero. Groups are summed over steps.
pub fn evaluate_cost_attribution(expected: &[String], answer: &HttpAnswer) -> Outcome {
    let query =
        format!("{ALLOCATION_PATH}?window={ATTRIBUTION_WINDOW}&aggregate={COST_CENTER_AGGREGATE}");
    let sets = match parse_allocation(answer) {
        Ok(sets) => sets,
        Err(e) => {
            let (cause, command) = match answer {
                Ok((400, _)) => (
                    "OpenCost rejected the query parameters (window or aggregate)",
                    OPENCOST_LOGS,
                ),
                Ok(_) => (
                    "OpenCost cannot compute allocation: Prometheus unreachable or not yet ready",
                    "kubectl -n prometheus-system get deploy,svc,endpointslices",
                ),
                Err(_) => (
                    "the OpenCost API did not answer (port-forward broken or pod restarting)",
                    PORT_FORWARD,
                ),
            };
            return Outcome::fail(
                "no allocation data from OpenCost",
                Diagnosis::new(format!("GET {query}: {e}"), cause, command),
            );
        }
    };
    let mut totals: BTreeMap<String, f64> = BTreeMap::new();
    for set in &sets {
        for (group, allocation) in set {
            *totals.entry(group.clone()).or_default() += total_cost(allocation);
        }
    }
    let seen: Vec<String> = totals.iter().map(|(g, c)| format!("{g}={c:.5}")).collect();
    let seen = if seen.is_empty() {
        "no groups".to_string()
    } else {
        seen.join(", ")
    };
    let attributed: Vec<&String> = totals
        .keys()
        .filter(|g| *g != UNALLOCATED && *g != IDLE)
        .collect();
    let missing: Vec<&String> = expected
        .iter()
        .filter(|c| !totals.contains_key(*c))
        .collect();
    let zero: Vec<&String> = expected
        .iter()
        .filter(|c| totals.get(*c).is_some_and(|cost| *cost <= 0.0))
        .collect();
    if missing.is_empty() && zero.is_empty() {
        let mut outcome = Outcome::pass(format!(
            "{}/{} cost centers with non-zero allocation: {}",
            expected.len(),
            expected.len(),
            expected
                .iter()
                .map(|c| format!("{c} {:.5}", totals[c]))
                .collect::<Vec<_>>()
                .join(", ")
        ));
        for center in expected {
            outcome = outcome.with_figure(format!("cost {center}"), totals[center], "currency");
        }
        return outcome;
    }
    let ok = expected.len() - missing.len() - zero.len();
    let summary = format!(
        "{ok}/{} cost centers with non-zero allocation",
        expected.len()
    );
    let (observed, cause, command) = if attributed.is_empty() {
        (
            format!("GET {query}: {seen}"),
            "no cost is attributed to any cost center yet: Prometheus has not scraped OpenCost and cAdvisor, or the `opencost` scrape job (opencost.opencost:9003) is missing".to_string(),
            "kubectl -n prometheus-system port-forward svc/prometheus-server 9090:80".to_string(),
        )
    } else if !missing.is_empty() {
        let names = missing
            .iter()
            .map(|s| s.as_str())
            .collect::<Vec<_>>()
            .join(", ");
        (
            format!("no allocation group for {names}; groups seen: {seen}"),
            format!("the model pods of {names} do not carry the cost-center label (OpenCost puts them in {UNALLOCATED}) or are not running"),
            "kubectl get pods -A -L cost-center".to_string(),
        )
    } else {
        let names = zero
            .iter()
            .map(|s| s.as_str())
            .collect::<Vec<_>>()
            .join(", ");
        (
            format!("zero total cost for {names}; groups seen: {seen}"),
            "allocation exists but costs nothing: no node pricing (custom pricing not configured) or no usage recorded yet".to_string(),
            OPENCOST_LOGS.to_string(),
        )
    };
    Outcome::fail(summary, Diagnosis::new(observed, cause, command))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checks::fixtures::{self as fx, diagnosis};
    use crate::checks::outcome::Verdict;
    use std::time::Duration;

    fn centers() -> Vec<String> {
        vec!["ml-platform".into(), "ml-research".into()]
    }

    #[test]
    fn e2_passes_with_every_cost_center_non_zero() {
        let body = fx::allocation_response(vec![vec![
            ("ml-research", 0.0312),
            ("ml-platform", 0.0101),
            ("__unallocated__", 0.2),
        ]]);
        let outcome = evaluate_cost_attribution(&centers(), &Ok((200, body)));
        assert_eq!(outcome.verdict(), Verdict::Pass, "{outcome:?}");
        assert_eq!(outcome.figures.len(), 2);
        assert_eq!(outcome.figures[1].name, "cost ml-research");
        assert!((outcome.figures[1].value - 0.0312).abs() < 1e-9);
    }

    #[test]
    fn e2_sums_steps_before_judging() {
        let body = fx::allocation_response(vec![
            vec![("ml-research", 0.0), ("ml-platform", 0.01)],
            vec![("ml-research", 0.02)],
        ]);
        let outcome = evaluate_cost_attribution(&centers(), &Ok((200, body)));
        assert_eq!(outcome.verdict(), Verdict::Pass, "{outcome:?}");
    }

    #[test]
    fn e2_fails_when_a_cost_center_is_unallocated() {
        let body =
            fx::allocation_response(vec![vec![("ml-research", 0.03), ("__unallocated__", 0.2)]]);
        let outcome = evaluate_cost_attribution(&centers(), &Ok((200, body)));
        assert_eq!(outcome.verdict(), Verdict::Fail);
        assert_eq!(outcome.summary, "1/2 cost centers with non-zero allocation");
        let d = diagnosis(&outcome);
        assert!(
            d.observed.contains("no allocation group for ml-platform"),
            "{d:?}"
        );
        assert!(d.likely_cause.contains("__unallocated__"));
    }

    #[test]
    fn e2_fails_on_zero_cost_and_on_empty_data() {
        let zero = fx::allocation_response(vec![vec![("ml-research", 0.03), ("ml-platform", 0.0)]]);
        let outcome = evaluate_cost_attribution(&centers(), &Ok((200, zero)));
        assert_eq!(outcome.verdict(), Verdict::Fail);
        assert!(diagnosis(&outcome)
            .observed
            .contains("zero total cost for ml-platform"));

        let empty = fx::allocation_response(vec![vec![]]);
        let outcome = evaluate_cost_attribution(&centers(), &Ok((200, empty)));
        assert_eq!(outcome.verdict(), Verdict::Fail);
        assert!(diagnosis(&outcome).likely_cause.contains("scrape"));
    }

    #[test]
    fn e2_fails_on_a_rejected_query_and_does_not_retry_it() {
        let answer: HttpAnswer = Ok((400, "Invalid 'aggregate' parameter: bad\n".into()));
        let outcome = evaluate_cost_attribution(&centers(), &answer);
        assert_eq!(outcome.verdict(), Verdict::Fail);
        assert!(diagnosis(&outcome)
            .observed
            .contains("Invalid 'aggregate' parameter"));
        assert!(!may_improve(&answer));
        assert!(may_improve(&Ok((200, "{}".into()))));
        assert!(may_improve(&Err("connection reset".into())));
    }

    #[test]
    fn expected_cost_centers_come_from_the_scenarios_cpu_models() {
        let scenario = crate::scenario::Scenario::parse(
            std::path::Path::new("smoke.yaml"),
            crate::scenario::BUILTIN_SMOKE,
        )
        .unwrap();
        assert_eq!(expected_cost_centers(&scenario), centers());
    }
    /// A stand-in for OpenCost's API on loopback: answers every request with `status` and
    /// `body` and records the request lines it got.
    async fn opencost_stand_in(
        status: u16,
        body: String,
    ) -> (String, std::sync::Arc<std::sync::Mutex<Vec<String>>>) {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let record = seen.clone();
        tokio::spawn(async move {
            while let Ok((mut socket, _)) = listener.accept().await {
                let mut buffer = vec![0u8; 8192];
                let n = socket.read(&mut buffer).await.unwrap_or(0);
                let head = String::from_utf8_lossy(&buffer[..n]).to_string();
                record
                    .lock()
                    .unwrap()
                    .push(head.lines().next().unwrap_or_default().to_string());
                let response = format!(
                    "HTTP/1.1 {status} X\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = socket.write_all(response.as_bytes()).await;
            }
        });
        (url, seen)
    }

    fn env_with_opencost(url: Option<String>) -> crate::checks::CheckEnv {
        // The kube client points at a closed port: E2 reads only the OpenCost API.
        let mut env = fx::offline_env(false);
        env.opencost_url = url;
        env
    }

    async fn run_e2(env: &crate::checks::CheckEnv) -> Outcome {
        let run = CheckRun::new(env, crate::checks::CheckId::E2, Duration::from_secs(30));
        check(&run).await
    }

    #[tokio::test]
    async fn e2_asks_opencost_by_cost_center_over_http() {
        let body =
            fx::allocation_response(vec![vec![("ml-research", 0.0312), ("ml-platform", 0.0101)]]);
        let (url, seen) = opencost_stand_in(200, body).await;
        let outcome = run_e2(&env_with_opencost(Some(url))).await;
        assert_eq!(outcome.verdict(), Verdict::Pass, "{outcome:?}");
        let request = seen.lock().unwrap()[0].clone();
        assert!(request.starts_with("GET /allocation/compute?"), "{request}");
        for part in [
            "window=1h",
            "aggregate=label%3Acost-center",
            "accumulate=true",
        ] {
            assert!(request.contains(part), "{part} missing from {request}");
        }
    }

    #[tokio::test]
    async fn e2_stops_at_a_rejected_query_and_fails_without_a_url() {
        let (url, seen) =
            opencost_stand_in(400, "Invalid 'window' parameter: bad".to_string()).await;
        let outcome = run_e2(&env_with_opencost(Some(url))).await;
        assert_eq!(outcome.verdict(), Verdict::Fail);
        assert_eq!(seen.lock().unwrap().len(), 1, "a 400 is not asked again");
        assert!(diagnosis(&outcome).observed.contains("Invalid 'window'"));
        let outcome = run_e2(&env_with_opencost(None)).await;
        assert_eq!(outcome.verdict(), Verdict::Fail);
        assert!(diagnosis(&outcome)
            .next_command
            .contains("port-forward svc/opencost"));
    }
}
