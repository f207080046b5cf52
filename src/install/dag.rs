//! The dependency-graph executor: starts every node the moment all of its dependencies have
//! succeeded (not wave by wave), runs independent nodes concurrently, and marks the dependents
//! of a failed node as blocked while unrelated branches carry on, so one run reports every
//! independent failure.

use std::collections::{BTreeMap, BTreeSet};
use std::future::Future;
use std::time::{Duration, Instant};

use futures::stream::{FuturesUnordered, StreamExt};

/// A node: its name and the names it waits for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Node {
    pub name: String,
    pub depends_on: Vec<String>,
}

impl Node {
    pub fn new(name: impl Into<String>, depends_on: &[&str]) -> Self {
        Node {
            name: name.into(),
            depends_on: depends_on.iter().map(|d| d.to_string()).collect(),
        }
    }

    /// The nodes of a set of components, as the pin table declares them.
    pub fn from_components(components: &[crate::components::Component]) -> Vec<Node> {
        components
            .iter()
            .map(|c| Node::new(c.name, c.depends_on))
            .collect()
    }
}

/// How a node ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NodeOutcome<E> {
    Succeeded {
        started_after: Duration,
        took: Duration,
    },
    Failed {
        started_after: Duration,
        took: Duration,
        error: E,
    },
    /// Never started because a dependency did not succeed.
    Blocked { by: String },
}

impl<E> NodeOutcome<E> {
    pub fn succeeded(&self) -> bool {
        matches!(self, NodeOutcome::Succeeded { .. })
    }
}

/// What the executor tells its observer as it goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DagEvent<'a> {
    Started(&'a str),
    Succeeded(&'a str, Duration),
    Failed(&'a str, Duration),
    Blocked { node: &'a str, by: &'a str },
}

/// A graph the executor cannot run.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DagError {
    #[error("node `{0}` is listed twice")]
    Duplicate(String),
    #[error("node `{node}` depends on `{missing}`, which is not in the graph")]
    UnknownDependency { node: String, missing: String },
    #[error("nodes {} wait on each other in a cycle", .0.join(", "))]
    Cycle(Vec<String>),
}

/// The result of one run, per node, in graph order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DagRun<E> {
    pub outcomes: BTreeMap<String, NodeOutcome<E>>,
    pub took: Duration,
}

impl<E> DagRun<E> {
    pub fn all_succeeded(&self) -> bool {
        self.outcomes.values().all(NodeOutcome::succeeded)
    }
}

fn validate(nodes: &[Node]) -> Result<(), DagError> {
    let mut names = BTreeSet::new();
    for node in nodes {
        if !names.insert(node.name.as_str()) {
            return Err(DagError::Duplicate(node.name.clone()));
        }
    }
    for node in nodes {
        if let Some(missing) = node.depends_on.iter().find(|d| !names.contains(d.as_str())) {
            return Err(DagError::UnknownDependency {
                node: node.name.clone(),
                missing: missing.clone(),
            });
        }
    }
    // Kahn: whatever cannot be peeled off is on (or behind) a cycle.
    let mut done: BTreeSet<&str> = BTreeSet::new();
    loop {
        let ready: Vec<&str> = nodes
            .iter()
            .filter(|n| !done.contains(n.name.as_str()))
            .filter(|n| n.depends_on.iter().all(|d| done.contains(d.as_str())))
            .map(|n| n.name.as_str())
            .collect();
        if ready.is_empty() {
            break;
        }
        done.extend(ready);
    }
    if done.len() < nodes.len() {
        let stuck = nodes
            .iter()
            .filter(|n| !done.contains(n.name.as_str()))
            .map(|n| n.name.clone())
            .collect();
        return Err(DagError::Cycle(stuck));
    }
    Ok(())
}

