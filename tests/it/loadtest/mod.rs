//! `tokctl loadtest` against upstream servers the tests start on port 0:
//! exact counts, latency consistent with a known delay, status codes, a
//! sweep, the open-loop correction, Ctrl-C, thresholds and bad input.

mod defaults;
mod lag;
mod output;
mod stream;
mod tls;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::post;

use crate::support::Tokctl;

/// How the test upstream answers.
#[derive(Clone, Default)]
struct Behaviour {
    delay: Duration,
    /// Every n-th request (1-based) answers 500.
    fail_every: Option<u64>,
    /// Request number that starts a stall: every request arriving in the next second waits for its end.
    stall_at: Option<u64>,
    stream: bool,
    /// Streamed answers: send each event as its own chunk (chunked transfer
    /// encoding), this long after the previous one.
    pace: Option<Duration>,
    /// Headers every request must carry, else 401.
    require: Vec<(&'static str, &'static str)>,
    /// Streamed answers: a role-only first event (OpenAI's usual opening,
    /// no content) sent at once, before the paced content events.
    role_first: bool,
    /// Streamed answers: no content events at all (role-only, then usage).
    no_content: bool,
    /// Every n-th request (1-based) waits this much longer.
    slow_every: Option<(u64, Duration)>,
    /// Requests after this many are never answered.
    hang_after: Option<u64>,
}

#[derive(Clone)]
struct Up {
    b: Behaviour,
    count: Arc<AtomicU64>,
    stall_until: Arc<std::sync::Mutex<Option<tokio::time::Instant>>>,
    /// The headers of the latest request.
    last_headers: Arc<std::sync::Mutex<Option<axum::http::HeaderMap>>>,
}

/// Starts the upstream on its own runtime thread; returns its URL and the request counter.
fn upstream(b: Behaviour) -> (String, Arc<AtomicU64>) {
    let (url, count, _) = upstream_seen(b);
    (url, count)
}

type Seen = Arc<std::sync::Mutex<Option<axum::http::HeaderMap>>>;

/// [`upstream`], also returning where the latest request's headers are kept.
fn upstream_seen(b: Behaviour) -> (String, Arc<AtomicU64>, Seen) {
    let count = Arc::new(AtomicU64::new(0));
    let seen = Seen::default();
    let up = Up {
        b,
        count: count.clone(),
        stall_until: Arc::default(),
        last_headers: seen.clone(),
    };
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("test upstream runtime");
        rt.block_on(async move {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
                .await
                .expect("bind the test upstream");
            let addr = listener.local_addr().expect("upstream address");
            tx.send(addr).expect("send the upstream address");
            let app = Router::new()
                .route("/v1/chat/completions", post(answer))
                .with_state(up);
            let _ = axum::serve(listener, app).await;
        });
    });
    let addr = rx.recv().expect("upstream address");
    (format!("http://{addr}/v1/chat/completions"), count, seen)
}

async fn answer(State(up): State<Up>, headers: axum::http::HeaderMap) -> Response {
    if up
        .b
        .require
        .iter()
        .any(|(k, v)| headers.get(*k).is_none_or(|h| h != v))
    {
        return (StatusCode::UNAUTHORIZED, "{}").into_response();
    }
    *up.last_headers.lock().expect("lock") = Some(headers.clone());
    let n = up.count.fetch_add(1, Ordering::SeqCst) + 1;
    if up.b.hang_after.is_some_and(|h| n > h) {
        tokio::time::sleep(Duration::from_secs(3600)).await;
    }
    if let Some((k, extra)) = up.b.slow_every
        && n % k == 0
    {
        tokio::time::sleep(extra).await;
    }
    if up.b.stall_at == Some(n) {
        *up.stall_until.lock().expect("lock") =
            Some(tokio::time::Instant::now() + Duration::from_secs(1));
    }
    let until = *up.stall_until.lock().expect("lock");
    if let Some(u) = until {
        tokio::time::sleep_until(u).await;
    }
    if !up.b.delay.is_zero() {
        tokio::time::sleep(up.b.delay).await;
    }
    if up.b.fail_every.is_some_and(|k| n % k == 0) {
        return (
            StatusCode::INTERNAL_SERVER_ERROR,
            "{\"error\":{\"message\":\"boom\"}}",
        )
            .into_response();
    }
    if up.b.stream
        && let Some(pace) = up.b.pace
    {
        use futures_util::StreamExt as _;
        let words: &[&str] = if up.b.no_content {
            &[]
        } else {
            &["a", "b", "c", "d"]
        };
        let mut events: Vec<(String, Duration)> = Vec::new();
        if up.b.role_first || up.b.no_content {
            events.push((
                "data: {\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":\"\"}}]}\n\n".into(),
                Duration::ZERO,
            ));
        }
        for w in words {
            events.push((
                format!(
                    "data: {{\"choices\":[{{\"index\":0,\"delta\":{{\"content\":\"{w}\"}}}}]}}\n\n"
                ),
                pace,
            ));
        }
        events.push(("data: {\"choices\":[],\"usage\":{\"prompt_tokens\":5,\"completion_tokens\":9}}\n\ndata: [DONE]\n\n".into(), pace));
        let paced = futures_util::stream::iter(events).then(|(e, wait)| async move {
            tokio::time::sleep(wait).await;
            Ok::<_, std::io::Error>(e)
        });
        return (
            [("content-type", "text/event-stream")],
            axum::body::Body::from_stream(paced),
        )
            .into_response();
    }
    if up.b.stream {
        let mut s = String::new();
        for w in ["a", "b", "c", "d"] {
            s.push_str(&format!(
                "data: {{\"choices\":[{{\"index\":0,\"delta\":{{\"content\":\"{w}\"}}}}]}}\n\n"
            ));
        }
        s.push_str("data: {\"choices\":[],\"usage\":{\"prompt_tokens\":5,\"completion_tokens\":9}}\n\ndata: [DONE]\n\n");
        return ([("content-type", "text/event-stream")], s).into_response();
    }
    (
        [("content-type", "application/json")],
        "{\"choices\":[],\"usage\":{\"completion_tokens\":1}}",
    )
        .into_response()
}

