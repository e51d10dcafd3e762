-- Users, API keys and the usage ledger. Times are microseconds since the Unix epoch (UTC).
CREATE TABLE users (
    id            BIGSERIAL PRIMARY KEY,
    name          TEXT    NOT NULL UNIQUE,
    disabled      BOOLEAN NOT NULL DEFAULT FALSE,
    created_at_us BIGINT NOT NULL
);

CREATE TABLE api_keys (
    id            BIGSERIAL PRIMARY KEY,
    user_id       BIGINT  NOT NULL REFERENCES users(id),
    name          TEXT    NOT NULL DEFAULT '',
    key_hash      TEXT    NOT NULL UNIQUE,
    display_prefix TEXT   NOT NULL,
    created_at_us BIGINT NOT NULL,
    expires_at_us BIGINT,
    revoked_at_us BIGINT,
    rps           DOUBLE PRECISION,
    burst         INTEGER,
    tokens_per_minute BIGINT
);
CREATE INDEX api_keys_user ON api_keys (user_id);

CREATE TABLE usage_entries (
    id                  BIGSERIAL PRIMARY KEY,
    request_id          TEXT    NOT NULL UNIQUE,
    created_at_us       BIGINT NOT NULL,
    client_request_id   TEXT,
    upstream_request_id TEXT,
    user_id             BIGINT,
    user_name           TEXT,
    api_key_id          BIGINT,
    endpoint            TEXT    NOT NULL,
    model               TEXT    NOT NULL,
    provider            TEXT    NOT NULL,
    upstream_model      TEXT,
    input_tokens        BIGINT NOT NULL DEFAULT 0,
    cached_input_tokens BIGINT NOT NULL DEFAULT 0,
    cache_write_tokens  BIGINT NOT NULL DEFAULT 0,
    output_tokens       BIGINT NOT NULL DEFAULT 0,
    reasoning_tokens    BIGINT NOT NULL DEFAULT 0,
    token_source        TEXT    NOT NULL,
    cost_nano           BIGINT NOT NULL DEFAULT 0,
    latency_us          BIGINT NOT NULL,
    upstream_latency_us BIGINT,
    ttft_us             BIGINT,
    overhead_us         BIGINT,
    status_code         INTEGER NOT NULL,
    streamed            BOOLEAN NOT NULL,
    error_kind          TEXT,
    error_message       TEXT
);
CREATE INDEX usage_entries_time ON usage_entries (created_at_us);
CREATE INDEX usage_entries_user_time ON usage_entries (user_id, created_at_us);
CREATE INDEX usage_entries_model_time ON usage_entries (model, created_at_us);
