//! Running the real `tokctl` binary the way a user does: in a temp dir of
//! its own, with a chosen environment and config file, capturing stdout,
//! stderr and the exit code.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use tempfile::TempDir;

/// Longest a single run may take before the test fails.
const TIMEOUT: Duration = Duration::from_secs(60);

/// What one run of the binary did.
#[derive(Debug, Clone)]
pub struct Output {
    /// The exit code; -1 when killed by a signal.
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Output {
    /// Fails the test, showing both streams, unless the exit code is `code`.
    pub fn expect_code(&self, code: i32) -> &Self {
        assert_eq!(
            self.code, code,
            "expected exit code {code}\n--- stdout\n{}\n--- stderr\n{}",
            self.stdout, self.stderr
        );
        self
    }
}

/// A `tokctl` to run in its own temp dir with a clean environment.
#[derive(Debug)]
pub struct Tokctl {
    dir: TempDir,
    env: Vec<(String, String)>,
    config: Option<PathBuf>,
}

impl Default for Tokctl {
    fn default() -> Self {
        Self::new()
    }
}

impl Tokctl {
    pub fn new() -> Tokctl {
        let dir = tempfile::Builder::new()
            .prefix("tokctl-run-")
            .tempdir()
            .expect("creating a temp dir for a tokctl run");
        Tokctl {
            dir,
            env: Vec::new(),
            config: None,
        }
    }

    /// The working directory of every run.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    pub fn env(mut self, key: &str, value: impl Into<String>) -> Tokctl {
        self.env.push((key.to_string(), value.into()));
        self
    }

    /// Writes `text` as `config.toml` in the run dir and passes `--config` to it.
    pub fn config(mut self, text: &str) -> Tokctl {
        self.config = Some(write_config(self.dir.path(), text));
        self
    }

    fn command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_tokctl"));
        if let Some(c) = &self.config {
            cmd.arg("--config").arg(c);
        }
        cmd.args(args).current_dir(self.dir.path());
        for (k, _) in std::env::vars_os() {
            let name = k.to_string_lossy();
            if name.starts_with("TOKCTL_") || name.starts_with("TOKLIGENCE_") {
                cmd.env_remove(&k);
            }
        }
        cmd.env_remove("RUST_LOG");
        cmd.envs(self.env.iter().map(|(k, v)| (k, v)));
        cmd.stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        cmd
    }

    /// Starts the binary without waiting; finish with [`wait`].
    pub fn spawn(&self, args: &[&str]) -> Child {
        self.command(args)
            .spawn()
            .expect("starting the tokctl binary")
    }

    /// Runs the binary with its stdout a pipe whose reader is already
    /// closed (as `tokctl … | head` once head has left); returns the exit
    /// code and stderr.
    pub fn run_into_closed_pipe(&self, args: &[&str]) -> (Option<i32>, String) {
        let (reader, writer) = std::io::pipe().expect("a pipe");
        drop(reader);
        let out = self
            .command(args)
            .stdout(writer)
            .output()
            .expect("running the tokctl binary");
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    }

    /// Runs the binary to completion.
    pub fn run(&self, args: &[&str]) -> Output {
        let child = self.spawn(args);
        wait(child, args)
    }
}

/// Waits for a spawned run (at most [`TIMEOUT`]) and collects its output.
pub fn wait(child: Child, args: &[&str]) -> Output {
    // A thread reads both pipes to the end, so a chatty run cannot block on
    // a full pipe; the test waits for it at most TIMEOUT.
    let pid = child.id();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(child.wait_with_output());
    });
    let out = match rx.recv_timeout(TIMEOUT) {
        Ok(out) => out.expect("collecting tokctl's output"),
        Err(_) => {
            let _ = Command::new("kill").args(["-9", &pid.to_string()]).status();
            panic!("tokctl {args:?} ran longer than {TIMEOUT:?}");
        }
    };
    let output = Output {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    };
    if super::test_log() {
        eprintln!(
            "tokctl {args:?} exited {}\n--- stdout\n{}--- stderr\n{}",
            output.code, output.stdout, output.stderr
        );
    }
    output
}

/// Writes a config file `config.toml` into `dir` and returns its path.
pub fn write_config(dir: &Path, text: &str) -> PathBuf {
    let path = dir.join("config.toml");
    std::fs::write(&path, text).expect("writing a test config file");
    path
}
