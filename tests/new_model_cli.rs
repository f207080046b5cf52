//! `neuroscale new-model` as a user runs it: bad names and duplicates are usage errors (exit 2)
//! that say what is wrong; `--out` writes a folder; against a real local GitOps source (real
//! `git`; skipped with the reason when git is missing, failing under NEUROSCALE_REQUIRE_PEERS=1)
//! it commits, refuses a duplicate and removes the model again.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use neuroscale::exit;
use neuroscale::gitops::GitSource;

fn neuroscale(cache: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_neuroscale"))
        .args(args)
        .env("NEUROSCALE_CACHE_DIR", cache)
        .env("NO_COLOR", "1")
        .output()
        .unwrap()
}

fn code(output: &Output) -> u8 {
    output.status.code().expect("exited normally") as u8
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

#[test]
fn bad_names_and_labels_are_usage_errors() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("out");
    let out_arg = out.to_str().unwrap();
    let cases: [(&[&str], &str); 4] = [
        (
            &[
                "new-model",
                "Fraud_Detector",
                "--owner",
                "ml",
                "--cost-center",
                "cc",
                "--out",
                out_arg,
            ],
            "DNS-1123",
        ),
        (
            &[
                "new-model",
                "fraud",
                "--owner",
                "ML Team",
                "--cost-center",
                "cc",
                "--out",
                out_arg,
            ],
            "--owner `ML Team` is not kebab-case",
        ),
        (
            &[
                "new-model",
                "fraud",
                "--owner",
                "ml",
                "--cost-center",
                "Cost_Center",
                "--out",
                out_arg,
            ],
            "--cost-center `Cost_Center` is not kebab-case",
        ),
        (
            &[
                "new-model",
                "fraud",
                "--owner",
                "ml",
                "--cost-center",
                "cc",
                "--format",
                "onnx",
                "--out",
                out_arg,
            ],
            "no serving runtime",
        ),
    ];
    for (args, expected) in cases {
        let output = neuroscale(tmp.path(), args);
        assert_eq!(code(&output), exit::USAGE, "{args:?}: {}", stderr(&output));
        assert!(
            stderr(&output).contains(expected),
            "{args:?}: {}",
            stderr(&output)
        );
    }
    assert!(!out.exists(), "nothing is written for bad input");
}

#[test]
fn out_writes_a_folder_and_refuses_to_overwrite_it() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("out");
    let args = [
        "new-model",
        "fraud",
        "--owner",
        "ml",
        "--cost-center",
        "cc",
        "--out",
        out.to_str().unwrap(),
    ];
    let first = neuroscale(tmp.path(), &args);
    assert_eq!(code(&first), exit::SUCCESS, "{}", stderr(&first));
    let file = out.join("fraud/inferenceservice.yaml");
    let text = std::fs::read_to_string(&file).unwrap();
    assert!(text.contains("cost-center: cc"), "{text}");
    assert!(stdout(&first).contains("wrote"), "{}", stdout(&first));

    let second = neuroscale(tmp.path(), &args);
    assert_eq!(code(&second), exit::USAGE);
    assert!(
        stderr(&second).contains("already exists"),
        "{}",
        stderr(&second)
    );
    assert_eq!(
        std::fs::read_to_string(&file).unwrap(),
        text,
        "left untouched"
    );
}

#[test]
fn without_a_gitops_source_it_says_to_run_up() {
    let tmp = tempfile::tempdir().unwrap();
    let output = neuroscale(
        tmp.path(),
        &["new-model", "fraud", "--owner", "ml", "--cost-center", "cc"],
    );
    assert_eq!(code(&output), exit::ENVIRONMENT, "{}", stderr(&output));
    let message = stderr(&output);
    let repository = tmp.path().join("gitops/neuroscale.git");
    assert!(
        message.contains(&repository.display().to_string()),
        "{message}"
    );
    assert!(message.contains("run `neuroscale up` first"), "{message}");
    assert!(message.contains("--out DIR"), "{message}");
}

fn git_available() -> bool {
    Command::new("git")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success())
}

#[test]
fn commits_refuses_a_duplicate_and_removes_against_a_real_repository() {
    if !git_available() {
        let reason = "git is not installed";
        if std::env::var("NEUROSCALE_REQUIRE_PEERS").as_deref() == Ok("1") {
            panic!("NEUROSCALE_REQUIRE_PEERS=1 but {reason}");
        }
        eprintln!(
            "SKIP commits_refuses_a_duplicate_and_removes_against_a_real_repository: {reason}"
        );
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    // What `up` leaves behind: the repository at cache_dir()/gitops.
    let source = GitSource::create_or_open(tmp.path().join("gitops")).unwrap();
    let project = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    source
        .sync_from(
            &project.join("manifests"),
            None,
            "git://127.0.0.1:9418/neuroscale.git",
        )
        .unwrap();

    let add = [
        "new-model",
        "fraud-detector",
        "--owner",
        "ml-platform",
        "--cost-center",
        "ml-research",
    ];
    let first = neuroscale(tmp.path(), &add);
    assert_eq!(code(&first), exit::SUCCESS, "{}", stderr(&first));
    assert!(
        stdout(&first).contains("committed manifests/models/fraud-detector"),
        "{}",
        stdout(&first)
    );
    assert!(
        stdout(&first).contains("model-fraud-detector"),
        "{}",
        stdout(&first)
    );
    assert!(source
        .models()
        .unwrap()
        .contains(&"fraud-detector".to_string()));

    let duplicate = neuroscale(tmp.path(), &add);
    assert_eq!(code(&duplicate), exit::USAGE);
    assert!(
        stderr(&duplicate).contains("already exists"),
        "{}",
        stderr(&duplicate)
    );

    let demo = neuroscale(
        tmp.path(),
        &[
            "new-model",
            "sklearn-iris",
            "--owner",
            "a",
            "--cost-center",
            "b",
        ],
    );
    assert_eq!(
        code(&demo),
        exit::USAGE,
        "the demo models count as existing"
    );

    let removed = neuroscale(tmp.path(), &["new-model", "--remove", "fraud-detector"]);
    assert_eq!(code(&removed), exit::SUCCESS, "{}", stderr(&removed));
    assert!(!source
        .models()
        .unwrap()
        .contains(&"fraud-detector".to_string()));
    let again = neuroscale(tmp.path(), &["new-model", "--remove", "fraud-detector"]);
    assert_eq!(code(&again), exit::USAGE);
    assert!(
        stderr(&again).contains("not in the GitOps source"),
        "{}",
        stderr(&again)
    );
}
