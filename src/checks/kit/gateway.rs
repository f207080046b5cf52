//! The one client checks use to reach a model through the Kourier gateway (B4, C3, F3, F4): the
//! gateway's base URL (k3d's mapped port, `--ingress-url`, or a port-forward to the `kourier`
//! Service, never a pod), and per InferenceService the Host header Kourier routes on (the host
//! of its `status.url`). It sends known rows and judges the answers, or runs a load through
//! `crate::probe`.

use std::time::Duration;

use serde_json::Value;

use super::diagnose;
use crate::checks::env::CheckEnv;
use crate::checks::outcome::{Diagnosis, Outcome};
use crate::platform::views::{self, InferenceService};
use crate::probe::{self, ProbeError};
use crate::readiness;
use crate::scenario::{ModelProbe, Protocol};

/// The gateway, as this run reaches it.
#[derive(Debug, Clone)]
pub struct Gateway {
    pub base_url: String,
    http: reqwest::Client,
}

/// The FAIL of a check that needs the gateway when the run has no route to it.
pub fn no_route() -> Outcome {
    Outcome::fail(
        "no route to the Kourier gateway",
        Diagnosis::new(
            "the runner found no ingress URL (no k3d port mapped to the kourier Service, no --ingress-url, no port-forward possible)",
            "the Kourier gateway is not reachable from this machine; a pod port-forward is not the ingress path and is not used",
            "kubectl -n kourier-system get pods,svc && neuroscale doctor",
        ),
    )
}

/// The host of an InferenceService's `status.url`: the Host header Kourier routes on (with
/// `disableIstioVirtualHost` it is the predictor ksvc URL).
pub fn host_of(isvc: &InferenceService) -> Option<String> {
    probe::host_of_url(views::isvc_url(isvc)?)
}

/// The Host header of a model that is ready to serve, or what is wrong with it.
pub fn ready_host(isvc: &InferenceService) -> Result<String, String> {
    let name = isvc.metadata.name.as_deref().unwrap_or("?");
    let ready = readiness::inference_service(isvc);
    if !ready.ready {
        return Err(ready.observed);
    }
    host_of(isvc).ok_or_else(|| {
        format!(
            "inferenceservice {name} status.url {:?} has no host",
            views::isvc_url(isvc).unwrap_or_default()
        )
    })
}

impl Gateway {
    pub fn new(http: reqwest::Client, base_url: impl Into<String>) -> Gateway {
        Gateway {
            base_url: base_url.into(),
            http,
        }
    }

    /// The run's gateway, or the FAIL saying there is no route to it.
    pub fn of(env: &CheckEnv) -> Result<Gateway, Box<Outcome>> {
        match &env.ingress_url {
            Some(url) => Ok(Gateway::new(env.http.clone(), url.clone())),
            None => Err(Box::new(no_route())),
        }
    }

    /// Where requests for `model` with Host `host` go.
    pub fn target(&self, host: &str, model: &str, protocol: Protocol) -> probe::Target {
        probe::Target {
            base_url: self.base_url.clone(),
            host: Some(host.to_string()),
            model: model.to_string(),
            protocol,
        }
    }

    /// Sends `model`'s known rows to the InferenceService, with the Host header of its
    /// `status.url`, and keeps the answer for judging.
    pub async fn ask(&self, isvc: &InferenceService, model: &ModelProbe) -> ModelAnswer {
        let host = host_of(isvc).unwrap_or_default();
        let target = self.target(
            &host,
            isvc.metadata.name.as_deref().unwrap_or_default(),
            model.protocol,
        );
        let result = probe::verify(&self.http, &target, &model.instances, &model.expected).await;
        ModelAnswer {
            model: model.clone(),
            host,
            answer: ProbeAnswer::from_probe(result),
        }
    }

