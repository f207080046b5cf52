//! Connecting to a cluster for `check` and `doctor`: the kube client from `--kubeconfig` /
//! `--context` (or the in-cluster service account), whether the context is the harness's own k3d
//! cluster (`k3d-<cluster-name>`, the only one mutating checks touch unless `--allow-context`),
//! a reachability probe with a deadline, and the routes to what checks reach besides the API
//! server: the ingress URL (`--ingress-url`, k3d's mapped port) and port-forwards to a Service
//! (Kourier's gateway, OpenCost's API), which the check session opens as its checks need them.

use std::path::{Path, PathBuf};
use std::time::Duration;

use kube::config::{KubeConfigOptions, Kubeconfig, KubeconfigError};
use kube::{Client, Config};

use crate::probe::forward::{ForwardError, ServiceForward};

/// How long the API server may take to answer the reachability probe.
pub const REACHABILITY_DEADLINE: Duration = Duration::from_secs(10);

/// How long resolving a Service to a pod for a port-forward may take.
pub const FORWARD_DEADLINE: Duration = Duration::from_secs(30);

/// The fix printed with every "cannot reach the cluster" error.
const REACH_FIX: &str = "start the platform with `neuroscale up`, or point at a running cluster with --kubeconfig FILE / --context NAME";

#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    #[error(
        "no kubeconfig found (looked at {looked_at}) and not running inside a cluster: {REACH_FIX}"
    )]
    NoKubeconfig { looked_at: String },
    #[error("cannot read the kubeconfig {path}: {source}")]
    Kubeconfig {
        path: String,
        #[source]
        source: KubeconfigError,
    },
    #[error("context `{context}` cannot be used from {path}: {source}; `kubectl config get-contexts` lists the contexts")]
    Context {
        context: String,
        path: String,
        #[source]
        source: KubeconfigError,
    },
    #[error("cannot build a Kubernetes client for context `{context}`: {source}")]
    Client {
        context: String,
        #[source]
        source: kube::Error,
    },
    #[error("the Kubernetes API at {server} (context `{context}`) is unreachable: {cause}. Fix: {REACH_FIX}")]
    Unreachable {
        server: String,
        context: String,
        cause: String,
    },
    #[error("--allow-context `{allowed}` does not match the context in use, `{context}`: pass --context {allowed} or --allow-context {context}")]
    AllowContextMismatch { allowed: String, context: String },
}

impl ConnectError {
    /// True for bad input (exit 2); everything else is an environment problem (exit 3).
    pub fn is_usage(&self) -> bool {
        matches!(self, ConnectError::AllowContextMismatch { .. })
    }
}

/// What to connect to, from the command line.
#[derive(Debug, Clone, Default)]
pub struct Target {
    /// `--kubeconfig` (or `$KUBECONFIG`): one path or several joined like `$PATH`.
    pub kubeconfig: Option<PathBuf>,
    pub context: Option<String>,
    /// The harness's k3d cluster name (its context is `k3d-<name>`).
    pub cluster_name: String,
    pub allow_context: Option<String>,
}

/// A reachable cluster.
#[derive(Clone)]
pub struct Connection {
    pub client: Client,
    pub context: String,
    pub server: String,
    pub kubernetes_version: Option<String>,
    /// The context is `k3d-<cluster-name>`.
    pub harness_context: bool,
    /// Mutating checks may run: the harness context, or the one named by `--allow-context`.
    pub mutations_allowed: bool,
}

/// The context k3d writes for a cluster.
pub fn harness_context(cluster_name: &str) -> String {
    format!("k3d-{cluster_name}")
}

/// The k3d cluster name: `--cluster-name`, else `metadata.name` of the built-in
/// `k3d/cluster.yaml` (`neuroscale`).
pub fn cluster_name(flag: Option<&str>) -> String {
    if let Some(name) = flag {
        return name.to_string();
    }
    crate::cluster::k3d_config::ConfigSource::BuiltIn { gpu: false }
        .load()
        .map(|c| c.name)
        .unwrap_or_else(|_| "neuroscale".to_string())
}

/// Whether mutating checks may run on `context`.
pub fn mutations_allowed(
    context: &str,
    cluster_name: &str,
    allow_context: Option<&str>,
) -> Result<bool, ConnectError> {
    match allow_context {
        Some(allowed) if allowed != context => Err(ConnectError::AllowContextMismatch {
            allowed: allowed.to_string(),
            context: context.to_string(),
        }),
        Some(_) => Ok(true),
        None => Ok(context == harness_context(cluster_name)),
    }
}

fn default_kubeconfig_path() -> Option<PathBuf> {
    std::env::var_os("HOME")
        .filter(|h| !h.is_empty())
        .map(|home| PathBuf::from(home).join(".kube").join("config"))
}

