//! The installed binary run from an empty directory, as a new user runs it after
//! `cargo install`: nothing of the project is on disk there, so `plan`, `down` and `new-model`
//! work from what the binary carries (the k3d configs, the scenarios). `up` and `check` from an
//! empty directory against the simulated cluster are in e2e_up.rs, which runs them that way.
//!
//! `down` talks to the real Docker Engine (skipped with the reason when it is unreachable,
//! failing under NEUROSCALE_REQUIRE_PEERS=1) and to the stand-in `k3d`.

#![cfg(unix)]

mod support;

use std::path::Path;
use std::process::{Command, Output};

use neuroscale_testkit::k3d_standin::{self, StandinCluster};

/// An empty working directory and an empty cache, nothing else.
struct Elsewhere {
    workdir: tempfile::TempDir,
    cache: tempfile::TempDir,
}

impl Elsewhere {
    fn new() -> Elsewhere {
        Elsewhere {
            workdir: tempfile::tempdir().unwrap(),
            cache: tempfile::tempdir().unwrap(),
        }
    }

    fn command(&self, args: &[&str]) -> Command {
        let mut command = Command::new(env!("CARGO_BIN_EXE_neuroscale"));
        command
            .args(args)
            .current_dir(self.workdir.path())
            .env("NEUROSCALE_CACHE_DIR", self.cache.path())
            .env("NO_COLOR", "1")
            .env_remove("KUBECONFIG");
        command
    }

    fn run(&self, args: &[&str]) -> Output {
        self.command(args).output().expect("the binary runs")
    }

    /// The working directory is still empty: nothing was read from it or written to it.
    fn assert_workdir_untouched(&self) {
        let left: Vec<_> = std::fs::read_dir(self.workdir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert!(
            left.is_empty(),
            "written to the working directory: {left:?}"
        );
    }
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[test]
fn plan_works_from_an_empty_directory_with_built_in_scenarios() {
    let here = Elsewhere::new();
    let output = here.run(&["plan"]);
    assert_eq!(output.status.code(), Some(0), "{}", text(&output.stderr));
    let plan = text(&output.stdout);
    assert!(plan.contains("wave 0") && plan.contains("argocd"), "{plan}");
    // The default scenario simulates the GPU: no device plugin.
    assert!(!plan.contains("nvidia-device-plugin"), "{plan}");

    // A built-in scenario by name: gpu asks for a real GPU, so the device plugin is planned.
    let output = here.run(&["plan", "--scenario", "gpu"]);
    assert_eq!(output.status.code(), Some(0), "{}", text(&output.stderr));
    assert!(
        text(&output.stdout).contains("nvidia-device-plugin"),
        "{}",
        text(&output.stdout)
    );

    // A name that is neither a file nor built in says which are.
    let output = here.run(&["plan", "--scenario", "weekly"]);
    assert_eq!(output.status.code(), Some(2), "{}", text(&output.stderr));
    let stderr = text(&output.stderr);
    assert!(
        stderr.contains("weekly") && stderr.contains("gpu, nightly, smoke"),
        "{stderr}"
    );
    here.assert_workdir_untouched();
}

#[test]
fn check_list_works_from_an_empty_directory() {
    let here = Elsewhere::new();
    let output = here.run(&["check", "--list"]);
    assert_eq!(output.status.code(), Some(0), "{}", text(&output.stderr));
    assert!(
        text(&output.stdout).contains("latency-slo"),
        "{}",
        text(&output.stdout)
    );
}

#[test]
fn new_model_without_a_gitops_source_says_where_it_is_and_how_to_get_one() {
    let here = Elsewhere::new();
    let output = here.run(&["new-model", "fraud", "--owner", "ml", "--cost-center", "cc"]);
    assert_eq!(
        output.status.code(),
        Some(i32::from(neuroscale::exit::ENVIRONMENT)),
        "{}",
        text(&output.stderr)
    );
    let stderr = text(&output.stderr);
    let expected = here.cache.path().join("gitops").join("neuroscale.git");
    assert!(
        stderr.contains(&expected.display().to_string()),
        "names {}: {stderr}",
        expected.display()
    );
    assert!(stderr.contains("run `neuroscale up` first"), "{stderr}");
    assert!(stderr.contains("--out DIR"), "{stderr}");
    here.assert_workdir_untouched();
}

/// `down` deletes the cluster the built-in config names (or the GPU one with `--gpu`) through
/// the stand-in k3d.
#[test]
fn down_works_from_an_empty_directory() {
    let docker_up = Command::new("docker")
        .arg("info")
        .output()
        .is_ok_and(|o| o.status.success());
    if !docker_up && support::peer_missing("the Docker Engine is not reachable (`down` needs it)") {
        return;
    }
    let here = Elsewhere::new();
    let bin = here.cache.path().join("standin");
    let k3d = k3d_standin::install(
        &bin,
        "apiVersion: v1\nkind: Config\n",
        &StandinCluster {
            image: neuroscale::components::K3S_IMAGE.into(),
            agents: 2,
        },
    )
    .unwrap();
    for name in ["neuroscale", "neuroscale-gpu"] {
        let created = Command::new(&k3d)
            .args(["cluster", "create", name])
            .output()
            .unwrap();
        assert!(created.status.success(), "{}", text(&created.stderr));
    }
    let path = format!(
        "{}:{}",
        bin.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let down = |args: &[&str]| -> Output {
        here.command(args)
            .env("PATH", &path)
            .output()
            .expect("the binary runs")
    };

    let output = down(&["down"]);
    assert_eq!(output.status.code(), Some(0), "{}", text(&output.stderr));
    let stdout = text(&output.stdout);
    assert!(stdout.contains("deleted cluster `neuroscale`"), "{stdout}");
    assert!(
        cluster_exists(&bin, "neuroscale-gpu"),
        "only the default cluster is deleted"
    );

    let output = down(&["down", "--gpu"]);
    assert_eq!(output.status.code(), Some(0), "{}", text(&output.stderr));
    let stdout = text(&output.stdout);
    assert!(
        stdout.contains("deleted cluster `neuroscale-gpu`"),
        "{stdout}"
    );
    assert!(!cluster_exists(&bin, "neuroscale-gpu"));

    let calls = k3d_standin::calls(&bin);
    assert!(
        calls.iter().any(|c| c == "cluster delete neuroscale"),
        "{calls:?}"
    );
    here.assert_workdir_untouched();
}

fn cluster_exists(standin: &Path, name: &str) -> bool {
    standin.join("k3d-clusters").join(name).exists()
}
