//! The persistent pull-through image cache: one k3d-managed registry per upstream registry the
//! platform pulls from (`registry:2` in proxy mode can mirror exactly one remote), created with
//! `k3d registry create --proxy-remote-url` outside any cluster, so `k3d cluster delete` leaves
//! it alone and a second `up` after `down` pulls only what the cache does not hold yet.
//!
//! Why k3d-managed registries rather than plain `registry:2` containers: the cluster config's
//! `registries.use` only accepts registries k3d can find by its labels, and k3d then connects
//! them to the cluster network itself. Each registry keeps its blobs in a Docker named volume
//! (`<container>-data`), so even a registry container recreated by a newer k3d finds them
//! again; `down --purge` removes containers and volumes. The host port is bound to 127.0.0.1
//! only, so the cache is not offered to the local network.
//!
//! What is cached is decided by the config, the one source of truth: each `registries.use`
//! entry must be the endpoint of exactly one mirror in `registries.config`, whose host is the
//! remote it proxies (`docker.io` is served by `registry-1.docker.io`, as in k3d's defaults).
//! An existing registry of the same name is reused (started if stopped) unless its listed
//! environment shows it proxies another remote, which is refused rather than silently used.
//! The caches pull anonymously: no registry credentials are passed (they would show on k3d's
//! command line).

use bollard::Docker;
use futures::future::try_join_all;

use super::k3d::{K3d, K3dError, Proxy, RegistrySpec};
use super::k3d_config::K3dConfig;
use super::ErrorClass;
use crate::yaml::YamlError;

/// Where registry:2 listens inside its container (k3d's DefaultRegistryPort).
pub const REGISTRY_PORT: u16 = 5000;
/// The Docker Hub API host behind `docker.io` (k3d pkg/types/registry.go DefaultDockerHubAddress).
const DOCKER_HUB: &str = "registry-1.docker.io";

#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    #[error(transparent)]
    Config(#[from] YamlError),
    #[error("{}: field `registries.use`: `{entry}` {problem}", config.display())]
    BadEntry {
        config: std::path::PathBuf,
        entry: String,
        problem: String,
    },
    #[error(transparent)]
    K3d(#[from] K3dError),
    #[error(
        "the registry `{container}` exists but {found} while the config wants a cache of {wanted}; \
         remove it (`neuroscale down --purge`, or `k3d registry delete {container}`) and run again"
    )]
    WrongRemote {
        container: String,
        found: String,
        wanted: String,
    },
    #[error(
        "the image cache registry `{container}` is not running after `up` created or started it; \
         `docker logs {container}` says why"
    )]
    NotRunning { container: String },
    #[error("cannot remove the image cache volume `{volume}`: {source}; remove it with `docker volume rm {volume}`")]
    Volume {
        volume: String,
        #[source]
        source: bollard::errors::Error,
    },
}

impl RegistryError {
    pub fn class(&self) -> ErrorClass {
        match self {
            RegistryError::Config(_) | RegistryError::BadEntry { .. } => ErrorClass::BadInput,
            RegistryError::K3d(err) => err.class(),
            RegistryError::NotRunning { .. }
            | RegistryError::Volume { .. }
            | RegistryError::WrongRemote { .. } => ErrorClass::Environment,
        }
    }
}

/// One cache registry as the config asks for it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CacheRegistry {
    /// The container (and in-cluster host) name, e.g. `k3d-neuroscale-cache-docker`.
    pub container: String,
    /// The registry host it mirrors, e.g. `docker.io`.
    pub upstream: String,
    pub remote_url: String,
    /// The Docker named volume holding its blobs.
    pub volume: String,
}

impl CacheRegistry {
    /// How `k3d registry create` is asked for it (k3d adds the `k3d-` prefix itself).
    pub fn spec(&self) -> RegistrySpec {
        RegistrySpec {
            name: self
                .container
                .strip_prefix("k3d-")
                .unwrap_or(&self.container)
                .to_string(),
            host_port: "127.0.0.1:random".into(),
            proxy_remote_url: self.remote_url.clone(),
            volume: self.volume.clone(),
        }
    }
}

/// What `ensure_cache` did to one registry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CacheAction {
    Created,
    Started,
    Reused,
}

