//! Typed partial views of the custom kinds the harness reads: each is a
//! `kube::core::Object<Spec, Status>` holding only the fields some check, gate or triage step
//! reads, so a field path is checked by the compiler instead of spelled as a JSON pointer.
//! Every field is optional or defaulted: a view must read any object the API server holds,
//! including half-reconciled ones, and say what is missing rather than fail to parse.
//!
//! Field names follow the upstream Go types cited on each struct.

use kube::api::{Api, DynamicObject};
use kube::core::{ApiResource, GroupVersionKind, Object};
use kube::Client;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

/// A custom resource kind the harness reads or creates.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Kind {
    pub group: &'static str,
    pub version: &'static str,
    pub kind: &'static str,
    pub plural: &'static str,
    pub namespaced: bool,
}

impl Kind {
    pub fn api_version(&self) -> String {
        if self.group.is_empty() {
            self.version.to_string()
        } else {
            format!("{}/{}", self.group, self.version)
        }
    }

    pub fn api_resource(&self) -> ApiResource {
        ApiResource::from_gvk_with_plural(
            &GroupVersionKind::gvk(self.group, self.version, self.kind),
            self.plural,
        )
    }

    /// The dynamic API for this kind in `namespace`, or cluster-wide (all namespaces when
    /// namespaced).
    pub fn api(&self, client: &Client, namespace: Option<&str>) -> Api<DynamicObject> {
        self.typed_api(client, namespace)
    }

    /// The API for this kind, read as `K` (a view, or `DynamicObject`).
    pub fn typed_api<K>(&self, client: &Client, namespace: Option<&str>) -> Api<K>
    where
        K: kube::Resource<DynamicType = ApiResource, Scope = kube::core::DynamicResourceScope>,
    {
        let resource = self.api_resource();
        match (self.namespaced, namespace) {
            (true, Some(ns)) => Api::namespaced_with(client.clone(), ns, &resource),
            _ => Api::all_with(client.clone(), &resource),
        }
    }
}

// argo-cd manifests/crds/application-crd.yaml and applicationset-crd.yaml.
pub const APPLICATION: Kind = Kind {
    group: "argoproj.io",
    version: "v1alpha1",
    kind: "Application",
    plural: "applications",
    namespaced: true,
};
pub const APPLICATION_SET: Kind = Kind {
    group: "argoproj.io",
    version: "v1alpha1",
    kind: "ApplicationSet",
    plural: "applicationsets",
    namespaced: true,
};
// kserve config/crd/full/serving.kserve.io_inferenceservices.yaml.
pub const INFERENCE_SERVICE: Kind = Kind {
    group: "serving.kserve.io",
    version: "v1beta1",
    kind: "InferenceService",
    plural: "inferenceservices",
    namespaced: true,
};
pub const CLUSTER_SERVING_RUNTIME: Kind = Kind {
    group: "serving.kserve.io",
    version: "v1alpha1",
    kind: "ClusterServingRuntime",
    plural: "clusterservingruntimes",
    namespaced: false,
};
// kyverno config/crds/policies.kyverno.io/policies.kyverno.io_validatingpolicies.yaml.
pub const VALIDATING_POLICY: Kind = Kind {
    group: "policies.kyverno.io",
    version: "v1",
    kind: "ValidatingPolicy",
    plural: "validatingpolicies",
    namespaced: false,
};
/// apps/v1 Deployment, for probe objects created from JSON manifests.
pub const DEPLOYMENT: Kind = Kind {
    group: "apps",
    version: "v1",
    kind: "Deployment",
    plural: "deployments",
    namespaced: true,
};

/// A view of one custom kind: which kind it reads.
pub trait View:
    kube::Resource<DynamicType = ApiResource, Scope = kube::core::DynamicResourceScope>
    + Clone
    + DeserializeOwned
    + std::fmt::Debug
{
    const KIND: Kind;

    /// The API for this view in `namespace` (or cluster-wide).
    fn api(client: &Client, namespace: Option<&str>) -> Api<Self> {
        Self::KIND.typed_api(client, namespace)
    }
}

