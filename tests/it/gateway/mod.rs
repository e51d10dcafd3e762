//! The gateway end to end: the real binary on a free port, the mock
//! provider and an OpenAI-compatible upstream served by the test over a
//! real socket, and the ledger read back with SQL.

mod api_upstream;
mod auth_e2e;
mod broken;
mod cases;
mod chain;
mod connections;
mod errors;
pub mod harness;
pub mod ledger_rows;
mod mock_api;
mod outage_start;
mod responses;
mod responses_broken;
mod serving;
mod spool_full;
mod stalled;
mod tamper;
mod translation;
mod upgrade;
mod upstreams;

crate::dbtest!(mock_plain_and_stream_are_recorded, |db| {
    super::cases::mock_plain_and_stream_are_recorded(db.dsn.clone()).await;
});
crate::dbtest!(openai_upstream_usage_is_normalised, |db| {
    super::cases::openai_upstream_usage_is_normalised(db.dsn.clone()).await;
});
#[tokio::test]
async fn a_proxy_from_the_environment_is_used() {
    let db = crate::support::db::TestDb::sqlite();
    cases::a_proxy_from_the_environment_is_used(db.dsn.clone()).await;
}
crate::dbtest!(stream_without_usage_is_estimated, |db| {
    super::cases::stream_without_usage_is_estimated(db.dsn.clone()).await;
});
crate::dbtest!(auth_failures_are_refused_and_not_recorded, |db| {
    super::errors::auth_failures_are_refused_and_not_recorded(db.dsn.clone()).await;
});
crate::dbtest!(bad_inputs_get_clear_errors_and_one_entry_each, |db| {
    super::errors::bad_inputs_get_clear_errors_and_one_entry_each(db.dsn.clone()).await;
});
crate::dbtest!(upstream_failures_map_to_gateway_errors, |db| {
    super::errors::upstream_failures_map_to_gateway_errors(db.dsn.clone()).await;
});
crate::dbtest!(client_disconnect_mid_stream_is_recorded, |db| {
    super::errors::client_disconnect_mid_stream_is_recorded(db.dsn.clone()).await;
});
crate::dbtest!(broken_streams_are_told_and_recorded_as_sent, |db| {
    super::broken::broken_streams_are_told_and_recorded_as_sent(db.dsn.clone()).await;
});
crate::dbtest!(a_client_gone_before_a_slow_upstream_is_499, |db| {
    super::broken::a_client_gone_before_a_slow_upstream_is_499(db.dsn.clone()).await;
});
crate::dbtest!(stalled_uploads_hold_no_ledger_places, |db| {
    super::stalled::stalled_uploads_hold_no_ledger_places(db.dsn.clone()).await;
});
crate::dbtest!(client_gone_before_a_whole_answer_is_recorded, |db| {
    super::errors::client_gone_before_a_whole_answer_is_recorded(db.dsn.clone()).await;
});
#[tokio::test]
async fn pinned_workers_run_on_one_cpu_each() {
    let db = crate::support::db::TestDb::sqlite();
    serving::pinned_workers_run_on_one_cpu_each(db.dsn.clone()).await;
}
#[tokio::test]
async fn workers_share_the_connections() {
    let db = crate::support::db::TestDb::sqlite();
    serving::workers_share_the_connections(db.dsn.clone()).await;
}
#[tokio::test]
async fn every_request_has_one_access_line() {
    let db = crate::support::db::TestDb::sqlite();
    serving::every_request_has_one_access_line(db.dsn.clone()).await;
}
#[tokio::test]
async fn access_log_can_keep_errors_only_or_nothing() {
    serving::access_log_can_keep_errors_only_or_nothing().await;
}
crate::dbtest!(a_slow_upstream_is_a_recorded_504, |db| {
    super::errors::a_slow_upstream_is_a_recorded_504(db.dsn.clone()).await;
});
#[tokio::test]
async fn without_auth_entries_are_anonymous() {
    let db = crate::support::db::TestDb::sqlite();
    cases::without_auth_entries_are_anonymous(db.dsn.clone()).await;
}
crate::dbtest!(an_oversize_chunked_body_is_413, |db| {
    super::errors::an_oversize_chunked_body_is_413(db.dsn.clone()).await;
});
#[tokio::test]
async fn cors_lets_browser_sdks_through() {
    let db = crate::support::db::TestDb::sqlite();
    serving::cors_lets_browser_sdks_through(db.dsn.clone()).await;
}
#[tokio::test]
async fn the_listen_flag_overrides_the_config() {
    let db = crate::support::db::TestDb::sqlite();
    serving::the_listen_flag_overrides_the_config(db.dsn.clone()).await;
}
crate::dbtest!(inline_writes_finish_before_the_answer, |db| {
    super::serving::inline_writes_finish_before_the_answer(&db).await;
});
crate::dbtest!(the_request_timeout_is_a_shaped_504_and_recorded, |db| {
    super::errors::the_request_timeout_is_a_shaped_504_and_recorded(db.dsn.clone()).await;
});
crate::dbtest!(load_then_sigterm_block_loses_nothing, |db| {
    super::serving::load_then_sigterm_loses_nothing(&db, "block", true).await;
});
crate::dbtest!(load_then_sigterm_block_without_spool_loses_nothing, |db| {
    super::serving::load_then_sigterm_loses_nothing(&db, "block", false).await;
});
crate::dbtest!(load_then_sigterm_drop_counts_every_drop, |db| {
    super::serving::load_then_sigterm_loses_nothing(&db, "drop", false).await;
});
crate::dbtest!(
    load_then_sigterm_drop_with_a_full_spool_counts_every_drop,
    |db| {
        super::serving::load_then_sigterm_loses_nothing(&db, "drop", true).await;
    }
);

