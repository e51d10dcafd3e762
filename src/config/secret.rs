//! Values that must never be printed whole: the chain's HMAC key, upstream
//! API keys, and DSNs or URLs that may carry a password.
//!
//! [`Secret`] masks the whole value, [`SecretUrl`] only the password (in
//! the URL's user part and in a `password=` query parameter), so that
//! `config show` still says which host a DSN names. The masking is in the
//! type: `Debug`, `Display` and `Serialize` (which `config show` renders)
//! all print the masked form, so no caller has to remember to mask. The
//! value itself is reached through `Deref` (or [`Masked::expose`]) by the
//! code that must use it, e.g. to open a connection or key an HMAC.
//! Holds no loading logic; deserializing reads the plain string. A
//! built-in default must hold no secret: `load()` starts from the
//! defaults serialized, which would turn it into the mask.

use std::borrow::Cow;
use std::fmt;
use std::marker::PhantomData;
use std::ops::Deref;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// What stands for a hidden value (or password) wherever one is shown.
pub const MASK: &str = "********";

/// How a [`Masked`] value is shown.
pub trait Mask {
    /// The printable form of `value`.
    fn mask(value: &str) -> Cow<'_, str>;
}

/// Hides the whole value; an empty one stays empty, so `config show` can
/// still say that none is set.
#[derive(Debug, Clone, Copy)]
pub enum Whole {}

impl Mask for Whole {
    fn mask(value: &str) -> Cow<'_, str> {
        if value.is_empty() {
            Cow::Borrowed("")
        } else {
            Cow::Borrowed(MASK)
        }
    }
}

/// Hides only a URL's password (user part and `password=` parameter).
#[derive(Debug, Clone, Copy)]
pub enum UrlPassword {}

impl Mask for UrlPassword {
    fn mask(value: &str) -> Cow<'_, str> {
        Cow::Owned(super::dsn::mask_password(value))
    }
}

/// A string that prints masked (see the module docs).
pub struct Masked<M: Mask> {
    value: String,
    mask: PhantomData<M>,
}

/// A secret shown as [`MASK`]: the HMAC key, an upstream API key.
pub type Secret = Masked<Whole>;
/// A DSN or URL shown with its password masked.
pub type SecretUrl = Masked<UrlPassword>;

impl<M: Mask> Masked<M> {
    pub fn new(value: impl Into<String>) -> Self {
        Masked {
            value: value.into(),
            mask: PhantomData,
        }
    }

    /// The value itself, for the code that uses it (never for printing).
    pub fn expose(&self) -> &str {
        &self.value
    }

    /// The value to rewrite in place (relative paths resolved at load).
    pub(crate) fn expose_mut(&mut self) -> &mut String {
        &mut self.value
    }

    /// The printable, masked form.
    pub fn masked(&self) -> Cow<'_, str> {
        M::mask(&self.value)
    }
}

impl<M: Mask> Deref for Masked<M> {
    type Target = str;
    fn deref(&self) -> &str {
        &self.value
    }
}

impl<M: Mask> Clone for Masked<M> {
    fn clone(&self) -> Self {
        Self::new(self.value.clone())
    }
}

impl<M: Mask> Default for Masked<M> {
    fn default() -> Self {
        Self::new(String::new())
    }
}

impl<M: Mask> PartialEq for Masked<M> {
    fn eq(&self, other: &Self) -> bool {
        self.value == other.value
    }
}

impl<M: Mask> Eq for Masked<M> {}

impl<M: Mask> From<String> for Masked<M> {
    fn from(value: String) -> Self {
        Self::new(value)
    }
}

impl<M: Mask> From<&str> for Masked<M> {
    fn from(value: &str) -> Self {
        Self::new(value)
    }
}

impl<M: Mask> fmt::Debug for Masked<M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&*self.masked(), f)
    }
}

impl<M: Mask> fmt::Display for Masked<M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.masked())
    }
}

impl<M: Mask> Serialize for Masked<M> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.masked())
    }
}

impl<'de, M: Mask> Deserialize<'de> for Masked<M> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        String::deserialize(d).map(Self::new)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_secret_prints_masked_and_is_usable_whole() {
        let s = Secret::from("hunter2");
        assert_eq!(format!("{s:?}"), "\"********\"");
        assert_eq!(s.to_string(), MASK);
        assert_eq!(toml::Value::try_from(&s).unwrap().as_str(), Some(MASK));
        assert_eq!(&*s, "hunter2");
        assert_eq!(format!("{:?}", Secret::default()), "\"\"");
        let back: Secret = toml::Value::String("k".into()).try_into().unwrap();
        assert_eq!(back.expose(), "k");
    }

    #[test]
    fn a_url_prints_with_its_password_masked() {
        for dsn in [
            "postgres://app:hunter2@db:5432/ledger",
            "postgres://app@db/ledger?sslmode=require&password=hunter2",
            "redis://:hunter2@cache:6379",
        ] {
            let u = SecretUrl::from(dsn);
            for shown in [
                format!("{u:?}"),
                u.to_string(),
                toml::Value::try_from(&u).unwrap().to_string(),
            ] {
                assert!(!shown.contains("hunter2"), "{shown}");
                assert!(shown.contains(MASK), "{shown}");
            }
            assert_eq!(u.expose(), dsn);
        }
        let plain = SecretUrl::from("data/tokctl.db");
        assert_eq!(plain.to_string(), "data/tokctl.db");
    }

    /// Neither `{:?}` of the whole Config nor its serialized tree (what
    /// `config show` prints) shows a planted secret.
    #[test]
    fn a_config_never_prints_its_secrets() {
        let mut c = crate::config::Config::default();
        c.ledger.chain.hmac_key = "planted-hmac".into();
        c.ledger.path = "postgres://app:planted-pw1@db/ledger".into();
        c.identity.path = "postgres://app@db/id?sslmode=disable&password=planted-pw2".into();
        c.rate_limit.redis_addr = "redis://:planted-pw3@cache:6379".into();
        let debug = format!("{c:?}");
        let shown = toml::Value::try_from(&c).unwrap().to_string();
        for text in [debug, shown] {
            assert!(!text.contains("planted"), "{text}");
            assert!(text.contains("postgres://app:********@db/ledger"), "{text}");
        }
        assert_eq!(c.ledger.chain.hmac_key.expose(), "planted-hmac");
    }
}
