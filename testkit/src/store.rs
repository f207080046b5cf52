//! The sim's state: every stored object, the resourceVersion counter, the event log watches
//! replay from, each field manager's last applied configuration, and the admission hooks.
//! All API semantics (create, replace, patch, delete, status subresource, dry-run, namespace
//! existence, owner-reference garbage collection, CRDs becoming served resources) live here so
//! the HTTP layer only translates.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::SystemTime;

use serde_json::{json, Value};
use tokio::sync::broadcast;

use crate::apply::{self, PatchKind};
use crate::resources::{self, Registry, ResourceType};
use crate::selector::{FieldSelector, LabelSelector};
use crate::status::Status;

/// A watch event type (`ADDED`, `MODIFIED`, `DELETED`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventType {
    Added,
    Modified,
    Deleted,
}

impl EventType {
    pub fn as_str(self) -> &'static str {
        match self {
            EventType::Added => "ADDED",
            EventType::Modified => "MODIFIED",
            EventType::Deleted => "DELETED",
        }
    }
}

/// One change, as watches and the scripted controllers see it.
#[derive(Debug, Clone)]
pub struct Event {
    pub resource_version: u64,
    pub event_type: EventType,
    pub group: String,
    pub plural: String,
    pub namespace: String,
    /// Shared: every watcher and the event log hold the same copy.
    pub object: Arc<Value>,
}

/// The admission operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Operation {
    Create,
    Update,
    Delete,
}

/// What an admission hook is asked about.
#[derive(Debug)]
pub struct AdmissionRequest<'a> {
    pub operation: Operation,
    pub resource: &'a ResourceType,
    pub namespace: &'a str,
    pub name: &'a str,
    /// The object after the change (absent for deletes).
    pub object: Option<&'a Value>,
    pub old_object: Option<&'a Value>,
    pub dry_run: bool,
}

/// A hook that may deny a request with a `Status` (as a webhook denial or a webhook failure).
pub type AdmissionHook = Arc<dyn Fn(&AdmissionRequest, &State) -> Result<(), Status> + Send + Sync>;

type ResourceKey = (String, String);
type ObjectKey = (String, String);

/// Everything the sim stores.
pub struct State {
    pub registry: Registry,
    objects: BTreeMap<ResourceKey, BTreeMap<ObjectKey, Value>>,
    resource_version: u64,
    uid_counter: u64,
    log: Vec<Event>,
    applied: HashMap<(String, String, String, String, String), Value>,
    hooks: Vec<(String, String, AdmissionHook)>,
    events: broadcast::Sender<Event>,
    establish_crds: bool,
    workloads_become_ready: bool,
}

/// Which write the caller is making.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WriteOptions<'a> {
    pub dry_run: bool,
    /// Run admission hooks (false for the sim's own controllers and test setup).
    pub admit: bool,
    pub field_manager: &'a str,
}

impl WriteOptions<'_> {
    pub const API: WriteOptions<'static> = WriteOptions {
        dry_run: false,
        admit: true,
        field_manager: "",
    };
    pub const INTERNAL: WriteOptions<'static> = WriteOptions {
        dry_run: false,
        admit: false,
        field_manager: "",
    };
}

pub fn now_rfc3339() -> String {
    humantime::format_rfc3339_seconds(SystemTime::now()).to_string()
}

fn name_of(object: &Value) -> &str {
    object
        .pointer("/metadata/name")
        .and_then(Value::as_str)
        .unwrap_or("")
}

/// `TotalAnnotationSizeLimitB` of k8s.io/apimachinery pkg/api/validation/objectmeta.go:
/// 256 KiB over every annotation's key and value.
pub const TOTAL_ANNOTATION_SIZE_LIMIT_BYTES: usize = 256 * (1 << 10);

/// `ValidateAnnotationsSize` (apimachinery pkg/api/validation/objectmeta.go): the API server
/// refuses an object whose annotations total more than 256 KiB with a 422 Invalid,
/// `metadata.annotations: Too long: must have at most 262144 bytes` (`field.TooLong`). This
/// is what breaks client-side apply of a large CRD.
fn check_annotations_size(
    resource: &ResourceType,
    name: &str,
    object: &Value,
) -> Result<(), Status> {
    let total: usize = object
        .pointer("/metadata/annotations")
        .and_then(Value::as_object)
        .map(|annotations| {
            annotations
                .iter()
                .map(|(k, v)| k.len() + v.as_str().map_or(0, str::len))
                .sum()
        })
        .unwrap_or(0);
    if total > TOTAL_ANNOTATION_SIZE_LIMIT_BYTES {
        // NewInvalid names the kind qualified by its group (schema.GroupKind).
        let kind = if resource.group.is_empty() {
            resource.kind.clone()
        } else {
            format!("{}.{}", resource.kind, resource.group)
        };
        return Err(Status::invalid(
            &kind,
            name,
            "metadata.annotations",
            &format!("Too long: must have at most {TOTAL_ANNOTATION_SIZE_LIMIT_BYTES} bytes"),
        ));
    }
    Ok(())
}

