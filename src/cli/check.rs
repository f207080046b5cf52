//! `neuroscale check`: run the milestone checks and report; the exit code is the verdict
//! (0 nothing failed, 1 a check failed, 2 bad input, 3 cluster unreachable).

use std::path::{Path, PathBuf};
use std::time::SystemTime;

use clap::Args;

use super::{CliError, Format, GlobalArgs};
use crate::checks::catalogue::{CheckSpec, CATALOGUE};
use crate::checks::runner::{self, KubeCleanup, RunResults};
use crate::checks::{CheckResult, Diagnosis, Outcome};
use crate::connect::{self, Connection, Endpoints, Target};
use crate::report::{self, bundle, human, json, junit, Environment, Report};
use crate::scenario::Scenario;

/// How long collecting the diagnostics bundle may take.
const BUNDLE_DEADLINE: std::time::Duration = std::time::Duration::from_secs(120);

#[derive(Debug, Args)]
pub struct CheckArgs {
    /// Run only these checks or milestones (repeatable): an id (B4), a slug (latency-slo) or a milestone letter (D). Replaces the scenario's selection.
    #[arg(long = "only", value_name = "ID|MILESTONE")]
    pub only: Vec<String>,
    /// Skip these checks or milestones (repeatable).
    #[arg(long = "skip", value_name = "ID|MILESTONE")]
    pub skip: Vec<String>,
    /// Output format on stdout.
    #[arg(long, value_enum, default_value = "human")]
    pub format: Format,
    /// Also write the report to this file (format from --format).
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
    /// Also write the JSON report (schema neuroscale.report/v1) to this file.
    #[arg(long, value_name = "FILE")]
    pub json: Option<PathBuf>,
    /// Also write the JUnit XML report to this file.
    #[arg(long, value_name = "FILE")]
    pub junit: Option<PathBuf>,
    /// Write a diagnostics bundle here when any check fails (default: <cache>/bundles/check-<time>).
    #[arg(long, value_name = "DIR")]
    pub bundle: Option<PathBuf>,
    /// Print the catalogue of checks and exit.
    #[arg(long)]
    pub list: bool,
    /// Allow checks that create or delete objects on this context, which is not the harness's k3d cluster.
    #[arg(long, value_name = "CONTEXT")]
    pub allow_context: Option<String>,
    /// Base URL of the Kourier gateway (default: k3d's mapped port on the harness cluster).
    #[arg(long, value_name = "URL")]
    pub ingress_url: Option<String>,
    /// Base URL of the OpenCost API (port 9003).
    #[arg(long, value_name = "URL")]
    pub opencost_url: Option<String>,
    /// Run nothing: write the reports with every selected check FAIL "not run: REASON" and exit 1
    /// (CI, after a failed bootstrap: milestones reported as not run, not as timeouts).
    #[arg(long, value_name = "REASON", conflicts_with = "list")]
    pub not_run: Option<String>,
    /// Read-only checks run at once.
    #[arg(long, value_name = "N", default_value_t = runner::DEFAULT_CONCURRENCY)]
    pub concurrency: usize,
}

fn list(format: Format) -> Result<u8, CliError> {
    match format {
        Format::Json => {
            let text = serde_json::to_string_pretty(CATALOGUE).map_err(CliError::failed)?;
            println!("{text}");
        }
        _ => {
            for spec in CATALOGUE {
                println!(
                    "{:<3} {:<22} {:<9} {}",
                    spec.id,
                    spec.slug,
                    match spec.effect {
                        crate::checks::catalogue::Effect::ReadOnly => "read-only",
                        crate::checks::catalogue::Effect::Mutating => "mutating",
                    },
                    spec.passes_when
                );
            }
        }
    }
    Ok(crate::exit::SUCCESS)
}

fn environment(scenario: &Scenario, connection: Option<&Connection>, context: &str) -> Environment {
    Environment {
        context: connection
            .map(|c| c.context.clone())
            .unwrap_or_else(|| context.to_string()),
        server: connection.map(|c| c.server.clone()),
        kubernetes_version: connection.and_then(|c| c.kubernetes_version.clone()),
        harness_context: connection.is_some_and(|c| c.harness_context),
        mutations_allowed: connection.is_some_and(|c| c.mutations_allowed),
        scenario_name: scenario.metadata.name.clone(),
        scenario_source: scenario.source.clone(),
        gpu: serde_json::to_value(scenario.spec.gpu)
            .ok()
            .and_then(|v| v.as_str().map(str::to_string))
            .unwrap_or_default(),
        versions: Environment::pinned_versions(),
    }
}

fn render(report: &Report, format: Format, colour: bool) -> Result<String, CliError> {
    Ok(match format {
        Format::Human => human::render(report, colour),
        Format::Json => json::render(report),
        Format::Junit => junit::render(report).map_err(CliError::failed)?,
    })
}

fn write_file(path: &Path, text: &str) -> Result<(), CliError> {
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent).map_err(|e| {
            CliError::Environment(format!("cannot create {}: {e}", parent.display()))
        })?;
    }
    std::fs::write(path, text)
        .map_err(|e| CliError::Environment(format!("cannot write {}: {e}", path.display())))
}

/// Prints the report and writes every requested file.
fn emit(report: &Report, args: &CheckArgs) -> Result<(), CliError> {
    print!(
        "{}",
        render(report, args.format, report::colour_enabled_for_stdout())?
    );
    if let Some(path) = &args.out {
        write_file(path, &render(report, args.format, false)?)?;
    }
    if let Some(path) = &args.json {
        write_file(path, &json::render(report))?;
    }
    if let Some(path) = &args.junit {
        write_file(path, &render(report, Format::Junit, false)?)?;
    }
    Ok(())
}

