//! `neuroscale doctor`: a platform engineer's triage sequence, automated. Each step is a verdict over
//! observed state plus the command a human would run next: (1) nodes, (2) Applications and their
//! conditions, (3) the KServe control plane and CRDs, (4) the controller's log tail, (5) the KServe
//! webhook's endpoints, (6) stale webhooks. Observing is separate from deciding (`triage`, pure):
//! the observations come from the cluster (`gather`) or, offline, from a diagnostics bundle
//! (`bundle`), and every verdict is tested on realistic objects without a cluster. A step whose
//! verdict identifies a catalogued failure carries its code (`docs/failures.md`). `pre` is the
//! other end: what would stop `up` on this machine, before there is a cluster.

use std::fmt;

use k8s_openapi::api::core::v1::Node;
use serde::Serialize;

use crate::failures::FailureCode;
use crate::platform::views::Application;
use crate::platform::{self, kserve};
use crate::readiness::{self, Readiness};

pub mod bundle;
pub mod gather;
pub mod pre;

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
    /// The catalogued failure the verdict identifies, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub code: Option<FailureCode>,
}

/// Why a part of the observations is not there.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Unread {
    /// Reading it failed (forbidden, unreachable, unparsable): the step fails.
    Failed(String),
    /// The source never held it (a bundle keeps logs only of containers that are not ready):
    /// the step concludes nothing and is skipped.
    NotCollected(String),
}

impl fmt::Display for Unread {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Unread::Failed(why) => write!(f, "could not read: {why}"),
            Unread::NotCollected(why) => write!(f, "not collected: {why}"),
        }
    }
}

impl From<String> for Unread {
    fn from(why: String) -> Self {
        Unread::Failed(why)
    }
}

impl From<&str> for Unread {
    fn from(why: &str) -> Self {
        Unread::Failed(why.to_string())
    }
}

/// One part of the observations: what was read, or why it is not there.
pub type Reading<T> = Result<T, Unread>;

/// A controller pod as the triage needs it: its readiness and how many of its containers are
/// ready (a pod at 1/2 is the kube-rbac-proxy failure, not a pod that is starting).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PodReadiness {
    pub readiness: Readiness,
    pub containers: usize,
    pub containers_ready: usize,
}

impl PodReadiness {
    pub fn of(pod: &k8s_openapi::api::core::v1::Pod) -> Self {
        let statuses = pod
            .status
            .as_ref()
            .and_then(|s| s.container_statuses.as_ref());
        PodReadiness {
            readiness: readiness::pod_containers(pod),
            containers: pod.spec.as_ref().map_or(0, |s| s.containers.len()),
            containers_ready: statuses.map_or(0, |s| s.iter().filter(|c| c.ready).count()),
        }
    }

    /// Some containers ready and some not.
    fn partly_ready(&self) -> bool {
        self.containers_ready > 0 && self.containers_ready < self.containers
    }
}

/// A KServe CRD: `None` when it does not exist, else whether it is Established.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CrdState {
    pub name: String,
    pub established: Option<Readiness>,
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

/// What the triage looks at, from the cluster or a bundle; each part is what was read or why
/// it is not there. Workloads are kept as their readiness, which is what a bundle records.
#[derive(Debug, Clone)]
pub struct Observations {
    pub nodes: Reading<Vec<Node>>,
    pub applications: Reading<Vec<Application>>,
    /// The controller Deployment's readiness; `None` when it does not exist.
    pub kserve_controller: Reading<Option<Readiness>>,
    pub kserve_pods: Reading<Vec<PodReadiness>>,
    /// One entry per name in `KSERVE_CRDS`.
    pub crds: Reading<Vec<CrdState>>,
    pub controller_log: Reading<String>,
    pub kserve_webhook_endpoints: Reading<Readiness>,
    pub webhooks: Reading<Vec<WebhookTarget>>,
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
        code: None,
    }
}

impl Step {
    fn with_code(mut self, code: Option<FailureCode>) -> Self {
        self.code = code;
        self
    }
}

