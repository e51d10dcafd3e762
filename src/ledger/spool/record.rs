//! The payload of a spool record: one entry, in a compact binary form.
//!
//! Why not JSON: every admitted entry is encoded here on the way in, and
//! read back whenever the tailer falls behind or replays. With JSON that
//! was at least 12 % of the writer bench's CPU with the spool on (escaping,
//! parsing, UTF-8 checks, hex), and the spool-on writer ran at 0.58x of
//! spool off on SQLite (docs/benchmarks-history.md, "The writer with the spool,
//! after these changes").
//!
//! Format 2, this binary's, is derived from the ledger's column table
//! ([`crate::ledger::columns`]): the byte `0x02`, a `u16` count of the
//! columns that follow, then every column in table order. All integers are
//! little-endian; a string or blob is a `u32` byte length and its bytes;
//! an optional value is a byte 0 (absent) or 1 followed by the value;
//! `BIGINT` is 8 bytes, `INTEGER` 4, a boolean one byte. A record of
//! fewer columns (an older binary's) reads the rest as what rows written
//! before those columns existed hold; one of more columns than this binary
//! knows was written by a newer one and is refused, named as such.
//!
//! Older formats still decode, so a spool left by an older binary replays:
//! format 1 (the byte `0x01`, the first 26 columns laid out by hand, the
//! token source as a byte code and the chain link as one optional group)
//! and, before it, JSON objects, whose first byte is `{`.

use crate::ledger::chain::{Hash, Link};
use crate::ledger::columns::{Column, Fill, NUM_COLUMNS, Row, SPOOL_FORMAT, Source, Visit};
use crate::ledger::entry::{Entry, TokenSource, Usage};

/// The first byte of a format-1 payload.
const FORMAT_1: u8 = 1;

/// Why a payload could not be read back.
#[derive(Debug, thiserror::Error)]
pub enum RecordError {
    #[error("payload ends early (at byte {0})")]
    Short(usize),
    #[error("unknown payload format byte {0:#04x}")]
    Format(u8),
    #[error("byte {at}: {what}")]
    Bad { at: usize, what: &'static str },
    #[error("JSON payload: {0}")]
    Json(#[from] serde_json::Error),
    #[error(
        "a record of {0} columns, written by a newer tokctl (this one knows {NUM_COLUMNS}): \
         replay the spool with that version"
    )]
    Newer(usize),
    #[error(transparent)]
    Value(#[from] crate::ledger::columns::BadValue),
}

/// Appends `entry`'s payload to `buf`, in this binary's format.
pub fn encode(buf: &mut Vec<u8>, e: &Entry) {
    buf.push(SPOOL_FORMAT);
    buf.extend_from_slice(&(NUM_COLUMNS as u16).to_le_bytes());
    Row::of(e).visit(&mut Encoder(buf));
}

/// Reads an entry back from a payload of any format.
pub fn decode(payload: &[u8]) -> Result<Entry, RecordError> {
    match payload.first() {
        Some(b'{') => Ok(serde_json::from_slice(payload)?),
        Some(&FORMAT_1) => Reader { b: payload, at: 1 }.entry_v1(),
        Some(&SPOOL_FORMAT) => decode_columns(payload),
        Some(&other) => Err(RecordError::Format(other)),
        None => Err(RecordError::Short(0)),
    }
}

/// A format-2 payload: the column count, then the columns.
fn decode_columns(payload: &[u8]) -> Result<Entry, RecordError> {
    let mut r = Reader { b: payload, at: 1 };
    let count = usize::from(u16::from_le_bytes(r.take()?));
    if count > NUM_COLUMNS {
        return Err(RecordError::Newer(count));
    }
    let mut columns = Columns { r, left: count };
    let row = Row::read(&mut columns)?;
    if columns.r.at != payload.len() {
        return Err(columns.r.bad("bytes after the entry"));
    }
    Ok(row.to_entry()?)
}

/// Writes each column in format 2.
struct Encoder<'b>(&'b mut Vec<u8>);

