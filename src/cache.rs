//! The one cache directory every piece of state outside the cluster lives under: the k3d binary,
//! downloaded upstream artefacts and their lock file, and the local GitOps repository. `down`
//! keeps it; `down --purge` removes the image cache too.

use std::path::PathBuf;

/// `$NEUROSCALE_CACHE_DIR`, else `$XDG_CACHE_HOME/neuroscale`, else `~/.cache/neuroscale`, else
/// `.neuroscale-cache` in the working directory when no home is known (a bare CI container).
pub fn cache_dir() -> PathBuf {
    let var = |name: &str| std::env::var_os(name).filter(|v| !v.is_empty());
    if let Some(dir) = var("NEUROSCALE_CACHE_DIR") {
        return PathBuf::from(dir);
    }
    if let Some(xdg) = var("XDG_CACHE_HOME") {
        return PathBuf::from(xdg).join("neuroscale");
    }
    match var("HOME") {
        Some(home) => PathBuf::from(home).join(".cache").join("neuroscale"),
        None => PathBuf::from(".neuroscale-cache"),
    }
}
