//! The failure catalogue: every failure the checks, the install gates, preflight and `doctor`
//! recognise, each with a stable code. `NS1xx` are platform failures (seen by the checks and
//! `doctor`), `NS2xx` failures of the install gates, `NS3xx` failures of the machine or the
//! inputs (preflight, `doctor --pre`). A code never changes meaning once published: a failure
//! that is no longer recognised keeps its number retired, and a new one takes the next free
//! number. `docs/failures.md` holds one section per code (symptoms, cause, the command to run
//! next); a unit test keeps it and this enum in lockstep.
//!
//! A diagnosis carries a code only when its text identifies one of these failures; a generic
//! "not ready" has none rather than a wrong one.

use std::fmt;

use serde::{Serialize, Serializer};

/// Where the catalogue lives, relative to the repository root. Every link to a code is this
/// path plus the code's anchor, so one place defines it.
pub const CATALOGUE_PATH: &str = "docs/failures.md";

/// One recognised failure.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum FailureCode {
    KserveWebhookNoEndpoints,
    KserveControllerHalfReady,
    KnativeIngressNotKourier,
    KserveAssumesIstio,
    ApplicationProgressing,
    ApplicationComparisonError,
    ApplicationUnknown,
    DriftNotHealed,
    StaleWebhook,
    KyvernoWebhooksNotRegistered,
    PolicyInAuditMode,
    PolicyFailOpen,
    KyvernoPolicyRbac,
    PredictorUnschedulable,
    ModelDownloadFailed,
    ClusterLocalDomainOnly,
    OpenCostWithoutPrometheus,
    ModelQuotaMissing,
    ApiUnreadable,
    NoGpuNode,
    EnforcementByAdmissionPolicy,
    CrdNotEstablished,
    ApplicationMissing,
    ImagePullFailed,
    CrashLoop,
    LoadBalancerNoAddress,
    DockerUnreachable,
    MachineTooSmall,
    PortNotFree,
    TraefikEnabled,
    NvidiaRuntimeMissing,
    GpuNotRequested,
    InotifyLimitsLow,
    ClusterVersionMismatch,
    ImageArchitecture,
}

impl FailureCode {
    /// Every code, in catalogue order.
    pub const ALL: [FailureCode; 35] = [
        FailureCode::KserveWebhookNoEndpoints,
        FailureCode::KserveControllerHalfReady,
        FailureCode::KnativeIngressNotKourier,
        FailureCode::KserveAssumesIstio,
        FailureCode::ApplicationProgressing,
        FailureCode::ApplicationComparisonError,
        FailureCode::ApplicationUnknown,
        FailureCode::DriftNotHealed,
        FailureCode::StaleWebhook,
        FailureCode::KyvernoWebhooksNotRegistered,
        FailureCode::PolicyInAuditMode,
        FailureCode::PolicyFailOpen,
        FailureCode::KyvernoPolicyRbac,
        FailureCode::PredictorUnschedulable,
        FailureCode::ModelDownloadFailed,
        FailureCode::ClusterLocalDomainOnly,
        FailureCode::OpenCostWithoutPrometheus,
        FailureCode::ModelQuotaMissing,
        FailureCode::ApiUnreadable,
        FailureCode::NoGpuNode,
        FailureCode::EnforcementByAdmissionPolicy,
        FailureCode::CrdNotEstablished,
        FailureCode::ApplicationMissing,
        FailureCode::ImagePullFailed,
        FailureCode::CrashLoop,
        FailureCode::LoadBalancerNoAddress,
        FailureCode::DockerUnreachable,
        FailureCode::MachineTooSmall,
        FailureCode::PortNotFree,
        FailureCode::TraefikEnabled,
        FailureCode::NvidiaRuntimeMissing,
        FailureCode::GpuNotRequested,
        FailureCode::InotifyLimitsLow,
        FailureCode::ClusterVersionMismatch,
        FailureCode::ImageArchitecture,
    ];

