//! One serving worker's share of the request metrics.
//!
//! Why: each request used to update the shared Prometheus series itself:
//! six label lookups (a hash and a read lock each) and a dozen atomic adds
//! on cache lines that both worker threads write. With two threads at once
//! that cost 1.1–1.6 µs per request (docs/benchmarks-history.md, "Metrics on the
//! request path"). A shard is written by one worker only. Its counts sit in
//! the crate's unsynchronised local counters and histograms, found by small
//! integer keys, behind a mutex nobody else takes until a scrape. They reach
//! the shared series when `/metrics` is rendered ([`Metrics::render`]
//! flushes every shard first), so a scrape still counts every request
//! recorded before it.

use std::collections::HashMap;
use std::sync::atomic::{AtomicI64, Ordering::Relaxed};
use std::sync::{Arc, Mutex, PoisonError};

use prometheus::local::{LocalHistogram, LocalIntCounter};

use super::{Metrics, OTHER};
use crate::ledger::Entry;

/// A label from a bounded set, as its index in that set; [`OTHER_ID`] is
/// everything outside it.
pub(super) type LabelId = u16;
pub(super) const OTHER_ID: LabelId = LabelId::MAX;

/// The endpoints with a label of their own.
const ENDPOINTS: [&str; 4] = [
    "/v1/chat/completions",
    "/v1/embeddings",
    "/v1/messages",
    "/v1/responses",
];

/// The user key of users past `metrics.max_user_series` once
/// [`USER_KEYS`] are taken (no real user id: ids are positive).
const OTHER_USER: i64 = i64::MIN;

/// How many (user, token type) keys a shard keeps for users past the
/// bound before the rest share [`OTHER_USER`]: 16,384 keys are ~1 MiB.
const USER_KEYS: usize = 16_384;

/// One worker's counts not yet added to the shared series.
#[derive(Default)]
pub struct Shard {
    /// Requests of this worker in flight now (summed at scrape).
    in_flight: AtomicI64,
    pending: Mutex<Pending>,
}

#[derive(Default)]
struct Pending {
    /// By (endpoint, model, status); status 0 is `other`.
    requests: HashMap<(LabelId, LabelId, u16), LocalIntCounter>,
    errors: HashMap<String, LocalIntCounter>,
    /// By (endpoint, provider); no provider is `none`.
    duration: HashMap<(LabelId, Option<LabelId>), LocalHistogram>,
    upstream: HashMap<Option<LabelId>, LocalHistogram>,
    ttft: HashMap<Option<LabelId>, LocalHistogram>,
    /// By endpoint.
    overhead: HashMap<LabelId, LocalHistogram>,
    /// Nano-units by model.
    cost: HashMap<LabelId, LocalIntCounter>,
    /// By (model, completion?).
    tokens: HashMap<(LabelId, bool), LocalIntCounter>,
    /// By (user id, or [`OTHER_USER`] past [`USER_KEYS`], completion?).
    user_tokens: HashMap<(i64, bool), LocalIntCounter>,
    /// Nano-units by team id (or [`OTHER_USER`] past [`USER_KEYS`]).
    team_cost: HashMap<i64, LocalIntCounter>,
}

/// The token-type label of a `completion?` key.
fn kind(completion: bool) -> &'static str {
    if completion { "completion" } else { "prompt" }
}

impl Shard {
    /// Counts a request of this worker as in flight until the guard drops.
    pub fn in_flight(self: &Arc<Self>) -> InFlight {
        self.in_flight.fetch_add(1, Relaxed);
        InFlight(self.clone())
    }

    pub(super) fn in_flight_now(&self) -> i64 {
        self.in_flight.load(Relaxed)
    }

