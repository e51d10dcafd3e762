//! The ledger's tables (summary, verify, spool) at 80 columns.

use super::*;

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
