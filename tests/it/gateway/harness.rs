//! Starting the real `tokctl serve` on a free port against a given ledger
//! DSN, an upstream test server that records what it receives, and reading
//! the ledger back.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use futures_util::StreamExt;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::api_upstream as api;

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
        Self::launch(dir, dsn, dsn, extra, env)
    }

    /// Like [`Gateway::start_in`], running the binary at `program` (e.g.
    /// the previous release, for the rolling-upgrade tests).
    pub fn start_program(
        program: &std::path::Path,
        dir: tempfile::TempDir,
        dsn: &str,
        extra: &str,
        env: &[(&str, &str)],
    ) -> Gateway {
        Self::launch_program(program.as_os_str(), dir, dsn, dsn, extra, env)
    }

    /// Like [`Gateway::start_with_env`], with the ledger and the identity
    /// database apart (e.g. identity on a PostgreSQL the test stops).
    pub fn start_split(
        ledger_dsn: &str,
        identity_dsn: &str,
        extra: &str,
        env: &[(&str, &str)],
    ) -> Gateway {
        let dir = tempfile::tempdir().expect("temp dir");
        Self::launch(dir, ledger_dsn, identity_dsn, extra, env)
    }

    /// Like [`Gateway::start_with_env`] in `dir`, with a tmpfs of `size`
    /// (e.g. "1m") mounted on `mount` in a private mount namespace of the
    /// gateway's own (`unshare -m`, needs root): a small disk that fills
    /// up, seen by this process only and gone with it.
    pub fn start_on_tmpfs(
        dir: tempfile::TempDir,
        dsn: &str,
        extra: &str,
        env: &[(&str, &str)],
        mount: &std::path::Path,
        size: &str,
    ) -> Gateway {
        std::fs::create_dir_all(mount).expect("create the mount point");
        let script = format!(
            "mount -t tmpfs -o size={size} tmpfs '{}' && exec \"$0\" \"$@\"",
            mount.display()
        );
        let wrap = ["-m", "sh", "-c", script.as_str()].map(std::ffi::OsString::from);
        let program = std::ffi::OsStr::new(env!("CARGO_BIN_EXE_tokctl"));
        Self::launch_wrapped(Some(&wrap), program, dir, dsn, dsn, extra, env)
    }

    fn launch(
        dir: tempfile::TempDir,
        dsn: &str,
        identity_dsn: &str,
        extra: &str,
        env: &[(&str, &str)],
    ) -> Gateway {
        let program = std::ffi::OsStr::new(env!("CARGO_BIN_EXE_tokctl"));
        Self::launch_program(program, dir, dsn, identity_dsn, extra, env)
    }

    fn launch_program(
        program: &std::ffi::OsStr,
        dir: tempfile::TempDir,
        dsn: &str,
        identity_dsn: &str,
        extra: &str,
        env: &[(&str, &str)],
    ) -> Gateway {
        Self::launch_wrapped(None, program, dir, dsn, identity_dsn, extra, env)
    }

    /// Starts `program serve`, under `unshare WRAP… program` when `wrap` is given.
    fn launch_wrapped(
        wrap: Option<&[std::ffi::OsString]>,
        program: &std::ffi::OsStr,
        dir: tempfile::TempDir,
        dsn: &str,
        identity_dsn: &str,
        extra: &str,
        env: &[(&str, &str)],
    ) -> Gateway {
        let config = format!(
            "[server]\nlisten = \"127.0.0.1:0\"\nshutdown_timeout_ms = 5000\n\
             [ledger]\npath = \"{dsn}\"\ndead_letter_path = \"{dl}\"\n\
             [identity]\npath = \"{identity_dsn}\"\n{extra}\n",
            dl = dir.path().join("dead.jsonl").display()
        );
        let cfg_path = dir.path().join("config.toml");
        std::fs::write(&cfg_path, config).expect("write config");
        let mut cmd = match wrap {
            Some(w) => {
                let mut c = Command::new("unshare");
                c.args(w).arg(program);
                c
            }
            None => Command::new(program),
        };
        let mut child = cmd
            .arg("--config")
            .arg(&cfg_path)
            .arg("serve")
            .current_dir(dir.path())
            .env_remove("TOKCTL_CONFIG")
            // A ping over 100 ms (the default bound) is "degraded": on a
            // busy test machine that judged load, not the outage or the
            // state a test asks about. A test's own env still wins.
            .env("TOKCTL_HEALTH_MAX_DB_LATENCY_MS", "2000")
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
    /// Pause before each streamed event, each then sent in a write of its
    /// own; zero sends a whole stream in one write.
    pub chunk_interval: Duration,
    /// Words in a streamed chat answer; zero means "Hello there friend".
    pub stream_words: usize,
    /// Streamed events handed to the connection so far: stops growing once
    /// the gateway lets go of the upstream stream.
    pub events_sent: Arc<AtomicUsize>,
    /// Refuse (400, in the API's shape) what the real API would refuse,
    /// and answer requests that offer tools with a tool call
    /// (`super::api_upstream`).
    pub validate: bool,
}

