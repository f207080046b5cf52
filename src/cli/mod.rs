//! The command line: flag parsing (clap derive), logging set-up, dispatch to one file per
//! subcommand, and the rendering of errors for humans with their exit codes. No Kubernetes logic
//! lives here.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::exit;

mod check;
mod completions;
mod doctor;
mod down;
mod new_model;
mod plan;
mod probe;
mod up;
mod vendor;

/// Output formats (`human` by default; `json` and `junit` for machines and CI; `markdown` for a
/// CI job summary).
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    Human,
    Json,
    Junit,
    Markdown,
}

/// Output formats of the commands that report but run no checks (`up`, `plan`, `doctor`,
/// `probe`): JUnit is a shape for test cases, so only `check` offers it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum TextFormat {
    Human,
    Json,
}

#[derive(Debug, Parser)]
#[command(
    name = "neuroscale",
    version,
    about = "Bootstrap an AI inference platform on k3d and prove it works with milestone checks",
    long_about = "neuroscale bootstraps a production-shaped AI inference platform on a local k3d \
cluster (ArgoCD, cert-manager, Knative Serving with Kourier, KServe, Kyverno, Prometheus, \
OpenCost) in dependency order, then proves it works with milestone checks \
(`neuroscale check --list`).\n\n\
Start here:\n  neuroscale up && neuroscale check\n\n\
Exit codes: 0 all checks passed, 1 a check failed, 2 usage or configuration error, \
3 environment not ready (Docker, cluster, context), 130 interrupted (Ctrl-C).",
    after_help = "Run `neuroscale <command> --help` for each command's flags."
)]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalArgs,
    #[command(subcommand)]
    pub command: Command,
}

/// Flags every command understands, named as kubectl names them.
#[derive(Debug, Clone, Args)]
pub struct GlobalArgs {
    /// Path to the kubeconfig file, or several joined with ':' (default: $KUBECONFIG, then
    /// ~/.kube/config).
    // $KUBECONFIG is read by `with_kubeconfig_from_env`, not clap's `env`: an empty KUBECONFIG
    // means "unset" to kubectl, while clap would refuse it as a missing value.
    #[arg(long, global = true, value_name = "FILE")]
    pub kubeconfig: Option<PathBuf>,
    /// The kubeconfig context to use (default: k3d-<cluster-name> for up/down, current context otherwise).
    #[arg(long, global = true, value_name = "NAME")]
    pub context: Option<String>,
    /// The k3d cluster name (default: metadata.name of the k3d config).
    #[arg(long, global = true, value_name = "NAME")]
    pub cluster_name: Option<String>,
    /// The scenario: checks, deadlines, thresholds, models, GPU mode. A file, or the name of a
    /// built-in one: smoke (the default), nightly, gpu.
    #[arg(long, global = true, value_name = "FILE|NAME")]
    pub scenario: Option<PathBuf>,
    /// More log output (-v info, -vv debug, -vvv trace); RUST_LOG overrides.
    #[arg(short, long, global = true, action = clap::ArgAction::Count, conflicts_with = "quiet")]
    pub verbose: u8,
    /// Only errors and the final summary.
    #[arg(short, long, global = true)]
    pub quiet: bool,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Create (or reuse) the k3d cluster and install the platform in dependency order.
    Up(up::UpArgs),
    /// Run the milestone checks; the exit code is the verdict.
    Check(check::CheckArgs),
    /// Delete the k3d cluster; the image cache and downloads are kept unless --purge.
    Down(down::DownArgs),
    /// Show what `up` would install: components in dependency order, versions, concurrency.
    Plan(plan::PlanArgs),
    /// Triage a broken platform step by step (nodes, Applications, KServe, webhooks), each with the next command.
    Doctor(doctor::DoctorArgs),
    /// Scaffold a policy-compliant model endpoint into the GitOps source (the golden path).
    NewModel(new_model::NewModelArgs),
    /// Send inference requests to an endpoint and measure latency, open loop at a fixed rate (the
    /// client B4/F4 use); --closed for throughput.
    Probe(probe::ProbeArgs),
    /// Write the GitOps tree `up` would commit (manifests/ and vendor/) for your own repository.
    Vendor(vendor::VendorArgs),
    /// Print shell completions (bash, zsh, fish, elvish, powershell).
    Completions(completions::CompletionsArgs),
}

