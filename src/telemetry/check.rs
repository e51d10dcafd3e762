//! What `tokctl health` does: ask a running gateway for its `/health` (or,
//! with `--direct`, [`crate::gateway::health::direct`] checks the
//! configured databases and providers from here), and
//! map the verdict to the Nagios exit codes monitoring tools expect; or,
//! for a container's `HEALTHCHECK`, only ask whether the process still
//! serves (`GET /livez`, [`live`]), which a degraded gateway does.
//! Rendering lives in commands/health.rs.

use std::time::Duration;

use super::health::{Report, Status};
use crate::config::Config;
use crate::errors::chain;

/// Nagios: OK.
pub const EXIT_HEALTHY: u8 = 0;
/// Nagios: WARNING.
pub const EXIT_DEGRADED: u8 = 1;
/// Nagios: CRITICAL.
pub const EXIT_UNHEALTHY: u8 = 2;
/// Nagios: UNKNOWN — unreachable server, bad answer, usage or config error.
pub const EXIT_UNKNOWN: u8 = 3;

/// The Nagios exit code of a verdict.
pub fn exit_code(status: Status) -> u8 {
    match status {
        Status::Healthy => EXIT_HEALTHY,
        Status::Degraded => EXIT_DEGRADED,
        Status::Unhealthy => EXIT_UNHEALTHY,
    }
}

/// Why no verdict could be had (all exit 3).
#[derive(Debug, thiserror::Error)]
pub enum CheckError {
    #[error("cannot reach the gateway at {url}: {cause}")]
    Unreachable { url: String, cause: String },
    #[error("the gateway at {url} answered {status} without a health report: {cause}")]
    BadAnswer {
        url: String,
        status: u16,
        cause: String,
    },
    #[error("cannot set up the HTTP client: {0}")]
    Client(String),
}

/// The gateway's address from `server.listen`, with a wildcard host
/// replaced by loopback.
pub fn default_url(c: &Config) -> String {
    let listen = &c.server.listen;
    let (host, port) = listen.rsplit_once(':').unwrap_or((listen.as_str(), "8081"));
    let host = match host {
        "" | "0.0.0.0" => "127.0.0.1",
        "[::]" => "[::1]",
        h => h,
    };
    format!("http://{host}:{port}")
}

/// `{base}{path}`, or `base` itself when it already ends in `path`.
fn endpoint(base: &str, path: &str) -> String {
    let base = base.trim_end_matches('/');
    if base.ends_with(path) {
        base.to_string()
    } else {
        format!("{base}{path}")
    }
}

fn client(timeout: Duration) -> Result<reqwest::Client, CheckError> {
    reqwest::Client::builder()
        .timeout(timeout)
        .build()
        .map_err(|e| CheckError::Client(e.to_string()))
}

/// `GET {base}/health` (a URL already ending in `/health` is used as is);
/// 200 and 503 both carry a report.
pub async fn fetch(base: &str, timeout: Duration) -> Result<Report, CheckError> {
    let url = endpoint(base, "/health");
    let client = client(timeout)?;
    let unreachable = |e: reqwest::Error| CheckError::Unreachable {
        url: url.clone(),
        cause: chain(&e),
    };
    let resp = client.get(&url).send().await.map_err(unreachable)?;
    let status = resp.status().as_u16();
    let body = resp.bytes().await.map_err(unreachable)?;
    serde_json::from_slice::<Report>(&body).map_err(|e| CheckError::BadAnswer {
        url: url.clone(),
        status,
        cause: e.to_string(),
    })
}

/// What `GET /livez` answered: the process serves, whatever its
/// components say. A liveness probe must not restart a gateway that is
/// only degraded (its ledger database down while the spool keeps every
/// entry), so this never looks at `/health`.
#[derive(Debug, Clone, PartialEq)]
pub struct Liveness {
    pub url: String,
    /// The HTTP status `/livez` answered.
    pub status: u16,
    pub latency_ms: f64,
}

impl Liveness {
    /// 0 (OK) when `/livez` answered 200; 2 (CRITICAL) for any other
    /// answer, e.g. something else listening on the port. Unreachable is
    /// [`CheckError`], exit 3. Container engines read every non-zero exit
    /// as unhealthy.
    pub fn exit_code(&self) -> u8 {
        if self.status == 200 {
            EXIT_HEALTHY
        } else {
            EXIT_UNHEALTHY
        }
    }
}

/// `GET {base}/livez` (a URL already ending in `/livez` is used as is).
pub async fn live(base: &str, timeout: Duration) -> Result<Liveness, CheckError> {
    let url = endpoint(base, "/livez");
    let client = client(timeout)?;
    let start = std::time::Instant::now();
    let resp = client
        .get(&url)
        .send()
        .await
        .map_err(|e| CheckError::Unreachable {
            url: url.clone(),
            cause: chain(&e),
        })?;
    Ok(Liveness {
        status: resp.status().as_u16(),
        latency_ms: start.elapsed().as_secs_f64() * 1000.0,
        url,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_url_uses_loopback_for_wildcards() {
        let mut c = Config::default();
        c.server.listen = "0.0.0.0:9000".into();
        assert_eq!(default_url(&c), "http://127.0.0.1:9000");
        c.server.listen = "10.1.2.3:80".into();
        assert_eq!(default_url(&c), "http://10.1.2.3:80");
    }

    #[test]
    fn endpoint_paths_are_appended_once() {
        assert_eq!(endpoint("http://h:1", "/livez"), "http://h:1/livez");
        assert_eq!(endpoint("http://h:1/", "/livez"), "http://h:1/livez");
        assert_eq!(endpoint("http://h:1/livez", "/livez"), "http://h:1/livez");
        assert_eq!(
            endpoint("http://h:1/health/", "/health"),
            "http://h:1/health"
        );
    }

    #[test]
    fn liveness_is_ok_only_on_200() {
        let l = |status| Liveness {
            url: String::new(),
            status,
            latency_ms: 1.0,
        };
        assert_eq!(l(200).exit_code(), EXIT_HEALTHY);
        assert_eq!(l(503).exit_code(), EXIT_UNHEALTHY);
        assert_eq!(l(404).exit_code(), EXIT_UNHEALTHY);
    }

    #[test]
    fn nagios_codes() {
        assert_eq!(exit_code(Status::Healthy), 0);
        assert_eq!(exit_code(Status::Degraded), 1);
        assert_eq!(exit_code(Status::Unhealthy), 2);
    }
}
