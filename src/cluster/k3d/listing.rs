//! What k3d reports about clusters and registries (`k3d cluster list -o json`, `k3d registry
//! list -o json`), parsed leniently: node objects mix tagged and untagged Go fields, and the
//! listings can carry the cluster token or a proxy password, so only the fields used are kept.

use std::collections::BTreeSet;

use serde::Deserialize;

/// A k3d cluster as `k3d cluster list -o json` reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClusterInfo {
    pub name: String,
    pub servers: u32,
    pub servers_running: u32,
    pub agents: u32,
    pub agents_running: u32,
    /// The images of the server and agent nodes.
    pub node_images: BTreeSet<String>,
}

impl ClusterInfo {
    pub fn fully_running(&self) -> bool {
        self.servers > 0
            && self.servers_running == self.servers
            && self.agents_running == self.agents
    }
}

// Shapes from k3d v5.9.0 pkg/types/types.go (Cluster, Node, NodeState) and
// cmd/cluster/clusterList.go (jsonOutput).
#[derive(Debug, Deserialize)]
struct ClusterJson {
    name: String,
    #[serde(default, rename = "serversRunning")]
    servers_running: u32,
    #[serde(default, rename = "serversCount")]
    servers_count: u32,
    #[serde(default, rename = "agentsRunning")]
    agents_running: u32,
    #[serde(default, rename = "agentsCount")]
    agents_count: u32,
    #[serde(default)]
    nodes: Vec<NodeJson>,
}

#[derive(Debug, Deserialize)]
struct NodeJson {
    #[serde(default)]
    role: String,
    #[serde(default)]
    image: String,
}

/// Parses `k3d cluster list -o json`.
pub fn parse_cluster_list(json: &str) -> Result<Vec<ClusterInfo>, String> {
    let clusters: Option<Vec<ClusterJson>> =
        serde_json::from_str(json).map_err(|e| e.to_string())?;
    Ok(clusters
        .unwrap_or_default()
        .into_iter()
        .map(|c| ClusterInfo {
            name: c.name,
            servers: c.servers_count,
            servers_running: c.servers_running,
            agents: c.agents_count,
            agents_running: c.agents_running,
            node_images: c
                .nodes
                .into_iter()
                .filter(|n| (n.role == "server" || n.role == "agent") && !n.image.is_empty())
                .map(|n| n.image)
                .collect(),
        })
        .collect())
}

/// A k3d-managed node (here: a registry) as `k3d registry list -o json` reports it
/// (cmd/registry/registryList.go prints `k3d.Node` objects; `State` is an untagged Go field).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeInfo {
    pub name: String,
    pub running: bool,
    /// The remote a registry node proxies, read from its `REGISTRY_PROXY_REMOTEURL`.
    pub proxy: Proxy,
}

/// What a registry node proxies, as far as its listed environment tells.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Proxy {
    /// The listing carried no environment.
    Unknown,
    /// A plain registry, not a pull-through cache.
    NotAProxy,
    Remote(String),
}

#[derive(Debug, Deserialize)]
struct RegistryNodeJson {
    name: String,
    #[serde(default, rename = "State")]
    state: NodeStateJson,
    /// Container environment (k3d fills it from `docker inspect`, pkg/runtimes/docker/
    /// translate.go); it can hold a proxy password, so only the remote URL is kept.
    #[serde(default)]
    env: Option<Vec<String>>,
}

#[derive(Debug, Default, Deserialize)]
struct NodeStateJson {
    #[serde(default, rename = "Running")]
    running: bool,
}

/// Parses `k3d registry list -o json`.
pub fn parse_registry_list(json: &str) -> Result<Vec<NodeInfo>, String> {
    let nodes: Option<Vec<RegistryNodeJson>> =
        serde_json::from_str(json).map_err(|e| e.to_string())?;
    Ok(nodes
        .unwrap_or_default()
        .into_iter()
        .map(|n| NodeInfo {
            name: n.name.trim_start_matches('/').to_string(),
            running: n.state.running,
            proxy: match n.env {
                None => Proxy::Unknown,
                Some(env) => env
                    .iter()
                    .find_map(|e| e.strip_prefix("REGISTRY_PROXY_REMOTEURL="))
                    .map_or(Proxy::NotAProxy, |url| Proxy::Remote(url.to_string())),
            },
        })
        .collect())
}

/// The registry a k3d-created pull-through cache proxies and where it keeps its data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegistrySpec {
    /// The name given to `k3d registry create` (k3d prefixes the container with `k3d-`).
    pub name: String,
    /// `[HOST:]PORT` on the host (`--port`).
    pub host_port: String,
    pub proxy_remote_url: String,
    /// A Docker named volume mounted at the registry's storage path.
    pub volume: String,
}
