//! Spend budgets as the identity tables store them (#34): the four
//! `budget_*` columns of `api_keys`, `users` and `teams`, the parsing of the
//! `--budget`, `--budget-window` and `--budget-soft` flags into them, their
//! display, and their conversion into the [`Budget`]s a looked-up key
//! carries. Enforcement is in `crate::budget`; writing a change is in
//! [`super::budget_set`].
//!
//! Amounts are parsed from their decimal text into nano-units exactly (no
//! float in between), so `0.1` is 100 000 000 nano and never 99 999 999.

use std::time::Duration;

use sqlx::FromRow;

use super::IdentityError;
use super::access::Scope;
use crate::budget::{Budget, Window};

/// Nano-units per unit of the ledger's currency.
pub const NANO_PER_UNIT: i64 = 1_000_000_000;

/// The largest budget accepted, in units: far above any real one, and far
/// below what would overflow spend sums in nano-units.
pub const MAX_UNITS: i64 = 1_000_000_000;

/// The window a budget gets when `--budget` comes without `--budget-window`.
pub const DEFAULT_WINDOW: &str = "monthly";

/// The budget columns of one row; all `None` when no budget is set.
/// `budget_nano` decides whether there is one.
#[derive(Debug, Clone, Default, PartialEq, Eq, FromRow, serde::Serialize)]
pub struct BudgetColumns {
    pub budget_nano: Option<i64>,
    pub budget_window: Option<String>,
    pub budget_soft_percent: Option<i32>,
    pub budget_anchor_us: Option<i64>,
}

impl BudgetColumns {
    /// `50.00/monthly (soft 80%)`, or `None` when no budget is set.
    pub fn describe(&self) -> Option<String> {
        let nano = self.budget_nano?;
        let window = self.budget_window.as_deref().unwrap_or(DEFAULT_WINDOW);
        let soft = self
            .budget_soft_percent
            .map_or(String::new(), |p| format!(" (soft {p}%)"));
        Some(format!("{}/{window}{soft}", format_amount(nano)))
    }

    /// The budget these columns hold, for `scope` and `id`; `None` when
    /// none is set, and (with a warning) when the stored window cannot be
    /// read, which only a hand-edited row or a newer binary could cause.
    pub fn budget(&self, scope: Scope, id: i64) -> Option<Budget> {
        let limit_nano = self.budget_nano?;
        let text = self.budget_window.as_deref().unwrap_or(DEFAULT_WINDOW);
        let window = match text.parse::<Window>() {
            Ok(w) => w,
            Err(e) => {
                tracing::warn!(
                    scope = scope.as_str(),
                    id,
                    "{e}; this budget is not enforced"
                );
                return None;
            }
        };
        let soft_percent = self
            .budget_soft_percent
            .and_then(|p| u8::try_from(p).ok())
            .filter(|p| (1..=100).contains(p));
        Some(Budget {
            scope,
            id,
            limit_nano,
            window,
            anchor_us: self.budget_anchor_us.unwrap_or(0),
            soft_percent,
        })
    }
}

/// The budgets of a key, its user and the user's team that are set, in
/// that order; `None` when none is (the common case, free on the hot path).
pub fn compile(
    levels: [(Scope, Option<i64>, BudgetColumns); 3],
) -> Option<std::sync::Arc<[Budget]>> {
    let budgets: Vec<Budget> = levels
        .iter()
        .filter_map(|(scope, id, cols)| cols.budget(*scope, (*id)?))
        .collect();
    (!budgets.is_empty()).then(|| budgets.into())
}

/// An amount in nano-units as text: at least two decimals, more when the
/// amount has them (`50.00`, `0.50`, `12.345`).
pub fn format_amount(nano: i64) -> String {
    let sign = if nano < 0 { "-" } else { "" };
    let n = nano.unsigned_abs();
    let per = NANO_PER_UNIT.unsigned_abs();
    let frac = format!("{:09}", n % per);
    let frac = frac.trim_end_matches('0');
    let frac = if frac.len() < 2 {
        format!("{frac:0<2}")
    } else {
        frac.to_string()
    };
    format!("{sign}{}.{frac}", n / per)
}

