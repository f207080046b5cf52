//! The bootstrap sequence inside the cluster: ArgoCD by server-side apply of its pinned
//! install.yaml, then the root Application (app-of-apps) pointed at the GitOps source, then every
//! component's readiness gates, run as the component DAG (each node starts when its own
//! dependencies are ready). Also the per-phase timeline and the report `up` prints.

use std::sync::Mutex;
use std::time::Duration;

use kube::Client;
use serde::Serialize;
use serde_json::{json, Value};
use tokio::time::Instant;

use super::apply::{self, Applier, ApplyError};
use super::dag::{self, DagEvent, Node, NodeOutcome};
use super::gates::{self, GateError, ARGOCD_NAMESPACE};
use super::progress::{Event, Reporter};
use crate::components::{Component, Delivery, Gate};

/// The JSON report's schema identifier (`up --format json`).
pub const REPORT_SCHEMA: &str = "neuroscale.up/v1";

/// Where ArgoCD syncs the platform from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct GitopsTarget {
    pub repo_url: String,
    pub revision: String,
}

/// Why a component did not become ready.
#[derive(Debug, thiserror::Error)]
pub enum ComponentError {
    #[error(transparent)]
    Apply(#[from] ApplyError),
    #[error(transparent)]
    Gate(#[from] GateError),
}

/// The install failed before or instead of the component DAG.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error("the component graph cannot be run")]
    Graph(#[from] dag::DagError),
    #[error("the root Application manifest is unusable: {0}")]
    RootApplication(String),
}

/// What the DAG stage needs.
pub struct InstallPlan {
    /// The components to install, from `components::selected`.
    pub components: Vec<Component>,
    /// ArgoCD's install.yaml, parsed.
    pub argocd_manifest: Vec<Value>,
    /// What the harness applies itself (`gitops::harness_objects`): settings for ArgoCD's own
    /// objects (folded into its install manifest), then the root Application and any optional
    /// Applications, already pointed at the GitOps source.
    pub harness_objects: Vec<Value>,
    /// The install deadline (scenario `deadlines.install`).
    pub deadline: Duration,
}

/// Points every Application in the root manifest at `target`, and puts it in ArgoCD's
/// namespace unless it names one.
pub fn point_root_at(
    mut documents: Vec<Value>,
    target: &GitopsTarget,
) -> Result<Vec<Value>, EngineError> {
    let mut applications = 0;
    for document in &mut documents {
        if document.get("kind").and_then(Value::as_str) != Some("Application") {
            continue;
        }
        let label = apply::describe(document);
        let source = document
            .pointer_mut("/spec/source")
            .and_then(Value::as_object_mut)
            .ok_or_else(|| {
                EngineError::RootApplication(format!(
                    "{label} has no spec.source to point at the GitOps repository"
                ))
            })?;
        source.insert("repoURL".into(), json!(target.repo_url));
        source.insert("targetRevision".into(), json!(target.revision));
        if document.pointer("/metadata/namespace").is_none() {
            document["metadata"]["namespace"] = json!(ARGOCD_NAMESPACE);
        }
        applications += 1;
    }
    if applications == 0 {
        return Err(EngineError::RootApplication(
            "it contains no argoproj.io Application".into(),
        ));
    }
    Ok(documents)
}

fn identity(object: &Value, default_namespace: &str) -> (String, String, String, String) {
    let field = |p: &str| {
        object
            .pointer(p)
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string()
    };
    let namespace = object
        .pointer("/metadata/namespace")
        .and_then(Value::as_str)
        .unwrap_or(default_namespace)
        .to_string();
    (
        field("/apiVersion"),
        field("/kind"),
        namespace,
        field("/metadata/name"),
    )
}

/// Merges harness objects that patch an object of ArgoCD's install manifest (`argocd-cm`) into
/// that object (RFC 7386 merge, harness fields winning) and returns the rest. With one field
/// manager, applying install.yaml's `argocd-cm` and then the harness's would make each apply
/// drop the other's fields, flapping on every `up`; one merged apply owns both. Applied before
/// ArgoCD's pods start, settings such as `timeout.reconciliation` also need no restart.
pub fn fold_into_manifest(manifest: &mut [Value], harness: Vec<Value>) -> Vec<Value> {
    let mut rest = Vec::new();
    for object in harness {
        let id = identity(&object, ARGOCD_NAMESPACE);
        match manifest
            .iter_mut()
            .find(|m| identity(m, ARGOCD_NAMESPACE) == id)
        {
            Some(target) => json_patch::merge(target, &object),
            None => rest.push(object),
        }
    }
    rest
}

/// The Namespace ArgoCD's install.yaml expects to exist (its docs create it first).
fn argocd_namespace() -> Value {
    json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ARGOCD_NAMESPACE}})
}