/// The usage the Anthropic upstream reports: input excludes the cache
/// reads and writes, as Anthropic counts.
pub const ANTHROPIC_INPUT: i64 = 25;
pub const ANTHROPIC_CACHE_READ: i64 = 100;
pub const ANTHROPIC_CACHE_WRITE: i64 = 5;
/// Output of a plain answer, and the final (cumulative) output of a stream.
pub const ANTHROPIC_OUTPUT: i64 = 12;
pub const ANTHROPIC_STREAM_OUTPUT: i64 = 15;
/// The Anthropic upstream's `request-id` header.
pub const ANTHROPIC_REQUEST_ID: &str = "req_anthropic_1";

/// Starts an upstream that speaks OpenAI's `/chat/completions` and
/// Anthropic's `/messages`; returns its base URL (…/v1).
pub async fn start_upstream(up: Upstream) -> String {
    start_upstream_at(up, "127.0.0.1:0").await
}

/// Like [`start_upstream`], on a given address (e.g. a port found free
/// before, for an upstream that comes up late).
pub async fn start_upstream_at(up: Upstream, addr: &str) -> String {
    let app = Router::new()
        .route("/v1/chat/completions", post(chat))
        .route("/v1/messages", post(messages))
        .route("/v1/messages/count_tokens", post(count_tokens))
        .with_state(up);
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .expect("bind upstream");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    format!("http://{addr}/v1")
}

/// Records the request; answers the next queued failure status, if any.
async fn receive(up: &Upstream, headers: HeaderMap, body: &Bytes) -> Option<Response> {
    up.received
        .lock()
        .expect("lock")
        .push((headers, body.clone()));
    let code = {
        let mut f = up.fail_first.lock().expect("lock");
        (!f.is_empty()).then(|| f.remove(0))
    }?;
    Some(
        (
            StatusCode::from_u16(code).expect("status"),
            "{\"error\":{\"message\":\"try later\"}}",
        )
            .into_response(),
    )
}

/// A server-sent-event body: one write for all events, or one per event
/// after `up.chunk_interval`, counting what was handed over.
fn sse(up: &Upstream, events: Vec<String>) -> Response {
    let counter = up.events_sent.clone();
    let body = if up.chunk_interval.is_zero() {
        counter.fetch_add(events.len(), Ordering::SeqCst);
        Body::from(events.concat())
    } else {
        let interval = up.chunk_interval;
        Body::from_stream(futures_util::stream::iter(events).then(move |e| {
            let counter = counter.clone();
            async move {
                tokio::time::sleep(interval).await;
                counter.fetch_add(1, Ordering::SeqCst);
                Ok::<_, std::convert::Infallible>(e)
            }
        }))
    };
    ([("content-type", "text/event-stream")], body).into_response()
}

/// A tool call answered: a stream's events, or a whole JSON body.
fn tool_answer(up: &Upstream, answer: Result<Vec<String>, serde_json::Value>) -> Response {
    match answer {
        Ok(events) => sse(up, events),
        Err(whole) => ([("content-type", "application/json")], whole.to_string()).into_response(),
    }
}

