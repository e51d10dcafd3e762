//! Running a [`Plan`]: one task per connection, a sampler that takes each
//! worker's per-second histogram once a second (for the progress callback
//! and `--hdr-out`), warmup, closed and open loop, early stop on
//! cancellation. It does not format anything.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant, SystemTime};

use tokio_util::sync::CancellationToken;

use super::conn::{self, Conn};
use super::stats::{Recorder, Report, Seconds, histogram};
use super::{LoadError, Plan, Stop};

/// Live numbers for a progress display, one per second of a level.
#[derive(Debug, Clone)]
pub struct Tick {
    pub concurrency: usize,
    pub elapsed: Duration,
    /// Requests measured so far in this level.
    pub requests: u64,
    pub failures: u64,
    /// Requests completed in the last second.
    pub last_second: u64,
    /// p99 of the last second, in milliseconds.
    pub p99_ms: f64,
    /// The level's expected length, when known.
    pub planned: Option<Duration>,
}

/// Runs every level of `plan` in turn; returns one report per level run
/// (fewer when `cancel` fired), with `keep_intervals` per-second histograms
/// of each level (seconds since the run's start), and the wall-clock time
/// the run started (for the histogram log's StartTime).
pub async fn run(
    plan: &Plan,
    cancel: &CancellationToken,
    on_tick: &(dyn Fn(&Tick) + Sync),
) -> Result<(Vec<Report>, Vec<Seconds>, SystemTime), LoadError> {
    plan.validate()?;
    conn::probe(&plan.target).await?;
    // The run's zero, on both clocks: per-second histograms are placed
    // relative to it and the histogram log's StartTime is its wall time.
    let (t0, started) = (Instant::now(), SystemTime::now());
    let mut reports = Vec::new();
    let mut intervals = Vec::new();
    for &c in &plan.concurrency {
        if cancel.is_cancelled() {
            break;
        }
        let (report, iv) = level(plan, c, t0, cancel, on_tick).await?;
        reports.push(report);
        intervals.push(iv);
    }
    Ok((reports, intervals, started))
}

struct Shared {
    plan: Plan,
    start: Instant,
    measure_from: Instant,
    /// Closed loop: measured requests taken; open loop: schedule slots taken.
    taken: AtomicU64,
    cancel: CancellationToken,
}

async fn level(
    plan: &Plan,
    concurrency: usize,
    t0: Instant,
    cancel: &CancellationToken,
    on_tick: &(dyn Fn(&Tick) + Sync),
) -> Result<(Report, Seconds), LoadError> {
    let start = Instant::now();
    let done = cancel.child_token();
    let shared = Arc::new(Shared {
        plan: plan.clone(),
        start,
        measure_from: start + plan.warmup,
        taken: AtomicU64::new(0),
        cancel: done.clone(),
    });
    let recorders: Vec<_> = (0..concurrency)
        .map(|_| Arc::new(Mutex::new(Recorder::default())))
        .collect();
    // Like wrk's threads: one single-threaded runtime per core, each driving
    // its share of the connections, so a request never hops between threads.
    let threads = plan
        .threads
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
        .clamp(1, concurrency);
    let (done_tx, mut done_rx) = tokio::sync::mpsc::channel::<()>(threads);
    for t in 0..threads {
        let mine: Vec<_> = recorders.iter().skip(t).step_by(threads).cloned().collect();
        let (shared, done_tx) = (shared.clone(), done_tx.clone());
        let spawned = std::thread::Builder::new()
            .name(format!("loadtest-{t}"))
            .spawn(move || {
                if let Ok(rt) = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                {
                    rt.block_on(async move {
                        let mut set = tokio::task::JoinSet::new();
                        for r in mine {
                            set.spawn(worker(shared.clone(), r));
                        }
                        while set.join_next().await.is_some() {}
                    });
                }
                drop(done_tx);
            });
        if let Err(e) = spawned {
            done.cancel();
            return Err(LoadError::Plan(format!("cannot start a load thread: {e}")));
        }
    }
    drop(done_tx);
    let planned = match plan.stop {
        Stop::Duration(d) => Some(d),
        Stop::Requests(n) => plan.rate.map(|r| Duration::from_secs_f64(n as f64 / r)),
    };
    let mut intervals = Vec::new();
    let mut totals = (0u64, 0u64);
    // Where this level's seconds sit in the run (a sweep runs levels in turn).
    let offset = start.saturating_duration_since(t0).as_secs_f64();
    // When Ctrl-C came: open-loop requests due before it were owed.
    let mut cut_at = None;
    let mut tick = tokio::time::interval_at(
        tokio::time::Instant::from_std(start + Duration::from_secs(1)),
        Duration::from_secs(1),
    );
    loop {
        tokio::select! {
            // Biased, cancellation first: Ctrl-C also ends the workers, and
            // their end must not hide when the cut came.
            biased;
            _ = cancel.cancelled(), if cut_at.is_none() => cut_at = Some(Instant::now()),
            _ = tick.tick() => {
                let (second, n, failed) = take_second(&recorders);
                totals.0 += n;
                totals.1 += failed;
                on_tick(&Tick {
                    concurrency,
                    elapsed: start.elapsed(),
                    requests: totals.0,
                    failures: totals.1,
                    last_second: n,
                    p99_ms: second.value_at_quantile(0.99) as f64 / 1000.0,
                    planned,
                });
                if plan.keep_intervals {
                    intervals.push((offset + intervals.len() as f64, second));
                }
            }
            _ = done_rx.recv() => break,
        }
    }
    if cut_at.is_none() && cancel.is_cancelled() {
        cut_at = Some(Instant::now());
    }
    // The last, partial second: without it the log would miss up to a
    // second of answers and not add up to the report's count.
    let (last, n, _) = take_second(&recorders);
    if plan.keep_intervals && n > 0 {
        intervals.push((offset + intervals.len() as f64, last));
    }
    let elapsed = Instant::now().saturating_duration_since(shared.measure_from);
    let mut merged = Recorder::default();
    for r in &recorders {
        merged.merge(&r.lock().unwrap_or_else(PoisonError::into_inner));
    }
    if let Some(rate) = plan.rate {
        let sent = merged.ok + merged.failed + merged.interrupted;
        merged.interrupted += unsent_due(&shared, rate, cut_at).saturating_sub(sent);
    }
    let report = Report::build(
        &merged,
        concurrency,
        plan.rate,
        plan.stream,
        !plan.slo.is_empty(),
        elapsed,
        cancel.is_cancelled(),
    );
    Ok((report, intervals))
}

