//! What a running check can use: the cluster client, the scenario, how to reach the ingress and
//! OpenCost, and a per-check record of what it last saw (reported as an event, and named on a
//! timeout) and what it created (so the runner cleans it up on failure or Ctrl-C). Whether the
//! check may mutate this context is the runner's decision, not the check's.

use std::path::PathBuf;
use std::sync::Mutex;
use std::time::Duration;

use tokio::time::Instant;

use futures::future::BoxFuture;
use serde::Serialize;

use super::catalogue::{CheckId, CheckSpec};
use super::events::{EventSink, RunEvent};
use super::outcome::Outcome;
use crate::failures::FailureCode;
use crate::scenario::Scenario;

/// Shared by every check of one run.
pub struct CheckEnv {
    pub client: kube::Client,
    pub scenario: Scenario,
    pub http: reqwest::Client,
    /// The kube context the checks run against.
    pub context_name: String,
    /// Whether checks that create or delete objects may run on this context (the harness's k3d
    /// context, or one named with `--allow-context`). Only the runner reads it.
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
#[serde(rename_all = "camelCase")]
pub struct CreatedObject {
    pub api_version: String,
    pub kind: String,
    pub namespace: Option<String>,
    pub name: String,
}

impl CreatedObject {
    /// `InferenceService models/probe`.
    pub fn describe(&self) -> String {
        match &self.namespace {
            Some(ns) => format!("{} {ns}/{}", self.kind, self.name),
            None => format!("{} {}", self.kind, self.name),
        }
    }

    /// The kubectl command that deletes it.
    pub fn delete_command(&self) -> String {
        let kind = self.kind.to_lowercase();
        match &self.namespace {
            Some(ns) => format!("kubectl -n {ns} delete {kind} {}", self.name),
            None => format!("kubectl delete {kind} {}", self.name),
        }
    }
}

/// One check in flight.
pub struct CheckRun<'a> {
    pub env: &'a CheckEnv,
    pub spec: &'static CheckSpec,
    pub deadline: Duration,
    pub started: Instant,
    last_seen: Mutex<String>,
    /// The catalogued failure the latest verdict identified, so a run stopped by the hard
    /// deadline still names it.
    last_code: Mutex<Option<FailureCode>>,
    created: Mutex<Vec<CreatedObject>>,
    events: Option<&'a dyn EventSink>,
}

impl<'a> CheckRun<'a> {
    pub fn new(env: &'a CheckEnv, id: CheckId, deadline: Duration) -> Self {
        CheckRun {
            env,
            spec: id.spec(),
            deadline,
            started: Instant::now(),
            last_seen: Mutex::new(String::from("nothing observed yet")),
            last_code: Mutex::new(None),
            created: Mutex::new(Vec::new()),
            events: None,
        }
    }

    /// Reports each new observation to `events` as it is recorded.
    pub fn reporting_to(mut self, events: &'a dyn EventSink) -> Self {
        self.events = Some(events);
        self
    }

    pub fn id(&self) -> CheckId {
        self.spec.id
    }

    /// Records the latest observation; a timeout reports it, and a changed one is an event.
    pub fn saw(&self, observation: impl Into<String>) {
        let observation = observation.into();
        let changed = {
            let mut last = self.last_seen.lock().expect("not poisoned");
            let changed = *last != observation;
            *last = observation.clone();
            changed
        };
        if let (true, Some(events)) = (changed, self.events) {
            events.event(&RunEvent::Observed {
                id: self.spec.id,
                observation: &observation,
            });
        }
    }

    pub fn last_seen(&self) -> String {
        self.last_seen.lock().expect("not poisoned").clone()
    }

    /// Records a verdict on the latest observation: what it observed, and its failure code.
    pub fn saw_outcome(&self, outcome: &Outcome) {
        *self.last_code.lock().expect("not poisoned") =
            outcome.diagnosis.as_ref().and_then(|d| d.code);
        self.saw(outcome.observed());
    }

    /// The failure code of the latest verdict recorded with [`Self::saw_outcome`].
    pub fn last_code(&self) -> Option<FailureCode> {
        *self.last_code.lock().expect("not poisoned")
    }

    /// Registers an object this check created, for cleanup (once, however often it is tracked).
    pub fn track(&self, object: CreatedObject) {
        let mut created = self.created.lock().expect("not poisoned");
        if !created.contains(&object) {
            created.push(object);
        }
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

    /// Time a waiting check has left before it must conclude with its own verdict: the deadline
    /// less a margin (a tenth of the deadline, at most 5 s), so the check's diagnosis of the last
    /// state lands before the runner's hard timeout replaces it with a generic one.
    pub fn time_to_conclude(&self) -> Duration {
        let margin = (self.deadline / 10).min(Duration::from_secs(5));
        self.remaining().saturating_sub(margin)
    }
}

/// A check's implementation.
pub type CheckFuture<'a> = BoxFuture<'a, Outcome>;
pub type CheckFn = for<'a> fn(&'a CheckRun<'a>) -> CheckFuture<'a>;
