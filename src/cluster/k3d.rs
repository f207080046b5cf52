//! The k3d binary and the cluster lifecycle: finding `k3d` (PATH first, then the pinned release
//! in the cache dir, downloaded and checked against the `checksums.txt` k3d publishes with every
//! release), and creating, reusing, starting and deleting the cluster through it.
//!
//! Why k3d as a child process (duct) rather than a Docker re-implementation: k3d owns the node
//! containers, the load balancer, the registry wiring and the kubeconfig entries, and its own
//! `cluster delete` cleans all of them up; driving it keeps `neuroscale` and a user's `k3d`
//! commands interchangeable. Every invocation has a deadline and is killed when it passes.
//!
//! State comes from `k3d cluster list -o json` (cmd/cluster/clusterList.go `PrintClusters`: a
//! JSON array of `k3d.Cluster` plus `serversRunning`/`serversCount`/`agentsRunning`/
//! `agentsCount`), parsed leniently because node objects mix tagged and untagged Go fields.
//! Its output can carry the cluster token, so it is parsed and never logged. k3d writes its info
//! and debug logs to stdout (cmd/root.go log hooks), where they would corrupt the JSON and the
//! kubeconfig it prints, so it always runs with `LOG_LEVEL=warn`; its warnings and errors go to
//! stderr, whose last lines (ANSI colours stripped) are quoted when a command fails.
//!
//! Kubeconfig: k3d merges the cluster into the user's default kubeconfig when the config's
//! `options.kubeconfig.updateDefaultKubeconfig` says so (k3d's default), and `k3d cluster delete`
//! removes those entries again, so `down` leaves that file as it found it. `neuroscale` itself
//! talks to the cluster through a file of its own, `k3d kubeconfig get` written with mode 0600
//! to `<cache>/kubeconfig/<cluster>.yaml` ([`kubeconfig_path`]): it does not depend on the
//! user's current context or `KUBECONFIG`, and `down` removes it.

use std::path::{Path, PathBuf};
use std::time::Duration;

use super::k3d_config::K3dConfig;
use super::ErrorClass;
use crate::components::K3D_VERSION;

mod listing;
mod release;

pub use listing::{
    parse_cluster_list, parse_registry_list, ClusterInfo, NodeInfo, Proxy, RegistrySpec,
};
pub use release::{asset_name, parse_checksums};
use release::{find_on_path, install_verified, sha256_hex, write_atomic};

/// Where k3d publishes its release assets (`<base>/<version>/<asset>`).
pub const RELEASES_URL: &str = "https://github.com/k3d-io/k3d/releases/download";

/// The first k3d release that reads `k3d.io/v1alpha5` configs (pkg/config/v1alpha5 appears at
/// tag v5.5.0).
pub const MIN_VERSION: (u32, u32, u32) = (5, 5, 0);

/// Reads `k3d version vX.Y.Z[-suffix]` (cmd/root.go printVersion) into numbers.
pub fn parse_version(line: &str) -> Option<(u32, u32, u32)> {
    let version = line.split_whitespace().find(|w| {
        w.strip_prefix('v')
            .is_some_and(|r| r.starts_with(|c: char| c.is_ascii_digit()))
    })?;
    let mut parts = version
        .trim_start_matches('v')
        .split(['.', '-', '+'])
        .map(|p| p.parse::<u32>().ok());
    Some((parts.next()??, parts.next()??, parts.next()??))
}

/// How long each k3d operation may take before it is killed.
#[derive(Debug, Clone, Copy)]
pub struct Deadlines {
    /// `cluster create`: pulls the k3s image on a cold cache, then waits for the nodes.
    pub create: Duration,
    /// `cluster start`, including k3d's wait for the servers.
    pub start: Duration,
    pub delete: Duration,
    /// `registry create` (pulls registry:2 on a cold Docker).
    pub registry: Duration,
    /// Quick queries: `cluster list`, `kubeconfig get`, `version`.
    pub query: Duration,
    /// The k3d download, per file.
    pub download: Duration,
}

