//! Milestone Cost (E1-E2): OpenCost readiness and cost attribution by cost-center. Both read the
//! OpenCost API on port 9003 at `env.opencost_url` (the runner provides it): `/healthz` and
//! `/allocation/compute` (opencost pkg/costmodel/router.go; response shape in
//! core/pkg/opencost/allocation_json.go, UPSTREAM.md §8).

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use futures::FutureExt;
use k8s_openapi::api::apps::v1::Deployment;
use kube::api::{Api, ListParams};
use serde_json::Value;

use super::env::{CheckFn, CheckFuture, CheckRun};
use super::observe;
use super::outcome::{Diagnosis, Outcome};
use crate::readiness;

/// This milestone's checks by id (see `super::catalogue`).
pub const CHECKS: &[(&str, CheckFn)] = &[("E1", opencost_ready), ("E2", cost_attribution)];

/// Where the OpenCost chart is installed (UPSTREAM.md §8).
pub const OPENCOST_NAMESPACE: &str = "opencost";
/// The allocation route the install docs verify with (still routed next to `/allocation`).
pub const ALLOCATION_PATH: &str = "/allocation/compute";
/// The label the platform attributes cost by; OpenCost sanitises it to `cost_center`.
pub const COST_CENTER_AGGREGATE: &str = "label:cost-center";
/// The window E2 asks about: long enough to cover models deployed by this `up`.
pub const ATTRIBUTION_WINDOW: &str = "1h";
/// Group names OpenCost uses for pods without the label and for idle capacity.
const UNALLOCATED: &str = "__unallocated__";
const IDLE: &str = "__idle__";

const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
/// Allocation data appears only after Prometheus has scraped; E2 asks again at this interval.
const POLL_INTERVAL: Duration = Duration::from_secs(1);

const PORT_FORWARD: &str = "kubectl -n opencost port-forward svc/opencost 9003:9003";
const OPENCOST_LOGS: &str = "kubectl -n opencost logs deploy/opencost --tail=50";

/// An HTTP answer (status and body) or why none came.
pub type HttpAnswer = Result<(u16, String), String>;

async fn get(http: &reqwest::Client, url: &str, query: &[(&str, &str)]) -> HttpAnswer {
    let response = http
        .get(url)
        .query(query)
        .timeout(REQUEST_TIMEOUT)
        .send()
        .await
        .map_err(|e| format!("GET {url}: {e}"))?;
    let status = response.status().as_u16();
    let body = response
        .text()
        .await
        .map_err(|e| format!("GET {url}: reading the body: {e}"))?;
    Ok((status, body))
}

fn no_url() -> Outcome {
    Outcome::fail(
        "the OpenCost API is not reachable from the harness",
        Diagnosis::new(
            "no OpenCost URL: the runner could not reach service opencost/opencost on port 9003",
            "OpenCost's Service is missing or has no ready endpoints, so no port-forward could be opened",
            PORT_FORWARD,
        ),
    )
}

