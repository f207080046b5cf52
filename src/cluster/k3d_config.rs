//! The k3d cluster configs in `k3d/` (k3d.io/v1alpha5 `Simple`): loading and the checks that
//! matter to the platform (pinned k3s image new enough for Knative, traefik disabled, the
//! Kourier port mapped). The full upstream schema is checked in the test suite.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::yaml::{self, YamlError};

pub const API_VERSION: &str = "k3d.io/v1alpha5";
/// The default config path, relative to the project root.
pub const DEFAULT_PATH: &str = "k3d/cluster.yaml";
/// The default config, built into the binary so every command works from any directory.
pub const BUILTIN_DEFAULT: &str = include_str!("../../k3d/cluster.yaml");
/// The GPU cluster config (`k3d/gpu.yaml`), built into the binary (`--gpu`).
pub const BUILTIN_GPU: &str = include_str!("../../k3d/gpu.yaml");
/// The GPU cluster config's path in the project.
pub const GPU_PATH: &str = "k3d/gpu.yaml";

/// Which k3d config a command uses: a file the user named with `--config`, or one of the two
/// the binary carries (`k3d/cluster.yaml`, or `k3d/gpu.yaml` with `--gpu`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConfigSource {
    File(PathBuf),
    BuiltIn { gpu: bool },
}

impl ConfigSource {
    /// `--config FILE` when given, else the built-in config (the GPU one with `--gpu`).
    pub fn from_flags(config: Option<PathBuf>, gpu: bool) -> ConfigSource {
        match config {
            Some(path) => ConfigSource::File(path),
            None => ConfigSource::BuiltIn { gpu },
        }
    }

    /// Reads and validates the config; a built-in one is named "k3d/<file> (built in)".
    pub fn load(&self) -> Result<K3dConfig, YamlError> {
        match self {
            ConfigSource::File(path) => K3dConfig::load(path),
            ConfigSource::BuiltIn { gpu } => {
                let (path, text) = if *gpu {
                    (GPU_PATH, BUILTIN_GPU)
                } else {
                    (DEFAULT_PATH, BUILTIN_DEFAULT)
                };
                K3dConfig::parse(Path::new(&crate::bundled::display_name(path)), text)
            }
        }
    }
}
pub const KIND: &str = "Simple";
/// Knative Serving 1.23 refuses Kubernetes below this.
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
    /// Host ports k3d publishes (the Kubernetes API and `ports`), which preflight checks are free.
    pub host_ports: Vec<HostPort>,
    /// `options.kubeconfig.updateDefaultKubeconfig` (k3d's default: true).
    pub update_default_kubeconfig: bool,
    /// `options.kubeconfig.switchCurrentContext` (k3d's default: true).
    pub switch_current_context: bool,
    /// `options.runtime.gpuRequest` (`all` or a count), when the cluster asks Docker for GPUs.
    pub gpu_request: Option<String>,
    pub raw: Value,
}

/// A host port a k3d config publishes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostPort {
    /// The host address it binds (k3d's default is 0.0.0.0).
    pub host_ip: String,
    pub port: u16,
    pub protocol: Protocol,
    /// The config field that asks for it, for error messages.
    pub field: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protocol {
    Tcp,
    Udp,
}

/// k3d's bind address when a port spec names none (pkg/types/defaults.go DefaultAPIHost).
const DEFAULT_HOST_IP: &str = "0.0.0.0";

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
                format!(
                    "traefik must be disabled (`--disable=traefik` on server:*): it intercepts Kourier's traffic (code {})",
                    crate::failures::FailureCode::TraefikEnabled.reference()
                ),
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
        let host_ports = host_ports(&raw).map_err(|(f, m)| field(&f, m))?;
        let kubeconfig_flag = |key: &str| {
            raw.pointer(&format!("/options/kubeconfig/{key}"))
                .and_then(Value::as_bool)
                .unwrap_or(true)
        };
        let gpu_request = raw
            .pointer("/options/runtime/gpuRequest")
            .and_then(|v| match v {
                Value::String(s) if !s.is_empty() => Some(s.clone()),
                Value::Number(n) => Some(n.to_string()),
                _ => None,
            });
        Ok(K3dConfig {
            path: path.to_path_buf(),
            name,
            image,
            agents,
            ingress_host_port,
            registries,
            host_ports,
            update_default_kubeconfig: kubeconfig_flag("updateDefaultKubeconfig"),
            switch_current_context: kubeconfig_flag("switchCurrentContext"),
            gpu_request,
            raw,
        })
    }

    /// The kube context k3d writes for this cluster.
    pub fn context(&self) -> String {
        format!("k3d-{}", self.name)
    }

    /// The mirrors of `registries.config` (a k3s registries.yaml): upstream host -> endpoints.
    pub fn mirrors(&self) -> Result<BTreeMap<String, Vec<String>>, YamlError> {
        let Some(text) = self
            .raw
            .pointer("/registries/config")
            .and_then(Value::as_str)
        else {
            return Ok(BTreeMap::new());
        };
        let registries: RegistriesYaml = yaml::parse(&self.path, text).map_err(|err| {
            YamlError::field(
                &self.path,
                "registries.config",
                format!("not a k3s registries.yaml: {err}"),
            )
        })?;
        Ok(registries
            .mirrors
            .into_iter()
            .map(|(host, mirror)| (host, mirror.endpoint))
            .collect())
    }
}

