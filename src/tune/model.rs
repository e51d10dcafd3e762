//! The model: the seed's tuning table as a curve, then the constraints.
//!
//! In every row of the seed's table batch size ÷ flush interval equals the
//! row's lower QPS bound, so the table is five points — 25, 100, 1,000,
//! 10,000 and 100,000 QPS — of one curve. Between them flush interval,
//! buffer and workers move geometrically (linear in log-space of QPS) and
//! the batch is `qps × flush`, so nothing jumps at a band's edge and every
//! value is monotone in QPS. Values are rounded to two significant figures
//! (workers to integers); rounding to a fixed grid keeps them monotone.
//! Constraints then shape the curve's values, each saying when it binds.

use serde::Serialize;

use super::bytes::format_bytes;
use crate::config::Fsync;
use crate::db::Backend;

/// The seed's rows at the points where batch ÷ flush = QPS:
/// (qps, batch_size, flush_ms, buffer_size, num_workers).
pub const SEED_ROWS: [(f64, usize, u64, usize, usize); 5] = [
    (25.0, 50, 2000, 5_000, 1),
    (100.0, 100, 1000, 10_000, 2),
    (1_000.0, 500, 500, 50_000, 5),
    (10_000.0, 2_000, 200, 200_000, 10),
    (100_000.0, 10_000, 100, 1_000_000, 50),
];

/// Past this rate one writer is not the answer (the seed's last row).
pub const ONE_WRITER_LIMIT_QPS: f64 = 1_000_000.0;
/// Connections each gateway keeps beside its writers: identity lookups on a
/// cache miss, health checks, reads.
pub const POOL_HEADROOM: u32 = 4;

/// What the operator asks for and what the machine and database allow.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Inputs {
    /// Target peak requests (ledger entries) per second, per gateway.
    pub qps: f64,
    /// How long the peak may outrun the writers; the buffer holds it.
    pub burst_seconds: f64,
    /// How stale the ledger may be; bounds `flush_ms`.
    pub max_delay_ms: Option<u64>,
    pub cores: u32,
    /// The database's connection limit (PostgreSQL's `max_connections`).
    pub db_max_conns: u32,
    /// Memory one buffered entry takes.
    pub entry_bytes: u64,
    /// Bound on the buffer's memory when full.
    pub memory_budget_bytes: Option<u64>,
    /// Gateways sharing one database.
    pub instances: u32,
    #[serde(serialize_with = "backend_name")]
    pub backend: Backend,
    /// The configured spool: what a crash loses depends on it.
    pub spool: Spool,
}

/// The spool settings that decide the entries at risk (`[ledger.spool]`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Spool {
    pub enabled: bool,
    pub fsync: Fsync,
    pub fsync_ms: u64,
}

impl Spool {
    /// No spool: a crash loses what the writer held.
    pub const OFF: Spool = Spool {
        enabled: false,
        fsync: Fsync::Interval,
        fsync_ms: 0,
    };
}

/// How long Linux may keep a written page only in memory (its default
/// `vm.dirty_expire_centisecs`, 30 s): what `fsync = "never"` can lose to a
/// power loss.
const OS_WRITEBACK_SECONDS: f64 = 30.0;

fn backend_name<S: serde::Serializer>(b: &Backend, s: S) -> Result<S::Ok, S::Error> {
    s.collect_str(b)
}

/// One recommended value, why it is what it is, and which constraint (if
/// any) moved it off the curve.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Reasoned<T> {
    pub value: T,
    pub reason: String,
    pub limited_by: Option<&'static str>,
}

impl<T> Reasoned<T> {
    fn new(value: T, reason: String) -> Self {
        Self {
            value,
            reason,
            limited_by: None,
        }
    }
}

/// The settings for one gateway, named as the config names them.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Recommendation {
    pub inputs: Inputs,
    pub batch_size: Reasoned<usize>,
    pub flush_ms: Reasoned<u64>,
    pub buffer_size: Reasoned<usize>,
    pub num_workers: Reasoned<usize>,
    pub max_open_conns: Reasoned<u32>,
    pub max_idle_conns: Reasoned<u32>,
    pub buffer_memory_bytes: Reasoned<u64>,
    pub entries_at_risk: Reasoned<u64>,
    /// Things the operator must read: past 1M QPS, SQLite's single writer.
    pub warnings: Vec<String>,
}

