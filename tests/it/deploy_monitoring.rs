//! The Grafana dashboard and the Prometheus alert rules under deploy/:
//! every PromQL expression parses (promtool), every metric family it names
//! is one the code defines in src/telemetry/names.rs (so a renamed metric
//! fails here), and `promtool test rules` runs a unit test for each alert;
//! the signal the provider-down alert reads, checked on a real gateway.

use std::collections::BTreeSet;
use std::process::Command;

use serde_json::{Value, json};

use super::deploy::{repo, run_ok, tool, yaml_docs};
use super::deploy_kube::with_dead_provider;
use crate::gateway::harness::Gateway;
use crate::support::TestDb;

/// Series Prometheus makes itself, which a dashboard may name.
const PROMETHEUS_OWN: &[&str] = &["up"];

/// Every metric name the code defines: the `"tokctl_…"` literals of the
/// metric-name module.
fn code_names() -> BTreeSet<String> {
    let src = std::fs::read_to_string(repo("src/telemetry/names.rs")).expect("names.rs");
    let names: BTreeSet<String> = src
        .split('"')
        .skip(1)
        .step_by(2)
        .filter(|s| s.starts_with("tokctl_") && !s.contains(' '))
        .map(str::to_string)
        .collect();
    assert!(
        names.len() > 20,
        "too few metric names found in names.rs: {names:?}"
    );
    names
}

/// The `tokctl_…` metric names an expression uses (identifiers only, not
/// inside label matchers' quoted values).
fn families_in(expr: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let mut in_quote = false;
    let mut word = String::new();
    for ch in expr.chars().chain(std::iter::once(' ')) {
        if ch == '"' {
            in_quote = !in_quote;
        }
        if !in_quote && (ch.is_ascii_alphanumeric() || ch == '_' || ch == ':') {
            word.push(ch);
            continue;
        }
        if word.starts_with("tokctl_") {
            out.insert(std::mem::take(&mut word));
        }
        word.clear();
    }
    out
}

/// The names of `families` the code does not define (a histogram's or
/// summary's `_bucket`, `_sum` and `_count` series belong to its family).
fn unknown(families: &BTreeSet<String>, code: &BTreeSet<String>) -> Vec<String> {
    families
        .iter()
        .filter(|f| {
            let base = ["_bucket", "_sum", "_count"]
                .iter()
                .find_map(|s| f.strip_suffix(s))
                .unwrap_or(f);
            !code.contains(f.as_str()) && !code.contains(base)
        })
        .cloned()
        .collect()
}

/// Every panel's expressions (rows' nested panels included), with Grafana's
/// variables replaced by values PromQL accepts.
fn dashboard_exprs() -> Vec<(String, String)> {
    let text = std::fs::read_to_string(repo("deploy/grafana/tokctl-dashboard.json")).expect("read");
    let dash: Value = serde_json::from_str(&text).expect("the dashboard is JSON");
    let mut out = Vec::new();
    let mut stack: Vec<&Value> = dash["panels"].as_array().expect("panels").iter().collect();
    while let Some(p) = stack.pop() {
        stack.extend(p["panels"].as_array().into_iter().flatten());
        for t in p["targets"].as_array().into_iter().flatten() {
            let expr = t["expr"].as_str().expect("a target with an expr");
            let expr = expr
                .replace("$__rate_interval", "5m")
                .replace("$__interval", "1m")
                .replace("$instance", ".*");
            assert!(!expr.contains('$'), "an unknown variable in {expr}");
            out.push((p["title"].as_str().unwrap_or("?").to_string(), expr));
        }
    }
    out
}

#[test]
fn family_check_catches_a_renamed_metric() {
    let code = code_names();
    let fams = families_in(
        r#"sum(rate(tokctl_request_duration_seconds_bucket{kind="tokctl_not_a_metric"}[5m])) / tokctl_requests_totl"#,
    );
    assert_eq!(
        fams.iter().map(String::as_str).collect::<Vec<_>>(),
        [
            "tokctl_request_duration_seconds_bucket",
            "tokctl_requests_totl"
        ]
    );
    assert_eq!(unknown(&fams, &code), ["tokctl_requests_totl"]);
}

