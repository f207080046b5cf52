//! The checks' gathers against the simulated cluster (neuroscale-testkit): each check's real
//! reads, creates and deletes through kube-rs, its waits, and its verdict on what it found,
//! one module per milestone. The pure evaluations are unit-tested next to each check in
//! `src/checks/`; these prove the gathers feed them what the API server holds. Mutating paths
//! that the runner guards (refusal on a foreign context) go through the runner.

#[path = "support/checks.rs"]
mod support;

#[path = "peers/kserve.rs"]
mod kserve_peer;

use std::sync::Arc;
use std::time::Duration;

use neuroscale::checks::runner::{self, KubeCleanup};
use neuroscale::checks::{CheckId, OutcomeKind, Selection, Verdict};
use serde_json::json;
use support::*;

mod spine {
    use super::*;
    use neuroscale::platform::{argocd, canary};

    fn canary_deployment(uid: &str, ready: i32) -> k8s_openapi::api::apps::v1::Deployment {
        let mut d = deployment(canary::NAMESPACE, canary::DEPLOYMENT, 1, ready);
        d.metadata.uid = Some(uid.to_string());
        d
    }

    fn serve_applications(sim: &neuroscale_testkit::SimCluster) {
        put_crd(
            sim,
            "argoproj.io",
            "Application",
            "applications",
            "v1alpha1",
            true,
        );
    }

    /// The drift canary on the simulated cluster, tracked by Application `platform` (self-heal
    /// `self_heal`). When `heals`, a scripted ArgoCD recreates the canary (a new uid, Ready) a
    /// moment after it is deleted, as self-heal does; otherwise it stays gone.
    async fn drift_cluster(heals: bool, self_heal: bool) -> Arc<neuroscale_testkit::SimCluster> {
        let sim = Arc::new(sim_cluster(&[canary::NAMESPACE, argocd::NAMESPACE]).await);
        serve_applications(&sim);
        let mut app = application("platform", "OutOfSync", "Missing");
        app["spec"]["syncPolicy"]["automated"]["selfHeal"] = json!(self_heal);
        put(&sim, &app);
        let mut old = canary_deployment("uid-old", 1);
        old.metadata.annotations = Some(
            [(
                argocd::TRACKING_ID_ANNOTATION.to_string(),
                "platform:apps/Deployment:neuroscale-canary/drift-canary".to_string(),
            )]
            .into(),
        );
        put(&sim, &old);
        if heals {
            let mut events = sim.subscribe();
            let argocd = sim.clone();
            tokio::spawn(async move {
                while let Ok(event) = events.recv().await {
                    let gone = event.event_type == neuroscale_testkit::EventType::Deleted
                        && event.plural == "deployments"
                        && event.object["metadata"]["name"] == canary::DEPLOYMENT;
                    if gone {
                        // Absent for a few of the check's reads before ArgoCD notices.
                        tokio::time::sleep(Duration::from_millis(600)).await;
                        put(&argocd, &canary_deployment("uid-new", 1));
                    }
                }
            });
        }
        sim
    }

    #[tokio::test]
    async fn a4_deletes_the_canary_and_measures_the_heal() {
        let sim = drift_cluster(true, true).await;
        let env = sim_env(&sim, true);
        let (outcome, _) = run_check(&env, CheckId::A4, Duration::from_secs(30)).await;
        assert_eq!(outcome.verdict(), Verdict::Pass, "{outcome:?}");
        assert_eq!(outcome.figures[0].name, "heal_seconds");
        assert!(outcome.figures[0].value > 0.0);
    }

    #[tokio::test]
    async fn a4_times_out_when_argocd_never_recreates_the_canary_and_names_self_heal() {
        let sim = drift_cluster(false, false).await;
        let env = sim_env(&sim, true);
        let (outcome, _) = run_check(&env, CheckId::A4, Duration::from_secs(2)).await;
        assert!(
            matches!(outcome.kind, OutcomeKind::TimedOut { .. }),
            "{outcome:?}"
        );
        assert!(
            outcome.summary.contains("never recreated"),
            "{}",
            outcome.summary
        );
        assert!(diagnosis(&outcome)
            .likely_cause
            .contains("selfHeal is off for application platform"));
    }

    #[tokio::test]
    async fn a4_is_refused_by_the_runner_where_mutations_are_not_allowed() {
        let sim = drift_cluster(true, true).await;
        let env = sim_env(&sim, false);
        let selection = Selection::of(&env.scenario, &[CheckId::A4]).unwrap();
        let cleanup = KubeCleanup {
            client: env.client.clone(),
        };
        let results = runner::run(
            &env,
            &selection,
            &cleanup,
            1,
            futures::future::pending(),
            &neuroscale::checks::events::Silent,
        )
        .await;
        assert!(
            matches!(results.results[0].kind(), OutcomeKind::Refused { .. }),
            "{:?}",
            results.results[0]
        );
        assert!(
            sim.get(
                "apps/v1",
                "Deployment",
                canary::NAMESPACE,
                canary::DEPLOYMENT
            )
            .is_some(),
            "the canary was not touched"
        );
    }

