//! The tamper-evident hash chain over the ledger: one chain per gateway
//! instance, each entry linked to the one before by its hash.
//!
//! This module holds the parts every other one shares: a [`Link`] (an
//! entry's place in its chain), the [`ChainKey`] that hashes (HMAC-SHA256
//! with a key kept outside the database, else plain SHA-256) and the
//! canonical encoding a receiver can recompute (docs/ledger.md, "Hash
//! chain"). Assigning links is [`sequencer`]'s, the committed watermark is
//! [`tracker`]'s, the head file [`head`]'s, start-up recovery [`start`]'s and
//! checking a stored chain [`verify`]'s.

pub mod head;
mod message;
pub mod sequencer;
pub mod start;
pub mod tracker;
pub mod verify;

use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::columns::{MESSAGE_VERSION, Row};
use super::entry::Entry;

pub use message::encode as encode_message;

/// A SHA-256 or HMAC-SHA256 digest.
pub type Hash = [u8; 32];

/// The `prev_hash` of a chain's first entry.
pub const GENESIS: Hash = [0; 32];

/// Domain tags, so an entry's encoding can never be taken for a gap's
/// (the entry's, one per message version, are [`message`]'s).
const GAP_TAG: &[u8] = b"tokctl-ledger-gap-v1\n";
const BASELINE_TAG: &[u8] = b"tokctl-ledger-baseline-v1\n";
const KEY_ID_TAG: &[u8] = b"tokctl-ledger-key-id-v1";

/// An entry's place in its chain, assigned once by the sequencer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Link {
    pub instance_id: String,
    /// 1 for the chain's first entry, then one more per entry or gap.
    pub seq: i64,
    #[serde(with = "hex_hash")]
    pub prev_hash: Hash,
    #[serde(with = "hex_hash")]
    pub hash: Hash,
    /// The chain message version `hash` was computed with (older spools
    /// and dead letters carry none: they are version 1).
    #[serde(default = "version_1")]
    pub version: u8,
}

fn version_1() -> u8 {
    1
}

/// A sequence number whose entry is known lost, as stored in `ledger_gaps`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Gap {
    pub instance_id: String,
    pub seq: i64,
    pub request_id: Option<String>,
    /// Why it is lost: `dead_lettered`, `lost_in_crash`, `spool_corrupt`, ...
    pub reason: String,
    /// The lost entry's hash when known, so the chain links across the gap.
    pub entry_hash: Option<Hash>,
    /// The key's MAC over the gap, so a gap row cannot be forged to hide a deletion.
    pub gap_mac: Hash,
    pub recorded_at_us: i64,
}

/// What hashes the chain: HMAC-SHA256 under a key, or plain SHA-256.
#[derive(Clone)]
pub struct ChainKey {
    /// The HMAC state after the key schedule, cloned per message.
    mac: Option<Hmac<Sha256>>,
    key_id: Option<String>,
}

impl std::fmt::Debug for ChainKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChainKey")
            .field("keyed", &self.is_keyed())
            .field("key_id", &self.key_id)
            .finish()
    }
}

impl ChainKey {
    /// A key from the configured secret; an empty one means plain SHA-256.
    pub fn new(secret: &str) -> ChainKey {
        if secret.is_empty() {
            return ChainKey {
                mac: None,
                key_id: None,
            };
        }
        // HMAC takes keys of any length, so this cannot fail.
        let mac = <Hmac<Sha256> as Mac>::new_from_slice(secret.as_bytes()).ok();
        let key_id = mac.as_ref().map(|m| {
            let mut m = m.clone();
            m.update(KEY_ID_TAG);
            hex::encode(&m.finalize().into_bytes()[..8])
        });
        ChainKey { mac, key_id }
    }

    pub fn is_keyed(&self) -> bool {
        self.mac.is_some()
    }

    /// A short public name of the key (the first 8 bytes of its MAC over a
    /// fixed tag): tells a wrong key from tampering without revealing it.
    pub fn key_id(&self) -> Option<&str> {
        self.key_id.as_deref()
    }

