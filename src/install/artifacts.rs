//! Pinned upstream artefacts: download each one once into the cache, verify it, and keep a lock
//! file. Verification uses upstream's published SHA-256 where the pin table carries one;
//! otherwise the first download's SHA-256 is written to the lock file (as Cargo.lock does) and
//! every later run, cached or re-downloaded, must match it.
//!
//! Layout under the artefact directory (`<cache>/artifacts` by default):
//! `<component>/<version>/<file name>` for each file, and the lock file
//! [`LOCK_FILE_NAME`] = `artifacts.lock.json`:
//!
//! ```json
//! {
//!   "schema": "neuroscale.artifacts.lock/v1",
//!   "artifacts": {
//!     "https://github.com/.../cert-manager.yaml": { "sha256": "9f2c…", "bytes": 1048576 }
//!   }
//! }
//! ```
//!
//! Entries are keyed by URL (every URL names its version) and sorted, so the file diffs cleanly.
//! Deleting an entry re-trusts the next download of that URL; nothing else rewrites an entry.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use futures::stream::{self, StreamExt, TryStreamExt};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::components::{ArtifactKind, Component};

/// The lock file's name inside the artefact directory.
pub const LOCK_FILE_NAME: &str = "artifacts.lock.json";
/// The lock file's schema identifier.
pub const LOCK_SCHEMA: &str = "neuroscale.artifacts.lock/v1";
/// An environment variable naming a mirror to download from instead of upstream: the file at
/// `https://host/path` is fetched from `<mirror>/host/path`. The lock and published checksums
/// still apply, keyed by the upstream URL, so a mirror cannot substitute content.
pub const MIRROR_ENV: &str = "NEUROSCALE_ARTIFACT_MIRROR";
/// Downloads in flight at once.
const PARALLEL_DOWNLOADS: usize = 4;

pub type Result<T, E = ArtifactError> = std::result::Result<T, E>;

/// Why an artefact could not be provided.
#[derive(Debug, thiserror::Error)]
pub enum ArtifactError {
    #[error("failed to download {url}")]
    Http {
        url: String,
        #[source]
        source: reqwest::Error,
    },
    #[error("failed to download {url}: HTTP {status}")]
    Status { url: String, status: u16 },
    #[error(
        "checksum mismatch for {url}: expected sha256 {expected} ({reference}), got {actual}; \
         the file was not used. If upstream legitimately re-published it, remove its entry from \
         {lock_file} and run again"
    )]
    ChecksumMismatch {
        url: String,
        expected: String,
        actual: String,
        reference: Reference,
        lock_file: PathBuf,
    },
    #[error("failed to access {path}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("lock file {path} is malformed: {message}; fix or delete it")]
    LockFile { path: PathBuf, message: String },
    #[error("artifact url {url} has no file name")]
    NoFileName { url: String },
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> ArtifactError + '_ {
    move |source| ArtifactError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// What a checksum was compared against.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Reference {
    /// Upstream's published checksum, carried in the pin table.
    Upstream,
    /// The lock file entry written by an earlier download.
    LockFile,
    /// Nothing yet: this download wrote the lock entry.
    FirstDownload,
}

impl std::fmt::Display for Reference {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Reference::Upstream => "upstream's published checksum",
            Reference::LockFile => "lock file",
            Reference::FirstDownload => "first download",
        })
    }
}

/// One file to provide: an owned copy of a pin-table artefact (tests point it at loopback).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArtifactRequest {
    pub component: String,
    pub version: String,
    pub url: String,
    pub kind: ArtifactKind,
    pub sha256: Option<String>,
}

impl ArtifactRequest {
    /// Every artefact of the given components, in pin-table order.
    pub fn for_components(components: &[Component]) -> Vec<ArtifactRequest> {
        components
            .iter()
            .flat_map(|c| {
                c.artifacts.iter().map(|a| ArtifactRequest {
                    component: c.name.to_string(),
                    version: c.version.to_string(),
                    url: a.url.to_string(),
                    kind: a.kind,
                    sha256: a.sha256.map(str::to_string),
                })
            })
            .collect()
    }

    fn file_name(&self) -> Result<&str> {
        self.url
            .rsplit('/')
            .next()
            .filter(|n| !n.is_empty() && *n != ".." && *n != ".")
            .ok_or_else(|| ArtifactError::NoFileName {
                url: self.url.clone(),
            })
    }
}

/// A verified file in the cache.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FetchedArtifact {
    pub component: String,
    pub url: String,
    pub kind: ArtifactKind,
    pub path: PathBuf,
    pub sha256: String,
    /// What the checksum was verified against.
    pub verified_against: Reference,
    /// False when the cached copy was used without touching the network.
    pub downloaded: bool,
}

