//! `neuroscale up` for real, then `neuroscale check`, against a fresh simulated cluster: the real
//! binary, preflight against the real Docker Engine, the cluster through testkit's stand-in
//! `k3d`, the real pinned artefacts served as the artefact mirror
//! (`NEUROSCALE_ARTIFACT_MIRROR` over the shared directory's `upstream/`), the local GitOps
//! source served by a real `git daemon` on loopback that the sim's ArgoCD fetches from over
//! git:// (as `host.k3d.internal`), every component rendered by the real renderers and synced.
//!
//! Both run from an empty directory, as after `cargo install`: the k3d config and the manifests
//! are the ones built into the binary (only the sim scenario is a file, named by `--scenario`).
//!
//! Then every check passes; a second `up` changes nothing; and a release with a duplicate object
//! makes `up` fail naming the Application and kustomize's message, blocking only what depends on
//! it.
//!
//! Needs Docker (preflight), git, tar, kubectl, Helm's SDK and the shared directory; skips with
//! the reason when one is missing, fails instead under NEUROSCALE_REQUIRE_PEERS=1.

mod support;

use std::path::{Path, PathBuf};
use std::process::Command;

use neuroscale_testkit::k3d_standin::{self, StandinCluster};
use neuroscale_testkit::{mirror, SimPlatform};
use serde_json::Value;
use support::peer_missing;

/// Stops the `git daemon` that `up` leaves serving the GitOps source, even when the test fails.
struct StopGitDaemon(PathBuf);

impl Drop for StopGitDaemon {
    fn drop(&mut self) {
        if let Ok(source) = neuroscale::gitops::GitSource::open(&self.0) {
            let _ = source.stop_serving();
        }
    }
}

fn works(program: &str, args: &[&str]) -> bool {
    Command::new(program)
        .args(args)
        .output()
        .is_ok_and(|o| o.status.success())
}

/// The peers `up` needs here, or None after saying which is missing.
fn peers() -> Option<PathBuf> {
    if !works("docker", &["info"])
        && peer_missing("the Docker Engine is not reachable (preflight needs it)")
    {
        return None;
    }
    if !works("git", &["--version"]) && peer_missing("git is not installed") {
        return None;
    }
    support::renderers_or_skip()?;
    support::upstream_or_skip()
}

/// One `up` run against `platform`, with the artefacts from `mirror_root`.
struct Run {
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

/// How a run is stopped at its boundary.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stop {
    Kill,
    Interrupt,
}

/// What an `up` stopped at a boundary left.
struct Stopped {
    reached: bool,
    code: Option<i32>,
    stderr: String,
}

struct Harness {
    platform: SimPlatform,
    scratch: PathBuf,
    /// The working directory of every run: empty, so nothing of the project is read from it.
    workdir: tempfile::TempDir,
    bin: PathBuf,
    cache: PathBuf,
    git_port: u16,
    mirror: String,
    _mirror_task: tokio::task::JoinHandle<()>,
    _stop: StopGitDaemon,
}

impl Harness {
    async fn start(mirror_root: PathBuf) -> Harness {
        let platform = SimPlatform::bare().await.expect("the sim starts");
        let scratch = platform.cluster.scratch_dir().to_path_buf();
        let bin = scratch.join("bin");
        k3d_standin::install(
            &bin,
            &platform.cluster.kubeconfig_yaml(),
            &StandinCluster {
                image: neuroscale::components::K3S_IMAGE.into(),
                agents: 2,
            },
        )
        .unwrap();
        let (address, task) = mirror::serve(mirror_root).await.unwrap();
        let cache = scratch.join("cache");
        let git_port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        Harness {
            _stop: StopGitDaemon(cache.join("gitops")),
            platform,
            bin,
            cache,
            git_port,
            mirror: format!("http://{address}"),
            _mirror_task: task,
            scratch,
            workdir: tempfile::tempdir().unwrap(),
        }
    }

    /// The sim scenario with `install` as the install deadline; right after `up` the demo
    /// models are still rolling out, so the checks get room to wait for them.
    fn scenario(&self, install_deadline: &str) -> PathBuf {
        let path = self.scratch.join("sim.yaml");
        let text = include_str!("e2e_sim_scenario.yaml")
            .replace(
                "    install: 1m",
                &format!("    install: {install_deadline}"),
            )
            .replace("    default: 4s", "    default: 30s");
        std::fs::write(&path, text).unwrap();
        path
    }