/// Reads a JSON object (a dynamic object, a fixture, a watch event) as a view; `None` when it is
/// not shaped like one (no `metadata` or `spec`).
pub fn from_value<V: DeserializeOwned>(value: &serde_json::Value) -> Option<V> {
    serde_json::from_value(value.clone()).ok()
}

/// The view of a dynamic object.
pub fn from_dynamic<V: DeserializeOwned>(object: &DynamicObject) -> Option<V> {
    serde_json::to_value(object)
        .ok()
        .and_then(|v| from_value(&v))
}

/// A `status.conditions[]` entry as the Knative/KServe/Kubernetes condition shape has it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Condition {
    #[serde(rename = "type", default)]
    pub type_: String,
    #[serde(default)]
    pub status: String,
    #[serde(default)]
    pub reason: Option<String>,
    #[serde(default)]
    pub message: Option<String>,
}

/// Finds a condition by type.
pub fn condition<'a>(conditions: &'a [Condition], kind: &str) -> Option<&'a Condition> {
    conditions.iter().find(|c| c.type_ == kind)
}

// ---------------------------------------------------------------------------------------------
// ArgoCD Application (argo-cd pkg/apis/application/v1alpha1/types.go)

pub type Application = Object<ApplicationSpec, ApplicationStatus>;

