//! Admission: a place in the ledger, taken before the upstream is called.

use super::*;

impl LedgerWriter {
    /// Takes a place for one entry. Under `on_full = "block"` this waits for
    /// room (in the channel, or in the spool when it is on): call it before
    /// the upstream, so backpressure delays new requests and never a
    /// response already paid for. Returns at once otherwise.
    pub async fn admit(&self) -> Admission {
        let none = Admission {
            permit: None,
            unwritten: None,
        };
        if self.inner.inline || self.inner.on_full == OnFull::Drop {
            return none;
        }
        if let Some(sp) = &self.inner.spool {
            while sp.is_full() && !self.inner.closed.load(Relaxed) {
                let room = sp.room.notified();
                let _ = tokio::time::timeout(Duration::from_millis(100), room).await;
            }
            let unwritten = self.inner.unwritten.clone().acquire_owned().await.ok();
            return Admission {
                permit: None,
                unwritten,
            };
        }
        let tx = self.sender();
        let permit = match tx {
            Some(tx) => tx.reserve_owned().await.ok(),
            None => None,
        };
        Admission {
            permit,
            unwritten: None,
        }
    }
}