impl<'a> Visit<'a> for Encoder<'_> {
    fn text(&mut self, _: &'static Column, v: &'a str) {
        text(self.0, v);
    }
    fn opt_text(&mut self, _: &'static Column, v: Option<&'a str>) {
        opt_text(self.0, v);
    }
    fn int(&mut self, _: &'static Column, v: i64) {
        self.0.extend_from_slice(&v.to_le_bytes());
    }
    fn opt_int(&mut self, _: &'static Column, v: Option<i64>) {
        opt_int(self.0, v);
    }
    fn int4(&mut self, _: &'static Column, v: i32) {
        self.0.extend_from_slice(&v.to_le_bytes());
    }
    fn opt_int4(&mut self, _: &'static Column, v: Option<i32>) {
        match v {
            None => self.0.push(0),
            Some(v) => {
                self.0.push(1);
                self.0.extend_from_slice(&v.to_le_bytes());
            }
        }
    }
    fn boolean(&mut self, _: &'static Column, v: bool) {
        self.0.push(u8::from(v));
    }
    fn opt_blob(&mut self, _: &'static Column, v: Option<&'a [u8]>) {
        match v {
            None => self.0.push(0),
            Some(b) => {
                self.0.push(1);
                let len = u32::try_from(b.len()).unwrap_or(u32::MAX);
                self.0.extend_from_slice(&len.to_le_bytes());
                self.0.extend_from_slice(&b[..len as usize]);
            }
        }
    }
}

/// Reads format-2 columns; past the record's count, each column's fill.
struct Columns<'a> {
    r: Reader<'a>,
    left: usize,
}

impl<'a> Columns<'a> {
    /// Whether the next column is in the record; otherwise its fill.
    fn present(&mut self, c: &Column) -> Result<Option<Fill>, RecordError> {
        if self.left > 0 {
            self.left -= 1;
            return Ok(None);
        }
        match c.fill {
            Fill::Always => Err(RecordError::Short(self.r.at)),
            f => Ok(Some(f)),
        }
    }

    fn str(&mut self) -> Result<&'a str, RecordError> {
        let bytes = self.r.bytes()?;
        std::str::from_utf8(bytes).map_err(|_| self.r.bad("text that is not UTF-8"))
    }
}

fn fill_text(f: Fill) -> Option<&'static str> {
    match f {
        Fill::Text(t) => Some(t),
        _ => None,
    }
}

fn fill_int(f: Fill) -> Option<i64> {
    match f {
        Fill::Int(n) => Some(n),
        _ => None,
    }
}

