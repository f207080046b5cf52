//! The sim's ArgoCD application controller: for every Application it resolves the source
//! revision in git, renders the source with the real renderers (`render`), and runs automated
//! sync the way argo-cd's controller and gitops-engine do, compressed in time:
//!
//! - the target objects get the destination namespace when namespaced and unset, and ArgoCD 3.x
//!   annotation tracking (`argocd.argoproj.io/tracking-id: <app>:<group>/<kind>:<ns>/<name>`,
//!   docs/user-guide/resource_tracking.md);
//! - sync status compares each target with its live object (fields the target sets, minus
//!   `ignoreDifferences`); tracked objects no longer in the target are prunable;
//! - an automated sync (docs/user-guide/auto_sync.md) starts for a new revision, re-syncs the
//!   same revision only with `selfHeal`, retries a failed one per `syncPolicy.retry`, and never
//!   re-attempts an exhausted revision ("Skipping auto-sync: failed previous sync attempt");
//! - a sync dry-runs every task first (a kind the server does not serve fails the sync unless
//!   its CRD is in the same sync or `SkipDryRunOnMissingResource=true`, gitops-engine
//!   sync_context.go), then applies wave by wave in gitops-engine's order (phase, wave, kind,
//!   name; namespaces and CRDs first, sync_tasks.go), waiting for each wave to be healthy
//!   before the next, server-side with field manager `argocd-controller` under
//!   `ServerSideApply=true`, else as `kubectl apply` (which writes last-applied-configuration);
//!   then prunes;
//! - health is the worst resource health (`health`), persisted per resource only when
//!   argocd-cmd-params-cm says `controller.resource.health.persist: "true"` (3.x default:
//!   `resourceHealthSource: appTree`, docs/operator-manual/upgrading/2.14-3.0.md);
//! - a render or fetch failure is a `ComparisonError`; a failed sync a `SyncError`;
//! - deleting an Application with `resources-finalizer.argocd.argoproj.io` deletes what it
//!   tracks, then removes the finalizer;
//! - nothing reconciles while the application controller is not ready, and every source fails
//!   to load while the repo-server is not (as the controller's gRPC call to it fails).

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::apply::PatchKind;
use crate::gitrepo::Repos;
use crate::health::{self, Health};
use crate::render::Renderers;
use crate::store::{self, now_rfc3339, State, WriteOptions};

pub const NAMESPACE: &str = "argocd";
pub const TRACKING_ANNOTATION: &str = "argocd.argoproj.io/tracking-id";
pub const RESOURCES_FINALIZER: &str = "resources-finalizer.argocd.argoproj.io";
const FIELD_MANAGER: &str = "argocd-controller";
const LAST_APPLIED: &str = "kubectl.kubernetes.io/last-applied-configuration";
/// Real retry backoffs (10 s, 20 s, ...) are divided by this in the sim.
const TIME_COMPRESSION: u32 = 50;
/// How often `status.reconciledAt` moves without another change (the refresh interval,
/// `timeout.reconciliation`, compressed).
const REFRESH: Duration = Duration::from_secs(2);

/// What the repo-server produced for a source.
#[derive(Debug, Clone)]
pub struct Target {
    pub revision: String,
    pub objects: Arc<Vec<Value>>,
}

/// Rendered manifests (or the render error) per source revision.
type ManifestCache = Mutex<HashMap<String, Result<Arc<Vec<Value>>, String>>>;

/// The controller and its caches.
pub struct ArgoCd {
    repos: Arc<Repos>,
    renderers: Result<Renderers, String>,
    manifests: ManifestCache,
    desired: Mutex<HashMap<String, Arc<Desired>>>,
    retry_at: Mutex<HashMap<String, Instant>>,
    refreshed: Mutex<HashMap<String, Instant>>,
}

fn text<'a>(value: &'a Value, pointer: &str) -> &'a str {
    value.pointer(pointer).and_then(Value::as_str).unwrap_or("")
}

fn group_of(api_version: &str) -> &str {
    api_version.rsplit_once('/').map_or("", |(g, _)| g)
}

/// `<app>:<group>/<kind>:<namespace>/<name>`.
pub fn tracking_id(app: &str, object: &Value) -> String {
    format!(
        "{app}:{}/{}:{}/{}",
        group_of(text(object, "/apiVersion")),
        text(object, "/kind"),
        text(object, "/metadata/namespace"),
        text(object, "/metadata/name")
    )
}

/// The object identity ArgoCD keys resources by.
fn key(object: &Value) -> (String, String, String, String) {
    (
        group_of(text(object, "/apiVersion")).to_string(),
        text(object, "/kind").to_string(),
        text(object, "/metadata/namespace").to_string(),
        text(object, "/metadata/name").to_string(),
    )
}

fn sync_options(app: &Value) -> Vec<String> {
    app.pointer("/spec/syncPolicy/syncOptions")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|o| o.as_str().map(str::to_string))
        .collect()
}

fn has_option(app: &Value, object: Option<&Value>, option: &str) -> bool {
    sync_options(app).iter().any(|o| o == option)
        || object.is_some_and(|o| {
            text(o, "/metadata/annotations/argocd.argoproj.io~1sync-options")
                .split(',')
                .any(|o| o.trim() == option)
        })
}