impl View for Application {
    const KIND: Kind = APPLICATION;
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ApplicationSpec {
    #[serde(default)]
    pub sync_policy: Option<SyncPolicy>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SyncPolicy {
    #[serde(default)]
    pub automated: Option<AutomatedSync>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AutomatedSync {
    /// ArgoCD 3.x: `false` turns automation off while keeping the block.
    #[serde(default)]
    pub enabled: Option<bool>,
    #[serde(default)]
    pub self_heal: Option<bool>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ApplicationStatus {
    #[serde(default)]
    pub sync: Option<SyncStatus>,
    #[serde(default)]
    pub health: Option<HealthStatus>,
    #[serde(default)]
    pub conditions: Option<Vec<ApplicationCondition>>,
    #[serde(default)]
    pub operation_state: Option<OperationState>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SyncStatus {
    #[serde(default)]
    pub status: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct HealthStatus {
    #[serde(default)]
    pub status: Option<String>,
    #[serde(default)]
    pub message: Option<String>,
}

/// ArgoCD's application conditions carry a type and a message, no status.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ApplicationCondition {
    #[serde(rename = "type", default)]
    pub type_: String,
    #[serde(default)]
    pub message: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct OperationState {
    #[serde(default)]
    pub phase: Option<String>,
    #[serde(default)]
    pub message: Option<String>,
}

/// Whether automated sync with self-heal is on: `Some(true)` only when `automated` is present,
/// not disabled, and `selfHeal` is true; `None` when the Application has no `syncPolicy` at all.
pub fn self_heal(app: &Application) -> Option<bool> {
    let policy = app.spec.sync_policy.as_ref()?;
    Some(
        policy
            .automated
            .as_ref()
            .is_some_and(|auto| auto.enabled != Some(false) && auto.self_heal == Some(true)),
    )
}

// ---------------------------------------------------------------------------------------------
// ArgoCD ApplicationSet (argo-cd pkg/apis/application/v1alpha1/applicationset_types.go)

pub type ApplicationSet = Object<ApplicationSetSpec, ApplicationSetStatus>;

impl View for ApplicationSet {
    const KIND: Kind = APPLICATION_SET;
}

/// Nothing of the spec is read; the status explains a missing child.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ApplicationSetSpec {}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ApplicationSetStatus {
    #[serde(default)]
    pub conditions: Option<Vec<Condition>>,
}

/// The ApplicationSet conditions that report an error: ErrorOccurred=True, or
/// ParametersGenerated / ResourcesUpToDate = False, as `Type: message`.
pub fn application_set_errors(appset: &ApplicationSet) -> Vec<String> {
    appset
        .status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .into_iter()
        .flatten()
        .filter(|c| {
            (c.type_ == "ErrorOccurred" && c.status == "True")
                || (matches!(
                    c.type_.as_str(),
                    "ParametersGenerated" | "ResourcesUpToDate"
                ) && c.status == "False")
        })
        .map(|c| format!("{}: {}", c.type_, c.message.as_deref().unwrap_or("")))
        .collect()
}

// ---------------------------------------------------------------------------------------------
// KServe InferenceService (kserve pkg/apis/serving/v1beta1/inference_service.go, _status.go)

pub type InferenceService = Object<InferenceServiceSpec, InferenceServiceStatus>;

impl View for InferenceService {
    const KIND: Kind = INFERENCE_SERVICE;
}

/// The spec is kept as it is (`predictor` with its model, resources, nodeSelector): the harness
/// reads only the status, and creates InferenceServices from JSON manifests.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct InferenceServiceSpec {
    #[serde(default)]
    pub predictor: serde_json::Value,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct InferenceServiceStatus {
    #[serde(default)]
    pub url: Option<String>,
    #[serde(default)]
    pub conditions: Option<Vec<Condition>>,
}

impl InferenceServiceStatus {
    pub fn conditions(&self) -> &[Condition] {
        self.conditions.as_deref().unwrap_or_default()
    }
}

/// An InferenceService's conditions (empty without a status).
pub fn isvc_conditions(isvc: &InferenceService) -> &[Condition] {
    isvc.status
        .as_ref()
        .map(InferenceServiceStatus::conditions)
        .unwrap_or_default()
}

/// An InferenceService's `status.url`, when set and not empty.
pub fn isvc_url(isvc: &InferenceService) -> Option<&str> {
    isvc.status
        .as_ref()
        .and_then(|s| s.url.as_deref())
        .filter(|u| !u.is_empty())
}

// ---------------------------------------------------------------------------------------------
// Kyverno ValidatingPolicy (kyverno api/policies.kyverno.io/v1)

pub type ValidatingPolicy = Object<ValidatingPolicySpec, ValidatingPolicyStatus>;

impl View for ValidatingPolicy {
    const KIND: Kind = VALIDATING_POLICY;
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ValidatingPolicySpec {
    #[serde(default)]
    pub validation_actions: Option<Vec<String>>,
    /// Fail by default; Ignore admits everything while Kyverno cannot be reached.
    #[serde(default)]
    pub failure_policy: Option<String>,
    #[serde(default)]
    pub evaluation: Option<PolicyEvaluation>,
    #[serde(default)]
    pub match_constraints: Option<MatchConstraints>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct PolicyEvaluation {
    #[serde(default)]
    pub admission: Option<AdmissionEvaluation>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct AdmissionEvaluation {
    #[serde(default)]
    pub enabled: Option<bool>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MatchConstraints {
    #[serde(default)]
    pub resource_rules: Option<Vec<ResourceRule>>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ResourceRule {
    #[serde(default)]
    pub resources: Option<Vec<String>>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ValidatingPolicyStatus {
    /// The current readiness (`status.ready` is deprecated and not read).
    #[serde(default)]
    pub condition_status: Option<ConditionStatus>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ConditionStatus {
    #[serde(default)]
    pub ready: Option<bool>,
    #[serde(default)]
    pub conditions: Option<Vec<Condition>>,
}

/// The fields of a ValidatingPolicy the harness reads, as methods.
pub trait ValidatingPolicyExt {
    /// `spec.validationActions` (empty when unset).
    fn validation_actions(&self) -> &[String];
    /// Whether the policy is evaluated at admission (`spec.evaluation.admission.enabled`,
    /// true unless set to false).
    fn admission_enabled(&self) -> bool;
    /// Whether its match constraints cover `resource` (or every resource with `*`).
    fn matches_resource(&self, resource: &str) -> bool;
    /// `status.conditionStatus.conditions` (empty when unset).
    fn status_conditions(&self) -> &[Condition];
    /// `status.conditionStatus.ready`.
    fn ready(&self) -> Option<bool>;
}

impl ValidatingPolicyExt for ValidatingPolicy {
    fn validation_actions(&self) -> &[String] {
        self.spec.validation_actions.as_deref().unwrap_or_default()
    }

    fn admission_enabled(&self) -> bool {
        self.spec
            .evaluation
            .as_ref()
            .and_then(|e| e.admission.as_ref())
            .and_then(|a| a.enabled)
            .unwrap_or(true)
    }

    fn matches_resource(&self, resource: &str) -> bool {
        self.spec
            .match_constraints
            .as_ref()
            .and_then(|m| m.resource_rules.as_ref())
            .into_iter()
            .flatten()
            .flat_map(|rule| rule.resources.iter().flatten())
            .any(|r| r == resource || r == "*")
    }

    fn status_conditions(&self) -> &[Condition] {
        self.status
            .as_ref()
            .and_then(|s| s.condition_status.as_ref())
            .and_then(|c| c.conditions.as_deref())
            .unwrap_or_default()
    }

    fn ready(&self) -> Option<bool> {
        self.status
            .as_ref()
            .and_then(|s| s.condition_status.as_ref())
            .and_then(|c| c.ready)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn an_application_reads_its_sync_health_and_self_heal() {
        let app: Application = from_value(&json!({
            "apiVersion": "argoproj.io/v1alpha1", "kind": "Application",
            "metadata": {"name": "platform", "namespace": "argocd"},
            "spec": {"syncPolicy": {"automated": {"selfHeal": false}}, "project": "default"},
            "status": {"sync": {"status": "OutOfSync"}, "health": {"status": "Missing"},
                       "conditions": [{"type": "SyncError", "message": "boom"}],
                       "resources": [{"kind": "Deployment"}]}
        }))
        .expect("an Application");
        let status = app.status.as_ref().unwrap();
        assert_eq!(
            status.sync.as_ref().unwrap().status.as_deref(),
            Some("OutOfSync")
        );
        assert_eq!(self_heal(&app), Some(false));
        assert_eq!(status.conditions.as_ref().unwrap()[0].type_, "SyncError");
    }

    #[test]
    fn a_policy_reads_its_actions_match_and_readiness() {
        let policy: ValidatingPolicy = from_value(&json!({
            "apiVersion": "policies.kyverno.io/v1", "kind": "ValidatingPolicy",
            "metadata": {"name": "p"},
            "spec": {"validationActions": ["Audit"],
                     "matchConstraints": {"resourceRules": [{"resources": ["inferenceservices"]}]}},
            "status": {"conditionStatus": {"ready": true, "conditions": []}}
        }))
        .expect("a ValidatingPolicy");
        assert_eq!(policy.validation_actions(), ["Audit".to_string()]);
        assert!(policy.matches_resource("inferenceservices"));
        assert!(!policy.matches_resource("deployments"));
        assert!(policy.admission_enabled());
        assert_eq!(policy.ready(), Some(true));
    }

    #[test]
    fn an_inference_service_without_status_reads_as_empty() {
        let isvc: InferenceService = from_value(&json!({
            "apiVersion": "serving.kserve.io/v1beta1", "kind": "InferenceService",
            "metadata": {"name": "m", "namespace": "models"},
            "spec": {"predictor": {"model": {"modelFormat": {"name": "sklearn"}}}}
        }))
        .expect("an InferenceService");
        assert!(isvc_conditions(&isvc).is_empty());
        assert_eq!(isvc_url(&isvc), None);
    }

    #[test]
    fn appset_errors_name_the_failing_conditions() {
        let appset: ApplicationSet = from_value(&json!({
            "metadata": {"name": "model-endpoints"},
            "spec": {"generators": []},
            "status": {"conditions": [
                {"type": "ErrorOccurred", "status": "True", "message": "repo unreachable"},
                {"type": "ResourcesUpToDate", "status": "True", "message": "ok"}
            ]}
        }))
        .expect("an ApplicationSet");
        assert_eq!(
            application_set_errors(&appset),
            vec!["ErrorOccurred: repo unreachable".to_string()]
        );
    }
}