#[test]
fn dashboard_queries_parse_and_name_only_metrics_the_code_defines() {
    let exprs = dashboard_exprs();
    assert!(exprs.len() >= 25, "only {} queries", exprs.len());
    let code = code_names();
    let mut used = BTreeSet::new();
    for (title, expr) in &exprs {
        let fams = families_in(expr);
        let bad = unknown(&fams, &code);
        assert!(
            bad.is_empty(),
            "panel {title:?} names {bad:?}, not defined in src/telemetry/names.rs"
        );
        if fams.is_empty() {
            assert!(
                PROMETHEUS_OWN.iter().any(|m| expr.starts_with(m)),
                "panel {title:?}: {expr}"
            );
        }
        used.extend(fams);
    }
    // The areas the dashboard is for (docs/deploy.md lists its panels).
    for must in [
        "tokctl_requests_total",
        "tokctl_request_errors_total",
        "tokctl_request_duration_seconds_bucket",
        "tokctl_time_to_first_token_seconds_bucket",
        "tokctl_upstream_latency_seconds_bucket",
        "tokctl_tokens_total",
        "tokctl_ledger_queue_depth_entries",
        "tokctl_ledger_spool_bytes",
        "tokctl_ledger_flush_duration_seconds_sum",
        "tokctl_ledger_entries_dropped_total",
        "tokctl_rate_limit_refusals_total",
    ] {
        assert!(used.contains(must), "no panel shows {must}");
    }

    // promtool parses each query as a recording rule's expression.
    let mut rules = String::from("groups:\n  - name: dashboard\n    rules:\n");
    for (i, (_, expr)) in exprs.iter().enumerate() {
        let quoted = serde_json::to_string(expr).expect("quote");
        rules.push_str(&format!(
            "      - record: dashboard_panel_{i}\n        expr: {quoted}\n"
        ));
    }
    let dir = tempfile::tempdir().expect("temp dir");
    let file = dir.path().join("dashboard-rules.yml");
    std::fs::write(&file, rules).expect("write rules");
    let promtool = tool("promtool", "prometheus");
    let out = run_ok(Command::new(promtool).args(["check", "rules"]).arg(&file));
    assert!(
        out.contains(&format!("SUCCESS: {} rules found", exprs.len())),
        "{out}"
    );
}

#[test]
fn alert_rules_check_and_every_alert_has_a_unit_test() {
    let promtool = tool("promtool", "prometheus");
    let dir = repo("deploy/prometheus");
    run_ok(
        Command::new(&promtool)
            .args(["check", "rules"])
            .arg(dir.join("alerts.yml")),
    );
    let out = run_ok(
        Command::new(&promtool)
            .args(["test", "rules", "alerts.test.yml"])
            .current_dir(&dir),
    );
    assert!(out.contains("SUCCESS"), "{out}");

    let rules = yaml_docs(&std::fs::read_to_string(dir.join("alerts.yml")).expect("read"));
    let tests = yaml_docs(&std::fs::read_to_string(dir.join("alerts.test.yml")).expect("read"));
    let code = code_names();
    let mut alerts = Vec::new();
    for group in rules[0]["groups"].as_array().expect("groups") {
        for rule in group["rules"].as_array().expect("rules") {
            let name = rule["alert"]
                .as_str()
                .expect("alert rules only")
                .to_string();
            let expr = rule["expr"].as_str().expect("expr");
            let bad = unknown(&families_in(expr), &code);
            assert!(
                bad.is_empty(),
                "{name} names {bad:?}, not defined in src/telemetry/names.rs"
            );
            alerts.push(name);
        }
    }
    for want in [
        "TokctlLedgerEntriesDropped",
        "TokctlLedgerEntriesDeadLettered",
        "TokctlSpoolBacklogGrowing",
        "TokctlLedgerWriterLagging",
        "TokctlHighErrorRatio",
        "TokctlUpstreamFailing",
        "TokctlInstanceDown",
        "TokctlProviderDown",
    ] {
        assert!(alerts.iter().any(|a| a == want), "no alert {want}");
    }
    // Each alert is tested both firing and silent.
    for alert in &alerts {
        let cases: Vec<&Value> = tests[0]["tests"]
            .as_array()
            .expect("tests")
            .iter()
            .flat_map(|t| t["alert_rule_test"].as_array().into_iter().flatten())
            .filter(|c| c["alertname"] == alert.as_str())
            .collect();
        let fires = |c: &&Value| c["exp_alerts"].as_array().is_some_and(|a| !a.is_empty());
        assert!(
            cases.iter().any(fires),
            "{alert} has no test where it fires"
        );
        assert!(
            cases.iter().any(|c| !fires(c)),
            "{alert} has no test where it stays silent"
        );
    }
}

/// The sum of the samples of `name` carrying `provider="…"`.
fn by_provider(text: &str, name: &str, provider: &str) -> f64 {
    let label = format!("provider=\"{provider}\"");
    text.lines()
        .filter(|l| l.starts_with(&format!("{name}{{")) && l.contains(&label))
        .filter_map(|l| l.rsplit_once(' ').and_then(|(_, v)| v.parse::<f64>().ok()))
        .sum()
}

