//! What the binary carries so it works from any directory: the platform's `manifests/` tree,
//! the k3d cluster configs (`k3d/*.yaml`) and the scenarios (`scenarios/*.yaml`), embedded at
//! build time. Files on disk are read only when a flag names them (`--config`, `--scenario`,
//! `--manifests DIR`).
//!
//! The install and vendor code works on a directory of manifests, so the embedded tree is
//! written once into the cache, under a folder named by a digest of its contents: a binary
//! built from other manifests gets another folder, and a folder that exists is complete
//! (it is written beside its final name and renamed into place, so concurrent runs never see
//! half of it).

use std::path::{Path, PathBuf};

use include_dir::{include_dir, Dir};
use sha2::{Digest, Sha256};

/// The platform's GitOps content (`manifests/`).
static MANIFESTS: Dir<'static> = include_dir!("$CARGO_MANIFEST_DIR/manifests");
/// The k3d cluster configs (`k3d/`).
static K3D_CONFIGS: Dir<'static> = include_dir!("$CARGO_MANIFEST_DIR/k3d");
/// The scenarios (`scenarios/`).
static SCENARIOS: Dir<'static> = include_dir!("$CARGO_MANIFEST_DIR/scenarios");

/// How a built-in file is named in messages: its path in the project, marked as built in.
pub fn display_name(project_path: &str) -> String {
    format!("{project_path} (built in)")
}

/// The k3d config `k3d/<name>.yaml` as built into the binary (`cluster`, `gpu`).
pub fn k3d_config(name: &str) -> Option<&'static str> {
    K3D_CONFIGS
        .get_file(format!("{name}.yaml"))
        .and_then(|f| f.contents_utf8())
}

/// The scenario `scenarios/<name>.yaml` as built into the binary (`smoke`, `nightly`, `gpu`).
pub fn scenario(name: &str) -> Option<&'static str> {
    SCENARIOS
        .get_file(format!("{name}.yaml"))
        .and_then(|f| f.contents_utf8())
}

/// The names of the built-in scenarios, sorted (for messages that list them).
pub fn scenario_names() -> Vec<&'static str> {
    let mut names: Vec<&str> = SCENARIOS
        .files()
        .filter_map(|f| f.path().file_stem()?.to_str())
        .collect();
    names.sort_unstable();
    names
}

/// Why the built-in manifests could not be written to the cache.
#[derive(Debug, thiserror::Error)]
#[error("cannot write the built-in manifests to {path}")]
pub struct MaterialiseError {
    pub path: PathBuf,
    #[source]
    pub source: std::io::Error,
}

/// Every embedded file of `dir` (recursively) with its path relative to the embedded root.
fn files(dir: &'static Dir<'static>) -> Vec<&'static include_dir::File<'static>> {
    let mut out: Vec<_> = dir.files().collect();
    for sub in dir.dirs() {
        out.extend(files(sub));
    }
    out.sort_by_key(|f| f.path());
    out
}

/// A digest of the embedded manifests: every relative path and its contents, in path order.
fn manifests_digest() -> String {
    let mut hasher = Sha256::new();
    for file in files(&MANIFESTS) {
        let path = file.path().to_string_lossy();
        // Length-prefixed so no two trees hash the same by moving bytes between path and body.
        hasher.update((path.len() as u64).to_le_bytes());
        hasher.update(path.as_bytes());
        hasher.update((file.contents().len() as u64).to_le_bytes());
        hasher.update(file.contents());
    }
    hex::encode(&hasher.finalize()[..8])
}

