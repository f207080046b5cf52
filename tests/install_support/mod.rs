//! An in-process fake of the Kubernetes API server for the install engine's tests, served to a
//! real `kube::Client` through `tower::service_fn` (the approach of kube-rs' own
//! kube/src/mock_tests.rs, with state instead of a scripted request list).
//!
//! It speaks the REST shapes kube-rs uses (Kubernetes API concepts:
//! https://kubernetes.io/docs/reference/using-api/api-concepts/): discovery
//! (`/api/v1`, `/apis/<group>/<version>` APIResourceLists), GET/list with `fieldSelector` and
//! `labelSelector` equality terms, watch streams (`?watch=true`, newline-delimited
//! `{"type","object"}` events replayed from `resourceVersion`), server-side apply PATCH
//! (`application/apply-patch+yaml`), merge PATCH, POST and DELETE, with `Status` errors.
//! Like a real API server it refuses a namespaced object whose Namespace does not exist, serves
//! a custom kind only once its CRD is stored, marks CRDs Established (unless told not to), and
//! rejects objects whose annotations exceed 262144 bytes (apimachinery
//! `ValidateAnnotationsSize`, `TotalAnnotationSizeLimitB`). Server-side apply field ownership
//! and list merging are NOT modelled: an apply replaces the object's fields, keeping `status`.

#![allow(dead_code)]

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use futures::StreamExt;
use http::{Request, Response, StatusCode};
use http_body::Frame;
use http_body_util::combinators::UnsyncBoxBody;
use http_body_util::{BodyExt, Full, StreamBody};
use serde_json::{json, Value};
use tokio::sync::broadcast;

/// apimachinery's TotalAnnotationSizeLimitB.
pub const ANNOTATION_LIMIT: usize = 256 * 1024;

type Body = UnsyncBoxBody<Bytes, Infallible>;

/// A kind the fake serves.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Kind {
    pub api_version: String,
    pub kind: String,
    pub plural: String,
    pub namespaced: bool,
}

fn kind(api_version: &str, kind: &str, plural: &str, namespaced: bool) -> Kind {
    Kind {
        api_version: api_version.into(),
        kind: kind.into(),
        plural: plural.into(),
        namespaced,
    }
}

fn builtin_kinds() -> Vec<Kind> {
    vec![
        kind("v1", "Namespace", "namespaces", false),
        kind("v1", "ServiceAccount", "serviceaccounts", true),
        kind("v1", "ConfigMap", "configmaps", true),
        kind("v1", "Secret", "secrets", true),
        kind("v1", "Service", "services", true),
        kind("v1", "Pod", "pods", true),
        kind("v1", "Event", "events", true),
        kind("apps/v1", "Deployment", "deployments", true),
        kind("apps/v1", "StatefulSet", "statefulsets", true),
        kind("apps/v1", "DaemonSet", "daemonsets", true),
        kind(
            "rbac.authorization.k8s.io/v1",
            "ClusterRole",
            "clusterroles",
            false,
        ),
        kind(
            "rbac.authorization.k8s.io/v1",
            "ClusterRoleBinding",
            "clusterrolebindings",
            false,
        ),
        kind("rbac.authorization.k8s.io/v1", "Role", "roles", true),
        kind(
            "rbac.authorization.k8s.io/v1",
            "RoleBinding",
            "rolebindings",
            true,
        ),
        kind(
            "apiextensions.k8s.io/v1",
            "CustomResourceDefinition",
            "customresourcedefinitions",
            false,
        ),
        kind(
            "discovery.k8s.io/v1",
            "EndpointSlice",
            "endpointslices",
            true,
        ),
        kind(
            "networking.k8s.io/v1",
            "NetworkPolicy",
            "networkpolicies",
            true,
        ),
    ]
}

/// One request as the fake received it.
#[derive(Debug, Clone)]
pub struct Recorded {
    pub method: String,
    pub path: String,
    pub query: BTreeMap<String, String>,
    pub content_type: String,
    pub body: String,
}

#[derive(Debug, Clone)]
struct Change {
    rv: u64,
    kind: &'static str,
    plural_key: (String, String),
    object: Value,
}

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct Key {
    api_version: String,
    plural: String,
    namespace: String,
    name: String,
}

struct State {
    rv: u64,
    objects: BTreeMap<Key, Value>,
    log: Vec<Change>,
    requests: Vec<Recorded>,
    kinds: Vec<Kind>,
    establish_crds: bool,
    workloads_become_ready: bool,
}