/// Inputs no setting can satisfy, or that make no sense.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum TuneError {
    #[error("{name} must be a positive number, got {value}")]
    NotPositive { name: &'static str, value: String },
    #[error("{name} = {value} is beyond any sensible value (at most {max})")]
    TooLarge {
        name: &'static str,
        value: String,
        max: String,
    },
    #[error(
        "--memory-budget {budget} cannot hold {seconds} s of traffic: at {qps} QPS × {entry_bytes} B \
         per entry that needs {needed}; raise the budget (or lower --burst-seconds when it is above 1)"
    )]
    BudgetTooSmall {
        budget: String,
        needed: String,
        seconds: f64,
        qps: f64,
        entry_bytes: u64,
    },
    #[error(
        "{instances} gateways cannot share {db_max_conns} database connections: each needs at \
         least 2 (a writer and an identity lookup)"
    )]
    NoConnections { db_max_conns: u32, instances: u32 },
}

fn check(name: &'static str, v: f64, max: f64) -> Result<(), TuneError> {
    if !v.is_finite() || v <= 0.0 {
        return Err(TuneError::NotPositive {
            name,
            value: v.to_string(),
        });
    }
    if v > max {
        return Err(TuneError::TooLarge {
            name,
            value: v.to_string(),
            max: max.to_string(),
        });
    }
    Ok(())
}

impl Inputs {
    /// Rejects zero, negative, non-finite and absurd values, naming the flag.
    pub fn validate(&self) -> Result<(), TuneError> {
        check("--qps", self.qps, 1e9)?;
        check("--burst-seconds", self.burst_seconds, 3600.0)?;
        if let Some(d) = self.max_delay_ms {
            check("--max-delay-ms", d as f64, 3_600_000.0)?;
        }
        check("--cores", f64::from(self.cores), 4096.0)?;
        check("--db-max-conns", f64::from(self.db_max_conns), 1_000_000.0)?;
        check(
            "--entry-bytes",
            self.entry_bytes as f64,
            16.0 * 1024.0 * 1024.0,
        )?;
        if let Some(b) = self.memory_budget_bytes {
            check("--memory-budget", b as f64, 16.0 * 1024f64.powi(4))?;
        }
        check("--instances", f64::from(self.instances), 10_000.0)?;
        if self.db_max_conns / self.instances < 2 {
            return Err(TuneError::NoConnections {
                db_max_conns: self.db_max_conns,
                instances: self.instances,
            });
        }
        Ok(())
    }
}

/// The unconstrained curve at `qps`: (flush_ms, buffer_size, workers), not
/// yet rounded. Flat beyond the first and last seed points.
pub fn curve(qps: f64) -> (f64, f64, f64) {
    let first = SEED_ROWS[0];
    let last = SEED_ROWS[SEED_ROWS.len() - 1];
    let at = |r: (f64, usize, u64, usize, usize)| (r.2 as f64, r.3 as f64, r.4 as f64);
    if qps <= first.0 {
        return at(first);
    }
    if qps >= last.0 {
        return at(last);
    }
    for pair in SEED_ROWS.windows(2) {
        let (lo, hi) = (pair[0], pair[1]);
        if qps <= hi.0 {
            let t = (qps.ln() - lo.0.ln()) / (hi.0.ln() - lo.0.ln());
            let geo = |a: f64, b: f64| (a.ln() + t * (b.ln() - a.ln())).exp();
            let (a, b) = (at(lo), at(hi));
            return (geo(a.0, b.0), geo(a.1, b.1), geo(a.2, b.2));
        }
    }
    at(last)
}

/// Rounds to two significant figures (then to an integer, at least 1).
/// Rounding to a fixed grid is monotone, so the curve stays monotone.
pub fn round2(x: f64) -> u64 {
    if x <= 1.0 {
        return 1;
    }
    let mag = 10f64.powf(x.log10().floor() - 1.0);
    ((x / mag).round() * mag).round().max(1.0) as u64
}

