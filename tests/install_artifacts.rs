//! Artefact downloads against a real HTTP server on loopback: first download writes the lock
//! file, later runs use the verified cache without the network, a changed upstream file or a
//! wrong published checksum fails, and vendoring lays the files out for ArgoCD.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::sync::{Arc, Mutex};

use neuroscale::components::ArtifactKind;
use neuroscale::install::artifacts::{
    sha256_hex, ArtifactError, ArtifactRequest, ArtifactStore, Lock, Reference, LOCK_FILE_NAME,
};
use neuroscale::install::vendor;

/// A minimal HTTP/1.1 file server: path -> body, counting hits.
#[derive(Clone, Default)]
struct Files {
    bodies: Arc<Mutex<BTreeMap<String, Vec<u8>>>>,
    hits: Arc<Mutex<BTreeMap<String, usize>>>,
}

impl Files {
    fn set(&self, path: &str, body: &[u8]) {
        self.bodies
            .lock()
            .unwrap()
            .insert(path.into(), body.to_vec());
    }

    fn hits(&self, path: &str) -> usize {
        self.hits.lock().unwrap().get(path).copied().unwrap_or(0)
    }

    /// Serves on an ephemeral loopback port; returns the base URL.
    fn serve(&self) -> String {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let files = self.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(mut stream) = stream else { continue };
                let mut reader = BufReader::new(stream.try_clone().unwrap());
                let mut request_line = String::new();
                if reader.read_line(&mut request_line).is_err() {
                    continue;
                }
                let mut header = String::new();
                while reader.read_line(&mut header).is_ok()
                    && header != "\r\n"
                    && !header.is_empty()
                {
                    header.clear();
                }
                let path = request_line
                    .split_whitespace()
                    .nth(1)
                    .unwrap_or("/")
                    .to_string();
                *files.hits.lock().unwrap().entry(path.clone()).or_default() += 1;
                let body = files.bodies.lock().unwrap().get(&path).cloned();
                let (status, body) = match body {
                    Some(body) => ("200 OK", body),
                    None => ("404 Not Found", b"not found".to_vec()),
                };
                let head = format!(
                    "HTTP/1.1 {status}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                    body.len()
                );
                let _ = stream.write_all(head.as_bytes());
                let _ = stream.write_all(&body);
            }
        });
        base
    }
}

fn request(base: &str, path: &str, sha256: Option<&str>) -> ArtifactRequest {
    ArtifactRequest {
        component: "cert-manager".into(),
        version: "v1.21.1".into(),
        url: format!("{base}{path}"),
        kind: ArtifactKind::Manifest,
        sha256: sha256.map(str::to_string),
    }
}

fn http() -> reqwest::Client {
    // reqwest is built without a default TLS provider; the binary installs ring, so do tests.
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::new()
}

const MANIFEST: &[u8] = b"apiVersion: v1\nkind: Namespace\nmetadata: {name: cert-manager}\n";

#[tokio::test]
async fn the_first_download_writes_the_lock_and_later_runs_use_the_verified_cache() {
    let files = Files::default();
    files.set("/v1.21.1/cert-manager.yaml", MANIFEST);
    let base = files.serve();
    let cache = tempfile::tempdir().unwrap();
    let store = ArtifactStore::at(cache.path(), http());
    let requests = [request(&base, "/v1.21.1/cert-manager.yaml", None)];

    let first = store.fetch_all(&requests).await.unwrap();
    assert_eq!(first[0].verified_against, Reference::FirstDownload);
    assert!(first[0].downloaded);
    assert_eq!(std::fs::read(&first[0].path).unwrap(), MANIFEST);
    assert!(first[0]
        .path
        .ends_with("cert-manager/v1.21.1/cert-manager.yaml"));
    let lock = Lock::read(&cache.path().join(LOCK_FILE_NAME)).unwrap();
    let entry = &lock.artifacts[&requests[0].url];
    assert_eq!(entry.sha256, sha256_hex(MANIFEST));
    assert_eq!(entry.bytes, MANIFEST.len() as u64);

    let second = store.fetch_all(&requests).await.unwrap();
    assert_eq!(second[0].verified_against, Reference::LockFile);
    assert!(!second[0].downloaded);
    assert_eq!(
        files.hits("/v1.21.1/cert-manager.yaml"),
        1,
        "the cache was used"
    );
}

#[tokio::test]
async fn a_changed_upstream_file_fails_against_the_lock_and_is_not_used() {
    let files = Files::default();
    files.set("/install.yaml", MANIFEST);
    let base = files.serve();
    let cache = tempfile::tempdir().unwrap();
    let store = ArtifactStore::at(cache.path(), http());
    let requests = [request(&base, "/install.yaml", None)];
    let first = store.fetch_all(&requests).await.unwrap();

    // Someone tampers with the cached copy and upstream now serves something else.
    std::fs::write(&first[0].path, b"kind: Tampered\n").unwrap();
    files.set("/install.yaml", b"kind: SomethingElse\n");
    let err = store.fetch_all(&requests).await.unwrap_err();
    match &err {
        ArtifactError::ChecksumMismatch {
            expected,
            actual,
            reference,
            ..
        } => {
            assert_eq!(expected, &sha256_hex(MANIFEST));
            assert_eq!(actual, &sha256_hex(b"kind: SomethingElse\n"));
            assert_eq!(*reference, Reference::LockFile);
        }
        other => panic!("expected a checksum mismatch, got {other}"),
    }
    assert!(err.to_string().contains(LOCK_FILE_NAME), "{err}");
    // The lock still holds the original checksum.
    let lock = Lock::read(&cache.path().join(LOCK_FILE_NAME)).unwrap();
    assert_eq!(
        lock.artifacts[&requests[0].url].sha256,
        sha256_hex(MANIFEST)
    );
}

