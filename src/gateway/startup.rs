//! What `serve` opens before it listens: the databases (migrated, or —
//! for one unreachable at start, with the spool on — migrated once it
//! answers) and the authenticator (seeded from the identity snapshot when
//! the identity database cannot answer).
//!
//! A gateway that crashes during a database outage must come back and
//! serve (#29, fault 2): with the spool on, entries wait on disk, keys
//! are served from the snapshot, and the schema is checked and the chain
//! opened when the database returns; nothing is written to a schema this
//! binary does not know. Without the spool the start is refused, saying so.

use std::future::Future;
use std::path::Path;
use std::pin::Pin;
use std::time::Duration;

use super::server::{ServeError, ServeOptions};
use crate::config::Config;
use crate::db::{Databases, Db, DbError, Dsn, migrate};
use crate::identity::Authenticator;
use crate::identity::snapshot;
use crate::ledger::Opening;

/// The databases, and how the ledger writer is to open its chain.
pub(super) struct Opened {
    pub dbs: Databases,
    pub opening: Opening,
    /// The identity database did not answer at start.
    pub identity_down: bool,
    /// For a database unreachable at start: waits for it, checks and
    /// migrates its schema and tells the ledger writer. `serve` polls it
    /// beside its wait for a signal (it cannot be spawned: sqlx's
    /// migration futures are not `Send` for every lifetime).
    pub schema: Option<Pin<Box<dyn Future<Output = ()>>>>,
}

/// Opens and migrates the databases (see the module's doc).
pub(super) async fn open_databases(
    config: &Config,
    opts: &ServeOptions,
) -> Result<Opened, ServeError> {
    let spooled = config.ledger.spool.enabled && config.ledger.async_writer.enabled;
    let (dbs, down) = if spooled {
        Databases::open_or_wait(config).await?
    } else {
        match Databases::open(config).await {
            Ok(dbs) => (dbs, Vec::new()),
            Err(e @ DbError::Unreachable { .. }) => return Err(ServeError::NoSpool(e)),
            Err(e) => return Err(e.into()),
        }
    };
    let mut opening = Opening::Now;
    let mut identity_down = false;
    let mut waits: Vec<Pin<Box<dyn Future<Output = ()>>>> = Vec::new();
    for (role, db, dsn) in dbs.distinct() {
        if let Some((_, cause)) = down.iter().find(|(r, _)| *r == role) {
            tracing::warn!(
                database = role,
                "the database is unreachable at start ({cause}); serving anyway: entries are kept \
                 in the spool, keys come from the identity snapshot, and migrations are checked \
                 when it answers"
            );
            let (db, dsn, no_migrate) = (db.clone(), dsn.clone(), opts.no_migrate);
            if role == "identity" {
                waits.push(Box::pin(async move {
                    if let Err(why) = schema_when_reachable(db, dsn, no_migrate, role).await {
                        tracing::error!(database = role, "{why}");
                    }
                }));
            } else {
                let (tell, ready) = tokio::sync::oneshot::channel();
                opening = Opening::Deferred(ready);
                waits.push(Box::pin(async move {
                    let _ = tell.send(schema_when_reachable(db, dsn, no_migrate, role).await);
                }));
            }
            identity_down |= role != "ledger";
            continue;
        }
        migrate_now(db, dsn, opts.no_migrate, role).await?;
    }
    let schema = (!waits.is_empty()).then(|| {
        let all: Pin<Box<dyn Future<Output = ()>>> = Box::pin(async move {
            futures_util::future::join_all(waits).await;
        });
        all
    });
    Ok(Opened {
        dbs,
        opening,
        identity_down,
        schema,
    })
}

/// Applies pending migrations (or, with `--no-migrate`, refuses a drifted
/// schema and warns about pending ones).
async fn migrate_now(
    db: &Db,
    dsn: &Dsn,
    no_migrate: bool,
    role: &'static str,
) -> Result<(), DbError> {
    if no_migrate {
        let status = migrate::status(db).await?;
        migrate::check_drift(&status)?;
        let pending = status
            .iter()
            .filter(|s| s.state == migrate::State::Pending)
            .count();
        if pending > 0 {
            tracing::warn!(
                database = role,
                pending,
                "pending migrations not applied (--no-migrate)"
            );
        }
        return Ok(());
    }
    let done = migrate::apply(db, dsn, &|| {
        tracing::info!("waiting for the migration lock")
    })
    .await?;
    if !done.versions.is_empty() {
        tracing::info!(database = role, versions = ?done.versions, "applied migrations");
    }
    Ok(())
}

