//! The local GitOps source: a bare git repository under `cache_dir()/gitops/` that ArgoCD
//! syncs from, built from the project's `manifests/` plus the vendored upstream artefacts, and
//! served read-only by a detached `git daemon` that outlives the harness (the cluster must stay
//! converged after `up` exits). Commits are made with git plumbing on a private index, so the
//! repository never needs a work tree and concurrent writers cannot lose each other's commits
//! (the branch moves by compare-and-swap). All git calls go through `duct` with a deadline.

use std::collections::BTreeSet;
use std::fs;
use std::io::{Read, Write};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use super::scaffold::{render, ModelSpec};
use super::{model_dir, MODELS_DIR, REPO_URL_PLACEHOLDER};

/// The repository's directory name under the GitOps directory (and its path in git:// URLs).
pub const REPO_NAME: &str = "neuroscale.git";
/// The branch ArgoCD follows (`targetRevision: HEAD` resolves to it).
pub const BRANCH: &str = "main";
const BRANCH_REF: &str = "refs/heads/main";
pub(super) const PID_FILE: &str = "daemon.pid";
pub(super) const ADDR_FILE: &str = "daemon.addr";
/// No single git command on a local repository should take longer.
const GIT_DEADLINE: Duration = Duration::from_secs(60);
/// How long `serve` waits for the daemon to accept connections, and `stop_serving` for it to exit.
pub(super) const DAEMON_DEADLINE: Duration = Duration::from_secs(10);
const AUTHOR_NAME: &str = "neuroscale";
const AUTHOR_EMAIL: &str = "neuroscale@localhost";

/// A commit id (full hex).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CommitId(pub String);

impl CommitId {
    /// The first 12 characters, for messages.
    pub fn short(&self) -> &str {
        &self.0[..self.0.len().min(12)]
    }
}

impl std::fmt::Display for CommitId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// What can go wrong with the local GitOps source.
#[derive(Debug, thiserror::Error)]
pub enum GitopsError {
    #[error("`git` was not found on PATH; install git (e.g. `apt-get install git`) to use the local GitOps source")]
    GitMissing,
    #[error("`{command}` failed: {stderr}")]
    Git { command: String, stderr: String },
    #[error("`{command}` did not finish within {}s", .deadline.as_secs())]
    GitTimeout { command: String, deadline: Duration },
    #[error("no local GitOps source at {0} (`neuroscale up` creates it in the cache directory, $NEUROSCALE_CACHE_DIR): run `neuroscale up` first, or `new-model --out DIR` to write the model folder elsewhere")]
    NotARepository(PathBuf),
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("model `{name}` already exists in the GitOps source ({dir}); pick another name or remove it with `neuroscale new-model --remove {name}`")]
    ModelExists { name: String, dir: String },
    #[error("model `{name}` is not in the GitOps source (models there: {known})")]
    ModelNotFound { name: String, known: String },
    #[error("invalid model: {0}")]
    InvalidModel(#[from] super::scaffold::ScaffoldError),
    #[error("{path} holds no root.yaml: --manifests must name the folder holding the manifests tree (root.yaml, apps/, ...)")]
    NoManifests { path: PathBuf },
    #[error("branch {BRANCH} moved while committing (another writer); retry")]
    ConcurrentUpdate,
    #[error("cannot serve on {addr}: {reason}")]
    Serve { addr: SocketAddr, reason: String },
    #[error("git daemon (pid {pid}) did not exit within {}s of SIGTERM", .deadline.as_secs())]
    StopTimeout { pid: i32, deadline: Duration },
}

pub type Result<T, E = GitopsError> = std::result::Result<T, E>;

pub(super) fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> GitopsError + '_ {
    move |source| GitopsError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// The local GitOps repository and its daemon's state, all under one directory.
#[derive(Debug, Clone)]
pub struct GitSource {
    pub(super) dir: PathBuf,
}

impl GitSource {
    /// The default GitOps directory: `cache_dir()/gitops`.
    pub fn default_dir() -> PathBuf {
        crate::cache::cache_dir().join("gitops")
    }

    /// Opens an existing GitOps directory (one `create_or_open` made).
    pub fn open(dir: impl Into<PathBuf>) -> Result<GitSource> {
        let source = GitSource { dir: dir.into() };
        if !source.repo_path().join("HEAD").is_file() {
            return Err(GitopsError::NotARepository(source.repo_path()));
        }
        Ok(source)
    }

