//! Preflight and `neuroscale down` against the real Docker Engine. Skipped with the reason when
//! Docker is not reachable; with `NEUROSCALE_REQUIRE_PEERS=1` a missing Docker fails instead.
//! Nothing here touches the real image cache: `down` runs on a config whose cluster and cache
//! names are unique to the test, with the stand-in k3d (tests/support/k3d-standin.sh) on PATH.

#![cfg(unix)]

use std::io::Write;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use bollard::Docker;
use neuroscale::cluster::k3d_config::K3dConfig;
use neuroscale::cluster::preflight::{self, Failure, PreflightError, PreflightInput};
use neuroscale::cluster::{docker, ErrorClass};
use neuroscale::scenario::GpuMode;

async fn docker_or_skip(test: &str) -> Option<Docker> {
    match docker::connect().await {
        Ok(docker) => Some(docker),
        Err(err) if std::env::var("NEUROSCALE_REQUIRE_PEERS").as_deref() == Ok("1") => {
            panic!("{test}: NEUROSCALE_REQUIRE_PEERS=1 and {err}")
        }
        Err(err) => {
            eprintln!("skipping {test}: {err}");
            None
        }
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// The shipped config with its two host ports replaced.
fn config_with_ports(api: u16, ingress: u16) -> K3dConfig {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("k3d/cluster.yaml");
    let text = std::fs::read_to_string(&path)
        .unwrap()
        .replace("hostPort: \"6550\"", &format!("hostPort: \"{api}\""))
        .replace("127.0.0.1:8081:80", &format!("127.0.0.1:{ingress}:80"));
    K3dConfig::parse(Path::new("k3d/cluster.yaml"), &text).unwrap()
}

/// The shipped k3d config with its cluster and cache registries renamed to `unique`, so a test
/// never touches a developer's own cluster or cache.
fn config_named(dir: &Path, unique: &str) -> std::path::PathBuf {
    let path = dir.join("cluster.yaml");
    let shipped =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("k3d/cluster.yaml"))
            .unwrap();
    std::fs::write(
        &path,
        shipped
            .replace("name: neuroscale", &format!("name: {unique}"))
            .replace("neuroscale-cache", &format!("{unique}-cache")),
    )
    .unwrap();
    path
}

#[tokio::test]
async fn preflight_passes_on_free_ports_and_reads_docker_resources() {
    let Some(docker) = docker_or_skip("preflight_passes_on_free_ports").await else {
        return;
    };
    let (api, ingress) = (free_port(), free_port());
    let config = config_with_ports(api, ingress);
    let mut input = PreflightInput::new(&config, "neuroscale-preflight-test", GpuMode::Simulate);
    // More than any machine has, so the warnings must appear with the numbers.
    input.cpus = 100_000;
    input.memory_bytes = u64::MAX;
    let report = preflight::run_with(&docker, &input).await.unwrap();
    assert!(report.cpus > 0 && report.memory_bytes > 0, "{report:?}");
    assert!(!report.docker_version.is_empty());
    assert_eq!(report.gpu, GpuMode::Simulate);
    let mut free = report.ports_free.clone();
    free.sort();
    let mut expected = vec![api, ingress];
    expected.sort();
    assert_eq!(free, expected);
    // This machine's inotify limits may warn too (NS307); those are asserted elsewhere.
    let (inotify, docker_warnings): (Vec<&String>, Vec<&String>) = report
        .warnings
        .iter()
        .partition(|w| w.contains("fs.inotify."));
    assert!(
        inotify.iter().all(|w| w.contains("(code NS307")),
        "{inotify:?}"
    );
    assert_eq!(docker_warnings.len(), 2, "{:?}", report.warnings);
    assert!(
        docker_warnings[0].contains(&format!("Docker has {} CPUs", report.cpus))
            && docker_warnings[0].contains("100000")
            && docker_warnings[0].contains("(code NS302"),
        "{:?}",
        report.warnings
    );
    assert!(docker_warnings[1].contains("GiB of memory"));
}

#[tokio::test]
async fn preflight_says_which_port_is_in_use() {
    let Some(docker) = docker_or_skip("preflight_says_which_port_is_in_use").await else {
        return;
    };
    let held = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = held.local_addr().unwrap().port();
    let config = config_with_ports(port, free_port());
    let input = PreflightInput::new(&config, "neuroscale-preflight-test", GpuMode::Off);
    let err = preflight::run_with(&docker, &input).await.unwrap_err();
    let PreflightError::Failed(failures) = &err else {
        panic!("expected failed checks, got {err}");
    };
    assert_eq!(failures.len(), 1, "{failures:?}");
    assert!(
        matches!(&failures[0], Failure::PortInUse { port: p, field, .. } if *p == port && field == "kubeAPI.hostPort"),
        "{failures:?}"
    );
    assert_eq!(err.class(), ErrorClass::Environment);
    let text = err.to_string();
    assert!(
        text.contains(&format!("port {port}/tcp on 127.0.0.1"))
            && text.contains("change kubeAPI.hostPort"),
        "{text}"
    );
}

#[tokio::test]
async fn a_real_gpu_needs_the_nvidia_runtime_and_a_gpu_config() {
    let Some(docker) = docker_or_skip("a_real_gpu_needs_the_nvidia_runtime").await else {
        return;
    };
    let info = docker.info().await.unwrap();
    let has_nvidia = info
        .runtimes
        .as_ref()
        .is_some_and(|r| r.contains_key("nvidia"));
    let config = config_with_ports(free_port(), free_port());
    let input = PreflightInput::new(&config, "neuroscale-preflight-test", GpuMode::Real);
    let err = preflight::run_with(&docker, &input).await.unwrap_err();
    let PreflightError::Failed(failures) = &err else {
        panic!("expected failed checks, got {err}");
    };
    assert!(failures
        .iter()
        .any(|f| matches!(f, Failure::GpuNotRequested { .. })));
    assert_eq!(
        failures
            .iter()
            .any(|f| matches!(f, Failure::NvidiaRuntimeMissing)),
        !has_nvidia
    );
    // `auto` never fails: it resolves to what the machine can do.
    let input = PreflightInput::new(&config, "neuroscale-preflight-test", GpuMode::Auto);
    let report = preflight::run_with(&docker, &input).await.unwrap();
    assert_eq!(
        report.gpu,
        GpuMode::Simulate,
        "the default config requests no GPUs"
    );
}

/// The stand-in k3d in `dir`, written by a child process (no write handle in this process on a
/// file it then executes: ETXTBSY).
fn install_standin(dir: &Path) -> PathBuf {
    let path = dir.join("k3d");
    let mut child = Command::new("sh")
        .arg("-c")
        .arg(r#"cat > "$1" && chmod 755 "$1""#)
        .arg("sh")
        .arg(&path)
        .stdin(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(include_str!("support/k3d-standin.sh").as_bytes())
        .unwrap();
    assert!(child.wait().unwrap().success());
    std::fs::create_dir_all(dir.join("state")).unwrap();
    path
}

fn neuroscale(standin_dir: &Path, cache: &Path, args: &[&str]) -> std::process::Output {
    let path = format!(
        "{}:{}",
        standin_dir.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    Command::new(env!("CARGO_BIN_EXE_neuroscale"))
        .args(args)
        .env("PATH", path)
        .env("NEUROSCALE_CACHE_DIR", cache)
        .env_remove("KUBECONFIG")
        .output()
        .unwrap()
}

#[tokio::test]
async fn down_keeps_the_cache_and_down_purge_removes_it() {
    let Some(docker) = docker_or_skip("down_keeps_the_cache_and_down_purge_removes_it").await
    else {
        return;
    };
    let unique = format!("nstest{}", std::process::id());
    let work = tempfile::tempdir().unwrap();
    let config_path = config_named(work.path(), &unique);
    let standin_dir = work.path().join("bin");
    std::fs::create_dir_all(&standin_dir).unwrap();
    install_standin(&standin_dir);
    let state = standin_dir.join("state");
    std::fs::write(
        state.join(format!("cluster-{unique}")),
        "running\nrancher/k3s:v1.34.8-k3s1\n2\n",
    )
    .unwrap();
    let cache_registry = format!("k3d-{unique}-cache-docker");
    std::fs::write(
        state.join(format!("registry-{cache_registry}")),
        "running\nhttps://registry-1.docker.io\n",
    )
    .unwrap();
    let volume = format!("{cache_registry}-data");
    docker
        .create_volume(bollard::models::VolumeCreateRequest {
            name: Some(volume.clone()),
            ..Default::default()
        })
        .await
        .unwrap();
    let cache = work.path().join("cache");
    let kubeconfig = cache.join("kubeconfig").join(format!("{unique}.yaml"));
    std::fs::create_dir_all(kubeconfig.parent().unwrap()).unwrap();
    std::fs::write(&kubeconfig, "apiVersion: v1\n").unwrap();
    let config_arg = config_path.display().to_string();

    let out = neuroscale(&standin_dir, &cache, &["down", "--config", &config_arg]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains(&format!("deleted cluster `{unique}`")),
        "{stdout}"
    );
    assert!(stdout.contains("kept the image cache"), "{stdout}");
    assert!(!state.join(format!("cluster-{unique}")).exists());
    assert!(!kubeconfig.exists(), "down removes neuroscale's kubeconfig");
    assert!(state.join(format!("registry-{cache_registry}")).exists());
    docker
        .inspect_volume(&volume)
        .await
        .expect("the cache volume is kept");

    let out = neuroscale(
        &standin_dir,
        &cache,
        &["down", "--purge", "--config", &config_arg],
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    let purged = docker.inspect_volume(&volume).await;
    if purged.is_ok() {
        let _ = docker
            .remove_volume(
                &volume,
                None::<bollard::query_parameters::RemoveVolumeOptions>,
            )
            .await;
    }
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains(&format!("no cluster `{unique}`")),
        "{stdout}"
    );
    assert!(
        stdout.contains(&format!(
            "removed image cache `{cache_registry}` and its volume `{volume}`"
        )),
        "{stdout}"
    );
    assert!(purged.is_err(), "--purge removes the cache volume");
    assert!(!state.join(format!("registry-{cache_registry}")).exists());
}

#[test]
fn down_without_docker_says_so_in_one_sentence_with_exit_3() {
    let work = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_neuroscale"))
        .args(["down"])
        .env("DOCKER_HOST", "unix:///nonexistent/neuroscale-test.sock")
        .env("NEUROSCALE_CACHE_DIR", work.path())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(3));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.starts_with(
            "error: Docker is not reachable at unix:///nonexistent/neuroscale-test.sock: start Docker"
        ),
        "{stderr}"
    );
}

#[tokio::test]
async fn bootstrap_runs_preflight_cache_cluster_and_kubeconfig_in_order() {
    use neuroscale::cluster::bootstrap::{self, BootstrapInput, Phase};
    use neuroscale::cluster::k3d::{ClusterState, K3d};
    let Some(_docker) = docker_or_skip("bootstrap_runs_the_phases_in_order").await else {
        return;
    };
    let work = tempfile::tempdir().unwrap();
    let standin = install_standin(work.path());
    let config = config_with_ports(free_port(), free_port());
    let cache = work.path().join("cache");
    let mut phases = Vec::new();
    let ready = bootstrap::bootstrap(
        BootstrapInput {
            config: &config,
            cluster_name: "neuroscale",
            gpu: GpuMode::Auto,
            cache_dir: &cache,
            k3d: Some(K3d::at(&standin)),
        },
        |phase| phases.push(phase),
    )
    .await
    .unwrap();
    assert_eq!(
        phases,
        vec![
            Phase::Preflight,
            Phase::K3dBinary,
            Phase::ImageCache,
            Phase::Cluster,
            Phase::Kubeconfig
        ]
    );
    assert_eq!(ready.timings.len(), 5);
    assert_eq!(ready.state, ClusterState::Created);
    assert_eq!(ready.context, "k3d-neuroscale");
    assert_eq!(ready.kubeconfig, cache.join("kubeconfig/neuroscale.yaml"));
    assert!(ready.kubeconfig.exists());
    assert_eq!(ready.preflight.gpu, GpuMode::Simulate);
    let calls = std::fs::read_to_string(work.path().join("state/calls.log")).unwrap();
    let first_registry = calls.find("registry create").unwrap();
    let cluster = calls.find("cluster create").unwrap();
    assert!(
        first_registry < cluster,
        "the cache exists before the cluster that uses it:\n{calls}"
    );
}

#[tokio::test]
async fn a_failed_preflight_creates_nothing() {
    use neuroscale::cluster::bootstrap::{self, BootstrapInput};
    use neuroscale::cluster::k3d::K3d;
    let Some(_docker) = docker_or_skip("a_failed_preflight_creates_nothing").await else {
        return;
    };
    let work = tempfile::tempdir().unwrap();
    let standin = install_standin(work.path());
    let held = TcpListener::bind("127.0.0.1:0").unwrap();
    let config = config_with_ports(free_port(), held.local_addr().unwrap().port());
    let cache = work.path().join("cache");
    let err = bootstrap::bootstrap(
        BootstrapInput {
            config: &config,
            cluster_name: "neuroscale",
            gpu: GpuMode::Simulate,
            cache_dir: &cache,
            k3d: Some(K3d::at(&standin)),
        },
        |_| {},
    )
    .await
    .unwrap_err();
    assert_eq!(err.class(), ErrorClass::Environment);
    assert!(err.to_string().contains("ports[0].port"), "{err}");
    assert!(
        !work.path().join("state/calls.log").exists(),
        "k3d was never called"
    );
    assert!(!cache.exists());
}

/// A 129-byte static x86-64 Linux executable that loops on `pause(2)`: the smallest process a
/// container can keep running, since Docker here has no images and none can be pulled.
/// Layout: ELF64 header, one PT_LOAD program header (R+X at 0x400000), then
/// `mov eax, 34; syscall; jmp -9`.
#[cfg(target_arch = "x86_64")]
const PAUSE_ELF: &str = "7f454c4602010100000000000000000002003e00010000007800400000000000\
400000000000000000000000000000000000000040003800010000000000000001000000050000000000\
000000000000000040000000000000004000000000008100000000000000810000000000000000100000\
00000000b8220000000f05ebf7";

#[cfg(target_arch = "x86_64")]
async fn run_pause_container(docker: &Docker, image: &str, name: &str, cluster: &str) -> u16 {
    use bollard::models::{ContainerCreateBody, HostConfig, PortBinding};
    use bollard::query_parameters::CreateContainerOptionsBuilder;
    use std::collections::HashMap;
    let bindings = HashMap::from([(
        "80/tcp".to_string(),
        Some(vec![PortBinding {
            host_ip: Some("127.0.0.1".into()),
            host_port: Some(String::new()),
        }]),
    )]);
    let body = ContainerCreateBody {
        image: Some(image.into()),
        labels: Some(HashMap::from([(
            "k3d.cluster".to_string(),
            cluster.to_string(),
        )])),
        exposed_ports: Some(vec!["80/tcp".to_string()]),
        host_config: Some(HostConfig {
            port_bindings: Some(bindings),
            ..Default::default()
        }),
        ..Default::default()
    };
    let options = CreateContainerOptionsBuilder::default().name(name).build();
    docker.create_container(Some(options), body).await.unwrap();
    docker
        .start_container(
            name,
            None::<bollard::query_parameters::StartContainerOptions>,
        )
        .await
        .unwrap();
    let inspected = docker
        .inspect_container(
            name,
            None::<bollard::query_parameters::InspectContainerOptions>,
        )
        .await
        .unwrap();
    inspected
        .network_settings
        .and_then(|n| n.ports)
        .and_then(|p| p.get("80/tcp").cloned().flatten())
        .and_then(|b| b.first().and_then(|b| b.host_port.clone()))
        .and_then(|p| p.parse().ok())
        .expect("Docker assigned a host port")
}

#[cfg(target_arch = "x86_64")]
#[tokio::test]
async fn a_port_published_by_another_container_is_named_and_our_own_is_fine() {
    let Some(docker) = docker_or_skip("a_port_published_by_another_container").await else {
        return;
    };
    // The image is made with `docker import` (bollard does not import tarballs).
    if Command::new("docker").arg("--version").output().is_err() {
        let reason = "the docker CLI is not on PATH (needed for `docker import`)";
        if std::env::var("NEUROSCALE_REQUIRE_PEERS").as_deref() == Ok("1") {
            panic!("NEUROSCALE_REQUIRE_PEERS=1 and {reason}");
        }
        eprintln!("skipping a_port_published_by_another_container: {reason}");
        return;
    }
    let unique = format!("nstest{}", std::process::id());
    let image = format!("neuroscale-test/pause:{unique}");
    let work = tempfile::tempdir().unwrap();
    let bytes = hex::decode(PAUSE_ELF).unwrap();
    std::fs::write(work.path().join("pause"), bytes).unwrap();
    let imported = Command::new("sh")
        .arg("-c")
        .arg(r#"chmod 755 "$1/pause" && tar -C "$1" -cf - pause | docker import -c 'CMD ["/pause"]' - "$2""#)
        .arg("sh")
        .arg(work.path())
        .arg(&image)
        .output()
        .unwrap();
    assert!(
        imported.status.success(),
        "docker import: {}",
        String::from_utf8_lossy(&imported.stderr)
    );
    let other = format!("{unique}-other");
    let own = format!("{unique}-own");
    let own_cluster = format!("{unique}-cluster");
    let other_port = run_pause_container(&docker, &image, &other, "someone-else").await;
    let own_port = run_pause_container(&docker, &image, &own, &own_cluster).await;

    let config = config_with_ports(other_port, own_port);
    let input = PreflightInput::new(&config, &own_cluster, GpuMode::Off);
    let result = preflight::run_with(&docker, &input).await;

    for name in [&other, &own] {
        let _ = docker
            .remove_container(
                name,
                Some(bollard::query_parameters::RemoveContainerOptions {
                    force: true,
                    ..Default::default()
                }),
            )
            .await;
    }
    let _ = docker
        .remove_image(
            &image,
            None::<bollard::query_parameters::RemoveImageOptions>,
            None,
        )
        .await;

    let Err(PreflightError::Failed(failures)) = result else {
        panic!("expected the other container's port to fail preflight: {result:?}");
    };
    assert_eq!(
        failures,
        vec![Failure::PortPublished {
            port: other_port,
            protocol: "tcp",
            host_ip: "127.0.0.1".into(),
            field: "kubeAPI.hostPort".into(),
            config: "k3d/cluster.yaml".into(),
            container: other.clone(),
        }],
        "the port held by this cluster's own container ({own_port}) is not a failure"
    );
}

#[tokio::test]
async fn down_without_k3d_and_without_a_cluster_has_nothing_to_do() {
    let Some(_docker) = docker_or_skip("down_without_k3d_and_without_a_cluster").await else {
        return;
    };
    let unique = format!("nstest{}", std::process::id());
    let work = tempfile::tempdir().unwrap();
    let config_path = config_named(work.path(), &unique);
    // A PATH without k3d, and a cache whose pinned k3d is present but not the one whose digest
    // was recorded, so neither PATH nor cache nor (offline-safe) download yields a k3d.
    let cache = work.path().join("cache");
    let cached =
        neuroscale::cluster::k3d::K3d::cached_binary(&cache, neuroscale::components::K3D_VERSION);
    std::fs::create_dir_all(cached.parent().unwrap()).unwrap();
    std::fs::write(&cached, b"not k3d").unwrap();
    std::fs::write(cached.with_extension("sha256"), "0".repeat(64)).unwrap();
    let empty_path = work.path().join("empty-path");
    std::fs::create_dir_all(&empty_path).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_neuroscale"))
        .args(["down", "--config", &config_path.display().to_string()])
        .env("PATH", &empty_path)
        .env("NEUROSCALE_CACHE_DIR", &cache)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains(&format!("no cluster `{unique}` and no image cache")),
        "{stdout}"
    );
}

/// `doctor --pre` through the binary against the real Docker Engine: a held host port and an
/// existing cluster of another k3s image (kept by the stand-in k3d) are each a FAIL with their
/// code; the machine-dependent findings (inotify, image architecture) are present with a verdict
/// that says what was seen or that it was not checked.
#[tokio::test]
async fn doctor_pre_names_a_held_port_and_a_cluster_of_another_version() {
    let Some(_docker) = docker_or_skip("doctor_pre_names_a_held_port").await else {
        return;
    };
    let work = tempfile::tempdir().unwrap();
    let standin = install_standin(work.path());
    let unique = format!("nsdoctorpre{}", std::process::id());
    // The stand-in's state: a running cluster of this name on an older k3s, two agents.
    std::fs::write(
        standin
            .parent()
            .unwrap()
            .join(format!("state/cluster-{unique}")),
        "running\nrancher/k3s:v1.31.4-k3s1\n2\n",
    )
    .unwrap();
    let held = TcpListener::bind("127.0.0.1:0").unwrap();
    let held_port = held.local_addr().unwrap().port();
    let config = work.path().join("cluster.yaml");
    let shipped =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("k3d/cluster.yaml"))
            .unwrap();
    std::fs::write(
        &config,
        shipped
            .replace("name: neuroscale", &format!("name: {unique}"))
            .replace("neuroscale-cache", &format!("{unique}-cache"))
            .replace(
                "hostPort: \"6550\"",
                &format!("hostPort: \"{}\"", free_port()),
            )
            .replace("127.0.0.1:8081:80", &format!("127.0.0.1:{held_port}:80")),
    )
    .unwrap();
    let cache = work.path().join("cache");
    let config_arg = config.to_str().unwrap();

    let output = neuroscale(
        work.path(),
        &cache,
        &[
            "doctor", "--pre", "--config", config_arg, "--format", "json",
        ],
    );
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    let value: serde_json::Value =
        serde_json::from_slice(&output.stdout).unwrap_or_else(|e| panic!("{e}: {stderr}"));
    assert_eq!(value["schemaVersion"], "neuroscale.doctor/v1");
    assert_eq!(value["machine"], true);
    let finding = |number: u64| {
        value["steps"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["number"] == number)
            .unwrap_or_else(|| panic!("finding {number} in {value}"))
            .clone()
    };
    assert_eq!(finding(1)["verdict"], "OK", "{value}");
    let ports = finding(4);
    assert_eq!(ports["verdict"], "FAIL", "{ports}");
    assert_eq!(ports["code"], "NS303", "{ports}");
    assert!(
        ports["observed"][0]
            .as_str()
            .unwrap()
            .contains(&format!("port {held_port}/tcp")),
        "{ports}"
    );
    let cluster = finding(6);
    assert_eq!(cluster["verdict"], "FAIL", "{cluster}");
    assert_eq!(cluster["code"], "NS308", "{cluster}");
    assert!(
        cluster["observed"][0]
            .as_str()
            .unwrap()
            .contains("rancher/k3s:v1.31.4-k3s1"),
        "{cluster}"
    );
    assert_eq!(cluster["nextCommand"], "neuroscale down");
    let inotify = finding(5);
    match inotify["verdict"].as_str().unwrap() {
        "WARN" => assert_eq!(inotify["code"], "NS307", "{inotify}"),
        "OK" | "SKIP" => assert!(inotify.get("code").is_none(), "{inotify}"),
        other => panic!("inotify finding {other}: {inotify}"),
    }
    let architecture = finding(7);
    match architecture["verdict"].as_str().unwrap() {
        "SKIP" => assert!(
            architecture["observed"][0]
                .as_str()
                .unwrap()
                .contains("not checked"),
            "{architecture}"
        ),
        "OK" => {}
        "FAIL" => assert_eq!(architecture["code"], "NS309", "{architecture}"),
        other => panic!("architecture finding {other}: {architecture}"),
    }

    let output = neuroscale(
        work.path(),
        &cache,
        &["doctor", "--pre", "--config", config_arg],
    );
    let text = String::from_utf8_lossy(&output.stdout);
    assert!(
        text.contains("code: NS303 (docs/failures.md#ns303)"),
        "{text}"
    );
    assert!(
        text.contains("fix these before running `neuroscale up`"),
        "{text}"
    );
    drop(held);
}
