//! The HTTP face of the sim: routes Kubernetes REST paths (discovery, CRUD, status subresource,
//! watch) onto `State`, and writes errors as `metav1.Status`. Plain HTTP/1.1 on loopback;
//! kube-rs accepts an `http://` server URL in a kubeconfig.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use futures::StreamExt;
use http_body_util::{combinators::BoxBody, BodyExt, Full, StreamBody};
use hyper::body::{Frame, Incoming};
use hyper::{Method, Request, Response, StatusCode};
use serde_json::{json, Value};
use tokio::net::TcpListener;
use tokio::sync::broadcast;

use crate::apply::PatchKind;
use crate::resources::ResourceType;
use crate::selector::{FieldSelector, LabelSelector};
use crate::status::Status;
use crate::store::{Event, State, WriteOptions};

pub type Body = BoxBody<Bytes, Infallible>;

/// The Kubernetes version the sim reports (the k3s line neuroscale pins).
pub const GIT_VERSION: &str = "v1.34.8+k3s1";

/// What the server's handlers share.
pub struct Shared {
    pub state: Mutex<State>,
    pub address: SocketAddr,
    /// Every request received, in arrival order (tests assert on what a client sent).
    pub requests: Mutex<Vec<RecordedRequest>>,
}

/// One request as the sim received it.
#[derive(Debug, Clone)]
pub struct RecordedRequest {
    pub method: String,
    pub path: String,
    /// Decoded query parameters (`dryRun`, `fieldManager`, `force`, `watch`...).
    pub query: BTreeMap<String, String>,
    pub content_type: String,
    pub body: String,
}

fn full(bytes: impl Into<Bytes>) -> Body {
    Full::new(bytes.into()).boxed()
}

fn json_response(code: StatusCode, value: &Value) -> Response<Body> {
    Response::builder()
        .status(code)
        .header("content-type", "application/json")
        .body(full(serde_json::to_vec(value).expect("JSON serialises")))
        .expect("valid response")
}

