//! The ledger's columns, declared once.
//!
//! Every place that writes or reads a ledger row — the SQLite binds, the
//! PostgreSQL `COPY` and `UNNEST` forms, the three decoders, the CSV and
//! JSONL exports, the chain's hashed message and the spool record — walks
//! this one list, so a new column is a migration, a line in the table
//! below, and the place that fills it.
//!
//! Why a `macro_rules!` table and not a `const` array of descriptors read
//! at run time: the writers are hot (hundreds of thousands of rows a
//! second), and a table walked through function pointers or a `match` on
//! each column's kind costs a branch per cell. The macro expands the list
//! into straight-line code per sink instead — [`Row::visit`] calls one
//! [`Visit`] method per column, [`Row::read`] one [`Source`] method, each
//! monomorphised for its sink — while [`COLUMNS`] keeps the same list as
//! data for what needs names and versions (SQL text, headers, the chain's
//! message versions, the schema test).
//!
//! The rules a line must follow: columns are only ever appended (exports
//! and spool records keep their order); a column added after message v1
//! says from which chain message version it is hashed, and the value rows
//! written before it existed hold (`fill`), which `verify` requires of
//! older rows so that it cannot be forged on them either.

mod stored;
#[cfg(test)]
mod tests;

pub use stored::{Decode, ExportRow, SELECTED, select};

use std::sync::LazyLock;

use super::chain::{Hash, Link};
use super::entry::{CacheStatus, Entry, TokenSource};

/// How a column's values are typed, and so how each sink writes them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// `TEXT NOT NULL`.
    Text,
    /// `TEXT`.
    OptText,
    /// `BIGINT NOT NULL` (SQLite `INTEGER`).
    Int,
    /// `BIGINT`.
    OptInt,
    /// `INTEGER NOT NULL` (4 bytes in PostgreSQL).
    Int4,
    /// `INTEGER`.
    OptInt4,
    /// `BOOLEAN NOT NULL`.
    Bool,
    /// `BYTEA` (SQLite `BLOB`).
    OptBlob,
}

impl Kind {
    /// Whether the column may be NULL.
    pub fn nullable(self) -> bool {
        matches!(
            self,
            Kind::OptText | Kind::OptInt | Kind::OptInt4 | Kind::OptBlob
        )
    }

    /// The kind's type names: SQLite's declared type, PostgreSQL's type
    /// (as `format_type` names it) and the array cast of PostgreSQL's
    /// `UNNEST` insert.
    fn type_names(self) -> [&'static str; 3] {
        match self {
            Kind::Text | Kind::OptText => ["TEXT", "text", "text[]"],
            Kind::Int | Kind::OptInt => ["INTEGER", "bigint", "int8[]"],
            Kind::Int4 | Kind::OptInt4 => ["INTEGER", "integer", "int4[]"],
            Kind::Bool => ["BOOLEAN", "boolean", "bool[]"],
            Kind::OptBlob => ["BLOB", "bytea", "bytea[]"],
        }
    }

    /// The declared SQLite type.
    pub fn sqlite_type(self) -> &'static str {
        self.type_names()[0]
    }

    /// The PostgreSQL type (as `format_type` names it).
    pub fn postgres_type(self) -> &'static str {
        self.type_names()[1]
    }

    /// The array cast of the PostgreSQL `UNNEST` insert.
    pub fn postgres_array(self) -> &'static str {
        self.type_names()[2]
    }
}

/// The value rows written before a column existed hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fill {
    /// The column is as old as the ledger: every row has a real value.
    Always,
    Null,
    Int(i64),
    Text(&'static str),
}

