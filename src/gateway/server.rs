//! Running the gateway: bind, announce the address, serve until SIGINT or
//! SIGTERM, then stop accepting, let in-flight requests finish within the
//! deadline, flush the ledger and report.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::router;
use crate::config::Config;
use crate::db::{Databases, DbError};
use crate::ledger::{LedgerWriter, WriterStats};
use crate::providers::health::ProviderProbes;
use crate::providers::{self, UpstreamError};
use crate::telemetry::metrics::Metrics;
use crate::telemetry::{MetricsPlace, Telemetry, metrics_place};

/// Why the server could not start or stopped badly.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error(transparent)]
    Db(#[from] DbError),
    #[error(transparent)]
    Provider(#[from] UpstreamError),
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{0}")]
    Identity(String),
    #[error("{0}")]
    RateLimit(String),
    #[error(transparent)]
    Metrics(#[from] crate::telemetry::metrics::MetricsError),
    #[error("server error: {0}")]
    Io(#[from] std::io::Error),
    #[error(transparent)]
    Ledger(#[from] crate::ledger::LedgerError),
    #[error(
        "{0}; with ledger.spool.enabled = true (and ledger.async.enabled = true) the gateway \
         starts during a database outage and keeps entries on disk until it returns"
    )]
    NoSpool(DbError),
}

/// Options that are not config keys.
#[derive(Debug, Clone, Default)]
pub struct ServeOptions {
    /// Skip applying pending migrations (still refuses a drifted schema).
    pub no_migrate: bool,
}

/// What happened at shutdown.
#[derive(Debug, Clone)]
pub struct ShutdownReport {
    pub ledger: WriterStats,
    pub unfinished_requests: usize,
}

/// Serves until a shutdown signal. `on_bootstrap_key` receives the admin
/// key made on first start and the bound address, once the gateway
/// listens (the caller prints them, so the hint names the real port).
pub async fn serve(
    config: Config,
    opts: ServeOptions,
    on_bootstrap_key: impl FnOnce(&str, SocketAddr),
) -> Result<ShutdownReport, ServeError> {
    let config = Arc::new(config);
    let opened = super::startup::open_databases(&config, &opts).await?;
    let dbs = opened.dbs;
    let (auth, bootstrap_key) =
        super::startup::authenticator(&config, &dbs.identity, opened.identity_down).await?;
    let ledger =
        LedgerWriter::start_with(dbs.ledger.clone(), &config.ledger, opened.opening).await?;
    // Budgets live on identities, so a gateway with auth always has a
    // limiter: with `rate_limit.enabled = false` it enforces budgets only.
    let limiter = if config.rate_limit.enabled || config.auth.enabled {
        let unwritten = ledger.unwritten();
        let setup = crate::ratelimit::SpendSetup {
            tz: crate::budget::time_zone(&config.budgets.timezone)
                .map_err(|e| ServeError::RateLimit(e.to_string()))?,
            on_store_failure: config.budgets.on_store_failure,
            ledger: Some(dbs.ledger.clone()),
            unwritten,
            hold_ms: config.server.request_timeout_ms,
        };
        let l = super::startup::limiter(&config, setup).await?;
        if config.rate_limit.enabled {
            tracing::info!(store = l.store_name(), "rate limiting on");
        }
        Some(l)
    } else {
        None
    };
    // One deployment state per process: cooldowns and load are shared by
    // every worker.
    let routing = Arc::new(super::routing::Shared::new(&config));
    // With a Redis: cooldowns shared with the other gateways, off the
    // request path.
    let fleet = super::routing::fleet::spawn(&routing, &config);
    // These serve the health probes; requests go through each worker's own.
    let providers = providers::build(&config)?;
    let (telemetry, probes) = telemetry(
        &config,
        &dbs,
        &ledger,
        &providers,
        limiter.clone(),
        &routing,
    )?;
    let probes = probes.spawn(super::health::probe_interval(&config));
    if let Some(l) = &limiter {
        let t = telemetry.clone();
        l.spawn_reconciler(
            Duration::from_millis(config.budgets.reconcile_interval_ms),
            move |scope, gap| t.budget_drift(scope.as_str(), gap),
        );
    }
    let tracker = TaskTracker::new();
    let shutdown = CancellationToken::new();
    // Each worker gets its own providers (its own upstream connection
    // pools, so upstream sockets live on the worker's thread too); the
    // rest of the state is shared.
    let app_state = |routes: Arc<super::routes::Routes>| {
        Arc::new(super::App {
            config: config.clone(),
            routes,
            auth: auth.clone(),
            ledger: ledger.for_worker(),
            limiter: limiter.clone(),
            tracker: tracker.clone(),
            shutdown: shutdown.clone(),
            telemetry: telemetry.clone(),
            metrics_shard: telemetry.shard(),
        })
    };
    let mut apps = Vec::new();
    for _ in 0..super::workers::count(config.server.workers) {
        let own = providers::build(&config)?;
        let routes = super::routes::Routes::new(&config, &own, &routing);
        apps.push(router(app_state(Arc::new(routes))));
    }
    // Bound before the main port is announced, so a scraper told the
    // address finds /metrics too.
    let metrics_listener = match metrics_place(&config) {
        MetricsPlace::Separate(addr) => {
            let l = TcpListener::bind(&addr)
                .await
                .map_err(|source| ServeError::Bind {
                    addr: addr.clone(),
                    source,
                })?;
            tracing::info!("metrics on http://{}/metrics", l.local_addr()?);
            Some(l)
        }
        _ => None,
    };
    let addr = config.server.listen.clone();
    let listener = TcpListener::bind(&addr)
        .await
        .map_err(|source| ServeError::Bind {
            addr: addr.clone(),
            source,
        })?;
    let local: SocketAddr = listener.local_addr()?;
    let signal = shutdown_signal();
    let stop = CancellationToken::new();
    let served = apps.len();
    let (max_connections, file_limit) = super::admit::max_connections(&config);
    match file_limit {
        Some(limit) => tracing::info!(
            "at most {max_connections} client connections (half of what the open-file limit of {limit} leaves; server.max_connections)"
        ),
        None => tracing::debug!("at most {max_connections} client connections"),
    }
    let serving = super::workers::Serving {
        pin: config.server.pin_workers,
        deadlines: super::conn::Deadlines {
            header_read: Duration::from_millis(config.server.header_read_timeout_ms),
            keepalive_idle: Duration::from_millis(config.server.keepalive_idle_timeout_ms),
        },
        gate: super::admit::Gate::new(
            max_connections,
            telemetry.metrics.as_ref().map(Metrics::connection_counters),
        ),
    };
    let mut workers = super::workers::start(listener, apps, stop.clone(), serving)?;
    // The key first: scripts and tests read it before the address line.
    if let Some(key) = bootstrap_key {
        on_bootstrap_key(&key, local);
    }
    tracing::info!("listening on {local}");
    tracing::debug!("{served} worker threads serve connections");
    if let Some(listener) = metrics_listener {
        let stop_metrics = stop.clone();
        let app = crate::telemetry::endpoints::metrics_router(telemetry.clone());
        tokio::spawn(async move {
            axum::serve(listener, app)
                .with_graceful_shutdown(async move { stop_metrics.cancelled().await })
                .await
        });
    }
    match opened.schema {
        // A database unreachable at start: its schema is checked here,
        // beside the wait for a signal (see `startup::Opened::schema`).
        Some(schema) => {
            tokio::pin!(signal);
            tokio::select! {
                () = &mut signal => {}
                () = schema => signal.await,
            }
        }
        None => signal.await,
    }
    tracing::info!("shutting down: no new connections; waiting for in-flight requests");
    stop.cancel();
    let deadline = Duration::from_millis(config.server.shutdown_timeout_ms);
    let until = tokio::time::Instant::now() + deadline;
    tracker.close();
    if tokio::time::timeout(deadline, tracker.wait())
        .await
        .is_err()
    {
        tracing::warn!("shutdown deadline passed; ending the remaining streams");
        shutdown.cancel();
        // Answers held for an entry a full spool disk cannot take end too.
        ledger.give_up_blocked_writes();
        let _ = tokio::time::timeout(Duration::from_secs(2), tracker.wait()).await;
    }
    let unfinished = tracker.len();
    if !workers.drained(Duration::from_secs(1)).await {
        tracing::warn!("connections still open at shutdown were closed");
    }
    probes.abort();
    if let Some(fleet) = fleet {
        fleet.abort();
    }
    // The ledger gets what is left of the deadline (at least a second):
    // what the database has not taken by then stays in the spool.
    let left = until.saturating_duration_since(tokio::time::Instant::now());
    let stats = ledger
        .shutdown_within(left.max(Duration::from_secs(1)))
        .await;
    tracing::info!(
        written = stats.written,
        dropped = stats.dropped,
        unfinished_requests = unfinished,
        "ledger flushed; bye"
    );
    for (_, db, _) in dbs.distinct() {
        db.close().await;
    }
    workers.finish().await;
    Ok(ShutdownReport {
        ledger: stats,
        unfinished_requests: unfinished,
    })
}

/// Metrics and health over the opened databases, writer and providers,
/// and the provider probes to start.
fn telemetry(
    config: &Config,
    dbs: &Databases,
    ledger: &LedgerWriter,
    providers: &providers::Providers,
    limiter: Option<crate::ratelimit::RateLimiter>,
    routing: &Arc<super::routing::Shared>,
) -> Result<(Arc<Telemetry>, Arc<ProviderProbes>), ServeError> {
    let metrics = if config.metrics.enabled {
        Some(Metrics::new(config)?)
    } else {
        None
    };
    let (health, probes) =
        super::health::for_serve(config, dbs, ledger, providers, limiter, routing);
    let telemetry = Arc::new(Telemetry {
        metrics,
        health: Arc::new(health),
        ledger: ledger.clone(),
        deployments: Some(routing.clone()),
    });
    Ok((telemetry, probes))
}

/// Registers for SIGINT and SIGTERM at once (the caller does this before
/// announcing its address, so a signal sent the moment the gateway says it
/// listens is a clean shutdown, not the default action's kill) and returns
/// a future that resolves on the first of them.
fn shutdown_signal() -> impl std::future::Future<Output = ()> {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let mut term = signal(SignalKind::terminate()).ok();
        let mut int = signal(SignalKind::interrupt()).ok();
        async move {
            let wait = |s: Option<tokio::signal::unix::Signal>| async move {
                match s {
                    Some(mut s) => {
                        s.recv().await;
                    }
                    None => std::future::pending::<()>().await,
                }
            };
            tokio::select! {
                () = wait(term.take()) => {},
                () = wait(int.take()) => {},
            }
        }
    }
    #[cfg(not(unix))]
    async {
        let _ = tokio::signal::ctrl_c().await;
    }
}
