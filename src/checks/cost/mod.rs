//! Milestone E, cost: OpenCost ready (E1) and cost attributed by cost-center (E2). Both read the
//! OpenCost API on port 9003 at `env.opencost_url` (the check session provides it):
//! `/healthz` and `/allocation/compute` (opencost pkg/costmodel/router.go; response shape in
//! core/pkg/opencost/allocation_json.go). This module holds the API client both
//! share.

pub mod cost_attribution;
pub mod opencost_ready;

use std::collections::BTreeMap;
use std::time::Duration;

use serde_json::Value;

use crate::checks::outcome::{Diagnosis, Outcome};

/// Where the OpenCost chart is installed, as the topology names it.
pub use crate::platform::opencost::NAMESPACE as OPENCOST_NAMESPACE;
/// The allocation route the install docs verify with (still routed next to `/allocation`).
pub const ALLOCATION_PATH: &str = "/allocation/compute";
/// The label the platform attributes cost by; OpenCost sanitises it to `cost_center`.
pub const COST_CENTER_AGGREGATE: &str = "label:cost-center";
/// The window E2 asks about: long enough to cover models deployed by this `up`.
pub const ATTRIBUTION_WINDOW: &str = "1h";
/// Group names OpenCost uses for pods without the label and for idle capacity.
pub(crate) const UNALLOCATED: &str = "__unallocated__";
pub(crate) const IDLE: &str = "__idle__";

pub(crate) const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
/// Allocation data appears only after Prometheus has scraped; E2 asks again at this interval.
pub(crate) const POLL_INTERVAL: Duration = Duration::from_secs(1);

pub(crate) const PORT_FORWARD: &str = "kubectl -n opencost port-forward svc/opencost 9003:9003";
pub(crate) const OPENCOST_LOGS: &str = "kubectl -n opencost logs deploy/opencost --tail=50";

/// An HTTP answer (status and body) or why none came.
pub type HttpAnswer = Result<(u16, String), String>;

pub(crate) async fn get(http: &reqwest::Client, url: &str, query: &[(&str, &str)]) -> HttpAnswer {
    let response = http
        .get(url)
        .query(query)
        .timeout(REQUEST_TIMEOUT)
        .send()
        .await
        .map_err(|e| format!("GET {url}: {e}"))?;
    let status = response.status().as_u16();
    let body = response
        .text()
        .await
        .map_err(|e| format!("GET {url}: reading the body: {e}"))?;
    Ok((status, body))
}

pub(crate) fn no_url() -> Outcome {
    Outcome::fail(
        "the OpenCost API is not reachable from the harness",
        Diagnosis::new(
            "no OpenCost URL: the runner could not reach service opencost/opencost on port 9003",
            "OpenCost's Service is missing or has no ready endpoints, so no port-forward could be opened",
            PORT_FORWARD,
        ),
    )
}

/// An allocation answer's `data`: one map of group name to Allocation per step.
pub fn parse_allocation(answer: &HttpAnswer) -> Result<Vec<BTreeMap<String, Value>>, String> {
    let (status, body) = answer.as_ref().map_err(Clone::clone)?;
    let json: Value = serde_json::from_str(body).map_err(|e| {
        format!(
            "HTTP {status}, body is not JSON ({e}): {}",
            body.chars().take(200).collect::<String>()
        )
    })?;
    let code = json.get("code").and_then(Value::as_u64);
    let state = json.get("status").and_then(Value::as_str);
    if *status != 200 || code != Some(200) || state != Some("success") {
        let message = json
            .get("message")
            .and_then(Value::as_str)
            .unwrap_or_else(|| body.trim());
        return Err(format!(
            "HTTP {status}, status {}: {message}",
            state.unwrap_or("?")
        ));
    }
    let sets = json
        .get("data")
        .and_then(Value::as_array)
        .ok_or_else(|| "success answer without a `data` array".to_string())?;
    Ok(sets
        .iter()
        .filter_map(Value::as_object)
        .map(|set| set.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
        .collect())
}
