//! The Docker Engine connection shared by preflight and the image cache: bollard, pointed where
//! the Docker CLI would point (`DOCKER_HOST`, else the local socket), with the API version
//! negotiated down to what the daemon speaks, since bollard's default (1.53) is newer than many
//! installed engines (Debian's 20.10 speaks 1.41) and an un-negotiated client is refused.

use bollard::Docker;

/// Docker could not be reached; the message says where it looked and how to fix it.
#[derive(Debug, thiserror::Error)]
#[error(
    "Docker is not reachable at {endpoint}: start Docker (or point DOCKER_HOST at it) and run again (code {})",
    crate::failures::FailureCode::DockerUnreachable.reference()
)]
pub struct DockerUnreachable {
    pub endpoint: String,
    #[source]
    pub source: bollard::errors::Error,
}

/// Where bollard connects: `DOCKER_HOST` when set, else the platform's local default.
pub fn endpoint() -> String {
    match std::env::var("DOCKER_HOST") {
        Ok(host) if !host.is_empty() => host,
        _ if cfg!(windows) => "npipe:////./pipe/docker_engine".into(),
        _ => "unix:///var/run/docker.sock".into(),
    }
}

/// Connects to the Docker Engine, negotiates the API version and pings it.
pub async fn connect() -> Result<Docker, DockerUnreachable> {
    let endpoint = endpoint();
    let unreachable = |source| DockerUnreachable {
        endpoint: endpoint.clone(),
        source,
    };
    let docker = match std::env::var("DOCKER_HOST") {
        Ok(host) if !host.is_empty() => Docker::connect_with_host(&host),
        _ => Docker::connect_with_local_defaults(),
    }
    .map_err(unreachable)?;
    let docker = docker.negotiate_version().await.map_err(unreachable)?;
    docker.ping().await.map_err(unreachable)?;
    Ok(docker)
}
