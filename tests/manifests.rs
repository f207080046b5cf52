//! `manifests/` against the code that relies on it: every file parses; every Deployment and
//! InferenceService passes the policies' rules (and a planted bad object does not); the sync
//! waves encode `components::plan`; the ApplicationSet watches where `new-model` writes; the
//! names the checks use (policies, domain, namespaces, canary, GPU model) are the ones shipped.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use neuroscale::components::{self, ArtifactKind, Delivery, COMPONENTS};
use neuroscale::gitops::scaffold::{self, ModelSpec};
use neuroscale::gitops::{self, conformance};
use serde_json::{json, Value};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn yaml_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            yaml_files(&path, out);
        } else if matches!(
            path.extension().and_then(|e| e.to_str()),
            Some("yaml" | "yml")
        ) {
            out.push(path);
        }
    }
}

/// Every document under manifests/, with the file it came from (relative to the project root).
fn documents() -> Vec<(String, Value)> {
    let mut files = Vec::new();
    yaml_files(&root().join("manifests"), &mut files);
    files.sort();
    let mut docs = Vec::new();
    for file in files {
        let text = std::fs::read_to_string(&file).unwrap();
        let rel = file
            .strip_prefix(root())
            .unwrap()
            .to_string_lossy()
            .into_owned();
        for doc in neuroscale::yaml::parse_documents(&file, &text)
            .unwrap_or_else(|e| panic!("{rel} does not parse: {e}"))
        {
            docs.push((rel.clone(), doc));
        }
    }
    docs
}

fn load(rel: &str) -> Vec<Value> {
    let path = root().join(rel);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{rel}: {e}"));
    neuroscale::yaml::parse_documents(&path, &text).unwrap()
}

fn one(rel: &str) -> Value {
    let mut docs = load(rel);
    assert_eq!(docs.len(), 1, "{rel} holds one document");
    docs.remove(0)
}

fn of_kind<'a>(docs: &'a [(String, Value)], kind: &str) -> Vec<&'a (String, Value)> {
    docs.iter().filter(|(_, d)| d["kind"] == kind).collect()
}

fn wave(doc: &Value) -> Option<i64> {
    doc["metadata"]["annotations"]["argocd.argoproj.io/sync-wave"]
        .as_str()
        .map(|w| w.parse().expect("sync waves are integers"))
}

#[test]
fn every_document_parses_and_names_itself() {
    let docs = documents();
    assert!(docs.len() > 20, "only {} documents found", docs.len());
    for (file, doc) in &docs {
        assert!(doc["apiVersion"].is_string(), "{file}: apiVersion");
        assert!(doc["kind"].is_string(), "{file}: kind");
        if doc["kind"] != "Kustomization" {
            assert!(doc["metadata"]["name"].is_string(), "{file}: metadata.name");
        }
    }
}

#[test]
fn every_governed_object_passes_the_policies() {
    let docs = documents();
    let judged: Vec<String> = docs
        .iter()
        .filter(|(_, d)| conformance::in_scope(d))
        .map(|(file, d)| {
            let found = conformance::violations(d);
            assert!(
                found.is_empty(),
                "{file} {}: {found:?}",
                conformance::object_ref(d)
            );
            conformance::object_ref(d)
        })
        .collect();
    // Not vacuous: the canary, the two demo models and the GPU model were all judged.
    for expected in [
        "Deployment/neuroscale-canary/drift-canary",
        "InferenceService/models/sklearn-iris",
        "InferenceService/models/sklearn-iris-v2",
        "InferenceService/models/sklearn-iris-gpu",
    ] {
        assert!(
            judged.iter().any(|j| j == expected),
            "{expected} not judged: {judged:?}"
        );
    }
}

