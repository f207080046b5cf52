//! neuroscale-testkit: a simulated Kubernetes cluster on loopback for neuroscale's tests.
//! It is test support, never a mode of the product.
//!
//! `SimCluster::start()` serves an in-memory API server (discovery, REST, watch, server-side
//! apply, dry-run, status subresource, `metav1.Status` errors) on `http://127.0.0.1:<port>` and
//! writes a kubeconfig pointing at it. Tests seed objects with `put`, read them with `get`, and
//! plant admission behaviour with `on_admission`.
//!
//! Modules: `status` (Status errors), `resources` (served kinds, discovery), `selector` (label
//! and field selectors), `apply` (patch semantics), `store` (objects, versions, events, hooks),
//! `server` (HTTP routing); the platform on top: `preset` (the healthy platform's objects),
//! `controllers` (scripted controller behaviour), `webhooks` (admission: webhook reachability and
//! Kyverno's policies), `endpoints` (Kourier gateway and OpenCost API), `faults` (one planted
//! fault per check), `platform` (`SimPlatform`, all of it running).

pub mod apply;
pub mod appset;
pub mod argocd;
pub mod certmanager;
pub mod controllers;
pub mod endpoints;
pub mod faults;
pub mod gitrepo;
pub mod health;
pub mod k3d_standin;
pub mod kyverno;
pub mod mirror;
pub mod platform;
pub mod preset;
pub mod rbac;
pub mod render;
pub mod resources;
pub mod selector;
pub mod server;
pub mod status;
pub mod store;
pub mod webhooks;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde_json::Value;

pub use faults::Fault;
pub use platform::{SimPlatform, Snapshot};
pub use server::RecordedRequest;
pub use status::Status;
pub use store::{AdmissionRequest, Event, EventType, Operation, State};

/// The kube context name the sim's kubeconfig uses unless told otherwise: the harness's own k3d
/// context (k3d names contexts `k3d-<cluster>`), so mutating checks may run.
pub const DEFAULT_CONTEXT: &str = "k3d-neuroscale";

