//! The inference client the serving checks share (B4, C3, F3, F4) and `neuroscale probe` wraps:
//! KServe V1/V2 predict requests sent the way users' traffic goes (through the Kourier gateway
//! with the InferenceService's Host header, or straight to a URL), answers validated against
//! known inputs, load with latency percentiles, and cold start. `forward` reaches a gateway
//! Service from outside the cluster over a kube-rs port-forward.
//!
//! Load runs open loop by default (`open_loop`: a fixed rate, latency from each request's
//! intended send time, so a stalled server cannot hide); the closed loop (`closed_loop`) stays
//! for throughput. `figures` holds what a run measured and how an SLO is judged on it.

mod closed_loop;
pub mod figures;
pub mod forward;
pub mod iris;
mod load;
mod open_loop;
mod protocol;

use std::time::{Duration, Instant};

use reqwest::header::{CONTENT_TYPE, HOST};
use serde::Serialize;
use serde_json::Value;

pub use figures::{
    ErrorKind, InvalidReason, LoadReport, Method, PercentileFigure, Quantile, RequestFailure,
    Threshold, Violation, WarmupReport,
};
pub use load::{
    run_exchange, run_load, thresholds, ClosedLoop, Exchange, LoadSpec, OpenLoop, PredictExchange,
    SpecError,
};

use crate::scenario::Protocol;

/// Every request the probe sends carries this deadline, so no probe waits forever on a gateway
/// that accepted the connection and never answered.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// An HTTP client for the probe. reqwest is built without a bundled TLS crypto provider (kube
/// and reqwest share rustls with ring), so the ring provider is installed first; installing it
/// again is harmless. Connection pooling stays on: steady-state latency is what the SLO covers.
pub fn http_client() -> reqwest::Result<reqwest::Client> {
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::builder().build()
}

/// Where inference requests go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// Scheme, host and port the TCP connection goes to: the Kourier gateway (k3d's mapped port
    /// or a port-forward) or the model server itself. No trailing path.
    pub base_url: String,
    /// The Host header: the InferenceService's `status.url` host when going through Kourier,
    /// which routes on it. `None` sends the base URL's own host.
    pub host: Option<String>,
    /// The model name in the predict path (the InferenceService name on KServe).
    pub model: String,
    pub protocol: Protocol,
}

impl Target {
    /// `POST` here to predict: `/v1/models/NAME:predict` or `/v2/models/NAME/infer`
    /// (kserve python/kserve/kserve/protocol/rest/v1_endpoints.py, v2_endpoints.py).
    pub fn predict_url(&self) -> String {
        let base = self.base_url.trim_end_matches('/');
        match self.protocol {
            Protocol::V1 => format!("{base}/v1/models/{}:predict", self.model),
            Protocol::V2 => format!("{base}/v2/models/{}/infer", self.model),
        }
    }

    /// `GET` here for model readiness: `/v1/models/NAME` answers `{"ready": true}`,
    /// `/v2/models/NAME/ready` answers 200 when ready.
    pub fn ready_url(&self) -> String {
        let base = self.base_url.trim_end_matches('/');
        match self.protocol {
            Protocol::V1 => format!("{base}/v1/models/{}", self.model),
            Protocol::V2 => format!("{base}/v2/models/{}/ready", self.model),
        }
    }

    /// The target for an InferenceService reached through the gateway at `gateway_base_url`:
    /// the model is `metadata.name` (KServe's runtimes serve under the ISVC name) and the Host
    /// header is the host of `status.url`, which Kourier routes on (with
    /// `disableIstioVirtualHost` it is the predictor ksvc URL).
    pub fn for_inference_service(
        isvc: &Value,
        gateway_base_url: &str,
        protocol: Protocol,
    ) -> Result<Target, ProbeError> {
        let name = isvc
            .pointer("/metadata/name")
            .and_then(Value::as_str)
            .ok_or_else(|| {
                ProbeError::InvalidRequest("the InferenceService has no metadata.name".into())
            })?;
        let url = isvc
            .pointer("/status/url")
            .and_then(Value::as_str)
            .ok_or_else(|| {
                ProbeError::InvalidRequest(format!(
                    "InferenceService {name} has no status.url yet (not Ready, or no ingress route)"
                ))
            })?;
        let host = host_of_url(url).ok_or_else(|| {
            ProbeError::InvalidRequest(format!(
                "InferenceService {name} has status.url {url:?}, which has no host"
            ))
        })?;
        Ok(Target {
            base_url: gateway_base_url.to_string(),
            host: Some(host),
            model: name.to_string(),
            protocol,
        })
    }