/// One phase's timing, for the report.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PhaseTiming {
    pub phase: String,
    pub outcome: PhaseOutcome,
    pub seconds: f64,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub detail: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum PhaseOutcome {
    Ok,
    Failed,
    /// Not needed for this run (e.g. vendoring when a remote repository is used).
    Skipped,
}

/// One component's result, for the report.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ComponentReport {
    pub name: String,
    pub version: String,
    pub outcome: ComponentOutcome,
    /// Seconds after the DAG started that this component started waiting.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub started_after_seconds: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub seconds: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ComponentOutcome {
    Ready,
    Failed,
    /// Not started because a dependency did not become ready.
    Blocked,
}

/// The report of one `up`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct InstallReport {
    pub schema: &'static str,
    pub ok: bool,
    pub total_seconds: f64,
    pub gitops: Option<GitopsTarget>,
    pub phases: Vec<PhaseTiming>,
    pub components: Vec<ComponentReport>,
}

/// Records phases as they run and reports them.
pub struct Timeline<'a> {
    started: Instant,
    reporter: &'a dyn Reporter,
    phases: Mutex<Vec<PhaseTiming>>,
}

impl<'a> Timeline<'a> {
    pub fn new(reporter: &'a dyn Reporter) -> Self {
        Timeline {
            started: Instant::now(),
            reporter,
            phases: Mutex::new(Vec::new()),
        }
    }

    pub fn reporter(&self) -> &'a dyn Reporter {
        self.reporter
    }

    /// Runs one phase, timing it; `detail` describes a success for the report.
    pub async fn run<T, E>(
        &self,
        phase: &str,
        work: impl std::future::Future<Output = Result<T, E>>,
        detail: impl FnOnce(&T) -> String,
    ) -> Result<T, E> {
        self.reporter.report(Event::PhaseStarted { phase });
        let began = Instant::now();
        let result = work.await;
        let took = began.elapsed();
        let (outcome, detail) = match &result {
            Ok(value) => (PhaseOutcome::Ok, detail(value)),
            Err(_) => (PhaseOutcome::Failed, String::new()),
        };
        match outcome {
            PhaseOutcome::Ok => self.reporter.report(Event::PhaseFinished {
                phase,
                took,
                detail: &detail,
            }),
            _ => self.reporter.report(Event::PhaseFailed { phase, took }),
        }
        self.record(phase, outcome, took, detail);
        result
    }

    /// Records a phase that did not run because this run does not need it.
    pub fn record(&self, phase: &str, outcome: PhaseOutcome, took: Duration, detail: String) {
        self.phases.lock().expect("not poisoned").push(PhaseTiming {
            phase: phase.to_string(),
            outcome,
            seconds: round_ms(took),
            detail,
        });
    }

    pub fn finish(
        self,
        gitops: Option<GitopsTarget>,
        components: Vec<ComponentReport>,
    ) -> InstallReport {
        let phases = self.phases.into_inner().expect("not poisoned");
        let ok = phases.iter().all(|p| p.outcome != PhaseOutcome::Failed)
            && !components.is_empty()
            && components
                .iter()
                .all(|c| c.outcome == ComponentOutcome::Ready);
        InstallReport {
            schema: REPORT_SCHEMA,
            ok,
            total_seconds: round_ms(self.started.elapsed()),
            gitops,
            phases,
            components,
        }
    }
}

fn round_ms(d: Duration) -> f64 {
    (d.as_secs_f64() * 1000.0).round() / 1000.0
}

