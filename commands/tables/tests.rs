//! Every table at 80 columns: no id, prefix, name, time or number is
//! split across lines; free text is shortened with an ellipsis.

use tokctl::db::migrate::State;
use tokctl::ledger::chain::verify::{Break, ChainReport, Report as VerifyReport};
use tokctl::ledger::spool::Scan;
use tokctl::ledger::spool::segment::SegmentInfo;
use tokctl::ledger::summary::{GroupBy, Summary, SummaryRow};
use tokctl::telemetry::health::{Component, Pools};

use super::*;
use crate::tables_ledger::{spool, summary, verify};

mod ledger;

const LONG: &str = "a long free text message that cannot possibly fit in the space left \
                    for it on an eighty column terminal, however the table is arranged";

/// Checks `atoms` each appear whole on one line, `texts` whole or cut
/// with an ellipsis, and that no line wraps within a row.
fn check(name: &str, tab: Tab, rows: usize, atoms: &[String], texts: &[String]) {
    let out = tab.width(80).to_string();
    let lines: Vec<&str> = out.lines().collect();
    // Top border, header, header separator, one line per row, bottom border.
    assert_eq!(
        lines.len(),
        rows + 4,
        "{name}: a row took more than one line:\n{out}"
    );
    for a in atoms {
        assert!(
            lines.iter().any(|l| l.contains(a.as_str())),
            "{name}: `{a}` is split or missing at 80 columns:\n{out}"
        );
    }
    for t in texts {
        let whole = lines.iter().any(|l| l.contains(t.as_str()));
        let cut = lines.iter().flat_map(|l| l.split(['│', '┆'])).any(|cell| {
            let cell = cell.trim();
            cell.strip_suffix('…')
                .is_some_and(|head| !head.is_empty() && t.starts_with(head))
        });
        assert!(
            whole || cut,
            "{name}: `{t}` neither whole nor shortened:\n{out}"
        );
    }
}

/// A budget with every part set, as wide as one gets in practice.
fn budget() -> tokctl::identity::budgets::BudgetColumns {
    tokctl::identity::budgets::BudgetColumns {
        budget_nano: Some(12_345_678_900_000),
        budget_window: Some("monthly".into()),
        budget_soft_percent: Some(80),
        budget_anchor_us: Some(1),
    }
}

#[test]
fn users_and_keys_at_80_columns() {
    let us = vec![UserInfo {
        id: 12345,
        name: "alice.from.the.platform.team".into(),
        disabled: false,
        active_keys: 3,
        created_at_us: 1_795_395_600_000_000,
        team: Some("platform".into()),
        models: Some("claude-*,gpt-4o".into()),
        budget: budget(),
    }];
    check(
        "users",
        users(&us),
        1,
        &[
            "12,345".into(),
            us[0].name.clone(),
            "platform".into(),
            time_us(Some(us[0].created_at_us)),
        ],
        &["claude-*,gpt-4o".into()],
    );
    let k = KeyInfo {
        id: 4242,
        user_id: 1,
        user_name: "alice".into(),
        name: LONG.into(),
        display_prefix: "tok_AbCd1234".into(),
        created_at_us: 1_795_395_600_000_000,
        expires_at_us: Some(1_795_395_600_000_001),
        revoked_at_us: None,
        rps: Some(2.5),
        burst: Some(1000),
        tokens_per_minute: Some(1_000_000),
        models: Some("gpt-*".into()),
        budget: budget(),
    };
    check(
        "keys",
        keys(std::slice::from_ref(&k), 1_795_395_700_000_000),
        1,
        &[
            "4,242".into(),
            "tok_AbCd1234".into(),
            "expired".into(),
            "1,000,000".into(),
            time_us(k.expires_at_us),
        ],
        &[LONG.into()],
    );
}

#[test]
fn loadtest_and_tune_at_80_columns() {
    use tokctl::loadtest::{CompareRow, Comparison, Report, Results};
    let results = Results {
        ok: 1_234_567,
        ..Results::default()
    };
    let r = Report::build(
        &results,
        100,
        None,
        false,
        false,
        std::time::Duration::from_secs(10),
        false,
    );
    check(
        "loadtest",
        crate::loadtest_render::report_table(&[r]),
        1,
        &["1,234,567".into(), "123,457".into()],
        &[],
    );
    let c = Comparison {
        rows: vec![CompareRow {
            level: "c=100 @1000/s".into(),
            metric: "p99 ms",
            a: 12.345,
            b: 1234.5,
            ratio: Some(100.0),
        }],
        ..Comparison::default()
    };
    check(
        "compare",
        crate::loadtest_compare::compare_table(&c),
        1,
        &[
            "c=100 @1000/s".into(),
            "12.3".into(),
            "1,235".into(),
            "100.000".into(),
        ],
        &[],
    );
    let i = tokctl::tune::Inputs {
        qps: 3000.0,
        burst_seconds: 1.0,
        max_delay_ms: Some(250),
        cores: 2,
        db_max_conns: 100,
        entry_bytes: 600,
        memory_budget_bytes: None,
        instances: 4,
        backend: tokctl::db::Backend::Postgres,
        spool: tokctl::tune::Spool::OFF,
    };
    let rec = tokctl::tune::recommend(&i).expect("a recommendation");
    // Reasons wrap (they must be read whole); settings and values never split.
    let out = crate::tune_render::values(&rec, None).width(80).to_string();
    for atom in ["ledger.async.flush_ms", "250 (limited by max_delay_ms)"] {
        assert!(out.contains(atom), "`{atom}` split:\n{out}");
    }
}

#[test]
fn health_at_80_columns() {
    let r = HealthReport::new(
        vec![Component {
            name: "openai-eu-west".into(),
            kind: "provider".into(),
            status: Status::Degraded,
            message: LONG.into(),
            latency_ms: Some(123.456),
        }],
        Pools::default(),
    );
    check(
        "health",
        health(&r),
        1,
        &["openai-eu-west".into(), "123 ms".into(), "degraded".into()],
        &[LONG.into()],
    );
}