/// The fake API server. Clone it freely; clones share state.
#[derive(Clone)]
pub struct FakeApi {
    state: Arc<Mutex<State>>,
    changes: broadcast::Sender<Change>,
}

impl Default for FakeApi {
    fn default() -> Self {
        Self::new()
    }
}

fn status_error(code: StatusCode, reason: &str, message: String) -> Response<Body> {
    json_response(
        code,
        &json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
                "message": message, "reason": reason, "code": code.as_u16()}),
    )
}

fn json_response(code: StatusCode, value: &Value) -> Response<Body> {
    Response::builder()
        .status(code)
        .header("content-type", "application/json")
        .body(Full::new(Bytes::from(value.to_string())).boxed_unsync())
        .expect("valid response")
}

fn decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' if i + 2 < bytes.len() => {
                let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap_or("");
                match u8::from_str_radix(hex, 16) {
                    Ok(b) => {
                        out.push(b);
                        i += 3;
                        continue;
                    }
                    Err(_) => out.push(b'%'),
                }
            }
            b'+' => out.push(b' '),
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn parse_query(query: Option<&str>) -> BTreeMap<String, String> {
    query
        .unwrap_or("")
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|pair| {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            (decode(k), decode(v))
        })
        .collect()
}

/// Equality-only selectors (`a=b,c=d`), the forms kube-rs' Config::fields/labels produce here.
fn matches(object: &Value, query: &BTreeMap<String, String>) -> bool {
    let terms = |key: &str| -> Vec<(String, String)> {
        query
            .get(key)
            .map(|s| {
                s.split(',')
                    .filter(|t| !t.is_empty())
                    .filter_map(|t| t.split_once('='))
                    .map(|(k, v)| (k.trim_end_matches('=').to_string(), v.to_string()))
                    .collect()
            })
            .unwrap_or_default()
    };
    let fields_ok = terms("fieldSelector").iter().all(|(path, want)| {
        let pointer = format!("/{}", path.replace('.', "/"));
        object.pointer(&pointer).and_then(Value::as_str) == Some(want.as_str())
    });
    let labels_ok = terms("labelSelector").iter().all(|(label, want)| {
        object
            .pointer("/metadata/labels")
            .and_then(|l| l.get(label))
            .and_then(Value::as_str)
            == Some(want.as_str())
    });
    fields_ok && labels_ok
}

fn strip_server_fields(object: &Value) -> Value {
    let mut object = object.clone();
    if let Some(meta) = object.get_mut("metadata").and_then(Value::as_object_mut) {
        for field in [
            "resourceVersion",
            "uid",
            "generation",
            "creationTimestamp",
            "managedFields",
        ] {
            meta.remove(field);
        }
    }
    if let Some(map) = object.as_object_mut() {
        map.remove("status");
    }
    object
}

fn annotations_size(object: &Value) -> usize {
    object
        .pointer("/metadata/annotations")
        .and_then(Value::as_object)
        .map(|a| {
            a.iter()
                .map(|(k, v)| k.len() + v.as_str().map(str::len).unwrap_or(0))
                .sum()
        })
        .unwrap_or(0)
}

