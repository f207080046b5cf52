//! C3 scaffold-serves: creates a scaffold (`nscheck-c3-*`) directly, waits for it to be Ready
//! (`ready_seconds`), checks the iris answers through the gateway with its Host header, and
//! deletes it (the runner deletes it whatever happens, Ctrl-C included).

use std::sync::Mutex;
use std::time::{Duration, Instant};

use super::scaffold_compliant::{evaluate_scaffold_compliant, ScaffoldAdmission};
use crate::checks::env::{CheckFuture, CheckRun};
use crate::checks::kit::diagnose;
use crate::checks::kit::gateway::{self, Gateway, ModelAnswer};
use crate::checks::kit::probe::{self, ProbeObject};
use crate::checks::kit::wait::{Decision, Wait};
use crate::checks::outcome::{Diagnosis, Outcome};
use crate::gitops::scaffold;
use crate::observe;
use crate::platform::views::{InferenceService, INFERENCE_SERVICE};
use crate::readiness;
use crate::scenario::{ModelProbe, Protocol};

pub fn check<'a>(run: &'a CheckRun<'a>) -> CheckFuture<'a> {
    Box::pin(scaffold_serves(run))
}

/// What C3 saw: the scaffolded InferenceService as last read, when it became Ready, and the
/// answer to a predict through the gateway once it was.
#[derive(Debug, Clone)]
pub struct ServeObservation {
    pub isvc: Option<InferenceService>,
    /// From create to the first Ready=True with a URL; None if it never got there.
    pub ready_after: Option<Duration>,
    pub answer: Option<ModelAnswer>,
    pub ingress_url: String,
}

/// C3: the scaffolded endpoint became Ready with a URL and answered the known inputs correctly
/// through the Kourier gateway.
pub fn evaluate_scaffold_serves(observation: &ServeObservation) -> Outcome {
    let Some(isvc) = &observation.isvc else {
        return Outcome::fail(
            "the scaffolded InferenceService does not exist",
            Diagnosis::new(
                "the InferenceService the check created is gone",
                "something deleted it (a prune by ArgoCD, or a namespace cleanup) before it became Ready",
                "kubectl get events -A --field-selector involvedObject.kind=InferenceService",
            ),
        );
    };
    let name = isvc.metadata.name.as_deref().unwrap_or_default();
    let ns = isvc.metadata.namespace.as_deref().unwrap_or_default();
    let Some(ready_after) = observation.ready_after else {
        return Outcome::fail(
            format!("scaffolded inferenceservice {ns}/{name} not Ready"),
            Diagnosis::new(
                readiness::inference_service(isvc).observed,
                diagnose::isvc_likely_cause(isvc),
                format!("kubectl -n {ns} describe inferenceservice {name} && kubectl -n {ns} get pods -l serving.kserve.io/inferenceservice={name}"),
            )
            .with_code_opt(diagnose::isvc_failure_code(isvc)),
        );
    };
    let Some(answer) = &observation.answer else {
        return Outcome::fail(
            format!("scaffolded inferenceservice {ns}/{name} Ready but no request was sent"),
            Diagnosis::new(
                "no ingress URL or no status.url host to send the predict to",
                "the runner found no route to the Kourier gateway",
                "neuroscale doctor",
            ),
        );
    };
    let inference =
        gateway::evaluate_answers(std::slice::from_ref(answer), &observation.ingress_url);
    let seconds = ready_after.as_secs_f64();
    if !inference.is_pass() {
        return inference;
    }
    let mut outcome = Outcome::pass(format!(
        "scaffolded {ns}/{name} Ready after {seconds:.1} s; {}",
        inference.summary
    ))
    .with_figure("ready_seconds", seconds, "s");
    outcome.figures.extend(inference.figures);
    outcome
}

/// Whether looking again can change C3's verdict: not while the scaffold is gone or answered
/// for good; yes while it starts or the gateway had no answer yet.
fn decide(observation: &ServeObservation) -> Decision {
    let outcome = evaluate_scaffold_serves(observation);
    let may_improve = match (
        &observation.isvc,
        observation.ready_after,
        &observation.answer,
    ) {
        (None, _, _) => false,
        (Some(_), None, _) => true,
        (Some(_), Some(_), Some(answer)) => answer.answer.is_transient(),
        (Some(_), Some(_), None) => false,
    };
    Decision::retry_if(outcome, may_improve)
}

