//! `tokctl ledger summary`: ledger totals grouped by user, key, model, day
//! or hour (any combination) over a filter: requests, errors, tokens, cost
//! and latency percentiles.
//!
//! Sums are computed by the database. Latency percentiles follow
//! PostgreSQL's `percentile_cont` (linear interpolation between the two
//! nearest ranks): PostgreSQL computes them itself; SQLite has no such
//! aggregate, so the latencies are streamed in group order and computed
//! here, one group in memory at a time. Rendering as a table is the
//! command's; JSON and CSV are here so that both stay in one shape.

use std::collections::HashMap;
use std::io::Write;

use futures_util::TryStreamExt;
use sqlx::{Postgres, QueryBuilder, Sqlite};

use super::scan::{Filter, ScanError, push_filter};
use crate::db::Db;

/// A grouping dimension.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum GroupBy {
    /// `user_name` (entries without a user group as empty).
    User,
    /// `api_key_id`.
    Key,
    /// The model the client asked for.
    Model,
    /// UTC day of `created_at`.
    Day,
    /// UTC hour of `created_at`.
    Hour,
    /// The provider's API (`upstream_api`; empty on rows of binaries
    /// before the column).
    UpstreamApi,
    /// `team_id`; shown by name once [`Summary::name_teams`] is applied.
    Team,
    /// The cache result (`none`, `hit`, `miss`, `bypass`).
    Cache,
    /// The provider that served.
    Provider,
}

impl GroupBy {
    pub fn as_str(self) -> &'static str {
        match self {
            GroupBy::User => "user",
            GroupBy::Key => "key",
            GroupBy::Model => "model",
            GroupBy::Day => "day",
            GroupBy::Hour => "hour",
            GroupBy::UpstreamApi => "upstream_api",
            GroupBy::Team => "team",
            GroupBy::Cache => "cache",
            GroupBy::Provider => "provider",
        }
    }

    /// The SQL expression grouped on (the same text on both backends).
    fn expr(self) -> &'static str {
        match self {
            GroupBy::User => "user_name",
            GroupBy::Key => "api_key_id",
            GroupBy::Model => "model",
            GroupBy::Day => "((created_at_us / 86400000000) * 86400000000)",
            GroupBy::Hour => "((created_at_us / 3600000000) * 3600000000)",
            GroupBy::UpstreamApi => "upstream_api",
            GroupBy::Team => "team_id",
            GroupBy::Cache => "cache",
            GroupBy::Provider => "provider",
        }
    }

    /// The group value as shown: days as `2026-11-23`, hours as
    /// `2026-11-23T14:00Z`, others as stored.
    fn render(self, raw: Option<String>) -> Option<String> {
        let bucket = |fmt: &str| {
            raw.as_deref()
                .and_then(|t| t.parse::<i64>().ok())
                .and_then(chrono::DateTime::from_timestamp_micros)
                .map(|t| t.format(fmt).to_string())
        };
        match self {
            GroupBy::Day => bucket("%Y-%m-%d"),
            GroupBy::Hour => bucket("%Y-%m-%dT%H:00Z"),
            _ => raw,
        }
    }
}

/// Totals for one group.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct SummaryRow {
    /// One value per `by` dimension, in order; `None` where the column is NULL.
    pub group: Vec<Option<String>>,
    pub requests: i64,
    /// Error rows ([`crate::ledger::columns::ERROR_ROW_SQL`]): an error
    /// status, or a stream that began 200 and then failed.
    pub errors: i64,
    /// `input + cached_input + cache_write` tokens.
    pub prompt_tokens: i64,
    /// `output` tokens (reasoning included).
    pub completion_tokens: i64,
    pub total_tokens: i64,
    pub cost_nano: i64,
    pub p50_latency_us: Option<f64>,
    pub p99_latency_us: Option<f64>,
}

/// A summary: its dimensions and one row per group, ordered by group.
#[derive(Debug, Clone, PartialEq)]
pub struct Summary {
    pub by: Vec<GroupBy>,
    pub rows: Vec<SummaryRow>,
}

