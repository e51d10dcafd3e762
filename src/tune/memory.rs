//! Whether a recommendation fits in memory: the buffer when full plus the
//! batches being written, against the machine's memory and the operator's
//! `--memory-budget`. A warning, not a refusal: the operator may plan for
//! another machine.

use super::bytes::format_bytes;
use super::model::Recommendation;

/// The machine's memory (`MemTotal` of /proc/meminfo); `None` where it
/// cannot be read.
pub fn machine_memory_bytes() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/meminfo").ok()?;
    let line = text.lines().find(|l| l.starts_with("MemTotal:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    kib.checked_mul(1024)
}

/// Memory the ledger writer holds at worst: a full buffer, plus one batch
/// per worker being inserted.
pub fn peak_bytes(r: &Recommendation) -> u64 {
    let entries =
        r.buffer_size.value as u64 + r.num_workers.value as u64 * r.batch_size.value as u64;
    entries.saturating_mul(r.inputs.entry_bytes)
}

/// Warnings when the peak exceeds `machine` bytes of memory (half of it
/// already leaves the gateway little room) or the memory budget.
pub fn warnings(r: &Recommendation, machine: Option<u64>) -> Vec<String> {
    let peak = peak_bytes(r);
    let mut out = Vec::new();
    let what = format!(
        "the ledger buffer when full plus the batches in flight take {} ({} entries × {} B)",
        format_bytes(peak),
        r.buffer_size.value + r.num_workers.value * r.batch_size.value,
        r.inputs.entry_bytes
    );
    if let Some(total) = machine {
        if peak > total {
            out.push(format!(
                "{what}, more than this machine's {} of memory: lower --burst-seconds, set \
                 --memory-budget, or plan for more gateways (--instances)",
                format_bytes(total)
            ));
        } else if peak > total / 2 {
            out.push(format!(
                "{what}, over half of this machine's {} of memory",
                format_bytes(total)
            ));
        }
    }
    if let Some(budget) = r.inputs.memory_budget_bytes.filter(|b| peak > *b) {
        out.push(format!(
            "{what}, more than --memory-budget {}",
            format_bytes(budget)
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::db::Backend;
    use crate::tune::{Inputs, Spool, recommend};

    fn inputs(qps: f64) -> Inputs {
        Inputs {
            qps,
            burst_seconds: 1.0,
            max_delay_ms: None,
            cores: 8,
            db_max_conns: 100,
            entry_bytes: 600,
            memory_budget_bytes: None,
            instances: 1,
            backend: Backend::Postgres,
            spool: Spool::OFF,
        }
    }

    #[test]
    fn a_billion_qps_does_not_fit_a_machine() {
        let r = recommend(&inputs(1e9)).expect("ok");
        let w = warnings(&r, Some(64 << 30));
        assert!(
            w.iter()
                .any(|w| w.contains("more than this machine's 64.0 GiB")),
            "{w:?}"
        );
        let small = recommend(&inputs(100.0)).expect("ok");
        assert!(warnings(&small, Some(64 << 30)).is_empty());
        assert!(machine_memory_bytes().is_some_and(|m| m > 0));
    }

    #[test]
    fn in_flight_batches_count_against_the_budget() {
        let mut i = inputs(10_000.0);
        i.memory_budget_bytes = Some(10_000 * 600);
        let r = recommend(&i).expect("ok");
        assert!(peak_bytes(&r) > 10_000 * 600);
        assert!(
            warnings(&r, None)
                .iter()
                .any(|w| w.contains("--memory-budget"))
        );
    }
}
