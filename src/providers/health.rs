//! The providers' health checks: each provider probed in the background
//! every `health.provider_check_interval_ms` (never with a paid request),
//! and the last probe reported on every check. A provider is
//! non-critical: unreachable is degraded, and the whole report counts it
//! at most as degraded. Gathered by
//! [`crate::telemetry::health::Health`]; the traffic counters live there.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use futures_util::FutureExt;
use futures_util::future::BoxFuture;
use tokio::sync::watch;

use super::{Provider, Providers};
use crate::telemetry::health::{Component, HealthCheck, Status};

/// How long one provider probe may take.
const PROBE_TIMEOUT: Duration = Duration::from_secs(5);

/// A provider and its last probe (`None` until the first one ends).
struct Probed {
    name: String,
    provider: Arc<dyn Provider>,
    last: Mutex<Option<Result<Duration, String>>>,
}

/// Every provider's last probe.
pub struct ProviderProbes {
    probed: Vec<Probed>,
    /// Set once the first round of probes has ended.
    first_round: watch::Sender<bool>,
}

impl ProviderProbes {
    pub fn new(providers: &Providers) -> ProviderProbes {
        let probed = providers
            .iter()
            .map(|(name, p)| Probed {
                name: name.clone(),
                provider: p.clone(),
                last: Mutex::new(None),
            })
            .collect();
        ProviderProbes {
            probed,
            first_round: watch::Sender::new(false),
        }
    }

    /// The providers' names, in the report's order.
    pub fn names(&self) -> impl Iterator<Item = String> + '_ {
        self.probed.iter().map(|p| p.name.clone())
    }

    /// Probes every provider once, concurrently, and keeps the results.
    pub async fn probe_all(&self) {
        let probes = self.probed.iter().map(|p| async move {
            let r = match tokio::time::timeout(PROBE_TIMEOUT, p.provider.probe()).await {
                Ok(Ok(d)) => Ok(d),
                Ok(Err(e)) => Err(e.to_string()),
                Err(_) => Err(format!("no answer within {PROBE_TIMEOUT:?}")),
            };
            *p.last.lock().unwrap_or_else(PoisonError::into_inner) = Some(r);
        });
        futures_util::future::join_all(probes).await;
        self.first_round.send_replace(true);
    }

    /// Probes now and then every `every` (at least 100 ms), until the task
    /// is aborted.
    pub fn spawn(self: &Arc<Self>, every: Duration) -> tokio::task::JoinHandle<()> {
        let me = self.clone();
        let every = every.max(Duration::from_millis(100));
        tokio::spawn(async move {
            loop {
                me.probe_all().await;
                tokio::time::sleep(every).await;
            }
        })
    }

    fn component(p: &Probed) -> Component {
        let last = p
            .last
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        let (status, message, latency_ms) = match last {
            None => (Status::Degraded, "not checked yet".to_string(), None),
            Some(Ok(d)) => (
                Status::Healthy,
                "reachable".to_string(),
                Some(d.as_secs_f64() * 1000.0),
            ),
            Some(Err(e)) => (Status::Degraded, format!("unreachable: {e}"), None),
        };
        Component {
            name: p.name.clone(),
            kind: "provider".into(),
            status,
            message,
            latency_ms,
        }
    }
}

impl HealthCheck for ProviderProbes {
    /// The last probes, waiting (bounded) for the first round to end.
    fn check(&self) -> BoxFuture<'_, Vec<Component>> {
        async move {
            let mut first = self.first_round.subscribe();
            let wait = PROBE_TIMEOUT + Duration::from_secs(1);
            let _ = tokio::time::timeout(wait, first.wait_for(|d| *d)).await;
            self.probed.iter().map(Self::component).collect()
        }
        .boxed()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn each_provider_reports_its_last_probe() {
        let providers = crate::providers::build(&crate::config::Config::default()).unwrap();
        let probes = ProviderProbes::new(&providers);
        probes.probe_all().await;
        let found = probes.check().await;
        assert_eq!(found.len(), providers.len());
        for c in &found {
            assert_eq!((c.kind.as_str(), c.status), ("provider", Status::Healthy));
            assert_eq!(c.message, "reachable");
        }
    }
}
