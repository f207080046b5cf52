//! The platform rendered exactly as ArgoCD renders it: the GitOps tree `up` writes (built from
//! the real pinned artefacts in the shared directory), every Application of `manifests/apps`,
//! the optional device plugin and the ApplicationSet's model Applications, each rendered by the
//! real renderers (kustomize through `kubectl kustomize`, Helm through Helm's Go SDK). Then:
//! everything renders; our patches land on their targets; every object validates against the
//! upstream schemas (a custom resource against its CRD from the rendered set); no two
//! Applications render the same object; every namespaced object lands in a namespace that
//! something creates; custom resources come after their CRDs in ArgoCD's order; and every
//! container image the platform pulls goes through one of the k3d configs' pull-through caches.
//!
//! Needs the shared directory (`upstream/`, `schemas/`), kubectl and a Python with
//! `helm_python`; skips with the reason when one is missing, fails under
//! NEUROSCALE_REQUIRE_PEERS=1.

mod support;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use serde_json::Value;
use support::schemas::{errors, Schemas};

/// One Application as ArgoCD would sync it, with what it renders to.
struct RenderedApp {
    name: String,
    wave: i64,
    namespace: String,
    create_namespace: bool,
    objects: Result<Vec<Value>, String>,
}

struct Platform {
    apps: Vec<RenderedApp>,
    _dir: tempfile::TempDir,
}

fn platform() -> Option<&'static Platform> {
    static PLATFORM: OnceLock<Option<Platform>> = OnceLock::new();
    PLATFORM
        .get_or_init(|| {
            let upstream = support::upstream_or_skip()?;
            let renderers = support::renderers_or_skip()?;
            let dir = tempfile::tempdir().unwrap();
            let runtime = tokio::runtime::Runtime::new().unwrap();
            let tree = runtime.block_on(support::gitops_tree::build(
                &upstream,
                dir.path(),
                "git://host.k3d.internal:9418/neuroscale.git",
            ));
            let apps = applications(&tree)
                .into_iter()
                .map(|app| render(&renderers, &tree, app))
                .collect();
            Some(Platform { apps, _dir: dir })
        })
        .as_ref()
}

fn text<'a>(value: &'a Value, pointer: &str) -> &'a str {
    value.pointer(pointer).and_then(Value::as_str).unwrap_or("")
}

fn yaml_objects(path: &Path) -> Vec<Value> {
    let text = std::fs::read_to_string(path).unwrap();
    neuroscale_testkit::render::parse_yaml(&text, &path.display().to_string()).unwrap()
}

/// The root Application, every Application it syncs (`manifests/apps`), the optional ones the
/// harness applies with a real GPU, and the model Applications the ApplicationSet generates.
fn applications(tree: &Path) -> Vec<Value> {
    let mut apps = yaml_objects(&tree.join("manifests/root.yaml"));
    let mut files: Vec<PathBuf> = ["manifests/apps", "manifests/optional"]
        .iter()
        .flat_map(|dir| std::fs::read_dir(tree.join(dir)).unwrap())
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    for file in files {
        for object in yaml_objects(&file) {
            match object["kind"].as_str() {
                Some("Application") => apps.push(object),
                Some("ApplicationSet") => apps.extend(generated(tree, &object)),
                _ => {}
            }
        }
    }
    apps
}

/// The git directories generator over the tree, with the template's goTemplate fields filled
/// in (`{{.path.basename}}`, `{{.path.path}}`); the children inherit the set's wave.
fn generated(tree: &Path, set: &Value) -> Vec<Value> {
    let pattern = text(set, "/spec/generators/0/git/directories/0/path");
    let parent = pattern.trim_end_matches("/*");
    let mut folders: Vec<String> = std::fs::read_dir(tree.join(parent))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    folders.sort();
    folders
        .into_iter()
        .map(|folder| {
            let template = set["spec"]["template"].to_string();
            let filled = template
                .replace("{{.path.basename}}", &folder)
                .replace("{{.path.path}}", &format!("{parent}/{folder}"));
            let mut app: Value = serde_json::from_str(&filled).unwrap();
            app["metadata"]["annotations"] = set["metadata"]["annotations"].clone();
            app
        })
        .collect()
}

