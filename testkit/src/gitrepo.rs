//! Git as the sim's ArgoCD repo-server sees it: a repository URL resolves to a local bare
//! repository, either one a test registered for that URL (an alias: no daemon needed) or a
//! mirror fetched over the network with the real `git` client, exactly as the repo-server
//! fetches. `host.k3d.internal` in a URL means this machine: k3d writes that host record into
//! every node and into CoreDNS so pods reach the host (k3d docs/faq/faq.md,
//! `DefaultK3dInternalHostRecord`); in the sim the host is loopback.
//!
//! Revisions resolve to commit ids; a commit checks out (once) into a scratch directory for the
//! renderers; tree ids of paths key the render cache.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};

/// How often a network remote is fetched at most (ArgoCD polls every `timeout.reconciliation`;
/// the sim compresses that).
const FETCH_INTERVAL: Duration = Duration::from_millis(500);

/// The repositories the sim's ArgoCD reads.
pub struct Repos {
    scratch: PathBuf,
    aliases: Mutex<BTreeMap<String, PathBuf>>,
    fetched: Mutex<BTreeMap<String, Instant>>,
}

fn git(dir: &Path, args: &[&str]) -> Result<String, String> {
    let output = Command::new("git")
        .arg("--git-dir")
        .arg(dir)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("cannot run git: {e}"))?;
    if output.status.success() {
        Ok(String::from_utf8_lossy(&output.stdout).trim().to_string())
    } else {
        Err(String::from_utf8_lossy(&output.stderr).trim().to_string())
    }
}

/// The URL the host reaches for a URL a pod uses.
pub fn host_url(url: &str) -> String {
    url.replace("host.k3d.internal", "127.0.0.1")
}

impl Repos {
    pub fn new(scratch: PathBuf) -> Repos {
        Repos {
            scratch,
            aliases: Mutex::new(BTreeMap::new()),
            fetched: Mutex::new(BTreeMap::new()),
        }
    }

    /// Makes `url` read the bare repository at `path` directly.
    pub fn alias(&self, url: &str, path: &Path) {
        self.aliases
            .lock()
            .expect("aliases lock")
            .insert(url.to_string(), path.to_path_buf());
    }

    /// The local bare repository for `url`, fetched first when it is a network remote.
    fn local(&self, url: &str) -> Result<PathBuf, String> {
        if let Some(path) = self.aliases.lock().expect("aliases lock").get(url) {
            return Ok(path.clone());
        }
        let digest = format!("{:x}", Sha256::digest(url.as_bytes()));
        let mirror = self.scratch.join("repos").join(&digest[..16]);
        let mut fetched = self.fetched.lock().expect("fetched lock");
        let fresh = fetched
            .get(url)
            .is_some_and(|at| at.elapsed() < FETCH_INTERVAL);
        if !fresh {
            let remote = host_url(url);
            if !mirror.join("HEAD").is_file() {
                std::fs::create_dir_all(&mirror).map_err(|e| e.to_string())?;
                git(&mirror, &["init", "--bare", "--quiet"])?;
            }
            // What the repo-server's `git fetch` reports is what ArgoCD shows.
            git(
                &mirror,
                &[
                    "fetch",
                    "--quiet",
                    "--force",
                    "--prune",
                    &remote,
                    "+refs/heads/*:refs/heads/*",
                    "+HEAD:refs/remotes/origin/HEAD",
                ],
            )
            .map_err(|e| format!("failed to list refs: {e}"))?;
            fetched.insert(url.to_string(), Instant::now());
        }
        Ok(mirror)
    }

    /// The commit `revision` (`HEAD`, a branch, or a commit id) names in `url`.
    pub fn resolve(&self, url: &str, revision: &str) -> Result<String, String> {
        let dir = self.local(url)?;
        let aliased = self.aliases.lock().expect("aliases lock").contains_key(url);
        let candidates: Vec<String> = match revision {
            "" | "HEAD" if aliased => vec!["HEAD".into()],
            "" | "HEAD" => vec!["refs/remotes/origin/HEAD".into(), "HEAD".into()],
            other => vec![format!("refs/heads/{other}"), other.to_string()],
        };
        for candidate in &candidates {
            if let Ok(sha) = git(
                &dir,
                &[
                    "rev-parse",
                    "--verify",
                    "--quiet",
                    &format!("{candidate}^{{commit}}"),
                ],
            ) {
                return Ok(sha);
            }
        }
        Err(format!("unable to resolve '{revision}' to a commit SHA"))
    }

    /// The tree id of `path` at `commit` (None when the path does not exist there).
    pub fn tree_id(&self, url: &str, commit: &str, path: &str) -> Option<String> {
        let dir = self.local_cached(url)?;
        let path = path.trim_matches('/');
        let spec = if path.is_empty() || path == "." {
            format!("{commit}^{{tree}}")
        } else {
            format!("{commit}:{path}")
        };
        git(&dir, &["rev-parse", "--verify", "--quiet", &spec]).ok()
    }

    /// The directories directly under `parent` at `commit`, by name.
    pub fn directories(&self, url: &str, commit: &str, parent: &str) -> Vec<String> {
        let Some(dir) = self.local_cached(url) else {
            return Vec::new();
        };
        let listing = git(
            &dir,
            &[
                "ls-tree",
                "-d",
                "--name-only",
                commit,
                &format!("{}/", parent.trim_matches('/')),
            ],
        )
        .unwrap_or_default();
        let mut names: Vec<String> = listing
            .lines()
            .filter_map(|line| line.rsplit('/').next())
            .map(str::to_string)
            .collect();
        names.sort();
        names
    }

    /// The whole tree at `commit`, checked out once under the scratch directory.
    pub fn checkout(&self, url: &str, commit: &str) -> Result<PathBuf, String> {
        let dir = self.local_cached(url).ok_or("repository not fetched")?;
        let target = self.scratch.join("checkouts").join(commit);
        if target.join(".complete").is_file() {
            return Ok(target);
        }
        let _ = std::fs::remove_dir_all(&target);
        std::fs::create_dir_all(&target).map_err(|e| e.to_string())?;
        let archive = Command::new("git")
            .arg("--git-dir")
            .arg(&dir)
            .args(["archive", "--format=tar", commit])
            .stdout(Stdio::piped())
            .spawn()
            .map_err(|e| format!("cannot run git archive: {e}"))?;
        let status = Command::new("tar")
            .arg("-x")
            .arg("-C")
            .arg(&target)
            .stdin(archive.stdout.expect("piped"))
            .status()
            .map_err(|e| format!("cannot run tar: {e}"))?;
        if !status.success() {
            return Err(format!("checking out {commit} failed"));
        }
        std::fs::write(target.join(".complete"), b"").map_err(|e| e.to_string())?;
        Ok(target)
    }

    fn local_cached(&self, url: &str) -> Option<PathBuf> {
        if let Some(path) = self.aliases.lock().expect("aliases lock").get(url) {
            return Some(path.clone());
        }
        let digest = format!("{:x}", Sha256::digest(url.as_bytes()));
        let mirror = self.scratch.join("repos").join(&digest[..16]);
        mirror.join("HEAD").is_file().then_some(mirror)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pods_reach_the_host_as_loopback_in_the_sim() {
        assert_eq!(
            host_url("git://host.k3d.internal:9418/neuroscale.git"),
            "git://127.0.0.1:9418/neuroscale.git"
        );
    }
}