impl FakeApi {
    pub fn new() -> Self {
        let (changes, _) = broadcast::channel(4096);
        let fake = FakeApi {
            state: Arc::new(Mutex::new(State {
                rv: 1,
                objects: BTreeMap::new(),
                log: Vec::new(),
                requests: Vec::new(),
                kinds: builtin_kinds(),
                establish_crds: true,
                workloads_become_ready: false,
            })),
            changes,
        };
        for ns in ["default", "kube-system", "kube-public"] {
            fake.insert(json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}}));
        }
        fake
    }

    /// Whether applied CRDs are marked Established at once (a real API server does so within
    /// moments); off, a test sets the condition itself.
    pub fn establish_crds(&self, on: bool) {
        self.state.lock().unwrap().establish_crds = on;
    }

    /// Scripted controller: applied Deployments/StatefulSets/DaemonSets get a ready status.
    pub fn workloads_become_ready(&self, on: bool) {
        self.state.lock().unwrap().workloads_become_ready = on;
    }

    pub fn client(&self) -> kube::Client {
        let fake = self.clone();
        let service = tower::service_fn(move |request: Request<kube::client::Body>| {
            let fake = fake.clone();
            async move { Ok::<_, Infallible>(fake.handle(request).await) }
        });
        kube::Client::new(service, "default")
    }

    pub fn requests(&self) -> Vec<Recorded> {
        self.state.lock().unwrap().requests.clone()
    }

    fn kind_of(&self, api_version: &str, kind_name: &str) -> Option<Kind> {
        let state = self.state.lock().unwrap();
        state
            .kinds
            .iter()
            .find(|k| k.api_version == api_version && k.kind == kind_name)
            .cloned()
    }

    fn key_of(&self, object: &Value) -> Key {
        let field = |p: &str| {
            object
                .pointer(p)
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string()
        };
        let kind = self
            .kind_of(&field("/apiVersion"), &field("/kind"))
            .unwrap_or_else(|| {
                panic!(
                    "the fake does not serve {} {}",
                    field("/apiVersion"),
                    field("/kind")
                )
            });
        Key {
            api_version: kind.api_version,
            plural: kind.plural,
            namespace: if kind.namespaced {
                field("/metadata/namespace")
            } else {
                String::new()
            },
            name: field("/metadata/name"),
        }
    }

    /// Stores an object as a controller would (no admission), emitting a watch event.
    pub fn insert(&self, object: Value) -> Value {
        let key = self.key_of(&object);
        self.store(key, object, false)
    }

    /// Stores `object`; `from_client` marks a write through the API (which the scripted
    /// workload controller reacts to).
    fn store(&self, key: Key, mut object: Value, from_client: bool) -> Value {
        let mut state = self.state.lock().unwrap();
        let existing = state.objects.get(&key).cloned();
        if let Some(existing) = &existing {
            if existing.get("status").is_some() && object.get("status").is_none() {
                object["status"] = existing["status"].clone();
            }
            if strip_server_fields(existing) == strip_server_fields(&object)
                && existing.get("status") == object.get("status")
            {
                return existing.clone();
            }
        }
        state.rv += 1;
        let rv = state.rv;
        let generation = match &existing {
            Some(old) if strip_server_fields(old) == strip_server_fields(&object) => old
                .pointer("/metadata/generation")
                .and_then(Value::as_i64)
                .unwrap_or(1),
            Some(old) => {
                old.pointer("/metadata/generation")
                    .and_then(Value::as_i64)
                    .unwrap_or(1)
                    + 1
            }
            None => 1,
        };
        object["metadata"]["resourceVersion"] = json!(rv.to_string());
        object["metadata"]["generation"] = json!(generation);
        object["metadata"]["uid"] = json!(format!("uid-{}-{}", key.plural, key.name));
        if key.plural == "customresourcedefinitions" {
            register_crd(&mut state, &object);
            if state.establish_crds && object.pointer("/status/conditions").is_none() {
                object["status"] = json!({"conditions": [
                    {"type": "NamesAccepted", "status": "True", "reason": "NoConflicts"},
                    {"type": "Established", "status": "True", "reason": "InitialNamesAccepted"}
                ]});
            }
        }
        if from_client
            && state.workloads_become_ready
            && matches!(
                key.plural.as_str(),
                "deployments" | "statefulsets" | "daemonsets"
            )
        {
            object["status"] = ready_workload_status(&key.plural, &object, generation);
        }
        let change = Change {
            rv,
            kind: if existing.is_some() {
                "MODIFIED"
            } else {
                "ADDED"
            },
            plural_key: (key.api_version.clone(), key.plural.clone()),
            object: object.clone(),
        };
        state.objects.insert(key, object.clone());
        state.log.push(change.clone());
        let _ = self.changes.send(change);
        object
    }

    /// Replaces an object's `status`, as its controller would.
    pub fn set_status(
        &self,
        api_version: &str,
        kind_name: &str,
        namespace: &str,
        name: &str,
        status: Value,
    ) {
        let object = self
            .get(api_version, kind_name, namespace, name)
            .unwrap_or_else(|| panic!("{kind_name} {namespace}/{name} is not stored"));
        let mut object = object;
        object["status"] = status;
        let key = self.key_of(&object);
        self.store(key, object, false);
    }

    pub fn get(
        &self,
        api_version: &str,
        kind_name: &str,
        namespace: &str,
        name: &str,
    ) -> Option<Value> {
        let kind = self.kind_of(api_version, kind_name)?;
        let key = Key {
            api_version: kind.api_version,
            plural: kind.plural,
            namespace: if kind.namespaced {
                namespace.to_string()
            } else {
                String::new()
            },
            name: name.to_string(),
        };
        self.state.lock().unwrap().objects.get(&key).cloned()
    }

    async fn handle(&self, request: Request<kube::client::Body>) -> Response<Body> {
        let method = request.method().to_string();
        let path = request.uri().path().to_string();
        let query = parse_query(request.uri().query());
        let content_type = request
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_string();
        let body = request
            .into_body()
            .collect()
            .await
            .map(|b| b.to_bytes())
            .unwrap_or_default();
        let body = String::from_utf8_lossy(&body).into_owned();
        self.state.lock().unwrap().requests.push(Recorded {
            method: method.clone(),
            path: path.clone(),
            query: query.clone(),
            content_type: content_type.clone(),
            body: body.clone(),
        });
        if path == "/version" {
            return json_response(
                StatusCode::OK,
                &json!({"major": "1", "minor": "34", "gitVersion": "v1.34.8+k3s1", "platform": "linux/amd64"}),
            );
        }
        let segments: Vec<&str> = path.trim_matches('/').split('/').collect();
        let (api_version, rest) = match segments.as_slice() {
            ["api", "v1", rest @ ..] => ("v1".to_string(), rest.to_vec()),
            ["apis", group, version, rest @ ..] => (format!("{group}/{version}"), rest.to_vec()),
            _ => {
                return status_error(
                    StatusCode::NOT_FOUND,
                    "NotFound",
                    format!("no route {path}"),
                )
            }
        };
        if rest.is_empty() {
            return self.discovery(&api_version);
        }
        let (namespace, plural, name, subresource) = match rest.as_slice() {
            ["namespaces", ns, plural, tail @ ..] => (
                ns.to_string(),
                plural.to_string(),
                tail.first().copied(),
                tail.get(1).copied(),
            ),
            [plural, tail @ ..] => (
                String::new(),
                plural.to_string(),
                tail.first().copied(),
                tail.get(1).copied(),
            ),
            [] => unreachable!("checked above"),
        };
        let kind = {
            let state = self.state.lock().unwrap();
            state
                .kinds
                .iter()
                .find(|k| k.api_version == api_version && k.plural == plural)
                .cloned()
        };
        let Some(kind) = kind else {
            return status_error(
                StatusCode::NOT_FOUND,
                "NotFound",
                format!(
                    "the server could not find the requested resource ({api_version} {plural})"
                ),
            );
        };
        let key = |name: &str| Key {
            api_version: kind.api_version.clone(),
            plural: kind.plural.clone(),
            namespace: namespace.clone(),
            name: name.to_string(),
        };
        match (method.as_str(), name) {
            ("GET", Some(name)) => match self.state.lock().unwrap().objects.get(&key(name)) {
                Some(object) => json_response(StatusCode::OK, object),
                None => status_error(
                    StatusCode::NOT_FOUND,
                    "NotFound",
                    format!("{} \"{name}\" not found", kind.plural),
                ),
            },
            ("GET", None)
                if matches!(query.get("watch").map(String::as_str), Some("true" | "1")) =>
            {
                self.watch(&kind, &namespace, query)
            }
            ("GET", None) => self.list(&kind, &namespace, &query),
            ("PATCH", Some(name)) => self.patch(
                &kind,
                key(name),
                &namespace,
                subresource,
                &content_type,
                &body,
            ),
            ("POST", None) => {
                let Ok(mut object) = serde_json::from_str::<Value>(&body) else {
                    return status_error(
                        StatusCode::BAD_REQUEST,
                        "BadRequest",
                        "body is not JSON".into(),
                    );
                };
                let name = object
                    .pointer("/metadata/name")
                    .and_then(Value::as_str)
                    .unwrap_or("")
                    .to_string();
                if self.state.lock().unwrap().objects.contains_key(&key(&name)) {
                    return status_error(
                        StatusCode::CONFLICT,
                        "AlreadyExists",
                        format!("{} \"{name}\" already exists", kind.plural),
                    );
                }
                if kind.namespaced {
                    object["metadata"]["namespace"] = json!(namespace);
                }
                self.admit_and_store(&kind, key(&name), &namespace, object)
            }
            ("DELETE", Some(name)) => {
                let removed = self.state.lock().unwrap().objects.remove(&key(name));
                match removed {
                    Some(object) => {
                        let mut state = self.state.lock().unwrap();
                        state.rv += 1;
                        let change = Change {
                            rv: state.rv,
                            kind: "DELETED",
                            plural_key: (kind.api_version.clone(), kind.plural.clone()),
                            object: object.clone(),
                        };
                        state.log.push(change.clone());
                        let _ = self.changes.send(change);
                        json_response(StatusCode::OK, &object)
                    }
                    None => status_error(
                        StatusCode::NOT_FOUND,
                        "NotFound",
                        format!("{} \"{name}\" not found", kind.plural),
                    ),
                }
            }
            _ => status_error(
                StatusCode::METHOD_NOT_ALLOWED,
                "MethodNotAllowed",
                format!("{method} {path}"),
            ),
        }
    }

    fn discovery(&self, api_version: &str) -> Response<Body> {
        let state = self.state.lock().unwrap();
        let resources: Vec<Value> = state
            .kinds
            .iter()
            .filter(|k| k.api_version == api_version)
            .map(|k| {
                json!({"name": k.plural, "singularName": k.kind.to_lowercase(), "namespaced": k.namespaced,
                       "kind": k.kind, "verbs": ["create", "delete", "get", "list", "patch", "update", "watch"]})
            })
            .collect();
        if resources.is_empty() {
            return status_error(
                StatusCode::NOT_FOUND,
                "NotFound",
                format!("the server could not find the requested resource ({api_version})"),
            );
        }
        json_response(
            StatusCode::OK,
            &json!({"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": api_version, "resources": resources}),
        )
    }

    fn in_collection(kind: &Kind, namespace: &str, object: &Value) -> bool {
        namespace.is_empty()
            || object
                .pointer("/metadata/namespace")
                .and_then(Value::as_str)
                == Some(namespace)
            || !kind.namespaced
    }

    fn list(
        &self,
        kind: &Kind,
        namespace: &str,
        query: &BTreeMap<String, String>,
    ) -> Response<Body> {
        let state = self.state.lock().unwrap();
        let items: Vec<Value> = state
            .objects
            .iter()
            .filter(|(k, _)| k.api_version == kind.api_version && k.plural == kind.plural)
            .map(|(_, v)| v)
            .filter(|o| Self::in_collection(kind, namespace, o) && matches(o, query))
            .cloned()
            .collect();
        json_response(
            StatusCode::OK,
            &json!({"apiVersion": kind.api_version, "kind": format!("{}List", kind.kind),
                    "metadata": {"resourceVersion": state.rv.to_string()}, "items": items}),
        )
    }

    fn watch(
        &self,
        kind: &Kind,
        namespace: &str,
        query: BTreeMap<String, String>,
    ) -> Response<Body> {
        let since: u64 = query
            .get("resourceVersion")
            .and_then(|v| v.parse().ok())
            .unwrap_or(0);
        let collection = (kind.api_version.clone(), kind.plural.clone());
        let kind = kind.clone();
        let namespace = namespace.to_string();
        let wanted = move |change: &Change| {
            change.plural_key == collection
                && change.rv > since
                && Self::in_collection(&kind, &namespace, &change.object)
                && matches(&change.object, &query)
        };
        // Replay and subscribe under one lock so no change falls between them.
        let (replay, receiver) = {
            let state = self.state.lock().unwrap();
            let replay: Vec<Change> = state.log.iter().filter(|c| wanted(c)).cloned().collect();
            (replay, self.changes.subscribe())
        };
        let live = futures::stream::unfold(receiver, |mut receiver| async move {
            loop {
                match receiver.recv().await {
                    Ok(change) => return Some((change, receiver)),
                    Err(broadcast::error::RecvError::Lagged(_)) => continue,
                    Err(broadcast::error::RecvError::Closed) => return None,
                }
            }
        })
        .filter(move |c| std::future::ready(wanted(c)));
        let events = futures::stream::iter(replay).chain(live).map(|change| {
            let line = json!({"type": change.kind, "object": change.object}).to_string() + "\n";
            Ok::<_, Infallible>(Frame::data(Bytes::from(line)))
        });
        Response::builder()
            .status(StatusCode::OK)
            .header("content-type", "application/json")
            .body(StreamBody::new(events).boxed_unsync())
            .expect("valid response")
    }

    fn patch(
        &self,
        kind: &Kind,
        key: Key,
        namespace: &str,
        subresource: Option<&str>,
        content_type: &str,
        body: &str,
    ) -> Response<Body> {
        let Ok(patch) = serde_json::from_str::<Value>(body) else {
            return status_error(
                StatusCode::BAD_REQUEST,
                "BadRequest",
                "patch body is not JSON".into(),
            );
        };
        let existing = self.state.lock().unwrap().objects.get(&key).cloned();
        let object = match content_type {
            "application/apply-patch+yaml" => {
                if subresource.is_some() {
                    return status_error(
                        StatusCode::BAD_REQUEST,
                        "BadRequest",
                        "apply to subresources is not modelled".into(),
                    );
                }
                patch
            }
            "application/merge-patch+json" => {
                let Some(mut object) = existing else {
                    return status_error(
                        StatusCode::NOT_FOUND,
                        "NotFound",
                        format!("{} \"{}\" not found", kind.plural, key.name),
                    );
                };
                json_patch::merge(&mut object, &patch);
                object
            }
            other => {
                return status_error(
                    StatusCode::UNSUPPORTED_MEDIA_TYPE,
                    "UnsupportedMediaType",
                    format!("content type {other} is not modelled"),
                )
            }
        };
        self.admit_and_store(kind, key, namespace, object)
    }

    fn admit_and_store(
        &self,
        kind: &Kind,
        key: Key,
        namespace: &str,
        object: Value,
    ) -> Response<Body> {
        if kind.namespaced {
            let namespace_exists = self.get("v1", "Namespace", "", namespace).is_some();
            if !namespace_exists {
                return status_error(
                    StatusCode::NOT_FOUND,
                    "NotFound",
                    format!("namespaces \"{namespace}\" not found"),
                );
            }
        }
        let size = annotations_size(&object);
        if size > ANNOTATION_LIMIT {
            return status_error(
                StatusCode::UNPROCESSABLE_ENTITY,
                "Invalid",
                format!(
                    "{} \"{}\" is invalid: metadata.annotations: Too long: may not be more than {ANNOTATION_LIMIT} bytes",
                    kind.kind, key.name
                ),
            );
        }
        let stored = self.store(key, object, true);
        json_response(StatusCode::OK, &stored)
    }
}