/// One lock entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LockEntry {
    pub sha256: String,
    pub bytes: u64,
}

/// The lock file's content.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Lock {
    pub schema: String,
    pub artifacts: BTreeMap<String, LockEntry>,
}

impl Default for Lock {
    fn default() -> Self {
        Lock {
            schema: LOCK_SCHEMA.to_string(),
            artifacts: BTreeMap::new(),
        }
    }
}

impl Lock {
    /// Reads the lock file; a missing file is an empty lock.
    pub fn read(path: &Path) -> Result<Lock> {
        let text = match std::fs::read_to_string(path) {
            Ok(text) => text,
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => return Ok(Lock::default()),
            Err(source) => return Err(io(path)(source)),
        };
        let lock: Lock = serde_json::from_str(&text).map_err(|err| ArtifactError::LockFile {
            path: path.to_path_buf(),
            message: err.to_string(),
        })?;
        if lock.schema != LOCK_SCHEMA {
            return Err(ArtifactError::LockFile {
                path: path.to_path_buf(),
                message: format!("schema is `{}`, expected `{LOCK_SCHEMA}`", lock.schema),
            });
        }
        Ok(lock)
    }

    /// Writes the lock file atomically (temp file + rename), so Ctrl-C never leaves half a file.
    pub fn write(&self, path: &Path) -> Result<()> {
        let text = serde_json::to_string_pretty(self).expect("plain data") + "\n";
        write_atomically(path, text.as_bytes())
    }
}

fn write_atomically(path: &Path, bytes: &[u8]) -> Result<()> {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).map_err(io(parent))?;
    }
    let partial = path.with_extension("partial");
    std::fs::write(&partial, bytes).map_err(io(&partial))?;
    std::fs::rename(&partial, path).map_err(io(path))
}

/// SHA-256 as lowercase hex.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// The artefact cache: a directory of verified downloads plus their lock file.
#[derive(Debug, Clone)]
pub struct ArtifactStore {
    root: PathBuf,
    http: reqwest::Client,
    mirror: Option<String>,
}

impl ArtifactStore {
    /// The store under `<cache>/artifacts` (see [`crate::cache::cache_dir`]), downloading
    /// through the mirror named by [`MIRROR_ENV`] when it is set.
    pub fn in_cache(http: reqwest::Client) -> Self {
        let store = Self::at(crate::cache::cache_dir().join("artifacts"), http);
        match std::env::var(MIRROR_ENV) {
            Ok(mirror) if !mirror.is_empty() => store.with_mirror(mirror),
            _ => store,
        }
    }

    pub fn at(root: impl Into<PathBuf>, http: reqwest::Client) -> Self {
        ArtifactStore {
            root: root.into(),
            http,
            mirror: None,
        }
    }

    /// Downloads from `mirror` (see [`MIRROR_ENV`]) instead of upstream.
    pub fn with_mirror(mut self, mirror: impl Into<String>) -> Self {
        self.mirror = Some(mirror.into().trim_end_matches('/').to_string());
        self
    }

