//! The target of a load run: address, request line, headers, body and (for
//! `https://`) TLS settings, parsed, checked and serialised once so the
//! workers only write its bytes. It does not open connections (see `conn.rs`).

use bytes::Bytes;
use http::HeaderMap;
use http::header::{CONTENT_TYPE, HOST, HeaderName, HeaderValue};

use super::LoadError;
use super::tls::Tls;

/// A prepared POST target.
#[derive(Debug, Clone)]
pub struct Target {
    /// The URL as given, for reports.
    pub url: String,
    /// `host:port` to connect to.
    pub addr: String,
    /// The whole request as sent: request line, headers, body. Every
    /// request of a run is the same, so it is made once.
    wire: Bytes,
    body_len: u64,
    /// `https://`: how to wrap each connection in TLS.
    tls: Option<Tls>,
}

impl Target {
    /// Parses `url` (`http://` or `https://`, the certificate verified
    /// against Mozilla's roots), and prepares `headers` (`Name: value`
    /// strings), an optional bearer `api_key` and the JSON `body`.
    pub fn new(
        url: &str,
        headers: &[String],
        api_key: Option<&str>,
        body: Bytes,
    ) -> Result<Target, LoadError> {
        Target::with_tls(url, headers, api_key, body, false)
    }

    /// [`Target::new`]; with `insecure`, an `https://` target's certificate
    /// is not verified (`--insecure`, for self-signed test servers).
    pub fn with_tls(
        url: &str,
        headers: &[String],
        api_key: Option<&str>,
        body: Bytes,
        insecure: bool,
    ) -> Result<Target, LoadError> {
        let bad = |reason: &str| LoadError::BadUrl {
            url: url.to_string(),
            reason: reason.to_string(),
        };
        let parsed = url::Url::parse(url).map_err(|e| bad(&e.to_string()))?;
        let https = match parsed.scheme() {
            "http" => false,
            "https" => true,
            _ => return Err(bad("only http:// and https:// targets are supported")),
        };
        let host = parsed.host_str().ok_or_else(|| bad("no host"))?;
        let tls = if https {
            Some(Tls::new(host, insecure).map_err(|e| bad(&e))?)
        } else {
            None
        };
        let port = parsed
            .port_or_known_default()
            .unwrap_or(if https { 443 } else { 80 });
        let addr = format!("{host}:{port}");
        let mut path = parsed.path().to_string();
        if let Some(q) = parsed.query() {
            path = format!("{path}?{q}");
        }
        let _: http::uri::PathAndQuery = path
            .parse()
            .map_err(|_| bad("the path is not a valid request target"))?;
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
        // A -H name replaces the built-in header of that name (Host,
        // Content-Type, Authorization); repeated -H of one name all go out,
        // in order, as curl sends them.
        let mut given: Vec<HeaderName> = Vec::new();
        for h in headers {
            let (name, value) = h
                .split_once(':')
                .ok_or_else(|| LoadError::Plan(format!("header `{h}` is not `Name: value`")))?;
            let name = HeaderName::from_bytes(name.trim().as_bytes())
                .map_err(|_| LoadError::Plan(format!("bad header name in `{h}`")))?;
            let value = HeaderValue::from_str(value.trim())
                .map_err(|_| LoadError::Plan(format!("bad header value in `{h}`")))?;
            if !given.contains(&name) {
                map.remove(&name);
                given.push(name.clone());
            }
            map.append(name, value);
        }
        // The length is the body's; a framing header from -H would lie.
        map.remove(http::header::CONTENT_LENGTH);
        map.remove(http::header::TRANSFER_ENCODING);
        let mut wire = Vec::with_capacity(256 + body.len());
        wire.extend_from_slice(b"POST ");
        wire.extend_from_slice(path.as_bytes());
        wire.extend_from_slice(b" HTTP/1.1\r\n");
        for (name, value) in &map {
            wire.extend_from_slice(name.as_str().as_bytes());
            wire.extend_from_slice(b": ");
            wire.extend_from_slice(value.as_bytes());
            wire.extend_from_slice(b"\r\n");
        }
        wire.extend_from_slice(format!("content-length: {}\r\n\r\n", body.len()).as_bytes());
        wire.extend_from_slice(&body);
        Ok(Target {
            url: url.to_string(),
            addr,
            wire: Bytes::from(wire),
            body_len: body.len() as u64,
            tls,
        })
    }

    /// Bytes of the request body.
    pub fn body_len(&self) -> u64 {
        self.body_len
    }

    /// The request's bytes on the wire.
    pub(crate) fn wire(&self) -> &[u8] {
        &self.wire
    }

    /// TLS settings of an `https://` target.
    pub(crate) fn tls(&self) -> Option<&Tls> {
        self.tls.as_ref()
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

#[cfg(test)]
mod tests {
    use super::*;

    fn head(t: &Target) -> String {
        String::from_utf8_lossy(t.wire()).into_owned()
    }

    #[test]
    fn repeated_headers_are_all_sent_and_replace_defaults() {
        let headers = [
            "X-Tag: one".to_string(),
            "x-tag: two".to_string(),
            "Content-Type: application/x-ndjson".to_string(),
        ];
        let t = Target::new(
            "http://127.0.0.1:9/v1",
            &headers,
            None,
            Bytes::from_static(b"{}"),
        )
        .expect("valid target");
        let h = head(&t);
        assert!(
            h.contains("x-tag: one\r\n") && h.contains("x-tag: two\r\n"),
            "{h}"
        );
        assert_eq!(h.matches("content-type:").count(), 1, "{h}");
        assert!(h.contains("content-type: application/x-ndjson\r\n"), "{h}");
    }
}
