//! What a run leaves behind: `--hdr-out` logs and `loadtest compare`.

use super::*;

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
    // The ratio comes from the unrounded p50s, the cells show them rounded
    // (12.1 for 12.15): within 1 % of the shown cells' quotient.
    assert!(
        (ratio / (b / a) - 1.0).abs() < 0.01,
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
    // Each row's B/A is the quotient of the two runs' rates at that
    // concurrency, read back from the files (paired by position, c=1 of A
    // would meet c=3 of B). Rates, not a timing range: on a busy machine
    // the 10 ms upstream's c=3 level ran at 119/s instead of 300.
    let rate = |file: &str, c: u64| -> f64 {
        let text = std::fs::read_to_string(file).expect("read the run");
        let v: serde_json::Value = serde_json::from_str(&text).expect("JSON");
        v["runs"]
            .as_array()
            .and_then(|runs| runs.iter().find(|r| r["concurrency"] == c))
            .and_then(|r| r["requests_per_s"].as_f64())
            .unwrap_or_else(|| panic!("no level c={c} in {file}: {text}"))
    };
    for (row, c) in rows.iter().zip([1, 3]) {
        let ratio: f64 = row[4].parse().expect("a ratio");
        let by_level = rate(&files[1], c) / rate(&files[0], c);
        let by_position = rate(&files[1], 4 - c) / rate(&files[0], c);
        assert!(
            (ratio / by_level - 1.0).abs() < 0.01,
            "{row:?} vs {by_level}"
        );
        assert!(
            (ratio / by_position - 1.0).abs() > 0.05,
            "B's levels differ enough to tell the pairings apart: {row:?}"
        );
    }
    assert_eq!(rows[0][0], "c=1");
    assert_eq!(rows[1][0], "c=3");
    assert!(
        out.stdout.contains("options differ: warmup: A 0s, B 0.1s"),
        "{}",
        out.stdout
    );
}
