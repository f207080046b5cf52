//! `doctor --bundle DIR`: the triage over a diagnostics bundle, offline. The bundle writer
//! (`report::bundle`) records workloads as their readiness, webhooks with their Services'
//! endpoints, nodes and Applications with their conditions; this reads those files back into
//! the same [`Observations`] the cluster gives, so the same steps reach the same verdicts and
//! codes. A part that is missing is a failed read when the bundle's `errors.txt` says reading
//! it failed, and "not collected" otherwise (a bundle keeps logs only of containers that are not
//! ready). The run's own `report.json` adds one step: the checks that did not pass, with codes.

use std::path::{Path, PathBuf};

use k8s_openapi::api::core::v1::Node;
use serde_json::{json, Value};

use super::{
    step, CrdState, Observations, PodReadiness, Reading, Step, StepVerdict, Unread, WebhookTarget,
    KSERVE_CONTROLLER, KSERVE_CRDS, KSERVE_NAMESPACE, KSERVE_WEBHOOK_SERVICE,
};
use crate::failures::FailureCode;
use crate::platform::views::{self, Application};
use crate::readiness::Readiness;

/// A directory that is not a diagnostics bundle.
#[derive(Debug, thiserror::Error)]
pub enum BundleError {
    #[error("{} is not a directory: pass the folder `neuroscale check` wrote the bundle to (its path is in the report's `bundle` field)", .0.display())]
    NotADirectory(PathBuf),
    #[error("{} holds no report.json or nodes.json, so it is not a neuroscale diagnostics bundle", .0.display())]
    NotABundle(PathBuf),
}

/// The bundle's files, read on demand.
struct BundleDir {
    dir: PathBuf,
    /// `errors.txt`: what the writer could not read, one `what: why` a line.
    errors: Vec<String>,
}

impl BundleDir {
    fn open(dir: &Path) -> Result<Self, BundleError> {
        if !dir.is_dir() {
            return Err(BundleError::NotADirectory(dir.to_path_buf()));
        }
        if !dir.join("report.json").is_file() && !dir.join("nodes.json").is_file() {
            return Err(BundleError::NotABundle(dir.to_path_buf()));
        }
        let errors = std::fs::read_to_string(dir.join("errors.txt"))
            .map(|t| t.lines().map(str::to_string).collect())
            .unwrap_or_default();
        Ok(BundleDir {
            dir: dir.to_path_buf(),
            errors,
        })
    }

    /// Why `file` is absent: the writer's error for `what` when it recorded one.
    fn absent(&self, file: &str, what: &str) -> Unread {
        match self
            .errors
            .iter()
            .find(|line| line.starts_with(&format!("{what}:")))
        {
            Some(line) => Unread::Failed(format!("the bundle could not read it: {line}")),
            None => Unread::NotCollected(format!("{file} is not in the bundle")),
        }
    }

    fn json(&self, file: &str, what: &str) -> Reading<Value> {
        let path = self.dir.join(file);
        let text = std::fs::read_to_string(&path).map_err(|_| self.absent(file, what))?;
        serde_json::from_str(&text)
            .map_err(|e| Unread::Failed(format!("{file} is not valid JSON: {e}")))
    }

    fn array(&self, file: &str, what: &str) -> Reading<Vec<Value>> {
        match self.json(file, what)? {
            Value::Array(items) => Ok(items),
            _ => Err(Unread::Failed(format!("{file} is not a JSON array"))),
        }
    }
}

fn text(value: &Value, key: &str) -> String {
    value
        .get(key)
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string()
}

/// A recorded readiness (`ready` and `observed`, as the writer stores them).
fn recorded_readiness(value: &Value) -> Readiness {
    Readiness {
        ready: value.get("ready").and_then(Value::as_bool).unwrap_or(false),
        observed: text(value, "observed"),
    }
}

fn nodes(bundle: &BundleDir) -> Reading<Vec<Node>> {
    bundle
        .array("nodes.json", "nodes")?
        .iter()
        .map(|n| {
            serde_json::from_value(json!({
                "metadata": {"name": n.get("name"), "labels": n.get("labels")},
                "spec": {"taints": n.get("taints")},
                "status": {"conditions": n.get("conditions"), "allocatable": n.get("allocatable")},
            }))
            .map_err(|e| Unread::Failed(format!("nodes.json: {e}")))
        })
        .collect()
}