    /// Predicts `rows` at `target` and compares with `expected`.
    pub async fn verify(
        &self,
        target: &probe::Target,
        rows: &[Vec<f64>],
        expected: &[Value],
    ) -> Result<probe::Verdict, ProbeError> {
        probe::verify(&self.http, target, rows, expected).await
    }

    /// A load run at `target` (the latency measurement).
    pub async fn load(
        &self,
        target: &probe::Target,
        spec: &probe::LoadSpec,
    ) -> Result<probe::LoadReport, ProbeError> {
        probe::run_load(&self.http, target, spec).await
    }
}

/// How one model's predict request through the gateway went.
#[derive(Debug, Clone, PartialEq)]
pub enum ProbeAnswer {
    /// The server answered 2xx with these predictions, in `latency`.
    Predictions {
        predictions: Vec<Value>,
        latency: Duration,
    },
    /// The server answered a non-2xx status.
    Status { status: u16, body: String },
    /// The server answered a number of predictions other than the number of rows sent.
    Count { sent: usize, got: usize },
    /// Nothing answered (connection refused, timeout).
    Unreachable(String),
    /// The body was not the protocol's shape.
    Malformed(String),
}

/// One model's request and its answer.
#[derive(Debug, Clone, PartialEq)]
pub struct ModelAnswer {
    pub model: ModelProbe,
    /// The Host header sent (the InferenceService's `status.url` host).
    pub host: String,
    pub answer: ProbeAnswer,
}

impl ProbeAnswer {
    /// What the probe's result says, in the terms the checks judge.
    pub fn from_probe(result: Result<probe::Verdict, ProbeError>) -> ProbeAnswer {
        match result {
            Ok(verdict) => ProbeAnswer::Predictions {
                predictions: verdict.predictions,
                latency: verdict.latency,
            },
            Err(ProbeError::Status { status, body, .. }) => ProbeAnswer::Status { status, body },
            Err(ProbeError::PredictionCount { sent, got, .. }) => ProbeAnswer::Count { sent, got },
            Err(ProbeError::Shape { reason, .. }) => ProbeAnswer::Malformed(reason),
            Err(other) => ProbeAnswer::Unreachable(probe::error_chain(&other)),
        }
    }

    /// Whether asking again may help: the gateway or the revision was not up yet.
    pub fn is_transient(&self) -> bool {
        match self {
            ProbeAnswer::Status { status, .. } => matches!(status, 502..=504),
            ProbeAnswer::Unreachable(_) => true,
            _ => false,
        }
    }
}

fn same_prediction(expected: &Value, got: &Value) -> bool {
    match (expected.as_f64(), got.as_f64()) {
        (Some(a), Some(b)) => a == b,
        _ => expected == got,
    }
}

