//! PostgreSQL's binary `COPY` format for a batch of entries: the optimistic
//! path of a PostgreSQL commit (see `Idempotency`).
//!
//! Why: an `INSERT … SELECT FROM UNNEST` of 30 typed arrays costs the
//! server more per row than the insert itself. It decodes each array, then
//! materialises every `unnest` into a tuple store before a row is formed.
//! `COPY … FROM STDIN (FORMAT binary)` reads each row's fields straight
//! off the wire, and fills heap pages several rows at a time.
//! docs/benchmarks.md ("PostgreSQL: COPY for the optimistic path") has the
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

use super::{CHAIN_COLUMNS, COLUMNS, NUM_COLUMNS};
use crate::ledger::entry::Entry;

/// The statement that starts the copy into `table`.
pub(super) fn statement(table: &str) -> String {
    format!("COPY {table} ({COLUMNS}, {CHAIN_COLUMNS}) FROM STDIN (FORMAT binary)")
}

/// Signature, flags (no OIDs) and header-extension length.
const HEADER: &[u8] = b"PGCOPY\n\xff\r\n\0\0\0\0\0\0\0\0\0";
const TRAILER: &[u8] = &(-1i16).to_be_bytes();
const FIELDS: i16 = NUM_COLUMNS as i16;

/// Bytes a row takes besides its strings: the field count, 30 lengths, and
/// the fixed-size values.
const ROW_FIXED: usize = 2 + NUM_COLUMNS * 4 + 16 * 8 + 4 + 1 + 64;

/// The copy data of `entries`, in [`COLUMNS`], [`CHAIN_COLUMNS`] order.
pub(super) fn encode(entries: &[Entry]) -> Vec<u8> {
    let strings: usize = entries.iter().map(text_bytes).sum();
    let mut out =
        Vec::with_capacity(HEADER.len() + TRAILER.len() + entries.len() * ROW_FIXED + strings);
    out.extend_from_slice(HEADER);
    for e in entries {
        row(&mut out, e);
    }
    out.extend_from_slice(TRAILER);
    out
}

fn text_bytes(e: &Entry) -> usize {
    let opt = |s: &Option<String>| s.as_deref().map_or(0, str::len);
    e.request_id.len()
        + opt(&e.client_request_id)
        + opt(&e.upstream_request_id)
        + opt(&e.user_name)
        + e.endpoint.len()
        + e.model.len()
        + e.provider.len()
        + opt(&e.upstream_model)
        + e.token_source.as_str().len()
        + opt(&e.error_kind)
        + opt(&e.error_message)
        + e.chain.as_ref().map_or(0, |l| l.instance_id.len())
}

fn row(out: &mut Vec<u8>, e: &Entry) {
    let u = &e.usage;
    let link = e.chain.as_ref();
    out.extend_from_slice(&FIELDS.to_be_bytes());
    bytes(out, Some(e.request_id.as_bytes()));
    int8(out, Some(e.created_at_us));
    text(out, e.client_request_id.as_deref());
    text(out, e.upstream_request_id.as_deref());
    int8(out, e.user_id);
    text(out, e.user_name.as_deref());
    int8(out, e.api_key_id);
    bytes(out, Some(e.endpoint.as_bytes()));
    bytes(out, Some(e.model.as_bytes()));
    bytes(out, Some(e.provider.as_bytes()));
    text(out, e.upstream_model.as_deref());
    for n in u.counts() {
        int8(out, Some(n));
    }
    bytes(out, Some(e.token_source.as_str().as_bytes()));
    int8(out, Some(e.cost_nano));
    int8(out, Some(e.latency_us));
    int8(out, e.upstream_latency_us);
    int8(out, e.ttft_us);
    int8(out, e.overhead_us);
    out.extend_from_slice(&4i32.to_be_bytes());
    out.extend_from_slice(&e.status_code.to_be_bytes());
    out.extend_from_slice(&1i32.to_be_bytes());
    out.push(u8::from(e.streamed));
    text(out, e.error_kind.as_deref());
    text(out, e.error_message.as_deref());
    text(out, link.map(|l| l.instance_id.as_str()));
    int8(out, link.map(|l| l.seq));
    bytes(out, link.map(|l| l.prev_hash.as_slice()));
    bytes(out, link.map(|l| l.hash.as_slice()));
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
