//! The k3d invocations of `up` and `down` (cluster, image cache, kubeconfig, k3d download)
//! against a stand-in `k3d`: a small shell script, written by each test into its own directory,
//! that records its arguments and keeps cluster and registry state in files, answering
//! `cluster list -o json` and `registry list -o json` in k3d v5.9.0's JSON shapes
//! (cmd/cluster/clusterList.go PrintClusters, cmd/registry/registryList.go; `State` is an
//! untagged Go field of k3d's Node type, pkg/types/types.go).

#![cfg(unix)]

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use neuroscale::cluster::k3d::{ClusterState, Deadlines, Deleted, K3d, K3dError};
use neuroscale::cluster::k3d_config::K3dConfig;
use neuroscale::cluster::registry::{self, CacheAction};

/// The stand-in k3d (tests/support/k3d-standin.sh).
const STANDIN: &str = include_str!("support/k3d-standin.sh");

/// A stand-in k3d in its own directory.
struct Standin {
    dir: tempfile::TempDir,
}

impl Standin {
    fn new() -> Standin {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("k3d");
        // Written by a child process so this (multi-threaded) test process never holds a write
        // handle on a file it is about to execute (ETXTBSY).
        let mut child = Command::new("sh")
            .arg("-c")
            .arg(r#"cat > "$1" && chmod 755 "$1""#)
            .arg("sh")
            .arg(&path)
            .stdin(Stdio::piped())
            .spawn()
            .unwrap();
        child
            .stdin
            .take()
            .unwrap()
            .write_all(STANDIN.as_bytes())
            .unwrap();
        assert!(child.wait().unwrap().success());
        std::fs::create_dir_all(dir.path().join("state")).unwrap();
        Standin { dir }
    }

    fn k3d(&self) -> K3d {
        K3d::at(self.dir.path().join("k3d"))
    }

    fn state(&self, name: &str) -> PathBuf {
        self.dir.path().join("state").join(name)
    }

    fn set(&self, name: &str, contents: &str) {
        std::fs::write(self.state(name), contents).unwrap();
    }

    /// The recorded calls, one argument string each.
    fn calls(&self) -> Vec<String> {
        std::fs::read_to_string(self.state("calls.log"))
            .unwrap_or_default()
            .lines()
            .map(str::to_string)
            .collect()
    }

    fn clear_calls(&self) {
        let _ = std::fs::remove_file(self.state("calls.log"));
    }
}

fn config() -> K3dConfig {
    K3dConfig::load(&Path::new(env!("CARGO_MANIFEST_DIR")).join("k3d/cluster.yaml")).unwrap()
}

fn creates(calls: &[String]) -> Vec<&String> {
    calls.iter().filter(|c| c.contains(" create ")).collect()
}

#[tokio::test]
async fn up_creates_the_cache_then_the_cluster_and_writes_a_private_kubeconfig() {
    let standin = Standin::new();
    let k3d = standin.k3d();
    let config = config();

    let cache = registry::ensure_cache(&k3d, &config).await.unwrap();
    // Docker Hub, quay.io, ghcr.io, registry.k8s.io, gcr.io, reg.kyverno.io, public.ecr.aws.
    assert_eq!(cache.len(), 7);
    assert!(cache.iter().all(|(_, a)| *a == CacheAction::Created));
    let calls = standin.calls();
    assert!(
        calls.contains(
            &"registry create neuroscale-cache-docker --port 127.0.0.1:random \
              --proxy-remote-url https://registry-1.docker.io \
              --volume k3d-neuroscale-cache-docker-data:/var/lib/registry --no-help"
                .to_string()
        ),
        "{calls:#?}"
    );
    assert!(calls
        .iter()
        .any(|c| c.starts_with("registry create neuroscale-cache-k8s ")
            && c.contains("--proxy-remote-url https://registry.k8s.io ")));

    let state = k3d.ensure_cluster(&config, "neuroscale").await.unwrap();
    assert_eq!(state, ClusterState::Created);
    let create = format!(
        "cluster create neuroscale --config {}",
        config.path.display()
    );
    assert!(standin.calls().contains(&create), "{:#?}", standin.calls());

    let cache_dir = tempfile::tempdir().unwrap();
    let path = neuroscale::cluster::k3d::kubeconfig_path(cache_dir.path(), "neuroscale");
    k3d.write_kubeconfig("neuroscale", &path).await.unwrap();
    let written = std::fs::read_to_string(&path).unwrap();
    assert!(written.contains("name: k3d-neuroscale"), "{written}");
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600, "the kubeconfig holds credentials");
}

