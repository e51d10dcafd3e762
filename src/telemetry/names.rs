//! Every metric name tokctl exports, with its help text, in one place
//! (STYLE rule 10): `tokctl_<name>_<unit>[_total]`, counters end in
//! `_total`, durations in `_seconds`. Nothing here records anything; see
//! [`super::metrics`] for that and docs/operations.md for the labels.

/// A metric's name and its `# HELP` text.
pub type Name = (&'static str, &'static str);

// Requests (recorded once per admitted request, from its ledger entry).
pub const REQUESTS: Name = (
    "tokctl_requests_total",
    "Requests admitted past auth, by endpoint, model (configured names, else other) and status code.",
);
pub const REQUEST_ERRORS: Name = (
    "tokctl_request_errors_total",
    "Requests that ended in an error (status >= 400, or an error kind: a stream that began 200 and failed), by error kind (a fixed set of labels; status_4xx/status_5xx when the upstream's own error status passed through).",
);
pub const IN_FLIGHT: Name = (
    "tokctl_in_flight_requests",
    "Requests being processed right now (admitted, not yet recorded).",
);
pub const REQUEST_DURATION: Name = (
    "tokctl_request_duration_seconds",
    "Whole request time at the gateway, arrival to last byte, by endpoint and provider.",
);
pub const UPSTREAM_LATENCY: Name = (
    "tokctl_upstream_latency_seconds",
    "Time from sending upstream to the end of its answer, by provider.",
);
pub const TTFT: Name = (
    "tokctl_time_to_first_token_seconds",
    "Streams only: arrival to the first chunk from the upstream, by provider.",
);
pub const OVERHEAD: Name = (
    "tokctl_gateway_overhead_seconds",
    "The gateway's own time per request (duration minus the upstream's; the ledger's overhead_us), by endpoint.",
);
pub const TOKENS: Name = (
    "tokctl_tokens_total",
    "Tokens by model and type (prompt or completion).",
);
pub const USER_TOKENS: Name = (
    "tokctl_user_tokens_total",
    "Tokens by user (masked id u<id>, at most metrics.max_user_series users, the rest other) and type.",
);
pub const TEAM_COST: Name = (
    "tokctl_team_cost_nano_total",
    "Cost of requests in nano-units of the ledger's currency, by team (masked id t<id>, at most metrics.max_user_series teams, the rest other); requests of users without a team are not counted here.",
);
pub const COST: Name = (
    "tokctl_cost_nano_total",
    "Cost of requests in nano-units of the ledger's currency (the ledger's cost_nano), by model.",
);
pub const RATE_LIMIT_REFUSALS: Name = (
    "tokctl_rate_limit_refusals_total",
    "Requests refused by rate limiting (never written to the ledger), by bucket type.",
);
pub const RATE_LIMIT_STORE_FAILURES: Name = (
    "tokctl_rate_limit_store_failures_total",
    "Rate-limit checks whose store (memory or Redis) failed; fail_open decides the answer.",
);
pub const RATE_LIMIT_STORE_SKIPPED: Name = (
    "tokctl_rate_limit_store_skipped_total",
    "Rate-limit checks that skipped Redis (breaker open after repeated failures) and used this instance's share of the limits.",
);
pub const AUTH_REFUSALS: Name = (
    "tokctl_auth_refusals_total",
    "Requests refused by auth (never written to the ledger), by reason.",
);
pub const ADMISSION_REFUSALS: Name = (
    "tokctl_admission_refusals_total",
    "Requests refused after auth by an access rule (never written to the ledger), by reason (model_not_allowed) and scope (key, user, team).",
);
pub const BUDGET_SOFT: Name = (
    "tokctl_budget_soft_thresholds_total",
    "Budgets whose spend crossed their soft threshold (once per budget and period, across the fleet with Redis), by scope (key, user, team).",
);
pub const BUDGET_STORE: Name = (
    "tokctl_budget_store_failures_total",
    "Requests with budgets decided while Redis failed, by what happened (local: enforced from this gateway's view; refused: 503, budgets.on_store_failure = refuse).",
);
pub const BUDGET_DRIFT: Name = (
    "tokctl_budget_drift_nano",
    "At the last reconciliation, the largest gap (nano-units) between a budget's spend in Redis and in the ledger plus unwritten spend, by scope; positive: Redis counts more.",
);

