//! B4 inference-request: each CPU model of the scenario gets its known rows through the Kourier
//! gateway (never a pod port-forward) with the Host header of the InferenceService's
//! `status.url`, and must answer one expected prediction per row. Only what may pass with time
//! (a model not Ready yet, a gateway error 502-504, no answer) is asked again until the
//! deadline; a wrong answer is final.

use crate::checks::env::{CheckFuture, CheckRun};
use crate::checks::kit::diagnose;
use crate::checks::kit::gateway::{self, Gateway, ModelAnswer};
use crate::checks::kit::wait::{Decision, Wait};
use crate::checks::outcome::{Diagnosis, Outcome};
use crate::observe;
use crate::platform::models;
use crate::platform::views::InferenceService;
use crate::readiness;
use crate::scenario::ModelProbe;

pub fn check<'a>(run: &'a CheckRun<'a>) -> CheckFuture<'a> {
    Box::pin(async move {
        let gateway = match Gateway::of(run.env) {
            Ok(gateway) => gateway,
            Err(no_route) => return *no_route,
        };
        let models: Vec<ModelProbe> = run.env.scenario.cpu_models().cloned().collect();
        // An InferenceService that cannot be read is not asked again: only what may pass with
        // time (not Ready yet, a gateway error) is.
        Wait::for_check(run)
            .final_on_unreadable()
            .until(
                run,
                |_| gather(run, &gateway, &models),
                |observation| evaluate(observation, &gateway.base_url),
            )
            .await
    })
}

/// What B4 saw: the answers of the models that were Ready, and why the others were not asked.
#[derive(Debug, Clone, Default)]
pub struct InferenceObservation {
    pub answers: Vec<ModelAnswer>,
    /// `(observed, likely cause)` for each model that could not be asked.
    pub not_ready: Vec<(String, String)>,
}

async fn gather(
    run: &CheckRun<'_>,
    gateway: &Gateway,
    models: &[ModelProbe],
) -> Result<InferenceObservation, Outcome> {
    let mut observation = InferenceObservation::default();
    for model in models {
        let isvc = observe::get_view::<InferenceService>(
            &run.env.client,
            Some(&model.namespace),
            &model.name,
        )
        .await
        .map_err(|e| Outcome::api_error("InferenceServices", &e))?;
        match isvc {
            Some(isvc) if readiness::inference_service(&isvc).ready => {
                observation.answers.push(gateway.ask(&isvc, model).await);
            }
            Some(isvc) => observation.not_ready.push((
                readiness::inference_service(&isvc).observed,
                diagnose::isvc_likely_cause(&isvc),
            )),
            None => observation.not_ready.push((
                format!(
                    "inferenceservice {}/{} does not exist",
                    model.namespace, model.name
                ),
                "the model's Application has not created it (see B3)".to_string(),
            )),
        }
    }
    Ok(observation)
}

/// B4: every model Ready and answering correctly through the gateway; asking again only helps
/// while a model is not Ready or the gateway had no answer yet.
pub fn evaluate(observation: &InferenceObservation, ingress_url: &str) -> Decision {
    let outcome = match observation.not_ready.first() {
        Some((observed, likely)) => Outcome::fail(
            format!(
                "{} model(s) not Ready to receive a request",
                observation.not_ready.len()
            ),
            Diagnosis::new(
                observed.clone(),
                likely.clone(),
                format!("kubectl -n {} get inferenceservices", models::NAMESPACE),
            ),
        ),
        None => gateway::evaluate_answers(&observation.answers, ingress_url),
    };
    let transient = !observation.not_ready.is_empty()
        || observation.answers.iter().any(|a| a.answer.is_transient());
    Decision::retry_if(outcome, transient)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checks::kit::gateway::ProbeAnswer;
    use crate::checks::outcome::Verdict;
    use std::time::Duration;

    fn answer(answer: ProbeAnswer) -> ModelAnswer {
        ModelAnswer {
            model: crate::checks::fixtures::smoke()
                .cpu_models()
                .next()
                .unwrap()
                .clone(),
            host: "sklearn-iris-predictor.models.neuroscale.localhost".into(),
            answer,
        }
    }

    #[test]
    fn b4_passes_when_every_model_answers_correctly() {
        let observation = InferenceObservation {
            answers: vec![answer(ProbeAnswer::Predictions {
                predictions: vec![serde_json::json!(1), serde_json::json!(1)],
                latency: Duration::from_millis(12),
            })],
            not_ready: vec![],
        };
        let Decision::Pass(outcome) = evaluate(&observation, "http://127.0.0.1:8081") else {
            panic!("expected a pass")
        };
        assert_eq!(outcome.verdict(), Verdict::Pass);
    }

    #[test]
    fn b4_waits_for_a_model_that_is_not_ready_but_not_for_a_wrong_answer() {
        let waiting = InferenceObservation {
            answers: vec![],
            not_ready: vec![("sklearn-iris Ready=False".into(), "starting".into())],
        };
        assert!(matches!(
            evaluate(&waiting, "http://x"),
            Decision::Pending(_)
        ));
        let wrong = InferenceObservation {
            answers: vec![answer(ProbeAnswer::Status {
                status: 404,
                body: String::new(),
            })],
            not_ready: vec![],
        };
        assert!(matches!(evaluate(&wrong, "http://x"), Decision::Fail(_)));
        let busy = InferenceObservation {
            answers: vec![answer(ProbeAnswer::Status {
                status: 503,
                body: "no healthy upstream".into(),
            })],
            not_ready: vec![],
        };
        assert!(matches!(evaluate(&busy, "http://x"), Decision::Pending(_)));
    }
}