#[tokio::test]
async fn a_second_up_reuses_everything_and_creates_nothing() {
    let standin = Standin::new();
    let k3d = standin.k3d();
    let config = config();
    registry::ensure_cache(&k3d, &config).await.unwrap();
    k3d.ensure_cluster(&config, "neuroscale").await.unwrap();
    standin.clear_calls();

    let cache = registry::ensure_cache(&k3d, &config).await.unwrap();
    assert!(cache.iter().all(|(_, a)| *a == CacheAction::Reused));
    let state = k3d.ensure_cluster(&config, "neuroscale").await.unwrap();
    assert_eq!(state, ClusterState::Reused);
    let calls = standin.calls();
    assert!(creates(&calls).is_empty(), "{calls:#?}");
    assert!(
        calls.contains(
            &"kubeconfig merge neuroscale --kubeconfig-merge-default --kubeconfig-switch-context=true"
                .to_string()
        ),
        "a reused cluster gets its kubeconfig entries back: {calls:#?}"
    );
}

#[tokio::test]
async fn a_stopped_cluster_and_a_stopped_cache_registry_are_started() {
    let standin = Standin::new();
    let k3d = standin.k3d();
    let config = config();
    registry::ensure_cache(&k3d, &config).await.unwrap();
    standin.set(
        "registry-k3d-neuroscale-cache-quay",
        "exited\nhttps://quay.io\n",
    );
    standin.set(
        "cluster-neuroscale",
        "exited\nrancher/k3s:v1.34.8-k3s1\n2\n",
    );
    standin.clear_calls();

    let cache = registry::ensure_cache(&k3d, &config).await.unwrap();
    let started: Vec<&str> = cache
        .iter()
        .filter(|(_, a)| *a == CacheAction::Started)
        .map(|(r, _)| r.container.as_str())
        .collect();
    assert_eq!(started, vec!["k3d-neuroscale-cache-quay"]);
    assert!(standin
        .calls()
        .contains(&"node start k3d-neuroscale-cache-quay".to_string()));

    let state = k3d.ensure_cluster(&config, "neuroscale").await.unwrap();
    assert_eq!(state, ClusterState::Started);
    assert!(
        standin
            .calls()
            .iter()
            .any(|c| c.starts_with("cluster start neuroscale --wait --timeout ")),
        "{:#?}",
        standin.calls()
    );
}

#[tokio::test]
async fn a_cache_registry_proxying_another_remote_is_refused() {
    let standin = Standin::new();
    standin.set(
        "registry-k3d-neuroscale-cache-ghcr",
        "running\nhttps://quay.io\n",
    );
    let err = registry::ensure_cache(&standin.k3d(), &config())
        .await
        .unwrap_err();
    let text = err.to_string();
    assert!(
        text.contains("`k3d-neuroscale-cache-ghcr` exists but proxies https://quay.io")
            && text.contains("wants a cache of https://ghcr.io"),
        "{text}"
    );
}

#[tokio::test]
async fn an_existing_cluster_on_an_old_k3s_is_refused_not_reused() {
    let standin = Standin::new();
    standin.set(
        "cluster-neuroscale",
        "running\nrancher/k3s:v1.32.5-k3s1\n2\n",
    );
    let err = standin
        .k3d()
        .ensure_cluster(&config(), "neuroscale")
        .await
        .unwrap_err();
    assert!(matches!(err, K3dError::Mismatch { .. }), "{err}");
    assert!(err.to_string().contains("neuroscale down"), "{err}");
    assert!(creates(&standin.calls()).is_empty());
}

#[tokio::test]
async fn a_failed_create_reports_what_k3d_said() {
    let standin = Standin::new();
    standin.set("fail-cluster-create", "");
    let err = standin
        .k3d()
        .ensure_cluster(&config(), "neuroscale")
        .await
        .unwrap_err();
    let text = err.to_string();
    assert!(
        text.contains("`k3d cluster create neuroscale")
            && text.contains("FATA[0001] Failed to create cluster 'neuroscale': simulated failure"),
        "{text}"
    );
}

#[tokio::test]
async fn a_create_past_its_deadline_is_killed_and_rolled_back() {
    let standin = Standin::new();
    standin.set("hang-cluster-create", "");
    let deadlines = Deadlines {
        create: Duration::from_millis(500),
        ..Deadlines::default()
    };
    let err = standin
        .k3d()
        .with_deadlines(deadlines)
        .ensure_cluster(&config(), "neuroscale")
        .await
        .unwrap_err();
    assert!(matches!(err, K3dError::Timeout { .. }), "{err}");
    let text = err.to_string();
    assert!(
        text.contains("did not finish within 500ms")
            && text.contains("the partial cluster `neuroscale` was deleted"),
        "{text}"
    );
    assert!(standin
        .calls()
        .contains(&"cluster delete neuroscale".to_string()));
    assert!(!standin.state("cluster-neuroscale").exists());
}