#[test]
fn a_planted_non_compliant_object_is_caught() {
    let mut canary = one("manifests/platform/drift-canary.yaml");
    canary["metadata"]["labels"]
        .as_object_mut()
        .unwrap()
        .remove("cost-center");
    canary["spec"]["template"]["spec"]["securityContext"]["runAsNonRoot"] = json!(false);
    canary["spec"]["template"]["spec"]["containers"][0]["image"] = json!("registry.k8s.io/pause");
    let policies: BTreeSet<&str> = conformance::violations(&canary)
        .iter()
        .map(|v| v.policy)
        .collect();
    assert_eq!(
        policies,
        BTreeSet::from([
            "require-standard-labels-deployment",
            "disallow-root-containers",
            "disallow-latest-tag"
        ])
    );
    let mut isvc = one("manifests/models/sklearn-iris/inferenceservice.yaml");
    isvc["spec"]["predictor"]["model"]
        .as_object_mut()
        .unwrap()
        .remove("resources");
    let found = conformance::violations(&isvc);
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!(found[0].policy, "require-resource-limits");
}

#[test]
fn sync_waves_encode_the_component_dag() {
    let plan = components::plan(COMPONENTS).unwrap();
    let docs = documents();
    let apps: BTreeMap<&str, &Value> = of_kind(&docs, "Application")
        .into_iter()
        .map(|(_, d)| (d["metadata"]["name"].as_str().unwrap(), d))
        .collect();
    for component in COMPONENTS {
        if component.delivery != Delivery::ArgoApplication {
            assert!(
                !apps.contains_key(component.name),
                "{} is applied by the harness",
                component.name
            );
            continue;
        }
        let app = apps
            .get(component.name)
            .unwrap_or_else(|| panic!("no Application for component {}", component.name));
        let expected = plan.wave_of(component.name).unwrap() as i64;
        assert_eq!(wave(app), Some(expected), "sync wave of {}", component.name);
        assert_eq!(
            app["spec"]["destination"]["namespace"], component.namespace,
            "destination namespace of {}",
            component.name
        );
        for dep in component.depends_on {
            if let Some(dep_app) = apps.get(dep) {
                assert!(
                    wave(dep_app) < wave(app),
                    "{dep} syncs before {}",
                    component.name
                );
            }
        }
    }
    let appset = &of_kind(&docs, "ApplicationSet")[0].1;
    assert!(
        wave(appset) > wave(apps["platform"]),
        "models sync after the platform layer"
    );
}

#[test]
fn applications_sync_from_the_local_source_with_real_install_options() {
    let docs = documents();
    let mut checked = 0;
    for (file, app) in of_kind(&docs, "Application") {
        let spec = &app["spec"];
        assert_eq!(
            spec["source"]["repoURL"],
            gitops::REPO_URL_PLACEHOLDER,
            "{file}"
        );
        let automated = &spec["syncPolicy"]["automated"];
        assert_eq!(automated["prune"], true, "{file}");
        assert_eq!(automated["selfHeal"], true, "{file}");
        let name = app["metadata"]["name"].as_str().unwrap();
        let path = spec["source"]["path"].as_str().unwrap();
        let Some(component) = components::find(name) else {
            assert_eq!(
                name,
                gitops::ROOT_APPLICATION,
                "{file}: unknown Application"
            );
            assert_eq!(path, "manifests/apps");
            continue;
        };
        checked += 1;
        let options: Vec<&str> = spec["syncPolicy"]["syncOptions"]
            .as_array()
            .unwrap()
            .iter()
            .map(|o| o.as_str().unwrap())
            .collect();
        assert!(
            options.contains(&"ServerSideApply=true"),
            "{file}: large CRDs need SSA"
        );
        let is_chart = component
            .artifacts
            .iter()
            .any(|a| a.kind == ArtifactKind::HelmChart);
        if is_chart {
            assert_eq!(path, format!("vendor/{name}"), "{file}");
            assert!(
                spec["source"]["helm"]["valuesObject"].is_object(),
                "{file}: inline values"
            );
        } else if component.artifacts.is_empty() {
            assert!(
                root().join(path).join("kustomization.yaml").is_file(),
                "{file}: {path}"
            );
        } else {
            assert_eq!(path, format!("manifests/components/{name}"), "{file}");
            let kustomization = one(&format!("{path}/kustomization.yaml"));
            let resources: Vec<&str> = kustomization["resources"]
                .as_array()
                .unwrap()
                .iter()
                .map(|r| r.as_str().unwrap())
                .collect();
            assert!(
                resources.contains(&format!("../../../vendor/{name}").as_str()),
                "{file}: {resources:?}"
            );
        }
    }
    assert_eq!(
        checked,
        COMPONENTS
            .iter()
            .filter(|c| c.delivery == Delivery::ArgoApplication)
            .count()
    );
    // Webhook caBundles injected at runtime must not make the serving stack OutOfSync forever.
    for name in ["cert-manager", "knative-serving", "kserve"] {
        let app = one(&format!("manifests/apps/{name}.yaml"));
        let ignored = app["spec"]["ignoreDifferences"].to_string();
        assert!(
            ignored.contains("clientConfig.caBundle"),
            "{name}: {ignored}"
        );
        assert!(app["spec"]["syncPolicy"]["syncOptions"]
            .to_string()
            .contains("RespectIgnoreDifferences=true"));
    }
}

