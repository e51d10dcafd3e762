//! Where a request carries its API key: `Authorization: Bearer <key>`
//! (OpenAI clients) or `x-api-key: <key>` (Anthropic clients).

use http::HeaderMap;
use http::header::AUTHORIZATION;

/// The key a request presents, if any.
///
/// `Authorization: Bearer` wins (the scheme is matched case-insensitively, as
/// RFC 9110 says); otherwise `x-api-key`. A header that is not visible ASCII
/// or is empty counts as absent, so the caller answers "missing" rather than
/// looking up garbage.
pub fn presented_key(headers: &HeaderMap) -> Option<&str> {
    let bearer = headers
        .get_all(AUTHORIZATION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find_map(|v| {
            let (scheme, rest) = v.trim().split_once(' ')?;
            scheme.eq_ignore_ascii_case("bearer").then(|| rest.trim())
        })
        .filter(|k| !k.is_empty());
    bearer.or_else(|| {
        headers
            .get("x-api-key")
            .and_then(|v| v.to_str().ok())
            .map(str::trim)
            .filter(|k| !k.is_empty())
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(*k, HeaderValue::from_static(v));
        }
        h
    }

    #[test]
    fn bearer_token() {
        let h = headers(&[("authorization", "Bearer tok_abc")]);
        assert_eq!(presented_key(&h), Some("tok_abc"));
        let h = headers(&[("authorization", "bearer   tok_abc  ")]);
        assert_eq!(presented_key(&h), Some("tok_abc"));
    }

    #[test]
    fn x_api_key() {
        let h = headers(&[("x-api-key", "tok_xyz")]);
        assert_eq!(presented_key(&h), Some("tok_xyz"));
    }

    #[test]
    fn bearer_wins_over_x_api_key() {
        let h = headers(&[("x-api-key", "tok_b"), ("authorization", "Bearer tok_a")]);
        assert_eq!(presented_key(&h), Some("tok_a"));
    }

    #[test]
    fn other_schemes_fall_back_to_x_api_key() {
        let h = headers(&[
            ("authorization", "Basic dXNlcjpwYXNz"),
            ("x-api-key", "tok_c"),
        ]);
        assert_eq!(presented_key(&h), Some("tok_c"));
        let h = headers(&[("authorization", "Basic dXNlcjpwYXNz")]);
        assert_eq!(presented_key(&h), None);
    }

    #[test]
    fn missing_or_empty() {
        assert_eq!(presented_key(&HeaderMap::new()), None);
        assert_eq!(
            presented_key(&headers(&[("authorization", "Bearer ")])),
            None
        );
        assert_eq!(
            presented_key(&headers(&[("authorization", "Bearer")])),
            None
        );
        assert_eq!(presented_key(&headers(&[("x-api-key", "")])), None);
    }
}
