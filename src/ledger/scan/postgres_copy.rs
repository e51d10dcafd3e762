//! Reading ledger rows from PostgreSQL as one binary `COPY … TO STDOUT`,
//! decoded here into [`ExportRow`]s that borrow the received bytes.
//!
//! Why: through sqlx's row stream every row became a `PgRow` (its own
//! buffer, a shared column description, a type check and decode per
//! column, one async poll). The export ran at the speed of that scan, about
//! 250,000 rows/s here, and the server was not the limit. `COPY` sends the
//! same binary values, and the rows are cut out of the stream's buffers
//! without a copy. docs/benchmarks-history.md ("PostgreSQL export through COPY")
//! has the numbers.
//!
//! `COPY` takes no bind parameters. The filter's values go into the SQL as
//! literals: integers as digits, text as an `E'…'` string with `\` and `'`
//! escaped, which PostgreSQL reads the same whatever
//! `standard_conforming_strings` says.
//!
//! The format (PostgreSQL docs, "COPY", "Binary Format"): an 11-byte
//! signature, a 32-bit flags word and a header extension of a given length;
//! then per row a 16-bit field count and per field a 32-bit length (-1 for
//! NULL) and the value in the type's binary form; a field count of -1 ends
//! the data. Integers are big-endian.

use futures_util::TryStreamExt;

use super::ExportRow;
use super::filter::{Bound, Filter};
use crate::ledger::columns::{self, Column, Row, Source, select};

/// The statement that streams the rows `filter` selects, in `order`.
pub(crate) fn statement(filter: &Filter, order: &str) -> String {
    let mut sql = format!("COPY ({}", select());
    let mut sep = " WHERE ";
    for (cond, value) in filter.conditions() {
        sql.push_str(sep);
        sql.push_str(cond);
        match value {
            Bound::Int(v) => sql.push_str(&v.to_string()),
            Bound::Text(v) => push_literal(&mut sql, &v),
        }
        sep = " AND ";
    }
    sql.push_str(order);
    sql.push_str(") TO STDOUT (FORMAT binary)");
    sql
}

/// `text` as an escape-string literal: `E'…'` with every `\` and `'`
/// doubled. Text from the command line holds no NUL byte.
fn push_literal(sql: &mut String, text: &str) {
    sql.push_str("E'");
    for c in text.chars() {
        if c == '\\' || c == '\'' {
            sql.push(c);
        }
        sql.push(c);
    }
    sql.push('\'');
}

