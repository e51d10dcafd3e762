//! API key material: generating keys, hashing them for storage, the display
//! prefix shown in listings, and parsing `--expires`.
//!
//! Holds no I/O. The store keeps only [`hash_key`] of a key and its
//! [`display_prefix`]; the full key exists once, in the creator's hands.

use rand::Rng;
use rand::distributions::Alphanumeric;
use rand::rngs::OsRng;
use sha2::{Digest, Sha256};

use super::IdentityError;

/// Every key starts with this, so a leaked key is recognisable by secret
/// scanners and people alike.
pub const KEY_PREFIX: &str = "tok_";

/// Random characters after [`KEY_PREFIX`]: 40 base62 characters carry about
/// 238 bits of entropy.
pub const KEY_RANDOM_CHARS: usize = 40;

/// Characters kept in clear for listings and `keys revoke PREFIX`: the
/// `tok_` prefix and 8 random characters, too few to help a guesser.
pub const DISPLAY_PREFIX_CHARS: usize = 12;

/// Generates a new key: `tok_` followed by [`KEY_RANDOM_CHARS`] base62
/// characters from the operating system's CSPRNG.
pub fn generate_key() -> String {
    let mut key = String::with_capacity(KEY_PREFIX.len() + KEY_RANDOM_CHARS);
    key.push_str(KEY_PREFIX);
    key.extend(
        OsRng
            .sample_iter(&Alphanumeric)
            .take(KEY_RANDOM_CHARS)
            .map(char::from),
    );
    key
}

/// The SHA-256 digest of a presented key: the cache's map key.
///
/// A fast hash is the right choice here, unlike for passwords: keys are
/// generated with ~238 bits of entropy, so a stolen table cannot be
/// brute-forced however fast the hash, and the hot path hashes every request.
pub fn key_digest(key: &str) -> [u8; 32] {
    Sha256::digest(key.as_bytes()).into()
}

/// The stored form of a key: lowercase hex of its SHA-256 digest (see
/// [`key_digest`] for why a fast hash suffices).
pub fn hash_key(key: &str) -> String {
    hex::encode(key_digest(key))
}

/// The part of a key shown in listings (its first [`DISPLAY_PREFIX_CHARS`]
/// characters).
pub fn display_prefix(key: &str) -> String {
    key.chars().take(DISPLAY_PREFIX_CHARS).collect()
}

/// Parses `--expires`: a duration from `now_us` (`30d`, `12h`, `1w`, as
/// humantime reads them) or an RFC 3339 instant. Returns microseconds since
/// the epoch; an instant not in the future is refused, since such a key
/// could never be used.
pub fn parse_expiry(text: &str, now_us: i64) -> Result<i64, IdentityError> {
    let bad = |reason: String| IdentityError::InvalidExpiry {
        text: text.to_string(),
        reason,
    };
    let t = text.trim();
    let at_us = if let Ok(d) = humantime::parse_duration(t) {
        let us =
            i64::try_from(d.as_micros()).map_err(|_| bad("the duration is too long".into()))?;
        if us == 0 {
            return Err(bad("the duration is zero".into()));
        }
        now_us
            .checked_add(us)
            .ok_or_else(|| bad("the duration is too long".into()))?
    } else {
        match chrono::DateTime::parse_from_rfc3339(t) {
            Ok(at) => at.timestamp_micros(),
            Err(_) => {
                return Err(bad(
                    "expected a duration such as 30d or 12h, or an RFC 3339 time such as \
                     2027-01-31T00:00:00Z"
                        .into(),
                ));
            }
        }
    };
    if at_us <= now_us {
        return Err(bad("that time is already past".into()));
    }
    Ok(at_us)
}

/// Formats microseconds since the epoch as RFC 3339 (UTC, seconds), for
/// messages and listings.
pub fn format_us(us: i64) -> String {
    chrono::DateTime::from_timestamp_micros(us)
        .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
        .unwrap_or_else(|| format!("{us}us"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_keys_have_prefix_length_and_alphabet() {
        let a = generate_key();
        let b = generate_key();
        assert_ne!(a, b);
        assert!(a.starts_with(KEY_PREFIX));
        assert_eq!(a.len(), KEY_PREFIX.len() + KEY_RANDOM_CHARS);
        assert!(
            a[KEY_PREFIX.len()..]
                .chars()
                .all(|c| c.is_ascii_alphanumeric())
        );
    }

    #[test]
    fn hash_is_sha256_hex_of_the_whole_key() {
        // SHA-256("abc"), from FIPS 180-2.
        assert_eq!(
            hash_key("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        let k = generate_key();
        assert_eq!(hash_key(&k).len(), 64);
        assert_ne!(hash_key(&k), hash_key(&k[..k.len() - 1]));
    }

    #[test]
    fn display_prefix_is_short_and_a_prefix() {
        let k = generate_key();
        let p = display_prefix(&k);
        assert_eq!(p.len(), DISPLAY_PREFIX_CHARS);
        assert!(k.starts_with(&p));
    }

    #[test]
    fn expiry_accepts_durations_and_rfc3339() {
        let now = 1_700_000_000_000_000;
        assert_eq!(
            parse_expiry("30d", now).ok(),
            Some(now + 30 * 86_400_000_000)
        );
        assert_eq!(
            parse_expiry("12h", now).ok(),
            Some(now + 12 * 3_600_000_000)
        );
        assert_eq!(
            parse_expiry("2099-01-01T00:00:00Z", now).ok(),
            Some(4_070_908_800_000_000)
        );
    }

    #[test]
    fn expiry_refuses_garbage_zero_and_past() {
        let now = 1_700_000_000_000_000;
        for bad in ["soon", "", "0s", "2001-01-01T00:00:00Z", "30 parsecs"] {
            let err = parse_expiry(bad, now);
            assert!(
                matches!(err, Err(IdentityError::InvalidExpiry { .. })),
                "{bad}: {err:?}"
            );
        }
    }

    #[test]
    fn format_us_is_rfc3339() {
        assert_eq!(format_us(0), "1970-01-01T00:00:00Z");
    }
}
