//! The sim's data-plane HTTP endpoints, derived from the stored objects: the "Kourier gateway"
//! (routes by Host header to a Ready InferenceService and answers as KServe's sklearn server
//! does, V1 `/v1/models/<m>:predict` and V2 `/v2/models/<m>/infer`) and the OpenCost API
//! (`/healthz`, `/allocation/compute` aggregated by namespace or `label:<key>` from the sim's
//! pods).
//!
//! Shapes: KServe data-plane protocols (kserve docs "V1 protocol" and "Open Inference Protocol
//! (V2)"; python/kserve/kserve/protocol/rest), OpenCost pkg/costmodel/aggregation.go and
//! core/pkg/opencost/allocation_json.go.

use std::collections::{BTreeMap, HashMap};
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::{Request, Response, StatusCode};
use serde_json::{json, Value};
use tokio::net::TcpListener;

use crate::controllers::Behaviour;
use crate::server::{Body, Shared};

fn full(bytes: impl Into<Bytes>) -> Body {
    Full::new(bytes.into()).boxed()
}

fn respond(code: StatusCode, body: &Value) -> Response<Body> {
    Response::builder()
        .status(code)
        .header("content-type", "application/json")
        .body(full(serde_json::to_vec(body).expect("JSON")))
        .expect("valid response")
}

fn str_at<'a>(value: &'a Value, pointer: &str) -> &'a str {
    value.pointer(pointer).and_then(Value::as_str).unwrap_or("")
}

/// Which endpoint a listener serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Endpoint {
    Gateway,
    OpenCost,
}