/// What went wrong, sorted by who can fix it: each variant has one exit code (`crate::exit`).
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    /// Bad flags or an input that cannot be used (exit 2).
    #[error("{0}")]
    Usage(String),
    /// A malformed scenario, k3d config or manifest; the message names the file and field
    /// (exit 2).
    #[error(transparent)]
    Config(#[from] crate::yaml::YamlError),
    /// A check selector that names nothing, or a selection that leaves nothing (exit 2).
    #[error(transparent)]
    Selection(#[from] crate::checks::SelectionError),
    /// `--allow-context` names another context than the one in use (exit 2).
    #[error(transparent)]
    ContextMismatch(crate::connect::ConnectError),
    /// No cluster answers, or its kubeconfig or context cannot be used (exit 3).
    #[error(transparent)]
    Cluster(crate::connect::ConnectError),
    /// The `up` report given to `check --up-report` cannot be read or is not one (exit 2).
    #[error(transparent)]
    UpReport(#[from] crate::report::bootstrap::BootstrapError),
    /// A report, a bundle or another output file could not be written (exit 3).
    #[error("cannot write {}", path.display())]
    Write {
        path: std::path::PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// The environment is not ready: Docker, the cluster, a tool (exit 3).
    #[error("{0}")]
    Environment(String),
    /// Stopped by Ctrl-C before the work concluded; says what state is left (exit 130).
    #[error("interrupted: {0}")]
    Interrupted(String),
    /// Anything else, with its cause chain (exit 1).
    #[error(transparent)]
    Failed(Box<dyn std::error::Error + Send + Sync>),
}

impl CliError {
    pub fn exit_code(&self) -> u8 {
        match self {
            CliError::Usage(_)
            | CliError::Config(_)
            | CliError::Selection(_)
            | CliError::UpReport(_)
            | CliError::ContextMismatch(_) => exit::USAGE,
            CliError::Cluster(_) | CliError::Write { .. } | CliError::Environment(_) => {
                exit::ENVIRONMENT
            }
            CliError::Interrupted(_) => exit::INTERRUPTED,
            CliError::Failed(_) => exit::CHECK_FAILED,
        }
    }

    pub fn failed(err: impl std::error::Error + Send + Sync + 'static) -> Self {
        CliError::Failed(Box::new(err))
    }
}

impl From<crate::connect::ConnectError> for CliError {
    fn from(err: crate::connect::ConnectError) -> Self {
        if err.is_usage() {
            CliError::ContextMismatch(err)
        } else {
            CliError::Cluster(err)
        }
    }
}

impl From<crate::install::InstallError> for CliError {
    fn from(err: crate::install::InstallError) -> Self {
        use crate::install::InstallError;
        match err {
            InstallError::BadInput(message) => CliError::Usage(message),
            InstallError::Config(err) => CliError::Config(err),
            InstallError::Environment(message) => CliError::Environment(message),
            InstallError::Failed(err) => CliError::Failed(err),
        }
    }
}

/// Renders an error and its causes as lines a person can read. An interruption is not an
/// error the user made; it says so without the `error:` prefix.
pub fn render_error(err: &CliError) -> String {
    let mut text = match err {
        CliError::Interrupted(_) => err.to_string(),
        _ => format!("error: {err}"),
    };
    let mut source = std::error::Error::source(err);
    if let CliError::Failed(inner) = err {
        source = inner.source();
    }
    while let Some(cause) = source {
        text.push_str(&format!("\n  caused by: {cause}"));
        source = cause.source();
    }
    text
}

fn init_logging(global: &GlobalArgs) {
    let default = match (global.quiet, global.verbose) {
        (true, _) => "error",
        (false, 0) => "warn",
        (false, 1) => "info",
        (false, 2) => "debug",
        _ => "trace",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(crate::report::colour_enabled_for_stderr())
        .try_init();
}

impl GlobalArgs {
    /// Fills `kubeconfig` from `$KUBECONFIG` when the flag is absent, treating an empty value as
    /// unset, as kubectl does.
    pub fn with_kubeconfig_from_env(mut self, env: Option<std::ffi::OsString>) -> Self {
        if self.kubeconfig.is_none() {
            self.kubeconfig = env.filter(|v| !v.is_empty()).map(PathBuf::from);
        }
        self
    }
}

/// Parses the command line, runs the command and returns the process exit code.
pub fn main() -> u8 {
    let mut cli = Cli::parse();
    cli.global = cli
        .global
        .with_kubeconfig_from_env(std::env::var_os("KUBECONFIG"));
    init_logging(&cli.global);
    // kube-rs and reqwest share rustls; ring is the one provider compiled in.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(runtime) => runtime,
        Err(err) => {
            eprintln!("error: cannot start the async runtime: {err}");
            return exit::ENVIRONMENT;
        }
    };
    match runtime.block_on(dispatch(cli)) {
        Ok(code) => code,
        Err(err) => {
            eprintln!("{}", render_error(&err));
            err.exit_code()
        }
    }
}

async fn dispatch(cli: Cli) -> Result<u8, CliError> {
    let global = cli.global;
    match cli.command {
        Command::Up(args) => up::run(&global, args).await,
        Command::Check(args) => check::run(&global, args).await,
        Command::Down(args) => down::run(&global, args).await,
        Command::Plan(args) => plan::run(&global, args),
        Command::Doctor(args) => doctor::run(&global, args).await,
        Command::Vendor(args) => vendor::run(&global, args).await,
        Command::NewModel(args) => new_model::run(&global, args).await,
        Command::Probe(args) => probe::run(&global, args).await,
        Command::Completions(args) => completions::run(args),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn the_cli_definition_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn every_subcommand_has_help() {
        for sub in Cli::command().get_subcommands() {
            assert!(sub.get_about().is_some(), "{} lacks help", sub.get_name());
        }
    }

    #[test]
    fn an_empty_kubeconfig_variable_means_unset_and_the_flag_wins() {
        let parsed = |args: &[&str]| Cli::try_parse_from(args).expect("valid").global;
        let global = parsed(&["neuroscale", "check"]).with_kubeconfig_from_env(Some("".into()));
        assert_eq!(global.kubeconfig, None);
        let global = parsed(&["neuroscale", "check"])
            .with_kubeconfig_from_env(Some("/a/config:/b/config".into()));
        assert_eq!(
            global.kubeconfig,
            Some(PathBuf::from("/a/config:/b/config"))
        );
        let global = parsed(&["neuroscale", "check", "--kubeconfig", "/flag"])
            .with_kubeconfig_from_env(Some("/env".into()));
        assert_eq!(global.kubeconfig, Some(PathBuf::from("/flag")));
    }
}