    fn digest(&self, message: &[u8]) -> Hash {
        match &self.mac {
            Some(m) => {
                let mut m = m.clone();
                m.update(message);
                m.finalize().into_bytes().into()
            }
            None => Sha256::digest(message).into(),
        }
    }

    /// The hash of `entry` at `seq` in `instance_id`'s chain after `prev`,
    /// in this binary's message version ([`MESSAGE_VERSION`]). `buf` is
    /// scratch space, reused between calls.
    pub fn entry_hash(
        &self,
        buf: &mut Vec<u8>,
        instance_id: &str,
        seq: i64,
        prev: &Hash,
        entry: &Entry,
    ) -> Hash {
        let row = Row::of(entry);
        let message = message::encode(buf, MESSAGE_VERSION, instance_id, seq, prev, &row);
        debug_assert!(matches!(message, Some(true)), "this binary's version");
        self.digest(buf)
    }

    /// The hash of a stored row in the message version it says it was
    /// hashed with. `None` when that version is unknown to this binary,
    /// or when a column newer than the version holds anything but the
    /// value rows of that version hold (it was written afterwards): either
    /// way the row cannot be the one that was hashed.
    pub fn row_hash(
        &self,
        buf: &mut Vec<u8>,
        instance_id: &str,
        seq: i64,
        prev: &Hash,
        row: &Row<'_>,
    ) -> Option<Hash> {
        let version = row.message_version();
        match message::encode(buf, version, instance_id, seq, prev, row) {
            Some(true) => Some(self.digest(buf)),
            _ => None,
        }
    }

    /// The MAC of a gap row.
    pub fn gap_mac(
        &self,
        instance_id: &str,
        seq: i64,
        request_id: Option<&str>,
        reason: &str,
        entry_hash: Option<&Hash>,
    ) -> Hash {
        let mut buf = Vec::with_capacity(128);
        buf.extend_from_slice(GAP_TAG);
        text(&mut buf, Some(instance_id));
        int(&mut buf, Some(seq));
        text(&mut buf, request_id);
        text(&mut buf, Some(reason));
        field(&mut buf, entry_hash.map(|h| h.as_slice()));
        self.digest(&buf)
    }

    /// The MAC of a chain's baseline: the `rows` outside every chain when
    /// the chain was first seen, and the highest `max_id` among them. Bound
    /// to the chain's name, so one chain's baseline cannot be copied to another.
    pub fn baseline_mac(&self, instance_id: &str, rows: i64, max_id: Option<i64>) -> Hash {
        let mut buf = Vec::with_capacity(96);
        buf.extend_from_slice(BASELINE_TAG);
        text(&mut buf, Some(instance_id));
        int(&mut buf, Some(rows));
        int(&mut buf, max_id);
        self.digest(&buf)
    }

    /// A gap row for `seq`, MAC'd under this key.
    pub fn gap(
        &self,
        instance_id: &str,
        seq: i64,
        request_id: Option<&str>,
        reason: &str,
        entry_hash: Option<Hash>,
    ) -> Gap {
        Gap {
            instance_id: instance_id.to_string(),
            seq,
            request_id: request_id.map(str::to_string),
            reason: reason.to_string(),
            gap_mac: self.gap_mac(instance_id, seq, request_id, reason, entry_hash.as_ref()),
            entry_hash,
            recorded_at_us: crate::db::now_us(),
        }
    }
}

#[inline(always)]
pub(crate) fn field(buf: &mut Vec<u8>, bytes: Option<&[u8]>) {
    match bytes {
        Some(b) => {
            let len = u32::try_from(b.len()).unwrap_or(u32::MAX - 1);
            buf.extend_from_slice(&len.to_be_bytes());
            buf.extend_from_slice(&b[..len as usize]);
        }
        None => buf.extend_from_slice(&u32::MAX.to_be_bytes()),
    }
}

#[inline(always)]
pub(crate) fn text(buf: &mut Vec<u8>, s: Option<&str>) {
    field(buf, s.map(str::as_bytes));
}