/// An allocation answer's `data`: one map of group name to Allocation per step.
pub fn parse_allocation(answer: &HttpAnswer) -> Result<Vec<BTreeMap<String, Value>>, String> {
    let (status, body) = answer.as_ref().map_err(Clone::clone)?;
    let json: Value = serde_json::from_str(body).map_err(|e| {
        format!(
            "HTTP {status}, body is not JSON ({e}): {}",
            body.chars().take(200).collect::<String>()
        )
    })?;
    let code = json.get("code").and_then(Value::as_u64);
    let state = json.get("status").and_then(Value::as_str);
    if *status != 200 || code != Some(200) || state != Some("success") {
        let message = json
            .get("message")
            .and_then(Value::as_str)
            .unwrap_or_else(|| body.trim());
        return Err(format!(
            "HTTP {status}, status {}: {message}",
            state.unwrap_or("?")
        ));
    }
    let sets = json
        .get("data")
        .and_then(Value::as_array)
        .ok_or_else(|| "success answer without a `data` array".to_string())?;
    Ok(sets
        .iter()
        .filter_map(Value::as_object)
        .map(|set| set.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
        .collect())
}

// ---------------------------------------------------------------------------------------------
// E1 opencost-ready

/// What E1 observed.
#[derive(Debug, Clone)]
pub struct OpenCostObservation {
    pub deployments: Vec<Deployment>,
    pub url: Option<String>,
    pub health: Option<HttpAnswer>,
    pub health_elapsed: Duration,
    pub allocation: Option<HttpAnswer>,
}

fn opencost_ready<'a>(run: &'a CheckRun<'a>) -> CheckFuture<'a> {
    async move {
        run.saw(format!("listing deployments in {OPENCOST_NAMESPACE}"));
        let api: Api<Deployment> = Api::namespaced(run.env.client.clone(), OPENCOST_NAMESPACE);
        let deployments =
            match api.list(&ListParams::default()).await {
                Ok(list) => list.items,
                Err(e) => return Outcome::fail(
                    "could not list OpenCost's deployments",
                    Diagnosis::new(
                        observe::error_message(&e),
                        "the API server is unreachable or this identity may not list deployments",
                        "kubectl auth can-i list deployments -n opencost",
                    ),
                ),
            };
        let url = run.env.opencost_url.clone();
        let mut observation = OpenCostObservation {
            deployments,
            url: url.clone(),
            health: None,
            health_elapsed: Duration::ZERO,
            allocation: None,
        };
        if let Some(base) = url.as_deref().map(|u| u.trim_end_matches('/')) {
            run.saw(format!("GET {base}/healthz"));
            let started = Instant::now();
            observation.health = Some(get(&run.env.http, &format!("{base}/healthz"), &[]).await);
            observation.health_elapsed = started.elapsed();
            run.saw(format!("GET {base}{ALLOCATION_PATH}?window=10m"));
            observation.allocation = Some(
                get(
                    &run.env.http,
                    &format!("{base}{ALLOCATION_PATH}"),
                    &[("window", "10m"), ("aggregate", "namespace")],
                )
                .await,
            );
        }
        evaluate_opencost_ready(&observation)
    }
    .boxed()
}

/// E1's verdict: every Deployment in the opencost namespace Available (at least one), `/healthz`
/// answers 200, and an allocation query answers `status: success` (the API can reach its data).
pub fn evaluate_opencost_ready(obs: &OpenCostObservation) -> Outcome {
    if obs.deployments.is_empty() {
        return Outcome::fail(
            "OpenCost is not installed",
            Diagnosis::new(
                format!("no Deployment in namespace {OPENCOST_NAMESPACE}"),
                "the OpenCost Application has not synced (or is installed elsewhere)",
                "kubectl -n argocd get applications",
            ),
        );
    }
    let not_ready: Vec<String> = obs
        .deployments
        .iter()
        .filter_map(|d| {
            let r = readiness::deployment(d);
            (!r.ready).then(|| {
                format!(
                    "deployment {OPENCOST_NAMESPACE}/{}: {}",
                    d.metadata.name.clone().unwrap_or_default(),
                    r.observed
                )
            })
        })
        .collect();
    let total = obs.deployments.len();
    if !not_ready.is_empty() {
        return Outcome::fail(
            format!("{}/{total} OpenCost deployments Available", total - not_ready.len()),
            Diagnosis::new(
                not_ready.join("; "),
                "OpenCost pods are not ready (image pull from ghcr.io, crash loop on a bad PROMETHEUS_SERVER_ENDPOINT, or still starting)",
                "kubectl -n opencost describe pods",
            ),
        );
    }
    if obs.url.is_none() {
        return no_url();
    }
    match &obs.health {
        Some(Ok((200, _))) => {}
        Some(Ok((status, body))) => {
            return Outcome::fail(
                format!("OpenCost /healthz answered HTTP {status}"),
                Diagnosis::new(
                    format!("GET /healthz: HTTP {status} {}", body.trim()),
                    "the OpenCost API server is up but unhealthy",
                    OPENCOST_LOGS,
                ),
            )
        }
        Some(Err(e)) => {
            return Outcome::fail(
                "OpenCost /healthz did not answer",
                Diagnosis::new(
                    e.clone(),
                    "the port-forward to opencost:9003 broke or the API container is not listening",
                    PORT_FORWARD,
                ),
            )
        }
        None => return no_url(),
    }
    let groups = match obs.allocation.as_ref().map(parse_allocation) {
        Some(Ok(sets)) => sets.iter().map(|s| s.len()).sum::<usize>(),
        Some(Err(e)) => {
            return Outcome::fail(
                "OpenCost's allocation API does not answer successfully",
                Diagnosis::new(
                    format!("GET {ALLOCATION_PATH}?window=10m: {e}"),
                    "OpenCost cannot query Prometheus (service prometheus-server.prometheus-system:80 missing or not ready, or PROMETHEUS_SERVER_ENDPOINT wrong)",
                    "kubectl -n prometheus-system get deploy,svc,endpointslices",
                ),
            )
        }
        None => return no_url(),
    };
    let ms = obs.health_elapsed.as_secs_f64() * 1000.0;
    Outcome::pass(format!(
        "{total}/{total} deployments Available, /healthz 200 in {ms:.0} ms, allocation API answered ({groups} namespace group(s) in the last 10m)"
    ))
    .with_figure("deployments available", total as f64, "count")
    .with_figure("healthz round trip", ms, "ms")
    .with_figure("allocation groups", groups as f64, "count")
}

// ---------------------------------------------------------------------------------------------
// E2 cost-attribution

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

fn cost_attribution<'a>(run: &'a CheckRun<'a>) -> CheckFuture<'a> {
    async move {
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
        loop {
            let answer = get(&run.env.http, &url, &query).await;
            let mut outcome = evaluate_cost_attribution(&expected, &answer);
            if outcome.is_pass() {
                return outcome.with_figure(
                    "waited for allocation data",
                    started.elapsed().as_secs_f64(),
                    "s",
                );
            }
            run.saw(format!(
                "allocation by {COST_CENTER_AGGREGATE}: {}",
                outcome.summary
            ));
            // Data that is missing or zero may still arrive with the next Prometheus scrape; a
            // rejected query will not improve.
            if !may_improve(&answer) || run.remaining() <= POLL_INTERVAL {
                outcome.summary = format!(
                    "{} (after {:.0} s)",
                    outcome.summary,
                    started.elapsed().as_secs_f64()
                );
                return outcome;
            }
            tokio::time::sleep(POLL_INTERVAL).await;
        }
    }
    .boxed()
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
            "no cost is attributed to any cost center yet: Prometheus has not scraped OpenCost and cAdvisor, or the `opencost` scrape job (opencost.opencost:9003) is missing (UPSTREAM.md §10 item 12)".to_string(),
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
    use crate::checks::fixtures::diagnosis;
    use crate::checks::fixtures_def as fx;
    use crate::checks::outcome::Verdict;

    fn healthy() -> OpenCostObservation {
        OpenCostObservation {
            deployments: vec![fx::deployment("opencost", "opencost", 1, 1)],
            url: Some("http://127.0.0.1:9003".into()),
            health: Some(Ok((200, String::new()))),
            health_elapsed: Duration::from_millis(4),
            allocation: Some(Ok((
                200,
                fx::allocation_response(vec![vec![("models", 0.02), ("kube-system", 0.01)]]),
            ))),
        }
    }

    #[test]
    fn e1_passes_when_available_healthy_and_answering() {
        let outcome = evaluate_opencost_ready(&healthy());
        assert_eq!(outcome.verdict, Verdict::Pass, "{outcome:?}");
        assert!(
            outcome.summary.contains("2 namespace group(s)"),
            "{}",
            outcome.summary
        );
    }

    #[test]
    fn e1_fails_when_the_deployment_is_not_available() {
        let mut obs = healthy();
        obs.deployments = vec![fx::deployment("opencost", "opencost", 0, 1)];
        let outcome = evaluate_opencost_ready(&obs);
        assert_eq!(outcome.verdict, Verdict::Fail);
        assert!(diagnosis(&outcome)
            .observed
            .contains("opencost/opencost: 0/1"));
    }

    #[test]
    fn e1_fails_when_the_api_cannot_reach_prometheus() {
        let mut obs = healthy();
        obs.allocation = Some(Ok((
            500,
            fx::allocation_error("error querying prometheus: connection refused"),
        )));
        let outcome = evaluate_opencost_ready(&obs);
        assert_eq!(outcome.verdict, Verdict::Fail);
        let d = diagnosis(&outcome);
        assert!(d.observed.contains("error querying prometheus"), "{d:?}");
        assert!(d.next_command.contains("prometheus-system"));
    }

    #[test]
    fn e1_fails_without_a_reachable_api() {
        let mut obs = healthy();
        obs.url = None;
        let outcome = evaluate_opencost_ready(&obs);
        assert_eq!(outcome.verdict, Verdict::Fail);
        assert!(diagnosis(&outcome)
            .next_command
            .contains("port-forward svc/opencost"));
        let mut obs = healthy();
        obs.health = Some(Ok((503, "unhealthy".into())));
        assert_eq!(evaluate_opencost_ready(&obs).verdict, Verdict::Fail);
        let mut obs = healthy();
        obs.deployments.clear();
        assert_eq!(evaluate_opencost_ready(&obs).verdict, Verdict::Fail);
    }

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
        assert_eq!(outcome.verdict, Verdict::Pass, "{outcome:?}");
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
        assert_eq!(outcome.verdict, Verdict::Pass, "{outcome:?}");
    }

    #[test]
    fn e2_fails_when_a_cost_center_is_unallocated() {
        let body =
            fx::allocation_response(vec![vec![("ml-research", 0.03), ("__unallocated__", 0.2)]]);
        let outcome = evaluate_cost_attribution(&centers(), &Ok((200, body)));
        assert_eq!(outcome.verdict, Verdict::Fail);
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
        assert_eq!(outcome.verdict, Verdict::Fail);
        assert!(diagnosis(&outcome)
            .observed
            .contains("zero total cost for ml-platform"));

        let empty = fx::allocation_response(vec![vec![]]);
        let outcome = evaluate_cost_attribution(&centers(), &Ok((200, empty)));
        assert_eq!(outcome.verdict, Verdict::Fail);
        assert!(diagnosis(&outcome).likely_cause.contains("scrape"));
    }

    #[test]
    fn e2_fails_on_a_rejected_query_and_does_not_retry_it() {
        let answer: HttpAnswer = Ok((400, "Invalid 'aggregate' parameter: bad\n".into()));
        let outcome = evaluate_cost_attribution(&centers(), &answer);
        assert_eq!(outcome.verdict, Verdict::Fail);
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
        let config = kube::Config::new("http://127.0.0.1:9".parse().unwrap());
        crate::checks::CheckEnv {
            client: kube::Client::try_from(config).unwrap(),
            scenario: crate::scenario::Scenario::parse(
                std::path::Path::new("scenarios/smoke.yaml"),
                crate::scenario::BUILTIN_SMOKE,
            )
            .unwrap(),
            http: reqwest::Client::new(),
            context_name: "k3d-neuroscale".into(),
            mutations_allowed: false,
            ingress_url: None,
            opencost_url: url,
            gitops_cache_dir: std::env::temp_dir(),
        }
    }

    async fn run_e2(env: &crate::checks::CheckEnv) -> Outcome {
        let spec = crate::checks::catalogue::find("E2").unwrap();
        let run = CheckRun::new(env, spec, Duration::from_secs(30));
        cost_attribution(&run).await
    }

    #[tokio::test]
    async fn e2_asks_opencost_by_cost_center_over_http() {
        let body =
            fx::allocation_response(vec![vec![("ml-research", 0.0312), ("ml-platform", 0.0101)]]);
        let (url, seen) = opencost_stand_in(200, body).await;
        let outcome = run_e2(&env_with_opencost(Some(url))).await;
        assert_eq!(outcome.verdict, Verdict::Pass, "{outcome:?}");
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
        assert_eq!(outcome.verdict, Verdict::Fail);
        assert_eq!(seen.lock().unwrap().len(), 1, "a 400 is not asked again");
        assert!(diagnosis(&outcome).observed.contains("Invalid 'window'"));
        let outcome = run_e2(&env_with_opencost(None)).await;
        assert_eq!(outcome.verdict, Verdict::Fail);
        assert!(diagnosis(&outcome)
            .next_command
            .contains("port-forward svc/opencost"));
    }
}
