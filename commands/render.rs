//! The one table style of every command, and numbers written for people.
//!
//! Tables fit the terminal: comfy-table's dynamic arrangement with the
//! terminal's real width, where a column is either an [`Col::Atom`] (an id,
//! a key prefix, a model name, a number, a time: never split, its column
//! is as wide as its widest value) or [`Col::Text`] (free text: shortened
//! to one line with an ellipsis when the width runs out). When stdout is not
//! a terminal, nothing wraps or shortens. The numbers in the cells are
//! written by [`crate::numbers`].

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

pub use crate::numbers::{bytes, count, int, latency_ms, money, opt, sig3, time_us};
