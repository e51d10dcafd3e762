//! The deployments as operators see them: components of `/health` (and so
//! of `tokctl health`), one per deployment, degraded while cooling down;
//! and samples for the per-deployment metrics.

use futures_util::future::BoxFuture;

use super::{FAILURE_LABELS, Shared, now_ns};
use crate::telemetry::health::{Component, HealthCheck, Status};
use crate::telemetry::metrics::deployments::{DeploymentSample, DeploymentSource};

impl HealthCheck for Shared {
    fn check(&self) -> BoxFuture<'_, Vec<Component>> {
        let now = now_ns();
        let components = self
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
        Box::pin(async move { components })
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