/// The part of k3s's registries.yaml neuroscale reads (k3s docs "Private Registry
/// Configuration": `mirrors.<host>.endpoint`; `configs` and `rewrite` are left to k3s).
#[derive(Debug, serde::Deserialize)]
struct RegistriesYaml {
    #[serde(default)]
    mirrors: BTreeMap<String, MirrorYaml>,
}

#[derive(Debug, serde::Deserialize)]
struct MirrorYaml {
    #[serde(default)]
    endpoint: Vec<String>,
}

/// The host ports of `kubeAPI` and `ports` (k3d docs/usage/configfile.md; port specs are
/// `[HOST:][HOSTPORT:]CONTAINERPORT[/PROTOCOL]`, HOSTPORT possibly a range `a-b`). A spec without
/// a host port gets a random one from Docker, so there is nothing to check for it.
fn host_ports(raw: &Value) -> Result<Vec<HostPort>, (String, String)> {
    let mut found = Vec::new();
    if let Some(api) = raw.get("kubeAPI") {
        let host_ip = api
            .get("hostIP")
            .and_then(Value::as_str)
            .unwrap_or(DEFAULT_HOST_IP);
        let port = match api.get("hostPort") {
            Some(Value::String(p)) => Some(p.trim().to_string()),
            Some(Value::Number(n)) => Some(n.to_string()),
            _ => None,
        };
        if let Some(port) = port.filter(|p| !p.is_empty()) {
            let port = port.parse::<u16>().map_err(|_| {
                (
                    "kubeAPI.hostPort".to_string(),
                    format!("`{port}` is not a port number"),
                )
            })?;
            found.push(HostPort {
                host_ip: host_ip.to_string(),
                port,
                protocol: Protocol::Tcp,
                field: "kubeAPI.hostPort".into(),
            });
        }
    }
    let specs = raw
        .get("ports")
        .and_then(Value::as_array)
        .into_iter()
        .flatten();
    for (index, entry) in specs.enumerate() {
        let field = format!("ports[{index}].port");
        let Some(spec) = entry.get("port").and_then(Value::as_str) else {
            continue;
        };
        let bad = |why: &str| (field.clone(), format!("`{spec}`: {why}"));
        let (mapping, protocol) = match spec.rsplit_once('/') {
            Some((mapping, "tcp")) => (mapping, Protocol::Tcp),
            Some((mapping, "udp")) => (mapping, Protocol::Udp),
            Some(_) => return Err(bad("the protocol must be tcp or udp")),
            None => (spec, Protocol::Tcp),
        };
        let parts: Vec<&str> = mapping.split(':').collect();
        let (host_ip, host_port) = match parts.as_slice() {
            [_container] => continue,
            [host_port, _container] => (DEFAULT_HOST_IP, *host_port),
            [host_ip, host_port, _container] => (*host_ip, *host_port),
            _ => return Err(bad("expected [HOST:][HOSTPORT:]CONTAINERPORT[/PROTOCOL]")),
        };
        if host_port.is_empty() {
            continue;
        }
        let (first, last) = match host_port.split_once('-') {
            Some((a, b)) => (a, b),
            None => (host_port, host_port),
        };
        let (Ok(first), Ok(last)) = (first.parse::<u16>(), last.parse::<u16>()) else {
            return Err(bad("the host port is not a number or range"));
        };
        if first > last {
            return Err(bad("the host port range is reversed"));
        }
        for port in first..=last {
            found.push(HostPort {
                host_ip: host_ip.to_string(),
                port,
                protocol,
                field: field.clone(),
            });
        }
    }
    Ok(found)
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
            err.contains("options.k3s.extraArgs")
                && err.contains("traefik")
                && err.contains("(code NS304 (docs/failures.md#ns304))"),
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

    #[test]
    fn host_ports_cover_the_api_and_the_port_mappings() {
        let (path, text) = shipped("cluster.yaml");
        let config = K3dConfig::parse(&path, &text).unwrap();
        let ports: Vec<(&str, u16, &str)> = config
            .host_ports
            .iter()
            .map(|p| (p.host_ip.as_str(), p.port, p.field.as_str()))
            .collect();
        assert_eq!(
            ports,
            vec![
                ("127.0.0.1", 6550, "kubeAPI.hostPort"),
                ("127.0.0.1", 8081, "ports[0].port")
            ]
        );
    }

    #[test]
    fn port_specs_without_host_ip_ranges_and_udp_are_read() {
        let (_, text) = shipped("cluster.yaml");
        let text = text.replace(
            "  - port: 127.0.0.1:8081:80\n",
            "  - port: 9000-9001:90/udp\n    nodeFilters: [loadbalancer]\n  - port: \"443\"\n    nodeFilters: [loadbalancer]\n  - port: 127.0.0.1:8081:80\n",
        );
        let config = K3dConfig::parse(Path::new("k3d/x.yaml"), &text).unwrap();
        let udp: Vec<(&str, u16)> = config
            .host_ports
            .iter()
            .filter(|p| p.protocol == Protocol::Udp)
            .map(|p| (p.host_ip.as_str(), p.port))
            .collect();
        assert_eq!(udp, vec![("0.0.0.0", 9000), ("0.0.0.0", 9001)]);
        assert!(
            !config.host_ports.iter().any(|p| p.port == 443),
            "a container-only port has no host port"
        );
    }

    #[test]
    fn a_bad_port_spec_names_the_field() {
        let (_, text) = shipped("cluster.yaml");
        let err = reject(&text.replace("127.0.0.1:8081:80", "127.0.0.1:http:80"));
        assert!(err.contains("ports[0].port"), "{err}");
        let err = reject(&text.replace("hostPort: \"6550\"", "hostPort: \"65x\""));
        assert!(err.contains("kubeAPI.hostPort"), "{err}");
    }

    #[test]
    fn mirrors_and_kubeconfig_options_are_read() {
        let (path, text) = shipped("gpu.yaml");
        let config = K3dConfig::parse(&path, &text).unwrap();
        let mirrors = config.mirrors().unwrap();
        assert_eq!(
            mirrors["nvcr.io"],
            vec!["http://k3d-neuroscale-cache-nvcr:5000".to_string()]
        );
        assert_eq!(mirrors.len(), 8);
        assert_eq!(config.gpu_request.as_deref(), Some("all"));
        assert!(config.update_default_kubeconfig);
        let text = text.replace("switchCurrentContext: true", "switchCurrentContext: false");
        let config = K3dConfig::parse(&path, &text).unwrap();
        assert!(!config.switch_current_context);
    }

    #[test]
    fn the_gpu_config_taints_the_node_it_labels_as_the_gpu_node() {
        let (path, text) = shipped("gpu.yaml");
        let config = K3dConfig::parse(&path, &text).unwrap();
        let filters = |list: &str, key: &str, wanted: &str| -> Vec<serde_json::Value> {
            config.raw["options"]["k3s"][list]
                .as_array()
                .unwrap()
                .iter()
                .filter(|entry| entry[key].as_str().is_some_and(|v| v.starts_with(wanted)))
                .map(|entry| entry["nodeFilters"].clone())
                .collect()
        };
        let labelled = filters("nodeLabels", "label", "neuroscale.dev/gpu-node=true");
        let tainted = filters("extraArgs", "arg", "--node-taint=nvidia.com/gpu=");
        assert_eq!(labelled.len(), 1);
        assert_eq!(
            tainted, labelled,
            "the GPU node is tainted, not only labelled"
        );
        let model = std::fs::read_to_string(
            Path::new(env!("CARGO_MANIFEST_DIR")).join(crate::gitops::GPU_MODEL_FILE),
        )
        .unwrap();
        assert!(
            model.contains("key: nvidia.com/gpu") && model.contains("effect: NoSchedule"),
            "the GPU model tolerates the taint"
        );
    }

    #[test]
    fn a_malformed_registries_config_names_the_field() {
        let (_, text) = shipped("cluster.yaml");
        let text = text.replace("    mirrors:\n", "    mirrors: [\n");
        let config = K3dConfig::parse(Path::new("k3d/x.yaml"), &text).unwrap();
        let err = config.mirrors().unwrap_err().to_string();
        assert!(err.contains("registries.config"), "{err}");
    }

    #[test]
    fn the_builtin_default_is_the_shipped_cluster_config() {
        let (_, text) = shipped("cluster.yaml");
        assert_eq!(BUILTIN_DEFAULT, text);
        assert_eq!(BUILTIN_GPU, shipped("gpu.yaml").1);
    }

    #[test]
    fn a_built_in_config_says_so_and_a_named_file_is_read() {
        let cpu = ConfigSource::from_flags(None, false).load().unwrap();
        assert_eq!(cpu.path, PathBuf::from("k3d/cluster.yaml (built in)"));
        assert_eq!(cpu.name, "neuroscale");
        let gpu = ConfigSource::from_flags(None, true).load().unwrap();
        assert_eq!(gpu.path, PathBuf::from("k3d/gpu.yaml (built in)"));
        assert_eq!(gpu.name, "neuroscale-gpu");
        let missing = ConfigSource::from_flags(Some("no/such.yaml".into()), true)
            .load()
            .unwrap_err();
        assert!(missing.to_string().contains("no/such.yaml"), "{missing}");
    }
}