/// A step over a part that is not there: a failed read fails it, a part the source never held
/// skips it.
fn unreadable(number: u8, title: &'static str, why: &Unread, next: &str) -> Step {
    let verdict = match why {
        Unread::Failed(_) => StepVerdict::Fail,
        Unread::NotCollected(_) => StepVerdict::Skip,
    };
    step(number, title, verdict, vec![why.to_string()], next)
}

fn nodes_step(nodes: &Reading<Vec<Node>>) -> Step {
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

/// The catalogued failure an Application that is not Synced and Healthy shows, in the order the
/// A2 check reads them.
fn application_code(state: &readiness::ApplicationState) -> Option<FailureCode> {
    if state
        .error_conditions
        .iter()
        .any(|c| c.starts_with("ComparisonError"))
    {
        Some(FailureCode::ApplicationComparisonError)
    } else if state.health == "Progressing" {
        Some(FailureCode::ApplicationProgressing)
    } else if state.sync == "Unknown" || state.health == "Unknown" {
        Some(FailureCode::ApplicationUnknown)
    } else {
        None
    }
}

fn applications_step(apps: &Reading<Vec<Application>>) -> Step {
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
        )
        .with_code(Some(FailureCode::ApplicationMissing));
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
            first_bad = Some((state.name.clone(), application_code(&state)));
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
        Some((name, code)) => step(
            2,
            TITLE,
            StepVerdict::Fail,
            observed,
            format!("kubectl -n argocd get application {name} -o yaml | grep -A 20 conditions"),
        )
        .with_code(code),
    }
}

fn control_plane_step(obs: &Observations) -> Step {
    const TITLE: &str = "KServe control plane and CRDs";
    const NEXT: &str = "kubectl -n kserve get deploy,pods,svc,endpoints";
    let mut observed = Vec::new();
    let mut ok = true;
    let mut not_collected = false;
    let mut code = None;
    match &obs.kserve_controller {
        Ok(Some(r)) => {
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
            ok &= matches!(why, Unread::NotCollected(_));
            not_collected |= matches!(why, Unread::NotCollected(_));
            observed.push(format!("the controller: {why}"));
        }
    }
    match &obs.kserve_pods {
        Ok(pods) => {
            // A pod at 1/2 containers (a failing kube-rbac-proxy sidecar) is not ready.
            let r = readiness::all_ready(
                pods.iter().map(|p| p.readiness.clone()).collect(),
                "no pods",
            );
            ok &= r.ready;
            if !r.ready && pods.iter().any(PodReadiness::partly_ready) {
                code = Some(FailureCode::KserveControllerHalfReady);
            }
            observed.push(r.observed);
        }
        Err(why) => {
            ok &= matches!(why, Unread::NotCollected(_));
            not_collected |= matches!(why, Unread::NotCollected(_));
            observed.push(format!("the controller pods: {why}"));
        }
    }
    let mut crd_missing = false;
    match &obs.crds {
        Ok(crds) => {
            for crd in crds {
                match &crd.established {
                    Some(r) => {
                        ok &= r.ready;
                        crd_missing |= !r.ready;
                        observed.push(r.observed.clone());
                    }
                    None => {
                        ok = false;
                        crd_missing = true;
                        observed.push(format!("crd {} is missing", crd.name));
                    }
                }
            }
        }
        Err(why) => {
            ok &= matches!(why, Unread::NotCollected(_));
            not_collected |= matches!(why, Unread::NotCollected(_));
            observed.push(format!("CRDs: {why}"));
        }
    }
    if crd_missing && code.is_none() {
        code = Some(FailureCode::CrdNotEstablished);
    }
    let next = if crd_missing {
        "kubectl get crd | grep serving.kserve.io"
    } else {
        NEXT
    };
    let verdict = match (ok, not_collected) {
        (false, _) => StepVerdict::Fail,
        (true, true) => StepVerdict::Skip,
        (true, false) => StepVerdict::Ok,
    };
    step(3, TITLE, verdict, observed, next).with_code(if ok { None } else { code })
}