async fn chat(State(up): State<Upstream>, headers: HeaderMap, body: Bytes) -> Response {
    if let Some(failed) = receive(&up, headers, &body).await {
        return failed;
    }
    if !up.delay.is_zero() {
        tokio::time::sleep(up.delay).await;
    }
    let v: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
    let model = v["model"].as_str().unwrap_or("").to_string();
    if up.validate {
        if let Err(why) = api::check_chat(&v) {
            return api::chat_refusal(&why);
        }
        if let Some(answer) = api::chat_tool_call(&v, &model) {
            return tool_answer(&up, answer);
        }
    }
    let mut resp = if v["stream"].as_bool() == Some(true) {
        let words: Vec<String> = if up.stream_words == 0 {
            ["Hello", " there", " friend"].map(String::from).to_vec()
        } else {
            (0..up.stream_words)
                .map(|i| format!(" word{i:02}"))
                .collect()
        };
        let mut events: Vec<String> = words
            .iter()
            .map(|w| format!(
                "data: {{\"id\":\"c1\",\"object\":\"chat.completion.chunk\",\"model\":\"{model}\",\"choices\":[{{\"index\":0,\"delta\":{{\"content\":\"{w}\"}},\"finish_reason\":null}}]}}\n\n"
            ))
            .collect();
        if up.stream_usage && v["stream_options"]["include_usage"].as_bool() == Some(true) {
            events.push("data: {\"id\":\"c1\",\"object\":\"chat.completion.chunk\",\"choices\":[],\"usage\":{\"prompt_tokens\":30,\"completion_tokens\":3,\"prompt_tokens_details\":{\"cached_tokens\":10}}}\n\n".into());
        }
        events.push("data: [DONE]\n\n".into());
        sse(&up, events)
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

/// Anthropic's token count: [`api::UPSTREAM_COUNT`] for any body with
/// `model` and `messages` (not recorded: it is no completion).
async fn count_tokens(body: Bytes) -> Response {
    let v: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
    if !v["model"].is_string() || !v["messages"].is_array() {
        return api::messages_refusal("model and messages: Field required");
    }
    axum::Json(serde_json::json!({"input_tokens": api::UPSTREAM_COUNT})).into_response()
}

/// Anthropic's Messages API: a whole message, or its event stream
/// (message_start with the input and cache usage, text deltas,
/// message_delta with the final output count, message_stop).
async fn messages(State(up): State<Upstream>, headers: HeaderMap, body: Bytes) -> Response {
    if let Some(failed) = receive(&up, headers, &body).await {
        return failed;
    }
    let v: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
    let model = v["model"].as_str().unwrap_or("").to_string();
    if up.validate {
        if let Err(why) = api::check_messages(&v) {
            return api::messages_refusal(&why);
        }
        if let Some(answer) = api::messages_tool_call(&v, &model) {
            return tool_answer(&up, answer);
        }
    }
    let mut resp = if v["stream"].as_bool() == Some(true) {
        sse(&up, anthropic_events(&model))
    } else {
        let b = serde_json::json!({
            "id": "msg_1", "type": "message", "role": "assistant", "model": model,
            "content": [{"type": "text", "text": "Hello from Claude"}],
            "stop_reason": "end_turn", "stop_sequence": null,
            "usage": anthropic_usage(ANTHROPIC_OUTPUT),
        });
        ([("content-type", "application/json")], b.to_string()).into_response()
    };
    resp.headers_mut()
        .insert("request-id", ANTHROPIC_REQUEST_ID.parse().expect("header"));
    resp
}

fn anthropic_usage(output: i64) -> serde_json::Value {
    serde_json::json!({
        "input_tokens": ANTHROPIC_INPUT,
        "cache_creation_input_tokens": ANTHROPIC_CACHE_WRITE,
        "cache_read_input_tokens": ANTHROPIC_CACHE_READ,
        "output_tokens": output,
    })
}

/// The events of the Anthropic upstream's stream, as sent (tests compare
/// what the client got with their concatenation).
pub fn anthropic_events(model: &str) -> Vec<String> {
    let event = |name: &str, data: serde_json::Value| format!("event: {name}\ndata: {data}\n\n");
    let mut events = vec![
        event(
            "message_start",
            serde_json::json!({"type": "message_start", "message": {
                "id": "msg_1", "type": "message", "role": "assistant", "model": model,
                "content": [], "stop_reason": null, "stop_sequence": null,
                "usage": anthropic_usage(1)}}),
        ),
        event(
            "content_block_start",
            serde_json::json!({"type": "content_block_start", "index": 0,
                "content_block": {"type": "text", "text": ""}}),
        ),
        event("ping", serde_json::json!({"type": "ping"})),
    ];
    for w in ["Hello", " from", " Claude"] {
        events.push(event(
            "content_block_delta",
            serde_json::json!({"type": "content_block_delta", "index": 0,
                "delta": {"type": "text_delta", "text": w}}),
        ));
    }
    events.push(event(
        "content_block_stop",
        serde_json::json!({"type": "content_block_stop", "index": 0}),
    ));
    events.push(event(
        "message_delta",
        serde_json::json!({"type": "message_delta",
            "delta": {"stop_reason": "end_turn", "stop_sequence": null},
            "usage": {"output_tokens": ANTHROPIC_STREAM_OUTPUT}}),
    ));
    events.push(event(
        "message_stop",
        serde_json::json!({"type": "message_stop"}),
    ));
    events
}

/// What a [`start_raw_upstream`] server does once it has read a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Hangup {
    /// Resets the connection (`SO_LINGER` 0, then close: an RST).
    Reset,
    /// Closes it cleanly (FIN) without a byte of an answer.
    Close,
    /// Answers 200 with a chat completion, keeps the connection open (a
    /// keep-alive connection the client pools) for the given time, then
    /// closes it, as servers close idle connections.
    AnswerThenClose(Duration),
}

/// The whole answer [`Hangup::AnswerThenClose`] writes.
const RAW_ANSWER_BODY: &str = "{\"id\":\"c1\",\"object\":\"chat.completion\",\"choices\":[{\"index\":0,\"message\":{\"role\":\"assistant\",\"content\":\"hi\"},\"finish_reason\":\"stop\"}],\"usage\":{\"prompt_tokens\":3,\"completion_tokens\":1}}";

/// Starts an upstream over a bare socket that reads each request in full,
/// counts it (POSTs only: the provider probe's `GET …/models` is not a
/// completion), and then does what `hangup` says (one request per
/// connection); returns its base URL (…/v1), the count of requests and the
/// count of connections accepted. Hanging up stands for an upstream that
/// got the request (and may bill it) and then died.
pub async fn start_raw_upstream(hangup: Hangup) -> (String, Arc<AtomicUsize>, Arc<AtomicUsize>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind raw upstream");
    let addr = listener.local_addr().expect("addr");
    let count = Arc::new(AtomicUsize::new(0));
    let connections = Arc::new(AtomicUsize::new(0));
    let seen = count.clone();
    let accepted = connections.clone();
    tokio::spawn(async move {
        while let Ok((mut sock, _)) = listener.accept().await {
            accepted.fetch_add(1, Ordering::SeqCst);
            let seen = seen.clone();
            tokio::spawn(async move {
                if read_request(&mut sock).await {
                    seen.fetch_add(1, Ordering::SeqCst);
                }
                match hangup {
                    Hangup::Reset => {
                        let _ = sock.set_zero_linger();
                    }
                    Hangup::Close => {
                        let _ = sock.shutdown().await;
                    }
                    Hangup::AnswerThenClose(idle) => {
                        let answer = format!(
                            "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{RAW_ANSWER_BODY}",
                            RAW_ANSWER_BODY.len()
                        );
                        let _ = sock.write_all(answer.as_bytes()).await;
                        tokio::time::sleep(idle).await;
                        let _ = sock.shutdown().await;
                    }
                }
                drop(sock);
            });
        }
    });
    (format!("http://{addr}/v1"), count, connections)
}

/// Reads one HTTP/1.1 request (head, then `content-length` bytes of body);
/// false when the peer went away first, or when it was not a POST.
async fn read_request(sock: &mut tokio::net::TcpStream) -> bool {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&buf[..end]).to_ascii_lowercase();
            let len: usize = head
                .lines()
                .find_map(|l| l.strip_prefix("content-length:"))
                .and_then(|v| v.trim().parse().ok())
                .unwrap_or(0);
            if buf.len() >= end + 4 + len {
                return head.starts_with("post ");
            }
        }
        match sock.read(&mut chunk).await {
            Ok(0) | Err(_) => return false,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    }
}