    fn request(
        &self,
        client: &reqwest::Client,
        method: reqwest::Method,
        url: &str,
    ) -> reqwest::RequestBuilder {
        let mut builder = client.request(method, url).timeout(REQUEST_TIMEOUT);
        if let Some(host) = &self.host {
            builder = builder.header(HOST, host);
        }
        builder
    }

    /// The error for a request to `url` that got no (complete) answer.
    fn request_error(&self, url: &str) -> impl FnOnce(reqwest::Error) -> ProbeError + '_ {
        let url = url.to_string();
        move |source| ProbeError::Request {
            url,
            host: self.host.clone(),
            // The URL is already in our message.
            source: source.without_url(),
        }
    }
}

/// The Host header value for `url`: its host, plus the port when it is not the scheme's default.
pub fn host_of_url(url: &str) -> Option<String> {
    let parsed = reqwest::Url::parse(url).ok()?;
    let host = parsed.host_str()?;
    Some(match parsed.port() {
        Some(port) => format!("{host}:{port}"),
        None => host.to_string(),
    })
}

/// Why a probe request did not yield trustworthy predictions.
#[derive(Debug, thiserror::Error)]
pub enum ProbeError {
    #[error("request to {url} failed{}", host_note(.host))]
    Request {
        url: String,
        host: Option<String>,
        #[source]
        source: reqwest::Error,
    },
    #[error("{url}{} answered HTTP {status}: {body}{}", host_note(.host), status_hint(*.status))]
    Status {
        url: String,
        host: Option<String>,
        status: u16,
        body: String,
    },
    #[error("{url} answered a body that is not the KServe {protocol} shape: {reason}")]
    Shape {
        url: String,
        protocol: &'static str,
        reason: String,
    },
    #[error("{url} answered {got} predictions for {sent} input rows")]
    PredictionCount {
        url: String,
        sent: usize,
        got: usize,
    },
    #[error("invalid probe request: {0}")]
    InvalidRequest(String),
    #[error("model {model} at {url} was not ready within {deadline:?}; last seen: {last_seen}")]
    NotReady {
        model: String,
        url: String,
        deadline: Duration,
        last_seen: String,
    },
}

fn host_note(host: &Option<String>) -> String {
    host.as_ref()
        .map(|h| format!(" (Host: {h})"))
        .unwrap_or_default()
}

/// The status codes whose cause is well known on a Kourier + KServe platform.
fn status_hint(status: u16) -> &'static str {
    match status {
        404 => " (from Kourier this means a wrong Host header or domain; from the model server, an unknown model name)",
        503 => " (no ready revision behind the route yet)",
        _ => "",
    }
}

impl ProbeError {
    /// True when nothing answered at all (connection refused, DNS, timeout): an environment
    /// problem rather than a wrong answer.
    pub fn is_unreachable(&self) -> bool {
        matches!(self, ProbeError::Request { source, .. } if source.is_connect() || source.is_timeout())
    }
}

fn protocol_name(protocol: Protocol) -> &'static str {
    match protocol {
        Protocol::V1 => "V1",
        Protocol::V2 => "V2",
    }
}

/// Sends one predict request with `rows` and returns one prediction per row.
///
/// Errors when the server does not answer 2xx, the answer is not the protocol's shape, or the
/// number of predictions differs from the number of rows.
pub async fn predict(
    client: &reqwest::Client,
    target: &Target,
    rows: &[Vec<f64>],
) -> Result<Vec<Value>, ProbeError> {
    let body = protocol::request_body(target.protocol, rows)?;
    send_predict(client, target, body, rows.len()).await
}

