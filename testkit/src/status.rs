//! `metav1.Status` failures exactly as the Kubernetes API server writes them, so kube-rs (and the
//! checks' admission classification) read the sim's errors the way they read a real server's.
//!
//! Shapes: k8s.io/apimachinery pkg/apis/meta/v1/types.go (`Status`, `StatusDetails`,
//! `StatusCause`) and the constructors in pkg/api/errors/errors.go (`NewNotFound`,
//! `NewAlreadyExists`, `NewConflict`, `NewBadRequest`, `NewInternalError`, `NewInvalid`,
//! `NewMethodNotSupported`). Admission denials follow k8s.io/apiserver
//! pkg/admission/plugin/webhook/errors (`ToStatusErr`: "admission webhook %q denied the request: %s",
//! code at least 400) and webhook call failures `failed calling webhook %q: %v` wrapped in an
//! internal error.

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// A `metav1.Status` with `status: Failure` (`kind`, `apiVersion`, `metadata` and `status` are
/// constant and written by `to_json`; the struct stays small because every handler returns it).
#[derive(Debug, Clone, PartialEq)]
pub struct Status {
    pub message: String,
    pub reason: String,
    pub details: Option<Box<StatusDetails>>,
    pub code: u16,
}

/// `metav1.StatusDetails`; empty fields are omitted as Go's `omitempty` does.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct StatusDetails {
    #[serde(skip_serializing_if = "String::is_empty", default)]
    pub name: String,
    #[serde(skip_serializing_if = "String::is_empty", default)]
    pub group: String,
    #[serde(skip_serializing_if = "String::is_empty", default)]
    pub kind: String,
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub causes: Vec<StatusCause>,
}

/// `metav1.StatusCause`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct StatusCause {
    #[serde(skip_serializing_if = "String::is_empty", default)]
    pub reason: String,
    #[serde(skip_serializing_if = "String::is_empty", default)]
    pub message: String,
    #[serde(skip_serializing_if = "String::is_empty", default)]
    pub field: String,
}

/// `schema.GroupResource.String()`: `deployments.apps`, or `pods` for the core group.
pub fn qualified(group: &str, plural: &str) -> String {
    if group.is_empty() {
        plural.to_string()
    } else {
        format!("{plural}.{group}")
    }
}

impl Status {
    /// A failure with the given code, reason and message and no details.
    pub fn failure(code: u16, reason: &str, message: impl Into<String>) -> Self {
        Status {
            message: message.into(),
            reason: reason.into(),
            details: None,
            code,
        }
    }

    fn with_details(mut self, group: &str, plural: &str, name: &str) -> Self {
        self.details = Some(Box::new(StatusDetails {
            name: name.into(),
            group: group.into(),
            kind: plural.into(),
            causes: Vec::new(),
        }));
        self
    }

    /// `NewNotFound`: `deployments.apps "x" not found`.
    pub fn not_found(group: &str, plural: &str, name: &str) -> Self {
        Status::failure(
            404,
            "NotFound",
            format!("{} \"{name}\" not found", qualified(group, plural)),
        )
        .with_details(group, plural, name)
    }

    /// `NewAlreadyExists`.
    pub fn already_exists(group: &str, plural: &str, name: &str) -> Self {
        Status::failure(
            409,
            "AlreadyExists",
            format!("{} \"{name}\" already exists", qualified(group, plural)),
        )
        .with_details(group, plural, name)
    }

    /// `NewConflict` for a stale `resourceVersion`.
    pub fn conflict(group: &str, plural: &str, name: &str) -> Self {
        Status::failure(
            409,
            "Conflict",
            format!(
                "Operation cannot be fulfilled on {} \"{name}\": the object has been modified; \
                 please apply your changes to the latest version and try again",
                qualified(group, plural)
            ),
        )
        .with_details(group, plural, name)
    }

    /// `NewBadRequest`.
    pub fn bad_request(message: impl Into<String>) -> Self {
        Status::failure(400, "BadRequest", message)
    }

