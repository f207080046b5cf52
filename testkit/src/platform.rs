//! `SimPlatform`: the simulated cluster with its scripted controllers running in the background
//! (workloads, endpoints, cert-manager, Kyverno, KServe), the sim's ArgoCD (application and
//! ApplicationSet controllers reading real git repositories and rendering with the real
//! renderers), the admission webhooks, and the data-plane endpoints (Kourier gateway, OpenCost
//! API) listening.
//!
//! It starts as a fresh k3d cluster (`bare`): the platform exists only once something installs
//! it, as `neuroscale up` does. A converged platform can be captured (`snapshot`) and started
//! again from that state (`restore`), so many tests share one real install.

use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{json, Value};

use crate::argocd::{self, ArgoCd, Settings, Target};
use crate::controllers::{self, Behaviour};
use crate::endpoints::{self, Endpoint};
use crate::gitrepo::Repos;
use crate::{appset, preset, webhooks, Error, SimCluster};

/// Every object of a converged cluster, in an order that restores (CRDs first).
#[derive(Debug, Clone)]
pub struct Snapshot {
    pub objects: Vec<Value>,
}

/// A running simulated platform. Dropping it stops everything.
pub struct SimPlatform {
    pub cluster: SimCluster,
    behaviour: Arc<Mutex<Behaviour>>,
    argocd: Arc<ArgoCd>,
    /// Completed passes of the sim's ArgoCD loop.
    argocd_passes: Arc<std::sync::atomic::AtomicU64>,
    gateway: std::net::SocketAddr,
    opencost: std::net::SocketAddr,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl SimPlatform {
    /// A fresh k3d cluster: nothing of the platform installed yet.
    pub async fn bare() -> Result<SimPlatform, Error> {
        SimPlatform::start(preset::k3s_cluster(), Behaviour::default(), false).await
    }

    /// A fresh cluster with planted behaviour.
    pub async fn bare_with(behaviour: Behaviour) -> Result<SimPlatform, Error> {
        SimPlatform::start(preset::k3s_cluster(), behaviour, false).await
    }

    /// A platform started from a snapshot of a converged one, with planted behaviour.
    pub async fn restore(snapshot: &Snapshot, behaviour: Behaviour) -> Result<SimPlatform, Error> {
        SimPlatform::start(snapshot.objects.clone(), behaviour, true).await
    }

    async fn start(
        objects: Vec<Value>,
        behaviour: Behaviour,
        verbatim: bool,
    ) -> Result<SimPlatform, Error> {
        let cluster = SimCluster::start().await?;
        let admission = webhooks::AdmissionBehaviour::from(&behaviour);
        let behaviour = Arc::new(Mutex::new(behaviour));
        cluster.with_state(|state| {
            for object in objects {
                let result = if verbatim {
                    state.restore(object.clone())
                } else {
                    state.put(object.clone()).map(|_| ())
                };
                if let Err(status) = result {
                    panic!(
                        "the object {}/{} does not load into the sim: {}",
                        object["kind"], object["metadata"]["name"], status.message
                    );
                }
            }
        });
        cluster.on_admission("*", "*", webhooks::admission_hook(admission));
        let repos = Arc::new(Repos::new(cluster.scratch_dir().join("argocd")));
        let mut platform = SimPlatform {
            gateway: "127.0.0.1:0".parse().expect("address"),
            opencost: "127.0.0.1:0".parse().expect("address"),
            argocd: Arc::new(ArgoCd::new(repos)),
            argocd_passes: Arc::new(std::sync::atomic::AtomicU64::new(0)),
            cluster,
            behaviour,
            tasks: Vec::new(),
        };
        platform.reconcile();
        platform.tasks.push(platform.spawn_controllers());
        platform.tasks.push(platform.spawn_argocd());
        let shared = platform.cluster.shared();
        let (gateway, task) = endpoints::serve(
            Endpoint::Gateway,
            shared.clone(),
            platform.behaviour.clone(),
        )
        .await
        .map_err(Error::Bind)?;
        platform.gateway = gateway;
        platform.tasks.push(task);
        let (opencost, task) =
            endpoints::serve(Endpoint::OpenCost, shared, platform.behaviour.clone())
                .await
                .map_err(Error::Bind)?;
        platform.opencost = opencost;
        platform.tasks.push(task);
        Ok(platform)
    }

    /// Runs the scripted controllers to a fixpoint now.
    pub fn reconcile(&self) {
        let behaviour = self.behaviour.lock().expect("behaviour lock").clone();
        self.cluster
            .with_state(|state| controllers::reconcile(state, &behaviour));
    }

    fn spawn_controllers(&self) -> tokio::task::JoinHandle<()> {
        let mut events = self.cluster.subscribe();
        let shared = self.cluster.shared();
        let behaviour = self.behaviour.clone();
        tokio::spawn(async move {
            loop {
                // React to changes; a periodic pass covers behaviour changed without an event.
                let _ = tokio::time::timeout(Duration::from_millis(300), events.recv()).await;
                // Let a burst of writes land before the next pass.
                tokio::time::sleep(Duration::from_millis(20)).await;
                while events.try_recv().is_ok() {}
                let behaviour = behaviour.lock().expect("behaviour lock").clone();
                let mut state = shared.state.lock().expect("sim state lock");
                controllers::reconcile(&mut state, &behaviour);
            }
        })
    }

    /// The application and ApplicationSet controllers: gather under the lock, fetch and render
    /// outside it (git and the renderers are slow), then reconcile under it.
    fn spawn_argocd(&self) -> tokio::task::JoinHandle<()> {
        let shared = self.cluster.shared();
        let behaviour = self.behaviour.clone();
        let argocd = self.argocd.clone();
        let passes = self.argocd_passes.clone();
        tokio::spawn(async move {
            loop {
                passes.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                tokio::time::sleep(Duration::from_millis(200)).await;
                let stalled = behaviour.lock().expect("behaviour lock").appset_stalled;
                let gathered = {
                    let state = shared.state.lock().expect("sim state lock");
                    let list = |kind: &str| {
                        state
                            .resource_for("argoproj.io/v1alpha1", kind)
                            .map(|r| state.list(&r, Some(argocd::NAMESPACE), None, None))
                            .unwrap_or_default()
                    };
                    (
                        list("Application"),
                        list("ApplicationSet"),
                        argocd::workload_ready(
                            &state,
                            "StatefulSet",
                            "argocd-application-controller",
                        ),
                        argocd::workload_ready(&state, "Deployment", "argocd-repo-server"),
                        argocd::workload_ready(
                            &state,
                            "Deployment",
                            "argocd-applicationset-controller",
                        ),
                    )
                };
                let (apps, sets, controller_up, repo_server_up, appset_up) = gathered;
                if !controller_up && !appset_up {
                    continue;
                }
                let worker = argocd.clone();
                let Ok((targets, generated)) = tokio::task::spawn_blocking(move || {
                    let targets: Vec<(String, Result<Target, String>)> = if controller_up {
                        apps.iter()
                            .map(|app| {
                                let name =
                                    app["metadata"]["name"].as_str().unwrap_or("").to_string();
                                let target = if repo_server_up {
                                    worker.target(app)
                                } else {
                                    Err(repo_server_unreachable())
                                };
                                (name, target)
                            })
                            .collect()
                    } else {
                        Vec::new()
                    };
                    let generated: Vec<(String, Result<Vec<String>, String>)> =
                        if appset_up && !stalled {
                            sets.iter()
                                .map(|set| {
                                    let name =
                                        set["metadata"]["name"].as_str().unwrap_or("").to_string();
                                    (name, appset::generate(worker.repos(), set))
                                })
                                .collect()
                        } else {
                            Vec::new()
                        };
                    (targets, generated)
                })
                .await
                else {
                    continue;
                };
                let mut state = shared.state.lock().expect("sim state lock");
                let settings = Settings::read(&state);
                let Ok(app_type) = state.resource_for("argoproj.io/v1alpha1", "Application") else {
                    continue;
                };
                if std::env::var_os("NEUROSCALE_SIM_DEBUG").is_some() {
                    for (name, target) in &targets {
                        match target {
                            Ok(t) => eprintln!("sim argocd: {name} at {}", t.revision),
                            Err(e) => eprintln!("sim argocd: {name}: {e}"),
                        }
                    }
                }
                for (name, target) in targets {
                    if let Some(app) = state.get(&app_type, argocd::NAMESPACE, &name).cloned() {
                        argocd.reconcile(&mut state, &app, target, settings);
                    }
                }
                if let Ok(set_type) = state.resource_for("argoproj.io/v1alpha1", "ApplicationSet") {
                    for (name, folders) in generated {
                        if let Some(set) = state.get(&set_type, argocd::NAMESPACE, &name).cloned() {
                            appset::reconcile(&mut state, &set, folders);
                        }
                    }
                }
            }
        })
    }

    /// Waits until the sim's ArgoCD has completed `passes` more full passes over every
    /// Application (so what it reports reflects the cluster as it is now).
    pub async fn argocd_catch_up(&self, passes: u64) {
        let target = self.argocd_passes.load(std::sync::atomic::Ordering::SeqCst) + passes + 1;
        while self.argocd_passes.load(std::sync::atomic::Ordering::SeqCst) < target {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Changes the scripted behaviour at run time.
    pub fn with_behaviour<T>(&self, f: impl FnOnce(&mut Behaviour) -> T) -> T {
        let result = f(&mut self.behaviour.lock().expect("behaviour lock"));
        self.reconcile();
        result
    }

    /// Makes ArgoCD read `url` from the bare repository at `path` directly (no git daemon).
    pub fn alias_repo(&self, url: &str, path: &Path) {
        self.argocd.repos().alias(url, path);
    }

    /// Every object now, CRDs and namespaces first, for `restore`.
    pub fn snapshot(&self) -> Snapshot {
        Snapshot {
            objects: self.cluster.with_state(|state| state.snapshot()),
        }
    }

    /// Everything but status (and the bookkeeping that moves with it), by `kind ns/name`: what
    /// a no-op install must leave exactly as it was. Pods, EndpointSlices and Events are the
    /// controllers' own and left out.
    pub fn desired_state(&self) -> std::collections::BTreeMap<String, Value> {
        self.snapshot()
            .objects
            .into_iter()
            .filter(|o| !matches!(o["kind"].as_str(), Some("Event" | "Pod" | "EndpointSlice")))
            .map(|mut o| {
                let key = format!(
                    "{} {}/{}",
                    o["kind"].as_str().unwrap_or(""),
                    o["metadata"]["namespace"].as_str().unwrap_or(""),
                    o["metadata"]["name"].as_str().unwrap_or("")
                );
                if let Some(map) = o.as_object_mut() {
                    map.remove("status");
                }
                if let Some(meta) = o["metadata"].as_object_mut() {
                    meta.remove("resourceVersion");
                    meta.remove("managedFields");
                }
                (key, o)
            })
            .collect()
    }

    /// Waits until `done` holds for the cluster's state (checked on every change), or the
    /// deadline passes; the error names what was last seen.
    pub async fn wait_until(
        &self,
        deadline: Duration,
        what: &str,
        done: impl Fn(&crate::State) -> Result<(), String>,
    ) -> Result<(), String> {
        let started = std::time::Instant::now();
        let mut events = self.cluster.subscribe();
        loop {
            let last = self.cluster.with_state(|state| done(state));
            match last {
                Ok(()) => return Ok(()),
                Err(seen) if started.elapsed() >= deadline => {
                    return Err(format!(
                        "timed out after {deadline:?} waiting for {what}: {seen}"
                    ))
                }
                Err(_) => {
                    let _ = tokio::time::timeout(Duration::from_millis(250), events.recv()).await;
                }
            }
        }
    }

    /// Base URL of the simulated Kourier gateway (send the InferenceService's Host header).
    pub fn ingress_url(&self) -> String {
        format!("http://{}", self.gateway)
    }

    /// Base URL of the simulated OpenCost API.
    pub fn opencost_url(&self) -> String {
        format!("http://{}", self.opencost)
    }

    pub fn kubeconfig_path(&self) -> &Path {
        self.cluster.kubeconfig_path()
    }
}

/// The controller's gRPC call to a repo-server that is down.
fn repo_server_unreachable() -> String {
    "Failed to load target state: failed to generate manifest for source 1 of 1: rpc error: code = Unavailable desc = connection error: desc = \"transport: Error while dialing: dial tcp 10.43.12.7:8081: connect: connection refused\"".into()
}

impl Drop for SimPlatform {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
    }
}

/// Every Application in the argocd namespace Synced and Healthy, or what was seen.
pub fn applications_converged(state: &crate::State, expected: &[&str]) -> Result<(), String> {
    let Ok(apps) = state.resource_for("argoproj.io/v1alpha1", "Application") else {
        return Err("no Application kind served yet".into());
    };
    let listed = state.list(&apps, Some(argocd::NAMESPACE), None, None);
    let mut problems = Vec::new();
    for name in expected {
        if !listed.iter().any(|a| a["metadata"]["name"] == json!(name)) {
            problems.push(format!("{name} missing"));
        }
    }
    for app in &listed {
        let sync = app
            .pointer("/status/sync/status")
            .and_then(Value::as_str)
            .unwrap_or("");
        let health = app
            .pointer("/status/health/status")
            .and_then(Value::as_str)
            .unwrap_or("");
        if sync != "Synced" || health != "Healthy" {
            problems.push(format!(
                "{} {sync}/{health} {}",
                app["metadata"]["name"].as_str().unwrap_or(""),
                app.pointer("/status/operationState/message")
                    .or_else(|| app.pointer("/status/conditions/0/message"))
                    .and_then(Value::as_str)
                    .unwrap_or("")
            ));
        }
    }
    if problems.is_empty() && !listed.is_empty() {
        Ok(())
    } else {
        Err(problems.join("; "))
    }
}

/// Every Application has compared `head` and finished any sync, or cannot load its target
/// (ComparisonError): ArgoCD has taken in a commit.
pub fn applications_settled(state: &crate::State, head: &str) -> Result<(), String> {
    let Ok(apps) = state.resource_for("argoproj.io/v1alpha1", "Application") else {
        return Err("no Application kind served yet".into());
    };
    let pending: Vec<String> = state
        .list(&apps, Some(argocd::NAMESPACE), None, None)
        .iter()
        .filter(|app| {
            let text = |p: &str| app.pointer(p).and_then(Value::as_str).unwrap_or("");
            let broken = app
                .pointer("/status/conditions")
                .and_then(Value::as_array)
                .is_some_and(|c| c.iter().any(|c| c["type"] == "ComparisonError"));
            let settled = text("/status/sync/revision") == head
                && text("/status/operationState/phase") != "Running";
            !(broken || settled)
        })
        .map(|app| {
            let text = |p: &str| app.pointer(p).and_then(Value::as_str).unwrap_or("");
            format!(
                "{} at {} {} {}",
                text("/metadata/name"),
                text("/status/sync/revision"),
                text("/status/operationState/phase"),
                text("/status/operationState/message")
            )
        })
        .collect();
    if pending.is_empty() {
        Ok(())
    } else {
        Err(format!("not yet at {head}: {}", pending.join("; ")))
    }
}