/// Sends a prepared body: the load generator serialises it once and sends it many times.
pub(crate) async fn send_predict(
    client: &reqwest::Client,
    target: &Target,
    body: Vec<u8>,
    rows: usize,
) -> Result<Vec<Value>, ProbeError> {
    let url = target.predict_url();
    // The V1 route parses JSON only when Content-Type is exactly `application/json`,
    // with no charset parameter.
    let response = target
        .request(client, reqwest::Method::POST, &url)
        .header(CONTENT_TYPE, "application/json")
        .body(body)
        .send()
        .await
        .map_err(target.request_error(&url))?;
    let status = response.status();
    let bytes = response.bytes().await.map_err(target.request_error(&url))?;
    if !status.is_success() {
        return Err(ProbeError::Status {
            url,
            host: target.host.clone(),
            status: status.as_u16(),
            body: excerpt(&bytes),
        });
    }
    let predictions =
        protocol::parse_predictions(target.protocol, &bytes, rows).map_err(|reason| {
            ProbeError::Shape {
                url: url.clone(),
                protocol: protocol_name(target.protocol),
                reason,
            }
        })?;
    if predictions.len() != rows {
        return Err(ProbeError::PredictionCount {
            url,
            sent: rows,
            got: predictions.len(),
        });
    }
    Ok(predictions)
}

/// At most this much of an error body goes into a message.
const EXCERPT_CHARS: usize = 300;

fn excerpt(bytes: &[u8]) -> String {
    let text = String::from_utf8_lossy(bytes);
    let text = text.trim();
    if text.chars().count() <= EXCERPT_CHARS {
        return text.to_string();
    }
    let cut: String = text.chars().take(EXCERPT_CHARS).collect();
    format!("{cut}…")
}

/// One row whose prediction differs from the expected one.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Mismatch {
    pub row: usize,
    pub input: Vec<f64>,
    pub expected: Value,
    pub got: Value,
}

/// The answer to known inputs, compared with the predictions they must yield.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Verdict {
    pub predictions: Vec<Value>,
    pub mismatches: Vec<Mismatch>,
    /// How long the predict request took.
    #[serde(with = "millis")]
    pub latency: Duration,
}

/// `verify_iris` answers with the general verdict.
pub type IrisVerdict = Verdict;

impl Verdict {
    pub fn is_correct(&self) -> bool {
        self.mismatches.is_empty()
    }

    /// One line for a report: "3/3 predictions as expected" or which rows differ.
    pub fn summary(&self) -> String {
        let total = self.predictions.len();
        if self.is_correct() {
            return format!("{total}/{total} predictions as expected");
        }
        let rows: Vec<String> = self
            .mismatches
            .iter()
            .map(|m| {
                format!(
                    "row {} {:?}: expected {}, got {}",
                    m.row, m.input, m.expected, m.got
                )
            })
            .collect();
        format!(
            "{} of {total} predictions wrong: {}",
            self.mismatches.len(),
            rows.join("; ")
        )
    }
}

/// Predicts `rows` and compares each prediction with `expected` (same length).
pub async fn verify(
    client: &reqwest::Client,
    target: &Target,
    rows: &[Vec<f64>],
    expected: &[Value],
) -> Result<Verdict, ProbeError> {
    if rows.len() != expected.len() {
        return Err(ProbeError::InvalidRequest(format!(
            "{} input rows but {} expected predictions",
            rows.len(),
            expected.len()
        )));
    }
    let started = Instant::now();
    let predictions = predict(client, target, rows).await?;
    let latency = started.elapsed();
    let mismatches = rows
        .iter()
        .zip(expected)
        .zip(&predictions)
        .enumerate()
        .filter(|(_, ((_, want), got))| !same_prediction(want, got))
        .map(|(row, ((input, want), got))| Mismatch {
            row,
            input: input.clone(),
            expected: want.clone(),
            got: got.clone(),
        })
        .collect();
    Ok(Verdict {
        predictions,
        mismatches,
        latency,
    })
}

