//! PostgreSQL's binary `COPY` format for a batch of entries: the optimistic
//! path of a PostgreSQL commit (see `Idempotency`).
//!
//! Why: an `INSERT … SELECT FROM UNNEST` of 30 typed arrays costs the
//! server more per row than the insert itself. It decodes each array, then
//! materialises every `unnest` into a tuple store before a row is formed.
//! `COPY … FROM STDIN (FORMAT binary)` reads each row's fields straight
//! off the wire, and fills heap pages several rows at a time.
//! docs/benchmarks-history.md ("PostgreSQL: COPY for the optimistic path") has the
//! measurements. `COPY` cannot skip duplicates, which is why it serves only
//! the optimistic form: a batch that repeats a stored entry fails whole
//! with 23505 and goes again through the careful `ON CONFLICT` statement.
//!
//! The format (PostgreSQL docs, "COPY", "Binary Format"): a fixed header,
//! then per row a 16-bit field count and per field a 32-bit length (-1 for
//! NULL) and the type's binary send form, then a 16-bit -1 trailer. All
//! integers are big-endian. The field types below must be the columns'
//! types exactly (`BIGINT`, `INTEGER`, `BOOLEAN`, `TEXT`, `BYTEA`): binary
//! `COPY` does no casts.

use super::NUM_COLUMNS;
use crate::ledger::columns::{self, Column, Row, Visit};
use crate::ledger::entry::Entry;

/// The statement that starts the copy into `table`.
pub(super) fn statement(table: &str) -> String {
    format!(
        "COPY {table} ({}) FROM STDIN (FORMAT binary)",
        columns::list()
    )
}

/// Signature, flags (no OIDs) and header-extension length.
const HEADER: &[u8] = b"PGCOPY\n\xff\r\n\0\0\0\0\0\0\0\0\0";
const TRAILER: &[u8] = &(-1i16).to_be_bytes();
const FIELDS: i16 = NUM_COLUMNS as i16;

/// Bytes a row takes besides its text, about: the field count, a length
/// per field and 8 bytes per value.
const ROW_FIXED: usize = 2 + NUM_COLUMNS * 12;

/// The copy data of `entries`, in the column table's order.
pub(super) fn encode(entries: &[Entry]) -> Vec<u8> {
    let strings: usize = entries.iter().map(text_bytes).sum();
    let mut out =
        Vec::with_capacity(HEADER.len() + TRAILER.len() + entries.len() * ROW_FIXED + strings);
    out.extend_from_slice(HEADER);
    for e in entries {
        out.extend_from_slice(&FIELDS.to_be_bytes());
        Row::of(e).visit(&mut CopyRow(&mut out));
    }
    out.extend_from_slice(TRAILER);
    out
}

/// The larger text fields of an entry, for the buffer's capacity.
fn text_bytes(e: &Entry) -> usize {
    let opt = |s: &Option<String>| s.as_deref().map_or(0, str::len);
    e.request_id.len()
        + e.endpoint.len()
        + e.model.len()
        + e.provider.len()
        + opt(&e.user_name)
        + opt(&e.upstream_model)
        + opt(&e.error_message)
        + 64
}

/// Writes each column in its binary send form.
struct CopyRow<'o>(&'o mut Vec<u8>);

impl<'a> Visit<'a> for CopyRow<'_> {
    fn text(&mut self, _: &'static Column, v: &'a str) {
        bytes(self.0, Some(v.as_bytes()));
    }
    fn opt_text(&mut self, _: &'static Column, v: Option<&'a str>) {
        text(self.0, v);
    }
    fn int(&mut self, _: &'static Column, v: i64) {
        int8(self.0, Some(v));
    }
    fn opt_int(&mut self, _: &'static Column, v: Option<i64>) {
        int8(self.0, v);
    }
    fn int4(&mut self, _: &'static Column, v: i32) {
        self.0.extend_from_slice(&4i32.to_be_bytes());
        self.0.extend_from_slice(&v.to_be_bytes());
    }
    fn opt_int4(&mut self, c: &'static Column, v: Option<i32>) {
        match v {
            Some(v) => self.int4(c, v),
            None => self.0.extend_from_slice(&(-1i32).to_be_bytes()),
        }
    }
    fn boolean(&mut self, _: &'static Column, v: bool) {
        self.0.extend_from_slice(&1i32.to_be_bytes());
        self.0.push(u8::from(v));
    }
    fn opt_blob(&mut self, _: &'static Column, v: Option<&'a [u8]>) {
        bytes(self.0, v);
    }
}

fn text(out: &mut Vec<u8>, s: Option<&str>) {
    bytes(out, s.map(str::as_bytes));
}

/// A length-prefixed value, or NULL. Every value here is far below 2 GiB
/// (entries cap their strings), so the length always fits.
fn bytes(out: &mut Vec<u8>, b: Option<&[u8]>) {
    match b {
        Some(b) => {
            let len = i32::try_from(b.len()).unwrap_or(i32::MAX);
            out.extend_from_slice(&len.to_be_bytes());
            out.extend_from_slice(b);
        }
        None => out.extend_from_slice(&(-1i32).to_be_bytes()),
    }
}

fn int8(out: &mut Vec<u8>, n: Option<i64>) {
    match n {
        Some(n) => {
            out.extend_from_slice(&8i32.to_be_bytes());
            out.extend_from_slice(&n.to_be_bytes());
        }
        None => out.extend_from_slice(&(-1i32).to_be_bytes()),
    }
}
