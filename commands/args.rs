//! Value parsers shared by the flags of every command: durations with
//! units (a bare number in the flag's documented unit), so `--timeout 2s`
//! and `--timeout 2` mean the same wherever a flag takes a duration.

use std::time::Duration;

use tokctl::config::duration::{BareUnit, parse};

/// A duration; a bare number is seconds.
pub fn seconds(s: &str) -> Result<Duration, String> {
    parse(s, BareUnit::Seconds)
}

/// A duration above zero; a bare number is seconds.
pub fn positive_seconds(s: &str) -> Result<Duration, String> {
    let d = seconds(s)?;
    if d.is_zero() {
        return Err(format!("`{s}` is zero; expected a duration above 0"));
    }
    Ok(d)
}

/// Whole milliseconds, from a duration; a bare number is milliseconds.
pub fn millis(s: &str) -> Result<u64, String> {
    let d = parse(s, BareUnit::Millis)?;
    u64::try_from(d.as_millis()).map_err(|_| format!("`{s}` is too long"))
}

/// Seconds as a fraction, from a duration; a bare number is seconds.
pub fn seconds_f64(s: &str) -> Result<f64, String> {
    seconds(s).map(|d| d.as_secs_f64())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn units_or_the_documented_bare_unit() {
        assert_eq!(seconds("2s"), Ok(Duration::from_secs(2)));
        assert_eq!(seconds("2"), Ok(Duration::from_secs(2)));
        assert_eq!(millis("1s"), Ok(1000));
        assert_eq!(millis("5"), Ok(5));
        assert_eq!(seconds_f64("500ms"), Ok(0.5));
        assert!(positive_seconds("0").is_err());
        assert!(seconds("later").is_err());
    }
}
