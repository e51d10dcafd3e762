//! TEMPORARY STUB (not committed): replaced by the ledger branch.
use super::Entry;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
#[derive(Clone)]
pub struct LedgerWriter {
    n: Arc<AtomicU64>,
}
pub struct Admission;
#[derive(Debug, Default, Clone)]
pub struct WriterStats {
    pub written: u64,
    pub dropped: u64,
}
impl LedgerWriter {
    pub fn start(_db: crate::db::Db, _c: &crate::config::LedgerConfig) -> Self {
        Self {
            n: Arc::new(AtomicU64::new(0)),
        }
    }
    pub async fn admit(&self) -> Admission {
        Admission
    }
    pub fn record(&self, _a: Admission, _e: Entry) {
        self.n.fetch_add(1, Ordering::Relaxed);
    }
    pub async fn shutdown(&self) -> WriterStats {
        WriterStats {
            written: self.n.load(Ordering::Relaxed),
            dropped: 0,
        }
    }
}
