//! The health checks of a gateway, assembled: for `serve` over what it has
//! open (databases, ledger writer, rate limiter, providers), and for
//! `tokctl health --direct`, which opens the configured databases and
//! providers from here. Each check lives with its component (see
//! [`crate::telemetry::health`]); this is only the list, in the report's
//! order: databases, ledger writer, rate-limit store, providers.

use std::sync::Arc;
use std::time::Duration;

use crate::config::Config;
use crate::db::health::{DbCheck, PoolStats};
use crate::db::{Databases, Db, Dsn, PoolSettings};
use crate::ledger::LedgerWriter;
use crate::providers::Providers;
use crate::providers::health::ProviderProbes;
use crate::ratelimit::RateLimiter;
use crate::telemetry::health::{Component, Health, HealthCheck, Report, Status};

/// The checks of a running gateway, and its provider probes (the caller
/// starts them with [`ProviderProbes::spawn`]).
pub fn for_serve(
    config: &Config,
    dbs: &Databases,
    ledger: &LedgerWriter,
    providers: &Providers,
    limiter: Option<RateLimiter>,
    routing: &Arc<super::routing::Shared>,
) -> (Health, Arc<ProviderProbes>) {
    let probes = Arc::new(ProviderProbes::new(providers));
    let mut checks: Vec<Arc<dyn HealthCheck>> = vec![
        Arc::new(DbCheck::identity(Ok(dbs.identity.clone()), &config.health)),
        Arc::new(DbCheck::ledger(
            Ok(dbs.ledger.clone()),
            ledger.is_spooled(),
            &config.health,
        )),
        Arc::new(PoolStats(
            dbs.distinct()
                .into_iter()
                .map(|(role, db, _)| (role, db.clone()))
                .collect(),
        )),
        Arc::new(ledger.clone()),
    ];
    if let Some(l) = limiter {
        checks.push(Arc::new(l));
    }
    checks.push(probes.clone());
    checks.push(routing.clone());
    (Health::new(checks, probes.names()), probes)
}

/// How often `serve` probes its providers.
pub fn probe_interval(config: &Config) -> Duration {
    Duration::from_millis(config.health.provider_check_interval_ms)
}

/// Checks the databases and providers named in the config from here,
/// without a server: each database is opened (bounded by
/// `db.connect_timeout_ms`) and pinged, each provider probed once.
pub async fn direct(c: &Config) -> Report {
    let open = |path: String, settings: PoolSettings, role: &'static str| async move {
        let dsn = Dsn::parse(&path).map_err(|e| e.to_string())?;
        Db::connect(&dsn, &settings, role)
            .await
            .map_err(|e| e.to_string())
    };
    let shared = c.ledger.path == c.identity.path;
    let ledger = open(
        c.ledger.path.expose().to_string(),
        PoolSettings::ledger(c),
        "ledger",
    )
    .await;
    let identity = if shared {
        ledger.clone()
    } else {
        let settings = PoolSettings::identity(c);
        open(c.identity.path.expose().to_string(), settings, "identity").await
    };
    let mut pools = Vec::new();
    if let Ok(db) = &ledger {
        pools.push((
            if shared { "ledger+identity" } else { "ledger" },
            db.clone(),
        ));
    }
    if !shared && let Ok(db) = &identity {
        pools.push(("identity", db.clone()));
    }
    let providers = match crate::providers::build(c) {
        Ok(p) => p,
        Err(e) => {
            let failed = Component {
                name: "providers".into(),
                kind: "provider".into(),
                status: Status::Degraded,
                message: e.to_string(),
                latency_ms: None,
            };
            let mut r = Report::new(Vec::new(), Default::default());
            r.components.push(failed);
            r.status = r.status.max(Status::Degraded);
            return r;
        }
    };
    let spooled = c.ledger.spool.enabled && c.ledger.async_writer.enabled;
    let probes = Arc::new(ProviderProbes::new(&providers));
    let health = Health::new(
        vec![
            Arc::new(DbCheck::identity(identity, &c.health)),
            Arc::new(DbCheck::ledger(ledger, spooled, &c.health)),
            Arc::new(PoolStats(pools.clone())),
            probes.clone(),
        ],
        probes.names(),
    );
    probes.probe_all().await;
    let report = health.check().await;
    for (_, db) in pools {
        db.close().await;
    }
    report
}
