//! Milestone A, GitOps spine: ArgoCD readiness (A1), Application sync and health (A2, A3),
//! drift self-heal (A4). What the original smoke test did and these checks must not: count
//! "Running" pods as ready, grep "Healthy" out of a table (so Progressing passed), and SKIP when
//! the canary was missing.

pub mod apps_synced_healthy;
pub mod argocd_ready;
pub mod drift_self_heal;
pub mod no_unknown_state;

use crate::checks::env::CheckRun;
use crate::checks::outcome::Outcome;
use crate::observe;
use crate::platform::argocd;
use crate::platform::views::Application;
use crate::readiness::ApplicationState;

/// Every Application in ArgoCD's namespace (A2, A3).
async fn list_applications(run: &CheckRun<'_>) -> Result<Vec<Application>, Outcome> {
    observe::list_views::<Application>(&run.env.client, Some(argocd::NAMESPACE))
        .await
        .map_err(|e| Outcome::api_error("ArgoCD Applications", &e))
}

/// `kserve Synced/Progressing [SyncError: ...] (last operation Failed: ...)`.
fn describe(state: &ApplicationState) -> String {
    let mut text = format!("{} {}/{}", state.name, state.sync, state.health);
    if !state.error_conditions.is_empty() {
        text.push_str(&format!(" [{}]", state.error_conditions.join("; ")));
    }
    if let Some(op) = &state.operation {
        if !op.starts_with("Succeeded") {
            text.push_str(&format!(" (last operation {op})"));
        }
    }
    text
}
