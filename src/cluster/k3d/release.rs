//! The pinned k3d release: its asset name per platform, the `checksums.txt` listing it is
//! verified against, and writing the verified binary into the cache atomically.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use super::{K3dError, Result};

/// The name of k3d's release asset for an OS and architecture as Rust names them
/// (std::env::consts), per k3d's Makefile `TARGETS` and install.sh.
pub fn asset_name(os: &str, arch: &str) -> Option<String> {
    let os = match os {
        "linux" => "linux",
        "macos" => "darwin",
        "windows" => "windows",
        _ => return None,
    };
    let arch = match arch {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        "x86" if os == "linux" => "386",
        "arm" if os == "linux" => "arm",
        _ => return None,
    };
    if os == "windows" && arch != "amd64" || os == "darwin" && !matches!(arch, "amd64" | "arm64") {
        return None;
    }
    let exe = if os == "windows" { ".exe" } else { "" };
    Some(format!("k3d-{os}-{arch}{exe}"))
}

/// Parses a `sha256sum` listing (k3d's Makefile `gen-checksum` runs `sha256sum _dist/*`, so names
/// carry a `_dist/` prefix): file name -> lowercase hex digest.
pub fn parse_checksums(text: &str) -> BTreeMap<String, String> {
    text.lines()
        .filter_map(|line| {
            let mut fields = line.split_whitespace();
            let digest = fields.next()?;
            let name = fields.next()?.trim_start_matches('*');
            let name = name.rsplit('/').next()?;
            (digest.len() == 64 && digest.chars().all(|c| c.is_ascii_hexdigit()))
                .then(|| (name.to_string(), digest.to_ascii_lowercase()))
        })
        .collect()
}

pub(super) fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

pub(super) fn find_on_path(program: &str) -> Option<PathBuf> {
    let exe = format!("{program}{}", std::env::consts::EXE_SUFFIX);
    std::env::split_paths(&std::env::var_os("PATH")?)
        .map(|dir| dir.join(&exe))
        .find(|candidate| is_executable(candidate))
}

pub(super) fn is_executable(path: &Path) -> bool {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        path.metadata()
            .map(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
            .unwrap_or(false)
    }
    #[cfg(not(unix))]
    {
        path.is_file()
    }
}

pub(super) fn write_atomic(path: &Path, bytes: &[u8], mode: u32) -> Result<()> {
    let io = |source| K3dError::Io {
        path: path.to_path_buf(),
        source,
    };
    let dir = path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).map_err(io)?;
    let tmp = dir.join(format!(
        ".{}.partial-{}",
        path.file_name().and_then(|n| n.to_str()).unwrap_or("file"),
        std::process::id()
    ));
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(mode);
    }
    #[cfg(not(unix))]
    let _ = mode;
    let mut file = options.open(&tmp).map_err(io)?;
    file.write_all(bytes)
        .and_then(|_| file.sync_all())
        .map_err(io)?;
    drop(file);
    std::fs::rename(&tmp, path).map_err(io)
}

pub(super) fn install_verified(binary: &Path, bytes: &[u8], digest: &str) -> Result<()> {
    write_atomic(binary, bytes, 0o755)?;
    write_atomic(&binary.with_extension("sha256"), digest.as_bytes(), 0o644)
}
