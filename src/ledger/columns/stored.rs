//! A row as stored: the database's `id` and the [`Row`], read back through
//! sqlx on either backend (the direct SQLite reader and the PostgreSQL
//! `COPY` decoder have sources of their own, beside their readers).

use std::sync::LazyLock;

use sqlx::Row as _;

use super::{Column, Row, Source};

/// One stored row, its text borrowed from the database's buffers. It reads
/// as its [`Row`] (`r.model`), with the `id` beside.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ExportRow<'r> {
    pub id: i64,
    pub row: Row<'r>,
}

impl<'r> std::ops::Deref for ExportRow<'r> {
    type Target = Row<'r>;

    fn deref(&self) -> &Row<'r> {
        &self.row
    }
}

/// `SELECT id, <every column> FROM usage_entries`, the order every
/// decoder of an [`ExportRow`] reads.
pub fn select() -> &'static str {
    static SQL: LazyLock<String> =
        LazyLock::new(|| format!("SELECT id, {} FROM usage_entries", super::list()));
    &SQL
}

/// How many columns [`select`] yields.
pub const SELECTED: usize = super::NUM_COLUMNS + 1;

/// A sqlx row's columns, read by index from the second (the first is `id`).
struct Sqlx<'r, R> {
    row: &'r R,
    at: usize,
}

/// Decodes a row selected with [`select`] (or, from `skip_id`'s place, a
/// row of the bare column list).
pub trait Decode {
    fn export_row(&self) -> Result<ExportRow<'_>, sqlx::Error>;
    /// The [`Row`] of a `SELECT` of the bare column list.
    fn ledger_row(&self) -> Result<Row<'_>, sqlx::Error>;
}

macro_rules! sqlx_decode {
    ($row:ty) => {
        impl<'r> Sqlx<'r, $row> {
            fn next<T>(&mut self) -> Result<T, sqlx::Error>
            where
                T: sqlx::Decode<'r, <$row as sqlx::Row>::Database>
                    + sqlx::Type<<$row as sqlx::Row>::Database>,
            {
                let v = self.row.try_get(self.at)?;
                self.at += 1;
                Ok(v)
            }
        }

        impl<'r> Source<'r> for Sqlx<'r, $row> {
            type Error = sqlx::Error;
            fn text(&mut self, _: &'static Column) -> Result<&'r str, sqlx::Error> {
                self.next()
            }
            fn opt_text(&mut self, _: &'static Column) -> Result<Option<&'r str>, sqlx::Error> {
                self.next()
            }
            fn int(&mut self, _: &'static Column) -> Result<i64, sqlx::Error> {
                self.next()
            }
            fn opt_int(&mut self, _: &'static Column) -> Result<Option<i64>, sqlx::Error> {
                self.next()
            }
            fn int4(&mut self, _: &'static Column) -> Result<i32, sqlx::Error> {
                self.next()
            }
            fn opt_int4(&mut self, _: &'static Column) -> Result<Option<i32>, sqlx::Error> {
                self.next()
            }
            fn boolean(&mut self, _: &'static Column) -> Result<bool, sqlx::Error> {
                self.next()
            }
            fn opt_blob(&mut self, _: &'static Column) -> Result<Option<&'r [u8]>, sqlx::Error> {
                self.next()
            }
        }

        impl Decode for $row {
            fn export_row(&self) -> Result<ExportRow<'_>, sqlx::Error> {
                let id = self.try_get(0)?;
                let row = Row::read(&mut Sqlx { row: self, at: 1 })?;
                Ok(ExportRow { id, row })
            }

            fn ledger_row(&self) -> Result<Row<'_>, sqlx::Error> {
                Row::read(&mut Sqlx { row: self, at: 0 })
            }
        }
    };
}

sqlx_decode!(sqlx::sqlite::SqliteRow);
sqlx_decode!(sqlx::postgres::PgRow);
