//! What cert-manager's controllers do at runtime, scripted: once the controller is ready,
//! Issuers and ClusterIssuers become Ready and each Certificate gets its Secret
//! (`spec.secretName`, keys `tls.crt`, `tls.key`, `ca.crt`) and `Ready=True`
//! (cert-manager pkg/controller/certificates); once the cainjector is ready, webhook
//! configurations, CRDs and APIServices annotated `cert-manager.io/inject-ca-from: <ns>/<cert>`
//! get that certificate's CA as `caBundle` (pkg/controller/cainjector). Without them, pods
//! mounting those Secrets cannot start (see `controllers`), as on a real cluster.

use serde_json::{json, Value};

use crate::controllers::deployment_ready;
use crate::store::{now_rfc3339, State};

pub const NAMESPACE: &str = "cert-manager";
const INJECT_ANNOTATION: &str = "cert-manager.io/inject-ca-from";
/// A stand-in PEM (base64 of "-----BEGIN CERTIFICATE-----").
const PEM: &str = "LS0tLS1CRUdJTiBDRVJUSUZJQ0FURS0tLS0t";

fn text<'a>(value: &'a Value, pointer: &str) -> &'a str {
    value.pointer(pointer).and_then(Value::as_str).unwrap_or("")
}

fn all(state: &State, api_version: &str, kind: &str) -> Vec<Value> {
    state
        .resource_for(api_version, kind)
        .map(|r| state.list(&r, None, None, None))
        .unwrap_or_default()
}

fn set_ready(state: &mut State, object: &Value, message: &str) {
    if object
        .pointer("/status/conditions/0/status")
        .and_then(Value::as_str)
        == Some("True")
    {
        return;
    }
    let Ok(resource) = state.resource_for(text(object, "/apiVersion"), text(object, "/kind"))
    else {
        return;
    };
    let mut status = object.get("status").cloned().unwrap_or(json!({}));
    status["conditions"] = json!([{"type": "Ready", "status": "True", "reason": "Ready",
                                   "message": message, "lastTransitionTime": now_rfc3339(),
                                   "observedGeneration": object.pointer("/metadata/generation").cloned().unwrap_or(json!(1))}]);
    let _ = state.set_status(
        &resource,
        text(object, "/metadata/namespace"),
        text(object, "/metadata/name"),
        status,
    );
}

pub fn reconcile(state: &mut State) {
    if deployment_ready(state, NAMESPACE, "cert-manager") {
        for kind in ["Issuer", "ClusterIssuer"] {
            for issuer in all(state, "cert-manager.io/v1", kind) {
                set_ready(state, &issuer, "");
            }
        }
        for certificate in all(state, "cert-manager.io/v1", "Certificate") {
            let namespace = text(&certificate, "/metadata/namespace").to_string();
            let secret_name = text(&certificate, "/spec/secretName").to_string();
            if secret_name.is_empty() {
                continue;
            }
            let Ok(secrets) = state.resource_for("v1", "Secret") else {
                continue;
            };
            if state.get(&secrets, &namespace, &secret_name).is_none() {
                let _ = state.put(json!({"apiVersion": "v1", "kind": "Secret", "type": "kubernetes.io/tls",
                    "metadata": {"name": secret_name, "namespace": namespace,
                                 "annotations": {"cert-manager.io/certificate-name": text(&certificate, "/metadata/name")}},
                    "data": {"tls.crt": PEM, "tls.key": PEM, "ca.crt": PEM}}));
            }
            set_ready(
                state,
                &certificate,
                "Certificate is up to date and has not expired",
            );
        }
    }
    if deployment_ready(state, NAMESPACE, "cert-manager-cainjector") {
        inject(state);
    }
}

fn inject(state: &mut State) {
    let issued: Vec<(String, String)> = all(state, "cert-manager.io/v1", "Certificate")
        .iter()
        .filter(|c| text(c, "/status/conditions/0/status") == "True")
        .map(|c| {
            (
                text(c, "/metadata/namespace").to_string(),
                text(c, "/metadata/name").to_string(),
            )
        })
        .collect();
    let annotation = format!(
        "/metadata/annotations/{}",
        INJECT_ANNOTATION.replace('/', "~1")
    );
    // Only objects still missing the CA are copied: CRDs can be megabytes, and this runs on
    // every controller pass.
    let stale = state.find_all(|o| {
        let kind = text(o, "/kind");
        let Some((namespace, certificate)) = text(o, &annotation).split_once('/') else {
            return false;
        };
        let from_issued = issued
            .iter()
            .any(|(n, c)| n == namespace && c == certificate);
        from_issued
            && match kind {
                "CustomResourceDefinition" => o
                    .pointer("/spec/conversion/webhook/clientConfig")
                    .is_some_and(|config| text(config, "/caBundle") != PEM),
                "ValidatingWebhookConfiguration" | "MutatingWebhookConfiguration" => o
                    .get("webhooks")
                    .and_then(Value::as_array)
                    .is_some_and(|hooks| {
                        hooks
                            .iter()
                            .any(|h| text(h, "/clientConfig/caBundle") != PEM)
                    }),
                _ => false,
            }
    });
    for mut object in stale {
        if text(&object, "/kind") == "CustomResourceDefinition" {
            object["spec"]["conversion"]["webhook"]["clientConfig"]["caBundle"] = json!(PEM);
        } else {
            for hook in object
                .get_mut("webhooks")
                .and_then(Value::as_array_mut)
                .into_iter()
                .flatten()
            {
                hook["clientConfig"]["caBundle"] = json!(PEM);
            }
        }
        let _ = state.put(object);
    }
}