fn wave(object: &Value) -> i64 {
    text(
        object,
        "/metadata/annotations/argocd.argoproj.io~1sync-wave",
    )
    .trim()
    .parse()
    .unwrap_or(0)
}

/// gitops-engine's kind order (sync_tasks.go, from Helm's kind_sorter); unknown kinds last.
fn kind_rank(kind: &str) -> i64 {
    const KINDS: &[&str] = &[
        "Namespace",
        "NetworkPolicy",
        "ResourceQuota",
        "LimitRange",
        "PodSecurityPolicy",
        "PodDisruptionBudget",
        "ServiceAccount",
        "Secret",
        "SecretList",
        "ConfigMap",
        "StorageClass",
        "PersistentVolume",
        "PersistentVolumeClaim",
        "CustomResourceDefinition",
        "ClusterRole",
        "ClusterRoleList",
        "ClusterRoleBinding",
        "ClusterRoleBindingList",
        "Role",
        "RoleList",
        "RoleBinding",
        "RoleBindingList",
        "Service",
        "DaemonSet",
        "Pod",
        "ReplicationController",
        "ReplicaSet",
        "Deployment",
        "HorizontalPodAutoscaler",
        "StatefulSet",
        "Job",
        "CronJob",
        "IngressClass",
        "Ingress",
        "APIService",
    ];
    KINDS
        .iter()
        .position(|k| *k == kind)
        .map_or(0, |i| i as i64 - KINDS.len() as i64)
}

/// The tasks in sync order: wave, kind, name; then namespaces and CRDs moved before the first
/// task that needs them, taking its wave (`syncTasks.Sort` and `adjustDeps`).
pub fn sync_order(objects: &[Value]) -> Vec<(i64, Value)> {
    let mut tasks: Vec<(i64, Value)> = objects.iter().map(|o| (wave(o), o.clone())).collect();
    tasks.sort_by(|(wa, a), (wb, b)| {
        wa.cmp(wb)
            .then(kind_rank(text(a, "/kind")).cmp(&kind_rank(text(b, "/kind"))))
            .then(text(a, "/metadata/name").cmp(text(b, "/metadata/name")))
    });
    adjust(
        &mut tasks,
        |o| {
            (text(o, "/kind") == "Namespace" && group_of(text(o, "/apiVersion")).is_empty())
                .then(|| text(o, "/metadata/name").to_string())
        },
        |o| Some(text(o, "/metadata/namespace").to_string()).filter(|ns| !ns.is_empty()),
    );
    adjust(
        &mut tasks,
        |o| {
            (text(o, "/kind") == "CustomResourceDefinition")
                .then(|| format!("{}/{}", text(o, "/spec/group"), text(o, "/spec/names/kind")))
        },
        |o| {
            Some(format!(
                "{}/{}",
                group_of(text(o, "/apiVersion")),
                text(o, "/kind")
            ))
        },
    );
    tasks
}

fn adjust(
    tasks: &mut [(i64, Value)],
    is_dependency: impl Fn(&Value) -> Option<String>,
    refers_to: impl Fn(&Value) -> Option<String>,
) {
    let mut first_use: BTreeMap<String, usize> = BTreeMap::new();
    for i in 0..tasks.len() {
        if let Some(dep) = is_dependency(&tasks[i].1) {
            if let Some(&index) = first_use.get(&dep) {
                let mut task = tasks[i].clone();
                task.0 = tasks[index].0;
                for j in (index + 1..=i).rev() {
                    tasks[j] = tasks[j - 1].clone();
                }
                tasks[index] = task;
                for first in first_use.values_mut() {
                    if *first >= index {
                        *first += 1;
                    }
                }
            }
        } else if let Some(dep) = refers_to(&tasks[i].1) {
            first_use.entry(dep).or_insert(i);
        }
    }
}

/// Whether every field `desired` sets has the same value in `live` (lists element-wise).
pub fn subset(desired: &Value, live: &Value) -> bool {
    match (desired, live) {
        // A null in a manifest means "not set" (`creationTimestamp: null` in generated YAML).
        (Value::Null, _) => true,
        (Value::Object(d), Value::Object(l)) => d.iter().all(|(k, v)| match l.get(k) {
            Some(lv) => subset(v, lv),
            None => {
                v.is_null()
                    || v.as_object().is_some_and(|o| o.is_empty())
                    || v.as_array().is_some_and(|a| a.is_empty())
            }
        }),
        (Value::Array(d), Value::Array(l)) => {
            d.len() == l.len() && d.iter().zip(l).all(|(dv, lv)| subset(dv, lv))
        }
        (Value::Number(d), Value::String(l)) | (Value::String(l), Value::Number(d)) => {
            d.to_string() == *l
        }
        (d, l) => d == l,
    }
}