fn register_crd(state: &mut State, crd: &Value) {
    let group = crd
        .pointer("/spec/group")
        .and_then(Value::as_str)
        .unwrap_or("");
    let kind_name = crd
        .pointer("/spec/names/kind")
        .and_then(Value::as_str)
        .unwrap_or("");
    let plural = crd
        .pointer("/spec/names/plural")
        .and_then(Value::as_str)
        .unwrap_or("");
    let namespaced = crd.pointer("/spec/scope").and_then(Value::as_str) == Some("Namespaced");
    for version in crd
        .pointer("/spec/versions")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let Some(version) = version.get("name").and_then(Value::as_str) else {
            continue;
        };
        let new = kind(&format!("{group}/{version}"), kind_name, plural, namespaced);
        if !state.kinds.contains(&new) {
            state.kinds.push(new);
        }
    }
}

/// What the Deployment/StatefulSet/DaemonSet controllers report once every replica is ready
/// (apps/v1 status fields, Kubernetes API reference).
fn ready_workload_status(plural: &str, object: &Value, generation: i64) -> Value {
    let replicas = object
        .pointer("/spec/replicas")
        .and_then(Value::as_i64)
        .unwrap_or(1);
    match plural {
        "daemonsets" => json!({"observedGeneration": generation, "desiredNumberScheduled": 1,
            "currentNumberScheduled": 1, "numberReady": 1, "updatedNumberScheduled": 1,
            "numberAvailable": 1, "numberMisscheduled": 0}),
        "statefulsets" => json!({"observedGeneration": generation, "replicas": replicas,
            "readyReplicas": replicas, "updatedReplicas": replicas, "currentReplicas": replicas,
            "availableReplicas": replicas}),
        _ => json!({"observedGeneration": generation, "replicas": replicas,
            "readyReplicas": replicas, "updatedReplicas": replicas, "availableReplicas": replicas,
            "conditions": [{"type": "Available", "status": "True", "reason": "MinimumReplicasAvailable"}]}),
    }
}

/// A Deployment shaped like upstream's (apps/v1), with `spec.replicas` and a pod selector.
pub fn deployment(namespace: &str, name: &str, app_label: &str) -> Value {
    json!({"apiVersion": "apps/v1", "kind": "Deployment",
           "metadata": {"name": name, "namespace": namespace},
           "spec": {"replicas": 1, "selector": {"matchLabels": {"app": app_label}},
                    "template": {"metadata": {"labels": {"app": app_label}}, "spec": {"containers": []}}}})
}