    /// The stable code, e.g. `NS101`.
    pub fn as_str(self) -> &'static str {
        self.row().0
    }

    /// The catalogue heading's title.
    pub fn title(self) -> &'static str {
        self.row().1
    }

    fn row(self) -> (&'static str, &'static str) {
        use FailureCode::*;
        match self {
            KserveWebhookNoEndpoints => ("NS101", "KServe webhook without endpoints"),
            KserveControllerHalfReady => ("NS102", "KServe controller 1/2 ready"),
            KnativeIngressNotKourier => ("NS103", "Knative ingress class is not Kourier"),
            KserveAssumesIstio => ("NS104", "KServe assumes Istio"),
            ApplicationProgressing => ("NS105", "Application stuck Progressing"),
            ApplicationComparisonError => ("NS106", "Application ComparisonError"),
            ApplicationUnknown => ("NS107", "Applications Unknown"),
            DriftNotHealed => ("NS108", "Drift not healed"),
            StaleWebhook => ("NS109", "Stale webhook"),
            KyvernoWebhooksNotRegistered => ("NS110", "Kyverno webhooks not registered"),
            PolicyInAuditMode => ("NS111", "Policy in Audit mode"),
            PolicyFailOpen => ("NS112", "Fail-open policy"),
            KyvernoPolicyRbac => ("NS113", "Kyverno lacks RBAC for a policy"),
            PredictorUnschedulable => ("NS114", "Predictor cannot be scheduled"),
            ModelDownloadFailed => ("NS115", "Model download failed"),
            ClusterLocalDomainOnly => ("NS116", "Only the cluster-local domain"),
            OpenCostWithoutPrometheus => ("NS117", "OpenCost cannot query Prometheus"),
            ModelQuotaMissing => ("NS118", "Model namespace without quota"),
            ApiUnreadable => ("NS119", "API server unreadable"),
            NoGpuNode => ("NS120", "No GPU node"),
            EnforcementByAdmissionPolicy => {
                ("NS121", "Enforcement handed to a ValidatingAdmissionPolicy")
            }
            CrdNotEstablished => ("NS201", "CRD not Established"),
            ApplicationMissing => ("NS202", "Application never created"),
            ImagePullFailed => ("NS203", "Image cannot be pulled"),
            CrashLoop => ("NS204", "Container crash-looping"),
            LoadBalancerNoAddress => ("NS205", "LoadBalancer without an address"),
            DockerUnreachable => ("NS301", "Docker unreachable"),
            MachineTooSmall => ("NS302", "Too few CPUs or too little memory"),
            PortNotFree => ("NS303", "Host port not free"),
            TraefikEnabled => ("NS304", "Traefik in the way"),
            NvidiaRuntimeMissing => ("NS305", "NVIDIA runtime missing"),
            GpuNotRequested => ("NS306", "GPU not requested from Docker"),
            InotifyLimitsLow => ("NS307", "inotify limits too low"),
            ClusterVersionMismatch => ("NS308", "Existing cluster of another version"),
            ImageArchitecture => ("NS309", "Image architecture"),
        }
    }

    /// The heading's anchor in the catalogue (`ns101`).
    pub fn anchor(self) -> String {
        self.as_str().to_ascii_lowercase()
    }

    /// The link to the code's section: `docs/failures.md#ns101`.
    pub fn link(self) -> String {
        format!("{CATALOGUE_PATH}#{}", self.anchor())
    }

    /// How a report prints it: `NS101 (docs/failures.md#ns101)`.
    pub fn reference(self) -> String {
        format!("{} ({})", self.as_str(), self.link())
    }

    /// The code named by `text` (`NS101`), if it is one.
    pub fn parse(text: &str) -> Option<FailureCode> {
        Self::ALL.into_iter().find(|c| c.as_str() == text)
    }
}

impl fmt::Display for FailureCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for FailureCode {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;

    fn catalogue() -> String {
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/docs/failures.md"))
            .expect("docs/failures.md")
    }

    /// `## NS101 Title` headings and the text under each, in order.
    fn sections(text: &str) -> Vec<(String, String)> {
        let mut out: Vec<(String, String)> = Vec::new();
        for line in text.lines() {
            if let Some(heading) = line.strip_prefix("## ") {
                out.push((heading.trim().to_string(), String::new()));
            } else if let Some((_, body)) = out.last_mut() {
                body.push_str(line);
                body.push('\n');
            }
        }
        out
    }

    #[test]
    fn codes_are_unique_and_in_their_ranges() {
        let codes: BTreeSet<&str> = FailureCode::ALL.iter().map(|c| c.as_str()).collect();
        assert_eq!(codes.len(), FailureCode::ALL.len());
        for code in FailureCode::ALL {
            let text = code.as_str();
            assert!(
                text.len() == 5
                    && text.starts_with("NS")
                    && matches!(&text[2..3], "1" | "2" | "3")
                    && text[2..].chars().all(|c| c.is_ascii_digit()),
                "{text}"
            );
            assert_eq!(FailureCode::parse(text), Some(code));
        }
    }

    #[test]
    fn every_code_has_a_section_with_symptoms_cause_and_next() {
        let text = catalogue();
        let sections = sections(&text);
        for code in FailureCode::ALL {
            let heading = format!("{} {}", code.as_str(), code.title());
            // GitHub derives anchors from the whole heading; the explicit one keeps `#ns101`
            // stable when a title is reworded.
            let anchored = format!("<a id=\"{}\"></a>\n\n## {heading}\n", code.anchor());
            assert!(
                text.contains(&anchored),
                "docs/failures.md lacks {anchored:?}"
            );
            let (_, body) = sections
                .iter()
                .find(|(h, _)| *h == heading)
                .unwrap_or_else(|| panic!("docs/failures.md has no `## {heading}`"));
            for part in ["**Symptoms**", "**Cause**", "**Next**"] {
                assert!(body.contains(part), "{heading} lacks {part}");
            }
            assert!(
                body.contains("`"),
                "{heading}: its next step names a command"
            );
        }
    }

    #[test]
    fn every_section_of_the_catalogue_has_a_code() {
        let sections = sections(&catalogue());
        let codes: Vec<String> = sections
            .iter()
            .filter(|(h, _)| h.starts_with("NS"))
            .map(|(h, _)| h.split_whitespace().next().unwrap_or("").to_string())
            .collect();
        for code in &codes {
            assert!(
                FailureCode::parse(code).is_some(),
                "docs/failures.md has a section {code} that FailureCode lacks"
            );
        }
        assert_eq!(codes.len(), FailureCode::ALL.len(), "{codes:?}");
        let mut sorted = codes.clone();
        sorted.sort();
        assert_eq!(codes, sorted, "sections follow the code order");
    }

    #[test]
    fn a_link_points_at_the_sections_anchor() {
        assert_eq!(
            FailureCode::KserveWebhookNoEndpoints.link(),
            "docs/failures.md#ns101"
        );
        assert_eq!(
            FailureCode::KserveWebhookNoEndpoints.reference(),
            "NS101 (docs/failures.md#ns101)"
        );
        assert_eq!(
            serde_json::to_value(FailureCode::ImageArchitecture).unwrap(),
            serde_json::json!("NS309")
        );
    }
}
