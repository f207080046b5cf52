//! The HTML report in a real browser: headless Chromium (Debian's `chromium`, installed by
//! .ci/run) renders the page, takes a screenshot, and must log nothing to its console (the page
//! has no script, and its Content-Security-Policy turns any attempt to fetch a resource into a
//! console message); the rendered DOM holds every section. A control page proves that a console
//! message is caught. Without Chromium the test says why and skips; under
//! `NEUROSCALE_REQUIRE_PEERS=1` that is a failure. Also, through the binary: `check --html
//! --up-report` writes the page with the bootstrap timeline, `--format markdown` prints the
//! summary, and an unreadable up report is a usage error.

mod support;

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use neuroscale::report::bootstrap::Bootstrap;
use neuroscale::report::{html, Report};

/// A bootstrap whose DAG failed: a ready, a failed and a blocked component.
const UP_JSON: &str = r#"{
  "schema": "neuroscale.up/v1",
  "ok": false,
  "total_seconds": 95.5,
  "gitops": null,
  "phases": [
    {"phase": "preflight", "outcome": "ok", "seconds": 1.25},
    {"phase": "cluster", "outcome": "ok", "seconds": 30.0, "detail": "k3d-neuroscale created"},
    {"phase": "vendor", "outcome": "skipped", "seconds": 0.0},
    {"phase": "components", "outcome": "failed", "seconds": 64.25}
  ],
  "components": [
    {"name": "argocd", "version": "v3.2.0", "outcome": "ready", "started_after_seconds": 0.0, "seconds": 20.5},
    {"name": "kyverno", "version": "v1.19.0", "outcome": "failed", "started_after_seconds": 20.5, "seconds": 43.75,
     "error": "timed out waiting for endpoints/kyverno/kyverno-svc"},
    {"name": "platform", "version": "manifests/", "outcome": "blocked", "error": "not started: kyverno did not become ready"}
  ]
}"#;

fn report() -> Report {
    support::reports::sample()
}

/// The Chromium binary on PATH, if any.
fn chromium() -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    ["chromium", "chromium-browser"]
        .iter()
        .flat_map(|name| std::env::split_paths(&path).map(move |dir| dir.join(name)))
        .find(|candidate| candidate.is_file())
}