    #[tokio::test]
    async fn a2_gathers_applications_and_times_out_on_one_still_progressing() {
        let sim = sim_cluster(&[argocd::NAMESPACE]).await;
        serve_applications(&sim);
        let scenario = smoke();
        let expected =
            neuroscale::checks::spine::apps_synced_healthy::expected_applications(&scenario);
        let mut items: Vec<_> = expected
            .iter()
            .map(|name| application(name, "Synced", "Healthy"))
            .collect();
        items[0] = application("cert-manager", "Synced", "Progressing");
        for app in &items {
            put(&sim, app);
        }
        let env = sim_env(&sim, true);
        let run = neuroscale::checks::CheckRun::new(&env, CheckId::A2, Duration::from_secs(2));
        let outcome = (CheckId::A2.spec().implementation)(&run).await;
        match &outcome.kind {
            OutcomeKind::TimedOut {
                waited_for,
                last_seen,
                ..
            } => {
                assert_eq!(waited_for, CheckId::A2.spec().passes_when);
                assert!(
                    last_seen.contains("cert-manager Synced/Progressing"),
                    "{last_seen}"
                );
            }
            other => panic!("expected a timeout: {other:?}"),
        }
        assert!(diagnosis(&outcome)
            .observed
            .contains("cert-manager Synced/Progressing"));
        assert!(
            run.last_seen().contains("cert-manager Synced/Progressing"),
            "{}",
            run.last_seen()
        );
    }
}

mod serving {
    use super::*;
    use neuroscale::platform::kserve;

    /// The KServe control plane on the simulated cluster, the controller pod at `containers`
    /// (its webhook endpoint ready only when every container is).
    async fn kserve_cluster(
        pod_containers: Vec<(&'static str, bool)>,
    ) -> neuroscale_testkit::SimCluster {
        let sim = sim_cluster(&[kserve::NAMESPACE]).await;
        put(
            &sim,
            &deployment(kserve::NAMESPACE, kserve::CONTROLLER, 1, 1),
        );
        let states: Vec<ContainerState> = pod_containers
            .iter()
            .map(|(name, ready)| {
                if *ready {
                    container(name, true)
                } else {
                    waiting(name, "ImagePullBackOff", 0)
                }
            })
            .collect();
        let mut pod = serde_json::to_value(support::pod(
            kserve::NAMESPACE,
            "kserve-controller-manager-8d7c5b9f4-xr2lm",
            &states,
        ))
        .unwrap();
        // The pod template's labels, which the Deployment's selector matches.
        pod["metadata"]["labels"] = json!({"app.kubernetes.io/name": kserve::CONTROLLER});
        put(&sim, &pod);
        let ready = pod_containers.iter().all(|(_, r)| *r);
        put(
            &sim,
            &endpoint_slice(
                kserve::NAMESPACE,
                kserve::WEBHOOK_SERVICE_NAME,
                &[("10.42.0.23", ready)],
            ),
        );
        for name in kserve::CRDS {
            let (plural, group) = name.split_once('.').unwrap();
            let kind = match plural {
                "inferenceservices" => "InferenceService",
                "servingruntimes" => "ServingRuntime",
                "clusterservingruntimes" => "ClusterServingRuntime",
                other => other,
            };
            // kserve config/crd: ClusterServingRuntime is cluster-scoped.
            let namespaced = plural != "clusterservingruntimes";
            let version = if plural == "inferenceservices" {
                "v1beta1"
            } else {
                "v1alpha1"
            };
            put(
                &sim,
                &neuroscale_testkit::preset::crd(group, kind, plural, &[version], namespaced),
            );
        }
        sim
    }

    #[tokio::test]
    async fn b1_gathers_the_control_plane_and_passes_when_ready() {
        let sim = kserve_cluster(vec![("manager", true), ("kube-rbac-proxy", true)]).await;
        let env = sim_env(&sim, true);
        let (outcome, _) = run_check(&env, CheckId::B1, Duration::from_secs(5)).await;
        assert_eq!(outcome.verdict(), Verdict::Pass, "{outcome:?}");
    }

    #[tokio::test]
    async fn b1_gathers_a_half_ready_controller_and_times_out_naming_it() {
        let sim = kserve_cluster(vec![("manager", true), ("kube-rbac-proxy", false)]).await;
        let env = sim_env(&sim, true);
        let run = neuroscale::checks::CheckRun::new(&env, CheckId::B1, Duration::from_secs(2));
        let outcome = (CheckId::B1.spec().implementation)(&run).await;
        assert!(
            matches!(outcome.kind, OutcomeKind::TimedOut { .. }),
            "{outcome:?}"
        );
        assert!(diagnosis(&outcome)
            .observed
            .contains("1/2 containers ready"));
        assert!(
            run.last_seen().contains("kube-rbac-proxy ImagePullBackOff"),
            "{}",
            run.last_seen()
        );
    }

    #[tokio::test]
    async fn b4_without_a_route_to_the_gateway_fails_and_never_port_forwards() {
        let sim = kserve_cluster(vec![]).await;
        let env = sim_env(&sim, true);
        let (outcome, _) = run_check(&env, CheckId::B4, Duration::from_secs(2)).await;
        assert_eq!(outcome.kind, OutcomeKind::Failed);
        assert!(diagnosis(&outcome)
            .next_command
            .contains("neuroscale doctor"));
        assert!(
            !requests_seen(&sim)
                .iter()
                .any(|r| r.contains("portforward")),
            "no pod port-forward: {:?}",
            requests_seen(&sim)
        );
    }
}

mod golden_path {
    use super::*;
    use neuroscale::checks::golden_path::scaffold_compliant::{ATTEMPTS, ISVC_LABEL_POLICY};
    use neuroscale::gitops::GitSource;
    use serde_json::Value;

