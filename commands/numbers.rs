//! Numbers written for people, in tables and report lines: thousands
//! separators, bytes in binary units, three significant figures, latencies
//! and money with their units, times in short UTC. JSON and CSV keep the
//! raw numbers.

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