    /// Opens the GitOps directory, creating it and an empty bare repository when absent.
    pub fn create_or_open(dir: impl Into<PathBuf>) -> Result<GitSource> {
        let source = GitSource { dir: dir.into() };
        if source.repo_path().join("HEAD").is_file() {
            return Ok(source);
        }
        fs::create_dir_all(&source.dir).map_err(io_err(&source.dir))?;
        let repo = source.repo_path();
        git(
            &source.dir,
            &[
                "init",
                "--quiet",
                "--bare",
                "--initial-branch",
                BRANCH,
                path_arg(&repo)?,
            ],
            &[],
        )?;
        // ArgoCD's repo-server and `git clone` follow HEAD; it must name the branch.
        source.git(&["symbolic-ref", "HEAD", BRANCH_REF], &[])?;
        Ok(source)
    }

    /// The GitOps directory (daemon base path).
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The bare repository.
    pub fn repo_path(&self) -> PathBuf {
        self.dir.join(REPO_NAME)
    }

    /// The URL a client reaches this repository at through a daemon on `addr`. For the cluster,
    /// `addr` is the address k3d containers reach the host by (the k3d network gateway).
    pub fn url_for(addr: &SocketAddr) -> String {
        format!("git://{addr}/{REPO_NAME}")
    }

    /// The branch head, or None before the first commit.
    pub fn head(&self) -> Result<Option<CommitId>> {
        let out = self.git_unchecked(&[
            "rev-parse",
            "--verify",
            "--quiet",
            &format!("{BRANCH_REF}^{{commit}}"),
        ])?;
        Ok(out.filter(|s| !s.is_empty()).map(CommitId))
    }

    /// The model folders at the branch head (names under `manifests/models/`), sorted.
    pub fn models(&self) -> Result<Vec<String>> {
        if self.head()?.is_none() {
            return Ok(Vec::new());
        }
        let listing = self.git(
            &[
                "ls-tree",
                "-d",
                "--name-only",
                BRANCH_REF,
                &format!("{MODELS_DIR}/"),
            ],
            &[],
        )?;
        let mut models: Vec<String> = listing
            .lines()
            .filter_map(|line| line.strip_prefix(&format!("{MODELS_DIR}/")))
            .map(str::to_string)
            .collect();
        // git orders trees as if directory names ended in '/'; callers expect plain sorting.
        models.sort();
        Ok(models)
    }

    /// Makes the branch hold the folder `manifests` as `manifests/` (every `repoURL` placeholder
    /// rewritten to `repo_url`) and, when given, `vendor_dir` as `vendor/`. Model folders committed by
    /// `new-model` that the project does not have are kept, so re-running `up` never deletes
    /// a user's model. Returns the head; no commit is made when nothing changed.
    pub fn sync_from(
        &self,
        manifests: &Path,
        vendor_dir: Option<&Path>,
        repo_url: &str,
    ) -> Result<CommitId> {
        refuse_without_root(manifests)?;
        let staging = tempfile::Builder::new()
            .prefix("stage-")
            .tempdir_in(&self.dir)
            .map_err(io_err(&self.dir))?;
        let tree = staging.path().join("tree");
        write_tree(manifests, vendor_dir, repo_url, &tree)?;
        let index = staging.path().join("index");
        let env = [("GIT_INDEX_FILE", index.as_os_str())];
        let work_tree = format!("--work-tree={}", path_arg(&tree)?);
        let _lock = self.lock()?;
        self.git_in(&tree, &[&work_tree, "add", "--all", "--force", "."], &env)?;
        let parent = self.head()?;
        if parent.is_some() {
            let project_models: BTreeSet<String> = list_dirs(&tree.join(MODELS_DIR))?;
            for model in self.models()? {
                if !project_models.contains(&model) {
                    self.keep_from_head(&model_dir(&model), &env)?;
                }
            }
        }
        self.commit_index(&env, parent, "Sync manifests/ and vendor/ from the project")
    }

    /// Commits a scaffolded model folder. Refuses a name that already exists.
    pub fn add_model(&self, spec: &ModelSpec) -> Result<CommitId> {
        spec.validate()?;
        let _lock = self.lock()?;
        let parent = self.head()?;
        if self.models()?.contains(&spec.name) {
            return Err(GitopsError::ModelExists {
                name: spec.name.clone(),
                dir: spec.folder(),
            });
        }
        let scratch = tempfile::Builder::new()
            .prefix("model-")
            .tempdir_in(&self.dir)
            .map_err(io_err(&self.dir))?;
        let index = scratch.path().join("index");
        let env = [("GIT_INDEX_FILE", index.as_os_str())];
        if parent.is_some() {
            self.git(&["read-tree", BRANCH_REF], &env)?;
        }
        for file in render(spec) {
            let blob =
                self.git_stdin(&["hash-object", "-w", "--stdin"], file.contents.as_bytes())?;
            let path = file.path.to_str().expect("rendered paths are UTF-8");
            self.git(
                &[
                    "update-index",
                    "--add",
                    "--cacheinfo",
                    &format!("100644,{blob},{path}"),
                ],
                &env,
            )?;
        }
        self.commit_index(
            &env,
            parent,
            &format!(
                "Add model {} (owner {}, cost-center {})",
                spec.name, spec.owner, spec.cost_center
            ),
        )
    }