fn status_response(status: &Status) -> Response<Body> {
    let code = StatusCode::from_u16(status.code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    json_response(code, &status.to_json())
}

/// Binds 127.0.0.1:0 and serves until the returned task is aborted.
pub async fn serve(state: State) -> std::io::Result<(Arc<Shared>, tokio::task::JoinHandle<()>)> {
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let address = listener.local_addr()?;
    let shared = Arc::new(Shared {
        state: Mutex::new(state),
        address,
        requests: Mutex::new(Vec::new()),
    });
    let for_loop = shared.clone();
    let task = tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                continue;
            };
            let shared = for_loop.clone();
            tokio::spawn(async move {
                let service = hyper::service::service_fn(move |request| {
                    let shared = shared.clone();
                    async move { Ok::<_, Infallible>(handle(shared, request).await) }
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(hyper_util::rt::TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    Ok((shared, task))
}

/// A parsed resource path: `/api/v1/...` or `/apis/<group>/<version>/...`.
struct ResourcePath {
    group: String,
    version: String,
    namespace: Option<String>,
    plural: String,
    name: Option<String>,
    subresource: Option<String>,
}

fn parse_resource_path(group: &str, version: &str, rest: &[&str]) -> Option<ResourcePath> {
    let mut rest = rest;
    let mut namespace = None;
    let is_namespace_itself =
        rest.len() <= 2 || (rest.len() == 3 && matches!(rest[2], "status" | "finalize"));
    let namespaced_path = if group.is_empty() {
        !is_namespace_itself
    } else {
        rest.len() >= 3
    };
    if rest.first() == Some(&"namespaces") && namespaced_path {
        namespace = Some(rest[1].to_string());
        rest = &rest[2..];
    }
    let plural = rest.first()?.to_string();
    Some(ResourcePath {
        group: group.to_string(),
        version: version.to_string(),
        namespace,
        plural,
        name: rest.get(1).map(|s| s.to_string()),
        subresource: (rest.len() > 2).then(|| rest[2..].join("/")),
    })
}

async fn handle(shared: Arc<Shared>, request: Request<Incoming>) -> Response<Body> {
    let path = request.uri().path().to_string();
    let query: HashMap<String, String> = request
        .uri()
        .query()
        .map(|q| form_urlencoded::parse(q.as_bytes()).into_owned().collect())
        .unwrap_or_default();
    let segments: Vec<&str> = path
        .trim_matches('/')
        .split('/')
        .filter(|s| !s.is_empty())
        .collect();
    let method = request.method().clone();
    let content_type = request
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("application/json")
        .to_string();
    let body = match request.into_body().collect().await {
        Ok(collected) => collected.to_bytes(),
        Err(e) => return status_response(&Status::bad_request(format!("unreadable body: {e}"))),
    };
    shared
        .requests
        .lock()
        .expect("sim request log lock")
        .push(RecordedRequest {
            method: method.to_string(),
            path: path.clone(),
            query: query.iter().map(|(k, v)| (k.clone(), v.clone())).collect(),
            content_type: content_type.clone(),
            body: String::from_utf8_lossy(&body).into_owned(),
        });

    let state = || shared.state.lock().expect("sim state lock");
    match segments.as_slice() {
        ["version"] => json_response(
            StatusCode::OK,
            &json!({"major": "1", "minor": "34", "gitVersion": GIT_VERSION, "platform": "linux/amd64",
                    "goVersion": "go1.24.11", "compiler": "gc"}),
        ),
        ["healthz" | "readyz" | "livez"] => Response::new(full("ok")),
        ["api"] => json_response(
            StatusCode::OK,
            &state().registry.core_versions(&shared.address.to_string()),
        ),
        ["apis"] => json_response(StatusCode::OK, &state().registry.group_list()),
        ["apis", group] => match state().registry.group(group) {
            Some(doc) => json_response(StatusCode::OK, &doc),
            None => status_response(&Status::no_such_path()),
        },
        ["api", "v1"] => list_or_404(state().registry.resource_list("", "v1")),
        ["apis", group, version] => list_or_404(state().registry.resource_list(group, version)),
        ["api", "v1", rest @ ..] => {
            resource_request(&shared, "", "v1", rest, method, &query, &content_type, body).await
        }
        ["apis", group, version, rest @ ..] => {
            resource_request(
                &shared,
                group,
                version,
                rest,
                method,
                &query,
                &content_type,
                body,
            )
            .await
        }
        _ => status_response(&Status::no_such_path()),
    }
}

fn list_or_404(document: Option<Value>) -> Response<Body> {
    match document {
        Some(doc) => json_response(StatusCode::OK, &doc),
        None => status_response(&Status::no_such_path()),
    }
}

fn with_version(mut object: Value, resource: &ResourceType, version: &str) -> Value {
    object["apiVersion"] = json!(resource.api_version(version));
    object
}

fn parse_body(content_type: &str, body: &Bytes) -> Result<Value, Status> {
    if content_type.contains("yaml") {
        // JSON is YAML; clients (kube-rs among them) send apply patches as JSON, and the JSON
        // parser is many times faster on megabyte CRDs.
        if let Ok(value) = serde_json::from_slice(body) {
            return Ok(value);
        }
        serde_yaml::from_slice(body)
            .map_err(|e| Status::bad_request(format!("invalid YAML body: {e}")))
    } else {
        serde_json::from_slice(body)
            .map_err(|e| Status::bad_request(format!("invalid JSON body: {e}")))
    }
}

#[allow(clippy::too_many_arguments)]
async fn resource_request(
    shared: &Arc<Shared>,
    group: &str,
    version: &str,
    rest: &[&str],
    method: Method,
    query: &HashMap<String, String>,
    content_type: &str,
    body: Bytes,
) -> Response<Body> {
    let Some(path) = parse_resource_path(group, version, rest) else {
        return status_response(&Status::no_such_path());
    };
    let resource = {
        let state = shared.state.lock().expect("sim state lock");
        state
            .registry
            .by_plural(&path.group, &path.version, &path.plural)
            .cloned()
    };
    let Some(resource) = resource else {
        return status_response(&Status::no_such_path());
    };
    let labels = match query
        .get("labelSelector")
        .map(|s| LabelSelector::parse(s))
        .transpose()
    {
        Ok(l) => l,
        Err(e) => {
            return status_response(&Status::bad_request(format!(
                "unable to parse requirement: {e}"
            )))
        }
    };
    let fields = match query
        .get("fieldSelector")
        .map(|s| FieldSelector::parse(s))
        .transpose()
    {
        Ok(f) => f,
        Err(e) => return status_response(&Status::bad_request(e)),
    };
    let options = WriteOptions {
        dry_run: query.get("dryRun").is_some_and(|v| v == "All"),
        admit: true,
        field_manager: query.get("fieldManager").map(String::as_str).unwrap_or(""),
    };
    let namespace = path.namespace.clone().unwrap_or_default();
    let subresource = path.subresource.as_deref();
    if let Some(sub) = subresource {
        if sub != "status" {
            return subresource_request(
                shared,
                &resource,
                &namespace,
                path.name.as_deref().unwrap_or(""),
                sub,
            );
        }
    }
    let render = |result: Result<Value, Status>, created: bool| match result {
        Ok(object) => json_response(
            if created {
                StatusCode::CREATED
            } else {
                StatusCode::OK
            },
            &with_version(object, &resource, &path.version),
        ),
        Err(status) => status_response(&status),
    };

    match (&method, path.name.as_deref()) {
        (&Method::GET, None) => {
            if query.get("watch").is_some_and(|w| w == "true" || w == "1") {
                let since = query
                    .get("resourceVersion")
                    .and_then(|v| v.parse::<u64>().ok());
                let timeout = query
                    .get("timeoutSeconds")
                    .and_then(|t| t.parse::<u64>().ok())
                    .unwrap_or(1800);
                return watch(
                    shared,
                    &resource,
                    path.namespace.as_deref(),
                    since,
                    labels,
                    fields,
                    &path.version,
                    Duration::from_secs(timeout),
                );
            }
            let state = shared.state.lock().expect("sim state lock");
            let items: Vec<Value> = state
                .list(
                    &resource,
                    path.namespace.as_deref(),
                    labels.as_ref(),
                    fields.as_ref(),
                )
                .into_iter()
                .map(|o| with_version(o, &resource, &path.version))
                .collect();
            json_response(
                StatusCode::OK,
                &json!({
                    "kind": format!("{}List", resource.kind),
                    "apiVersion": resource.api_version(&path.version),
                    "metadata": {"resourceVersion": state.resource_version().to_string()},
                    "items": items,
                }),
            )
        }
        (&Method::GET, Some(name)) => {
            let state = shared.state.lock().expect("sim state lock");
            render(
                state
                    .get(&resource, &namespace, name)
                    .cloned()
                    .ok_or_else(|| Status::not_found(&resource.group, &resource.plural, name)),
                false,
            )
        }
        (&Method::POST, None) => {
            let object = match parse_body(content_type, &body) {
                Ok(o) => o,
                Err(s) => return status_response(&s),
            };
            let mut state = shared.state.lock().expect("sim state lock");
            render(state.create(&resource, &namespace, object, options), true)
        }
        (&Method::PUT, Some(name)) => {
            let object = match parse_body(content_type, &body) {
                Ok(o) => o,
                Err(s) => return status_response(&s),
            };
            let mut state = shared.state.lock().expect("sim state lock");
            render(
                state.replace(&resource, &namespace, name, object, subresource, options),
                false,
            )
        }
        (&Method::PATCH, Some(name)) => {
            let Some(kind) = PatchKind::from_content_type(content_type) else {
                return status_response(&Status::failure(
                    415,
                    "UnsupportedMediaType",
                    format!("the body of the request was in an unknown format - accepted media types include: application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml (got {content_type})"),
                ));
            };
            let patch = match parse_body(
                if kind == PatchKind::Apply {
                    "yaml"
                } else {
                    "json"
                },
                &body,
            ) {
                Ok(p) => p,
                Err(s) => return status_response(&s),
            };
            let mut state = shared.state.lock().expect("sim state lock");
            let existed = state.get(&resource, &namespace, name).is_some();
            let result = state.patch(
                &resource,
                &namespace,
                name,
                kind,
                patch,
                subresource,
                options,
            );
            render(result, !existed)
        }
        (&Method::DELETE, Some(name)) => {
            let mut state = shared.state.lock().expect("sim state lock");
            render(state.delete(&resource, &namespace, name, options), false)
        }
        (&Method::DELETE, None) => {
            let mut state = shared.state.lock().expect("sim state lock");
            let targets = state.list(
                &resource,
                path.namespace.as_deref(),
                labels.as_ref(),
                fields.as_ref(),
            );
            let mut deleted = Vec::new();
            for object in targets {
                let ns = object
                    .pointer("/metadata/namespace")
                    .and_then(Value::as_str)
                    .unwrap_or("")
                    .to_string();
                let name = object
                    .pointer("/metadata/name")
                    .and_then(Value::as_str)
                    .unwrap_or("")
                    .to_string();
                match state.delete(&resource, &ns, &name, options) {
                    Ok(o) => deleted.push(with_version(o, &resource, &path.version)),
                    Err(status) => return status_response(&status),
                }
            }
            json_response(
                StatusCode::OK,
                &json!({"kind": format!("{}List", resource.kind), "apiVersion": resource.api_version(&path.version),
                        "metadata": {"resourceVersion": state.resource_version().to_string()}, "items": deleted}),
            )
        }
        _ => status_response(&Status::method_not_supported(
            &resource.group,
            &resource.plural,
            method.as_str(),
        )),
    }
}

/// Subresources other than status: pod logs (empty text; the sim runs no processes).
fn subresource_request(
    shared: &Arc<Shared>,
    resource: &ResourceType,
    namespace: &str,
    name: &str,
    subresource: &str,
) -> Response<Body> {
    let state = shared.state.lock().expect("sim state lock");
    if state.get(resource, namespace, name).is_none() {
        return status_response(&Status::not_found(&resource.group, &resource.plural, name));
    }
    match (resource.plural.as_str(), subresource) {
        ("pods", "log") => Response::builder()
            .header("content-type", "text/plain")
            .body(full(""))
            .expect("valid response"),
        _ => status_response(&Status::no_such_path()),
    }
}

#[allow(clippy::too_many_arguments)]
fn watch(
    shared: &Arc<Shared>,
    resource: &ResourceType,
    namespace: Option<&str>,
    since: Option<u64>,
    labels: Option<LabelSelector>,
    fields: Option<FieldSelector>,
    version: &str,
    timeout: Duration,
) -> Response<Body> {
    // Backlog and subscription under one lock, so no event falls between them.
    let (backlog, receiver) = {
        let state = shared.state.lock().expect("sim state lock");
        (state.backlog(resource, namespace, since), state.subscribe())
    };
    let filter = WatchFilter {
        resource: resource.clone(),
        namespace: namespace.map(str::to_string),
        labels,
        fields,
        version: version.to_string(),
    };
    let deadline = tokio::time::Instant::now() + timeout;
    let stream = futures::stream::unfold(
        (VecDeque::from(backlog), receiver, filter),
        move |(mut backlog, mut receiver, filter)| async move {
            loop {
                let event = match backlog.pop_front() {
                    Some(event) => event,
                    None => match tokio::time::timeout_at(deadline, receiver.recv()).await {
                        Ok(Ok(event)) => event,
                        Ok(Err(broadcast::error::RecvError::Lagged(_))) | Ok(Err(_)) | Err(_) => {
                            return None
                        }
                    },
                };
                if let Some(line) = filter.encode(&event) {
                    return Some((line, (backlog, receiver, filter)));
                }
            }
        },
    );
    let body = StreamBody::new(stream.map(|line| Ok::<_, Infallible>(Frame::data(line))));
    Response::builder()
        .header("content-type", "application/json")
        .header("transfer-encoding", "chunked")
        .body(BodyExt::boxed(body))
        .expect("valid response")
}

struct WatchFilter {
    resource: ResourceType,
    namespace: Option<String>,
    labels: Option<LabelSelector>,
    fields: Option<FieldSelector>,
    version: String,
}

impl WatchFilter {
    /// The event as one line of the watch stream, or `None` when the watch does not want it.
    fn encode(&self, event: &Event) -> Option<Bytes> {
        if event.group != self.resource.group || event.plural != self.resource.plural {
            return None;
        }
        if self.resource.namespaced
            && self
                .namespace
                .as_ref()
                .is_some_and(|ns| *ns != event.namespace)
        {
            return None;
        }
        if self
            .labels
            .as_ref()
            .is_some_and(|l| !l.matches(&event.object))
            || self
                .fields
                .as_ref()
                .is_some_and(|f| !f.matches(&event.object))
        {
            return None;
        }
        let mut line = serde_json::to_vec(&json!({
            "type": event.event_type.as_str(),
            "object": with_version((*event.object).clone(), &self.resource, &self.version),
        }))
        .expect("JSON serialises");
        line.push(b'\n');
        Some(Bytes::from(line))
    }
}