fn render(
    renderers: &neuroscale_testkit::render::Renderers,
    tree: &Path,
    app: Value,
) -> RenderedApp {
    let name = text(&app, "/metadata/name").to_string();
    let namespace = text(&app, "/spec/destination/namespace").to_string();
    let wave = text(&app, "/metadata/annotations/argocd.argoproj.io~1sync-wave")
        .parse()
        .unwrap_or(0);
    let options: Vec<&str> = app
        .pointer("/spec/syncPolicy/syncOptions")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .collect();
    let objects = renderers
        .render(tree, &app["spec"]["source"], &name, &namespace, None)
        .map_err(|e| e.to_string());
    RenderedApp {
        name,
        wave,
        create_namespace: options.contains(&"CreateNamespace=true"),
        namespace,
        objects,
    }
}

fn rendered(platform: &Platform) -> impl Iterator<Item = (&RenderedApp, &Value)> {
    platform.apps.iter().flat_map(|app| {
        app.objects
            .as_ref()
            .map(|objects| objects.iter().map(move |o| (app, o)).collect::<Vec<_>>())
            .unwrap_or_default()
    })
}

fn group_of(api_version: &str) -> &str {
    api_version.rsplit_once('/').map_or("", |(g, _)| g)
}

/// Every CRD the platform renders, by (group, kind).
fn crds(platform: &Platform) -> BTreeMap<(String, String), (&RenderedApp, &Value)> {
    rendered(platform)
        .filter(|(_, o)| o["kind"] == "CustomResourceDefinition")
        .map(|(app, crd)| {
            (
                (
                    text(crd, "/spec/group").to_string(),
                    text(crd, "/spec/names/kind").to_string(),
                ),
                (app, crd),
            )
        })
        .collect()
}

/// Whether objects of this kind are namespaced: the built-in kinds as the API server serves
/// them, custom kinds by their CRD's scope.
fn namespaced(platform: &Platform, api_version: &str, kind: &str) -> Option<bool> {
    let group = group_of(api_version);
    if let Some(builtin) = neuroscale_testkit::resources::builtin_types()
        .into_iter()
        .find(|t| t.group == group && t.kind == kind)
    {
        return Some(builtin.namespaced);
    }
    if group == "argoproj.io" {
        return Some(true);
    }
    crds(platform)
        .get(&(group.to_string(), kind.to_string()))
        .map(|(_, crd)| text(crd, "/spec/scope") == "Namespaced")
}

/// ArgoCD puts a namespaced object without a namespace into the destination namespace.
fn landing_namespace(platform: &Platform, app: &RenderedApp, object: &Value) -> Option<String> {
    let kind = text(object, "/kind");
    if !namespaced(platform, text(object, "/apiVersion"), kind).unwrap_or(true) {
        return None;
    }
    Some(match text(object, "/metadata/namespace") {
        "" => app.namespace.clone(),
        ns => ns.to_string(),
    })
}

#[test]
fn every_application_renders() {
    let Some(platform) = platform() else { return };
    let failures: Vec<String> = platform
        .apps
        .iter()
        .filter_map(|app| {
            app.objects
                .as_ref()
                .err()
                .map(|e| format!("{}: {e}", app.name))
        })
        .collect();
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    let names: BTreeSet<&str> = platform.apps.iter().map(|a| a.name.as_str()).collect();
    for component in neuroscale::components::COMPONENTS {
        if component.delivery == neuroscale::components::Delivery::ArgoApplication {
            assert!(
                names.contains(component.name),
                "{} rendered",
                component.name
            );
        }
    }
    assert!(names.contains("model-sklearn-iris"), "{names:?}");
}

#[test]
fn the_projects_patches_land_on_the_upstream_objects() {
    let Some(platform) = platform() else { return };
    let find = |kind: &str, ns: &str, name: &str| {
        rendered(platform)
            .find(|(_, o)| {
                o["kind"] == kind
                    && text(o, "/metadata/namespace") == ns
                    && text(o, "/metadata/name") == name
            })
            .map(|(_, o)| o.clone())
            .unwrap_or_else(|| panic!("{kind} {ns}/{name} is rendered"))
    };
    let network = find("ConfigMap", "knative-serving", "config-network");
    assert_eq!(
        text(&network, "/data/ingress-class"),
        "kourier.ingress.networking.knative.dev"
    );
    let domain = find("ConfigMap", "knative-serving", "config-domain");
    assert!(
        domain["data"].get("neuroscale.localhost").is_some(),
        "{domain}"
    );
    let isvc_config = find("ConfigMap", "kserve", "inferenceservice-config");
    let ingress: Value = serde_json::from_str(text(&isvc_config, "/data/ingress")).unwrap();
    assert_eq!(ingress["disableIstioVirtualHost"], true, "{ingress}");
    assert_eq!(
        ingress["ingressDomain"], "neuroscale.localhost",
        "{ingress}"
    );
    // Exactly one copy of each Knative CRD (serving-core.yaml already carries them).
    let images_crds = rendered(platform)
        .filter(|(_, o)| text(o, "/metadata/name") == "images.caching.internal.knative.dev")
        .count();
    assert_eq!(images_crds, 1);
}

