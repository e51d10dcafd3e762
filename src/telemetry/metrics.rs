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
//! `other`). Names live in [`super::names`]. Serving `/metrics` is not done
//! here; see [`super::http`].

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError, RwLock};
use std::time::Instant;

use prometheus::core::Collector;
use prometheus::proto::{self, MetricFamily, MetricType};
use prometheus::{
    Encoder, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge, Opts, Registry,
    TextEncoder,
};

use super::health::DbPool;
use super::names::{self, Name};
use crate::config::Config;
use crate::ledger::{Entry, WriterStats};
pub use shard::{InFlight, Shard};
use shard::{LabelId, OTHER_ID};

pub mod deployments;
mod shard;

/// Buckets for whole requests and upstream answers (seconds): LLM calls
/// range from milliseconds (embeddings, errors) to minutes (long streams).
const DURATION_BUCKETS: &[f64] = &[
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0,
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
    tokens: IntCounterVec,
    user_tokens: IntCounterVec,
    auth_refusals: IntCounterVec,
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
        let tokens = IntCounterVec::new(opts(names::TOKENS), &["model", "type"])?;
        let user_tokens = IntCounterVec::new(opts(names::USER_TOKENS), &["user", "type"])?;
        let auth_refusals = IntCounterVec::new(opts(names::AUTH_REFUSALS), &["reason"])?;
        let rate_limit_refusals = IntCounterVec::new(opts(names::RATE_LIMIT_REFUSALS), &["type"])?;
        let rate_limit_store_failures =
            IntCounter::with_opts(opts(names::RATE_LIMIT_STORE_FAILURES))?;
        let rate_limit_store_skipped =
            IntCounter::with_opts(opts(names::RATE_LIMIT_STORE_SKIPPED))?;
        let connections_refused = IntCounter::with_opts(opts(names::CONNECTIONS_REFUSED))?;
        let open_connections = IntGauge::with_opts(opts(names::OPEN_CONNECTIONS))?;
        let collectors: [Box<dyn Collector>; 14] = [
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
            tokens,
            user_tokens,
            auth_refusals,
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
        {
            let users = self.users.read().unwrap_or_else(PoisonError::into_inner);
            if let Some(label) = users.get(&id) {
                return f(label);
            }
            if users.len() >= self.max_users {
                return f(OTHER);
            }
        }
        let mut users = self.users.write().unwrap_or_else(PoisonError::into_inner);
        if users.len() >= self.max_users && !users.contains_key(&id) {
            return f(OTHER);
        }
        let label = users.entry(id).or_insert_with(|| format!("u{id}"));
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

fn family(n: Name, kind: MetricType, metrics: Vec<proto::Metric>) -> MetricFamily {
    let mut f = MetricFamily::default();
    f.set_name(n.0.to_string());
    f.set_help(n.1.to_string());
    f.set_field_type(kind);
    f.set_metric(metrics);
    f
}

fn labels(pairs: &[(&str, &str)]) -> Vec<proto::LabelPair> {
    pairs
        .iter()
        .map(|(k, v)| {
            let mut l = proto::LabelPair::default();
            l.set_name((*k).to_string());
            l.set_value((*v).to_string());
            l
        })
        .collect()
}

fn gauge(pairs: &[(&str, &str)], v: f64) -> proto::Metric {
    let mut g = proto::Gauge::default();
    g.set_value(v);
    let mut m = proto::Metric::default();
    m.set_label(labels(pairs));
    m.set_gauge(g);
    m
}

fn counter(v: f64) -> proto::Metric {
    let mut c = proto::Counter::default();
    c.set_value(v);
    let mut m = proto::Metric::default();
    m.set_counter(c);
    m
}

/// Families whose values are read at scrape time, not recorded.
fn scrape_families(s: &WriterStats, pools: &[DbPool], started: Instant) -> Vec<MetricFamily> {
    use MetricType::{COUNTER, GAUGE, SUMMARY};
    let mut flush = proto::Summary::default();
    flush.set_sample_count(s.batches);
    flush.set_sample_sum(s.flush_duration_sum.as_secs_f64());
    let mut flush_m = proto::Metric::default();
    flush_m.set_summary(flush);
    let pool = |f: &dyn Fn(&DbPool) -> f64| -> Vec<proto::Metric> {
        pools
            .iter()
            .map(|p| gauge(&[("database", p.name.as_str())], f(p)))
            .collect()
    };
    // One value each, read from the writer's stats.
    let scalars = [
        (names::LEDGER_QUEUE, GAUGE, s.queue_depth as f64),
        (names::LEDGER_BUFFER, GAUGE, s.buffer_size as f64),
        (names::LEDGER_WRITTEN, COUNTER, s.written as f64),
        (names::LEDGER_DROPPED, COUNTER, s.dropped as f64),
        (names::LEDGER_REFUSED, COUNTER, s.refused as f64),
        (names::LEDGER_DEAD, COUNTER, s.dead_lettered as f64),
        (names::LEDGER_LAST_BATCH, GAUGE, s.last_batch_size as f64),
        (names::LEDGER_BACKLOG, GAUGE, s.backlog() as f64),
        (
            names::LEDGER_OLDEST_UNWRITTEN,
            GAUGE,
            s.oldest_unwritten.as_secs_f64(),
        ),
        (names::SPOOL_BYTES, GAUGE, s.spool_bytes as f64),
        (names::SPOOL_MAX_BYTES, GAUGE, s.spool_max_bytes as f64),
        (names::SPOOL_TORN, COUNTER, s.spool_torn_records as f64),
        (names::LEDGER_WATERMARK, GAUGE, s.watermark as f64),
        (names::UPTIME, GAUGE, started.elapsed().as_secs_f64()),
    ];
    let mut out: Vec<MetricFamily> = scalars
        .into_iter()
        .map(|(name, kind, v)| {
            let m = if kind == COUNTER {
                counter(v)
            } else {
                gauge(&[], v)
            };
            family(name, kind, vec![m])
        })
        .collect();
    out.extend([
        family(names::LEDGER_FLUSH, SUMMARY, vec![flush_m]),
        family(names::DB_OPEN, GAUGE, pool(&|p| f64::from(p.open))),
        family(names::DB_IDLE, GAUGE, pool(&|p| p.idle as f64)),
        family(names::DB_IN_USE, GAUGE, pool(&|p| p.in_use as f64)),
        family(
            names::BUILD_INFO,
            GAUGE,
            vec![gauge(&[("version", env!("CARGO_PKG_VERSION"))], 1.0)],
        ),
    ]);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ledger::{TokenSource, Usage};

    fn entry(model: &str, user: i64) -> Entry {
        Entry {
            request_id: "r".into(),
            created_at_us: 0,
            client_request_id: None,
            upstream_request_id: None,
            user_id: Some(user),
            user_name: None,
            api_key_id: None,
            endpoint: "/v1/chat/completions".into(),
            model: model.into(),
            provider: "mock".into(),
            upstream_model: None,
            usage: Usage {
                input_tokens: 10,
                output_tokens: 5,
                ..Usage::default()
            },
            token_source: TokenSource::Provider,
            cost_nano: 0,
            latency_us: 1_500,
            upstream_latency_us: Some(1_000),
            ttft_us: Some(500),
            overhead_us: None,
            status_code: 200,
            streamed: true,
            error_kind: None,
            error_message: None,
            chain: None,
            ..Default::default()
        }
    }

    #[test]
    fn labels_stay_bounded() {
        let mut c = Config::default();
        c.metrics.max_user_series = 2;
        let m = Metrics::new(&c).expect("registry");
        for user in 1..=5 {
            m.record(&entry("gpt-4o-mini", user));
        }
        m.record(&entry("made-up-model", 1));
        let text = m.render(&WriterStats::default(), &[]);
        assert!(text.contains("user=\"u1\""), "{text}");
        assert!(text.contains("user=\"u2\""), "{text}");
        assert!(!text.contains("user=\"u3\""), "{text}");
        assert!(
            text.contains("tokctl_user_tokens_total{type=\"prompt\",user=\"other\"} 30"),
            "{text}"
        );
        assert!(text.contains("model=\"other\""), "{text}");
        assert!(!text.contains("made-up-model"), "{text}");
    }

    /// Workers record into shards of their own; a scrape adds them all up,
    /// in-flight requests included, and keeps the user bound across shards.
    #[test]
    fn shards_add_up_at_scrape() {
        let mut c = Config::default();
        c.metrics.max_user_series = 1;
        let m = Metrics::new(&c).expect("registry");
        let (a, b) = (m.shard(), m.shard());
        m.record_in(&a, &entry("gpt-4o-mini", 1));
        m.record_in(&a, &entry("gpt-4o-mini", 2));
        m.record_in(&b, &entry("gpt-4o-mini", 1));
        m.record_in(&b, &entry("gpt-4o-mini", 3));
        let mut err = entry("made-up-model", 1);
        err.status_code = 404;
        err.error_kind = Some("unknown_model".into());
        m.record_in(&b, &err);
        let _held = [a.in_flight(), a.in_flight(), b.in_flight()];
        {
            let _done = b.in_flight();
        }
        let text = m.render(&WriterStats::default(), &[]);
        let has = |line: &str| text.lines().any(|l| l == line);
        assert!(
            has(
                "tokctl_requests_total{endpoint=\"/v1/chat/completions\",model=\"gpt-4o-mini\",status=\"200\"} 4"
            ),
            "{text}"
        );
        assert!(
            has(
                "tokctl_requests_total{endpoint=\"/v1/chat/completions\",model=\"other\",status=\"404\"} 1"
            ),
            "{text}"
        );
        assert!(
            has("tokctl_request_errors_total{kind=\"unknown_model\"} 1"),
            "{text}"
        );
        assert!(has("tokctl_in_flight_requests 3"), "{text}");
        // User 1 took the one series; 2 and 3 share `other`, whichever
        // shard saw them first.
        assert!(
            has("tokctl_user_tokens_total{type=\"prompt\",user=\"u1\"} 30"),
            "{text}"
        );
        assert!(
            has("tokctl_user_tokens_total{type=\"prompt\",user=\"other\"} 20"),
            "{text}"
        );
        assert!(
            has(
                "tokctl_request_duration_seconds_count{endpoint=\"/v1/chat/completions\",provider=\"mock\"} 5"
            ),
            "{text}"
        );
        // A second scrape adds nothing twice.
        let again = m.render(&WriterStats::default(), &[]);
        assert!(again.contains("status=\"200\"} 4"), "{again}");
    }

    /// The hot-path cost of one `record` (printed; a budget catches regressions).
    #[test]
    fn record_is_cheap() {
        let m = Metrics::new(&Config::default()).expect("registry");
        let e = entry("gpt-4o-mini", 1);
        let n = 20_000;
        let start = Instant::now();
        for _ in 0..n {
            let _g = m.in_flight();
            m.record(&e);
        }
        let per = start.elapsed() / n;
        eprintln!("Metrics::record + in_flight: {per:?} per request");
        assert!(per.as_micros() < 50, "{per:?} per request");
    }
}
