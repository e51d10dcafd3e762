//! Sizes in bytes: parsing `256MiB`-style budgets, and the measured size of
//! a representative ledger [`Entry`] for the buffer's memory estimate.

use crate::ledger::{Entry, TokenSource, Usage};

/// Parses `1048576`, `512KiB`, `256MiB`, `1GiB`, `10MB` (SI: powers of
/// 1000; IEC: powers of 1024). `None` when the text is not a size.
pub fn parse_bytes(text: &str) -> Option<u64> {
    let t = text.trim();
    let split = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let n: f64 = num.parse().ok()?;
    let mult: f64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1.0,
        "k" | "kb" => 1e3,
        "m" | "mb" => 1e6,
        "g" | "gb" => 1e9,
        "t" | "tb" => 1e12,
        "kib" => 1024.0,
        "mib" => 1024.0 * 1024.0,
        "gib" => 1024.0 * 1024.0 * 1024.0,
        "tib" => 1024.0 * 1024.0 * 1024.0 * 1024.0,
        _ => return None,
    };
    let v = n * mult;
    (v.is_finite() && v >= 0.0 && v < u64::MAX as f64).then_some(v.round() as u64)
}

/// Human form of a byte count in IEC units (`12.3 MiB`).
pub fn format_bytes(n: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = n as f64;
    let mut i = 0;
    while v >= 1024.0 && i + 1 < UNITS.len() {
        v /= 1024.0;
        i += 1;
    }
    if i == 0 {
        format!("{n} B")
    } else {
        format!("{v:.1} {}", UNITS[i])
    }
}

/// A typical successful chat completion as the gateway records it: UUIDv7
/// request id, an upstream id, a user name, a model routed to itself.
pub fn representative_entry() -> Entry {
    Entry {
        request_id: "019a5f3c-7b2e-7c41-9d0e-3f6a1b2c4d5e".into(),
        created_at_us: 1_763_900_000_000_000,
        client_request_id: None,
        upstream_request_id: Some("chatcmpl-AbCdEfGhIjKlMnOpQrStUvWxYz012".into()),
        user_id: Some(1),
        user_name: Some("alice".into()),
        api_key_id: Some(1),
        endpoint: "/v1/chat/completions".into(),
        model: "gpt-4o-mini".into(),
        provider: "openai".into(),
        upstream_model: Some("gpt-4o-mini".into()),
        usage: Usage {
            input_tokens: 512,
            cached_input_tokens: 0,
            cache_write_tokens: 0,
            output_tokens: 256,
            reasoning_tokens: 0,
        },
        token_source: TokenSource::Provider,
        cost_nano: 230_400,
        latency_us: 850_000,
        upstream_latency_us: Some(840_000),
        ttft_us: None,
        overhead_us: Some(10_000),
        status_code: 200,
        streamed: false,
        error_kind: None,
        error_message: None,
        upstream_api: Some("chat".into()),
        ..Entry::default()
    }
}

/// Bytes one buffered entry holds: the struct itself (what a channel slot
/// stores) plus the heap capacity of each of its strings, for
/// [`representative_entry`]. Allocator overhead is not counted; longer
/// model names or error messages make real entries larger, so pass
/// `--entry-bytes` for unusual traffic.
pub fn representative_entry_bytes() -> u64 {
    let e = representative_entry();
    let opt = |s: &Option<String>| s.as_ref().map_or(0, String::capacity);
    let heap = e.request_id.capacity()
        + e.endpoint.capacity()
        + e.model.capacity()
        + e.provider.capacity()
        + opt(&e.client_request_id)
        + opt(&e.upstream_request_id)
        + opt(&e.user_name)
        + opt(&e.upstream_model)
        + opt(&e.error_kind)
        + opt(&e.error_message)
        + opt(&e.upstream_api)
        + opt(&e.failed_attempts)
        + opt(&e.requested_model);
    (std::mem::size_of::<Entry>() + heap) as u64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_parse_in_si_and_iec_units() {
        assert_eq!(parse_bytes("256MiB"), Some(256 * 1024 * 1024));
        assert_eq!(parse_bytes("10 MB"), Some(10_000_000));
        assert_eq!(parse_bytes("4096"), Some(4096));
        assert_eq!(parse_bytes("1.5KiB"), Some(1536));
        assert_eq!(parse_bytes("lots"), None);
        assert_eq!(parse_bytes("12 furlongs"), None);
        assert_eq!(parse_bytes("-5MiB"), None);
    }

    #[test]
    fn an_entry_is_the_struct_plus_its_strings() {
        let n = representative_entry_bytes();
        assert!(n > std::mem::size_of::<Entry>() as u64 + 100, "{n}");
        assert!(n < 2048, "{n}");
        assert_eq!(format_bytes(1536), "1.5 KiB");
        assert_eq!(format_bytes(12), "12 B");
    }
}