/// The judgement of answers through the gateway: every model answered with exactly one
/// prediction per input row, each the expected one. No answer at all is a FAIL.
pub fn evaluate_answers(answers: &[ModelAnswer], ingress_url: &str) -> Outcome {
    let mut failures: Vec<(String, String, String)> = Vec::new();
    let mut latencies = Vec::new();
    for a in answers {
        let who = format!("{} (Host: {})", a.model.name, a.host);
        let curl = format!(
            "curl -sS -H 'Host: {}' -H 'Content-Type: application/json' {ingress_url}/v1/models/{}",
            a.host, a.model.name
        );
        match &a.answer {
            ProbeAnswer::Predictions {
                predictions,
                latency,
            } => {
                let sent = a.model.instances.len();
                if predictions.len() != sent {
                    failures.push((
                        format!("{who} answered {} predictions for {sent} input rows: {predictions:?}", predictions.len()),
                        "the answer does not belong to this request: the body was not parsed as sent (Content-Type must be exactly application/json) or another model serves this route".into(),
                        curl,
                    ));
                    continue;
                }
                let wrong: Vec<String> = a
                    .model
                    .expected
                    .iter()
                    .zip(predictions)
                    .enumerate()
                    .filter(|(_, (want, got))| !same_prediction(want, got))
                    .map(|(row, (want, got))| format!("row {row}: expected {want}, got {got}"))
                    .collect();
                if wrong.is_empty() {
                    latencies.push(latency.as_secs_f64() * 1000.0);
                } else {
                    failures.push((
                        format!("{who} answered wrong predictions: {}", wrong.join("; ")),
                        "a different model or model version is served at this route than the scenario expects (storageUri changed?)".into(),
                        curl,
                    ));
                }
            }
            ProbeAnswer::Status { status, body } => {
                let cause = match status {
                    404 => "Kourier has no route for this Host: wrong Host header or the cluster-local domain, or the model name is unknown to the server",
                    503 | 502 => "no ready revision behind the route (predictor pods not ready or scaled to zero)",
                    500 => "the model server failed on the request (wrong feature count, or the body was not parsed as JSON)",
                    _ => "the gateway or the model server refused the request",
                };
                failures.push((format!("{who} answered HTTP {status}: {body}"), cause.into(), curl));
            }
            ProbeAnswer::Count { sent, got } => failures.push((
                format!("{who} answered {got} predictions for {sent} input rows"),
                "the answer does not belong to this request: the body was not parsed as sent (Content-Type must be exactly application/json) or another model serves this route".into(),
                curl,
            )),
            ProbeAnswer::Unreachable(reason) => failures.push((
                format!("the gateway at {ingress_url} did not answer for {who}: {reason}"),
                "the Kourier gateway is not reachable from here: the k3d load balancer port is not mapped, or the kourier Service has no address (check B2)".into(),
                "neuroscale doctor".into(),
            )),
            ProbeAnswer::Malformed(reason) => failures.push((
                format!("{who} answered a body that is not a KServe prediction: {reason}"),
                "something other than the model server answered (an error page from a proxy, or a non-KServe runtime)".into(),
                curl,
            )),
        }
    }
    if answers.is_empty() {
        return Outcome::fail(
            "no model to send a request to",
            Diagnosis::new(
                "the scenario names no CPU model",
                "at least one model with known inputs is needed",
                "neuroscale check --list",
            ),
        );
    }
    if failures.is_empty() {
        let worst = latencies.iter().copied().fold(0.0, f64::max);
        let rows: usize = answers.iter().map(|a| a.model.instances.len()).sum();
        return Outcome::pass(format!(
            "{} model(s) answered {rows} known rows correctly through Kourier, slowest {worst:.0} ms",
            answers.len()
        ))
        .with_figure("latency_max_ms", worst, "ms");
    }
    let (_, likely, next) = failures[0].clone();
    Outcome::fail(
        format!(
            "{}/{} models answered correctly through the gateway",
            answers.len() - failures.len(),
            answers.len()
        ),
        Diagnosis::new(
            failures
                .iter()
                .map(|(o, _, _)| o.as_str())
                .collect::<Vec<_>>()
                .join("; "),
            likely,
            next,
        ),
    )
}

/// The FAIL for a model that cannot be asked: absent, or not ready to serve.
pub fn not_servable(namespace: &str, name: &str, isvc: Option<&InferenceService>) -> Outcome {
    match isvc {
        None => Outcome::fail(
            format!("inferenceservice {namespace}/{name} does not exist"),
            Diagnosis::new(
                format!("no inferenceservice {name} in {namespace}"),
                "the model's Application has not synced (ApplicationSet model-endpoints)",
                "kubectl -n argocd get applications",
            ),
        ),
        Some(isvc) => Outcome::fail(
            format!("inferenceservice {namespace}/{name} is not ready to serve"),
            Diagnosis::new(
                ready_host(isvc).err().unwrap_or_default(),
                diagnose::isvc_likely_cause(isvc),
                format!("kubectl -n {namespace} describe inferenceservice {name}"),
            )
            .with_code_opt(diagnose::isvc_failure_code(isvc)),
        ),
    }
}

#[cfg(test)]
mod tests;
