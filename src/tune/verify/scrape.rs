//! Reading what the child gateway reports: a sample of its `/metrics`
//! text ([`metric`]), its shutdown log line ([`shutdown_counts`]), and the
//! quantile of the sampled queue depths.

/// The value of an unlabelled Prometheus sample `name` in `text`.
pub fn metric(text: &str, name: &str) -> Option<f64> {
    text.lines().find_map(|line| {
        let rest = line.strip_prefix(name)?;
        let rest = rest.strip_prefix(' ').or_else(|| {
            // A labelled sample: skip the label set.
            rest.strip_prefix('{')
                .and_then(|r| r.split_once("} ").map(|(_, v)| v))
        })?;
        rest.split_whitespace().next()?.parse().ok()
    })
}

/// `(written, dropped)` from the gateway's shutdown log line
/// (`… ledger flushed; bye written=N dropped=M …`).
pub fn shutdown_counts(line: &str) -> Option<(u64, u64)> {
    if !line.contains("ledger flushed") {
        return None;
    }
    let field = |name: &str| {
        line.split(|c: char| c.is_whitespace() || c == ',' || c == '{' || c == '}')
            .find_map(|tok| {
                let tok = tok.trim_matches('"');
                let v = tok
                    .strip_prefix(name)
                    .and_then(|r| r.strip_prefix('=').or_else(|| r.strip_prefix("\":")))?;
                v.trim_matches(|c: char| !c.is_ascii_digit())
                    .parse::<u64>()
                    .ok()
            })
    };
    Some((field("written")?, field("dropped")?))
}

/// The `q`-quantile (0–1) of `samples` (nearest rank); 0 when empty.
pub fn quantile(samples: &[u64], q: f64) -> u64 {
    if samples.is_empty() {
        return 0;
    }
    let mut s = samples.to_vec();
    s.sort_unstable();
    let rank = ((q * s.len() as f64).ceil() as usize).clamp(1, s.len());
    s[rank - 1]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_metrics_and_the_shutdown_line() {
        let text = "# HELP x\ntokctl_ledger_queue_depth_entries 17\ntokctl_ledger_queue_depth_entries_max 3\n";
        assert_eq!(
            metric(text, "tokctl_ledger_queue_depth_entries"),
            Some(17.0)
        );
        assert_eq!(metric("a{b=\"c\"} 2.5\n", "a"), Some(2.5));
        assert_eq!(
            shutdown_counts(
                "INFO tokctl: ledger flushed; bye written=120 dropped=4 unfinished_requests=0"
            ),
            Some((120, 4))
        );
        assert_eq!(
            shutdown_counts(
                r#"{"fields":{"message":"ledger flushed; bye","written":7,"dropped":0}}"#
            ),
            Some((7, 0))
        );
        assert_eq!(shutdown_counts("listening on 1.2.3.4:5"), None);
    }

    #[test]
    fn quantiles_are_nearest_rank() {
        assert_eq!(quantile(&[1, 5, 3, 9], 0.99), 9);
        assert_eq!(quantile(&[], 0.5), 0);
    }
}
