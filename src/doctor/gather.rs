//! Reading what the triage needs from the cluster. Every read that fails is kept as its error
//! (the step then says it could not read), so one forbidden list does not hide the other steps.

use std::collections::BTreeMap;

use k8s_openapi::api::admissionregistration::v1::{
    MutatingWebhookConfiguration, ServiceReference, ValidatingWebhookConfiguration,
};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{Node, Pod, Service};
use k8s_openapi::api::discovery::v1::EndpointSlice;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{Api, ListParams, LogParams};
use kube::Client;

use super::{
    CrdState, Observations, PodReadiness, Reading, Unread, WebhookTarget, KSERVE_CONTROLLER,
    KSERVE_CRDS, KSERVE_NAMESPACE, KSERVE_WEBHOOK_SERVICE, LOG_TAIL_LINES,
};
use crate::observe;
use crate::platform::{argocd, views::Application};
use crate::readiness;

fn text(e: kube::Error) -> String {
    observe::error_message(&e)
}

async fn endpoint_slices(
    client: &Client,
    namespace: &str,
    service: &str,
) -> Result<Vec<EndpointSlice>, String> {
    Api::<EndpointSlice>::namespaced(client.clone(), namespace)
        .list(&ListParams::default().labels(&format!("kubernetes.io/service-name={service}")))
        .await
        .map(|l| l.items)
        .map_err(text)
}

async fn controller_pods(client: &Client, deploy: &Option<Deployment>) -> Result<Vec<Pod>, String> {
    let Some(deploy) = deploy else {
        return Ok(Vec::new());
    };
    let selector = deploy
        .spec
        .as_ref()
        .and_then(|s| s.selector.match_labels.clone())
        .unwrap_or_default()
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join(",");
    if selector.is_empty() {
        return Err(format!(
            "deployment {KSERVE_CONTROLLER} has no matchLabels selector"
        ));
    }
    Api::<Pod>::namespaced(client.clone(), KSERVE_NAMESPACE)
        .list(&ListParams::default().labels(&selector))
        .await
        .map(|l| l.items)
        .map_err(text)
}

async fn controller_log(
    client: &Client,
    pods: &Result<Vec<Pod>, String>,
) -> Result<String, String> {
    let pods = pods.as_ref().map_err(Clone::clone)?;
    let pod = pods
        .first()
        .and_then(|p| p.metadata.name.clone())
        .ok_or_else(|| format!("no {KSERVE_CONTROLLER} pod to read logs from"))?;
    // The controller container is `manager` in kserve config/manager/manager.yaml.
    let params = LogParams {
        container: Some("manager".to_string()),
        tail_lines: Some(LOG_TAIL_LINES),
        ..LogParams::default()
    };
    Api::<Pod>::namespaced(client.clone(), KSERVE_NAMESPACE)
        .logs(&pod, &params)
        .await
        .map_err(text)
}

#[derive(Default)]
struct ServiceCache(BTreeMap<String, (bool, usize)>);

impl ServiceCache {
    async fn lookup(&mut self, client: &Client, service: &ServiceReference) -> (bool, usize) {
        let key = format!("{}/{}", service.namespace, service.name);
        if let Some(found) = self.0.get(&key) {
            return *found;
        }
        let exists = Api::<Service>::namespaced(client.clone(), &service.namespace)
            .get_opt(&service.name)
            .await
            .ok()
            .flatten()
            .is_some();
        let ready = if exists {
            endpoint_slices(client, &service.namespace, &service.name)
                .await
                .map(|s| readiness::ready_endpoint_count(&s))
                .unwrap_or(0)
        } else {
            0
        };
        self.0.insert(key, (exists, ready));
        (exists, ready)
    }
}

async fn webhooks(client: &Client) -> Result<Vec<WebhookTarget>, String> {
    let mut cache = ServiceCache::default();
    let mut targets = Vec::new();
    let validating = Api::<ValidatingWebhookConfiguration>::all(client.clone())
        .list(&ListParams::default())
        .await
        .map_err(text)?;
    let mut hooks: Vec<(&'static str, String, String, Option<ServiceReference>)> = Vec::new();
    for config in validating.items {
        let name = config.metadata.name.clone().unwrap_or_default();
        for hook in config.webhooks.unwrap_or_default() {
            hooks.push((
                "ValidatingWebhookConfiguration",
                name.clone(),
                hook.name,
                hook.client_config.service,
            ));
        }
    }
    let mutating = Api::<MutatingWebhookConfiguration>::all(client.clone())
        .list(&ListParams::default())
        .await
        .map_err(text)?;
    for config in mutating.items {
        let name = config.metadata.name.clone().unwrap_or_default();
        for hook in config.webhooks.unwrap_or_default() {
            hooks.push((
                "MutatingWebhookConfiguration",
                name.clone(),
                hook.name,
                hook.client_config.service,
            ));
        }
    }
    for (kind, configuration, webhook, service) in hooks {
        let (service_exists, ready_endpoints) = match &service {
            Some(s) => cache.lookup(client, s).await,
            None => (true, 0),
        };
        targets.push(WebhookTarget {
            configuration_kind: kind,
            configuration,
            webhook,
            service: service.map(|s| format!("{}/{}", s.namespace, s.name)),
            service_exists,
            ready_endpoints,
        });
    }
    Ok(targets)
}

/// Reads everything the triage looks at.
pub async fn gather(client: &Client) -> Observations {
    let failed = |e: kube::Error| Unread::Failed(text(e));
    let nodes = Api::<Node>::all(client.clone())
        .list(&ListParams::default())
        .await
        .map(|l| l.items)
        .map_err(failed);
    let applications = observe::list_views::<Application>(client, Some(argocd::NAMESPACE))
        .await
        .map_err(failed);
    let kserve_controller = Api::<Deployment>::namespaced(client.clone(), KSERVE_NAMESPACE)
        .get_opt(KSERVE_CONTROLLER)
        .await
        .map_err(text);
    let pods = match &kserve_controller {
        Ok(deploy) => controller_pods(client, deploy).await,
        Err(why) => Err(why.clone()),
    };
    let crd_api = Api::<CustomResourceDefinition>::all(client.clone());
    let mut crds: Reading<Vec<CrdState>> = Ok(Vec::new());
    for name in KSERVE_CRDS {
        match crd_api.get_opt(name).await {
            Ok(crd) => {
                if let Ok(list) = &mut crds {
                    list.push(CrdState {
                        name: name.to_string(),
                        established: crd.as_ref().map(readiness::crd_established),
                    });
                }
            }
            Err(e) => {
                crds = Err(failed(e));
                break;
            }
        }
    }
    let controller_log = controller_log(client, &pods).await.map_err(Unread::Failed);
    let kserve_webhook_endpoints =
        endpoint_slices(client, KSERVE_NAMESPACE, KSERVE_WEBHOOK_SERVICE)
            .await
            .map(|slices| {
                readiness::service_endpoints(
                    &format!("{KSERVE_NAMESPACE}/{KSERVE_WEBHOOK_SERVICE}"),
                    &slices,
                )
            })
            .map_err(Unread::Failed);
    let webhooks = webhooks(client).await.map_err(Unread::Failed);
    Observations {
        nodes,
        applications,
        kserve_controller: kserve_controller
            .map(|d| d.as_ref().map(readiness::deployment))
            .map_err(Unread::Failed),
        kserve_pods: pods
            .map(|pods| pods.iter().map(PodReadiness::of).collect())
            .map_err(Unread::Failed),
        crds,
        controller_log,
        kserve_webhook_endpoints,
        webhooks,
    }
}
