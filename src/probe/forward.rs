//! Reaching a cluster Service from this machine without kubectl: a local TCP listener whose
//! every accepted connection is relayed over a new kube-rs port-forward stream.
//!
//! The Kubernetes API has no port-forward for Services, only for pods (`pods/portforward`).
//! `kubectl port-forward svc/NAME` does what this does: it resolves the Service to one ready pod
//! behind its selector and forwards to that pod's target port. Traffic therefore still enters
//! the gateway process the Service fronts (for Kourier, the envoy that routes on the Host
//! header), which is what makes this the ingress path and not a shortcut to the model pod.
//! The pod is chosen once; if it goes away, connections fail and the caller starts a new forward.

use std::net::SocketAddr;

use k8s_openapi::api::core::v1::{Pod, Service, ServicePort};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use kube::api::ListParams;
use kube::{Api, Client};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::{JoinHandle, JoinSet};

/// The Kourier gateway Service external traffic enters through (net-kourier
/// config/300-gateway.yaml: Service `kourier` in `kourier-system`, port 80 -> gateway 8080),
/// as the platform topology names it.
pub use crate::platform::kourier::{
    HTTP_PORT as KOURIER_HTTP_PORT, NAMESPACE as KOURIER_NAMESPACE, SERVICE as KOURIER_SERVICE,
};

/// Why a forward could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum ForwardError {
    #[error("failed to read {what}")]
    Kube {
        what: String,
        #[source]
        source: kube::Error,
    },
    #[error("service {namespace}/{service} has no port {port}; it exposes {available}")]
    NoSuchPort {
        namespace: String,
        service: String,
        port: u16,
        available: String,
    },
    #[error("service {namespace}/{service} has no selector, so no pod can be forwarded to")]
    NoSelector { namespace: String, service: String },
    #[error("service {namespace}/{service} has no ready pod to forward to; {observed}")]
    NoReadyPod {
        namespace: String,
        service: String,
        observed: String,
    },
    #[error(
        "pod {pod} has no container port named {name:?} (the target port of service {service})"
    )]
    NoNamedPort {
        pod: String,
        service: String,
        name: String,
    },
    #[error("failed to listen on 127.0.0.1")]
    Listen(#[source] std::io::Error),
}

/// A running forward: `base_url()` reaches the Service's port. Stops on `stop()` or drop.
pub struct ServiceForward {
    local_addr: SocketAddr,
    pod: String,
    pod_port: u16,
    relay: Option<JoinHandle<()>>,
}

impl ServiceForward {
    /// Resolves `namespace/service:port` to a ready pod and its target port, then listens on an
    /// ephemeral loopback port.
    pub async fn start(
        client: Client,
        namespace: &str,
        service: &str,
        port: u16,
    ) -> Result<ServiceForward, ForwardError> {
        let services: Api<Service> = Api::namespaced(client.clone(), namespace);
        let svc = services
            .get(service)
            .await
            .map_err(|source| ForwardError::Kube {
                what: format!("service {namespace}/{service}"),
                source,
            })?;
        let spec = svc.spec.unwrap_or_default();
        let service_port =
            find_port(&spec.ports.unwrap_or_default(), port).map_err(|available| {
                ForwardError::NoSuchPort {
                    namespace: namespace.into(),
                    service: service.into(),
                    port,
                    available,
                }
            })?;
        let selector =
            spec.selector
                .filter(|s| !s.is_empty())
                .ok_or_else(|| ForwardError::NoSelector {
                    namespace: namespace.into(),
                    service: service.into(),
                })?;
        let label_selector = selector
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join(",");
        let pods: Api<Pod> = Api::namespaced(client, namespace);
        let listed = pods
            .list(&ListParams::default().labels(&label_selector))
            .await
            .map_err(|source| ForwardError::Kube {
                what: format!("pods of service {namespace}/{service} ({label_selector})"),
                source,
            })?;
        let pod = choose_ready_pod(&listed.items).map_err(|observed| ForwardError::NoReadyPod {
            namespace: namespace.into(),
            service: service.into(),
            observed,
        })?;
        let pod_name = pod.metadata.name.clone().unwrap_or_default();
        let pod_port =
            target_port(&service_port, pod).ok_or_else(|| ForwardError::NoNamedPort {
                pod: pod_name.clone(),
                service: service.into(),
                name: match &service_port.target_port {
                    Some(IntOrString::String(name)) => name.clone(),
                    _ => String::new(),
                },
            })?;

        let dial = PodDial {
            pods,
            pod: pod_name.clone(),
            port: pod_port,
        };
        let forward = ServiceForward::listen(dial, pod_name, pod_port).await?;
        tracing::info!(local = %forward.local_addr, pod = %forward.pod, pod_port, "forwarding {namespace}/{service}:{port}");
        Ok(forward)
    }