fn applications(bundle: &BundleDir) -> Reading<Vec<Application>> {
    bundle
        .array("applications.json", "applications")?
        .iter()
        .map(|a| {
            views::from_value::<Application>(&json!({
                "apiVersion": "argoproj.io/v1alpha1",
                "kind": "Application",
                "metadata": {"name": a.get("name"), "namespace": crate::platform::argocd::NAMESPACE},
                "spec": {},
                "status": {
                    "sync": a.get("sync"),
                    "health": a.get("health"),
                    "conditions": a.get("conditions"),
                    "operationState": a.get("operationState"),
                },
            }))
            .ok_or_else(|| Unread::Failed("applications.json: an entry is not an Application".into()))
        })
        .collect()
}

/// The controller's readiness, its pods and their names (for the log file).
type Controller = (Option<Readiness>, Vec<PodReadiness>, Vec<String>);

fn controller(bundle: &BundleDir) -> Reading<Controller> {
    let base = format!("namespaces/{KSERVE_NAMESPACE}");
    let deployments = bundle.array(
        &format!("{base}/deployments.json"),
        &format!("{KSERVE_NAMESPACE} deployments"),
    )?;
    let Some(deployment) = deployments
        .iter()
        .find(|d| text(d, "name") == KSERVE_CONTROLLER)
    else {
        return Ok((None, Vec::new(), Vec::new()));
    };
    let pods = bundle.array(
        &format!("{base}/pods.json"),
        &format!("{KSERVE_NAMESPACE} pods"),
    )?;
    // The Deployment's selector when the bundle has it; else the name its ReplicaSets give
    // their pods (`<deployment>-<hash>-<suffix>`).
    let selector = deployment.get("selector").and_then(Value::as_object);
    let selected = |pod: &&Value| match selector {
        Some(selector) => selector
            .iter()
            .all(|(k, v)| pod.pointer(&format!("/labels/{k}")) == Some(v)),
        None => text(pod, "name").starts_with(&format!("{KSERVE_CONTROLLER}-")),
    };
    let mut readiness = Vec::new();
    let mut names = Vec::new();
    for pod in pods.iter().filter(selected) {
        let statuses = pod
            .get("containerStatuses")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        let ready = statuses
            .iter()
            .filter(|c| c.get("ready").and_then(Value::as_bool) == Some(true))
            .count();
        readiness.push(PodReadiness {
            readiness: recorded_readiness(pod),
            containers: pod
                .get("containers")
                .and_then(Value::as_u64)
                .map_or(statuses.len(), |n| n as usize),
            containers_ready: ready,
        });
        names.push(text(pod, "name"));
    }
    Ok((Some(recorded_readiness(deployment)), readiness, names))
}

fn crds(bundle: &BundleDir) -> Reading<Vec<CrdState>> {
    let recorded = bundle.array("crds.json", "crd")?;
    Ok(KSERVE_CRDS
        .iter()
        .map(|name| {
            let entry = recorded.iter().find(|c| text(c, "name") == *name);
            CrdState {
                name: name.to_string(),
                established: entry
                    .filter(|c| c.get("exists").and_then(Value::as_bool) == Some(true))
                    .map(recorded_readiness),
            }
        })
        .collect())
}

fn controller_log(bundle: &BundleDir, pods: &[String]) -> Reading<String> {
    let base = bundle
        .dir
        .join(format!("namespaces/{KSERVE_NAMESPACE}/logs"));
    // The controller container is `manager` in kserve config/manager/manager.yaml.
    for pod in pods {
        if let Ok(log) = std::fs::read_to_string(base.join(format!("{pod}.manager.log"))) {
            return Ok(log);
        }
    }
    Err(Unread::NotCollected(
        "no controller log in the bundle: it keeps logs only of containers that are not ready"
            .into(),
    ))
}

