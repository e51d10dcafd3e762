//! The registry's own tests: bounded labels, shards adding up at scrape,
//! and the cost of recording one request.

use super::*;

/// A streamed answer for `user`, its timings as the metrics see them.
fn entry(model: &str, user: i64) -> Entry {
    Entry {
        model: model.into(),
        user_id: Some(user),
        user_name: None,
        api_key_id: None,
        cost_nano: 0,
        latency_us: 1_500,
        upstream_latency_us: Some(1_000),
        ttft_us: Some(500),
        overhead_us: None,
        streamed: true,
        ..crate::ledger::chain::tests_entry("r")
    }
}

#[test]
fn labels_stay_bounded() {
    let mut c = Config::default();
    c.metrics.max_user_series = 2;
    let m = Metrics::new(&c).expect("registry");
    for user in 1..=5 {
        m.record(&entry("gpt-4o-mini", user));
    }
    m.record(&entry("made-up-model", 1));
    let text = m.render(&WriterStats::default(), &[]);
    assert!(text.contains("user=\"u1\""), "{text}");
    assert!(text.contains("user=\"u2\""), "{text}");
    assert!(!text.contains("user=\"u3\""), "{text}");
    assert!(
        text.contains("tokctl_user_tokens_total{type=\"prompt\",user=\"other\"} 30"),
        "{text}"
    );
    assert!(text.contains("model=\"other\""), "{text}");
    assert!(!text.contains("made-up-model"), "{text}");
}

/// Workers record into shards of their own; a scrape adds them all up,
/// in-flight requests included, and keeps the user bound across shards.
#[test]
fn shards_add_up_at_scrape() {
    let mut c = Config::default();
    c.metrics.max_user_series = 1;
    let m = Metrics::new(&c).expect("registry");
    let (a, b) = (m.shard(), m.shard());
    m.record_in(&a, &entry("gpt-4o-mini", 1));
    m.record_in(&a, &entry("gpt-4o-mini", 2));
    m.record_in(&b, &entry("gpt-4o-mini", 1));
    m.record_in(&b, &entry("gpt-4o-mini", 3));
    let mut err = entry("made-up-model", 1);
    err.status_code = 404;
    err.error_kind = Some("unknown_model".into());
    m.record_in(&b, &err);
    let _held = [a.in_flight(), a.in_flight(), b.in_flight()];
    {
        let _done = b.in_flight();
    }
    let text = m.render(&WriterStats::default(), &[]);
    let has = |line: &str| text.lines().any(|l| l == line);
    assert!(
        has(
            "tokctl_requests_total{endpoint=\"/v1/chat/completions\",model=\"gpt-4o-mini\",status=\"200\"} 4"
        ),
        "{text}"
    );
    assert!(
        has(
            "tokctl_requests_total{endpoint=\"/v1/chat/completions\",model=\"other\",status=\"404\"} 1"
        ),
        "{text}"
    );
    assert!(
        has("tokctl_request_errors_total{kind=\"unknown_model\"} 1"),
        "{text}"
    );
    assert!(has("tokctl_in_flight_requests 3"), "{text}");
    // User 1 took the one series; 2 and 3 share `other`, whichever
    // shard saw them first.
    assert!(
        has("tokctl_user_tokens_total{type=\"prompt\",user=\"u1\"} 30"),
        "{text}"
    );
    assert!(
        has("tokctl_user_tokens_total{type=\"prompt\",user=\"other\"} 20"),
        "{text}"
    );
    assert!(
        has(
            "tokctl_request_duration_seconds_count{endpoint=\"/v1/chat/completions\",provider=\"mock\"} 5"
        ),
        "{text}"
    );
    // A second scrape adds nothing twice.
    let again = m.render(&WriterStats::default(), &[]);
    assert!(again.contains("status=\"200\"} 4"), "{again}");
}

