//! The cells of one exported record: each ledger column written as a CSV
//! field or a JSON-lines member, by walking the column table
//! ([`crate::ledger::columns::Row::visit`]). The record around them (the
//! `id`, the line's ends) is [`super::row`]'s.
//!
//! Every method here is `#[inline(always)]`: walked through the table, a
//! record is a few dozen calls, and left as calls (each reloading the
//! output buffer through its pointer) they cost the CSV export 5 % more CPU
//! than the record built in one function did (the profile in
//! docs/benchmarks-history.md, "Export and verify after the column table").
//! Inlined, `push_csv_record` is that one function again.

use std::marker::PhantomData;

use super::row::{
    needs_excel_guard, push_csv_field, push_hex, push_json_string, push_nano_decimal, push_rfc3339,
};
use crate::ledger::columns::{Column, Derived, Visit};

/// Where a record's cells go: the output, the integer formatter and
/// whether formula-like cells are neutralised; `F` ([`Csv`] or [`Jsonl`])
/// says how each is written, chosen at compile time.
pub(super) struct Cells<'o, F> {
    out: &'o mut Vec<u8>,
    b: &'o mut itoa::Buffer,
    safe: bool,
    format: PhantomData<F>,
}

impl<'o, F> Cells<'o, F> {
    #[inline(always)]
    pub fn new(out: &'o mut Vec<u8>, b: &'o mut itoa::Buffer, safe: bool) -> Self {
        Self {
            out,
            b,
            safe,
            format: PhantomData,
        }
    }
}

/// Writes each column as a CSV field followed by a comma.
pub(super) struct Csv;

/// Writes each column as `,"name":value`.
pub(super) struct Jsonl;

impl Cells<'_, Csv> {
    #[inline(always)]
    fn int_field(&mut self, c: &Column, v: Option<i64>) {
        if let (Derived::TimeBefore(_), Some(v)) = (c.derived, v) {
            push_rfc3339(self.out, v);
            self.out.push(b',');
        }
        if let Some(v) = v {
            self.out.extend_from_slice(self.b.format(v).as_bytes());
        }
        self.out.push(b',');
        if let (Derived::DecimalAfter(_), Some(v)) = (c.derived, v) {
            push_nano_decimal(self.out, v);
            self.out.push(b',');
        }
    }
}

impl<'a> Visit<'a> for Cells<'_, Csv> {
    #[inline(always)]
    fn opt_text(&mut self, _: &'static Column, v: Option<&'a str>) {
        if let Some(v) = v {
            push_csv_field(self.out, v.as_bytes(), self.safe && needs_excel_guard(v));
        }
        self.out.push(b',');
    }
    #[inline(always)]
    fn opt_int(&mut self, c: &'static Column, v: Option<i64>) {
        self.int_field(c, v);
    }
    #[inline(always)]
    fn boolean(&mut self, _: &'static Column, v: bool) {
        self.out
            .extend_from_slice(if v { b"true," } else { b"false," });
    }
    #[inline(always)]
    fn opt_blob(&mut self, _: &'static Column, v: Option<&'a [u8]>) {
        if let Some(h) = v {
            push_hex(self.out, h);
        }
        self.out.push(b',');
    }
}

impl Cells<'_, Jsonl> {
    #[inline(always)]
    fn key(&mut self, name: &str) {
        self.out.extend_from_slice(b",\"");
        self.out.extend_from_slice(name.as_bytes());
        self.out.extend_from_slice(b"\":");
    }

    #[inline(always)]
    fn int_field(&mut self, c: &Column, v: Option<i64>) {
        if let (Derived::TimeBefore(d), Some(v)) = (c.derived, v) {
            self.key(d);
            self.out.push(b'"');
            push_rfc3339(self.out, v);
            self.out.push(b'"');
        }
        self.key(c.name);
        match v {
            Some(v) => self.out.extend_from_slice(self.b.format(v).as_bytes()),
            None => self.out.extend_from_slice(b"null"),
        }
        if let (Derived::DecimalAfter(d), Some(v)) = (c.derived, v) {
            self.key(d);
            push_nano_decimal(self.out, v);
        }
    }
}

impl<'a> Visit<'a> for Cells<'_, Jsonl> {
    #[inline(always)]
    fn opt_text(&mut self, c: &'static Column, v: Option<&'a str>) {
        self.key(c.name);
        match v {
            Some(v) => push_json_string(self.out, v, self.safe && needs_excel_guard(v)),
            None => self.out.extend_from_slice(b"null"),
        }
    }
    #[inline(always)]
    fn opt_int(&mut self, c: &'static Column, v: Option<i64>) {
        self.int_field(c, v);
    }
    #[inline(always)]
    fn boolean(&mut self, c: &'static Column, v: bool) {
        self.key(c.name);
        self.out
            .extend_from_slice(if v { b"true" } else { b"false" });
    }
    #[inline(always)]
    fn opt_blob(&mut self, c: &'static Column, v: Option<&'a [u8]>) {
        self.key(c.name);
        match v {
            Some(h) => {
                self.out.push(b'"');
                push_hex(self.out, h);
                self.out.push(b'"');
            }
            None => self.out.extend_from_slice(b"null"),
        }
    }
}