/// Serves `endpoint` on 127.0.0.1:0 until the task is aborted.
pub async fn serve(
    endpoint: Endpoint,
    api: Arc<Shared>,
    behaviour: Arc<Mutex<Behaviour>>,
) -> std::io::Result<(SocketAddr, tokio::task::JoinHandle<()>)> {
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let address = listener.local_addr()?;
    let task = tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                continue;
            };
            let api = api.clone();
            let behaviour = behaviour.clone();
            tokio::spawn(async move {
                let service = hyper::service::service_fn(move |request| {
                    let api = api.clone();
                    let behaviour = behaviour.clone();
                    async move {
                        Ok::<_, Infallible>(match endpoint {
                            Endpoint::Gateway => gateway(api, behaviour, request).await,
                            Endpoint::OpenCost => opencost(api, behaviour, request).await,
                        })
                    }
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(hyper_util::rt::TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    Ok((address, task))
}

/// A deterministic iris classifier (the classic petal-length/width decision tree): good enough
/// to give the known answers of KServe's e2e iris inputs (test/e2e/data/iris_input.json).
pub fn iris_class(features: &[f64]) -> i64 {
    let petal_length = features.get(2).copied().unwrap_or(0.0);
    let petal_width = features.get(3).copied().unwrap_or(0.0);
    if petal_length < 2.45 {
        0
    } else if petal_width < 1.75 && petal_length < 4.95 {
        1
    } else {
        2
    }
}

fn ready_isvc_for_host(api: &Shared, host: &str) -> Option<Value> {
    let state = api.state.lock().expect("sim state lock");
    let resource = state
        .resource_for("serving.kserve.io/v1beta1", "InferenceService")
        .ok()?;
    state
        .list(&resource, None, None, None)
        .into_iter()
        .find(|isvc| {
            let url = str_at(isvc, "/status/url");
            let url_host = url
                .split("://")
                .nth(1)
                .unwrap_or("")
                .split('/')
                .next()
                .unwrap_or("");
            !url_host.is_empty()
                && url_host == host
                && isvc
                    .pointer("/status/conditions")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                    .any(|c| str_at(c, "/type") == "Ready" && str_at(c, "/status") == "True")
        })
}

async fn gateway(
    api: Arc<Shared>,
    behaviour: Arc<Mutex<Behaviour>>,
    request: Request<Incoming>,
) -> Response<Body> {
    let host = request
        .headers()
        .get("host")
        .and_then(|h| h.to_str().ok())
        .unwrap_or("")
        .split(':')
        .next()
        .unwrap_or("")
        .to_string();
    let path = request.uri().path().to_string();
    let method = request.method().clone();
    let body = request
        .into_body()
        .collect()
        .await
        .map(|b| b.to_bytes())
        .unwrap_or_default();
    let (delay, wrong) = {
        let b = behaviour.lock().expect("behaviour lock");
        (b.inference_delay, b.wrong_prediction)
    };
    // Envoy answers an unknown Host with 404 and an empty body.
    let Some(isvc) = ready_isvc_for_host(&api, &host) else {
        return Response::builder()
            .status(StatusCode::NOT_FOUND)
            .body(full(""))
            .expect("valid response");
    };
    if !delay.is_zero() {
        tokio::time::sleep(delay).await;
    }
    let name = str_at(&isvc, "/metadata/name").to_string();
    let classify = |rows: &[Vec<f64>]| -> Vec<i64> {
        rows.iter()
            .map(|r| wrong.unwrap_or_else(|| iris_class(r)))
            .collect()
    };
    let segments: Vec<&str> = path.trim_matches('/').split('/').collect();
    match (method.as_str(), segments.as_slice()) {
        ("GET", ["v1", "models", model]) if *model == name => {
            respond(StatusCode::OK, &json!({"name": name, "ready": true}))
        }
        ("POST", ["v1", "models", call]) if *call == format!("{name}:predict") => {
            let Ok(parsed) = serde_json::from_slice::<Value>(&body) else {
                return respond(
                    StatusCode::BAD_REQUEST,
                    &json!({"error": "Unrecognized request format: expecting JSON"}),
                );
            };
            let rows: Vec<Vec<f64>> = match serde_json::from_value(
                parsed.get("instances").cloned().unwrap_or(Value::Null),
            ) {
                Ok(rows) => rows,
                Err(e) => {
                    return respond(
                        StatusCode::BAD_REQUEST,
                        &json!({"error": format!("Expected \"instances\" to be a list of rows: {e}")}),
                    )
                }
            };
            respond(StatusCode::OK, &json!({"predictions": classify(&rows)}))
        }
        ("GET", ["v2", "health", "ready" | "live"]) => {
            respond(StatusCode::OK, &json!({"ready": true, "live": true}))
        }
        ("GET", ["v2", "models", model]) if *model == name => respond(
            StatusCode::OK,
            &json!({"name": name, "platform": "", "inputs": [], "outputs": []}),
        ),
        ("GET", ["v2", "models", model, "ready"]) if *model == name => {
            respond(StatusCode::OK, &json!({"name": name, "ready": true}))
        }
        ("POST", ["v2", "models", model, "infer"]) if *model == name => {
            let Ok(parsed) = serde_json::from_slice::<Value>(&body) else {
                return respond(
                    StatusCode::BAD_REQUEST,
                    &json!({"error": "Unrecognized request format: expecting JSON"}),
                );
            };
            let input = parsed.pointer("/inputs/0").cloned().unwrap_or(Value::Null);
            let shape: Vec<usize> =
                serde_json::from_value(input.get("shape").cloned().unwrap_or(Value::Null))
                    .unwrap_or_default();
            let flat: Vec<f64> = match input.get("data") {
                Some(Value::Array(items)) => items
                    .iter()
                    .flat_map(|i| match i {
                        Value::Array(row) => {
                            row.iter().filter_map(Value::as_f64).collect::<Vec<_>>()
                        }
                        other => other.as_f64().into_iter().collect(),
                    })
                    .collect(),
                _ => Vec::new(),
            };
            let width = shape.get(1).copied().unwrap_or(4).max(1);
            let rows: Vec<Vec<f64>> = flat.chunks(width).map(|c| c.to_vec()).collect();
            let predictions = classify(&rows);
            respond(
                StatusCode::OK,
                &json!({
                    "model_name": name, "model_version": null,
                    "id": parsed.get("id").cloned().unwrap_or(json!("00000000-0000-0000-0000-000000000000")),
                    "parameters": null,
                    "outputs": [{"name": "output-0", "shape": [predictions.len()], "datatype": "INT64",
                                 "parameters": null, "data": predictions}]
                }),
            )
        }
        _ => respond(
            StatusCode::NOT_FOUND,
            &json!({"error": format!("Model with name {name} does not exist.")}),
        ),
    }
}

async fn opencost(
    api: Arc<Shared>,
    behaviour: Arc<Mutex<Behaviour>>,
    request: Request<Incoming>,
) -> Response<Body> {
    let (unhealthy, ignore_labels) = {
        let b = behaviour.lock().expect("behaviour lock");
        (b.opencost_unhealthy, b.opencost_ignores_labels)
    };
    let query: HashMap<String, String> = request
        .uri()
        .query()
        .map(|q| form_urlencoded::parse(q.as_bytes()).into_owned().collect())
        .unwrap_or_default();
    if unhealthy {
        return Response::builder()
            .status(StatusCode::SERVICE_UNAVAILABLE)
            .body(full(
                "upstream connect error or disconnect/reset before headers",
            ))
            .expect("valid response");
    }
    match request.uri().path() {
        "/healthz" => Response::new(full("")),
        "/allocation" | "/allocation/compute" => {
            if query.get("window").is_none_or(|w| w.is_empty()) {
                return respond(
                    StatusCode::BAD_REQUEST,
                    &json!({"code": 400, "status": "error", "message": "Invalid 'window' parameter: missing"}),
                );
            }
            let aggregate = query
                .get("aggregate")
                .cloned()
                .unwrap_or_else(|| "namespace".into());
            let pods = {
                let state = api.state.lock().expect("sim state lock");
                match state.resource_for("v1", "Pod") {
                    Ok(resource) => state.list(&resource, None, None, None),
                    Err(_) => Vec::new(),
                }
            };
            let mut groups: BTreeMap<String, (f64, f64)> = BTreeMap::new();
            for pod in &pods {
                let key = if aggregate == "namespace" {
                    str_at(pod, "/metadata/namespace").to_string()
                } else if let Some(label) = aggregate.strip_prefix("label:") {
                    let value = pod
                        .pointer("/metadata/labels")
                        .and_then(|l| l.get(label))
                        .and_then(Value::as_str);
                    match value {
                        Some(v) if !ignore_labels => v.to_string(),
                        _ => "__unallocated__".to_string(),
                    }
                } else {
                    return respond(
                        StatusCode::BAD_REQUEST,
                        &json!({"code": 400, "status": "error", "message": format!("Invalid 'aggregate' parameter: {aggregate}")}),
                    );
                };
                let entry = groups.entry(key).or_default();
                entry.0 += 0.0042;
                entry.1 += 0.0018;
            }
            let set: serde_json::Map<String, Value> = groups
                .into_iter()
                .map(|(name, (cpu, ram))| {
                    (name.clone(), json!({
                        "name": name, "properties": {"cluster": "default-cluster"},
                        "window": {"start": "2026-12-01T00:00:00Z", "end": "2026-12-01T01:00:00Z"},
                        "start": "2026-12-01T00:00:00Z", "end": "2026-12-01T01:00:00Z", "minutes": 60.0,
                        "cpuCores": 0.1, "cpuCoreHours": 0.1, "cpuCost": cpu, "gpuCount": 0.0, "gpuHours": 0.0, "gpuCost": 0.0,
                        "ramBytes": 268435456.0, "ramByteHours": 268435456.0, "ramCost": ram,
                        "pvCost": 0.0, "networkCost": 0.0, "loadBalancerCost": 0.0, "sharedCost": 0.0, "externalCost": 0.0,
                        "totalCost": cpu + ram, "totalEfficiency": 0.4
                    }))
                })
                .collect();
            respond(
                StatusCode::OK,
                &json!({"code": 200, "status": "success", "data": [set]}),
            )
        }
        _ => Response::builder()
            .status(StatusCode::NOT_FOUND)
            .body(full("404 page not found\n"))
            .expect("valid response"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_iris_tree_gives_kserves_known_answers() {
        assert_eq!(iris_class(&[6.8, 2.8, 4.8, 1.4]), 1);
        assert_eq!(iris_class(&[6.0, 3.4, 4.5, 1.6]), 1);
        assert_eq!(iris_class(&[5.1, 3.5, 1.4, 0.2]), 0);
        assert_eq!(iris_class(&[6.3, 3.3, 6.0, 2.5]), 2);
    }
}
