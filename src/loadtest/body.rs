//! The request body and the run file: a chat completion body made from
//! `--model`/`--prompt` or read from `--body-file` (which must be JSON), and
//! the `--json` document (`RunFile`) that `loadtest compare` reads back. It
//! does not send anything.

use std::path::Path;

use bytes::Bytes;
use serde::{Deserialize, Serialize};

use super::stats::Report;
use super::{Plan, Stop};

/// Why a body or run file could not be used.
#[derive(Debug, thiserror::Error)]
pub enum BodyError {
    #[error("cannot read {path}")]
    Read {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{path} is not JSON")]
    NotJson {
        path: String,
        #[source]
        source: serde_json::Error,
    },
    #[error("{path} is not the JSON of `tokctl loadtest --json`")]
    NotRunFile {
        path: String,
        #[source]
        source: serde_json::Error,
    },
}

/// An OpenAI chat completion body; with `stream`, it asks for the usage chunk
/// so output tokens can be counted from it.
pub fn chat_body(model: &str, prompt: &str, stream: bool) -> Bytes {
    let mut v = serde_json::json!({
        "model": model,
        "messages": [{"role": "user", "content": prompt}],
    });
    if stream {
        set_stream(&mut v);
    }
    Bytes::from(v.to_string())
}

/// Reads a JSON body; with `stream`, sets `stream` and `stream_options.include_usage`.
pub fn body_file(path: &Path, stream: bool) -> Result<Bytes, BodyError> {
    let shown = path.display().to_string();
    let raw = std::fs::read(path).map_err(|source| BodyError::Read {
        path: shown.clone(),
        source,
    })?;
    let mut v: serde_json::Value =
        serde_json::from_slice(&raw).map_err(|source| BodyError::NotJson {
            path: shown,
            source,
        })?;
    if !stream {
        return Ok(Bytes::from(raw));
    }
    set_stream(&mut v);
    Ok(Bytes::from(v.to_string()))
}

fn set_stream(v: &mut serde_json::Value) {
    if let Some(o) = v.as_object_mut() {
        o.insert("stream".into(), true.into());
        o.insert(
            "stream_options".into(),
            serde_json::json!({"include_usage": true}),
        );
    }
}

/// What `--json` prints: stable fields, documented in docs/loadtest.md.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct RunFile {
    /// Format version of this document (1).
    pub version: u32,
    pub target: String,
    /// How the run was made; absent in files written before it existed.
    #[serde(default)]
    pub options: Option<RunOptions>,
    /// One entry per level (concurrency) run.
    pub runs: Vec<Report>,
}

/// The options a run was made with, so two run files can be told apart
/// (and `compare` can say when they differ).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct RunOptions {
    /// Levels asked for (`-c`).
    pub concurrency: Vec<usize>,
    /// Open-loop arrival rate per second; `null` for a closed loop.
    pub rate: Option<f64>,
    pub stream: bool,
    /// The `--slo` bounds as written; `null` without `--slo`.
    pub slo: Option<String>,
    pub warmup_s: f64,
    /// Measured time per level; `null` when `requests` is set.
    pub duration_s: Option<f64>,
    /// Measured requests per level; `null` when `duration_s` is set.
    pub requests: Option<u64>,
    pub timeout_s: f64,
    /// Load threads asked for (`-t`); `null`: one per core.
    pub threads: Option<usize>,
}

impl RunOptions {
    /// The options of `plan`.
    pub fn of(plan: &Plan) -> RunOptions {
        let (duration_s, requests) = match plan.stop {
            Stop::Duration(d) => (Some(d.as_secs_f64()), None),
            Stop::Requests(n) => (None, Some(n)),
        };
        RunOptions {
            concurrency: plan.concurrency.clone(),
            rate: plan.rate,
            stream: plan.stream,
            slo: (!plan.slo.is_empty()).then(|| plan.slo.text()),
            warmup_s: plan.warmup.as_secs_f64(),
            duration_s,
            requests,
            timeout_s: plan.timeout.as_secs_f64(),
            threads: plan.threads,
        }
    }
}

impl RunFile {
    /// The document for `reports` of a run of `plan`.
    pub fn new(plan: &Plan, reports: Vec<Report>) -> RunFile {
        RunFile {
            version: 1,
            target: plan.target.url.clone(),
            options: Some(RunOptions::of(plan)),
            runs: reports,
        }
    }

    /// Reads a run file written by `--json`.
    pub fn read(path: &Path) -> Result<RunFile, BodyError> {
        let shown = path.display().to_string();
        let raw = std::fs::read(path).map_err(|source| BodyError::Read {
            path: shown.clone(),
            source,
        })?;
        serde_json::from_slice(&raw).map_err(|source| BodyError::NotRunFile {
            path: shown,
            source,
        })
    }
}