    /// A ValidatingPolicy as the gitops manifests declare it and Kyverno reports it (kyverno
    /// config/crds/policies.kyverno.io ValidatingPolicy; status.conditionStatus).
    fn policy(name: &str, resource: &str) -> Value {
        json!({
            "apiVersion": "policies.kyverno.io/v1", "kind": "ValidatingPolicy",
            "metadata": {"name": name},
            "spec": {
                "validationActions": ["Deny"],
                "matchConstraints": {"resourceRules": [{
                    "apiGroups": [if resource == "inferenceservices" { "serving.kserve.io" } else { "apps" }],
                    "apiVersions": ["*"], "operations": ["CREATE", "UPDATE"], "resources": [resource]}]},
                "validations": [{"expression": "true", "message": "m"}]
            },
            "status": {"conditionStatus": {"ready": true, "conditions": [
                {"type": "WebhookConfigured", "status": "True", "reason": "Succeeded", "message": "webhook configured"},
                {"type": "RBACPermissionsGranted", "status": "True", "reason": "Succeeded", "message": "policy is ready for reporting"}
            ]}}
        })
    }

    /// Kyverno's resource validating webhook configuration as its admission controller registers
    /// it for a ValidatingPolicy (kyverno pkg/controllers/webhook; fine-grained webhook names)
    fn kyverno_webhook_configuration() -> Value {
        json!({
            "apiVersion": "admissionregistration.k8s.io/v1", "kind": "ValidatingWebhookConfiguration",
            "metadata": {"name": "kyverno-resource-validating-webhook-cfg"},
            "webhooks": [{
                "name": format!("vpol.validate.kyverno.svc-fail-finegrained-{ISVC_LABEL_POLICY}"),
                "admissionReviewVersions": ["v1"], "sideEffects": "NoneOnDryRun", "failurePolicy": "Fail",
                "clientConfig": {"service": {"namespace": "kyverno", "name": "kyverno-svc",
                    "path": format!("/vpol/validate/fail/finegrained/{ISVC_LABEL_POLICY}"), "port": 443}},
                "rules": [{"apiGroups": ["serving.kserve.io"], "apiVersions": ["v1beta1"],
                           "operations": ["CREATE", "UPDATE"], "resources": ["inferenceservices"], "scope": "*"}]
            }]
        })
    }

    /// How admission answers an InferenceService create on the simulated cluster.
    enum IsvcAdmission {
        /// As Kyverno enforcing the label policy: a create without `cost-center` is denied with
        /// Kyverno's message (kyverno pkg/webhooks/resource/vpol/handler.go).
        LabelPolicy,
        /// Nothing evaluates InferenceServices: every create is admitted.
        Nothing,
        /// Every create gets this answer.
        Always(neuroscale_testkit::Status),
    }

    /// The live policies and Kyverno's webhook on the simulated cluster, with `admission`.
    async fn admission_cluster(admission: IsvcAdmission) -> neuroscale_testkit::SimCluster {
        let sim = sim_cluster(&["models", "kyverno"]).await;
        put_crd(
            &sim,
            "policies.kyverno.io",
            "ValidatingPolicy",
            "validatingpolicies",
            "v1",
            false,
        );
        serve_inference_services(&sim);
        for p in [
            policy(ISVC_LABEL_POLICY, "inferenceservices"),
            policy("require-standard-labels-deployment", "deployments"),
            policy("disallow-root-containers", "deployments"),
        ] {
            put(&sim, &p);
        }
        put(&sim, &kyverno_webhook_configuration());
        let answer = move |request: &neuroscale_testkit::AdmissionRequest| match &admission {
            IsvcAdmission::Nothing => Ok(()),
            IsvcAdmission::Always(status) => Err(status.clone()),
            IsvcAdmission::LabelPolicy => {
                let labelled = request
                    .object
                    .and_then(|o| o.pointer("/metadata/labels/cost-center"))
                    .is_some();
                if labelled {
                    return Ok(());
                }
                Err(neuroscale_testkit::Status::webhook_denied(
                    &format!("vpol.validate.kyverno.svc-fail-finegrained-{ISVC_LABEL_POLICY}"),
                    &format!("Policy {ISVC_LABEL_POLICY} failed: InferenceServices must carry kebab-case owner and cost-center labels"),
                ))
            }
        };
        sim.on_admission(
            "serving.kserve.io",
            "InferenceService",
            move |request, _| {
                if request.operation == neuroscale_testkit::Operation::Create {
                    return answer(request);
                }
                Ok(())
            },
        );
        sim
    }

    #[tokio::test]
    async fn c1_dry_runs_the_scaffold_and_passes_when_admitted() {
        let sim = admission_cluster(IsvcAdmission::LabelPolicy).await;
        let env = sim_env(&sim, false);
        let (outcome, _) = run_check(&env, CheckId::C1, Duration::from_secs(10)).await;
        assert_eq!(outcome.verdict(), Verdict::Pass, "{outcome:?}");
        let requests = requests_seen(&sim);
        let post = requests
            .iter()
            .find(|r| r.starts_with("POST /apis/serving.kserve.io"))
            .expect("the scaffold was sent");
        assert!(
            post.contains("dryRun=All"),
            "a server-side dry-run, nothing persisted: {post}"
        );
    }

