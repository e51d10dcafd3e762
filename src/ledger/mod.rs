//! The usage ledger: entries, the store per backend, and the async writer.
//!
//! [`Entry`] is one row; [`store`] inserts batches, [`scan`] reads rows
//! back (the one read path); [`export`] streams them out to files,
//! [`summary`] totals them and [`chain`] verifies them;
//! [`LedgerWriter`] (`writer/`: admission, the workers, the spool hand-off,
//! stats, the dead letter) batches entries off the request path and never
//! loses one silently (dropped entries are counted, refused ones
//! dead-lettered).

pub mod chain;
pub mod columns;
pub mod entry;
pub mod export;
pub mod rollups;
pub mod scan;
pub mod spool;
pub mod store;
pub mod summary;
mod writer;

pub use entry::{CacheStatus, Entry, TokenSource, Usage};
pub use scan::{count, get, list_request_ids};
pub use store::{StoreError, insert_batch};
pub use writer::dead_letter::{self, DeadLetter, DeadLetterError};
pub use writer::stats::WriterStats;
pub use writer::{
    Admission, Durable, LedgerError, LedgerWriter, Opening, Refused, Replayed, STUCK_AFTER,
};
