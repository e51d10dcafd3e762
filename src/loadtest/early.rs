//! Stopping a run that measures nothing but the target's refusals.
//!
//! A load test whose every answer is a 4xx (a model the gateway does not
//! serve, no API key) measures the error path and, against a gateway,
//! writes a ledger row per request. The first [`EARLY_ANSWERS`] answers of
//! a run are watched: when all are client errors other than 429 (rate
//! limiting is something a load test may well mean to measure), the run
//! stops with [`super::LoadError::Refused`], naming the statuses and what
//! they usually mean.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};

use tokio_util::sync::CancellationToken;

/// Answers watched at the start of a run.
pub const EARLY_ANSWERS: u64 = 10;

/// Shared by every worker of a run.
#[derive(Debug, Default)]
pub struct EarlyStop {
    /// Decided: a non-refusal came first, or the run was stopped.
    settled: AtomicBool,
    /// Status counts of the refusals seen so far (only until settled).
    seen: Mutex<BTreeMap<u16, u64>>,
    stopped: AtomicBool,
}

/// Whether `status` is a refusal of the request itself.
fn is_refusal(status: u16) -> bool {
    (400..500).contains(&status) && status != 429
}

impl EarlyStop {
    /// Notes one outcome (`None`: no answer, e.g. a timeout). Cancels
    /// `cancel` when the watched answers were all refusals.
    pub fn observe(&self, status: Option<u16>, cancel: &CancellationToken) {
        if self.settled.load(Ordering::Relaxed) {
            return;
        }
        let Some(status) = status.filter(|s| is_refusal(*s)) else {
            self.settled.store(true, Ordering::Relaxed);
            return;
        };
        let mut seen = self
            .seen
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        *seen.entry(status).or_default() += 1;
        if seen.values().sum::<u64>() >= EARLY_ANSWERS
            && !self.settled.swap(true, Ordering::Relaxed)
        {
            self.stopped.store(true, Ordering::Relaxed);
            cancel.cancel();
        }
    }

    /// The statuses that stopped the run, when it was stopped.
    pub fn verdict(&self) -> Option<BTreeMap<u16, u64>> {
        self.stopped
            .load(Ordering::Relaxed)
            .then(|| self.seen.lock().map(|s| s.clone()).unwrap_or_default())
    }
}

/// `404 ×10` and what the statuses usually mean.
pub fn explain(statuses: &BTreeMap<u16, u64>) -> String {
    let counts: Vec<String> = statuses.iter().map(|(s, n)| format!("{s} ×{n}")).collect();
    let mut hints = Vec::new();
    for s in statuses.keys() {
        let hint = match s {
            401 => "401: no or a wrong API key (--api-key, or TOKCTL_API_KEY)",
            403 => "403: the key may not use this model",
            404 => {
                "404: the model is not served there (--model; `tokctl config show` lists [[models]]) or the URL is wrong"
            }
            400 | 422 => "400/422: the body is not what the target accepts (--body-file)",
            413 => "413: the body is larger than the target accepts",
            _ => continue,
        };
        hints.push(hint);
    }
    hints.dedup();
    format!(
        "stopped early: the first {EARLY_ANSWERS} answers were all refusals ({}); nothing worth \
         measuring would follow. {}",
        counts.join(", "),
        hints.join("; ")
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_run_of_refusals_stops() {
        let cancel = CancellationToken::new();
        let e = EarlyStop::default();
        for _ in 0..EARLY_ANSWERS {
            e.observe(Some(404), &cancel);
        }
        assert!(cancel.is_cancelled());
        assert_eq!(
            e.verdict().and_then(|v| v.get(&404).copied()),
            Some(EARLY_ANSWERS)
        );

        let cancel = CancellationToken::new();
        let e = EarlyStop::default();
        e.observe(Some(429), &cancel);
        for _ in 0..EARLY_ANSWERS {
            e.observe(Some(401), &cancel);
        }
        assert!(!cancel.is_cancelled(), "429 is load, not a refusal");
        assert_eq!(e.verdict(), None);
    }
}
