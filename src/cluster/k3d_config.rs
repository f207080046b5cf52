//! The k3d cluster configs in `k3d/` (k3d.io/v1alpha5 `Simple`): loading and the checks that
//! matter to the platform (pinned k3s image new enough for Knative, traefik disabled, the
//! Kourier port mapped). The full upstream schema is checked in the test suite.

use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::yaml::{self, YamlError};

pub const API_VERSION: &str = "k3d.io/v1alpha5";
pub const KIND: &str = "Simple";
/// Knative Serving 1.23 refuses Kubernetes below this (UPSTREAM.md §0).
pub const MIN_KUBERNETES: (u32, u32) = (1, 34);

/// Top-level keys of the v1alpha5 Simple config (pkg/config/v1alpha5/types.go SimpleConfig).
const KNOWN_KEYS: &[&str] = &[
    "apiVersion",
    "kind",
    "metadata",
    "servers",
    "agents",
    "kubeAPI",
    "image",
    "network",
    "subnet",
    "token",
    "volumes",
    "ports",
    "env",
    "files",
    "registries",
    "hostAliases",
    "options",
];

/// A validated k3d config.
#[derive(Debug, Clone)]
pub struct K3dConfig {
    pub path: PathBuf,
    pub name: String,
    pub image: String,
    pub agents: u64,
    /// The host port mapped to the load balancer's port 80 (the Kourier gateway), if any.
    pub ingress_host_port: Option<u16>,
    /// Registries named in `registries.use` (created by `up` before the cluster).
    pub registries: Vec<String>,
    pub raw: Value,
}