fn invalid(flag: &'static str, value: &str, reason: impl Into<String>) -> IdentityError {
    IdentityError::InvalidBudget {
        flag,
        value: value.to_string(),
        reason: reason.into(),
    }
}

/// Parses `--budget`: a decimal amount of the ledger's currency (`50`,
/// `0.50`, `12.345`) into nano-units, exactly. Refuses signs, exponents,
/// more than nine decimals and more than [`MAX_UNITS`].
pub fn parse_amount(text: &str) -> Result<i64, IdentityError> {
    const FLAG: &str = "--budget";
    let t = text.trim();
    let example = "type an amount of the ledger's currency such as 50, 0.50 or 12.345";
    if t.starts_with('-') {
        return Err(invalid(
            FLAG,
            text,
            format!("a budget cannot be negative; {example}"),
        ));
    }
    let (int, frac) = t.split_once('.').unwrap_or((t, ""));
    let digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    if (int.is_empty() && frac.is_empty()) || !digits(int) || !digits(frac) {
        return Err(invalid(FLAG, text, format!("not a number; {example}")));
    }
    if frac.len() > 9 {
        return Err(invalid(
            FLAG,
            text,
            "more than 9 decimals (the ledger counts in billionths)",
        ));
    }
    let int = int.trim_start_matches('0');
    let units: i64 = if int.is_empty() {
        0
    } else if int.len() > 10 {
        i64::MAX
    } else {
        int.parse().unwrap_or(i64::MAX)
    };
    if units > MAX_UNITS {
        return Err(invalid(
            FLAG,
            text,
            format!("larger than the most accepted, {MAX_UNITS}"),
        ));
    }
    let frac_nano: i64 = format!("{frac:0<9}").parse().unwrap_or(0);
    Ok(units * NANO_PER_UNIT + frac_nano)
}

/// Parses `--budget-window` into its stored form: `daily`, `weekly`,
/// `monthly`, or a duration in its largest whole unit (`2w` is `14d`,
/// `90m` stays `90m`, `3600s` is `1h`).
pub fn parse_window(text: &str) -> Result<String, IdentityError> {
    const FLAG: &str = "--budget-window";
    let window: Window = text.parse().map_err(|e| {
        let reason = match e {
            crate::budget::WindowError::TooShort(_) => "shorter than one second",
            _ => "expected daily, weekly, monthly or a duration (30d, 12h, 90m, 30s)",
        };
        invalid(FLAG, text, reason)
    })?;
    match window {
        Window::Daily => Ok("daily".into()),
        Window::Weekly => Ok("weekly".into()),
        Window::Monthly => Ok("monthly".into()),
        Window::Every(d) => duration_text(d).ok_or_else(|| {
            invalid(
                FLAG,
                text,
                "a duration window takes whole seconds (30d, 12h, 90m, 30s)",
            )
        }),
    }
}

fn duration_text(d: Duration) -> Option<String> {
    if d.subsec_nanos() != 0 {
        return None;
    }
    let s = d.as_secs();
    let (n, unit) = [(86_400, "d"), (3_600, "h"), (60, "m"), (1, "s")]
        .into_iter()
        .find(|(len, _)| s.is_multiple_of(*len))
        .map(|(len, unit)| (s / len, unit))?;
    Some(format!("{n}{unit}"))
}

/// Parses `--budget-soft`: a whole percent from 1 to 100; `''` is `None`
/// (no soft threshold).
pub fn parse_soft(text: &str) -> Result<Option<u8>, IdentityError> {
    let t = text.trim().trim_end_matches('%');
    if t.is_empty() {
        return Ok(None);
    }
    match t.parse::<u8>() {
        Ok(p) if (1..=100).contains(&p) => Ok(Some(p)),
        _ => Err(invalid(
            "--budget-soft",
            text,
            "expected a whole percent from 1 to 100 (e.g. 80), or '' for none",
        )),
    }
}

#[cfg(test)]
#[path = "budgets_tests.rs"]
mod tests;
