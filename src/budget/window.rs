//! Budget windows: when a budget's spend starts counting again.
//!
//! Calendar windows (`daily`, `weekly`, `monthly`) begin at midnight, on
//! Monday and on the 1st in `budgets.timezone`, so "monthly" means what a
//! finance team means by it, not 30 days from whenever the gateway started.
//! A duration (`30d`, `1h`, `5s`) is a fixed-length period counted from an
//! anchor (the budget's creation): it resets at anchor + k × length, which
//! is what users of other gateways' `budget_duration` expect, and is cheap —
//! one period of spend, not a sliding sum of every request's time.

use std::time::Duration;

use chrono::{DateTime, Datelike, Days, LocalResult, Months, NaiveDate, TimeZone};
use chrono_tz::Tz;

/// How often a budget's spend resets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Window {
    Daily,
    Weekly,
    Monthly,
    /// Fixed-length periods from the budget's anchor.
    Every(Duration),
}

/// The period a moment falls in: spend in it counts against the budget
/// until `reset_us` (both microseconds since the epoch, `start` inclusive).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Period {
    pub start_us: i64,
    pub reset_us: i64,
}

/// Why a window or a time zone was refused; the message names the value
/// and the accepted forms.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum WindowError {
    #[error(
        "budget window `{0}` is neither daily, weekly, monthly nor a duration (30d, 12h, 90m, 30s)"
    )]
    Unknown(String),
    #[error("budget window `{0}` is shorter than one second")]
    TooShort(String),
    #[error("time zone `{0}` is not an IANA name (UTC, Europe/Paris, America/New_York)")]
    TimeZone(String),
}

impl std::str::FromStr for Window {
    type Err = WindowError;

    fn from_str(text: &str) -> Result<Window, WindowError> {
        let t = text.trim();
        match t.to_ascii_lowercase().as_str() {
            "daily" => return Ok(Window::Daily),
            "weekly" => return Ok(Window::Weekly),
            "monthly" => return Ok(Window::Monthly),
            _ => {}
        }
        let d = humantime::parse_duration(t).map_err(|_| WindowError::Unknown(text.into()))?;
        if d < Duration::from_secs(1) {
            return Err(WindowError::TooShort(text.into()));
        }
        Ok(Window::Every(d))
    }
}

/// Parses `budgets.timezone`.
pub fn time_zone(name: &str) -> Result<Tz, WindowError> {
    name.trim()
        .parse::<Tz>()
        .map_err(|_| WindowError::TimeZone(name.into()))
}

impl Window {
    /// The period `now_us` falls in. `anchor_us` (the budget's creation)
    /// places the periods of a duration window; calendar windows ignore it.
    pub fn period(self, now_us: i64, anchor_us: i64, tz: Tz) -> Period {
        match self {
            Window::Every(d) => {
                let len = i64::try_from(d.as_micros()).unwrap_or(i64::MAX).max(1);
                let k = (now_us - anchor_us).div_euclid(len);
                let start_us = anchor_us.saturating_add(k.saturating_mul(len));
                Period {
                    start_us,
                    reset_us: start_us.saturating_add(len),
                }
            }
            calendar => {
                let now = DateTime::from_timestamp_micros(now_us)
                    .unwrap_or_default()
                    .with_timezone(&tz);
                let today = now.date_naive();
                let (first, next) = match calendar {
                    Window::Daily => (today, today.checked_add_days(Days::new(1))),
                    Window::Weekly => {
                        let monday =
                            today - Days::new(u64::from(today.weekday().num_days_from_monday()));
                        (monday, monday.checked_add_days(Days::new(7)))
                    }
                    _ => {
                        let first = today.with_day(1).unwrap_or(today);
                        (first, first.checked_add_months(Months::new(1)))
                    }
                };
                Period {
                    start_us: midnight_us(first, tz),
                    reset_us: next.map_or(i64::MAX, |n| midnight_us(n, tz)),
                }
            }
        }
    }
}

/// The first moment of `day` in `tz`. Where midnight does not exist (a DST
/// change at 00:00, as in some American zones) the day starts at the first
/// hour that does; where it exists twice, at the earlier.
fn midnight_us(day: NaiveDate, tz: Tz) -> i64 {
    for hour in 0..24 {
        let Some(local) = day.and_hms_opt(hour, 0, 0) else {
            continue;
        };
        match tz.from_local_datetime(&local) {
            LocalResult::Single(t) => return t.timestamp_micros(),
            LocalResult::Ambiguous(early, _) => return early.timestamp_micros(),
            LocalResult::None => continue,
        }
    }
    day.and_hms_opt(0, 0, 0)
        .map_or(0, |t| t.and_utc().timestamp_micros())
}
