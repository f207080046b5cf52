//! End to end against the simulated cluster: the real `neuroscale` binary runs
//! `check --format json` through a kubeconfig against the platform the install engine installed
//! from the real pinned artefacts (`support::platform`), once healthy (every check PASSes,
//! exit 0) and once per planted fault (exit 1, the fault's target check FAILs, the checks it
//! also breaks are not PASS, and every other check still PASSes, so the fault is caught by the
//! right check and nothing is falsely green).
//!
//! The testkit names each fault's target by its catalogue id (the testkit cannot depend on the
//! product); `every_fault_targets_a_catalogued_check_and_each_check_has_one` holds it to the
//! catalogue, and the fault runs parse the ids into `CheckId`s.

mod support;

use neuroscale::checks::{CheckId, CATALOGUE};
use neuroscale_testkit::{Fault, SimPlatform};

/// A scenario sized for the sim: the smoke models, short deadlines (a failing check waits for
/// its whole deadline; F3 keeps 30 s for cleanup) and latency thresholds the sim meets with a
/// wide margin on a loaded machine (median in milliseconds against 150) unless slowed down
/// (`Fault::SlowInference` adds 400 ms to every answer). No timing is asserted by the test
/// itself: F4's verdict is what is checked.
const SIM_SCENARIO: &str = include_str!("e2e_sim_scenario.yaml");

/// Product defects this end-to-end run exposes and that are not fixed in this build, with the
/// evidence. The healthy run asserts these checks FAIL (so the entry must be removed once the
/// defect is fixed, and the check then has to PASS); fault runs assert nothing about them.
// Found and fixed so far: F3 (src/gpu.rs put the simulated GPU on agent-0 while the GPU model
// selects k3d/cluster.yaml's GPU node, agent-1; fixed on main in 6908ed9).
const KNOWN_DEFECTS: &[(&str, &str)] = &[];

fn known_defect(id: &str) -> Option<&'static str> {
    KNOWN_DEFECTS
        .iter()
        .find(|(d, _)| *d == id)
        .map(|(_, why)| *why)
}

/// The check a fault must fail, as the catalogue types it.
fn target(fault: Fault) -> CheckId {
    CheckId::parse(fault.target()).unwrap_or_else(|| {
        panic!(
            "{fault:?} targets `{}`, not a catalogued check",
            fault.target()
        )
    })
}

#[test]
fn every_fault_targets_a_catalogued_check_and_each_check_has_one() {
    let mut targets: Vec<CheckId> = Fault::ALL.iter().map(|f| target(*f)).collect();
    targets.sort();
    targets.dedup();
    assert_eq!(
        targets,
        CheckId::all().collect::<Vec<_>>(),
        "one fault per check, no more"
    );
    for fault in Fault::ALL {
        for also in fault.also_breaks() {
            assert!(
                CheckId::parse(also).is_some(),
                "{fault:?} also breaks `{also}`, not a catalogued check"
            );
        }
    }
}

/// Runs `neuroscale check --format json` for every check against `platform`; the exit code and
/// (id, verdict, summary with what was observed) in catalogue order.
async fn run_checks(
    platform: &SimPlatform,
    cache: &std::path::Path,
) -> (i32, Vec<(String, String, String)>) {
    let scenario = platform.cluster.scratch_dir().join("sim.yaml");
    std::fs::write(&scenario, SIM_SCENARIO).expect("scenario");
    let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_neuroscale"));
    command
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env("NEUROSCALE_CACHE_DIR", cache)
        .env("NO_COLOR", "1")
        .env_remove("KUBECONFIG")
        .arg("check")
        .arg("--format")
        .arg("json")
        .arg("--quiet")
        .arg("--kubeconfig")
        .arg(platform.kubeconfig_path())
        .arg("--scenario")
        .arg(&scenario)
        .arg("--ingress-url")
        .arg(platform.ingress_url())
        .arg("--opencost-url")
        .arg(platform.opencost_url());
    let output = command.output().await.expect("the neuroscale binary runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let report: serde_json::Value = serde_json::from_str(&stdout).unwrap_or_else(|e| {
        panic!(
            "`neuroscale check --format json` printed no JSON report ({e}); exit {:?}\nstdout: {stdout}\nstderr: {}",
            output.status.code(),
            String::from_utf8_lossy(&output.stderr)
        )
    });
    let results = report["checks"]
        .as_array()
        .expect("the report lists checks")
        .iter()
        .map(|c| {
            let text = |p: &str| {
                c.pointer(p)
                    .and_then(serde_json::Value::as_str)
                    .unwrap_or("")
                    .to_string()
            };
            let observed = text("/diagnosis/observed");
            let mut detail = if observed.is_empty() {
                text("/summary")
            } else {
                format!("{} [observed: {observed}]", text("/summary"))
            };
            let code = text("/diagnosis/code");
            if !code.is_empty() {
                detail.push_str(&format!(" [code: {code}]"));
            }
            (text("/id"), text("/verdict"), detail)
        })
        .collect();
    (output.status.code().unwrap_or(-1), results)
}

