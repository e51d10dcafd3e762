//! Health checks: what `GET /health`, `GET /readyz` and `tokctl health
//! --direct` answer.
//!
//! Components: `identity_db` and `ledger_db` (a ping each time; slower than
//! `health.max_db_latency_ms` is degraded), each provider (probed in the
//! background every `health.provider_check_interval_ms`, never with a paid
//! request), and the ledger writer (buffer or spool more than 80% full, or
//! entries waiting over [`MAX_BACKLOG_AGE`] for the database, is degraded).
//! A failing ledger database is degraded with the spool on (entries wait on
//! disk) and unhealthy without it (they would be lost); a failing identity
//! database is degraded, since
//! cached keys keep authenticating. Providers are non-critical: at worst
//! they make the whole degraded. Rendering and exit codes live in commands/.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio::sync::watch;

use crate::config::HealthConfig;
use crate::db::Db;
use crate::ledger::{Entry, LedgerWriter};
use crate::providers::{Provider, Providers};

/// How long one provider probe may take.
const PROBE_TIMEOUT: Duration = Duration::from_secs(5);

/// A component's or the whole's state, ordered from best to worst.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Healthy,
    Degraded,
    Unhealthy,
}

impl Status {
    /// The word used in JSON and tables.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Healthy => "healthy",
            Status::Degraded => "degraded",
            Status::Unhealthy => "unhealthy",
        }
    }
}

/// One checked thing, in the seed's shape.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Component {
    /// `identity_db`, `ledger_db`, `ledger_writer` or a provider's name.
    pub name: String,
    /// `database`, `writer` or `provider` (providers are non-critical).
    #[serde(rename = "type")]
    pub kind: String,
    pub status: Status,
    /// Why, in words; the cause of a failure.
    pub message: String,
    /// The ping or probe time, when one was measured.
    pub latency_ms: Option<f64>,
}

/// A database pool's numbers (sqlx does not count waits, so none here).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DbPool {
    pub name: String,
    pub open: u32,
    pub idle: u64,
    pub in_use: u64,
}

/// A provider's traffic since start (requests through the gateway).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProviderPool {
    pub name: String,
    pub requests: u64,
    pub error_rate: f64,
    pub mean_latency_ms: Option<f64>,
}

/// The pool statistics carried beside the components, as the seed's v2.2.0 did.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Pools {
    pub databases: Vec<DbPool>,
    pub providers: Vec<ProviderPool>,
}

/// The answer of `GET /health`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Report {
    pub status: Status,
    /// RFC 3339, UTC.
    pub timestamp: String,
    pub components: Vec<Component>,
    #[serde(default)]
    pub pools: Pools,
}

impl Report {
    /// Builds a report whose status is the worst component's, providers
    /// counting at most as degraded.
    pub fn new(components: Vec<Component>, pools: Pools) -> Report {
        let status = components
            .iter()
            .map(|c| {
                if c.kind == "provider" {
                    c.status.min(Status::Degraded)
                } else {
                    c.status
                }
            })
            .max()
            .unwrap_or(Status::Healthy);
        Report {
            status,
            timestamp: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
            components,
            pools,
        }
    }
}

/// A database to ping: open, or the reason it could not be opened.
pub struct DbTarget {
    /// `identity_db` or `ledger_db`.
    pub name: &'static str,
    pub db: Result<Db, String>,
    /// What a failing ping makes this component.
    pub when_down: Status,
    pub when_down_note: &'static str,
}

impl DbTarget {
    /// The identity database: down is degraded (cached keys keep working).
    pub fn identity(db: Result<Db, String>) -> DbTarget {
        DbTarget {
            name: "identity_db",
            db,
            when_down: Status::Degraded,
            when_down_note: "cached keys keep authenticating; new keys cannot be checked",
        }
    }

    /// The ledger database. Down is degraded with the spool on (entries
    /// wait on disk and are written when it returns), unhealthy without it
    /// (entries pile up in memory and die with the process).
    pub fn ledger(db: Result<Db, String>, spooled: bool) -> DbTarget {
        DbTarget {
            name: "ledger_db",
            db,
            when_down: if spooled {
                Status::Degraded
            } else {
                Status::Unhealthy
            },
            when_down_note: if spooled {
                "usage entries wait in the spool and are written when it is back"
            } else {
                "usage entries cannot be written and would be lost (no spool)"
            },
        }
    }
}

/// A provider, its last probe and its traffic counters.
struct Probed {
    provider: Arc<dyn Provider>,
    last: Mutex<Option<Result<Duration, String>>>,
    requests: AtomicU64,
    errors: AtomicU64,
    latency_us_sum: AtomicU64,
}

