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

/// `--max-delay-ms`: a duration, a bare number being milliseconds; 1 ms to 1 hour.
pub fn max_delay_ms(s: &str) -> Result<u64, String> {
    let ms = millis(s)?;
    if !(1..=3_600_000).contains(&ms) {
        return Err(format!("`{s}` is outside 1ms..1h"));
    }
    Ok(ms)
}

/// A size with its unit (256MiB, 1GB).
pub fn bytes(s: &str) -> Result<u64, String> {
    tokctl::tune::parse_bytes(s)
        .ok_or_else(|| format!("`{s}` is not a size; expected e.g. 256MiB, 1GB"))
}

/// `--verify-override KEY=VALUE` (tune).
pub fn verify_override(s: &str) -> Result<tokctl::tune::verify::Override, String> {
    tokctl::tune::verify::parse_override(s).map_err(|e| e.to_string())
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