impl Default for Deadlines {
    fn default() -> Self {
        Deadlines {
            create: Duration::from_secs(15 * 60),
            start: Duration::from_secs(6 * 60),
            delete: Duration::from_secs(3 * 60),
            registry: Duration::from_secs(5 * 60),
            query: Duration::from_secs(60),
            download: Duration::from_secs(5 * 60),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum K3dError {
    #[error(
        "k3d is not on PATH and the pinned release {version} could not be downloaded into {}: {reason}; \
         install k3d {version} yourself (`curl -s https://raw.githubusercontent.com/k3d-io/k3d/main/install.sh | TAG={version} bash`, \
         see https://k3d.io) and run again",
        dir.display()
    )]
    Fetch {
        version: String,
        dir: PathBuf,
        reason: String,
    },
    #[error(
        "the downloaded {asset} {version} does not match the checksum k3d published (sha256 {expected}, got {actual}); \
         nothing was installed: run again, and install k3d by hand if it persists"
    )]
    ChecksumMismatch {
        asset: String,
        version: String,
        expected: String,
        actual: String,
    },
    #[error(
        "the cached k3d at {} no longer matches the checksum recorded when it was downloaded; \
         delete it and run again to download it afresh",
        path.display()
    )]
    CachedBinaryChanged { path: PathBuf },
    #[error(
        "k3d publishes no {version} binary for {os}/{arch}; install k3d from source (https://k3d.io) and put it on PATH"
    )]
    UnsupportedPlatform {
        version: String,
        os: String,
        arch: String,
    },
    #[error("cannot run {}: {source}", binary.display())]
    Spawn {
        binary: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("`k3d {command}` failed ({status}): {stderr}")]
    Command {
        command: String,
        status: String,
        stderr: String,
    },
    #[error("`k3d {command}` did not finish within {}; it was stopped{rollback}", humantime::format_duration(*deadline))]
    Timeout {
        command: String,
        deadline: Duration,
        /// What was done to leave nothing half-created, if anything.
        rollback: String,
    },
    #[error("`k3d {command}` printed output neuroscale cannot read: {message}")]
    Output { command: String, message: String },
    #[error(
        "cluster `{name}` exists but {difference}; run `neuroscale down` and then `neuroscale up` to recreate it from {}",
        config.display()
    )]
    Mismatch {
        name: String,
        difference: String,
        config: PathBuf,
    },
    #[error(
        "cluster `{name}` is not fully running after `k3d cluster {action}`: {servers_running}/{servers} servers and \
         {agents_running}/{agents} agents running; `docker ps -a --filter label=k3d.cluster={name}` shows the node containers"
    )]
    NotRunning {
        name: String,
        action: &'static str,
        servers_running: u32,
        servers: u32,
        agents_running: u32,
        agents: u32,
    },
    #[error("cannot write {}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

impl K3dError {
    pub fn class(&self) -> ErrorClass {
        ErrorClass::Environment
    }
}

pub type Result<T, E = K3dError> = std::result::Result<T, E>;

/// What `ensure_cluster` did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClusterState {
    /// There was no cluster of that name; it was created from the config.
    Created,
    /// The cluster existed but was (partly) stopped; it was started.
    Started,
    /// The cluster existed and was running; nothing was changed.
    Reused,
}

/// What `delete` did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Deleted {
    Deleted,
    /// There was no cluster of that name.
    Absent,
}

/// A k3d executable.
#[derive(Debug, Clone)]
pub struct K3d {
    binary: PathBuf,
    deadlines: Deadlines,
}

/// The path neuroscale writes the cluster's kubeconfig to.
pub fn kubeconfig_path(cache: &Path, cluster: &str) -> PathBuf {
    cache.join("kubeconfig").join(format!("{cluster}.yaml"))
}