/// Where `live` first differs from what `desired` sets (a JSON pointer), for messages.
pub fn first_difference(desired: &Value, live: &Value) -> Option<String> {
    match (desired, live) {
        (Value::Object(d), Value::Object(l)) => d.iter().find_map(|(k, v)| match l.get(k) {
            Some(lv) => first_difference(v, lv).map(|p| format!("/{k}{p}")),
            None if subset(v, &Value::Null) || v.as_object().is_some_and(|o| o.is_empty()) => None,
            None => Some(format!("/{k} (missing)")),
        }),
        (Value::Array(d), Value::Array(l)) if d.len() == l.len() => d
            .iter()
            .zip(l)
            .enumerate()
            .find_map(|(i, (dv, lv))| first_difference(dv, lv).map(|p| format!("/{i}{p}"))),
        (d, l) if subset(d, l) => None,
        (d, l) => Some(format!(" ({d} != {l})")),
    }
}

/// Removes a jq path of the simple forms ArgoCD's `ignoreDifferences.jqPathExpressions` use
/// here (`.a.b`, `.a[]?.b`, `.a.b?.c`).
fn remove_jq_path(value: &mut Value, path: &str) {
    fn walk(value: &mut Value, parts: &[&str]) {
        let Some((first, rest)) = parts.split_first() else {
            return;
        };
        let (name, each) = match first.strip_suffix("[]") {
            Some(name) => (name, true),
            None => (*first, false),
        };
        let Some(map) = value.as_object_mut() else {
            return;
        };
        if rest.is_empty() && !each {
            map.remove(name);
            return;
        }
        let Some(child) = map.get_mut(name) else {
            return;
        };
        if each {
            for item in child.as_array_mut().into_iter().flatten() {
                walk(item, rest);
            }
        } else {
            walk(child, rest);
        }
    }
    let cleaned = path.trim().trim_start_matches('.').replace('?', "");
    let parts: Vec<&str> = cleaned.split('.').filter(|p| !p.is_empty()).collect();
    walk(value, &parts);
}

fn ignored(app: &Value, object: &Value) -> Vec<String> {
    let group = group_of(text(object, "/apiVersion"));
    let kind = text(object, "/kind");
    app.pointer("/spec/ignoreDifferences")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter(|rule| text(rule, "/group") == group && text(rule, "/kind") == kind)
        .flat_map(|rule| {
            let jq = rule
                .get("jqPathExpressions")
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default();
            let pointers = rule
                .get("jsonPointers")
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default()
                .into_iter()
                .filter_map(|p| p.as_str().map(|p| p.replace('/', ".")))
                .map(Value::String);
            jq.into_iter().chain(pointers)
        })
        .filter_map(|p| p.as_str().map(str::to_string))
        .collect()
}

/// `desired` as ArgoCD compares it: without status and without the fields the Application's
/// `ignoreDifferences` names (compared with `subset`, so those live fields are never looked at).
fn comparable(app: &Value, desired: &Value) -> Value {
    let mut view = desired.clone();
    for path in ignored(app, desired) {
        remove_jq_path(&mut view, &path);
    }
    if let Some(map) = view.as_object_mut() {
        map.remove("status");
    }
    view
}

/// Whether `live` matches `desired` as ArgoCD compares them.
#[cfg(test)]
fn in_sync(app: &Value, desired: &Value, live: &Value) -> bool {
    subset(&comparable(app, desired), live)
}

/// Every live object an Application tracks.
pub fn tracked(state: &State, app: &str) -> Vec<Value> {
    let prefix = format!("{app}:");
    state.find_all(|object| {
        object
            .pointer("/metadata/annotations")
            .and_then(|a| a.get(TRACKING_ANNOTATION))
            .and_then(Value::as_str)
            .is_some_and(|id| id.starts_with(&prefix))
    })
}

/// Settings ArgoCD reads from its ConfigMaps.
#[derive(Debug, Clone, Copy, Default)]
pub struct Settings {
    /// argocd-cm customises `argoproj.io/Application` health.
    pub application_health: bool,
    /// argocd-cmd-params-cm `controller.resource.health.persist: "true"`.
    pub persist_resource_health: bool,
}

impl Settings {
    pub fn read(state: &State) -> Settings {
        let config = |name: &str| {
            state
                .resource_for("v1", "ConfigMap")
                .ok()
                .and_then(|r| state.get(&r, NAMESPACE, name).cloned())
                .unwrap_or(Value::Null)
        };
        let cm = config("argocd-cm");
        let params = config("argocd-cmd-params-cm");
        Settings {
            application_health: cm
                .pointer("/data/resource.customizations.health.argoproj.io_Application")
                .is_some(),
            persist_resource_health: text(&params, "/data/controller.resource.health.persist")
                == "true",
        }
    }
}

/// Whether a workload of ArgoCD's is up: `kind` `name` in the argocd namespace with every
/// replica ready.
pub fn workload_ready(state: &State, kind: &str, name: &str) -> bool {
    state
        .resource_for("apps/v1", kind)
        .ok()
        .and_then(|r| state.get(&r, NAMESPACE, name).cloned())
        .is_some_and(|w| {
            let wanted = w
                .pointer("/spec/replicas")
                .and_then(Value::as_i64)
                .unwrap_or(1);
            wanted > 0
                && w.pointer("/status/readyReplicas")
                    .and_then(Value::as_i64)
                    .unwrap_or(0)
                    >= wanted
        })
}