#[tokio::test]
async fn deleting_the_cluster_keeps_the_image_cache() {
    let standin = Standin::new();
    let k3d = standin.k3d();
    let config = config();
    registry::ensure_cache(&k3d, &config).await.unwrap();
    k3d.ensure_cluster(&config, "neuroscale").await.unwrap();

    assert_eq!(k3d.delete("neuroscale").await.unwrap(), Deleted::Deleted);
    assert!(standin
        .calls()
        .contains(&"cluster delete neuroscale".to_string()));
    assert!(
        k3d.list_registries().await.unwrap().len() == 7,
        "deleting the cluster keeps the cache"
    );
    assert_eq!(k3d.delete("neuroscale").await.unwrap(), Deleted::Absent);
}

#[tokio::test]
async fn the_version_is_read() {
    let standin = Standin::new();
    assert_eq!(standin.k3d().version().await.unwrap(), "k3d version v5.9.0");
}

/// Serves fixed bodies by path on loopback (HTTP/1.1, one request per connection), standing in
/// for github.com's release download URLs.
async fn serve(files: Vec<(String, Vec<u8>)>) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move {
        loop {
            let Ok((mut socket, _)) = listener.accept().await else {
                return;
            };
            let files = files.clone();
            tokio::spawn(async move {
                let mut request = Vec::new();
                let mut buf = [0u8; 1024];
                while !request.windows(4).any(|w| w == b"\r\n\r\n") {
                    match socket.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => request.extend_from_slice(&buf[..n]),
                    }
                }
                let text = String::from_utf8_lossy(&request);
                let path = text.split_whitespace().nth(1).unwrap_or("/").to_string();
                let response = match files.iter().find(|(p, _)| *p == path) {
                    Some((_, body)) => {
                        let mut r = format!(
                            "HTTP/1.1 200 OK\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
                            body.len()
                        )
                        .into_bytes();
                        r.extend_from_slice(body);
                        r
                    }
                    None => {
                        b"HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"
                            .to_vec()
                    }
                };
                let _ = socket.write_all(&response).await;
            });
        }
    });
    base
}

fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(bytes))
}

#[tokio::test]
async fn the_pinned_k3d_is_downloaded_verified_and_cached() {
    let asset = neuroscale::cluster::k3d::asset_name(std::env::consts::OS, std::env::consts::ARCH)
        .expect("a platform k3d publishes binaries for");
    let binary = STANDIN.as_bytes().to_vec();
    // k3d's checksums.txt is `sha256sum _dist/*` (Makefile gen-checksum).
    let checksums = format!(
        "{}  _dist/k3d-other-arch\n{}  _dist/{asset}\n",
        "0".repeat(64),
        sha256_hex(&binary)
    );
    let base = serve(vec![
        ("/v9.9.9/checksums.txt".into(), checksums.into_bytes()),
        (format!("/v9.9.9/{asset}"), binary.clone()),
    ])
    .await;
    let cache = tempfile::tempdir().unwrap();

    let k3d = K3d::fetch_release(&base, "v9.9.9", cache.path())
        .await
        .unwrap();
    assert_eq!(k3d.binary(), K3d::cached_binary(cache.path(), "v9.9.9"));
    assert_eq!(std::fs::read(k3d.binary()).unwrap(), binary);
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(k3d.binary())
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o111, 0o111, "the binary is executable");

    // Later runs use the cache without the network, after checking the recorded digest.
    let again = K3d::fetch_release("http://127.0.0.1:9", "v9.9.9", cache.path())
        .await
        .unwrap();
    assert_eq!(again.binary(), k3d.binary());

    std::fs::write(k3d.binary(), b"tampered").unwrap();
    let err = K3d::fetch_release("http://127.0.0.1:9", "v9.9.9", cache.path())
        .await
        .unwrap_err();
    assert!(matches!(err, K3dError::CachedBinaryChanged { .. }), "{err}");
}

#[tokio::test]
async fn a_download_that_does_not_match_the_published_checksum_is_not_installed() {
    let asset = neuroscale::cluster::k3d::asset_name(std::env::consts::OS, std::env::consts::ARCH)
        .expect("a platform k3d publishes binaries for");
    let checksums = format!("{}  _dist/{asset}\n", "f".repeat(64));
    let base = serve(vec![
        ("/v9.9.9/checksums.txt".into(), checksums.into_bytes()),
        (format!("/v9.9.9/{asset}"), b"not the real k3d".to_vec()),
    ])
    .await;
    let cache = tempfile::tempdir().unwrap();
    let err = K3d::fetch_release(&base, "v9.9.9", cache.path())
        .await
        .unwrap_err();
    assert!(matches!(err, K3dError::ChecksumMismatch { .. }), "{err}");
    assert!(!K3d::cached_binary(cache.path(), "v9.9.9").exists());
}

#[tokio::test]
async fn an_unreachable_release_says_how_to_install_k3d() {
    let cache = tempfile::tempdir().unwrap();
    let base = serve(vec![]).await;
    let err = K3d::fetch_release(&base, "v9.9.9", cache.path())
        .await
        .unwrap_err();
    let text = err.to_string();
    assert!(
        text.contains("404") && text.contains("install.sh | TAG=v9.9.9 bash"),
        "{text}"
    );
}
