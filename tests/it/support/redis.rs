//! A throwaway Redis server, one per test process, started lazily from
//! `redis-server` on PATH: a free port on 127.0.0.1, no persistence, a temp
//! dir as its working directory. A watcher kills it once the test process
//! is gone.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// The running server.
#[derive(Debug)]
pub struct Server {
    port: u16,
    /// The process, for a test that stops or kills its own server.
    child: std::sync::Mutex<std::process::Child>,
    bin: std::path::PathBuf,
    dir: std::path::PathBuf,
}

impl Server {
    pub fn port(&self) -> u16 {
        self.port
    }

    /// `127.0.0.1:PORT`, the form `rate_limit.redis_addr` accepts.
    pub fn addr(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// Sends `signal` (`STOP`: hung, every call waits; `CONT`: back;
    /// `KILL`: gone, connections refused) to the server. Only for a
    /// server of the test's own from [`start`], never the shared one.
    pub fn signal(&self, signal: &str) {
        let mut child = self.child.lock().expect("lock");
        if signal == "KILL" {
            let _ = child.kill();
            let _ = child.wait();
            return;
        }
        let pid = child.id();
        let ok = Command::new("kill")
            .arg(format!("-{signal}"))
            .arg(pid.to_string())
            .status()
            .is_ok_and(|s| s.success());
        assert!(ok, "kill -{signal} {pid} failed");
    }

    /// Starts the server again on its port, after `signal("KILL")`.
    pub fn restart(&self) {
        let child = spawn(&self.bin, &self.dir, self.port).expect("restart redis-server");
        *self.child.lock().expect("lock") = child;
        let deadline = Instant::now() + Duration::from_secs(10);
        while !command(&self.addr(), "PING").is_ok_and(|r| r == "+PONG") {
            assert!(Instant::now() < deadline, "Redis did not come back");
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

/// Starts `bin` on `port`, killed when the test process ends.
fn spawn(
    bin: &std::path::Path,
    dir: &std::path::Path,
    port: u16,
) -> Result<std::process::Child, String> {
    let out = if super::test_log() {
        Stdio::inherit()
    } else {
        Stdio::null()
    };
    let child = Command::new(bin)
        .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
        .args(["--save", "", "--appendonly", "no", "--daemonize", "no"])
        .arg("--dir")
        .arg(dir)
        .stdin(Stdio::null())
        .stdout(out)
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| format!("cannot start {}: {e}", bin.display()))?;
    super::on_process_exit(&format!(
        "kill -CONT {pid} 2>/dev/null; kill {pid} 2>/dev/null; rm -rf {}",
        super::sh_quote(&dir.to_string_lossy()),
        pid = child.id(),
    ));
    Ok(child)
}

/// The process-wide Redis, started on first use.
pub fn server() -> &'static Server {
    static SERVER: OnceLock<Result<Server, String>> = OnceLock::new();
    match SERVER.get_or_init(|| start("redis-server")) {
        Ok(s) => s,
        Err(e) => panic!("{e}"),
    }
}

/// Sends one inline command and returns the first reply line (e.g. `+PONG`).
pub fn command(addr: &str, line: &str) -> std::io::Result<String> {
    let mut s = TcpStream::connect(addr)?;
    s.set_read_timeout(Some(Duration::from_secs(2)))?;
    s.write_all(format!("{line}\r\n").as_bytes())?;
    let mut buf = [0u8; 512];
    let n = s.read(&mut buf)?;
    let text = String::from_utf8_lossy(&buf[..n]);
    Ok(text.lines().next().unwrap_or_default().to_string())
}

/// Starts `binary` (looked up on PATH) as a Redis server; public so a test
/// can check the message for a missing binary.
pub fn start(binary: &str) -> Result<Server, String> {
    let Some(bin) = super::find_binary(binary, None) else {
        return Err(format!(
            "{binary} not found on PATH: install the Debian package `redis-server` \
             (bash scripts/install-test-deps.sh)"
        ));
    };
    let dir = tempfile::Builder::new()
        .prefix("tokctl-redis-")
        .tempdir()
        .map_err(|e| format!("cannot create a temp dir for Redis: {e}"))?
        .keep();
    let mut last = String::new();
    for _ in 0..3 {
        let port = super::free_port();
        let mut child = spawn(&bin, &dir, port)?;
        let addr = format!("127.0.0.1:{port}");
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Ok(Some(status)) = child.try_wait() {
                last = format!("redis-server exited at start ({status})");
                break;
            }
            if command(&addr, "PING").is_ok_and(|r| r == "+PONG") {
                return Ok(Server {
                    port,
                    child: std::sync::Mutex::new(child),
                    bin,
                    dir,
                });
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = child.kill();
        let _ = child.wait();
        if last.is_empty() {
            last = format!("redis-server did not answer PING on {addr} within 10s");
        }
    }
    Err(format!("the test Redis did not start: {last}"))
}