    /// A forward to the Kourier gateway's HTTP port, the ingress path user traffic takes.
    pub async fn kourier(client: Client) -> Result<ServiceForward, ForwardError> {
        Self::start(
            client,
            KOURIER_NAMESPACE,
            KOURIER_SERVICE,
            KOURIER_HTTP_PORT,
        )
        .await
    }

    /// `http://127.0.0.1:<local port>`.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.local_addr)
    }

    /// The pod the Service was resolved to, and its port.
    pub fn pod(&self) -> (&str, u16) {
        (&self.pod, self.pod_port)
    }

    /// Stops listening and closes every relayed connection.
    pub async fn stop(mut self) {
        if let Some(relay) = self.relay.take() {
            relay.abort();
            let _ = relay.await;
        }
    }
}

impl Drop for ServiceForward {
    fn drop(&mut self) {
        if let Some(relay) = self.relay.take() {
            relay.abort();
        }
    }
}

/// Opens one upstream byte stream per accepted connection: a pod port-forward in the product,
/// any local stream in tests of the relay itself.
trait Dial: Clone + Send + Sync + 'static {
    type Stream: AsyncRead + AsyncWrite + Unpin + Send + 'static;
    fn dial(&self) -> impl std::future::Future<Output = Result<Self::Stream, String>> + Send;
}

/// Dials `pod:port` over the API server's `pods/portforward` subresource.
#[derive(Clone)]
struct PodDial {
    pods: Api<Pod>,
    pod: String,
    port: u16,
}

impl Dial for PodDial {
    type Stream = tokio::io::DuplexStream;

    async fn dial(&self) -> Result<Self::Stream, String> {
        let (pod, port) = (&self.pod, self.port);
        let mut forwarder = self
            .pods
            .portforward(pod, &[port])
            .await
            .map_err(|err| format!("port-forward to pod {pod}:{port} failed: {err}"))?;
        let stream = forwarder
            .take_stream(port)
            .ok_or_else(|| format!("port-forward to pod {pod}:{port} gave no stream"))?;
        // The forwarder's task ends once its stream is dropped (connection closed or relay
        // aborted); joining it in the background only collects its outcome for the log.
        let label = format!("{pod}:{port}");
        tokio::spawn(async move {
            if let Err(err) = forwarder.join().await {
                tracing::debug!("port-forward to {label} closed with: {err}");
            }
        });
        Ok(stream)
    }
}

impl ServiceForward {
    /// Listens on an ephemeral loopback port and relays each connection to a fresh `dial()`.
    async fn listen<D: Dial>(
        dial: D,
        pod: String,
        pod_port: u16,
    ) -> Result<ServiceForward, ForwardError> {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .map_err(ForwardError::Listen)?;
        let local_addr = listener.local_addr().map_err(ForwardError::Listen)?;
        let relay = tokio::spawn(relay(listener, dial));
        Ok(ServiceForward {
            local_addr,
            pod,
            pod_port,
            relay: Some(relay),
        })
    }
}

/// Accepts connections until aborted. The connections live in a `JoinSet` owned by this task,
/// so aborting it drops the set, which aborts every relayed connection with it.
async fn relay<D: Dial>(listener: TcpListener, dial: D) {
    let mut connections = JoinSet::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((socket, _)) => {
                    connections.spawn(relay_one(socket, dial.clone()));
                }
                Err(err) => tracing::warn!("port-forward listener: {err}"),
            },
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
        }
    }
}

async fn relay_one<D: Dial>(mut socket: TcpStream, dial: D) {
    let mut upstream = match dial.dial().await {
        Ok(stream) => stream,
        Err(err) => {
            // Closing the accepted socket is how the client learns; the reason goes to the log.
            tracing::warn!("{err}");
            return;
        }
    };
    if let Err(err) = tokio::io::copy_bidirectional(&mut socket, &mut upstream).await {
        tracing::debug!("port-forward connection ended: {err}");
    }
}

