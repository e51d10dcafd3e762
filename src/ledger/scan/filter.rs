//! Which ledger rows a scan (an export, a summary, a verify) covers: a time range, a user, a
//! key, a team, a model, a status code, a chain, and (for incremental exports) a
//! range of sequence numbers in that chain. Parsing the flags' text and pushing the matching `WHERE`
//! clause onto a query; running queries is the caller's.

use serde::Serialize;

/// A flag's text that names no time, or a range that ends before it starts.
#[derive(Debug, thiserror::Error)]
pub enum FilterError {
    #[error(
        "{flag} `{text}` is neither an RFC 3339 time (2026-11-23T00:00:00Z) nor a duration before now (24h, 7d)"
    )]
    BadTime { flag: &'static str, text: String },
    #[error("--since ({since}) is after --until ({until})")]
    SinceAfterUntil { since: String, until: String },
}

/// The rows to include. Every field is optional; all given fields must match.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Filter {
    /// Inclusive lower bound on `created_at_us`.
    pub since_us: Option<i64>,
    /// Exclusive upper bound on `created_at_us`.
    pub until_us: Option<i64>,
    /// `user_name` equals this.
    pub user: Option<String>,
    /// `api_key_id` equals this.
    pub key: Option<i64>,
    /// `model` equals this (the model the client asked for).
    pub model: Option<String>,
    /// `status_code` equals this.
    pub status: Option<i32>,
    /// Only error rows ([`crate::ledger::columns::ERROR_ROW_SQL`]).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub errors: bool,
    /// `instance_id` equals this: one gateway instance's chain.
    pub instance: Option<String>,
    /// `team_id` equals this (`--team NAME`, resolved in the identity
    /// database). Left out of a manifest when unset.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub team: Option<i64>,
    /// Only rows with `seq` greater than this (incremental export, set per
    /// chain by the export itself).
    pub seq_after: Option<i64>,
    /// Only rows with `seq` at or below this (the chain's committed watermark).
    pub seq_upto: Option<i64>,
    /// Only rows with `id` at or below this: set by the parallel export, so
    /// that each of its readers sees the rows of the snapshot it started
    /// from (`parallel` says why that holds). Not part of a manifest.
    #[serde(skip)]
    pub id_upto: Option<i64>,
}

impl Filter {
    /// Builds the time range from `--since`/`--until` text, each an RFC 3339
    /// time or a duration before `now_us` (`24h`, `7d`). A range whose start
    /// is after its end is refused, so a typo never exports nothing silently.
    pub fn with_times(
        mut self,
        since: Option<&str>,
        until: Option<&str>,
        now_us: i64,
    ) -> Result<Filter, FilterError> {
        self.since_us = since
            .map(|t| parse_time("--since", t, now_us))
            .transpose()?;
        self.until_us = until
            .map(|t| parse_time("--until", t, now_us))
            .transpose()?;
        if let (Some(s), Some(u)) = (self.since_us, self.until_us)
            && s > u
        {
            return Err(FilterError::SinceAfterUntil {
                since: format_time(s),
                until: format_time(u),
            });
        }
        Ok(self)
    }
}

/// Parses an RFC 3339 time, or a duration (`90m`, `24h`, `7d`) meaning that
/// long before `now_us`. `flag` names the flag in the error.
pub fn parse_time(flag: &'static str, text: &str, now_us: i64) -> Result<i64, FilterError> {
    let t = text.trim();
    let bad = || FilterError::BadTime {
        flag,
        text: text.to_string(),
    };
    if let Ok(d) = humantime::parse_duration(t) {
        let us = i64::try_from(d.as_micros()).map_err(|_| bad())?;
        return now_us.checked_sub(us).ok_or_else(bad);
    }
    chrono::DateTime::parse_from_rfc3339(t)
        .map(|at| at.timestamp_micros())
        .map_err(|_| bad())
}

/// RFC 3339 in UTC with microseconds, for messages and manifests.
pub fn format_time(us: i64) -> String {
    chrono::DateTime::from_timestamp_micros(us)
        .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Micros, true))
        .unwrap_or_else(|| format!("{us}us"))
}

/// A value bound to a filter condition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Bound {
    Int(i64),
    Text(String),
}

impl Filter {
    /// The conditions as `(SQL up to the placeholder, value)` pairs, ANDed:
    /// the one description of the `WHERE` clause that every reader (sqlx on
    /// both backends, the direct SQLite reader) turns into its own query.
    pub(crate) fn conditions(&self) -> Vec<(&'static str, Bound)> {
        let int = |sql, v: Option<i64>| v.map(|v| (sql, Bound::Int(v)));
        let text = |sql, v: &Option<String>| v.clone().map(|v| (sql, Bound::Text(v)));
        [
            int("created_at_us >= ", self.since_us),
            int("created_at_us < ", self.until_us),
            text("user_name = ", &self.user),
            int("api_key_id = ", self.key),
            text("model = ", &self.model),
            int("status_code = ", self.status.map(i64::from)),
            // The condition takes no value; it rides on `1 = 1`.
            int(
                concat!(crate::error_row_sql!(), " AND 1 = "),
                self.errors.then_some(1),
            ),
            text("instance_id = ", &self.instance),
            int("team_id = ", self.team),
            int("seq > ", self.seq_after),
            int("seq <= ", self.seq_upto),
            int("id <= ", self.id_upto),
        ]
        .into_iter()
        .flatten()
        .collect()
    }
}

/// Pushes ` WHERE …` (or nothing) for `$filter` onto the `QueryBuilder` `$q`.
/// A macro rather than a function because the bind bounds differ per backend.
macro_rules! push_filter {
    ($q:expr, $filter:expr) => {{
        let mut sep = " WHERE ";
        for (sql, value) in $filter.conditions() {
            $q.push(sep).push(sql);
            match value {
                $crate::ledger::scan::Bound::Int(v) => $q.push_bind(v),
                $crate::ledger::scan::Bound::Text(v) => $q.push_bind(v),
            };
            sep = " AND ";
        }
    }};
}
pub(crate) use push_filter;

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_800_000_000_000_000;

    #[test]
    fn times_are_rfc3339_or_a_duration_before_now() {
        assert_eq!(
            parse_time("--since", "24h", NOW).ok(),
            Some(NOW - 86_400_000_000)
        );
        assert_eq!(
            parse_time("--since", "7d", NOW).ok(),
            Some(NOW - 7 * 86_400_000_000)
        );
        assert_eq!(
            parse_time("--since", "2026-11-23T00:00:00.5Z", NOW).ok(),
            Some(1_795_392_000_500_000)
        );
        let err = parse_time("--until", "yesterday", NOW).map(|_| ());
        assert!(matches!(
            err,
            Err(FilterError::BadTime {
                flag: "--until",
                ..
            })
        ));
    }

    #[test]
    fn since_after_until_is_refused() {
        let f = Filter::default().with_times(Some("1h"), Some("2h"), NOW);
        assert!(matches!(f, Err(FilterError::SinceAfterUntil { .. })));
        let f = Filter::default().with_times(Some("2h"), Some("1h"), NOW);
        assert_eq!(f.ok().and_then(|f| f.since_us), Some(NOW - 7_200_000_000));
    }
}