/// A report in which every selected check was not run, for `reason` (the cluster is
/// unreachable, the bootstrap failed): CI still gets its JUnit and JSON.
fn not_run_report(
    scenario: &Scenario,
    checks: &[&'static CheckSpec],
    context: &str,
    reason: &str,
    observed: &str,
) -> Report {
    let results = checks
        .iter()
        .map(|spec| {
            CheckResult::new(
                spec,
                Outcome::fail(
                    format!("not run: {reason}"),
                    Diagnosis::new(observed, "no platform to check", "neuroscale doctor"),
                ),
                std::time::Duration::ZERO,
            )
        })
        .collect();
    Report::new(
        SystemTime::now(),
        environment(scenario, None, context),
        RunResults {
            results,
            cancelled: None,
            duration: std::time::Duration::ZERO,
        },
    )
}

/// The context a run was meant for, without reaching it: `--context`, else the kubeconfig's
/// current context (empty when neither is known).
fn intended_context(global: &GlobalArgs) -> String {
    global
        .context
        .clone()
        .or_else(|| {
            connect::read_kubeconfig(global.kubeconfig.as_deref())
                .ok()
                .flatten()
                .and_then(|(config, _)| config.current_context)
        })
        .unwrap_or_default()
}

pub async fn run(global: &GlobalArgs, args: CheckArgs) -> Result<u8, CliError> {
    if args.list {
        return list(args.format);
    }
    let scenario = Scenario::load_or_builtin(&global.scenario)?;
    let checks = runner::select(&scenario, &args.only, &args.skip)
        .map_err(|e| CliError::Usage(e.to_string()))?;
    if let Some(reason) = &args.not_run {
        let context = intended_context(global);
        let report = not_run_report(
            &scenario,
            &checks,
            &context,
            reason,
            &format!("neuroscale check --not-run: {reason}"),
        );
        emit(&report, &args)?;
        return Ok(report.exit_code());
    }
    let target = Target {
        kubeconfig: global.kubeconfig.clone(),
        context: global.context.clone(),
        cluster_name: connect::cluster_name(global.cluster_name.as_deref()),
        allow_context: args.allow_context.clone(),
    };
    let connection = match connect::connect(&target).await {
        Ok(connection) => connection,
        Err(err) if err.is_usage() => return Err(CliError::Usage(err.to_string())),
        Err(err) => {
            if args.out.is_some() || args.json.is_some() || args.junit.is_some() {
                let context = intended_context(global);
                let report = not_run_report(
                    &scenario,
                    &checks,
                    &context,
                    "the cluster is unreachable",
                    &err.to_string(),
                );
                if let Some(path) = &args.out {
                    write_file(path, &render(&report, args.format, false)?)?;
                }
                if let Some(path) = &args.json {
                    write_file(path, &json::render(&report))?;
                }
                if let Some(path) = &args.junit {
                    write_file(path, &render(&report, Format::Junit, false)?)?;
                }
            }
            return Err(CliError::Environment(err.to_string()));
        }
    };

    let endpoints = Endpoints {
        ingress_url: args.ingress_url.clone(),
        opencost_url: args.opencost_url.clone(),
        ingress_host_port: crate::cluster::k3d_config::K3dConfig::load(Path::new(
            "k3d/cluster.yaml",
        ))
        .ok()
        .and_then(|c| c.ingress_host_port),
    };
    let (env, forwards, notes) =
        connect::check_env(&connection, scenario.clone(), &endpoints, &checks).await;
    if !global.quiet {
        for note in &notes {
            eprintln!("note: {note}");
        }
    }
    let environment = environment(&scenario, Some(&connection), &connection.context);
    let cleanup = KubeCleanup {
        client: connection.client.clone(),
    };
    let quiet = global.quiet;
    let progress_colour = report::colour_enabled_for_stderr();
    let started_at = SystemTime::now();
    let interrupt = async {
        if tokio::signal::ctrl_c().await.is_err() {
            // No signal handler: never interrupt.
            futures::future::pending::<()>().await;
        }
        eprintln!("interrupted: cleaning up probe objects (Ctrl-C again to quit at once)");
        tokio::spawn(async {
            let _ = tokio::signal::ctrl_c().await;
            std::process::exit(130);
        });
    };
    let results = runner::run(
        &env,
        &checks,
        crate::checks::implementation,
        &cleanup,
        args.concurrency,
        interrupt,
        |result| {
            if !quiet {
                eprintln!("{}", human::check_line(result, progress_colour));
            }
        },
    )
    .await;

    forwards.close().await;
    let mut report = Report::new(started_at, environment, results);
    if report.summary().failed > 0 {
        let dir = args.bundle.clone().unwrap_or_else(bundle::default_dir);
        let namespaces = bundle::platform_namespaces(&scenario.spec.model_namespace);
        match tokio::time::timeout(
            BUNDLE_DEADLINE,
            bundle::collect(&connection.client, &namespaces, json::to_value(&report)),
        )
        .await
        {
            Ok(contents) => match contents.write(&dir) {
                Ok(()) => report.bundle = Some(dir),
                Err(e) => eprintln!("warning: cannot write the bundle to {}: {e}", dir.display()),
            },
            Err(_) => eprintln!(
                "warning: the diagnostics bundle was not collected within {}",
                humantime::format_duration(BUNDLE_DEADLINE)
            ),
        }
    }
    emit(&report, &args)?;
    Ok(report.exit_code())
}
