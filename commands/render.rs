//! The one table style of every command, and numbers written for people.
//!
//! Tables fit the terminal: comfy-table's dynamic arrangement with the
//! terminal's real width, where a column is either an [`Col::Atom`] (an id,
//! a key prefix, a model name, a number, a time: never split, its column
//! is as wide as its widest value) or [`Col::Text`] (free text: shortened
//! to one line with an ellipsis when the width runs out). When stdout is not
//! a terminal, nothing wraps or shortens. Numbers here are for tables only;
//! JSON and CSV keep the raw integers.

use comfy_table::presets::UTF8_FULL_CONDENSED;
use comfy_table::{Cell, CellAlignment, ColumnConstraint, ContentArrangement, Row, Table, Width};

/// How a column may be fitted into the width.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Col {
    /// Never split: ids, prefixes, names of things, times, states.
    Atom,
    /// A number: never split, right-aligned.
    Num,
    /// Free text: shortened with an ellipsis on one line when too wide.
    Text,
}

/// A table in the house style whose columns know how they may be fitted.
pub struct Tab {
    table: Table,
    /// Text cells may take several lines (for reasons that must be read whole).
    wrap: bool,
}

impl Tab {
    /// A table with these columns, sized to stdout's terminal (none: no wrapping).
    pub fn new(cols: &[(&str, Col)]) -> Tab {
        let mut table = Table::new();
        table
            .load_preset(UTF8_FULL_CONDENSED)
            .set_content_arrangement(ContentArrangement::Dynamic)
            .set_truncation_indicator("…")
            .set_header(cols.iter().map(|(h, _)| *h));
        for (i, (_, kind)) in cols.iter().enumerate() {
            if let Some(c) = table.column_mut(i) {
                match kind {
                    Col::Atom => {
                        c.set_constraint(ColumnConstraint::ContentWidth);
                    }
                    Col::Num => {
                        c.set_constraint(ColumnConstraint::ContentWidth);
                        c.set_cell_alignment(CellAlignment::Right);
                    }
                    Col::Text => {
                        // Room for the header at least, so that it never wraps.
                        let w = header_width(cols[i].0);
                        c.set_constraint(ColumnConstraint::LowerBoundary(Width::Fixed(w)));
                    }
                }
            }
        }
        Tab { table, wrap: false }
    }

    /// Lets text cells wrap onto several lines instead of being shortened
    /// (atoms and numbers still never split).
    pub fn wrapping(mut self) -> Tab {
        self.wrap = true;
        self
    }

    /// Renders at a fixed width, as if on a terminal that wide (tests).
    #[cfg(test)]
    pub fn width(mut self, w: u16) -> Tab {
        self.table.set_width(w);
        self
    }

    /// Adds a row of plain texts.
    pub fn row<S: Into<String>>(&mut self, cells: impl IntoIterator<Item = S>) {
        self.cells(cells.into_iter().map(|s| Cell::new(s.into())));
    }

    /// Adds a row of styled cells; one line at most.
    pub fn cells(&mut self, cells: impl IntoIterator<Item = Cell>) {
        let mut row = Row::from(cells.into_iter().collect::<Vec<_>>());
        if !self.wrap {
            row.max_height(1);
        }
        self.table.add_row(row);
    }
}

impl std::fmt::Display for Tab {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.table.fmt(f)
    }
}

/// A text column's least width: its header (at least 6), plus the padding
/// comfy-table counts in a lower boundary.
fn header_width(h: &str) -> u16 {
    u16::try_from(h.chars().count().max(6) + 2).unwrap_or(u16::MAX)
}

/// Microseconds since the epoch as a short UTC time for tables
/// (`2026-11-23 01:00Z`); `-` for none.
pub fn time_us(us: Option<i64>) -> String {
    us.and_then(chrono::DateTime::from_timestamp_micros)
        .map_or_else(|| "-".into(), |t| t.format("%Y-%m-%d %H:%MZ").to_string())
}

/// `1234567` as `1,234,567`.
pub fn int(n: i64) -> String {
    let digits = n.unsigned_abs().to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3 + 1);
    if n < 0 {
        out.push('-');
    }
    for (i, ch) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(ch);
    }
    out
}

/// [`int`] of an unsigned count.
pub fn count(n: u64) -> String {
    int(i64::try_from(n).unwrap_or(i64::MAX))
}