/// Runs `tokctl loadtest <args> --json` and returns the parsed runs.
fn json_runs(args: &[&str]) -> Vec<serde_json::Value> {
    let mut all = vec!["loadtest"];
    all.extend_from_slice(args);
    all.push("--json");
    let out = Tokctl::new().run(&all);
    assert_eq!(out.code, 0, "stderr: {}", out.stderr);
    let v: serde_json::Value = serde_json::from_str(&out.stdout).expect("--json prints JSON");
    assert_eq!(v["version"], 1);
    v["runs"].as_array().expect("runs array").clone()
}

#[test]
fn request_count_is_exact() {
    let (url, count) = upstream(Behaviour::default());
    let runs = json_runs(&[&url, "-c", "4", "-n", "137"]);
    assert_eq!(runs.len(), 1);
    assert_eq!(runs[0]["requests"], 137);
    assert_eq!(runs[0]["successes"], 137);
    assert_eq!(
        count.load(Ordering::SeqCst),
        137,
        "the upstream saw exactly 137 requests"
    );
}

#[test]
fn percentiles_follow_a_known_upstream_delay() {
    let (url, _) = upstream(Behaviour {
        delay: Duration::from_millis(20),
        ..Default::default()
    });
    let runs = json_runs(&[&url, "-c", "2", "-n", "40"]);
    let l = &runs[0]["latency_ms"];
    let p50 = l["p50"].as_f64().expect("p50");
    assert!(
        (20.0..40.0).contains(&p50),
        "p50 {p50} ms for a 20 ms upstream"
    );
    assert!(l["max"].as_f64().expect("max") >= p50);
    assert!(l["p99"].as_f64().expect("p99") >= 20.0);
}

#[test]
fn status_codes_are_counted() {
    let (url, _) = upstream(Behaviour {
        fail_every: Some(4),
        ..Default::default()
    });
    let runs = json_runs(&[&url, "-c", "1", "-n", "40"]);
    let r = &runs[0];
    assert_eq!(r["status_codes"]["200"], 30);
    assert_eq!(r["status_codes"]["500"], 10);
    assert_eq!(r["failures"], 10);
    assert_eq!(r["successes"], 30);
}

#[test]
fn a_sweep_gives_one_row_per_level() {
    let (url, count) = upstream(Behaviour::default());
    let runs = json_runs(&[&url, "-c", "1,2,3", "-n", "10"]);
    let levels: Vec<u64> = runs
        .iter()
        .map(|r| r["concurrency"].as_u64().expect("concurrency"))
        .collect();
    assert_eq!(levels, vec![1, 2, 3]);
    assert!(runs.iter().all(|r| r["requests"] == 10));
    assert_eq!(count.load(Ordering::SeqCst), 30);
}

