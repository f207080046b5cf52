//! C2 appset-discovery: commits a scaffold (`nscheck-c2-*`) to the local GitOps source, waits for
//! the ApplicationSet's child `model-<name>` to be Synced+Healthy with its InferenceService
//! present (`discovery_seconds`), removes the folder and waits for the Application and the
//! InferenceService to be pruned (`prune_seconds`). The folder is removed on every path,
//! Ctrl-C included.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use crate::checks::env::{CheckFuture, CheckRun, CreatedObject};
use crate::checks::kit::admission::{self, AdmissionOutcome};
use crate::checks::kit::wait::{Attempt, Decision, Wait};
use crate::checks::outcome::{Diagnosis, Outcome};
use crate::gitops::{self, GitSource};
use crate::observe;
use crate::platform::views::{self, Application, ApplicationSet, InferenceService};
use crate::platform::{argocd, models};
use crate::readiness;

pub fn check<'a>(run: &'a CheckRun<'a>) -> CheckFuture<'a> {
    Box::pin(appset_discovery(run))
}

/// What C2 saw of the committed model at one instant.
#[derive(Debug, Clone)]
pub struct DiscoveryObservation {
    /// The child Application's expected name (`model-<name>`).
    pub application_name: String,
    pub application: Option<Application>,
    /// The model-endpoints ApplicationSet, read for the final diagnosis only (its conditions
    /// explain a missing child): `None` when not read, `Some(None)` when it does not exist.
    pub application_set: Option<Option<ApplicationSet>>,
    /// Whether the model's InferenceService exists: an Application reported Synced+Healthy
    /// whose resource is absent is a false green: a stale webhook rejected it.
    pub isvc_exists: bool,
    pub elapsed: Duration,
}

/// C2 step 1: the child Application exists and is Synced+Healthy with its InferenceService
/// present; the PASS carries the seconds from commit to healthy.
pub fn evaluate_discovery(observation: &DiscoveryObservation) -> Decision {
    let name = &observation.application_name;
    let appset_name = argocd::MODEL_APPLICATIONSET;
    if let Some(app) = &observation.application {
        let r = readiness::application(app);
        if r.ready && !observation.isvc_exists {
            return Decision::Pending(Outcome::fail(
                format!("application {name} reports Synced+Healthy but its InferenceService does not exist"),
                Diagnosis::new(
                    format!("{}; the model's InferenceService is absent", r.observed),
                    "ArgoCD's status contradicts the cluster: the apply was rejected or the object deleted after the sync (a stale or failing webhook)",
                    format!("kubectl -n argocd get application {name} -o jsonpath='{{.status.conditions}}{{.status.operationState.message}}'"),
                ),
            ));
        }
        if r.ready {
            let seconds = observation.elapsed.as_secs_f64();
            return Decision::Pass(
                Outcome::pass(format!(
                    "application {name} generated and Synced+Healthy {seconds:.1} s after the commit"
                ))
                .with_figure("discovery_seconds", seconds, "s"),
            );
        }
        let state = readiness::application_state(app);
        let operation = state.operation.clone().unwrap_or_default();
        let likely = match admission::classify(&operation) {
            AdmissionOutcome::KyvernoDenial { policies, .. } => format!(
                "the committed scaffold is denied by policy {} at sync time",
                policies.join(", ")
            ),
            AdmissionOutcome::WebhookUnavailable { webhook, service, .. } => format!(
                "the sync fails at admission: webhook {webhook} unavailable (service {})",
                service.unwrap_or_default()
            ),
            _ if state.health == "Progressing" => "the InferenceService is still starting (predictor image pull or model download); Progressing is not Healthy".to_string(),
            _ if !state.error_conditions.is_empty() => state.error_conditions.join("; "),
            _ => "the Application did not converge; its conditions and operation say why".to_string(),
        };
        return Decision::Pending(Outcome::fail(
            format!("application {name} generated but not Synced+Healthy"),
            Diagnosis::new(
                r.observed,
                likely,
                format!("kubectl -n argocd describe application {name}"),
            ),
        ));
    }
    let likely = match &observation.application_set {
        None => "the ApplicationSet has not generated it yet".to_string(),
        Some(None) => format!("ApplicationSet {appset_name} does not exist: the platform never deployed the golden path's delivery"),
        Some(Some(appset)) => {
            let errors = views::application_set_errors(appset);
            if errors.is_empty() {
                format!("ApplicationSet {appset_name} has not seen the commit: repo-server cannot reach the GitOps source (git daemon stopped?) or the generator's poll interval exceeds the deadline")
            } else {
                format!("ApplicationSet {appset_name} reports: {}", errors.join("; "))
            }
        }
    };
    Decision::Pending(Outcome::fail(
        format!("application {name} never generated"),
        Diagnosis::new(
            format!(
                "no application {name} {:.0} s after the commit",
                observation.elapsed.as_secs_f64()
            ),
            likely,
            format!("kubectl -n argocd get applicationset {appset_name} -o jsonpath='{{.status.conditions}}'"),
        ),
    ))
}