/// Installs ArgoCD, applies the root Application and waits for every component's gates, as a
/// DAG. Returns one report line per component.
pub async fn install(
    client: &Client,
    plan: &InstallPlan,
    reporter: &dyn Reporter,
) -> Result<Vec<ComponentReport>, EngineError> {
    let deadline = Instant::now() + plan.deadline;
    let applier = Applier::new(client.clone());
    let nodes = Node::from_components(&plan.components);
    let task = |name: String| {
        let component = plan
            .components
            .iter()
            .find(|c| c.name == name)
            .expect("nodes come from the components");
        install_component(client, &applier, plan, component, deadline, reporter)
    };
    let run = dag::execute(&nodes, task, |event| match event {
        DagEvent::Started(component) => reporter.report(Event::ComponentStarted { component }),
        DagEvent::Succeeded(component, took) => {
            reporter.report(Event::ComponentReady { component, took })
        }
        DagEvent::Failed(component, took) => {
            reporter.report(Event::ComponentFailed { component, took })
        }
        DagEvent::Blocked { node, by } => reporter.report(Event::ComponentBlocked {
            component: node,
            by,
        }),
    })
    .await?;
    let reports = plan
        .components
        .iter()
        .map(|component| {
            let outcome = &run.outcomes[component.name];
            let (outcome, started_after, took, error) = match outcome {
                NodeOutcome::Succeeded {
                    started_after,
                    took,
                } => (
                    ComponentOutcome::Ready,
                    Some(*started_after),
                    Some(*took),
                    None,
                ),
                NodeOutcome::Failed {
                    started_after,
                    took,
                    error,
                } => (
                    ComponentOutcome::Failed,
                    Some(*started_after),
                    Some(*took),
                    Some(error_chain(error)),
                ),
                NodeOutcome::Blocked { by } => (
                    ComponentOutcome::Blocked,
                    None,
                    None,
                    Some(format!("not started: {by} did not become ready")),
                ),
            };
            ComponentReport {
                name: component.name.to_string(),
                version: component.version.to_string(),
                outcome,
                started_after_seconds: started_after.map(round_ms),
                seconds: took.map(round_ms),
                error,
            }
        })
        .collect();
    Ok(reports)
}

/// An error and its causes on one line each.
pub fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(&format!("\n  caused by: {cause}"));
        source = cause.source();
    }
    text
}

