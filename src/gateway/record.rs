//! What a finished request leaves: the headers on its answer (overhead,
//! upstream id, routing, dropped fields) and its one ledger entry, with the
//! access line.

use std::time::Duration;

use axum::http::HeaderValue;
use axum::response::Response;

use super::AppState;
use super::relay::{Outcome, RequestCtx};
use crate::ledger::Entry;

/// Response headers every proxied answer carries.
pub(super) fn decorate(resp: &mut Response, ctx: &RequestCtx, out: &Outcome) {
    resp.extensions_mut().insert(super::AccessLogged);
    let h = resp.headers_mut();
    if let Some(o) = out.overhead
        && let Ok(v) = HeaderValue::from_str(&o.as_micros().to_string())
    {
        h.insert("x-tokctl-overhead-us", v);
    }
    if let Some(id) = out
        .upstream_request_id
        .as_deref()
        .and_then(|s| HeaderValue::from_str(s).ok())
    {
        h.insert("x-upstream-request-id", id);
    }
    if let Some(v) = out
        .dropped
        .header_value()
        .and_then(|v| HeaderValue::from_str(&v).ok())
    {
        h.insert("x-tokctl-dropped", v);
    }
    if let Some((route, i)) = &out.served {
        let d = &route.deployments[*i];
        if let Ok(v) = HeaderValue::from_str(d.provider.name()) {
            h.insert("x-tokctl-provider", v);
        }
        if let Ok(v) = HeaderValue::from_str(&d.name) {
            h.insert("x-tokctl-deployment", v);
        }
    }
    h.insert("x-tokctl-attempts", HeaderValue::from(out.attempts));
    if let Some(s) = out.retry_after {
        h.insert(axum::http::header::RETRY_AFTER, HeaderValue::from(s));
    }
    let _ = ctx;
}

/// `failed_attempts`: `[{"deployment":…,"error":…}]`, `None` when none failed.
fn failed_json(failed: &[(String, &'static str)]) -> Option<String> {
    if failed.is_empty() {
        return None;
    }
    let list: Vec<serde_json::Value> = failed
        .iter()
        .map(|(d, e)| serde_json::json!({"deployment": d, "error": e}))
        .collect();
    Some(serde_json::Value::Array(list).to_string())
}

pub(super) fn build_entry(state: &AppState, ctx: &RequestCtx, out: &Outcome) -> Entry {
    let route = out.served.as_ref().map(|(r, i)| &r.deployments[*i]);
    let cost_nano = route.map_or(0, |r| r.prices.cost_nano(&out.usage));
    let us = |d: Duration| i64::try_from(d.as_micros()).unwrap_or(i64::MAX);
    let latency = ctx.start.elapsed();
    let mut e = Entry {
        request_id: ctx.request_id.clone(),
        created_at_us: ctx.created_at_us,
        client_request_id: ctx.client_request_id.clone(),
        upstream_request_id: out.upstream_request_id.clone(),
        user_id: ctx.principal.as_ref().map(|p| p.user_id),
        user_name: ctx.principal.as_ref().map(|p| p.user_name.clone()),
        api_key_id: ctx.principal.as_ref().map(|p| p.key_id),
        team_id: ctx.principal.as_ref().and_then(|p| p.team_id),
        endpoint: ctx.endpoint.path().to_string(),
        model: out.model.clone(),
        provider: route
            .map(|r| r.provider.name().to_string())
            .unwrap_or_default(),
        upstream_model: route.map(|r| r.upstream_model.clone()),
        usage: out.usage,
        token_source: out.source,
        cost_nano,
        latency_us: us(latency),
        upstream_latency_us: out.upstream_latency.map(us),
        ttft_us: out.ttft.map(us),
        // With no upstream time at all, the whole latency is the gateway's.
        overhead_us: Some(us(out.overhead.unwrap_or_else(|| {
            latency.saturating_sub(out.upstream_latency.unwrap_or_default())
        }))),
        status_code: i32::from(out.status),
        streamed: out.streamed,
        error_kind: out.error.as_ref().map(|(k, _)| (*k).to_string()),
        error_message: out.error.as_ref().map(|(_, m)| m.clone()),
        upstream_api: out.upstream_api.map(|e| e.api().to_string()),
        attempts: out.attempts,
        failed_attempts: failed_json(&out.failed),
        requested_model: out.requested_model.clone(),
        ..Entry::default()
    };
    e.sanitize();
    state.telemetry.record(state.metrics_shard.as_deref(), &e);
    let error = e.status_code >= 400 || e.error_kind.is_some();
    if crate::telemetry::logging::access_logged(error) {
        access_line(&e);
    }
    e
}

/// The access line of a recorded request (`log.access`).
fn access_line(e: &Entry) {
    tracing::info!(
        request_id = %e.request_id,
        client_request_id = e.client_request_id.as_deref().unwrap_or(""),
        endpoint = %e.endpoint,
        model = %e.model,
        status = e.status_code,
        latency_us = e.latency_us,
        overhead_us = e.overhead_us.unwrap_or(0),
        input_tokens = e.usage.input_tokens,
        output_tokens = e.usage.output_tokens,
        token_source = e.token_source.as_str(),
        error = e.error_kind.as_deref().unwrap_or(""),
        "access"
    );
}
