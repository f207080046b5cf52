//! Serving the local GitOps source: a detached, read-only `git daemon` whose pid and address
//! are recorded beside the repository, so a later `up` reuses it, `down` stops it, and a pid
//! recycled by another process is never signalled.

use std::fs;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::Path;
use std::time::{Duration, Instant};

use super::source::{
    git, io_err, path_arg, GitSource, GitopsError, Result, ADDR_FILE, DAEMON_DEADLINE, PID_FILE,
};

impl GitSource {
    /// Serves the repository read-only with a detached `git daemon` on `bind_addr`. The daemon
    /// outlives this process; its pid and address are recorded for `is_serving`/`stop_serving`.
    /// Serving again on the same address is a no-op; on another address the old daemon stops.
    pub fn serve(&self, bind_addr: SocketAddr) -> Result<()> {
        if let Some(pid) = self.daemon_pid() {
            if self.serving_addr().as_ref() == Some(&bind_addr) {
                return Ok(());
            }
            self.stop_pid(pid)?;
        }
        // git daemon reports a bind failure only to syslog once detached: check first.
        TcpListener::bind(bind_addr).map_err(|e| GitopsError::Serve {
            addr: bind_addr,
            reason: format!("the address is not free or not local ({e})"),
        })?;
        let pid_file = self.dir.join(PID_FILE);
        let _ = fs::remove_file(&pid_file);
        let args = [
            "daemon".to_string(),
            "--detach".into(),
            "--reuseaddr".into(),
            "--export-all".into(),
            "--informative-errors".into(),
            format!("--base-path={}", path_arg(&self.dir)?),
            format!("--listen={}", bind_addr.ip()),
            format!("--port={}", bind_addr.port()),
            format!("--pid-file={}", path_arg(&pid_file)?),
            path_arg(&self.dir)?.to_string(),
        ];
        let arg_refs: Vec<&str> = args.iter().map(String::as_str).collect();
        git(&self.dir, &arg_refs, &[])?;
        fs::write(self.dir.join(ADDR_FILE), bind_addr.to_string())
            .map_err(io_err(&self.dir.join(ADDR_FILE)))?;
        let deadline = Instant::now() + DAEMON_DEADLINE;
        let probe = connect_addr(bind_addr);
        loop {
            if self.daemon_pid().is_some()
                && TcpStream::connect_timeout(&probe, Duration::from_millis(200)).is_ok()
            {
                return Ok(());
            }
            if Instant::now() >= deadline {
                return Err(GitopsError::Serve {
                    addr: bind_addr,
                    reason: format!(
                        "git daemon did not accept connections within {}s (pid file {}; its errors go to syslog)",
                        DAEMON_DEADLINE.as_secs(),
                        pid_file.display()
                    ),
                });
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Whether this directory's daemon is running.
    pub fn is_serving(&self) -> bool {
        self.daemon_pid().is_some()
    }

    /// The address the running daemon was started on.
    pub fn serving_addr(&self) -> Option<SocketAddr> {
        self.daemon_pid()?;
        fs::read_to_string(self.dir.join(ADDR_FILE))
            .ok()?
            .trim()
            .parse()
            .ok()
    }

    /// Stops this directory's daemon (if any) and waits for it to exit.
    pub fn stop_serving(&self) -> Result<()> {
        match self.daemon_pid() {
            Some(pid) => self.stop_pid(pid),
            None => {
                let _ = fs::remove_file(self.dir.join(PID_FILE));
                Ok(())
            }
        }
    }

    fn stop_pid(&self, pid: i32) -> Result<()> {
        // SAFETY: kill(2) with a pid read from our own pid file, checked to be a git daemon.
        unsafe { libc::kill(pid, libc::SIGTERM) };
        let deadline = Instant::now() + DAEMON_DEADLINE;
        while process_is_git_daemon(pid) {
            if Instant::now() >= deadline {
                return Err(GitopsError::StopTimeout {
                    pid,
                    deadline: DAEMON_DEADLINE,
                });
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = fs::remove_file(self.dir.join(PID_FILE));
        let _ = fs::remove_file(self.dir.join(ADDR_FILE));
        Ok(())
    }

    /// The recorded daemon pid, when that process is alive and still a git daemon (pids are
    /// reused; never signal a stranger).
    fn daemon_pid(&self) -> Option<i32> {
        let text = fs::read_to_string(self.dir.join(PID_FILE)).ok()?;
        let pid: i32 = text.trim().parse().ok()?;
        (pid > 0 && process_is_git_daemon(pid)).then_some(pid)
    }
}

/// The address to probe a listener on (an unspecified bind address is reached via loopback).
fn connect_addr(bind: SocketAddr) -> SocketAddr {
    let mut addr = bind;
    if addr.ip().is_unspecified() {
        addr.set_ip(match addr {
            SocketAddr::V4(_) => std::net::Ipv4Addr::LOCALHOST.into(),
            SocketAddr::V6(_) => std::net::Ipv6Addr::LOCALHOST.into(),
        });
    }
    addr
}

/// Whether `pid` is alive and is a git daemon (Linux /proc; elsewhere, alive is enough).
fn process_is_git_daemon(pid: i32) -> bool {
    // SAFETY: signal 0 only checks that the process exists.
    if unsafe { libc::kill(pid, 0) } != 0 {
        return false;
    }
    match fs::read(format!("/proc/{pid}/cmdline")) {
        Ok(cmdline) => {
            let text = String::from_utf8_lossy(&cmdline);
            let mut argv = text.split('\0');
            let program = argv.next().unwrap_or_default();
            let base = program.rsplit('/').next().unwrap_or_default();
            base == "git-daemon" || (base == "git" && argv.next() == Some("daemon"))
        }
        Err(_) => !Path::new("/proc/self").exists(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_recycled_pid_that_is_not_a_git_daemon_is_never_signalled() {
        let tmp = tempfile::tempdir().unwrap();
        let source = GitSource {
            dir: tmp.path().to_path_buf(),
        };
        // Our own pid stands in for a stranger that reused the daemon's pid.
        fs::write(tmp.path().join(PID_FILE), std::process::id().to_string()).unwrap();
        assert!(!source.is_serving());
        assert_eq!(source.serving_addr(), None);
        source.stop_serving().unwrap();
        assert!(
            !tmp.path().join(PID_FILE).exists(),
            "the stale pid file is cleared"
        );
    }

    #[test]
    fn an_unspecified_bind_address_is_probed_on_loopback() {
        let addr = connect_addr("0.0.0.0:9418".parse().unwrap());
        assert_eq!(addr, "127.0.0.1:9418".parse().unwrap());
    }
}