/// Bytes in B, KiB, MiB, GiB or TiB, three significant figures.
pub fn bytes(n: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = n as f64;
    let mut unit = 0;
    while v >= 1024.0 && unit < UNITS.len() - 1 {
        v /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{n} B")
    } else {
        format!("{} {}", sig3(v), UNITS[unit])
    }
}

/// A value to three significant figures, without an exponent (`0.123`,
/// `12.3`, `123`, `1,235`).
pub fn sig3(v: f64) -> String {
    if !v.is_finite() {
        return "-".into();
    }
    let a = v.abs();
    if a >= 1000.0 {
        return int(v.round() as i64);
    }
    let decimals = if a == 0.0 {
        0
    } else {
        (2 - a.log10().floor() as i32).clamp(0, 9) as usize
    };
    let s = format!("{v:.decimals$}");
    // Rounding may have carried into a new digit (99.95 -> 100.0).
    match s.parse::<f64>() {
        Ok(r) if r.abs() >= 1000.0 => int(r.round() as i64),
        Ok(r) if decimals > 0 && r.abs() >= 10f64.powi(3 - decimals as i32) => {
            format!("{v:.prec$}", prec = decimals - 1)
        }
        _ => s,
    }
}

/// A latency in milliseconds, three significant figures with its unit.
pub fn latency_ms(ms: f64) -> String {
    if !ms.is_finite() {
        "-".into()
    } else if ms >= 1000.0 {
        format!("{} s", sig3(ms / 1000.0))
    } else if ms > 0.0 && ms < 1.0 {
        format!("{} µs", sig3(ms * 1000.0))
    } else {
        format!("{} ms", sig3(ms))
    }
}

/// Money kept in nano-units, with its currency: at least 2 and at most 6
/// decimals, enough for three significant figures (`12.50 USD`,
/// `0.000123 USD`).
pub fn money(nano: i64, currency: &str) -> String {
    let v = nano as f64 / 1e9;
    let a = v.abs();
    let decimals = if a == 0.0 || a >= 1.0 {
        2
    } else {
        (2 - a.log10().floor() as i32).clamp(2, 6) as usize
    };
    if a > 0.0 && a < 0.000_000_5 {
        return format!("<0.000001 {currency}");
    }
    let whole = v.trunc() as i64;
    let text = format!("{v:.decimals$}");
    let frac = text.split_once('.').map(|(_, f)| f).unwrap_or("");
    let sign = if v < 0.0 && whole == 0 { "-" } else { "" };
    let rounded_whole: i64 = text
        .split_once('.')
        .map(|(w, _)| w)
        .unwrap_or(&text)
        .parse()
        .unwrap_or(whole);
    format!("{sign}{}.{frac} {currency}", int(rounded_whole))
}

/// An optional number, or `-`.
pub fn opt<T: std::fmt::Display>(v: Option<T>) -> String {
    v.map_or_else(|| "-".into(), |v| v.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_for_people() {
        assert_eq!(int(0), "0");
        assert_eq!(int(999), "999");
        assert_eq!(int(1000), "1,000");
        assert_eq!(int(-1234567), "-1,234,567");
        assert_eq!(bytes(512), "512 B");
        assert_eq!(bytes(1536), "1.50 KiB");
        assert_eq!(bytes(16 << 20), "16.0 MiB");
        assert_eq!(sig3(0.12345), "0.123");
        assert_eq!(sig3(12.345), "12.3");
        assert_eq!(sig3(99.96), "100");
        assert_eq!(sig3(123.4), "123");
        assert_eq!(sig3(12345.0), "12,345");
        assert_eq!(latency_ms(0.5), "500 µs");
        assert_eq!(latency_ms(12.345), "12.3 ms");
        assert_eq!(latency_ms(1234.0), "1.23 s");
        assert_eq!(money(12_500_000_000, "USD"), "12.50 USD");
        assert_eq!(money(123_000, "USD"), "0.000123 USD");
        assert_eq!(money(45_678_900, "USD"), "0.0457 USD");
        assert_eq!(money(0, "EUR"), "0.00 EUR");
        assert_eq!(money(1_234_567_000_000, "USD"), "1,234.57 USD");
        assert_eq!(money(1, "USD"), "<0.000001 USD");
    }
}