/// Reads the kubeconfig file(s): `paths` may hold several, joined like `$PATH`; missing files
/// are ignored as kubectl ignores them. `Ok(None)` when none exists.
pub fn read_kubeconfig(paths: Option<&Path>) -> Result<Option<(Kubeconfig, String)>, ConnectError> {
    let candidates: Vec<PathBuf> = match paths {
        Some(joined) => std::env::split_paths(joined.as_os_str()).collect(),
        None => default_kubeconfig_path().into_iter().collect(),
    };
    let mut merged: Option<Kubeconfig> = None;
    let mut used = Vec::new();
    for path in candidates.iter().filter(|p| p.is_file()) {
        let config = Kubeconfig::read_from(path).map_err(|source| ConnectError::Kubeconfig {
            path: path.display().to_string(),
            source,
        })?;
        used.push(path.display().to_string());
        merged = Some(match merged {
            None => config,
            Some(first) => first
                .merge(config)
                .map_err(|source| ConnectError::Kubeconfig {
                    path: path.display().to_string(),
                    source,
                })?,
        });
    }
    if merged.is_none() && candidates.is_empty() {
        return Ok(None);
    }
    Ok(merged.map(|k| (k, used.join(":"))))
}

fn looked_at(paths: Option<&Path>) -> String {
    match paths {
        Some(p) => p.display().to_string(),
        None => default_kubeconfig_path()
            .map(|p| p.display().to_string())
            .unwrap_or_else(|| "~/.kube/config (no HOME)".to_string()),
    }
}

/// Builds the client for `target` and proves the API server answers.
pub async fn connect(target: &Target) -> Result<Connection, ConnectError> {
    let (mut config, context) = match read_kubeconfig(target.kubeconfig.as_deref())? {
        Some((kubeconfig, path)) => {
            let context = target
                .context
                .clone()
                .or_else(|| kubeconfig.current_context.clone())
                .unwrap_or_default();
            let options = KubeConfigOptions {
                context: target.context.clone(),
                ..KubeConfigOptions::default()
            };
            let config = Config::from_custom_kubeconfig(kubeconfig, &options)
                .await
                .map_err(|source| ConnectError::Context {
                    context: context.clone(),
                    path,
                    source,
                })?;
            (config, context)
        }
        None => match Config::incluster() {
            Ok(config) if target.context.is_none() => (config, "in-cluster".to_string()),
            _ => {
                return Err(ConnectError::NoKubeconfig {
                    looked_at: looked_at(target.kubeconfig.as_deref()),
                })
            }
        },
    };
    let mutations_allowed = mutations_allowed(
        &context,
        &target.cluster_name,
        target.allow_context.as_deref(),
    )?;
    config.connect_timeout = Some(REACHABILITY_DEADLINE);
    let server = config.cluster_url.to_string();
    let client = Client::try_from(config).map_err(|source| ConnectError::Client {
        context: context.clone(),
        source,
    })?;
    let unreachable = |cause: String| ConnectError::Unreachable {
        server: server.clone(),
        context: context.clone(),
        cause,
    };
    let version =
        match tokio::time::timeout(REACHABILITY_DEADLINE, client.apiserver_version()).await {
            Ok(Ok(info)) => info.git_version,
            Ok(Err(e)) => return Err(unreachable(error_chain(&e))),
            Err(_) => {
                return Err(unreachable(format!(
                    "no answer within {}",
                    humantime::format_duration(REACHABILITY_DEADLINE)
                )))
            }
        };
    Ok(Connection {
        client,
        harness_context: context == harness_context(&target.cluster_name),
        context,
        server,
        kubernetes_version: Some(version),
        mutations_allowed,
    })
}

/// An error and its causes on one line (the innermost cause is usually the telling one).
fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.contains(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text
}

/// How the checks reach the ingress and OpenCost.
#[derive(Debug, Clone, Default)]
pub struct Endpoints {
    /// `--ingress-url`.
    pub ingress_url: Option<String>,
    /// `--opencost-url`.
    pub opencost_url: Option<String>,
    /// The host port k3d maps to the load balancer's port 80 (from the k3d config).
    pub ingress_host_port: Option<u16>,
}

/// Where the Kourier gateway is reached without a port-forward: `--ingress-url`, else k3d's
/// mapped host port on the harness context (the load balancer in front of Service
/// kourier-system/kourier). `None` means a port-forward to that Service is needed.
pub fn direct_ingress_url(connection: &Connection, endpoints: &Endpoints) -> Option<String> {
    endpoints.ingress_url.clone().or_else(|| {
        connection
            .harness_context
            .then_some(endpoints.ingress_host_port)
            .flatten()
            .map(|port| format!("http://127.0.0.1:{port}"))
    })
}

/// Port-forwards opened for one run; they live until `close` (or drop).
#[derive(Default)]
pub struct Forwards(Vec<ServiceForward>);