#[test]
fn the_applicationset_watches_where_new_model_writes() {
    let appset = one("manifests/apps/model-endpoints.yaml");
    assert_eq!(appset["metadata"]["name"], gitops::MODEL_APPLICATIONSET);
    let generator = &appset["spec"]["generators"][0]["git"];
    assert_eq!(generator["repoURL"], gitops::REPO_URL_PLACEHOLDER);
    let pattern = generator["directories"][0]["path"].as_str().unwrap();
    assert_eq!(pattern, format!("{}/*", gitops::MODELS_DIR));
    let template = &appset["spec"]["template"];
    assert_eq!(
        template["spec"]["destination"]["namespace"],
        gitops::MODEL_NAMESPACE
    );
    assert_eq!(
        template["metadata"]["name"]
            .as_str()
            .unwrap()
            .replace("{{.path.basename}}", "x"),
        gitops::model_application_name("x")
    );
    // new-model's folder is one level under the watched directory.
    let spec = ModelSpec::new("fraud-detector", "ml-platform", "ml-research").unwrap();
    for file in scaffold::render(&spec) {
        let folder = file.path.parent().unwrap();
        assert_eq!(folder.parent().unwrap(), Path::new(gitops::MODELS_DIR));
        assert_eq!(folder.file_name().unwrap(), "fraud-detector");
    }
    // Every shipped model folder looks like a scaffold: one InferenceService named after it.
    let mut folders = 0;
    for entry in std::fs::read_dir(root().join(gitops::MODELS_DIR)).unwrap() {
        let entry = entry.unwrap();
        let name = entry.file_name().to_string_lossy().into_owned();
        let isvc = one(&format!(
            "{}/{name}/{}",
            gitops::MODELS_DIR,
            scaffold::INFERENCE_SERVICE_FILE
        ));
        assert_eq!(isvc["metadata"]["name"], name.as_str());
        assert_eq!(isvc["metadata"]["namespace"], gitops::MODEL_NAMESPACE);
        folders += 1;
    }
    assert_eq!(folders, 2);
}