impl ArgoCd {
    pub fn new(repos: Arc<Repos>) -> ArgoCd {
        ArgoCd {
            repos,
            renderers: Renderers::detect(),
            manifests: Mutex::new(HashMap::new()),
            desired: Mutex::new(HashMap::new()),
            retry_at: Mutex::new(HashMap::new()),
            refreshed: Mutex::new(HashMap::new()),
        }
    }

    pub fn repos(&self) -> &Arc<Repos> {
        &self.repos
    }

    /// The repo-server's answer for an Application (blocking: git and the renderers run).
    pub fn target(&self, app: &Value) -> Result<Target, String> {
        let source = app.pointer("/spec/source").cloned().unwrap_or(json!({}));
        let url = text(&source, "/repoURL");
        let revision = self.repos.resolve(url, text(&source, "/targetRevision"))?;
        let name = text(app, "/metadata/name");
        let namespace = text(app, "/spec/destination/namespace");
        let cache_key = format!("{url}\n{revision}\n{source}\n{name}\n{namespace}");
        if let Some(cached) = self
            .manifests
            .lock()
            .expect("manifests lock")
            .get(&cache_key)
        {
            return cached.clone().map(|objects| Target {
                revision: revision.clone(),
                objects,
            });
        }
        let rendered = self.render(url, &revision, &source, name, namespace);
        self.manifests
            .lock()
            .expect("manifests lock")
            .insert(cache_key, rendered.clone());
        rendered.map(|objects| Target { revision, objects })
    }

    fn render(
        &self,
        url: &str,
        revision: &str,
        source: &Value,
        app: &str,
        namespace: &str,
    ) -> Result<Arc<Vec<Value>>, String> {
        let renderers = self.renderers.as_ref().map_err(Clone::clone)?;
        let path = text(source, "/path");
        let checkout = self.repos.checkout(url, revision)?;
        // The output depends on the source folder and on vendor/ (component kustomizations
        // and charts read the vendored releases); their tree ids key the disk cache.
        let key = [path, "vendor"]
            .iter()
            .map(|p| self.repos.tree_id(url, revision, p).unwrap_or_default())
            .collect::<Vec<_>>()
            .join(",");
        let objects = renderers
            .render(&checkout, source, app, namespace, Some(&key))
            .map_err(|e| {
                format!("Failed to load target state: failed to generate manifest for source 1 of 1: rpc error: code = Unknown desc = {e}")
            })?;
        Ok(Arc::new(objects))
    }

    /// One reconciliation of `app` (under the state lock), given the repo-server's answer.
    pub fn reconcile(
        &self,
        state: &mut State,
        app: &Value,
        target: Result<Target, String>,
        settings: Settings,
    ) {
        let name = text(app, "/metadata/name").to_string();
        if store::is_terminating(app) {
            self.finalize(state, app);
            return;
        }
        let previous = app.get("status").cloned().unwrap_or(json!({}));
        let mut status = json!({
            "sync": {"status": "Unknown",
                     "comparedTo": {"source": app.pointer("/spec/source").cloned().unwrap_or(json!({})),
                                    "destination": app.pointer("/spec/destination").cloned().unwrap_or(json!({}))}},
            "resourceHealthSource": "appTree",
            "sourceType": previous.get("sourceType").cloned().unwrap_or(json!("Directory")),
        });
        if let Some(op) = previous.get("operationState") {
            status["operationState"] = op.clone();
        }
        match target {
            Err(message) => {
                let live = tracked(state, &name);
                let (health, message_health) = aggregate(live.iter(), false, settings);
                status["health"] = json!({"status": health.as_str(), "message": message_health});
                status["conditions"] = json!([{"type": "ComparisonError", "message": message,
                                               "lastTransitionTime": condition_time(&previous, "ComparisonError")}]);
            }
            Ok(target) => {
                let desired = self.desired(state, app, &target);
                let mut outcome = compare(state, app, &desired, settings);
                let automated = app
                    .pointer("/spec/syncPolicy/automated")
                    .is_some_and(|a| a.get("enabled").and_then(Value::as_bool) != Some(false));
                // A running operation goes on until it finishes (its later waves, the health
                // waits, the prune), even once everything compares in sync.
                let running = text(&previous, "/operationState/phase") == "Running";
                if automated && (!outcome.in_sync() || running) {
                    if let Some(op) = self.auto_sync(
                        state,
                        app,
                        &desired.apply,
                        &outcome,
                        &target.revision,
                        settings,
                    ) {
                        status["operationState"] = op;
                        outcome = compare(state, app, &desired, settings);
                    }
                }
                status["sync"]["status"] = json!(if outcome.in_sync() {
                    "Synced"
                } else {
                    "OutOfSync"
                });
                status["sync"]["revision"] = json!(target.revision);
                status["health"] =
                    json!({"status": outcome.health.0.as_str(), "message": outcome.health.1});
                status["resources"] = Value::Array(outcome.resources);
                if settings.persist_resource_health {
                    status
                        .as_object_mut()
                        .expect("object")
                        .remove("resourceHealthSource");
                }
                if text(&status, "/operationState/phase") == "Failed" {
                    status["conditions"] = json!([{"type": "SyncError",
                        "message": format!("Failed sync attempt to {}: {}", target.revision, text(&status, "/operationState/message")),
                        "lastTransitionTime": condition_time(&previous, "SyncError")}]);
                }
            }
        }
        self.write_status(state, &name, &previous, status);
    }