/// What C2 saw after removing the model folder.
#[derive(Debug, Clone)]
pub struct PruneObservation {
    pub application_name: String,
    pub application: Option<Application>,
    /// The model's InferenceService if it still exists.
    pub isvc: Option<InferenceService>,
    pub elapsed: Duration,
}

/// C2 step 2: the Application and its InferenceService are gone.
pub fn evaluate_pruned(observation: &PruneObservation) -> Decision {
    let name = &observation.application_name;
    let (observed, likely, next) = match (&observation.application, &observation.isvc) {
        (None, None) => {
            let seconds = observation.elapsed.as_secs_f64();
            return Decision::Pass(
                Outcome::pass(format!(
                    "application {name} and its InferenceService pruned {seconds:.1} s after removal"
                ))
                .with_figure("prune_seconds", seconds, "s"),
            );
        }
        (Some(app), _) => {
            let finalizers = app
                .metadata
                .finalizers
                .as_deref()
                .unwrap_or_default()
                .join(",");
            let deleting = app.metadata.deletion_timestamp.is_some();
            (
                format!(
                    "application {name} still exists{} (finalizers: {finalizers})",
                    if deleting { ", being deleted" } else { "" }
                ),
                if deleting {
                    "the Application's resources-finalizer is waiting for its resources to be deleted (an InferenceService finalizer or a failing webhook blocks it)".to_string()
                } else {
                    format!("ApplicationSet {} has not seen the removal commit (poll interval) or its policy does not delete Applications (applicationsSync: create-only)", argocd::MODEL_APPLICATIONSET)
                },
                format!("kubectl -n argocd get application {name} -o yaml"),
            )
        }
        (None, Some(isvc)) => {
            let ns = isvc.metadata.namespace.as_deref().unwrap_or_default();
            let isvc_name = isvc.metadata.name.as_deref().unwrap_or_default();
            (
                format!("application {name} is gone but inferenceservice {ns}/{isvc_name} remains"),
                "the Application was deleted without cascading: its template lacks the resources-finalizer, so the InferenceService is orphaned".to_string(),
                format!("kubectl -n {ns} get inferenceservice {isvc_name} -o yaml"),
            )
        }
    };
    Decision::Pending(Outcome::fail(
        format!("application {name} not pruned"),
        Diagnosis::new(observed, likely, next),
    ))
}

/// C2's verdict from its two steps: both PASS, or the first that did not.
pub fn combine_discovery_and_prune(discovery: Outcome, prune: Outcome) -> Outcome {
    if !discovery.is_pass() {
        return discovery;
    }
    if !prune.is_pass() {
        return prune;
    }
    let mut combined = Outcome::pass(format!("{}; {}", discovery.summary, prune.summary));
    combined.figures = discovery.figures;
    combined.figures.extend(prune.figures);
    combined
}