/// Controller-runtime logs errors as JSON with `"level":"error"` or as `ERROR` in console format.
fn is_error_line(line: &str) -> bool {
    line.contains("\"level\":\"error\"")
        || line.contains("\tERROR\t")
        || line.starts_with("E0")
        || line.contains(" ERROR ")
}

fn log_step(log: &Reading<String>) -> Step {
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
    // KServe's controller looking for Istio's VirtualService kind is the Istio assumption.
    let code = errors
        .iter()
        .any(|l| l.contains("VirtualService"))
        .then_some(FailureCode::KserveAssumesIstio);
    step(4, TITLE, StepVerdict::Warn, observed, next).with_code(code)
}

fn webhook_endpoints_step(endpoints: &Reading<Readiness>) -> Step {
    const TITLE: &str = "KServe webhook has ready endpoints";
    let next = format!("kubectl -n {KSERVE_NAMESPACE} get endpoints {KSERVE_WEBHOOK_SERVICE}");
    let r = match endpoints {
        Ok(r) => r.clone(),
        Err(why) => return unreadable(5, TITLE, why, &next),
    };
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
        .with_code(Some(FailureCode::KserveWebhookNoEndpoints))
    }
}

fn stale_webhooks_step(webhooks: &Reading<Vec<WebhookTarget>>) -> Step {
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
            let code = if hook.service.as_deref()
                == Some(&format!("{KSERVE_NAMESPACE}/{KSERVE_WEBHOOK_SERVICE}"))
            {
                FailureCode::KserveWebhookNoEndpoints
            } else {
                FailureCode::StaleWebhook
            };
            step(6, TITLE, StepVerdict::Fail, observed, next).with_code(Some(code))
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

/// What the steps were read from; it heads both renderings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// A live cluster, by kubeconfig context.
    Context(String),
    /// A diagnostics bundle directory, read offline.
    Bundle(String),
    /// This machine, before `up` (`doctor --pre`).
    Machine,
}

impl Source {
    fn heading(&self) -> String {
        match self {
            Source::Context(context) => format!("context {context}"),
            Source::Bundle(dir) => format!("bundle {dir} (offline)"),
            Source::Machine => "before `neuroscale up`, on this machine".to_string(),
        }
    }

    fn all_passed(&self) -> &'static str {
        match self {
            Source::Machine => "nothing found that would stop `neuroscale up`",
            _ => "all triage steps passed: only now edit app manifests",
        }
    }

    fn some_failed(&self) -> &'static str {
        match self {
            Source::Machine => "fix these before running `neuroscale up`",
            _ => "fix the first failing step before touching app manifests",
        }
    }
}

/// Human rendering: one block per step.
pub fn render_human(source: &Source, steps: &[Step], colour: bool) -> String {
    let mut out = format!("neuroscale doctor: {}\n", source.heading());
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
        if let Some(code) = s.code {
            out.push_str(&format!("       code: {}\n", code.reference()));
        }
    }
    let failed = steps
        .iter()
        .filter(|s| s.verdict == StepVerdict::Fail)
        .count();
    out.push_str(&if failed == 0 {
        format!("\n{}\n", source.all_passed())
    } else {
        format!("\n{failed} step(s) failed: {}\n", source.some_failed())
    });
    out
}

/// JSON rendering (schema `neuroscale.doctor/v1`): `context`, `bundle` or `machine` says
/// what was read.
pub fn render_json(source: &Source, steps: &[Step]) -> String {
    let mut value = serde_json::json!({
        "schemaVersion": "neuroscale.doctor/v1",
        "verdict": if exit_code(steps) == 0 { "OK" } else { "FAIL" },
        "steps": steps,
    });
    let (key, subject) = match source {
        Source::Context(context) => ("context", serde_json::json!(context)),
        Source::Bundle(dir) => ("bundle", serde_json::json!(dir)),
        Source::Machine => ("machine", serde_json::json!(true)),
    };
    value[key] = subject;
    serde_json::to_string_pretty(&value).expect("serializable") + "\n"
}

#[cfg(test)]
mod tests;
