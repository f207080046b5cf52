//! What a running check can use: the cluster client, the scenario, how to reach the ingress and
//! OpenCost, whether it may mutate this context, and a per-check record of what it last saw and
//! what it created (so the runner can name it on timeout and clean it up on failure or Ctrl-C).

use std::path::PathBuf;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use futures::future::BoxFuture;
use serde::Serialize;

use super::catalogue::CheckSpec;
use super::outcome::Outcome;
use crate::scenario::Scenario;

/// Shared by every check of one run.
pub struct CheckEnv {
    pub client: kube::Client,
    pub scenario: Scenario,
    pub http: reqwest::Client,
    /// The kube context the checks run against.
    pub context_name: String,
    /// Whether checks that create or delete objects may run on this context (the harness's k3d
    /// context, or one named with `--allow-context`).
    pub mutations_allowed: bool,
    /// Base URL of the Kourier gateway (k3d's mapped port, `--ingress-url`, or a port-forward to
    /// Service kourier-system/kourier). Requests carry the InferenceService's Host header.
    pub ingress_url: Option<String>,
    /// Base URL of the OpenCost API (port 9003), when reachable.
    pub opencost_url: Option<String>,
    /// Where the local GitOps source lives (C2 commits a scaffolded model into it).
    pub gitops_cache_dir: PathBuf,
}

/// An object a check created, to be deleted when the check ends, fails or is interrupted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CreatedObject {
    pub api_version: String,
    pub kind: String,
    pub namespace: Option<String>,
    pub name: String,
}

/// One check in flight.
pub struct CheckRun<'a> {
    pub env: &'a CheckEnv,
    pub spec: &'static CheckSpec,
    pub deadline: Duration,
    pub started: Instant,
    last_seen: Mutex<String>,
    created: Mutex<Vec<CreatedObject>>,
}

impl<'a> CheckRun<'a> {
    pub fn new(env: &'a CheckEnv, spec: &'static CheckSpec, deadline: Duration) -> Self {
        CheckRun {
            env,
            spec,
            deadline,
            started: Instant::now(),
            last_seen: Mutex::new(String::from("nothing observed yet")),
            created: Mutex::new(Vec::new()),
        }
    }

    /// Records the latest observation; a timeout reports it.
    pub fn saw(&self, observation: impl Into<String>) {
        *self.last_seen.lock().expect("not poisoned") = observation.into();
    }

    pub fn last_seen(&self) -> String {
        self.last_seen.lock().expect("not poisoned").clone()
    }

    /// Registers an object this check created, for cleanup.
    pub fn track(&self, object: CreatedObject) {
        self.created.lock().expect("not poisoned").push(object);
    }

    /// Forgets an object the check already deleted itself.
    pub fn untrack(&self, object: &CreatedObject) {
        self.created
            .lock()
            .expect("not poisoned")
            .retain(|o| o != object);
    }

    pub fn tracked(&self) -> Vec<CreatedObject> {
        self.created.lock().expect("not poisoned").clone()
    }

    /// Time left before this check's deadline.
    pub fn remaining(&self) -> Duration {
        self.deadline.saturating_sub(self.started.elapsed())
    }
}

/// A check's implementation.
pub type CheckFuture<'a> = BoxFuture<'a, Outcome>;
pub type CheckFn = for<'a> fn(&'a CheckRun<'a>) -> CheckFuture<'a>;