    /// The target objects as ArgoCD applies them (destination namespace for namespaced kinds
    /// without one, the tracking annotation) and as it compares them; cached per revision.
    fn desired(&self, state: &State, app: &Value, target: &Target) -> Arc<Desired> {
        let name = text(app, "/metadata/name");
        let key = format!(
            "{name}\n{}\n{}\n{}",
            target.revision,
            state.registry.resource_types().count(),
            app.get("spec").map(Value::to_string).unwrap_or_default()
        );
        if let Some(cached) = self.desired.lock().expect("desired lock").get(&key) {
            return cached.clone();
        }
        let destination = text(app, "/spec/destination/namespace");
        let objects = &target.objects;
        let crd_scopes: BTreeMap<(String, String), bool> = objects
            .iter()
            .filter(|o| text(o, "/kind") == "CustomResourceDefinition")
            .map(|crd| {
                (
                    (
                        text(crd, "/spec/group").to_string(),
                        text(crd, "/spec/names/kind").to_string(),
                    ),
                    text(crd, "/spec/scope") == "Namespaced",
                )
            })
            .collect();
        let apply: Vec<Value> = objects
            .iter()
            .map(|object| {
                let mut object = object.clone();
                let api_version = text(&object, "/apiVersion").to_string();
                let kind = text(&object, "/kind").to_string();
                let namespaced = state
                    .resource_for(&api_version, &kind)
                    .map(|r| r.namespaced)
                    .ok()
                    .or_else(|| {
                        crd_scopes
                            .get(&(group_of(&api_version).to_string(), kind.clone()))
                            .copied()
                    })
                    .unwrap_or(true);
                if namespaced {
                    if text(&object, "/metadata/namespace").is_empty() && !destination.is_empty() {
                        object["metadata"]["namespace"] = json!(destination);
                    }
                } else if let Some(meta) = object["metadata"].as_object_mut() {
                    meta.remove("namespace");
                }
                let id = tracking_id(name, &object);
                if !object["metadata"]["annotations"].is_object() {
                    object["metadata"]["annotations"] = json!({});
                }
                object["metadata"]["annotations"][TRACKING_ANNOTATION] = json!(id);
                object
            })
            .collect();
        let compare = apply.iter().map(|o| comparable(app, o)).collect();
        let desired = Arc::new(Desired { apply, compare });
        self.desired
            .lock()
            .expect("desired lock")
            .insert(key, desired.clone());
        desired
    }

