//! Validates every document in `manifests/` and every k3d config in `k3d/` against the upstream
//! schemas in the shared directory (see `support::schemas`). Without the shared directory the
//! tests skip with the reason, and fail under NEUROSCALE_REQUIRE_PEERS=1.

mod support;

use std::collections::{BTreeSet, HashMap};
use std::path::{Path, PathBuf};

use serde_json::{json, Map, Value};
use support::project_root;
use support::schemas::{errors, read_json, schemas_or_skip, Schemas};

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

fn documents(path: &Path) -> Vec<Value> {
    let text = std::fs::read_to_string(path).unwrap();
    neuroscale::yaml::parse_documents(path, &text).unwrap()
}

/// Files kustomizations use as patches (validated as partial objects).
fn patch_files(files: &[PathBuf]) -> BTreeSet<PathBuf> {
    let mut patches = BTreeSet::new();
    for file in files.iter().filter(|f| f.ends_with("kustomization.yaml")) {
        for doc in documents(file) {
            for patch in doc["patches"].as_array().into_iter().flatten() {
                if let Some(rel) = patch["path"].as_str() {
                    patches.insert(file.parent().unwrap().join(rel));
                }
            }
        }
    }
    patches
}

#[test]
fn manifests_match_the_upstream_schemas() {
    let Some(dir) = schemas_or_skip() else { return };
    let schemas = Schemas::load(dir);
    let mut files = Vec::new();
    yaml_files(&project_root().join("manifests"), &mut files);
    files.sort();
    let patches = patch_files(&files);
    let mut validators: HashMap<(String, String, bool), Option<jsonschema::Validator>> =
        HashMap::new();
    let mut failures = Vec::new();
    let mut validated = 0;
    for file in &files {
        let rel = file
            .strip_prefix(project_root())
            .unwrap()
            .display()
            .to_string();
        for doc in documents(file) {
            let api_version = doc["apiVersion"].as_str().unwrap_or_default();
            let kind = doc["kind"].as_str().unwrap_or_default();
            if api_version.starts_with("kustomize.config.k8s.io/") && kind == "Kustomization" {
                continue; // a build file for kustomize, not a Kubernetes object
            }
            let partial = patches.contains(file);
            let key = (api_version.to_string(), kind.to_string(), partial);
            let validator = validators
                .entry(key)
                .or_insert_with(|| schemas.validator(api_version, kind, partial));
            match validator {
                None => failures.push(format!(
                    "{rel}: no schema for {api_version} {kind} in index.json"
                )),
                Some(validator) => {
                    validated += 1;
                    for error in errors(validator, &doc) {
                        failures.push(format!(
                            "{rel} ({kind} {}): {error}",
                            doc["metadata"]["name"]
                        ));
                    }
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
    assert!(validated > 20, "only {validated} documents validated");
}

#[test]
fn k3d_configs_match_the_k3d_schema() {
    let Some(dir) = schemas_or_skip() else { return };
    let index = read_json(&dir.join("index.json"));
    let entry = &index["kinds"]["k3d.io/v1alpha5 Simple"];
    let schema = read_json(&dir.join(entry["file"].as_str().unwrap()));
    // As k3d validates: plain JSON Schema with formats checked.
    let validator = jsonschema::options()
        .should_validate_formats(true)
        .build(&schema)
        .unwrap();
    let mut checked = 0;
    for file in std::fs::read_dir(project_root().join("k3d")).unwrap() {
        let path = file.unwrap().path();
        if path.extension().and_then(|e| e.to_str()) != Some("yaml") {
            continue;
        }
        for doc in documents(&path) {
            let found = errors(&validator, &doc);
            assert!(found.is_empty(), "{}: {found:?}", path.display());
            checked += 1;
        }
    }
    assert!(checked >= 2);
}

#[test]
fn the_strict_schemas_catch_a_planted_mistake() {
    let Some(dir) = schemas_or_skip() else { return };
    let schemas = Schemas::load(dir);
    let validator = schemas
        .validator("policies.kyverno.io/v1", "ValidatingPolicy", false)
        .unwrap();
    let path = project_root().join("manifests/platform/policies/disallow-latest-tag.yaml");
    let mut policy = documents(&path).remove(0);
    assert_eq!(errors(&validator, &policy), Vec::<String>::new());
    // A ClusterPolicy-ism in a ValidatingPolicy: an unknown field.
    policy["spec"]["validationFailureAction"] = json!("Enforce");
    assert_eq!(errors(&validator, &policy).len(), 1);
    policy["spec"]
        .as_object_mut()
        .unwrap()
        .remove("validationFailureAction");
    policy["spec"]["validationActions"] = json!(["Enforce"]);
    assert!(
        !errors(&validator, &policy).is_empty(),
        "Enforce is not a validation action"
    );

    let deployment = schemas.validator("apps/v1", "Deployment", false).unwrap();
    let canary = documents(&project_root().join("manifests/platform/drift-canary.yaml")).remove(0);
    assert_eq!(errors(&deployment, &canary), Vec::<String>::new());
    let mut typo = canary.clone();
    typo["spec"]["template"]["spec"]["containers"][0]["resource"] = Value::Object(Map::new());
    assert_eq!(
        errors(&deployment, &typo).len(),
        1,
        "a misspelt field is caught"
    );
}
