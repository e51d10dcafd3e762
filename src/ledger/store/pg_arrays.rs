//! A batch of entries as one typed array per column: the parameters of the
//! careful PostgreSQL insert (`INSERT … SELECT FROM UNNEST($1::text[], …)
//! ON CONFLICT DO NOTHING`, see `Idempotency`), in the column table's
//! order, with the statement's text made from the same table.

use std::sync::LazyLock;

use crate::ledger::columns::{self, COLUMNS, Column, Kind, Row, Visit};
use crate::ledger::entry::Entry;

/// The careful insert into `usage_entries`, its parameters `$1` to `$N`
/// for the N columns.
pub(super) static INSERT: LazyLock<String> = LazyLock::new(|| {
    let casts: Vec<String> = COLUMNS
        .iter()
        .enumerate()
        .map(|(i, c)| format!("${}::{}", i + 1, c.kind.postgres_array()))
        .collect();
    format!(
        "INSERT INTO {} ({}) SELECT * FROM UNNEST({}) ON CONFLICT DO NOTHING",
        super::LEDGER_TABLE,
        columns::list(),
        casts.join(", ")
    )
});

/// One column's values across the batch.
pub(super) enum Array<'a> {
    Text(Vec<Option<&'a str>>),
    Int(Vec<Option<i64>>),
    Int4(Vec<Option<i32>>),
    Bool(Vec<bool>),
    Blob(Vec<Option<&'a [u8]>>),
}

/// The arrays of `entries`, one per column in table order.
pub(super) fn arrays(entries: &[Entry]) -> Vec<Array<'_>> {
    let n = entries.len();
    let mut out: Vec<Array<'_>> = COLUMNS
        .iter()
        .map(|c| match c.kind {
            Kind::Text | Kind::OptText => Array::Text(Vec::with_capacity(n)),
            Kind::Int | Kind::OptInt => Array::Int(Vec::with_capacity(n)),
            Kind::Int4 | Kind::OptInt4 => Array::Int4(Vec::with_capacity(n)),
            Kind::Bool => Array::Bool(Vec::with_capacity(n)),
            Kind::OptBlob => Array::Blob(Vec::with_capacity(n)),
        })
        .collect();
    for e in entries {
        Row::of(e).visit(&mut Push {
            arrays: &mut out,
            at: 0,
        });
    }
    out
}

/// Appends one row's values, column by column.
struct Push<'o, 'a> {
    arrays: &'o mut [Array<'a>],
    at: usize,
}

impl<'a> Push<'_, 'a> {
    fn next(&mut self) -> Option<&mut Array<'a>> {
        self.at += 1;
        self.arrays.get_mut(self.at - 1)
    }
}

impl<'a> Visit<'a> for Push<'_, 'a> {
    fn text(&mut self, c: &'static Column, v: &'a str) {
        self.opt_text(c, Some(v));
    }
    fn opt_text(&mut self, _: &'static Column, v: Option<&'a str>) {
        if let Some(Array::Text(a)) = self.next() {
            a.push(v);
        }
    }
    fn int(&mut self, c: &'static Column, v: i64) {
        self.opt_int(c, Some(v));
    }
    fn opt_int(&mut self, _: &'static Column, v: Option<i64>) {
        if let Some(Array::Int(a)) = self.next() {
            a.push(v);
        }
    }
    fn int4(&mut self, c: &'static Column, v: i32) {
        self.opt_int4(c, Some(v));
    }
    fn opt_int4(&mut self, _: &'static Column, v: Option<i32>) {
        if let Some(Array::Int4(a)) = self.next() {
            a.push(v);
        }
    }
    fn boolean(&mut self, _: &'static Column, v: bool) {
        if let Some(Array::Bool(a)) = self.next() {
            a.push(v);
        }
    }
    fn opt_blob(&mut self, _: &'static Column, v: Option<&'a [u8]>) {
        if let Some(Array::Blob(a)) = self.next() {
            a.push(v);
        }
    }
}
