//! Running a [`Plan`]: the load threads (each opening its connections
//! before the schedule starts), a sampler that takes each worker's
//! per-second histogram once a second (for the progress callback and
//! `--hdr-out`), warmup, the count of open-loop requests due and never
//! sent, early stop on cancellation. The workers and the open loop's pacer
//! are in `worker.rs`. It does not format anything.

use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant, SystemTime};

use tokio_util::sync::CancellationToken;

use super::conn::{self, Conn};
use super::early::{EarlyStop, explain};
use super::stats::{Recorder, Report, Seconds, histogram};
use super::{LoadError, Plan, Stop, worker};

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
    let early = Arc::new(EarlyStop::default());
    for &c in &plan.concurrency {
        if cancel.is_cancelled() {
            break;
        }
        let (report, iv) = level(plan, c, t0, cancel, on_tick, &early).await?;
        if let Some(statuses) = early.verdict() {
            return Err(LoadError::Refused(explain(&statuses)));
        }
        reports.push(report);
        intervals.push(iv);
    }
    Ok((reports, intervals, started))
}

/// What every task of a level shares.
pub(super) struct Shared {
    pub plan: Plan,
    /// The schedule's zero: every connection was open by then.
    pub start: Instant,
    pub measure_from: Instant,
    /// Closed loop with `--requests`: measured requests taken.
    pub taken: AtomicU64,
    pub cancel: CancellationToken,
    /// Watches the run's first answers for a run of refusals.
    pub early: Arc<EarlyStop>,
}

/// When open-loop slot `i` is due.
pub(super) fn slot_at(start: Instant, rate: f64, i: u64) -> Instant {
    start + Duration::from_secs_f64(i as f64 / rate)
}

/// The load threads a level runs on (as wrk's `-t`): `--threads`, else one
/// per core, never more than the connections.
fn thread_count(plan: &Plan, concurrency: usize) -> usize {
    plan.threads.unwrap_or_else(cpu_cores).clamp(1, concurrency)
}

/// The CPUs this process may use.
pub fn cpu_cores() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

async fn level(
    plan: &Plan,
    concurrency: usize,
    t0: Instant,
    cancel: &CancellationToken,
    on_tick: &(dyn Fn(&Tick) + Sync),
    early: &Arc<EarlyStop>,
) -> Result<(Report, Seconds), LoadError> {
    let done = cancel.child_token();
    let recorders: Vec<_> = (0..concurrency)
        .map(|_| Arc::new(Mutex::new(Recorder::default())))
        .collect();
    let threads = thread_count(plan, concurrency);
    let (started, shared) = start_threads(plan, &recorders, threads, &done, early).await?;
    let start = shared.start;
    let mut done_rx = started;
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
    let mut report = Report::build(
        &merged,
        concurrency,
        plan.rate,
        plan.stream,
        !plan.slo.is_empty(),
        elapsed,
        cancel.is_cancelled(),
    );
    if let Some(ol) = report.open_loop.as_mut() {
        ol.cpu_cores = cpu_cores();
        ol.threads = threads;
    }
    Ok((report, intervals))
}

/// Starts the level's load threads, each a single-threaded runtime driving
/// its share of the connections (like wrk's threads: one per core, so a
/// request never hops between threads). Every thread first opens its
/// connections; the schedule starts once all are open, so neither thread
/// start-up nor TCP (or TLS) handshakes fall in the measured window.
/// Returns a receiver that closes when every thread has finished, and the
/// level's shared state (its `start`).
async fn start_threads(
    plan: &Plan,
    recorders: &[Arc<Mutex<Recorder>>],
    threads: usize,
    done: &CancellationToken,
    early: &Arc<EarlyStop>,
) -> Result<(tokio::sync::mpsc::Receiver<()>, Arc<Shared>), LoadError> {
    let (done_tx, done_rx) = tokio::sync::mpsc::channel::<()>(threads);
    let (ready_tx, mut ready_rx) = tokio::sync::mpsc::channel::<bool>(threads);
    let mut go = Vec::with_capacity(threads);
    for t in 0..threads {
        let mine: Vec<_> = recorders.iter().skip(t).step_by(threads).cloned().collect();
        let (go_tx, go_rx) = std::sync::mpsc::channel::<Arc<Shared>>();
        go.push(go_tx);
        let (done_tx, ready_tx) = (done_tx.clone(), ready_tx.clone());
        let (target, timeout, rate) = (plan.target.clone(), plan.timeout, plan.rate);
        let spawned = std::thread::Builder::new()
            .name(format!("loadtest-{t}"))
            .spawn(move || {
                let Ok(rt) = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                else {
                    let _ = ready_tx.blocking_send(false);
                    return;
                };
                let conns = rt.block_on(conn::open_all(&target, mine.len(), timeout));
                if ready_tx.blocking_send(true).is_err() {
                    return;
                }
                let Ok(shared) = go_rx.recv() else { return };
                rt.block_on(drive(shared, conns, mine, rate, t, threads));
                drop(done_tx);
            });
        if let Err(e) = spawned {
            done.cancel();
            return Err(LoadError::Plan(format!("cannot start a load thread: {e}")));
        }
    }
    drop((done_tx, ready_tx));
    for _ in 0..threads {
        // Opening connections ends within --timeout, or at Ctrl-C.
        let ok = tokio::select! {
            r = ready_rx.recv() => r.unwrap_or(false),
            _ = done.cancelled() => true,
        };
        if !ok {
            done.cancel();
            return Err(LoadError::Plan(
                "cannot start a load thread's runtime".into(),
            ));
        }
        if done.is_cancelled() {
            break;
        }
    }
    let start = Instant::now();
    let shared = Arc::new(Shared {
        plan: plan.clone(),
        start,
        measure_from: start + plan.warmup,
        taken: AtomicU64::new(0),
        cancel: done.clone(),
        early: early.clone(),
    });
    for g in go {
        // A thread that already gave up has dropped its receiver.
        let _ = g.send(shared.clone());
    }
    Ok((done_rx, shared))
}

/// One load thread's run: its workers (and, in open loop, its pacer).
async fn drive(
    shared: Arc<Shared>,
    conns: Vec<Conn>,
    mine: Vec<Arc<Mutex<Recorder>>>,
    rate: Option<f64>,
    index: usize,
    threads: usize,
) {
    let mut set = tokio::task::JoinSet::new();
    match rate {
        Some(rate) => {
            let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
            let permits: worker::Permits = Arc::new(tokio::sync::Mutex::new(rx));
            set.spawn(worker::pacer(
                shared.clone(),
                index as u64,
                threads as u64,
                rate,
                tx,
            ));
            for (c, r) in conns.into_iter().zip(mine) {
                set.spawn(worker::open_worker(shared.clone(), c, r, permits.clone()));
            }
        }
        None => {
            for (c, r) in conns.into_iter().zip(mine) {
                set.spawn(worker::closed_worker(shared.clone(), c, r));
            }
        }
    }
    while set.join_next().await.is_some() {}
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
        // The pacers' own limit (warmup slots, then `n` measured).
        Stop::Requests(n) => worker::warm_slots(s, rate) + n,
        Stop::Duration(_) => u64::MAX,
    };
    let due = until.map_or(limit, |u| slots_before(s.start, rate, u).min(limit));
    due.saturating_sub(slots_before(s.start, rate, s.measure_from))
}

/// The number of schedule slots `i` with `start + i/rate < t`, computed
/// with the pacers' own expression so that the boundary agrees with theirs.
fn slots_before(start: Instant, rate: f64, t: Instant) -> u64 {
    let at = |i: u64| slot_at(start, rate, i);
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
