//! Patch semantics: server-side apply merged the way the install engine needs (maps merge
//! recursively, lists and scalars are replaced, fields this field manager applied before and
//! dropped now are removed), JSON merge patch (RFC 7386; the sim also treats strategic merge
//! patches this way) and JSON patch (RFC 6902).

use serde_json::Value;

/// Merges an applied configuration into the live object.
pub fn merge_applied(live: &mut Value, applied: &Value) {
    match (live, applied) {
        (Value::Object(live), Value::Object(applied)) => {
            for (key, value) in applied {
                match live.get_mut(key) {
                    Some(existing) if existing.is_object() && value.is_object() => {
                        merge_applied(existing, value)
                    }
                    _ => {
                        live.insert(key.clone(), value.clone());
                    }
                }
            }
        }
        (live, applied) => *live = applied.clone(),
    }
}

/// Removes from `live` the map keys that the manager's previous applied configuration set and
/// its current one no longer sets (server-side apply's ownership-based removal, by map key).
pub fn remove_dropped(live: &mut Value, previous: &Value, current: &Value) {
    let (Value::Object(live), Value::Object(previous)) = (live, previous) else {
        return;
    };
    for (key, before) in previous {
        match current.get(key) {
            None => {
                live.remove(key);
            }
            Some(now) => {
                if let Some(child) = live.get_mut(key) {
                    remove_dropped(child, before, now);
                }
            }
        }
    }
}

/// The patch formats the API server accepts, by `Content-Type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PatchKind {
    Apply,
    Merge,
    StrategicMerge,
    Json,
}

impl PatchKind {
    pub fn from_content_type(content_type: &str) -> Option<Self> {
        let media = content_type.split(';').next().unwrap_or("").trim();
        match media {
            "application/apply-patch+yaml" | "application/apply-patch+json" => {
                Some(PatchKind::Apply)
            }
            "application/merge-patch+json" => Some(PatchKind::Merge),
            "application/strategic-merge-patch+json" => Some(PatchKind::StrategicMerge),
            "application/json-patch+json" => Some(PatchKind::Json),
            _ => None,
        }
    }
}

/// Applies a merge or JSON patch to a copy of `live`.
pub fn apply_patch(live: &Value, kind: PatchKind, body: &Value) -> Result<Value, String> {
    let mut patched = live.clone();
    match kind {
        PatchKind::Merge | PatchKind::StrategicMerge => json_patch::merge(&mut patched, body),
        PatchKind::Json => {
            let patch: json_patch::Patch =
                serde_json::from_value(body.clone()).map_err(|e| e.to_string())?;
            json_patch::patch(&mut patched, &patch).map_err(|e| e.to_string())?;
        }
        PatchKind::Apply => merge_applied(&mut patched, body),
    }
    Ok(patched)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn apply_merges_maps_and_replaces_lists() {
        let mut live =
            json!({"metadata": {"labels": {"a": "1"}}, "spec": {"ports": [1, 2], "x": 1}});
        merge_applied(
            &mut live,
            &json!({"metadata": {"labels": {"b": "2"}}, "spec": {"ports": [3]}}),
        );
        assert_eq!(
            live,
            json!({"metadata": {"labels": {"a": "1", "b": "2"}}, "spec": {"ports": [3], "x": 1}})
        );
    }

    #[test]
    fn fields_a_manager_stops_applying_are_removed() {
        let previous = json!({"metadata": {"labels": {"a": "1", "b": "2"}}});
        let current = json!({"metadata": {"labels": {"a": "1"}}});
        let mut live = json!({"metadata": {"labels": {"a": "1", "b": "2", "c": "3"}}});
        remove_dropped(&mut live, &previous, &current);
        assert_eq!(live, json!({"metadata": {"labels": {"a": "1", "c": "3"}}}));
    }

    #[test]
    fn merge_patch_null_deletes() {
        let patched = apply_patch(
            &json!({"metadata": {"annotations": {"x": "y"}}}),
            PatchKind::Merge,
            &json!({"metadata": {"annotations": {"x": null}}}),
        )
        .unwrap();
        assert_eq!(patched, json!({"metadata": {"annotations": {}}}));
        assert_eq!(
            PatchKind::from_content_type("application/apply-patch+yaml; charset=utf-8"),
            Some(PatchKind::Apply)
        );
    }
}