/// The metric columns after the group columns, in table, CSV and JSON order.
pub const METRICS: [&str; 9] = [
    "requests",
    "errors",
    "prompt_tokens",
    "completion_tokens",
    "total_tokens",
    "cost_nano",
    "cost",
    "p50_latency_ms",
    "p99_latency_ms",
];

/// Computes the summary of the rows `filter` selects, grouped by `by`
/// (no dimension: one row of grand totals).
pub async fn summarize(db: &Db, filter: &Filter, by: &[GroupBy]) -> Result<Summary, ScanError> {
    let mut by_unique: Vec<GroupBy> = Vec::new();
    for g in by {
        if !by_unique.contains(g) {
            by_unique.push(*g);
        }
    }
    let by = by_unique;
    let read_err = ScanError::read(db);
    let keys: Vec<String> = by
        .iter()
        .enumerate()
        .map(|(i, g)| format!("CAST({} AS TEXT) AS k{i}, ", g.expr()))
        .collect();
    let exprs: Vec<&str> = by.iter().map(|g| g.expr()).collect();
    let group = if exprs.is_empty() {
        String::new()
    } else {
        format!(" GROUP BY {0} ORDER BY {0}", exprs.join(", "))
    };
    let sums = format!(
        "count(*) AS requests, \
        CAST(COALESCE(sum(CASE WHEN {} THEN 1 ELSE 0 END), 0) AS BIGINT), \
        CAST(COALESCE(sum(input_tokens + cached_input_tokens + cache_write_tokens), 0) AS BIGINT), \
        CAST(COALESCE(sum(output_tokens), 0) AS BIGINT), \
        CAST(COALESCE(sum(cost_nano), 0) AS BIGINT)",
        crate::ledger::columns::ERROR_ROW_SQL
    );
    let n = by.len();
    macro_rules! rows {
        ($db:ty, $pool:expr, $extra:expr, $pct:expr) => {{
            let mut q =
                QueryBuilder::<$db>::new(format!("SELECT {}{sums}{}", keys.concat(), $extra));
            q.push(" FROM usage_entries");
            push_filter!(q, filter);
            q.push(&group);
            let rows = q.build().fetch_all($pool).await.map_err(read_err)?;
            let mut out = Vec::with_capacity(rows.len());
            for r in &rows {
                use sqlx::Row as _;
                let mut group = Vec::with_capacity(n);
                for i in 0..n {
                    group.push(r.try_get::<Option<String>, _>(i).map_err(read_err)?);
                }
                let prompt: i64 = r.try_get(n + 2).map_err(read_err)?;
                let completion: i64 = r.try_get(n + 3).map_err(read_err)?;
                out.push(SummaryRow {
                    group,
                    requests: r.try_get(n).map_err(read_err)?,
                    errors: r.try_get(n + 1).map_err(read_err)?,
                    prompt_tokens: prompt,
                    completion_tokens: completion,
                    total_tokens: prompt.saturating_add(completion),
                    cost_nano: r.try_get(n + 4).map_err(read_err)?,
                    p50_latency_us: if $pct {
                        r.try_get(n + 5).map_err(read_err)?
                    } else {
                        None
                    },
                    p99_latency_us: if $pct {
                        r.try_get(n + 6).map_err(read_err)?
                    } else {
                        None
                    },
                });
            }
            out
        }};
    }
    let mut rows = match db {
        Db::Sqlite(p) => {
            let mut rows = rows!(Sqlite, p, "", false);
            let pct = sqlite_percentiles(p, filter, &by).await.map_err(read_err)?;
            for r in &mut rows {
                if let Some((p50, p99)) = pct.get(&r.group) {
                    r.p50_latency_us = Some(*p50);
                    r.p99_latency_us = Some(*p99);
                }
            }
            rows
        }
        Db::Postgres(p) => rows!(
            Postgres,
            p,
            ", percentile_cont(0.5) WITHIN GROUP (ORDER BY latency_us), \
             percentile_cont(0.99) WITHIN GROUP (ORDER BY latency_us)",
            true
        ),
    };
    for r in &mut rows {
        let raw = std::mem::take(&mut r.group);
        r.group = raw.into_iter().zip(&by).map(|(v, g)| g.render(v)).collect();
    }
    Ok(Summary { by, rows })
}