/// Each webhook of `webhooks.json` with its Service's state, and the KServe webhook Service's
/// endpoints when a webhook calls it.
fn webhooks(bundle: &BundleDir) -> (Reading<Vec<WebhookTarget>>, Reading<Readiness>) {
    let configurations = match bundle.array("webhooks.json", "validatingwebhookconfigurations") {
        Ok(c) => c,
        Err(why) => return (Err(why.clone()), Err(why)),
    };
    let kserve_service = format!("{KSERVE_NAMESPACE}/{KSERVE_WEBHOOK_SERVICE}");
    let mut targets = Vec::new();
    let mut kserve_endpoints = None;
    for configuration in &configurations {
        let kind = match text(configuration, "kind").as_str() {
            "MutatingWebhookConfiguration" => "MutatingWebhookConfiguration",
            _ => "ValidatingWebhookConfiguration",
        };
        for hook in configuration
            .get("webhooks")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let service = hook.get("service").and_then(Value::as_str);
            let endpoints = hook.get("endpoints").cloned().unwrap_or(Value::Null);
            let ready = endpoints.get("ready").and_then(Value::as_bool) == Some(true);
            let ready_endpoints = endpoints
                .get("readyEndpoints")
                .and_then(Value::as_u64)
                .map_or(usize::from(ready), |n| n as usize);
            if service == Some(kserve_service.as_str()) && kserve_endpoints.is_none() {
                kserve_endpoints = Some(recorded_readiness(&endpoints));
            }
            targets.push(WebhookTarget {
                configuration_kind: kind,
                configuration: text(configuration, "name"),
                webhook: text(hook, "name"),
                service: service.map(str::to_string),
                // Bundles written before `serviceExists` was recorded say nothing either way;
                // the endpoints then decide alone.
                service_exists: hook
                    .get("serviceExists")
                    .and_then(Value::as_bool)
                    .unwrap_or(true),
                ready_endpoints,
            });
        }
    }
    let endpoints = kserve_endpoints.ok_or_else(|| {
        Unread::NotCollected(format!(
            "no webhook in webhooks.json calls {kserve_service}, so the bundle has no record of its endpoints"
        ))
    });
    (Ok(targets), endpoints)
}

/// Reads a bundle into the triage's observations.
pub fn observations(dir: &Path) -> Result<Observations, BundleError> {
    let bundle = BundleDir::open(dir)?;
    let controller = controller(&bundle);
    let (webhooks, kserve_webhook_endpoints) = webhooks(&bundle);
    let controller_log = match &controller {
        Ok((_, _, names)) => controller_log(&bundle, names),
        Err(why) => Err(why.clone()),
    };
    Ok(Observations {
        nodes: nodes(&bundle),
        applications: applications(&bundle),
        kserve_controller: controller.clone().map(|(d, _, _)| d),
        kserve_pods: controller.map(|(_, pods, _)| pods),
        crds: crds(&bundle),
        controller_log,
        kserve_webhook_endpoints,
        webhooks,
    })
}

