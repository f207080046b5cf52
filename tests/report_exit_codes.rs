//! `neuroscale check` through the real binary: the exit code is the contract scripts and CI rely
//! on (src/exit.rs). No cluster is needed: the unreachable case points a kubeconfig at a closed
//! loopback port.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn neuroscale(args: &[&str], kubeconfig: Option<&Path>, home: &Path) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_neuroscale"));
    command
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env("HOME", home)
        .env("NEUROSCALE_CACHE_DIR", home.join("cache"))
        .env("NO_COLOR", "1")
        .env_remove("KUBERNETES_SERVICE_HOST")
        .env_remove("KUBECONFIG");
    if let Some(path) = kubeconfig {
        command.env("KUBECONFIG", path);
    }
    command.output().expect("the binary runs")
}

fn closed_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
    // dropped here: nothing listens on the port any more
}

/// A kubeconfig shaped like the one k3d writes (k3d-io/k3d pkg/client/kubeconfig.go).
fn kubeconfig(dir: &Path, context: &str, port: u16) -> PathBuf {
    let text = format!(
        "apiVersion: v1\nkind: Config\nclusters:\n- name: {context}\n  cluster:\n    server: http://127.0.0.1:{port}\ncontexts:\n- name: {context}\n  context:\n    cluster: {context}\n    user: admin@{context}\ncurrent-context: {context}\nusers:\n- name: admin@{context}\n  user:\n    token: not-a-real-token\n"
    );
    let path = dir.join("kubeconfig");
    std::fs::write(&path, text).unwrap();
    path
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

#[test]
fn list_prints_the_catalogue_and_exits_0() {
    let home = tempfile::tempdir().unwrap();
    let output = neuroscale(&["check", "--list"], None, home.path());
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let text = String::from_utf8(output.stdout).unwrap();
    assert_eq!(text.lines().count(), 21, "{text}");
    assert!(text
        .lines()
        .any(|l| l.starts_with("D3  deny-unlabeled-isvc")));

    let output = neuroscale(&["check", "--list", "--format", "json"], None, home.path());
    let value: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(value.as_array().unwrap().len(), 21);
    assert_eq!(value[3]["effect"], "mutating");
}

#[test]
fn an_unknown_check_id_exits_2() {
    let home = tempfile::tempdir().unwrap();
    let output = neuroscale(&["check", "--only", "Z9"], None, home.path());
    assert_eq!(output.status.code(), Some(2), "{}", stderr(&output));
    assert!(
        stderr(&output).contains("`Z9` in --only"),
        "{}",
        stderr(&output)
    );
}

#[test]
fn an_unreachable_cluster_exits_3_and_still_writes_the_reports() {
    let home = tempfile::tempdir().unwrap();
    let port = closed_port();
    let config = kubeconfig(home.path(), "k3d-neuroscale", port);
    let junit = home.path().join("out/junit.xml");
    let json = home.path().join("out/report.json");
    let output = neuroscale(
        &[
            "check",
            "--only",
            "D",
            "--junit",
            junit.to_str().unwrap(),
            "--json",
            json.to_str().unwrap(),
        ],
        Some(&config),
        home.path(),
    );
    assert_eq!(output.status.code(), Some(3), "{}", stderr(&output));
    let message = stderr(&output);
    assert!(message.contains(&format!("127.0.0.1:{port}")), "{message}");
    assert!(message.contains("neuroscale up"), "{message}");

    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    assert_eq!(report["schemaVersion"], "neuroscale.report/v1");
    let schema_path = Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/report.schema.json");
    let schema: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(schema_path).unwrap()).unwrap();
    assert!(
        jsonschema::is_valid(&schema, &report),
        "the unreachable report must match docs/report.schema.json"
    );
    assert_eq!(report["summary"]["failed"], 4);
    assert_eq!(
        report["checks"][0]["summary"],
        "not run: the cluster is unreachable"
    );
    let xml = std::fs::read_to_string(&junit).unwrap();
    let parsed = quick_junit::Report::deserialize_from_str(&xml).unwrap();
    assert_eq!(parsed.failures, 4);
}

#[test]
fn no_kubeconfig_at_all_exits_3() {
    let home = tempfile::tempdir().unwrap();
    let missing = home.path().join("no-such-kubeconfig");
    let output = neuroscale(&["check"], Some(&missing), home.path());
    assert_eq!(output.status.code(), Some(3), "{}", stderr(&output));
    assert!(
        stderr(&output).contains("no kubeconfig found"),
        "{}",
        stderr(&output)
    );
}

#[test]
fn allowing_a_context_that_is_not_in_use_exits_2() {
    let home = tempfile::tempdir().unwrap();
    let config = kubeconfig(home.path(), "k3d-neuroscale", closed_port());
    let output = neuroscale(
        &["check", "--allow-context", "gke_prod"],
        Some(&config),
        home.path(),
    );
    assert_eq!(output.status.code(), Some(2), "{}", stderr(&output));
}
