//! `neuroscale check` through the real binary: the exit code is the contract scripts and CI rely
//! on (src/exit.rs). No cluster is needed: the unreachable case points a kubeconfig at a closed
//! loopback port; the failing cases run against the simulated cluster (neuroscale-testkit).

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
    assert_eq!(report["schemaVersion"], "neuroscale.report/v2");
    let schema_path = Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/report.schema.json");
    let schema: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(schema_path).unwrap()).unwrap();
    assert!(
        jsonschema::is_valid(&schema, &report),
        "the unreachable report must match docs/report.schema.json"
    );
    assert_eq!(report["summary"]["failed"], 4);
    assert_eq!(report["summary"]["errors"], 4);
    assert_eq!(report["environment"]["context"], "k3d-neuroscale");
    let d1 = report["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["id"] == "D1")
        .unwrap();
    assert_eq!(d1["outcome"]["kind"], "not-run");
    assert_eq!(d1["outcome"]["reason"], "the cluster is unreachable");
    assert_eq!(report["checks"][0]["id"], "A1");
    assert_eq!(report["checks"][0]["summary"], "not chosen by --only");
    let xml = std::fs::read_to_string(&junit).unwrap();
    let parsed = quick_junit::Report::deserialize_from_str(&xml).unwrap();
    assert_eq!(
        (parsed.failures, parsed.errors),
        (0, 4),
        "nothing was verified"
    );
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

#[test]
fn doctor_on_an_unreachable_cluster_exits_3() {
    let home = tempfile::tempdir().unwrap();
    let config = kubeconfig(home.path(), "k3d-neuroscale", closed_port());
    let output = neuroscale(&["doctor"], Some(&config), home.path());
    assert_eq!(output.status.code(), Some(3), "{}", stderr(&output));
    assert!(
        stderr(&output).contains("unreachable"),
        "{}",
        stderr(&output)
    );
}

#[test]
fn doctor_has_no_junit_format() {
    let home = tempfile::tempdir().unwrap();
    let output = neuroscale(&["doctor", "--format", "junit"], None, home.path());
    assert_eq!(output.status.code(), Some(2), "{}", stderr(&output));
}

/// An empty simulated cluster (neuroscale-testkit): it answers `/version` and discovery for
/// the built-in kinds only, so every platform read is a real API server's 404 `metav1.Status`,
/// enough for a check to run and fail. The multi-threaded runtime keeps serving while the test
/// thread waits on the binary.
fn empty_cluster(context: &str) -> (tokio::runtime::Runtime, neuroscale_testkit::SimCluster) {
    let runtime = tokio::runtime::Runtime::new().expect("a tokio runtime");
    let sim = runtime
        .block_on(neuroscale_testkit::SimCluster::start_with_context(context))
        .expect("the simulated cluster starts");
    (runtime, sim)
}

/// A webhook left behind by an uninstalled controller, calling a Service that does not exist
/// (admissionregistration.k8s.io/v1 ValidatingWebhookConfiguration, Kubernetes API reference;
/// names from ingress-nginx's admission webhook).
fn stale_ingress_webhook() -> serde_json::Value {
    serde_json::json!({
        "apiVersion": "admissionregistration.k8s.io/v1", "kind": "ValidatingWebhookConfiguration",
        "metadata": {"name": "ingress-nginx-admission"},
        "webhooks": [{"name": "validate.nginx.ingress.kubernetes.io",
            "clientConfig": {"service": {"namespace": "ingress-nginx",
                "name": "ingress-nginx-controller-admission", "path": "/networking/v1/ingresses"}},
            "rules": [{"apiGroups": ["networking.k8s.io"], "apiVersions": ["v1"],
                "operations": ["CREATE", "UPDATE"], "resources": ["ingresses"]}],
            "failurePolicy": "Fail", "sideEffects": "None", "admissionReviewVersions": ["v1"]}]
    })
}

#[test]
fn a_failing_check_exits_1_and_writes_a_bundle() {
    let home = tempfile::tempdir().unwrap();
    let (_runtime, sim) = empty_cluster("k3d-neuroscale");
    sim.put(stale_ingress_webhook())
        .expect("the stale webhook is stored");
    let config = sim.kubeconfig_path();
    let json = home.path().join("report.json");
    let bundle = home.path().join("bundle");
    let output = neuroscale(
        &[
            "check",
            "--only",
            "F2",
            "--only",
            "C1",
            "--json",
            json.to_str().unwrap(),
            "--bundle",
            bundle.to_str().unwrap(),
        ],
        Some(config),
        home.path(),
    );
    assert_eq!(output.status.code(), Some(1), "{}", stderr(&output));
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(stdout.contains("FAIL  F2"), "{stdout}");
    assert!(stdout.contains("FAIL  C1"), "{stdout}");
    assert!(
        stdout.contains("code:         NS109 (docs/failures.md#ns109)"),
        "the stale webhook's diagnosis names its code: {stdout}"
    );
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    assert_eq!(report["verdict"], "FAIL");
    assert_eq!(report["environment"]["kubernetesVersion"], "v1.34.8+k3s1");
    assert_eq!(report["environment"]["harnessContext"], true);
    let f2 = report["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["id"] == "F2")
        .expect("F2 in the report");
    assert_eq!(f2["diagnosis"]["code"], "NS109", "{f2}");
    assert!(
        bundle.join("report.json").is_file(),
        "the bundle has the report"
    );
    assert!(
        bundle.join("errors.txt").is_file(),
        "what could not be read is listed"
    );
}

#[test]
fn doctor_triages_a_bundle_offline_with_the_same_codes() {
    let home = tempfile::tempdir().unwrap();
    let bundle = home.path().join("bundle");
    {
        let (_runtime, sim) = empty_cluster("k3d-neuroscale");
        sim.put(stale_ingress_webhook())
            .expect("the stale webhook is stored");
        // A Ready node (core/v1 Node, Kubernetes API reference), so the triage goes past step 1.
        sim.put(serde_json::json!({
            "apiVersion": "v1", "kind": "Node",
            "metadata": {"name": "k3d-neuroscale-server-0"},
            "status": {"conditions": [{"type": "Ready", "status": "True", "reason": "KubeletReady",
                "message": "kubelet is posting ready status"}]}
        }))
        .expect("the node is stored");
        let output = neuroscale(
            &[
                "check",
                "--only",
                "F2",
                "--bundle",
                bundle.to_str().unwrap(),
            ],
            Some(sim.kubeconfig_path()),
            home.path(),
        );
        assert_eq!(output.status.code(), Some(1), "{}", stderr(&output));
        // The simulated cluster stops here: the triage below reads only the bundle.
    }
    let output = neuroscale(
        &["doctor", "--bundle", bundle.to_str().unwrap()],
        None,
        home.path(),
    );
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert_eq!(output.status.code(), Some(1), "{stdout}{}", stderr(&output));
    assert!(stdout.contains("neuroscale doctor: bundle"), "{stdout}");
    assert!(
        stdout.contains("FAIL 6. no stale admission webhooks"),
        "{stdout}"
    );
    assert!(
        stdout.contains("ingress-nginx/ingress-nginx-controller-admission does not exist"),
        "{stdout}"
    );
    assert!(
        stdout.contains("code: NS109 (docs/failures.md#ns109)"),
        "{stdout}"
    );

    let output = neuroscale(
        &[
            "doctor",
            "--bundle",
            bundle.to_str().unwrap(),
            "--format",
            "json",
        ],
        None,
        home.path(),
    );
    let value: serde_json::Value = serde_json::from_slice(&output.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}", stderr(&output)));
    assert_eq!(value["schemaVersion"], "neuroscale.doctor/v1");
    assert_eq!(value["verdict"], "FAIL");
    let steps = value["steps"].as_array().unwrap();
    let stale = steps.iter().find(|s| s["number"] == 6).unwrap();
    assert_eq!(stale["verdict"], "FAIL", "{stale}");
    assert_eq!(stale["code"], "NS109", "{stale}");
    let run = steps.iter().find(|s| s["number"] == 7).unwrap();
    assert!(
        run["observed"][0]
            .as_str()
            .unwrap()
            .starts_with("F2 no-stale-webhooks"),
        "{run}"
    );
    assert_eq!(run["code"], "NS109", "{run}");

    let empty = tempfile::tempdir().unwrap();
    let output = neuroscale(
        &["doctor", "--bundle", empty.path().to_str().unwrap()],
        None,
        home.path(),
    );
    assert_eq!(output.status.code(), Some(2), "{}", stderr(&output));
    assert!(stderr(&output).contains("not a neuroscale diagnostics bundle"));
}

#[test]
fn off_the_harness_cluster_the_ingress_is_port_forwarded_or_the_reason_is_said() {
    let home = tempfile::tempdir().unwrap();
    let (_runtime, sim) = empty_cluster("gke_lab");
    let config = sim.kubeconfig_path();
    let output = neuroscale(
        &["check", "--only", "B4", "--only", "E1"],
        Some(config),
        home.path(),
    );
    assert_eq!(output.status.code(), Some(1), "{}", stderr(&output));
    let message = stderr(&output);
    assert!(
        message.contains("no port-forward to kourier-system/kourier:80: failed to read service kourier-system/kourier"),
        "{message}"
    );
    assert!(
        message.contains("no port-forward to opencost/opencost:9003"),
        "{message}"
    );
}

#[test]
fn not_run_reports_every_selected_check_without_a_cluster() {
    let home = tempfile::tempdir().unwrap();
    let junit = home.path().join("junit.xml");
    let output = neuroscale(
        &[
            "check",
            "--not-run",
            "neuroscale up failed",
            "--skip",
            "F",
            "--junit",
            junit.to_str().unwrap(),
            "--format",
            "json",
        ],
        None,
        home.path(),
    );
    assert_eq!(output.status.code(), Some(1), "{}", stderr(&output));
    let report: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    // Every catalogue check is in the report: the deselected milestone as SKIP with the
    // selector that left it out, never vanished.
    assert_eq!(report["summary"]["total"], 21);
    assert_eq!(report["summary"]["failed"], 17);
    assert_eq!(report["summary"]["skipped"], 4);
    for check in report["checks"].as_array().unwrap() {
        if check["id"].as_str().unwrap().starts_with('F') {
            assert_eq!(check["verdict"], "SKIP", "{check}");
            assert_eq!(check["outcome"]["kind"], "skipped", "{check}");
            assert_eq!(check["summary"], "deselected by --skip F", "{check}");
            continue;
        }
        assert_eq!(check["outcome"]["kind"], "not-run", "{check}");
        assert_eq!(
            check["outcome"]["reason"], "neuroscale up failed",
            "{check}"
        );
    }
    let junit = std::fs::read_to_string(junit).unwrap();
    let parsed = quick_junit::Report::deserialize_from_str(&junit).unwrap();
    assert_eq!((parsed.tests, parsed.failures, parsed.errors), (21, 0, 17));
    assert!(
        junit.contains(r#"<skipped message="deselected by --skip F"/>"#),
        "{junit}"
    );
}
