//! The payload of a spool record: one entry, in a compact binary form.
//!
//! Why not JSON: every admitted entry is encoded here on the way in, and
//! read back whenever the tailer falls behind or replays. With JSON that
//! was at least 12 % of the writer bench's CPU with the spool on (escaping,
//! parsing, UTF-8 checks, hex), and the spool-on writer ran at 0.58x of
//! spool off on SQLite (docs/benchmarks.md, "The writer with the spool,
//! after these changes").
//!
//! Format 1, all integers little-endian: the byte `0x01`, then the entry's
//! fields in declaration order. A string is a `u32` byte length and its
//! UTF-8 bytes; an optional value is a byte 0 (absent) or 1 followed by
//! the value; `i64`/`i32` are 8/4 bytes; `bool` and the token source are
//! one byte; the chain link is optional: instance id, sequence number,
//! then the two 32-byte hashes. Segments written before format 1 hold JSON
//! objects, whose first byte is `{`: they still decode, so a spool left by
//! an older binary replays.

use crate::ledger::chain::{Hash, Link};
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
}

/// Appends `entry`'s payload to `buf`.
pub fn encode(buf: &mut Vec<u8>, e: &Entry) {
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
    buf.push(source_code(e.token_source));
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

/// Reads an entry back from a payload of either format.
pub fn decode(payload: &[u8]) -> Result<Entry, RecordError> {
    match payload.first() {
        Some(b'{') => Ok(serde_json::from_slice(payload)?),
        Some(&FORMAT_1) => Reader { b: payload, at: 1 }.entry(),
        Some(&other) => Err(RecordError::Format(other)),
        None => Err(RecordError::Short(0)),
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

fn source_code(s: TokenSource) -> u8 {
    match s {
        TokenSource::Provider => 0,
        TokenSource::Estimated => 1,
        TokenSource::Partial => 2,
        TokenSource::None => 3,
    }
}

/// A cursor over a format-1 payload; every read checks the bounds.
struct Reader<'a> {
    b: &'a [u8],
    at: usize,
}

impl Reader<'_> {
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

    fn text(&mut self) -> Result<String, RecordError> {
        let len = u32::from_le_bytes(self.take()?) as usize;
        let end = self
            .at
            .checked_add(len)
            .ok_or(RecordError::Short(self.at))?;
        let bytes = self
            .b
            .get(self.at..end)
            .ok_or(RecordError::Short(self.at))?;
        let s = std::str::from_utf8(bytes).map_err(|_| self.bad("text that is not UTF-8"))?;
        self.at = end;
        Ok(s.to_owned())
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

    fn entry(mut self) -> Result<Entry, RecordError> {
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
                })
            } else {
                None
            },
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
        e.chain = Some(Link {
            instance_id: "gw-1".into(),
            seq: 42,
            prev_hash: [3; 32],
            hash: [250; 32],
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
            assert_eq!(buf[0], FORMAT_1);
            assert_eq!(decode(&buf).unwrap(), e);
        }
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
        let mut huge = vec![FORMAT_1];
        huge.extend_from_slice(&u32::MAX.to_le_bytes());
        assert!(matches!(decode(&huge), Err(RecordError::Short(_))));
    }
}
