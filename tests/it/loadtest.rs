//! `tokctl loadtest` against upstream servers the tests start on port 0:
//! exact counts, latency consistent with a known delay, status codes, a
//! sweep, the open-loop correction, Ctrl-C, thresholds and bad input.

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
        out.stdout.contains("p99 ms"),
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
fn streaming_counts_tokens_from_usage_and_chunks_apart() {
    let (url, _) = upstream(Behaviour {
        stream: true,
        ..Default::default()
    });
    let runs = json_runs(&[
        &url,
        "-c",
        "2",
        "-n",
        "10",
        "--stream",
        "--slo",
        "ttft<5s,p99<5s",
    ]);
    let s = &runs[0]["stream"];
    assert_eq!(s["output_tokens"], 90);
    assert_eq!(s["answers_with_usage"], 10);
    assert_eq!(s["chunks"], 40);
    assert!(s["ttft_ms"]["p50"].as_f64().expect("ttft") > 0.0);
    assert_eq!(runs[0]["goodput"], 1.0);
}

#[test]
fn chunked_streams_are_timed_as_their_chunks_arrive() {
    let (url, _) = upstream(Behaviour {
        stream: true,
        pace: Some(Duration::from_millis(30)),
        ..Default::default()
    });
    let runs = json_runs(&[&url, "-c", "2", "-n", "6", "--stream"]);
    let r = &runs[0];
    assert_eq!(r["successes"], 6, "{r}");
    let s = &r["stream"];
    assert_eq!(s["output_tokens"], 54);
    assert_eq!(s["answers_with_usage"], 6);
    assert_eq!(s["chunks"], 24);
    let ttft = s["ttft_ms"]["p50"].as_f64().expect("ttft");
    let itl = s["inter_token_ms"]["p50"].as_f64().expect("itl");
    let total = r["latency_ms"]["p50"].as_f64().expect("p50");
    // First chunk after one pace, the next ones one pace apart, the answer
    // complete after five: chunks were seen as they came, not at the end.
    assert!((30.0..100.0).contains(&ttft), "ttft {ttft} ms");
    assert!((25.0..100.0).contains(&itl), "inter-token {itl} ms");
    assert!(total >= 150.0, "whole answer {total} ms");
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
fn hdr_out_holds_every_answer_once_in_per_second_histograms() {
    use hdrhistogram::serialization::Deserializer;
    use hdrhistogram::serialization::interval_log::{IntervalLogIterator, LogEntry};

    let (url, _) = upstream(Behaviour {
        delay: Duration::from_millis(4),
        ..Default::default()
    });
    let t = Tokctl::new();
    let log = t.dir().join("run.hlog");
    let log_arg = log.display().to_string();
    let epoch = |t: std::time::SystemTime| {
        t.duration_since(std::time::UNIX_EPOCH)
            .expect("after the epoch")
            .as_secs_f64()
    };
    let before = epoch(std::time::SystemTime::now());
    let out = t.run(&[
        "loadtest",
        &url,
        "-c",
        "2",
        "-d",
        "2500ms",
        "--warmup",
        "0s",
        "--json",
        "--hdr-out",
        &log_arg,
    ]);
    assert_eq!(out.code, 0, "stderr: {}", out.stderr);
    let v: serde_json::Value = serde_json::from_str(&out.stdout).expect("--json prints JSON");
    let answered = v["runs"][0]["successes"].as_u64().expect("successes");
    assert!(answered > 50, "{v}");

    let after = epoch(std::time::SystemTime::now());
    let bytes = std::fs::read(&log).expect("the log file exists");
    let mut de = Deserializer::new();
    let (mut seconds, mut total, mut starts) = (0, 0u64, Vec::new());
    let (mut start_time, mut base_time) = (None, None);
    for entry in IntervalLogIterator::new(&bytes) {
        let iv = match entry {
            Ok(LogEntry::StartTime(t)) => {
                start_time = Some(t.as_secs_f64());
                continue;
            }
            Ok(LogEntry::BaseTime(t)) => {
                base_time = Some(t.as_secs_f64());
                continue;
            }
            Ok(LogEntry::Interval(iv)) => iv,
            Err(e) => panic!("the log parses: {e:?}"),
        };
        // Each interval, placed on the wall clock through BaseTime, lies
        // after the run's StartTime and within the process's lifetime.
        let (st, bt) = (
            start_time.expect("StartTime before the intervals"),
            base_time.expect("BaseTime before the intervals"),
        );
        let at = bt + iv.start_timestamp().as_secs_f64();
        assert!(
            before - 0.01 <= st && st <= at,
            "start {st}, interval at {at}"
        );
        assert!(
            at + iv.duration().as_secs_f64() <= after + 1.01,
            "interval at {at}, run ended {after}"
        );
        assert_eq!(iv.tag().map(|t| t.as_str()), Some("c2"));
        let b64 = base64::Engine::decode(
            &base64::engine::general_purpose::STANDARD,
            iv.encoded_histogram(),
        )
        .expect("base64 histogram");
        let h: hdrhistogram::Histogram<u64> = de
            .deserialize(&mut std::io::Cursor::new(b64))
            .expect("a V2 deflate histogram");
        if !h.is_empty() {
            // microseconds: every answer took at least the upstream's 4 ms
            assert!(h.min() >= 4_000, "min {} µs", h.min());
        }
        total += h.len();
        starts.push(iv.start_timestamp());
        seconds += 1;
    }
    assert!(
        (3..=4).contains(&seconds),
        "a 2.5 s run gives 3 per-second histograms (the last partial), got {seconds}"
    );
    assert_eq!(
        total, answered,
        "the histograms add up to the answers the report counts"
    );
    assert!(starts.windows(2).all(|w| w[1] > w[0]), "{starts:?}");
}

#[test]
fn compare_shows_two_runs_side_by_side_with_ratios() {
    let t = Tokctl::new();
    let mut files = Vec::new();
    for (name, ms) in [("a.json", 10), ("b.json", 30)] {
        let (url, _) = upstream(Behaviour {
            delay: Duration::from_millis(ms),
            ..Default::default()
        });
        let out = t.run(&["loadtest", &url, "-c", "1", "-n", "20", "--json"]);
        assert_eq!(out.code, 0, "stderr: {}", out.stderr);
        let path = t.dir().join(name);
        std::fs::write(&path, &out.stdout).expect("write the run");
        files.push(path.display().to_string());
    }
    let out = t.run(&["loadtest", "compare", &files[0], &files[1]]);
    assert_eq!(out.code, 0, "stderr: {}", out.stderr);
    let cells = |metric: &str| -> Vec<String> {
        let line = out
            .stdout
            .lines()
            .find(|l| l.contains(metric))
            .unwrap_or_else(|| panic!("no `{metric}` row in:\n{}", out.stdout));
        line.split(['│', '┆', '|'])
            .map(|c| c.trim().to_string())
            .filter(|c| !c.is_empty())
            .collect()
    };
    let num = |s: &str| {
        s.parse::<f64>()
            .unwrap_or_else(|_| panic!("`{s}` is a number"))
    };
    let p50 = cells("p50 ms");
    let (a, b, ratio) = (num(&p50[2]), num(&p50[3]), num(&p50[4]));
    assert!(a >= 10.0 && b >= 30.0, "{p50:?}");
    assert!(
        (ratio - b / a).abs() < 0.01,
        "B/A is b divided by a: {p50:?}"
    );
    assert!((2.0..3.5).contains(&ratio), "a 3x slower upstream: {p50:?}");
    let rps = cells("requests/s");
    assert!(num(&rps[4]) < 0.6, "B is slower: {rps:?}");

    let missing = t.run(&["loadtest", "compare", &files[0], "nope.json"]);
    assert_eq!(missing.code, 2);
    assert!(missing.stderr.contains("nope.json"), "{}", missing.stderr);
    let junk = t.dir().join("junk.json");
    std::fs::write(&junk, "not json").expect("write junk");
    let junk_arg = junk.display().to_string();
    let bad = t.run(&["loadtest", "compare", &files[0], &junk_arg]);
    assert_eq!(bad.code, 2);
    assert!(bad.stderr.contains("junk.json"), "{}", bad.stderr);
}

#[test]
fn ttft_waits_for_content_not_a_role_only_first_chunk() {
    // OpenAI's streams open with a role-only chunk sent before any output;
    // here it comes at once and the first content 150 ms later.
    let (url, _) = upstream(Behaviour {
        stream: true,
        role_first: true,
        pace: Some(Duration::from_millis(150)),
        ..Default::default()
    });
    let runs = json_runs(&[&url, "-c", "1", "-n", "3", "--stream"]);
    let s = &runs[0]["stream"];
    assert_eq!(s["chunks"], 12, "the role-only chunks are not counted: {s}");
    let ttft = s["ttft_ms"]["p50"].as_f64().expect("ttft");
    assert!(
        ttft >= 150.0,
        "ttft {ttft} ms is the first content, not the first chunk"
    );
}

#[test]
fn goodput_is_the_share_of_requests_within_every_bound() {
    // Every 4th request is 300 ms slow: three in four meet p99<150ms.
    let (url, _) = upstream(Behaviour {
        slow_every: Some((4, Duration::from_millis(300))),
        ..Default::default()
    });
    let runs = json_runs(&[&url, "-c", "1", "-n", "40", "--slo", "p99<150ms"]);
    assert_eq!(runs[0]["goodput"], 0.75, "{}", runs[0]);

    // A stream without a single content chunk has no first token: it
    // misses a ttft bound however fast it was.
    let (url, _) = upstream(Behaviour {
        stream: true,
        no_content: true,
        pace: Some(Duration::from_millis(1)),
        ..Default::default()
    });
    let runs = json_runs(&[&url, "-c", "1", "-n", "5", "--stream", "--slo", "ttft<5s"]);
    assert_eq!(runs[0]["successes"], 5);
    assert_eq!(runs[0]["goodput"], 0.0, "{}", runs[0]);
}

#[test]
fn slo_bounds_a_request_cannot_meet_are_refused_before_the_run() {
    let (url, count) = upstream(Behaviour::default());
    for (args, says) in [
        (vec!["--slo", "p99<1s,errors<1%"], "--fail-on"),
        (vec!["--slo", "rps>10"], "--fail-on"),
        (vec!["--slo", "ttft<500ms"], "--stream"),
        (vec!["--fail-on", "itl>50ms"], "--stream"),
    ] {
        let mut all = vec!["loadtest", url.as_str(), "-n", "5"];
        all.extend(args.iter().copied());
        let out = Tokctl::new().run(&all);
        assert_eq!(out.code, 2, "{args:?}: {}", out.stderr);
        let first = out.stderr.lines().next().unwrap_or_default();
        assert!(first.contains(says), "{args:?}: {}", out.stderr);
    }
    assert_eq!(count.load(Ordering::SeqCst), 0, "no request was sent");
}

#[test]
fn hdr_out_that_cannot_be_written_fails_before_any_load() {
    let (url, count) = upstream(Behaviour::default());
    let t = Tokctl::new();
    let bad = t.dir().join("no-such-dir").join("run.hlog");
    let bad_arg = bad.display().to_string();
    let started = Instant::now();
    let out = t.run(&[
        "loadtest",
        &url,
        "-c",
        "1",
        "-d",
        "30s",
        "--hdr-out",
        &bad_arg,
    ]);
    assert_eq!(out.code, 2, "stderr: {}", out.stderr);
    assert!(started.elapsed() < Duration::from_secs(10));
    assert!(out.stderr.contains("run.hlog"), "{}", out.stderr);
    assert_eq!(count.load(Ordering::SeqCst), 0, "no request was sent");
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

#[test]
fn tokens_per_second_are_reported_per_request() {
    // 9 tokens (from usage) over first content -> end of the answer: four
    // more 30 ms paces, so about 9 / 0.12 s = 75 tokens/s per request.
    let (url, _) = upstream(Behaviour {
        stream: true,
        pace: Some(Duration::from_millis(30)),
        ..Default::default()
    });
    let runs = json_runs(&[&url, "-c", "2", "-n", "6", "--stream"]);
    let per = &runs[0]["stream"]["output_tokens_per_s_per_request"];
    let p50 = per["p50"].as_f64().expect("p50");
    assert!((30.0..=100.0).contains(&p50), "{per}");
    assert!(per["p99"].as_f64().expect("p99") >= p50, "{per}");
    assert!(per["p1"].as_f64().expect("p1") <= p50, "{per}");
    let aggregate = runs[0]["stream"]["output_tokens_per_s"]
        .as_f64()
        .expect("aggregate");
    assert!(aggregate > 0.0);

    let (url, _) = upstream(Behaviour {
        stream: true,
        pace: Some(Duration::from_millis(30)),
        ..Default::default()
    });
    let out = Tokctl::new().run(&["loadtest", &url, "-c", "1", "-n", "2", "--stream"]);
    assert_eq!(out.code, 0, "stderr: {}", out.stderr);
    assert!(
        out.stdout.contains("tokens/s per request"),
        "{}",
        out.stdout
    );
    assert!(out.stdout.contains("interrupted   0"), "{}", out.stdout);
}

#[test]
fn compare_matches_levels_by_concurrency_not_position() {
    let t = Tokctl::new();
    let mut files = Vec::new();
    for (name, ms, levels, warmup) in [("a.json", 10, "1,3", "0s"), ("b.json", 30, "3,1", "100ms")]
    {
        let (url, _) = upstream(Behaviour {
            delay: Duration::from_millis(ms),
            ..Default::default()
        });
        let out = t.run(&[
            "loadtest", &url, "-c", levels, "-n", "15", "--warmup", warmup, "--json",
        ]);
        assert_eq!(out.code, 0, "stderr: {}", out.stderr);
        let v: serde_json::Value = serde_json::from_str(&out.stdout).expect("JSON");
        let o = &v["options"];
        assert_eq!(o["requests"], 15, "{o}");
        assert_eq!(o["duration_s"], serde_json::Value::Null, "{o}");
        assert_eq!(o["stream"], false, "{o}");
        let path = t.dir().join(name);
        std::fs::write(&path, &out.stdout).expect("write the run");
        files.push(path.display().to_string());
    }
    let out = t.run(&["loadtest", "compare", &files[0], &files[1]]);
    assert_eq!(out.code, 0, "stderr: {}", out.stderr);
    let rows: Vec<Vec<String>> = out
        .stdout
        .lines()
        .filter(|l| l.contains("requests/s"))
        .map(|l| {
            l.split(['│', '┆', '|'])
                .map(|c| c.trim().to_string())
                .filter(|c| !c.is_empty())
                .collect()
        })
        .collect();
    assert_eq!(rows.len(), 2, "{}", out.stdout);
    for row in &rows {
        let ratio: f64 = row[4].parse().expect("a ratio");
        // Same level, a 3x slower upstream; paired by position, c=1 of A
        // would meet c=3 of B and the ratio would be near 1.
        assert!((0.2..0.6).contains(&ratio), "{row:?}\n{}", out.stdout);
    }
    assert_eq!(rows[0][0], "c=1");
    assert_eq!(rows[1][0], "c=3");
    assert!(
        out.stdout
            .contains("options differ: warmup_s: A 0.0, B 0.1"),
        "{}",
        out.stdout
    );
}

/// A self-signed certificate for localhost and 127.0.0.1 (EC P-256, valid
/// until 2126), made once with `openssl req -x509 -newkey ec ...`; its key.
const TEST_CERT: &str = "\
-----BEGIN CERTIFICATE-----
MIIBmzCCAUGgAwIBAgIUXzTeaTI3F+bAwhO3zXgm9FMoeNcwCgYIKoZIzj0EAwIw
FDESMBAGA1UEAwwJbG9jYWxob3N0MCAXDTI2MTIwMjA1MDM1N1oYDzIxMjYxMTA4
MDUwMzU3WjAUMRIwEAYDVQQDDAlsb2NhbGhvc3QwWTATBgcqhkjOPQIBBggqhkjO
PQMBBwNCAASeixRU2obh4RJWUPCsU5Ug0yRf3zCAhNNU5HZK38IYtORkV0W8YZOO
gFpeMRRW6LhO4W80D9GgHoMuDADafWvpo28wbTAdBgNVHQ4EFgQUERybhTbHS3BM
VI8eyiUsk+Dsl0IwHwYDVR0jBBgwFoAUERybhTbHS3BMVI8eyiUsk+Dsl0IwDwYD
VR0TAQH/BAUwAwEB/zAaBgNVHREEEzARgglsb2NhbGhvc3SHBH8AAAEwCgYIKoZI
zj0EAwIDSAAwRQIgQ9QSAZNoiPs+dqMacRhjgVTxMuV4a3LTCBAYBK6YwJcCIQD0
SAHkXJV3Zy+hVyJmajRN1WG40CwNZIuTdaOHHw/wow==
-----END CERTIFICATE-----
";
const TEST_KEY: &str = "\
-----BEGIN PRIVATE KEY-----
MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQg/ey1wDC1usQfwbyV
Np4KwunBBoERrnKTW827nSNA+Y+hRANCAASeixRU2obh4RJWUPCsU5Ug0yRf3zCA
hNNU5HZK38IYtORkV0W8YZOOgFpeMRRW6LhO4W80D9GgHoMuDADafWvp
-----END PRIVATE KEY-----
";

/// An HTTPS upstream with [`TEST_CERT`]: keep-alive HTTP/1.1 over
/// tokio-rustls, a fixed JSON answer, every request counted.
fn tls_upstream() -> (String, Arc<AtomicU64>) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio_rustls::rustls;
    use tokio_rustls::rustls::pki_types::pem::PemObject;
    use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer};

    let cert = CertificateDer::from_pem_slice(TEST_CERT.as_bytes()).expect("test cert");
    let key = PrivateKeyDer::from_pem_slice(TEST_KEY.as_bytes()).expect("test key");
    let config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .expect("TLS versions")
    .with_no_client_auth()
    .with_single_cert(vec![cert], key)
    .expect("server config");
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let count = Arc::new(AtomicU64::new(0));
    let counter = count.clone();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("TLS upstream runtime");
        rt.block_on(async move {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
                .await
                .expect("bind the TLS upstream");
            tx.send(listener.local_addr().expect("address"))
                .expect("send the address");
            while let Ok((tcp, _)) = listener.accept().await {
                let (acceptor, counter) = (acceptor.clone(), counter.clone());
                tokio::spawn(async move {
                    let Ok(mut tls) = acceptor.accept(tcp).await else {
                        return;
                    };
                    let mut buf = Vec::new();
                    loop {
                        // One request: the head, then Content-Length bytes.
                        let head_end = loop {
                            if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                                break i + 4;
                            }
                            let mut chunk = [0u8; 4096];
                            match tls.read(&mut chunk).await {
                                Ok(0) | Err(_) => return,
                                Ok(n) => buf.extend_from_slice(&chunk[..n]),
                            }
                        };
                        let head = String::from_utf8_lossy(&buf[..head_end]).to_ascii_lowercase();
                        let len: usize = head
                            .lines()
                            .find_map(|l| l.strip_prefix("content-length:"))
                            .and_then(|v| v.trim().parse().ok())
                            .unwrap_or(0);
                        while buf.len() < head_end + len {
                            let mut chunk = [0u8; 4096];
                            match tls.read(&mut chunk).await {
                                Ok(0) | Err(_) => return,
                                Ok(n) => buf.extend_from_slice(&chunk[..n]),
                            }
                        }
                        buf.drain(..head_end + len);
                        counter.fetch_add(1, Ordering::SeqCst);
                        let body = "{\"choices\":[],\"usage\":{\"completion_tokens\":1}}";
                        let answer = format!(
                            "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{body}",
                            body.len()
                        );
                        if tls.write_all(answer.as_bytes()).await.is_err() {
                            return;
                        }
                        let _ = tls.flush().await;
                    }
                });
            }
        });
    });
    let addr = rx.recv().expect("TLS upstream address");
    (format!("https://{addr}/v1/chat/completions"), count)
}

#[test]
fn https_targets_are_driven_and_a_self_signed_certificate_needs_insecure() {
    let (url, count) = tls_upstream();
    // Verified against Mozilla's roots, the self-signed certificate is
    // refused: one clear line, exit 1, no request sent.
    let out = Tokctl::new().run(&["loadtest", &url, "-c", "2", "-n", "10"]);
    assert_eq!(out.code, 1, "stderr: {}", out.stderr);
    assert_eq!(out.stderr.trim().lines().count(), 1, "{}", out.stderr);
    assert!(out.stderr.contains("TLS handshake"), "{}", out.stderr);
    assert!(out.stderr.contains("--insecure"), "{}", out.stderr);
    assert_eq!(count.load(Ordering::SeqCst), 0);

    let runs = json_runs(&[&url, "-c", "2", "-n", "57", "--insecure"]);
    assert_eq!(runs[0]["requests"], 57, "{}", runs[0]);
    assert_eq!(runs[0]["successes"], 57, "{}", runs[0]);
    assert_eq!(
        count.load(Ordering::SeqCst),
        57,
        "exactly the measured requests"
    );
}
