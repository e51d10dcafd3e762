//! From what a `loadtest` caller chose to the [`Target`] it drives: the
//! URL (the configured gateway's when none is given), the body (a file, or
//! a chat request for the given model or, without one, the model
//! [`default_model`] picks) and the headers and key to send.

use std::path::PathBuf;

use super::{LoadError, ModelChoice, Target, body_file, chat_body, default_model, default_url};
use crate::config::Config;

/// Where the request body comes from.
#[derive(Debug, Clone, PartialEq)]
pub enum BodySource {
    /// A JSON file sent as it is (`stream` set to match the run).
    File(PathBuf),
    /// A one-message chat request; `model: None` asks [`default_model`].
    Chat {
        model: Option<String>,
        prompt: String,
    },
}

/// What to send, and where.
#[derive(Debug, Clone)]
pub struct Aim<'a> {
    /// The URL to POST to; `None`: the configured gateway's chat endpoint.
    pub url: Option<&'a str>,
    pub body: BodySource,
    /// `Name: value` headers.
    pub headers: &'a [String],
    pub api_key: Option<&'a str>,
    /// Accept any certificate of an `https://` target.
    pub insecure: bool,
    /// Ask for streamed answers.
    pub stream: bool,
}

/// The target of `aim`, and the model chosen for it when the caller named
/// none (to be said after the run, so an error before it stays one line).
pub async fn prepare(
    aim: &Aim<'_>,
    config: &Config,
) -> Result<(Target, Option<ModelChoice>), LoadError> {
    let url = match aim.url {
        Some(u) => u.to_string(),
        None => default_url(&config.server.listen),
    };
    let mut chosen = None;
    let body = match &aim.body {
        BodySource::File(p) => body_file(p, aim.stream)?,
        BodySource::Chat {
            model: Some(m),
            prompt,
        } => chat_body(m, prompt, aim.stream),
        BodySource::Chat {
            model: None,
            prompt,
        } => {
            let choice = default_model(&url, aim.api_key, aim.insecure, config).await?;
            let body = chat_body(&choice.model, prompt, aim.stream);
            chosen = Some(choice);
            body
        }
    };
    let target = Target::with_tls(&url, aim.headers, aim.api_key, body, aim.insecure)?;
    Ok((target, chosen))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_named_model_and_the_configured_address_need_no_request() {
        let mut config = Config::default();
        config.server.listen = "0.0.0.0:7001".into();
        config.models.clear();
        let aim = Aim {
            url: None,
            body: BodySource::Chat {
                model: Some("m1".into()),
                prompt: "hi".into(),
            },
            headers: &[],
            api_key: None,
            insecure: false,
            stream: false,
        };
        let (target, chosen) = prepare(&aim, &config).await.expect("a target");
        assert_eq!(chosen, None);
        assert_eq!(target.url, "http://127.0.0.1:7001/v1/chat/completions");
        assert_eq!(target.addr, "127.0.0.1:7001");
    }

    #[tokio::test]
    async fn a_missing_body_file_is_the_callers_error() {
        let dir = tempfile::tempdir().expect("a temp dir");
        let aim = Aim {
            url: Some("http://127.0.0.1:9/v1/chat/completions"),
            body: BodySource::File(dir.path().join("none.json")),
            headers: &[],
            api_key: None,
            insecure: false,
            stream: false,
        };
        let err = prepare(&aim, &Config::default())
            .await
            .expect_err("no file");
        assert!(err.is_usage());
        assert!(err.to_string().contains("none.json"), "{err}");
    }
}
