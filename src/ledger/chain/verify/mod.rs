//! Checking stored chains: every entry's hash recomputed, every link
//! followed, every number accounted for up to the committed head.
//!
//! A chain is walked in sequence order up to the higher of its committed
//! watermark and the head file's number (entries above are an uncommitted
//! tail, not tampering). Findings: an entry whose fields no longer match
//! its hash (edited), a missing number with no gap row (deleted), a link
//! that does not follow (inserted or reordered), a gap row whose MAC fails
//! (forged), a chain's baseline missing or whose MAC fails, and rows
//! outside every chain beyond the baseline (inserted). Gaps are listed
//! apart: they are known losses, not tampering.
//!
//! Rows outside every chain (no `seq`, or a chain the ledger does not have)
//! are told apart by the chains' baselines ([`super::start::record_baseline`]):
//! the count of such rows when each chain was first seen and the highest
//! `id` among them, MAC'd with the key. Any beyond (a higher `id`, or more
//! of them) were inserted since, whatever their `created_at_us` says. One
//! aggregate over the chain's index (SQLite: the index alone, no row read)
//! counts them; a row is read only when one is found.
//!
//! Reading and hashing is most of the work ([`walk`]): rows come through
//! the ledger's one read path ([`crate::ledger::scan`]); a chain in a SQLite
//! file, on two cores, is read in slices of sequence numbers by two
//! connections at once, each hashing its own rows; only the link-following
//! runs on one thread, in order. The queries that are not walks (the
//! chains, their gaps, rows outside every chain) are [`queries`]'.

mod queries;
mod text;
mod walk;

use serde::Serialize;

use super::ChainKey;
use super::head::Head;
use super::start::describe;
use crate::db::Db;
use crate::ledger::store::StoreError;
use queries::{Unchained, beyond_baseline, chains, first_seq_since, unchained_since};
use walk::verify_chain;

/// What broke, at which number.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Break {
    pub seq: i64,
    /// `edited`, `deleted`, `relinked`, `forged_gap`, `inserted` (above the
    /// committed head, a row that is no link of the chain), `deleted_chain`
    /// (a head file names a chain the ledger lacks), or, at number 0 (the
    /// chain as a whole), `no_baseline` or `forged_baseline`.
    pub kind: &'static str,
    pub request_id: Option<String>,
    pub detail: String,
}

/// A known loss.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct GapInfo {
    pub seq: i64,
    pub reason: String,
    pub request_id: Option<String>,
}

/// The verdict on one chain.
#[derive(Debug, Clone, Serialize)]
pub struct ChainReport {
    pub instance_id: String,
    pub keyed: bool,
    pub watermark: i64,
    /// The number checked up to (the watermark, or the head file's when higher).
    pub checked_to: i64,
    pub entries_checked: u64,
    pub gaps: Vec<GapInfo>,
    /// The first break, and how many there are in all.
    pub first_break: Option<Break>,
    pub breaks: u64,
    /// Entries above `checked_to`, not yet committed when read.
    pub uncommitted_tail: u64,
}

/// The verdict on every chain asked for.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub chains: Vec<ChainReport>,
    /// Rows outside every chain that the baseline does not account for:
    /// inserted behind the gateway's back.
    pub unchained_rows: u64,
    /// The first of them by id, when one can be named (a row beyond the
    /// baseline's highest id; a surplus below it has no one culprit).
    pub first_unchained: Option<String>,
    /// Rows outside every chain that the baseline accounts for: written
    /// before the chains (no chain protects them).
    pub pre_chain_rows: u64,
    /// The baseline used: the strictest of the chains' baselines whose MAC
    /// holds under the configured key. `None`: there was none, and rows
    /// outside every chain were counted by time (`created_at_us` from the
    /// first chain's start), as before migration 0005.
    pub baseline: Option<Baseline>,
}

/// Rows outside every chain before the chains: how many, and the highest id.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Baseline {
    pub rows: i64,
    pub max_id: Option<i64>,
}

impl Report {
    pub fn is_intact(&self) -> bool {
        self.unchained_rows == 0 && self.chains.iter().all(|c| c.breaks == 0)
    }
}

/// Why verification could not run.
#[derive(Debug, thiserror::Error)]
pub enum VerifyError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("no chain `{0}` in this ledger")]
    UnknownInstance(String),
    #[error(
        "chain `{instance}` is hashed {stored}, but the configured ledger.chain.hmac_key gives {configured}: \
         verify with the key the chain was written with"
    )]
    WrongKey {
        instance: String,
        stored: String,
        configured: String,
    },
    #[error("--since is a time everywhere; for a sequence number use --from-seq {0}")]
    SinceIsNumber(String),
    #[error(transparent)]
    Since(#[from] crate::ledger::scan::FilterError),
}

impl VerifyError {
    /// The caller's words or key are wrong (exit 2), as opposed to a store
    /// that failed (exit 1): the commands' one exit mapping reads this.
    pub fn is_usage(&self) -> bool {
        !matches!(self, VerifyError::Store(_))
    }
}

struct ChainRow {
    instance_id: String,
    keyed: bool,
    key_id: Option<String>,
    started_at_us: i64,
    watermark: i64,
    baseline_rows: Option<i64>,
    baseline_max_id: Option<i64>,
    baseline_mac: Option<Vec<u8>>,
}

