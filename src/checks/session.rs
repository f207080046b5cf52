//! The check session: the one facade `neuroscale check` and the cargo test trials
//! (`tests/milestones.rs`) run checks through. It connects to the cluster, opens the routes the
//! selected checks need (the Kourier gateway, OpenCost) and nothing else, runs a selection or a
//! single check with the runner, reports on the event stream, and closes the port-forwards.
//! When no cluster answers, `report_not_run` reports every selected check as not run on the same
//! stream, so the reports are written all the same.

use std::future::Future;
use std::path::PathBuf;

use super::catalogue::{CheckId, Need};
use super::env::CheckEnv;
use super::events::{EventSink, Silent};
use super::outcome::CheckResult;
use super::runner::{self, KubeCleanup, RunResults};
use super::selection::Selection;
use crate::connect::{self, ConnectError, Connection, Endpoints, Forwards, Target};
use crate::platform::{kourier, opencost};
use crate::scenario::Scenario;

/// A connected session, ready to run checks.
pub struct CheckSession {
    connection: Connection,
    env: CheckEnv,
    selection: Selection,
    forwards: Forwards,
    notes: Vec<String>,
}

impl CheckSession {
    /// Connects to `target` and opens the routes `selection` needs; a route that cannot be
    /// opened is a note, and the checks that need it FAIL saying so.
    pub async fn open(
        target: &Target,
        endpoints: &Endpoints,
        scenario: Scenario,
        selection: Selection,
        gitops_cache_dir: PathBuf,
    ) -> Result<CheckSession, ConnectError> {
        let connection = connect::connect(target).await?;
        let mut forwards = Forwards::default();
        let mut notes = Vec::new();
        let ingress_url = match connect::direct_ingress_url(&connection, endpoints) {
            Some(url) => Some(url),
            None if !selection.needs(Need::Ingress) => None,
            None => {
                connect::forward(
                    &connection.client,
                    kourier::NAMESPACE,
                    kourier::SERVICE,
                    kourier::HTTP_PORT,
                    &mut forwards,
                    &mut notes,
                )
                .await
            }
        };
        let opencost_url = match &endpoints.opencost_url {
            Some(url) => Some(url.clone()),
            None if !selection.needs(Need::OpenCost) => None,
            None => {
                connect::forward(
                    &connection.client,
                    opencost::NAMESPACE,
                    opencost::SERVICE,
                    opencost::API_PORT,
                    &mut forwards,
                    &mut notes,
                )
                .await
            }
        };
        let env = CheckEnv {
            client: connection.client.clone(),
            scenario,
            http: reqwest::Client::new(),
            context_name: connection.context.clone(),
            mutations_allowed: connection.mutations_allowed,
            ingress_url,
            opencost_url,
            gitops_cache_dir,
        };
        Ok(CheckSession {
            connection,
            env,
            selection,
            forwards,
            notes,
        })
    }

    /// The cluster the session runs against.
    pub fn connection(&self) -> &Connection {
        &self.connection
    }

    pub fn env(&self) -> &CheckEnv {
        &self.env
    }

    pub fn selection(&self) -> &Selection {
        &self.selection
    }

    /// What could not be opened (a port-forward), one sentence each.
    pub fn notes(&self) -> &[String] {
        &self.notes
    }

    /// Runs the selection: read-only checks `concurrency` at once, the rest alone; stops when
    /// `cancel` resolves (Ctrl-C). Every step is reported on `events`.
    pub async fn run(
        &self,
        concurrency: usize,
        cancel: impl Future<Output = ()>,
        events: &dyn EventSink,
    ) -> RunResults {
        let cleanup = KubeCleanup {
            client: self.connection.client.clone(),
        };
        runner::run(
            &self.env,
            &self.selection,
            &cleanup,
            concurrency,
            cancel,
            events,
        )
        .await
    }

    /// Runs one selected check under the same guards (a cargo test trial).
    pub async fn run_check(&self, id: CheckId) -> CheckResult {
        let selection = Selection::of(&self.env.scenario, &[id])
            .unwrap_or_else(|_| unreachable!("a scenario that resolved once resolves again"));
        let cleanup = KubeCleanup {
            client: self.connection.client.clone(),
        };
        let results = runner::run(
            &self.env,
            &selection,
            &cleanup,
            1,
            futures::future::pending(),
            &Silent,
        )
        .await;
        results
            .results
            .into_iter()
            .next()
            .expect("one result per selected check")
    }

    /// Stops the port-forwards.
    pub async fn close(self) {
        self.forwards.close().await;
    }
}

/// Reports every selected check as not run, for `reason` (no cluster answered, the bootstrap
/// failed): the same event stream, so the same reports.
pub fn report_not_run(
    selection: &Selection,
    reason: &str,
    observed: &str,
    events: &dyn EventSink,
) -> RunResults {
    runner::report_not_run(selection, reason, observed, events)
}