type Percentiles = HashMap<Vec<Option<String>>, (f64, f64)>;

/// p50 and p99 latency per group, from the latencies streamed in group and
/// latency order: one group's latencies in memory at a time.
async fn sqlite_percentiles(
    pool: &sqlx::SqlitePool,
    filter: &Filter,
    by: &[GroupBy],
) -> Result<Percentiles, sqlx::Error> {
    use sqlx::Row as _;
    let keys: String = by
        .iter()
        .map(|g| format!("CAST({} AS TEXT), ", g.expr()))
        .collect();
    let mut q = QueryBuilder::<Sqlite>::new(format!("SELECT {keys}latency_us FROM usage_entries"));
    push_filter!(q, filter);
    let order: Vec<&str> = by.iter().map(|g| g.expr()).chain(["latency_us"]).collect();
    q.push(format!(" ORDER BY {}", order.join(", ")));
    let mut stream = q.build().fetch(pool);
    let mut out = Percentiles::new();
    let mut current: Option<Vec<Option<String>>> = None;
    let mut latencies: Vec<i64> = Vec::new();
    while let Some(row) = stream.try_next().await? {
        let mut key = Vec::with_capacity(by.len());
        for i in 0..by.len() {
            key.push(row.try_get::<Option<String>, _>(i)?);
        }
        if current.as_ref() != Some(&key) {
            if let Some(done) = current.take() {
                out.insert(done, quantiles(&latencies));
            }
            latencies.clear();
            current = Some(key);
        }
        latencies.push(row.try_get(by.len())?);
    }
    if let Some(done) = current {
        out.insert(done, quantiles(&latencies));
    }
    Ok(out)
}

fn quantiles(sorted: &[i64]) -> (f64, f64) {
    (percentile_cont(sorted, 0.5), percentile_cont(sorted, 0.99))
}

/// PostgreSQL's `percentile_cont` over sorted values: linear interpolation
/// between the values at ranks `floor(p·(n−1))` and `ceil(p·(n−1))`.
pub fn percentile_cont(sorted: &[i64], p: f64) -> f64 {
    let Some(last) = sorted.len().checked_sub(1) else {
        return f64::NAN;
    };
    let pos = p.clamp(0.0, 1.0) * last as f64;
    let lo = pos.floor() as usize;
    let hi = pos.ceil() as usize;
    let (a, b) = (sorted[lo] as f64, sorted[hi.min(last)] as f64);
    a + (b - a) * (pos - lo as f64)
}