async fn install_component(
    client: &Client,
    applier: &Applier,
    plan: &InstallPlan,
    component: &Component,
    deadline: Instant,
    reporter: &dyn Reporter,
) -> Result<(), ComponentError> {
    let name = component.name;
    let say = |observed: &str| {
        reporter.report(Event::ComponentWaiting {
            component: name,
            observed,
        })
    };
    if component.delivery == Delivery::Harness {
        say("server-side apply of the pinned install manifest");
        let mut objects = vec![argocd_namespace()];
        objects.extend(plan.argocd_manifest.iter().cloned());
        let after_gates = fold_into_manifest(&mut objects, plan.harness_objects.clone());
        let summary = applier
            .apply_all(objects, Some(component.namespace), deadline)
            .await?;
        say(&format!(
            "applied {} objects ({} CRDs Established)",
            summary.total(),
            summary.crds
        ));
        gates::wait_all(client, component.gates, deadline, &say).await?;
        // ArgoCD is ready: hand everything else to it.
        say("applying the root Application");
        for document in after_gates {
            applier.apply(document, Some(ARGOCD_NAMESPACE)).await?;
        }
        return Ok(());
    }
    match gates::wait_all(client, component.gates, deadline, &say).await {
        Ok(_) => Ok(()),
        Err(mut error) => {
            // A workload that never appears usually means its Application could not render or
            // sync: say what the Application reports too (a ComparisonError names the cause).
            let application = component
                .gates
                .iter()
                .find(|g| matches!(g, Gate::ApplicationHealthy { .. }));
            if let Some(gate) = application.filter(|g| gates::target(g) != error.target) {
                let target = gates::target(gate);
                let found = gates::diagnose(client, gate).await;
                error.diagnosis.conditions.extend(
                    found
                        .conditions
                        .into_iter()
                        .map(|condition| format!("{target}: {condition}")),
                );
            }
            Err(error.into())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn target() -> GitopsTarget {
        GitopsTarget {
            repo_url: "git://host.k3d.internal/platform.git".into(),
            revision: "main".into(),
        }
    }

    #[test]
    fn the_root_application_is_pointed_at_the_source() {
        // Shape: argoproj.io/v1alpha1 Application (shared/schemas/argoproj.io_v1alpha1_Application.json).
        let root = vec![json!({
            "apiVersion": "argoproj.io/v1alpha1", "kind": "Application",
            "metadata": {"name": "root"},
            "spec": {"project": "default",
                     "source": {"repoURL": "REPLACED", "path": "manifests/apps", "targetRevision": "HEAD"},
                     "destination": {"server": "https://kubernetes.default.svc", "namespace": "argocd"}}
        })];
        let pointed = point_root_at(root, &target()).unwrap();
        assert_eq!(
            pointed[0]["spec"]["source"]["repoURL"],
            "git://host.k3d.internal/platform.git"
        );
        assert_eq!(pointed[0]["spec"]["source"]["targetRevision"], "main");
        assert_eq!(pointed[0]["spec"]["source"]["path"], "manifests/apps");
        assert_eq!(pointed[0]["metadata"]["namespace"], "argocd");
    }

    #[test]
    fn harness_settings_for_argocd_cm_fold_into_the_install_manifest() {
        // Shapes: argocd-cm as in argo-cd manifests/install.yaml (labels, no data) and as
        // manifests/bootstrap/argocd-cm.yaml patches it.
        let mut manifest = vec![json!({"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": "argocd-cm", "labels": {"app.kubernetes.io/part-of": "argocd"}}})];
        let harness = vec![
            json!({"apiVersion": "v1", "kind": "ConfigMap",
                   "metadata": {"name": "argocd-cm", "namespace": "argocd"},
                   "data": {"timeout.reconciliation": "30s"}}),
            json!({"apiVersion": "argoproj.io/v1alpha1", "kind": "Application",
                   "metadata": {"name": "neuroscale-root", "namespace": "argocd"}}),
        ];
        let rest = fold_into_manifest(&mut manifest, harness);
        assert_eq!(rest.len(), 1);
        assert_eq!(rest[0]["metadata"]["name"], "neuroscale-root");
        assert_eq!(manifest[0]["data"]["timeout.reconciliation"], "30s");
        assert_eq!(
            manifest[0]["metadata"]["labels"]["app.kubernetes.io/part-of"],
            "argocd"
        );
    }

    #[test]
    fn a_root_manifest_without_an_application_is_refused() {
        let not_an_app =
            vec![json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "x"}})];
        assert!(point_root_at(not_an_app, &target()).is_err());
        let no_source = vec![
            json!({"apiVersion": "argoproj.io/v1alpha1", "kind": "Application",
            "metadata": {"name": "root"}, "spec": {"sources": []}}),
        ];
        let err = point_root_at(no_source, &target()).unwrap_err().to_string();
        assert!(err.contains("spec.source"), "{err}");
    }

    #[tokio::test]
    async fn a_report_is_ok_only_when_every_phase_and_component_is() {
        let timeline = Timeline::new(&super::super::progress::Silent);
        timeline
            .run("artifacts", async { Ok::<_, String>(3) }, |n| {
                format!("{n} files")
            })
            .await
            .unwrap();
        timeline.record(
            "cluster",
            PhaseOutcome::Skipped,
            Duration::ZERO,
            "remote repository: nothing to vendor".into(),
        );
        let ready = ComponentReport {
            name: "argocd".into(),
            version: "v3.5.1".into(),
            outcome: ComponentOutcome::Ready,
            started_after_seconds: Some(0.0),
            seconds: Some(1.0),
            error: None,
        };
        let report = timeline.finish(None, vec![ready.clone()]);
        assert!(
            report.ok,
            "a phase this run does not need is reported, not failed"
        );
        assert_eq!(report.phases[0].detail, "3 files");
        assert_eq!(report.phases[1].outcome, PhaseOutcome::Skipped);

        let timeline = Timeline::new(&super::super::progress::Silent);
        timeline
            .run("argocd", async { Err::<(), _>("refused") }, |_| {
                String::new()
            })
            .await
            .unwrap_err();
        assert!(!timeline.finish(None, vec![ready.clone()]).ok);

        let timeline = Timeline::new(&super::super::progress::Silent);
        let blocked = ComponentReport {
            outcome: ComponentOutcome::Blocked,
            ..ready
        };
        assert!(!timeline.finish(None, vec![blocked]).ok);
    }
}