// The ledger writer, read from its counters at scrape time (per batch, not per row).
pub const LEDGER_QUEUE: Name = (
    "tokctl_ledger_queue_depth_entries",
    "Entries waiting in the ledger writer's buffer.",
);
pub const LEDGER_BUFFER: Name = (
    "tokctl_ledger_buffer_size_entries",
    "Capacity of the ledger writer's buffer (0 with inline writes).",
);
pub const LEDGER_WRITTEN: Name = (
    "tokctl_ledger_entries_written_total",
    "Ledger rows inserted.",
);
pub const LEDGER_DROPPED: Name = (
    "tokctl_ledger_entries_dropped_total",
    "Ledger entries dropped (full buffer under on_full = drop, or recorded after shutdown).",
);
pub const LEDGER_REFUSED: Name = (
    "tokctl_ledger_refused_requests_total",
    "Requests refused with 503 ledger_unavailable before the upstream was called (no room for their entry: a full or unwritable spool, or a full queue); the one kind of request the ledger does not hold.",
);
pub const LEDGER_DEAD: Name = (
    "tokctl_ledger_entries_dead_lettered_total",
    "Ledger entries the database refused, appended to the dead-letter file.",
);
pub const LEDGER_LAST_BATCH: Name = (
    "tokctl_ledger_last_batch_size_entries",
    "Entries in the most recent ledger batch.",
);
pub const LEDGER_FLUSH: Name = (
    "tokctl_ledger_flush_duration_seconds",
    "Ledger batch flushes: count and total time.",
);
pub const LEDGER_BACKLOG: Name = (
    "tokctl_ledger_backlog_entries",
    "Entries numbered in the hash chain but not yet committed to the database (nor recorded as gaps).",
);
pub const LEDGER_OLDEST_UNWRITTEN: Name = (
    "tokctl_ledger_oldest_unwritten_age_seconds",
    "How long the oldest entry not yet in the database has waited (spool on; 0 when none waits).",
);
pub const SPOOL_BYTES: Name = (
    "tokctl_ledger_spool_bytes",
    "Bytes of spool segments on disk (0 with the spool off).",
);
pub const SPOOL_MAX_BYTES: Name = (
    "tokctl_ledger_spool_max_bytes",
    "ledger.spool.max_bytes: where the overflow policy starts to apply (0 with the spool off).",
);
pub const SPOOL_TORN: Name = (
    "tokctl_ledger_spool_torn_records_total",
    "Spool records found torn or corrupt (checksum or length) and skipped.",
);
pub const LEDGER_WATERMARK: Name = (
    "tokctl_ledger_committed_watermark",
    "The hash chain's committed watermark: every entry numbered at or below it is in the database or a gap.",
);

// Database pools, by database (ledger, identity, or ledger+identity when shared).
pub const DB_OPEN: Name = (
    "tokctl_db_pool_open_connections",
    "Open connections in the pool.",
);
pub const DB_IDLE: Name = (
    "tokctl_db_pool_idle_connections",
    "Idle connections in the pool.",
);
pub const DB_IN_USE: Name = (
    "tokctl_db_pool_in_use_connections",
    "Connections of the pool in use.",
);

// Client connections (the accept loop).
pub const CONNECTIONS_REFUSED: Name = (
    "tokctl_connections_refused_total",
    "Client connections closed at once because server.max_connections were open.",
);
pub const OPEN_CONNECTIONS: Name = ("tokctl_open_connections", "Client connections open now.");

// The process.
pub const UPTIME: Name = (
    "tokctl_uptime_seconds",
    "Seconds since the gateway started.",
);
pub const BUILD_INFO: Name = ("tokctl_build_info", "Always 1; the version in a label.");

// Routing deployments, read from the routing state at scrape time.
pub const DEPLOYMENT_REQUESTS: Name = (
    "tokctl_deployment_requests_total",
    "Upstream attempts sent to a deployment, by model, deployment and provider (configured names).",
);
pub const DEPLOYMENT_FAILURES: Name = (
    "tokctl_deployment_failures_total",
    "Failed upstream attempts by deployment and error (upstream_unreachable, upstream_dropped, upstream_timeout, upstream_429, upstream_5xx, other).",
);
pub const DEPLOYMENT_COOLING: Name = (
    "tokctl_deployment_cooling",
    "1 while a deployment is cooling down (or waiting for its half-open probe), else 0.",
);
pub const DEPLOYMENT_IN_FLIGHT: Name = (
    "tokctl_deployment_in_flight_requests",
    "Upstream attempts in flight on a deployment from this gateway.",
);
pub const DEPLOYMENT_LATENCY_EWMA: Name = (
    "tokctl_deployment_latency_ewma_seconds",
    "The latency strategy's peak-EWMA estimate of a deployment's time to its answer head (decayed while idle).",
);