impl K3dConfig {
    pub fn load(path: &Path) -> Result<K3dConfig, YamlError> {
        let text = std::fs::read_to_string(path).map_err(|source| YamlError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        Self::parse(path, &text)
    }

    pub fn parse(path: &Path, text: &str) -> Result<K3dConfig, YamlError> {
        let raw: Value = yaml::parse(path, text)?;
        let field = |f: &str, m: String| YamlError::field(path, f, m);
        let Some(map) = raw.as_object() else {
            return Err(YamlError::Invalid {
                path: path.to_path_buf(),
                message: "expected a mapping at the top level".into(),
            });
        };
        if let Some(key) = map.keys().find(|k| !KNOWN_KEYS.contains(&k.as_str())) {
            return Err(field(
                key,
                format!("unknown field `{key}` in a k3d {KIND} config"),
            ));
        }
        let text_at = |pointer: &str| raw.pointer(pointer).and_then(Value::as_str);
        if text_at("/apiVersion") != Some(API_VERSION) {
            return Err(field("apiVersion", format!("expected `{API_VERSION}`")));
        }
        if text_at("/kind") != Some(KIND) {
            return Err(field("kind", format!("expected `{KIND}`")));
        }
        let name = text_at("/metadata/name")
            .ok_or_else(|| field("metadata.name", "the cluster name is required".into()))?
            .to_string();
        if !crate::scenario::is_dns1123_label(&name) || name.len() > 32 {
            return Err(field(
                "metadata.name",
                format!("`{name}` must be a DNS-1123 label of at most 32 characters (k3d's limit)"),
            ));
        }
        let image = text_at("/image")
            .ok_or_else(|| {
                field(
                    "image",
                    "pin the k3s image (k3d's default is too old for Knative 1.23)".into(),
                )
            })?
            .to_string();
        check_k3s_version(&image).map_err(|m| field("image", m))?;
        let agents = raw.get("agents").and_then(Value::as_u64).unwrap_or(0);
        let traefik_disabled = raw
            .pointer("/options/k3s/extraArgs")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .any(|a| {
                a.get("arg").and_then(Value::as_str).map(str::trim) == Some("--disable=traefik")
            });
        if !traefik_disabled {
            return Err(field(
                "options.k3s.extraArgs",
                "traefik must be disabled (`--disable=traefik` on server:*): it intercepts Kourier's traffic".into(),
            ));
        }
        let ingress_host_port = raw
            .get("ports")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(|p| p.get("port").and_then(Value::as_str))
            .find_map(|spec| {
                let parts: Vec<&str> = spec.split(':').collect();
                (parts.len() >= 2 && parts[parts.len() - 1] == "80")
                    .then(|| parts[parts.len() - 2].parse::<u16>().ok())
                    .flatten()
            });
        let registries = raw
            .pointer("/registries/use")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .map(str::to_string)
            .collect();
        Ok(K3dConfig {
            path: path.to_path_buf(),
            name,
            image,
            agents,
            ingress_host_port,
            registries,
            raw,
        })
    }

    /// The kube context k3d writes for this cluster.
    pub fn context(&self) -> String {
        format!("k3d-{}", self.name)
    }
}

/// Accepts `rancher/k3s:v1.34.8-k3s1`-style tags at or above the minimum; an image that is not
/// a k3s tag (a locally built CUDA image, an env-var reference) is accepted as is.
fn check_k3s_version(image: &str) -> Result<(), String> {
    if image.ends_with(":latest") || !image.contains(':') {
        return Err(format!(
            "`{image}` is not pinned: use a versioned tag such as rancher/k3s:v1.34.8-k3s1"
        ));
    }
    let Some(tag) = image.strip_prefix("rancher/k3s:") else {
        return Ok(());
    };
    let version = tag.trim_start_matches('v');
    let mut parts = version.split(['.', '-', '+']);
    let major: Option<u32> = parts.next().and_then(|p| p.parse().ok());
    let minor: Option<u32> = parts.next().and_then(|p| p.parse().ok());
    match (major, minor) {
        (Some(major), Some(minor)) if (major, minor) >= MIN_KUBERNETES => Ok(()),
        (Some(major), Some(minor)) => Err(format!(
            "k3s {major}.{minor} is too old: Knative Serving 1.23 needs Kubernetes >= {}.{}",
            MIN_KUBERNETES.0, MIN_KUBERNETES.1
        )),
        _ => Err(format!("cannot read a Kubernetes version from `{image}`")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shipped(name: &str) -> (PathBuf, String) {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("k3d").join(name);
        let text = std::fs::read_to_string(&path).unwrap();
        (path, text)
    }

    #[test]
    fn the_shipped_configs_are_valid() {
        let (path, text) = shipped("cluster.yaml");
        let config = K3dConfig::parse(&path, &text).unwrap();
        assert_eq!(config.context(), "k3d-neuroscale");
        assert_eq!(config.ingress_host_port, Some(8081));
        assert!(config.agents >= 2, "F3 needs an agent to be the GPU node");
        let (path, text) = shipped("gpu.yaml");
        K3dConfig::parse(&path, &text).unwrap();
    }

    fn reject(text: &str) -> String {
        K3dConfig::parse(Path::new("k3d/bad.yaml"), text)
            .expect_err("must be rejected")
            .to_string()
    }

    #[test]
    fn traefik_left_enabled_is_rejected() {
        let (_, text) = shipped("cluster.yaml");
        let err = reject(&text.replace("--disable=traefik", "--disable=metrics-server"));
        assert!(
            err.contains("options.k3s.extraArgs") && err.contains("traefik"),
            "{err}"
        );
    }

    #[test]
    fn an_old_k3s_image_is_rejected() {
        let (_, text) = shipped("cluster.yaml");
        let err = reject(&text.replace("v1.34.8-k3s1", "v1.32.5-k3s1"));
        assert!(
            err.contains("field `image`") && err.contains("too old"),
            "{err}"
        );
    }

    #[test]
    fn an_unpinned_image_is_rejected() {
        let (_, text) = shipped("cluster.yaml");
        let err = reject(&text.replace("rancher/k3s:v1.34.8-k3s1", "rancher/k3s:latest"));
        assert!(err.contains("not pinned"), "{err}");
    }

    #[test]
    fn a_wrong_api_version_or_unknown_key_is_rejected() {
        let (_, text) = shipped("cluster.yaml");
        assert!(reject(&text.replace("v1alpha5", "v1alpha4")).contains("apiVersion"));
        assert!(reject(&format!("{text}\nworkers: 3\n")).contains("unknown field `workers`"));
    }

    #[test]
    fn malformed_yaml_names_the_file() {
        let err = reject("apiVersion: [unclosed");
        assert!(err.starts_with("k3d/bad.yaml"), "{err}");
    }

    #[test]
    fn a_long_cluster_name_is_rejected() {
        let (_, text) = shipped("cluster.yaml");
        let err = reject(&text.replace("name: neuroscale", &format!("name: {}", "n".repeat(33))));
        assert!(err.contains("metadata.name"), "{err}");
    }
}