/// The hot-path cost of one `record` (printed; a budget catches regressions).
#[test]
fn record_is_cheap() {
    let m = Metrics::new(&Config::default()).expect("registry");
    let e = entry("gpt-4o-mini", 1);
    let n = 20_000;
    let start = Instant::now();
    for _ in 0..n {
        let _g = m.in_flight();
        m.record(&e);
    }
    let per = start.elapsed() / n;
    eprintln!("Metrics::record + in_flight: {per:?} per request");
    assert!(per.as_micros() < 50, "{per:?} per request");
}

/// The gateway's own time goes into a histogram by endpoint, and cost
/// into a counter by model, in the ledger's nano-units exactly.
#[test]
fn overhead_and_cost_are_recorded() {
    let m = Metrics::new(&Config::default()).expect("registry");
    let mut paid = entry("gpt-4o-mini", 1);
    paid.overhead_us = Some(300);
    paid.cost_nano = 1_500;
    m.record(&paid);
    m.record(&paid);
    let mut free = entry("gpt-4o", 1);
    free.overhead_us = Some(2_000);
    m.record(&free);
    let text = m.render(&WriterStats::default(), &[]);
    let has = |line: &str| text.lines().any(|l| l == line);
    assert!(
        has("tokctl_cost_nano_total{model=\"gpt-4o-mini\"} 3000"),
        "{text}"
    );
    assert!(
        !text.contains("tokctl_cost_nano_total{model=\"gpt-4o\"}"),
        "{text}"
    );
    let bucket = |le: &str| {
        format!(
            "tokctl_gateway_overhead_seconds_bucket{{endpoint=\"/v1/chat/completions\",le=\"{le}\"}}"
        )
    };
    assert!(has(&format!("{} 0", bucket("0.00025"))), "{text}");
    assert!(has(&format!("{} 2", bucket("0.0005"))), "{text}");
    assert!(has(&format!("{} 3", bucket("0.0025"))), "{text}");
}

/// Every endpoint that writes a ledger entry has a label of its own, the
/// Responses API included; anything else is `other`.
#[test]
fn each_endpoint_has_its_label() {
    let m = Metrics::new(&Config::default()).expect("registry");
    for path in ["/v1/responses", "/v1/messages", "/v1/unheard-of"] {
        let mut e = entry("gpt-4o-mini", 1);
        e.endpoint = path.into();
        m.record(&e);
    }
    let text = m.render(&WriterStats::default(), &[]);
    for label in ["/v1/responses", "/v1/messages", "other"] {
        let want = format!(
            "tokctl_requests_total{{endpoint=\"{label}\",model=\"gpt-4o-mini\",status=\"200\"}} 1"
        );
        assert!(text.lines().any(|l| l == want), "{want} in:\n{text}");
    }
}

/// Spend by team: one series per team (`t<id>`), capped like users, summed
/// across shards; requests without a team are not in it.
#[test]
fn team_cost_is_counted_and_bounded() {
    let mut c = Config::default();
    c.metrics.max_user_series = 2;
    let m = Metrics::new(&c).expect("registry");
    let (a, b) = (m.shard(), m.shard());
    let cost = |team: Option<i64>, nano: i64| Entry {
        team_id: team,
        cost_nano: nano,
        ..entry("gpt-4o-mini", 1)
    };
    m.record_in(&a, &cost(Some(7), 100));
    m.record_in(&b, &cost(Some(7), 50));
    m.record_in(&a, &cost(Some(8), 1));
    m.record_in(&b, &cost(Some(9), 2));
    m.record_in(&a, &cost(Some(10), 3));
    m.record_in(&a, &cost(None, 1000));
    let text = m.render(&WriterStats::default(), &[]);
    assert!(
        text.contains("tokctl_team_cost_nano_total{team=\"t7\"} 150"),
        "{text}"
    );
    assert!(
        text.contains("tokctl_team_cost_nano_total{team=\"t8\"} 1"),
        "{text}"
    );
    assert!(
        text.contains("tokctl_team_cost_nano_total{team=\"other\"} 5"),
        "{text}"
    );
}