/// Resolves once the database answers and its schema is one this binary
/// may write (migrated, unless `--no-migrate`); `Err` with the reason when
/// it is not. Retries an unreachable server with a back-off up to 10 s.
async fn schema_when_reachable(
    db: Db,
    dsn: Dsn,
    no_migrate: bool,
    role: &'static str,
) -> Result<(), String> {
    let mut backoff = Duration::from_millis(500);
    loop {
        match migrate_now(&db, &dsn, no_migrate, role).await {
            Ok(()) => {
                tracing::info!(
                    database = role,
                    "the database answers again; schema checked"
                );
                return Ok(());
            }
            Err(e @ DbError::Migrate(_)) => return Err(e.to_string()),
            Err(e) => {
                tracing::debug!(database = role, "still unreachable: {e}");
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(Duration::from_secs(10));
            }
        }
    }
}

/// The authenticator (with auth on): the bootstrap admin made when the
/// identity database answers, the snapshot kept, and — when it does not
/// answer — the keys of the last snapshot served meanwhile.
pub(super) async fn authenticator(
    config: &Config,
    identity: &Db,
    identity_down: bool,
) -> Result<(Option<Authenticator>, Option<String>), ServeError> {
    if !config.auth.enabled {
        tracing::warn!(
            "auth is disabled (auth.enabled = false): every request is recorded as anonymous"
        );
        return Ok((None, None));
    }
    let mut bootstrap_key = None;
    if config.auth.bootstrap_admin && !identity_down {
        bootstrap_key = crate::identity::store::ensure_bootstrap(identity)
            .await
            .map_err(|e| ServeError::Identity(e.to_string()))?;
    }
    let auth = Authenticator::new(
        identity.clone(),
        Duration::from_millis(config.auth.cache_ttl_ms),
    );
    let path = &config.identity.snapshot_path;
    if identity_down {
        seed(&auth, path);
    }
    if !path.is_empty() {
        snapshot::spawn_keeper(identity.clone(), path.into());
    }
    Ok((Some(auth), bootstrap_key))
}

/// Serves the snapshot's keys while the identity database is down.
fn seed(auth: &Authenticator, path: &str) {
    if path.is_empty() {
        tracing::warn!(
            "identity.snapshot_path is empty: every request is refused (503) until the identity \
             database answers"
        );
        return;
    }
    match snapshot::read(Path::new(path)) {
        Ok(Some(snap)) => {
            let age_s = (crate::db::now_us() - snap.written_at_us).max(0) / 1_000_000;
            let n = auth.seed(snap.keys);
            tracing::warn!(
                "serving {n} API keys from the identity snapshot {path} (written {age_s} s ago) \
                 until the identity database answers; revocations made meanwhile apply then"
            );
        }
        Ok(None) => tracing::warn!(
            "no identity snapshot at {path}: every request is refused (503) until the identity \
             database answers"
        ),
        Err(e) => tracing::warn!(
            "{e}; every request is refused (503) until the identity database answers"
        ),
    }
}

/// The limiter, which also holds the budgets. With the limits on, Redis
/// must answer at start as before; with them off (budgets only) a Redis
/// that does not answer leaves each gateway enforcing budgets on its own,
/// said loudly, rather than refusing to start.
pub(super) async fn limiter(
    config: &Config,
    setup: crate::ratelimit::SpendSetup,
) -> Result<crate::ratelimit::RateLimiter, super::server::ServeError> {
    use crate::ratelimit::RateLimiter;
    let fail =
        |e: crate::ratelimit::RateLimitError| super::server::ServeError::RateLimit(e.to_string());
    if config.rate_limit.enabled || config.rate_limit.redis_addr.is_empty() {
        return RateLimiter::build(&config.rate_limit, setup)
            .await
            .map_err(fail);
    }
    match RateLimiter::build(&config.rate_limit, setup.clone()).await {
        Ok(l) => Ok(l),
        Err(e) => {
            tracing::warn!(error = %e,
                "Redis does not answer: budgets are enforced by this gateway alone (not shared) until it restarts with Redis up");
            let mut alone = config.rate_limit.clone();
            alone.redis_addr = Default::default();
            RateLimiter::build(&alone, setup).await.map_err(fail)
        }
    }
}
