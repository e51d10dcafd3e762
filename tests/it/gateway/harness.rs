//! Starting the real `tokctl serve` on a free port against a given ledger
//! DSN, an upstream test server that records what it receives, and reading
//! the ledger back.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;

/// A running gateway process.
pub struct Gateway {
    pub addr: String,
    pub key: Option<String>,
    pub child: Child,
    /// Holds the config file and the dead-letter file for the run.
    pub _dir: tempfile::TempDir,
    pub stderr_lines: Arc<Mutex<Vec<String>>>,
}

impl Gateway {
    /// Starts `tokctl serve` with `extra` TOML appended to a config that
    /// points both databases at `dsn` and listens on port 0.
    pub fn start(dsn: &str, extra: &str) -> Gateway {
        Self::start_with_env(dsn, extra, &[])
    }

    /// Like [`Gateway::start`], with extra environment variables.
    pub fn start_with_env(dsn: &str, extra: &str, env: &[(&str, &str)]) -> Gateway {
        Self::start_in(tempfile::tempdir().expect("temp dir"), dsn, extra, env)
    }

    /// Starts in `dir` (its `data/` holds the chain files and the spool),
    /// e.g. the directory of a gateway killed before.
    pub fn start_in(
        dir: tempfile::TempDir,
        dsn: &str,
        extra: &str,
        env: &[(&str, &str)],
    ) -> Gateway {
        let config = format!(
            "[server]\nlisten = \"127.0.0.1:0\"\nshutdown_timeout_ms = 5000\n\
             [ledger]\npath = \"{dsn}\"\ndead_letter_path = \"{dl}\"\n\
             [identity]\npath = \"{dsn}\"\n{extra}\n",
            dl = dir.path().join("dead.jsonl").display()
        );
        let cfg_path = dir.path().join("config.toml");
        std::fs::write(&cfg_path, config).expect("write config");
        let mut child = Command::new(env!("CARGO_BIN_EXE_tokctl"))
            .arg("--config")
            .arg(&cfg_path)
            .arg("serve")
            .current_dir(dir.path())
            .env_remove("TOKCTL_CONFIG")
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn tokctl serve");
        let stderr = child.stderr.take().expect("stderr");
        let lines = Arc::new(Mutex::new(Vec::new()));
        let (tx, rx) = std::sync::mpsc::channel();
        let sink = lines.clone();
        std::thread::spawn(move || {
            let show = std::env::var_os("TOKCTL_TEST_LOG").is_some();
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if show {
                    eprintln!("[tokctl] {line}");
                }
                let _ = tx.send(line.clone());
                sink.lock().expect("lock").push(line);
            }
        });
        let deadline = Instant::now() + Duration::from_secs(20);
        let mut key = None;
        let mut next_is_key = false;
        let addr = loop {
            let line = rx
                .recv_timeout(deadline.saturating_duration_since(Instant::now()))
                .unwrap_or_else(|_| {
                    panic!(
                        "tokctl serve did not report its address; stderr: {:?}",
                        lines.lock()
                    )
                });
            if next_is_key {
                key = Some(line.trim().to_string());
                next_is_key = false;
            }
            if line.contains("created user `admin`") {
                next_is_key = true;
            }
            if let Some(rest) = line.split("listening on ").nth(1) {
                break rest.trim().to_string();
            }
        };
        Gateway {
            addr,
            key,
            child,
            _dir: dir,
            stderr_lines: lines,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// SIGTERM, then wait for a clean exit; returns the exit status code.
    pub fn stop(mut self) -> (i32, Vec<String>) {
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(self.child.id().to_string())
            .status();
        let deadline = Instant::now() + Duration::from_secs(30);
        let code = loop {
            if let Some(s) = self.child.try_wait().expect("wait") {
                break s.code().unwrap_or(-1);
            }
            if Instant::now() > deadline {
                let _ = self.child.kill();
                panic!("tokctl serve did not stop within 30 s of SIGTERM");
            }
            std::thread::sleep(Duration::from_millis(50));
        };
        std::thread::sleep(Duration::from_millis(100));
        let lines = self.stderr_lines.lock().expect("lock").clone();
        (code, lines)
    }
}

impl Gateway {
    /// kill -9, and keep the run directory for a restart.
    pub fn kill9(mut self) -> tempfile::TempDir {
        let _ = self.child.kill();
        let _ = self.child.wait();
        std::mem::replace(&mut self._dir, tempfile::tempdir().expect("temp dir"))
    }

