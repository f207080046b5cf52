//! The local GitOps source against real `git`: the repository is built from this project's
//! manifests/, served by a real `git daemon` on loopback and cloned over git:// as ArgoCD's
//! repo-server would; models are added and removed; the daemon is stopped. Skips with the reason
//! when git (or git-daemon) is missing, and fails instead under NEUROSCALE_REQUIRE_PEERS=1.

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::Command;

use neuroscale::gitops::scaffold::{render, ModelSpec};
use neuroscale::gitops::{GitSource, GitopsError, REPO_URL_PLACEHOLDER};

fn manifests() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("manifests")
}

fn git_available() -> bool {
    let ok = |args: &[&str]| {
        Command::new("git")
            .args(args)
            .output()
            .map(|o| o.status.success())
            .unwrap_or(false)
    };
    // `git daemon --help` needs man pages; asking the daemon for its version does not exist, so
    // look for the git-daemon program in git's exec path.
    if !ok(&["--version"]) {
        return false;
    }
    let exec_path = Command::new("git").arg("--exec-path").output().unwrap();
    let exec_path = String::from_utf8_lossy(&exec_path.stdout)
        .trim()
        .to_string();
    Path::new(&exec_path).join("git-daemon").is_file()
}

fn git_or_skip(test: &str) -> bool {
    if git_available() {
        return true;
    }
    let reason = "git with git-daemon is not installed";
    if std::env::var("NEUROSCALE_REQUIRE_PEERS").as_deref() == Ok("1") {
        panic!("NEUROSCALE_REQUIRE_PEERS=1 but {reason}");
    }
    eprintln!("SKIP {test}: {reason}");
    false
}

fn free_loopback_addr() -> SocketAddr {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
}

/// Stops the daemon even when an assertion fails.
struct Served(GitSource);

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.0.stop_serving();
    }
}

fn clone(url: &str, into: &Path) {
    let output = Command::new("git")
        .args(["clone", "--quiet", url])
        .arg(into)
        .env("GIT_TERMINAL_PROMPT", "0")
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "git clone {url}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
}

fn git_in(dir: &Path, args: &[&str]) -> String {
    let output = Command::new("git")
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).trim().to_string()
}

fn vendor_fixture(dir: &Path) -> PathBuf {
    // The layout the install engine hands over: vendor/<component>/ with the release YAML and a
    // generated kustomization.yaml.
    let vendor = dir.join("vendor");
    std::fs::create_dir_all(vendor.join("kourier")).unwrap();
    std::fs::write(
        vendor.join("kourier/kustomization.yaml"),
        "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources:\n  - kourier.yaml\n",
    )
    .unwrap();
    std::fs::write(
        vendor.join("kourier/kourier.yaml"),
        "# release YAML stand-in\n",
    )
    .unwrap();
    vendor
}