    fn auto_sync(
        &self,
        state: &mut State,
        app: &Value,
        desired: &[Value],
        outcome: &Comparison,
        revision: &str,
        settings: Settings,
    ) -> Option<Value> {
        let name = text(app, "/metadata/name");
        let op = app.pointer("/status/operationState").cloned();
        let phase = op.as_ref().map(|o| text(o, "/phase")).unwrap_or("");
        let synced_revision = op
            .as_ref()
            .map(|o| text(o, "/syncResult/revision"))
            .unwrap_or("");
        let self_heal = app
            .pointer("/spec/syncPolicy/automated/selfHeal")
            .and_then(Value::as_bool)
            == Some(true);
        let mut retry_count = op
            .as_ref()
            .and_then(|o| o.get("retryCount"))
            .and_then(Value::as_i64)
            .unwrap_or(0);
        let running = phase == "Running" && synced_revision == revision;
        if !running && synced_revision == revision {
            match phase {
                "Succeeded" if !self_heal => return None,
                "Failed" | "Error" => {
                    let limit = app
                        .pointer("/spec/syncPolicy/retry/limit")
                        .and_then(Value::as_i64)
                        .unwrap_or(0);
                    if retry_count >= limit {
                        return None;
                    }
                    let backoff = self.backoff(app, retry_count);
                    let mut retry_at = self.retry_at.lock().expect("retry lock");
                    let due = retry_at
                        .entry(name.to_string())
                        .or_insert_with(|| Instant::now() + backoff);
                    if Instant::now() < *due {
                        return None;
                    }
                    retry_at.remove(name);
                    retry_count += 1;
                }
                _ => {}
            }
        }
        if !running && phase == "Succeeded" {
            retry_count = 0;
        }
        let started = if running {
            op.as_ref()
                .map(|o| text(o, "/startedAt").to_string())
                .unwrap_or_else(now_rfc3339)
        } else {
            now_rfc3339()
        };
        let mut operation = json!({
            "operation": {"sync": {"revision": revision}, "initiatedBy": {"automated": true},
                          "retry": app.pointer("/spec/syncPolicy/retry").cloned().unwrap_or(json!({}))},
            "phase": "Running", "message": "", "startedAt": started,
            "syncResult": {"revision": revision, "source": app.pointer("/spec/source").cloned().unwrap_or(json!({}))},
            "retryCount": retry_count,
        });
        let finish = |operation: &mut Value, phase: &str, message: String| {
            operation["phase"] = json!(phase);
            operation["message"] = json!(message);
            operation["finishedAt"] = json!(now_rfc3339());
        };
        if !running {
            // A new operation: CreateNamespace, then the dry run of every task.
            if has_option(app, None, "CreateNamespace=true") {
                let destination = text(app, "/spec/destination/namespace");
                if !destination.is_empty() {
                    if let Ok(namespaces) = state.resource_for("v1", "Namespace") {
                        if state.get(&namespaces, "", destination).is_none() {
                            let _ = state.create(
                                &namespaces,
                                "",
                                json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": destination}}),
                                WriteOptions { dry_run: false, admit: true, field_manager: FIELD_MANAGER },
                            );
                        }
                    }
                }
            }
            if let Err(message) = dry_run(state, app, desired) {
                finish(&mut operation, "Failed", message);
                return Some(operation);
            }
        }
        let tasks = sync_order(desired);
        let waves: BTreeSet<i64> = tasks.iter().map(|(w, _)| *w).collect();
        for current in waves {
            let wave_tasks: Vec<&Value> = tasks
                .iter()
                .filter(|(w, _)| *w == current)
                .map(|(_, o)| o)
                .collect();
            let pending: Vec<&Value> = wave_tasks
                .iter()
                .copied()
                .filter(|o| outcome.out_of_sync.contains(&key(o)))
                .collect();
            if !pending.is_empty() {
                for object in pending {
                    if let Err(message) = apply(state, app, object) {
                        finish(
                            &mut operation,
                            "Failed",
                            format!("one or more objects failed to apply, reason: {message}"),
                        );
                        return Some(operation);
                    }
                }
                operation["message"] = json!(format!(
                    "waiting for completion of wave {current}: {} applied, e.g. {}",
                    wave_tasks
                        .iter()
                        .filter(|o| outcome.out_of_sync.contains(&key(o)))
                        .count(),
                    wave_tasks
                        .iter()
                        .find(|o| outcome.out_of_sync.contains(&key(o)))
                        .map(|o| {
                            let view = comparable(app, o);
                            let diff = state
                                .live(o)
                                .and_then(|l| first_difference(&view, l))
                                .unwrap_or_default();
                            format!("{}/{}{diff}", text(o, "/kind"), text(o, "/metadata/name"))
                        })
                        .unwrap_or_default()
                ));
                return Some(operation);
            }
            if let Some((object, message)) = wave_tasks.iter().find_map(|o| {
                let live = state.live(o).cloned()?;
                match health::assess(&live, settings.application_health) {
                    Some((h, message)) if h != Health::Healthy => Some((live, message)),
                    _ => None,
                }
            }) {
                operation["message"] = json!(format!(
                    "waiting for healthy state of {}/{}/{}{}",
                    group_of(text(&object, "/apiVersion")),
                    text(&object, "/kind"),
                    text(&object, "/metadata/name"),
                    if message.is_empty() {
                        String::new()
                    } else {
                        format!(": {message}")
                    }
                ));
                return Some(operation);
            }
        }
        let prune = app
            .pointer("/spec/syncPolicy/automated/prune")
            .and_then(Value::as_bool)
            == Some(true);
        if prune {
            for object in outcome.prunable.iter().rev() {
                delete(state, object);
            }
        }
        finish(
            &mut operation,
            "Succeeded",
            "successfully synced (all tasks run)".into(),
        );
        Some(operation)
    }

    fn backoff(&self, app: &Value, retries: i64) -> Duration {
        let parse =
            |p: &str, default: Duration| humantime::parse_duration(text(app, p)).unwrap_or(default);
        let base = parse(
            "/spec/syncPolicy/retry/backoff/duration",
            Duration::from_secs(5),
        );
        let cap = parse(
            "/spec/syncPolicy/retry/backoff/maxDuration",
            Duration::from_secs(180),
        );
        let factor = app
            .pointer("/spec/syncPolicy/retry/backoff/factor")
            .and_then(Value::as_i64)
            .unwrap_or(2)
            .max(1) as u32;
        let real = base
            .saturating_mul(factor.saturating_pow(retries.clamp(0, 16) as u32))
            .min(cap);
        real / TIME_COMPRESSION
    }

    fn finalize(&self, state: &mut State, app: &Value) {
        let name = text(app, "/metadata/name");
        let finalizers = store::finalizers(app);
        if !finalizers.iter().any(|f| f == RESOURCES_FINALIZER) {
            return;
        }
        let live = tracked(state, name);
        if live.is_empty() {
            let remaining: Vec<String> = finalizers
                .into_iter()
                .filter(|f| f != RESOURCES_FINALIZER)
                .collect();
            if let Ok(resource) = state.resource_for("argoproj.io/v1alpha1", "Application") {
                let _ = state.patch(
                    &resource,
                    NAMESPACE,
                    name,
                    PatchKind::Merge,
                    json!({"metadata": {"finalizers": remaining}}),
                    None,
                    WriteOptions::INTERNAL,
                );
            }
            return;
        }
        for object in live.iter().rev() {
            delete(state, object);
        }
    }