    #[tokio::test]
    async fn c1_fails_when_nothing_denies_the_scaffold_without_its_label() {
        let sim = admission_cluster(IsvcAdmission::Nothing).await;
        let env = sim_env(&sim, false);
        let (outcome, _) = run_check(&env, CheckId::C1, Duration::from_secs(10)).await;
        assert_eq!(outcome.verdict(), Verdict::Fail, "{outcome:?}");
        assert!(
            outcome
                .summary
                .contains("admitted without any policy evaluating it"),
            "{}",
            outcome.summary
        );
        let posts = requests_seen(&sim)
            .iter()
            .filter(|r| r.starts_with("POST /apis/serving.kserve.io") && r.contains("dryRun=All"))
            .count();
        assert_eq!(
            posts, 2,
            "the scaffold and its negative control, both dry-run"
        );
    }

    #[tokio::test]
    async fn c1_reports_an_unreachable_webhook_as_infrastructure_after_retrying() {
        // k8s.io/apiserver's webhook call failure (InternalError, 500) for a Kyverno webhook
        // whose Service has no endpoints.
        let unavailable = neuroscale_testkit::Status::webhook_unreachable(
            "vpol.validate.kyverno.svc-fail",
            "https://kyverno-svc.kyverno.svc:443/validate/fail?timeout=10s",
            "no endpoints available for service \"kyverno-svc\"",
        );
        let sim = admission_cluster(IsvcAdmission::Always(unavailable)).await;
        let env = sim_env(&sim, false);
        let (outcome, _) = run_check(&env, CheckId::C1, Duration::from_secs(30)).await;
        assert_eq!(outcome.kind, OutcomeKind::Failed, "{outcome:?}");
        assert!(
            outcome.summary.contains("not a compliance verdict"),
            "{}",
            outcome.summary
        );
        let posts = requests_seen(&sim)
            .iter()
            .filter(|r| r.starts_with("POST"))
            .count();
        assert_eq!(
            posts as u32,
            2 * ATTEMPTS,
            "an unavailable webhook is retried (each attempt sends the scaffold and its negative control)"
        );
    }

    fn appset(conditions: Value) -> Value {
        // argo-cd pkg/apis/application/v1alpha1/applicationset_types.go ApplicationSetCondition.
        json!({"apiVersion": "argoproj.io/v1alpha1", "kind": "ApplicationSet",
               "metadata": {"namespace": "argocd", "name": neuroscale::platform::argocd::MODEL_APPLICATIONSET},
               "spec": {"generators": []},
               "status": {"conditions": conditions}})
    }

