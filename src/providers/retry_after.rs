//! How long an upstream asks to be left alone, read from its answer's
//! headers: `retry-after-ms` (OpenAI), `retry-after` (seconds or an HTTP
//! date), OpenAI's `x-ratelimit-reset-requests` / `-tokens` (`1s`,
//! `6m0s`, `20ms`) and Anthropic's `anthropic-ratelimit-*-reset` (RFC 3339).
//! Routing cools a deployment down for that long after a 429.

use std::time::{Duration, SystemTime};

use http::HeaderMap;

/// The wait the headers ask for, the longest of those given; `None` when
/// none is given or readable.
pub fn from_headers(h: &HeaderMap) -> Option<Duration> {
    let text = |name: &str| h.get(name).and_then(|v| v.to_str().ok()).map(str::trim);
    let mut waits = Vec::new();
    if let Some(ms) = text("retry-after-ms").and_then(|v| v.parse::<f64>().ok()) {
        waits.push(secs(ms / 1000.0));
    }
    if let Some(v) = text("retry-after") {
        if let Ok(s) = v.parse::<f64>() {
            waits.push(secs(s));
        } else if let Ok(at) = httpdate::parse_http_date(v) {
            waits.push(until(at));
        }
    }
    for name in ["x-ratelimit-reset-requests", "x-ratelimit-reset-tokens"] {
        if let Some(d) = text(name).and_then(go_duration) {
            waits.push(d);
        }
    }
    for name in [
        "anthropic-ratelimit-requests-reset",
        "anthropic-ratelimit-tokens-reset",
        "anthropic-ratelimit-input-tokens-reset",
        "anthropic-ratelimit-output-tokens-reset",
    ] {
        if let Some(at) = text(name).and_then(|v| humantime::parse_rfc3339_weak(v).ok()) {
            waits.push(until(at));
        }
    }
    waits.into_iter().max()
}

fn secs(s: f64) -> Duration {
    if s.is_finite() && s > 0.0 {
        Duration::from_secs_f64(s.min(86_400.0))
    } else {
        Duration::ZERO
    }
}

fn until(at: SystemTime) -> Duration {
    at.duration_since(SystemTime::now()).unwrap_or_default()
}

/// A Go-style duration as OpenAI sends it: `1s`, `6m0s`, `20ms`, `1h2m3.5s`.
fn go_duration(v: &str) -> Option<Duration> {
    let mut total = 0.0;
    let mut rest = v;
    if rest.is_empty() {
        return None;
    }
    while !rest.is_empty() {
        let n = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .filter(|n| *n > 0)?;
        let value: f64 = rest[..n].parse().ok()?;
        rest = &rest[n..];
        let unit = rest
            .find(|c: char| c.is_ascii_digit())
            .unwrap_or(rest.len());
        total += value
            * match &rest[..unit] {
                "h" => 3600.0,
                "m" => 60.0,
                "s" => 1.0,
                "ms" => 0.001,
                _ => return None,
            };
        rest = &rest[unit..];
    }
    Some(secs(total))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(*k, v.parse().expect("value"));
        }
        h
    }

    #[test]
    fn each_header_form_is_read_and_the_longest_wins() {
        assert_eq!(from_headers(&headers(&[])), None);
        assert_eq!(
            from_headers(&headers(&[("retry-after", "2")])),
            Some(Duration::from_secs(2))
        );
        assert_eq!(
            from_headers(&headers(&[("retry-after-ms", "250")])),
            Some(Duration::from_millis(250))
        );
        assert_eq!(
            from_headers(&headers(&[("x-ratelimit-reset-requests", "6m0s")])),
            Some(Duration::from_secs(360))
        );
        assert_eq!(
            from_headers(&headers(&[
                ("x-ratelimit-reset-tokens", "20ms"),
                ("retry-after", "1")
            ])),
            Some(Duration::from_secs(1))
        );
        let later = humantime::format_rfc3339(SystemTime::now() + Duration::from_secs(30));
        let d = from_headers(&headers(&[(
            "anthropic-ratelimit-requests-reset",
            &later.to_string(),
        )]))
        .expect("read");
        assert!(
            d > Duration::from_secs(28) && d <= Duration::from_secs(30),
            "{d:?}"
        );
        assert_eq!(from_headers(&headers(&[("retry-after", "soon")])), None);
        assert_eq!(
            go_duration("1h2m3.5s"),
            Some(Duration::from_secs_f64(3723.5))
        );
        assert_eq!(go_duration("5x"), None);
    }
}