    /// Commits the removal of a model folder; ArgoCD then prunes its Application.
    pub fn remove_model(&self, name: &str) -> Result<CommitId> {
        let _lock = self.lock()?;
        let parent = self.head()?;
        let models = self.models()?;
        if !models.iter().any(|m| m == name) {
            return Err(GitopsError::ModelNotFound {
                name: name.to_string(),
                known: if models.is_empty() {
                    "none".into()
                } else {
                    models.join(", ")
                },
            });
        }
        let scratch = tempfile::Builder::new()
            .prefix("model-")
            .tempdir_in(&self.dir)
            .map_err(io_err(&self.dir))?;
        let index = scratch.path().join("index");
        let env = [("GIT_INDEX_FILE", index.as_os_str())];
        self.git(&["read-tree", BRANCH_REF], &env)?;
        let files = self.git(
            &[
                "ls-tree",
                "-r",
                "--name-only",
                BRANCH_REF,
                "--",
                &format!("{}/", model_dir(name)),
            ],
            &[],
        )?;
        // update-index insists on a work tree for removals; an empty one is enough, since
        // --force-remove never looks at files.
        let empty_tree = format!("--work-tree={}", path_arg(scratch.path())?);
        let mut args = vec![empty_tree.as_str(), "update-index", "--force-remove", "--"];
        args.extend(files.lines());
        self.git(&args, &env)?;
        self.commit_index(&env, parent, &format!("Remove model {name}"))
    }

    /// Adds `dir`'s entries at the branch head to the index in `env`.
    fn keep_from_head(&self, dir: &str, env: &[(&str, &std::ffi::OsStr)]) -> Result<()> {
        let listing = self.git(
            &["ls-tree", "-r", BRANCH_REF, "--", &format!("{dir}/")],
            &[],
        )?;
        for line in listing.lines() {
            // "<mode> blob <sha>\t<path>"
            let Some((meta, path)) = line.split_once('\t') else {
                continue;
            };
            let fields: Vec<&str> = meta.split_whitespace().collect();
            if let [mode, "blob", sha] = fields.as_slice() {
                self.git(
                    &[
                        "update-index",
                        "--add",
                        "--cacheinfo",
                        &format!("{mode},{sha},{path}"),
                    ],
                    env,
                )?;
            }
        }
        Ok(())
    }

    /// Writes the index in `env` as a commit on the branch, unless its tree equals the parent's.
    fn commit_index(
        &self,
        env: &[(&str, &std::ffi::OsStr)],
        parent: Option<CommitId>,
        message: &str,
    ) -> Result<CommitId> {
        let tree = self.git(&["write-tree"], env)?;
        if let Some(parent) = &parent {
            let parent_tree = self.git(&["rev-parse", &format!("{parent}^{{tree}}")], &[])?;
            if parent_tree == tree {
                return Ok(parent.clone());
            }
        }
        let mut args = vec!["commit-tree", tree.as_str(), "-m", message];
        if let Some(parent) = &parent {
            args.extend(["-p", parent.0.as_str()]);
        }
        let commit = self.git(&args, &identity())?;
        // Compare-and-swap: fails if another writer moved the branch since `parent` was read.
        let old = parent
            .as_ref()
            .map(|p| p.0.clone())
            .unwrap_or_else(|| "0".repeat(40));
        self.git_unchecked(&["update-ref", "-m", message, BRANCH_REF, &commit, &old])?
            .ok_or(GitopsError::ConcurrentUpdate)?;
        Ok(CommitId(commit))
    }

