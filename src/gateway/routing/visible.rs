//! The deployments as operators see them: components of `/health` (and so
//! of `tokctl health`), one per deployment, degraded while cooling down,
//! plus `routing_cooldowns` when they are shared through Redis (degraded
//! while Redis is lost); and samples for the per-deployment metrics.

use futures_util::future::BoxFuture;

use std::sync::atomic::Ordering::Relaxed;

use super::fleet::Status as Sharing;
use super::{FAILURE_LABELS, Shared, now_ns};
use crate::telemetry::health::{Component, HealthCheck, Status};
use crate::telemetry::metrics::deployments::{DeploymentSample, DeploymentSource};

impl HealthCheck for Shared {
    fn check(&self) -> BoxFuture<'_, Vec<Component>> {
        let now = now_ns();
        let mut components: Vec<Component> = self
            .all()
            .map(|s| {
                let latency_ms = s.latency_ns(now, &self.policy) / 1e6;
                let (status, message) = match s.avail(now) {
                    super::Avail::Ready => (
                        Status::Healthy,
                        format!(
                            "model {} via provider {}: in service, {} in flight",
                            s.model,
                            s.provider,
                            s.inflight()
                        ),
                    ),
                    super::Avail::Probe => (
                        Status::Degraded,
                        format!(
                            "model {} via provider {}: cooldown over, the next request probes it",
                            s.model, s.provider
                        ),
                    ),
                    super::Avail::Cooling(_) if s.fleet.held() && now >= s.until() => (
                        Status::Degraded,
                        format!(
                            "model {} via provider {}: cooldown over; one gateway of the fleet probes it",
                            s.model, s.provider
                        ),
                    ),
                    super::Avail::Cooling(until) => (
                        Status::Degraded,
                        format!(
                            "model {} via provider {}: cooling down after failures, {:.1} s left",
                            s.model,
                            s.provider,
                            until.saturating_sub(now) as f64 / 1e9
                        ),
                    ),
                };
                Component {
                    name: format!("{}/{}", s.model, s.name),
                    kind: "deployment".into(),
                    status,
                    message,
                    latency_ms: (latency_ms > 0.0).then_some(latency_ms),
                }
            })
            .collect();
        components.extend(self.sharing());
        Box::pin(async move { components })
    }
}

impl Shared {
    /// The `routing_cooldowns` component, when a Redis is configured.
    fn sharing(&self) -> Option<Component> {
        let link = &self.link;
        let (learned, lost) = (link.learned.load(Relaxed), link.fallbacks.load(Relaxed));
        let (status, message) = match link.status() {
            Sharing::Off => return None,
            Sharing::Connecting => (
                Status::Healthy,
                "connecting to Redis; until then this gateway keeps its own cooldowns".to_string(),
            ),
            Sharing::Live => (
                Status::Healthy,
                format!(
                    "cooldowns shared through Redis ({learned} learnt from other gateways, \
                     Redis lost {lost} times)"
                ),
            ),
            Sharing::Lost => (
                Status::Degraded,
                format!(
                    "Redis unreachable: this gateway keeps its own cooldowns until it answers \
                     (lost {lost} times)"
                ),
            ),
        };
        Some(Component {
            name: "routing_cooldowns".into(),
            kind: "redis".into(),
            status,
            message,
            latency_ms: None,
        })
    }
}

impl DeploymentSource for Shared {
    fn samples(&self) -> Vec<DeploymentSample> {
        let now = now_ns();
        self.all()
            .map(|s| {
                let failures = s.failures();
                DeploymentSample {
                    model: s.model.clone(),
                    deployment: s.name.clone(),
                    provider: s.provider.clone(),
                    requests: s.requests(),
                    failures: FAILURE_LABELS.iter().copied().zip(failures).collect(),
                    cooling: s.cooling(now),
                    in_flight: s.inflight(),
                    latency_ewma_seconds: s.latency_ns(now, &self.policy) / 1e9,
                }
            })
            .collect()
    }
}