/// Removes a committed model folder when dropped without `remove` having run (a failing or
/// interrupted C2), so the ApplicationSet does not keep regenerating the probe Application
/// after the runner deleted it.
pub struct CommittedModel {
    pub dir: PathBuf,
    pub name: String,
    pub removed: bool,
}

impl CommittedModel {
    async fn remove(&mut self) -> Result<(), String> {
        let dir = self.dir.clone();
        let name = self.name.clone();
        let result = tokio::task::spawn_blocking(move || {
            GitSource::open(dir).and_then(|source| source.remove_model(&name))
        })
        .await
        .map_err(|e| e.to_string())?;
        self.removed = true;
        result.map(|_| ()).map_err(|e| e.to_string())
    }
}

impl Drop for CommittedModel {
    fn drop(&mut self) {
        if !self.removed {
            if let Err(e) = GitSource::open(&self.dir).and_then(|s| s.remove_model(&self.name)) {
                tracing::warn!(model = %self.name, error = %e, "could not remove the probe model from the GitOps source");
            }
        }
    }
}

async fn appset_discovery(run: &CheckRun<'_>) -> Outcome {
    let spec = match super::probe_spec(run, "c2") {
        Ok(spec) => spec,
        Err(outcome) => return *outcome,
    };
    let dir = run.env.gitops_cache_dir.clone();
    if let Err(e) = GitSource::open(&dir) {
        return Outcome::fail(
            "no GitOps source to commit to",
            Diagnosis::new(
                e.to_string(),
                "the local GitOps repository `neuroscale up` creates is missing (another cache dir, or a remote source)",
                "neuroscale up",
            ),
        );
    }
    let client = &run.env.client;
    let app_name = gitops::model_application_name(&spec.name);
    let namespace = models::NAMESPACE;
    // Tracked before they can exist: the runner deletes them if this check is cut short.
    let application = CreatedObject {
        api_version: views::APPLICATION.api_version(),
        kind: views::APPLICATION.kind.to_string(),
        namespace: Some(argocd::NAMESPACE.to_string()),
        name: app_name.clone(),
    };
    let isvc = super::isvc_object(namespace, &spec.name);
    run.track(isvc.clone());
    run.track(application.clone());
    let mut committed = CommittedModel {
        dir: dir.clone(),
        name: spec.name.clone(),
        removed: false,
    };
    let commit = {
        let spec = spec.clone();
        let dir = dir.clone();
        tokio::task::spawn_blocking(move || GitSource::open(dir)?.add_model(&spec)).await
    };
    match commit {
        Ok(Ok(id)) => run.saw(format!("committed model {} as {}", spec.name, id.short())),
        Ok(Err(e)) => {
            committed.removed = true;
            return Outcome::fail(
                "could not commit the scaffolded model",
                Diagnosis::new(
                    e.to_string(),
                    "the GitOps repository refused the commit",
                    "neuroscale doctor",
                ),
            );
        }
        Err(e) => {
            committed.removed = true;
            return Outcome::fail(
                "could not commit the scaffolded model",
                Diagnosis::new(e.to_string(), "the commit task failed", "neuroscale doctor"),
            );
        }
    }
    // Discovery gets two thirds of the time; the prune wait the rest.
    let started = Instant::now();
    let discovery = Wait::new(format!(
        "application {app_name} Synced+Healthy with its InferenceService"
    ))
    .within(run.time_to_conclude() * 2 / 3)
    .until(
        run,
        |attempt: Attempt| {
            let app_name = app_name.clone();
            let model = spec.name.clone();
            async move {
                let application =
                    observe::get_view::<Application>(client, Some(argocd::NAMESPACE), &app_name)
                        .await
                        .map_err(|e| Outcome::api_error("the model's Application", &e))?;
                let isvc_exists =
                    observe::get_view::<InferenceService>(client, Some(namespace), &model)
                        .await
                        .map_err(|e| Outcome::api_error("the model's InferenceService", &e))?
                        .is_some();
                let application_set = if attempt.last {
                    Some(
                        observe::get_view::<ApplicationSet>(
                            client,
                            Some(argocd::NAMESPACE),
                            argocd::MODEL_APPLICATIONSET,
                        )
                        .await
                        .ok()
                        .flatten(),
                    )
                } else {
                    None
                };
                Ok(DiscoveryObservation {
                    application_name: app_name,
                    application,
                    application_set,
                    isvc_exists,
                    elapsed: started.elapsed(),
                })
            }
        },
        evaluate_discovery,
    )
    .await;
    if let Err(e) = committed.remove().await {
        return combine_discovery_and_prune(
            discovery,
            Outcome::fail(
                "could not remove the scaffolded model from the GitOps source",
                Diagnosis::new(
                    e,
                    "the GitOps repository refused the commit",
                    format!("neuroscale new-model --remove {}", spec.name),
                ),
            ),
        );
    }
    let removed_at = Instant::now();
    let prune = Wait::new(format!(
        "application {app_name} and its InferenceService pruned"
    ))
    .until(
        run,
        |_| {
            let app_name = app_name.clone();
            let model = spec.name.clone();
            async move {
                let application =
                    observe::get_view::<Application>(client, Some(argocd::NAMESPACE), &app_name)
                        .await
                        .map_err(|e| Outcome::api_error("the model's Application", &e))?;
                let isvc = observe::get_view::<InferenceService>(client, Some(namespace), &model)
                    .await
                    .map_err(|e| Outcome::api_error("the model's InferenceService", &e))?;
                Ok(PruneObservation {
                    application_name: app_name,
                    application,
                    isvc,
                    elapsed: removed_at.elapsed(),
                })
            }
        },
        evaluate_pruned,
    )
    .await;
    if prune.is_pass() {
        run.untrack(&application);
        run.untrack(&isvc);
    }
    combine_discovery_and_prune(discovery, prune)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checks::fixtures::{self, application, diagnosis, set_condition};
    use crate::checks::outcome::Verdict;
    use serde_json::{json, Value};

    fn discovery(app: Option<Value>, appset: Option<Option<Value>>) -> DiscoveryObservation {
        DiscoveryObservation {
            application_name: "model-nscheck-c2-1a2b".into(),
            application: app.map(fixtures::app),
            application_set: appset.map(|a| a.map(fixtures::from)),
            isvc_exists: true,
            elapsed: Duration::from_secs(41),
        }
    }

    fn pending(decision: Decision) -> Outcome {
        match decision {
            Decision::Pending(outcome) => outcome,
            other => panic!("expected to keep waiting: {other:?}"),
        }
    }

    fn passed(decision: Decision) -> Outcome {
        match decision {
            Decision::Pass(outcome) => outcome,
            other => panic!("expected a pass: {other:?}"),
        }
    }

    #[test]
    fn c2_discovery_waits_on_a_healthy_application_that_lacks_its_inference_service() {
        // ArgoCD says synced, the object does not exist.
        let app = application("model-nscheck-c2-1a2b", "Synced", "Healthy");
        let mut observation = discovery(Some(app), None);
        observation.isvc_exists = false;
        let outcome = pending(evaluate_discovery(&observation));
        assert!(
            outcome.summary.contains("does not exist"),
            "{}",
            outcome.summary
        );
        assert!(diagnosis(&outcome)
            .likely_cause
            .contains("stale or failing webhook"));
    }

    fn appset(conditions: Value) -> Value {
        // argo-cd pkg/apis/application/v1alpha1/applicationset_types.go ApplicationSetCondition.
        json!({"apiVersion": "argoproj.io/v1alpha1", "kind": "ApplicationSet",
               "metadata": {"namespace": "argocd", "name": argocd::MODEL_APPLICATIONSET},
               "spec": {"generators": []},
               "status": {"conditions": conditions}})
    }

    #[test]
    fn c2_discovery_passes_with_the_seconds_to_healthy() {
        let app = application("model-nscheck-c2-1a2b", "Synced", "Healthy");
        let outcome = passed(evaluate_discovery(&discovery(Some(app), None)));
        assert_eq!(outcome.verdict(), Verdict::Pass);
        assert_eq!(outcome.figures[0].value, 41.0);
    }

    #[test]
    fn c2_discovery_waits_while_progressing_and_says_progressing_is_not_healthy() {
        let app = application("model-nscheck-c2-1a2b", "Synced", "Progressing");
        let outcome = pending(evaluate_discovery(&discovery(Some(app), None)));
        assert!(diagnosis(&outcome)
            .likely_cause
            .contains("Progressing is not Healthy"));
    }

    #[test]
    fn c2_discovery_never_generated_quotes_the_appset_error() {
        let set = appset(
            json!([{"type": "ErrorOccurred", "status": "True", "reason": "ApplicationGenerationFromParamsError",
            "message": "rpc error: code = Unknown desc = repository not found"}]),
        );
        let outcome = pending(evaluate_discovery(&discovery(None, Some(Some(set)))));
        assert!(outcome.summary.contains("never generated"));
        assert!(diagnosis(&outcome)
            .likely_cause
            .contains("repository not found"));
        let outcome = pending(evaluate_discovery(&discovery(None, Some(None))));
        assert!(diagnosis(&outcome).likely_cause.contains("does not exist"));
    }

    fn pruned(app: Option<Value>, isvc: Option<Value>) -> PruneObservation {
        PruneObservation {
            application_name: "model-nscheck-c2-1a2b".into(),
            application: app.map(fixtures::app),
            isvc: isvc.map(fixtures::isvc),
            elapsed: Duration::from_secs(33),
        }
    }

    #[test]
    fn c2_prune_passes_once_application_and_isvc_are_gone() {
        let outcome = passed(evaluate_pruned(&pruned(None, None)));
        assert_eq!(outcome.figures[0].name, "prune_seconds");
        let combined = combine_discovery_and_prune(
            passed(evaluate_discovery(&discovery(
                Some(application("model-nscheck-c2-1a2b", "Synced", "Healthy")),
                None,
            ))),
            outcome,
        );
        assert_eq!(combined.verdict(), Verdict::Pass);
        assert_eq!(combined.figures.len(), 2);
    }

    #[test]
    fn c2_prune_waits_on_an_orphaned_isvc_and_names_the_finalizer() {
        let isvc = set_condition(
            fixtures::inference_service("models", "nscheck-c2-1a2b", true),
            "Ready",
            "True",
            "",
            "",
        );
        let outcome = pending(evaluate_pruned(&pruned(None, Some(isvc))));
        assert!(diagnosis(&outcome)
            .likely_cause
            .contains("resources-finalizer"));
        let combined = combine_discovery_and_prune(Outcome::pass("found"), outcome);
        assert_eq!(combined.verdict(), Verdict::Fail);
    }

    #[test]
    fn an_interrupted_c2_removes_its_model_folder_when_dropped() {
        if !fixtures::git_available() {
            return;
        }
        let dir = tempfile::tempdir().unwrap();
        let source = GitSource::create_or_open(dir.path()).unwrap();
        let spec = crate::gitops::scaffold::ModelSpec::new(
            "nscheck-c2-abcdef",
            super::super::PROBE_OWNER,
            "ml-research",
        )
        .unwrap();
        source.add_model(&spec).unwrap();
        assert_eq!(
            source.models().unwrap(),
            vec!["nscheck-c2-abcdef".to_string()]
        );
        drop(CommittedModel {
            dir: dir.path().into(),
            name: spec.name.clone(),
            removed: false,
        });
        assert!(source.models().unwrap().is_empty());
    }
}
