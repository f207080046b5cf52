//! Test support: the real KServe Python model server (`tests/peers/iris_server.py`) started on
//! loopback, with fault injection through its environment. Skips with a printed reason when no
//! interpreter can import kserve; under `NEUROSCALE_REQUIRE_PEERS=1` that is a failure instead.

#![allow(dead_code)]

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// How long the server may take to import kserve, train and listen (a loaded 2-CPU machine).
const STARTUP_DEADLINE: Duration = Duration::from_secs(90);

/// A running model server; killed on drop.
pub struct KserveServer {
    child: Child,
    pub port: u16,
    pub model: String,
    log: PathBuf,
    _dir: tempfile::TempDir,
}

impl KserveServer {
    pub fn base_url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    pub fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(20)..].join("\n")
    }
}

impl Drop for KserveServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One model-server test at a time: several Python servers starting at once on a small machine
/// starve each other, and the tests' request counts should not depend on that.
/// An async lock (held across awaits; it does not care which runtime each test runs on).
static PEER_SLOT: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// Hold this for the whole test.
pub async fn exclusive() -> tokio::sync::MutexGuard<'static, ()> {
    PEER_SLOT.lock().await
}

fn require_peers() -> bool {
    std::env::var("NEUROSCALE_REQUIRE_PEERS").is_ok_and(|v| v == "1")
}

/// Prints why the test is skipped, or panics when peers are required.
pub fn skip(reason: &str) {
    if require_peers() {
        panic!("NEUROSCALE_REQUIRE_PEERS=1 but the KServe peer is missing: {reason}");
    }
    eprintln!("SKIP: {reason}");
}

/// `$NEUROSCALE_PYTHON`, else `python3` when it can import kserve and scikit-learn.
pub fn python() -> Result<String, String> {
    if let Some(python) = std::env::var_os("NEUROSCALE_PYTHON").filter(|v| !v.is_empty()) {
        return Ok(python.to_string_lossy().into_owned());
    }
    let importable = Command::new("python3")
        .args(["-c", "import kserve, sklearn"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if importable {
        Ok("python3".into())
    } else {
        Err(
            "NEUROSCALE_PYTHON is unset and python3 cannot import kserve and sklearn; \
             install the peers in a venv (pip install -r .ci/requirements-peers.txt) and set \
             NEUROSCALE_PYTHON to its python"
                .into(),
        )
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("an ephemeral loopback port")
}

/// Starts the iris server for `model` with the given fault variables and waits until
/// `/v2/health/ready` answers. `None` when the peer is missing (after printing why).
pub fn start(model: &str, faults: &[(&str, &str)]) -> Option<KserveServer> {
    let python = match python() {
        Ok(python) => python,
        Err(reason) => {
            skip(&reason);
            return None;
        }
    };
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/peers/iris_server.py");
    let dir = tempfile::tempdir().expect("a scratch directory");
    let log = dir.path().join("server.log");
    let log_file = std::fs::File::create(&log).expect("a log file");
    let port = free_port();
    let mut command = Command::new(&python);
    command
        .arg(&script)
        .args(["--model_name", model, "--http_port", &port.to_string()])
        .current_dir(dir.path())
        .stdin(Stdio::null())
        .stdout(log_file.try_clone().expect("log handle"))
        .stderr(log_file);
    for (key, value) in faults {
        command.env(key, value);
    }
    let child = command
        .spawn()
        .unwrap_or_else(|err| panic!("cannot start {python} {}: {err}", script.display()));
    let mut server = KserveServer {
        child,
        port,
        model: model.into(),
        log,
        _dir: dir,
    };
    let started = Instant::now();
    loop {
        if let Ok(Some(status)) = server.child.try_wait() {
            panic!(
                "the KServe model server exited with {status} before it was ready:\n{}",
                server.log_tail()
            );
        }
        if ready(port) {
            return Some(server);
        }
        if started.elapsed() > STARTUP_DEADLINE {
            panic!(
                "the KServe model server on port {port} was not ready within {STARTUP_DEADLINE:?}:\n{}",
                server.log_tail()
            );
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// A blocking `GET /v2/health/ready` (no async runtime needed before the test's own).
fn ready(port: u16) -> bool {
    use std::io::{Read, Write};
    let Ok(mut stream) = std::net::TcpStream::connect(("127.0.0.1", port)) else {
        return false;
    };
    let _ = stream.set_read_timeout(Some(Duration::from_secs(2)));
    let request = format!(
        "GET /v2/health/ready HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n\r\n"
    );
    if stream.write_all(request.as_bytes()).is_err() {
        return false;
    }
    let mut answer = String::new();
    let _ = stream.read_to_string(&mut answer);
    answer.starts_with("HTTP/1.1 200") && answer.contains("\"ready\":true")
}
