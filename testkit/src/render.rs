//! The renderers ArgoCD's repo-server runs, driven for real: `kubectl kustomize` (kubectl embeds
//! kustomize) for kustomization directories, Helm's own Go SDK (PyPI `helm-python-sdk`) for
//! charts, and plain YAML for directories, chosen the way argo-cd
//! `reposerver/repository/repository.go` (`GetAppSourceType`) chooses: a `helm` block or a
//! `Chart.yaml` means Helm, a kustomization file means Kustomize, anything else is a directory.
//!
//! Nothing here re-implements a renderer. Rendering the real kserve.yaml with kustomize takes
//! seconds, so results are cached on disk by the content they were rendered from (git tree
//! ids, the source block, the release name and namespace); a cache entry is only ever a past
//! output of the real renderer for exactly that input.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use serde::Deserialize;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

/// The Kubernetes version the sim's server reports; Helm templates see it as
/// `.Capabilities.KubeVersion`, as ArgoCD passes the cluster's version with `--kube-version`.
pub const KUBE_VERSION: &str = "v1.34.8";

/// Why a source could not be rendered, in the words of the renderer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RenderError {
    /// `kustomize build` failed; ArgoCD reports kustomize's message.
    #[error("`kustomize build {path}` failed exit status 1: {message}")]
    Kustomize { path: String, message: String },
    /// `helm template` failed.
    #[error("`helm template . --name-template {release} --namespace {namespace} --kube-version {kube} --include-crds` failed exit status 1: {message}", kube = KUBE_VERSION)]
    Helm {
        release: String,
        namespace: String,
        message: String,
    },
    /// A plain YAML file does not parse.
    #[error("Failed to unmarshal {file:?}: {message}")]
    Yaml { file: String, message: String },
    /// The path does not exist in the repository at that revision.
    #[error("{path}: app path does not exist")]
    NoPath { path: String },
    /// A renderer could not be started at all.
    #[error("{0}")]
    Unavailable(String),
}

/// The real renderers, located once.
#[derive(Debug, Clone)]
pub struct Renderers {
    kubectl: PathBuf,
    python: PathBuf,
    cache_dir: PathBuf,
}

/// The Python helper that renders one chart with Helm's Go SDK, as `helm template` would:
/// release manifest templates only (NOTES.txt and empty documents dropped, test hooks
/// skipped), CRDs from `crds/` first (`--include-crds`), the cluster's Kubernetes version as
/// the capability.
const HELM_TEMPLATE_PY: &str = r#"
import json, sys
from helm_python import Chart, _native
request = json.load(sys.stdin)
try:
    chart = Chart.load(request["chart"])
    opts = {"name": request["release"], "namespace": request["namespace"], "kube_version": request["kube_version"], "is_install": True}
    rendered = json.loads(_native.call_string("helm_render", chart._raw(), json.dumps(request["values"]), json.dumps(opts)))
    crds = [c["data"] for c in chart.crds]
    print(json.dumps({"crds": crds, "templates": rendered}))
except Exception as e:
    print(json.dumps({"error": str(e)}))
"#;

