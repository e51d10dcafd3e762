//! The one output flag every data-printing command shares:
//! `--format FORMAT` (the formats that command can write) and `--json`, the
//! same as `--format json`; and the writers for the machine formats. A
//! closed stdout is an error `main` treats as success.

use std::io::Write;

use crate::{Failure, exit};

/// The output formats of one command; the first is its default.
pub trait OutputFormat: clap::ValueEnum + Clone + Send + Sync + Default + 'static {
    /// `json`, which every command writes.
    fn json() -> Self;
}

/// Declares a set of formats: `formats!(Name { Default, Other, ... })`.
macro_rules! formats {
    ($(#[$m:meta])* $name:ident { $(#[$fm:meta])* $first:ident $(, $(#[$vm:meta])* $v:ident)* $(,)? }) => {
        $(#[$m])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
        pub enum $name {
            $(#[$fm])*
            #[default]
            $first,
            $($(#[$vm])* $v,)*
        }
        impl $crate::output::OutputFormat for $name {
            fn json() -> Self {
                $name::Json
            }
        }
        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                use clap::ValueEnum;
                match self.to_possible_value() {
                    Some(v) => f.write_str(v.get_name()),
                    None => Ok(()),
                }
            }
        }
    };
}
pub(crate) use formats;

formats!(
    /// A report: a table for people or JSON for scripts.
    Report { Table, Json }
);
formats!(
    /// A listing: a table, JSON (an array of objects) or CSV with a header.
    Listing { Table, Json, Csv }
);

/// `--format FORMAT` and its alias `--json`, flattened into each command.
#[derive(Debug, Clone, clap::Args)]
pub struct FormatArgs<F: OutputFormat> {
    /// Output format: the first listed (the default) is for people, the others for
    /// scripts (raw numbers).
    // No `default_value_t`: clap keeps a derived default in a static that
    // every instance of this generic struct would share.
    #[arg(long, value_name = "FORMAT", value_parser = clap::builder::EnumValueParser::<F>::new())]
    pub format: Option<F>,
    /// The same as --format json.
    #[arg(long, conflicts_with = "format")]
    pub json: bool,
}

impl<F: OutputFormat> FormatArgs<F> {
    /// The chosen format.
    pub fn get(&self) -> F {
        match (&self.format, self.json) {
            (_, true) => F::json(),
            (Some(f), false) => f.clone(),
            (None, false) => F::default(),
        }
    }
}

/// Writes text and a newline to stdout, flushed.
pub fn print(text: &str) -> Result<(), Failure> {
    let mut out = std::io::stdout().lock();
    writeln!(out, "{}", text.trim_end_matches('\n'))
        .and_then(|()| out.flush())
        .map_err(|e| Failure::stdout(&e, exit::FAILURE))
}

/// Writes a value as pretty JSON.
pub fn json<T: serde::Serialize + ?Sized>(value: &T) -> Result<(), Failure> {
    let text = serde_json::to_string_pretty(value)
        .map_err(|e| Failure::new(exit::FAILURE, format!("rendering JSON: {e}")))?;
    print(&text)
}

/// Writes RFC 4180 CSV with a header record.
pub fn csv<R, S>(header: &[&str], rows: impl IntoIterator<Item = R>) -> Result<(), Failure>
where
    R: IntoIterator<Item = S>,
    S: AsRef<[u8]>,
{
    let err = |e: csv::Error| Failure::new(exit::FAILURE, format!("writing CSV: {e}"));
    let mut w = csv::Writer::from_writer(std::io::stdout().lock());
    w.write_record(header).map_err(err)?;
    for r in rows {
        w.write_record(r).map_err(err)?;
    }
    w.flush()
        .map_err(|e| Failure::new(exit::FAILURE, format!("writing CSV: {e}")))
}
