//! What runs on a load thread once its connections are open: the closed
//! loop's workers, and the open loop's pacer with the workers it hands send
//! times to; each answer recorded in the worker's own [`Recorder`]. The
//! threads, the start and the sampling are `engine.rs`'s.
//!
//! Open loop: each load thread keeps its own share of the schedule (slot
//! `i` is due at `start + i/rate`; thread `k` of `T` keeps the slots
//! `k, k+T, k+2T…`, as wrk2 splits its rate over threads). Its pacer waits
//! for each slot on the thread's precise [`Clock`] and hands the slot's
//! intended start to whichever of the thread's connections is idle; when
//! none is, the slot waits for one and is sent late, and that lateness is
//! in `behind_ms` and in the latency (measured from the intended start).

use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use tokio::sync::mpsc::{UnboundedReceiver, UnboundedSender};

use super::Stop;
use super::conn::{self, Conn};
use super::engine::{Shared, slot_at};
use super::pace::Clock;
use super::stats::Recorder;

/// Send times handed from a thread's pacer to its idle connections.
pub type Permits = Arc<tokio::sync::Mutex<UnboundedReceiver<Instant>>>;

/// The open loop's slots before measuring starts (the warmup's share).
pub fn warm_slots(s: &Shared, rate: f64) -> u64 {
    (s.plan.warmup.as_secs_f64() * rate).ceil() as u64
}

/// When the level stops sending (the end of `--duration`), if it has one.
fn end(s: &Shared) -> Option<Instant> {
    match s.plan.stop {
        Stop::Duration(d) => Some(s.measure_from + d),
        Stop::Requests(_) => None,
    }
}

/// Open loop: waits for each of this thread's slots (`first`, `first +
/// step`, …) and hands its intended start to the connections.
pub async fn pacer(s: Arc<Shared>, first: u64, step: u64, rate: f64, tx: UnboundedSender<Instant>) {
    let cancel = s.cancel.child_token();
    let limit = match s.plan.stop {
        Stop::Requests(n) => warm_slots(&s, rate) + n,
        Stop::Duration(_) => u64::MAX,
    };
    let end = end(&s);
    let mut clock = Clock::new(Duration::from_secs_f64(step as f64 / rate));
    let mut i = first;
    while i < limit {
        let at = slot_at(s.start, rate, i);
        if end.is_some_and(|e| at >= e) {
            return;
        }
        tokio::select! {
            biased;
            _ = cancel.cancelled() => return,
            _ = clock.until(at) => {}
        }
        if tx.send(at).is_err() {
            return;
        }
        i += step;
    }
}

/// Open loop: one connection, sending at each intended start it is handed.
pub async fn open_worker(
    s: Arc<Shared>,
    mut conn: Conn,
    rec: Arc<Mutex<Recorder>>,
    permits: Permits,
) {
    // A token of this worker's own, so its checks lock a mutex no other
    // thread touches (the shared token's lock was contended).
    let cancel = s.cancel.child_token();
    let end = end(&s);
    loop {
        let next = tokio::select! {
            at = async { permits.lock().await.recv().await } => at,
            _ = cancel.cancelled() => return,
        };
        // No more slots; or the end came while this one waited for a
        // connection: it was due and is not sent (counted as unsent).
        let Some(intended) = next else { return };
        if end.is_some_and(|e| Instant::now() >= e) {
            return;
        }
        if !exchange(&s, &mut conn, &rec, intended, &cancel).await {
            return;
        }
    }
}

/// Closed loop: one connection, each request sent when the last is answered.
pub async fn closed_worker(s: Arc<Shared>, mut conn: Conn, rec: Arc<Mutex<Recorder>>) {
    let cancel = s.cancel.child_token();
    let end = end(&s);
    loop {
        let now = Instant::now();
        if cancel.is_cancelled() || end.is_some_and(|e| now >= e) {
            return;
        }
        if now >= s.measure_from
            && let Stop::Requests(n) = s.plan.stop
            && s.taken.fetch_add(1, Ordering::Relaxed) >= n
        {
            return;
        }
        if !exchange(&s, &mut conn, &rec, now, &cancel).await {
            return;
        }
    }
}

/// Sends one request and records it (when measured); `false` when
/// cancelled meanwhile.
async fn exchange(
    s: &Shared,
    conn: &mut Conn,
    rec: &Mutex<Recorder>,
    intended: Instant,
    cancel: &tokio_util::sync::CancellationToken,
) -> bool {
    let plan = &s.plan;
    let measured = intended >= s.measure_from;
    let out = tokio::select! {
        o = conn.exchange(&plan.target, plan.stream, plan.timeout) => o,
        _ = cancel.cancelled() => {
            // Sent and unanswered at Ctrl-C: reported, not dropped.
            if measured {
                rec.lock().unwrap_or_else(PoisonError::into_inner).interrupted += 1;
            }
            return false;
        }
    };
    s.early
        .observe(out.as_ref().ok().map(|a| a.status), &s.cancel);
    if measured {
        let mut g = rec.lock().unwrap_or_else(PoisonError::into_inner);
        record(&mut g, plan, intended, out);
    }
    true
}

fn record(
    g: &mut Recorder,
    plan: &super::Plan,
    intended: Instant,
    out: Result<conn::Answer, super::ErrorKind>,
) {
    let us = |d: Duration| d.as_micros().max(1) as u64;
    g.bytes_out += plan.target.body_len();
    g.interval_count += 1;
    let a = match out {
        Ok(a) => a,
        Err(kind) => {
            g.failed += 1;
            g.interval_failed += 1;
            *g.errors.entry(kind.as_str()).or_default() += 1;
            return;
        }
    };
    let latency = us(a.done.saturating_duration_since(intended));
    g.latency.saturating_record(latency);
    g.interval.saturating_record(latency);
    if plan.rate.is_some() {
        g.service
            .saturating_record(us(a.done.saturating_duration_since(a.sent)));
        g.behind
            .saturating_record(us(a.sent.saturating_duration_since(intended)));
    }
    *g.status.entry(a.status).or_default() += 1;
    g.bytes_in += a.bytes;
    let ok = (200..300).contains(&a.status);
    if ok {
        g.ok += 1;
    } else {
        g.failed += 1;
        g.interval_failed += 1;
    }
    let (mut ttft, mut itl) = (None, None);
    if let Some(sse) = &a.sse {
        if let Some(first) = sse.first {
            let t = us(first.saturating_duration_since(intended));
            g.ttft.saturating_record(t);
            ttft = Some(t as f64 / 1000.0);
        }
        for gap in &sse.gaps_us {
            g.itl.saturating_record((*gap).max(1));
        }
        if !sse.gaps_us.is_empty() {
            itl = Some(sse.gaps_us.iter().sum::<u64>() as f64 / sse.gaps_us.len() as f64 / 1000.0);
        }
        g.chunks += sse.chunks;
        if let Some(t) = sse.tokens {
            g.tokens += t;
            g.with_usage += 1;
            // This request's decode rate: its tokens over the time from its
            // first token to the end of the answer (milli-tokens per second,
            // so the histogram keeps three figures of a small rate).
            if let Some(first) = sse.first {
                let decode = a.done.saturating_duration_since(first).as_secs_f64();
                if t > 0 && decode > 0.0 {
                    let milli = (t as f64 / decode * 1000.0).round() as u64;
                    g.tokens_per_s.saturating_record(milli.max(1));
                }
            }
        }
    }
    if ok && !plan.slo.is_empty() && plan.slo.request_meets(latency as f64 / 1000.0, ttft, itl) {
        g.slo_met += 1;
    }
}
