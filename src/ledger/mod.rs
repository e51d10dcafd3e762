//! The usage ledger: entries, the store per backend, and the async writer.

pub mod entry;

pub use entry::{Entry, TokenSource, Usage};
pub mod writer;
pub use writer::{Admission, LedgerWriter, WriterStats};
