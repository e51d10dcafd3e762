//! Admission: a place in the ledger, taken before the upstream is called.
//!
//! Under `on_full = "block"` a request waits here for room, at most
//! `ledger.async.full_wait_ms`; past that it is refused with 503
//! `ledger_unavailable` before any upstream is called: an answer the
//! gateway could not record would break "one entry per admitted request",
//! and one it waited on without bound froze the gateway (a full spool
//! disk held every request forever, #29).

use super::*;

/// Why a request could not be given a place in the ledger.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{reason}; waited {waited_ms} ms for room (ledger.async.full_wait_ms)")]
pub struct Refused {
    /// What is wrong, for the client's error message and the logs.
    pub reason: &'static str,
    pub waited_ms: u64,
}

impl LedgerWriter {
    /// A place taken without waiting, when there is room now (`None`
    /// otherwise: the caller waits, bounded, in [`admit`](Self::admit)).
    fn admit_now(&self) -> Option<Admission> {
        if let Some(sp) = &self.inner.spool {
            if sp.refusal().is_some() {
                return None;
            }
            let unwritten = self.inner.unwritten.clone().try_acquire_owned().ok()?;
            return Some(Admission {
                permit: None,
                unwritten: Some(unwritten),
            });
        }
        let permit = self.sender()?.try_reserve_owned().ok()?;
        Some(Admission {
            permit: Some(permit),
            unwritten: None,
        })
    }

    /// Takes a place for one entry. Under `on_full = "block"` this waits for
    /// room (in the channel, or in the spool when it is on) for at most
    /// `full_wait_ms`: call it before the upstream, so backpressure delays
    /// new requests and never a response already paid for, and a request
    /// that cannot be recorded is refused unanswered. Returns at once
    /// otherwise.
    pub async fn admit(&self) -> Result<Admission, Refused> {
        let none = Admission {
            permit: None,
            unwritten: None,
        };
        if self.inner.inline || self.inner.on_full == OnFull::Drop {
            return Ok(none);
        }
        // The common case takes its place at once, with no timer armed.
        if let Some(admission) = self.admit_now() {
            return Ok(admission);
        }
        let until = tokio::time::Instant::now() + self.inner.full_wait;
        let refused = |reason| {
            let n = self.inner.shared.counters.refused.fetch_add(1, Relaxed) + 1;
            let r = Refused {
                reason,
                waited_ms: self.inner.full_wait.as_millis() as u64,
            };
            if self.once_a_second() {
                warn!("{r}: refusing new requests with 503 ledger_unavailable ({n} so far)");
            }
            r
        };
        if let Some(sp) = &self.inner.spool {
            while let Some(reason) = sp.refusal() {
                if self.inner.closed.load(Relaxed) {
                    break;
                }
                let room = sp.room.notified();
                let step = tokio::time::Instant::now() + Duration::from_millis(100);
                let _ = tokio::time::timeout_at(step.min(until), room).await;
                if tokio::time::Instant::now() >= until && sp.refusal().is_some() {
                    return Err(refused(reason));
                }
            }
            let places = self.inner.unwritten.clone();
            return match tokio::time::timeout_at(until, places.acquire_owned()).await {
                Ok(unwritten) => Ok(Admission {
                    permit: None,
                    unwritten: unwritten.ok(),
                }),
                Err(_) => Err(refused(
                    "the spool is not taking entries as fast as they come (ledger.async.buffer_size places are all taken)",
                )),
            };
        }
        let Some(tx) = self.sender() else {
            return Ok(none);
        };
        match tokio::time::timeout_at(until, tx.reserve_owned()).await {
            Ok(permit) => Ok(Admission {
                permit: permit.ok(),
                unwritten: None,
            }),
            Err(_) => Err(refused(
                "the ledger's queue is full (ledger.async.buffer_size) and the database is not taking entries",
            )),
        }
    }
}
