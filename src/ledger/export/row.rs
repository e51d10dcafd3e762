//! One exported row: the stable column list, the row borrowed from the
//! database's own buffers, and its encoding as a CSV record or a JSON line.
//!
//! The column order is a contract with whoever reads the files (documented
//! in docs/ledger.md): columns are only ever appended, never reordered.
//! Reading rows from the database is [`crate::ledger::scan`]'s.

use std::io::{self, Write};

use super::cells::{Cells, Csv, Jsonl};

pub use crate::ledger::columns::ExportRow;

/// The exported columns, in order: `id`, then the ledger's columns
/// ([`crate::ledger::columns::COLUMNS`]) with the derived `created_at` and
/// `cost` beside the columns they come from.
pub fn columns() -> &'static [&'static str] {
    crate::ledger::columns::export_names()
}

/// How rows are written: the file format and whether text cells are made
/// safe for spreadsheets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Encoding {
    pub jsonl: bool,
    pub excel_safe: bool,
}

/// Encodes rows into a writer, reusing its scratch buffers between rows.
pub(crate) struct RowWriter<W: Write> {
    inner: Inner<W>,
    scratch: Scratch,
    excel_safe: bool,
}

enum Inner<W: Write> {
    Csv(io::BufWriter<W>),
    Jsonl(io::BufWriter<W>),
}

/// Reusable buffers: the record being built, and numbers.
#[derive(Default)]
struct Scratch {
    text: Vec<u8>,
    int: itoa::Buffer,
}

const BUFFER_BYTES: usize = 128 * 1024;

impl<W: Write> RowWriter<W> {
    /// A writer; for CSV the header record is written at once.
    pub fn new(out: W, encoding: Encoding) -> io::Result<RowWriter<W>> {
        let mut out = io::BufWriter::with_capacity(BUFFER_BYTES, out);
        let inner = if encoding.jsonl {
            Inner::Jsonl(out)
        } else {
            out.write_all(columns().join(",").as_bytes())?;
            out.write_all(b"\n")?;
            Inner::Csv(out)
        };
        Ok(RowWriter {
            inner,
            scratch: Scratch::default(),
            excel_safe: encoding.excel_safe,
        })
    }

    pub fn write(&mut self, row: &ExportRow<'_>) -> io::Result<()> {
        let (s, safe) = (&mut self.scratch, self.excel_safe);
        s.text.clear();
        let w = match &mut self.inner {
            Inner::Csv(w) => {
                push_csv_record(&mut s.text, &mut s.int, row, safe);
                w
            }
            Inner::Jsonl(w) => {
                push_jsonl_record(&mut s.text, &mut s.int, row, safe);
                w
            }
        };
        w.write_all(&s.text)
    }

    /// Flushes the encoder and hands back the underlying writer.
    pub fn finish(self) -> io::Result<W> {
        match self.inner {
            Inner::Csv(w) | Inner::Jsonl(w) => w.into_inner().map_err(|e| e.into_error()),
        }
    }
}

impl<W: Write> RowWriter<W> {
    /// Writes records already encoded by [`Records`] with this writer's
    /// encoding (the parallel export's slices, in order).
    pub fn write_encoded(&mut self, bytes: &[u8]) -> io::Result<()> {
        match &mut self.inner {
            Inner::Csv(w) | Inner::Jsonl(w) => w.write_all(bytes),
        }
    }
}

/// Encodes rows onto the end of a byte buffer: how the parallel export's
/// workers encode their slices, for the writer to copy out in order.
pub(crate) struct Records {
    int: itoa::Buffer,
    encoding: Encoding,
}

impl Records {
    pub fn new(encoding: Encoding) -> Records {
        Records {
            int: itoa::Buffer::new(),
            encoding,
        }
    }

    /// Appends `row`'s record to `out`, built in place: no scratch copy.
    pub fn push(&mut self, out: &mut Vec<u8>, row: &ExportRow<'_>) {
        let (int, safe) = (&mut self.int, self.encoding.excel_safe);
        if self.encoding.jsonl {
            push_jsonl_record(out, int, row, safe);
        } else {
            push_csv_record(out, int, row, safe);
        }
    }
}

