//! Data source names: which backend a DSN means, and how to show it safely.
//!
//! As in the seed, `postgres://` and `postgresql://` mean PostgreSQL; a
//! `sqlite:` URL or a plain path means a SQLite file.

use std::fmt;
use std::path::PathBuf;

use super::SecretUrl;

/// A parsed DSN. The PostgreSQL URL is a [`SecretUrl`], so `{:?}` of a
/// `Dsn` (or of anything holding one) shows no password.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Dsn {
    Sqlite { path: PathBuf },
    Postgres { url: SecretUrl },
}

/// Which engine a [`Dsn`] names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

impl fmt::Display for Backend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Backend::Sqlite => "sqlite",
            Backend::Postgres => "postgres",
        })
    }
}

#[derive(Debug, thiserror::Error)]
#[error("`{dsn}` is not a database DSN: {reason}")]
pub struct DsnError {
    pub dsn: String,
    pub reason: String,
}

impl Dsn {
    pub fn parse(text: &str) -> Result<Dsn, DsnError> {
        let fail = |reason: &str| DsnError {
            dsn: mask_password(text),
            reason: reason.to_string(),
        };
        let t = text.trim();
        if t.is_empty() {
            return Err(fail(
                "it is empty; expected postgres://USER:PASS@HOST:PORT/DB or a SQLite file path",
            ));
        }
        if t.starts_with("postgres://") || t.starts_with("postgresql://") {
            let url =
                url::Url::parse(t).map_err(|e| fail(&format!("malformed PostgreSQL URL ({e})")))?;
            if url.host_str().is_none_or(str::is_empty) {
                return Err(fail("the PostgreSQL URL names no host"));
            }
            return Ok(Dsn::Postgres { url: t.into() });
        }
        if let Some(rest) = t
            .strip_prefix("sqlite://")
            .or_else(|| t.strip_prefix("sqlite:"))
        {
            let path = rest.split('?').next().unwrap_or(rest);
            if path.is_empty() || path == ":memory:" {
                return Err(fail(
                    "expected a SQLite file path (in-memory databases lose the ledger)",
                ));
            }
            return Ok(Dsn::Sqlite {
                path: PathBuf::from(path),
            });
        }
        if let Some((scheme, _)) = t.split_once("://") {
            return Err(fail(&format!(
                "the scheme `{scheme}` is not supported; use postgres:// or a SQLite path"
            )));
        }
        Ok(Dsn::Sqlite {
            path: PathBuf::from(t),
        })
    }

    pub fn backend(&self) -> Backend {
        match self {
            Dsn::Sqlite { .. } => Backend::Sqlite,
            Dsn::Postgres { .. } => Backend::Postgres,
        }
    }

    /// A description safe for logs and errors: engine, host, port, database.
    pub fn describe(&self) -> String {
        match self {
            Dsn::Sqlite { path } => format!("SQLite file {}", path.display()),
            Dsn::Postgres { url } => match url::Url::parse(url) {
                Ok(u) => format!(
                    "PostgreSQL at {}:{}{}",
                    u.host_str().unwrap_or("?"),
                    u.port().unwrap_or(5432),
                    if u.path().len() > 1 { u.path() } else { "" }
                ),
                Err(_) => "PostgreSQL".to_string(),
            },
        }
    }
}

/// Replaces the password of a URL-shaped DSN with `********` — in the
/// user part and in a `password=` query parameter (libpq and sqlx take
/// both) — also when the rest of the URL is malformed (its error message
/// shows the DSN).
pub fn mask_password(dsn: &str) -> String {
    match url::Url::parse(dsn) {
        Ok(mut u) => {
            if u.password().is_some() {
                let _ = u.set_password(Some(super::MASK));
            }
            let has_param = u
                .query_pairs()
                .any(|(k, _)| k.eq_ignore_ascii_case("password"));
            if has_param {
                let pairs: Vec<(String, String)> = u
                    .query_pairs()
                    .map(|(k, v)| {
                        let v = if k.eq_ignore_ascii_case("password") {
                            super::MASK.to_string()
                        } else {
                            v.into_owned()
                        };
                        (k.into_owned(), v)
                    })
                    .collect();
                u.query_pairs_mut().clear().extend_pairs(pairs);
            }
            if u.password().is_some() || has_param {
                u.to_string()
            } else {
                dsn.to_string()
            }
        }
        Err(_) => mask_query_unparsed(&mask_unparsed(dsn)),
    }
}

/// `…?password=secret&…` -> `…?password=********&…`, by hand.
fn mask_query_unparsed(dsn: &str) -> String {
    let Some((head, query)) = dsn.split_once('?') else {
        return dsn.to_string();
    };
    let parts: Vec<String> = query
        .split('&')
        .map(|p| match p.split_once('=') {
            Some((k, _)) if k.eq_ignore_ascii_case("password") => format!("{k}=********"),
            _ => p.to_string(),
        })
        .collect();
    format!("{head}?{}", parts.join("&"))
}

/// `scheme://user:pass@rest` -> `scheme://user:********@rest`, by hand.
fn mask_unparsed(dsn: &str) -> String {
    let Some((scheme, rest)) = dsn.split_once("://") else {
        return dsn.to_string();
    };
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(authority_end);
    let Some((userinfo, host)) = authority.rsplit_once('@') else {
        return dsn.to_string();
    };
    match userinfo.split_once(':') {
        Some((user, _)) => format!("{scheme}://{user}:********@{host}{tail}"),
        None => dsn.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backends_by_scheme() {
        assert_eq!(
            Dsn::parse("postgres://u:p@h:5/db").unwrap().backend(),
            Backend::Postgres
        );
        assert_eq!(
            Dsn::parse("postgresql://h/db").unwrap().backend(),
            Backend::Postgres
        );
        assert_eq!(
            Dsn::parse("sqlite://data/x.db").unwrap(),
            Dsn::Sqlite {
                path: "data/x.db".into()
            }
        );
        assert_eq!(
            Dsn::parse("sqlite:x.db").unwrap(),
            Dsn::Sqlite {
                path: "x.db".into()
            }
        );
        assert_eq!(
            Dsn::parse("/tmp/x.db").unwrap(),
            Dsn::Sqlite {
                path: "/tmp/x.db".into()
            }
        );
        assert!(Dsn::parse("mysql://h/db").is_err());
        assert!(Dsn::parse("").is_err());
        assert!(Dsn::parse("postgres://").is_err());
    }

    #[test]
    fn masks_passwords() {
        assert_eq!(
            mask_password("postgres://u:secret@h/db"),
            "postgres://u:********@h/db"
        );
        assert_eq!(mask_password("data/x.db"), "data/x.db");
        assert_eq!(
            mask_password("postgres://u:secret@/db"),
            "postgres://u:********@/db"
        );
        assert_eq!(mask_password("postgres://u@/db"), "postgres://u@/db");
        let masked = mask_password("postgres://u@h/db?sslmode=require&password=hunter2");
        assert!(!masked.contains("hunter2"), "{masked}");
        assert!(masked.contains("sslmode=require"), "{masked}");
        let masked = mask_password("postgres://u:p@h:notaport/db?PASSWORD=hunter2");
        assert!(
            !masked.contains("hunter2") && !masked.contains(":p@"),
            "{masked}"
        );
        let d = Dsn::parse("postgres://u:secret@db.example:6543/ledger").unwrap();
        assert_eq!(d.describe(), "PostgreSQL at db.example:6543/ledger");
        assert!(!format!("{d:?}").contains("secret"), "{d:?}");
    }
}