#[test]
fn the_repository_is_served_over_git_protocol_and_follows_new_model() {
    if !git_or_skip("the_repository_is_served_over_git_protocol_and_follows_new_model") {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let source = GitSource::create_or_open(tmp.path().join("gitops")).unwrap();
    assert_eq!(source.head().unwrap(), None);
    assert_eq!(source.models().unwrap(), Vec::<String>::new());

    let addr = free_loopback_addr();
    let url = GitSource::url_for(&addr);
    let vendor = vendor_fixture(tmp.path());
    let first = source.sync_from(&manifests(), Some(&vendor), &url).unwrap();
    assert_eq!(source.head().unwrap(), Some(first.clone()));
    // Nothing changed: no new commit.
    assert_eq!(
        source.sync_from(&manifests(), Some(&vendor), &url).unwrap(),
        first
    );
    assert_eq!(
        source.models().unwrap(),
        vec!["sklearn-iris", "sklearn-iris-v2"]
    );

    let served = Served(source.clone());
    assert!(!source.is_serving());
    source.serve(addr).unwrap();
    assert!(source.is_serving());
    assert_eq!(source.serving_addr(), Some(addr));
    source.serve(addr).unwrap(); // idempotent
                                 // A second GitSource on the same directory (another process, e.g. a later `up`) sees it.
    assert!(GitSource::open(tmp.path().join("gitops"))
        .unwrap()
        .is_serving());

    let checkout = tmp.path().join("checkout");
    clone(&url, &checkout);
    assert_eq!(git_in(&checkout, &["rev-parse", "HEAD"]), first.0);
    assert_eq!(
        git_in(&checkout, &["rev-parse", "--abbrev-ref", "HEAD"]),
        "main"
    );
    let app = std::fs::read_to_string(checkout.join("manifests/apps/kserve.yaml")).unwrap();
    assert!(app.contains(&format!("repoURL: {url}")), "{app}");
    assert!(!app.contains(REPO_URL_PLACEHOLDER));
    assert!(checkout.join("vendor/kourier/kourier.yaml").is_file());
    assert!(checkout
        .join("manifests/components/kourier/kustomization.yaml")
        .is_file());

    // new-model's commit arrives over git:// exactly as rendered.
    let spec = ModelSpec::new("fraud-detector", "ml-platform", "ml-research").unwrap();
    let added = source.add_model(&spec).unwrap();
    assert_ne!(added, first);
    git_in(&checkout, &["pull", "--quiet", "--ff-only"]);
    assert_eq!(git_in(&checkout, &["rev-parse", "HEAD"]), added.0);
    assert_eq!(git_in(&checkout, &["rev-parse", "HEAD^"]), first.0);
    for file in render(&spec) {
        let written = std::fs::read_to_string(checkout.join(&file.path)).unwrap();
        assert_eq!(written, file.contents);
    }
    let subject = git_in(&checkout, &["log", "-1", "--format=%s"]);
    assert!(subject.contains("fraud-detector"), "{subject}");
    assert_eq!(
        source.models().unwrap(),
        vec!["fraud-detector", "sklearn-iris", "sklearn-iris-v2"]
    );

    // A duplicate is refused and changes nothing.
    let err = source.add_model(&spec).unwrap_err();
    assert!(matches!(err, GitopsError::ModelExists { .. }), "{err}");
    assert_eq!(source.head().unwrap(), Some(added.clone()));

    // Re-syncing the project (a second `up`) keeps the user's model.
    let resynced = source.sync_from(&manifests(), Some(&vendor), &url).unwrap();
    assert_eq!(resynced, added);
    assert!(source
        .models()
        .unwrap()
        .contains(&"fraud-detector".to_string()));

    // Removal is a commit that deletes only the folder.
    let removed = source.remove_model("fraud-detector").unwrap();
    git_in(&checkout, &["pull", "--quiet", "--ff-only"]);
    assert_eq!(git_in(&checkout, &["rev-parse", "HEAD"]), removed.0);
    assert!(!checkout.join("manifests/models/fraud-detector").exists());
    assert!(checkout
        .join("manifests/models/sklearn-iris/inferenceservice.yaml")
        .is_file());
    let err = source.remove_model("fraud-detector").unwrap_err();
    assert!(matches!(err, GitopsError::ModelNotFound { .. }), "{err}");
    assert!(err.to_string().contains("sklearn-iris"), "{err}");

    source.stop_serving().unwrap();
    assert!(!source.is_serving());
    assert!(
        TcpStream::connect(addr).is_err(),
        "the daemon still listens on {addr}"
    );
    drop(served);
}

#[test]
fn serving_on_a_taken_address_is_a_clear_error() {
    if !git_or_skip("serving_on_a_taken_address_is_a_clear_error") {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let source = GitSource::create_or_open(tmp.path().join("gitops")).unwrap();
    let taken = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap();
    let err = source.serve(addr).unwrap_err();
    assert!(matches!(err, GitopsError::Serve { .. }), "{err}");
    assert!(err.to_string().contains(&addr.to_string()), "{err}");
    assert!(!source.is_serving());
}

#[test]
fn sync_from_refuses_a_directory_without_manifests() {
    if !git_or_skip("sync_from_refuses_a_directory_without_manifests") {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let source = GitSource::create_or_open(tmp.path().join("gitops")).unwrap();
    let err = source
        .sync_from(
            &tmp.path().join("manifests"),
            None,
            "git://127.0.0.1/neuroscale.git",
        )
        .unwrap_err();
    assert!(matches!(err, GitopsError::NoManifests { .. }), "{err}");
    assert_eq!(source.head().unwrap(), None);
}
