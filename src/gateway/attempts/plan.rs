//! What comes next after an attempt: another deployment of the model
//! (within `routing.max_attempts`), else the same one again (its
//! provider's `max_retries`), else the next fallback model; and the 503
//! when everything left is cooling down.

use std::collections::VecDeque;
use std::sync::Arc;

use axum::http::StatusCode;

use crate::gateway::AppState;
use crate::gateway::error::ApiError;
use crate::gateway::relay::Outcome;
use crate::gateway::routes::Route;
use crate::gateway::routing::{Choice, now_ns, pick};

/// What the loop knows between attempts.
pub(super) struct Plan {
    pub(super) route: Arc<Route>,
    pub(super) tried: u64,
    /// Attempts that counted against `routing.max_attempts`.
    pub(super) counted: u32,
    /// The last deployment tried, its retries so far, and whether its
    /// failure may be retried on it.
    pub(super) last: Option<(usize, u32, bool)>,
    pub(super) fallbacks: VecDeque<String>,
    pub(super) context_fallbacks: VecDeque<String>,
    /// The soonest end of a cooldown met along the way.
    pub(super) cooling: Option<u64>,
}

/// The next attempt: a deployment of `plan.route`, and whether it is a
/// retry on the same one.
#[derive(Clone, Copy)]
pub(super) struct Next {
    pub(super) index: usize,
    pub(super) retry: bool,
}

impl Plan {
    /// The next attempt, or `None` when nothing is left (or everything left
    /// is cooling down: `self.cooling` says until when).
    pub(super) fn next(&mut self, state: &AppState, context: bool) -> Option<Next> {
        let max = state.config.routing.max_attempts;
        let policy = &state.routes.policy;
        loop {
            if self.counted < max {
                let choice = pick(
                    &self.route.states,
                    self.tried,
                    self.route.strategy,
                    now_ns(),
                    policy,
                    &mut rand::thread_rng(),
                );
                match choice {
                    Choice::Go { index, .. } => {
                        self.tried |= 1u64.checked_shl(index as u32).unwrap_or(0);
                        self.counted += 1;
                        return Some(Next {
                            index,
                            retry: false,
                        });
                    }
                    Choice::Cooling(until) => {
                        self.cooling = Some(self.cooling.map_or(until, |c| c.min(until)));
                    }
                    Choice::Exhausted => {}
                }
            }
            if let Some((index, retries, true)) = self.last {
                let d = &self.route.deployments[index];
                let cooling = self.route.states[index].cooling(now_ns());
                if retries < d.provider.max_retries() && !cooling && !context {
                    return Some(Next { index, retry: true });
                }
            }
            if self.counted >= max {
                return None;
            }
            let name = if context {
                self.context_fallbacks.pop_front()
            } else {
                self.fallbacks.pop_front()
            }?;
            let Some(route) = state.routes.get(&name) else {
                continue;
            };
            self.route = route.clone();
            self.tried = 0;
            self.last = None;
        }
    }

    /// The prompt was too long: only the context-window fallbacks can help.
    pub(super) fn context_fallbacks_only(&mut self) {
        self.tried = u64::MAX;
        self.last = None;
    }
}

/// 503 `no_deployment_available`: every deployment is cooling down (or
/// none is left); `Retry-After` is the soonest end of a cooldown.
pub(super) fn no_deployment(plan: &Plan, out: &mut Outcome) -> ApiError {
    let now = now_ns();
    let wait_s = plan.cooling.map_or(1, |until| {
        until.saturating_sub(now).div_ceil(1_000_000_000).max(1)
    });
    out.retry_after = Some(wait_s);
    ApiError::new(
        StatusCode::SERVICE_UNAVAILABLE,
        "no_deployment_available",
        format!(
            "every deployment of model `{}` is cooling down after failures; retry after {wait_s} s",
            plan.route.model
        ),
    )
}