#[tokio::test]
async fn a_corrupted_cache_is_repaired_from_upstream_when_upstream_still_matches() {
    let files = Files::default();
    files.set("/install.yaml", MANIFEST);
    let base = files.serve();
    let cache = tempfile::tempdir().unwrap();
    let store = ArtifactStore::at(cache.path(), http());
    let requests = [request(&base, "/install.yaml", None)];
    let first = store.fetch_all(&requests).await.unwrap();
    std::fs::write(&first[0].path, b"half a fi").unwrap();
    let again = store.fetch_all(&requests).await.unwrap();
    assert!(again[0].downloaded);
    assert_eq!(std::fs::read(&again[0].path).unwrap(), MANIFEST);
}

#[tokio::test]
async fn a_published_checksum_that_does_not_match_fails_and_writes_nothing() {
    let files = Files::default();
    files.set("/k3d-linux-amd64", b"not the real binary");
    let base = files.serve();
    let cache = tempfile::tempdir().unwrap();
    let store = ArtifactStore::at(cache.path(), http());
    let published = sha256_hex(b"the real binary");
    let err = store
        .fetch_all(&[request(&base, "/k3d-linux-amd64", Some(&published))])
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            ArtifactError::ChecksumMismatch {
                reference: Reference::Upstream,
                ..
            }
        ),
        "{err}"
    );
    assert!(!cache
        .path()
        .join("cert-manager/v1.21.1/k3d-linux-amd64")
        .exists());
    assert!(Lock::read(&cache.path().join(LOCK_FILE_NAME))
        .unwrap()
        .artifacts
        .is_empty());

    // The same request with the right published checksum passes and needs no lock entry.
    let ok = store
        .fetch_all(&[request(
            &base,
            "/k3d-linux-amd64",
            Some(&sha256_hex(b"not the real binary")),
        )])
        .await
        .unwrap();
    assert_eq!(ok[0].verified_against, Reference::Upstream);
    assert!(Lock::read(&cache.path().join(LOCK_FILE_NAME))
        .unwrap()
        .artifacts
        .is_empty());
}

#[tokio::test]
async fn a_missing_file_is_an_http_error_naming_the_url() {
    let files = Files::default();
    let base = files.serve();
    let cache = tempfile::tempdir().unwrap();
    let store = ArtifactStore::at(cache.path(), http());
    let err = store
        .fetch_all(&[request(&base, "/gone.yaml", None)])
        .await
        .unwrap_err();
    assert!(
        matches!(err, ArtifactError::Status { status: 404, .. }),
        "{err}"
    );
    assert!(err.to_string().contains("/gone.yaml"), "{err}");
}

#[tokio::test]
async fn downloaded_manifests_are_vendored_for_argocd() {
    let files = Files::default();
    files.set("/serving-crds.yaml", b"kind: CustomResourceDefinition\n");
    files.set("/serving-core.yaml", b"kind: Deployment\n");
    let base = files.serve();
    let cache = tempfile::tempdir().unwrap();
    let store = ArtifactStore::at(cache.path(), http());
    let knative = |path: &str| ArtifactRequest {
        component: "knative-serving".into(),
        version: "knative-v1.23.0".into(),
        url: format!("{base}{path}"),
        kind: ArtifactKind::Manifest,
        sha256: None,
    };
    let fetched = store
        .fetch_all(&[knative("/serving-crds.yaml"), knative("/serving-core.yaml")])
        .await
        .unwrap();
    let repo = tempfile::tempdir().unwrap();
    vendor::vendor_all(repo.path(), &fetched).unwrap();
    let kustomization = std::fs::read_to_string(
        repo.path()
            .join("vendor/knative-serving/kustomization.yaml"),
    )
    .unwrap();
    assert!(
        kustomization.contains("- serving-crds.yaml"),
        "{kustomization}"
    );
    assert!(
        kustomization.contains("- serving-core.yaml"),
        "{kustomization}"
    );
    assert_eq!(
        std::fs::read(repo.path().join("vendor/knative-serving/serving-core.yaml")).unwrap(),
        b"kind: Deployment\n"
    );
}

#[tokio::test]
async fn a_mirror_serves_the_bytes_but_the_lock_keys_and_verifies_the_upstream_url() {
    let files = Files::default();
    files.set(
        "/mirror/github.com/cert-manager/cert-manager.yaml",
        MANIFEST,
    );
    let base = files.serve();
    let cache = tempfile::tempdir().unwrap();
    let store = ArtifactStore::at(cache.path(), http()).with_mirror(format!("{base}/mirror"));
    let upstream = request(
        "https://github.com",
        "/cert-manager/cert-manager.yaml",
        None,
    );
    let fetched = store
        .fetch_all(std::slice::from_ref(&upstream))
        .await
        .unwrap();
    assert_eq!(fetched[0].url, upstream.url);
    let lock = Lock::read(&cache.path().join(LOCK_FILE_NAME)).unwrap();
    assert!(lock.artifacts.contains_key(&upstream.url));

    // A mirror serving other bytes for a locked URL is refused.
    files.set(
        "/mirror/github.com/cert-manager/cert-manager.yaml",
        b"kind: Substituted\n",
    );
    std::fs::remove_file(&fetched[0].path).unwrap();
    let err = store.fetch_all(&[upstream]).await.unwrap_err();
    assert!(
        matches!(err, ArtifactError::ChecksumMismatch { .. }),
        "{err}"
    );
}
