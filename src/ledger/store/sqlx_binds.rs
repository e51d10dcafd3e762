//! Binding a batch through sqlx: the entry columns as one array each for
//! the careful PostgreSQL insert, and as one value each for the in-memory
//! SQLite path's multi-row insert (files are written by `sqlite_file`).

use sqlx::Sqlite;

use super::{PgBind, pg_arrays};
use crate::ledger::columns::{Column, Visit};
use crate::ledger::entry::Entry;

/// Binds the entry columns as arrays, in the column table's order.
pub(super) fn postgres_binds<'q, Q: PgBind<'q>>(mut q: Q, e: &'q [Entry]) -> Q {
    for array in pg_arrays::arrays(e) {
        q = match array {
            pg_arrays::Array::Text(v) => q.bind(v),
            pg_arrays::Array::Int(v) => q.bind(v),
            pg_arrays::Array::Int4(v) => q.bind(v),
            pg_arrays::Array::Bool(v) => q.bind(v),
            pg_arrays::Array::Blob(v) => q.bind(v),
        };
    }
    q
}

/// Binds a row's columns to a sqlx SQLite query, in order (the in-memory
/// path; SQLite files are written by `sqlite_file`).
pub(super) struct SqlxBind<'q>(
    pub Option<sqlx::query::Query<'q, Sqlite, sqlx::sqlite::SqliteArguments<'q>>>,
);

impl SqlxBind<'_> {
    fn put<'q, T>(q: &mut SqlxBind<'q>, v: T)
    where
        T: 'q + sqlx::Encode<'q, Sqlite> + sqlx::Type<Sqlite>,
    {
        q.0 = q.0.take().map(|query| query.bind(v));
    }
}

impl<'q> Visit<'q> for SqlxBind<'q> {
    fn text(&mut self, _: &'static Column, v: &'q str) {
        SqlxBind::put(self, v);
    }
    fn opt_text(&mut self, _: &'static Column, v: Option<&'q str>) {
        SqlxBind::put(self, v);
    }
    fn int(&mut self, _: &'static Column, v: i64) {
        SqlxBind::put(self, v);
    }
    fn opt_int(&mut self, _: &'static Column, v: Option<i64>) {
        SqlxBind::put(self, v);
    }
    fn int4(&mut self, _: &'static Column, v: i32) {
        SqlxBind::put(self, v);
    }
    fn opt_int4(&mut self, _: &'static Column, v: Option<i32>) {
        SqlxBind::put(self, v);
    }
    fn boolean(&mut self, _: &'static Column, v: bool) {
        SqlxBind::put(self, v);
    }
    fn opt_blob(&mut self, _: &'static Column, v: Option<&'q [u8]>) {
        SqlxBind::put(self, v);
    }
}
