//! The usage ledger: entries, the store per backend, and the async writer.
//!
//! [`Entry`] is one row; [`store`] inserts batches, [`read`] reads rows back;
//! [`export`] streams them out to files and [`summary`] totals them;
//! [`LedgerWriter`] batches entries off the request path and never loses one
//! silently (dropped entries are counted, refused ones dead-lettered).

pub mod chain;
pub mod columns;
pub mod dead_letter;
pub mod entry;
pub mod export;
mod front;
pub mod read;
pub mod spool;
mod stats;
pub mod store;
pub mod summary;
mod worker;
mod writer;

pub use dead_letter::{DeadLetter, DeadLetterError};
pub use entry::{CacheStatus, Entry, TokenSource, Usage};
pub use read::{count, get, list_request_ids};
pub use stats::WriterStats;
pub use store::{StoreError, insert_batch};
pub use writer::{Admission, Durable, LedgerError, LedgerWriter, Opening, Refused, STUCK_AFTER};