impl Renderers {
    /// Finds `kubectl` on PATH and a Python that imports `helm_python` (`$NEUROSCALE_PYTHON`,
    /// else `python3`). The error says which is missing, for a test's skip reason.
    pub fn detect() -> Result<Renderers, String> {
        let kubectl = PathBuf::from("kubectl");
        let kustomize_ok = Command::new(&kubectl)
            .args(["kustomize", "--help"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        if !kustomize_ok {
            return Err("kubectl (with its embedded kustomize) is not on PATH".into());
        }
        let python = std::env::var_os("NEUROSCALE_PYTHON")
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from("python3"));
        let helm_ok = Command::new(&python)
            .args(["-c", "import helm_python"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        if !helm_ok {
            return Err(format!(
                "{} cannot import helm_python (pip install helm-python-sdk; set NEUROSCALE_PYTHON)",
                python.display()
            ));
        }
        let cache_dir = std::env::var_os("NEUROSCALE_SIM_RENDER_CACHE")
            .map(PathBuf::from)
            .unwrap_or_else(|| std::env::temp_dir().join("neuroscale-sim-render-cache"));
        Ok(Renderers {
            kubectl,
            python,
            cache_dir,
        })
    }

    /// Renders `source` (an Application's `spec.source`) from the checked-out repository at
    /// `checkout`, for Application `app` deploying into `namespace`. `cache_key` names the
    /// content the output depends on (the caller's git tree ids); `None` renders uncached.
    pub fn render(
        &self,
        checkout: &Path,
        source: &Value,
        app: &str,
        namespace: &str,
        cache_key: Option<&str>,
    ) -> Result<Vec<Value>, RenderError> {
        let key = cache_key.map(|k| {
            let mut hash = Sha256::new();
            hash.update(k.as_bytes());
            hash.update(source.to_string().as_bytes());
            hash.update(app.as_bytes());
            hash.update(namespace.as_bytes());
            hash.update(KUBE_VERSION.as_bytes());
            format!("{:x}", hash.finalize())
        });
        if let Some(objects) = key.as_deref().and_then(|k| self.cached(k)) {
            return Ok(objects);
        }
        let path = source.get("path").and_then(Value::as_str).unwrap_or(".");
        let dir = checkout.join(path);
        if !dir.is_dir() {
            return Err(RenderError::NoPath {
                path: path.to_string(),
            });
        }
        let objects = match source_type(&dir, source) {
            SourceType::Helm => self.helm(&dir, source, app, namespace)?,
            SourceType::Kustomize => self.kustomize(&dir, path)?,
            SourceType::Directory => directory(&dir, source)?,
        };
        if let Some(k) = key.as_deref() {
            self.store(k, &objects);
        }
        Ok(objects)
    }

    fn cached(&self, key: &str) -> Option<Vec<Value>> {
        let text = std::fs::read(self.cache_dir.join(format!("{key}.json"))).ok()?;
        serde_json::from_slice(&text).ok()
    }

    fn store(&self, key: &str, objects: &[Value]) {
        if std::fs::create_dir_all(&self.cache_dir).is_err() {
            return;
        }
        let target = self.cache_dir.join(format!("{key}.json"));
        let Ok(temp) = tempfile::NamedTempFile::new_in(&self.cache_dir) else {
            return;
        };
        if serde_json::to_writer(&temp, objects).is_ok() {
            let _ = temp.persist(target);
        }
    }

    fn kustomize(&self, dir: &Path, path: &str) -> Result<Vec<Value>, RenderError> {
        let output = Command::new(&self.kubectl)
            .arg("kustomize")
            .arg(dir)
            .output()
            .map_err(|e| RenderError::Unavailable(format!("cannot run kubectl kustomize: {e}")))?;
        if !output.status.success() {
            return Err(RenderError::Kustomize {
                path: path.to_string(),
                message: kustomize_message(&String::from_utf8_lossy(&output.stderr)),
            });
        }
        parse_yaml(&String::from_utf8_lossy(&output.stdout), path)
    }

    fn helm(
        &self,
        dir: &Path,
        source: &Value,
        app: &str,
        namespace: &str,
    ) -> Result<Vec<Value>, RenderError> {
        let helm = source.get("helm").cloned().unwrap_or(json!({}));
        let release = helm
            .get("releaseName")
            .and_then(Value::as_str)
            .unwrap_or(app)
            .to_string();
        let error = |message: String| RenderError::Helm {
            release: release.clone(),
            namespace: namespace.to_string(),
            message,
        };
        let values = helm_values(&helm).map_err(error)?;
        let request = json!({"chart": dir, "release": release, "namespace": namespace,
                             "kube_version": KUBE_VERSION, "values": values});
        let mut child = Command::new(&self.python)
            .args(["-c", HELM_TEMPLATE_PY])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| RenderError::Unavailable(format!("cannot run the Helm SDK: {e}")))?;
        {
            use std::io::Write;
            let mut stdin = child.stdin.take().expect("piped stdin");
            stdin
                .write_all(request.to_string().as_bytes())
                .map_err(|e| RenderError::Unavailable(format!("the Helm SDK: {e}")))?;
        }
        let output = child
            .wait_with_output()
            .map_err(|e| RenderError::Unavailable(format!("the Helm SDK: {e}")))?;
        let answer: Value = serde_json::from_slice(&output.stdout).map_err(|_| {
            RenderError::Unavailable(format!(
                "the Helm SDK failed: {}",
                String::from_utf8_lossy(&output.stderr).trim()
            ))
        })?;
        if let Some(message) = answer.get("error").and_then(Value::as_str) {
            return Err(error(message.to_string()));
        }
        let mut objects = Vec::new();
        for crd in answer["crds"].as_array().into_iter().flatten() {
            objects.extend(parse_yaml(crd.as_str().unwrap_or(""), "crds")?);
        }
        let mut templates: Vec<(&String, &Value)> = answer["templates"]
            .as_object()
            .into_iter()
            .flatten()
            .filter(|(name, _)| !name.ends_with("NOTES.txt"))
            .collect();
        templates.sort_by_key(|(name, _)| name.as_str());
        for (name, text) in templates {
            for object in parse_yaml(text.as_str().unwrap_or(""), name)? {
                let hook = object
                    .pointer("/metadata/annotations/helm.sh~1hook")
                    .and_then(Value::as_str)
                    .unwrap_or("");
                // `helm template --skip-tests`: ArgoCD ignores Helm test hooks.
                if hook.split(',').any(|h| h.trim().starts_with("test")) {
                    continue;
                }
                objects.push(object);
            }
        }
        Ok(objects)
    }
}

#[derive(Debug, PartialEq, Eq)]
enum SourceType {
    Helm,
    Kustomize,
    Directory,
}

fn source_type(dir: &Path, source: &Value) -> SourceType {
    if source.get("helm").is_some() || dir.join("Chart.yaml").is_file() {
        SourceType::Helm
    } else if source.get("kustomize").is_some()
        || ["kustomization.yaml", "kustomization.yml", "Kustomization"]
            .iter()
            .any(|f| dir.join(f).is_file())
    {
        SourceType::Kustomize
    } else {
        SourceType::Directory
    }
}

/// `helm.values` (a YAML string) with `helm.valuesObject` merged over it, then
/// `helm.parameters` (`--set name=value`), the precedence ArgoCD documents
/// (docs/user-guide/helm.md).
fn helm_values(helm: &Value) -> Result<Value, String> {
    let mut values = match helm.get("values").and_then(Value::as_str) {
        Some(text) if !text.trim().is_empty() => {
            let parsed: serde_yaml::Value =
                serde_yaml::from_str(text).map_err(|e| format!("helm.values: {e}"))?;
            serde_json::to_value(parsed).map_err(|e| e.to_string())?
        }
        _ => json!({}),
    };
    if let Some(object) = helm.get("valuesObject") {
        merge(&mut values, object);
    }
    for parameter in helm
        .get("parameters")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let name = parameter.get("name").and_then(Value::as_str).unwrap_or("");
        let value = parameter.get("value").cloned().unwrap_or(Value::Null);
        let mut slot = &mut values;
        for part in name.split('.') {
            if !slot.is_object() {
                *slot = json!({});
            }
            slot = slot
                .as_object_mut()
                .expect("made an object")
                .entry(part.to_string())
                .or_insert(Value::Null);
        }
        *slot = value;
    }
    Ok(values)
}

fn merge(base: &mut Value, over: &Value) {
    match (base.as_object_mut(), over.as_object()) {
        (Some(base), Some(over)) => {
            for (key, value) in over {
                merge(base.entry(key.clone()).or_insert(Value::Null), value);
            }
        }
        _ => *base = over.clone(),
    }
}

/// kustomize prints `Error: <message>`; kubectl wraps it in a klog line. Keep the message.
fn kustomize_message(stderr: &str) -> String {
    let text = stderr.trim();
    if let Some(start) = text.find("err=\"") {
        let rest = &text[start + 5..];
        return rest.strip_suffix('"').unwrap_or(rest).replace("\\\"", "\"");
    }
    text.strip_prefix("error: ")
        .or_else(|| text.strip_prefix("Error: "))
        .unwrap_or(text)
        .to_string()
}

/// A directory source: every `.yaml`/`.yml`/`.json` file, recursing only with
/// `directory.recurse` (argo-cd reposerver `findManifests`).
fn directory(dir: &Path, source: &Value) -> Result<Vec<Value>, RenderError> {
    let recurse = source
        .pointer("/directory/recurse")
        .and_then(Value::as_bool)
        .unwrap_or(false);
    let mut files = Vec::new();
    collect_files(dir, recurse, &mut files);
    files.sort();
    let mut objects = Vec::new();
    for file in files {
        let text = std::fs::read_to_string(&file).map_err(|e| RenderError::Yaml {
            file: file.display().to_string(),
            message: e.to_string(),
        })?;
        let name = file
            .strip_prefix(dir)
            .unwrap_or(&file)
            .display()
            .to_string();
        objects.extend(parse_yaml(&text, &name)?);
    }
    Ok(objects)
}

fn collect_files(dir: &Path, recurse: bool, files: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            if recurse {
                collect_files(&path, recurse, files);
            }
        } else if path
            .extension()
            .is_some_and(|e| e == "yaml" || e == "yml" || e == "json")
        {
            files.push(path);
        }
    }
}

