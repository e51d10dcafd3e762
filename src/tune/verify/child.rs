//! The child gateway of a `tune --verify` run: `tokctl serve` started from
//! the given executable with the run's config, its stderr read line by line
//! on a thread, its address and bootstrap key taken from the log, and
//! SIGTERM at the end with the writer's counts read from its last words.
//! A child still running when its [`Gateway`] is dropped is killed, so a
//! run that fails half way leaves no server behind.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use super::RunError;
use super::scrape::shutdown_counts;

/// How long the child may take to say where it listens, and to stop.
const PATIENCE: Duration = Duration::from_secs(30);

/// A running `tokctl serve` and the lines of its stderr.
pub struct Gateway {
    child: Child,
    lines: mpsc::Receiver<String>,
}

impl Drop for Gateway {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

impl Gateway {
    /// Starts `exe --config cfg serve` in `dir`. The config file alone
    /// decides: no `TOKCTL_*` variable of this process leaks in.
    pub fn start(exe: &Path, cfg: &Path, dir: &Path) -> Result<Gateway, RunError> {
        let mut cmd = Command::new(exe);
        cmd.arg("--config").arg(cfg).arg("serve").current_dir(dir);
        for (k, _) in std::env::vars_os() {
            if k.to_string_lossy().starts_with("TOKCTL_") {
                cmd.env_remove(k);
            }
        }
        cmd.env("NO_COLOR", "1");
        let mut child = cmd
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(RunError::Spawn)?;
        let stderr = child.stderr.take().ok_or(RunError::NoStderr)?;
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Ok(Gateway { child, lines: rx })
    }

    /// Reads the log until `listening on ADDR`; the line after
    /// "created user `admin`" is the bootstrap key.
    pub fn address(&self) -> Result<(String, Option<String>), RunError> {
        let deadline = Instant::now() + PATIENCE;
        let mut seen = Vec::new();
        let mut key = None;
        let mut next_is_key = false;
        loop {
            let line = self
                .lines
                .recv_timeout(deadline.saturating_duration_since(Instant::now()))
                .map_err(|_| RunError::NoAddress(seen.join(" | ")))?;
            if next_is_key {
                key = Some(line.trim().to_string());
                next_is_key = false;
            }
            if line.contains("created user `admin`") {
                next_is_key = true;
            }
            if let Some(rest) = line.split("listening on ").nth(1) {
                return Ok((rest.trim().to_string(), key));
            }
            seen.push(line);
        }
    }

    /// SIGTERM, wait for the exit (30 s), and read `(written, dropped)`
    /// from the shutdown line, if it said them.
    pub fn stop(&mut self) -> Result<Option<(u64, u64)>, RunError> {
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(self.child.id().to_string())
            .status();
        let deadline = Instant::now() + PATIENCE;
        loop {
            match self.child.try_wait() {
                Ok(Some(_)) => break,
                Ok(None) if Instant::now() > deadline => return Err(RunError::StopTimeout),
                Ok(None) => std::thread::sleep(Duration::from_millis(50)),
                Err(e) => return Err(RunError::Wait(e)),
            }
        }
        let mut counts = None;
        while let Ok(line) = self.lines.recv_timeout(Duration::from_millis(500)) {
            if let Some(c) = shutdown_counts(&line) {
                counts = Some(c);
            }
        }
        Ok(counts)
    }
}