#[test]
fn open_loop_shows_a_stall_that_closed_loop_hides() {
    let (url, _) = upstream(Behaviour {
        stall_at: Some(50),
        ..Default::default()
    });
    let runs = json_runs(&[&url, "--rate", "100", "-c", "4", "-d", "2500ms"]);
    let r = &runs[0];
    assert_eq!(r["mode"], "open");
    let p99 = r["latency_ms"]["p99"].as_f64().expect("p99");
    let service_p50 = r["open_loop"]["service_time_ms"]["p50"]
        .as_f64()
        .expect("service p50");
    let behind_max = r["open_loop"]["behind_ms"]["max"]
        .as_f64()
        .expect("behind max");
    assert!(
        p99 >= 800.0,
        "open-loop p99 {p99} ms must show the 1 s stall"
    );
    assert!(
        service_p50 < 50.0,
        "service time p50 {service_p50} ms stays small"
    );
    assert!(
        behind_max >= 500.0,
        "the generator fell behind during the stall: {behind_max} ms"
    );
    // The same stall in a closed loop: only the few requests in flight wait
    // and nothing is sent meanwhile, so p99 hides it (coordinated omission).
    let (url, _) = upstream(Behaviour {
        stall_at: Some(50),
        ..Default::default()
    });
    let closed = json_runs(&[&url, "-c", "4", "-d", "2500ms"]);
    let closed_p99 = closed[0]["latency_ms"]["p99"].as_f64().expect("p99");
    let closed_max = closed[0]["latency_ms"]["max"].as_f64().expect("max");
    assert!(
        closed_max >= 800.0,
        "the stalled requests are there: max {closed_max} ms"
    );
    assert!(
        closed_p99 < 300.0,
        "closed-loop p99 {closed_p99} ms hides the stall (open loop: {p99} ms)"
    );
}

/// Runs `loadtest <args>`, sends it SIGINT after `after`, and returns its
/// single level from the partial JSON, checking that it stopped promptly.
fn interrupt(args: &[&str], after: Duration) -> serde_json::Value {
    let t = Tokctl::new();
    let mut all = vec!["loadtest"];
    all.extend_from_slice(args);
    all.push("--json");
    let child = t.spawn(&all);
    std::thread::sleep(after);
    let started = Instant::now();
    let status = std::process::Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .expect("run kill");
    assert!(status.success());
    let out = crate::support::bin::wait(child, &all);
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "Ctrl-C ends the run promptly"
    );
    assert_eq!(out.code, 0, "stderr: {}", out.stderr);
    assert!(out.stderr.contains("interrupted"), "stderr: {}", out.stderr);
    let v: serde_json::Value = serde_json::from_str(&out.stdout).expect("partial JSON");
    let r = v["runs"][0].clone();
    assert_eq!(r["interrupted"], true);
    assert!(r["duration_s"].as_f64().expect("duration") < 5.0);
    r
}

#[test]
fn ctrl_c_prints_a_partial_report() {
    // 40 answers, then the upstream stops answering: at Ctrl-C both
    // connections hold a request, which the report must show.
    let (url, count) = upstream(Behaviour {
        delay: Duration::from_millis(5),
        hang_after: Some(40),
        ..Default::default()
    });
    let r = interrupt(&[&url, "-c", "2", "-d", "30s"], Duration::from_millis(1500));
    assert_eq!(r["requests"], 40, "{r}");
    assert_eq!(count.load(Ordering::SeqCst), 42);
    assert_eq!(r["interrupted_requests"], 2, "the two in flight: {r}");
}

#[test]
fn ctrl_c_in_open_loop_shows_the_requests_a_stall_held_back() {
    // At 100/s for ~1.5 s about 150 requests were due; 20 were answered,
    // two hang on the connections and the rest were never sent.
    let (url, count) = upstream(Behaviour {
        hang_after: Some(20),
        ..Default::default()
    });
    let r = interrupt(
        &[&url, "--rate", "100", "-c", "2", "-d", "30s"],
        Duration::from_millis(1500),
    );
    assert_eq!(r["requests"], 20, "{r}");
    assert_eq!(count.load(Ordering::SeqCst), 22);
    let owed = r["interrupted_requests"]
        .as_u64()
        .expect("interrupted_requests");
    assert!(
        (100..=200).contains(&owed),
        "due and unanswered at Ctrl-C: {r}"
    );
}

#[test]
fn open_loop_counts_due_requests_a_stall_kept_past_the_end() {
    // 2 s at 100/s is 200 due requests; 20 answered, 2 time out, and the
    // other 178 were due while both connections were stuck.
    let (url, _) = upstream(Behaviour {
        hang_after: Some(20),
        ..Default::default()
    });
    let runs = json_runs(&[
        &url,
        "--rate",
        "100",
        "-c",
        "2",
        "-d",
        "2s",
        "--timeout",
        "2500ms",
    ]);
    let r = &runs[0];
    assert_eq!(r["successes"], 20, "{r}");
    assert_eq!(r["errors"]["timeout"], 2, "{r}");
    assert_eq!(r["interrupted"], false);
    assert_eq!(r["interrupted_requests"], 178, "{r}");
    // A healthy open-loop run: every one of the 100 due requests is
    // accounted for, and (barring a hiccup of the test machine) all answered.
    let (url, _) = upstream(Behaviour::default());
    let runs = json_runs(&[&url, "--rate", "100", "-c", "2", "-d", "1s"]);
    let (answered, owed) = (
        runs[0]["requests"].as_u64().expect("requests"),
        runs[0]["interrupted_requests"]
            .as_u64()
            .expect("interrupted"),
    );
    assert_eq!(answered + owed, 100, "{}", runs[0]);
    assert!(owed <= 5, "{}", runs[0]);
}