/// The recommendation for `inputs`, or why none exists.
pub fn recommend(inputs: &Inputs) -> Result<Recommendation, TuneError> {
    inputs.validate()?;
    let i = inputs;
    let qps = i.qps;
    let mut warnings = Vec::new();
    if qps > ONE_WRITER_LIMIT_QPS {
        warnings.push(format!(
            "{qps} QPS is past 1M: one writer is not the answer. Shard by instance (several \
             gateways, each with its own writer and a database or partition of its own), put a \
             queue (Kafka, NATS) between the gateways and the ledger, write to a time-series \
             store (ClickHouse, TimescaleDB), or sample. The values below are the curve's \
             limit, not a plan."
        ));
    }
    let (flush_c, buffer_c, workers_c) = curve(qps);

    // Workers: the curve, then the seed's rule per gateway's connection share.
    let share = i.db_max_conns / i.instances;
    let conn_limit = (share / 10).max(1) as usize;
    let core_limit = i.cores as usize;
    let wanted = (workers_c.round() as usize).max(1);
    let mut workers = Reasoned::new(
        wanted,
        format!("the seed curve at {qps} QPS gives {wanted}"),
    );
    if i.backend == Backend::Sqlite {
        workers.value = 1;
        workers.limited_by = (wanted > 1).then_some("sqlite");
        workers.reason = format!(
            "SQLite takes one writer at a time, so 1 (the curve at {qps} QPS gives {wanted})"
        );
        warnings.push(
            "SQLite takes one writer at a time: one worker; when one worker cannot keep up \
             (--measure shows its rate), use PostgreSQL."
                .into(),
        );
    } else if wanted > core_limit.min(conn_limit) {
        let (value, by, why) = if core_limit <= conn_limit {
            (core_limit, "cores", format!("--cores {}", i.cores))
        } else if i.instances > 1 {
            (
                conn_limit,
                "instances",
                format!(
                    "({} connections ÷ {} instances = {share} each) ÷ 10",
                    i.db_max_conns, i.instances
                ),
            )
        } else {
            (
                conn_limit,
                "db_max_conns",
                format!("{} connections ÷ 10", i.db_max_conns),
            )
        };
        workers = Reasoned {
            value,
            reason: format!(
                "the curve at {qps} QPS gives {wanted}; workers ≤ min(cores, connections ÷ 10) \
                 = {value} from {why}"
            ),
            limited_by: Some(by),
        };
    }

    // Flush: the curve, bounded by --max-delay-ms.
    let flush_v = round2(flush_c);
    let mut flush = Reasoned::new(
        flush_v,
        format!("the seed curve at {qps} QPS (2000 ms at ≤ 25 QPS down to 100 ms at ≥ 100K)"),
    );
    if let Some(d) = i.max_delay_ms.filter(|d| *d < flush_v) {
        flush = Reasoned {
            value: d,
            reason: format!(
                "the curve gives {flush_v} ms; --max-delay-ms {d} bounds it (the insert's own \
                 time comes on top; see --measure)"
            ),
            limited_by: Some("max_delay_ms"),
        };
    }

    // Batch: what arrives in one interval of the flush chosen above (the
    // curve's, or the --max-delay-ms bound), so a bounded flush sends
    // smaller batches more often instead of holding entries it must not.
    let flush_ms = if flush.limited_by.is_some() {
        flush.value as f64
    } else {
        flush_c
    };
    let batch_v = round2(qps * flush_ms / 1000.0) as usize;
    let mut batch = Reasoned::new(
        batch_v,
        format!(
            "qps × flush = {qps} × {flush_ms:.0} ms ≈ {batch_v}: the timer flushes below this \
             rate, a full batch above it"
        ),
    );

    // Buffer: the curve, at least the burst, at most the memory budget.
    let burst_need = (qps * i.burst_seconds).ceil() as usize;
    let curve_buf = round2(buffer_c) as usize;
    let mut buffer = if burst_need > curve_buf {
        Reasoned {
            value: burst_need,
            reason: format!(
                "buffer ≥ qps × burst = {qps} × {} s = {burst_need} (the curve gives {curve_buf})",
                i.burst_seconds
            ),
            limited_by: Some("burst_seconds"),
        }
    } else {
        Reasoned::new(
            curve_buf,
            format!(
                "the seed curve at {qps} QPS ({:.0} s of traffic; ≥ qps × burst = {burst_need})",
                curve_buf as f64 / qps
            ),
        )
    };
    if let Some(budget) = i.memory_budget_bytes {
        let fits = (budget / i.entry_bytes) as usize;
        let seconds = i.burst_seconds.max(1.0);
        let need = (qps * seconds).ceil() as usize;
        if fits < need {
            return Err(TuneError::BudgetTooSmall {
                budget: format_bytes(budget),
                needed: format_bytes(need as u64 * i.entry_bytes),
                seconds,
                qps,
                entry_bytes: i.entry_bytes,
            });
        }
        if buffer.value > fits {
            buffer = Reasoned {
                value: fits,
                reason: format!(
                    "{} gives {}, but --memory-budget {} ÷ {} B per entry = {fits}",
                    buffer.reason,
                    buffer.value,
                    format_bytes(budget),
                    i.entry_bytes
                ),
                limited_by: Some("memory_budget"),
            };
        }
    }
    if batch.value > buffer.value {
        batch = Reasoned {
            value: buffer.value,
            reason: format!("{}, but no larger than the buffer", batch.reason),
            limited_by: buffer.limited_by,
        };
    }

    let (max_open, max_idle, memory, risk) =
        pools_and_risk(inputs, workers.value, batch.value, buffer.value);
    Ok(Recommendation {
        inputs: inputs.clone(),
        batch_size: batch,
        flush_ms: flush,
        buffer_size: buffer,
        num_workers: workers,
        max_open_conns: max_open,
        max_idle_conns: max_idle,
        buffer_memory_bytes: memory,
        entries_at_risk: risk,
        warnings,
    })
}

