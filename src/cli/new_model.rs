//! `neuroscale new-model`: the golden path. Renders a policy-compliant model endpoint and
//! commits it to the local GitOps source (or writes it under `--out`), where the model-endpoints
//! ApplicationSet picks it up; `--remove NAME` takes it out again. The logic lives in
//! `crate::gitops`; this file parses flags and tells the user what happens next.

use std::path::{Path, PathBuf};

use clap::Args;

use super::{CliError, GlobalArgs};
use crate::gitops::scaffold::{self, ModelSpec, ScaffoldError};
use crate::gitops::{self, conformance, GitSource, GitopsError};
use crate::scenario::is_dns1123_label;
#[derive(Debug, Args)]
pub struct NewModelArgs {
    /// The model name (a DNS-1123 label; it names the folder, the InferenceService and the Application).
    #[arg(required_unless_present = "remove")]
    pub name: Option<String>,
    /// The owning team (kebab-case), the `owner` label.
    #[arg(long, required_unless_present = "remove")]
    pub owner: Option<String>,
    /// The cost center (kebab-case), the `cost-center` label OpenCost aggregates by.
    #[arg(long, required_unless_present = "remove")]
    pub cost_center: Option<String>,
    /// The model format; it selects the serving runtime (the platform ships one: sklearn).
    #[arg(long, default_value = "sklearn")]
    pub format: String,
    /// Where the model is stored (the default is KServe's public sklearn iris example).
    #[arg(long, value_name = "URI", default_value = scaffold::DEFAULT_STORAGE_URI)]
    pub storage_uri: String,
    /// Request one nvidia.com/gpu and schedule onto the GPU node.
    #[arg(long)]
    pub gpu: bool,
    /// Write the folder under this path instead of committing to the GitOps source.
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// Remove the model NAME from the GitOps source instead.
    #[arg(long, value_name = "NAME", conflicts_with_all = ["name", "owner", "cost_center", "out"])]
    pub remove: Option<String>,
}

pub async fn run(_global: &GlobalArgs, args: NewModelArgs) -> Result<u8, CliError> {
    if let Some(name) = args.remove {
        return remove(&name);
    }
    let spec = ModelSpec {
        name: args.name.expect("clap requires NAME without --remove"),
        owner: args.owner.expect("clap requires --owner without --remove"),
        cost_center: args
            .cost_center
            .expect("clap requires --cost-center without --remove"),
        format: args.format,
        storage_uri: args.storage_uri,
        gpu: args.gpu,
    };
    spec.validate().map_err(usage)?;
    // The scaffold passes the policies by construction; judge it anyway so a regression in the
    // template can never be committed.
    let violations = conformance::violations(&scaffold::inference_service(&spec));
    if let Some(first) = violations.first() {
        return Err(CliError::Failed(
            format!(
                "internal error: the scaffold for `{}` breaks policy {}: {}",
                spec.name, first.policy, first.message
            )
            .into(),
        ));
    }
    match args.out {
        Some(out) => write_folder(&spec, &out),
        None => commit(&spec),
    }
}

fn usage(err: ScaffoldError) -> CliError {
    CliError::Usage(err.to_string())
}

fn from_gitops(err: GitopsError) -> CliError {
    match err {
        GitopsError::ModelExists { .. }
        | GitopsError::ModelNotFound { .. }
        | GitopsError::InvalidModel(_) => CliError::Usage(err.to_string()),
        GitopsError::NotARepository(_) | GitopsError::GitMissing => {
            CliError::Environment(err.to_string())
        }
        other => CliError::failed(other),
    }
}

fn write_folder(spec: &ModelSpec, out: &Path) -> Result<u8, CliError> {
    let folder = out.join(&spec.name);
    if folder.exists() {
        return Err(CliError::Usage(format!(
            "{} already exists; refusing to overwrite model `{}` (pick another name or remove the folder)",
            folder.display(),
            spec.name
        )));
    }
    std::fs::create_dir_all(&folder).map_err(|e| io_error(&folder, e))?;
    let mut written: Vec<PathBuf> = Vec::new();
    for file in scaffold::render(spec) {
        let path = folder.join(file.file_name());
        std::fs::write(&path, &file.contents).map_err(|e| io_error(&path, e))?;
        written.push(path);
    }
    for path in &written {
        println!("wrote {}", path.display());
    }
    println!(
        "\nNext: copy {} to {}/ in your GitOps repository and commit it; the {} ApplicationSet \
         creates Application {} from it.",
        folder.display(),
        gitops::model_dir(&spec.name),
        gitops::MODEL_APPLICATIONSET,
        gitops::model_application_name(&spec.name),
    );
    Ok(crate::exit::SUCCESS)
}

fn io_error(path: &Path, err: std::io::Error) -> CliError {
    CliError::Environment(format!("cannot write {}: {err}", path.display()))
}

fn commit(spec: &ModelSpec) -> Result<u8, CliError> {
    let source = GitSource::open(GitSource::default_dir()).map_err(from_gitops)?;
    let commit = source.add_model(spec).map_err(from_gitops)?;
    let app = gitops::model_application_name(&spec.name);
    println!(
        "committed {} to {} ({})",
        gitops::model_dir(&spec.name),
        source.repo_path().display(),
        commit.short()
    );
    println!(
        "\nWhat happens next:\n  \
         1. ArgoCD's {set} ApplicationSet polls the repository (every 30 s) and creates Application {app}.\n  \
         2. {app} syncs InferenceService {ns}/{name}; Kyverno admits it (labels owner={owner}, cost-center={cc}).\n  \
         3. KServe serves it at http://{host} through Kourier once Ready.\n\n\
         Watch it:  kubectl -n argocd get application {app}\n           \
         kubectl -n {ns} get inferenceservice {name}\n\
         Undo it:   neuroscale new-model --remove {name}",
        set = gitops::MODEL_APPLICATIONSET,
        ns = gitops::MODEL_NAMESPACE,
        name = spec.name,
        owner = spec.owner,
        cc = spec.cost_center,
        host = gitops::predictor_host(&spec.name, gitops::MODEL_NAMESPACE),
    );
    Ok(crate::exit::SUCCESS)
}

fn remove(name: &str) -> Result<u8, CliError> {
    if !is_dns1123_label(name) {
        return Err(usage(ScaffoldError::InvalidName(name.to_string())));
    }
    let source = GitSource::open(GitSource::default_dir()).map_err(from_gitops)?;
    let commit = source.remove_model(name).map_err(from_gitops)?;
    println!(
        "removed {} from {} ({})",
        gitops::model_dir(name),
        source.repo_path().display(),
        commit.short()
    );
    println!(
        "\nArgoCD deletes Application {app} at its next poll and prunes InferenceService {ns}/{name}.",
        app = gitops::model_application_name(name),
        ns = gitops::MODEL_NAMESPACE,
    );
    Ok(crate::exit::SUCCESS)
}
