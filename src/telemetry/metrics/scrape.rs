//! The families whose values are read at scrape time rather than recorded
//! per request: the ledger writer's stats, the database pools, uptime and
//! the build, built as protobuf families beside the registry's own.

use std::time::Instant;

use prometheus::proto::{self, MetricFamily, MetricType};

use super::super::health::DbPool;
use super::super::names::{self, Name};
use crate::ledger::WriterStats;

pub(super) fn family(n: Name, kind: MetricType, metrics: Vec<proto::Metric>) -> MetricFamily {
    let mut f = MetricFamily::default();
    f.set_name(n.0.to_string());
    f.set_help(n.1.to_string());
    f.set_field_type(kind);
    f.set_metric(metrics);
    f
}

pub(super) fn labels(pairs: &[(&str, &str)]) -> Vec<proto::LabelPair> {
    pairs
        .iter()
        .map(|(k, v)| {
            let mut l = proto::LabelPair::default();
            l.set_name((*k).to_string());
            l.set_value((*v).to_string());
            l
        })
        .collect()
}

pub(super) fn gauge(pairs: &[(&str, &str)], v: f64) -> proto::Metric {
    let mut g = proto::Gauge::default();
    g.set_value(v);
    let mut m = proto::Metric::default();
    m.set_label(labels(pairs));
    m.set_gauge(g);
    m
}

pub(super) fn counter(v: f64) -> proto::Metric {
    let mut c = proto::Counter::default();
    c.set_value(v);
    let mut m = proto::Metric::default();
    m.set_counter(c);
    m
}

/// Families whose values are read at scrape time, not recorded.
pub(super) fn scrape_families(
    s: &WriterStats,
    pools: &[DbPool],
    started: Instant,
) -> Vec<MetricFamily> {
    use MetricType::{COUNTER, GAUGE, SUMMARY};
    let mut flush = proto::Summary::default();
    flush.set_sample_count(s.batches);
    flush.set_sample_sum(s.flush_duration_sum.as_secs_f64());
    let mut flush_m = proto::Metric::default();
    flush_m.set_summary(flush);
    let pool = |f: &dyn Fn(&DbPool) -> f64| -> Vec<proto::Metric> {
        pools
            .iter()
            .map(|p| gauge(&[("database", p.name.as_str())], f(p)))
            .collect()
    };
    // One value each, read from the writer's stats.
    let scalars = [
        (names::LEDGER_QUEUE, GAUGE, s.queue_depth as f64),
        (names::LEDGER_BUFFER, GAUGE, s.buffer_size as f64),
        (names::LEDGER_WRITTEN, COUNTER, s.written as f64),
        (names::LEDGER_DROPPED, COUNTER, s.dropped as f64),
        (names::LEDGER_REFUSED, COUNTER, s.refused as f64),
        (names::LEDGER_DEAD, COUNTER, s.dead_lettered as f64),
        (names::LEDGER_LAST_BATCH, GAUGE, s.last_batch_size as f64),
        (names::LEDGER_BACKLOG, GAUGE, s.backlog() as f64),
        (
            names::LEDGER_OLDEST_UNWRITTEN,
            GAUGE,
            s.oldest_unwritten.as_secs_f64(),
        ),
        (names::SPOOL_BYTES, GAUGE, s.spool_bytes as f64),
        (names::SPOOL_MAX_BYTES, GAUGE, s.spool_max_bytes as f64),
        (names::SPOOL_TORN, COUNTER, s.spool_torn_records as f64),
        (names::LEDGER_WATERMARK, GAUGE, s.watermark as f64),
        (names::UPTIME, GAUGE, started.elapsed().as_secs_f64()),
    ];
    let mut out: Vec<MetricFamily> = scalars
        .into_iter()
        .map(|(name, kind, v)| {
            let m = if kind == COUNTER {
                counter(v)
            } else {
                gauge(&[], v)
            };
            family(name, kind, vec![m])
        })
        .collect();
    out.extend([
        family(names::LEDGER_FLUSH, SUMMARY, vec![flush_m]),
        family(names::DB_OPEN, GAUGE, pool(&|p| f64::from(p.open))),
        family(names::DB_IDLE, GAUGE, pool(&|p| p.idle as f64)),
        family(names::DB_IN_USE, GAUGE, pool(&|p| p.in_use as f64)),
        family(
            names::BUILD_INFO,
            GAUGE,
            vec![gauge(&[("version", env!("CARGO_PKG_VERSION"))], 1.0)],
        ),
    ]);
    out
}
