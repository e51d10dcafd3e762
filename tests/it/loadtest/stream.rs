//! `loadtest --stream` and `--slo`: tokens from usage, TTFT and inter-token
//! gaps from content chunks, tokens per second per request, goodput.

use super::*;

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