#[test]
fn the_five_policies_are_shipped_enforcing_and_scoped() {
    let docs = documents();
    let policies = of_kind(&docs, "ValidatingPolicy");
    let names: BTreeSet<&str> = policies
        .iter()
        .map(|(_, p)| p["metadata"]["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, BTreeSet::from(gitops::POLICY_NAMES));
    let kustomization = one("manifests/platform/kustomization.yaml");
    for (file, policy) in policies {
        assert_eq!(policy["apiVersion"], "policies.kyverno.io/v1", "{file}");
        assert_eq!(
            policy["spec"]["validationActions"],
            json!(["Deny"]),
            "{file}: Deny, not Audit"
        );
        let constraints = &policy["spec"]["matchConstraints"];
        let excluded = &constraints["namespaceSelector"]["matchExpressions"][0];
        assert_eq!(excluded["operator"], "NotIn");
        assert_eq!(
            excluded["values"],
            json!(gitops::PLATFORM_NAMESPACES),
            "{file}"
        );
        assert_eq!(
            constraints["objectSelector"]["matchExpressions"][0]["key"],
            conformance::KNATIVE_REVISION_LABEL,
            "{file}: Knative's Deployments are excluded"
        );
        let rel = file.strip_prefix("manifests/platform/").unwrap();
        assert!(
            kustomization["resources"]
                .as_array()
                .unwrap()
                .contains(&json!(rel)),
            "{rel} not in the platform kustomization"
        );
    }
}

#[test]
fn kserve_and_knative_are_configured_for_kourier_and_a_local_domain() {
    let config = one("manifests/components/kserve/inferenceservice-config.yaml");
    let ingress: Value = serde_json::from_str(config["data"]["ingress"].as_str().unwrap()).unwrap();
    assert_eq!(ingress["disableIstioVirtualHost"], true);
    assert_eq!(ingress["ingressClassName"], "kourier");
    assert_eq!(ingress["ingressDomain"], gitops::INGRESS_DOMAIN);
    assert!(!config.to_string().contains("example.com"));
    let deploy: Value = serde_json::from_str(config["data"]["deploy"].as_str().unwrap()).unwrap();
    assert_eq!(deploy["defaultDeploymentMode"], "Knative");

    let network = one("manifests/components/knative-serving/config-network.yaml");
    assert_eq!(
        network["data"]["ingress-class"],
        "kourier.ingress.networking.knative.dev"
    );
    let domain = one("manifests/components/knative-serving/config-domain.yaml");
    let domains: Vec<&String> = domain["data"].as_object().unwrap().keys().collect();
    assert_eq!(domains, vec![gitops::INGRESS_DOMAIN]);
    let features = one("manifests/components/knative-serving/config-features.yaml");
    for flag in [
        "kubernetes.podspec-nodeselector",
        "kubernetes.podspec-tolerations",
    ] {
        assert_eq!(features["data"][flag], "enabled", "{flag}");
    }
}

#[test]
fn the_sklearn_runtime_is_pinned_to_the_kserve_release() {
    let runtime = one("manifests/platform/serving-runtime.yaml");
    assert_eq!(runtime["metadata"]["name"], "kserve-sklearnserver");
    let image = runtime["spec"]["containers"][0]["image"].as_str().unwrap();
    let kserve = components::find("kserve").unwrap();
    assert_eq!(image, format!("kserve/sklearnserver:{}", kserve.version));
    assert!(conformance::image_is_pinned(image));
}

#[test]
fn the_gpu_model_requests_one_gpu_outside_the_models_directory() {
    assert!(!gitops::GPU_MODEL_FILE.starts_with(gitops::MODELS_DIR));
    let isvc = one(gitops::GPU_MODEL_FILE);
    let predictor = &isvc["spec"]["predictor"];
    assert_eq!(
        predictor["model"]["resources"]["limits"]["nvidia.com/gpu"],
        "1"
    );
    assert_eq!(
        predictor["nodeSelector"][scaffold::GPU_NODE_LABEL.0],
        scaffold::GPU_NODE_LABEL.1
    );
    // The k3d configs put that label on an agent.
    for config in ["k3d/cluster.yaml", "k3d/gpu.yaml"] {
        let text = std::fs::read_to_string(root().join(config)).unwrap();
        let label = format!(
            "{}={}",
            scaffold::GPU_NODE_LABEL.0,
            scaffold::GPU_NODE_LABEL.1
        );
        assert!(text.contains(&label), "{config} lacks {label}");
    }
}

#[test]
fn the_scenario_models_are_the_shipped_models() {
    let scenario =
        neuroscale::scenario::Scenario::load(&root().join("scenarios/smoke.yaml")).unwrap();
    for model in &scenario.spec.models {
        assert_eq!(model.namespace, gitops::MODEL_NAMESPACE, "{}", model.name);
        let file = if model.gpu {
            gitops::GPU_MODEL_FILE.to_string()
        } else {
            format!(
                "{}/{}/inferenceservice.yaml",
                gitops::MODELS_DIR,
                model.name
            )
        };
        let isvc = one(&file);
        assert_eq!(isvc["metadata"]["name"], model.name.as_str(), "{file}");
        assert_eq!(
            isvc["metadata"]["namespace"],
            model.namespace.as_str(),
            "{file}"
        );
        assert_eq!(
            isvc["metadata"]["labels"]["cost-center"],
            model.cost_center.as_str(),
            "{file}"
        );
        let protocol = isvc["spec"]["predictor"]["model"]["protocolVersion"]
            .as_str()
            .unwrap_or("v1");
        let expected = match model.protocol {
            neuroscale::scenario::Protocol::V1 => "v1",
            neuroscale::scenario::Protocol::V2 => "v2",
        };
        assert_eq!(protocol, expected, "{file}");
    }
}

#[test]
fn opencost_reads_the_prometheus_the_platform_installs() {
    let prometheus = one("manifests/apps/prometheus.yaml");
    let opencost = one("manifests/apps/opencost.yaml");
    let release = prometheus["spec"]["source"]["helm"]["releaseName"]
        .as_str()
        .unwrap();
    let internal =
        &opencost["spec"]["source"]["helm"]["valuesObject"]["opencost"]["prometheus"]["internal"];
    assert_eq!(internal["enabled"], true);
    assert_eq!(internal["serviceName"], format!("{release}-server"));
    assert_eq!(
        internal["namespaceName"],
        prometheus["spec"]["destination"]["namespace"]
    );
    let scrape = prometheus["spec"]["source"]["helm"]["valuesObject"]["extraScrapeConfigs"]
        .as_str()
        .unwrap();
    let opencost_ns = opencost["spec"]["destination"]["namespace"]
        .as_str()
        .unwrap();
    assert!(
        scrape.contains(&format!("opencost.{opencost_ns}")),
        "{scrape}"
    );
}

#[test]
fn the_drift_canary_and_root_match_the_published_names() {
    let canary = one("manifests/platform/drift-canary.yaml");
    assert_eq!(canary["metadata"]["name"], gitops::DRIFT_CANARY_DEPLOYMENT);
    assert_eq!(
        canary["metadata"]["namespace"],
        gitops::DRIFT_CANARY_NAMESPACE
    );
    let root_app = one(gitops::ROOT_APPLICATION_FILE);
    assert_eq!(root_app["metadata"]["name"], gitops::ROOT_APPLICATION);
    let cm = one(gitops::ARGOCD_CM_FILE);
    assert!(cm["data"]["resource.customizations.health.argoproj.io_Application"].is_string());
    let governance = neuroscale::gitops::governance::declared();
    let namespaces = load("manifests/platform/namespaces.yaml");
    let names: Vec<&str> = namespaces
        .iter()
        .map(|n| n["metadata"]["name"].as_str().unwrap())
        .collect();
    assert!(names.contains(&governance.namespace.as_str()));
    assert!(names.contains(&gitops::DRIFT_CANARY_NAMESPACE));
}

/// Where a user reads this project's words: the binary's strings (diagnoses, hints, help) and
/// the files shipped beside it. None may point at research notes a user does not have.
#[test]
fn no_user_facing_text_cites_documents_outside_the_repository() {
    const INTERNAL: [&str; 4] = ["seeds/", "UPSTREAM.md", "UPSTREAM §", "DESIGN.md"];
    let binary = std::fs::read(env!("CARGO_BIN_EXE_neuroscale")).unwrap();
    let mut found: Vec<String> = INTERNAL
        .iter()
        .filter(|needle| binary.windows(needle.len()).any(|w| w == needle.as_bytes()))
        .map(|needle| format!("the neuroscale binary contains {needle:?}"))
        .collect();

    fn shipped(dir: &Path, out: &mut Vec<PathBuf>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                shipped(&path, out);
            } else {
                out.push(path);
            }
        }
    }
    let mut files = vec![root().join("README.md")];
    for dir in ["manifests", "k3d", "scenarios", "docs", "ci"] {
        shipped(&root().join(dir), &mut files);
    }
    for file in files {
        let Ok(text) = std::fs::read_to_string(&file) else {
            continue;
        };
        for needle in INTERNAL {
            if text.contains(needle) {
                found.push(format!("{} contains {needle:?}", file.display()));
            }
        }
    }
    assert!(found.is_empty(), "{found:#?}");
}
