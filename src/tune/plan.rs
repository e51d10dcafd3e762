//! `tokctl tune` from resolved inputs to an answer: the connection budget
//! read from PostgreSQL when not given, the recommendation, and with
//! `--measure` the benchmark on the real database and the recommendation
//! sized from it. Warnings and progress go to the caller's callbacks;
//! nothing here prints.

use std::time::Duration;

use super::bytes::representative_entry_bytes;
use super::measure::{self, MeasureError, MeasureOptions, Measurement, Progress};
use super::memory::{machine_memory_bytes, warnings as memory_warnings};
use super::model::{Inputs, Recommendation, Spool, TuneError, recommend};
use crate::config::Config;
use crate::db::{Backend, Db, DbError, Dsn, DsnError, PoolSettings};
use crate::errors::chain;

/// Bounds of `--measure-seconds`.
pub const MAX_MEASURE_SECONDS: f64 = 600.0;

/// What the caller hears while planning: warnings as they arise, and
/// `--measure`'s time budget once, then each step.
pub trait Watch: Sync {
    fn warn(&self, warning: String);
    fn start(&self, total: Duration);
    fn progress(&self, p: Progress);
}

/// What to plan for. `None` is "what this machine and the configured
/// ledger say": the detected cores, the ledger's backend, PostgreSQL's
/// `max_connections` (else 100), the measured size of a representative
/// entry.
#[derive(Debug, Clone, Default)]
pub struct Ask {
    pub qps: f64,
    pub burst_seconds: f64,
    pub max_delay_ms: Option<u64>,
    pub cores: Option<u32>,
    pub db_max_conns: Option<u32>,
    pub entry_bytes: Option<u64>,
    pub memory_budget_bytes: Option<u64>,
    pub instances: u32,
    pub backend: Option<Backend>,
    /// `--measure`'s time budget in seconds.
    pub measure_seconds: Option<f64>,
}

impl Ask {
    /// The model's inputs, the defaults filled in; the spool as configured.
    fn inputs(&self, dsn: &Dsn, config: &Config) -> Inputs {
        let sp = &config.ledger.spool;
        Inputs {
            qps: self.qps,
            burst_seconds: self.burst_seconds,
            max_delay_ms: self.max_delay_ms,
            cores: self.cores.unwrap_or_else(detected_cores),
            db_max_conns: self.db_max_conns.unwrap_or(100),
            entry_bytes: self.entry_bytes.unwrap_or_else(representative_entry_bytes),
            memory_budget_bytes: self.memory_budget_bytes,
            instances: self.instances,
            backend: self.backend.unwrap_or(dsn.backend()),
            spool: Spool {
                enabled: sp.enabled,
                fsync: sp.fsync,
                fsync_ms: sp.fsync_ms,
            },
        }
    }
}

fn detected_cores() -> u32 {
    std::thread::available_parallelism().map_or(1, |n| n.get() as u32)
}

/// The answer: the table's recommendation, and the measured one with its
/// measurement.
pub struct Planned {
    pub table: Recommendation,
    pub measured: Option<(Recommendation, Measurement)>,
}