    /// SIGTERM, then keep the run directory (for `tokctl ledger verify`).
    pub fn stop_keep_dir(mut self) -> tempfile::TempDir {
        let dir = std::mem::replace(&mut self._dir, tempfile::tempdir().expect("temp dir"));
        let (code, lines) = self.stop();
        assert_eq!(code, 0, "serve exited {code}: {lines:?}");
        dir
    }
}

impl Drop for Gateway {
    fn drop(&mut self) {
        let _ = self.child.kill();
    }
}

/// What the upstream test server answers and what it received.
#[derive(Clone, Default)]
pub struct Upstream {
    pub received: Arc<Mutex<Vec<(HeaderMap, Bytes)>>>,
    /// Status codes to answer before the normal answer (for retry tests).
    pub fail_first: Arc<Mutex<Vec<u16>>>,
    /// Whether streamed answers include a usage chunk when asked.
    pub stream_usage: bool,
    pub delay: Duration,
}

/// Starts an OpenAI-compatible upstream on a free port; returns its base URL (…/v1).
pub async fn start_upstream(up: Upstream) -> String {
    let app = Router::new()
        .route("/v1/chat/completions", post(chat))
        .with_state(up);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind upstream");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    format!("http://{addr}/v1")
}

async fn chat(State(up): State<Upstream>, headers: HeaderMap, body: Bytes) -> Response {
    up.received
        .lock()
        .expect("lock")
        .push((headers, body.clone()));
    if let Some(code) = {
        let mut f = up.fail_first.lock().expect("lock");
        if f.is_empty() {
            None
        } else {
            Some(f.remove(0))
        }
    } {
        return (
            StatusCode::from_u16(code).expect("status"),
            "{\"error\":{\"message\":\"try later\"}}",
        )
            .into_response();
    }
    if !up.delay.is_zero() {
        tokio::time::sleep(up.delay).await;
    }
    let v: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
    let model = v["model"].as_str().unwrap_or("").to_string();
    let mut resp = if v["stream"].as_bool() == Some(true) {
        let mut s = String::new();
        for w in ["Hello", " there", " friend"] {
            s.push_str(&format!(
                "data: {{\"id\":\"c1\",\"object\":\"chat.completion.chunk\",\"model\":\"{model}\",\"choices\":[{{\"index\":0,\"delta\":{{\"content\":\"{w}\"}},\"finish_reason\":null}}]}}\n\n"
            ));
        }
        if up.stream_usage && v["stream_options"]["include_usage"].as_bool() == Some(true) {
            s.push_str("data: {\"id\":\"c1\",\"object\":\"chat.completion.chunk\",\"choices\":[],\"usage\":{\"prompt_tokens\":30,\"completion_tokens\":3,\"prompt_tokens_details\":{\"cached_tokens\":10}}}\n\n");
        }
        s.push_str("data: [DONE]\n\n");
        ([("content-type", "text/event-stream")], s).into_response()
    } else {
        let b = format!(
            "{{\"id\":\"c1\",\"object\":\"chat.completion\",\"model\":\"{model}\",\"choices\":[{{\"index\":0,\"message\":{{\"role\":\"assistant\",\"content\":\"hi\"}},\"finish_reason\":\"stop\"}}],\"usage\":{{\"prompt_tokens\":100,\"completion_tokens\":50,\"prompt_tokens_details\":{{\"cached_tokens\":40}},\"completion_tokens_details\":{{\"reasoning_tokens\":20}}}}}}"
        );
        ([("content-type", "application/json")], b).into_response()
    };
    resp.headers_mut()
        .insert("x-request-id", "upstream-req-1".parse().expect("header"));
    resp
}
