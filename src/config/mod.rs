//! The one configuration every subcommand shares.
//!
//! `Config` is a tree of plain serde structs. Every struct denies unknown
//! fields, so a misspelt key is an error that names the key and its line
//! rather than a silently ignored setting. Loading (defaults < file < env <
//! flags, with the source of every value) lives in [`load`]; rendering the
//! effective configuration lives in [`show`]. Names carry their unit
//! (`flush_ms`, `max_body_bytes`) so a reader never guesses.

mod access;
pub mod budgets;
pub mod dsn;
pub mod duration;
pub mod env;
pub mod load;
mod log;
pub mod paths;
mod prices;
mod report;
pub mod routing;
mod routing_check;
mod secret;
pub mod show;
mod upstreams;
mod validate;
pub mod warnings;

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

pub use access::AccessLog;
pub use budgets::{BudgetsConfig, OnStoreFailure};
pub use duration::ConfigDuration;
pub use load::{ConfigError, FlagOverride, LoadOptions, Loaded, Source, load};
pub use routing::{Deployment, DeploymentConfig, RoutingConfig, Strategy};
pub use secret::{MASK, Masked, Secret, SecretUrl};
pub use upstreams::{ModelConfig, ProviderConfig, ProviderKind};
pub use warnings::{Severity, Warning, preflight, warnings};

/// The whole configuration of tokctl.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    pub server: ServerConfig,
    pub ledger: LedgerConfig,
    pub identity: IdentityConfig,
    pub db: DbConfig,
    pub auth: AuthConfig,
    pub rate_limit: RateLimitConfig,
    pub metrics: MetricsConfig,
    pub health: HealthConfig,
    pub log: LogConfig,
    /// Upstream providers by name; models refer to them.
    pub providers: BTreeMap<String, ProviderConfig>,
    /// Public model names, each routed to one or more deployments.
    pub models: Vec<ModelConfig>,
    /// Choosing a deployment, failing over, cooling failing ones down.
    pub routing: RoutingConfig,
    /// Spend budgets: calendar time zone and store failures.
    pub budgets: BudgetsConfig,
}

/// The HTTP server of `tokctl serve`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ServerConfig {
    /// Loopback by default: an open proxy is never the default.
    pub listen: String,
    /// Longest time a whole non-streamed request may take.
    pub request_timeout_ms: u64,
    /// Longest silence between two chunks of a streamed response.
    pub stream_idle_timeout_ms: u64,
    pub max_body_bytes: usize,
    /// Deadline for in-flight requests at shutdown before the ledger is flushed.
    pub shutdown_timeout_ms: u64,
    /// Origins allowed by CORS; empty disables CORS headers.
    pub cors_allow_origins: Vec<String>,
    /// Threads serving connections, each on its own single-threaded
    /// runtime with its own upstream connection pools, so a request never
    /// hops between threads; 0 means one per CPU.
    pub workers: usize,
    /// Pins each worker thread to one CPU of those the process may use
    /// (in turn), so the scheduler never moves it and its caches stay
    /// warm. For a host (or cpuset) of the gateway's own: where other
    /// busy processes share the CPUs, a pinned thread cannot move away
    /// from them.
    pub pin_workers: bool,
    /// Longest time from a connection's first byte of a request head (or
    /// from accepting it) to the end of that head; a slower client is
    /// disconnected, so half-sent heads cannot hold sockets open.
    pub header_read_timeout_ms: u64,
    /// How long a keep-alive connection may sit idle between requests.
    pub keepalive_idle_timeout_ms: u64,
    /// Open client connections beyond which new ones are closed at once;
    /// 0 derives it from the process's open-file limit.
    pub max_connections: usize,
}

/// Where usage entries go and how the asynchronous writer batches them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LedgerConfig {
    /// Ledger database DSN: `postgres://…` or a SQLite path / `sqlite:` URL.
    pub path: SecretUrl,
    /// Currency the model prices are in; costs are stored in nano-units of it.
    pub currency: String,
    /// Entries that can never be written are appended here as JSON lines.
    pub dead_letter_path: String,
    #[serde(rename = "async")]
    pub async_writer: AsyncWriterConfig,
    /// The per-instance hash chain over the entries.
    pub chain: ChainConfig,
    /// The local append-only spool in front of the writer.
    pub spool: SpoolConfig,
}

/// The tamper-evident hash chain: one per gateway instance.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ChainConfig {
    /// This gateway's chain name; empty means one made once and kept in `instance_id_path`.
    pub instance_id: String,
    /// Where a generated instance id is kept, so a restart continues the same chain.
    pub instance_id_path: String,
    /// HMAC-SHA256 key (kept outside the database); empty falls back to plain SHA-256.
    pub hmac_key: Secret,
    /// The committed chain head, kept outside the database so deleting the newest entries shows.
    pub head_file: String,
    /// How often the head file (and the watermark, when idle) is written.
    pub head_interval_ms: u64,
}

