//! `log.access`: which requests get an access line (`true`, `false` or
//! `"errors"`), written as a bool or a string in TOML and the environment.

use std::fmt;

use serde::de::{self, Visitor};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Which requests are written to the access log (at `info`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum AccessLog {
    /// Every request (`true`), the default.
    #[default]
    All,
    /// Only error rows: status >= 400, or a stream that failed (`"errors"`).
    Errors,
    /// None (`false`).
    Off,
}

impl AccessLog {
    /// Whether a request with this outcome gets an access line.
    pub fn logs(self, error: bool) -> bool {
        match self {
            AccessLog::All => true,
            AccessLog::Errors => error,
            AccessLog::Off => false,
        }
    }
}

impl Serialize for AccessLog {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            AccessLog::All => s.serialize_bool(true),
            AccessLog::Off => s.serialize_bool(false),
            AccessLog::Errors => s.serialize_str("errors"),
        }
    }
}

impl<'de> Deserialize<'de> for AccessLog {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = AccessLog;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("true, false or \"errors\"")
            }
            fn visit_bool<E: de::Error>(self, v: bool) -> Result<AccessLog, E> {
                Ok(if v { AccessLog::All } else { AccessLog::Off })
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<AccessLog, E> {
                match v.trim().to_ascii_lowercase().as_str() {
                    "true" | "all" => Ok(AccessLog::All),
                    "false" | "off" => Ok(AccessLog::Off),
                    "errors" => Ok(AccessLog::Errors),
                    _ => Err(E::invalid_value(de::Unexpected::Str(v), &self)),
                }
            }
        }
        d.deserialize_any(V)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Deserialize)]
    struct T {
        access: AccessLog,
    }

    #[test]
    fn bool_or_errors() {
        let p = |s: &str| toml::from_str::<T>(s).map(|t| t.access);
        assert_eq!(p("access = true").ok(), Some(AccessLog::All));
        assert_eq!(p("access = false").ok(), Some(AccessLog::Off));
        assert_eq!(p("access = \"errors\"").ok(), Some(AccessLog::Errors));
        let e = p("access = \"some\"")
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(e.contains("true, false or \"errors\""), "{e}");
        assert!(AccessLog::Errors.logs(true) && !AccessLog::Errors.logs(false));
    }
}
