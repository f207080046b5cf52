//! `neuroscale check`: parses its flags, resolves the selection, runs it through the check
//! session, and renders what the run's event stream recorded (human, JSON, JUnit, Markdown,
//! HTML with the bootstrap timeline of a saved `up` report, and the diagnostics bundle on
//! failure). The exit code is the verdict: 0 nothing failed, 1 a check
//! failed, 2 bad input, 3 cluster unreachable, 130 interrupted.

use std::path::{Path, PathBuf};

use clap::Args;

use super::{CliError, Format, GlobalArgs};
use crate::checks::catalogue::{Effect, CATALOGUE};
use crate::checks::events::{EventSink, Fanout, RunEvent};
use crate::checks::runner;
use crate::checks::session::{self, CheckSession};
use crate::checks::Selection;
use crate::connect::{self, Connection, Endpoints, Target};
use crate::report::bootstrap::Bootstrap;
use crate::report::{
    self, bundle, html, human, json, junit, markdown, Environment, Recorder, Report,
};
use crate::scenario::Scenario;

/// How long collecting the diagnostics bundle may take.
const BUNDLE_DEADLINE: std::time::Duration = std::time::Duration::from_secs(120);

#[derive(Debug, Args)]
pub struct CheckArgs {
    /// Run only these checks or milestones (repeatable): an id (B4), a slug (latency-slo) or a milestone letter (D). Replaces the scenario's selection; the rest are reported as SKIP with the reason.
    #[arg(long = "only", value_name = "ID|MILESTONE")]
    pub only: Vec<String>,
    /// Skip these checks or milestones (repeatable); they are reported as SKIP with the reason.
    #[arg(long = "skip", value_name = "ID|MILESTONE")]
    pub skip: Vec<String>,
    /// Output format on stdout.
    #[arg(long, value_enum, default_value = "human")]
    pub format: Format,
    /// Also write the report to this file (format from --format).
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
    /// Also write the JSON report (schema neuroscale.report/v2) to this file.
    #[arg(long, value_name = "FILE")]
    pub json: Option<PathBuf>,
    /// Also write the JUnit XML report to this file.
    #[arg(long, value_name = "FILE")]
    pub junit: Option<PathBuf>,
    /// Also write the HTML report (one self-contained page) to this file.
    #[arg(long, value_name = "FILE")]
    pub html: Option<PathBuf>,
    /// Show this bootstrap in the HTML report: the JSON report `neuroscale up --format json`
    /// printed (phases and components as a timeline).
    #[arg(long, value_name = "FILE", requires = "html")]
    pub up_report: Option<PathBuf>,
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
    /// Run nothing: write the reports with every selected check "not run: REASON" and exit 1
    /// (CI, after a failed bootstrap: milestones reported as not run, not as timeouts).
    #[arg(long, value_name = "REASON", conflicts_with = "list")]
    pub not_run: Option<String>,
    /// Read-only checks run at once.
    #[arg(long, value_name = "N", default_value_t = runner::DEFAULT_CONCURRENCY)]
    pub concurrency: usize,
}

/// One catalogue row as `--list --format json` prints it.
#[derive(serde::Serialize)]
struct ListedCheck {
    id: &'static str,
    slug: &'static str,
    milestone: char,
    title: &'static str,
    passes_when: &'static str,
    effect: Effect,
    needs: &'static [crate::checks::Need],
}