/// `metadata.finalizers` of an object.
pub fn finalizers(object: &Value) -> Vec<String> {
    object
        .pointer("/metadata/finalizers")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|f| f.as_str().map(str::to_string))
        .collect()
}

/// Whether an object is marked for deletion (and held by finalizers).
pub fn is_terminating(object: &Value) -> bool {
    object.pointer("/metadata/deletionTimestamp").is_some()
}

/// Whether a CRD's status carries `Established=True`.
fn crd_is_established(crd: &Value) -> bool {
    crd.pointer("/status/conditions")
        .and_then(Value::as_array)
        .is_some_and(|conditions| {
            conditions.iter().any(|c| {
                c.get("type").and_then(Value::as_str) == Some("Established")
                    && c.get("status").and_then(Value::as_str) == Some("True")
            })
        })
}

/// Whether anything but metadata and status differs: a change there bumps
/// `metadata.generation`.
fn desired_differs(a: &Value, b: &Value) -> bool {
    let (Some(a), Some(b)) = (a.as_object(), b.as_object()) else {
        return a != b;
    };
    let relevant = |key: &String| key != "metadata" && key != "status";
    a.keys().filter(|k| relevant(k)).count() != b.keys().filter(|k| relevant(k)).count()
        || a.iter()
            .filter(|(k, _)| relevant(k))
            .any(|(k, v)| b.get(k) != Some(v))
}

impl State {
    pub fn new() -> Self {
        let (events, _) = broadcast::channel(65_536);
        State {
            registry: Registry::default(),
            objects: BTreeMap::new(),
            resource_version: 1000,
            uid_counter: 0,
            log: Vec::new(),
            applied: HashMap::new(),
            hooks: Vec::new(),
            events,
            establish_crds: true,
            workloads_become_ready: false,
        }
    }

    pub fn subscribe(&self) -> broadcast::Receiver<Event> {
        self.events.subscribe()
    }

    pub fn resource_version(&self) -> u64 {
        self.resource_version
    }

    /// Whether a stored CRD is Established (and its kind served) at once, as the apiextensions
    /// controllers do within moments on a real server. Off, a CRD's kind is served only once a
    /// test writes an `Established=True` condition into its status: until then its custom
    /// resources are a 404 for an unserved resource, as on a real server mid-install.
    pub fn set_establish_crds(&mut self, on: bool) {
        self.establish_crds = on;
    }

    /// A scripted workload controller for install tests: Deployments, StatefulSets and
    /// DaemonSets written through the API get a ready status for their generation in the same
    /// write (the sim's own writes and test setup are left as given).
    pub fn set_workloads_become_ready(&mut self, on: bool) {
        self.workloads_become_ready = on;
    }

    /// The ready status a workload controller writes (apps/v1 DeploymentStatus,
    /// StatefulSetStatus, DaemonSetStatus; Kubernetes API reference).
    fn mark_workload_ready(&self, resource: &ResourceType, object: &mut Value) {
        if !self.workloads_become_ready || resource.group != "apps" {
            return;
        }
        let generation = object
            .pointer("/metadata/generation")
            .and_then(Value::as_i64)
            .unwrap_or(1);
        let replicas = object
            .pointer("/spec/replicas")
            .and_then(Value::as_i64)
            .unwrap_or(1);
        object["status"] = match resource.kind.as_str() {
            "Deployment" => json!({"observedGeneration": generation, "replicas": replicas,
                "readyReplicas": replicas, "updatedReplicas": replicas, "availableReplicas": replicas,
                "conditions": [{"type": "Available", "status": "True", "reason": "MinimumReplicasAvailable",
                                "message": "Deployment has minimum availability."}]}),
            "StatefulSet" => json!({"observedGeneration": generation, "replicas": replicas,
                "readyReplicas": replicas, "updatedReplicas": replicas, "currentReplicas": replicas,
                "availableReplicas": replicas}),
            "DaemonSet" => json!({"observedGeneration": generation, "desiredNumberScheduled": 1,
                "currentNumberScheduled": 1, "numberReady": 1, "updatedNumberScheduled": 1,
                "numberAvailable": 1, "numberMisscheduled": 0}),
            _ => return,
        };
    }

    /// Registers a hook for `kind` in `group` (`"*"` for every kind).
    pub fn add_hook(&mut self, group: &str, kind: &str, hook: AdmissionHook) {
        self.hooks.push((group.into(), kind.into(), hook));
    }

    fn next_uid(&mut self) -> String {
        self.uid_counter += 1;
        format!("5e4a1c00-0000-4000-8000-{:012x}", self.uid_counter)
    }

