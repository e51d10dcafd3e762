//! The canonical message a chain hash covers, per version (docs/ledger.md,
//! "Hash chain"): the version's tag, the previous hash's 32 bytes, the
//! instance id and sequence number, then every column hashed in that
//! version ([`Column::hashed_since`]) in table order, each as a 4-byte
//! big-endian length and its bytes (NULL is length `0xFFFFFFFF`);
//! integers in ASCII decimal, booleans `1`/`0`.
//!
//! Version 1 is the 26 columns the ledger started with; version 2 adds this
//! wave's (`upstream_api` … `saved_cost_nano`). A row says its version in
//! `chain_version` (NULL: 1), and the tag binds it: a row moved to another
//! version no longer matches its hash. A row of an older version must hold
//! in every newer hashed column what rows of that version hold
//! ([`Column::fill`]): such a column did not exist when it was hashed, so
//! any other value was written afterwards.
//!
//! The visitor's methods are `#[inline(always)]`, and so are the field
//! writers they call: a message is built by one function, as before the
//! column table, not by a few dozen calls (docs/benchmarks-history.md,
//! "Export and verify after the column table").

use super::{Hash, int, text};
use crate::ledger::columns::{Column, Fill, MESSAGE_VERSION, Row, Visit};

/// The tag of each message version, from 1.
const TAGS: [&[u8]; MESSAGE_VERSION as usize] =
    [b"tokctl-ledger-entry-v1\n", b"tokctl-ledger-entry-v2\n"];

/// Writes `row`'s message of `version` into `buf` (cleared first).
/// `None`: a version this binary does not know; `Some(false)`: a column
/// newer than `version` holds a value rows of that version cannot.
pub fn encode(
    buf: &mut Vec<u8>,
    version: u8,
    instance_id: &str,
    seq: i64,
    prev: &Hash,
    row: &Row<'_>,
) -> Option<bool> {
    let tag = TAGS.get(usize::from(version).checked_sub(1)?)?;
    buf.clear();
    // Room for a typical message at once (v1 rows of the benchmark are
    // about 400 bytes), so the fields rarely grow it.
    buf.reserve(512);
    buf.extend_from_slice(tag);
    buf.extend_from_slice(prev);
    text(buf, Some(instance_id));
    int(buf, Some(seq));
    let mut m = Message {
        buf,
        version,
        filled: true,
    };
    row.visit(&mut m);
    Some(m.filled)
}

struct Message<'b> {
    buf: &'b mut Vec<u8>,
    version: u8,
    /// Every column newer than `version` holds its fill.
    filled: bool,
}

impl Message<'_> {
    /// Whether `c` is part of this version's message; for a newer column,
    /// notes whether it holds its fill (`is_fill` of its value).
    #[inline(always)]
    fn hashed(&mut self, c: &Column, is_fill: impl FnOnce(Fill) -> bool) -> bool {
        match c.hashed_since {
            Some(since) if since <= self.version => true,
            Some(_) => {
                self.filled &= is_fill(c.fill);
                false
            }
            None => false,
        }
    }
}

fn text_fill(v: Option<&str>) -> impl FnOnce(Fill) -> bool + '_ {
    move |f| match (f, v) {
        (Fill::Null, None) => true,
        (Fill::Text(t), Some(v)) => t == v,
        _ => false,
    }
}

fn int_fill(v: Option<i64>) -> impl FnOnce(Fill) -> bool {
    move |f| match (f, v) {
        (Fill::Null, None) => true,
        (Fill::Int(t), Some(v)) => t == v,
        _ => false,
    }
}

impl<'a> Visit<'a> for Message<'_> {
    #[inline(always)]
    fn text(&mut self, c: &'static Column, v: &'a str) {
        if self.hashed(c, text_fill(Some(v))) {
            text(self.buf, Some(v));
        }
    }

    #[inline(always)]
    fn opt_text(&mut self, c: &'static Column, v: Option<&'a str>) {
        if self.hashed(c, text_fill(v)) {
            text(self.buf, v);
        }
    }

    #[inline(always)]
    fn int(&mut self, c: &'static Column, v: i64) {
        if self.hashed(c, int_fill(Some(v))) {
            int(self.buf, Some(v));
        }
    }

    #[inline(always)]
    fn opt_int(&mut self, c: &'static Column, v: Option<i64>) {
        if self.hashed(c, int_fill(v)) {
            int(self.buf, v);
        }
    }

    #[inline(always)]
    fn int4(&mut self, c: &'static Column, v: i32) {
        self.int(c, i64::from(v));
    }

    #[inline(always)]
    fn opt_int4(&mut self, c: &'static Column, v: Option<i32>) {
        self.opt_int(c, v.map(i64::from));
    }

    #[inline(always)]
    fn boolean(&mut self, c: &'static Column, v: bool) {
        if self.hashed(c, int_fill(Some(i64::from(v)))) {
            text(self.buf, Some(if v { "1" } else { "0" }));
        }
    }

    #[inline(always)]
    fn opt_blob(&mut self, c: &'static Column, v: Option<&'a [u8]>) {
        if self.hashed(c, |f| f == Fill::Null && v.is_none()) {
            super::field(self.buf, v);
        }
    }
}