    /// `neuroscale up` as every run here starts it: the stand-in `k3d` first on PATH, the
    /// mirror, a private cache and home, the git daemon on a loopback port.
    fn up_command(&self, scenario: &Path) -> tokio::process::Command {
        let path = format!(
            "{}:{}",
            self.bin.display(),
            std::env::var("PATH").unwrap_or_default()
        );
        let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_neuroscale"));
        command
            .current_dir(self.workdir.path())
            .env("PATH", &path)
            .env("NEUROSCALE_CACHE_DIR", &self.cache)
            .env("NEUROSCALE_ARTIFACT_MIRROR", &self.mirror)
            .env("HOME", &self.scratch)
            .env("NO_COLOR", "1")
            .env_remove("KUBECONFIG")
            .args(["up", "--format", "json", "--scenario"])
            .arg(scenario)
            .arg("--gitops-addr")
            .arg(format!("127.0.0.1:{}", self.git_port));
        command
    }

    async fn up(&self, scenario: &Path) -> Run {
        let output = self
            .up_command(scenario)
            .output()
            .await
            .expect("neuroscale runs");
        Run {
            code: output.status.code(),
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        }
    }

    /// Starts `up` and stops it the moment its progress shows `boundary` (a line that reads
    /// `[elapsed] boundary...`): SIGKILL, or SIGINT as Ctrl-C sends it. Returns whether the boundary was
    /// reached, the exit code and everything `up` wrote to stderr.
    async fn up_stopped_at(&self, scenario: &Path, boundary: &str, stop: Stop) -> Stopped {
        use tokio::io::{AsyncBufReadExt, BufReader};
        let mut child = self
            .up_command(scenario)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .expect("neuroscale runs");
        let mut lines = BufReader::new(child.stderr.take().expect("piped")).lines();
        let mut stderr = String::new();
        let mut reached = false;
        let deadline = std::time::Duration::from_secs(300);
        let read = async {
            while let Some(line) = lines.next_line().await.expect("stderr is text") {
                stderr.push_str(&line);
                stderr.push('\n');
                let event = line
                    .split_once("] ")
                    .map_or(line.as_str(), |(_, event)| event);
                if event.starts_with(boundary) {
                    reached = true;
                    match stop {
                        Stop::Kill => child.start_kill().expect("SIGKILL is sent"),
                        Stop::Interrupt => {
                            let pid = child.id().expect("still running") as i32;
                            // SAFETY: signalling our own child, which has not been reaped.
                            assert_eq!(unsafe { libc::kill(pid, libc::SIGINT) }, 0);
                        }
                    }
                    break;
                }
            }
            while let Some(line) = lines.next_line().await.expect("stderr is text") {
                stderr.push_str(&line);
                stderr.push('\n');
            }
        };
        tokio::time::timeout(deadline, read)
            .await
            .unwrap_or_else(|_| {
                panic!("`up` neither reached {boundary:?} nor ended within {deadline:?}")
            });
        let status = child.wait().await.expect("the child is reaped");
        Stopped {
            reached,
            code: status.code(),
            stderr,
        }
    }

    async fn check(&self, scenario: &Path) -> (Option<i32>, Value, String) {
        let output = tokio::process::Command::new(env!("CARGO_BIN_EXE_neuroscale"))
            .current_dir(self.workdir.path())
            .env("NEUROSCALE_CACHE_DIR", &self.cache)
            .env("HOME", &self.scratch)
            .env("NO_COLOR", "1")
            .env_remove("KUBECONFIG")
            .args(["check", "--format", "json", "--quiet", "--scenario"])
            .arg(scenario)
            .arg("--kubeconfig")
            .arg(self.cache.join("kubeconfig").join("neuroscale.yaml"))
            .args([
                "--ingress-url",
                &self.platform.ingress_url(),
                "--opencost-url",
                &self.platform.opencost_url(),
            ])
            .output()
            .await
            .expect("neuroscale runs");
        let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
        let report = serde_json::from_slice(&output.stdout)
            .unwrap_or_else(|e| panic!("no JSON report ({e}): {stderr}"));
        (output.status.code(), report, stderr)
    }
}

/// Preflight refused this host (a port the k3d config publishes is taken): an environment the
/// test cannot control.
fn refused_by_preflight(run: &Run) -> bool {
    run.code == Some(3)
        && run
            .stderr
            .lines()
            .any(|l| l.starts_with("error:") && l.contains("port") && l.contains("in use"))
}