#[inline(always)]
pub(crate) fn int(buf: &mut Vec<u8>, n: Option<i64>) {
    let mut b = itoa::Buffer::new();
    field(buf, n.map(|n| b.format(n).as_bytes()));
}

/// Hashes as lowercase hex in JSON (spool records, dead letters, head file).
pub mod hex_hash {
    use serde::{Deserialize, Deserializer, Serializer, de::Error};

    use super::Hash;

    pub fn serialize<S: Serializer>(h: &Hash, s: S) -> Result<S::Ok, S::Error> {
        let mut buf = [0u8; 64];
        s.serialize_str(encode(h, &mut buf))
    }

    /// `h` as 64 lowercase hex digits in `buf`, without allocating: every
    /// spool record carries two hashes, and `hex::encode` builds its
    /// `String` a `char` at a time.
    pub fn encode<'b>(h: &Hash, buf: &'b mut [u8; 64]) -> &'b str {
        const DIGITS: &[u8; 16] = b"0123456789abcdef";
        for (pair, byte) in buf.chunks_exact_mut(2).zip(h) {
            pair[0] = DIGITS[usize::from(byte >> 4)];
            pair[1] = DIGITS[usize::from(byte & 0x0f)];
        }
        // ASCII digits only: always valid UTF-8.
        std::str::from_utf8(buf).unwrap_or_default()
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Hash, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        parse(&s).ok_or_else(|| D::Error::custom("expected 64 hex digits"))
    }

    /// 64 hex digits as a hash (decoded in place, no allocation).
    pub fn parse(s: &str) -> Option<Hash> {
        let mut h = [0u8; 32];
        hex::decode_to_slice(s, &mut h).ok()?;
        Some(h)
    }
}

/// A stored hash column (BLOB/BYTEA) as a [`Hash`], if it is 32 bytes.
pub fn hash_from_bytes(b: &[u8]) -> Option<Hash> {
    b.try_into().ok()
}

