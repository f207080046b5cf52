//! The policies' CEL, evaluated: every variable and validation expression in
//! `manifests/platform/policies/*.yaml` is compiled and run (with the `cel-interpreter` crate, a
//! CEL implementation independent of Kyverno's cel-go) against the shipped objects, the scaffold,
//! and planted non-compliant objects. The verdicts must agree with `gitops::conformance`, so the
//! YAML the cluster enforces and the Rust pre-flight cannot drift apart. Kyverno binds `object`
//! and `variables` the same way (kyverno pkg/cel/policies/vpol/compiler/compiler.go @v1.19.0).

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use cel_interpreter::{Context, Program, Value as Cel};
use neuroscale::gitops::conformance;
use neuroscale::gitops::scaffold::{inference_service, ModelSpec};
use serde_json::{json, Value};

struct Policy {
    name: String,
    resources: Vec<String>,
    variables: Vec<(String, Program)>,
    validations: Vec<(String, Program)>,
}

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn load(rel: &str) -> Value {
    let path = root().join(rel);
    let text = std::fs::read_to_string(&path).unwrap();
    neuroscale::yaml::parse_documents(&path, &text)
        .unwrap()
        .remove(0)
}

fn compile(policy: &str, expression: &str) -> Program {
    Program::compile(expression)
        .unwrap_or_else(|e| panic!("{policy}: CEL does not compile: {expression}\n{e}"))
}

fn policies() -> Vec<Policy> {
    let dir = root().join("manifests/platform/policies");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    files
        .iter()
        .map(|file| {
            let doc = load(file.strip_prefix(root()).unwrap().to_str().unwrap());
            let name = doc["metadata"]["name"].as_str().unwrap().to_string();
            let spec = &doc["spec"];
            let resources = spec["matchConstraints"]["resourceRules"]
                .as_array()
                .unwrap()
                .iter()
                .flat_map(|r| r["resources"].as_array().unwrap().clone())
                .map(|r| r.as_str().unwrap().to_string())
                .collect();
            let list = |key: &str, field: &str| -> Vec<(String, Program)> {
                spec[key]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .map(|item| {
                        let expression = item["expression"].as_str().unwrap();
                        (
                            item[field].as_str().unwrap_or_default().to_string(),
                            compile(&name, expression),
                        )
                    })
                    .collect()
            };
            Policy {
                variables: list("variables", "name"),
                validations: list("validations", "message"),
                name,
                resources,
            }
        })
        .collect()
}

fn resource_of(object: &Value) -> &'static str {
    match object["kind"].as_str() {
        Some("Deployment") => "deployments",
        Some("InferenceService") => "inferenceservices",
        other => panic!("unexpected kind {other:?}"),
    }
}

/// Whether every validation of `policy` holds for `object`; an evaluation error denies, as
/// with failurePolicy Fail.
fn admits(policy: &Policy, object: &Value) -> Result<(), String> {
    let mut context = Context::default();
    context.add_variable("object", object).unwrap();
    let mut variables: BTreeMap<String, Cel> = BTreeMap::new();
    for (name, program) in &policy.variables {
        let mut scope = Context::default();
        scope.add_variable("object", object).unwrap();
        scope.add_variable("variables", to_map(&variables)).unwrap();
        let value = program
            .execute(&scope)
            .map_err(|e| format!("variable {name}: {e}"))?;
        variables.insert(name.clone(), value);
    }
    context
        .add_variable("variables", to_map(&variables))
        .unwrap();
    for (message, program) in &policy.validations {
        match program.execute(&context) {
            Ok(Cel::Bool(true)) => {}
            Ok(Cel::Bool(false)) => return Err(message.clone()),
            Ok(other) => return Err(format!("non-boolean result {other:?} for: {message}")),
            Err(e) => return Err(format!("evaluation error ({e}) for: {message}")),
        }
    }
    Ok(())
}

fn to_map(variables: &BTreeMap<String, Cel>) -> Cel {
    let map: std::collections::HashMap<cel_interpreter::objects::Key, Cel> = variables
        .iter()
        .map(|(k, v)| (cel_interpreter::objects::Key::from(k.as_str()), v.clone()))
        .collect();
    Cel::Map(cel_interpreter::objects::Map { map: map.into() })
}

/// The policies that deny `object`, by evaluating the CEL.
fn denied_by(policies: &[Policy], object: &Value) -> BTreeSet<String> {
    policies
        .iter()
        .filter(|p| p.resources.iter().any(|r| r == resource_of(object)))
        .filter(|p| admits(p, object).is_err())
        .map(|p| p.name.clone())
        .collect()
}

/// The policies that deny `object`, by `gitops::conformance`.
fn rust_verdict(object: &Value) -> BTreeSet<String> {
    conformance::violations(object)
        .into_iter()
        .map(|v| v.policy.to_string())
        .collect()
}

fn shipped_objects() -> Vec<(String, Value)> {
    let spec = ModelSpec::new("fraud-detector", "ml-platform", "ml-research").unwrap();
    vec![
        (
            "drift canary".into(),
            load("manifests/platform/drift-canary.yaml"),
        ),
        (
            "sklearn-iris".into(),
            load("manifests/models/sklearn-iris/inferenceservice.yaml"),
        ),
        (
            "sklearn-iris-v2".into(),
            load("manifests/models/sklearn-iris-v2/inferenceservice.yaml"),
        ),
        (
            "gpu model".into(),
            load("manifests/gpu/sklearn-iris-gpu/inferenceservice.yaml"),
        ),
        ("scaffold".into(), inference_service(&spec)),
        (
            "gpu scaffold".into(),
            inference_service(&ModelSpec { gpu: true, ..spec }),
        ),
    ]
}

