//! The routing deployments' metrics, read at scrape time from the
//! process-wide routing state (atomics the request path keeps anyway), so
//! recording them costs the request path nothing more. Labels come from the
//! configuration only: model, deployment and provider names, and the fixed
//! failure labels.

use prometheus::proto::{self, MetricFamily, MetricType};

use super::names;
use super::scrape::{counter, family, gauge, labels};

/// One deployment's numbers now.
#[derive(Debug, Clone)]
pub struct DeploymentSample {
    pub model: String,
    pub deployment: String,
    pub provider: String,
    pub requests: u64,
    /// Failed attempts by label.
    pub failures: Vec<(&'static str, u64)>,
    pub cooling: bool,
    pub in_flight: u32,
    pub latency_ewma_seconds: f64,
}

/// Whoever holds the deployments' state (the gateway's routing).
pub trait DeploymentSource: Send + Sync {
    fn samples(&self) -> Vec<DeploymentSample>;
}

/// The families of `samples`.
pub fn families(samples: &[DeploymentSample]) -> Vec<MetricFamily> {
    let ids = |s: &DeploymentSample| {
        [
            ("model", s.model.clone()),
            ("deployment", s.deployment.clone()),
            ("provider", s.provider.clone()),
        ]
    };
    let with = |s: &DeploymentSample, m: proto::Metric, extra: Option<(&str, &str)>| {
        let id = ids(s);
        let mut pairs: Vec<(&str, &str)> = id.iter().map(|(k, v)| (*k, v.as_str())).collect();
        pairs.extend(extra);
        let mut m = m;
        m.set_label(labels(&pairs));
        m
    };
    let mut requests = Vec::new();
    let mut failures = Vec::new();
    let mut cooling = Vec::new();
    let mut in_flight = Vec::new();
    let mut ewma = Vec::new();
    for s in samples {
        requests.push(with(s, counter(s.requests as f64), None));
        for (label, n) in &s.failures {
            failures.push(with(s, counter(*n as f64), Some(("error", label))));
        }
        cooling.push(with(s, gauge(&[], f64::from(u8::from(s.cooling))), None));
        in_flight.push(with(s, gauge(&[], f64::from(s.in_flight)), None));
        ewma.push(with(s, gauge(&[], s.latency_ewma_seconds), None));
    }
    use MetricType::{COUNTER, GAUGE};
    vec![
        family(names::DEPLOYMENT_REQUESTS, COUNTER, requests),
        family(names::DEPLOYMENT_FAILURES, COUNTER, failures),
        family(names::DEPLOYMENT_COOLING, GAUGE, cooling),
        family(names::DEPLOYMENT_IN_FLIGHT, GAUGE, in_flight),
        family(names::DEPLOYMENT_LATENCY_EWMA, GAUGE, ewma),
    ]
}