fn list(format: Format) -> Result<u8, CliError> {
    match format {
        Format::Json => {
            let rows: Vec<ListedCheck> = CATALOGUE
                .iter()
                .map(|spec| ListedCheck {
                    id: spec.id.as_str(),
                    slug: spec.slug,
                    milestone: spec.milestone.letter(),
                    title: spec.title,
                    passes_when: spec.passes_when,
                    effect: spec.effect,
                    needs: spec.needs,
                })
                .collect();
            let text = serde_json::to_string_pretty(&rows).map_err(CliError::failed)?;
            println!("{text}");
        }
        _ => {
            for spec in CATALOGUE {
                println!(
                    "{:<3} {:<22} {:<9} {}",
                    spec.id.as_str(),
                    spec.slug,
                    match spec.effect {
                        Effect::ReadOnly => "read-only",
                        Effect::Mutating => "mutating",
                        Effect::Measuring => "measuring",
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
        Format::Markdown => markdown::render(report),
    })
}

fn write_file(path: &Path, text: &str) -> Result<(), CliError> {
    let write_error = |path: &Path| {
        let path = path.to_path_buf();
        move |source| CliError::Write { path, source }
    };
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent).map_err(write_error(parent))?;
    }
    std::fs::write(path, text).map_err(write_error(path))
}

/// Writes every report file asked for; the HTML report shows `bootstrap` when given.
fn write_files(
    report: &Report,
    bootstrap: Option<&Bootstrap>,
    args: &CheckArgs,
) -> Result<(), CliError> {
    if let Some(path) = &args.out {
        write_file(path, &render(report, args.format, false)?)?;
    }
    if let Some(path) = &args.json {
        write_file(path, &json::render(report))?;
    }
    if let Some(path) = &args.junit {
        write_file(path, &render(report, Format::Junit, false)?)?;
    }
    if let Some(path) = &args.html {
        write_file(path, &html::render(report, bootstrap))?;
    }
    Ok(())
}

/// Prints the report and writes every requested file.
fn emit(report: &Report, bootstrap: Option<&Bootstrap>, args: &CheckArgs) -> Result<(), CliError> {
    print!(
        "{}",
        render(report, args.format, report::colour_enabled_for_stdout())?
    );
    write_files(report, bootstrap, args)
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

/// The live progress on stderr: one line per finished check, observations at debug level.
struct Progress {
    colour: bool,
}

impl EventSink for Progress {
    fn event(&self, event: &RunEvent<'_>) {
        match event {
            RunEvent::Observed { id, observation } => {
                tracing::debug!(check = %id, "{observation}")
            }
            RunEvent::Finished { result } => {
                eprintln!("{}", human::check_line(result, self.colour))
            }
            RunEvent::Started { .. } | RunEvent::Completed { .. } => {}
        }
    }
}

/// Resolves on the first Ctrl-C (after saying that cleanup runs); a second one quits at once.
async fn interrupted() {
    if tokio::signal::ctrl_c().await.is_err() {
        // No signal handler: never interrupt.
        futures::future::pending::<()>().await;
    }
    eprintln!("interrupted: cleaning up probe objects (Ctrl-C again to quit at once)");
    tokio::spawn(async {
        let _ = tokio::signal::ctrl_c().await;
        std::process::exit(crate::exit::INTERRUPTED.into());
    });
}

pub async fn run(global: &GlobalArgs, args: CheckArgs) -> Result<u8, CliError> {
    if args.list {
        return list(args.format);
    }
    let scenario = Scenario::resolve(global.scenario.as_deref())?;
    let selection = Selection::resolve(&scenario, &args.only, &args.skip)?;
    // Read before anything runs: a wrong path fails at once, not after the checks.
    let bootstrap = args.up_report.as_deref().map(Bootstrap::load).transpose()?;
    let bootstrap = bootstrap.as_ref();
    if let Some(reason) = &args.not_run {
        let recorder = Recorder::new(environment(&scenario, None, &intended_context(global)));
        session::report_not_run(
            &selection,
            reason,
            &format!("neuroscale check --not-run: {reason}"),
            &recorder,
        );
        let report = recorder.report();
        emit(&report, bootstrap, &args)?;
        return Ok(report.exit_code());
    }
    let target = Target {
        kubeconfig: global.kubeconfig.clone(),
        context: global.context.clone(),
        cluster_name: connect::cluster_name(global.cluster_name.as_deref()),
        allow_context: args.allow_context.clone(),
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
    let session = match CheckSession::open(
        &target,
        &endpoints,
        scenario.clone(),
        selection.clone(),
        crate::cache::cache_dir().join("gitops"),
    )
    .await
    {
        Ok(session) => session,
        Err(err) if err.is_usage() => return Err(err.into()),
        Err(err) => {
            // CI still gets its JUnit and JSON: every selected check not run.
            let recorder = Recorder::new(environment(&scenario, None, &intended_context(global)));
            session::report_not_run(
                &selection,
                "the cluster is unreachable",
                &err.to_string(),
                &recorder,
            );
            write_files(&recorder.report(), bootstrap, &args)?;
            return Err(err.into());
        }
    };
    if !global.quiet {
        for note in session.notes() {
            eprintln!("note: {note}");
        }
    }
    let connection = session.connection();
    let recorder = Recorder::new(environment(
        &scenario,
        Some(connection),
        &connection.context,
    ));
    let progress = Progress {
        colour: report::colour_enabled_for_stderr(),
    };
    let mut sinks: Vec<&dyn EventSink> = vec![&recorder];
    if !global.quiet {
        sinks.push(&progress);
    }
    session
        .run(args.concurrency, interrupted(), &Fanout(sinks))
        .await;
    let mut report = recorder.report();
    if report.summary().failed > 0 {
        let dir = args.bundle.clone().unwrap_or_else(bundle::default_dir);
        match tokio::time::timeout(
            BUNDLE_DEADLINE,
            bundle::collect(
                &connection.client,
                &bundle::platform_namespaces(),
                json::to_value(&report),
            ),
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
    session.close().await;
    emit(&report, bootstrap, &args)?;
    Ok(report.exit_code())
}