/// Streams the rows `filter` selects, in `order`, to `push`, one borrowed
/// row at a time. A read or decode failure is `read_err`'s; `push`'s own
/// error stops the read and is returned as it is.
pub(crate) async fn each<E>(
    conn: &mut sqlx::PgConnection,
    filter: &Filter,
    order: &str,
    read_err: impl Fn(sqlx::Error) -> E,
    mut push: impl FnMut(&ExportRow<'_>) -> Result<(), E>,
) -> Result<(), E> {
    let sql = statement(filter, order);
    let mut stream = conn.copy_out_raw(&sql).await.map_err(&read_err)?;
    let mut parser = Parser::default();
    while let Some(chunk) = stream.try_next().await.map_err(&read_err)? {
        match parser.feed(&chunk, &mut push) {
            Ok(()) => {}
            Err(Stop::Push(e)) => return Err(e),
            Err(Stop::Bad(what)) => return Err(read_err(protocol(what))),
        }
    }
    if !parser.ended {
        return Err(read_err(protocol("the COPY data ended before its trailer")));
    }
    Ok(())
}

fn protocol(what: &str) -> sqlx::Error {
    sqlx::Error::Protocol(format!("reading the ledger by COPY: {what}"))
}

/// A decode failure, or the consumer's own error.
enum Stop<E> {
    Bad(&'static str),
    Push(E),
}

/// Cuts rows out of the received chunks. A row is decoded straight from the
/// chunk it arrived in; only a row split across chunks is gathered first.
#[derive(Default)]
struct Parser {
    header_done: bool,
    ended: bool,
    /// The start of a row (or of the header) whose end has not arrived.
    partial: Vec<u8>,
}

/// What the front of a buffer holds. Returned once per row and taken apart
/// at once: boxing the row would cost an allocation per row for nothing.
#[allow(clippy::large_enum_variant)]
enum Next<'a> {
    Row(ExportRow<'a>, usize),
    End(usize),
    Incomplete,
}

impl Parser {
    fn feed<E>(
        &mut self,
        chunk: &[u8],
        push: &mut impl FnMut(&ExportRow<'_>) -> Result<(), E>,
    ) -> Result<(), Stop<E>> {
        if self.partial.is_empty() {
            let used = self.parse(chunk, push)?;
            self.partial.extend_from_slice(&chunk[used..]);
        } else {
            let mut buf = std::mem::take(&mut self.partial);
            buf.extend_from_slice(chunk);
            let used = self.parse(&buf, push)?;
            buf.drain(..used);
            self.partial = buf;
        }
        Ok(())
    }

    /// Decodes every whole row at the front of `buf`; returns the bytes used.
    fn parse<E>(
        &mut self,
        buf: &[u8],
        push: &mut impl FnMut(&ExportRow<'_>) -> Result<(), E>,
    ) -> Result<usize, Stop<E>> {
        let mut at = 0;
        if !self.header_done {
            match header_len(buf).map_err(Stop::Bad)? {
                Some(n) => {
                    at = n;
                    self.header_done = true;
                }
                None => return Ok(0),
            }
        }
        while !self.ended {
            match next(&buf[at..]).map_err(Stop::Bad)? {
                Next::Row(row, n) => {
                    push(&row).map_err(Stop::Push)?;
                    at += n;
                }
                Next::End(n) => {
                    self.ended = true;
                    at += n;
                }
                Next::Incomplete => break,
            }
        }
        if self.ended && at < buf.len() {
            return Err(Stop::Bad("data after the COPY trailer"));
        }
        Ok(at)
    }
}

const SIGNATURE: &[u8] = b"PGCOPY\n\xff\r\n\0";

/// The header's length, once all of it has arrived.
fn header_len(buf: &[u8]) -> Result<Option<usize>, &'static str> {
    let fixed = SIGNATURE.len() + 8;
    if buf.len() < fixed {
        return Ok(None);
    }
    if &buf[..SIGNATURE.len()] != SIGNATURE {
        return Err("the data does not start with the binary COPY signature");
    }
    let ext = i32_at(buf, SIGNATURE.len() + 4);
    let ext = usize::try_from(ext).map_err(|_| "a negative header extension length")?;
    Ok((buf.len() >= fixed + ext).then_some(fixed + ext))
}

fn i32_at(buf: &[u8], at: usize) -> i32 {
    let mut b = [0; 4];
    b.copy_from_slice(&buf[at..at + 4]);
    i32::from_be_bytes(b)
}

/// The number of columns of [`select`].
const FIELDS: i16 = columns::SELECTED as i16;

/// The row, the trailer, or too few bytes for either.
fn next(buf: &[u8]) -> Result<Next<'_>, &'static str> {
    if buf.len() < 2 {
        return Ok(Next::Incomplete);
    }
    let count = i16::from_be_bytes([buf[0], buf[1]]);
    if count == -1 {
        return Ok(Next::End(2));
    }
    if count != FIELDS {
        return Err("a row with an unexpected number of columns");
    }
    let mut f = Fields {
        buf,
        at: 2,
        short: false,
        bad: "",
    };
    match row(&mut f) {
        Ok(r) => Ok(Next::Row(r, f.at)),
        Err(Short) if f.short => Ok(Next::Incomplete),
        Err(Short) => Err(f.bad),
    }
}

/// A field could not be read: `Fields::short` says whether only bytes were
/// missing (the row's end has not arrived) or the value was malformed.
struct Short;

struct Fields<'a> {
    buf: &'a [u8],
    at: usize,
    short: bool,
    bad: &'static str,
}

impl<'a> Fields<'a> {
    fn raw(&mut self) -> Result<Option<&'a [u8]>, Short> {
        let Some(len) = self.buf.get(self.at..self.at + 4) else {
            self.short = true;
            return Err(Short);
        };
        let len = i32::from_be_bytes([len[0], len[1], len[2], len[3]]);
        self.at += 4;
        if len == -1 {
            return Ok(None);
        }
        let Ok(len) = usize::try_from(len) else {
            return self.fail("a negative field length");
        };
        let Some(value) = self.buf.get(self.at..self.at + len) else {
            self.short = true;
            return Err(Short);
        };
        self.at += len;
        Ok(Some(value))
    }

    fn fail<T>(&mut self, what: &'static str) -> Result<T, Short> {
        self.bad = what;
        Err(Short)
    }

    fn int8(&mut self) -> Result<Option<i64>, Short> {
        match self.raw()? {
            None => Ok(None),
            Some(b) => match <[u8; 8]>::try_from(b) {
                Ok(b) => Ok(Some(i64::from_be_bytes(b))),
                Err(_) => self.fail("a BIGINT that is not 8 bytes"),
            },
        }
    }

    fn text(&mut self) -> Result<Option<&'a str>, Short> {
        match self.raw()? {
            None => Ok(None),
            Some(b) => match std::str::from_utf8(b) {
                Ok(s) => Ok(Some(s)),
                Err(_) => self.fail("text that is not UTF-8"),
            },
        }
    }

    fn bytes(&mut self) -> Result<Option<&'a [u8]>, Short> {
        self.raw()
    }

    /// A value of a `NOT NULL` column.
    fn some<T>(&mut self, v: Option<T>) -> Result<T, Short> {
        match v {
            Some(v) => Ok(v),
            None => self.fail("NULL in a NOT NULL column"),
        }
    }

    fn int4(&mut self) -> Result<i32, Short> {
        let raw = self.raw()?;
        match raw.map(<[u8; 4]>::try_from) {
            Some(Ok(b)) => Ok(i32::from_be_bytes(b)),
            _ => self.fail("an INTEGER that is not 4 bytes"),
        }
    }

    fn boolean(&mut self) -> Result<bool, Short> {
        match self.raw()? {
            Some([b]) => Ok(*b != 0),
            _ => self.fail("a BOOLEAN that is not 1 byte"),
        }
    }
}