#[tokio::test]
async fn official_sdks_work() {
    let db = crate::support::TestDb::sqlite();
    cases::official_sdks_work(db.dsn.clone()).await;
}

crate::dbtest!(serve_refuses_a_schema_that_differs, |db| {
    let cfg = format!(
        "[ledger]\npath = \"{0}\"\n[identity]\npath = \"{0}\"\n",
        db.dsn
    );
    let t = crate::support::Tokctl::new().config(&cfg);
    t.run(&["migrate"]).expect_code(0);
    db.execute(match db.backend {
        crate::support::Backend::Sqlite => {
            "UPDATE _sqlx_migrations SET checksum = X'00' WHERE version = 1"
        }
        crate::support::Backend::Postgres => {
            "UPDATE _sqlx_migrations SET checksum = decode('00', 'hex') WHERE version = 1"
        }
    })
    .await;
    let out = t.run(&["serve", "--listen", "127.0.0.1:0"]);
    assert_eq!(out.code, 1, "{}", out.stderr);
    assert!(
        out.stderr.contains("do not match this binary") && out.stderr.contains('1'),
        "{}",
        out.stderr
    );
    let out = t.run(&["serve", "--listen", "127.0.0.1:0", "--no-migrate"]);
    assert_eq!(
        out.code, 1,
        "--no-migrate still refuses a drifted schema: {}",
        out.stderr
    );
});

crate::dbtest!(
    a_deletion_under_a_lowered_watermark_stays_a_deletion,
    |db| {
        super::chain::a_deletion_under_a_lowered_watermark_stays_a_deletion(&db).await;
    }
);
crate::dbtest!(verify_finds_tampering, |db| {
    super::chain::verify_finds_tampering(&db).await;
});
crate::dbtest!(kill9_with_spool_loses_no_answered_entry, |db| {
    super::chain::kill9_with_spool_loses_no_answered_entry(&db).await;
});

mod routing;
mod routing_failover;
mod routing_fleet;
mod routing_upstream;
