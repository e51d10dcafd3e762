//! The databases' health checks: each one pinged on every check (slower
//! than `health.max_db_latency_ms` is degraded), and the pools' numbers.
//!
//! A failing ledger database is degraded with the spool on (entries wait
//! on disk) and unhealthy without it (they would be lost); a failing
//! identity database is degraded, since cached keys keep authenticating.
//! Gathered by [`crate::telemetry::health::Health`].

use std::time::Duration;

use futures_util::FutureExt;
use futures_util::future::BoxFuture;

use super::Db;
use crate::config::HealthConfig;
use crate::telemetry::health::{Component, DbPool, HealthCheck, Pools, Status};

/// A database to ping: open, or the reason it could not be opened.
pub struct DbCheck {
    /// `identity_db` or `ledger_db`.
    name: &'static str,
    db: Result<Db, String>,
    /// What a failing ping makes this component.
    when_down: Status,
    when_down_note: &'static str,
    /// Slower than this is degraded.
    max_latency: Duration,
}

impl DbCheck {
    /// The identity database: down is degraded (cached keys keep working).
    pub fn identity(db: Result<Db, String>, cfg: &HealthConfig) -> DbCheck {
        DbCheck {
            name: "identity_db",
            db,
            when_down: Status::Degraded,
            when_down_note: "cached keys keep authenticating; new keys cannot be checked",
            max_latency: Duration::from_millis(cfg.max_db_latency_ms),
        }
    }

    /// The ledger database. Down is degraded with the spool on (entries
    /// wait on disk and are written when it returns), unhealthy without it
    /// (entries pile up in memory and die with the process).
    pub fn ledger(db: Result<Db, String>, spooled: bool, cfg: &HealthConfig) -> DbCheck {
        let (when_down, when_down_note) = if spooled {
            (
                Status::Degraded,
                "usage entries wait in the spool and are written when it is back",
            )
        } else {
            (
                Status::Unhealthy,
                "usage entries cannot be written and would be lost (no spool)",
            )
        };
        DbCheck {
            name: "ledger_db",
            db,
            when_down,
            when_down_note,
            max_latency: Duration::from_millis(cfg.max_db_latency_ms),
        }
    }

    async fn ping(&self) -> Component {
        let (status, message, latency_ms) = match &self.db {
            Err(e) => (
                self.when_down,
                format!("cannot open: {e}; {}", self.when_down_note),
                None,
            ),
            Ok(db) => self.judge(db).await,
        };
        Component {
            name: self.name.to_string(),
            kind: "database".into(),
            status,
            message,
            latency_ms,
        }
    }

    async fn judge(&self, db: &Db) -> (Status, String, Option<f64>) {
        let max = self.max_latency;
        let limit = (max * 5).clamp(Duration::from_secs(1), Duration::from_secs(5));
        let note = self.when_down_note;
        match tokio::time::timeout(limit, db.ping()).await {
            Ok(Ok(took)) => {
                let ms = Some(took.as_secs_f64() * 1000.0);
                if took > max {
                    let why = format!(
                        "ping took {took:?}, over health.max_db_latency_ms ({} ms)",
                        max.as_millis()
                    );
                    (Status::Degraded, why, ms)
                } else {
                    (Status::Healthy, "ok".into(), ms)
                }
            }
            Ok(Err(e)) => (self.when_down, format!("ping failed: {e}; {note}"), None),
            Err(_) => (
                self.when_down,
                format!("no answer to a ping within {limit:?}; {note}"),
                None,
            ),
        }
    }
}

impl HealthCheck for DbCheck {
    fn check(&self) -> BoxFuture<'_, Vec<Component>> {
        async move { vec![self.ping().await] }.boxed()
    }
}

/// The distinct database pools, by role (`ledger`, `identity`, or
/// `ledger+identity` when one pool serves both): their numbers for the
/// report and `/metrics`. Reports no component of its own.
pub struct PoolStats(pub Vec<(&'static str, Db)>);

impl HealthCheck for PoolStats {
    fn check(&self) -> BoxFuture<'_, Vec<Component>> {
        async { Vec::new() }.boxed()
    }

    fn pools(&self, out: &mut Pools) {
        out.databases.extend(self.0.iter().map(|(name, db)| {
            let (open, idle) = db.pool_stats();
            DbPool {
                name: name.to_string(),
                open,
                idle: idle as u64,
                in_use: (open as usize).saturating_sub(idle) as u64,
            }
        }));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_database_that_cannot_be_opened_is_judged_by_its_role() {
        let cfg = HealthConfig::default();
        let down = || Err("refused".to_string());
        let c = DbCheck::ledger(down(), false, &cfg).check().await;
        assert_eq!(c[0].status, Status::Unhealthy, "{c:?}");
        assert!(c[0].message.contains("no spool"), "{c:?}");
        let c = DbCheck::ledger(down(), true, &cfg).check().await;
        assert_eq!(c[0].status, Status::Degraded, "{c:?}");
        let c = DbCheck::identity(down(), &cfg).check().await;
        assert_eq!(
            (c[0].name.as_str(), c[0].status),
            ("identity_db", Status::Degraded)
        );
    }
}