impl Summary {
    /// The header: one column per dimension, then [`METRICS`].
    pub fn header(&self) -> Vec<&'static str> {
        self.by.iter().map(|g| g.as_str()).chain(METRICS).collect()
    }

    /// Each row as text cells in [`Summary::header`] order (NULL as empty).
    pub fn cells(&self) -> Vec<Vec<String>> {
        let ms = |v: Option<f64>| {
            v.map(|us| format!("{:.3}", us / 1000.0))
                .unwrap_or_default()
        };
        self.rows
            .iter()
            .map(|r| {
                let mut cells: Vec<String> = r
                    .group
                    .iter()
                    .map(|g| g.clone().unwrap_or_default())
                    .collect();
                let mut cost = Vec::new();
                super::export::push_nano_decimal(&mut cost, r.cost_nano);
                cells.extend([
                    r.requests.to_string(),
                    r.errors.to_string(),
                    r.prompt_tokens.to_string(),
                    r.completion_tokens.to_string(),
                    r.total_tokens.to_string(),
                    r.cost_nano.to_string(),
                    String::from_utf8_lossy(&cost).into_owned(),
                    ms(r.p50_latency_us),
                    ms(r.p99_latency_us),
                ]);
                cells
            })
            .collect()
    }

    /// An array of objects keyed by [`Summary::header`]; numbers as numbers,
    /// NULL groups and unknown latencies as `null`.
    pub fn to_json(&self) -> serde_json::Value {
        use serde_json::{Value, json};
        let rows = self.rows.iter().map(|r| {
            let mut o = serde_json::Map::new();
            for (g, v) in self.by.iter().zip(&r.group) {
                o.insert(
                    g.as_str().into(),
                    v.clone().map_or(Value::Null, Value::String),
                );
            }
            let mut cost = Vec::new();
            super::export::push_nano_decimal(&mut cost, r.cost_nano);
            let ms = |v: Option<f64>| v.map(|us| us / 1000.0);
            let fields = json!({
                "requests": r.requests,
                "errors": r.errors,
                "prompt_tokens": r.prompt_tokens,
                "completion_tokens": r.completion_tokens,
                "total_tokens": r.total_tokens,
                "cost_nano": r.cost_nano,
                "cost": String::from_utf8_lossy(&cost),
                "p50_latency_ms": ms(r.p50_latency_us),
                "p99_latency_ms": ms(r.p99_latency_us),
            });
            if let Value::Object(f) = fields {
                o.extend(f);
            }
            Value::Object(o)
        });
        Value::Array(rows.collect())
    }

    /// Shows the `team` dimension by name: `names` maps team ids to names
    /// (the identity database's, which may be another database than the
    /// ledger's); an id no longer there shows as `#ID (deleted)`, rows
    /// without a team stay empty.
    pub fn name_teams(&mut self, names: &HashMap<i64, String>) {
        let Some(i) = self.by.iter().position(|g| *g == GroupBy::Team) else {
            return;
        };
        for r in &mut self.rows {
            if let Some(cell) = r.group.get_mut(i)
                && let Some(id) = cell.as_deref().and_then(|t| t.parse::<i64>().ok())
            {
                *cell = Some(
                    names
                        .get(&id)
                        .cloned()
                        .unwrap_or_else(|| format!("#{id} (deleted)")),
                );
            }
        }
    }

    /// RFC 4180 CSV with a header record.
    pub fn write_csv(&self, out: impl Write) -> std::io::Result<()> {
        let mut w = csv::Writer::from_writer(out);
        w.write_record(self.header())?;
        for row in self.cells() {
            w.write_record(row)?;
        }
        w.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_interpolate_like_postgres() {
        let v: Vec<i64> = (1..=100).collect();
        assert_eq!(percentile_cont(&v, 0.5), 50.5);
        assert!((percentile_cont(&v, 0.99) - 99.01).abs() < 1e-9);
        assert_eq!(percentile_cont(&[7], 0.99), 7.0);
        assert!(percentile_cont(&[], 0.5).is_nan());
    }

    #[test]
    fn team_ids_are_shown_by_name() {
        let row = |g: Option<&str>| SummaryRow {
            group: vec![g.map(str::to_string), Some("gpt-4o".into())],
            requests: 1,
            errors: 0,
            prompt_tokens: 0,
            completion_tokens: 0,
            total_tokens: 0,
            cost_nano: 0,
            p50_latency_us: None,
            p99_latency_us: None,
        };
        let mut s = Summary {
            by: vec![GroupBy::Team, GroupBy::Model],
            rows: vec![row(Some("3")), row(Some("9")), row(None)],
        };
        s.name_teams(&HashMap::from([(3, "ml".to_string())]));
        let teams: Vec<Option<&str>> = s.rows.iter().map(|r| r.group[0].as_deref()).collect();
        assert_eq!(teams, [Some("ml"), Some("#9 (deleted)"), None]);
        assert_eq!(s.rows[0].group[1].as_deref(), Some("gpt-4o"));
    }

    #[test]
    fn day_and_hour_groups_render_as_utc_dates() {
        let us = Some("1795395600000000".to_string()); // 2026-11-23T01:00:00Z
        assert_eq!(
            GroupBy::Day.render(us.clone()).as_deref(),
            Some("2026-11-23")
        );
        assert_eq!(
            GroupBy::Hour.render(us.clone()).as_deref(),
            Some("2026-11-23T01:00Z")
        );
        assert_eq!(GroupBy::Model.render(us.clone()), us);
    }
}