impl ChainRow {
    /// The chain's baseline: `Ok(None)` when it has none, `Err` when its
    /// MAC does not hold under `key` (or it is hashed with another key).
    fn baseline(&self, key: &ChainKey) -> Result<Option<Baseline>, ()> {
        let Some(rows) = self.baseline_rows else {
            return Ok(None);
        };
        let same_key = self.keyed == key.is_keyed() && self.key_id.as_deref() == key.key_id();
        let mac = key.baseline_mac(&self.instance_id, rows, self.baseline_max_id);
        if same_key && self.baseline_mac.as_deref() == Some(mac.as_slice()) {
            Ok(Some(Baseline {
                rows,
                max_id: self.baseline_max_id,
            }))
        } else {
            Err(())
        }
    }
}

/// Where a walk of each chain starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Start {
    /// After this sequence number, in every chain (0: the whole chain).
    AfterSeq(i64),
    /// At each chain's first row created at or after this time
    /// (microseconds since the epoch): every row since then is checked.
    Since(i64),
}

impl Start {
    /// `--since` (an RFC 3339 time or a duration before `now_us`) when
    /// given, else after `--from-seq`. A bare number as `since` is refused:
    /// it would read as seconds ago, but its writer meant a sequence number.
    pub fn from_args(
        since: Option<&str>,
        from_seq: i64,
        now_us: i64,
    ) -> Result<Start, VerifyError> {
        match since {
            Some(s) if s.trim().parse::<i64>().is_ok() => {
                Err(VerifyError::SinceIsNumber(s.trim().to_string()))
            }
            Some(s) => Ok(Start::Since(crate::ledger::scan::parse_time(
                "--since", s, now_us,
            )?)),
            None => Ok(Start::AfterSeq(from_seq)),
        }
    }
}

/// Verifies `instance` (or every chain) from `start` on. `heads` are
/// head files (this gateway's, or others' an auditor collected), each
/// checked for the chain it names (the highest, if several name one).
/// `progress` is told of each entry checked.
pub async fn verify(
    db: &Db,
    key: &ChainKey,
    instance: Option<&str>,
    start: Start,
    heads: &[Head],
    progress: &(dyn Fn(u64) + Sync),
) -> Result<Report, VerifyError> {
    let chains = chains(db).await?;
    if let Some(i) = instance
        && !chains.iter().any(|c| c.instance_id == i)
        && !heads.iter().any(|h| h.instance_id == i)
    {
        return Err(VerifyError::UnknownInstance(i.to_string()));
    }
    let mut out = Vec::new();
    // A head file names a chain the ledger no longer has: deleted whole
    // (its rows and its `ledger_chains` row), which nothing else shows.
    for h in heads {
        let asked = instance.is_none_or(|i| i == h.instance_id);
        if asked && !chains.iter().any(|c| c.instance_id == h.instance_id) {
            out.push(ChainReport {
                instance_id: h.instance_id.clone(),
                keyed: key.is_keyed(),
                watermark: 0,
                checked_to: h.seq,
                entries_checked: 0,
                gaps: Vec::new(),
                first_break: Some(Break {
                    seq: h.seq,
                    kind: "deleted_chain",
                    request_id: None,
                    detail: format!(
                        "a head file names this chain at number {}, but the ledger has no such \
                         chain: its rows and its ledger_chains row were deleted",
                        h.seq
                    ),
                }),
                breaks: 1,
                uncommitted_tail: 0,
            });
        }
    }
    for c in chains
        .iter()
        .filter(|c| instance.is_none_or(|i| i == c.instance_id))
    {
        if c.keyed != key.is_keyed() || c.key_id.as_deref() != key.key_id() {
            return Err(VerifyError::WrongKey {
                instance: c.instance_id.clone(),
                stored: describe(c.keyed, c.key_id.as_deref()),
                configured: describe(key.is_keyed(), key.key_id()),
            });
        }
        let head = heads
            .iter()
            .filter(|h| h.instance_id == c.instance_id)
            .max_by_key(|h| h.seq);
        let since = match start {
            Start::AfterSeq(seq) => seq,
            // No row since then: nothing of this chain to walk, but its
            // committed numbers up to the head are still accounted for.
            Start::Since(us) => match first_seq_since(db, &c.instance_id, us).await? {
                Some(first) => first - 1,
                None => c.watermark.max(head.map_or(0, |h| h.seq)),
            },
        };
        let mut report = verify_chain(db, key, c, since, head, progress).await?;
        let broken = match c.baseline(key) {
            Ok(Some(_)) => None,
            Ok(None) => Some((
                "no_baseline",
                "the chain has no baseline of the rows outside every chain: begun before \
                 migration 0005 and its gateway not started since, or the baseline was removed",
            )),
            Err(()) => Some((
                "forged_baseline",
                "the chain's baseline of the rows outside every chain does not match its MAC",
            )),
        };
        if let Some((kind, detail)) = broken {
            report.breaks += 1;
            report.first_break.get_or_insert(Break {
                seq: 0,
                kind,
                request_id: None,
                detail: detail.into(),
            });
        }
        out.push(report);
    }
    // The strictest baseline that holds, of every chain (not only those
    // walked): any one of them bounds the rows that came before the chains.
    let baseline = chains
        .iter()
        .filter_map(|c| c.baseline(key).ok().flatten())
        .reduce(|a, b| Baseline {
            rows: a.rows.min(b.rows),
            max_id: a.max_id.min(b.max_id),
        });
    let started = chains.iter().map(|c| c.started_at_us).min();
    let found = match (baseline, started) {
        (Some(b), _) => beyond_baseline(db, b).await?,
        (None, Some(t)) => unchained_since(db, t).await?,
        (None, None) => Unchained::default(),
    };
    Ok(Report {
        chains: out,
        unchained_rows: found.inserted,
        first_unchained: found.first,
        pre_chain_rows: found.pre_chain,
        baseline,
    })
}
