//! `neuroscale vendor`, the real binary: it writes exactly the GitOps tree `up` commits
//! (`manifests/` with the user's repoURL, `vendor/` with the pinned artefacts, here downloaded
//! from a loopback mirror of the shared directory's real upstream files), refuses to overwrite
//! a directory, and refuses a repository URL carrying a credential.

mod support;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

const REPO: &str = "https://github.com/example-org/platform.git";

fn files(root: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    fn walk(root: &Path, dir: &Path, out: &mut BTreeMap<PathBuf, Vec<u8>>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                walk(root, &path, out);
            } else {
                out.insert(
                    path.strip_prefix(root).unwrap().to_path_buf(),
                    std::fs::read(&path).unwrap(),
                );
            }
        }
    }
    let mut out = BTreeMap::new();
    walk(root, root, &mut out);
    out
}

async fn vendor(out: &Path, repo_url: &str, mirror: &str, cache: &Path) -> std::process::Output {
    tokio::process::Command::new(env!("CARGO_BIN_EXE_neuroscale"))
        // Outside the project: the manifests written are the ones built into the binary.
        .current_dir(
            cache
                .parent()
                .expect("the cache lies in the test's directory"),
        )
        .env("NEUROSCALE_CACHE_DIR", cache)
        .env("NEUROSCALE_ARTIFACT_MIRROR", mirror)
        .args(["vendor", "--out"])
        .arg(out)
        .args(["--repo-url", repo_url])
        .output()
        .await
        .expect("neuroscale runs")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn vendor_writes_the_tree_up_commits_and_never_overwrites() {
    let Some(upstream) = support::upstream_or_skip() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let (address, _task) = neuroscale_testkit::mirror::serve(upstream.clone())
        .await
        .unwrap();
    let mirror = format!("http://{address}");
    let out = dir.path().join("platform");
    let output = vendor(&out, REPO, &mirror, &dir.path().join("cache")).await;
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        stdout.contains(&format!("neuroscale up --repo-url {REPO}")),
        "{stdout}"
    );

    let written = files(&out);
    let root = String::from_utf8(written[Path::new("manifests/root.yaml")].clone()).unwrap();
    assert!(root.contains(&format!("repoURL: {REPO}")), "{root}");
    assert!(!root.contains("NEUROSCALE_GITOPS_URL"), "{root}");
    assert!(written.contains_key(Path::new("vendor/kserve/kserve.yaml")));
    assert!(written.contains_key(Path::new("vendor/opencost/Chart.yaml")));
    // The same tree `up` builds for that repository, file for file.
    let expected = support::gitops_tree::build(&upstream, &dir.path().join("up"), REPO).await;
    assert_eq!(
        written.keys().collect::<Vec<_>>(),
        files(&expected).keys().collect::<Vec<_>>()
    );
    assert!(written == files(&expected), "same contents as `up` commits");

    let again = vendor(&out, REPO, &mirror, &dir.path().join("cache")).await;
    assert_eq!(again.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&again.stderr).contains("never overwrites"));

    let secret = vendor(
        &dir.path().join("other"),
        "https://x-token:ghp_s3cret@github.com/o/p.git",
        &mirror,
        &dir.path().join("cache"),
    )
    .await;
    assert_eq!(secret.status.code(), Some(2));
    assert!(!String::from_utf8_lossy(&secret.stderr).contains("ghp_s3cret"));
    assert!(!dir.path().join("other").exists(), "nothing written");
}
