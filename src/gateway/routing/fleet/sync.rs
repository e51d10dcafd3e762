//! The background task that carries cooldowns between this instance and
//! Redis (see the module docs of `fleet` for the protocol): each tick it
//! publishes what this instance's states marked, reads every deployment's
//! keys in one call, adopts later cooldowns and recoveries, and claims the
//! half-open probes that fell to it. [`decide`] is the per-deployment
//! rule, kept pure so it is tested without Redis.

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tokio::task::JoinHandle;

use super::store::{FleetError, Remote, Store, keys};
use super::{COOLED, Link, RECOVERED, Status};
use crate::config::{Config, SecretUrl};
use crate::gateway::routing::{DeploymentState, Shared, now_ns};

/// The shortest wait for one Redis call: a busy host must not make the
/// fleet flap between shared and local cooldowns.
const MIN_CALL_MS: u64 = 500;

/// Starts the task when a Redis is configured, sharing is on and some
/// model has cooldowns; the caller aborts it at shutdown.
pub fn spawn(shared: &Shared, c: &Config) -> Option<JoinHandle<()>> {
    let period_ms = c.routing.cooldown_sync_ms;
    let states: Vec<_> = shared.all().filter(|s| s.cools).cloned().collect();
    if c.rate_limit.redis_addr.expose().is_empty() || period_ms == 0 || states.is_empty() {
        return None;
    }
    shared.link.set(Status::Connecting);
    let task = Task {
        link: shared.link.clone(),
        keys: states.iter().map(|s| keys(&s.model, &s.name)).collect(),
        states,
        addr: c.rate_limit.redis_addr.clone(),
        instance: format!("{}-{:016x}", std::process::id(), rand::random::<u64>()),
        period: Duration::from_millis(period_ms),
        backoff: Duration::from_millis(c.rate_limit.redis_breaker_backoff_ms.max(period_ms)),
        call_ms: period_ms.max(MIN_CALL_MS),
        probe_ms: shared.policy.cooldown_ns.div_ceil(1_000_000).max(1),
    };
    Some(tokio::spawn(task.run()))
}

struct Task {
    link: Arc<Link>,
    states: Vec<Arc<DeploymentState>>,
    keys: Vec<(String, String)>,
    addr: SecretUrl,
    /// This process's name in probe claims.
    instance: String,
    period: Duration,
    backoff: Duration,
    call_ms: u64,
    /// How long a probe claim (or `ok`) lasts: one cooldown period.
    probe_ms: u64,
}

impl Task {
    async fn run(self) {
        let mut store = None;
        loop {
            let wait = match self.tick(&mut store).await {
                Ok(()) => self.period,
                Err(e) => {
                    self.lost(&e);
                    self.backoff
                }
            };
            // A state's news (a cooldown begun or ended here) is published
            // at once; otherwise once a period.
            tokio::select! {
                () = tokio::time::sleep(wait) => {}
                () = self.link.wake.notified(), if self.link.live() => {}
            }
        }
    }

    async fn tick(&self, store: &mut Option<Store>) -> Result<(), FleetError> {
        if store.is_none() {
            *store = Some(
                self.bounded(Store::connect(&self.addr, self.call_ms))
                    .await?,
            );
        }
        let Some(redis) = store.as_ref() else {
            return Ok(());
        };
        if self.link.live() {
            self.publish(redis).await?;
        }
        let remote = self.bounded(redis.read(&self.keys)).await?;
        if self.link.set(Status::Live) != Status::Live {
            tracing::info!(
                deployments = self.states.len(),
                "cooldowns shared with the other gateways through Redis"
            );
        }
        let now = now_ns();
        for ((s, r), k) in self.states.iter().zip(&remote).zip(&self.keys) {
            if s.fleet.pending.load(std::sync::atomic::Ordering::Relaxed) != 0 {
                // Unpublished news here: the fleet hears it first.
                continue;
            }
            let local = Local {
                until: s.until(),
                synced: s.fleet.synced(),
                held: s.fleet.held(),
            };
            match decide(local, r, now, &self.instance) {
                Act::Nothing => {}
                Act::Adopt(until) => {
                    if s.adopt(until) && local.until <= now {
                        self.link
                            .learned
                            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    }
                }
                Act::Recovered(known) => {
                    s.fleet_recovered(known);
                }
                Act::Release => s.fleet.release(),
                Act::Claim => {
                    if self
                        .bounded(redis.claim(&k.1, &self.instance, self.probe_ms))
                        .await?
                    {
                        s.fleet.release();
                    }
                }
            }
        }
        Ok(())
    }