    /// Records one finished request from its ledger entry.
    pub(super) fn record(&self, m: &Metrics, e: &Entry) {
        let endpoint = ENDPOINTS
            .iter()
            .position(|p| *p == e.endpoint)
            .map_or(OTHER_ID, |i| i as LabelId);
        let model = m.model_id(&e.model);
        let provider = if e.provider.is_empty() {
            None
        } else {
            Some(m.provider_id(&e.provider))
        };
        let status = u16::try_from(e.status_code)
            .ok()
            .filter(|s| (100..=599).contains(s))
            .unwrap_or(0);
        let secs = |us: i64| us.max(0) as f64 / 1e6;
        let mut p = self.pending.lock().unwrap_or_else(PoisonError::into_inner);
        p.requests
            .entry((endpoint, model, status))
            .or_insert_with(|| {
                let status = if status == 0 {
                    OTHER.to_string()
                } else {
                    status.to_string()
                };
                m.requests
                    .with_label_values(&[endpoint_label(endpoint), m.model_label(model), &status])
                    .local()
            })
            .inc();
        // Error rows by the ledger's one definition: an error status
        // without a kind (an upstream's own 4xx passed on) counts too.
        if crate::ledger::columns::is_error_row(e.status_code, e.error_kind.as_deref()) {
            let kind = e.error_kind.as_deref().unwrap_or(if e.status_code >= 500 {
                "status_5xx"
            } else {
                "status_4xx"
            });
            match p.errors.get(kind) {
                Some(c) => c.inc(),
                None => {
                    let c = m.errors.with_label_values(&[kind]).local();
                    c.inc();
                    p.errors.insert(kind.to_string(), c);
                }
            }
        }
        let provider_label = |id: Option<LabelId>| id.map_or("none", |id| m.provider_label(id));
        p.duration
            .entry((endpoint, provider))
            .or_insert_with(|| {
                m.duration
                    .with_label_values(&[endpoint_label(endpoint), provider_label(provider)])
                    .local()
            })
            .observe(secs(e.latency_us));
        if let Some(us) = e.upstream_latency_us {
            p.upstream
                .entry(provider)
                .or_insert_with(|| {
                    m.upstream
                        .with_label_values(&[provider_label(provider)])
                        .local()
                })
                .observe(secs(us));
        }
        if e.streamed
            && let Some(us) = e.ttft_us
        {
            p.ttft
                .entry(provider)
                .or_insert_with(|| {
                    m.ttft
                        .with_label_values(&[provider_label(provider)])
                        .local()
                })
                .observe(secs(us));
        }
        if let Some(us) = e.overhead_us {
            p.overhead
                .entry(endpoint)
                .or_insert_with(|| {
                    m.overhead
                        .with_label_values(&[endpoint_label(endpoint)])
                        .local()
                })
                .observe(secs(us));
        }
        if e.cost_nano > 0 {
            p.cost
                .entry(model)
                .or_insert_with(|| m.cost.with_label_values(&[m.model_label(model)]).local())
                .inc_by(e.cost_nano as u64);
        }
        let counts = [
            (false, e.usage.input_tokens.max(0)),
            (true, e.usage.output_tokens.max(0)),
        ];
        for (completion, n) in counts {
            if n > 0 {
                p.tokens
                    .entry((model, completion))
                    .or_insert_with(|| {
                        m.tokens
                            .with_label_values(&[m.model_label(model), kind(completion)])
                            .local()
                    })
                    .inc_by(n as u64);
            }
        }
        if let Some(team) = e.team_id.filter(|_| e.cost_nano > 0) {
            p.record_team_cost(m, team, e.cost_nano as u64);
        }
        let Some(id) = e.user_id else { return };
        for (completion, n) in counts {
            if n == 0 {
                continue;
            }
            if let Some(c) = p.user_tokens.get(&(id, completion)) {
                c.inc_by(n as u64);
                continue;
            }
            // First time on this worker. A user past the bound counts into
            // `other`, under its own key while the map is small (so it is
            // found next time without the shared lookup), under the one
            // shared key after that, so the map stays bounded.
            let (own_series, c) = m.with_user_label(id, |user| {
                let c = m.user_tokens.with_label_values(&[user, kind(completion)]);
                (user != OTHER, c.local())
            });
            let key = if own_series || p.user_tokens.len() < USER_KEYS {
                id
            } else {
                OTHER_USER
            };
            p.user_tokens
                .entry((key, completion))
                .or_insert(c)
                .inc_by(n as u64);
        }
    }

    /// Adds what is pending to the shared series.
    pub(super) fn flush(&self) {
        let p = self.pending.lock().unwrap_or_else(PoisonError::into_inner);
        p.requests.values().for_each(LocalIntCounter::flush);
        p.errors.values().for_each(LocalIntCounter::flush);
        p.duration.values().for_each(LocalHistogram::flush);
        p.upstream.values().for_each(LocalHistogram::flush);
        p.ttft.values().for_each(LocalHistogram::flush);
        p.overhead.values().for_each(LocalHistogram::flush);
        p.cost.values().for_each(LocalIntCounter::flush);
        p.tokens.values().for_each(LocalIntCounter::flush);
        p.user_tokens.values().for_each(LocalIntCounter::flush);
        p.team_cost.values().for_each(LocalIntCounter::flush);
    }
}

impl Pending {
    /// Adds a request's cost to its team's series; teams past the bound
    /// count into `other`, bounded as users' tokens are.
    fn record_team_cost(&mut self, m: &Metrics, team: i64, nano: u64) {
        if let Some(c) = self.team_cost.get(&team) {
            c.inc_by(nano);
            return;
        }
        let (own_series, c) = m.with_team_label(team, |label| {
            (
                label != OTHER,
                m.team_cost.with_label_values(&[label]).local(),
            )
        });
        let key = if own_series || self.team_cost.len() < USER_KEYS {
            team
        } else {
            OTHER_USER
        };
        self.team_cost.entry(key).or_insert(c).inc_by(nano);
    }
}

fn endpoint_label(id: LabelId) -> &'static str {
    ENDPOINTS.get(usize::from(id)).copied().unwrap_or(OTHER)
}

/// Takes a request off its worker's in-flight count when dropped.
pub struct InFlight(Arc<Shard>);

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Relaxed);
    }
}
