//! What a run measured: the per-worker recorder (HDR histograms in
//! microseconds, 3 significant figures, merged with `add`) and the
//! serialisable [`Report`] made from the merged recorders. It does not send
//! requests or decide verdicts.

use std::collections::BTreeMap;
use std::time::Duration;

use hdrhistogram::Histogram;
use serde::{Deserialize, Serialize};

/// Why a request got no HTTP answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// The TCP connection or HTTP handshake failed.
    Connect,
    /// No complete answer within `--timeout`.
    Timeout,
    /// The connection was reset or closed mid-exchange.
    Reset,
    /// Anything else (malformed answer…).
    Other,
}

impl ErrorKind {
    /// The stable label used in reports and JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorKind::Connect => "connect",
            ErrorKind::Timeout => "timeout",
            ErrorKind::Reset => "reset",
            ErrorKind::Other => "other",
        }
    }
}

/// A histogram of microseconds from 1 µs to one hour, 3 significant figures.
pub fn histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 3_600_000_000, 3).expect("constant bounds are valid")
}

/// Per-second latency histograms of one level: (seconds since its start, histogram in µs).
pub type Seconds = Vec<(f64, Histogram<u64>)>;

/// One worker's measurements; merged into [`Results`] at the end.
pub struct Recorder {
    pub latency: Histogram<u64>,
    pub service: Histogram<u64>,
    pub behind: Histogram<u64>,
    pub ttft: Histogram<u64>,
    pub itl: Histogram<u64>,
    /// Per-request output tokens per second, in thousandths.
    pub tokens_per_s: Histogram<u64>,
    /// This second's latencies (taken by the sampler once a second).
    pub interval: Histogram<u64>,
    pub interval_count: u64,
    pub interval_failed: u64,
    pub status: BTreeMap<u16, u64>,
    pub errors: BTreeMap<&'static str, u64>,
    pub ok: u64,
    pub failed: u64,
    pub bytes_in: u64,
    pub bytes_out: u64,
    pub slo_met: u64,
    pub tokens: u64,
    pub with_usage: u64,
    pub chunks: u64,
    /// Measured requests sent or due that had no outcome when the level
    /// stopped (in flight at Ctrl-C; open loop: due and never sent).
    pub interrupted: u64,
}

impl Default for Recorder {
    fn default() -> Self {
        Recorder {
            latency: histogram(),
            service: histogram(),
            behind: histogram(),
            ttft: histogram(),
            itl: histogram(),
            tokens_per_s: histogram(),
            interval: histogram(),
            interval_count: 0,
            interval_failed: 0,
            status: BTreeMap::new(),
            errors: BTreeMap::new(),
            ok: 0,
            failed: 0,
            bytes_in: 0,
            bytes_out: 0,
            slo_met: 0,
            tokens: 0,
            with_usage: 0,
            chunks: 0,
            interrupted: 0,
        }
    }
}

/// Merged measurements of one level, before summarising.
pub type Results = Recorder;

impl Recorder {
    /// Adds `other` into `self` (histograms with `add`).
    pub fn merge(&mut self, other: &Recorder) {
        let pairs = [
            (&mut self.latency, &other.latency),
            (&mut self.service, &other.service),
            (&mut self.behind, &other.behind),
            (&mut self.ttft, &other.ttft),
            (&mut self.itl, &other.itl),
            (&mut self.tokens_per_s, &other.tokens_per_s),
        ];
        for (a, b) in pairs {
            // Same bounds everywhere, so `add` cannot fail; saturate if it did.
            let _ = a.add(b);
        }
        for (k, v) in &other.status {
            *self.status.entry(*k).or_default() += v;
        }
        for (k, v) in &other.errors {
            *self.errors.entry(k).or_default() += v;
        }
        self.ok += other.ok;
        self.failed += other.failed;
        self.bytes_in += other.bytes_in;
        self.bytes_out += other.bytes_out;
        self.slo_met += other.slo_met;
        self.tokens += other.tokens;
        self.with_usage += other.with_usage;
        self.chunks += other.chunks;
        self.interrupted += other.interrupted;
    }
}

/// Quantiles of one histogram, in milliseconds.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct Latency {
    pub p50: f64,
    pub p90: f64,
    pub p95: f64,
    pub p99: f64,
    pub p999: f64,
    pub max: f64,
    pub mean: f64,
}

impl Latency {
    /// Summarises a microsecond histogram.
    pub fn of(h: &Histogram<u64>) -> Latency {
        let ms = |us: u64| us as f64 / 1000.0;
        if h.is_empty() {
            return Latency::default();
        }
        Latency {
            p50: ms(h.value_at_quantile(0.50)),
            p90: ms(h.value_at_quantile(0.90)),
            p95: ms(h.value_at_quantile(0.95)),
            p99: ms(h.value_at_quantile(0.99)),
            p999: ms(h.value_at_quantile(0.999)),
            max: ms(h.max()),
            mean: h.mean() / 1000.0,
        }
    }
}

/// Quantiles of a rate histogram kept in thousandths (per-request tokens
/// per second). For a rate the slow tail is the low end: `p1` and `min`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct Rate {
    pub min: f64,
    pub p1: f64,
    pub p50: f64,
    pub p99: f64,
    pub max: f64,
    pub mean: f64,
}

