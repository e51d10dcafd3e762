//! Rendering `tokctl tune`'s answer: a table (default), the TOML block, the
//! `export` lines or JSON.

use std::io::Write;

use tokctl::tune::measure::Measurement;
use tokctl::tune::{Reasoned, Recommendation, bytes::format_bytes, output};

use crate::render::{Col, Tab};
use crate::tune::Format;
use crate::{Failure, exit};

/// Prints the recommendation (and the measured one, when there is one).
pub fn print(
    format: Format,
    table: &Recommendation,
    measured: Option<&Recommendation>,
    m: Option<&Measurement>,
) -> Result<(), Failure> {
    let chosen = measured.unwrap_or(table);
    let mut out = String::new();
    match format {
        Format::Table => {
            if let Some(m) = m {
                out.push_str(&format!("{}\n", crate::tune_measure::samples(m)));
            }
            out.push_str(&format!("{}\n", values(table, measured)));
            for w in &chosen.warnings {
                out.push_str(&format!("warning: {w}\n"));
            }
        }
        Format::Toml => out = output::to_toml(chosen),
        Format::Env => out = output::to_env(chosen),
        Format::Json => {
            let v = serde_json::json!({
                "recommendation": chosen,
                "table": table,
                "measured": measured,
                "measurement": m,
            });
            out = serde_json::to_string_pretty(&v)
                .map_err(|e| Failure::new(exit::FAILURE, format!("rendering JSON: {e}")))?;
            out.push('\n');
        }
    }
    if format != Format::Table {
        for w in &chosen.warnings {
            eprintln!("warning: {w}");
        }
    }
    // One write, and a closed pipe is an error `main` treats as success.
    let mut stdout = std::io::stdout().lock();
    stdout
        .write_all(out.as_bytes())
        .and_then(|()| stdout.flush())
        .map_err(|e| Failure::stdout(&e, exit::FAILURE))
}

fn cell<T: std::fmt::Display>(r: &Reasoned<T>) -> String {
    match r.limited_by {
        Some(by) => format!("{} (limited by {by})", r.value),
        None => r.value.to_string(),
    }
}

pub fn values(t: &Recommendation, m: Option<&Recommendation>) -> Tab {
    fn rows(r: &Recommendation) -> Vec<(&'static str, String, &String)> {
        vec![
            (
                "ledger.async.batch_size",
                cell(&r.batch_size),
                &r.batch_size.reason,
            ),
            (
                "ledger.async.flush_ms",
                cell(&r.flush_ms),
                &r.flush_ms.reason,
            ),
            (
                "ledger.async.buffer_size",
                cell(&r.buffer_size),
                &r.buffer_size.reason,
            ),
            (
                "ledger.async.num_workers",
                cell(&r.num_workers),
                &r.num_workers.reason,
            ),
            (
                "db.max_open_conns",
                cell(&r.max_open_conns),
                &r.max_open_conns.reason,
            ),
            (
                "db.max_idle_conns",
                cell(&r.max_idle_conns),
                &r.max_idle_conns.reason,
            ),
            (
                "buffer memory at full",
                format_bytes(r.buffer_memory_bytes.value),
                &r.buffer_memory_bytes.reason,
            ),
            (
                "entries at risk on a crash",
                r.entries_at_risk.value.to_string(),
                &r.entries_at_risk.reason,
            ),
        ]
    }
    match m {
        None => {
            let mut out = Tab::new(&[
                ("setting", Col::Atom),
                ("value", Col::Atom),
                ("reason", Col::Text),
            ])
            .wrapping();
            for (k, v, why) in rows(t) {
                out.row([k.to_string(), v, why.clone()]);
            }
            out
        }
        Some(m) => {
            let mut out = Tab::new(&[
                ("setting", Col::Atom),
                ("table", Col::Atom),
                ("measured", Col::Atom),
                ("reason (measured)", Col::Text),
            ])
            .wrapping();
            for ((k, tv, _), (_, mv, why)) in rows(t).into_iter().zip(rows(m)) {
                out.row([k.to_string(), tv, mv, why.clone()]);
            }
            out
        }
    }
}