    /// `NewInvalid` with one cause per offending field.
    pub fn invalid(kind: &str, name: &str, field: &str, detail: &str) -> Self {
        let mut status = Status::failure(
            422,
            "Invalid",
            format!("{kind} \"{name}\" is invalid: {field}: {detail}"),
        );
        status.details = Some(Box::new(StatusDetails {
            name: name.into(),
            kind: kind.into(),
            causes: vec![StatusCause {
                reason: "FieldValueInvalid".into(),
                message: detail.into(),
                field: field.into(),
            }],
            ..Default::default()
        }));
        status
    }

    /// `NewInternalError`: "Internal error occurred: <cause>".
    pub fn internal(cause: impl Into<String>) -> Self {
        let cause = cause.into();
        let mut status = Status::failure(
            500,
            "InternalError",
            format!("Internal error occurred: {cause}"),
        );
        status.details = Some(Box::new(StatusDetails {
            causes: vec![StatusCause {
                message: cause,
                ..Default::default()
            }],
            ..Default::default()
        }));
        status
    }

    /// The generic 404 for a path the server does not serve.
    pub fn no_such_path() -> Self {
        let mut status = Status::failure(
            404,
            "NotFound",
            "the server could not find the requested resource",
        );
        status.details = Some(Box::new(StatusDetails {
            causes: vec![StatusCause {
                reason: "UnexpectedServerResponse".into(),
                message: "404 page not found".into(),
                ..Default::default()
            }],
            ..Default::default()
        }));
        status
    }

    /// `NewMethodNotSupported`.
    pub fn method_not_supported(group: &str, plural: &str, verb: &str) -> Self {
        Status::failure(
            405,
            "MethodNotAllowed",
            format!(
                "{verb} is not supported on resources of kind \"{}\"",
                qualified(group, plural)
            ),
        )
    }

    /// A webhook that answered with a denial (`ToStatusErr`): code 400 unless the webhook gave
    /// a higher one, message prefixed with the webhook's name.
    pub fn webhook_denied(webhook: &str, message: &str) -> Self {
        Status::failure(
            400,
            "",
            format!("admission webhook \"{webhook}\" denied the request: {message}"),
        )
    }

    /// A webhook the API server could not call, e.g. because its Service has no endpoints.
    pub fn webhook_unreachable(webhook: &str, url: &str, cause: &str) -> Self {
        Status::internal(format!(
            "failed calling webhook \"{webhook}\": failed to call webhook: Post \"{url}\": {cause}"
        ))
    }

    /// The wire form: Go's `omitempty` drops empty reason and details.
    pub fn to_json(&self) -> Value {
        let mut json = serde_json::json!({
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": self.message,
            "code": self.code,
        });
        if !self.reason.is_empty() {
            json["reason"] = Value::String(self.reason.clone());
        }
        if let Some(details) = &self.details {
            json["details"] = serde_json::to_value(details).expect("details serialise");
        }
        json
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn not_found_matches_apimachinery() {
        let json = Status::not_found("apps", "deployments", "drift-canary").to_json();
        assert_eq!(
            json,
            serde_json::json!({
                "kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
                "message": "deployments.apps \"drift-canary\" not found", "reason": "NotFound",
                "details": {"name": "drift-canary", "group": "apps", "kind": "deployments"},
                "code": 404
            })
        );
    }

    #[test]
    fn core_resources_are_not_qualified() {
        assert_eq!(
            Status::already_exists("", "pods", "p").message,
            "pods \"p\" already exists"
        );
    }

    #[test]
    fn webhook_denial_carries_the_webhook_name() {
        let status = Status::webhook_denied("validate.kyverno.svc-fail", "blocked");
        assert_eq!(status.code, 400);
        assert!(status
            .message
            .starts_with("admission webhook \"validate.kyverno.svc-fail\" denied the request: "));
    }
}
