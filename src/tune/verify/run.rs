//! One `tune --verify` run from start to verdict: a temporary directory
//! with the run's config, the child gateway, open-loop load at the target
//! rate from the `loadtest` engine while `/metrics` is sampled every
//! 100 ms, SIGTERM, the ledger counted, and the [`judge`]ment.

use std::path::Path;
use std::time::{Duration, Instant};

use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use super::RunError;
use super::child::Gateway;
use super::judge::{Observed, Outcome, judge};
use super::scrape::{metric, quantile};
use super::setup::{Override, async_values, check_seconds, config_toml};
use crate::db::{Backend, Db, Dsn, PoolSettings};
use crate::loadtest::{self, Criteria, Plan, Stop, Target};
use crate::telemetry::names::{LEDGER_DROPPED, LEDGER_QUEUE};
use crate::tune::model::Recommendation;

/// A run's verdict and the `[ledger.async]` values it ran with.
#[derive(Debug, Clone)]
pub struct Verified {
    pub outcome: Outcome,
    /// (key, value) in config order, overrides applied.
    pub settings: Vec<(&'static str, u64)>,
}

/// Verifies `rec` for `seconds` against `exe serve` on 127.0.0.1.
///
/// The ledger is `configured_ledger` when it is PostgreSQL (rows counted
/// as a difference), else a fresh SQLite file so the count is this run's
/// alone. `exe` is this program (`std::env::current_exe()`).
pub async fn run(
    exe: &Path,
    rec: &Recommendation,
    configured_ledger: &str,
    seconds: f64,
    overrides: &[Override],
) -> Result<Verified, RunError> {
    let seconds = check_seconds(seconds)?;
    let dir = tempfile::tempdir().map_err(RunError::TempDir)?;
    let at = |name: &str| dir.path().join(name).display().to_string();
    let ledger_dsn = match Dsn::parse(configured_ledger) {
        Ok(d) if d.backend() == Backend::Postgres => configured_ledger.to_string(),
        _ => at("ledger.db"),
    };
    let cfg = config_toml(
        rec,
        overrides,
        &ledger_dsn,
        &at("identity.db"),
        &at("dead-letter.jsonl"),
    );
    let cfg_path = dir.path().join("config.toml");
    std::fs::write(&cfg_path, &cfg).map_err(|source| RunError::WriteConfig {
        path: cfg_path.clone(),
        source,
    })?;
    let (settings, _) = async_values(rec, overrides);
    let value = |key: &str| settings.iter().find(|(k, _)| *k == key).map_or(0, |p| p.1);

    let dsn = Dsn::parse(&ledger_dsn)?;
    let before = count_rows(&dsn).await.unwrap_or(0);
    let mut gw = Gateway::start(exe, &cfg_path, dir.path())?;
    let (addr, key) = gw.address()?;

    let cancel = CancellationToken::new();
    let sampler = sample(format!("http://{addr}/metrics"), cancel.clone());
    let target = Target::new(
        &format!("http://{addr}/v1/chat/completions"),
        &[],
        key.as_deref(),
        loadtest::chat_body("gpt-4o-mini", "Say hello.", false),
    )?;
    let plan = Plan {
        target,
        concurrency: vec![((rec.inputs.qps / 20.0).ceil() as usize).clamp(4, 512)],
        rate: Some(rec.inputs.qps),
        stop: Stop::Duration(Duration::from_secs_f64(seconds)),
        warmup: Duration::ZERO,
        timeout: Duration::from_secs(10),
        stream: false,
        slo: Criteria::default(),
        keep_intervals: false,
        threads: None,
    };
    let started = Instant::now();
    let load = loadtest::run(&plan, &CancellationToken::new(), &|_| {}).await;
    let ran = started.elapsed();
    // A few samples after the last answer show the buffer draining.
    tokio::time::sleep(Duration::from_millis(300)).await;
    cancel.cancel();
    let (depths, metric_dropped) = sampler.await.unwrap_or_default();
    let report = load?.0.into_iter().next().ok_or(RunError::NoReport)?;

    let shutdown = gw.stop()?;
    let rows = count_rows(&dsn).await?.saturating_sub(before);
    let (written, dropped) = shutdown.unwrap_or((rows, metric_dropped));
    let outcome = judge(Observed {
        qps: rec.inputs.qps,
        seconds,
        buffer_size: value("buffer_size"),
        flush_ms: value("flush_ms"),
        sent: report.requests,
        answered: report.status_codes.values().sum(),
        answered_2xx: report.successes,
        rows,
        dropped: dropped.max(metric_dropped),
        peak_depth: depths.iter().copied().max().unwrap_or(0),
        p99_depth: quantile(&depths, 0.99),
        samples: depths.len(),
        write_rate: written as f64 / ran.as_secs_f64().max(1e-3),
    });
    Ok(Verified { outcome, settings })
}

/// Samples the queue depth and the dropped count from `url` about every
/// 100 ms until `cancel`; a scrape that fails is skipped.
fn sample(url: String, cancel: CancellationToken) -> JoinHandle<(Vec<u64>, u64)> {
    tokio::spawn(async move {
        let client = reqwest::Client::new();
        let mut depths = Vec::new();
        let mut dropped = 0u64;
        let mut tick = tokio::time::interval(Duration::from_millis(100));
        while !cancel.is_cancelled() {
            tokio::select! {
                _ = tick.tick() => {}
                _ = cancel.cancelled() => break,
            }
            let sent = client.get(&url).timeout(Duration::from_secs(1)).send();
            let text = match sent.await {
                Ok(r) => r.text().await.unwrap_or_default(),
                Err(_) => continue,
            };
            if let Some(d) = metric(&text, LEDGER_QUEUE.0) {
                depths.push(d as u64);
            }
            if let Some(d) = metric(&text, LEDGER_DROPPED.0) {
                dropped = d as u64;
            }
        }
        (depths, dropped)
    })
}

/// Rows in the ledger at `dsn`, over a small pool of its own.
async fn count_rows(dsn: &Dsn) -> Result<u64, RunError> {
    let settings = PoolSettings {
        max_open: 2,
        ..PoolSettings::ledger(&crate::config::Config::default())
    };
    let db = Db::connect(dsn, &settings, "ledger")
        .await
        .map_err(|e| RunError::Count(Box::new(e)))?;
    let n = crate::ledger::count(&db)
        .await
        .map_err(|e| RunError::Count(Box::new(e)));
    db.close().await;
    n
}