    /// An exclusive lock for read-modify-write on the branch, released when dropped or when the
    /// process dies (flock).
    fn lock(&self) -> Result<fs::File> {
        let path = self.dir.join("write.lock");
        let file = fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(io_err(&path))?;
        let deadline = Instant::now() + GIT_DEADLINE;
        loop {
            use std::os::fd::AsRawFd;
            // SAFETY: flock on a descriptor we own.
            if unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } == 0 {
                return Ok(file);
            }
            if Instant::now() >= deadline {
                return Err(GitopsError::ConcurrentUpdate);
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn git(&self, args: &[&str], env: &[(&str, &std::ffi::OsStr)]) -> Result<String> {
        self.git_in(&self.dir, args, env)
    }

    /// Runs git on this repository from `cwd` (pathspecs are relative to it).
    fn git_in(
        &self,
        cwd: &Path,
        args: &[&str],
        env: &[(&str, &std::ffi::OsStr)],
    ) -> Result<String> {
        let repo = path_arg(&self.repo_path())?.to_string();
        let mut full = vec!["--git-dir", repo.as_str()];
        full.extend_from_slice(args);
        git(cwd, &full, env)
    }

    /// Like `git`, but a non-zero exit is `Ok(None)` (for queries whose "no" is an exit code).
    fn git_unchecked(&self, args: &[&str]) -> Result<Option<String>> {
        let repo = path_arg(&self.repo_path())?.to_string();
        let mut full = vec!["--git-dir", repo.as_str()];
        full.extend_from_slice(args);
        let output = run_git(&self.dir, &full, &[], None)?;
        Ok(output
            .status
            .success()
            .then(|| String::from_utf8_lossy(&output.stdout).trim().to_string()))
    }

    fn git_stdin(&self, args: &[&str], stdin: &[u8]) -> Result<String> {
        let repo = path_arg(&self.repo_path())?.to_string();
        let mut full = vec!["--git-dir", repo.as_str()];
        full.extend_from_slice(args);
        let output = run_git(&self.dir, &full, &[], Some(stdin))?;
        checked(&full, output)
    }
}

fn identity() -> Vec<(&'static str, &'static std::ffi::OsStr)> {
    use std::ffi::OsStr;
    vec![
        ("GIT_AUTHOR_NAME", OsStr::new(AUTHOR_NAME)),
        ("GIT_AUTHOR_EMAIL", OsStr::new(AUTHOR_EMAIL)),
        ("GIT_COMMITTER_NAME", OsStr::new(AUTHOR_NAME)),
        ("GIT_COMMITTER_EMAIL", OsStr::new(AUTHOR_EMAIL)),
    ]
}

/// Runs git in `cwd`, failing with its stderr on a non-zero exit.
pub(super) fn git(cwd: &Path, args: &[&str], env: &[(&str, &std::ffi::OsStr)]) -> Result<String> {
    let output = run_git(cwd, args, env, None)?;
    checked(args, output)
}

fn checked(args: &[&str], output: std::process::Output) -> Result<String> {
    if output.status.success() {
        Ok(String::from_utf8_lossy(&output.stdout).trim().to_string())
    } else {
        Err(GitopsError::Git {
            command: format!("git {}", args.join(" ")),
            stderr: String::from_utf8_lossy(&output.stderr).trim().to_string(),
        })
    }
}

fn run_git(
    cwd: &Path,
    args: &[&str],
    env: &[(&str, &std::ffi::OsStr)],
    stdin: Option<&[u8]>,
) -> Result<std::process::Output> {
    let mut expression = duct::cmd("git", args)
        .dir(cwd)
        // Never prompt, never read the user's or system's hooks and settings into our commits.
        .env("GIT_TERMINAL_PROMPT", "0")
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .stdout_capture()
        .stderr_capture()
        .unchecked();
    for (name, value) in env {
        expression = expression.env(name, value);
    }
    expression = match stdin {
        Some(bytes) => expression.stdin_bytes(bytes.to_vec()),
        None => expression.stdin_null(),
    };
    let command = || format!("git {}", args.join(" "));
    let handle = expression.start().map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => GitopsError::GitMissing,
        _ => GitopsError::Io {
            path: PathBuf::from("git"),
            source: e,
        },
    })?;
    match handle.wait_timeout(GIT_DEADLINE) {
        Ok(Some(output)) => Ok(output.clone()),
        Ok(None) => {
            let _ = handle.kill();
            Err(GitopsError::GitTimeout {
                command: command(),
                deadline: GIT_DEADLINE,
            })
        }
        Err(e) => Err(GitopsError::Git {
            command: command(),
            stderr: e.to_string(),
        }),
    }
}

/// Writes the GitOps tree ArgoCD syncs into `out`: the folder `manifests` as `manifests/`, every
/// `repoURL` placeholder rewritten to `repo_url`, and `vendor_dir` (when given) as `vendor/`.
/// This is what `up` commits to the local repository and what `neuroscale vendor` writes for
/// a repository of the user's own.
pub fn write_tree(
    manifests: &Path,
    vendor_dir: Option<&Path>,
    repo_url: &str,
    out: &Path,
) -> Result<()> {
    refuse_without_root(manifests)?;
    copy_tree(manifests, &out.join("manifests"), Some(repo_url))?;
    if let Some(vendor) = vendor_dir {
        copy_tree(vendor, &out.join("vendor"), None)?;
    }
    Ok(())
}