async fn scaffold_serves(run: &CheckRun<'_>) -> Outcome {
    let gateway = match Gateway::of(run.env) {
        Ok(gateway) => gateway,
        Err(no_route) => return *no_route,
    };
    let spec = match super::probe_spec(run, "c3") {
        Ok(spec) => spec,
        Err(outcome) => return *outcome,
    };
    let scaffold =
        ProbeObject::from_manifest(INFERENCE_SERVICE, scaffold::inference_service(&spec));
    let namespace = scaffold.namespace.clone();
    let started = Instant::now();
    if let Err(e) = probe::create_tracked(run, &scaffold).await {
        let refused = evaluate_scaffold_compliant(&ScaffoldAdmission {
            isvc_name: spec.name.clone(),
            namespace: namespace.clone(),
            policies: Vec::new(),
            kyverno_webhooks: Vec::new(),
            dry_run: Err(observe::error_message(&e)),
            // Judged only when the scaffold is admitted; this one was refused.
            control: Err("not sent: the scaffold itself was refused".into()),
            elapsed: started.elapsed(),
        });
        return Outcome::fail(
            format!("could not create the scaffold: {}", refused.summary),
            refused.diagnosis.unwrap_or_else(|| {
                Diagnosis::new(
                    observe::error_message(&e),
                    "the create failed",
                    "neuroscale doctor",
                )
            }),
        );
    }
    // The model the scaffold serves by default is KServe's iris sample: the probe's known rows.
    let model = ModelProbe {
        name: spec.name.clone(),
        namespace: namespace.clone(),
        protocol: Protocol::V1,
        instances: crate::probe::iris::instances(),
        expected: crate::probe::iris::expected(),
        cost_center: spec.cost_center.clone(),
        gpu: false,
    };
    let first_ready: Mutex<Option<Duration>> = Mutex::new(None);
    let (first_ready, model, gateway, spec, namespace) =
        (&first_ready, &model, &gateway, &spec, &namespace);
    let outcome = Wait::for_check(run)
        .until(
            run,
            |_| async move {
                let isvc = observe::get_view::<InferenceService>(
                    &run.env.client,
                    Some(namespace),
                    &spec.name,
                )
                .await
                .map_err(|e| Outcome::api_error("the scaffolded InferenceService", &e))?;
                let mut observation = ServeObservation {
                    isvc,
                    ready_after: None,
                    answer: None,
                    ingress_url: gateway.base_url.clone(),
                };
                if let Some(isvc) = &observation.isvc {
                    if readiness::inference_service(isvc).ready {
                        let ready_after = *first_ready
                            .lock()
                            .expect("not poisoned")
                            .get_or_insert(started.elapsed());
                        observation.ready_after = Some(ready_after);
                        observation.answer = Some(gateway.ask(isvc, model).await);
                    }
                }
                Ok(observation)
            },
            decide,
        )
        .await;
    if let Err(e) = probe::remove(run, &scaffold).await {
        run.saw(format!(
            "deleting the scaffold failed: {e}; the runner retries"
        ));
    }
    outcome
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checks::fixtures::{self, diagnosis, set_condition};
    use crate::checks::kit::gateway::ProbeAnswer;
    use crate::checks::outcome::Verdict;
    use serde_json::{json, Value};

    fn iris_answer(predictions: Vec<Value>) -> ModelAnswer {
        ModelAnswer {
            model: ModelProbe {
                name: "nscheck-c3-1a2b".into(),
                namespace: "models".into(),
                protocol: Protocol::V1,
                instances: vec![vec![6.8, 2.8, 4.8, 1.4], vec![5.1, 3.5, 1.4, 0.2]],
                expected: vec![json!(1), json!(0)],
                cost_center: "ml-research".into(),
                gpu: false,
            },
            host: "nscheck-c3-1a2b-predictor.models.neuroscale.localhost".into(),
            answer: ProbeAnswer::Predictions {
                predictions,
                latency: Duration::from_millis(9),
            },
        }
    }

    fn served(isvc_ready: bool, answer: Option<ModelAnswer>) -> ServeObservation {
        let isvc = fixtures::isvc(fixtures::inference_service(
            "models",
            "nscheck-c3-1a2b",
            isvc_ready,
        ));
        ServeObservation {
            isvc: Some(isvc),
            ready_after: isvc_ready.then(|| Duration::from_secs(64)),
            answer,
            ingress_url: "http://127.0.0.1:8081".into(),
        }
    }

    #[test]
    fn c3_passes_when_the_scaffold_becomes_ready_and_answers() {
        let outcome =
            evaluate_scaffold_serves(&served(true, Some(iris_answer(vec![json!(1), json!(0)]))));
        assert_eq!(outcome.verdict(), Verdict::Pass, "{outcome:?}");
        assert_eq!(outcome.figures[0].name, "ready_seconds");
        assert_eq!(outcome.figures[0].value, 64.0);
    }

    #[test]
    fn c3_keeps_waiting_while_the_scaffold_is_not_ready_and_names_why() {
        let mut observation = served(false, None);
        observation.isvc = Some(fixtures::isvc(set_condition(
            fixtures::inference_service("models", "nscheck-c3-1a2b", false),
            "PredictorReady",
            "False",
            "RevisionMissing",
            "0/1 nodes are available: 1 Insufficient cpu.",
        )));
        let Decision::Pending(outcome) = decide(&observation) else {
            panic!("a scaffold that is not Ready yet is waited for")
        };
        assert!(
            diagnosis(&outcome)
                .likely_cause
                .contains("cannot be scheduled"),
            "{:?}",
            outcome.diagnosis
        );
    }

    #[test]
    fn c3_fails_on_a_wrong_answer_without_waiting() {
        let observation = served(true, Some(iris_answer(vec![json!(1)])));
        let Decision::Fail(outcome) = decide(&observation) else {
            panic!("a wrong answer is final")
        };
        assert!(diagnosis(&outcome)
            .observed
            .contains("1 predictions for 2 input rows"));
    }
}