#[test]
fn every_expression_compiles_and_the_shipped_objects_are_admitted() {
    let policies = policies();
    assert_eq!(policies.len(), 5);
    for (what, object) in shipped_objects() {
        for policy in policies
            .iter()
            .filter(|p| p.resources.iter().any(|r| r == resource_of(&object)))
        {
            if let Err(reason) = admits(policy, &object) {
                panic!("{what} is denied by {}: {reason}", policy.name);
            }
        }
    }
}

fn edit(mut object: Value, path: &str, value: Option<Value>) -> Value {
    let (parent, key) = path.rsplit_once('/').unwrap();
    let target = object
        .pointer_mut(parent)
        .unwrap_or_else(|| panic!("{path}"));
    match value {
        Some(v) => target[key] = v,
        None => {
            target.as_object_mut().unwrap().remove(key);
        }
    }
    object
}

#[test]
fn planted_violations_are_denied_by_the_same_policies_in_cel_and_in_rust() {
    let policies = policies();
    let canary = load("manifests/platform/drift-canary.yaml");
    let isvc = load("manifests/models/sklearn-iris/inferenceservice.yaml");
    let pod = "/spec/template/spec";
    let model = "/spec/predictor/model";
    let digest = format!("registry.k8s.io/pause@sha256:{}", "0".repeat(64));
    let cases: Vec<(&str, Value, &[&str])> = vec![
        (
            "no cost-center",
            edit(canary.clone(), "/metadata/labels/cost-center", None),
            &["require-standard-labels-deployment"],
        ),
        (
            "owner not kebab",
            edit(
                canary.clone(),
                "/metadata/labels/owner",
                Some(json!("Platform_Team")),
            ),
            &["require-standard-labels-deployment"],
        ),
        (
            "untagged image",
            edit(
                canary.clone(),
                &format!("{pod}/containers/0/image"),
                Some(json!("registry.k8s.io/pause")),
            ),
            &["disallow-latest-tag"],
        ),
        (
            "latest image",
            edit(
                canary.clone(),
                &format!("{pod}/containers/0/image"),
                Some(json!("registry.k8s.io/pause:latest")),
            ),
            &["disallow-latest-tag"],
        ),
        (
            "digest image",
            edit(
                canary.clone(),
                &format!("{pod}/containers/0/image"),
                Some(json!(digest)),
            ),
            &[],
        ),
        (
            "no pod securityContext",
            edit(canary.clone(), &format!("{pod}/securityContext"), None),
            &["disallow-root-containers"],
        ),
        (
            "uid 0",
            edit(
                canary.clone(),
                &format!("{pod}/containers/0/securityContext/runAsUser"),
                Some(json!(0)),
            ),
            &["disallow-root-containers"],
        ),
        (
            "no limits",
            edit(
                canary.clone(),
                &format!("{pod}/containers/0/resources/limits"),
                None,
            ),
            &["require-resource-limits"],
        ),
        (
            "isvc no resources",
            edit(isvc.clone(), &format!("{model}/resources"), None),
            &["require-resource-limits"],
        ),
        (
            "isvc runtimeVersion latest",
            edit(
                isvc.clone(),
                &format!("{model}/runtimeVersion"),
                Some(json!("latest")),
            ),
            &["disallow-latest-tag"],
        ),
        (
            "isvc owner with space",
            edit(
                isvc.clone(),
                "/metadata/labels/owner",
                Some(json!("ML Team")),
            ),
            &["require-standard-labels-inferenceservice"],
        ),
        (
            "isvc no labels",
            edit(isvc.clone(), "/metadata/labels", None),
            &["require-standard-labels-inferenceservice"],
        ),
        (
            "isvc root model",
            edit(
                isvc.clone(),
                &format!("{model}/securityContext/runAsNonRoot"),
                Some(json!(false)),
            ),
            &["disallow-root-containers"],
        ),
        (
            "isvc bare custom container",
            edit(
                isvc.clone(),
                "/spec/predictor/containers",
                Some(json!([{ "name": "sidecar", "image": "busybox:latest" }])),
            ),
            &[
                "require-resource-limits",
                "disallow-latest-tag",
                "disallow-root-containers",
            ],
        ),
    ];
    for (what, object, expected) in cases {
        let expected: BTreeSet<String> = expected.iter().map(|s| s.to_string()).collect();
        assert_eq!(
            denied_by(&policies, &object),
            expected,
            "CEL verdict for {what}"
        );
        assert_eq!(rust_verdict(&object), expected, "Rust verdict for {what}");
    }
}

#[test]
fn policy_files_are_where_the_platform_kustomization_lists_them() {
    // Guards the loader above: it must have read the five shipped files, not an empty folder.
    let names: BTreeSet<String> = policies().into_iter().map(|p| p.name).collect();
    let expected: BTreeSet<String> = neuroscale::gitops::POLICY_NAMES
        .iter()
        .map(|s| s.to_string())
        .collect();
    assert_eq!(names, expected);
    assert!(Path::new(&root().join("manifests/platform/kustomization.yaml")).is_file());
}
