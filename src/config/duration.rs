//! Durations written the way the seed writes them.
//!
//! The seed's pool settings (`DB_CONN_MAX_LIFETIME=60`) are bare numbers of
//! minutes, while people write `60m`, `30s` or `1h`. Both are accepted; a
//! value is always rendered back in the unit form.

use std::fmt;
use std::time::Duration;

use serde::de::{self, Visitor};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A duration read from `60m` / `30s` / `1h`, or a bare number of minutes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConfigDuration(pub Duration);

impl ConfigDuration {
    pub const fn from_secs(secs: u64) -> Self {
        Self(Duration::from_secs(secs))
    }

    /// Parses `60m`, `1h30m`, `45s`, or `60` (minutes, as the seed documents).
    pub fn parse(text: &str) -> Result<Self, String> {
        let text = text.trim();
        if text.is_empty() {
            return Err("an empty duration".into());
        }
        if let Ok(minutes) = text.parse::<u64>() {
            return Ok(Self(Duration::from_secs(minutes.saturating_mul(60))));
        }
        humantime::parse_duration(text)
            .map(Self)
            .map_err(|e| format!("`{text}` is not a duration ({e})"))
    }

    pub const EXPECTED: &'static str =
        "a duration like `60m`, `30s` or `1h`, or a bare number of minutes";
}

impl fmt::Display for ConfigDuration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", humantime::format_duration(self.0))
    }
}

impl Serialize for ConfigDuration {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_string())
    }
}

impl<'de> Deserialize<'de> for ConfigDuration {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = ConfigDuration;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(ConfigDuration::EXPECTED)
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
                ConfigDuration::parse(v).map_err(E::custom)
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Self::Value, E> {
                u64::try_from(v)
                    .map(|m| ConfigDuration(Duration::from_secs(m.saturating_mul(60))))
                    .map_err(|_| E::custom("a duration cannot be negative"))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Self::Value, E> {
                Ok(ConfigDuration(Duration::from_secs(v.saturating_mul(60))))
            }
        }
        d.deserialize_any(V)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn units_and_bare_minutes() {
        assert_eq!(
            ConfigDuration::parse("60m").unwrap().0,
            Duration::from_secs(3600)
        );
        assert_eq!(
            ConfigDuration::parse("30s").unwrap().0,
            Duration::from_secs(30)
        );
        assert_eq!(
            ConfigDuration::parse("1h").unwrap().0,
            Duration::from_secs(3600)
        );
        assert_eq!(
            ConfigDuration::parse("10").unwrap().0,
            Duration::from_secs(600)
        );
        assert!(ConfigDuration::parse("ten minutes").is_err());
        assert!(ConfigDuration::parse("").is_err());
    }

    #[test]
    fn renders_in_units() {
        assert_eq!(ConfigDuration::from_secs(3600).to_string(), "1h");
        assert_eq!(ConfigDuration::from_secs(600).to_string(), "10m");
    }
}
