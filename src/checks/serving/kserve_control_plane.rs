//! B1 kserve-control-plane: `kserve-controller-manager` Available with every pod at all
//! containers ready (a 1/2 pod fails: a ready manager beside a failing sidecar is not a ready controller), ready endpoints
//! behind `kserve-webhook-server-service`, and the InferenceService, ServingRuntime and
//! ClusterServingRuntime CRDs Established. Re-observed until the deadline.

use k8s_openapi::api::discovery::v1::EndpointSlice;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::Api;

use crate::checks::env::{CheckFuture, CheckRun};
use crate::checks::kit::diagnose;
use crate::checks::kit::wait::{self, Decision};
use crate::checks::outcome::{Diagnosis, Outcome};
use crate::failures::FailureCode;
use crate::observe::{self, ObservedWorkload};
use crate::platform::kserve::{
    CONTROLLER as KSERVE_CONTROLLER, CRDS as KSERVE_CRDS, NAMESPACE as KSERVE_NAMESPACE,
    WEBHOOK_SERVICE_NAME as KSERVE_WEBHOOK_SERVICE,
};
use crate::readiness::{self, Readiness};

pub fn check<'a>(run: &'a CheckRun<'a>) -> CheckFuture<'a> {
    Box::pin(async move {
        wait::until(
            run,
            |_| gather(run),
            |observation| Decision::until_pass(evaluate_kserve_control_plane(observation)),
        )
        .await
    })
}

/// What B1 reads.
#[derive(Debug, Clone, Default)]
pub struct KserveObservation {
    pub controller: ObservedWorkload,
    pub webhook_slices: Vec<EndpointSlice>,
    /// Each required CRD by name, None when absent.
    pub crds: Vec<(String, Option<CustomResourceDefinition>)>,
}

async fn gather(run: &CheckRun<'_>) -> Result<KserveObservation, Outcome> {
    let client = &run.env.client;
    let unreadable = |e: kube::Error| Outcome::api_error("the KServe control plane", &e);
    let controller = observe::observe_deployment(client, KSERVE_NAMESPACE, KSERVE_CONTROLLER)
        .await
        .map_err(unreadable)?;
    let webhook_slices = observe::endpoint_slices(client, KSERVE_NAMESPACE, KSERVE_WEBHOOK_SERVICE)
        .await
        .map_err(unreadable)?;
    let api: Api<CustomResourceDefinition> = Api::all(client.clone());
    let mut crds = Vec::new();
    for name in KSERVE_CRDS {
        crds.push((
            name.to_string(),
            api.get_opt(name).await.map_err(unreadable)?,
        ));
    }
    Ok(KserveObservation {
        controller,
        webhook_slices,
        crds,
    })
}