/// TokctlProviderDown and the "Provider answer ratio" panel read that a
/// request routed to a provider that never answers counts in the request
/// histogram under that provider but not in the upstream one.
#[tokio::test]
async fn a_provider_that_never_answers_shows_in_the_metrics_as_the_alert_expects() {
    let db = TestDb::sqlite();
    let gw = Gateway::start(&db.dsn, &with_dead_provider());
    let key = gw.key.clone().expect("bootstrap key");
    let c = reqwest::Client::new();
    for (model, want) in [("gone", 502), ("gpt-4o-mini", 200)] {
        let body = json!({"model": model, "messages": [{"role": "user", "content": "hi"}]});
        let r = c
            .post(gw.url("/v1/chat/completions"))
            .bearer_auth(&key)
            .json(&body)
            .send()
            .await
            .expect("request");
        assert_eq!(r.status(), want, "{model}");
        r.bytes().await.expect("body");
    }
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    let text = loop {
        let r = c.get(gw.url("/metrics")).send().await.expect("scrape");
        let text = r.text().await.expect("metrics");
        if by_provider(&text, "tokctl_request_duration_seconds_count", "mock") >= 1.0
            && by_provider(&text, "tokctl_request_duration_seconds_count", "dead") >= 1.0
        {
            break text;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "requests never recorded:\n{text}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    };
    assert_eq!(
        by_provider(&text, "tokctl_upstream_latency_seconds_count", "dead"),
        0.0,
        "{text}"
    );
    assert_eq!(
        by_provider(&text, "tokctl_upstream_latency_seconds_count", "mock"),
        1.0,
        "{text}"
    );
}

/// The first sample of `name` whose labels contain `label`.
fn sample(text: &str, name: &str, label: &str) -> Option<f64> {
    text.lines()
        .filter(|l| l.starts_with(&format!("{name}{{")) && l.contains(label))
        .find_map(|l| l.rsplit_once(' ').and_then(|(_, v)| v.parse::<f64>().ok()))
}

/// The "Cost by model" and "Gateway overhead" panels read what the ledger
/// holds: the cost counter equals the rows' summed `cost_nano`, and every
/// request is one observation of the overhead histogram.
#[tokio::test]
async fn the_cost_and_overhead_panels_read_what_the_ledger_holds() {
    let db = TestDb::sqlite();
    let config = "[providers.mock]\nkind = \"mock\"\n\
                  [[models]]\nname = \"gpt-4o-mini\"\nprovider = \"mock\"\n\
                  input_per_mtok = 0.15\noutput_per_mtok = 0.6\n";
    let gw = Gateway::start(&db.dsn, config);
    let key = gw.key.clone().expect("bootstrap key");
    let c = reqwest::Client::new();
    for n in 0..3 {
        let words = "hello ".repeat(1 + 40 * n);
        let body =
            json!({"model": "gpt-4o-mini", "messages": [{"role": "user", "content": words}]});
        let r = c
            .post(gw.url("/v1/chat/completions"))
            .bearer_auth(&key)
            .json(&body)
            .send()
            .await
            .expect("request");
        assert_eq!(r.status(), 200);
        r.bytes().await.expect("body");
    }
    let chat = "endpoint=\"/v1/chat/completions\"";
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    let (text, billed) = loop {
        let text = c.get(gw.url("/metrics")).send().await.expect("scrape");
        let text = text.text().await.expect("metrics");
        let rows = db
            .scalar("SELECT COUNT(*) FROM usage_entries WHERE model = 'gpt-4o-mini'")
            .await;
        let seen = sample(&text, "tokctl_gateway_overhead_seconds_count", chat);
        if rows == 3 && seen == Some(3.0) {
            let billed = db
                .scalar("SELECT SUM(cost_nano) FROM usage_entries WHERE model = 'gpt-4o-mini'")
                .await;
            break (text, billed);
        }
        assert!(
            std::time::Instant::now() < deadline,
            "{rows} rows; requests never recorded:\n{text}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    };
    assert!(billed > 0, "the priced model billed nothing");
    let counted = sample(&text, "tokctl_cost_nano_total", "model=\"gpt-4o-mini\"");
    assert_eq!(counted, Some(billed as f64), "{text}");
    let overhead_sum = sample(&text, "tokctl_gateway_overhead_seconds_sum", chat);
    assert!(overhead_sum.is_some_and(|s| s > 0.0), "{text}");
}