    fn write_status(&self, state: &mut State, name: &str, previous: &Value, mut status: Value) {
        let mut refreshed = self.refreshed.lock().expect("refreshed lock");
        let stale = refreshed.get(name).is_none_or(|at| at.elapsed() >= REFRESH);
        let mut comparable = previous.clone();
        if let Some(map) = comparable.as_object_mut() {
            map.remove("reconciledAt");
        }
        if comparable == status && !stale {
            return;
        }
        status["reconciledAt"] = json!(now_rfc3339());
        refreshed.insert(name.to_string(), Instant::now());
        if let Ok(resource) = state.resource_for("argoproj.io/v1alpha1", "Application") {
            let _ = state.set_status(&resource, NAMESPACE, name, status);
        }
    }
}

fn condition_time(previous: &Value, kind: &str) -> String {
    previous
        .get("conditions")
        .and_then(Value::as_array)
        .and_then(|c| c.iter().find(|c| text(c, "/type") == kind))
        .map(|c| text(c, "/lastTransitionTime").to_string())
        .unwrap_or_else(now_rfc3339)
}

/// The target, as applied and as compared.
struct Desired {
    apply: Vec<Value>,
    compare: Vec<Value>,
}

/// How the live state compares with the target.
struct Comparison {
    out_of_sync: BTreeSet<(String, String, String, String)>,
    prunable: Vec<Value>,
    health: (Health, String),
    resources: Vec<Value>,
}

impl Comparison {
    fn in_sync(&self) -> bool {
        self.out_of_sync.is_empty() && self.prunable.is_empty()
    }
}

fn compare(state: &State, app: &Value, desired: &Desired, settings: Settings) -> Comparison {
    let mut out_of_sync = BTreeSet::new();
    let mut resources = Vec::new();
    let mut live_objects = Vec::new();
    let mut missing = false;
    for (object, view) in desired.apply.iter().zip(&desired.compare) {
        let live = state.live(object);
        let synced = live.is_some_and(|l| subset(view, l));
        if !synced {
            out_of_sync.insert(key(object));
        }
        let api_version = text(object, "/apiVersion");
        let mut item = json!({
            "group": group_of(api_version),
            "version": api_version.rsplit('/').next().unwrap_or(api_version),
            "kind": text(object, "/kind"),
            "name": text(object, "/metadata/name"),
            "status": if synced { "Synced" } else { "OutOfSync" },
        });
        if !text(object, "/metadata/namespace").is_empty() {
            item["namespace"] = json!(text(object, "/metadata/namespace"));
        }
        let health = match live {
            None => {
                missing = true;
                Some((Health::Missing, String::new()))
            }
            Some(live) => {
                live_objects.push(live);
                health::assess(live, settings.application_health)
            }
        };
        if settings.persist_resource_health {
            if let Some((health, message)) = health {
                item["health"] = json!({"status": health.as_str()});
                if !message.is_empty() {
                    item["health"]["message"] = json!(message);
                }
            }
        }
        resources.push(item);
    }
    let wanted: BTreeSet<_> = desired.apply.iter().map(key).collect();
    let prunable = tracked(state, text(app, "/metadata/name"))
        .into_iter()
        .filter(|o| !wanted.contains(&key(o)))
        .collect();
    let health = aggregate(live_objects.into_iter(), missing, settings);
    Comparison {
        out_of_sync,
        prunable,
        health,
        resources,
    }
}

/// The worst health of the live resources; Missing only when every one is missing (3.4+),
/// otherwise a missing resource makes it at least Progressing.
fn aggregate<'a>(
    live: impl Iterator<Item = &'a Value>,
    some_missing: bool,
    settings: Settings,
) -> (Health, String) {
    let mut worst = (Health::Healthy, String::new());
    let mut any = false;
    for object in live {
        any = true;
        if let Some((health, message)) = health::assess(object, settings.application_health) {
            if health > worst.0 {
                worst = (health, message);
            }
        }
    }
    if some_missing && !any {
        return (Health::Missing, String::new());
    }
    if some_missing && worst.0 < Health::Progressing {
        worst = (Health::Progressing, String::new());
    }
    worst
}

fn dry_run(state: &mut State, app: &Value, desired: &[Value]) -> Result<(), String> {
    let crds: BTreeSet<String> = desired
        .iter()
        .filter(|o| text(o, "/kind") == "CustomResourceDefinition")
        .map(|crd| {
            format!(
                "{}/{}",
                text(crd, "/spec/group"),
                text(crd, "/spec/names/kind")
            )
        })
        .collect();
    let mut problems = Vec::new();
    for object in desired {
        let api_version = text(object, "/apiVersion");
        let kind = text(object, "/kind");
        let resource = match state.resource_for(api_version, kind) {
            Ok(resource) => resource,
            Err(_) => {
                let crd_in_sync = crds.contains(&format!("{}/{kind}", group_of(api_version)));
                if !crd_in_sync
                    && !has_option(app, Some(object), "SkipDryRunOnMissingResource=true")
                {
                    problems.push(format!(
                        "The Kubernetes API could not find {}/{kind} for requested resource {}/{}. Make sure the \"{kind}\" CRD is installed on the destination cluster.",
                        group_of(api_version),
                        text(object, "/metadata/namespace"),
                        text(object, "/metadata/name")
                    ));
                }
                continue;
            }
        };
        // A namespace the sync itself creates does not exist yet: no dry run there.
        let namespace = text(object, "/metadata/namespace");
        if resource.namespaced {
            let exists = state
                .resource_for("v1", "Namespace")
                .ok()
                .is_some_and(|ns| state.get(&ns, "", namespace).is_some());
            if !exists {
                continue;
            }
        }
        let result = state.patch(
            &resource,
            namespace,
            text(object, "/metadata/name"),
            PatchKind::Apply,
            object.clone(),
            None,
            WriteOptions {
                dry_run: true,
                admit: true,
                field_manager: FIELD_MANAGER,
            },
        );
        if let Err(status) = result {
            problems.push(status.message);
        }
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(format!(
            "one or more synchronization tasks are not valid: {}",
            problems.join("; ")
        ))
    }
}

