//! The sim's ApplicationSet controller for the git directories generator (argo-cd
//! docs/operator-manual/applicationset/Generators-Git.md): each directory matching a
//! `directories[].path` glob at the generator's revision yields one Application from the
//! template, owned by the set; a directory that disappears deletes its Application (the default
//! `create-update-delete` policy), whose resources finalizer then prunes what it deployed.
//! Templates use the goTemplate fields `{{.path.path}}`, `{{.path.basename}}` or the legacy
//! `{{path}}`, `{{path.basename}}`.

use serde_json::{json, Value};

use crate::argocd::NAMESPACE;
use crate::gitrepo::Repos;
use crate::store::{now_rfc3339, State, WriteOptions};

fn text<'a>(value: &'a Value, pointer: &str) -> &'a str {
    value.pointer(pointer).and_then(Value::as_str).unwrap_or("")
}

/// The directories one set generates Applications for, or why it could not list them.
pub fn generate(repos: &Repos, set: &Value) -> Result<Vec<String>, String> {
    let mut folders = Vec::new();
    for generator in set
        .pointer("/spec/generators")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let Some(git) = generator.get("git") else {
            continue;
        };
        let url = text(git, "/repoURL");
        let commit = repos.resolve(url, text(git, "/revision"))?;
        for directory in git
            .get("directories")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let pattern = text(directory, "/path");
            let excluded = directory.get("exclude").and_then(Value::as_bool) == Some(true);
            let Some(parent) = pattern.strip_suffix("/*") else {
                if !excluded && repos.tree_id(url, &commit, pattern).is_some() {
                    folders.push(pattern.to_string());
                }
                continue;
            };
            for name in repos.directories(url, &commit, parent) {
                let path = format!("{parent}/{name}");
                if excluded {
                    folders.retain(|f| *f != path);
                } else if !folders.contains(&path) {
                    folders.push(path);
                }
            }
        }
    }
    Ok(folders)
}

/// The Application the template yields for one directory.
pub fn application(set: &Value, path: &str) -> Value {
    let basename = path.rsplit('/').next().unwrap_or(path);
    let template = set
        .pointer("/spec/template")
        .cloned()
        .unwrap_or(json!({}))
        .to_string()
        .replace("{{.path.basename}}", basename)
        .replace("{{.path.path}}", path)
        .replace("{{path.basename}}", basename)
        .replace("{{path}}", path);
    let mut app: Value = serde_json::from_str(&template).unwrap_or(json!({}));
    app["apiVersion"] = json!("argoproj.io/v1alpha1");
    app["kind"] = json!("Application");
    app["metadata"]["namespace"] = json!(NAMESPACE);
    app["metadata"]["ownerReferences"] = json!([{
        "apiVersion": "argoproj.io/v1alpha1", "kind": "ApplicationSet",
        "name": text(set, "/metadata/name"), "uid": text(set, "/metadata/uid"),
        "controller": true, "blockOwnerDeletion": true}]);
    app
}

/// Makes the set's Applications match `generated` (under the state lock) and reports the
/// outcome in the set's status conditions.
pub fn reconcile(state: &mut State, set: &Value, generated: Result<Vec<String>, String>) {
    let Ok(apps) = state.resource_for("argoproj.io/v1alpha1", "Application") else {
        return;
    };
    let uid = text(set, "/metadata/uid").to_string();
    let conditions = match &generated {
        Ok(_) => json!([
            {"type": "ErrorOccurred", "status": "False", "reason": "ApplicationSetUpToDate",
             "message": "Successfully generated parameters for all Applications"},
            {"type": "ParametersGenerated", "status": "True", "reason": "ParametersGenerated",
             "message": "Successfully generated parameters for all Applications"},
            {"type": "ResourcesUpToDate", "status": "True", "reason": "ApplicationSetUpToDate",
             "message": "ApplicationSet up to date"}]),
        Err(message) => json!([
            {"type": "ErrorOccurred", "status": "True", "reason": "ApplicationGenerationFromParamsError",
             "message": message},
            {"type": "ResourcesUpToDate", "status": "False", "reason": "ApplicationGenerationFromParamsError",
             "message": message}]),
    };
    if let Ok(folders) = &generated {
        let wanted: Vec<Value> = folders.iter().map(|f| application(set, f)).collect();
        let owned: Vec<Value> = state
            .list(&apps, Some(NAMESPACE), None, None)
            .into_iter()
            .filter(|a| {
                a.pointer("/metadata/ownerReferences")
                    .and_then(Value::as_array)
                    .is_some_and(|refs| refs.iter().any(|r| text(r, "/uid") == uid))
            })
            .collect();
        for app in &wanted {
            let name = text(app, "/metadata/name");
            match state.get(&apps, NAMESPACE, name).cloned() {
                None => {
                    let _ = state.create(&apps, NAMESPACE, app.clone(), WriteOptions::INTERNAL);
                }
                Some(live) if live.get("spec") != app.get("spec") => {
                    let mut updated = live.clone();
                    updated["spec"] = app["spec"].clone();
                    let _ = state.put(updated);
                }
                Some(_) => {}
            }
        }
        for app in owned {
            let name = text(&app, "/metadata/name");
            if !wanted.iter().any(|w| text(w, "/metadata/name") == name) {
                let _ = state.delete(&apps, NAMESPACE, name, WriteOptions::INTERNAL);
            }
        }
    }
    let previous = set.pointer("/status/conditions").cloned();
    let unchanged = previous
        .as_ref()
        .is_some_and(|p| strip_times(p) == strip_times(&conditions));
    if !unchanged {
        let stamped: Vec<Value> = conditions
            .as_array()
            .into_iter()
            .flatten()
            .map(|c| {
                let mut c = c.clone();
                c["lastTransitionTime"] = json!(now_rfc3339());
                c
            })
            .collect();
        if let Ok(sets) = state.resource_for("argoproj.io/v1alpha1", "ApplicationSet") {
            let _ = state.set_status(
                &sets,
                NAMESPACE,
                text(set, "/metadata/name"),
                json!({"conditions": stamped}),
            );
        }
    }
}

fn strip_times(conditions: &Value) -> Value {
    let mut copy = conditions.clone();
    for c in copy.as_array_mut().into_iter().flatten() {
        if let Some(map) = c.as_object_mut() {
            map.remove("lastTransitionTime");
        }
    }
    copy
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_template_is_filled_in_per_directory() {
        let set = json!({"metadata": {"name": "model-endpoints", "uid": "u1"},
            "spec": {"template": {"metadata": {"name": "model-{{.path.basename}}"},
                                  "spec": {"source": {"path": "{{.path.path}}"}}}}});
        let app = application(&set, "manifests/models/iris");
        assert_eq!(app["metadata"]["name"], "model-iris");
        assert_eq!(app["spec"]["source"]["path"], "manifests/models/iris");
        assert_eq!(app["metadata"]["ownerReferences"][0]["uid"], "u1");
    }
}