/// One row in [`select`]'s column order.
fn row<'a>(f: &mut Fields<'a>) -> Result<ExportRow<'a>, Short> {
    let id = f.int8()?;
    let id = f.some(id)?;
    Ok(ExportRow {
        id,
        row: Row::read(f)?,
    })
}

impl<'a> Fields<'a> {
    fn opt_int4(&mut self) -> Result<Option<i32>, Short> {
        match self.raw()? {
            None => Ok(None),
            Some(b) => match <[u8; 4]>::try_from(b) {
                Ok(b) => Ok(Some(i32::from_be_bytes(b))),
                Err(_) => self.fail("an INTEGER that is not 4 bytes"),
            },
        }
    }
}

/// The binary fields, typed by the ledger's column table; inlined into
/// [`row`], which so decodes a row as one function.
impl<'a> Source<'a> for Fields<'a> {
    type Error = Short;
    #[inline(always)]
    fn text(&mut self, _: &'static Column) -> Result<&'a str, Short> {
        let v = Fields::text(self)?;
        self.some(v)
    }
    #[inline(always)]
    fn opt_text(&mut self, _: &'static Column) -> Result<Option<&'a str>, Short> {
        Fields::text(self)
    }
    #[inline(always)]
    fn int(&mut self, _: &'static Column) -> Result<i64, Short> {
        let v = self.int8()?;
        self.some(v)
    }
    #[inline(always)]
    fn opt_int(&mut self, _: &'static Column) -> Result<Option<i64>, Short> {
        self.int8()
    }
    #[inline(always)]
    fn int4(&mut self, _: &'static Column) -> Result<i32, Short> {
        Fields::int4(self)
    }
    #[inline(always)]
    fn opt_int4(&mut self, _: &'static Column) -> Result<Option<i32>, Short> {
        Fields::opt_int4(self)
    }
    #[inline(always)]
    fn boolean(&mut self, _: &'static Column) -> Result<bool, Short> {
        Fields::boolean(self)
    }
    #[inline(always)]
    fn opt_blob(&mut self, _: &'static Column) -> Result<Option<&'a [u8]>, Short> {
        self.bytes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filter_values_become_escaped_literals() {
        let filter = Filter {
            since_us: Some(-5),
            model: Some(r"it's \ a model".into()),
            ..Filter::default()
        };
        let sql = statement(&filter, " ORDER BY id");
        assert!(sql.starts_with("COPY (SELECT id, request_id"), "{sql}");
        assert!(
            sql.ends_with(
                r" WHERE created_at_us >= -5 AND model = E'it''s \\ a model' ORDER BY id) TO STDOUT (FORMAT binary)"
            ),
            "{sql}"
        );
    }

    /// One row as PostgreSQL sends it: every column NULL but the NOT NULL
    /// ones, which hold small numbers and `x`.
    fn encoded_row() -> Vec<u8> {
        let mut b = FIELDS.to_be_bytes().to_vec();
        let not_null = [
            0, 1, 2, 8, 9, 10, 12, 13, 14, 15, 16, 17, 18, 19, 23, 24, 33, 37, 38,
        ];
        let text = [1, 8, 9, 10, 17, 37];
        for col in 0..columns::SELECTED as i64 {
            if !not_null.contains(&col) {
                b.extend_from_slice(&(-1i32).to_be_bytes());
            } else if text.contains(&col) {
                b.extend_from_slice(&1i32.to_be_bytes());
                b.push(b'x');
            } else if col == 23 || col == 33 {
                b.extend_from_slice(&4i32.to_be_bytes());
                b.extend_from_slice(&200i32.to_be_bytes());
            } else if col == 24 {
                b.extend_from_slice(&1i32.to_be_bytes());
                b.push(1);
            } else {
                b.extend_from_slice(&8i32.to_be_bytes());
                b.extend_from_slice(&col.to_be_bytes());
            }
        }
        b
    }

    fn stream(rows: usize) -> Vec<u8> {
        let mut b = SIGNATURE.to_vec();
        b.extend_from_slice(&[0; 8]);
        for _ in 0..rows {
            b.extend_from_slice(&encoded_row());
        }
        b.extend_from_slice(&(-1i16).to_be_bytes());
        b
    }

    fn feed_in_pieces(data: &[u8], piece: usize) -> Result<(Vec<(i64, i64)>, bool), String> {
        let mut parser = Parser::default();
        let mut seen = Vec::new();
        for chunk in data.chunks(piece) {
            let mut push = |r: &ExportRow<'_>| -> Result<(), ()> {
                assert_eq!((r.request_id, r.status_code, r.streamed), ("x", 200, true));
                assert_eq!((r.user_id, r.prev_hash), (None, None));
                seen.push((r.id, r.latency_us));
                Ok(())
            };
            match parser.feed(chunk, &mut push) {
                Ok(()) => {}
                Err(Stop::Bad(what)) => return Err(what.to_string()),
                Err(Stop::Push(())) => return Err("push".into()),
            }
        }
        Ok((seen, parser.ended))
    }

    #[test]
    fn rows_split_anywhere_across_chunks_decode_the_same() {
        let data = stream(3);
        for piece in [1, 2, 7, 100, data.len()] {
            let (rows, ended) = feed_in_pieces(&data, piece).expect("decodes");
            assert_eq!(rows, vec![(0, 19); 3], "pieces of {piece}");
            assert!(ended);
        }
    }

    #[test]
    fn malformed_data_is_an_error_not_a_panic() {
        let good = stream(1);
        let mut wrong_signature = good.clone();
        wrong_signature[0] = b'X';
        assert!(feed_in_pieces(&wrong_signature, 5).is_err());
        let mut wrong_count = good.clone();
        wrong_count[SIGNATURE.len() + 9] = 3;
        assert!(feed_in_pieces(&wrong_count, 64).is_err());
        let mut trailing = good.clone();
        trailing.push(0);
        assert!(feed_in_pieces(&trailing, 64).is_err());
        // A NOT NULL column sent as NULL: the id, the row's first field.
        let mut null_id = stream(0);
        let at = null_id.len() - 2;
        let mut row = encoded_row();
        row.splice(2..14, (-1i32).to_be_bytes());
        null_id.splice(at..at, row);
        assert!(feed_in_pieces(&null_id, 64).is_err());
        // Cut short: no error, just not ended.
        let (_, ended) = feed_in_pieces(&good[..good.len() - 5], 64).expect("partial");
        assert!(!ended);
    }
}
