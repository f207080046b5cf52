//! E1 opencost-ready: every Deployment in OpenCost's namespace Available (at least one),
//! `/healthz` answers 200, and an allocation query answers `status: success` (the API can reach
//! its data in Prometheus).

use std::time::{Duration, Instant};

use k8s_openapi::api::apps::v1::Deployment;
use kube::api::{Api, ListParams};

use super::{
    get, no_url, parse_allocation, HttpAnswer, ALLOCATION_PATH, OPENCOST_LOGS, OPENCOST_NAMESPACE,
    PORT_FORWARD,
};
use crate::checks::env::{CheckFuture, CheckRun};
use crate::checks::outcome::{Diagnosis, Outcome};
use crate::failures::FailureCode;
use crate::readiness;

pub fn check<'a>(run: &'a CheckRun<'a>) -> CheckFuture<'a> {
    Box::pin(opencost_ready(run))
}

/// What E1 observed.
#[derive(Debug, Clone)]
pub struct OpenCostObservation {
    pub deployments: Vec<Deployment>,
    pub url: Option<String>,
    pub health: Option<HttpAnswer>,
    pub health_elapsed: Duration,
    pub allocation: Option<HttpAnswer>,
}

async fn opencost_ready(run: &CheckRun<'_>) -> Outcome {
    {
        run.saw(format!("listing deployments in {OPENCOST_NAMESPACE}"));
        let api: Api<Deployment> = Api::namespaced(run.env.client.clone(), OPENCOST_NAMESPACE);
        let deployments = match api.list(&ListParams::default()).await {
            Ok(list) => list.items,
            Err(e) => return Outcome::api_error("OpenCost's deployments", &e),
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
                )
                .with_code(FailureCode::OpenCostWithoutPrometheus),
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checks::fixtures::{self as fx, diagnosis};
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
        assert_eq!(outcome.verdict(), Verdict::Pass, "{outcome:?}");
        assert!(
            outcome.summary.contains("2 namespace group(s)"),
            "{}",
            outcome.summary
        );
    }

    #[test]
    fn e1_fails_when_the_deployment_is_not_available() {
        let mut obs = healthy();
        obs.deployments = vec![fx::deployment("opencost", "opencost", 1, 0)];
        let outcome = evaluate_opencost_ready(&obs);
        assert_eq!(outcome.verdict(), Verdict::Fail);
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
        assert_eq!(outcome.verdict(), Verdict::Fail);
        let d = diagnosis(&outcome);
        assert_eq!(
            diagnosis(&outcome).code,
            Some(FailureCode::OpenCostWithoutPrometheus)
        );
        assert!(d.observed.contains("error querying prometheus"), "{d:?}");
        assert!(d.next_command.contains("prometheus-system"));
    }

    #[test]
    fn e1_fails_without_a_reachable_api() {
        let mut obs = healthy();
        obs.url = None;
        let outcome = evaluate_opencost_ready(&obs);
        assert_eq!(outcome.verdict(), Verdict::Fail);
        assert!(diagnosis(&outcome)
            .next_command
            .contains("port-forward svc/opencost"));
        let mut obs = healthy();
        obs.health = Some(Ok((503, "unhealthy".into())));
        assert_eq!(evaluate_opencost_ready(&obs).verdict(), Verdict::Fail);
        let mut obs = healthy();
        obs.deployments.clear();
        assert_eq!(evaluate_opencost_ready(&obs).verdict(), Verdict::Fail);
    }
}
