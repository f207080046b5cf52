//! `neuroscale doctor`: a platform engineer's triage sequence, automated. Each step is a verdict over
//! observed state plus the command a human would run next: (1) nodes, (2) Applications and their
//! conditions, (3) the KServe control plane and CRDs, (4) the controller's log tail, (5) the KServe
//! webhook's endpoints, (6) stale webhooks. Observing (`gather`) is separate from deciding
//! (`triage`, pure), so every verdict is tested on realistic objects without a cluster.

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{Node, Pod};
use k8s_openapi::api::discovery::v1::EndpointSlice;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use serde::Serialize;

use crate::platform::views::Application;
use crate::platform::{self, kserve};
use crate::readiness;

pub mod gather;

pub use gather::gather;

/// KServe's control plane as the topology names it.
pub use kserve::{
    CONTROLLER as KSERVE_CONTROLLER, CRDS as KSERVE_CRDS, NAMESPACE as KSERVE_NAMESPACE,
    WEBHOOK_SERVICE_NAME as KSERVE_WEBHOOK_SERVICE,
};
/// Log lines kept from the controller.
pub const LOG_TAIL_LINES: i64 = 100;

/// One step's conclusion.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum StepVerdict {
    Ok,
    /// Worth a look, not necessarily the fault (error lines in a log).
    Warn,
    Fail,
    /// Not run because an earlier gate failed.
    Skip,
}

/// One triage step.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Step {
    pub number: u8,
    pub title: &'static str,
    pub verdict: StepVerdict,
    /// What was observed, one line each.
    pub observed: Vec<String>,
    /// The command a human would run next.
    pub next_command: String,
}

/// A webhook and where it sends requests, as observed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebhookTarget {
    /// `ValidatingWebhookConfiguration` or `MutatingWebhookConfiguration`.
    pub configuration_kind: &'static str,
    pub configuration: String,
    pub webhook: String,
    /// `namespace/name` of its Service; `None` when it calls a URL.
    pub service: Option<String>,
    pub service_exists: bool,
    pub ready_endpoints: usize,
}

/// What `gather` read; each part is the objects or why they could not be read.
#[derive(Debug, Clone)]
pub struct Observations {
    pub nodes: Result<Vec<Node>, String>,
    pub applications: Result<Vec<Application>, String>,
    pub kserve_controller: Result<Option<Deployment>, String>,
    pub kserve_pods: Result<Vec<Pod>, String>,
    pub crds: Result<Vec<CustomResourceDefinition>, String>,
    pub controller_log: Result<String, String>,
    pub kserve_webhook_endpoints: Result<Vec<EndpointSlice>, String>,
    pub webhooks: Result<Vec<WebhookTarget>, String>,
}

fn step(
    number: u8,
    title: &'static str,
    verdict: StepVerdict,
    observed: Vec<String>,
    next: impl Into<String>,
) -> Step {
    Step {
        number,
        title,
        verdict,
        observed,
        next_command: next.into(),
    }
}

fn unreadable(number: u8, title: &'static str, why: &str, next: &str) -> Step {
    step(
        number,
        title,
        StepVerdict::Fail,
        vec![format!("could not read: {why}")],
        next,
    )
}

fn nodes_step(nodes: &Result<Vec<Node>, String>) -> Step {
    const TITLE: &str = "nodes are Ready";
    let nodes = match nodes {
        Ok(nodes) => nodes,
        Err(why) => return unreadable(1, TITLE, why, "kubectl get nodes"),
    };
    if nodes.is_empty() {
        return step(
            1,
            TITLE,
            StepVerdict::Fail,
            vec!["no nodes".into()],
            "kubectl get nodes",
        );
    }
    let mut observed = Vec::new();
    let mut not_ready = Vec::new();
    for node in nodes {
        let name = node.metadata.name.clone().unwrap_or_default();
        let ready = node
            .status
            .as_ref()
            .and_then(|s| s.conditions.as_ref())
            .and_then(|c| c.iter().find(|c| c.type_ == "Ready"))
            .map(|c| (c.status.clone(), c.message.clone().unwrap_or_default()));
        match ready {
            Some((status, _)) if status == "True" => observed.push(format!("node {name} Ready")),
            Some((status, message)) => {
                observed.push(format!("node {name} Ready={status}: {message}"));
                not_ready.push(name);
            }
            None => {
                observed.push(format!("node {name} has no Ready condition"));
                not_ready.push(name);
            }
        }
    }
    match not_ready.first() {
        None => step(1, TITLE, StepVerdict::Ok, observed, "kubectl get nodes"),
        Some(name) => step(
            1,
            TITLE,
            StepVerdict::Fail,
            observed,
            format!("kubectl describe node {name}"),
        ),
    }
}