/// Prefix that makes spreadsheets read a cell as text, not a formula.
#[inline]
pub(super) fn needs_excel_guard(s: &str) -> bool {
    matches!(s.as_bytes().first(), Some(b'=' | b'+' | b'-' | b'@'))
}

/// Appends one CSV record: RFC 4180 fields (see [`push_csv_field`]) joined
/// by commas, ending in `\n`. Built by hand rather than through the `csv`
/// crate's writer, which checks every byte of every field through a
/// general state machine: that was a third of the encoding thread in the
/// export's profile (docs/benchmarks-history.md, "SQLite export: columns read in
/// place, records built directly"). The output is byte for byte the
/// crate's with its default settings; a test holds it to that.
fn push_csv_record(out: &mut Vec<u8>, b: &mut itoa::Buffer, r: &ExportRow<'_>, safe: bool) {
    out.extend_from_slice(b.format(r.id).as_bytes());
    out.push(b',');
    r.row.visit(&mut Cells::<Csv>::new(out, b, safe));
    // Every field ends in a comma; the record's last ends the line.
    if let Some(last) = out.last_mut() {
        *last = b'\n';
    }
}

/// Appends `v` as one CSV field: as it is, unless it holds a comma, a
/// double quote, CR or LF; then in double quotes, each quote doubled
/// (RFC 4180). With `guard`, a `'` comes first (`--excel-safe`).
#[inline]
pub(super) fn push_csv_field(out: &mut Vec<u8>, v: &[u8], guard: bool) {
    let quote = v.iter().any(|&c| matches!(c, b',' | b'"' | b'\n' | b'\r'));
    if quote {
        out.push(b'"');
    }
    if guard {
        out.push(b'\'');
    }
    if quote {
        for part in v.split_inclusive(|&c| c == b'"') {
            out.extend_from_slice(part);
            if part.last() == Some(&b'"') {
                out.push(b'"');
            }
        }
        out.push(b'"');
    } else {
        out.extend_from_slice(v);
    }
}

/// Appends one JSON-lines record: every column as a key, in order.
fn push_jsonl_record(out: &mut Vec<u8>, b: &mut itoa::Buffer, r: &ExportRow<'_>, safe: bool) {
    out.extend_from_slice(b"{\"id\":");
    out.extend_from_slice(b.format(r.id).as_bytes());
    r.row.visit(&mut Cells::<Jsonl>::new(out, b, safe));
    out.extend_from_slice(b"}\n");
}

/// Appends `v` as a JSON string (RFC 8259 escaping), with a leading `'`
/// when `guard` is set.
pub(super) fn push_json_string(out: &mut Vec<u8>, v: &str, guard: bool) {
    out.push(b'"');
    if guard {
        out.push(b'\'');
    }
    let bytes = v.as_bytes();
    // Most strings need no escape: one quick pass, then one copy.
    if !bytes.iter().any(|&c| c == b'"' || c == b'\\' || c < 0x20) {
        out.extend_from_slice(bytes);
        out.push(b'"');
        return;
    }
    let mut start = 0;
    for (i, &c) in bytes.iter().enumerate() {
        let esc: &[u8] = match c {
            b'"' => b"\\\"",
            b'\\' => b"\\\\",
            b'\n' => b"\\n",
            b'\r' => b"\\r",
            b'\t' => b"\\t",
            0x00..=0x1f => b"",
            _ => continue,
        };
        out.extend_from_slice(&bytes[start..i]);
        if esc.is_empty() {
            const HEX: &[u8; 16] = b"0123456789abcdef";
            out.extend_from_slice(b"\\u00");
            out.push(HEX[usize::from(c >> 4)]);
            out.push(HEX[usize::from(c & 0xf)]);
        } else {
            out.extend_from_slice(esc);
        }
        start = i + 1;
    }
    out.extend_from_slice(&bytes[start..]);
    out.push(b'"');
}

/// The two lowercase hex digits of every byte value.
const HEX_PAIRS: [[u8; 2]; 256] = {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut t = [[0u8; 2]; 256];
    let mut i = 0;
    while i < 256 {
        t[i] = [HEX[i >> 4], HEX[i & 0xf]];
        i += 1;
    }
    t
};