/// Open loop: how many measured requests were due (intended start passed)
/// by the time the level stopped: at Ctrl-C (`cut_at`), at the end of the
/// duration, or the planned count. Those not sent by then are owed by a
/// generator that was stalled on its connections, and must show.
fn unsent_due(s: &Shared, rate: f64, cut_at: Option<Instant>) -> u64 {
    let plan = &s.plan;
    let mut until = match plan.stop {
        Stop::Duration(d) => Some(s.measure_from + d),
        Stop::Requests(_) => None,
    };
    if let Some(c) = cut_at {
        until = Some(until.map_or(c, |u| u.min(c)));
    }
    let limit = match plan.stop {
        // The workers' own limit (warmup slots, then `n` measured).
        Stop::Requests(n) => (plan.warmup.as_secs_f64() * rate).ceil() as u64 + n,
        Stop::Duration(_) => u64::MAX,
    };
    let due = until.map_or(limit, |u| slots_before(s.start, rate, u).min(limit));
    due.saturating_sub(slots_before(s.start, rate, s.measure_from))
}

/// The number of schedule slots `i` with `start + i/rate < t`, computed
/// with the workers' own expression so that the boundary agrees with theirs.
fn slots_before(start: Instant, rate: f64, t: Instant) -> u64 {
    let at = |i: u64| start + Duration::from_secs_f64(i as f64 / rate);
    let mut k = (t.saturating_duration_since(start).as_secs_f64() * rate).ceil() as u64;
    while k > 0 && at(k - 1) >= t {
        k -= 1;
    }
    while at(k) < t {
        k += 1;
    }
    k
}

/// Takes every worker's histogram of the current second (resetting it):
/// the merged histogram, the requests and the failures in it.
fn take_second(recorders: &[Arc<Mutex<Recorder>>]) -> (hdrhistogram::Histogram<u64>, u64, u64) {
    let mut second = histogram();
    let (mut n, mut failed) = (0, 0);
    for r in recorders {
        let mut g = r.lock().unwrap_or_else(PoisonError::into_inner);
        let _ = second.add(&g.interval);
        g.interval.reset();
        n += std::mem::take(&mut g.interval_count);
        failed += std::mem::take(&mut g.interval_failed);
    }
    (second, n, failed)
}

async fn worker(s: Arc<Shared>, rec: Arc<Mutex<Recorder>>) {
    let mut conn = Conn::default();
    let plan = &s.plan;
    // Checked twice per request: a token of this worker's own, so the
    // check locks a mutex no other thread touches (the shared token's
    // lock, taken by every worker on every request, was contended).
    let cancel = s.cancel.child_token();
    let end = match plan.stop {
        Stop::Duration(d) => Some(s.measure_from + d),
        Stop::Requests(_) => None,
    };
    let warm_slots = plan
        .rate
        .map_or(0, |r| (plan.warmup.as_secs_f64() * r).ceil() as u64);
    loop {
        let now = Instant::now();
        if cancel.is_cancelled() || end.is_some_and(|e| now >= e) {
            return;
        }
        let intended = match plan.rate {
            None => {
                if now >= s.measure_from
                    && let Stop::Requests(n) = plan.stop
                    && s.taken.fetch_add(1, Ordering::Relaxed) >= n
                {
                    return;
                }
                now
            }
            Some(rate) => {
                let i = s.taken.fetch_add(1, Ordering::Relaxed);
                if let Stop::Requests(n) = plan.stop
                    && i >= warm_slots + n
                {
                    return;
                }
                let at = s.start + Duration::from_secs_f64(i as f64 / rate);
                if end.is_some_and(|e| at >= e) {
                    return;
                }
                tokio::select! {
                    _ = tokio::time::sleep_until(at.into()) => {}
                    _ = cancel.cancelled() => return,
                }
                at
            }
        };
        let measured = intended >= s.measure_from;
        let out = tokio::select! {
            o = conn.exchange(&plan.target, plan.stream, plan.timeout) => o,
            _ = cancel.cancelled() => {
                // Sent and unanswered at Ctrl-C: reported, not dropped.
                if measured {
                    rec.lock().unwrap_or_else(PoisonError::into_inner).interrupted += 1;
                }
                return;
            }
        };
        if !measured {
            continue;
        }
        let mut g = rec.lock().unwrap_or_else(PoisonError::into_inner);
        record(&mut g, plan, intended, out);
    }
}

fn record(
    g: &mut Recorder,
    plan: &Plan,
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