fn applications_step(apps: &Result<Vec<Application>, String>) -> Step {
    const TITLE: &str = "Applications are Synced and Healthy";
    let apps = match apps {
        Ok(apps) => apps,
        Err(why) => return unreadable(2, TITLE, why, "kubectl -n argocd get applications"),
    };
    if apps.is_empty() {
        return step(
            2,
            TITLE,
            StepVerdict::Fail,
            vec!["no Applications in namespace argocd".into()],
            "kubectl -n argocd get applications",
        );
    }
    let mut observed = Vec::new();
    let mut first_bad = None;
    for app in apps {
        let ready = readiness::application(app);
        let state = readiness::application_state(app);
        let mut line = ready.observed.clone();
        if let (false, Some(op)) = (ready.ready, &state.operation) {
            line.push_str(&format!(" (last operation: {op})"));
        }
        observed.push(line);
        if !ready.ready && first_bad.is_none() {
            first_bad = Some(state.name);
        }
    }
    match first_bad {
        None => step(
            2,
            TITLE,
            StepVerdict::Ok,
            observed,
            "kubectl -n argocd get applications",
        ),
        Some(name) => step(
            2,
            TITLE,
            StepVerdict::Fail,
            observed,
            format!("kubectl -n argocd get application {name} -o yaml | grep -A 20 conditions"),
        ),
    }
}

fn control_plane_step(obs: &Observations) -> Step {
    const TITLE: &str = "KServe control plane and CRDs";
    const NEXT: &str = "kubectl -n kserve get deploy,pods,svc,endpoints";
    let mut observed = Vec::new();
    let mut ok = true;
    match &obs.kserve_controller {
        Ok(Some(deploy)) => {
            let r = readiness::deployment(deploy);
            ok &= r.ready;
            observed.push(format!("deployment {KSERVE_CONTROLLER}: {}", r.observed));
        }
        Ok(None) => {
            ok = false;
            observed.push(format!(
                "deployment {KSERVE_NAMESPACE}/{KSERVE_CONTROLLER} does not exist"
            ));
        }
        Err(why) => {
            ok = false;
            observed.push(format!("could not read the controller: {why}"));
        }
    }
    match &obs.kserve_pods {
        Ok(pods) => {
            // A pod at 1/2 containers (a failing kube-rbac-proxy sidecar) is not ready.
            let r = readiness::pods(pods);
            ok &= r.ready;
            observed.push(r.observed);
        }
        Err(why) => {
            ok = false;
            observed.push(format!("could not read the controller pods: {why}"));
        }
    }
    let mut crd_missing = false;
    match &obs.crds {
        Ok(crds) => {
            for name in KSERVE_CRDS {
                match crds
                    .iter()
                    .find(|c| c.metadata.name.as_deref() == Some(name))
                {
                    Some(crd) => {
                        let r = readiness::crd_established(crd);
                        ok &= r.ready;
                        crd_missing |= !r.ready;
                        observed.push(r.observed);
                    }
                    None => {
                        ok = false;
                        crd_missing = true;
                        observed.push(format!("crd {name} is missing"));
                    }
                }
            }
        }
        Err(why) => {
            ok = false;
            observed.push(format!("could not read CRDs: {why}"));
        }
    }
    let next = if crd_missing {
        "kubectl get crd | grep serving.kserve.io"
    } else {
        NEXT
    };
    step(
        3,
        TITLE,
        if ok {
            StepVerdict::Ok
        } else {
            StepVerdict::Fail
        },
        observed,
        next,
    )
}

