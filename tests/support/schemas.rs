//! The upstream schemas in the shared directory (`schemas/index.json` names the schema of each
//! kind: CRD openAPIV3Schemas of the pinned ArgoCD, KServe, Kyverno and cert-manager, the
//! Kubernetes 1.36 swagger definitions, and k3d's config JSON Schema), used in place.
//!
//! Unknown fields are errors (the API server's strict field validation rejects them), so every
//! object schema is closed unless it preserves unknown fields. Kustomize patches are validated
//! as partial objects (nothing required).

use std::path::{Path, PathBuf};

use serde_json::{json, Value};

/// The shared schemas, or None after printing why (a failure when peers are required).
pub fn schemas_or_skip() -> Option<PathBuf> {
    match super::shared_dir()
        .map(|d| d.join("schemas"))
        .filter(|d| d.join("index.json").is_file())
    {
        Some(dir) => Some(dir),
        None => {
            super::peer_missing(
                "no shared/schemas/index.json (set NEUROSCALE_SHARED_DIR to the shared directory)",
            );
            None
        }
    }
}

pub fn read_json(path: &Path) -> Value {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap()
}

/// Closes every object schema that lists properties and does not preserve unknown fields, and
/// (for patches) drops `required`.
pub fn tighten(schema: &mut Value, partial: bool) {
    match schema {
        Value::Object(map) => {
            if partial {
                map.remove("required");
            }
            let preserves = map.get("x-kubernetes-preserve-unknown-fields") == Some(&json!(true));
            if map.contains_key("properties")
                && !map.contains_key("additionalProperties")
                && !preserves
            {
                map.insert("additionalProperties".into(), json!(false));
            }
            for value in map.values_mut() {
                tighten(value, partial);
            }
        }
        Value::Array(items) => items.iter_mut().for_each(|v| tighten(v, partial)),
        _ => {}
    }
}

pub struct Schemas {
    dir: PathBuf,
    pub index: Value,
    definitions: Value,
}

impl Schemas {
    pub fn load(dir: PathBuf) -> Schemas {
        let index = read_json(&dir.join("index.json"));
        let kube_file = index["objectMeta"]["file"].as_str().unwrap().to_string();
        let mut definitions = read_json(&dir.join(kube_file))["definitions"].take();
        // The swagger types quantities and int-or-string as strings; the API server also takes
        // numbers for them (apimachinery resource.Quantity and intstr.IntOrString unmarshal both).
        for name in [
            "io.k8s.apimachinery.pkg.api.resource.Quantity",
            "io.k8s.apimachinery.pkg.util.intstr.IntOrString",
        ] {
            definitions[name] = json!({ "type": ["string", "number"] });
        }
        Schemas {
            dir,
            index,
            definitions,
        }
    }

    /// Whether the index knows `apiVersion kind`.
    pub fn knows(&self, api_version: &str, kind: &str) -> bool {
        !self.index["kinds"][format!("{api_version} {kind}")].is_null()
    }

    /// A validator for `apiVersion kind`, or None when the index has no such kind.
    pub fn validator(
        &self,
        api_version: &str,
        kind: &str,
        partial: bool,
    ) -> Option<jsonschema::Validator> {
        let entry = &self.index["kinds"][format!("{api_version} {kind}")];
        if entry.is_null() {
            return None;
        }
        let schema = if let Some(definition) = entry["definition"].as_str() {
            json!({ "$ref": format!("#/definitions/{definition}"), "definitions": self.definitions })
        } else {
            self.with_object_meta(read_json(&self.dir.join(entry["file"].as_str().unwrap())))
        };
        Some(self.build(schema, partial, &format!("{api_version} {kind}")))
    }

    /// A validator for custom resources of `version` served by `crd` (a CustomResourceDefinition
    /// object, e.g. one rendered from an upstream release), or None when it does not serve it.
    pub fn validator_from_crd(&self, crd: &Value, version: &str) -> Option<jsonschema::Validator> {
        let served = crd["spec"]["versions"]
            .as_array()?
            .iter()
            .find(|v| v["name"] == version)?;
        let schema = served
            .pointer("/schema/openAPIV3Schema")
            .cloned()
            .unwrap_or(json!({"type": "object", "x-kubernetes-preserve-unknown-fields": true}));
        let schema = self.with_object_meta(schema);
        Some(self.build(
            schema,
            false,
            crd["metadata"]["name"].as_str().unwrap_or("crd"),
        ))
    }

    fn with_object_meta(&self, mut crd_schema: Value) -> Value {
        let meta = self.index["objectMeta"]["definition"].as_str().unwrap();
        // CRD schemas leave metadata open; hold it to ObjectMeta. apiVersion/kind are implied.
        if crd_schema["properties"].is_object() {
            crd_schema["properties"]["metadata"] =
                json!({ "$ref": format!("#/definitions/{meta}") });
            for field in ["apiVersion", "kind"] {
                if crd_schema["properties"][field].is_null() {
                    crd_schema["properties"][field] = json!({"type": "string"});
                }
            }
        }
        crd_schema["definitions"] = self.definitions.clone();
        crd_schema
    }

    fn build(&self, mut schema: Value, partial: bool, what: &str) -> jsonschema::Validator {
        tighten(&mut schema, partial);
        jsonschema::options()
            .with_draft(jsonschema::Draft::Draft7)
            .should_validate_formats(false)
            .build(&schema)
            .unwrap_or_else(|e| panic!("schema for {what}: {e}"))
    }
}

/// Drops every `null` field: the API server decodes a JSON null as "not set" (Helm charts and
/// controller-gen output carry `creationTimestamp: null`, `replicas: null` and the like).
pub fn without_nulls(value: &Value) -> Value {
    match value {
        Value::Object(map) => Value::Object(
            map.iter()
                .filter(|(_, v)| !v.is_null())
                .map(|(k, v)| (k.clone(), without_nulls(v)))
                .collect(),
        ),
        Value::Array(items) => Value::Array(items.iter().map(without_nulls).collect()),
        other => other.clone(),
    }
}

pub fn errors(validator: &jsonschema::Validator, doc: &Value) -> Vec<String> {
    let doc = without_nulls(doc);
    validator
        .iter_errors(&doc)
        .map(|e| format!("at {}: {e}", e.instance_path()))
        .collect()
}