/// The crash-safe spool: entries are appended here before the writer takes them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SpoolConfig {
    /// Off means a crash may lose the entries not yet written to the database.
    pub enabled: bool,
    /// Directory of the segment files.
    pub dir: String,
    /// What survives a power loss: never, interval (every `fsync_ms`) or always.
    pub fsync: Fsync,
    pub fsync_ms: u64,
    /// Spool size beyond which `ledger.async.on_full` applies.
    pub max_bytes: u64,
    /// A segment file is closed and a new one started past this size.
    pub segment_bytes: u64,
}

/// When the spool calls fsync.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Fsync {
    /// Never: a process crash loses nothing, a power loss may lose what the OS had not written.
    Never,
    /// At most every `fsync_ms`: a power loss loses at most that window.
    Interval,
    /// Before each answer: a power loss loses nothing acknowledged.
    Always,
}

/// The batched writer, named as in the seed's tuning guide.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AsyncWriterConfig {
    /// Off means every entry is written inline, before the response ends.
    pub enabled: bool,
    pub batch_size: usize,
    pub flush_ms: u64,
    pub buffer_size: usize,
    pub num_workers: usize,
    /// What `record` does when the buffer is full.
    pub on_full: OnFull,
    /// Under `on_full = "block"`: how long a new request waits for room (in
    /// the buffer, or in a full or unwritable spool) before it is refused
    /// with 503 `ledger_unavailable`, without calling the upstream.
    pub full_wait_ms: u64,
}

/// Policy for a full ledger buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OnFull {
    /// Backpressure: the request waits for room before the upstream is called.
    Block,
    /// Count and drop the entry, warning at most once a second.
    Drop,
}

/// Users and API keys.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct IdentityConfig {
    /// Identity database DSN; the same as `ledger.path` means one pool for both.
    pub path: SecretUrl,
    /// Local copy of every key's hash and state, kept while the identity
    /// database answers, so a start during its outage still authenticates
    /// known keys; empty turns it off.
    pub snapshot_path: String,
}

/// Connection pools, named as in the seed (`TOKCTL_DB_*`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DbConfig {
    /// Ledger pool size (and the shared pool's, when both DSNs are one database).
    pub max_open_conns: u32,
    pub max_idle_conns: u32,
    pub conn_max_lifetime: ConfigDuration,
    pub conn_max_idle_time: ConfigDuration,
    /// Identity pool size when the identity database is a separate one.
    pub identity_max_open_conns: u32,
    pub connect_timeout_ms: u64,
    /// SQLite only: how long a writer waits for the database lock.
    pub busy_timeout_ms: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AuthConfig {
    /// Off records every request as anonymous; for local use only.
    pub enabled: bool,
    /// How long a looked-up key stays cached; a revoked key is refused within it.
    pub cache_ttl_ms: u64,
    /// On first start with no users, create `admin` and print one key.
    pub bootstrap_admin: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RateLimitConfig {
    pub enabled: bool,
    pub user_rps: f64,
    pub user_burst: u32,
    pub apikey_rps: f64,
    pub apikey_burst: u32,
    /// Tokens (input + output) per minute per API key; 0 is no limit. A key's own record may override it.
    pub apikey_tokens_per_minute: u64,
    /// Empty: in-memory buckets. Set: a shared Redis store (`host:port` or `redis://`).
    pub redis_addr: SecretUrl,
    /// When the store fails, admit (true) or refuse (false).
    pub fail_open: bool,
    /// Longest wait for one Redis call on the request path.
    pub redis_timeout_ms: u64,
    /// Redis calls failed in a row after which Redis is skipped.
    pub redis_breaker_failures: u32,
    /// While Redis is skipped, how often one background PING probes it.
    pub redis_breaker_backoff_ms: u64,
    /// Gateways sharing the Redis limits: while Redis is skipped each one
    /// enforces the limits divided by this, from its own memory.
    pub expected_instances: u32,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MetricsConfig {
    pub enabled: bool,
    /// Seed compatibility: a separate port on the server's host; 0 serves on the main port.
    pub port: u16,
    /// A separate address for /metrics (wins over `port`); empty uses `port`.
    pub listen: String,
    /// Per-user token series beyond this many are folded into `other`.
    pub max_user_series: usize,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HealthConfig {
    /// A database ping slower than this makes the component degraded.
    pub max_db_latency_ms: u64,
    /// How often providers are probed in the background.
    pub provider_check_interval_ms: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LogConfig {
    /// A level (`info`) or a tracing filter (`tokctl=debug,tower_http=info`).
    pub level: String,
    pub format: LogFormat,
    /// Which requests get an access line at `info`: all, none, or errors.
    pub access: AccessLog,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    Console,
    Json,
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            listen: "127.0.0.1:8080".into(),
            request_timeout_ms: 600_000,
            stream_idle_timeout_ms: 120_000,
            max_body_bytes: 10 * 1024 * 1024,
            shutdown_timeout_ms: 30_000,
            cors_allow_origins: Vec::new(),
            workers: 0,
            pin_workers: false,
            header_read_timeout_ms: 5_000,
            keepalive_idle_timeout_ms: 75_000,
            max_connections: 0,
        }
    }
}

impl Default for LedgerConfig {
    fn default() -> Self {
        Self {
            path: "data/tokctl.db".into(),
            currency: "USD".into(),
            dead_letter_path: "data/dead-letter.jsonl".into(),
            async_writer: AsyncWriterConfig::default(),
            chain: ChainConfig::default(),
            spool: SpoolConfig::default(),
        }
    }
}

impl Default for ChainConfig {
    fn default() -> Self {
        Self {
            instance_id: String::new(),
            instance_id_path: "data/instance-id".into(),
            hmac_key: Secret::default(),
            head_file: "data/chain-head.json".into(),
            head_interval_ms: 1000,
        }
    }
}

impl Default for SpoolConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            dir: "data/spool".into(),
            fsync: Fsync::Interval,
            fsync_ms: 100,
            max_bytes: 1 << 30,
            segment_bytes: 16 << 20,
        }
    }
}