/// Why no answer could be given.
#[derive(Debug, thiserror::Error)]
pub enum PlanError {
    /// `ledger.path` is not a DSN (exit 2).
    #[error(transparent)]
    Dsn(#[from] DsnError),
    /// Inputs no setting can satisfy (exit 2).
    #[error(transparent)]
    Inputs(#[from] TuneError),
    /// `--measure-seconds` out of bounds (exit 2).
    #[error("--measure-seconds must be in (0, {MAX_MEASURE_SECONDS}], got {0}")]
    MeasureSeconds(f64),
    /// `--measure` could not reach the database.
    #[error(transparent)]
    Connect(#[from] DbError),
    #[error(transparent)]
    Measure(#[from] MeasureError),
    #[error("no single-worker run to size from")]
    NoSingleWorker,
}

impl PlanError {
    /// The caller's input is wrong, rather than the database.
    pub fn is_usage(&self) -> bool {
        matches!(
            self,
            PlanError::Dsn(_) | PlanError::Inputs(_) | PlanError::MeasureSeconds(_)
        )
    }
}

/// Plans for `ask` against the configured ledger. Bad input fails before
/// any database is touched; an unreachable database only matters to
/// `--measure` (else 100 connections are assumed, with a warning). Both
/// recommendations carry the warnings about this machine's memory.
pub async fn plan(ask: &Ask, config: &Config, watch: &dyn Watch) -> Result<Planned, PlanError> {
    let dsn = Dsn::parse(&config.ledger.path)?;
    let mut inputs = ask.inputs(&dsn, config);
    inputs.validate()?;
    let mut settings = PoolSettings::ledger(config);
    settings.max_open = settings.max_open.max(4);
    let measuring = ask.measure_seconds.is_some();
    let given = ask.db_max_conns.is_some();
    let wanted = measuring || (!given && dsn.backend() == Backend::Postgres);
    let connected = if wanted {
        Some(Db::connect(&dsn, &settings, "ledger").await)
    } else {
        None
    };
    let db = match connected {
        Some(Ok(db)) => Some(db),
        Some(Err(e)) if measuring => return Err(e.into()),
        Some(Err(e)) => {
            watch.warn(format!(
                "{}; assuming 100 connections (pass --db-max-conns)",
                chain(&e)
            ));
            None
        }
        None => None,
    };
    if let (Some(db), false) = (&db, given) {
        match measure::max_connections(db).await {
            Ok(Some(n)) => inputs.db_max_conns = n,
            Ok(None) => {}
            Err(e) => watch.warn(format!("{}; assuming 100 connections", chain(&e))),
        }
    }
    let mut table = recommend(&inputs)?;
    let measured = match (&db, ask.measure_seconds) {
        (Some(db), Some(seconds)) => Some(run_measure(db, &table, seconds, watch).await),
        _ => None,
    };
    if let Some(db) = &db {
        db.close().await;
    }
    let mut measured = measured.transpose()?;
    let machine = machine_memory_bytes();
    table.warnings.extend(memory_warnings(&table, machine));
    if let Some((r, _)) = &mut measured {
        r.warnings.extend(memory_warnings(r, machine));
    }
    Ok(Planned { table, measured })
}

async fn run_measure(
    db: &Db,
    table: &Recommendation,
    seconds: f64,
    watch: &dyn Watch,
) -> Result<(Recommendation, Measurement), PlanError> {
    if !(seconds.is_finite() && seconds > 0.0 && seconds <= MAX_MEASURE_SECONDS) {
        return Err(PlanError::MeasureSeconds(seconds));
    }
    let opts = MeasureOptions {
        total: Duration::from_secs_f64(seconds),
        ..Default::default()
    };
    watch.start(opts.total);
    let m = measure::measure(db, &opts, &|p| watch.progress(p)).await?;
    let r = measure::apply(table, &m).ok_or(PlanError::NoSingleWorker)?;
    Ok((r, m))
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use super::*;

    #[derive(Default)]
    struct Heard(Mutex<Vec<String>>);

    impl Watch for Heard {
        fn warn(&self, warning: String) {
            self.0.lock().expect("not poisoned").push(warning);
        }
        fn start(&self, total: Duration) {
            self.0
                .lock()
                .expect("not poisoned")
                .push(format!("start {total:?}"));
        }
        fn progress(&self, _: Progress) {}
    }

    fn ask() -> Ask {
        Ask {
            qps: 500.0,
            burst_seconds: 1.0,
            cores: Some(2),
            instances: 1,
            ..Ask::default()
        }
    }

    #[tokio::test]
    async fn a_sqlite_ledger_is_planned_for_without_touching_it() {
        let dir = tempfile::tempdir().expect("a temp dir");
        let mut config = Config::default();
        config.ledger.path = dir.path().join("ledger.db").display().to_string().into();
        let heard = Heard::default();
        let planned = plan(&ask(), &config, &heard).await.expect("a plan");
        assert_eq!(planned.table.inputs.backend, Backend::Sqlite);
        assert_eq!(planned.table.inputs.db_max_conns, 100);
        assert!(planned.measured.is_none());
        assert!(heard.0.lock().expect("not poisoned").is_empty());
        assert!(!dir.path().join("ledger.db").exists(), "nothing created");
    }

    #[tokio::test]
    async fn bad_input_is_the_callers_error_before_any_database() {
        let mut config = Config::default();
        config.ledger.path = "postgres://nobody@127.0.0.1:1/none".to_string().into();
        let heard = Heard::default();
        let zero = Ask { qps: 0.0, ..ask() };
        let e = plan(&zero, &config, &heard).await.err().expect("refused");
        assert!(e.is_usage() && matches!(e, PlanError::Inputs(_)), "{e}");
        let long = Ask {
            measure_seconds: Some(601.0),
            ..ask()
        };
        let dir = tempfile::tempdir().expect("a temp dir");
        config.ledger.path = dir.path().join("l.db").display().to_string().into();
        let e = plan(&long, &config, &heard).await.err().expect("refused");
        assert!(
            e.is_usage() && matches!(e, PlanError::MeasureSeconds(_)),
            "{e}"
        );
        assert!(heard.0.lock().expect("not poisoned").is_empty());
    }
}