/// What `remove_cache` did to one registry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Removal {
    Removed,
    Absent,
}

/// The cache registries `config` uses, read from `registries.use` and `registries.config`.
pub fn plan(config: &K3dConfig) -> Result<Vec<CacheRegistry>, RegistryError> {
    let mirrors = config.mirrors()?;
    let bad = |entry: &str, problem: String| RegistryError::BadEntry {
        config: config.path.clone(),
        entry: entry.to_string(),
        problem,
    };
    config
        .registries
        .iter()
        .map(|entry| {
            let (host, port) = entry.rsplit_once(':').unwrap_or((entry.as_str(), ""));
            if !host.starts_with("k3d-") {
                return Err(bad(
                    entry,
                    "is not a k3d-managed registry name (they start with `k3d-`)".into(),
                ));
            }
            if port != REGISTRY_PORT.to_string() {
                return Err(bad(
                    entry,
                    format!("must name the registry's in-network port {REGISTRY_PORT}"),
                ));
            }
            let upstreams: Vec<&String> = mirrors
                .iter()
                .filter(|(_, endpoints)| {
                    endpoints.iter().any(|e| {
                        let e = e.trim_end_matches('/');
                        e.strip_prefix("http://")
                            .or_else(|| e.strip_prefix("https://"))
                            .unwrap_or(e)
                            == entry
                    })
                })
                .map(|(upstream, _)| upstream)
                .collect();
            let upstream = match upstreams.as_slice() {
                [one] => (*one).clone(),
                [] => {
                    return Err(bad(
                        entry,
                        "is the endpoint of no mirror in `registries.config`, so it would cache nothing".into(),
                    ))
                }
                many => {
                    let names: Vec<&str> = many.iter().map(|s| s.as_str()).collect();
                    return Err(bad(
                        entry,
                        format!(
                            "mirrors {}, but a pull-through cache proxies exactly one registry",
                            names.join(", ")
                        ),
                    ));
                }
            };
            let remote_host = if upstream == "docker.io" {
                DOCKER_HUB
            } else {
                &upstream
            };
            Ok(CacheRegistry {
                container: host.to_string(),
                remote_url: format!("https://{remote_host}"),
                upstream,
                volume: format!("{host}-data"),
            })
        })
        .collect()
}

/// Creates the cache registries `config` uses, or starts them, or leaves them be when running.
pub async fn ensure_cache(
    k3d: &K3d,
    config: &K3dConfig,
) -> Result<Vec<(CacheRegistry, CacheAction)>, RegistryError> {
    let wanted = plan(config)?;
    let existing = k3d.list_registries().await?;
    let actions = try_join_all(wanted.into_iter().map(|registry| {
        let found = existing
            .iter()
            .find(|n| n.name == registry.container)
            .cloned();
        async move {
            if let Some(node) = &found {
                let found = match &node.proxy {
                    Proxy::Remote(url) if *url == registry.remote_url => None,
                    Proxy::Unknown => None,
                    Proxy::Remote(url) => Some(format!("proxies {url}")),
                    Proxy::NotAProxy => Some("is not a pull-through cache".to_string()),
                };
                if let Some(found) = found {
                    return Err(RegistryError::WrongRemote {
                        container: registry.container.clone(),
                        found,
                        wanted: registry.remote_url.clone(),
                    });
                }
            }
            let action = match found {
                Some(node) if node.running => CacheAction::Reused,
                Some(_) => {
                    k3d.start_node(&registry.container).await?;
                    CacheAction::Started
                }
                None => {
                    k3d.create_registry(&registry.spec()).await?;
                    CacheAction::Created
                }
            };
            Ok::<_, RegistryError>((registry, action))
        }
    }))
    .await?;
    if actions
        .iter()
        .any(|(_, action)| *action != CacheAction::Reused)
    {
        let now = k3d.list_registries().await?;
        for (registry, _) in &actions {
            if !now
                .iter()
                .any(|n| n.name == registry.container && n.running)
            {
                return Err(RegistryError::NotRunning {
                    container: registry.container.clone(),
                });
            }
        }
    }
    Ok(actions)
}