/// The Service port numbered `port`, or (as the error) the ports it does expose.
fn find_port(ports: &[ServicePort], port: u16) -> Result<ServicePort, String> {
    ports
        .iter()
        .find(|p| p.port == i32::from(port))
        .cloned()
        .ok_or_else(|| {
            let list: Vec<String> = ports
                .iter()
                .map(|p| match &p.name {
                    Some(name) => format!("{} ({name})", p.port),
                    None => p.port.to_string(),
                })
                .collect();
            if list.is_empty() {
                "no ports".into()
            } else {
                list.join(", ")
            }
        })
}

/// The first pod (by name, for a stable choice) that is Ready and not terminating; the error
/// lists what was seen instead.
fn choose_ready_pod(pods: &[Pod]) -> Result<&Pod, String> {
    let mut sorted: Vec<&Pod> = pods.iter().collect();
    sorted.sort_by(|a, b| a.metadata.name.cmp(&b.metadata.name));
    if let Some(pod) = sorted
        .iter()
        .find(|p| p.metadata.deletion_timestamp.is_none() && pod_is_ready(p))
    {
        return Ok(pod);
    }
    if sorted.is_empty() {
        return Err("no pod matches its selector".into());
    }
    let seen: Vec<String> = sorted
        .iter()
        .map(|p| {
            let name = p.metadata.name.as_deref().unwrap_or("?");
            let phase = p
                .status
                .as_ref()
                .and_then(|s| s.phase.as_deref())
                .unwrap_or("Unknown");
            if p.metadata.deletion_timestamp.is_some() {
                format!("{name} (terminating)")
            } else {
                format!("{name} ({phase}, not Ready)")
            }
        })
        .collect();
    Err(format!("saw {}", seen.join(", ")))
}

fn pod_is_ready(pod: &Pod) -> bool {
    pod.status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .is_some_and(|conditions| {
            conditions
                .iter()
                .any(|c| c.type_ == "Ready" && c.status == "True")
        })
}