fn apply(state: &mut State, app: &Value, object: &Value) -> Result<(), String> {
    let api_version = text(object, "/apiVersion");
    let kind = text(object, "/kind");
    let resource = state
        .resource_for(api_version, kind)
        .map_err(|s| s.message)?;
    let namespace = text(object, "/metadata/namespace").to_string();
    let name = text(object, "/metadata/name").to_string();
    let options = WriteOptions {
        dry_run: false,
        admit: true,
        field_manager: FIELD_MANAGER,
    };
    let result = if has_option(app, Some(object), "ServerSideApply=true") {
        state.patch(
            &resource,
            &namespace,
            &name,
            PatchKind::Apply,
            object.clone(),
            None,
            options,
        )
    } else {
        // `kubectl apply`: the whole object goes into last-applied-configuration.
        let mut applied = object.clone();
        applied["metadata"]["annotations"][LAST_APPLIED] = json!(object.to_string());
        match state.get(&resource, &namespace, &name).cloned() {
            None => state.create(&resource, &namespace, applied, options),
            Some(_) => state.patch(
                &resource,
                &namespace,
                &name,
                PatchKind::Merge,
                applied,
                None,
                options,
            ),
        }
    };
    result.map(|_| ()).map_err(|status| status.message)
}

fn delete(state: &mut State, object: &Value) {
    if let Ok(resource) = state.resource_for(text(object, "/apiVersion"), text(object, "/kind")) {
        let _ = state.delete(
            &resource,
            text(object, "/metadata/namespace"),
            text(object, "/metadata/name"),
            WriteOptions {
                dry_run: false,
                admit: true,
                field_manager: FIELD_MANAGER,
            },
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn object(kind: &str, name: &str, namespace: &str, wave: Option<&str>) -> Value {
        let mut o = json!({"apiVersion": if kind == "CustomResourceDefinition" { "apiextensions.k8s.io/v1" } else { "v1" },
                           "kind": kind, "metadata": {"name": name}});
        if !namespace.is_empty() {
            o["metadata"]["namespace"] = json!(namespace);
        }
        if let Some(w) = wave {
            o["metadata"]["annotations"] = json!({"argocd.argoproj.io/sync-wave": w});
        }
        o
    }

    #[test]
    fn tasks_sort_by_wave_then_kind_and_namespaces_come_first() {
        let objects = vec![
            object("Service", "b", "ns", None),
            object("ConfigMap", "a", "ns", Some("-1")),
            object("Namespace", "ns", "", Some("5")),
        ];
        let order: Vec<(i64, String)> = sync_order(&objects)
            .into_iter()
            .map(|(w, o)| (w, text(&o, "/kind").to_string()))
            .collect();
        assert_eq!(
            order,
            vec![
                (-1, "Namespace".to_string()),
                (-1, "ConfigMap".to_string()),
                (0, "Service".to_string())
            ]
        );
    }

    #[test]
    fn live_objects_match_when_every_desired_field_does() {
        assert!(subset(
            &json!({"a": 1, "b": {"c": "x"}}),
            &json!({"a": 1, "b": {"c": "x", "d": 2}, "e": 3})
        ));
        assert!(!subset(&json!({"a": [1, 2]}), &json!({"a": [1]})));
        assert!(subset(&json!({"cpu": 1}), &json!({"cpu": "1"})));
        assert!(!subset(
            &json!({"b": {"c": "x"}}),
            &json!({"b": {"c": "y"}})
        ));
    }

    #[test]
    fn ignore_differences_drop_injected_fields_before_comparing() {
        let app = json!({"spec": {"ignoreDifferences": [{"group": "admissionregistration.k8s.io",
            "kind": "ValidatingWebhookConfiguration", "jqPathExpressions": [".webhooks[]?.clientConfig.caBundle"]}]}});
        let desired = json!({"apiVersion": "admissionregistration.k8s.io/v1", "kind": "ValidatingWebhookConfiguration",
                             "webhooks": [{"name": "w", "clientConfig": {"caBundle": ""}}]});
        let mut live = desired.clone();
        live["webhooks"][0]["clientConfig"]["caBundle"] = json!("LS0t");
        assert!(in_sync(&app, &desired, &live));
        assert!(!in_sync(&json!({}), &desired, &live));
    }
}