/// Sends the iris samples with known classes (`iris::KNOWN_INPUTS`) and checks the classes.
pub async fn verify_iris(
    client: &reqwest::Client,
    target: &Target,
) -> Result<IrisVerdict, ProbeError> {
    verify(client, target, &iris::instances(), &iris::expected()).await
}

/// Numbers compare by value (a V2 INT64 `1` equals a scenario's `1` or `1.0`); anything else
/// compares as JSON.
fn same_prediction(expected: &Value, got: &Value) -> bool {
    match (expected.as_f64(), got.as_f64()) {
        (Some(a), Some(b)) => a == b,
        _ => expected == got,
    }
}

/// How long a freshly ready model took to become ready and to answer its first request.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ColdStart {
    /// From the call until the readiness endpoint said ready.
    #[serde(with = "millis")]
    pub until_ready: Duration,
    /// The first predict request after that, connection set-up included.
    #[serde(with = "millis")]
    pub first_request: Duration,
}

/// Polls the model's readiness endpoint until it says ready (or `deadline` passes), then times
/// the first predict request with the iris known inputs. Call it right after the model pod
/// became ready, with a client that has no pooled connection to the endpoint.
pub async fn cold_start(
    client: &reqwest::Client,
    target: &Target,
    deadline: Duration,
) -> Result<ColdStart, ProbeError> {
    let started = Instant::now();
    let url = target.ready_url();
    let mut pause = Duration::from_millis(50);
    loop {
        let last_seen = match model_ready(client, target, &url).await {
            Ok(true) => break,
            Ok(false) => "the model answered not ready".to_string(),
            Err(err) => error_chain(&err),
        };
        if started.elapsed() + pause > deadline {
            return Err(ProbeError::NotReady {
                model: target.model.clone(),
                url,
                deadline,
                last_seen,
            });
        }
        tokio::time::sleep(pause).await;
        pause = (pause * 2).min(Duration::from_secs(1));
    }
    let until_ready = started.elapsed();
    let first = Instant::now();
    predict(client, target, &iris::instances()).await?;
    Ok(ColdStart {
        until_ready,
        first_request: first.elapsed(),
    })
}

async fn model_ready(
    client: &reqwest::Client,
    target: &Target,
    url: &str,
) -> Result<bool, ProbeError> {
    let response = target
        .request(client, reqwest::Method::GET, url)
        .send()
        .await
        .map_err(target.request_error(url))?;
    let status = response.status();
    let bytes = response.bytes().await.unwrap_or_default();
    if !status.is_success() {
        return Err(ProbeError::Status {
            url: url.to_string(),
            host: target.host.clone(),
            status: status.as_u16(),
            body: excerpt(&bytes),
        });
    }
    Ok(match target.protocol {
        // V2 answers 200 only when ready; V1 answers {"name":..., "ready": bool}.
        Protocol::V2 => true,
        Protocol::V1 => serde_json::from_slice::<Value>(&bytes)
            .ok()
            .and_then(|v| v.get("ready").and_then(Value::as_bool))
            .unwrap_or(false),
    })
}

/// An error and its causes on one line ("a: b: c").
pub fn error_chain(err: &dyn std::error::Error) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

/// Durations as fractional milliseconds in JSON reports.
pub(crate) mod millis {
    use std::time::Duration;