/// Runs headless Chromium on `page` with `args`, stopping it if it hangs.
fn run_chromium(binary: &Path, profile: &Path, args: &[String], page: &Path) -> Output {
    let mut child = Command::new(binary)
        .args([
            "--headless=new",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--enable-logging=stderr",
            "--v=0",
            "--window-size=1280,2000",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .args(args)
        .arg(format!("file://{}", page.display()))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("chromium starts");
    // A guard against a wedged browser, not a timing assertion.
    let deadline = Instant::now() + Duration::from_secs(120);
    while child.try_wait().expect("waitable").is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let output = child.wait_with_output().expect("chromium output");
    assert!(
        output.status.success(),
        "chromium failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    output
}

/// What the page logged to the browser console (Chromium logs every console message, errors
/// and CSP violations included, as `INFO:CONSOLE` lines).
fn console_messages(output: &Output) -> Vec<String> {
    String::from_utf8_lossy(&output.stderr)
        .lines()
        .filter(|line| line.contains(":CONSOLE"))
        .map(str::to_string)
        .collect()
}

/// Width and height from a PNG's IHDR chunk.
fn png_size(bytes: &[u8]) -> (u32, u32) {
    assert_eq!(&bytes[..8], b"\x89PNG\r\n\x1a\n", "a PNG");
    let be = |at: usize| u32::from_be_bytes(bytes[at..at + 4].try_into().unwrap());
    (be(16), be(20))
}

#[test]
fn the_page_renders_in_chromium_without_console_errors() {
    let Some(binary) = chromium() else {
        support::peer_missing(
            "chromium is not installed (Debian: apt-get install chromium); the HTML report was \
             not opened in a browser",
        );
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let bootstrap = Bootstrap::parse(UP_JSON, Path::new("up.json")).unwrap();
    let page = dir.path().join("report.html");
    let text = html::render(&report(), Some(&bootstrap));
    std::fs::write(&page, &text).unwrap();

    // The screenshot is kept where a person can look at it after the test.
    let shots = Path::new(env!("CARGO_TARGET_TMPDIR")).join("report-html");
    std::fs::create_dir_all(&shots).unwrap();
    let screenshot = shots.join("report.png");
    let _ = std::fs::remove_file(&screenshot);
    let output = run_chromium(
        &binary,
        &dir.path().join("profile"),
        &[format!("--screenshot={}", screenshot.display())],
        &page,
    );
    assert_eq!(console_messages(&output), Vec::<String>::new());
    let png = std::fs::read(&screenshot).expect("the screenshot was written");
    assert_eq!(png_size(&png), (1280, 2000));
    println!("screenshot: {}", screenshot.display());

    let output = run_chromium(
        &binary,
        &dir.path().join("profile"),
        &["--dump-dom".to_string()],
        &page,
    );
    let dom = String::from_utf8_lossy(&output.stdout);
    for id in [
        "summary",
        "timeline",
        "milestone-a",
        "milestone-b",
        "milestone-c",
        "milestone-d",
        "milestone-e",
        "milestone-f",
        "latency",
        "environment",
    ] {
        assert!(
            dom.contains(&format!("id=\"{id}\"")),
            "#{id} not in the DOM"
        );
    }
    assert_eq!(
        dom.matches("<svg").count(),
        2,
        "the timeline and the latency chart"
    );
    assert!(
        dom.contains(">kyverno</text>"),
        "a component in the timeline"
    );
    assert!(
        dom.contains(">p99</text>"),
        "a percentile in the latency chart"
    );
    assert!(dom.contains("&lt;none&gt;"), "cluster text stays text");

    // The control: the same page fetching an image is refused by its policy, and the console
    // message that causes is caught.
    let control = dir.path().join("control.html");
    std::fs::write(
        &control,
        text.replace(
            "</body>",
            "<img src=\"https://neuroscale.invalid/x.png\" alt=\"\"></body>",
        ),
    )
    .unwrap();
    let output = run_chromium(
        &binary,
        &dir.path().join("profile"),
        &[format!(
            "--screenshot={}",
            dir.path().join("control.png").display()
        )],
        &control,
    );
    let messages = console_messages(&output);
    assert!(
        messages
            .iter()
            .any(|m| m.contains("Content Security Policy")),
        "the control's refused image is reported on the console: {messages:?}"
    );
}

fn neuroscale(args: &[&str], home: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_neuroscale"))
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env("HOME", home)
        .env("NEUROSCALE_CACHE_DIR", home.join("cache"))
        .env("NO_COLOR", "1")
        .env_remove("KUBERNETES_SERVICE_HOST")
        .env_remove("KUBECONFIG")
        .output()
        .expect("the binary runs")
}

#[test]
fn check_writes_the_page_with_the_bootstrap_it_is_given() {
    let home = tempfile::tempdir().unwrap();
    let up = home.path().join("up.json");
    std::fs::write(&up, UP_JSON).unwrap();
    let page = home.path().join("out/report.html");
    let output = neuroscale(
        &[
            "check",
            "--not-run",
            "neuroscale up failed",
            "--format",
            "markdown",
            "--html",
            page.to_str().unwrap(),
            "--up-report",
            up.to_str().unwrap(),
        ],
        home.path(),
    );
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    let markdown = String::from_utf8(output.stdout).unwrap();
    assert!(
        markdown.starts_with("## neuroscale check: ❌ FAIL"),
        "{markdown}"
    );
    assert!(markdown.contains("### F Hardening"), "{markdown}");
    assert!(
        markdown.contains("| ❌ FAIL | A1 | `argocd-ready` | not run: neuroscale up failed |"),
        "{markdown}"
    );
    let text = std::fs::read_to_string(&page).expect("the page was written");
    assert!(text.contains("id=\"timeline\""));
    assert!(text.contains(">kyverno</text>"), "the bootstrap is drawn");
    assert!(text.contains("install failed"));
}

#[test]
fn an_unusable_up_report_is_a_usage_error_before_anything_runs() {
    let home = tempfile::tempdir().unwrap();
    let report_json = home.path().join("report.json");
    std::fs::write(
        &report_json,
        "{\"schemaVersion\": \"neuroscale.report/v2\"}",
    )
    .unwrap();
    let page = home.path().join("report.html");
    for up in [report_json.as_path(), &home.path().join("missing.json")] {
        let output = neuroscale(
            &[
                "check",
                "--not-run",
                "x",
                "--html",
                page.to_str().unwrap(),
                "--up-report",
                up.to_str().unwrap(),
            ],
            home.path(),
        );
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "{stderr}");
        assert!(stderr.contains(up.to_str().unwrap()), "{stderr}");
        assert!(!page.exists(), "nothing is written");
    }
    let output = neuroscale(&["check", "--up-report", "up.json"], home.path());
    assert_eq!(output.status.code(), Some(2), "--up-report needs --html");
}
