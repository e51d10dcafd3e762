//! Every table the commands print, built from library values with the
//! shared style and number formats of [`crate::render`]; one function per
//! table so that the test below renders each at 80 columns.

use comfy_table::{Cell, Color};
use tokctl::db::migrate::MigrationStatus;
use tokctl::identity::lifecycle::KeyState;
use tokctl::identity::{KeyInfo, UserInfo};
use tokctl::ledger::chain::verify::Report as VerifyReport;
use tokctl::ledger::spool::Scan;
use tokctl::ledger::summary::Summary;
use tokctl::telemetry::health::{Report as HealthReport, Status};

use crate::render::{Col, Tab, bytes, count, int, latency_ms, money, opt, time_us};

pub fn users(users: &[UserInfo]) -> Tab {
    let mut t = Tab::new(&[
        ("id", Col::Num),
        ("name", Col::Atom),
        ("status", Col::Atom),
        ("usable keys", Col::Num),
        ("created at", Col::Atom),
    ]);
    for u in users {
        t.row([
            int(u.id),
            u.name.clone(),
            if u.disabled { "disabled" } else { "active" }.to_string(),
            int(u.active_keys),
            time_us(Some(u.created_at_us)),
        ]);
    }
    t
}

/// Keys with their state now and the time that goes with it: when an
/// active key expires, when a revoked or expired one stopped, when one in
/// its grace period stops.
pub fn keys(keys: &[KeyInfo], now_us: i64) -> Tab {
    let mut t = Tab::new(&[
        ("id", Col::Num),
        ("user", Col::Atom),
        ("name", Col::Text),
        ("prefix", Col::Atom),
        ("state", Col::Atom),
        ("since/until", Col::Atom),
        ("rps", Col::Num),
        ("burst", Col::Num),
        ("tpm", Col::Num),
    ]);
    for k in keys {
        let state = KeyState::of(k, now_us);
        let (color, when) = match state {
            KeyState::Active => (Color::Reset, k.expires_at_us),
            KeyState::RevokedLater => (Color::Yellow, k.revoked_at_us),
            KeyState::Revoked => (Color::Red, k.revoked_at_us),
            KeyState::Expired => (Color::Red, k.expires_at_us),
        };
        t.cells([
            Cell::new(int(k.id)),
            Cell::new(&k.user_name),
            Cell::new(&k.name),
            Cell::new(&k.display_prefix),
            Cell::new(state.as_str()).fg(color),
            Cell::new(time_us(when)),
            Cell::new(opt(k.rps)),
            Cell::new(opt(k.burst.map(|b| int(b.into())))),
            Cell::new(opt(k.tokens_per_minute.map(int))),
        ]);
    }
    t
}

pub fn migrations(statuses: &[MigrationStatus]) -> Tab {
    let mut t = Tab::new(&[
        ("version", Col::Num),
        ("description", Col::Text),
        ("applied at", Col::Atom),
        ("state", Col::Atom),
    ]);
    for s in statuses {
        t.row([
            s.version.to_string(),
            s.description.clone(),
            s.applied_at.clone().unwrap_or_else(|| "-".into()),
            s.state.as_str().to_string(),
        ]);
    }
    t
}

pub fn spool(scan: &Scan) -> Tab {
    let mut t = Tab::new(&[
        ("segment", Col::Atom),
        ("first seq", Col::Num),
        ("last seq", Col::Num),
        ("records", Col::Num),
        ("size", Col::Num),
        ("unreadable", Col::Num),
    ]);
    for s in &scan.segments {
        let name = s.path.file_name().map_or_else(
            || s.path.display().to_string(),
            |n| n.to_string_lossy().into_owned(),
        );
        t.row([
            name,
            int(s.first_seq),
            s.last.map_or("-".into(), |(l, _)| int(l)),
            count(s.records),
            bytes(s.bytes),
            bytes(s.unreadable_bytes),
        ]);
    }
    t
}

pub fn verify(r: &VerifyReport) -> Tab {
    let mut t = Tab::new(&[
        ("instance", Col::Atom),
        ("keyed", Col::Atom),
        ("watermark", Col::Num),
        ("checked", Col::Num),
        ("gaps", Col::Num),
        ("breaks", Col::Num),
        ("first break", Col::Text),
    ]);
    for c in &r.chains {
        let first = c.first_break.as_ref().map_or("-".to_string(), |b| {
            format!("{} at {}: {}", b.kind, b.seq, b.detail)
        });
        t.row([
            c.instance_id.clone(),
            if c.keyed { "yes" } else { "no" }.to_string(),
            int(c.watermark),
            count(c.entries_checked),
            count(c.gaps.len() as u64),
            count(c.breaks),
            first,
        ]);
    }
    t
}

