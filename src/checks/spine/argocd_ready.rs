//! A1 argocd-ready: every Deployment and StatefulSet in ArgoCD's namespace has all replicas
//! ready and every pod all containers ready (a `CrashLoopBackOff` repo-server in a Running pod
//! fails), and the workloads the install gates on exist.

use crate::checks::env::{CheckFuture, CheckRun};
use crate::checks::kit::diagnose::{container_trouble, container_trouble_code};
use crate::checks::kit::wait::{self, Decision};
use crate::checks::outcome::{Diagnosis, Outcome};
use crate::components::{self, Gate};
use crate::observe::{self, ObservedWorkload};
use crate::platform::argocd;

pub fn check<'a>(run: &'a CheckRun<'a>) -> CheckFuture<'a> {
    Box::pin(async move {
        let required = required_workloads();
        wait::until(
            run,
            |_| gather(run),
            |workloads| Decision::until_pass(evaluate_argocd_ready(workloads, &required)),
        )
        .await
    })
}

/// The ArgoCD workloads the platform installs (the argocd component's gates).
pub fn required_workloads() -> Vec<&'static str> {
    components::find("argocd")
        .map(|c| {
            c.gates
                .iter()
                .filter_map(|g| match g {
                    Gate::Deployment { name, .. } | Gate::StatefulSet { name, .. } => Some(*name),
                    _ => None,
                })
                .collect()
        })
        .unwrap_or_default()
}

async fn gather(run: &CheckRun<'_>) -> Result<Vec<ObservedWorkload>, Outcome> {
    observe::observe_workloads(&run.env.client, argocd::NAMESPACE)
        .await
        .map_err(|e| Outcome::api_error("the argocd namespace's workloads", &e))
}

/// A1: every ArgoCD Deployment and StatefulSet has all replicas ready and every pod all of its
/// containers ready; the workloads the install gates on must exist.
pub fn evaluate_argocd_ready(workloads: &[ObservedWorkload], required: &[&str]) -> Outcome {
    let mut problems: Vec<String> = required
        .iter()
        .filter(|name| !workloads.iter().any(|w| w.name == **name))
        .map(|name| format!("{name} does not exist"))
        .collect();
    let mut pods = 0;
    let mut ready = 0;
    for workload in workloads {
        let r = workload.readiness();
        pods += workload.pods.len();
        if r.ready {
            ready += 1;
        } else {
            problems.push(r.observed);
        }
    }
    if problems.is_empty() && !workloads.is_empty() {
        return Outcome::pass(format!(
            "{ready}/{} ArgoCD workloads ready, {pods} pods with all containers ready",
            workloads.len()
        ))
        .with_figure("workloads_ready", ready as f64, "count");
    }
    if workloads.is_empty() {
        problems.push(format!(
            "no Deployment or StatefulSet in namespace {}",
            argocd::NAMESPACE
        ));
    }
    let observed = problems.join("; ");
    let code = if workloads.is_empty() {
        None
    } else {
        container_trouble_code(&observed)
    };
    let likely = if workloads.is_empty() {
        "ArgoCD is not installed in namespace argocd (run `neuroscale up`)".to_string()
    } else if let Some(trouble) = container_trouble(&observed) {
        trouble.to_string()
    } else if observed.contains(argocd::REPO_SERVER) {
        "argocd-repo-server is down: every Application turns Unknown until it is back".to_string()
    } else {
        "pods still starting or failing their readiness probes; `kubectl describe` shows events"
            .to_string()
    };
    Outcome::fail(
        format!(
            "{ready}/{} ArgoCD workloads ready",
            workloads.len().max(required.len())
        ),
        Diagnosis::new(
            observed,
            likely,
            "kubectl -n argocd get pods -o wide && kubectl -n argocd describe pods",
        )
        .with_code_opt(code),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checks::fixtures::{self, diagnosis};
    use crate::checks::outcome::Verdict;

    fn argocd_workloads() -> Vec<ObservedWorkload> {
        vec![
            fixtures::healthy_stateful_set("argocd", "argocd-application-controller"),
            fixtures::healthy_deployment("argocd", "argocd-repo-server", &["argocd-repo-server"]),
            fixtures::healthy_deployment("argocd", "argocd-server", &["argocd-server"]),
            fixtures::healthy_deployment(
                "argocd",
                "argocd-applicationset-controller",
                &["argocd-applicationset-controller"],
            ),
            fixtures::healthy_deployment("argocd", "argocd-redis", &["redis"]),
            fixtures::healthy_deployment("argocd", "argocd-dex-server", &["dex"]),
        ]
    }

    #[test]
    fn a1_passes_when_every_argocd_workload_is_ready() {
        let outcome = evaluate_argocd_ready(&argocd_workloads(), &required_workloads());
        assert_eq!(outcome.verdict(), Verdict::Pass, "{outcome:?}");
        assert!(outcome.summary.contains("6/6"), "{}", outcome.summary);
        assert_eq!(outcome.figures[0].value, 6.0);
    }

    #[test]
    fn a1_fails_on_a_crash_looping_repo_server_even_though_its_pod_is_running() {
        let mut workloads = argocd_workloads();
        workloads[1].pods = vec![fixtures::pod(
            "argocd",
            "argocd-repo-server-6c9f-abcde",
            &[fixtures::waiting(
                "argocd-repo-server",
                "CrashLoopBackOff",
                14,
            )],
        )];
        let outcome = evaluate_argocd_ready(&workloads, &required_workloads());
        assert_eq!(outcome.verdict(), Verdict::Fail);
        let d = diagnosis(&outcome);
        assert!(
            d.observed
                .contains("argocd-repo-server CrashLoopBackOff (restarts 14)"),
            "{}",
            d.observed
        );
        assert!(
            d.likely_cause.contains("crash-looping"),
            "{}",
            d.likely_cause
        );
    }

    #[test]
    fn a1_fails_when_a_required_workload_is_missing() {
        let workloads: Vec<ObservedWorkload> = argocd_workloads()
            .into_iter()
            .filter(|w| w.name != "argocd-application-controller")
            .collect();
        let outcome = evaluate_argocd_ready(&workloads, &required_workloads());
        assert_eq!(outcome.verdict(), Verdict::Fail);
        assert!(diagnosis(&outcome)
            .observed
            .contains("argocd-application-controller does not exist"));
    }
}
