//! `gpu::docker_has_nvidia_runtime` against the real Docker Engine, compared with what the
//! daemon itself lists (`GET /info` Runtimes, read here with the docker CLI when present).

use neuroscale::gpu;

fn require_peers() -> bool {
    std::env::var("NEUROSCALE_REQUIRE_PEERS").is_ok_and(|v| v == "1")
}

#[tokio::test]
async fn the_nvidia_runtime_answer_matches_the_daemons_runtimes() {
    let docker = match bollard::Docker::connect_with_local_defaults() {
        Ok(docker) => docker,
        Err(err) => {
            assert!(
                !require_peers(),
                "NEUROSCALE_REQUIRE_PEERS=1 but Docker is unreachable: {err}"
            );
            eprintln!("SKIP: no Docker Engine client: {err}");
            return;
        }
    };
    let info = match docker.info().await {
        Ok(info) => info,
        Err(err) => {
            assert!(
                !require_peers(),
                "NEUROSCALE_REQUIRE_PEERS=1 but Docker is unreachable: {err}"
            );
            eprintln!("SKIP: the Docker Engine does not answer: {err}");
            return;
        }
    };
    let listed: Vec<String> = info
        .runtimes
        .as_ref()
        .map(|r| r.keys().cloned().collect())
        .unwrap_or_default();
    assert!(
        !listed.is_empty(),
        "a Docker Engine always lists at least runc"
    );
    let has = gpu::docker_has_nvidia_runtime(&docker).await.unwrap();
    assert_eq!(
        has,
        listed.iter().any(|name| name == "nvidia"),
        "runtimes: {listed:?}"
    );
    assert_eq!(
        gpu::resolve_mode(neuroscale::scenario::GpuMode::Auto, &docker)
            .await
            .unwrap(),
        if has {
            gpu::GpuPath::Real
        } else {
            gpu::GpuPath::Simulate
        }
    );
}