impl Forwards {
    /// Stops every forward and closes its connections.
    pub async fn close(self) {
        for forward in self.0 {
            forward.stop().await;
        }
    }
}

/// Opens a port-forward to `namespace/service:port` and returns its local base URL, or `None`
/// with a note saying why it could not be opened.
pub async fn forward(
    client: &Client,
    namespace: &str,
    service: &str,
    port: u16,
    forwards: &mut Forwards,
    notes: &mut Vec<String>,
) -> Option<String> {
    let started = tokio::time::timeout(
        FORWARD_DEADLINE,
        ServiceForward::start(client.clone(), namespace, service, port),
    )
    .await;
    let Ok(started) = started else {
        notes.push(format!(
            "no port-forward to {namespace}/{service}:{port}: the API server did not answer within {}",
            humantime::format_duration(FORWARD_DEADLINE)
        ));
        return None;
    };
    match started {
        Ok(forward) => {
            let url = forward.base_url();
            forwards.0.push(forward);
            Some(url)
        }
        Err(e) => {
            let why = match &e {
                ForwardError::Kube { what, source } => {
                    format!(
                        "failed to read {what}: {}",
                        crate::observe::error_message(source)
                    )
                }
                other => error_chain(other),
            };
            notes.push(format!(
                "no port-forward to {namespace}/{service}:{port}: {why}"
            ));
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_harness_context_allows_mutations_by_default() {
        assert!(mutations_allowed("k3d-neuroscale", "neuroscale", None).unwrap());
        assert!(
            !mutations_allowed("arn:aws:eks:eu-west-1:1:cluster/prod", "neuroscale", None).unwrap()
        );
        assert!(!mutations_allowed("k3d-other", "neuroscale", None).unwrap());
        assert!(mutations_allowed("gke_lab", "neuroscale", Some("gke_lab")).unwrap());
    }

    #[test]
    fn allowing_another_context_than_the_one_in_use_is_bad_input() {
        let err = mutations_allowed("gke_prod", "neuroscale", Some("gke_lab")).unwrap_err();
        assert!(err.is_usage());
        assert!(err.to_string().contains("`gke_prod`"), "{err}");
    }

    fn write_kubeconfig(dir: &Path, name: &str, context: &str, port: u16) -> PathBuf {
        // Shape of a kubeconfig as k3d writes it (k3d-io/k3d pkg/client/kubeconfig.go).
        let text = format!(
            "apiVersion: v1\nkind: Config\nclusters:\n- name: {context}\n  cluster:\n    server: http://127.0.0.1:{port}\ncontexts:\n- name: {context}\n  context:\n    cluster: {context}\n    user: admin@{context}\ncurrent-context: {context}\nusers:\n- name: admin@{context}\n  user:\n    token: not-a-real-token\n"
        );
        let path = dir.join(name);
        std::fs::write(&path, text).unwrap();
        path
    }

    #[test]
    fn several_kubeconfigs_merge_like_kubectl() {
        let dir = tempfile::tempdir().unwrap();
        let first = write_kubeconfig(dir.path(), "a", "k3d-neuroscale", 1);
        let second = write_kubeconfig(dir.path(), "b", "gke_lab", 2);
        let joined = std::env::join_paths([&first, &dir.path().join("missing"), &second]).unwrap();
        let (config, used) = read_kubeconfig(Some(Path::new(&joined))).unwrap().unwrap();
        assert_eq!(config.current_context.as_deref(), Some("k3d-neuroscale"));
        assert_eq!(config.contexts.len(), 2);
        assert!(!used.contains("missing"));
    }

    #[tokio::test]
    async fn a_closed_port_is_unreachable_and_says_how_to_fix_it() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        drop(listener);
        let dir = tempfile::tempdir().unwrap();
        let path = write_kubeconfig(dir.path(), "config", "k3d-neuroscale", port);
        let target = Target {
            kubeconfig: Some(path),
            cluster_name: "neuroscale".into(),
            ..Target::default()
        };
        let err = connect(&target).await.err().expect("nothing listens");
        assert!(matches!(err, ConnectError::Unreachable { .. }), "{err}");
        let text = err.to_string();
        assert!(text.contains(&format!("127.0.0.1:{port}")), "{text}");
        assert!(text.contains("neuroscale up"), "{text}");
    }

    #[tokio::test]
    async fn an_unknown_context_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let path = write_kubeconfig(dir.path(), "config", "k3d-neuroscale", 1);
        let target = Target {
            kubeconfig: Some(path),
            context: Some("nope".into()),
            cluster_name: "neuroscale".into(),
            ..Target::default()
        };
        let err = connect(&target).await.err().expect("no such context");
        assert!(err.to_string().contains("context `nope`"), "{err}");
    }
}