impl Default for AsyncWriterConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            batch_size: 100,
            flush_ms: 1000,
            buffer_size: 10_000,
            num_workers: 1,
            on_full: OnFull::Block,
            full_wait_ms: 2000,
        }
    }
}

impl Default for IdentityConfig {
    fn default() -> Self {
        Self {
            path: "data/tokctl.db".into(),
            snapshot_path: "data/identity-snapshot.json".into(),
        }
    }
}

impl Default for DbConfig {
    fn default() -> Self {
        Self {
            max_open_conns: 32,
            max_idle_conns: 8,
            conn_max_lifetime: ConfigDuration::from_secs(60 * 60),
            conn_max_idle_time: ConfigDuration::from_secs(10 * 60),
            identity_max_open_conns: 4,
            connect_timeout_ms: 5_000,
            busy_timeout_ms: 5_000,
        }
    }
}

impl Default for AuthConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            cache_ttl_ms: 10_000,
            bootstrap_admin: true,
        }
    }
}

impl Default for RateLimitConfig {
    fn default() -> Self {
        Self {
            enabled: false,
            user_rps: 100.0,
            user_burst: 200,
            apikey_rps: 50.0,
            apikey_burst: 100,
            apikey_tokens_per_minute: 0,
            redis_addr: SecretUrl::default(),
            fail_open: true,
            redis_timeout_ms: 50,
            redis_breaker_failures: 5,
            redis_breaker_backoff_ms: 1_000,
            expected_instances: 1,
        }
    }
}

impl Default for MetricsConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            port: 0,
            listen: String::new(),
            max_user_series: 100,
        }
    }
}

impl Default for HealthConfig {
    fn default() -> Self {
        Self {
            max_db_latency_ms: 100,
            provider_check_interval_ms: 30_000,
        }
    }
}

impl Default for LogConfig {
    fn default() -> Self {
        Self {
            level: "info".into(),
            format: LogFormat::Console,
            access: AccessLog::All,
        }
    }
}

impl Default for Config {
    fn default() -> Self {
        let mut providers = BTreeMap::new();
        providers.insert("mock".to_string(), ProviderConfig::default());
        let model = |name: &str, input: f64, cached: f64, write: f64, output: f64| ModelConfig {
            name: name.into(),
            provider: "mock".into(),
            upstream_model: String::new(),
            input_per_mtok: Some(input),
            cached_input_per_mtok: Some(cached),
            cache_write_per_mtok: Some(write),
            output_per_mtok: Some(output),
            ..ModelConfig::default()
        };
        Self {
            server: ServerConfig::default(),
            ledger: LedgerConfig::default(),
            identity: IdentityConfig::default(),
            db: DbConfig::default(),
            auth: AuthConfig::default(),
            rate_limit: RateLimitConfig::default(),
            metrics: MetricsConfig::default(),
            health: HealthConfig::default(),
            log: LogConfig::default(),
            providers,
            models: vec![
                model("gpt-4o-mini", 0.15, 0.075, 0.0, 0.6),
                model("gpt-4o", 2.5, 1.25, 0.0, 10.0),
                model("claude-3-5-haiku", 0.8, 0.08, 1.0, 4.0),
                model("claude-sonnet-4", 3.0, 0.3, 3.75, 15.0),
            ],
            routing: RoutingConfig::default(),
            budgets: BudgetsConfig::default(),
        }
    }
}

impl Config {
    /// Whether the ledger and identity DSNs name the same database, so one
    /// pool serves both.
    pub fn shared_database(&self) -> bool {
        dsn::Dsn::parse(&self.ledger.path).ok() == dsn::Dsn::parse(&self.identity.path).ok()
    }
}
