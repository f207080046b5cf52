//! `SimPlatform`: the simulated cluster with the healthy platform loaded (or one planted fault),
//! its scripted controllers running in the background, the admission webhooks installed, and
//! the data-plane endpoints (Kourier gateway, OpenCost API) listening.

use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::Value;

use crate::controllers::{self, Behaviour};
use crate::endpoints::{self, Endpoint};
use crate::faults::Fault;
use crate::{appset, preset, webhooks, Error, SimCluster};

/// A running simulated platform. Dropping it stops everything.
pub struct SimPlatform {
    pub cluster: SimCluster,
    behaviour: Arc<Mutex<Behaviour>>,
    gateway: std::net::SocketAddr,
    opencost: std::net::SocketAddr,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl SimPlatform {
    /// The healthy platform.
    pub async fn healthy() -> Result<SimPlatform, Error> {
        SimPlatform::start(None).await
    }

    /// The platform with `fault` planted (or healthy with `None`).
    pub async fn start(fault: Option<Fault>) -> Result<SimPlatform, Error> {
        let mut objects = preset::healthy();
        let mut behaviour = Behaviour::default();
        if let Some(fault) = fault {
            fault.plant(&mut objects, &mut behaviour);
        }
        SimPlatform::from_objects(objects, behaviour).await
    }

    /// The platform with the project's real GitOps content (`<root>/manifests`, see
    /// `preset::from_project`) and `fault` planted.
    pub async fn for_project(root: &Path, fault: Option<Fault>) -> Result<SimPlatform, Error> {
        let mut objects = preset::from_project(root).map_err(Error::Kubeconfig)?;
        let mut behaviour = Behaviour::default();
        if let Some(fault) = fault {
            fault.plant(&mut objects, &mut behaviour);
        }
        SimPlatform::from_objects(objects, behaviour).await
    }

    /// A platform from explicit objects and behaviour.
    pub async fn from_objects(
        objects: Vec<Value>,
        behaviour: Behaviour,
    ) -> Result<SimPlatform, Error> {
        let cluster = SimCluster::start().await?;
        let mut behaviour = behaviour;
        behaviour.initial_isvcs = objects
            .iter()
            .filter(|o| o["kind"] == "InferenceService")
            .map(|o| {
                let text = |p: &str| {
                    o.pointer(p)
                        .and_then(Value::as_str)
                        .unwrap_or("")
                        .to_string()
                };
                format!("{}/{}", text("/metadata/namespace"), text("/metadata/name"))
            })
            .collect();
        let admission = webhooks::AdmissionBehaviour::from(&behaviour);
        let behaviour = Arc::new(Mutex::new(behaviour));
        for object in objects {
            if let Err(status) = cluster.put(object.clone()) {
                panic!(
                    "the preset object {}/{} does not load into the sim: {}",
                    object["kind"], object["metadata"]["name"], status.message
                );
            }
        }
        cluster.on_admission("*", "*", webhooks::admission_hook(admission));
        let mut platform = SimPlatform {
            gateway: "127.0.0.1:0".parse().expect("address"),
            opencost: "127.0.0.1:0".parse().expect("address"),
            cluster,
            behaviour,
            tasks: Vec::new(),
        };
        platform.reconcile();
        platform.tasks.push(platform.spawn_controllers());
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
        let mut behaviour = self.behaviour.lock().expect("behaviour lock");
        self.cluster
            .with_state(|state| controllers::reconcile(state, &mut behaviour));
    }

    fn spawn_controllers(&self) -> tokio::task::JoinHandle<()> {
        let mut events = self.cluster.subscribe();
        let shared = self.cluster.shared();
        let behaviour = self.behaviour.clone();
        tokio::spawn(async move {
            loop {
                // React to changes; a periodic pass covers behaviour changed without an event
                // and re-reads the GitOps source (ArgoCD polls git too).
                let _ = tokio::time::timeout(Duration::from_millis(500), events.recv()).await;
                while events.try_recv().is_ok() {}
                let repo = behaviour
                    .lock()
                    .expect("behaviour lock")
                    .gitops_repo
                    .clone();
                if let Some(repo) = repo {
                    let folders =
                        tokio::task::spawn_blocking(move || appset::read_model_folders(&repo))
                            .await
                            .ok()
                            .flatten();
                    let mut state = shared.state.lock().expect("sim state lock");
                    let mut behaviour = behaviour.lock().expect("behaviour lock");
                    if folders.is_some() {
                        behaviour.model_folders = folders;
                    }
                    controllers::reconcile(&mut state, &mut behaviour);
                    continue;
                }
                let mut state = shared.state.lock().expect("sim state lock");
                let mut behaviour = behaviour.lock().expect("behaviour lock");
                controllers::reconcile(&mut state, &mut behaviour);
            }
        })
    }

    /// Changes the scripted behaviour at run time.
    pub fn with_behaviour<T>(&self, f: impl FnOnce(&mut Behaviour) -> T) -> T {
        self.cluster
            .with_state(|_| f(&mut self.behaviour.lock().expect("behaviour lock")))
    }

    /// Lets the model ApplicationSet read the bare GitOps repository at `repo` (what
    /// `GitSource::repo_path()` names), as ArgoCD's git generator would.
    pub fn watch_gitops_repo(&self, repo: &Path) {
        self.with_behaviour(|b| b.gitops_repo = Some(repo.to_path_buf()));
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

impl Drop for SimPlatform {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
    }
}