/// Every object in a multi-document YAML text (empty documents and `null`s dropped; `List`
/// kinds flattened as kubectl does).
pub fn parse_yaml(text: &str, file: &str) -> Result<Vec<Value>, RenderError> {
    let mut objects = Vec::new();
    for document in serde_yaml::Deserializer::from_str(text) {
        let value = serde_yaml::Value::deserialize(document).map_err(|e| RenderError::Yaml {
            file: file.to_string(),
            message: e.to_string(),
        })?;
        let json = serde_json::to_value(value).map_err(|e| RenderError::Yaml {
            file: file.to_string(),
            message: e.to_string(),
        })?;
        match json.get("kind").and_then(Value::as_str) {
            Some(kind) if kind.ends_with("List") && json.get("items").is_some() => {
                objects.extend(json["items"].as_array().cloned().unwrap_or_default());
            }
            Some(_) => objects.push(json),
            None => {}
        }
    }
    Ok(objects)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_object_wins_over_values_and_parameters_win_over_both() {
        let helm = json!({"values": "a: 1\nb: {c: 1, d: 1}\n", "valuesObject": {"b": {"c": 2}},
                          "parameters": [{"name": "b.d", "value": "3"}]});
        assert_eq!(
            helm_values(&helm).unwrap(),
            json!({"a": 1, "b": {"c": 2, "d": "3"}})
        );
    }

    #[test]
    fn kustomize_messages_are_unwrapped_from_kubectl_logging() {
        let stderr = "E1203 15:18:53.242784    5837 run.go:72] \"command failed\" err=\"accumulating resources: may not add resource with an already registered id: CustomResourceDefinition.v1.apiextensions.k8s.io/images.caching.internal.knative.dev.[noNs]\"\n";
        assert_eq!(
            kustomize_message(stderr),
            "accumulating resources: may not add resource with an already registered id: CustomResourceDefinition.v1.apiextensions.k8s.io/images.caching.internal.knative.dev.[noNs]"
        );
        assert_eq!(kustomize_message("Error: boom\n"), "boom");
    }

    #[test]
    fn lists_are_flattened_and_empty_documents_dropped() {
        let text = "---\n---\napiVersion: v1\nkind: List\nitems:\n- {apiVersion: v1, kind: ConfigMap, metadata: {name: a}}\n---\napiVersion: v1\nkind: Secret\nmetadata: {name: b}\n";
        let objects = parse_yaml(text, "x.yaml").unwrap();
        let kinds: Vec<&str> = objects
            .iter()
            .map(|o| o["kind"].as_str().unwrap())
            .collect();
        assert_eq!(kinds, ["ConfigMap", "Secret"]);
    }

    #[test]
    fn the_source_type_is_chosen_as_argocd_chooses_it() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(source_type(dir.path(), &json!({})), SourceType::Directory);
        std::fs::write(dir.path().join("kustomization.yaml"), "resources: []\n").unwrap();
        assert_eq!(source_type(dir.path(), &json!({})), SourceType::Kustomize);
        assert_eq!(
            source_type(dir.path(), &json!({"helm": {}})),
            SourceType::Helm
        );
    }
}
