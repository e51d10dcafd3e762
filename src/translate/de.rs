//! Serde helpers the two APIs' types share: a value that is either a string
//! or a structure (`content`, `stop`, `system`, `tool_choice`), read in one
//! pass without serde's buffering untagged enums (which cannot hold
//! borrowed `RawValue`s), and small writers for hand-built JSON.

use std::borrow::Cow;
use std::fmt;
use std::marker::PhantomData;

use serde::de::value::{MapAccessDeserializer, SeqAccessDeserializer};
use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde::{Serialize, Serializer};
use serde_json::value::RawValue;

/// A string, or the structure `T` (an array or an object).
#[derive(Debug, Clone, PartialEq)]
pub enum StrOr<'a, T> {
    Str(Cow<'a, str>),
    Val(T),
}

impl<'de: 'a, 'a, T: Deserialize<'de>> Deserialize<'de> for StrOr<'a, T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V<'a, T>(PhantomData<(&'a (), T)>);
        impl<'de: 'a, 'a, T: Deserialize<'de>> Visitor<'de> for V<'a, T> {
            type Value = StrOr<'a, T>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a string, an array or an object")
            }
            fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
                Ok(StrOr::Str(Cow::Borrowed(v)))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
                Ok(StrOr::Str(Cow::Owned(v.to_owned())))
            }
            fn visit_string<E: de::Error>(self, v: String) -> Result<Self::Value, E> {
                Ok(StrOr::Str(Cow::Owned(v)))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, a: A) -> Result<Self::Value, A::Error> {
                T::deserialize(SeqAccessDeserializer::new(a)).map(StrOr::Val)
            }
            fn visit_map<A: MapAccess<'de>>(self, a: A) -> Result<Self::Value, A::Error> {
                T::deserialize(MapAccessDeserializer::new(a)).map(StrOr::Val)
            }
        }
        d.deserialize_any(V(PhantomData))
    }
}

impl<T: Serialize> Serialize for StrOr<'_, T> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            StrOr::Str(v) => s.serialize_str(v),
            StrOr::Val(v) => v.serialize(s),
        }
    }
}

/// `data:<media type>;base64,<data>` split into its media type and data;
/// `None` for anything else (a plain URL, or a data URL not in base64).
pub fn data_url(url: &str) -> Option<(&str, &str)> {
    let rest = url.strip_prefix("data:")?;
    let (head, data) = rest.split_once(',')?;
    let media = head.strip_suffix(";base64")?;
    Some((media, data))
}

/// Appends `s` as a JSON string (quoted and escaped).
pub fn push_str(out: &mut Vec<u8>, s: &str) {
    // Writing JSON into a Vec cannot fail: serde_json's only errors here
    // are the writer's, and Vec's writer never fails.
    let _ = serde_json::to_writer(&mut *out, s);
}

/// Appends a decimal integer.
pub fn push_int(out: &mut Vec<u8>, n: i64) {
    out.extend_from_slice(itoa::Buffer::new().format(n).as_bytes());
}

/// Serialises `v` into a fresh body.
pub fn to_body<T: Serialize>(v: &T, capacity: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(capacity);
    // Serialising the translator's own types into a Vec cannot fail: they
    // hold only strings, numbers and already-valid raw JSON.
    let _ = serde_json::to_writer(&mut out, v);
    out
}

/// Whether a raw JSON value is the empty string `""`.
pub fn is_empty_str(raw: &serde_json::value::RawValue) -> bool {
    raw.get() == "\"\""
}

/// A JSON value kept as text: borrowed from the body when it could be
/// (a schema, a tool's input), owned when it had to be unescaped first
/// (OpenAI's tool arguments are JSON inside a JSON string).
#[derive(Debug)]
pub enum Raw<'a> {
    Borrowed(&'a RawValue),
    Owned(Box<RawValue>),
}

impl<'a> Raw<'a> {
    /// The JSON text, borrowed from the body when it was.
    pub fn into_cow(self) -> Cow<'a, str> {
        match self {
            Raw::Borrowed(r) => Cow::Borrowed(r.get()),
            Raw::Owned(r) => Cow::Owned(Box::<str>::from(r).into_string()),
        }
    }

    /// Checks that `text` is one JSON value and keeps it.
    pub fn parse(text: Cow<'a, str>) -> Result<Self, serde_json::Error> {
        match text {
            Cow::Borrowed(t) => serde_json::from_str::<&RawValue>(t).map(Raw::Borrowed),
            Cow::Owned(t) => RawValue::from_string(t).map(Raw::Owned),
        }
    }

    pub fn empty_object() -> Self {
        Raw::Borrowed(constant("{}"))
    }

    /// The schema of a tool that takes no parameters.
    pub fn empty_schema() -> Self {
        Raw::Borrowed(constant(r#"{"type":"object","properties":{}}"#))
    }
}

/// A `&'static RawValue` of a constant JSON text.
fn constant(text: &'static str) -> &'static RawValue {
    // The constants passed in are valid JSON, so this never falls back; the
    // fallback keeps a mistake from panicking the server.
    serde_json::from_str(text).unwrap_or_else(|_| {
        serde_json::from_str("null").unwrap_or_else(|_| unreachable!("`null` is JSON"))
    })
}

impl<'de: 'a, 'a> Deserialize<'de> for Raw<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        <&'a RawValue>::deserialize(d).map(Raw::Borrowed)
    }
}

impl Serialize for Raw<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Raw::Borrowed(r) => r.serialize(s),
            Raw::Owned(r) => r.serialize(s),
        }
    }
}