/// The bundled run's own verdicts: every check that did not pass, with its code.
pub fn report_step(dir: &Path, number: u8) -> Step {
    const TITLE: &str = "the bundled run's checks";
    let next = "neuroscale check --only <ID> (once the steps above are OK)";
    let report = std::fs::read_to_string(dir.join("report.json"))
        .ok()
        .and_then(|t| serde_json::from_str::<Value>(&t).ok());
    let Some(report) = report else {
        return step(
            number,
            TITLE,
            StepVerdict::Skip,
            vec!["report.json is not in the bundle".into()],
            next,
        );
    };
    let mut observed = Vec::new();
    let mut first_code = None;
    for check in report
        .get("checks")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter(|c| text(c, "verdict") == "FAIL")
    {
        let code = check
            .pointer("/diagnosis/code")
            .and_then(Value::as_str)
            .and_then(FailureCode::parse);
        first_code = first_code.or(code);
        observed.push(format!(
            "{} {}: {}{}",
            text(check, "id"),
            text(check, "slug"),
            text(check, "summary"),
            code.map(|c| format!(" (code {c})")).unwrap_or_default()
        ));
    }
    if observed.is_empty() {
        return step(
            number,
            TITLE,
            StepVerdict::Ok,
            vec!["no check failed in the bundled run".into()],
            next,
        );
    }
    step(number, TITLE, StepVerdict::Fail, observed, next).with_code(first_code)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::doctor::triage;

    fn write(dir: &Path, file: &str, value: Value) {
        let path = dir.join(file);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, serde_json::to_string_pretty(&value).unwrap()).unwrap();
    }

    /// A bundle as the writer lays it out: the KServe controller at 1/2 containers
    /// (kube-rbac-proxy ImagePullBackOff), so its webhook has no endpoints.
    fn half_ready_bundle(dir: &Path) {
        write(
            dir,
            "report.json",
            json!({"checks": [
                {"id": "B1", "slug": "kserve-control-plane", "verdict": "FAIL",
                 "summary": "KServe control plane not ready",
                 "diagnosis": {"observed": "o", "likelyCause": "c", "nextCommand": "n", "code": "NS102"}},
                {"id": "A1", "slug": "argocd-ready", "verdict": "PASS", "summary": "ok", "diagnosis": null}
            ]}),
        );
        write(
            dir,
            "nodes.json",
            json!([{"name": "k3d-neuroscale-server-0", "conditions": [{"type": "Ready", "status": "True"}]}]),
        );
        write(
            dir,
            "applications.json",
            json!([{"name": "kserve", "sync": {"status": "Synced"}, "health": {"status": "Healthy"}, "conditions": null}]),
        );
        write(dir, "crds.json", json!(KSERVE_CRDS.iter().map(|n| json!({"name": n, "exists": true, "ready": true, "observed": format!("crd {n} Established")})).collect::<Vec<_>>()));
        write(
            dir,
            "webhooks.json",
            json!([{"kind": "ValidatingWebhookConfiguration", "name": "inferenceservice.serving.kserve.io", "webhooks": [
                {"name": "inferenceservice.kserve-webhook-server.validator", "service": "kserve/kserve-webhook-server-service", "serviceExists": true,
                 "endpoints": {"ready": false, "observed": "kserve/kserve-webhook-server-service has no ready endpoints", "readyEndpoints": 0}}
            ]}]),
        );
        write(
            dir,
            "namespaces/kserve/deployments.json",
            json!([{"name": KSERVE_CONTROLLER, "selector": {"control-plane": KSERVE_CONTROLLER}, "ready": false, "observed": "0/1 replicas ready"}]),
        );
        write(
            dir,
            "namespaces/kserve/pods.json",
            json!([{"name": "kserve-controller-manager-8d7c5b9f4-xr2lm", "labels": {"control-plane": KSERVE_CONTROLLER}, "containers": 2,
            "ready": false, "observed": "pod kserve-controller-manager-8d7c5b9f4-xr2lm: 1/2 containers ready — not ready: kube-rbac-proxy ImagePullBackOff (restarts 0)",
            "containerStatuses": [{"name": "manager", "ready": true}, {"name": "kube-rbac-proxy", "ready": false}]}]),
        );
    }

    #[test]
    fn a_bundle_gives_the_same_findings_and_codes_as_the_cluster() {
        let dir = tempfile::tempdir().unwrap();
        half_ready_bundle(dir.path());
        let steps = triage(&observations(dir.path()).unwrap());
        assert_eq!(steps[0].verdict, StepVerdict::Ok);
        assert_eq!(steps[2].verdict, StepVerdict::Fail);
        assert_eq!(steps[2].code, Some(FailureCode::KserveControllerHalfReady));
        // The manager container was ready, so the bundle kept no log of it.
        assert_eq!(steps[3].verdict, StepVerdict::Skip);
        assert_eq!(steps[4].verdict, StepVerdict::Fail);
        assert_eq!(steps[4].code, Some(FailureCode::KserveWebhookNoEndpoints));
        let report = report_step(dir.path(), 7);
        assert_eq!(report.verdict, StepVerdict::Fail);
        assert_eq!(report.code, Some(FailureCode::KserveControllerHalfReady));
        assert!(report.observed[0].starts_with("B1 kserve-control-plane"));
    }

    #[test]
    fn a_part_the_writer_failed_to_read_fails_and_one_it_never_wrote_skips() {
        let dir = tempfile::tempdir().unwrap();
        half_ready_bundle(dir.path());
        std::fs::remove_file(dir.path().join("applications.json")).unwrap();
        std::fs::write(
            dir.path().join("errors.txt"),
            "applications: applications.argoproj.io is forbidden\n",
        )
        .unwrap();
        std::fs::remove_file(dir.path().join("crds.json")).unwrap();
        let steps = triage(&observations(dir.path()).unwrap());
        assert_eq!(steps[1].verdict, StepVerdict::Fail);
        assert!(steps[1].observed[0].contains("forbidden"), "{:?}", steps[1]);
        assert!(steps[2]
            .observed
            .iter()
            .any(|l| l.contains("crds.json is not in the bundle")));
    }

    #[test]
    fn a_folder_without_a_bundle_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        assert!(matches!(
            observations(dir.path()),
            Err(BundleError::NotABundle(_))
        ));
        assert!(matches!(
            observations(&dir.path().join("absent")),
            Err(BundleError::NotADirectory(_))
        ));
    }
}
