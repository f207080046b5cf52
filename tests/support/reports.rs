//! One sample check report for the report-format tests (JSON schema, JUnit schema, HTML): a
//! check of each verdict, a failure whose diagnosis holds text every format must escape
//! (`<none>`, `&`) and a failure code, and F4's latency figures.

use std::time::{Duration, SystemTime};

use neuroscale::checks::runner::RunResults;
use neuroscale::checks::{CheckId, CheckResult, Diagnosis, Outcome};
use neuroscale::failures::FailureCode;
use neuroscale::report::{Environment, Report};

pub fn sample() -> Report {
    let results = vec![
        CheckResult::new(
            CheckId::A1,
            Outcome::pass("5/5 ArgoCD workloads ready"),
            Duration::from_millis(420),
        ),
        CheckResult::new(
            CheckId::A4,
            Outcome::pass("canary recreated and Ready after 7.2s").with_figure(
                "heal_seconds",
                7.2,
                "s",
            ),
            Duration::from_secs(9),
        ),
        CheckResult::new(
            CheckId::D3,
            Outcome::fail(
                "admission failed for a reason that is not a Kyverno denial",
                Diagnosis::new(
                    "no endpoints available for service \"kserve-webhook-server-service\" <none>",
                    "the KServe webhook has no ready endpoints & <none>",
                    "kubectl -n kserve get endpoints kserve-webhook-server-service",
                )
                .with_code(FailureCode::KserveWebhookNoEndpoints),
            ),
            Duration::from_secs(2),
        ),
        CheckResult::new(
            CheckId::F3,
            Outcome::skip("scenario sets gpu: off"),
            Duration::ZERO,
        ),
        CheckResult::new(
            CheckId::F4,
            Outcome::pass("p95 41ms within the 300ms SLO")
                .with_figure("p50", 12.5, "ms")
                .with_figure("p95", 41.0, "ms")
                .with_figure("p99", 58.0, "ms")
                .with_figure("max", 77.0, "ms")
                .with_figure("throughput", 19.8, "req/s"),
            Duration::from_secs(30),
        ),
    ];
    let environment = Environment {
        context: "k3d-neuroscale".into(),
        server: Some("https://127.0.0.1:6550".into()),
        kubernetes_version: Some("v1.34.8+k3s1".into()),
        harness_context: true,
        mutations_allowed: true,
        scenario_name: "smoke".into(),
        scenario_source: "scenarios/smoke.yaml".into(),
        gpu: "off".into(),
        versions: Environment::pinned_versions(),
    };
    Report::new(
        SystemTime::UNIX_EPOCH + Duration::from_secs(1_796_000_000),
        environment,
        RunResults {
            results,
            cancelled: None,
            duration: Duration::from_secs(75),
        },
    )
}