/// A plain entry for unit tests across the ledger modules.
#[cfg(test)]
pub(crate) fn tests_entry(id: &str) -> Entry {
    tests::entry(id)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ledger::{TokenSource, Usage};

    #[test]
    fn hashes_go_to_hex_and_back_as_the_hex_crate_writes_them() {
        let mut h: Hash = [0; 32];
        for (i, b) in h.iter_mut().enumerate() {
            *b = (i as u8).wrapping_mul(37) ^ 0xa5;
        }
        let mut buf = [0u8; 64];
        let text = hex_hash::encode(&h, &mut buf);
        assert_eq!(text, hex::encode(h));
        assert_eq!(hex_hash::parse(text), Some(h));
        assert_eq!(hex_hash::parse(&text[..63]), None);
        assert_eq!(hex_hash::parse(&format!("{text}00")), None);
        assert_eq!(hex_hash::parse(&text.replace('a', "g")), None);
    }

    pub(crate) fn entry(id: &str) -> Entry {
        Entry {
            request_id: id.into(),
            created_at_us: 1_700_000_000_000_000,
            client_request_id: None,
            upstream_request_id: Some("up-1".into()),
            user_id: Some(1),
            user_name: Some("alice".into()),
            api_key_id: Some(2),
            endpoint: "/v1/chat/completions".into(),
            model: "gpt-4o-mini".into(),
            provider: "mock".into(),
            upstream_model: None,
            usage: Usage {
                input_tokens: 10,
                output_tokens: 5,
                ..Usage::default()
            },
            token_source: TokenSource::Provider,
            cost_nano: 42,
            latency_us: 1000,
            upstream_latency_us: Some(900),
            ttft_us: None,
            overhead_us: Some(100),
            status_code: 200,
            streamed: false,
            error_kind: None,
            error_message: None,
            chain: None,
            ..Entry::default()
        }
    }

    #[test]
    fn every_field_changes_the_hash_and_the_key_matters() {
        let key = ChainKey::new("secret");
        let mut buf = Vec::new();
        let base = entry("r1");
        let h = key.entry_hash(&mut buf, "gw-a", 1, &GENESIS, &base);
        let mut edited = base.clone();
        edited.usage.output_tokens += 1;
        assert_ne!(h, key.entry_hash(&mut buf, "gw-a", 1, &GENESIS, &edited));
        let mut edited = base.clone();
        edited.client_request_id = Some(String::new());
        assert_ne!(
            h,
            key.entry_hash(&mut buf, "gw-a", 1, &GENESIS, &edited),
            "NULL and the empty string differ"
        );
        assert_ne!(h, key.entry_hash(&mut buf, "gw-a", 2, &GENESIS, &base));
        assert_ne!(h, key.entry_hash(&mut buf, "gw-b", 1, &GENESIS, &base));
        assert_ne!(h, key.entry_hash(&mut buf, "gw-a", 1, &[1; 32], &base));
        assert_ne!(
            h,
            ChainKey::new("other").entry_hash(&mut buf, "gw-a", 1, &GENESIS, &base)
        );
        let plain = ChainKey::new("");
        assert!(!plain.is_keyed() && plain.key_id().is_none());
        let mut msg = Vec::new();
        let v = encode_message(
            &mut msg,
            MESSAGE_VERSION,
            "gw-a",
            1,
            &GENESIS,
            &Row::of(&base),
        );
        assert_eq!(v, Some(true));
        let want: Hash = Sha256::digest(&msg).into();
        assert_eq!(plain.entry_hash(&mut buf, "gw-a", 1, &GENESIS, &base), want);
    }

    #[test]
    fn field_boundaries_are_unambiguous() {
        let key = ChainKey::new("");
        let mut buf = Vec::new();
        let mut a = entry("r1");
        a.user_name = Some("ab".into());
        a.upstream_model = Some("c".into());
        let mut b = a.clone();
        b.user_name = Some("a".into());
        b.endpoint = "b/v1/chat/completions".into();
        assert_ne!(
            key.entry_hash(&mut buf, "i", 1, &GENESIS, &a),
            key.entry_hash(&mut buf, "i", 1, &GENESIS, &b)
        );
    }

    #[test]
    fn links_round_trip_through_json_as_hex() {
        let l = Link {
            instance_id: "gw".into(),
            seq: 7,
            prev_hash: [0xab; 32],
            hash: [1; 32],
            version: 2,
        };
        let json = serde_json::to_string(&l).unwrap();
        assert!(json.contains(&"ab".repeat(32)));
        assert_eq!(serde_json::from_str::<Link>(&json).unwrap(), l);
    }

    #[test]
    fn gap_macs_depend_on_every_field() {
        let key = ChainKey::new("k");
        let m = key.gap_mac("i", 3, Some("r"), "dead_lettered", Some(&[2; 32]));
        assert_ne!(
            m,
            key.gap_mac("i", 4, Some("r"), "dead_lettered", Some(&[2; 32]))
        );
        assert_ne!(
            m,
            key.gap_mac("i", 3, None, "dead_lettered", Some(&[2; 32]))
        );
        assert_ne!(
            m,
            key.gap_mac("i", 3, Some("r"), "lost_in_crash", Some(&[2; 32]))
        );
        assert_ne!(m, key.gap_mac("i", 3, Some("r"), "dead_lettered", None));
        assert_eq!(key.key_id().map(str::len), Some(16));
    }

    #[test]
    fn baseline_macs_depend_on_every_field_and_the_key() {
        let key = ChainKey::new("k");
        let m = key.baseline_mac("i", 3, Some(7));
        assert_ne!(m, key.baseline_mac("j", 3, Some(7)));
        assert_ne!(m, key.baseline_mac("i", 4, Some(7)));
        assert_ne!(m, key.baseline_mac("i", 3, Some(8)));
        assert_ne!(m, key.baseline_mac("i", 3, None));
        assert_ne!(m, ChainKey::new("other").baseline_mac("i", 3, Some(7)));
        assert_ne!(m, key.gap_mac("i", 3, None, "7", None), "apart from gaps");
    }
}