    /// ArgoCD as C2 sees it on the simulated cluster, driven by the real repository: the
    /// model ApplicationSet is up to date, and (when `discovers`) a scripted ArgoCD polls the
    /// repository as its git generator does: a model folder yields a Synced+Healthy child
    /// Application and its InferenceService; removing the folder prunes both.
    async fn appset_cluster(
        dir: std::path::PathBuf,
        discovers: bool,
    ) -> Arc<neuroscale_testkit::SimCluster> {
        let sim = Arc::new(sim_cluster(&["argocd", "models"]).await);
        put_crd(
            &sim,
            "argoproj.io",
            "Application",
            "applications",
            "v1alpha1",
            true,
        );
        put_crd(
            &sim,
            "argoproj.io",
            "ApplicationSet",
            "applicationsets",
            "v1alpha1",
            true,
        );
        serve_inference_services(&sim);
        put(
            &sim,
            &appset(json!([{"type": "ResourcesUpToDate", "status": "True",
                "reason": "ApplicationSetUpToDate", "message": "All applications have been generated successfully"}])),
        );
        if discovers {
            let argocd = sim.clone();
            tokio::spawn(async move {
                loop {
                    let source = dir.clone();
                    let committed = tokio::task::spawn_blocking(move || {
                        GitSource::open(&source)
                            .and_then(|s| s.models())
                            .unwrap_or_default()
                    })
                    .await
                    .unwrap_or_default();
                    for model in &committed {
                        let app = format!("model-{model}");
                        if argocd
                            .get("argoproj.io/v1alpha1", "Application", "argocd", &app)
                            .is_none()
                        {
                            put(&argocd, &application(&app, "Synced", "Healthy"));
                            put(&argocd, &inference_service("models", model, true));
                        }
                    }
                    for app in argocd.list("argoproj.io/v1alpha1", "Application", Some("argocd")) {
                        let name = app["metadata"]["name"]
                            .as_str()
                            .unwrap_or_default()
                            .to_string();
                        let Some(model) = name.strip_prefix("model-") else {
                            continue;
                        };
                        if !committed.iter().any(|m| m == model) {
                            let _ = argocd.delete(
                                "argoproj.io/v1alpha1",
                                "Application",
                                "argocd",
                                &name,
                            );
                            let _ = argocd.delete(
                                "serving.kserve.io/v1beta1",
                                "InferenceService",
                                "models",
                                model,
                            );
                        }
                    }
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
            });
        }
        sim
    }

    #[tokio::test]
    async fn c2_commits_the_scaffold_waits_for_discovery_then_removes_it_and_waits_for_the_prune() {
        if !git_available() {
            return;
        }
        let dir = tempfile::tempdir().unwrap();
        GitSource::create_or_open(dir.path()).unwrap();
        let sim = appset_cluster(dir.path().into(), true).await;
        let mut env = sim_env(&sim, true);
        env.gitops_cache_dir = dir.path().into();
        let (outcome, tracked) = run_check(&env, CheckId::C2, Duration::from_secs(30)).await;
        assert_eq!(outcome.verdict(), Verdict::Pass, "{outcome:?}");
        let names: Vec<&str> = outcome.figures.iter().map(|f| f.name.as_str()).collect();
        assert_eq!(names, ["discovery_seconds", "prune_seconds"]);
        assert!(
            GitSource::open(dir.path())
                .unwrap()
                .models()
                .unwrap()
                .is_empty(),
            "the model folder is removed again"
        );
        assert!(
            tracked.is_empty(),
            "pruned objects are untracked: {tracked:?}"
        );
    }

    #[tokio::test]
    async fn c2_times_out_when_no_application_is_generated_and_still_removes_its_folder() {
        if !git_available() {
            return;
        }
        let dir = tempfile::tempdir().unwrap();
        GitSource::create_or_open(dir.path()).unwrap();
        let sim = appset_cluster(dir.path().into(), false).await;
        let mut env = sim_env(&sim, true);
        env.gitops_cache_dir = dir.path().into();
        let (outcome, _) = run_check(&env, CheckId::C2, Duration::from_secs(3)).await;
        assert!(
            matches!(outcome.kind, OutcomeKind::TimedOut { .. }),
            "{outcome:?}"
        );
        assert!(
            outcome.summary.contains("never generated"),
            "{}",
            outcome.summary
        );
        assert!(diagnosis(&outcome)
            .likely_cause
            .contains("has not seen the commit"));
        assert!(
            GitSource::open(dir.path())
                .unwrap()
                .models()
                .unwrap()
                .is_empty(),
            "the model folder is removed on failure too"
        );
    }

    /// The KServe model server C3's scaffold gets, once KServe has started it.
    type ModelServer = Arc<std::sync::Mutex<Option<kserve_peer::KserveServer>>>;

    /// KServe and Kourier as C3 sees them, on the simulated cluster: a scripted KServe starts
    /// the real KServe model server (the Python peer) for each InferenceService created, under
    /// the InferenceService's name as KServe does, then reports it Ready; deleting it is the
    /// API server's own. The gateway stand-in forwards every connection to that server, as
    /// Kourier routes the predictor's Host to it. `None` when the peer is missing (skipped).
    async fn serving_cluster(
        faults: &'static [(&'static str, &'static str)],
    ) -> Option<(Arc<neuroscale_testkit::SimCluster>, String, ModelServer)> {
        if let Err(reason) = kserve_peer::python() {
            kserve_peer::skip(&reason);
            return None;
        }
        let sim = Arc::new(sim_cluster(&["models"]).await);
        serve_inference_services(&sim);
        let server: ModelServer = Default::default();

        let mut events = sim.subscribe();
        let kserve = sim.clone();
        let started = server.clone();
        tokio::spawn(async move {
            while let Ok(event) = events.recv().await {
                if event.event_type != neuroscale_testkit::EventType::Added
                    || event.plural != "inferenceservices"
                {
                    continue;
                }
                let name = event.object["metadata"]["name"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string();
                let model = name.clone();
                let peer = tokio::task::spawn_blocking(move || kserve_peer::start(&model, faults))
                    .await
                    .expect("the model server start does not panic");
                *started.lock().unwrap() = peer;
                let ready = inference_service("models", &name, true);
                let _ = kserve.set_status(
                    "serving.kserve.io/v1beta1",
                    "InferenceService",
                    "models",
                    &name,
                    ready["status"].clone(),
                );
            }
        });

        let gateway = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let ingress_url = format!("http://{}", gateway.local_addr().unwrap());
        let routes = server.clone();
        tokio::spawn(async move {
            while let Ok((mut inbound, _)) = gateway.accept().await {
                let port = routes.lock().unwrap().as_ref().map(|s| {
                    s.base_url()
                        .rsplit(':')
                        .next()
                        .unwrap_or_default()
                        .to_string()
                });
                let Some(port) = port else { continue };
                tokio::spawn(async move {
                    if let Ok(mut outbound) =
                        tokio::net::TcpStream::connect(format!("127.0.0.1:{port}")).await
                    {
                        let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                    }
                });
            }
        });
        Some((sim, ingress_url, server))
    }

    fn server_log(server: &ModelServer) -> String {
        server
            .lock()
            .unwrap()
            .as_ref()
            .map(|s| s.log_tail())
            .unwrap_or_else(|| "(no model server started)".into())
    }

    #[tokio::test]
    async fn c3_creates_the_scaffold_probes_it_through_the_gateway_and_deletes_it() {
        let Some((sim, ingress_url, server)) = serving_cluster(&[]).await else {
            return;
        };
        let mut env = sim_env(&sim, true);
        env.ingress_url = Some(ingress_url);
        let (outcome, tracked) = run_check(&env, CheckId::C3, Duration::from_secs(60)).await;
        assert_eq!(
            outcome.verdict(),
            Verdict::Pass,
            "{outcome:?}\n{}",
            server_log(&server)
        );
        assert_eq!(outcome.figures[0].name, "ready_seconds");
        let requests = requests_seen(&sim);
        assert!(
            requests.iter().any(|r| r.starts_with("DELETE")),
            "{requests:?}"
        );
        assert!(
            tracked.is_empty(),
            "deleted and confirmed gone: {tracked:?}"
        );
    }

    #[tokio::test]
    async fn c3_fails_on_a_wrong_answer_and_still_deletes_the_scaffold() {
        let Some((sim, ingress_url, _server)) =
            serving_cluster(&[("NEUROSCALE_PEER_DROP_PREDICTION", "1")]).await
        else {
            return;
        };
        let mut env = sim_env(&sim, true);
        env.ingress_url = Some(ingress_url);
        let (outcome, tracked) = run_check(&env, CheckId::C3, Duration::from_secs(60)).await;
        assert_eq!(outcome.kind, OutcomeKind::Failed, "{outcome:?}");
        assert!(
            diagnosis(&outcome)
                .observed
                .contains("predictions for 4 input rows"),
            "{:?}",
            outcome.diagnosis
        );
        assert!(requests_seen(&sim).iter().any(|r| r.starts_with("DELETE")));
        assert!(tracked.is_empty());
    }
}

mod guardrails {
    use super::*;

    /// A namespace and the InferenceService kind: the real create, delete and wait-gone path,
    /// with admission planted as a hook returning the API server's Status.
    async fn sim() -> neuroscale_testkit::SimCluster {
        let sim = sim_cluster(&["models"]).await;
        serve_inference_services(&sim);
        sim
    }

    #[tokio::test]
    async fn d3_passes_against_a_cluster_whose_kyverno_denies() {
        let sim = sim().await;
        sim.on_admission("serving.kserve.io", "InferenceService", |request, _| {
            let labels = request.object.and_then(|o| o.pointer("/metadata/labels/cost-center"));
            match labels {
                None => Err(neuroscale_testkit::Status::webhook_denied(
                    "vpol.validate.kyverno.svc-fail",
                    "Policy require-standard-labels-inferenceservice failed: label `cost-center` is required and must be kebab-case",
                )),
                Some(_) => Ok(()),
            }
        });
        let (outcome, tracked) =
            run_check(&sim_env(&sim, true), CheckId::D3, Duration::from_secs(60)).await;
        assert_eq!(outcome.verdict(), Verdict::Pass, "{outcome:?}");
        assert!(tracked.is_empty(), "nothing left to clean up: {tracked:?}");
        assert!(sim
            .list(
                "serving.kserve.io/v1beta1",
                "InferenceService",
                Some("models")
            )
            .is_empty());
    }

    #[tokio::test]
    async fn d3_fails_against_a_cluster_whose_kserve_webhook_has_no_endpoints() {
        let sim = sim().await;
        sim.on_admission("serving.kserve.io", "InferenceService", |_, _| {
            Err(neuroscale_testkit::Status::webhook_unreachable(
                "inferenceservice.kserve-webhook-server.validator",
                "https://kserve-webhook-server-service.kserve.svc:443/validate-serving-kserve-io-v1beta1-inferenceservice?timeout=10s",
                "no endpoints available for service \"kserve-webhook-server-service\"",
            ))
        });
        let (outcome, _) =
            run_check(&sim_env(&sim, true), CheckId::D3, Duration::from_secs(60)).await;
        assert_eq!(outcome.kind, OutcomeKind::Failed, "{outcome:?}");
        assert!(
            outcome.summary.contains("not a policy denial"),
            "{}",
            outcome.summary
        );
        assert!(diagnosis(&outcome).observed.contains("after 3 attempt(s)"));
    }

    #[tokio::test]
    async fn d4_fails_and_cleans_up_when_the_root_deployment_is_admitted() {
        let sim = sim().await;
        let (outcome, tracked) =
            run_check(&sim_env(&sim, true), CheckId::D4, Duration::from_secs(60)).await;
        assert_eq!(outcome.kind, OutcomeKind::Failed, "{outcome:?}");
        assert!(outcome.summary.contains("ADMITTED"), "{}", outcome.summary);
        assert!(
            tracked.is_empty(),
            "the admitted probe was deleted: {tracked:?}"
        );
        assert!(sim.list("apps/v1", "Deployment", Some("models")).is_empty());
    }
}

mod hardening {
    use super::*;
    use k8s_openapi::api::core::v1::{LimitRange, ResourceQuota};
    use serde_json::Value;

    /// The live objects for the shipped declaration, as the API server returns them:
    /// quantities rewritten into another canonical form and the LimitRange item with fields the
    /// API server defaults.
    fn live_from_declaration() -> (ResourceQuota, LimitRange) {
        let g = neuroscale::gitops::governance::declared();
        let mut hard = serde_json::Map::new();
        for (key, value) in &g.quota_hard {
            let rewritten = match value.as_str() {
                "4" => "4000m".to_string(),
                "8Gi" => "8192Mi".to_string(),
                other => other.to_string(),
            };
            hard.insert(key.clone(), Value::from(rewritten));
        }
        let mut item = g.limits[0].clone();
        item["maxLimitRequestRatio"] = json!({"cpu": "10"});
        (
            resource_quota(&g.namespace, &g.resource_quota, Value::Object(hard)),
            limit_range(&g.namespace, &g.limit_range, item),
        )
    }

    #[tokio::test]
    async fn f1_and_f2_read_a_live_cluster() {
        let sim = sim_cluster(&["models", "kserve", "ingress-nginx"]).await;
        let (quota, range) = live_from_declaration();
        put_as(&sim, "v1", "ResourceQuota", &quota);
        put_as(&sim, "v1", "LimitRange", &range);
        put_as(
            &sim,
            "admissionregistration.k8s.io/v1",
            "ValidatingWebhookConfiguration",
            &validating_config(
                "inferenceservice.serving.kserve.io",
                &[(
                    "inferenceservice.kserve-webhook-server.validator",
                    "kserve",
                    "kserve-webhook-server-service",
                )],
            ),
        );
        put_as(
            &sim,
            "v1",
            "Service",
            &service("kserve", "kserve-webhook-server-service"),
        );
        put_as(
            &sim,
            "discovery.k8s.io/v1",
            "EndpointSlice",
            &endpoint_slice(
                "kserve",
                "kserve-webhook-server-service",
                &[("10.42.0.23", true)],
            ),
        );
        let env = sim_env(&sim, true);
        let (f1, _) = run_check(&env, CheckId::F1, Duration::from_secs(30)).await;
        assert_eq!(f1.verdict(), Verdict::Pass, "{f1:?}");
        let (f2, _) = run_check(&env, CheckId::F2, Duration::from_secs(30)).await;
        assert_eq!(f2.verdict(), Verdict::Pass, "{f2:?}");

        // a webhook whose controller was uninstalled.
        put_as(
            &sim,
            "admissionregistration.k8s.io/v1",
            "ValidatingWebhookConfiguration",
            &validating_config(
                "ingress-nginx-admission",
                &[(
                    "validate.nginx.ingress.kubernetes.io",
                    "ingress-nginx",
                    "ingress-nginx-controller-admission",
                )],
            ),
        );
        let (f2, _) = run_check(&env, CheckId::F2, Duration::from_secs(30)).await;
        assert_eq!(f2.kind, OutcomeKind::Failed);
        assert!(diagnosis(&f2)
            .observed
            .contains("ingress-nginx-controller-admission, which does not exist"));
    }

    /// A stand-in for the Kourier gateway in front of a V1 model: answers every predict with
    /// `body` (kserve v1_endpoints.py shape) and records the Host headers it saw.
    async fn gateway_stand_in(body: &'static str) -> (String, Arc<std::sync::Mutex<Vec<String>>>) {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let hosts = Arc::new(std::sync::Mutex::new(Vec::new()));
        let record = hosts.clone();
        tokio::spawn(async move {
            while let Ok((mut socket, _)) = listener.accept().await {
                let record = record.clone();
                tokio::spawn(async move {
                    let mut buffer = vec![0u8; 16384];
                    let mut pending = String::new();
                    loop {
                        let n = match socket.read(&mut buffer).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => n,
                        };
                        pending.push_str(&String::from_utf8_lossy(&buffer[..n]));
                        // One request per read cycle: head plus a Content-Length body.
                        while let Some(end) = pending.find("\r\n\r\n") {
                            let head = pending[..end].to_string();
                            let length = head
                                .lines()
                                .find_map(|l| {
                                    l.to_ascii_lowercase()
                                        .strip_prefix("content-length:")
                                        .map(|v| v.trim().parse::<usize>().unwrap_or(0))
                                })
                                .unwrap_or(0);
                            if pending.len() < end + 4 + length {
                                break;
                            }
                            if let Some(host) = head.lines().find_map(|l| {
                                l.to_ascii_lowercase()
                                    .strip_prefix("host:")
                                    .map(|v| v.trim().to_string())
                            }) {
                                record.lock().unwrap().push(host);
                            }
                            pending.drain(..end + 4 + length);
                            let response = format!(
                                "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{body}",
                                body.len()
                            );
                            if socket.write_all(response.as_bytes()).await.is_err() {
                                return;
                            }
                        }
                    }
                });
            }
        });
        (url, hosts)
    }

    #[tokio::test]
    async fn f4_loads_the_model_through_the_gateway_with_its_host_header() {
        let sim = sim_cluster(&["models"]).await;
        serve_inference_services(&sim);
        put(
            &sim,
            &json!({
                "apiVersion": "serving.kserve.io/v1beta1", "kind": "InferenceService",
                "metadata": {"name": "sklearn-iris", "namespace": "models"},
                "spec": {"predictor": {"model": {"modelFormat": {"name": "sklearn"}}}},
                "status": {"url": "http://sklearn-iris-predictor.models.neuroscale.localhost",
                           "conditions": [{"type": "Ready", "status": "True"}]}
            }),
        );
        let (gateway, hosts) = gateway_stand_in(r#"{"predictions":[1]}"#).await;
        let mut env = sim_env(&sim, true);
        env.ingress_url = Some(gateway);
        // 400 requests at 200/s: a p50 and a p95 are established; a p99 would need 2,000.
        let latency = &mut env.scenario.spec.latency;
        latency.rate = 200.0;
        latency.duration = None;
        latency.requests = Some(400);
        latency.warmup = 2;
        latency.p99_ms = None;
        let (outcome, _) = run_check(&env, CheckId::F4, Duration::from_secs(60)).await;
        assert_eq!(outcome.verdict(), Verdict::Pass, "{outcome:?}");
        assert!(
            outcome.summary.starts_with("400 requests at 200 req/s"),
            "{}",
            outcome.summary
        );
        let hosts = hosts.lock().unwrap();
        assert_eq!(
            hosts.len(),
            402,
            "warm-up and measured requests all went through the gateway"
        );
        assert!(hosts
            .iter()
            .all(|h| h == "sklearn-iris-predictor.models.neuroscale.localhost"));
    }

    fn k3d_nodes(sim: &neuroscale_testkit::SimCluster, gpu_label_on: &str) {
        for (name, control_plane) in [
            ("k3d-neuroscale-server-0", true),
            ("k3d-neuroscale-agent-0", false),
            ("k3d-neuroscale-agent-1", false),
        ] {
            let mut labels = json!({"kubernetes.io/hostname": name});
            if control_plane {
                labels["node-role.kubernetes.io/control-plane"] = json!("true");
            }
            if name == gpu_label_on {
                labels["neuroscale.dev/gpu-node"] = json!("true");
            }
            put(
                sim,
                &json!({"apiVersion": "v1", "kind": "Node",
                "metadata": {"name": name, "labels": labels},
                "status": {"capacity": {"cpu": "4", "memory": "8Gi"}, "allocatable": {"cpu": "4", "memory": "8Gi"}}}),
            );
        }
    }

    async fn gpu_sim(gpu_label_on: &str) -> Arc<neuroscale_testkit::SimCluster> {
        let sim = sim_cluster(&["models"]).await;
        serve_inference_services(&sim);
        k3d_nodes(&sim, gpu_label_on);
        Arc::new(sim)
    }

    #[tokio::test]
    async fn f3_fails_when_no_node_carries_the_gpu_node_label() {
        // The GPU is advertised on the first agent while the model's nodeSelector picks the
        // node labelled neuroscale.dev/gpu-node, and there is none: the pod could never run.
        let sim = gpu_sim("no-such-node").await;
        let env = sim_env(&sim, true);
        let (outcome, _) = run_check(&env, CheckId::F3, Duration::from_secs(30)).await;
        assert_eq!(outcome.kind, OutcomeKind::Failed, "{outcome:?}");
        let d = diagnosis(&outcome);
        assert!(
            d.observed
                .contains("nvidia.com/gpu is on k3d-neuroscale-agent-0"),
            "{d:?}"
        );
        assert!(d.observed.contains("selects no node"), "{d:?}");
        assert!(
            sim.list(
                "serving.kserve.io/v1beta1",
                "InferenceService",
                Some("models")
            )
            .is_empty(),
            "nothing was created"
        );
    }

    #[tokio::test]
    async fn f3_passes_when_the_gpu_model_runs_on_the_gpu_node_and_answers() {
        // k3d/cluster.yaml labels agent 1 as the GPU node; the simulated GPU must go there.
        let sim = gpu_sim("k3d-neuroscale-agent-1").await;
        // A scripted KServe: once the GPU InferenceService exists, it becomes Ready with a URL
        // and its predictor pod runs on the node the scheduler would pick (the GPU node).
        let controller = {
            let sim = sim.clone();
            tokio::spawn(async move {
                loop {
                    if let Some(mut isvc) = sim.get(
                        "serving.kserve.io/v1beta1",
                        "InferenceService",
                        "models",
                        "sklearn-iris-gpu",
                    ) {
                        isvc["status"] = json!({
                            "url": "http://sklearn-iris-gpu-predictor.models.neuroscale.localhost",
                            "conditions": [{"type": "Ready", "status": "True"}]});
                        sim.put(isvc).unwrap();
                        sim.put(json!({"apiVersion": "v1", "kind": "Pod",
                            "metadata": {"name": "sklearn-iris-gpu-predictor-00001-deployment-5d8", "namespace": "models",
                                         "labels": {"serving.kserve.io/inferenceservice": "sklearn-iris-gpu"}},
                            "spec": {"nodeName": "k3d-neuroscale-agent-1", "containers": [{"name": "kserve-container"}]},
                            "status": {"phase": "Running", "containerStatuses": [
                                {"name": "kserve-container", "ready": true, "restartCount": 0, "image": "", "imageID": ""}]}}))
                            .unwrap();
                        return;
                    }
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            })
        };
        let (gateway, hosts) = gateway_stand_in(r#"{"predictions":[1,0]}"#).await;
        let mut env = sim_env(&sim, true);
        env.ingress_url = Some(gateway);
        let (outcome, _) = run_check(&env, CheckId::F3, Duration::from_secs(30)).await;
        controller.abort();
        assert_eq!(outcome.verdict(), Verdict::Pass, "{outcome:?}");
        assert!(
            outcome
                .summary
                .contains("k3d-neuroscale-agent-1 (simulated nvidia.com/gpu)"),
            "{}",
            outcome.summary
        );
        assert_eq!(
            hosts.lock().unwrap()[0],
            "sklearn-iris-gpu-predictor.models.neuroscale.localhost"
        );
        let node = sim.get("v1", "Node", "", "k3d-neuroscale-agent-1").unwrap();
        assert_eq!(
            node.pointer("/status/allocatable/nvidia.com~1gpu"),
            Some(&json!("1"))
        );
        assert!(
            sim.list(
                "serving.kserve.io/v1beta1",
                "InferenceService",
                Some("models")
            )
            .is_empty(),
            "the GPU model was removed"
        );
    }
}