/// Removes ANSI escape sequences (k3d's logrus formatter forces colours by default).
fn strip_ansi(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            if chars.next() == Some('[') {
                for c in chars.by_ref() {
                    if c.is_ascii_alphabetic() {
                        break;
                    }
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// The last lines of a command's stderr, enough to say why it failed without flooding.
fn tail(bytes: &[u8]) -> String {
    let text = strip_ansi(&String::from_utf8_lossy(bytes));
    let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
    let start = lines.len().saturating_sub(6);
    let joined = lines[start..].join("\n  ");
    if joined.is_empty() {
        "no error output".into()
    } else {
        joined
    }
}

impl K3d {
    /// A k3d executable at a known path.
    pub fn at(binary: impl Into<PathBuf>) -> K3d {
        K3d {
            binary: binary.into(),
            deadlines: Deadlines::default(),
        }
    }

    pub fn with_deadlines(mut self, deadlines: Deadlines) -> K3d {
        self.deadlines = deadlines;
        self
    }

    pub fn binary(&self) -> &Path {
        &self.binary
    }

    /// `k3d` from PATH; else the pinned release cached under `cache` (its checksum checked again);
    /// else the pinned release downloaded from GitHub into `cache`.
    /// A k3d on PATH older than [`MIN_VERSION`] cannot read the `k3d.io/v1alpha5` config, so
    /// the pinned release is used instead (with a warning saying so).
    pub async fn locate_or_fetch(cache: &Path) -> Result<K3d> {
        if let Some(binary) = find_on_path("k3d") {
            let k3d = K3d::at(&binary);
            match k3d.version().await.ok().as_deref().and_then(parse_version) {
                Some(found) if found < MIN_VERSION => {
                    tracing::warn!(
                        path = %binary.display(),
                        "k3d on PATH is v{}.{}.{}, older than v{}.{}.{} which the k3d.io/v1alpha5 config needs; using the pinned {K3D_VERSION} instead",
                        found.0, found.1, found.2, MIN_VERSION.0, MIN_VERSION.1, MIN_VERSION.2
                    );
                }
                _ => {
                    tracing::info!(path = %binary.display(), "using k3d from PATH");
                    return Ok(k3d);
                }
            }
        }
        Self::fetch_release(RELEASES_URL, K3D_VERSION, cache).await
    }

    /// `k3d` from PATH, else the pinned release when it is already cached; never downloads
    /// (`doctor --pre` must not change the machine it inspects).
    pub fn locate(cache: &Path) -> Option<K3d> {
        release::find_on_path("k3d")
            .or_else(|| Some(Self::cached_binary(cache, K3D_VERSION)).filter(|p| p.is_file()))
            .map(K3d::at)
    }

    /// Where the pinned release is cached, and the digest recorded beside it.
    pub fn cached_binary(cache: &Path, version: &str) -> PathBuf {
        cache
            .join("bin")
            .join(format!("k3d-{version}{}", std::env::consts::EXE_SUFFIX))
    }

    /// The release `version` for this machine from `base_url` (`<base>/<version>/<asset>` and
    /// `<base>/<version>/checksums.txt`), cached under `cache/bin`. A cached copy is used when its
    /// digest still matches the one recorded when it was downloaded and verified.
    pub async fn fetch_release(base_url: &str, version: &str, cache: &Path) -> Result<K3d> {
        let (os, arch) = (std::env::consts::OS, std::env::consts::ARCH);
        let asset = asset_name(os, arch).ok_or_else(|| K3dError::UnsupportedPlatform {
            version: version.into(),
            os: os.into(),
            arch: arch.into(),
        })?;
        let binary = Self::cached_binary(cache, version);
        let recorded = binary.with_extension("sha256");
        if binary.exists() {
            let bytes = std::fs::read(&binary).map_err(|source| K3dError::Io {
                path: binary.clone(),
                source,
            })?;
            let digest = std::fs::read_to_string(&recorded).unwrap_or_default();
            if digest.trim() != sha256_hex(&bytes) {
                return Err(K3dError::CachedBinaryChanged { path: binary });
            }
            return Ok(K3d::at(binary));
        }
        let dir = binary
            .parent()
            .expect("cached binary has a parent")
            .to_path_buf();
        let fetch_error = |reason: String| K3dError::Fetch {
            version: version.into(),
            dir: dir.clone(),
            reason,
        };
        // kube and reqwest share rustls with the ring provider; the CLI installs it, library
        // callers (tests, benches) may not have.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let client = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(30))
            .timeout(Deadlines::default().download)
            .build()
            .map_err(|e| fetch_error(format!("cannot build an HTTP client: {e}")))?;
        let get = |url: String| {
            let client = client.clone();
            async move {
                let response = client
                    .get(&url)
                    .send()
                    .await
                    .and_then(|r| r.error_for_status())
                    .map_err(|e| format!("GET {url}: {e}"))?;
                response
                    .bytes()
                    .await
                    .map_err(|e| format!("GET {url}: {e}"))
            }
        };
        let base = base_url.trim_end_matches('/');
        let checksums = get(format!("{base}/{version}/checksums.txt"))
            .await
            .map_err(fetch_error)?;
        let checksums = parse_checksums(&String::from_utf8_lossy(&checksums));
        let expected = checksums
            .get(&asset)
            .cloned()
            .ok_or_else(|| fetch_error(format!("checksums.txt of {version} lists no {asset}")))?;
        let bytes = get(format!("{base}/{version}/{asset}"))
            .await
            .map_err(fetch_error)?;
        let actual = sha256_hex(&bytes);
        if actual != expected {
            return Err(K3dError::ChecksumMismatch {
                asset,
                version: version.into(),
                expected,
                actual,
            });
        }
        install_verified(&binary, &bytes, &actual)?;
        tracing::info!(path = %binary.display(), %version, "downloaded k3d (checksum verified)");
        Ok(K3d::at(binary))
    }

    /// Runs k3d with `args`, killing it when `deadline` passes. Returns its stdout.
    async fn run(&self, args: &[String], deadline: Duration) -> Result<String> {
        let command = args.join(" ");
        tracing::debug!(%command, "k3d");
        let handle = duct::cmd(&self.binary, args)
            .env("LOG_LEVEL", "warn")
            .stdin_null()
            .stdout_capture()
            .stderr_capture()
            .unchecked()
            .start()
            .map_err(|source| K3dError::Spawn {
                binary: self.binary.clone(),
                source,
            })?;
        let binary = self.binary.clone();
        let waited = tokio::task::spawn_blocking(move || {
            let output = handle.wait_timeout(deadline).map(|o| o.cloned());
            if matches!(output, Ok(None)) {
                let _ = handle.kill();
            }
            output
        })
        .await
        .map_err(|e| K3dError::Spawn {
            binary: binary.clone(),
            source: std::io::Error::other(e),
        })?
        .map_err(|source| K3dError::Spawn {
            binary: binary.clone(),
            source,
        })?;
        let Some(output) = waited else {
            return Err(K3dError::Timeout {
                command,
                deadline,
                rollback: String::new(),
            });
        };
        if !output.status.success() {
            return Err(K3dError::Command {
                command,
                status: output.status.to_string(),
                stderr: tail(&output.stderr),
            });
        }
        String::from_utf8(output.stdout).map_err(|e| K3dError::Output {
            command,
            message: e.to_string(),
        })
    }

    fn args(parts: &[&str]) -> Vec<String> {
        parts.iter().map(|s| s.to_string()).collect()
    }

    /// `k3d version`'s first line, e.g. `k3d version v5.9.0`.
    pub async fn version(&self) -> Result<String> {
        let out = self
            .run(&Self::args(&["version"]), self.deadlines.query)
            .await?;
        Ok(out.lines().next().unwrap_or_default().trim().to_string())
    }

    /// Every k3d cluster on this Docker.
    pub async fn list_clusters(&self) -> Result<Vec<ClusterInfo>> {
        let args = Self::args(&["cluster", "list", "-o", "json"]);
        let out = self.run(&args, self.deadlines.query).await?;
        parse_cluster_list(&out).map_err(|message| K3dError::Output {
            command: args.join(" "),
            message,
        })
    }

    /// The cluster called `name`, if it exists.
    pub async fn cluster(&self, name: &str) -> Result<Option<ClusterInfo>> {
        Ok(self
            .list_clusters()
            .await?
            .into_iter()
            .find(|c| c.name == name))
    }

    /// Creates the cluster `name` from `config`, or reuses it: started when stopped, left alone
    /// when running. An existing cluster whose node image or agent count differs from the
    /// config is refused rather than silently used.
    pub async fn ensure_cluster(&self, config: &K3dConfig, name: &str) -> Result<ClusterState> {
        let state = match self.cluster(name).await? {
            None => {
                let config_path = config.path.display().to_string();
                let args = Self::args(&["cluster", "create", name, "--config", &config_path]);
                match self.run(&args, self.deadlines.create).await {
                    Ok(_) => ClusterState::Created,
                    Err(K3dError::Timeout {
                        command, deadline, ..
                    }) => {
                        // k3d rolls back its own failures, but not a create killed from outside.
                        let rollback = match self.delete(name).await {
                            Ok(Deleted::Deleted) => {
                                format!(" and the partial cluster `{name}` was deleted")
                            }
                            Ok(Deleted::Absent) => " before it created anything".to_string(),
                            Err(err) => format!(
                                "; deleting the partial cluster failed too ({err}): run `k3d cluster delete {name}`"
                            ),
                        };
                        return Err(K3dError::Timeout {
                            command,
                            deadline,
                            rollback,
                        });
                    }
                    Err(err) => return Err(err),
                }
            }
            Some(existing) => {
                check_matches(config, &existing)?;
                if existing.fully_running() {
                    ClusterState::Reused
                } else {
                    let timeout = format!(
                        "{}s",
                        self.deadlines.start.as_secs().saturating_sub(30).max(30)
                    );
                    let args =
                        Self::args(&["cluster", "start", name, "--wait", "--timeout", &timeout]);
                    self.run(&args, self.deadlines.start).await?;
                    ClusterState::Started
                }
            }
        };
        let action = match state {
            ClusterState::Created => "create",
            ClusterState::Started => "start",
            ClusterState::Reused => "list",
        };
        match self.cluster(name).await? {
            Some(info) if info.fully_running() => {}
            Some(info) => {
                return Err(K3dError::NotRunning {
                    name: name.into(),
                    action,
                    servers_running: info.servers_running,
                    servers: info.servers,
                    agents_running: info.agents_running,
                    agents: info.agents,
                })
            }
            None => {
                return Err(K3dError::NotRunning {
                    name: name.into(),
                    action,
                    servers_running: 0,
                    servers: 0,
                    agents_running: 0,
                    agents: 0,
                })
            }
        }
        if state != ClusterState::Created && config.update_default_kubeconfig {
            // `cluster create` merged the entries itself; a reused cluster may have lost them
            // (another tool rewrote the file), and merging again is idempotent.
            let switch = format!(
                "--kubeconfig-switch-context={}",
                config.switch_current_context
            );
            let args = Self::args(&[
                "kubeconfig",
                "merge",
                name,
                "--kubeconfig-merge-default",
                &switch,
            ]);
            self.run(&args, self.deadlines.query).await?;
        }
        Ok(state)
    }

    /// Deletes the cluster `name` (its nodes, network, and its entries in the default
    /// kubeconfig). Registries created outside the cluster, like the image cache, are kept.
    pub async fn delete(&self, name: &str) -> Result<Deleted> {
        if self.cluster(name).await?.is_none() {
            return Ok(Deleted::Absent);
        }
        let args = Self::args(&["cluster", "delete", name]);
        self.run(&args, self.deadlines.delete).await?;
        Ok(Deleted::Deleted)
    }

    /// Writes the cluster's kubeconfig (from `k3d kubeconfig get`) to `path` with mode 0600. The
    /// contents hold client credentials and are never logged.
    pub async fn write_kubeconfig(&self, name: &str, path: &Path) -> Result<()> {
        let args = Self::args(&["kubeconfig", "get", name]);
        let kubeconfig = self.run(&args, self.deadlines.query).await?;
        if !kubeconfig.contains("apiVersion") {
            return Err(K3dError::Output {
                command: args.join(" "),
                message: "no kubeconfig in the output".into(),
            });
        }
        write_private(path, kubeconfig.as_bytes())
    }

    /// The k3d-managed registries on this Docker.
    pub async fn list_registries(&self) -> Result<Vec<NodeInfo>> {
        let args = Self::args(&["registry", "list", "-o", "json"]);
        let out = self.run(&args, self.deadlines.query).await?;
        parse_registry_list(&out).map_err(|message| K3dError::Output {
            command: args.join(" "),
            message,
        })
    }

    /// `k3d registry create` of a pull-through cache.
    pub async fn create_registry(&self, spec: &RegistrySpec) -> Result<()> {
        let volume = format!("{}:/var/lib/registry", spec.volume);
        let args = Self::args(&[
            "registry",
            "create",
            &spec.name,
            "--port",
            &spec.host_port,
            "--proxy-remote-url",
            &spec.proxy_remote_url,
            "--volume",
            &volume,
            "--no-help",
        ]);
        self.run(&args, self.deadlines.registry).await.map(drop)
    }

    /// Starts a stopped k3d node (`k3d registry start` is not implemented in k3d v5.9.0, so
    /// registries are started as nodes).
    pub async fn start_node(&self, container: &str) -> Result<()> {
        let args = Self::args(&["node", "start", container]);
        self.run(&args, self.deadlines.start).await.map(drop)
    }

    /// `k3d registry delete` of a registry container.
    pub async fn delete_registry(&self, container: &str) -> Result<()> {
        let args = Self::args(&["registry", "delete", container]);
        self.run(&args, self.deadlines.delete).await.map(drop)
    }
}

/// Refuses to reuse a cluster built from a different config: a wrong k3s version breaks Knative
/// and a missing agent breaks the GPU node checks, long after `up` said it was fine.
/// Whether `existing` is the cluster `config` describes (node image, agent count); the error
/// says what differs. `up` refuses a cluster that does not match rather than use it.
pub fn check_matches(config: &K3dConfig, existing: &ClusterInfo) -> Result<()> {
    let mismatch = |difference: String| K3dError::Mismatch {
        name: existing.name.clone(),
        difference,
        config: config.path.clone(),
    };
    if !existing.node_images.is_empty() && !existing.node_images.contains(&config.image) {
        let images: Vec<&str> = existing.node_images.iter().map(String::as_str).collect();
        return Err(mismatch(format!(
            "runs {} while the config pins {}",
            images.join(", "),
            config.image
        )));
    }
    if u64::from(existing.agents) != config.agents {
        return Err(mismatch(format!(
            "has {} agents while the config asks for {}",
            existing.agents, config.agents
        )));
    }
    Ok(())
}

/// Writes `bytes` to `path` through a temporary file and a rename, so a crash never leaves a
/// half-written file where a whole one is expected; mode 0600 on Unix.
pub(crate) fn write_private(path: &Path, bytes: &[u8]) -> Result<()> {
    write_atomic(path, bytes, 0o600)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;

    /// Shaped like `k3d cluster list -o json` of k3d v5.9.0 (cmd/cluster/clusterList.go
    /// PrintClusters: k3d.Cluster + counts; Node's `State` and `IP` are untagged Go fields).
    pub(crate) const CLUSTER_LIST: &str = r#"[
      {"name":"neuroscale",
       "network":{"name":"k3d-neuroscale","id":"4f2a","isExternal":false,"ipam":{"ipPrefix":"172.18.0.0/16","ipsUsed":["172.18.0.1"],"Managed":false},"Members":null},
       "clusterToken":"",
       "nodes":[
         {"name":"k3d-neuroscale-server-0","role":"server","image":"rancher/k3s:v1.34.8-k3s1","Cmd":null,"Networks":["k3d-neuroscale"],"GPURequest":"","Memory":"","State":{"Running":true,"Status":"running","Started":""},"IP":{"IP":"172.18.0.3","Static":false}},
         {"name":"k3d-neuroscale-agent-0","role":"agent","image":"rancher/k3s:v1.34.8-k3s1","State":{"Running":true,"Status":"running","Started":""}},
         {"name":"k3d-neuroscale-agent-1","role":"agent","image":"rancher/k3s:v1.34.8-k3s1","State":{"Running":false,"Status":"exited","Started":""}},
         {"name":"k3d-neuroscale-serverlb","role":"loadbalancer","image":"ghcr.io/k3d-io/k3d-proxy:5.9.0","State":{"Running":true,"Status":"running","Started":""}}
       ],
       "InitNode":null,
       "serversRunning":1,"serversCount":1,"agentsRunning":1,"agentsCount":2,"hasLoadbalancer":true}
    ]"#;

    #[test]
    fn the_cluster_list_is_read_leniently() {
        let clusters = parse_cluster_list(CLUSTER_LIST).unwrap();
        assert_eq!(clusters.len(), 1);
        let c = &clusters[0];
        assert_eq!(c.name, "neuroscale");
        assert_eq!((c.servers_running, c.servers), (1, 1));
        assert_eq!((c.agents_running, c.agents), (1, 2));
        assert!(!c.fully_running(), "one agent is stopped");
        assert_eq!(
            c.node_images.iter().collect::<Vec<_>>(),
            vec!["rancher/k3s:v1.34.8-k3s1"],
            "the load balancer image is not a node image"
        );
        assert_eq!(parse_cluster_list("[]").unwrap(), vec![]);
        assert_eq!(parse_cluster_list("null").unwrap(), vec![]);
        assert!(parse_cluster_list("NAME SERVERS").is_err());
    }

    #[test]
    fn the_registry_list_reads_names_and_state() {
        // Shaped like `k3d registry list -o json` (cmd/registry/registryList.go -> k3d.Node).
        let json = r#"[{"name":"k3d-neuroscale-cache-docker","role":"registry","image":"docker.io/library/registry:2",
            "env":["REGISTRY_PROXY_REMOTEURL=https://registry-1.docker.io","REGISTRY_PROXY_PASSWORD=hunter2","PATH=/usr/bin"],
            "State":{"Running":true,"Status":"running","Started":""}},
            {"name":"/k3d-neuroscale-cache-quay","role":"registry","State":{"Running":false,"Status":"exited","Started":""}},
            {"name":"k3d-plain","role":"registry","env":["PATH=/usr/bin"],"State":{"Running":true}}]"#;
        let nodes = parse_registry_list(json).unwrap();
        assert_eq!(
            nodes,
            vec![
                NodeInfo {
                    name: "k3d-neuroscale-cache-docker".into(),
                    running: true,
                    proxy: Proxy::Remote("https://registry-1.docker.io".into()),
                },
                NodeInfo {
                    name: "k3d-neuroscale-cache-quay".into(),
                    running: false,
                    proxy: Proxy::Unknown,
                },
                NodeInfo {
                    name: "k3d-plain".into(),
                    running: true,
                    proxy: Proxy::NotAProxy,
                },
            ]
        );
        assert!(
            !format!("{nodes:?}").contains("hunter2"),
            "secrets are not kept"
        );
    }

    #[test]
    fn asset_names_follow_the_release_naming() {
        assert_eq!(asset_name("linux", "x86_64").unwrap(), "k3d-linux-amd64");
        assert_eq!(asset_name("macos", "aarch64").unwrap(), "k3d-darwin-arm64");
        assert_eq!(
            asset_name("windows", "x86_64").unwrap(),
            "k3d-windows-amd64.exe"
        );
        assert_eq!(asset_name("windows", "aarch64"), None);
        assert_eq!(asset_name("freebsd", "x86_64"), None);
    }

    #[test]
    fn checksums_are_keyed_by_file_name() {
        let digest = "a".repeat(64);
        let text = format!(
            "{digest}  _dist/k3d-linux-amd64\n{}  _dist/k3d-darwin-arm64\nnot a line\n",
            "B".repeat(64)
        );
        let sums = parse_checksums(&text);
        assert_eq!(sums["k3d-linux-amd64"], digest);
        assert_eq!(sums["k3d-darwin-arm64"], "b".repeat(64));
        assert_eq!(sums.len(), 2);
    }

    #[test]
    fn a_reused_cluster_must_match_the_config() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("k3d/cluster.yaml");
        let config = K3dConfig::load(&path).unwrap();
        let mut existing = parse_cluster_list(CLUSTER_LIST).unwrap().remove(0);
        check_matches(&config, &existing).unwrap();
        existing.node_images = BTreeSet::from(["rancher/k3s:v1.32.5-k3s1".to_string()]);
        let err = check_matches(&config, &existing).unwrap_err().to_string();
        assert!(
            err.contains("v1.32.5") && err.contains("neuroscale down"),
            "{err}"
        );
        existing.node_images.clear();
        existing.agents = 1;
        let err = check_matches(&config, &existing).unwrap_err().to_string();
        assert!(err.contains("1 agents"), "{err}");
    }

    #[test]
    fn versions_are_read_from_k3d_version() {
        assert_eq!(parse_version("k3d version v5.9.0"), Some((5, 9, 0)));
        assert_eq!(parse_version("k3d version v5.4.6-dirty"), Some((5, 4, 6)));
        assert_eq!(parse_version("k3d version unknown"), None);
        assert!(parse_version("k3d version v5.4.9").unwrap() < MIN_VERSION);
    }

    #[test]
    fn stderr_tails_keep_the_last_lines() {
        let text = (1..=10).map(|i| format!("line {i}\n")).collect::<String>();
        let t = tail(text.as_bytes());
        assert!(t.starts_with("line 5") && t.ends_with("line 10"), "{t}");
        assert_eq!(tail(b""), "no error output");
        assert_eq!(
            tail(b"\x1b[31mFATA\x1b[0m[0001] Failed to create cluster"),
            "FATA[0001] Failed to create cluster"
        );
    }
}
