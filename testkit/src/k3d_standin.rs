//! A stand-in `k3d` executable for tests: a small bash script that records every invocation
//! (one line of arguments per call in `k3d-calls.log` beside it), keeps which clusters and
//! registries "exist" in files beside it, prints `cluster list -o json` / `registry list -o json`
//! in k3d's shapes (k3d-io/k3d cmd/cluster/clusterList.go, cmd/registry/registryList.go;
//! k3d-io/k3d), and answers `kubeconfig get` with the simulated cluster's kubeconfig. Put its
//! directory first on `PATH` so `neuroscale` finds it as `k3d`.

use std::path::{Path, PathBuf};

/// What the stand-in reports about a created cluster.
#[derive(Debug, Clone)]
pub struct StandinCluster {
    /// The node image (`image:` of the k3d config), e.g. `rancher/k3s:v1.34.8-k3s1`.
    pub image: String,
    pub agents: u32,
}

fn script(cluster: &StandinCluster) -> String {
    let image = &cluster.image;
    let agents = cluster.agents;
    format!(
        r#"#!/usr/bin/env bash
# neuroscale-testkit: stand-in for k3d (test support only; it creates nothing).
set -eu
here="$(cd "$(dirname "$0")" && pwd)"
printf '%s\n' "$*" >> "$here/k3d-calls.log"
mkdir -p "$here/k3d-clusters" "$here/k3d-registries"
cluster_json() {{
  local name="$1"
  local nodes='{{"name":"k3d-'"$name"'-server-0","role":"server","image":"{image}","State":{{"Running":true}}}}'
  for i in $(seq 0 $(({agents} - 1))); do
    nodes="$nodes"',{{"name":"k3d-'"$name"'-agent-'"$i"'","role":"agent","image":"{image}","State":{{"Running":true}}}}'
  done
  printf '{{"name":"%s","serversCount":1,"serversRunning":1,"agentsCount":{agents},"agentsRunning":{agents},"hasLoadbalancer":true,"nodes":[%s]}}' "$name" "$nodes"
}}
case "${{1:-}} ${{2:-}}" in
  "version "*|"--version ")
    echo "k3d version v5.9.0"; echo "k3s version v1.34.8-k3s1 (default)";;
  "cluster list")
    sep=""; printf '['
    for f in "$here"/k3d-clusters/*; do
      [ -e "$f" ] || continue
      printf '%s' "$sep"; cluster_json "$(basename "$f")"; sep=","
    done
    printf ']\n';;
  "cluster create") touch "$here/k3d-clusters/$3"; echo "INFO[0000] Cluster '$3' created successfully!";;
  "cluster start") echo "INFO[0000] Started cluster '$3'";;
  "cluster delete") rm -f "$here/k3d-clusters/$3"; echo "INFO[0000] Successfully deleted cluster $3!";;
  "kubeconfig get") cat "$here/kubeconfig";;
  "kubeconfig merge"|"kubeconfig write") echo "$here/kubeconfig";;
  "registry list")
    sep=""; printf '['
    for f in "$here"/k3d-registries/*; do
      [ -e "$f" ] || continue
      printf '%s{{"name":"k3d-%s","role":"registry","State":{{"Running":true}}}}' "$sep" "$(basename "$f")"; sep=","
    done
    printf ']\n';;
  "registry create") touch "$here/k3d-registries/$3";;
  "registry delete") rm -f "$here/k3d-registries/${{3#k3d-}}";;
  "node start") ;;
  *) echo "k3d stand-in: unsupported command: $*" >&2; exit 1;;
esac
"#
    )
}

/// Writes the stand-in as `<dir>/k3d` (executable) with `kubeconfig` (the sim's) beside it;
/// returns the script's path.
pub fn install(dir: &Path, kubeconfig: &str, cluster: &StandinCluster) -> std::io::Result<PathBuf> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::create_dir_all(dir)?;
    std::fs::write(dir.join("kubeconfig"), kubeconfig)?;
    let path = dir.join("k3d");
    std::fs::write(&path, script(cluster))?;
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755))?;
    Ok(path)
}

/// The argument lines the stand-in recorded, in call order.
pub fn calls(dir: &Path) -> Vec<String> {
    std::fs::read_to_string(dir.join("k3d-calls.log"))
        .map(|text| text.lines().map(str::to_string).collect())
        .unwrap_or_default()
}