/// A manifests folder holds the root Application; checking for it also catches a caller passing
/// the folder above (which would commit `manifests/manifests/`).
fn refuse_without_root(manifests: &Path) -> Result<()> {
    if manifests.join("root.yaml").is_file() {
        return Ok(());
    }
    Err(GitopsError::NoManifests {
        path: manifests.to_path_buf(),
    })
}

pub(super) fn path_arg(path: &Path) -> Result<&str> {
    path.to_str().ok_or_else(|| GitopsError::Io {
        path: path.to_path_buf(),
        source: std::io::Error::new(std::io::ErrorKind::InvalidInput, "path is not UTF-8"),
    })
}

/// Copies a directory tree; `.yaml`/`.yml` files get the repoURL placeholder rewritten when
/// `repo_url` is given. Symlinks and other special files are skipped.
fn copy_tree(from: &Path, to: &Path, repo_url: Option<&str>) -> Result<()> {
    fs::create_dir_all(to).map_err(io_err(to))?;
    for entry in fs::read_dir(from).map_err(io_err(from))? {
        let entry = entry.map_err(io_err(from))?;
        let source = entry.path();
        let target = to.join(entry.file_name());
        let file_type = entry.file_type().map_err(io_err(&source))?;
        if file_type.is_dir() {
            copy_tree(&source, &target, repo_url)?;
        } else if file_type.is_file() {
            let is_yaml = matches!(
                source.extension().and_then(|e| e.to_str()),
                Some("yaml" | "yml")
            );
            match repo_url {
                Some(url) if is_yaml => {
                    let mut text = String::new();
                    fs::File::open(&source)
                        .and_then(|mut f| f.read_to_string(&mut text))
                        .map_err(io_err(&source))?;
                    let mut out = fs::File::create(&target).map_err(io_err(&target))?;
                    out.write_all(text.replace(REPO_URL_PLACEHOLDER, url).as_bytes())
                        .map_err(io_err(&target))?;
                }
                _ => {
                    fs::copy(&source, &target).map_err(io_err(&source))?;
                }
            }
        }
    }
    Ok(())
}

fn list_dirs(dir: &Path) -> Result<BTreeSet<String>> {
    if !dir.is_dir() {
        return Ok(BTreeSet::new());
    }
    let mut names = BTreeSet::new();
    for entry in fs::read_dir(dir).map_err(io_err(dir))? {
        let entry = entry.map_err(io_err(dir))?;
        if entry.file_type().map_err(io_err(dir))?.is_dir() {
            names.insert(entry.file_name().to_string_lossy().into_owned());
        }
    }
    Ok(names)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn copy_tree_rewrites_the_placeholder_in_yaml_only() {
        let tmp = tempfile::tempdir().unwrap();
        let from = tmp.path().join("from");
        fs::create_dir_all(from.join("sub")).unwrap();
        fs::write(
            from.join("sub/app.yaml"),
            format!("repoURL: {REPO_URL_PLACEHOLDER}\n"),
        )
        .unwrap();
        fs::write(from.join("notes.txt"), REPO_URL_PLACEHOLDER).unwrap();
        copy_tree(
            &from,
            &tmp.path().join("to"),
            Some("git://10.0.0.1/neuroscale.git"),
        )
        .unwrap();
        assert_eq!(
            fs::read_to_string(tmp.path().join("to/sub/app.yaml")).unwrap(),
            "repoURL: git://10.0.0.1/neuroscale.git\n"
        );
        assert_eq!(
            fs::read_to_string(tmp.path().join("to/notes.txt")).unwrap(),
            REPO_URL_PLACEHOLDER
        );
    }

    #[test]
    fn url_names_the_repository_under_the_daemon_base_path() {
        let addr: SocketAddr = "172.18.0.1:9418".parse().unwrap();
        assert_eq!(
            GitSource::url_for(&addr),
            "git://172.18.0.1:9418/neuroscale.git"
        );
    }

    #[test]
    fn open_refuses_a_directory_without_a_repository() {
        let tmp = tempfile::tempdir().unwrap();
        let err = GitSource::open(tmp.path()).unwrap_err();
        assert!(matches!(err, GitopsError::NotARepository(_)));
        assert!(err.to_string().contains("neuroscale up"), "{err}");
    }
}