fn report(run: &Run) -> Value {
    serde_json::from_str(&run.stdout).unwrap_or_else(|e| {
        panic!(
            "no JSON report from `up` ({e}); exit {:?}\nstdout: {}\nstderr: {}",
            run.code, run.stdout, run.stderr
        )
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn up_installs_the_real_platform_every_check_passes_and_a_second_up_changes_nothing() {
    let Some(upstream) = peers() else { return };
    let harness = Harness::start(upstream).await;
    let scenario = harness.scenario("2m");
    let first = harness.up(&scenario).await;
    if refused_by_preflight(&first) {
        peer_missing(&format!("preflight refused this host: {}", first.stderr));
        return;
    }
    assert_eq!(
        first.code,
        Some(0),
        "`up` converges\nstdout: {}\nstderr: {}",
        first.stdout,
        first.stderr
    );
    // What the binary carries was used, and says so.
    for built_in in ["k3d/cluster.yaml (built in)", "manifests/ (built in)"] {
        assert!(
            first.stderr.contains(built_in),
            "{built_in}: {}",
            first.stderr
        );
    }
    let up = report(&first);
    assert_eq!(up["schema"], "neuroscale.up/v1");
    assert_eq!(up["ok"], true);
    let phases: Vec<&str> = up["phases"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|p| p["phase"].as_str())
        .collect();
    for phase in [
        "preflight",
        "cluster",
        "connect",
        "artifacts",
        "gitops-source",
        "components",
    ] {
        assert!(phases.contains(&phase), "{phase} missing from {phases:?}");
    }
    for component in up["components"].as_array().unwrap() {
        assert_eq!(component["outcome"], "ready", "{component}");
    }
    let calls = k3d_standin::calls(&harness.bin);
    assert!(
        calls
            .iter()
            .any(|c| c.starts_with("cluster create neuroscale")),
        "{calls:?}"
    );
    // The lock file pins the real artefacts; the repository holds manifests/ and vendor/.
    assert!(harness
        .cache
        .join("artifacts/artifacts.lock.json")
        .is_file());
    let tree = Command::new("git")
        .args(["ls-tree", "-r", "--name-only", "main"])
        .current_dir(harness.cache.join("gitops/neuroscale.git"))
        .output()
        .unwrap();
    let tree = String::from_utf8_lossy(&tree.stdout);
    for file in [
        "manifests/root.yaml",
        "vendor/opencost/Chart.yaml",
        "vendor/knative-serving/serving-core.yaml",
        "vendor/kserve/kserve.yaml",
    ] {
        assert!(tree.contains(file), "{file} in {tree}");
    }
    // The cluster fetches through k3d's host record; the daemon listens on loopback only.
    let root = harness
        .platform
        .cluster
        .get(
            "argoproj.io/v1alpha1",
            "Application",
            "argocd",
            "neuroscale-root",
        )
        .expect("the root Application was applied");
    assert_eq!(
        root["spec"]["source"]["repoURL"],
        format!(
            "git://host.k3d.internal:{}/neuroscale.git",
            harness.git_port
        )
    );

    let (code, checks, stderr) = harness.check(&scenario).await;
    let failed: Vec<String> = checks["checks"]
        .as_array()
        .expect("checks")
        .iter()
        .filter(|c| c["verdict"] != "PASS")
        .map(|c| {
            format!(
                "{} {}: {} {}",
                c["id"], c["verdict"], c["summary"], c["diagnosis"]
            )
        })
        .collect();
    assert!(
        failed.is_empty(),
        "after `up`, every check passes: {failed:#?}\n{stderr}"
    );
    assert_eq!(code, Some(0));

    let before = harness.platform.desired_state();
    let second = harness.up(&scenario).await;
    assert_eq!(second.code, Some(0), "{}\n{}", second.stdout, second.stderr);
    println!("second up: {}", report(&second)["total_seconds"]);
    let after = harness.platform.desired_state();
    let changed: Vec<&String> = before
        .iter()
        .filter(|(key, object)| after.get(*key) != Some(object))
        .map(|(key, _)| key)
        .chain(after.keys().filter(|k| !before.contains_key(*k)))
        .collect();
    assert!(changed.is_empty(), "a second `up` changed: {changed:#?}");
    let left: Vec<_> = std::fs::read_dir(harness.workdir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert!(
        left.is_empty(),
        "written to the working directory: {left:?}"
    );
}

/// A copy of the upstream mirror with one object of the Kourier release listed twice.
fn mirror_with_a_duplicate(upstream: &Path, into: &Path) {
    let status = Command::new("cp")
        .arg("-r")
        .arg(upstream)
        .arg(into)
        .status()
        .unwrap();
    assert!(status.success());
    let component = neuroscale::components::find("kourier").unwrap();
    let release = mirror::path_for(into, component.artifacts[0].url);
    let text = std::fs::read_to_string(&release).unwrap();
    let first = text
        .split("\n---\n")
        .find(|doc| doc.contains("kind: ConfigMap"))
        .expect("a ConfigMap in kourier.yaml")
        .to_string();
    std::fs::write(&release, format!("{text}\n---\n{first}\n")).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_release_that_does_not_render_fails_its_application_and_blocks_only_its_dependents() {
    let Some(upstream) = peers() else { return };
    let dir = tempfile::tempdir().unwrap();
    let broken = dir.path().join("upstream");
    mirror_with_a_duplicate(&upstream, &broken);
    let harness = Harness::start(broken).await;
    let scenario = harness.scenario("40s");
    let run = harness.up(&scenario).await;
    if refused_by_preflight(&run) {
        peer_missing(&format!("preflight refused this host: {}", run.stderr));
        return;
    }
    assert_eq!(run.code, Some(1), "{}\n{}", run.stdout, run.stderr);
    let up = report(&run);
    let outcome = |name: &str| -> (String, String) {
        let component = up["components"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["name"] == name)
            .unwrap_or_else(|| panic!("{name} in the report"));
        (
            component["outcome"].as_str().unwrap_or("").to_string(),
            component["error"].as_str().unwrap_or("").to_string(),
        )
    };
    let (kourier, error) = outcome("kourier");
    assert_eq!(kourier, "failed", "{error}");
    assert!(error.contains("application/argocd/kourier"), "{error}");
    assert!(
        error.contains("may not add resource with an already registered id"),
        "kustomize's own message is shown: {error}"
    );
    for dependent in ["kserve", "platform"] {
        assert_eq!(outcome(dependent).0, "blocked", "{dependent}");
    }
    for independent in [
        "cert-manager",
        "kyverno",
        "knative-serving",
        "prometheus",
        "opencost",
    ] {
        assert_eq!(
            outcome(independent).0,
            "ready",
            "{independent}: {}",
            outcome(independent).1
        );
    }
}

/// The boundaries `up`'s progress shows, in the order a run crosses them: each bootstrap
/// phase, each install phase, then inside the component DAG (ArgoCD ready, KServe started
/// while others are syncing).
const BOUNDARIES: [&str; 10] = [
    "k3d-binary: started",
    "image-cache: started",
    "cluster: started",
    "kubeconfig: started",
    "connect: started",
    "artifacts: started",
    "gitops-source: started",
    "components: started",
    "argocd: ready",
    "kserve: waiting",
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn up_killed_at_every_boundary_converges_when_run_again() {
    let Some(upstream) = peers() else { return };
    let harness = Harness::start(upstream).await;
    let scenario = harness.scenario("2m");
    for boundary in BOUNDARIES {
        let stopped = harness.up_stopped_at(&scenario, boundary, Stop::Kill).await;
        if stopped.code == Some(3) && stopped.stderr.contains("in use") {
            peer_missing(&format!("preflight refused this host: {}", stopped.stderr));
            return;
        }
        assert!(
            stopped.reached,
            "`up` ended (exit {:?}) before {boundary:?}, so that boundary went untested:\n{}",
            stopped.code, stopped.stderr
        );
        assert_eq!(stopped.code, None, "killed by a signal, not exited");
    }

    // Ctrl-C says what was done and that `up` resumes.
    let interrupted = harness
        .up_stopped_at(&scenario, "components: started", Stop::Interrupt)
        .await;
    assert!(interrupted.reached, "{}", interrupted.stderr);
    assert_eq!(interrupted.code, Some(130), "{}", interrupted.stderr);
    let message = interrupted
        .stderr
        .lines()
        .find(|l| l.contains("interrupted:"))
        .unwrap_or_else(|| panic!("no interruption message:\n{}", interrupted.stderr));
    for done in ["finished: preflight", "artifacts (", "gitops-source ("] {
        assert!(message.contains(done), "{done}: {message}");
    }
    assert!(message.contains("Run `neuroscale up` again"), "{message}");

    // No manual step: the next run converges.
    let run = harness.up(&scenario).await;
    assert_eq!(
        run.code,
        Some(0),
        "after every kill, `up` converges\nstdout: {}\nstderr: {}",
        run.stdout,
        run.stderr
    );
    let up = report(&run);
    assert_eq!(up["ok"], true);
    for component in up["components"].as_array().unwrap() {
        assert_eq!(component["outcome"], "ready", "{component}");
    }
    let calls = k3d_standin::calls(&harness.bin);
    assert!(
        !calls.iter().any(|c| c.starts_with("cluster delete")),
        "resuming never tears the cluster down: {calls:?}"
    );
}
