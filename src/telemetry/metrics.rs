//! The Prometheus registry of the gateway and the one place requests are
//! counted: [`Metrics::record_in`] takes a finished request's ledger entry
//! (so metrics and ledger can never disagree on what a request was) into
//! the serving worker's [`Shard`], and [`Metrics::render`] adds every
//! shard's counts to the series, then writes the text exposition with the
//! values read at scrape time (ledger writer, database pools, uptime).
//!
//! Label values come only from bounded sets: endpoints and providers from
//! the configuration, models from the configured names (anything else is
//! `other`), status codes 100–599, error kinds from `&'static str` labels,
//! and at most `metrics.max_user_series` users (masked as `u<id>`, the rest
//! `other`) and as many teams (`t<id>`). Names live in [`super::names`]. Serving `/metrics` is not done
//! here; see [`super::http`].

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError, RwLock};
use std::time::Instant;

use prometheus::core::Collector;
use prometheus::proto::MetricFamily;
use prometheus::{
    Encoder, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge, Opts, Registry,
    TextEncoder,
};

use super::health::DbPool;
use super::names::{self, Name};
use crate::config::Config;
use crate::ledger::{Entry, WriterStats};
use scrape::scrape_families;
pub use shard::{InFlight, Shard};
use shard::{LabelId, OTHER_ID};

pub mod deployments;
mod scrape;
mod shard;

/// Buckets for whole requests and upstream answers (seconds): LLM calls
/// range from milliseconds (embeddings, errors) to minutes (long streams).
const DURATION_BUCKETS: &[f64] = &[
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0,
];
/// Buckets for the gateway's own time per request (seconds): tens of
/// microseconds when all is well, milliseconds under queueing.
const OVERHEAD_BUCKETS: &[f64] = &[
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0,
];
/// Buckets for time to first token (seconds).
const TTFT_BUCKETS: &[f64] = &[0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 5.0, 10.0, 30.0];

/// The label of everything outside a bounded set.
pub const OTHER: &str = "other";