/// B1: the controller Deployment Available with every pod at all containers ready, the webhook
/// Service with ready endpoints, the KServe CRDs Established.
pub fn evaluate_kserve_control_plane(observation: &KserveObservation) -> Outcome {
    let controller = observation.controller.readiness();
    let webhook = readiness::service_endpoints(KSERVE_WEBHOOK_SERVICE, &observation.webhook_slices);
    let crds: Vec<Readiness> = observation
        .crds
        .iter()
        .map(|(name, crd)| match crd {
            Some(crd) => readiness::crd_established(crd),
            None => Readiness::not_ready(format!("crd {name} does not exist")),
        })
        .collect();
    let crds_ready = crds.iter().filter(|r| r.ready).count();
    if controller.ready && webhook.ready && crds_ready == crds.len() {
        let endpoints = readiness::ready_endpoint_count(&observation.webhook_slices);
        let containers: usize = observation
            .controller
            .pods
            .iter()
            .map(|p| p.spec.as_ref().map_or(0, |s| s.containers.len()))
            .sum();
        return Outcome::pass(format!(
            "controller ready ({} pod(s), {containers} containers ready), webhook {endpoints} ready endpoint(s), {crds_ready}/{} CRDs Established",
            observation.controller.pods.len(),
            crds.len()
        ))
        .with_figure("webhook_endpoints", endpoints as f64, "count");
    }
    let mut observed = Vec::new();
    if !controller.ready {
        observed.push(controller.observed.clone());
    }
    if !webhook.ready {
        observed.push(webhook.observed.clone());
    }
    observed.extend(crds.iter().filter(|r| !r.ready).map(|r| r.observed.clone()));
    let (likely, next, code) = if !controller.ready {
        let partly_ready = observation
            .controller
            .pods
            .iter()
            .any(|p| !readiness::pod_containers(p).ready);
        let (cause, code) = if observation.controller.deployment.is_none() {
            (
                "KServe is not installed (the kserve Application has not synced)".to_string(),
                None,
            )
        } else if partly_ready {
            (
                format!(
                    "a controller pod is not fully ready (e.g. 1/2: the kube-rbac-proxy sidecar failing); {}; without it the webhook serves nothing and every InferenceService admission fails",
                    diagnose::container_trouble(&controller.observed).unwrap_or("its events say why")
                ),
                Some(FailureCode::KserveControllerHalfReady),
            )
        } else {
            (
                "the controller has no ready replica yet (pods Pending or starting)".to_string(),
                None,
            )
        };
        (
            cause,
            format!(
                "kubectl -n {KSERVE_NAMESPACE} describe pod -l control-plane={KSERVE_CONTROLLER}"
            ),
            code,
        )
    } else if !webhook.ready {
        (
            format!("the webhook Service {KSERVE_WEBHOOK_SERVICE} has no ready endpoint: every InferenceService create fails with `no endpoints available`"),
            format!("kubectl -n {KSERVE_NAMESPACE} get endpointslices -l kubernetes.io/service-name={KSERVE_WEBHOOK_SERVICE} -o wide"),
            Some(FailureCode::KserveWebhookNoEndpoints),
        )
    } else {
        let first = observation
            .crds
            .iter()
            .zip(&crds)
            .find(|(_, r)| !r.ready)
            .map(|((name, _), _)| name.clone())
            .unwrap_or_default();
        (
            "a KServe CRD is missing or not Established: it was deleted or the install has not applied it yet".to_string(),
            format!("kubectl get crd {first} -o jsonpath='{{.status.conditions}}'"),
            Some(FailureCode::CrdNotEstablished),
        )
    };
    Outcome::fail(
        format!(
            "KServe control plane not ready: controller {}, webhook {}, {crds_ready}/{} CRDs Established",
            if controller.ready { "ready" } else { "NOT ready" },
            if webhook.ready { "has endpoints" } else { "has NO endpoints" },
            crds.len()
        ),
        Diagnosis::new(observed.join("; "), likely, next).with_code_opt(code),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checks::fixtures::{self, container, diagnosis, waiting};
    use crate::checks::outcome::Verdict;

    fn healthy_kserve() -> KserveObservation {
        KserveObservation {
            controller: fixtures::healthy_deployment(
                KSERVE_NAMESPACE,
                KSERVE_CONTROLLER,
                &["manager", "kube-rbac-proxy"],
            ),
            webhook_slices: vec![fixtures::endpoint_slice(
                KSERVE_NAMESPACE,
                KSERVE_WEBHOOK_SERVICE,
                &[("10.42.0.23", true)],
            )],
            crds: KSERVE_CRDS
                .iter()
                .map(|n| (n.to_string(), Some(fixtures::crd(n, true))))
                .collect(),
        }
    }

    #[test]
    fn b1_passes_on_a_ready_control_plane() {
        let outcome = evaluate_kserve_control_plane(&healthy_kserve());
        assert_eq!(outcome.verdict(), Verdict::Pass, "{outcome:?}");
        assert!(
            outcome.summary.contains("2 containers ready"),
            "{}",
            outcome.summary
        );
        assert!(outcome.summary.contains("3/3 CRDs"), "{}", outcome.summary);
    }

    #[test]
    fn b1_fails_on_a_controller_pod_at_one_of_two_containers() {
        // the manager ready, kube-rbac-proxy in ImagePullBackOff, the
        // Deployment still reporting an available replica.
        let mut observation = healthy_kserve();
        observation.controller.pods = vec![fixtures::pod(
            KSERVE_NAMESPACE,
            "kserve-controller-manager-8d7c5b9f4-xr2lm",
            &[
                container("manager", true),
                waiting("kube-rbac-proxy", "ImagePullBackOff", 0),
            ],
        )];
        let outcome = evaluate_kserve_control_plane(&observation);
        assert_eq!(outcome.verdict(), Verdict::Fail);
        let d = diagnosis(&outcome);
        assert_eq!(
            diagnosis(&outcome).code,
            Some(FailureCode::KserveControllerHalfReady)
        );
        assert!(
            d.observed.contains("1/2 containers ready"),
            "{}",
            d.observed
        );
        assert!(
            d.observed.contains("kube-rbac-proxy ImagePullBackOff"),
            "{}",
            d.observed
        );
        assert!(d.likely_cause.contains("1/2"), "{}", d.likely_cause);
        assert_eq!(
            d.next_command,
            "kubectl -n kserve describe pod -l control-plane=kserve-controller-manager"
        );
    }

    #[test]
    fn b1_fails_when_kserve_is_not_installed() {
        let mut observation = healthy_kserve();
        observation.controller = fixtures::missing_workload(KSERVE_NAMESPACE, KSERVE_CONTROLLER);
        let outcome = evaluate_kserve_control_plane(&observation);
        assert_eq!(outcome.verdict(), Verdict::Fail);
        let d = diagnosis(&outcome);
        assert!(d.observed.contains("does not exist"), "{}", d.observed);
        assert!(
            d.likely_cause.contains("not installed"),
            "{}",
            d.likely_cause
        );
    }

    #[test]
    fn b1_fails_when_the_webhook_has_no_ready_endpoint() {
        let mut observation = healthy_kserve();
        observation.webhook_slices = vec![fixtures::endpoint_slice(
            KSERVE_NAMESPACE,
            KSERVE_WEBHOOK_SERVICE,
            &[("10.42.0.23", false)],
        )];
        let outcome = evaluate_kserve_control_plane(&observation);
        assert_eq!(
            diagnosis(&outcome).code,
            Some(FailureCode::KserveWebhookNoEndpoints)
        );
        assert_eq!(outcome.verdict(), Verdict::Fail);
        assert!(diagnosis(&outcome)
            .observed
            .contains("has no ready endpoints"));
        assert!(diagnosis(&outcome).next_command.contains("endpointslices"));
    }

    #[test]
    fn b1_fails_when_a_crd_is_missing_or_not_established() {
        let mut observation = healthy_kserve();
        observation.crds[0].1 = None;
        observation.crds[1].1 = Some(fixtures::crd(KSERVE_CRDS[1], false));
        let outcome = evaluate_kserve_control_plane(&observation);
        assert_eq!(outcome.verdict(), Verdict::Fail);
        let d = diagnosis(&outcome);
        assert_eq!(
            diagnosis(&outcome).code,
            Some(FailureCode::CrdNotEstablished)
        );
        assert!(
            d.observed
                .contains("inferenceservices.serving.kserve.io does not exist"),
            "{}",
            d.observed
        );
        assert!(d.observed.contains("Established=False"), "{}", d.observed);
    }
}
