//! [`Telemetry`], the metrics and health of one `tokctl serve`, and the
//! routes that expose them: `GET /health`, `GET /readyz` and `GET
//! /metrics` (on the main port, or on its own listener when
//! `metrics.listen` or `metrics.port` says so). These routes are merged
//! outside `/v1`, so they need no key and never count as requests.

use std::sync::Arc;

use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;

use super::health::{Health, Status};
use super::metrics::{self, InFlight, Metrics, Shard};
use crate::config::Config;
use crate::ledger::{Entry, LedgerWriter};

/// Metrics (when `metrics.enabled`) and health of the running gateway.
pub struct Telemetry {
    pub metrics: Option<Metrics>,
    pub health: Arc<Health>,
    pub ledger: LedgerWriter,
    /// The routing deployments, whose metrics are read at scrape time.
    pub deployments: Option<Arc<dyn metrics::deployments::DeploymentSource>>,
}

impl Telemetry {
    /// A metrics shard for one serving worker (`None` with metrics off).
    pub fn shard(&self) -> Option<Arc<Shard>> {
        self.metrics.as_ref().map(Metrics::shard)
    }

    /// Records a finished request from its ledger entry, in the worker's
    /// shard when it has one.
    pub fn record(&self, shard: Option<&Shard>, e: &Entry) {
        let upstream_failed = e.status_code >= 500
            || e.error_kind
                .as_deref()
                .is_some_and(|k| k.starts_with("upstream"));
        self.health
            .record(&e.provider, upstream_failed, e.upstream_latency_us);
        if let Some(m) = &self.metrics {
            match shard {
                Some(s) => m.record_in(s, e),
                None => m.record(e),
            }
        }
    }

    /// Counts the request as in flight until the guard drops.
    pub fn in_flight(&self, shard: Option<&Arc<Shard>>) -> Option<InFlight> {
        let m = self.metrics.as_ref()?;
        Some(shard.map_or_else(|| m.in_flight(), Shard::in_flight))
    }

    /// Counts an auth refusal by its fixed reason label.
    pub fn rate_limited(&self, kind: &'static str, store_failed: bool) {
        if let Some(m) = &self.metrics {
            if store_failed {
                m.rate_limit_store_failed();
            } else {
                m.rate_limited(kind);
            }
        }
    }

    /// Counts a rate-limit store failure that was let through (fail open).
    pub fn rate_limit_store_failed(&self) {
        if let Some(m) = &self.metrics {
            m.rate_limit_store_failed();
        }
    }

    /// Counts a rate-limit check answered without Redis (breaker open).
    pub fn rate_limit_store_skipped(&self) {
        if let Some(m) = &self.metrics {
            m.rate_limit_store_skipped();
        }
    }

    /// Counts an auth refusal.
    pub fn auth_refused(&self, reason: &'static str) {
        if let Some(m) = &self.metrics {
            m.auth_refused(reason);
        }
    }
    /// Counts an admission refusal (`model_not_allowed`, …) by the scope
    /// (`key`, `user`, `team`) whose setting refused it.
    pub fn admission_refused(&self, reason: &'static str, scope: &'static str) {
        if let Some(m) = &self.metrics {
            m.admission_refused(reason, scope);
        }
    }

    pub fn budget_soft_threshold(&self, scope: &'static str) {
        if let Some(m) = &self.metrics {
            m.budget_soft_threshold(scope);
        }
    }

    pub fn budget_store_failed(&self, outcome: &'static str) {
        if let Some(m) = &self.metrics {
            m.budget_store_failed(outcome);
        }
    }

    pub fn budget_drift(&self, scope: &'static str, nano: i64) {
        if let Some(m) = &self.metrics {
            m.budget_drift(scope, nano);
        }
    }
}

/// Where `/metrics` is served.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MetricsPlace {
    Off,
    MainPort,
    /// Its own listener on this address.
    Separate(String),
}

/// Decides where `/metrics` goes: `metrics.listen` wins, then
/// `metrics.port` on the server's host, else the main port.
pub fn metrics_place(c: &Config) -> MetricsPlace {
    if !c.metrics.enabled {
        return MetricsPlace::Off;
    }
    if !c.metrics.listen.is_empty() {
        return MetricsPlace::Separate(c.metrics.listen.clone());
    }
    if c.metrics.port != 0 {
        let host = c
            .server
            .listen
            .rsplit_once(':')
            .map_or("127.0.0.1", |(h, _)| h);
        return MetricsPlace::Separate(format!("{host}:{}", c.metrics.port));
    }
    MetricsPlace::MainPort
}

/// `/health` and `/readyz`, plus `/metrics` when `with_metrics`.
pub fn router(t: Arc<Telemetry>, with_metrics: bool) -> Router {
    let r = Router::new()
        .route("/health", get(health))
        .route("/readyz", get(readyz));
    let r = if with_metrics {
        r.route("/metrics", get(scrape))
    } else {
        r
    };
    r.with_state(t)
}

/// `/metrics` alone, for its own listener.
pub fn metrics_router(t: Arc<Telemetry>) -> Router {
    Router::new().route("/metrics", get(scrape)).with_state(t)
}

async fn health(State(t): State<Arc<Telemetry>>) -> Response {
    let report = t.health.check().await;
    let code = if report.status == Status::Unhealthy {
        StatusCode::SERVICE_UNAVAILABLE
    } else {
        StatusCode::OK
    };
    (code, axum::Json(report)).into_response()
}

async fn readyz(State(t): State<Arc<Telemetry>>) -> Response {
    if t.health.ready() {
        (StatusCode::OK, "ready").into_response()
    } else {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            "not ready: the ledger writer does not accept entries",
        )
            .into_response()
    }
}

async fn scrape(State(t): State<Arc<Telemetry>>) -> Response {
    let Some(m) = &t.metrics else {
        return (StatusCode::NOT_FOUND, "metrics are disabled").into_response();
    };
    let extra = t
        .deployments
        .as_ref()
        .map(|d| metrics::deployments::families(&d.samples()))
        .unwrap_or_default();
    let body = m.render_with(&t.ledger.stats(), &t.health.pools().databases, extra);
    ([(header::CONTENT_TYPE, metrics::CONTENT_TYPE)], body).into_response()
}