/// The most workers the constraints allow: 1 on SQLite, else
/// `min(cores, (db_max_conns ÷ instances) ÷ 10)`, at least 1.
pub fn worker_cap(i: &Inputs) -> usize {
    if i.backend == Backend::Sqlite {
        return 1;
    }
    let share = i.db_max_conns / i.instances;
    (i.cores as usize).min((share / 10).max(1) as usize).max(1)
}

/// The pool sizes, the buffer's memory and the entries at risk that follow
/// from workers, batch and buffer (also used after `--measure` changes them).
pub(crate) fn pools_and_risk(
    i: &Inputs,
    workers: usize,
    batch: usize,
    buffer: usize,
) -> (Reasoned<u32>, Reasoned<u32>, Reasoned<u64>, Reasoned<u64>) {
    let share = i.db_max_conns / i.instances;
    // Pools: the writers plus headroom, within this gateway's share.
    let w = workers as u32;
    let open_want = w + POOL_HEADROOM;
    let open = open_want.min(share);
    let mut max_open = Reasoned::new(
        open,
        format!(
            "workers + {POOL_HEADROOM} (identity lookups, health, reads) = {open_want}, within \
             {} connections ÷ {} instance(s) = {share}",
            i.db_max_conns, i.instances
        ),
    );
    if open < open_want {
        max_open.limited_by = Some("db_max_conns");
    }
    let idle = (w + 1).min(open);
    let max_idle = Reasoned::new(
        idle,
        format!(
            "workers + 1 = {}, kept warm so a flush never waits to connect",
            w + 1
        ),
    );

    let mem = buffer as u64 * i.entry_bytes;
    let memory = Reasoned::new(
        mem,
        format!(
            "buffer × entry = {} × {} B = {}",
            buffer,
            i.entry_bytes,
            format_bytes(mem)
        ),
    );
    let risk = entries_at_risk(i, workers, batch, buffer);
    (max_open, max_idle, memory, risk)
}

/// What a crash can lose. Without the spool: the buffer and the batches
/// being inserted, on any crash. With it, every admitted entry is in the
/// spool's file before it is answered and is replayed at the next start,
/// so a process crash loses none; a power loss loses what was not yet on
/// disk, which the fsync mode bounds.
fn entries_at_risk(i: &Inputs, workers: usize, batch: usize, buffer: usize) -> Reasoned<u64> {
    let sp = i.spool;
    if !sp.enabled {
        let in_flight = workers as u64 * batch as u64;
        return Reasoned::new(
            buffer as u64 + in_flight,
            format!(
                "spool off: a process crash loses the buffer plus in-flight batches: {} + {} × \
                 {} = {}",
                buffer,
                workers,
                batch,
                buffer as u64 + in_flight
            ),
        );
    }
    let traffic = |seconds: f64| (i.qps * seconds).ceil() as u64;
    match sp.fsync {
        Fsync::Always => Reasoned::new(
            0,
            "spool on, fsync before each answer: no answered request's entry is lost to a \
             process crash or a power loss"
                .into(),
        ),
        Fsync::Interval => {
            let seconds = sp.fsync_ms as f64 / 1000.0;
            let n = traffic(seconds);
            Reasoned::new(
                n,
                format!(
                    "spool on: a process crash loses none (replayed at start); a power loss up to \
                     fsync_ms = {} ms of traffic: {} × {} s = {}",
                    sp.fsync_ms, i.qps, seconds, n
                ),
            )
        }
        Fsync::Never => {
            let n = traffic(OS_WRITEBACK_SECONDS);
            Reasoned::new(
                n,
                format!(
                    "spool on, fsync never: a process crash loses none (replayed at start); a \
                     power loss what the OS had not written, up to about {OS_WRITEBACK_SECONDS} s \
                     of traffic on Linux's defaults: {} × {OS_WRITEBACK_SECONDS} s = {}",
                    i.qps, n
                ),
            )
        }
    }
}

#[cfg(test)]
pub(crate) mod tests;