#[test]
fn every_rendered_object_matches_its_upstream_schema() {
    let Some(platform) = platform() else { return };
    let Some(dir) = support::schemas::schemas_or_skip() else {
        return;
    };
    let schemas = Schemas::load(dir);
    let crds = crds(platform);
    let mut validators: BTreeMap<(String, String), Option<jsonschema::Validator>> = BTreeMap::new();
    let mut failures = Vec::new();
    let mut validated = 0;
    for (app, object) in rendered(platform) {
        let api_version = text(object, "/apiVersion");
        let kind = text(object, "/kind");
        let validator = validators
            .entry((api_version.to_string(), kind.to_string()))
            .or_insert_with(|| {
                schemas.validator(api_version, kind, false).or_else(|| {
                    let (group, version) = api_version.rsplit_once('/')?;
                    let (_, crd) = crds.get(&(group.to_string(), kind.to_string()))?;
                    schemas.validator_from_crd(crd, version)
                })
            });
        let name = text(object, "/metadata/name");
        match validator {
            None => failures.push(format!(
                "{}: {api_version} {kind} {name}: no schema (not a built-in kind and no CRD rendered for it)",
                app.name
            )),
            Some(validator) => {
                validated += 1;
                for error in errors(validator, object).into_iter().take(3) {
                    failures.push(format!("{}: {kind} {name}: {error}", app.name));
                }
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} schema errors:\n{}",
        failures.len(),
        failures.join("\n")
    );
    assert!(validated > 250, "only {validated} objects validated");
}

#[test]
fn no_two_applications_render_the_same_object() {
    let Some(platform) = platform() else { return };
    let mut owners: BTreeMap<(String, String, String, String), Vec<&str>> = BTreeMap::new();
    for (app, object) in rendered(platform) {
        let key = (
            group_of(text(object, "/apiVersion")).to_string(),
            text(object, "/kind").to_string(),
            landing_namespace(platform, app, object).unwrap_or_default(),
            text(object, "/metadata/name").to_string(),
        );
        owners.entry(key).or_default().push(&app.name);
    }
    let shared: Vec<String> = owners
        .iter()
        .filter(|(_, apps)| apps.len() > 1)
        .map(|((g, k, ns, n), apps)| format!("{g}/{k} {ns}/{n}: {apps:?}"))
        .collect();
    assert!(shared.is_empty(), "{}", shared.join("\n"));
}

#[test]
fn every_namespaced_object_lands_in_a_namespace_that_something_creates() {
    let Some(platform) = platform() else { return };
    // k3s creates these; `up` creates argocd before applying ArgoCD's install.yaml.
    let mut created: BTreeSet<String> = [
        "default",
        "kube-system",
        "kube-public",
        "kube-node-lease",
        "argocd",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    for app in &platform.apps {
        if app.create_namespace {
            created.insert(app.namespace.clone());
        }
    }
    created.extend(
        rendered(platform)
            .filter(|(_, o)| o["kind"] == "Namespace")
            .map(|(_, o)| text(o, "/metadata/name").to_string()),
    );
    let mut failures = Vec::new();
    for (app, object) in rendered(platform) {
        if namespaced(platform, text(object, "/apiVersion"), text(object, "/kind")).is_none() {
            failures.push(format!(
                "{}: unknown scope for {}",
                app.name,
                text(object, "/kind")
            ));
            continue;
        }
        if let Some(ns) = landing_namespace(platform, app, object) {
            if !created.contains(&ns) {
                failures.push(format!(
                    "{}: {} {} lands in namespace {ns}, which nothing creates",
                    app.name,
                    text(object, "/kind"),
                    text(object, "/metadata/name")
                ));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn custom_resources_are_synced_after_their_crds() {
    let Some(platform) = platform() else { return };
    let crds = crds(platform);
    let mut failures = Vec::new();
    for (app, object) in rendered(platform) {
        let api_version = text(object, "/apiVersion");
        let group = group_of(api_version);
        let kind = text(object, "/kind");
        let builtin = neuroscale_testkit::resources::builtin_types()
            .iter()
            .any(|t| t.group == group && t.kind == kind);
        // ArgoCD's own kinds exist before any Application: `up` applies install.yaml first.
        if builtin || group == "argoproj.io" {
            continue;
        }
        match crds.get(&(group.to_string(), kind.to_string())) {
            // The same sync orders the CRD first (gitops-engine syncTasks.Sort, adjustDeps).
            Some((owner, _)) if owner.name == app.name => {}
            Some((owner, _)) if owner.wave < app.wave => {}
            Some((owner, _)) => failures.push(format!(
                "{}: {kind} {} (wave {}) needs the CRD from {} (wave {}), which is not synced first",
                app.name,
                text(object, "/metadata/name"),
                app.wave,
                owner.name,
                owner.wave
            )),
            None => failures.push(format!(
                "{}: {kind} {} has no CRD anywhere in the platform",
                app.name,
                text(object, "/metadata/name")
            )),
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// Every image reference in an object: pod templates (and init containers), serving runtimes,
/// Knative's image cache entries, and images set in ConfigMaps (Knative's queue-proxy, KServe's
/// storage initializer and agents), found as string values under keys naming an image.
fn images(object: &Value, out: &mut BTreeSet<String>) {
    fn walk(value: &Value, key: &str, out: &mut BTreeSet<String>) {
        match value {
            Value::Object(map) => {
                for (k, v) in map {
                    walk(v, k, out);
                }
            }
            Value::Array(items) => items.iter().for_each(|v| walk(v, key, out)),
            Value::String(s) => {
                let key = key.to_ascii_lowercase();
                let names_image =
                    key == "image" || key.ends_with("-image") || key.ends_with("image");
                if names_image && !s.is_empty() && !s.contains(' ') && !s.contains('{') {
                    out.insert(s.clone());
                } else if s.trim_start().starts_with('{') {
                    if let Ok(inner) = serde_json::from_str::<Value>(s) {
                        walk(&inner, "", out);
                    }
                }
            }
            _ => {}
        }
    }
    walk(object, "", out);
}

/// The registry an image is pulled from (`docker.io` for short names, as containerd resolves).
fn registry_of(image: &str) -> String {
    match image.split_once('/') {
        Some((first, _)) if first.contains('.') || first.contains(':') || first == "localhost" => {
            first.to_string()
        }
        _ => "docker.io".to_string(),
    }
}

fn mirrors(config: &Path) -> BTreeSet<String> {
    let k3d = yaml_objects(config).remove(0);
    let registries: serde_yaml::Value =
        serde_yaml::from_str(text(&k3d, "/registries/config")).unwrap();
    let registries = serde_json::to_value(registries).unwrap();
    registries["mirrors"]
        .as_object()
        .map(|m| m.keys().cloned().collect())
        .unwrap_or_default()
}

#[test]
fn every_image_is_pulled_through_a_cache() {
    let Some(platform) = platform() else { return };
    let mut cpu = BTreeSet::new();
    let mut gpu = BTreeSet::new();
    for (app, object) in rendered(platform) {
        let mut found = BTreeSet::new();
        images(object, &mut found);
        if app.name != "nvidia-device-plugin" {
            cpu.extend(found.iter().cloned());
        }
        gpu.extend(found);
    }
    // ArgoCD's own images come from install.yaml, which `up` applies itself.
    let install = support::upstream_or_skip()
        .unwrap()
        .join("raw.githubusercontent.com/argoproj/argo-cd/v3.5.1/manifests/install.yaml");
    for object in yaml_objects(&install) {
        images(&object, &mut cpu);
        images(&object, &mut gpu);
    }
    assert!(
        cpu.iter().any(|i| i.contains("queue")),
        "Knative's queue-proxy image (config-deployment) is found: {cpu:?}"
    );
    assert!(
        cpu.iter().any(|i| i.contains("storage-initializer")),
        "KServe's storage initializer (inferenceservice-config) is found: {cpu:?}"
    );
    for (config, images) in [("k3d/cluster.yaml", &cpu), ("k3d/gpu.yaml", &gpu)] {
        let cached = mirrors(&support::project_root().join(config));
        let uncached: BTreeSet<String> = images
            .iter()
            .filter(|image| !cached.contains(&registry_of(image)))
            .map(|image| format!("{} ({image})", registry_of(image)))
            .collect();
        assert!(
            uncached.is_empty(),
            "{config} has no pull-through cache for: {uncached:#?}"
        );
    }
}

#[test]
fn registries_are_read_as_containerd_resolves_them() {
    assert_eq!(registry_of("nginx:1.27"), "docker.io");
    assert_eq!(registry_of("kserve/sklearnserver:v0.20.0"), "docker.io");
    assert_eq!(registry_of("quay.io/argoproj/argocd:v3.5.1"), "quay.io");
    assert_eq!(registry_of("localhost:5000/x"), "localhost:5000");
    let mut found = BTreeSet::new();
    images(
        &serde_json::json!({"data": {"storageInitializer": "{\"image\": \"kserve/storage-initializer:v0.20.0\"}",
                                     "queue-sidecar-image": "gcr.io/knative-releases/queue"}}),
        &mut found,
    );
    assert_eq!(found.len(), 2, "{found:?}");
}

/// Kyverno reports a ValidatingPolicy not ready unless its reports controller may get, list and
/// watch every kind the policy matches; the rendered RBAC (with k3s's bootstrap roles and
/// ClusterRole aggregation) must grant that for every policy the platform ships.
#[test]
fn kyvernos_reports_controller_may_read_every_kind_the_policies_match() {
    let Some(platform) = platform() else { return };
    let mut state = neuroscale_testkit::State::new();
    for object in neuroscale_testkit::preset::k3s_cluster() {
        if object["kind"]
            .as_str()
            .is_some_and(|k| k.starts_with("ClusterRole"))
        {
            state.put(object).unwrap();
        }
    }
    for (_, object) in rendered(platform) {
        if matches!(
            object["kind"].as_str(),
            Some("ClusterRole" | "ClusterRoleBinding")
        ) {
            state.put(object.clone()).unwrap();
        }
    }
    neuroscale_testkit::rbac::aggregate(&mut state);
    let rbac = neuroscale_testkit::rbac::Rbac::read(&state);
    let mut checked = 0;
    let mut missing = Vec::new();
    for (_, policy) in rendered(platform).filter(|(_, o)| o["kind"] == "ValidatingPolicy") {
        for rule in policy["spec"]["matchConstraints"]["resourceRules"]
            .as_array()
            .unwrap()
        {
            for group in rule["apiGroups"].as_array().unwrap() {
                for resource in rule["resources"].as_array().unwrap() {
                    for verb in ["get", "list", "watch"] {
                        checked += 1;
                        let (group, resource) =
                            (group.as_str().unwrap(), resource.as_str().unwrap());
                        if !rbac.allowed(
                            "kyverno",
                            "kyverno-reports-controller",
                            group,
                            resource,
                            verb,
                        ) {
                            missing.push(format!(
                                "{}: {verb} {group}/{resource}",
                                text(policy, "/metadata/name")
                            ));
                        }
                    }
                }
            }
        }
    }
    assert!(checked >= 20, "only {checked} permissions checked");
    assert!(
        missing.is_empty(),
        "the reports controller lacks: {missing:#?}"
    );
}

/// Every webhook the platform renders is traced to the Service its configuration calls, so an
/// admission error naming it is attributed to the right component (never read as a stale or
/// unknown webhook).
#[test]
fn every_rendered_webhook_is_traced_to_the_service_it_calls() {
    let Some(platform) = platform() else { return };
    let mut checked = 0;
    let mut wrong = Vec::new();
    for (app, config) in rendered(platform).filter(|(_, o)| {
        matches!(
            o["kind"].as_str(),
            Some("ValidatingWebhookConfiguration" | "MutatingWebhookConfiguration")
        )
    }) {
        for hook in config["webhooks"].as_array().into_iter().flatten() {
            let name = text(hook, "/name");
            let calls = format!(
                "{}/{}",
                text(hook, "/clientConfig/service/namespace"),
                text(hook, "/clientConfig/service/name")
            );
            checked += 1;
            match neuroscale::platform::service_for_webhook(name) {
                Some(service) if service.path() == calls => {}
                other => wrong.push(format!(
                    "{}: webhook {name} calls {calls}, traced to {:?}",
                    app.name,
                    other.map(|s| s.path())
                )),
            }
        }
    }
    assert!(checked >= 15, "only {checked} webhooks rendered");
    assert!(wrong.is_empty(), "{wrong:#?}");
}