/// The embedded `manifests/` tree as a directory under `cache`
/// (`<cache>/bundled/<digest>/manifests`), written on first use.
pub fn manifests_dir(cache: &Path) -> Result<PathBuf, MaterialiseError> {
    let folder = cache.join("bundled").join(manifests_digest());
    let manifests = folder.join("manifests");
    if manifests.is_dir() {
        return Ok(manifests);
    }
    let err = |path: &Path| {
        let path = path.to_path_buf();
        move |source| MaterialiseError { path, source }
    };
    let parent = cache.join("bundled");
    std::fs::create_dir_all(&parent).map_err(err(&parent))?;
    let staging = tempfile::Builder::new()
        .prefix(".writing-")
        .tempdir_in(&parent)
        .map_err(err(&parent))?;
    let staged = staging.path().join("manifests");
    for file in files(&MANIFESTS) {
        let path = staged.join(file.path());
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(err(dir))?;
        }
        std::fs::write(&path, file.contents()).map_err(err(&path))?;
    }
    match std::fs::rename(staging.path(), &folder) {
        Ok(()) => {
            // The folder now lives under its final name; nothing is left to clean up.
            let _ = staging.keep();
            Ok(manifests)
        }
        // Another run renamed the same contents into place first; theirs is as good as ours.
        Err(_) if manifests.is_dir() => Ok(manifests),
        Err(source) => Err(MaterialiseError {
            path: folder,
            source,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn project(rel: &str) -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join(rel)
    }

    /// Every regular file under `dir`, relative to it, sorted.
    fn on_disk(dir: &Path) -> Vec<(PathBuf, Vec<u8>)> {
        fn walk(root: &Path, dir: &Path, out: &mut Vec<(PathBuf, Vec<u8>)>) {
            for entry in std::fs::read_dir(dir).unwrap() {
                let path = entry.unwrap().path();
                if path.is_dir() {
                    walk(root, &path, out);
                } else {
                    let rel = path.strip_prefix(root).unwrap().to_path_buf();
                    out.push((rel, std::fs::read(&path).unwrap()));
                }
            }
        }
        let mut out = Vec::new();
        walk(dir, dir, &mut out);
        out.sort();
        out
    }

    fn embedded(dir: &'static Dir<'static>) -> Vec<(PathBuf, Vec<u8>)> {
        let mut out: Vec<_> = files(dir)
            .into_iter()
            .map(|f| (f.path().to_path_buf(), f.contents().to_vec()))
            .collect();
        out.sort();
        out
    }

    #[test]
    fn the_embedded_trees_equal_the_files_on_disk() {
        for (dir, name) in [
            (&MANIFESTS, "manifests"),
            (&K3D_CONFIGS, "k3d"),
            (&SCENARIOS, "scenarios"),
        ] {
            let disk = on_disk(&project(name));
            assert!(!disk.is_empty(), "{name}/ has files");
            assert_eq!(embedded(dir), disk, "{name}/ as built in differs from disk");
        }
    }

    #[test]
    fn built_in_configs_and_scenarios_are_found_by_name() {
        assert_eq!(
            k3d_config("cluster"),
            Some(
                std::fs::read_to_string(project("k3d/cluster.yaml"))
                    .unwrap()
                    .as_str()
            )
        );
        assert!(k3d_config("gpu").is_some());
        assert!(k3d_config("nope").is_none());
        assert_eq!(scenario_names(), ["gpu", "nightly", "smoke"]);
        assert!(scenario("smoke").is_some_and(|s| s.contains("Scenario")));
    }

    #[test]
    fn the_manifests_are_written_once_and_reused() {
        let cache = tempfile::tempdir().unwrap();
        let first = manifests_dir(cache.path()).unwrap();
        assert!(first.join("root.yaml").is_file());
        assert_eq!(on_disk(&first), on_disk(&project("manifests")));
        let second = manifests_dir(cache.path()).unwrap();
        assert_eq!(first, second);
        let folders: Vec<_> = std::fs::read_dir(cache.path().join("bundled"))
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(folders.len(), 1, "no staging folder is left: {folders:?}");
    }

    #[test]
    fn concurrent_writers_all_get_the_complete_tree() {
        let cache = tempfile::tempdir().unwrap();
        let dirs: Vec<PathBuf> = std::thread::scope(|scope| {
            let handles: Vec<_> = (0..4)
                .map(|_| scope.spawn(|| manifests_dir(cache.path()).unwrap()))
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        });
        for dir in &dirs {
            assert_eq!(on_disk(dir), on_disk(&project("manifests")));
        }
    }
}