/// A column exports write beside this one (computed, not stored).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Derived {
    None,
    /// `created_at`: the microseconds as RFC 3339, before the column.
    TimeBefore(&'static str),
    /// `cost`: the nano-units as an exact decimal, after the column.
    DecimalAfter(&'static str),
}

/// One column, as data.
#[derive(Debug, Clone, Copy)]
pub struct Column {
    pub name: &'static str,
    pub kind: Kind,
    /// The chain message version from which the column is hashed; `None`
    /// for the link columns, which the message covers otherwise.
    pub hashed_since: Option<u8>,
    /// What rows written before the column existed hold.
    pub fill: Fill,
    pub derived: Derived,
}

/// The chain message version this binary writes (docs/ledger.md lists
/// each version's fields).
pub const MESSAGE_VERSION: u8 = 2;

/// The spool record format this binary writes: every column of
/// [`COLUMNS`] in order (format 1 is older binaries' hand-laid form).
pub const SPOOL_FORMAT: u8 = 2;

/// A row's columns as one writer or decoder sees them, in order.
///
/// A writer that treats a value and a present optional value alike need
/// only write `opt_text` and `opt_int`: the defaults forward to them (and,
/// `#[inline(always)]`, compile to the same code as a hand-written
/// forward).
pub trait Visit<'a> {
    #[inline(always)]
    fn text(&mut self, c: &'static Column, v: &'a str) {
        self.opt_text(c, Some(v));
    }
    fn opt_text(&mut self, c: &'static Column, v: Option<&'a str>);
    #[inline(always)]
    fn int(&mut self, c: &'static Column, v: i64) {
        self.opt_int(c, Some(v));
    }
    fn opt_int(&mut self, c: &'static Column, v: Option<i64>);
    #[inline(always)]
    fn int4(&mut self, c: &'static Column, v: i32) {
        self.opt_int(c, Some(i64::from(v)));
    }
    #[inline(always)]
    fn opt_int4(&mut self, c: &'static Column, v: Option<i32>) {
        self.opt_int(c, v.map(i64::from));
    }
    fn boolean(&mut self, c: &'static Column, v: bool);
    fn opt_blob(&mut self, c: &'static Column, v: Option<&'a [u8]>);
}

/// Where a decoder reads a row's columns from, one after another.
pub trait Source<'a> {
    type Error;
    fn text(&mut self, c: &'static Column) -> Result<&'a str, Self::Error>;
    fn opt_text(&mut self, c: &'static Column) -> Result<Option<&'a str>, Self::Error>;
    fn int(&mut self, c: &'static Column) -> Result<i64, Self::Error>;
    fn opt_int(&mut self, c: &'static Column) -> Result<Option<i64>, Self::Error>;
    fn int4(&mut self, c: &'static Column) -> Result<i32, Self::Error>;
    fn opt_int4(&mut self, c: &'static Column) -> Result<Option<i32>, Self::Error>;
    fn boolean(&mut self, c: &'static Column) -> Result<bool, Self::Error>;
    fn opt_blob(&mut self, c: &'static Column) -> Result<Option<&'a [u8]>, Self::Error>;
}

/// A stored value that no entry can hold.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("row `{request_id}` has an unknown {column} `{value}`")]
pub struct BadValue {
    pub request_id: String,
    pub column: &'static str,
    pub value: String,
}

macro_rules! value_type {
    (text, $a:lifetime) => { &$a str };
    (opt_text, $a:lifetime) => { Option<&$a str> };
    (int, $a:lifetime) => { i64 };
    (opt_int, $a:lifetime) => { Option<i64> };
    (int4, $a:lifetime) => { i32 };
    (opt_int4, $a:lifetime) => { Option<i32> };
    (boolean, $a:lifetime) => { bool };
    (opt_blob, $a:lifetime) => { Option<&$a [u8]> };
}

macro_rules! kind_of {
    (text) => {
        Kind::Text
    };
    (opt_text) => {
        Kind::OptText
    };
    (int) => {
        Kind::Int
    };
    (opt_int) => {
        Kind::OptInt
    };
    (int4) => {
        Kind::Int4
    };
    (opt_int4) => {
        Kind::OptInt4
    };
    (boolean) => {
        Kind::Bool
    };
    (opt_blob) => {
        Kind::OptBlob
    };
}

/// Expands the table: [`ColumnId`], [`COLUMNS`], [`Row`] with its
/// conversions from an [`Entry`] (`get`) and back (`set`), [`Row::visit`]
/// and [`Row::read`].
macro_rules! ledger_columns {
    ($(
        $(#[$doc:meta])*
        $name:ident: $kind:ident, hashed $hashed:expr, fill $fill:expr, derived $derived:expr,
            get |$ge:ident| $get:expr, set |$se:ident, $sv:ident| $set:expr;
    )*) => {
        /// Each column's place in [`COLUMNS`].
        #[expect(non_camel_case_types, reason = "named as the columns are")]
        #[derive(Debug, Clone, Copy)]
        enum ColumnId { $($name),* }

        /// Every stored column, in table order (`id` is the database's own).
        pub const COLUMNS: [Column; NUM_COLUMNS] = [$(Column {
            name: stringify!($name),
            kind: kind_of!($kind),
            hashed_since: $hashed,
            fill: $fill,
            derived: $derived,
        }),*];

        /// How many columns [`COLUMNS`] holds.
        pub const NUM_COLUMNS: usize = [$(stringify!($name)),*].len();

        /// One row, borrowed: from an [`Entry`] on the way in, from the
        /// database's (or a spool record's) buffers on the way out.
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        pub struct Row<'a> {
            $($(#[$doc])* pub $name: value_type!($kind, 'a),)*
        }

        impl<'a> Row<'a> {
            /// The row of `entry`, borrowing its text.
            pub fn of(entry: &'a Entry) -> Row<'a> {
                Row { $($name: { let $ge = entry; $get },)* }
            }

            /// Hands every column to `v`, in order.
            #[inline]
            pub fn visit(&self, v: &mut impl Visit<'a>) {
                $(v.$kind(&COLUMNS[ColumnId::$name as usize], self.$name);)*
            }

            /// Reads every column from `s`, in order.
            #[inline]
            pub fn read<S: Source<'a>>(s: &mut S) -> Result<Row<'a>, S::Error> {
                Ok(Row { $($name: s.$kind(&COLUMNS[ColumnId::$name as usize])?,)* })
            }

            /// The owned entry (its chain link from the link columns).
            pub fn to_entry(&self) -> Result<Entry, BadValue> {
                let mut entry = Entry::default();
                $({
                    let $se = &mut entry;
                    let $sv = self.$name;
                    let () = $set;
                })*
                entry.chain = self.link();
                Ok(entry)
            }
        }
    };
}

/// The value's text for a [`BadValue`].
fn bad(row_id: &str, column: &'static str, value: &str) -> BadValue {
    BadValue {
        request_id: row_id.to_string(),
        column,
        value: value.to_string(),
    }
}

const V1: Option<u8> = Some(1);
const V2: Option<u8> = Some(2);
const NO: Derived = Derived::None;

ledger_columns! {
    /// Made by the gateway (UUIDv7); inserts are idempotent on it.
    request_id: text, hashed V1, fill Fill::Always, derived NO,
        get |e| &e.request_id, set |e, v| e.request_id = v.to_string();
    created_at_us: int, hashed V1, fill Fill::Always, derived Derived::TimeBefore("created_at"),
        get |e| e.created_at_us, set |e, v| e.created_at_us = v;
    client_request_id: opt_text, hashed V1, fill Fill::Always, derived NO,
        get |e| e.client_request_id.as_deref(), set |e, v| e.client_request_id = v.map(str::to_string);
    upstream_request_id: opt_text, hashed V1, fill Fill::Always, derived NO,
        get |e| e.upstream_request_id.as_deref(), set |e, v| e.upstream_request_id = v.map(str::to_string);
    user_id: opt_int, hashed V1, fill Fill::Always, derived NO,
        get |e| e.user_id, set |e, v| e.user_id = v;
    user_name: opt_text, hashed V1, fill Fill::Always, derived NO,
        get |e| e.user_name.as_deref(), set |e, v| e.user_name = v.map(str::to_string);
    api_key_id: opt_int, hashed V1, fill Fill::Always, derived NO,
        get |e| e.api_key_id, set |e, v| e.api_key_id = v;
    /// The client's API, as its route (`/v1/chat/completions`).
    endpoint: text, hashed V1, fill Fill::Always, derived NO,
        get |e| &e.endpoint, set |e, v| e.endpoint = v.to_string();
    /// The model that served.
    model: text, hashed V1, fill Fill::Always, derived NO,
        get |e| &e.model, set |e, v| e.model = v.to_string();
    provider: text, hashed V1, fill Fill::Always, derived NO,
        get |e| &e.provider, set |e, v| e.provider = v.to_string();
    upstream_model: opt_text, hashed V1, fill Fill::Always, derived NO,
        get |e| e.upstream_model.as_deref(), set |e, v| e.upstream_model = v.map(str::to_string);
    input_tokens: int, hashed V1, fill Fill::Always, derived NO,
        get |e| e.usage.input_tokens, set |e, v| e.usage.input_tokens = v;
    cached_input_tokens: int, hashed V1, fill Fill::Always, derived NO,
        get |e| e.usage.cached_input_tokens, set |e, v| e.usage.cached_input_tokens = v;
    cache_write_tokens: int, hashed V1, fill Fill::Always, derived NO,
        get |e| e.usage.cache_write_tokens, set |e, v| e.usage.cache_write_tokens = v;
    output_tokens: int, hashed V1, fill Fill::Always, derived NO,
        get |e| e.usage.output_tokens, set |e, v| e.usage.output_tokens = v;
    reasoning_tokens: int, hashed V1, fill Fill::Always, derived NO,
        get |e| e.usage.reasoning_tokens, set |e, v| e.usage.reasoning_tokens = v;
    token_source: text, hashed V1, fill Fill::Always, derived NO,
        get |e| e.token_source.as_str(),
        set |e, v| e.token_source = TokenSource::parse(v)
            .ok_or_else(|| bad(&e.request_id, "token_source", v))?;
    cost_nano: int, hashed V1, fill Fill::Always, derived Derived::DecimalAfter("cost"),
        get |e| e.cost_nano, set |e, v| e.cost_nano = v;
    latency_us: int, hashed V1, fill Fill::Always, derived NO,
        get |e| e.latency_us, set |e, v| e.latency_us = v;
    upstream_latency_us: opt_int, hashed V1, fill Fill::Always, derived NO,
        get |e| e.upstream_latency_us, set |e, v| e.upstream_latency_us = v;
    ttft_us: opt_int, hashed V1, fill Fill::Always, derived NO,
        get |e| e.ttft_us, set |e, v| e.ttft_us = v;
    overhead_us: opt_int, hashed V1, fill Fill::Always, derived NO,
        get |e| e.overhead_us, set |e, v| e.overhead_us = v;
    status_code: int4, hashed V1, fill Fill::Always, derived NO,
        get |e| e.status_code, set |e, v| e.status_code = v;
    streamed: boolean, hashed V1, fill Fill::Always, derived NO,
        get |e| e.streamed, set |e, v| e.streamed = v;
    error_kind: opt_text, hashed V1, fill Fill::Always, derived NO,
        get |e| e.error_kind.as_deref(), set |e, v| e.error_kind = v.map(str::to_string);
    error_message: opt_text, hashed V1, fill Fill::Always, derived NO,
        get |e| e.error_message.as_deref(), set |e, v| e.error_message = v.map(str::to_string);
    /// The hash chain the row belongs to (`None`: written outside every chain).
    instance_id: opt_text, hashed None, fill Fill::Null, derived NO,
        get |e| e.chain.as_ref().map(|l| l.instance_id.as_str()), set |_e, _v| ();
    seq: opt_int, hashed None, fill Fill::Null, derived NO,
        get |e| e.chain.as_ref().map(|l| l.seq), set |_e, _v| ();
    prev_hash: opt_blob, hashed None, fill Fill::Null, derived NO,
        get |e| e.chain.as_ref().map(|l| l.prev_hash.as_slice()), set |_e, _v| ();
    entry_hash: opt_blob, hashed None, fill Fill::Null, derived NO,
        get |e| e.chain.as_ref().map(|l| l.hash.as_slice()), set |_e, _v| ();
    // Migration 0006 (compatible): message v2 and this wave's columns.
    /// The chain message version the row was hashed with; NULL on rows
    /// hashed before versions were recorded, which are message v1.
    chain_version: opt_int4, hashed None, fill Fill::Null, derived NO,
        get |e| e.chain.as_ref().map(|l| i32::from(l.version)), set |_e, _v| ();
    /// The provider's API for the serving attempt (`chat`, `messages`,
    /// `responses`, `embeddings`).
    upstream_api: opt_text, hashed V2, fill Fill::Null, derived NO,
        get |e| e.upstream_api.as_deref(), set |e, v| e.upstream_api = v.map(str::to_string);
    attempts: int4, hashed V2, fill Fill::Int(1), derived NO,
        get |e| e.attempts, set |e, v| e.attempts = v;
    /// Compact JSON: deployment and error label of each failed attempt.
    failed_attempts: opt_text, hashed V2, fill Fill::Null, derived NO,
        get |e| e.failed_attempts.as_deref(), set |e, v| e.failed_attempts = v.map(str::to_string);
    /// The model the client asked for, when a fallback served another.
    requested_model: opt_text, hashed V2, fill Fill::Null, derived NO,
        get |e| e.requested_model.as_deref(), set |e, v| e.requested_model = v.map(str::to_string);
    team_id: opt_int, hashed V2, fill Fill::Null, derived NO,
        get |e| e.team_id, set |e, v| e.team_id = v;
    cache: text, hashed V2, fill Fill::Text("none"), derived NO,
        get |e| e.cache.as_str(),
        set |e, v| e.cache = CacheStatus::parse(v).ok_or_else(|| bad(&e.request_id, "cache", v))?;
    saved_cost_nano: int, hashed V2, fill Fill::Int(0), derived NO,
        get |e| e.saved_cost_nano, set |e, v| e.saved_cost_nano = v;
}

impl Row<'_> {
    /// The chain link of a row whose link columns are all set. A hash of
    /// the wrong length reads as zeros, which matches nothing.
    pub fn link(&self) -> Option<Link> {
        let (Some(instance_id), Some(seq), Some(prev), Some(hash)) =
            (self.instance_id, self.seq, self.prev_hash, self.entry_hash)
        else {
            return None;
        };
        let hash_of = |b: &[u8]| -> Hash { b.try_into().unwrap_or_default() };
        Some(Link {
            instance_id: instance_id.to_string(),
            seq,
            prev_hash: hash_of(prev),
            hash: hash_of(hash),
            version: self.message_version(),
        })
    }

    /// The chain message version the row says it was hashed with.
    pub fn message_version(&self) -> u8 {
        self.chain_version
            .and_then(|v| u8::try_from(v).ok())
            .unwrap_or(1)
    }

    /// The five token counts in [`crate::ledger::Usage::counts`]'s order.
    pub fn token_counts(&self) -> [i64; 5] {
        [
            self.input_tokens,
            self.cached_input_tokens,
            self.cache_write_tokens,
            self.output_tokens,
            self.reasoning_tokens,
        ]
    }
}

/// The column named `name`.
pub fn column(name: &str) -> Option<&'static Column> {
    COLUMNS.iter().find(|c| c.name == name)
}

/// `request_id, created_at_us, …`: every column, for SQL.
pub fn list() -> &'static str {
    static LIST: LazyLock<String> = LazyLock::new(|| {
        COLUMNS
            .iter()
            .map(|c| c.name)
            .collect::<Vec<_>>()
            .join(", ")
    });
    &LIST
}

/// The export's column names: `id`, then every column with its derived
/// neighbours (`created_at`, `cost`) where they stand.
pub fn export_names() -> &'static [&'static str] {
    static NAMES: LazyLock<Vec<&'static str>> = LazyLock::new(|| {
        let mut names = vec!["id"];
        for c in &COLUMNS {
            match c.derived {
                Derived::TimeBefore(d) => names.extend([d, c.name]),
                Derived::DecimalAfter(d) => names.extend([c.name, d]),
                Derived::None => names.push(c.name),
            }
        }
        names
    });
    &NAMES
}

/// The one definition of an error row (docs/ledger.md): an error status,
/// or a stream that began 200 and then failed. A macro so that SQL built
/// with `concat!` says it too.
#[macro_export]
macro_rules! error_row_sql {
    () => {
        "(status_code >= 400 OR error_kind IS NOT NULL)"
    };
}

/// [`error_row_sql!`] as a constant.
pub const ERROR_ROW_SQL: &str = error_row_sql!();

/// [`ERROR_ROW_SQL`] for one row in memory.
pub fn is_error_row(status_code: i32, error_kind: Option<&str>) -> bool {
    status_code >= 400 || error_kind.is_some()
}