impl<'a> Source<'a> for Columns<'a> {
    type Error = RecordError;
    fn text(&mut self, c: &'static Column) -> Result<&'a str, RecordError> {
        match self.present(c)? {
            Some(f) => fill_text(f).ok_or(RecordError::Short(self.r.at)),
            None => self.str(),
        }
    }
    fn opt_text(&mut self, c: &'static Column) -> Result<Option<&'a str>, RecordError> {
        match self.present(c)? {
            Some(f) => Ok(fill_text(f)),
            None if self.r.flag()? => self.str().map(Some),
            None => Ok(None),
        }
    }
    fn int(&mut self, c: &'static Column) -> Result<i64, RecordError> {
        match self.present(c)? {
            Some(f) => fill_int(f).ok_or(RecordError::Short(self.r.at)),
            None => self.r.int(),
        }
    }
    fn opt_int(&mut self, c: &'static Column) -> Result<Option<i64>, RecordError> {
        match self.present(c)? {
            Some(f) => Ok(fill_int(f)),
            None => self.r.opt_int(),
        }
    }
    fn int4(&mut self, c: &'static Column) -> Result<i32, RecordError> {
        match self.present(c)? {
            Some(f) => fill_int(f)
                .and_then(|n| i32::try_from(n).ok())
                .ok_or(RecordError::Short(self.r.at)),
            None => Ok(i32::from_le_bytes(self.r.take()?)),
        }
    }
    fn opt_int4(&mut self, c: &'static Column) -> Result<Option<i32>, RecordError> {
        match self.present(c)? {
            Some(f) => Ok(fill_int(f).and_then(|n| i32::try_from(n).ok())),
            None if self.r.flag()? => Ok(Some(i32::from_le_bytes(self.r.take()?))),
            None => Ok(None),
        }
    }
    fn boolean(&mut self, c: &'static Column) -> Result<bool, RecordError> {
        match self.present(c)? {
            Some(f) => Ok(fill_int(f).is_some_and(|n| n != 0)),
            None => self.r.flag(),
        }
    }
    fn opt_blob(&mut self, c: &'static Column) -> Result<Option<&'a [u8]>, RecordError> {
        match self.present(c)? {
            Some(_) => Ok(None),
            None if self.r.flag()? => self.r.bytes().map(Some),
            None => Ok(None),
        }
    }
}

fn text(buf: &mut Vec<u8>, s: &str) {
    // Entries are sanitized to a few KiB; a record is capped at 1 MiB.
    let len = u32::try_from(s.len()).unwrap_or(u32::MAX);
    buf.extend_from_slice(&len.to_le_bytes());
    buf.extend_from_slice(&s.as_bytes()[..len as usize]);
}

fn opt_text(buf: &mut Vec<u8>, s: Option<&str>) {
    match s {
        None => buf.push(0),
        Some(s) => {
            buf.push(1);
            text(buf, s);
        }
    }
}

fn opt_int(buf: &mut Vec<u8>, n: Option<i64>) {
    match n {
        None => buf.push(0),
        Some(n) => {
            buf.push(1);
            buf.extend_from_slice(&n.to_le_bytes());
        }
    }
}

/// A cursor over a format-1 payload; every read checks the bounds.
struct Reader<'a> {
    b: &'a [u8],
    at: usize,
}

impl<'a> Reader<'a> {
    fn take<const N: usize>(&mut self) -> Result<[u8; N], RecordError> {
        let end = self.at + N;
        let bytes = self
            .b
            .get(self.at..end)
            .ok_or(RecordError::Short(self.at))?;
        self.at = end;
        let mut out = [0u8; N];
        out.copy_from_slice(bytes);
        Ok(out)
    }

    fn byte(&mut self) -> Result<u8, RecordError> {
        Ok(self.take::<1>()?[0])
    }

    fn flag(&mut self) -> Result<bool, RecordError> {
        match self.byte()? {
            0 => Ok(false),
            1 => Ok(true),
            _ => Err(self.bad("a flag that is neither 0 nor 1")),
        }
    }

    fn int(&mut self) -> Result<i64, RecordError> {
        Ok(i64::from_le_bytes(self.take()?))
    }

    /// A `u32` length and that many bytes, borrowed.
    fn bytes(&mut self) -> Result<&'a [u8], RecordError> {
        let len = u32::from_le_bytes(self.take()?) as usize;
        let end = self
            .at
            .checked_add(len)
            .ok_or(RecordError::Short(self.at))?;
        let bytes = self
            .b
            .get(self.at..end)
            .ok_or(RecordError::Short(self.at))?;
        self.at = end;
        Ok(bytes)
    }

    fn text(&mut self) -> Result<String, RecordError> {
        let bytes = self.bytes()?;
        match std::str::from_utf8(bytes) {
            Ok(s) => Ok(s.to_owned()),
            Err(_) => {
                // Report the text's start, as a reader would look for it.
                self.at -= bytes.len();
                Err(self.bad("text that is not UTF-8"))
            }
        }
    }

    fn opt_text(&mut self) -> Result<Option<String>, RecordError> {
        if self.flag()? {
            self.text().map(Some)
        } else {
            Ok(None)
        }
    }

    fn opt_int(&mut self) -> Result<Option<i64>, RecordError> {
        if self.flag()? {
            self.int().map(Some)
        } else {
            Ok(None)
        }
    }

    fn hash(&mut self) -> Result<Hash, RecordError> {
        self.take()
    }

    fn bad(&self, what: &'static str) -> RecordError {
        RecordError::Bad { at: self.at, what }
    }

    /// A format-1 payload, as older binaries laid it out by hand (frozen:
    /// newer columns take what rows from before them hold).
    fn entry_v1(mut self) -> Result<Entry, RecordError> {
        let e = Entry {
            request_id: self.text()?,
            created_at_us: self.int()?,
            client_request_id: self.opt_text()?,
            upstream_request_id: self.opt_text()?,
            user_id: self.opt_int()?,
            user_name: self.opt_text()?,
            api_key_id: self.opt_int()?,
            endpoint: self.text()?,
            model: self.text()?,
            provider: self.text()?,
            upstream_model: self.opt_text()?,
            usage: Usage {
                input_tokens: self.int()?,
                cached_input_tokens: self.int()?,
                cache_write_tokens: self.int()?,
                output_tokens: self.int()?,
                reasoning_tokens: self.int()?,
            },
            token_source: match self.byte()? {
                0 => TokenSource::Provider,
                1 => TokenSource::Estimated,
                2 => TokenSource::Partial,
                3 => TokenSource::None,
                _ => return Err(self.bad("an unknown token source")),
            },
            cost_nano: self.int()?,
            latency_us: self.int()?,
            upstream_latency_us: self.opt_int()?,
            ttft_us: self.opt_int()?,
            overhead_us: self.opt_int()?,
            status_code: i32::from_le_bytes(self.take()?),
            streamed: self.flag()?,
            error_kind: self.opt_text()?,
            error_message: self.opt_text()?,
            chain: if self.flag()? {
                Some(Link {
                    instance_id: self.text()?,
                    seq: self.int()?,
                    prev_hash: self.hash()?,
                    hash: self.hash()?,
                    version: 1,
                })
            } else {
                None
            },
            ..Entry::default()
        };
        if self.at != self.b.len() {
            return Err(self.bad("bytes after the entry"));
        }
        Ok(e)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Format 1 as the binaries before format 2 wrote it.
    fn encode_v1(buf: &mut Vec<u8>, e: &Entry) {
        buf.push(FORMAT_1);
        text(buf, &e.request_id);
        buf.extend_from_slice(&e.created_at_us.to_le_bytes());
        opt_text(buf, e.client_request_id.as_deref());
        opt_text(buf, e.upstream_request_id.as_deref());
        opt_int(buf, e.user_id);
        opt_text(buf, e.user_name.as_deref());
        opt_int(buf, e.api_key_id);
        text(buf, &e.endpoint);
        text(buf, &e.model);
        text(buf, &e.provider);
        opt_text(buf, e.upstream_model.as_deref());
        for n in e.usage.counts() {
            buf.extend_from_slice(&n.to_le_bytes());
        }
        buf.push(match e.token_source {
            TokenSource::Provider => 0,
            TokenSource::Estimated => 1,
            TokenSource::Partial => 2,
            TokenSource::None => 3,
        });
        buf.extend_from_slice(&e.cost_nano.to_le_bytes());
        buf.extend_from_slice(&e.latency_us.to_le_bytes());
        opt_int(buf, e.upstream_latency_us);
        opt_int(buf, e.ttft_us);
        opt_int(buf, e.overhead_us);
        buf.extend_from_slice(&e.status_code.to_le_bytes());
        buf.push(u8::from(e.streamed));
        opt_text(buf, e.error_kind.as_deref());
        opt_text(buf, e.error_message.as_deref());
        match &e.chain {
            None => buf.push(0),
            Some(l) => {
                buf.push(1);
                text(buf, &l.instance_id);
                buf.extend_from_slice(&l.seq.to_le_bytes());
                buf.extend_from_slice(&l.prev_hash);
                buf.extend_from_slice(&l.hash);
            }
        }
    }

    fn full() -> Entry {
        let mut e = crate::ledger::chain::tests_entry("r-full");
        e.client_request_id = Some("client \"quoted\"\nline".into());
        e.upstream_request_id = Some("chatcmpl-1".into());
        e.user_id = Some(-7);
        e.user_name = Some("ålice".into());
        e.api_key_id = Some(i64::MAX);
        e.upstream_model = Some("gpt-4o-2024".into());
        e.usage = Usage {
            input_tokens: 1,
            cached_input_tokens: 2,
            cache_write_tokens: 3,
            output_tokens: 4,
            reasoning_tokens: 5,
        };
        e.token_source = TokenSource::Partial;
        e.upstream_latency_us = Some(10);
        e.ttft_us = Some(11);
        e.overhead_us = Some(12);
        e.status_code = 499;
        e.streamed = true;
        e.error_kind = Some("client_closed".into());
        e.error_message = Some(String::new());
        e.upstream_api = Some("chat".into());
        e.attempts = 3;
        e.failed_attempts = Some(r#"[{"deployment":"east","error":"upstream_5xx"}]"#.into());
        e.requested_model = Some("gpt-4o".into());
        e.team_id = Some(9);
        e.cache = crate::ledger::CacheStatus::Miss;
        e.saved_cost_nano = 123;
        e.chain = Some(Link {
            instance_id: "gw-1".into(),
            seq: 42,
            prev_hash: [3; 32],
            hash: [250; 32],
            version: 2,
        });
        e
    }

    #[test]
    fn entries_round_trip_with_every_field_set_and_with_none() {
        let mut bare = crate::ledger::chain::tests_entry("r-bare");
        bare.chain = None;
        bare.token_source = TokenSource::None;
        for e in [full(), bare] {
            let mut buf = Vec::new();
            encode(&mut buf, &e);
            assert_eq!(buf[0], SPOOL_FORMAT);
            assert_eq!(decode(&buf).unwrap(), e);
        }
    }

    #[test]
    fn format_1_records_of_older_binaries_still_decode() {
        let mut e = full();
        // What an older binary's entry holds: no newer column, link v1.
        let blank = Entry::default();
        e.upstream_api = blank.upstream_api;
        e.attempts = blank.attempts;
        e.failed_attempts = blank.failed_attempts;
        e.requested_model = blank.requested_model;
        e.team_id = blank.team_id;
        e.cache = blank.cache;
        e.saved_cost_nano = blank.saved_cost_nano;
        if let Some(l) = e.chain.as_mut() {
            l.version = 1;
        }
        let mut buf = Vec::new();
        encode_v1(&mut buf, &e);
        assert_eq!(buf[0], FORMAT_1);
        assert_eq!(decode(&buf).unwrap(), e);
    }

    #[test]
    fn records_of_fewer_columns_fill_the_rest_and_of_more_are_refused() {
        let e = full();
        let mut buf = Vec::new();
        encode(&mut buf, &e);
        // A newer binary's record: one column more than this one knows.
        let mut newer = buf.clone();
        newer[1..3].copy_from_slice(&(NUM_COLUMNS as u16 + 1).to_le_bytes());
        newer.extend_from_slice(&[0]);
        assert!(matches!(decode(&newer), Err(RecordError::Newer(n)) if n == NUM_COLUMNS + 1));
        // An older one's: the last column (saved_cost_nano, 8 bytes) left
        // out reads as its fill, 0.
        let mut older = buf[..buf.len() - 8].to_vec();
        older[1..3].copy_from_slice(&(NUM_COLUMNS as u16 - 1).to_le_bytes());
        let back = decode(&older).unwrap();
        assert_eq!(back.saved_cost_nano, 0);
        assert_eq!(back.request_id, e.request_id);
    }

    #[test]
    fn json_payloads_of_older_spools_still_decode() {
        let e = full();
        let json = serde_json::to_vec(&e).unwrap();
        assert_eq!(decode(&json).unwrap(), e);
    }

    #[test]
    fn damaged_payloads_are_errors_not_panics() {
        let mut buf = Vec::new();
        encode(&mut buf, &full());
        for cut in 0..buf.len() {
            assert!(decode(&buf[..cut]).is_err(), "cut at {cut}");
        }
        let mut longer = buf.clone();
        longer.push(0);
        assert!(decode(&longer).is_err());
        assert!(matches!(decode(&[7, 0, 0]), Err(RecordError::Format(7))));
        // A string length far past the end.
        let mut huge = vec![SPOOL_FORMAT, NUM_COLUMNS as u8, 0];
        huge.extend_from_slice(&u32::MAX.to_le_bytes());
        assert!(matches!(decode(&huge), Err(RecordError::Short(_))));
    }
}