/// Runs `task(name)` for every node, each as soon as all of its dependencies succeeded.
/// Independent nodes run concurrently on the caller's task (no spawning: dropping the returned
/// future cancels every node in flight, which is how Ctrl-C stops an install).
pub async fn execute<E, F, Fut>(
    nodes: &[Node],
    task: F,
    mut observe: impl FnMut(DagEvent<'_>),
) -> Result<DagRun<E>, DagError>
where
    F: Fn(String) -> Fut,
    Fut: Future<Output = Result<(), E>>,
{
    validate(nodes)?;
    let start = Instant::now();
    let mut outcomes: BTreeMap<String, NodeOutcome<E>> = BTreeMap::new();
    let mut started: BTreeSet<String> = BTreeSet::new();
    let mut running = FuturesUnordered::new();
    loop {
        // Start whatever is newly runnable, and block whatever can no longer run.
        let mut changed = true;
        while changed {
            changed = false;
            for node in nodes {
                if started.contains(&node.name) || outcomes.contains_key(&node.name) {
                    continue;
                }
                let failed_dep = node.depends_on.iter().find(|d| {
                    outcomes
                        .get(d.as_str())
                        .is_some_and(|outcome| !outcome.succeeded())
                });
                if let Some(by) = failed_dep {
                    observe(DagEvent::Blocked {
                        node: &node.name,
                        by,
                    });
                    outcomes.insert(node.name.clone(), NodeOutcome::Blocked { by: by.clone() });
                    changed = true;
                    continue;
                }
                let runnable = node
                    .depends_on
                    .iter()
                    .all(|d| outcomes.get(d.as_str()).is_some_and(NodeOutcome::succeeded));
                if runnable {
                    started.insert(node.name.clone());
                    observe(DagEvent::Started(&node.name));
                    let name = node.name.clone();
                    let started_after = start.elapsed();
                    let future = task(name.clone());
                    running.push(async move {
                        let began = Instant::now();
                        let result = future.await;
                        (name, started_after, began.elapsed(), result)
                    });
                }
            }
        }
        let Some((name, started_after, took, result)) = running.next().await else {
            break;
        };
        let outcome = match result {
            Ok(()) => {
                observe(DagEvent::Succeeded(&name, took));
                NodeOutcome::Succeeded {
                    started_after,
                    took,
                }
            }
            Err(error) => {
                observe(DagEvent::Failed(&name, took));
                NodeOutcome::Failed {
                    started_after,
                    took,
                    error,
                }
            }
        };
        outcomes.insert(name, outcome);
    }
    Ok(DagRun {
        outcomes,
        took: start.elapsed(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};
    use tokio::sync::Notify;

    /// An event log the fake tasks can wait on.
    #[derive(Default)]
    struct Log {
        entries: Mutex<Vec<String>>,
        changed: Notify,
    }

    impl Log {
        fn push(&self, entry: String) {
            self.entries.lock().unwrap().push(entry);
            self.changed.notify_waiters();
        }

        async fn wait_for(&self, entry: &str) {
            loop {
                // Created before the check, so a push in between is not missed.
                let changed = self.changed.notified();
                if self.entries.lock().unwrap().iter().any(|e| e == entry) {
                    return;
                }
                changed.await;
            }
        }
    }

    /// Runs `nodes` with fake tasks: a node listed in `holds` as (node, entry) does not finish
    /// until `entry` is in the log; nodes in `failing` fail. A schedule the executor cannot
    /// satisfy deadlocks, which the guard turns into a failure naming the log.
    async fn run_fake(
        nodes: &[Node],
        holds: &[(&str, &str)],
        failing: &[&str],
    ) -> (DagRun<String>, Vec<String>) {
        let holds: BTreeMap<String, String> = holds
            .iter()
            .map(|(n, e)| (n.to_string(), e.to_string()))
            .collect();
        let failing: BTreeSet<String> = failing.iter().map(|s| s.to_string()).collect();
        let log = Arc::new(Log::default());
        let task_log = log.clone();
        let observer_log = log.clone();
        let run = execute(
            nodes,
            |name| {
                let hold = holds.get(&name).cloned();
                let fails = failing.contains(&name);
                let log = task_log.clone();
                async move {
                    if let Some(entry) = hold {
                        log.wait_for(&entry).await;
                    }
                    tokio::task::yield_now().await;
                    log.push(format!("done {name}"));
                    if fails {
                        Err(format!("{name} broke"))
                    } else {
                        Ok(())
                    }
                }
            },
            |event| match event {
                DagEvent::Started(n) => observer_log.push(format!("start {n}")),
                DagEvent::Blocked { node, by } => {
                    observer_log.push(format!("blocked {node} by {by}"))
                }
                _ => {}
            },
        );
        let run = match tokio::time::timeout(Duration::from_secs(60), run).await {
            Ok(run) => run.unwrap(),
            Err(_) => panic!(
                "the executor deadlocked; log: {:?}",
                log.entries.lock().unwrap()
            ),
        };
        let entries = log.entries.lock().unwrap().clone();
        (run, entries)
    }

    fn position(log: &[String], entry: &str) -> usize {
        log.iter()
            .position(|e| e == entry)
            .unwrap_or_else(|| panic!("{entry} not in {log:?}"))
    }

    #[tokio::test]
    async fn a_node_starts_when_its_own_dependencies_finish_not_its_wave() {
        // root -> slow; root -> fast -> after_fast. `slow` only finishes once `after_fast` has
        // started: a wave-by-wave executor would wait for `slow` first and deadlock.
        let nodes = [
            Node::new("root", &[]),
            Node::new("slow", &["root"]),
            Node::new("fast", &["root"]),
            Node::new("after_fast", &["fast"]),
        ];
        let (run, log) = run_fake(&nodes, &[("slow", "start after_fast")], &[]).await;
        assert!(run.all_succeeded());
        assert!(position(&log, "start after_fast") < position(&log, "done slow"));
        assert!(position(&log, "done root") < position(&log, "start slow"));
        assert!(position(&log, "done fast") < position(&log, "start after_fast"));
    }

    #[tokio::test]
    async fn independent_nodes_run_concurrently() {
        // a and b each finish only once the other has started: only concurrency satisfies both.
        let nodes = [
            Node::new("a", &[]),
            Node::new("b", &[]),
            Node::new("c", &["a", "b"]),
        ];
        let (run, log) = run_fake(&nodes, &[("a", "start b"), ("b", "start a")], &[]).await;
        assert!(run.all_succeeded());
        assert!(position(&log, "done a") < position(&log, "start c"));
        assert!(position(&log, "done b") < position(&log, "start c"));
    }

    #[tokio::test]
    async fn a_failure_blocks_its_dependents_but_not_other_branches() {
        let nodes = [
            Node::new("argocd", &[]),
            Node::new("kyverno", &["argocd"]),
            Node::new("platform", &["kyverno", "kserve"]),
            Node::new("kserve", &["argocd"]),
        ];
        let (run, log) = run_fake(&nodes, &[], &["kyverno"]).await;
        assert!(!run.all_succeeded());
        assert!(matches!(
            &run.outcomes["kyverno"],
            NodeOutcome::Failed { error, .. } if error == "kyverno broke"
        ));
        assert!(run.outcomes["kserve"].succeeded());
        assert_eq!(
            run.outcomes["platform"],
            NodeOutcome::Blocked {
                by: "kyverno".into()
            }
        );
        assert!(!log.contains(&"start platform".to_string()), "{log:?}");
    }

    #[tokio::test]
    async fn bad_graphs_are_refused_before_anything_runs() {
        let never = |_: String| async { Err::<(), String>("must not run".into()) };
        let cycle = [Node::new("a", &["b"]), Node::new("b", &["a"])];
        assert!(matches!(
            execute(&cycle, never, |_| {}).await,
            Err(DagError::Cycle(nodes)) if nodes == ["a", "b"]
        ));
        let unknown = [Node::new("a", &["ghost"])];
        assert!(matches!(
            execute(&unknown, never, |_| {}).await,
            Err(DagError::UnknownDependency { .. })
        ));
        let twice = [Node::new("a", &[]), Node::new("a", &[])];
        assert!(matches!(
            execute(&twice, never, |_| {}).await,
            Err(DagError::Duplicate(_))
        ));
    }

    #[tokio::test]
    async fn the_pin_table_runs_in_dependency_order() {
        let components = crate::components::selected(false);
        let nodes = Node::from_components(&components);
        let (run, log) = run_fake(&nodes, &[], &[]).await;
        assert!(run.all_succeeded());
        for component in &components {
            for dep in component.depends_on {
                assert!(
                    position(&log, &format!("done {dep}"))
                        < position(&log, &format!("start {}", component.name))
                );
            }
        }
    }
}
