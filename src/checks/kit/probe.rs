//! Probe objects: what a check creates in the cluster to test it (a denial probe, a scaffolded
//! model, the GPU model). Each gets a generated name that never collides with a leftover of an
//! interrupted run, is tracked before it is created (so the runner deletes it whatever happens
//! next, Ctrl-C included), and is removed by waiting until it is really gone.

use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use serde_json::Value;

use crate::checks::env::{CheckRun, CreatedObject};
use crate::observe::{self, Kind};

/// Label put on every probe object, so a human can find leftovers.
pub const MANAGED_BY: (&str, &str) = ("app.kubernetes.io/managed-by", "neuroscale-checks");

/// Longest wait for a probe object to be gone after deletion.
pub const REMOVE_WAIT: Duration = Duration::from_secs(60);

/// A name `<prefix>-<6 hex digits>`, unique per call: the clock, the process and a counter
/// mixed, so two runs (or two probes of one run) never share one. Short enough to leave a
/// DNS-1123 label room for KServe's `-predictor` suffixes with the prefixes checks use.
pub fn generated_name(prefix: &str) -> String {
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    let mixed = now.subsec_nanos()
        ^ (now.as_secs() as u32)
        ^ std::process::id().rotate_left(8)
        ^ COUNTER
            .fetch_add(1, Ordering::Relaxed)
            .wrapping_mul(0x9e37_79b9);
    format!("{prefix}-{:06x}", mixed & 0xff_ffff)
}

/// An object a check creates.
#[derive(Debug, Clone)]
pub struct ProbeObject {
    pub kind: Kind,
    pub namespace: String,
    pub name: String,
    /// The full manifest, as JSON.
    pub manifest: Value,
}

impl ProbeObject {
    /// A probe from a manifest that names its own namespace and name.
    pub fn from_manifest(kind: Kind, manifest: Value) -> ProbeObject {
        let text = |pointer: &str| {
            manifest
                .pointer(pointer)
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string()
        };
        ProbeObject {
            kind,
            namespace: text("/metadata/namespace"),
            name: text("/metadata/name"),
            manifest,
        }
    }

    /// What the runner deletes if the check does not.
    pub fn created_object(&self) -> CreatedObject {
        CreatedObject {
            api_version: self.kind.api_version(),
            kind: self.kind.kind.to_string(),
            namespace: Some(self.namespace.clone()),
            name: self.name.clone(),
        }
    }

    /// `InferenceService models/neuroscale-d3-1a2b3c`.
    pub fn label(&self) -> String {
        format!("{} {}/{}", self.kind.kind, self.namespace, self.name)
    }
}

/// Creates `probe` for real (not a dry-run), tracked before the call so the runner deletes it
/// even if the check is cut short mid-call. It stays tracked when the create fails too: an
/// error on the way back does not prove nothing was created, and deleting what is absent is
/// harmless. `remove` untracks it once it is confirmed gone.
pub async fn create_tracked(run: &CheckRun<'_>, probe: &ProbeObject) -> Result<Value, kube::Error> {
    run.track(probe.created_object());
    observe::create(
        &run.env.client,
        &probe.kind,
        Some(&probe.namespace),
        &probe.manifest,
        false,
    )
    .await
}

/// Deletes `probe` if it exists and waits until it is gone (at most `REMOVE_WAIT`, at least
/// 5 s); untracks it once confirmed. `Ok(true)` when confirmed absent, `Ok(false)` when it still
/// exists, `Err` when absence could not be confirmed.
pub async fn remove(run: &CheckRun<'_>, probe: &ProbeObject) -> Result<bool, String> {
    let object = probe.created_object();
    let client = &run.env.client;
    let namespace = Some(probe.namespace.as_str());
    run.saw(format!("deleting probe {}", probe.label()));
    observe::delete(client, &probe.kind, namespace, &probe.name)
        .await
        .map_err(|e| observe::error_message(&e))?;
    let wait = run.remaining().clamp(Duration::from_secs(5), REMOVE_WAIT);
    let gone = observe::wait_gone(client, &probe.kind, namespace, &probe.name, wait)
        .await
        .map_err(|e| observe::error_message(&e))?;
    if gone {
        run.untrack(&object);
    }
    Ok(gone)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn generated_names_are_dns_labels_and_do_not_repeat() {
        let names: HashSet<String> = (0..200).map(|_| generated_name("nscheck-c2")).collect();
        assert_eq!(names.len(), 200);
        for name in &names {
            assert!(crate::scenario::is_dns1123_label(name), "{name}");
            assert_eq!(name.len(), "nscheck-c2-".len() + 6, "{name}");
            // `<name>-predictor-00001-deployment` must still be a valid name.
            assert!(
                name.len() + "-predictor-00001-deployment".len() <= 63,
                "{name}"
            );
        }
    }

    #[test]
    fn a_probe_from_a_manifest_knows_where_it_lives() {
        let probe = ProbeObject::from_manifest(
            crate::platform::views::INFERENCE_SERVICE,
            serde_json::json!({"metadata": {"name": "gpu", "namespace": "models"}}),
        );
        assert_eq!(probe.label(), "InferenceService models/gpu");
        assert_eq!(
            probe.created_object().api_version,
            "serving.kserve.io/v1beta1"
        );
    }
}