/// Controller-runtime logs errors as JSON with `"level":"error"` or as `ERROR` in console format.
fn is_error_line(line: &str) -> bool {
    line.contains("\"level\":\"error\"")
        || line.contains("\tERROR\t")
        || line.starts_with("E0")
        || line.contains(" ERROR ")
}

fn log_step(log: &Result<String, String>) -> Step {
    const TITLE: &str = "KServe controller log tail";
    let next = format!(
        "kubectl -n {KSERVE_NAMESPACE} logs deploy/{KSERVE_CONTROLLER} --tail={LOG_TAIL_LINES}"
    );
    let log = match log {
        Ok(log) => log,
        Err(why) => return unreadable(4, TITLE, why, &next),
    };
    let lines: Vec<&str> = log.lines().collect();
    let errors: Vec<&str> = lines.iter().copied().filter(|l| is_error_line(l)).collect();
    if errors.is_empty() {
        return step(
            4,
            TITLE,
            StepVerdict::Ok,
            vec![format!("{} lines, no error lines", lines.len())],
            next,
        );
    }
    let mut observed = vec![format!(
        "{} of the last {} lines are errors; the newest:",
        errors.len(),
        lines.len()
    )];
    observed.extend(errors.iter().rev().take(5).rev().map(|l| {
        let l = l.trim();
        if l.chars().count() > 240 {
            format!("{}…", l.chars().take(240).collect::<String>())
        } else {
            l.to_string()
        }
    }));
    step(4, TITLE, StepVerdict::Warn, observed, next)
}

fn webhook_endpoints_step(slices: &Result<Vec<EndpointSlice>, String>) -> Step {
    const TITLE: &str = "KServe webhook has ready endpoints";
    let next = format!("kubectl -n {KSERVE_NAMESPACE} get endpoints {KSERVE_WEBHOOK_SERVICE}");
    let slices = match slices {
        Ok(s) => s,
        Err(why) => return unreadable(5, TITLE, why, &next),
    };
    let r = readiness::service_endpoints(
        &format!("{KSERVE_NAMESPACE}/{KSERVE_WEBHOOK_SERVICE}"),
        slices,
    );
    if r.ready {
        step(5, TITLE, StepVerdict::Ok, vec![r.observed], next)
    } else {
        step(
            5,
            TITLE,
            StepVerdict::Fail,
            vec![
                r.observed,
                "every InferenceService create/update is blocked until it has one; diagnose the controller (step 3), not the app YAML".into(),
            ],
            format!("kubectl -n {KSERVE_NAMESPACE} describe pods -l control-plane={KSERVE_CONTROLLER}"),
        )
    }
}

fn stale_webhooks_step(webhooks: &Result<Vec<WebhookTarget>, String>) -> Step {
    const TITLE: &str = "no stale admission webhooks";
    let webhooks = match webhooks {
        Ok(w) => w,
        Err(why) => {
            return unreadable(6, TITLE, why, "kubectl get validatingwebhookconfigurations")
        }
    };
    let mut observed = Vec::new();
    let mut stale: Option<&WebhookTarget> = None;
    for hook in webhooks {
        let Some(service) = &hook.service else {
            continue;
        };
        let owner = platform::service_for_webhook(&hook.webhook)
            .map(|s| format!(" (known: {s})"))
            .unwrap_or_default();
        let problem = if !hook.service_exists {
            Some(format!("service {service} does not exist"))
        } else if hook.ready_endpoints == 0 {
            Some(format!("service {service} has no ready endpoints"))
        } else {
            None
        };
        if let Some(problem) = problem {
            observed.push(format!(
                "{} {} webhook {}: {problem}{owner}",
                hook.configuration_kind, hook.configuration, hook.webhook
            ));
            stale.get_or_insert(hook);
        }
    }
    match stale {
        None => step(
            6,
            TITLE,
            StepVerdict::Ok,
            vec![format!(
                "{} webhooks, every Service has ready endpoints",
                webhooks.len()
            )],
            "kubectl get validatingwebhookconfigurations,mutatingwebhookconfigurations",
        ),
        Some(hook) => {
            let kind = hook.configuration_kind.to_lowercase();
            let next = if hook.service_exists {
                let (ns, name) = hook
                    .service
                    .as_deref()
                    .and_then(|s| s.split_once('/'))
                    .unwrap_or(("default", ""));
                format!("kubectl -n {ns} get endpoints {name}")
            } else {
                // A webhook whose Service is gone is a leftover.
                format!("kubectl delete {kind} {}", hook.configuration)
            };
            step(6, TITLE, StepVerdict::Fail, observed, next)
        }
    }
}