/// The pod port a Service port sends to: `targetPort` as a number, a container port looked up
/// by name, or (when unset) the Service port itself, as kube-proxy does.
fn target_port(service_port: &ServicePort, pod: &Pod) -> Option<u16> {
    match &service_port.target_port {
        None => u16::try_from(service_port.port).ok(),
        Some(IntOrString::Int(n)) => u16::try_from(*n).ok(),
        Some(IntOrString::String(name)) => pod
            .spec
            .as_ref()?
            .containers
            .iter()
            .flat_map(|c| c.ports.iter().flatten())
            .find(|p| p.name.as_deref() == Some(name.as_str()))
            .and_then(|p| u16::try_from(p.container_port).ok()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // The Service and pod shapes of net-kourier config/300-gateway.yaml (knative-extensions/
    // net-kourier): Service `kourier` 80 -> 8080 selecting app=3scale-kourier-gateway.
    const KOURIER_SERVICE: &str = r#"
apiVersion: v1
kind: Service
metadata: {name: kourier, namespace: kourier-system}
spec:
  type: LoadBalancer
  selector: {app: 3scale-kourier-gateway}
  ports:
    - {name: http2, port: 80, protocol: TCP, targetPort: 8080}
    - {name: https, port: 443, protocol: TCP, targetPort: 8443}
"#;

    fn gateway_pod(name: &str, ready: &str) -> Pod {
        serde_yaml::from_str(&format!(
            r#"
apiVersion: v1
kind: Pod
metadata: {{name: {name}, namespace: kourier-system, labels: {{app: 3scale-kourier-gateway}}}}
spec:
  containers:
    - name: kourier-gateway
      image: envoyproxy/envoy
      ports:
        - {{name: http2-external, containerPort: 8080, protocol: TCP}}
        - {{name: http2-internal, containerPort: 8081, protocol: TCP}}
status:
  phase: Running
  conditions:
    - {{type: Ready, status: "{ready}"}}
"#
        ))
        .unwrap()
    }

    fn kourier_ports() -> Vec<ServicePort> {
        let svc: Service = serde_yaml::from_str(KOURIER_SERVICE).unwrap();
        svc.spec.unwrap().ports.unwrap()
    }

    /// Dials a local TCP server: exercises the listener, the per-connection relay and the
    /// cleanup without a cluster (the pod dial is kube-rs's `Api::portforward`).
    #[derive(Clone)]
    struct TcpDial(std::net::SocketAddr);

    impl Dial for TcpDial {
        type Stream = TcpStream;
        async fn dial(&self) -> Result<TcpStream, String> {
            TcpStream::connect(self.0).await.map_err(|e| e.to_string())
        }
    }

    /// A loopback echo server standing in for the pod port.
    async fn echo_server() -> std::net::SocketAddr {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            while let Ok((mut socket, _)) = listener.accept().await {
                tokio::spawn(async move {
                    let (mut read, mut write) = socket.split();
                    let _ = tokio::io::copy(&mut read, &mut write).await;
                });
            }
        });
        addr
    }

    async fn round_trip(addr: &str, message: &[u8]) -> std::io::Result<Vec<u8>> {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let mut stream = TcpStream::connect(addr).await?;
        stream.write_all(message).await?;
        let mut answer = vec![0; message.len()];
        stream.read_exact(&mut answer).await?;
        Ok(answer)
    }

    /// A relay that fails to close would leave the read pending forever; the deadline turns
    /// that hang into a failure.
    async fn within_deadline<T>(read: impl std::future::Future<Output = T>) -> T {
        tokio::time::timeout(std::time::Duration::from_secs(10), read)
            .await
            .expect("the connection was not closed within 10 s")
    }

    #[tokio::test]
    async fn each_connection_is_relayed_and_stop_closes_everything() {
        use tokio::io::AsyncReadExt;
        let upstream = echo_server().await;
        let forward = ServiceForward::listen(TcpDial(upstream), "gw-a".into(), 8080)
            .await
            .unwrap();
        let addr = forward.base_url().trim_start_matches("http://").to_string();
        assert_eq!(forward.pod(), ("gw-a", 8080));

        let (a, b) = tokio::join!(round_trip(&addr, b"first"), round_trip(&addr, b"second"));
        assert_eq!(a.unwrap(), b"first");
        assert_eq!(b.unwrap(), b"second");

        // A connection open across stop() is closed by it, and nothing listens afterwards.
        let mut open = TcpStream::connect(&addr).await.unwrap();
        tokio::task::yield_now().await;
        forward.stop().await;
        let mut buf = [0u8; 1];
        let read = within_deadline(open.read(&mut buf)).await;
        assert!(
            matches!(read, Ok(0) | Err(_)),
            "the relayed connection stayed open: {read:?}"
        );
        assert!(
            TcpStream::connect(&addr).await.is_err(),
            "still listening after stop()"
        );
    }

    #[tokio::test]
    async fn a_failed_dial_closes_the_client_connection() {
        use tokio::io::AsyncReadExt;
        // A port nothing listens on: bind one, note it, release it.
        let closed = TcpListener::bind("127.0.0.1:0")
            .await
            .unwrap()
            .local_addr()
            .unwrap();
        let forward = ServiceForward::listen(TcpDial(closed), "gw-a".into(), 8080)
            .await
            .unwrap();
        let addr = forward.base_url().trim_start_matches("http://").to_string();
        let mut client = TcpStream::connect(&addr).await.unwrap();
        let mut buf = [0u8; 1];
        let read = within_deadline(client.read(&mut buf)).await;
        assert!(matches!(read, Ok(0) | Err(_)), "{read:?}");
    }

    #[test]
    fn service_port_80_maps_to_the_gateway_pods_8080() {
        let port = find_port(&kourier_ports(), 80).unwrap();
        assert_eq!(target_port(&port, &gateway_pod("gw-a", "True")), Some(8080));
    }

    #[test]
    fn an_unknown_service_port_lists_the_real_ones() {
        let err = find_port(&kourier_ports(), 8080).unwrap_err();
        assert_eq!(err, "80 (http2), 443 (https)");
    }

    #[test]
    fn a_named_target_port_is_looked_up_in_the_pod() {
        let mut port = find_port(&kourier_ports(), 80).unwrap();
        port.target_port = Some(IntOrString::String("http2-internal".into()));
        assert_eq!(target_port(&port, &gateway_pod("gw-a", "True")), Some(8081));
        port.target_port = Some(IntOrString::String("missing".into()));
        assert_eq!(target_port(&port, &gateway_pod("gw-a", "True")), None);
    }

    #[test]
    fn only_a_ready_pod_is_chosen() {
        let pods = vec![gateway_pod("gw-a", "False"), gateway_pod("gw-b", "True")];
        let chosen = choose_ready_pod(&pods).unwrap();
        assert_eq!(chosen.metadata.name.as_deref(), Some("gw-b"));
    }

    #[test]
    fn no_ready_pod_says_what_was_seen() {
        let pods = vec![gateway_pod("gw-a", "False")];
        assert_eq!(
            choose_ready_pod(&pods).unwrap_err(),
            "saw gw-a (Running, not Ready)"
        );
        assert_eq!(
            choose_ready_pod(&[]).unwrap_err(),
            "no pod matches its selector"
        );
    }
}