/// Why the registry could not be built (a programming error in names or
/// labels, reported at start rather than panicking).
#[derive(Debug, thiserror::Error)]
#[error("cannot register metric: {0}")]
pub struct MetricsError(#[from] prometheus::Error);

/// The registry and the handles the request path records into.
pub struct Metrics {
    registry: Registry,
    requests: IntCounterVec,
    errors: IntCounterVec,
    in_flight: IntGauge,
    duration: HistogramVec,
    upstream: HistogramVec,
    ttft: HistogramVec,
    overhead: HistogramVec,
    tokens: IntCounterVec,
    cost: IntCounterVec,
    user_tokens: IntCounterVec,
    auth_refusals: IntCounterVec,
    admission_refusals: IntCounterVec,
    rate_limit_refusals: IntCounterVec,
    rate_limit_store_failures: IntCounter,
    rate_limit_store_skipped: IntCounter,
    connections_refused: IntCounter,
    open_connections: IntGauge,
    /// The configured model and provider names, each label's index.
    models: Labels,
    providers: Labels,
    /// Every worker's shard (and [`Metrics::record`]'s own, first),
    /// flushed into the series above at each scrape.
    shards: Mutex<Vec<Arc<Shard>>>,
    max_users: usize,
    /// Users given their own series so far, with their masked label.
    users: RwLock<HashMap<i64, String>>,
    /// Teams given their own series so far (`t<id>`), capped like users.
    teams: RwLock<HashMap<i64, String>>,
    team_cost: IntCounterVec,
    budget_soft: IntCounterVec,
    budget_store: IntCounterVec,
    budget_drift: prometheus::IntGaugeVec,
    started: Instant,
}

fn opts(n: Name) -> Opts {
    Opts::new(n.0, n.1)
}

fn hist(n: Name, buckets: &[f64]) -> HistogramOpts {
    HistogramOpts::new(n.0, n.1).buckets(buckets.to_vec())
}

impl Metrics {
    /// Builds the registry for the configured models and providers.
    pub fn new(c: &Config) -> Result<Metrics, MetricsError> {
        let registry = Registry::new();
        let requests = IntCounterVec::new(opts(names::REQUESTS), &["endpoint", "model", "status"])?;
        let errors = IntCounterVec::new(opts(names::REQUEST_ERRORS), &["kind"])?;
        let in_flight = IntGauge::with_opts(opts(names::IN_FLIGHT))?;
        let duration = HistogramVec::new(
            hist(names::REQUEST_DURATION, DURATION_BUCKETS),
            &["endpoint", "provider"],
        )?;
        let upstream = HistogramVec::new(
            hist(names::UPSTREAM_LATENCY, DURATION_BUCKETS),
            &["provider"],
        )?;
        let ttft = HistogramVec::new(hist(names::TTFT, TTFT_BUCKETS), &["provider"])?;
        let overhead = HistogramVec::new(hist(names::OVERHEAD, OVERHEAD_BUCKETS), &["endpoint"])?;
        let tokens = IntCounterVec::new(opts(names::TOKENS), &["model", "type"])?;
        let cost = IntCounterVec::new(opts(names::COST), &["model"])?;
        let user_tokens = IntCounterVec::new(opts(names::USER_TOKENS), &["user", "type"])?;
        let auth_refusals = IntCounterVec::new(opts(names::AUTH_REFUSALS), &["reason"])?;
        let team_cost = IntCounterVec::new(opts(names::TEAM_COST), &["team"])?;
        let admission_refusals =
            IntCounterVec::new(opts(names::ADMISSION_REFUSALS), &["reason", "scope"])?;
        let rate_limit_refusals = IntCounterVec::new(opts(names::RATE_LIMIT_REFUSALS), &["type"])?;
        let rate_limit_store_failures =
            IntCounter::with_opts(opts(names::RATE_LIMIT_STORE_FAILURES))?;
        let rate_limit_store_skipped =
            IntCounter::with_opts(opts(names::RATE_LIMIT_STORE_SKIPPED))?;
        let connections_refused = IntCounter::with_opts(opts(names::CONNECTIONS_REFUSED))?;
        let open_connections = IntGauge::with_opts(opts(names::OPEN_CONNECTIONS))?;
        let budget_soft = IntCounterVec::new(opts(names::BUDGET_SOFT), &["scope"])?;
        let budget_store = IntCounterVec::new(opts(names::BUDGET_STORE), &["outcome"])?;
        let budget_drift = prometheus::IntGaugeVec::new(opts(names::BUDGET_DRIFT), &["scope"])?;
        let collectors: [Box<dyn Collector>; 21] = [
            Box::new(budget_soft.clone()),
            Box::new(budget_store.clone()),
            Box::new(budget_drift.clone()),
            Box::new(overhead.clone()),
            Box::new(cost.clone()),
            Box::new(rate_limit_store_skipped.clone()),
            Box::new(connections_refused.clone()),
            Box::new(open_connections.clone()),
            Box::new(rate_limit_refusals.clone()),
            Box::new(rate_limit_store_failures.clone()),
            Box::new(requests.clone()),
            Box::new(errors.clone()),
            Box::new(in_flight.clone()),
            Box::new(duration.clone()),
            Box::new(upstream.clone()),
            Box::new(ttft.clone()),
            Box::new(tokens.clone()),
            Box::new(user_tokens.clone()),
            Box::new(auth_refusals.clone()),
            Box::new(admission_refusals.clone()),
            Box::new(team_cost.clone()),
        ];
        for c in collectors {
            registry.register(c)?;
        }
        Ok(Metrics {
            registry,
            requests,
            errors,
            in_flight,
            duration,
            upstream,
            ttft,
            overhead,
            tokens,
            cost,
            user_tokens,
            auth_refusals,
            admission_refusals,
            rate_limit_refusals,
            rate_limit_store_failures,
            rate_limit_store_skipped,
            connections_refused,
            open_connections,
            models: Labels::new(c.models.iter().map(|m| m.name.clone())),
            providers: Labels::new(c.providers.keys().cloned()),
            shards: Mutex::new(vec![Arc::new(Shard::default())]),
            max_users: c.metrics.max_user_series,
            users: RwLock::new(HashMap::new()),
            teams: RwLock::new(HashMap::new()),
            team_cost,
            budget_soft,
            budget_store,
            budget_drift,
            started: Instant::now(),
        })
    }

    /// A new shard for one serving worker, flushed at every scrape.
    pub fn shard(&self) -> Arc<Shard> {
        let shard = Arc::new(Shard::default());
        self.shards
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(shard.clone());
        shard
    }

    /// The shard of callers without one of their own (tests, benches).
    fn own(&self) -> Arc<Shard> {
        let shards = self.shards.lock().unwrap_or_else(PoisonError::into_inner);
        shards.first().cloned().unwrap_or_default()
    }

    /// Counts a request as in flight until the guard is dropped.
    pub fn in_flight(&self) -> InFlight {
        self.own().in_flight()
    }

    /// Counts an auth refusal; `reason` is the error's fixed label.
    pub fn auth_refused(&self, reason: &'static str) {
        self.auth_refusals.with_label_values(&[reason]).inc();
    }

    /// Counts an admission refusal; both labels are fixed sets.
    pub fn admission_refused(&self, reason: &'static str, scope: &'static str) {
        self.admission_refusals
            .with_label_values(&[reason, scope])
            .inc();
    }

    /// Counts a budget's soft threshold crossed; `scope` is key, user or team.
    pub fn budget_soft_threshold(&self, scope: &'static str) {
        self.budget_soft.with_label_values(&[scope]).inc();
    }

    /// Counts a budget decision made while Redis failed (`local`, `refused`).
    pub fn budget_store_failed(&self, outcome: &'static str) {
        self.budget_store.with_label_values(&[outcome]).inc();
    }

    /// The reconciler's largest drift for `scope` at its last run.
    pub fn budget_drift(&self, scope: &'static str, nano: i64) {
        self.budget_drift.with_label_values(&[scope]).set(nano);
    }

    /// Counts a rate-limit refusal; `kind` is `user`, `apikey` or `tokens`.
    pub fn rate_limited(&self, kind: &'static str) {
        self.rate_limit_refusals.with_label_values(&[kind]).inc();
    }

    /// Counts a failed rate-limit store check.
    pub fn rate_limit_store_failed(&self) {
        self.rate_limit_store_failures.inc();
    }

    /// Counts a rate-limit check that skipped Redis (breaker open).
    pub fn rate_limit_store_skipped(&self) {
        self.rate_limit_store_skipped.inc();
    }

    /// The handles the accept loop counts connections with: refused ones,
    /// and those open now.
    pub fn connection_counters(&self) -> (IntCounter, IntGauge) {
        (
            self.connections_refused.clone(),
            self.open_connections.clone(),
        )
    }

    /// Records one finished request from its ledger entry, in the shard
    /// of callers without one (a worker records in its own: [`Shard`]).
    pub fn record(&self, e: &Entry) {
        self.record_in(&self.own(), e);
    }

    /// Records one finished request in `shard`.
    pub fn record_in(&self, shard: &Shard, e: &Entry) {
        shard.record(self, e);
    }

    fn model_id(&self, model: &str) -> LabelId {
        self.models.id(model)
    }

    fn model_label(&self, id: LabelId) -> &str {
        self.models.label(id)
    }

    fn provider_id(&self, provider: &str) -> LabelId {
        self.providers.id(provider)
    }

    fn provider_label(&self, id: LabelId) -> &str {
        self.providers.label(id)
    }

    /// Runs `f` with the user's label: `u<id>` while fewer than
    /// `max_user_series` users have one, `other` after.
    fn with_user_label<T>(&self, id: i64, f: impl FnOnce(&str) -> T) -> T {
        self.with_masked_label(&self.users, 'u', id, f)
    }

    /// Runs `f` with the team's label: `t<id>`, capped like users'.
    fn with_team_label<T>(&self, id: i64, f: impl FnOnce(&str) -> T) -> T {
        self.with_masked_label(&self.teams, 't', id, f)
    }

    fn with_masked_label<T>(
        &self,
        labels: &RwLock<HashMap<i64, String>>,
        prefix: char,
        id: i64,
        f: impl FnOnce(&str) -> T,
    ) -> T {
        {
            let known = labels.read().unwrap_or_else(PoisonError::into_inner);
            if let Some(label) = known.get(&id) {
                return f(label);
            }
            if known.len() >= self.max_users {
                return f(OTHER);
            }
        }
        let mut known = labels.write().unwrap_or_else(PoisonError::into_inner);
        if known.len() >= self.max_users && !known.contains_key(&id) {
            return f(OTHER);
        }
        let label = known.entry(id).or_insert_with(|| format!("{prefix}{id}"));
        f(label)
    }

    /// The text exposition: the registry plus the values read now.
    pub fn render(&self, ledger: &WriterStats, pools: &[DbPool]) -> String {
        self.render_with(ledger, pools, Vec::new())
    }

    /// [`Metrics::render`] plus families read elsewhere (the deployments').
    pub fn render_with(
        &self,
        ledger: &WriterStats,
        pools: &[DbPool],
        extra: Vec<MetricFamily>,
    ) -> String {
        {
            let shards = self.shards.lock().unwrap_or_else(PoisonError::into_inner);
            shards.iter().for_each(|s| s.flush());
            self.in_flight
                .set(shards.iter().map(|s| s.in_flight_now()).sum());
        }
        let mut families = self.registry.gather();
        families.extend(scrape_families(ledger, pools, self.started));
        families.extend(extra);
        let mut out = Vec::new();
        // Encoding into a Vec fails only on a malformed family, which
        // `scrape_families` never builds; an empty answer would show it.
        if let Err(e) = TextEncoder::new().encode(&families, &mut out) {
            tracing::error!("cannot encode metrics: {e}");
        }
        String::from_utf8_lossy(&out).into_owned()
    }
}

/// A bounded label set (configured names), each name's index its id.
struct Labels {
    names: Vec<String>,
    ids: HashMap<String, LabelId>,
}

impl Labels {
    fn new(names: impl Iterator<Item = String>) -> Labels {
        // Past u16::MAX - 1 names (no real config has them) the rest are
        // `other`, like any unknown name.
        let names: Vec<String> = names.take(usize::from(OTHER_ID)).collect();
        let ids = (0..).zip(&names).map(|(i, n)| (n.clone(), i)).collect();
        Labels { names, ids }
    }

    fn id(&self, name: &str) -> LabelId {
        self.ids.get(name).copied().unwrap_or(OTHER_ID)
    }

    fn label(&self, id: LabelId) -> &str {
        self.names
            .get(usize::from(id))
            .map_or(OTHER, String::as_str)
    }
}

/// The content type of the text exposition.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

#[cfg(test)]
mod tests;