/// Errors starting the sim.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("failed to bind the simulated API server on 127.0.0.1")]
    Bind(#[source] std::io::Error),
    #[error("failed to write the simulated cluster's kubeconfig or read the project's manifests")]
    Kubeconfig(#[source] std::io::Error),
    #[error("failed to build a kube client for the simulated cluster")]
    Client(#[source] kube::Error),
}

/// A running simulated cluster. Dropping it stops the server and removes its kubeconfig.
pub struct SimCluster {
    shared: Arc<server::Shared>,
    server_task: tokio::task::JoinHandle<()>,
    dir: tempfile::TempDir,
    kubeconfig: PathBuf,
    context: String,
}

impl SimCluster {
    /// Starts an empty cluster (built-in kinds only) with the default context name.
    pub async fn start() -> Result<SimCluster, Error> {
        SimCluster::start_with_context(DEFAULT_CONTEXT).await
    }

    /// Starts an empty cluster whose kubeconfig names its context `context`.
    pub async fn start_with_context(context: &str) -> Result<SimCluster, Error> {
        let (shared, server_task) = server::serve(State::new()).await.map_err(Error::Bind)?;
        let dir = tempfile::tempdir().map_err(Error::Kubeconfig)?;
        let kubeconfig = dir.path().join("kubeconfig");
        let sim = SimCluster {
            shared,
            server_task,
            dir,
            kubeconfig,
            context: context.to_string(),
        };
        std::fs::write(&sim.kubeconfig, sim.kubeconfig_yaml()).map_err(Error::Kubeconfig)?;
        Ok(sim)
    }

    /// `http://127.0.0.1:<port>`.
    pub fn url(&self) -> String {
        format!("http://{}", self.shared.address)
    }

    pub fn context(&self) -> &str {
        &self.context
    }

    /// A kubeconfig whose current context points at the sim.
    pub fn kubeconfig_yaml(&self) -> String {
        let context = &self.context;
        format!(
            "apiVersion: v1\nkind: Config\nclusters:\n- name: {context}\n  cluster:\n    server: {url}\n\
             contexts:\n- name: {context}\n  context:\n    cluster: {context}\n    user: admin@{context}\n\
             current-context: {context}\nusers:\n- name: admin@{context}\n  user: {{}}\n",
            url = self.url()
        )
    }

    pub fn kubeconfig_path(&self) -> &Path {
        &self.kubeconfig
    }

    /// A scratch directory that lives as long as the sim (for a GitOps cache, reports...).
    pub fn scratch_dir(&self) -> &Path {
        self.dir.path()
    }

    /// A kube client for the sim (call inside a tokio runtime).
    pub fn client(&self) -> Result<kube::Client, Error> {
        let url = self.url().parse().expect("the sim's URL is a valid URI");
        kube::Client::try_from(kube::Config::new(url)).map_err(Error::Client)
    }

    /// Runs `f` with the sim's state locked (for scripted controllers and inspection).
    pub fn with_state<T>(&self, f: impl FnOnce(&mut State) -> T) -> T {
        f(&mut self.shared.state.lock().expect("sim state lock"))
    }

    /// Creates or replaces an object (by its apiVersion and kind), bypassing admission; its
    /// status is stored as given.
    pub fn put(&self, object: Value) -> Result<Value, Status> {
        self.with_state(|state| state.put(object))
    }

    /// One object, by apiVersion, kind, namespace (`""` for cluster-scoped) and name.
    pub fn get(&self, api_version: &str, kind: &str, namespace: &str, name: &str) -> Option<Value> {
        self.with_state(|state| {
            let resource = state.resource_for(api_version, kind).ok()?;
            state.get(&resource, namespace, name).cloned()
        })
    }

    /// Every object of a kind, in one namespace or all.
    pub fn list(&self, api_version: &str, kind: &str, namespace: Option<&str>) -> Vec<Value> {
        self.with_state(|state| match state.resource_for(api_version, kind) {
            Ok(resource) => state.list(&resource, namespace, None, None),
            Err(_) => Vec::new(),
        })
    }

    /// Deletes an object (and its dependents), bypassing admission.
    pub fn delete(
        &self,
        api_version: &str,
        kind: &str,
        namespace: &str,
        name: &str,
    ) -> Result<Value, Status> {
        self.with_state(|state| {
            let resource = state.resource_for(api_version, kind)?;
            state.delete(&resource, namespace, name, store::WriteOptions::INTERNAL)
        })
    }

    /// Registers an admission hook for `kind` of `group` (`"*"` matches any): it sees every
    /// create, update and delete made through the API and may deny it with a `Status`.
    pub fn on_admission(
        &self,
        group: &str,
        kind: &str,
        hook: impl Fn(&AdmissionRequest, &State) -> Result<(), Status> + Send + Sync + 'static,
    ) {
        self.with_state(|state| state.add_hook(group, kind, Arc::new(hook)));
    }

    pub(crate) fn shared(&self) -> Arc<server::Shared> {
        self.shared.clone()
    }

    /// Every request the sim has received so far, in arrival order.
    pub fn requests(&self) -> Vec<server::RecordedRequest> {
        self.shared
            .requests
            .lock()
            .expect("sim request log lock")
            .clone()
    }

    /// Whether stored CRDs are Established at once (the default); see
    /// `State::set_establish_crds`.
    pub fn establish_crds(&self, on: bool) {
        self.with_state(|state| state.set_establish_crds(on));
    }

    /// Whether workloads written through the API become ready at once; see
    /// `State::set_workloads_become_ready`.
    pub fn workloads_become_ready(&self, on: bool) {
        self.with_state(|state| state.set_workloads_become_ready(on));
    }

    /// Replaces an object's status, as its controller would (bypassing admission).
    pub fn set_status(
        &self,
        api_version: &str,
        kind: &str,
        namespace: &str,
        name: &str,
        status: Value,
    ) -> Result<Value, Status> {
        self.with_state(|state| {
            let resource = state.resource_for(api_version, kind)?;
            state.set_status(&resource, namespace, name, status)
        })
    }

    /// Watch events from now on (for scripted controllers).
    pub fn subscribe(&self) -> tokio::sync::broadcast::Receiver<Event> {
        self.with_state(|state| state.subscribe())
    }
}

impl Drop for SimCluster {
    fn drop(&mut self) {
        self.server_task.abort();
    }
}