impl Rate {
    /// Summarises a histogram of thousandths.
    pub fn of(h: &Histogram<u64>) -> Rate {
        let v = |milli: u64| milli as f64 / 1000.0;
        if h.is_empty() {
            return Rate::default();
        }
        Rate {
            min: v(h.min()),
            p1: v(h.value_at_quantile(0.01)),
            p50: v(h.value_at_quantile(0.50)),
            p99: v(h.value_at_quantile(0.99)),
            max: v(h.max()),
            mean: h.mean() / 1000.0,
        }
    }
}

/// Open-loop extras: service time and how late the generator sent.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct OpenLoop {
    /// Requested arrival rate, per second.
    pub rate: f64,
    /// From the actual send to the end of the answer.
    pub service_time_ms: Latency,
    /// From the intended start to the actual send: the generator's lag
    /// (its own, or waiting for a free connection).
    pub behind_ms: Latency,
    /// CPUs the process could use during the run (0 in files from before it was kept).
    #[serde(default)]
    pub cpu_cores: usize,
    /// Load threads the level ran on (0 in files from before it was kept).
    #[serde(default)]
    pub threads: usize,
}

/// Streaming measurements.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct StreamStats {
    pub ttft_ms: Latency,
    pub inter_token_ms: Latency,
    /// Output tokens from the streams' usage objects.
    pub output_tokens: u64,
    /// Answers that carried a usage object (tokens are only counted from these).
    pub answers_with_usage: u64,
    /// Content chunks received (not tokens).
    pub chunks: u64,
    /// `output_tokens` per second of the run (aggregate).
    pub output_tokens_per_s: f64,
    /// Per request: its output tokens over the time from its first token to
    /// the end of its answer (answers with usage and a token only).
    #[serde(default)]
    pub output_tokens_per_s_per_request: Rate,
}

/// One level of a run, as printed and as written by `--json`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Report {
    /// Connections used.
    pub concurrency: usize,
    /// `closed` or `open`.
    pub mode: String,
    pub duration_s: f64,
    /// Requests measured (answers and errors).
    pub requests: u64,
    /// 2xx answers.
    pub successes: u64,
    /// Non-2xx answers and errors.
    pub failures: u64,
    pub requests_per_s: f64,
    pub bytes_sent: u64,
    pub bytes_received: u64,
    /// Answers by HTTP status.
    pub status_codes: BTreeMap<String, u64>,
    /// Requests without an answer, by kind: connect, timeout, reset, other.
    pub errors: BTreeMap<String, u64>,
    /// Response time of every answered request (open loop: from the intended start).
    pub latency_ms: Latency,
    pub open_loop: Option<OpenLoop>,
    pub stream: Option<StreamStats>,
    /// Share (0–1) of requests that met every `--slo` bound; interrupted
    /// requests count as not met.
    pub goodput: Option<f64>,
    /// The run was cut short (Ctrl-C).
    pub interrupted: bool,
    /// Measured requests without an outcome when the level stopped: in
    /// flight at Ctrl-C, and in open loop also those whose intended start
    /// had passed but that were never sent (not in `requests`).
    #[serde(default)]
    pub interrupted_requests: u64,
}

impl Report {
    /// Summarises merged results of a level that ran for `elapsed`.
    pub fn build(
        r: &Results,
        concurrency: usize,
        rate: Option<f64>,
        stream: bool,
        slo: bool,
        elapsed: Duration,
        interrupted: bool,
    ) -> Report {
        let secs = elapsed.as_secs_f64().max(1e-9);
        let requests = r.ok + r.failed;
        Report {
            concurrency,
            mode: if rate.is_some() { "open" } else { "closed" }.into(),
            duration_s: secs,
            requests,
            successes: r.ok,
            failures: r.failed,
            requests_per_s: requests as f64 / secs,
            bytes_sent: r.bytes_out,
            bytes_received: r.bytes_in,
            status_codes: r.status.iter().map(|(k, v)| (k.to_string(), *v)).collect(),
            errors: r.errors.iter().map(|(k, v)| (k.to_string(), *v)).collect(),
            latency_ms: Latency::of(&r.latency),
            open_loop: rate.map(|rate| OpenLoop {
                rate,
                service_time_ms: Latency::of(&r.service),
                behind_ms: Latency::of(&r.behind),
                cpu_cores: 0,
                threads: 0,
            }),
            stream: stream.then(|| StreamStats {
                ttft_ms: Latency::of(&r.ttft),
                inter_token_ms: Latency::of(&r.itl),
                output_tokens: r.tokens,
                answers_with_usage: r.with_usage,
                chunks: r.chunks,
                output_tokens_per_s: r.tokens as f64 / secs,
                output_tokens_per_s_per_request: Rate::of(&r.tokens_per_s),
            }),
            goodput: {
                let owed = requests + r.interrupted;
                (slo && owed > 0).then(|| r.slo_met as f64 / owed as f64)
            },
            interrupted,
            interrupted_requests: r.interrupted,
        }
    }

    /// Errors (no answer) plus non-2xx answers, as a share of requests.
    pub fn error_share(&self) -> f64 {
        if self.requests == 0 {
            return 0.0;
        }
        self.failures as f64 / self.requests as f64
    }
}