/// Deletes the cache registries `config` uses and their volumes (`down --purge`).
pub async fn remove_cache(
    k3d: &K3d,
    docker: &Docker,
    config: &K3dConfig,
) -> Result<Vec<(CacheRegistry, Removal)>, RegistryError> {
    let wanted = plan(config)?;
    let existing = k3d.list_registries().await?;
    let mut removed = Vec::new();
    for registry in wanted {
        let mut removal = Removal::Absent;
        if existing.iter().any(|n| n.name == registry.container) {
            k3d.delete_registry(&registry.container).await?;
            removal = Removal::Removed;
        }
        match docker
            .remove_volume(
                &registry.volume,
                None::<bollard::query_parameters::RemoveVolumeOptions>,
            )
            .await
        {
            Ok(()) => removal = Removal::Removed,
            Err(bollard::errors::Error::DockerResponseServerError {
                status_code: 404, ..
            }) => {}
            Err(source) => {
                return Err(RegistryError::Volume {
                    volume: registry.volume.clone(),
                    source,
                })
            }
        }
        removed.push((registry, removal));
    }
    Ok(removed)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    fn shipped(name: &str) -> K3dConfig {
        K3dConfig::load(&Path::new(env!("CARGO_MANIFEST_DIR")).join("k3d").join(name)).unwrap()
    }

    #[test]
    fn the_default_config_caches_every_registry_the_platform_pulls_from() {
        let plan = plan(&shipped("cluster.yaml")).unwrap();
        let upstreams: Vec<&str> = plan.iter().map(|r| r.upstream.as_str()).collect();
        assert_eq!(
            upstreams,
            vec![
                "docker.io",
                "quay.io",
                "ghcr.io",
                "registry.k8s.io",
                "gcr.io",
                "reg.kyverno.io",
                "public.ecr.aws"
            ]
        );
        let docker = &plan[0];
        assert_eq!(docker.container, "k3d-neuroscale-cache-docker");
        assert_eq!(docker.remote_url, "https://registry-1.docker.io");
        assert_eq!(docker.volume, "k3d-neuroscale-cache-docker-data");
        let spec = docker.spec();
        assert_eq!(spec.name, "neuroscale-cache-docker");
        assert_eq!(spec.host_port, "127.0.0.1:random");
        assert_eq!(plan[1].remote_url, "https://quay.io");
    }

    #[test]
    fn the_gpu_config_adds_nvcr() {
        let plan = plan(&shipped("gpu.yaml")).unwrap();
        assert!(plan
            .iter()
            .any(|r| r.upstream == "nvcr.io" && r.remote_url == "https://nvcr.io"));
    }

    fn with(text_edit: impl Fn(String) -> String) -> Result<Vec<CacheRegistry>, RegistryError> {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("k3d/cluster.yaml");
        let text = text_edit(std::fs::read_to_string(&path).unwrap());
        plan(&K3dConfig::parse(Path::new("k3d/x.yaml"), &text).unwrap())
    }

    #[test]
    fn a_used_registry_without_a_mirror_is_bad_input() {
        let err = with(|t| {
            t.replace(
                "      gcr.io:\n        endpoint: [\"http://k3d-neuroscale-cache-gcr:5000\"]\n",
                "",
            )
        })
        .unwrap_err();
        assert_eq!(err.class(), ErrorClass::BadInput);
        let text = err.to_string();
        assert!(
            text.contains("k3d/x.yaml")
                && text.contains("k3d-neuroscale-cache-gcr:5000")
                && text.contains("no mirror"),
            "{text}"
        );
    }

    #[test]
    fn one_registry_cannot_mirror_two_upstreams() {
        let err = with(|t| {
            t.replace(
                "http://k3d-neuroscale-cache-gcr:5000",
                "http://k3d-neuroscale-cache-quay:5000",
            )
        })
        .unwrap_err()
        .to_string();
        assert!(err.contains("exactly one registry"), "{err}");
    }

    #[test]
    fn a_registry_k3d_does_not_manage_is_bad_input() {
        let err = with(|t| {
            t.replace(
                "    - k3d-neuroscale-cache-docker:5000\n",
                "    - myregistry:5000\n",
            )
        })
        .unwrap_err()
        .to_string();
        assert!(
            err.contains("myregistry:5000") && err.contains("k3d-managed"),
            "{err}"
        );
    }
}
