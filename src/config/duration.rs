//! Durations written the way people write them, everywhere: `2s`, `500ms`,
//! `1h30m`, or a bare number in the unit the key or flag documents.
//!
//! The seed's pool settings (`DB_CONN_MAX_LIFETIME=60`) are bare numbers of
//! minutes ([`ConfigDuration`], rendered back in the unit form); keys named
//! `*_ms` hold whole milliseconds and also accept a duration with a unit
//! ([`normalize_ms`]); flags use [`parse`] with their own bare unit.

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

/// The unit of a bare number.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BareUnit {
    Millis,
    Seconds,
    Minutes,
}

impl BareUnit {
    /// The unit in words, for messages.
    pub fn word(self) -> &'static str {
        match self {
            BareUnit::Millis => "milliseconds",
            BareUnit::Seconds => "seconds",
            BareUnit::Minutes => "minutes",
        }
    }
}

/// Parses `500ms`, `2s`, `1h30m`, or a bare number (fractions allowed) in
/// `bare`. The error says what was expected, in words.
pub fn parse(text: &str, bare: BareUnit) -> Result<Duration, String> {
    let t = text.trim();
    let expected = || {
        format!(
            "expected a duration such as `500ms`, `2s` or `1h`, or a bare number of {}; got `{text}`",
            bare.word()
        )
    };
    if t.is_empty() {
        return Err(expected());
    }
    if let Ok(n) = t.parse::<f64>() {
        if !(n.is_finite() && n >= 0.0) {
            return Err(expected());
        }
        let secs = match bare {
            BareUnit::Millis => n / 1000.0,
            BareUnit::Seconds => n,
            BareUnit::Minutes => n * 60.0,
        };
        return Duration::try_from_secs_f64(secs).map_err(|_| expected());
    }
    humantime::parse_duration(t).map_err(|_| expected())
}

/// Whole milliseconds of a `*_ms` value written as a duration string
/// (`"1s"` is 1000); `None` when it is not one, so the caller reports it.
pub fn string_to_ms(text: &str) -> Option<i64> {
    let d = humantime::parse_duration(text.trim()).ok()?;
    i64::try_from(d.as_millis()).ok()
}

/// Rewrites every `*_ms` leaf written as a duration string (`"1s"`) into
/// whole milliseconds, so a key that carries its unit in its name still
/// accepts a value that carries its own. Strings that are not durations are
/// left alone, to be reported against their key.
pub fn normalize_ms(v: &mut toml::Value) {
    match v {
        toml::Value::Table(t) => {
            for (k, child) in t.iter_mut() {
                match child {
                    toml::Value::String(s) if k.ends_with("_ms") => {
                        if let Some(ms) = string_to_ms(s) {
                            *child = toml::Value::Integer(ms);
                        }
                    }
                    other => normalize_ms(other),
                }
            }
        }
        toml::Value::Array(items) => items.iter_mut().for_each(normalize_ms),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_take_units_or_their_bare_unit() {
        let s = |t, u| parse(t, u).map(|d| d.as_millis());
        assert_eq!(s("2s", BareUnit::Seconds), Ok(2000));
        assert_eq!(s("2", BareUnit::Seconds), Ok(2000));
        assert_eq!(s("1.5", BareUnit::Seconds), Ok(1500));
        assert_eq!(s("500ms", BareUnit::Seconds), Ok(500));
        assert_eq!(s("250", BareUnit::Millis), Ok(250));
        assert_eq!(s("1h", BareUnit::Millis), Ok(3_600_000));
        assert_eq!(s("2", BareUnit::Minutes), Ok(120_000));
        let e = parse("soon", BareUnit::Seconds).unwrap_err();
        assert!(
            e.contains("bare number of seconds") && e.contains("soon"),
            "{e}"
        );
        assert!(parse("-1", BareUnit::Seconds).is_err());
    }

    #[test]
    fn ms_keys_accept_units() {
        let mut v: toml::Value = toml::from_str(
            "[ledger.async]\nflush_ms = \"1s\"\nbatch_size = 5\n[x]\nname_ms = \"fast\"\n",
        )
        .unwrap();
        normalize_ms(&mut v);
        assert_eq!(v["ledger"]["async"]["flush_ms"].as_integer(), Some(1000));
        assert_eq!(v["x"]["name_ms"].as_str(), Some("fast"));
    }

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
