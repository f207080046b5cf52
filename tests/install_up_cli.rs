//! `neuroscale up` refuses bad input before it creates, downloads or applies anything: exit
//! code 2 and one message naming what is wrong. (The happy path needs Docker and a cluster; the
//! engine behind it is tested in install_engine.rs.)

use std::process::{Command, Output};

fn up(args: &[&str]) -> (Output, tempfile::TempDir) {
    let cache = tempfile::tempdir().unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_neuroscale"))
        .arg("up")
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env("NEUROSCALE_CACHE_DIR", cache.path())
        .env("DOCKER_HOST", "unix:///nonexistent/docker.sock")
        .env_remove("KUBECONFIG")
        .output()
        .expect("the binary runs");
    (output, cache)
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

#[test]
fn junit_and_markdown_are_not_up_formats() {
    for format in ["junit", "markdown"] {
        let (output, _cache) = up(&["--format", format]);
        assert_eq!(output.status.code(), Some(2), "{}", stderr(&output));
        assert!(
            stderr(&output).contains("not junit or markdown"),
            "{}",
            stderr(&output)
        );
    }
}

#[test]
fn a_manifests_folder_without_root_yaml_is_named() {
    let empty = tempfile::tempdir().unwrap();
    let (output, cache) = up(&["--manifests", empty.path().to_str().unwrap()]);
    assert_eq!(output.status.code(), Some(2), "{}", stderr(&output));
    assert!(stderr(&output).contains("root.yaml"), "{}", stderr(&output));
    assert!(
        std::fs::read_dir(cache.path()).unwrap().next().is_none(),
        "nothing may be written before the input is valid"
    );
}

#[test]
fn another_clusters_context_is_refused() {
    let (output, _cache) = up(&["--context", "arn:aws:eks:eu-west-1:1:cluster/prod"]);
    assert_eq!(output.status.code(), Some(2), "{}", stderr(&output));
    assert!(
        stderr(&output).contains("cluster/prod"),
        "{}",
        stderr(&output)
    );
}

#[test]
fn a_malformed_k3d_config_names_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("broken.yaml");
    std::fs::write(
        &config,
        "apiVersion: k3d.io/v1alpha5\nkind: Simple\nservers: lots\n",
    )
    .unwrap();
    let (output, _cache) = up(&["--config", config.to_str().unwrap()]);
    assert_eq!(output.status.code(), Some(2), "{}", stderr(&output));
    assert!(
        stderr(&output).contains("broken.yaml"),
        "{}",
        stderr(&output)
    );
}