#[test]
fn fail_on_exits_1_when_a_threshold_is_crossed() {
    let (url, _) = upstream(Behaviour {
        delay: Duration::from_millis(10),
        ..Default::default()
    });
    let out = Tokctl::new().run(&[
        "loadtest",
        &url,
        "-c",
        "1",
        "-n",
        "10",
        "--fail-on",
        "p99>1ms",
    ]);
    assert_eq!(out.code, 1, "stderr: {}", out.stderr);
    assert!(
        out.stderr.contains("threshold crossed: p99>1ms"),
        "stderr: {}",
        out.stderr
    );
    assert!(
        out.stdout.contains("p99.9"),
        "the report is still printed: {}",
        out.stdout
    );
    let ok = Tokctl::new().run(&[
        "loadtest",
        &url,
        "-c",
        "1",
        "-n",
        "10",
        "--fail-on",
        "p99>10s,errors>0.1%",
    ]);
    assert_eq!(ok.code, 0, "stderr: {}", ok.stderr);
}

#[test]
fn bad_input_is_one_clear_line() {
    let t = Tokctl::new();
    let body = t.dir().join("body.txt");
    std::fs::write(&body, "not json").expect("write body file");
    let (url, _) = upstream(Behaviour::default());
    let out = t.run(&[
        "loadtest",
        &url,
        "--body-file",
        body.to_str().expect("utf-8 path"),
        "-n",
        "1",
    ]);
    assert_eq!(out.code, 2);
    assert_eq!(out.stderr.lines().count(), 1, "{}", out.stderr);
    assert!(
        out.stderr.contains("body.txt is not JSON"),
        "{}",
        out.stderr
    );

    let port = crate::support::free_port();
    let out = t.run(&[
        "loadtest",
        &format!("http://127.0.0.1:{port}/v1/chat/completions"),
        "-n",
        "1",
    ]);
    assert_eq!(out.code, 1);
    assert_eq!(out.stderr.lines().count(), 1, "{}", out.stderr);
    assert!(out.stderr.contains("unreachable"), "{}", out.stderr);

    let out = t.run(&["loadtest", "not a url", "-n", "1"]);
    assert_eq!(out.code, 2);
    assert!(out.stderr.contains("bad target URL"), "{}", out.stderr);
}

#[test]
fn api_key_from_env_and_extra_headers_are_sent() {
    let (url, _) = upstream(Behaviour {
        require: vec![("authorization", "Bearer sekret"), ("x-tenant", "t1")],
        ..Default::default()
    });
    let out = Tokctl::new().env("TOKCTL_API_KEY", "sekret").run(&[
        "loadtest",
        &url,
        "-n",
        "5",
        "-c",
        "1",
        "-H",
        "X-Tenant: t1",
        "--json",
    ]);
    assert_eq!(out.code, 0, "stderr: {}", out.stderr);
    let v: serde_json::Value = serde_json::from_str(&out.stdout).expect("JSON");
    assert_eq!(v["runs"][0]["status_codes"]["200"], 5, "{v}");

    let out = Tokctl::new().run(&["loadtest", &url, "-n", "5", "-c", "1", "--json"]);
    let v: serde_json::Value = serde_json::from_str(&out.stdout).expect("JSON");
    assert_eq!(
        v["runs"][0]["status_codes"]["401"], 5,
        "no key, no header: {v}"
    );
}

#[test]
fn repeated_headers_are_all_sent() {
    let (url, _, seen) = upstream_seen(Behaviour::default());
    let out = Tokctl::new().run(&[
        "loadtest",
        &url,
        "-n",
        "1",
        "-c",
        "1",
        "-H",
        "X-Tag: one",
        "-H",
        "x-tag: two",
    ]);
    assert_eq!(out.code, 0, "stderr: {}", out.stderr);
    let headers = seen
        .lock()
        .expect("lock")
        .clone()
        .expect("a request arrived");
    let tags: Vec<&str> = headers
        .get_all("x-tag")
        .iter()
        .map(|v| v.to_str().expect("ascii"))
        .collect();
    assert_eq!(tags, vec!["one", "two"]);
}
