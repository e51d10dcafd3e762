//! Where a provider's `base_url` points, and what the provider probe makes
//! of the answer it gets there.
//!
//! OpenAI's SDKs take a base URL with its version path
//! (`https://api.openai.com/v1`); Anthropic's take one without it
//! (`https://api.anthropic.com`) and add `/v1/messages` themselves. A
//! `kind = "anthropic"` provider accepts both: a base URL whose path does
//! not end in `/v1` gets it appended. The probe asks `GET {base}/models`
//! (free, and served by OpenAI, Anthropic and the OpenAI-compatible
//! servers), so that a base URL with a wrong path shows as such in
//! `/health` rather than as "reachable" while every request gets a 404.

use crate::config::ProviderKind;

/// The base URL requests are built on: no trailing `/`, and for Anthropic
/// always ending in `/v1`.
pub fn normalise(kind: ProviderKind, base_url: &str) -> String {
    let base = base_url.trim_end_matches('/');
    if kind != ProviderKind::Anthropic {
        return base.to_string();
    }
    let path_ends_in_v1 = url::Url::parse(base)
        .map(|u| u.path().trim_end_matches('/').ends_with("/v1"))
        .unwrap_or(true);
    if path_ends_in_v1 {
        base.to_string()
    } else {
        format!("{base}/v1")
    }
}

/// What the answer to `GET {base}/models` says about the provider's
/// configuration: `Ok` for anything that proves the API is there (even a
/// 400 or 429), `Err(message)` for a wrong base path (404) or a key the
/// upstream refuses (401, 403).
pub fn probe_verdict(status: u16, models_url: &str, key_env: &str) -> Result<(), String> {
    match status {
        404 => Err(format!(
            "wrong base path: GET {models_url} answered 404, so requests will too; base_url is \
             the API root with its version path (https://api.openai.com/v1; for kind = \
             \"anthropic\", https://api.anthropic.com with or without /v1)"
        )),
        401 | 403 => Err(format!(
            "reachable, but GET {models_url} answered {status}: the upstream refuses the API key{}",
            if key_env.is_empty() {
                " (api_key_env is empty: no key is sent)".to_string()
            } else {
                format!(" from ${key_env}")
            }
        )),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn anthropic_base_urls_are_accepted_with_or_without_v1() {
        let a = ProviderKind::Anthropic;
        assert_eq!(
            normalise(a, "https://api.anthropic.com"),
            "https://api.anthropic.com/v1"
        );
        assert_eq!(
            normalise(a, "https://api.anthropic.com/"),
            "https://api.anthropic.com/v1"
        );
        assert_eq!(
            normalise(a, "https://api.anthropic.com/v1/"),
            "https://api.anthropic.com/v1"
        );
        assert_eq!(
            normalise(a, "http://proxy:8/anthropic"),
            "http://proxy:8/anthropic/v1"
        );
        // OpenAI-compatible base URLs are taken as written.
        let o = ProviderKind::Openai;
        assert_eq!(normalise(o, "http://h:1/openai/"), "http://h:1/openai");
    }

    #[test]
    fn a_404_on_the_probe_is_a_wrong_base_path() {
        assert!(probe_verdict(404, "u", "K").is_err_and(|m| m.contains("wrong base path")));
        assert!(probe_verdict(401, "u", "K").is_err_and(|m| m.contains("$K")));
        assert!(probe_verdict(200, "u", "K").is_ok());
        assert!(probe_verdict(405, "u", "K").is_ok());
    }
}