fn report(results: &[(String, String, String)]) -> String {
    results
        .iter()
        .map(|(id, verdict, summary)| format!("{id} {verdict}: {summary}"))
        .collect::<Vec<_>>()
        .join("\n")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn healthy_platform_passes_every_check() {
    let Some(installed) = support::platform::installed().await else {
        return;
    };
    let cache = tempfile::tempdir().unwrap();
    let platform = support::platform::start(installed, None, cache.path()).await;
    let (code, results) = run_checks(&platform, cache.path()).await;
    println!("{}", report(&results));
    assert_eq!(results.len(), CATALOGUE.len(), "{}", report(&results));
    for (id, verdict, _) in &results {
        match known_defect(id) {
            Some(why) => {
                println!("{id}: known product defect, expected to FAIL: {why}");
                assert_eq!(
                    verdict, "FAIL",
                    "{id} passes now: remove it from KNOWN_DEFECTS"
                );
            }
            None => assert_eq!(
                verdict,
                "PASS",
                "a healthy platform must pass {id}:\n{}",
                report(&results)
            ),
        }
    }
    let expected_code = if results.iter().any(|(id, _, _)| known_defect(id).is_some()) {
        1
    } else {
        0
    };
    assert_eq!(
        code, expected_code,
        "exit code 0 only when everything passed"
    );
}

/// The failure code a fault's target check must report: the catalogued failure the fault
/// plants (docs/failures.md). Faults whose diagnosis names no catalogued failure are absent.
fn expected_code(fault: Fault) -> Option<&'static str> {
    match fault {
        Fault::ApplicationStuckProgressing => Some("NS105"),
        Fault::DriftNotHealed => Some("NS108"),
        Fault::KserveControllerHalfReady => Some("NS102"),
        Fault::KnativeIngressIstio => Some("NS103"),
        Fault::KyvernoWebhooksNotRegistered => Some("NS110"),
        Fault::PolicyInAuditMode => Some("NS111"),
        Fault::KserveWebhookNoEndpoints => Some("NS101"),
        Fault::StaleWebhookConfiguration => Some("NS109"),
        _ => None,
    }
}

async fn planted(fault: Fault) {
    let target = target(fault).as_str();
    if let Some(why) = known_defect(target) {
        println!(
            "{fault}: check {target} fails on the healthy platform already (known defect: {why})"
        );
        return;
    }
    let Some(installed) = support::platform::installed().await else {
        return;
    };
    let cache = tempfile::tempdir().unwrap();
    let platform = support::platform::start(installed, Some(fault), cache.path()).await;
    let (code, results) = run_checks(&platform, cache.path()).await;
    let verdict = |id: &str| {
        results
            .iter()
            .find(|(i, _, _)| i == id)
            .map(|(_, v, _)| v.as_str())
    };
    assert_eq!(
        verdict(target),
        Some("FAIL"),
        "{fault} must fail its check:\n{}",
        report(&results)
    );
    assert_eq!(
        code,
        1,
        "exit code 1 when a check failed:\n{}",
        report(&results)
    );
    if let Some(expected) = expected_code(fault) {
        let detail = results
            .iter()
            .find(|(i, _, _)| i == target)
            .map(|(_, _, d)| d.as_str())
            .unwrap_or_default();
        assert!(
            detail.ends_with(&format!("[code: {expected}]")),
            "{fault} must be diagnosed as {expected}:\n{}",
            report(&results)
        );
    }
    for (id, v, _) in &results {
        if id == target || known_defect(id).is_some() {
            continue;
        }
        if fault.also_breaks().contains(&id.as_str()) {
            assert_ne!(
                v,
                "PASS",
                "{fault} breaks {id} too; it must not pass:\n{}",
                report(&results)
            );
        } else {
            assert_eq!(
                v,
                "PASS",
                "{fault} must not fail {id}:\n{}",
                report(&results)
            );
        }
    }
}

macro_rules! fault_tests {
    ($($name:ident => $fault:ident),* $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() {
                planted(Fault::$fault).await;
            }
        )*
    };
}

fault_tests! {
    a1_argocd_repo_server_not_ready => ArgocdRepoServerNotReady,
    a2_application_stuck_progressing => ApplicationStuckProgressing,
    a3_application_unknown => ApplicationUnknown,
    a4_drift_not_healed => DriftNotHealed,
    b1_kserve_controller_half_ready => KserveControllerHalfReady,
    b2_knative_ingress_istio => KnativeIngressIstio,
    b3_inference_service_not_ready => InferenceServiceNotReady,
    b4_wrong_predictions => WrongPredictions,
    c1_scaffold_denied => ScaffoldDenied,
    c2_application_set_stalled => ApplicationSetStalled,
    c3_scaffold_never_ready => ScaffoldNeverReady,
    d1_kyverno_webhooks_not_registered => KyvernoWebhooksNotRegistered,
    d2_policy_in_audit_mode => PolicyInAuditMode,
    d3_kserve_webhook_no_endpoints => KserveWebhookNoEndpoints,
    d4_root_policy_fail_open => RootPolicyFailOpen,
    e1_opencost_api_down => OpenCostApiDown,
    e2_opencost_without_cost_centers => OpenCostWithoutCostCenters,
    f1_quota_missing => QuotaMissing,
    f2_stale_webhook_configuration => StaleWebhookConfiguration,
    f3_gpu_pod_on_wrong_node => GpuPodOnWrongNode,
    f4_slow_inference => SlowInference,
}