    pub fn serialize<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_f64(d.as_secs_f64() * 1000.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn target(protocol: Protocol) -> Target {
        Target {
            base_url: "http://127.0.0.1:8081/".into(),
            host: Some("sklearn-iris-predictor.models.127.0.0.1.sslip.io".into()),
            model: "sklearn-iris".into(),
            protocol,
        }
    }

    #[test]
    fn urls_follow_the_kserve_routes() {
        assert_eq!(
            target(Protocol::V1).predict_url(),
            "http://127.0.0.1:8081/v1/models/sklearn-iris:predict"
        );
        assert_eq!(
            target(Protocol::V2).predict_url(),
            "http://127.0.0.1:8081/v2/models/sklearn-iris/infer"
        );
        assert_eq!(
            target(Protocol::V1).ready_url(),
            "http://127.0.0.1:8081/v1/models/sklearn-iris"
        );
        assert_eq!(
            target(Protocol::V2).ready_url(),
            "http://127.0.0.1:8081/v2/models/sklearn-iris/ready"
        );
    }

    // An InferenceService as KServe reports it with Kourier and disableIstioVirtualHost
    // (pkg/apis/serving/v1beta1/inference_service_status.go).
    #[test]
    fn an_inference_service_gives_the_model_and_host() {
        let isvc = json!({
            "apiVersion": "serving.kserve.io/v1beta1",
            "kind": "InferenceService",
            "metadata": {"name": "sklearn-iris", "namespace": "models"},
            "status": {
                "url": "http://sklearn-iris-predictor.models.127.0.0.1.sslip.io",
                "address": {"url": "http://sklearn-iris-predictor.models.svc.cluster.local"},
            },
        });
        let target =
            Target::for_inference_service(&isvc, "http://127.0.0.1:8081", Protocol::V2).unwrap();
        assert_eq!(target.model, "sklearn-iris");
        assert_eq!(
            target.host.as_deref(),
            Some("sklearn-iris-predictor.models.127.0.0.1.sslip.io")
        );
        assert_eq!(
            target.predict_url(),
            "http://127.0.0.1:8081/v2/models/sklearn-iris/infer"
        );

        let pending = json!({"metadata": {"name": "m"}, "status": {}});
        let err = Target::for_inference_service(&pending, "http://x", Protocol::V1).unwrap_err();
        assert!(
            err.to_string()
                .contains("InferenceService m has no status.url"),
            "{err}"
        );
    }

    #[test]
    fn hosts_keep_non_default_ports() {
        assert_eq!(
            host_of_url("http://a.example.com:8080/x").as_deref(),
            Some("a.example.com:8080")
        );
        assert_eq!(
            host_of_url("https://a.example.com/").as_deref(),
            Some("a.example.com")
        );
        assert_eq!(host_of_url("not a url"), None);
    }

    #[test]
    fn integer_and_float_predictions_compare_by_value() {
        assert!(same_prediction(&json!(1), &json!(1.0)));
        assert!(!same_prediction(&json!(1), &json!(2)));
        assert!(same_prediction(&json!("setosa"), &json!("setosa")));
        assert!(!same_prediction(&json!("setosa"), &json!(0)));
    }

    #[test]
    fn a_verdict_names_the_wrong_rows() {
        let verdict = Verdict {
            predictions: vec![json!(1), json!(2)],
            mismatches: vec![Mismatch {
                row: 1,
                input: vec![5.1, 3.5, 1.4, 0.2],
                expected: json!(0),
                got: json!(2),
            }],
            latency: Duration::from_millis(3),
        };
        assert!(!verdict.is_correct());
        let summary = verdict.summary();
        assert!(summary.contains("1 of 2 predictions wrong"), "{summary}");
        assert!(summary.contains("expected 0, got 2"), "{summary}");
    }

    #[test]
    fn long_error_bodies_are_cut() {
        let long = "x".repeat(1000);
        let cut = excerpt(long.as_bytes());
        assert_eq!(cut.chars().count(), EXCERPT_CHARS + 1);
        assert_eq!(
            excerpt(b"  {\"error\": \"boom\"}\n"),
            "{\"error\": \"boom\"}"
        );
    }

    #[test]
    fn status_errors_explain_kourier_404s() {
        let err = ProbeError::Status {
            url: "http://127.0.0.1:8081/v1/models/m:predict".into(),
            host: Some("m-predictor.models.example.com".into()),
            status: 404,
            body: String::new(),
        };
        let text = err.to_string();
        assert!(
            text.contains("Host: m-predictor.models.example.com"),
            "{text}"
        );
        assert!(text.contains("wrong Host header"), "{text}");
    }
}