    /// Writes what the states marked since the last tick.
    async fn publish(&self, redis: &Store) -> Result<(), FleetError> {
        for (s, k) in self.states.iter().zip(&self.keys) {
            let what = s.fleet.take_pending();
            let now = now_ns();
            let until = s.until();
            let result = match what {
                COOLED if until > now => {
                    let left_ms = (until - now).div_ceil(1_000_000);
                    let end = unix_ms().saturating_add(left_ms);
                    self.bounded(redis.cooled(k, end, left_ms))
                        .await
                        .map(|()| until)
                }
                RECOVERED if until == 0 => self
                    .bounded(redis.recovered(k, self.probe_ms))
                    .await
                    .map(|()| 0),
                _ => continue,
            };
            match result {
                Ok(known) => s.fleet.adopted(known),
                Err(e) => {
                    s.fleet.restore_pending(what);
                    return Err(e);
                }
            }
        }
        Ok(())
    }

    /// Redis failed: every instance on its own until it answers again.
    fn lost(&self, e: &FleetError) {
        let was = self.link.set(Status::Lost);
        for s in &self.states {
            s.fleet.release();
        }
        let retry_ms = u64::try_from(self.backoff.as_millis()).unwrap_or(u64::MAX);
        match was {
            Status::Live => {
                self.link
                    .fallbacks
                    .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                tracing::warn!(error = %e, retry_ms,
                    "cooldowns are no longer shared: each gateway keeps its own until Redis answers");
            }
            Status::Connecting => tracing::warn!(error = %e, retry_ms,
                "cooldowns are not shared yet: each gateway keeps its own until Redis answers"),
            Status::Lost | Status::Off => {}
        }
    }

    async fn bounded<T>(
        &self,
        call: impl Future<Output = Result<T, FleetError>>,
    ) -> Result<T, FleetError> {
        tokio::time::timeout(Duration::from_millis(self.call_ms), call)
            .await
            .unwrap_or(Err(FleetError::Timeout(self.call_ms)))
    }
}

fn unix_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

/// This instance's view of one deployment (`now_ns` clock).
#[derive(Debug, Clone, Copy)]
struct Local {
    /// End of its cooldown; 0 when none.
    until: u64,
    /// The end the fleet knows of (published or adopted).
    synced: u64,
    held: bool,
}

#[derive(Debug, PartialEq, Eq)]
enum Act {
    Nothing,
    /// Another instance cooled it down until then.
    Adopt(u64),
    /// Another instance's probe (or request) succeeded: back in service,
    /// if the cooldown here is still the one the fleet knew.
    Recovered(u64),
    /// Its cooldown is over: try to claim the probe for this instance.
    Claim,
    /// The claim is already this instance's.
    Release,
}

fn decide(l: Local, r: &Remote, now: u64, me: &str) -> Act {
    if r.left_ms > 0 {
        let end = now.saturating_add(r.left_ms.saturating_mul(1_000_000));
        // A millisecond of slack: Redis's copy of this instance's own
        // cooldown ends a little later than the original.
        let later = l.until == 0 || end > l.until.saturating_add(1_000_000);
        return if later { Act::Adopt(end) } else { Act::Nothing };
    }
    if l.until == 0 {
        return Act::Nothing;
    }
    if r.probe == "ok" {
        return if l.until == l.synced {
            Act::Recovered(l.until)
        } else {
            Act::Nothing
        };
    }
    if now < l.until || !l.held {
        Act::Nothing
    } else if r.probe.is_empty() {
        Act::Claim
    } else if r.probe == me {
        Act::Release
    } else {
        Act::Nothing
    }
}

#[cfg(test)]
#[path = "sync_tests.rs"]
mod tests;