pub fn summary(s: &Summary, currency: &str) -> Tab {
    let mut cols: Vec<(&str, Col)> = s.by.iter().map(|g| (g.as_str(), Col::Atom)).collect();
    cols.extend([
        ("requests", Col::Num),
        ("errors", Col::Num),
        ("prompt tokens", Col::Num),
        ("completion tokens", Col::Num),
        ("total tokens", Col::Num),
        ("cost", Col::Num),
        ("p50", Col::Num),
        ("p99", Col::Num),
    ]);
    let mut t = Tab::new(&cols);
    let lat = |us: Option<f64>| us.map_or("-".into(), |us| latency_ms(us / 1000.0));
    for r in &s.rows {
        let mut cells: Vec<String> = r
            .group
            .iter()
            .map(|g| g.clone().unwrap_or_default())
            .collect();
        cells.extend([
            int(r.requests),
            int(r.errors),
            int(r.prompt_tokens),
            int(r.completion_tokens),
            int(r.total_tokens),
            money(r.cost_nano, currency),
            lat(r.p50_latency_us),
            lat(r.p99_latency_us),
        ]);
        t.row(cells);
    }
    t
}

pub fn health(r: &HealthReport) -> Tab {
    let mut t = Tab::new(&[
        ("component", Col::Atom),
        ("type", Col::Atom),
        ("status", Col::Atom),
        ("latency", Col::Num),
        ("message", Col::Text),
    ]);
    for c in &r.components {
        let color = match c.status {
            Status::Healthy => Color::Green,
            Status::Degraded => Color::Yellow,
            Status::Unhealthy => Color::Red,
        };
        t.cells([
            Cell::new(&c.name),
            Cell::new(&c.kind),
            Cell::new(c.status.as_str()).fg(color),
            Cell::new(c.latency_ms.map_or(String::new(), latency_ms)),
            Cell::new(&c.message),
        ]);
    }
    t
}

#[cfg(test)]
mod tests {
    //! Every table at 80 columns: no id, prefix, name, time or number is
    //! split across lines; free text is shortened with an ellipsis.

    use tokctl::db::migrate::State;
    use tokctl::ledger::chain::verify::{Break, ChainReport};
    use tokctl::ledger::spool::segment::SegmentInfo;
    use tokctl::ledger::summary::{GroupBy, SummaryRow};
    use tokctl::telemetry::health::{Component, Pools};

    use super::*;

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

    #[test]
    fn users_and_keys_at_80_columns() {
        let us = vec![UserInfo {
            id: 12345,
            name: "alice.from.the.platform.team".into(),
            disabled: false,
            active_keys: 3,
            created_at_us: 1_795_395_600_000_000,
        }];
        check(
            "users",
            users(&us),
            1,
            &[
                "12,345".into(),
                us[0].name.clone(),
                time_us(Some(us[0].created_at_us)),
            ],
            &[],
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
    fn ledger_tables_at_80_columns() {
        let s = Summary {
            by: vec![GroupBy::User, GroupBy::Model],
            rows: vec![SummaryRow {
                group: vec![
                    Some("alice".into()),
                    Some("claude-3-5-haiku-20241022".into()),
                ],
                requests: 1_234_567,
                errors: 12,
                prompt_tokens: 98_765_432,
                completion_tokens: 1_234_567,
                total_tokens: 99_999_999,
                cost_nano: 12_345_678_901,
                p50_latency_us: Some(12_345.0),
                p99_latency_us: Some(1_234_567.0),
            }],
        };
        check(
            "summary",
            summary(&s, "USD"),
            1,
            &[
                "claude-3-5-haiku-20241022".into(),
                "1,234,567".into(),
                "98,765,432".into(),
                "12.35 USD".into(),
                "12.3 ms".into(),
                "1.23 s".into(),
            ],
            &[],
        );
        let r = VerifyReport {
            chains: vec![ChainReport {
                instance_id: "gw-7f3a9c2e-1b4d".into(),
                keyed: true,
                watermark: 1_234_567,
                checked_to: 1_234_567,
                entries_checked: 1_234_567,
                gaps: Vec::new(),
                first_break: Some(Break {
                    seq: 77,
                    kind: "edited",
                    request_id: None,
                    detail: LONG.into(),
                }),
                breaks: 1,
                uncommitted_tail: 0,
            }],
            unchained_rows: 0,
            first_unchained: None,
            pre_chain_rows: 0,
            baseline: None,
        };
        check(
            "verify",
            verify(&r),
            1,
            &["gw-7f3a9c2e-1b4d".into(), "1,234,567".into()],
            &["edited at 77".into()],
        );
        let scan = Scan {
            segments: vec![SegmentInfo {
                path: "/var/lib/tokctl/data/spool/00000000000001234567.seg".into(),
                first_seq: 1_234_567,
                bytes: 16 << 20,
                records: 54_321,
                last: Some((1_288_887, [0; 32])),
                unreadable_bytes: 0,
            }],
        };
        check(
            "spool",
            spool(&scan),
            1,
            &[
                "00000000000001234567.seg".into(),
                "1,288,887".into(),
                "16.0 MiB".into(),
            ],
            &[],
        );
        let m = vec![MigrationStatus {
            version: 6,
            description: LONG.into(),
            applied_at: Some("2026-12-07T16:54:25Z".into()),
            state: State::UnknownCompatible,
        }];
        check(
            "migrations",
            migrations(&m),
            1,
            &[
                "2026-12-07T16:54:25Z".into(),
                State::UnknownCompatible.as_str().into(),
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
            crate::loadtest_render::compare_table(&c),
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
}