/// The health checker of one process.
pub struct Health {
    dbs: Vec<DbTarget>,
    /// Distinct pools, for the statistics.
    pools: Vec<(&'static str, Db)>,
    ledger: Option<LedgerWriter>,
    providers: BTreeMap<String, Probed>,
    cfg: HealthConfig,
    first_round: watch::Sender<bool>,
    /// The rate limiter, when its store is Redis and can fail.
    limiter: Option<crate::ratelimit::RateLimiter>,
}

impl Health {
    /// A checker over these databases, pools, writer (`None` for
    /// `--direct`) and providers; probes start with [`Health::spawn_probes`].
    pub fn new(
        dbs: Vec<DbTarget>,
        pools: Vec<(&'static str, Db)>,
        ledger: Option<LedgerWriter>,
        providers: &Providers,
        cfg: HealthConfig,
    ) -> Health {
        let providers = providers
            .iter()
            .map(|(name, p)| {
                (
                    name.clone(),
                    Probed {
                        provider: p.clone(),
                        last: Mutex::new(None),
                        requests: AtomicU64::new(0),
                        errors: AtomicU64::new(0),
                        latency_us_sum: AtomicU64::new(0),
                    },
                )
            })
            .collect();
        Health {
            dbs,
            pools,
            ledger,
            providers,
            cfg,
            first_round: watch::Sender::new(false),
            limiter: None,
        }
    }

    /// Adds the rate limiter's store to the checks (only Redis can fail).
    pub fn with_rate_limiter(mut self, limiter: Option<crate::ratelimit::RateLimiter>) -> Health {
        self.limiter = limiter;
        self
    }

    /// The distinct database pools this checker reports on.
    pub fn pools(&self) -> &[(&'static str, Db)] {
        &self.pools
    }

    /// The database pools' numbers, for metrics and the report.
    pub fn pool_stats(&self) -> Vec<super::metrics::PoolStat> {
        self.pools
            .iter()
            .map(|(name, db)| {
                let (open, idle) = db.pool_stats();
                super::metrics::PoolStat {
                    database: name,
                    open,
                    idle,
                }
            })
            .collect()
    }

    /// Counts a finished request against its provider (a map lookup and
    /// three atomic adds).
    pub fn record(&self, e: &Entry) {
        let Some(p) = self.providers.get(&e.provider) else {
            return;
        };
        p.requests.fetch_add(1, Relaxed);
        if e.status_code >= 500
            || e.error_kind
                .as_deref()
                .is_some_and(|k| k.starts_with("upstream"))
        {
            p.errors.fetch_add(1, Relaxed);
        }
        if let Some(us) = e.upstream_latency_us {
            p.latency_us_sum.fetch_add(us.max(0) as u64, Relaxed);
        }
    }

    /// Probes every provider once, concurrently, and keeps the results.
    pub async fn probe_all(&self) {
        let probes = self.providers.values().map(|p| async move {
            let r = match tokio::time::timeout(PROBE_TIMEOUT, p.provider.probe()).await {
                Ok(Ok(d)) => Ok(d),
                Ok(Err(e)) => Err(e.to_string()),
                Err(_) => Err(format!("no answer within {PROBE_TIMEOUT:?}")),
            };
            *p.last.lock().unwrap_or_else(PoisonError::into_inner) = Some(r);
        });
        futures_util::future::join_all(probes).await;
        self.first_round.send_replace(true);
    }

    /// Probes providers now and then every `provider_check_interval_ms`,
    /// until the task is aborted.
    pub fn spawn_probes(self: &Arc<Self>) -> tokio::task::JoinHandle<()> {
        let me = self.clone();
        let every = Duration::from_millis(self.cfg.provider_check_interval_ms.max(100));
        tokio::spawn(async move {
            loop {
                me.probe_all().await;
                tokio::time::sleep(every).await;
            }
        })
    }

    /// Whether the process can keep usage entries: the writer takes them.
    pub fn ready(&self) -> bool {
        self.ledger
            .as_ref()
            .is_none_or(LedgerWriter::accepts_entries)
    }

    /// Checks everything: pings the databases now, reads the providers'
    /// last probes (waiting for the first round if it is still running).
    pub async fn check(&self) -> Report {
        let mut first = self.first_round.subscribe();
        let _ = tokio::time::timeout(
            PROBE_TIMEOUT + Duration::from_secs(1),
            first.wait_for(|d| *d),
        )
        .await;
        let pings = self.dbs.iter().map(|t| self.check_db(t));
        let mut components = futures_util::future::join_all(pings).await;
        if let Some(w) = &self.ledger {
            components.push(super::writer_health::writer_component(w));
        }
        if let Some(l) = &self.limiter
            && let Some(ping) = l.ping().await
        {
            components.push(redis_component(ping, l.fail_open()));
        }
        components.extend(
            self.providers
                .iter()
                .map(|(name, p)| provider_component(name, p)),
        );
        let pools = Pools {
            databases: self
                .pool_stats()
                .into_iter()
                .map(|p| DbPool {
                    name: p.database.to_string(),
                    open: p.open,
                    idle: p.idle as u64,
                    in_use: (p.open as usize).saturating_sub(p.idle) as u64,
                })
                .collect(),
            providers: self
                .providers
                .iter()
                .map(|(name, p)| {
                    let n = p.requests.load(Relaxed);
                    let errors = p.errors.load(Relaxed);
                    let sum = p.latency_us_sum.load(Relaxed);
                    ProviderPool {
                        name: name.clone(),
                        requests: n,
                        error_rate: if n == 0 {
                            0.0
                        } else {
                            errors as f64 / n as f64
                        },
                        mean_latency_ms: (n > 0).then(|| sum as f64 / n as f64 / 1000.0),
                    }
                })
                .collect(),
        };
        Report::new(components, pools)
    }

    async fn check_db(&self, t: &DbTarget) -> Component {
        let mut c = Component {
            name: t.name.to_string(),
            kind: "database".into(),
            status: Status::Healthy,
            message: String::new(),
            latency_ms: None,
        };
        let db = match &t.db {
            Ok(db) => db,
            Err(e) => {
                c.status = t.when_down;
                c.message = format!("cannot open: {e}; {}", t.when_down_note);
                return c;
            }
        };
        let max = Duration::from_millis(self.cfg.max_db_latency_ms);
        let limit = (max * 5).clamp(Duration::from_secs(1), Duration::from_secs(5));
        match tokio::time::timeout(limit, db.ping()).await {
            Ok(Ok(took)) => {
                c.latency_ms = Some(took.as_secs_f64() * 1000.0);
                if took > max {
                    c.status = Status::Degraded;
                    c.message = format!(
                        "ping took {took:?}, over health.max_db_latency_ms ({} ms)",
                        self.cfg.max_db_latency_ms
                    );
                } else {
                    c.message = "ok".into();
                }
            }
            Ok(Err(e)) => {
                c.status = t.when_down;
                c.message = format!("ping failed: {e}; {}", t.when_down_note);
            }
            Err(_) => {
                c.status = t.when_down;
                c.message = format!("no answer to a ping within {limit:?}; {}", t.when_down_note);
            }
        }
        c
    }
}

/// Redis down is degraded while requests are let through (fail open), and
/// unhealthy when they are refused.
fn redis_component(
    ping: Result<Duration, crate::ratelimit::RateLimitError>,
    fail_open: bool,
) -> Component {
    let (status, message, latency_ms) = match ping {
        Ok(d) => (
            Status::Healthy,
            "ok".to_string(),
            Some(d.as_secs_f64() * 1000.0),
        ),
        // Past a few failures the breaker skips Redis and each instance
        // enforces its share from memory, whatever `fail_open` says.
        Err(e) if fail_open => (
            Status::Degraded,
            format!(
                "{e}; checks that reach Redis are admitted (fail_open), then each instance enforces its share of the limits"
            ),
            None,
        ),
        Err(e) => (
            Status::Degraded,
            format!(
                "{e}; checks that reach Redis are refused (fail_open = false), then each instance enforces its share of the limits"
            ),
            None,
        ),
    };
    Component {
        name: "rate_limit_store".into(),
        kind: "redis".into(),
        status,
        message,
        latency_ms,
    }
}

fn provider_component(name: &str, p: &Probed) -> Component {
    let last = p
        .last
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .clone();
    let (status, message, latency_ms) = match last {
        None => (Status::Degraded, "not checked yet".to_string(), None),
        Some(Ok(d)) => (
            Status::Healthy,
            "reachable".to_string(),
            Some(d.as_secs_f64() * 1000.0),
        ),
        Some(Err(e)) => (Status::Degraded, format!("unreachable: {e}"), None),
    };
    Component {
        name: name.to_string(),
        kind: "provider".into(),
        status,
        message,
        latency_ms,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn comp(kind: &str, status: Status) -> Component {
        Component {
            name: "x".into(),
            kind: kind.into(),
            status,
            message: String::new(),
            latency_ms: None,
        }
    }

    #[test]
    fn overall_is_the_worst_with_providers_non_critical() {
        let r = Report::new(
            vec![
                comp("database", Status::Healthy),
                comp("provider", Status::Unhealthy),
            ],
            Pools::default(),
        );
        assert_eq!(r.status, Status::Degraded);
        let r = Report::new(
            vec![
                comp("database", Status::Unhealthy),
                comp("provider", Status::Healthy),
            ],
            Pools::default(),
        );
        assert_eq!(r.status, Status::Unhealthy);
        assert_eq!(
            Report::new(vec![], Pools::default()).status,
            Status::Healthy
        );
    }
}