/// The triage, in the order an engineer would take it. A failed node gate stops the sequence: nothing above a
/// broken environment can be trusted.
pub fn triage(obs: &Observations) -> Vec<Step> {
    let nodes = nodes_step(&obs.nodes);
    if nodes.verdict == StepVerdict::Fail {
        let titles = [
            (2, "Applications are Synced and Healthy"),
            (3, "KServe control plane and CRDs"),
            (4, "KServe controller log tail"),
            (5, "KServe webhook has ready endpoints"),
            (6, "no stale admission webhooks"),
        ];
        let mut steps = vec![nodes];
        steps.extend(titles.into_iter().map(|(n, title)| {
            step(
                n,
                title,
                StepVerdict::Skip,
                vec!["not run: fix the nodes first (step 1)".into()],
                "kubectl get nodes",
            )
        }));
        return steps;
    }
    vec![
        nodes,
        applications_step(&obs.applications),
        control_plane_step(obs),
        log_step(&obs.controller_log),
        webhook_endpoints_step(&obs.kserve_webhook_endpoints),
        stale_webhooks_step(&obs.webhooks),
    ]
}

/// 0 when no step failed, 1 otherwise (warnings do not fail).
pub fn exit_code(steps: &[Step]) -> u8 {
    if steps.iter().any(|s| s.verdict == StepVerdict::Fail) {
        crate::exit::CHECK_FAILED
    } else {
        crate::exit::SUCCESS
    }
}

/// Human rendering: one block per step.
pub fn render_human(context: &str, steps: &[Step], colour: bool) -> String {
    let mut out = format!("neuroscale doctor: context {context}\n");
    for s in steps {
        let label = match s.verdict {
            StepVerdict::Ok => "OK  ",
            StepVerdict::Warn => "WARN",
            StepVerdict::Fail => "FAIL",
            StepVerdict::Skip => "SKIP",
        };
        let label = if colour {
            let code = match s.verdict {
                StepVerdict::Ok => "32",
                StepVerdict::Warn | StepVerdict::Skip => "33",
                StepVerdict::Fail => "31",
            };
            format!("\x1b[{code}m{label}\x1b[0m")
        } else {
            label.to_string()
        };
        out.push_str(&format!("\n{label} {}. {}\n", s.number, s.title));
        for line in &s.observed {
            out.push_str(&format!("       {line}\n"));
        }
        out.push_str(&format!("       next: {}\n", s.next_command));
    }
    let failed = steps
        .iter()
        .filter(|s| s.verdict == StepVerdict::Fail)
        .count();
    out.push_str(&if failed == 0 {
        "\nall triage steps passed: only now edit app manifests\n".to_string()
    } else {
        format!(
            "\n{failed} step(s) failed: fix the first failing step before touching app manifests\n"
        )
    });
    out
}

/// JSON rendering (schema `neuroscale.doctor/v1`).
pub fn render_json(context: &str, steps: &[Step]) -> String {
    let value = serde_json::json!({
        "schemaVersion": "neuroscale.doctor/v1",
        "context": context,
        "verdict": if exit_code(steps) == 0 { "OK" } else { "FAIL" },
        "steps": steps,
    });
    serde_json::to_string_pretty(&value).expect("serializable") + "\n"
}

#[cfg(test)]
mod tests;
