//! RBAC as the sim's API server and controller manager handle it: ClusterRole aggregation (the
//! `clusterrole-aggregation` controller fills an aggregated ClusterRole's rules with those of
//! every ClusterRole its `aggregationRule.clusterRoleSelectors` select, kubernetes
//! pkg/controller/clusterroleaggregation) and the access question a SubjectAccessReview asks
//! (may this service account `verb` this group/resource cluster-wide?), answered from
//! ClusterRoleBindings as the RBAC authorizer does (plugin/pkg/auth/authorizer/rbac).

use serde_json::{json, Value};

use crate::store::State;

fn text<'a>(value: &'a Value, pointer: &str) -> &'a str {
    value.pointer(pointer).and_then(Value::as_str).unwrap_or("")
}

fn list(state: &State, kind: &str) -> Vec<Value> {
    state
        .resource_for("rbac.authorization.k8s.io/v1", kind)
        .map(|r| state.list(&r, None, None, None))
        .unwrap_or_default()
}

fn selects(selector: &Value, labels: &Value) -> bool {
    let match_labels = selector
        .get("matchLabels")
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();
    let labels_ok = match_labels.iter().all(|(k, v)| labels.get(k) == Some(v));
    let expressions_ok = selector
        .get("matchExpressions")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .all(|e| {
            let value = labels.get(text(e, "/key")).and_then(Value::as_str);
            let values: Vec<&str> = e
                .get("values")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
                .collect();
            match text(e, "/operator") {
                "In" => value.is_some_and(|v| values.contains(&v)),
                "NotIn" => value.is_none_or(|v| !values.contains(&v)),
                "Exists" => value.is_some(),
                "DoesNotExist" => value.is_none(),
                _ => false,
            }
        });
    labels_ok
        && expressions_ok
        && (!match_labels.is_empty() || selector.get("matchExpressions").is_some())
}

/// Fills every aggregated ClusterRole's rules from the roles its selectors select.
pub fn aggregate(state: &mut State) {
    let roles = list(state, "ClusterRole");
    for role in &roles {
        let Some(selectors) = role
            .pointer("/aggregationRule/clusterRoleSelectors")
            .and_then(Value::as_array)
        else {
            continue;
        };
        let mut rules: Vec<Value> = Vec::new();
        let mut sources: Vec<&Value> = roles
            .iter()
            .filter(|other| text(other, "/metadata/name") != text(role, "/metadata/name"))
            .filter(|other| {
                let labels = other
                    .pointer("/metadata/labels")
                    .cloned()
                    .unwrap_or(json!({}));
                selectors.iter().any(|s| selects(s, &labels))
            })
            .collect();
        sources.sort_by_key(|r| text(r, "/metadata/name").to_string());
        for source in sources {
            for rule in source
                .get("rules")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                if !rules.contains(rule) {
                    rules.push(rule.clone());
                }
            }
        }
        if role.get("rules").cloned().unwrap_or(json!([])) != json!(rules) {
            let mut updated = role.clone();
            updated["rules"] = json!(rules);
            let _ = state.put(updated);
        }
    }
}

fn has(list: Option<&Value>, wanted: &str) -> bool {
    list.and_then(Value::as_array)
        .is_some_and(|items| items.iter().any(|i| i == "*" || i == wanted))
}

/// The cluster-wide RBAC objects, read once for many questions.
pub struct Rbac {
    roles: Vec<Value>,
    bindings: Vec<Value>,
}

impl Rbac {
    pub fn read(state: &State) -> Rbac {
        Rbac {
            roles: list(state, "ClusterRole"),
            bindings: list(state, "ClusterRoleBinding"),
        }
    }

    /// Whether service account `namespace/name` may `verb` `resource` in `group` cluster-wide.
    pub fn allowed(
        &self,
        namespace: &str,
        name: &str,
        group: &str,
        resource: &str,
        verb: &str,
    ) -> bool {
        allowed_by(
            &self.roles,
            &self.bindings,
            namespace,
            name,
            group,
            resource,
            verb,
        )
    }
}

fn allowed_by(
    roles: &[Value],
    bindings: &[Value],
    namespace: &str,
    name: &str,
    group: &str,
    resource: &str,
    verb: &str,
) -> bool {
    bindings.iter().any(|binding| {
        let bound = binding
            .get("subjects")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .any(|s| {
                (text(s, "/kind") == "ServiceAccount"
                    && text(s, "/name") == name
                    && text(s, "/namespace") == namespace)
                    || (text(s, "/kind") == "Group"
                        && ["system:serviceaccounts", "system:authenticated"]
                            .contains(&text(s, "/name")))
            });
        bound
            && text(binding, "/roleRef/kind") == "ClusterRole"
            && roles
                .iter()
                .find(|r| text(r, "/metadata/name") == text(binding, "/roleRef/name"))
                .is_some_and(|role| {
                    role.get("rules")
                        .and_then(Value::as_array)
                        .into_iter()
                        .flatten()
                        .any(|rule| {
                            has(rule.get("apiGroups"), group)
                                && has(rule.get("resources"), resource)
                                && has(rule.get("verbs"), verb)
                        })
                })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn selectors_need_every_label() {
        let selector = json!({"matchLabels": {"a": "1", "b": "2"}});
        assert!(selects(&selector, &json!({"a": "1", "b": "2", "c": "3"})));
        assert!(!selects(&selector, &json!({"a": "1"})));
        assert!(!selects(&json!({}), &json!({"a": "1"})));
    }
}
