//! The target of a load run: address, request line, headers and body,
//! parsed and checked once so the workers only clone prepared parts. It does
//! not open connections (see `conn.rs`).

use bytes::Bytes;
use http::header::{CONTENT_TYPE, HOST, HeaderName, HeaderValue};
use http::{HeaderMap, Request};
use http_body_util::Full;

use super::LoadError;

/// A prepared POST target.
#[derive(Debug, Clone)]
pub struct Target {
    /// The URL as given, for reports.
    pub url: String,
    /// `host:port` to connect to.
    pub addr: String,
    path: String,
    headers: HeaderMap,
    body: Bytes,
}

impl Target {
    /// Parses `url` (only `http://`), and prepares `headers` (`Name: value`
    /// strings), an optional bearer `api_key` and the JSON `body`.
    pub fn new(
        url: &str,
        headers: &[String],
        api_key: Option<&str>,
        body: Bytes,
    ) -> Result<Target, LoadError> {
        let bad = |reason: &str| LoadError::BadUrl {
            url: url.to_string(),
            reason: reason.to_string(),
        };
        let parsed = url::Url::parse(url).map_err(|e| bad(&e.to_string()))?;
        if parsed.scheme() != "http" {
            return Err(bad("only http:// targets are supported"));
        }
        let host = parsed.host_str().ok_or_else(|| bad("no host"))?;
        let port = parsed.port_or_known_default().unwrap_or(80);
        let addr = format!("{host}:{port}");
        let mut path = parsed.path().to_string();
        if let Some(q) = parsed.query() {
            path = format!("{path}?{q}");
        }
        let mut map = HeaderMap::new();
        let host_value =
            HeaderValue::from_str(&addr).map_err(|_| bad("host is not a valid header"))?;
        map.insert(HOST, host_value);
        map.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        if let Some(k) = api_key {
            let v = HeaderValue::from_str(&format!("Bearer {k}"))
                .map_err(|_| LoadError::Plan("the API key is not a valid header value".into()))?;
            map.insert(http::header::AUTHORIZATION, v);
        }
        for h in headers {
            let (name, value) = h
                .split_once(':')
                .ok_or_else(|| LoadError::Plan(format!("header `{h}` is not `Name: value`")))?;
            let name = HeaderName::from_bytes(name.trim().as_bytes())
                .map_err(|_| LoadError::Plan(format!("bad header name in `{h}`")))?;
            let value = HeaderValue::from_str(value.trim())
                .map_err(|_| LoadError::Plan(format!("bad header value in `{h}`")))?;
            map.insert(name, value);
        }
        Ok(Target {
            url: url.to_string(),
            addr,
            path,
            headers: map,
            body,
        })
    }

    /// Bytes of the request body.
    pub fn body_len(&self) -> u64 {
        self.body.len() as u64
    }

    /// A fresh request (cheap: the body is reference-counted).
    pub(crate) fn request(&self) -> Request<Full<Bytes>> {
        let mut req = Request::new(Full::new(self.body.clone()));
        *req.method_mut() = http::Method::POST;
        if let Ok(uri) = self.path.parse() {
            *req.uri_mut() = uri;
        }
        *req.headers_mut() = self.headers.clone();
        req
    }
}

/// The default target: the configured gateway's chat completions endpoint
/// (a wildcard listen address is reached on loopback).
pub fn default_url(listen: &str) -> String {
    let addr = listen
        .replace("0.0.0.0", "127.0.0.1")
        .replace("[::]", "127.0.0.1");
    format!("http://{addr}/v1/chat/completions")
}