    fn generated_suffix(&mut self) -> String {
        // The alphabet of k8s.io/apimachinery pkg/util/rand (no vowels, no confusables).
        const ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
        self.uid_counter += 1;
        let mut n = self.uid_counter.wrapping_mul(2_654_435_761) ^ 0x5bd1e995;
        (0..5)
            .map(|_| {
                let c = ALPHABET[(n % ALPHABET.len() as u64) as usize] as char;
                n /= ALPHABET.len() as u64;
                c
            })
            .collect()
    }

    fn resource_key(resource: &ResourceType) -> ResourceKey {
        (resource.group.clone(), resource.plural.clone())
    }

    fn scope<'a>(resource: &ResourceType, namespace: &'a str) -> &'a str {
        if resource.namespaced {
            namespace
        } else {
            ""
        }
    }

    pub fn get(&self, resource: &ResourceType, namespace: &str, name: &str) -> Option<&Value> {
        self.objects.get(&Self::resource_key(resource))?.get(&(
            Self::scope(resource, namespace).to_string(),
            name.to_string(),
        ))
    }

    /// Objects of a resource, in one namespace or all (`None`), filtered by selectors.
    pub fn list(
        &self,
        resource: &ResourceType,
        namespace: Option<&str>,
        labels: Option<&LabelSelector>,
        fields: Option<&FieldSelector>,
    ) -> Vec<Value> {
        let Some(objects) = self.objects.get(&Self::resource_key(resource)) else {
            return Vec::new();
        };
        objects
            .iter()
            .filter(|((ns, _), _)| namespace.is_none_or(|want| !resource.namespaced || ns == want))
            .map(|(_, object)| object)
            .filter(|o| labels.is_none_or(|s| s.matches(o)))
            .filter(|o| fields.is_none_or(|s| s.matches(o)))
            .cloned()
            .collect()
    }

    /// Looks a resource up by a manifest's apiVersion and kind.
    pub fn resource_for(&self, api_version: &str, kind: &str) -> Result<ResourceType, Status> {
        self.registry
            .by_kind(api_version, kind)
            .cloned()
            .ok_or_else(|| {
                Status::failure(
                    404,
                    "NotFound",
                    format!(
                        "the server could not find the requested resource (kind {kind} in {api_version})"
                    ),
                )
            })
    }

    fn admit(&self, request: &AdmissionRequest) -> Result<(), Status> {
        let hooks: Vec<AdmissionHook> = self
            .hooks
            .iter()
            .filter(|(group, kind, _)| {
                (group == "*" || *group == request.resource.group)
                    && (kind == "*" || *kind == request.resource.kind)
            })
            .map(|(_, _, hook)| hook.clone())
            .collect();
        for hook in hooks {
            hook(request, self)?;
        }
        Ok(())
    }

    fn check_namespace(&self, resource: &ResourceType, namespace: &str) -> Result<(), Status> {
        if !resource.namespaced {
            return Ok(());
        }
        if namespace.is_empty() {
            return Err(Status::bad_request(
                "the server could not find the requested resource: a namespace is required",
            ));
        }
        let namespaces = self
            .registry
            .by_plural("", "v1", "namespaces")
            .expect("namespaces are built in");
        if self.get(namespaces, "", namespace).is_none() {
            return Err(Status::not_found("", "namespaces", namespace));
        }
        Ok(())
    }

    fn record(
        &mut self,
        resource: &ResourceType,
        namespace: &str,
        event_type: EventType,
        object: Value,
    ) {
        let event = Event {
            resource_version: self.resource_version,
            event_type,
            group: resource.group.clone(),
            plural: resource.plural.clone(),
            namespace: namespace.to_string(),
            object: Arc::new(object),
        };
        self.log.push(event.clone());
        let _ = self.events.send(event);
    }

    /// Stores `object` with the next resourceVersion and tells watchers.
    fn commit(
        &mut self,
        resource: &ResourceType,
        namespace: &str,
        mut object: Value,
        event_type: EventType,
    ) -> Value {
        self.resource_version += 1;
        object["metadata"]["resourceVersion"] = json!(self.resource_version.to_string());
        if resource.group == "apiextensions.k8s.io" && resource.kind == "CustomResourceDefinition" {
            if self.establish_crds {
                object = self.establish_crd(object);
            } else if crd_is_established(&object) {
                if let Some(served) = resources::from_crd(&object) {
                    self.registry.register(served);
                }
            }
        }
        let namespace = Self::scope(resource, namespace).to_string();
        self.objects
            .entry(Self::resource_key(resource))
            .or_default()
            .insert(
                (namespace.clone(), name_of(&object).to_string()),
                object.clone(),
            );
        self.record(resource, &namespace, event_type, object.clone());
        object
    }

    /// A stored CRD is served at once and reports Established and NamesAccepted, as the
    /// apiextensions controllers do within moments on a real server.
    fn establish_crd(&mut self, mut crd: Value) -> Value {
        if let Some(resource) = resources::from_crd(&crd) {
            self.registry.register(resource);
            let now = now_rfc3339();
            crd["status"] = json!({
                "conditions": [
                    {"type": "NamesAccepted", "status": "True", "reason": "NoConflicts",
                     "message": "no conflicts found", "lastTransitionTime": now},
                    {"type": "Established", "status": "True", "reason": "InitialNamesAccepted",
                     "message": "the initial names have been accepted", "lastTransitionTime": now},
                ],
                "acceptedNames": crd.pointer("/spec/names").cloned().unwrap_or(json!({})),
                "storedVersions": [crd.pointer("/spec/versions/0/name").cloned().unwrap_or(json!("v1"))],
            });
        }
        crd
    }

    /// POST: creates an object in `namespace` (the request path's).
    pub fn create(
        &mut self,
        resource: &ResourceType,
        namespace: &str,
        mut object: Value,
        options: WriteOptions,
    ) -> Result<Value, Status> {
        if !object.is_object() {
            return Err(Status::bad_request(
                "the body of the request was not a JSON object",
            ));
        }
        let namespace = Self::scope(resource, namespace).to_string();
        if let Some(body_ns) = object
            .pointer("/metadata/namespace")
            .and_then(Value::as_str)
        {
            if resource.namespaced && !namespace.is_empty() && body_ns != namespace {
                return Err(Status::bad_request(
                    "the namespace of the provided object does not match the namespace sent on the request",
                ));
            }
        }
        let mut name = name_of(&object).to_string();
        if name.is_empty() {
            match object
                .pointer("/metadata/generateName")
                .and_then(Value::as_str)
            {
                Some(prefix) => name = format!("{prefix}{}", self.generated_suffix()),
                None => {
                    return Err(Status::invalid(
                        &resource.kind,
                        "",
                        "metadata.name",
                        "Required value: name or generateName is required",
                    ))
                }
            }
        }
        check_annotations_size(resource, &name, &object)?;
        self.check_namespace(resource, &namespace)?;
        if self.get(resource, &namespace, &name).is_some() {
            return Err(Status::already_exists(
                &resource.group,
                &resource.plural,
                &name,
            ));
        }
        let uid = self.next_uid();
        let metadata = object["metadata"]
            .as_object_mut()
            .cloned()
            .unwrap_or_default();
        object["metadata"] = Value::Object(metadata);
        object["metadata"]["name"] = json!(name);
        if resource.namespaced {
            object["metadata"]["namespace"] = json!(namespace);
        }
        object["metadata"]["uid"] = json!(uid);
        object["metadata"]["creationTimestamp"] = json!(now_rfc3339());
        object["metadata"]["generation"] = json!(1);
        if object.get("apiVersion").is_none() {
            object["apiVersion"] = json!(resource.api_version(resource.preferred_version()));
        }
        if object.get("kind").is_none() {
            object["kind"] = json!(resource.kind);
        }
        if options.admit {
            self.admit(&AdmissionRequest {
                operation: Operation::Create,
                resource,
                namespace: &namespace,
                name: &name,
                object: Some(&object),
                old_object: None,
                dry_run: options.dry_run,
            })?;
            self.mark_workload_ready(resource, &mut object);
        }
        if options.dry_run {
            return Ok(object);
        }
        Ok(self.commit(resource, &namespace, object, EventType::Added))
    }

    /// Validates and stores a new version of an existing object (PUT and PATCH end here).
    fn write_existing(
        &mut self,
        resource: &ResourceType,
        namespace: &str,
        name: &str,
        mut object: Value,
        status_only: bool,
        options: WriteOptions,
    ) -> Result<Value, Status> {
        let namespace = Self::scope(resource, namespace).to_string();
        let existing = self
            .get(resource, &namespace, name)
            .cloned()
            .ok_or_else(|| Status::not_found(&resource.group, &resource.plural, name))?;
        if status_only {
            let mut updated = existing.clone();
            updated["status"] = object.get("status").cloned().unwrap_or(Value::Null);
            object = updated;
        } else if resource.status_subresource {
            match existing.get("status") {
                Some(status) => object["status"] = status.clone(),
                None => {
                    if let Some(map) = object.as_object_mut() {
                        map.remove("status");
                    }
                }
            }
        }
        if !status_only {
            check_annotations_size(resource, name, &object)?;
        }
        for field in [
            "uid",
            "creationTimestamp",
            "namespace",
            "name",
            "deletionTimestamp",
        ] {
            if let Some(value) = existing["metadata"].get(field) {
                object["metadata"][field] = value.clone();
            }
        }
        let generation = existing
            .pointer("/metadata/generation")
            .and_then(Value::as_i64)
            .unwrap_or(1);
        let changed = desired_differs(&existing, &object);
        object["metadata"]["generation"] = json!(if changed { generation + 1 } else { generation });
        if object.get("apiVersion").is_none() {
            object["apiVersion"] = existing["apiVersion"].clone();
        }
        if object.get("kind").is_none() {
            object["kind"] = json!(resource.kind);
        }
        if options.admit && !status_only {
            self.admit(&AdmissionRequest {
                operation: Operation::Update,
                resource,
                namespace: &namespace,
                name,
                object: Some(&object),
                old_object: Some(&existing),
                dry_run: options.dry_run,
            })?;
            self.mark_workload_ready(resource, &mut object);
        }
        if options.dry_run {
            return Ok(object);
        }
        // Compared in place (objects can be megabytes): the new version as it would be stored
        // with the old resourceVersion.
        object["metadata"]["resourceVersion"] = existing["metadata"]["resourceVersion"].clone();
        if object == existing {
            // A no-op write keeps the resourceVersion and emits no event, as on a real server.
            return Ok(existing);
        }
        let committed = self.commit(resource, &namespace, object, EventType::Modified);
        if is_terminating(&committed) && finalizers(&committed).is_empty() {
            // The last finalizer is gone from an object being deleted: it goes now.
            self.remove(resource, &namespace, name);
        }
        Ok(committed)
    }

    /// PUT, on the object or its status subresource.
    pub fn replace(
        &mut self,
        resource: &ResourceType,
        namespace: &str,
        name: &str,
        object: Value,
        subresource: Option<&str>,
        options: WriteOptions,
    ) -> Result<Value, Status> {
        if let Some(sent) = object
            .pointer("/metadata/resourceVersion")
            .and_then(Value::as_str)
        {
            if let Some(existing) = self.get(resource, namespace, name) {
                if existing
                    .pointer("/metadata/resourceVersion")
                    .and_then(Value::as_str)
                    != Some(sent)
                {
                    return Err(Status::conflict(&resource.group, &resource.plural, name));
                }
            }
        }
        self.write_existing(
            resource,
            namespace,
            name,
            object,
            subresource == Some("status"),
            options,
        )
    }

    /// PATCH in any of the supported formats; server-side apply creates a missing object.
    #[allow(clippy::too_many_arguments)]
    pub fn patch(
        &mut self,
        resource: &ResourceType,
        namespace: &str,
        name: &str,
        kind: PatchKind,
        body: Value,
        subresource: Option<&str>,
        options: WriteOptions,
    ) -> Result<Value, Status> {
        let scope = Self::scope(resource, namespace).to_string();
        let manager_key = (
            resource.group.clone(),
            resource.plural.clone(),
            scope.clone(),
            name.to_string(),
            options.field_manager.to_string(),
        );
        if kind == PatchKind::Apply && options.field_manager.is_empty() {
            return Err(Status::bad_request(
                "PatchOptions.meta.k8s.io \"\" is invalid: fieldManager: Required value: is required for apply patch",
            ));
        }
        let existing = self.get(resource, &scope, name).cloned();
        let Some(existing) = existing else {
            if kind != PatchKind::Apply {
                return Err(Status::not_found(&resource.group, &resource.plural, name));
            }
            let mut object = body.clone();
            object["metadata"]["name"] = json!(name);
            if let Some(map) = object.as_object_mut() {
                if resource.status_subresource && subresource.is_none() {
                    map.remove("status");
                }
            }
            let created = self.create(resource, &scope, object, options)?;
            if !options.dry_run {
                self.applied.insert(manager_key, body);
            }
            return Ok(created);
        };
        let mut patched =
            apply::apply_patch(&existing, kind, &body).map_err(Status::bad_request)?;
        if kind == PatchKind::Apply {
            if let Some(previous) = self.applied.get(&manager_key) {
                apply::remove_dropped(&mut patched, previous, &body);
            }
        }
        let result = self.write_existing(
            resource,
            &scope,
            name,
            patched,
            subresource == Some("status"),
            options,
        )?;
        if kind == PatchKind::Apply && !options.dry_run {
            self.applied.insert(manager_key, body);
        }
        Ok(result)
    }

    /// DELETE; dependents (owner references, a namespace's contents, a CRD's objects) go too.
    pub fn delete(
        &mut self,
        resource: &ResourceType,
        namespace: &str,
        name: &str,
        options: WriteOptions,
    ) -> Result<Value, Status> {
        let scope = Self::scope(resource, namespace).to_string();
        let existing = self
            .get(resource, &scope, name)
            .cloned()
            .ok_or_else(|| Status::not_found(&resource.group, &resource.plural, name))?;
        if options.admit {
            self.admit(&AdmissionRequest {
                operation: Operation::Delete,
                resource,
                namespace: &scope,
                name,
                object: None,
                old_object: Some(&existing),
                dry_run: options.dry_run,
            })?;
        }
        if options.dry_run {
            return Ok(existing);
        }
        if !finalizers(&existing).is_empty() {
            // Finalizers hold the object: it is marked for deletion and stays until the
            // controllers owning them remove them (apimachinery registry/generic/registry/store.go
            // `Delete`, graceful deletion with finalizers).
            if is_terminating(&existing) {
                return Ok(existing);
            }
            let mut marked = existing;
            marked["metadata"]["deletionTimestamp"] = json!(now_rfc3339());
            return Ok(self.commit(resource, &scope, marked, EventType::Modified));
        }
        self.remove(resource, &scope, name);
        Ok(existing)
    }

    fn remove(&mut self, resource: &ResourceType, namespace: &str, name: &str) {
        let key = Self::resource_key(resource);
        let Some(mut object) = self
            .objects
            .get_mut(&key)
            .and_then(|objects| objects.remove(&(namespace.to_string(), name.to_string())))
        else {
            return;
        };
        self.applied.retain(|(g, p, ns, n, _), _| {
            !(g == &resource.group && p == &resource.plural && ns == namespace && n == name)
        });
        self.resource_version += 1;
        object["metadata"]["deletionTimestamp"] = json!(now_rfc3339());
        object["metadata"]["resourceVersion"] = json!(self.resource_version.to_string());
        let uid = object
            .pointer("/metadata/uid")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string();
        self.record(resource, namespace, EventType::Deleted, object.clone());

        let mut dependents: Vec<(ResourceType, String, String)> = Vec::new();
        let is_namespace = resource.group.is_empty() && resource.plural == "namespaces";
        let crd = (resource.group == "apiextensions.k8s.io")
            .then(|| resources::from_crd(&object))
            .flatten();
        for ((group, plural), objects) in &self.objects {
            let Some(child_type) = self
                .registry
                .resource_types()
                .find(|t| t.group == *group && t.plural == *plural)
                .cloned()
            else {
                continue;
            };
            for ((ns, child_name), child) in objects {
                let owned = child
                    .pointer("/metadata/ownerReferences")
                    .and_then(Value::as_array)
                    .is_some_and(|refs| {
                        refs.iter()
                            .any(|r| r.get("uid").and_then(Value::as_str) == Some(&uid))
                    });
                let in_namespace = is_namespace && child_type.namespaced && ns == name;
                let of_crd = crd
                    .as_ref()
                    .is_some_and(|c| c.group == *group && c.plural == *plural);
                if owned || in_namespace || of_crd {
                    dependents.push((child_type.clone(), ns.clone(), child_name.clone()));
                }
            }
        }
        for (child_type, ns, child_name) in dependents {
            self.remove(&child_type, &ns, &child_name);
        }
        if let Some(crd) = crd {
            self.objects
                .remove(&(crd.group.clone(), crd.plural.clone()));
            self.registry.unregister(&crd.group, &crd.plural);
        }
    }

    /// Events a watch starting at `since` must see first: the log after it, or (without a
    /// version) one synthetic `ADDED` per existing object.
    pub fn backlog(
        &self,
        resource: &ResourceType,
        namespace: Option<&str>,
        since: Option<u64>,
    ) -> Vec<Event> {
        match since {
            Some(version) if version > 0 => self
                .log
                .iter()
                .filter(|e| e.resource_version > version)
                .filter(|e| e.group == resource.group && e.plural == resource.plural)
                .filter(|e| namespace.is_none_or(|ns| e.namespace == ns))
                .cloned()
                .collect(),
            _ => self
                .list(resource, namespace, None, None)
                .into_iter()
                .map(|object| Event {
                    resource_version: self.resource_version,
                    event_type: EventType::Added,
                    group: resource.group.clone(),
                    plural: resource.plural.clone(),
                    namespace: object
                        .pointer("/metadata/namespace")
                        .and_then(Value::as_str)
                        .unwrap_or("")
                        .to_string(),
                    object: Arc::new(object),
                })
                .collect(),
        }
    }

    /// Every stored object `keep` accepts, cloned (only those are cloned: CRDs can be large).
    pub fn find_all(&self, keep: impl Fn(&Value) -> bool) -> Vec<Value> {
        self.objects
            .values()
            .flat_map(|objects| objects.values())
            .filter(|object| keep(object))
            .cloned()
            .collect()
    }

    /// The stored object a manifest names (by apiVersion, kind, namespace and name), by
    /// reference.
    pub fn live(&self, manifest: &Value) -> Option<&Value> {
        let text = |p: &str| manifest.pointer(p).and_then(Value::as_str).unwrap_or("");
        let resource = self.resource_for(text("/apiVersion"), text("/kind")).ok()?;
        self.get(
            &resource,
            text("/metadata/namespace"),
            text("/metadata/name"),
        )
    }

    /// Every stored object, CRDs and Namespaces first, so `restore` can load them in order.
    pub fn snapshot(&self) -> Vec<Value> {
        let mut first = Vec::new();
        let mut rest = Vec::new();
        for ((group, plural), objects) in &self.objects {
            let early = (group == "apiextensions.k8s.io" && plural == "customresourcedefinitions")
                || (group.is_empty() && plural == "namespaces");
            for object in objects.values() {
                if early {
                    first.push(object.clone());
                } else {
                    rest.push(object.clone());
                }
            }
        }
        first.sort_by_key(|o| o["kind"] != "CustomResourceDefinition");
        first.extend(rest);
        first
    }

    /// Stores an object exactly as captured (uid, generation, status kept), registering CRDs:
    /// how a snapshot is loaded back.
    pub fn restore(&mut self, object: Value) -> Result<(), Status> {
        let api_version = object
            .get("apiVersion")
            .and_then(Value::as_str)
            .unwrap_or("");
        let kind = object.get("kind").and_then(Value::as_str).unwrap_or("");
        let resource = self.resource_for(api_version, kind)?;
        let namespace = object
            .pointer("/metadata/namespace")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string();
        if let Some(counter) = object
            .pointer("/metadata/uid")
            .and_then(Value::as_str)
            .and_then(|uid| uid.rsplit('-').next())
            .and_then(|tail| u64::from_str_radix(tail, 16).ok())
        {
            self.uid_counter = self.uid_counter.max(counter);
        }
        self.commit(&resource, &namespace, object, EventType::Added);
        Ok(())
    }

    /// Creates or wholly replaces an object by its apiVersion/kind, bypassing admission (test
    /// setup and scripted controllers). Status is taken as given.
    pub fn put(&mut self, object: Value) -> Result<Value, Status> {
        let api_version = object
            .get("apiVersion")
            .and_then(Value::as_str)
            .unwrap_or("");
        let kind = object.get("kind").and_then(Value::as_str).unwrap_or("");
        let resource = self.resource_for(api_version, kind)?;
        let namespace = object
            .pointer("/metadata/namespace")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string();
        let name = name_of(&object).to_string();
        if self.get(&resource, &namespace, &name).is_none() {
            return self.create(&resource, &namespace, object, WriteOptions::INTERNAL);
        }
        let status = object.get("status").cloned();
        let mut written = self.write_existing(
            &resource,
            &namespace,
            &name,
            object,
            false,
            WriteOptions::INTERNAL,
        )?;
        if let Some(status) = status {
            if resource.status_subresource && written.get("status") != Some(&status) {
                written = self.write_existing(
                    &resource,
                    &namespace,
                    &name,
                    json!({"status": status}),
                    true,
                    WriteOptions::INTERNAL,
                )?;
            }
        }
        Ok(written)
    }

    /// Replaces an object's status (the scripted controllers' write).
    pub fn set_status(
        &mut self,
        resource: &ResourceType,
        namespace: &str,
        name: &str,
        status: Value,
    ) -> Result<Value, Status> {
        self.write_existing(
            resource,
            namespace,
            name,
            json!({"status": status}),
            true,
            WriteOptions::INTERNAL,
        )
    }
}

