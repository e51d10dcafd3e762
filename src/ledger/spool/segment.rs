//! The spool's files: segments of length-prefixed, checksummed records.
//!
//! A segment is named after the first sequence number it holds
//! (`00000000000000000042.seg`) and holds consecutive numbers only. A
//! record is a 16-byte header — payload length (u32, little-endian),
//! CRC-32 of the sequence number and payload (u32), the sequence number
//! (i64) — then the entry's payload (`super::record`: binary, or JSON in
//! segments from before format 1). A record cut short by a crash, or one
//! whose checksum fails, ends what can be read of its segment.

use std::path::{Path, PathBuf};

use crate::ledger::chain::Hash;
use crate::ledger::entry::Entry;

pub const HEADER: usize = 16;
/// No entry comes near this; a longer length is a torn or corrupt header.
pub const MAX_RECORD: usize = 1 << 20;
const EXT: &str = "seg";

/// Appends one record for `entry` (which must carry its chain link) to `buf`.
pub fn encode(buf: &mut Vec<u8>, seq: i64, entry: &Entry) {
    let start = buf.len();
    buf.extend_from_slice(&[0; HEADER]);
    super::record::encode(buf, entry);
    let len = (buf.len() - start - HEADER) as u32;
    let mut crc = crc32fast::Hasher::new();
    crc.update(&seq.to_le_bytes());
    crc.update(&buf[start + HEADER..]);
    buf[start..start + 4].copy_from_slice(&len.to_le_bytes());
    buf[start + 4..start + 8].copy_from_slice(&crc.finalize().to_le_bytes());
    buf[start + 8..start + 16].copy_from_slice(&seq.to_le_bytes());
}

/// One record read back: its number and payload.
#[derive(Debug, Clone, Copy)]
pub struct Record<'a> {
    pub seq: i64,
    pub payload: &'a [u8],
}

/// What [`parse`] found at an offset.
#[derive(Debug)]
pub enum Parsed<'a> {
    Record(Record<'a>, usize),
    /// Not enough bytes for a whole record (yet, or ever if the segment is closed).
    Short,
    /// A header or checksum that cannot be a record.
    Corrupt(&'static str),
}

/// Parses the record at the start of `bytes`; `Record` gives its length.
pub fn parse(bytes: &[u8]) -> Parsed<'_> {
    if bytes.len() < HEADER {
        return Parsed::Short;
    }
    let word = |i: usize| u32::from_le_bytes([bytes[i], bytes[i + 1], bytes[i + 2], bytes[i + 3]]);
    let len = word(0) as usize;
    if len == 0 || len > MAX_RECORD {
        return Parsed::Corrupt("impossible record length");
    }
    if bytes.len() < HEADER + len {
        return Parsed::Short;
    }
    let mut seq = [0; 8];
    seq.copy_from_slice(&bytes[8..16]);
    let payload = &bytes[HEADER..HEADER + len];
    let mut crc = crc32fast::Hasher::new();
    crc.update(&seq);
    crc.update(payload);
    if crc.finalize() != word(4) {
        return Parsed::Corrupt("checksum mismatch");
    }
    Parsed::Record(
        Record {
            seq: i64::from_le_bytes(seq),
            payload,
        },
        HEADER + len,
    )
}

/// The file name of the segment starting at `first_seq`.
pub fn path(dir: &Path, first_seq: i64) -> PathBuf {
    dir.join(format!("{first_seq:020}.{EXT}"))
}

/// The segments in `dir`, oldest first, as (first sequence number, path).
pub fn list(dir: &Path) -> std::io::Result<Vec<(i64, PathBuf)>> {
    let mut out = Vec::new();
    for item in std::fs::read_dir(dir)? {
        let p = item?.path();
        if p.extension().and_then(|e| e.to_str()) != Some(EXT) {
            continue;
        }
        if let Some(first) = p
            .file_stem()
            .and_then(|s| s.to_str())
            .and_then(|s| s.parse::<i64>().ok())
        {
            out.push((first, p));
        }
    }
    out.sort();
    Ok(out)
}

/// One segment as scanned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SegmentInfo {
    pub path: PathBuf,
    pub first_seq: i64,
    pub bytes: u64,
    pub records: u64,
    /// The last readable record's number and hash.
    pub last: Option<(i64, Hash)>,
    /// Bytes past the last readable record (a torn or corrupt tail).
    pub unreadable_bytes: u64,
}

/// Reads a whole segment and summarises it.
pub fn scan(first_seq: i64, path: &Path) -> std::io::Result<SegmentInfo> {
    let bytes = std::fs::read(path)?;
    let mut at = 0;
    let mut records = 0;
    let mut last_rec = None;
    while let Parsed::Record(r, n) = parse(&bytes[at..]) {
        last_rec = Some(r);
        records += 1;
        at += n;
    }
    let last = last_rec.and_then(|r| {
        let link = super::record::decode(r.payload).ok()?.chain?;
        Some((r.seq, link.hash))
    });
    Ok(SegmentInfo {
        path: path.into(),
        first_seq,
        bytes: bytes.len() as u64,
        records,
        last,
        unreadable_bytes: (bytes.len() - at) as u64,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_round_trip_and_damage_is_detected() {
        let mut e = crate::ledger::chain::tests_entry("r1");
        e.chain = Some(crate::ledger::chain::Link {
            instance_id: "i".into(),
            seq: 5,
            prev_hash: [0; 32],
            hash: [9; 32],
            version: 2,
        });
        let mut buf = Vec::new();
        encode(&mut buf, 5, &e);
        encode(&mut buf, 6, &e);
        let Parsed::Record(r, n) = parse(&buf) else {
            panic!("first record")
        };
        assert_eq!(r.seq, 5);
        assert_eq!(super::super::record::decode(r.payload).unwrap(), e);
        assert!(matches!(parse(&buf[n..]), Parsed::Record(r, _) if r.seq == 6));
        assert!(matches!(parse(&buf[..n - 1]), Parsed::Short));
        let mut bad = buf.clone();
        bad[HEADER + 3] ^= 1;
        assert!(matches!(parse(&bad), Parsed::Corrupt(_)));
        let dir = tempfile::tempdir().unwrap();
        let p = path(dir.path(), 5);
        std::fs::write(&p, &buf[..buf.len() - 7]).unwrap();
        let info = scan(5, &p).unwrap();
        assert_eq!(info.records, 1);
        assert_eq!(info.last, Some((5, [9; 32])));
        assert_eq!(info.unreadable_bytes, (n - 7) as u64);
        assert_eq!(list(dir.path()).unwrap(), vec![(5, p)]);
    }
}
