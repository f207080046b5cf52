//! Where the local GitOps source is served, and how the cluster reaches it: two different
//! addresses. The `git daemon` binds on this machine only — the k3d network's gateway on native
//! Linux Docker (the Docker bridge), loopback with Docker Desktop (macOS, Windows, or Docker
//! Desktop on Linux), where that gateway lives inside Docker's VM and cannot be bound — and the
//! cluster always fetches `git://host.k3d.internal:<port>/neuroscale.git`: k3d writes that host
//! record into every node and into CoreDNS, resolving to the gateway on native Linux and to
//! `host.docker.internal` (which Docker Desktop forwards to the host's loopback) elsewhere
//! (k3d-io/k3d pkg/client/host.go `GetHostIP`). Nothing ever listens on every interface.

use std::net::{IpAddr, SocketAddr};

use super::source::REPO_NAME;

/// git's registered port.
pub const GIT_DAEMON_PORT: u16 = 9418;
/// The name k3d gives the host inside the cluster.
pub const CLUSTER_HOST: &str = "host.k3d.internal";

/// The Docker Engine `up` talks to, as far as reaching the host from a container goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DockerHost {
    /// Docker Engine on this Linux machine: containers reach the host at the network gateway.
    NativeLinux { gateway: IpAddr },
    /// Docker Desktop: the engine runs in a VM and forwards `host.docker.internal` to the
    /// host's loopback.
    Desktop,
}

impl DockerHost {
    /// Decides as k3d does (by the host OS), and treats an engine that reports itself as
    /// Docker Desktop as such on Linux too (`docker info` OperatingSystem).
    pub fn detect(host_os: &str, engine_os: &str, gateway: Option<IpAddr>) -> Option<DockerHost> {
        if host_os != "linux" || engine_os.contains("Docker Desktop") {
            return Some(DockerHost::Desktop);
        }
        gateway.map(|gateway| DockerHost::NativeLinux { gateway })
    }

    /// The one non-loopback address the daemon may bind.
    fn bridge(self) -> Option<IpAddr> {
        match self {
            DockerHost::NativeLinux { gateway } => Some(gateway),
            DockerHost::Desktop => None,
        }
    }
}

/// The bind address and the URL the cluster uses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GitopsEndpoint {
    pub bind: SocketAddr,
    pub cluster_url: String,
}

/// A bind address that would expose the repository beyond this machine.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("--gitops-addr {addr}: the GitOps source is served only on loopback{bridge}, never on {what}; pass 127.0.0.1:PORT{or_bridge}")]
pub struct ExposedBind {
    pub addr: SocketAddr,
    what: &'static str,
    bridge: String,
    or_bridge: String,
}

/// The URL the cluster fetches the repository from, for a daemon on `port`.
pub fn cluster_url(port: u16) -> String {
    format!("git://{CLUSTER_HOST}:{port}/{REPO_NAME}")
}

/// Whether `requested` can be used without knowing the Docker host (loopback always can).
pub fn needs_docker_host(requested: Option<SocketAddr>) -> bool {
    requested.is_none_or(|addr| !addr.ip().is_loopback())
}

/// Chooses the bind address (`requested` when given and safe) and the cluster's URL.
pub fn decide(
    host: DockerHost,
    requested: Option<SocketAddr>,
) -> Result<GitopsEndpoint, ExposedBind> {
    let bind = match requested {
        Some(addr) if addr.ip().is_loopback() => addr,
        Some(addr) => {
            let ip = addr.ip();
            if !ip.is_loopback() && Some(ip) != host.bridge() {
                let bridge = host.bridge();
                return Err(ExposedBind {
                    addr,
                    what: if ip.is_unspecified() {
                        "every interface"
                    } else {
                        "an address other networks can reach"
                    },
                    bridge: bridge
                        .map(|b| format!(" or the k3d network's gateway ({b})"))
                        .unwrap_or_default(),
                    or_bridge: bridge.map(|b| format!(" or {b}:PORT")).unwrap_or_default(),
                });
            }
            addr
        }
        None => match host {
            DockerHost::NativeLinux { gateway } => SocketAddr::new(gateway, GIT_DAEMON_PORT),
            DockerHost::Desktop => SocketAddr::from(([127, 0, 0, 1], GIT_DAEMON_PORT)),
        },
    };
    Ok(GitopsEndpoint {
        cluster_url: cluster_url(bind.port()),
        bind,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn gateway() -> IpAddr {
        "172.18.0.1".parse().unwrap()
    }

    #[test]
    fn native_linux_binds_the_bridge_and_desktop_binds_loopback() {
        let linux = DockerHost::detect("linux", "Debian GNU/Linux 12", Some(gateway())).unwrap();
        let endpoint = decide(linux, None).unwrap();
        assert_eq!(endpoint.bind, "172.18.0.1:9418".parse().unwrap());
        assert_eq!(
            endpoint.cluster_url,
            "git://host.k3d.internal:9418/neuroscale.git"
        );

        for (os, engine) in [
            ("macos", "Docker Desktop"),
            ("windows", "Docker Desktop"),
            ("linux", "Docker Desktop"),
        ] {
            let desktop = DockerHost::detect(os, engine, Some(gateway())).unwrap();
            assert_eq!(desktop, DockerHost::Desktop, "{os} {engine}");
            let endpoint = decide(desktop, None).unwrap();
            assert_eq!(endpoint.bind, "127.0.0.1:9418".parse().unwrap());
            assert_eq!(
                endpoint.cluster_url,
                "git://host.k3d.internal:9418/neuroscale.git"
            );
        }
    }

    #[test]
    fn the_cluster_url_never_names_the_bind_address() {
        let linux = DockerHost::NativeLinux { gateway: gateway() };
        let endpoint = decide(linux, Some("127.0.0.1:19418".parse().unwrap())).unwrap();
        assert_eq!(endpoint.bind.port(), 19418);
        assert!(
            !endpoint.cluster_url.contains("127.0.0.1"),
            "{}",
            endpoint.cluster_url
        );
        assert!(endpoint.cluster_url.contains(":19418/"));
    }

    #[test]
    fn every_interface_and_foreign_addresses_are_refused() {
        let linux = DockerHost::NativeLinux { gateway: gateway() };
        let err = decide(linux, Some("0.0.0.0:9418".parse().unwrap())).unwrap_err();
        assert!(err.to_string().contains("every interface"), "{err}");
        assert!(err.to_string().contains("172.18.0.1"), "{err}");
        assert!(decide(linux, Some("192.168.1.20:9418".parse().unwrap())).is_err());
        assert!(decide(
            DockerHost::Desktop,
            Some("172.18.0.1:9418".parse().unwrap())
        )
        .is_err());
        assert!(decide(linux, Some("172.18.0.1:9999".parse().unwrap())).is_ok());
    }

    #[test]
    fn linux_without_a_gateway_cannot_decide() {
        assert_eq!(DockerHost::detect("linux", "Ubuntu", None), None);
    }
}
