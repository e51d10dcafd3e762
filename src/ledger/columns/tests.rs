//! The column table against what it replaced: message v1 byte for byte,
//! the export's first 33 columns in their order, entries round-tripping.

use super::*;
use crate::ledger::chain::{ChainKey, GENESIS, encode_message, int, text};
use crate::ledger::entry::Usage;

/// An entry with every column set to something other than its fill.
fn full() -> Entry {
    Entry {
        request_id: "r-1".into(),
        created_at_us: 1_700_000_000_000_001,
        client_request_id: Some("c".into()),
        upstream_request_id: Some("u".into()),
        user_id: Some(7),
        user_name: Some("alice".into()),
        api_key_id: Some(8),
        endpoint: "/v1/messages".into(),
        model: "claude".into(),
        provider: "anthropic".into(),
        upstream_model: Some("claude-x".into()),
        usage: Usage {
            input_tokens: 1,
            cached_input_tokens: 2,
            cache_write_tokens: 3,
            output_tokens: 4,
            reasoning_tokens: 5,
        },
        token_source: TokenSource::Estimated,
        cost_nano: 6,
        latency_us: 7,
        upstream_latency_us: Some(8),
        ttft_us: Some(9),
        overhead_us: Some(10),
        status_code: 502,
        streamed: true,
        error_kind: Some("upstream_body".into()),
        error_message: Some("cut".into()),
        upstream_api: Some("chat".into()),
        attempts: 2,
        failed_attempts: Some(r#"[{"deployment":"a","error":"upstream_5xx"}]"#.into()),
        requested_model: Some("claude-big".into()),
        team_id: Some(3),
        cache: CacheStatus::Miss,
        saved_cost_nano: 11,
        chain: Some(Link {
            instance_id: "gw".into(),
            seq: 4,
            prev_hash: [1; 32],
            hash: [2; 32],
            version: MESSAGE_VERSION,
        }),
    }
}

#[test]
fn entries_round_trip_through_rows() {
    let e = full();
    assert_eq!(Row::of(&e).to_entry(), Ok(e));
    let blank = Entry::default();
    assert_eq!(Row::of(&blank).to_entry(), Ok(blank));
}

#[test]
fn values_no_entry_holds_are_errors_naming_the_column() {
    let e = full();
    let row = Row {
        cache: "sometimes",
        ..Row::of(&e)
    };
    let err = row.to_entry().expect_err("unknown cache value");
    assert_eq!((err.column, err.value.as_str()), ("cache", "sometimes"));
}

/// Message v1 as the binaries before the column table wrote it.
fn message_v1_by_hand(buf: &mut Vec<u8>, e: &Entry, l: &Link) {
    buf.extend_from_slice(b"tokctl-ledger-entry-v1\n");
    buf.extend_from_slice(&l.prev_hash);
    text(buf, Some(&l.instance_id));
    int(buf, Some(l.seq));
    text(buf, Some(&e.request_id));
    int(buf, Some(e.created_at_us));
    text(buf, e.client_request_id.as_deref());
    text(buf, e.upstream_request_id.as_deref());
    int(buf, e.user_id);
    text(buf, e.user_name.as_deref());
    int(buf, e.api_key_id);
    text(buf, Some(&e.endpoint));
    text(buf, Some(&e.model));
    text(buf, Some(&e.provider));
    text(buf, e.upstream_model.as_deref());
    for n in e.usage.counts() {
        int(buf, Some(n));
    }
    text(buf, Some(e.token_source.as_str()));
    int(buf, Some(e.cost_nano));
    int(buf, Some(e.latency_us));
    int(buf, e.upstream_latency_us);
    int(buf, e.ttft_us);
    int(buf, e.overhead_us);
    int(buf, Some(i64::from(e.status_code)));
    text(buf, Some(if e.streamed { "1" } else { "0" }));
    text(buf, e.error_kind.as_deref());
    text(buf, e.error_message.as_deref());
}

#[test]
fn message_v1_is_byte_for_byte_the_older_binaries() {
    // A row an older binary wrote: the newer columns hold their fill.
    let mut e = full();
    let blank = Entry::default();
    e.upstream_api = blank.upstream_api.clone();
    e.attempts = blank.attempts;
    e.failed_attempts = None;
    e.requested_model = None;
    e.team_id = None;
    e.cache = blank.cache;
    e.saved_cost_nano = 0;
    let link = e.chain.clone().expect("a link");
    let row = Row {
        chain_version: None,
        ..Row::of(&e)
    };
    assert_eq!(row.message_version(), 1);
    let (mut ours, mut theirs) = (Vec::new(), Vec::new());
    let ok = encode_message(&mut ours, 1, "gw", link.seq, &link.prev_hash, &row);
    assert_eq!(ok, Some(true));
    message_v1_by_hand(&mut theirs, &e, &link);
    assert_eq!(ours, theirs);
    // And so the hash a v1 row was stored with still checks.
    let key = ChainKey::new("k");
    let stored = {
        let mut buf = Vec::new();
        key.row_hash(&mut buf, "gw", link.seq, &link.prev_hash, &row)
    };
    assert!(stored.is_some());
    // A v2 column written on a v1 row afterwards: the row cannot check.
    let forged = Row {
        team_id: Some(1),
        ..row
    };
    let mut buf = Vec::new();
    assert_eq!(
        key.row_hash(&mut buf, "gw", link.seq, &link.prev_hash, &forged),
        None
    );
}

#[test]
fn every_v2_column_changes_the_v2_hash() {
    let key = ChainKey::new("k");
    let e = full();
    let mut buf = Vec::new();
    let base = key.entry_hash(&mut buf, "gw", 1, &GENESIS, &e);
    let edits: [fn(&mut Entry); 7] = [
        |e| e.upstream_api = Some("messages".into()),
        |e| e.attempts += 1,
        |e| e.failed_attempts = None,
        |e| e.requested_model = None,
        |e| e.team_id = Some(4),
        |e| e.cache = CacheStatus::Hit,
        |e| e.saved_cost_nano += 1,
    ];
    for edit in edits {
        let mut edited = full();
        edit(&mut edited);
        assert_ne!(base, key.entry_hash(&mut buf, "gw", 1, &GENESIS, &edited));
    }
    // An unknown version checks nothing.
    let row = Row {
        chain_version: Some(i32::from(MESSAGE_VERSION) + 1),
        ..Row::of(&e)
    };
    assert_eq!(key.row_hash(&mut buf, "gw", 1, &GENESIS, &row), None);
}

#[test]
fn the_export_keeps_its_first_columns_and_appends() {
    let before = [
        "id",
        "request_id",
        "created_at",
        "created_at_us",
        "client_request_id",
        "upstream_request_id",
        "user_id",
        "user_name",
        "api_key_id",
        "endpoint",
        "model",
        "provider",
        "upstream_model",
        "input_tokens",
        "cached_input_tokens",
        "cache_write_tokens",
        "output_tokens",
        "reasoning_tokens",
        "token_source",
        "cost_nano",
        "cost",
        "latency_us",
        "upstream_latency_us",
        "ttft_us",
        "overhead_us",
        "status_code",
        "streamed",
        "error_kind",
        "error_message",
        "instance_id",
        "seq",
        "prev_hash",
        "entry_hash",
    ];
    let names = export_names();
    assert_eq!(&names[..before.len()], before);
    assert_eq!(names.len(), NUM_COLUMNS + 3);
}

#[test]
fn columns_newer_than_v1_say_what_older_rows_hold() {
    for c in &COLUMNS[30..] {
        assert_ne!(c.fill, Fill::Always, "{}", c.name);
        assert!(
            c.hashed_since.is_none_or(|v| v > 1 && v <= MESSAGE_VERSION),
            "{}",
            c.name
        );
        // A NOT NULL column's fill is a value, not NULL.
        assert_eq!(c.kind.nullable(), c.fill == Fill::Null, "{}", c.name);
    }
    let names: std::collections::HashSet<_> = COLUMNS.iter().map(|c| c.name).collect();
    assert_eq!(names.len(), NUM_COLUMNS, "names are unique");
}