impl Default for State {
    fn default() -> Self {
        State::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn state_with_namespace(ns: &str) -> State {
        let mut state = State::new();
        state
            .put(json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}}))
            .unwrap();
        state
    }

    fn deployments(state: &State) -> ResourceType {
        state
            .registry
            .by_plural("apps", "v1", "deployments")
            .unwrap()
            .clone()
    }

    fn deployment(name: &str) -> Value {
        json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name},
               "spec": {"replicas": 1}})
    }

    #[test]
    fn create_in_a_missing_namespace_is_not_found() {
        let mut state = State::new();
        let resource = deployments(&state);
        let err = state
            .create(&resource, "models", deployment("d"), WriteOptions::API)
            .unwrap_err();
        assert_eq!(err.message, "namespaces \"models\" not found");
    }

    #[test]
    fn create_twice_is_already_exists_and_dry_run_stores_nothing() {
        let mut state = state_with_namespace("models");
        let resource = deployments(&state);
        let dry = WriteOptions {
            dry_run: true,
            ..WriteOptions::API
        };
        state
            .create(&resource, "models", deployment("d"), dry)
            .unwrap();
        assert!(state.get(&resource, "models", "d").is_none());
        state
            .create(&resource, "models", deployment("d"), WriteOptions::API)
            .unwrap();
        let err = state
            .create(&resource, "models", deployment("d"), WriteOptions::API)
            .unwrap_err();
        assert_eq!((err.code, err.reason.as_str()), (409, "AlreadyExists"));
    }

    #[test]
    fn spec_changes_bump_generation_and_status_writes_do_not() {
        let mut state = state_with_namespace("models");
        let resource = deployments(&state);
        state
            .create(&resource, "models", deployment("d"), WriteOptions::API)
            .unwrap();
        let options = WriteOptions {
            field_manager: "neuroscale",
            ..WriteOptions::API
        };
        let patched = state
            .patch(
                &resource,
                "models",
                "d",
                PatchKind::Apply,
                json!({"spec": {"replicas": 2}}),
                None,
                options,
            )
            .unwrap();
        assert_eq!(patched["metadata"]["generation"], 2);
        let with_status = state
            .set_status(&resource, "models", "d", json!({"readyReplicas": 2}))
            .unwrap();
        assert_eq!(with_status["metadata"]["generation"], 2);
        assert_eq!(with_status["status"]["readyReplicas"], 2);
    }

    #[test]
    fn deleting_an_owner_collects_its_dependents() {
        let mut state = state_with_namespace("models");
        let resource = deployments(&state);
        let owner = state
            .create(&resource, "models", deployment("d"), WriteOptions::API)
            .unwrap();
        state
            .put(json!({"apiVersion": "v1", "kind": "Pod",
                        "metadata": {"name": "d-1", "namespace": "models",
                                     "ownerReferences": [{"uid": owner["metadata"]["uid"]}]}}))
            .unwrap();
        state
            .delete(&resource, "models", "d", WriteOptions::API)
            .unwrap();
        let pods = state.registry.by_plural("", "v1", "pods").unwrap().clone();
        assert!(state.get(&pods, "models", "d-1").is_none());
    }

    #[test]
    fn hooks_can_deny() {
        let mut state = state_with_namespace("models");
        state.add_hook(
            "apps",
            "Deployment",
            Arc::new(|_, _| Err(Status::webhook_denied("w", "no"))),
        );
        let resource = deployments(&state);
        let err = state
            .create(&resource, "models", deployment("d"), WriteOptions::API)
            .unwrap_err();
        assert_eq!(err.code, 400);
        assert!(state.get(&resource, "models", "d").is_none());
    }

    #[test]
    fn annotations_over_256_kib_are_invalid_on_create_and_update() {
        let mut state = state_with_namespace("models");
        let resource = deployments(&state);
        let mut big = deployment("d");
        big["metadata"]["annotations"] =
            json!({"a": "x".repeat(TOTAL_ANNOTATION_SIZE_LIMIT_BYTES)});
        let err = state
            .create(&resource, "models", big.clone(), WriteOptions::API)
            .unwrap_err();
        assert_eq!((err.code, err.reason.as_str()), (422, "Invalid"));
        assert_eq!(
            err.message,
            "Deployment.apps \"d\" is invalid: metadata.annotations: Too long: must have at most 262144 bytes"
        );
        state
            .create(&resource, "models", deployment("d"), WriteOptions::API)
            .unwrap();
        let err = state
            .replace(&resource, "models", "d", big, None, WriteOptions::API)
            .unwrap_err();
        assert_eq!(err.code, 422);
    }

    #[test]
    fn a_crd_left_unestablished_serves_its_kind_only_once_established() {
        let mut state = State::new();
        state.set_establish_crds(false);
        let crd = json!({"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
            "metadata": {"name": "appprojects.argoproj.io"},
            "spec": {"group": "argoproj.io", "scope": "Namespaced",
                     "names": {"kind": "AppProject", "plural": "appprojects"},
                     "versions": [{"name": "v1alpha1", "served": true, "storage": true}]}});
        state.put(crd).unwrap();
        assert!(state
            .resource_for("argoproj.io/v1alpha1", "AppProject")
            .is_err());
        let crds = state
            .resource_for("apiextensions.k8s.io/v1", "CustomResourceDefinition")
            .unwrap();
        state
            .set_status(
                &crds,
                "",
                "appprojects.argoproj.io",
                json!({"conditions": [{"type": "Established", "status": "True"}]}),
            )
            .unwrap();
        assert!(state
            .resource_for("argoproj.io/v1alpha1", "AppProject")
            .is_ok());
    }

    #[test]
    fn workloads_written_through_the_api_become_ready_when_scripted() {
        let mut state = state_with_namespace("models");
        let resource = deployments(&state);
        state.set_workloads_become_ready(true);
        let stored = state
            .create(&resource, "models", deployment("d"), WriteOptions::API)
            .unwrap();
        assert_eq!(stored["status"]["readyReplicas"], 1);
        let mut internal = deployment("e");
        internal["metadata"]["namespace"] = json!("models");
        let stored = state.put(internal).unwrap();
        assert!(
            stored.get("status").is_none(),
            "test setup is stored as given"
        );
    }
}
