//! The usage ledger: entries, the store per backend, and the async writer.
//!
//! [`Entry`] is one row; [`store`] inserts batches and reads rows back;
//! [`LedgerWriter`] batches entries off the request path and never loses one
//! silently (dropped entries are counted, refused ones dead-lettered).

pub mod dead_letter;
pub mod entry;
mod stats;
pub mod store;
mod worker;
mod writer;

pub use dead_letter::{DeadLetter, DeadLetterError};
pub use entry::{Entry, TokenSource, Usage};
pub use stats::WriterStats;
pub use store::{StoreError, count, get, insert_batch, list_request_ids};
pub use writer::{Admission, LedgerWriter};