    /// Where `url` is actually fetched from.
    pub fn source_of(&self, url: &str) -> String {
        match &self.mirror {
            Some(mirror) => {
                let without_scheme = url.split_once("://").map_or(url, |(_, rest)| rest);
                format!("{mirror}/{without_scheme}")
            }
            None => url.to_string(),
        }
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    pub fn lock_path(&self) -> PathBuf {
        self.root.join(LOCK_FILE_NAME)
    }

    /// Provides every requested file, verified; downloads run concurrently, cached files that
    /// still match their reference are used without touching the network. New lock entries are
    /// written only after every file verified, so a failed run records nothing half-trusted.
    pub async fn fetch_all(&self, requests: &[ArtifactRequest]) -> Result<Vec<FetchedArtifact>> {
        let lock_path = self.lock_path();
        let lock = Lock::read(&lock_path)?;
        let fetched: Vec<FetchedArtifact> = stream::iter(requests)
            .map(|request| self.fetch_one(request, &lock))
            .buffered(PARALLEL_DOWNLOADS)
            .try_collect()
            .await?;
        let mut updated = lock.clone();
        for artifact in &fetched {
            if artifact.verified_against == Reference::FirstDownload {
                let bytes = std::fs::metadata(&artifact.path)
                    .map_err(io(&artifact.path))?
                    .len();
                updated.artifacts.insert(
                    artifact.url.clone(),
                    LockEntry {
                        sha256: artifact.sha256.clone(),
                        bytes,
                    },
                );
            }
        }
        if updated != lock || !lock_path.exists() {
            updated.write(&lock_path)?;
        }
        Ok(fetched)
    }

    async fn fetch_one(&self, request: &ArtifactRequest, lock: &Lock) -> Result<FetchedArtifact> {
        let path = self
            .root
            .join(&request.component)
            .join(&request.version)
            .join(request.file_name()?);
        let (expected, reference) = match (&request.sha256, lock.artifacts.get(&request.url)) {
            (Some(pinned), _) => (Some(pinned.to_ascii_lowercase()), Reference::Upstream),
            (None, Some(entry)) => (Some(entry.sha256.clone()), Reference::LockFile),
            (None, None) => (None, Reference::FirstDownload),
        };
        let fetched = |sha256: String, downloaded: bool| FetchedArtifact {
            component: request.component.clone(),
            url: request.url.clone(),
            kind: request.kind,
            path: path.clone(),
            sha256,
            verified_against: reference,
            downloaded,
        };
        if let (Some(expected), Ok(cached)) = (&expected, std::fs::read(&path)) {
            let actual = sha256_hex(&cached);
            if &actual == expected {
                return Ok(fetched(actual, false));
            }
            tracing::warn!(
                path = %path.display(),
                "cached artefact does not match its {reference}; downloading it again"
            );
        }
        let bytes = self.download(&self.source_of(&request.url)).await?;
        let actual = sha256_hex(&bytes);
        if let Some(expected) = expected {
            if actual != expected {
                return Err(ArtifactError::ChecksumMismatch {
                    url: request.url.clone(),
                    expected,
                    actual,
                    reference,
                    lock_file: self.lock_path(),
                });
            }
        }
        write_atomically(&path, &bytes)?;
        Ok(fetched(actual, true))
    }

    async fn download(&self, url: &str) -> Result<Vec<u8>> {
        let http_error = |source| ArtifactError::Http {
            url: url.to_string(),
            source,
        };
        let response = self.http.get(url).send().await.map_err(http_error)?;
        let status = response.status();
        if !status.is_success() {
            return Err(ArtifactError::Status {
                url: url.to_string(),
                status: status.as_u16(),
            });
        }
        let bytes = response.bytes().await.map_err(http_error)?;
        Ok(bytes.to_vec())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sha256_is_lowercase_hex() {
        // The SHA-256 of the empty string (FIPS 180-2 test vector).
        assert_eq!(
            sha256_hex(b""),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
    }

    #[test]
    fn a_missing_lock_file_is_an_empty_lock() {
        let dir = tempfile::tempdir().unwrap();
        let lock = Lock::read(&dir.path().join(LOCK_FILE_NAME)).unwrap();
        assert!(lock.artifacts.is_empty());
    }

    #[test]
    fn a_lock_file_round_trips_and_a_foreign_schema_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(LOCK_FILE_NAME);
        let mut lock = Lock::default();
        lock.artifacts.insert(
            "https://example.invalid/a.yaml".into(),
            LockEntry {
                sha256: "ab".into(),
                bytes: 2,
            },
        );
        lock.write(&path).unwrap();
        assert_eq!(Lock::read(&path).unwrap(), lock);
        std::fs::write(&path, r#"{"schema":"other/v9","artifacts":{}}"#).unwrap();
        let err = Lock::read(&path).unwrap_err().to_string();
        assert!(err.contains("other/v9"), "{err}");
    }

    #[test]
    fn a_mirror_keeps_host_and_path() {
        // reqwest is built without a default TLS provider; the binary installs ring.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let store = ArtifactStore::at("/nowhere", reqwest::Client::new())
            .with_mirror("http://127.0.0.1:8080/mirror/");
        assert_eq!(
            store.source_of("https://github.com/kyverno/kyverno/releases/download/v1.19.0/install.yaml"),
            "http://127.0.0.1:8080/mirror/github.com/kyverno/kyverno/releases/download/v1.19.0/install.yaml"
        );
        let direct = ArtifactStore::at("/nowhere", reqwest::Client::new());
        assert_eq!(direct.source_of("https://a/b"), "https://a/b");
    }

    #[test]
    fn requests_cover_every_pinned_artifact() {
        let requests = ArtifactRequest::for_components(crate::components::COMPONENTS);
        let pinned: usize = crate::components::COMPONENTS
            .iter()
            .map(|c| c.artifacts.len())
            .sum();
        assert_eq!(requests.len(), pinned);
        for request in &requests {
            assert!(request.file_name().is_ok(), "{}", request.url);
        }
    }
}
