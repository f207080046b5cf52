//! The model ApplicationSet's git directories generator and the child Applications' sync, as
//! the sim plays them: the GitOps source is a real git repository on disk (the one `neuroscale`
//! creates), read with the `git` CLI at the branch head; each folder under `manifests/models/`
//! yields Application `model-<folder>` whose objects are applied with ArgoCD's tracking
//! annotation, and a removed folder prunes its Application and objects (argo-cd
//! docs/operator-manual/applicationset/Generators-Git.md; UPSTREAM.md §2).

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

use serde::Deserialize;
use serde_json::{json, Value};

use crate::preset::{self, MODEL_NAMESPACE};
use crate::store::{State, WriteOptions};

/// The model folders at the head of a GitOps repository and the objects in each.
pub type ModelFolders = BTreeMap<String, Vec<Value>>;

/// The label the ApplicationSet's template puts on the Applications it generates
/// (manifests/apps/model-endpoints.yaml).
pub const MODEL_LABEL: &str = "neuroscale.dev/model";
/// The model ApplicationSet (gitops::MODEL_APPLICATIONSET).
pub const APPLICATION_SET: &str = "model-endpoints";

fn git(repo: &Path, args: &[&str]) -> Option<String> {
    let output = Command::new("git")
        .arg("--git-dir")
        .arg(repo)
        .args(args)
        .output()
        .ok()?;
    output
        .status
        .success()
        .then(|| String::from_utf8_lossy(&output.stdout).into_owned())
}

/// Reads `manifests/models/*/*.yaml` at HEAD of the bare repository `repo`; `None` when the
/// repository cannot be read (no commit yet, or git missing).
pub fn read_model_folders(repo: &Path) -> Option<ModelFolders> {
    let listing = git(
        repo,
        &[
            "ls-tree",
            "-r",
            "--name-only",
            "HEAD",
            "--",
            "manifests/models/",
        ],
    )?;
    let mut folders = ModelFolders::new();
    for file in listing.lines() {
        let Some(rest) = file.strip_prefix("manifests/models/") else {
            continue;
        };
        let Some((folder, _)) = rest.split_once('/') else {
            continue;
        };
        let entry = folders.entry(folder.to_string()).or_default();
        if !(file.ends_with(".yaml") || file.ends_with(".yml")) {
            continue;
        }
        let text = git(repo, &["show", &format!("HEAD:{file}")])?;
        for document in serde_yaml::Deserializer::from_str(&text) {
            let Ok(value) = serde_yaml::Value::deserialize(document) else {
                continue;
            };
            let Ok(object) = serde_json::to_value(value) else {
                continue;
            };
            if object.get("kind").and_then(Value::as_str).is_some() {
                entry.push(object);
            }
        }
    }
    Some(folders)
}

fn str_at<'a>(value: &'a Value, pointer: &str) -> &'a str {
    value.pointer(pointer).and_then(Value::as_str).unwrap_or("")
}

/// Generates, syncs and prunes model Applications from `folders`. Objects are applied through
/// admission, as ArgoCD's sync is; the Applications whose sync was refused come back with the
/// API server's message.
pub fn reconcile(state: &mut State, folders: &ModelFolders) -> BTreeMap<String, String> {
    let mut failures = BTreeMap::new();
    let Ok(sets) = state.resource_for("argoproj.io/v1alpha1", "ApplicationSet") else {
        return failures;
    };
    if state.get(&sets, preset::ARGOCD, APPLICATION_SET).is_none() {
        return failures;
    }
    let Ok(apps) = state.resource_for("argoproj.io/v1alpha1", "Application") else {
        return failures;
    };
    for (folder, objects) in folders {
        let name = format!("model-{folder}");
        if state.get(&apps, preset::ARGOCD, &name).is_none() {
            let mut app = preset::application(
                &name,
                &format!("manifests/models/{folder}"),
                MODEL_NAMESPACE,
            );
            app["metadata"]["labels"] =
                json!({MODEL_LABEL: folder, "app.kubernetes.io/part-of": "neuroscale"});
            let _ = state.put(app);
        }
        for object in objects {
            let mut object = object.clone();
            if object.pointer("/metadata/namespace").is_none() {
                object["metadata"]["namespace"] = json!(MODEL_NAMESPACE);
            }
            let api_version = str_at(&object, "/apiVersion").to_string();
            let kind = str_at(&object, "/kind").to_string();
            let Ok(resource) = state.resource_for(&api_version, &kind) else {
                continue;
            };
            let ns = str_at(&object, "/metadata/namespace").to_string();
            let object_name = str_at(&object, "/metadata/name").to_string();
            if state.get(&resource, &ns, &object_name).is_some() {
                continue;
            }
            let group = api_version.rsplit_once('/').map(|(g, _)| g).unwrap_or("");
            if !object["metadata"]["annotations"].is_object() {
                object["metadata"]["annotations"] = json!({});
            }
            object["metadata"]["annotations"]["argocd.argoproj.io/tracking-id"] =
                json!(preset::tracking_id(&name, group, &kind, &ns, &object_name));
            let sync = WriteOptions {
                dry_run: false,
                admit: true,
                field_manager: "argocd-controller",
            };
            if let Err(status) = state.create(&resource, &ns, object, sync) {
                failures.insert(name.clone(), status.message);
            }
        }
    }
    // Prune: generated Applications whose folder is gone, with everything they track.
    for app in state.list(&apps, Some(preset::ARGOCD), None, None) {
        let Some(folder) = app
            .pointer(&format!(
                "/metadata/labels/{}",
                MODEL_LABEL.replace('/', "~1")
            ))
            .and_then(Value::as_str)
        else {
            continue;
        };
        if folders.contains_key(folder) {
            continue;
        }
        let name = str_at(&app, "/metadata/name").to_string();
        let _ = state.delete(&apps, preset::ARGOCD, &name, WriteOptions::INTERNAL);
        let prefix = format!("{name}:");
        for (api_version, kind) in [
            ("serving.kserve.io/v1beta1", "InferenceService"),
            ("apps/v1", "Deployment"),
            ("v1", "ConfigMap"),
        ] {
            let Ok(resource) = state.resource_for(api_version, kind) else {
                continue;
            };
            for object in state.list(&resource, None, None, None) {
                if str_at(
                    &object,
                    "/metadata/annotations/argocd.argoproj.io~1tracking-id",
                )
                .starts_with(&prefix)
                {
                    let ns = str_at(&object, "/metadata/namespace").to_string();
                    let object_name = str_at(&object, "/metadata/name").to_string();
                    let _ = state.delete(&resource, &ns, &object_name, WriteOptions::INTERNAL);
                }
            }
        }
    }
    failures
}