/// Appends `bytes` as lowercase hex (hashes are exported as text): one
/// table load per byte, into space grown once.
pub(super) fn push_hex(out: &mut Vec<u8>, bytes: &[u8]) {
    // Grown once and filled pair by pair: no capacity check per byte.
    let start = out.len();
    out.resize(start + 2 * bytes.len(), 0);
    for (pair, &b) in out[start..].chunks_exact_mut(2).zip(bytes) {
        pair.copy_from_slice(&HEX_PAIRS[usize::from(b)]);
    }
}

/// Appends nano-units as an exact decimal with nine places (`-1.500000000`).
pub fn push_nano_decimal(out: &mut Vec<u8>, nano: i64) {
    if nano < 0 {
        out.push(b'-');
    }
    let abs = nano.unsigned_abs();
    let mut b = itoa::Buffer::new();
    out.extend_from_slice(b.format(abs / 1_000_000_000).as_bytes());
    out.push(b'.');
    let frac = b.format(abs % 1_000_000_000 + 1_000_000_000);
    out.extend_from_slice(&frac.as_bytes()[1..]);
}

/// Appends microseconds since the epoch as RFC 3339 UTC with six decimals
/// (`2026-11-23T18:30:00.123456Z`). Hand-rolled: chrono's formatter is a
/// measurable share of an export's time.
pub fn push_rfc3339(out: &mut Vec<u8>, us: i64) {
    let secs = us.div_euclid(1_000_000);
    let micros = us.rem_euclid(1_000_000);
    let days = secs.div_euclid(86_400);
    let sod = secs.rem_euclid(86_400);
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    if !(0..=9999).contains(&year) {
        out.extend_from_slice(crate::ledger::scan::format_time(us).as_bytes());
        return;
    }
    // Two digits at a time, each by constant division (which compiles to
    // multiplications): a per-digit power and division was most of this
    // function's cost in the export's profile.
    let two = |out: &mut Vec<u8>, v: i64| {
        out.extend_from_slice(&[b'0' + (v / 10) as u8, b'0' + (v % 10) as u8]);
    };
    two(out, year / 100);
    two(out, year % 100);
    for (sep, v) in [
        (b'-', month),
        (b'-', day),
        (b'T', sod / 3600),
        (b':', sod / 60 % 60),
        (b':', sod % 60),
    ] {
        out.push(sep);
        two(out, v);
    }
    out.push(b'.');
    two(out, micros / 10_000);
    two(out, micros / 100 % 100);
    two(out, micros % 100);
    out.push(b'Z');
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_matches_chrono() {
        for us in [
            0,
            1_732_000_000_123_456,
            951_782_400_000_001, // 2000-02-29
            4_102_444_799_999_999,
            1_700_000_000_000_000,
        ] {
            let mut out = Vec::new();
            push_rfc3339(&mut out, us);
            assert_eq!(
                String::from_utf8_lossy(&out),
                crate::ledger::scan::format_time(us)
            );
        }
    }

    #[test]
    fn hex_is_the_hex_crates_for_every_byte() {
        let all: Vec<u8> = (0..=255).collect();
        let mut out = b"x".to_vec();
        push_hex(&mut out, &all);
        assert_eq!(&out[1..], hex::encode(&all).as_bytes());
    }

    #[test]
    fn nano_decimal_is_exact() {
        let f = |n| {
            let mut out = Vec::new();
            push_nano_decimal(&mut out, n);
            String::from_utf8(out).expect("ASCII")
        };
        assert_eq!(f(0), "0.000000000");
        assert_eq!(f(1_500_000_001), "1.500000001");
        assert_eq!(f(-42), "-0.000000042");
        assert_eq!(f(i64::MIN), "-9223372036.854775808");
    }

    /// An entry whose text columns all hold `text`.
    fn awkward_entry(i: i64, text: &str) -> crate::ledger::Entry {
        crate::ledger::Entry {
            request_id: text.into(),
            created_at_us: 1_732_000_000_123_456 + i,
            client_request_id: Some(text.into()),
            user_id: Some(-i),
            user_name: Some(String::new()),
            endpoint: "/v1/chat/completions".into(),
            model: text.into(),
            provider: "p".into(),
            upstream_model: Some(text.into()),
            usage: crate::ledger::Usage {
                input_tokens: 1,
                output_tokens: i64::MAX,
                ..Default::default()
            },
            token_source: crate::ledger::TokenSource::Provider,
            cost_nano: -1_500_000_001,
            latency_us: 2,
            ttft_us: Some(3),
            status_code: 200,
            streamed: i % 2 == 0,
            error_message: Some(text.into()),
            requested_model: Some(text.into()),
            ..Default::default()
        }
    }

    fn awkward(i: i64, e: &crate::ledger::Entry) -> ExportRow<'_> {
        ExportRow {
            id: i,
            row: crate::ledger::columns::Row {
                instance_id: Some("gw"),
                seq: Some(i),
                prev_hash: Some(&[0, 0xab]),
                entry_hash: None,
                ..crate::ledger::columns::Row::of(e)
            },
        }
    }

    #[test]
    fn csv_records_are_byte_for_byte_the_csv_crates() {
        let texts = [
            "plain",
            "",
            "a,b",
            "say \"hi\"\nbye",
            "\"",
            "\r",
            "=1+1",
            "-2,\"x\"",
            "ünï ☃",
            " lead and trail ",
        ];
        for excel_safe in [false, true] {
            let encoding = Encoding {
                jsonl: false,
                excel_safe,
            };
            let mut w = RowWriter::new(Vec::new(), encoding).expect("writer");
            let entries: Vec<_> = (0..).zip(texts).map(|(i, t)| awkward_entry(i, t)).collect();
            for (i, e) in (0..).zip(&entries) {
                w.write(&awkward(i, e)).expect("write");
            }
            let ours = w.finish().expect("finish");
            // Read back with the csv crate: every field as written...
            let mut reader = csv::ReaderBuilder::new().from_reader(&ours[..]);
            let header = reader.headers().expect("header").clone();
            assert_eq!(header.iter().collect::<Vec<_>>(), columns());
            let records: Vec<csv::StringRecord> =
                reader.records().collect::<Result<_, _>>().expect("records");
            assert_eq!(records.len(), texts.len());
            for (record, t) in records.iter().zip(texts) {
                let guarded = if excel_safe && needs_excel_guard(t) {
                    format!("'{t}")
                } else {
                    t.to_string()
                };
                assert_eq!(record.len(), columns().len());
                for column in [
                    "request_id",
                    "model",
                    "upstream_model",
                    "error_message",
                    "requested_model",
                ] {
                    let at = columns().iter().position(|c| *c == column).expect("column");
                    assert_eq!(&record[at], guarded, "{column} of {t:?}");
                }
                assert_eq!(&record[5], "", "NULL is an empty field");
                assert_eq!(&record[20], "-1.500000001");
                assert_eq!(&record[32], "");
                assert_eq!(&record[31], "00ab");
                assert_eq!(&record[34], "", "no upstream_api");
                assert_eq!(&record[35], "1", "attempts");
                assert_eq!(&record[39], "none", "cache");
            }
            // ...and written again by the csv crate's writer: the same bytes.
            let mut theirs = csv::Writer::from_writer(Vec::new());
            theirs.write_record(&header).expect("header");
            for record in &records {
                theirs.write_record(record).expect("record");
            }
            let theirs = theirs.into_inner().expect("bytes");
            assert_eq!(
                String::from_utf8_lossy(&ours),
                String::from_utf8_lossy(&theirs)
            );
        }
    }

    #[test]
    fn json_strings_escape_controls_and_quotes() {
        let mut out = Vec::new();
        push_json_string(&mut out, "a\"b\\c\n\u{1}é", false);
        let back: String = serde_json::from_slice(&out).expect("valid JSON");
        assert_eq!(back, "a\"b\\c\n\u{1}é");
        out.clear();
        push_json_string(&mut out, "=1+1", true);
        assert_eq!(out, b"\"'=1+1\"");
    }
}
