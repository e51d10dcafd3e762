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
//! Reading and hashing is most of the work. A chain in a SQLite file, on
//! two cores, is read in slices of sequence numbers by two connections at
//! once ([`parallel::in_order`]), each hashing its own rows; only the
//! link-following below runs on one thread, in order.

use futures_util::TryStreamExt;
use serde::Serialize;

use super::head::Head;
use super::start::describe;
use super::{ChainKey, Hash, hash_from_bytes};
use sqlx::{QueryBuilder, Sqlite};

use crate::db::Db;
use crate::ledger::export::ExportRow;
use crate::ledger::export::parallel::{self, Halt};
use crate::ledger::export::pipeline::{Fed, overlapped};
use crate::ledger::export::postgres_copy;
use crate::ledger::export::sqlite_direct::{Reader, blocking, multi_thread};
use crate::ledger::export::{Filter, decode_row, index_ordered, push_filter, select};
use crate::ledger::store::StoreError;

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

/// Verifies `instance` (or every chain) from number `since` on. `heads` are
/// head files (this gateway's, or others' an auditor collected), each
/// checked for the chain it names (the highest, if several name one).
/// `progress` is told of each entry checked.
pub async fn verify(
    db: &Db,
    key: &ChainKey,
    instance: Option<&str>,
    since: i64,
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

async fn chains(db: &Db) -> Result<Vec<ChainRow>, StoreError> {
    const SQL: &str = "SELECT instance_id, keyed, key_id, started_at_us, watermark_seq, \
        baseline_rows, baseline_max_id, baseline_mac FROM ledger_chains ORDER BY instance_id";
    let ctx = StoreError::query(db, "reading the chains");
    type R = (
        String,
        bool,
        Option<String>,
        i64,
        i64,
        Option<i64>,
        Option<i64>,
        Option<Vec<u8>>,
    );
    let rows: Vec<R> = match db {
        Db::Sqlite(p) => sqlx::query_as(SQL).fetch_all(p).await,
        Db::Postgres(p) => sqlx::query_as(SQL).fetch_all(p).await,
    }
    .map_err(ctx)?;
    Ok(rows
        .into_iter()
        .map(
            |(instance_id, keyed, key_id, started_at_us, watermark, rows, max_id, mac)| ChainRow {
                instance_id,
                keyed,
                key_id,
                started_at_us,
                watermark,
                baseline_rows: rows,
                baseline_max_id: max_id,
                baseline_mac: mac,
            },
        )
        .collect())
}

/// Rows outside every chain, sorted into those the baseline accounts for
/// and those inserted since.
#[derive(Debug, Default)]
struct Unchained {
    inserted: u64,
    first: Option<String>,
    pre_chain: u64,
}

/// Counts the rows outside every chain against `b`: those with a higher id
/// than its highest, plus any surplus over its count among the rest. One
/// aggregate, whatever the rows' times say; on SQLite it reads the chain's
/// index alone (it holds `instance_id`, `seq` and the rowid `id`), on
/// PostgreSQL it scans the table once, as the time-bounded count did.
async fn beyond_baseline(db: &Db, b: Baseline) -> Result<Unchained, StoreError> {
    // Outside every chain, as `record_baseline` counts them (start.rs).
    const SQL: &str = "SELECT COUNT(*), COALESCE(SUM(CASE WHEN id > $1 THEN 1 ELSE 0 END), 0), \
        MIN(CASE WHEN id > $1 THEN id END) FROM usage_entries \
        WHERE seq IS NULL OR instance_id IS NULL \
        OR instance_id NOT IN (SELECT instance_id FROM ledger_chains)";
    const SQLITE_SQL: &str = "SELECT COUNT(*), COALESCE(SUM(CASE WHEN id > $1 THEN 1 ELSE 0 END), 0), \
        MIN(CASE WHEN id > $1 THEN id END) FROM usage_entries INDEXED BY usage_entries_chain \
        WHERE seq IS NULL OR instance_id IS NULL \
        OR instance_id NOT IN (SELECT instance_id FROM ledger_chains)";
    const NAME: &str = "SELECT request_id FROM usage_entries WHERE id = $1 LIMIT 1";
    let ctx = || StoreError::query(db, "counting the rows outside every chain");
    // No rows before the chains: every id is beyond.
    let max_id = b.max_id.unwrap_or(i64::MIN);
    let (all, above, first_id): (i64, i64, Option<i64>) = match db {
        Db::Sqlite(p) => match sqlx::query_as(SQLITE_SQL).bind(max_id).fetch_one(p).await {
            Err(e) if e.to_string().contains("no such index") => {
                sqlx::query_as(SQL).bind(max_id).fetch_one(p).await
            }
            found => found,
        },
        Db::Postgres(p) => sqlx::query_as(SQL).bind(max_id).fetch_one(p).await,
    }
    .map_err(ctx())?;
    let below = all - above;
    let surplus = (below - b.rows).max(0);
    let first = match first_id {
        Some(id) => match db {
            Db::Sqlite(p) => sqlx::query_scalar(NAME).bind(id).fetch_optional(p).await,
            Db::Postgres(p) => sqlx::query_scalar(NAME).bind(id).fetch_optional(p).await,
        }
        .map_err(ctx())?,
        None => None,
    };
    let count = |n: i64| u64::try_from(n).unwrap_or(0);
    Ok(Unchained {
        inserted: count(above + surplus),
        first,
        pre_chain: count(below - surplus),
    })
}

/// Without a baseline (none recorded, or none that holds): rows outside
/// every chain written, by their `created_at_us`, since `since_us` (the first
/// chain's start). Blind to a row inserted with an older time.
async fn unchained_since(db: &Db, since_us: i64) -> Result<Unchained, StoreError> {
    // Outside every chain: no place in one, or a place in a chain this
    // ledger does not have (a made-up instance id), which no walk reads.
    const SQL: &str = "SELECT request_id FROM usage_entries \
        WHERE (seq IS NULL OR instance_id IS NULL \
        OR instance_id NOT IN (SELECT instance_id FROM ledger_chains)) \
        AND created_at_us >= $1 ORDER BY id";
    // SQLite's planner scans the whole table for these (the time
    // index serves the other condition, and every row passes it): a third
    // of a million-row verify, after the chains were walked. The chain's
    // index holds `seq` too: scanning it instead reads far fewer bytes (a
    // few dozen per row, not the whole row) and fetches only the rows it
    // finds. If the index is gone, the plain scan does.
    const SQLITE_SQL: &str = "SELECT request_id FROM usage_entries INDEXED BY usage_entries_chain \
        WHERE (seq IS NULL OR instance_id IS NULL \
        OR instance_id NOT IN (SELECT instance_id FROM ledger_chains)) \
        AND created_at_us >= $1 ORDER BY id";
    let ctx = StoreError::query(db, "looking for rows outside every chain");
    let ids: Vec<String> = match db {
        Db::Sqlite(p) => match sqlx::query_scalar(SQLITE_SQL)
            .bind(since_us)
            .fetch_all(p)
            .await
        {
            Err(e) if e.to_string().contains("no such index") => {
                sqlx::query_scalar(SQL).bind(since_us).fetch_all(p).await
            }
            found => found,
        },
        Db::Postgres(p) => sqlx::query_scalar(SQL).bind(since_us).fetch_all(p).await,
    }
    .map_err(ctx)?;
    Ok(Unchained {
        inserted: ids.len() as u64,
        first: ids.into_iter().next(),
        pre_chain: 0,
    })
}

struct GapRow {
    seq: i64,
    request_id: Option<String>,
    reason: String,
    entry_hash: Option<Hash>,
    mac: Vec<u8>,
}

async fn gaps(db: &Db, instance: &str, since: i64) -> Result<Vec<GapRow>, StoreError> {
    const SQL: &str = "SELECT seq, request_id, reason, entry_hash, gap_mac FROM ledger_gaps \
        WHERE instance_id = $1 AND seq > $2 ORDER BY seq";
    let ctx = StoreError::query(db, format!("reading the gaps of chain `{instance}`"));
    type R = (i64, Option<String>, String, Option<Vec<u8>>, Vec<u8>);
    let rows: Vec<R> = match db {
        Db::Sqlite(p) => {
            sqlx::query_as(SQL)
                .bind(instance)
                .bind(since)
                .fetch_all(p)
                .await
        }
        Db::Postgres(p) => {
            sqlx::query_as(SQL)
                .bind(instance)
                .bind(since)
                .fetch_all(p)
                .await
        }
    }
    .map_err(ctx)?;
    Ok(rows
        .into_iter()
        .map(|(seq, request_id, reason, h, mac)| GapRow {
            seq,
            request_id,
            reason,
            entry_hash: h.as_deref().and_then(hash_from_bytes),
            mac,
        })
        .collect())
}

/// Walks one chain.
/// Entries hashed per hand-over in a parallel walk, and hand-overs a worker
/// may make ahead of the one following the links (a few MiB at most).
const CHECK_BATCH: usize = 1024;
const CHECK_AHEAD: usize = 16;
/// Entries per slice of a chain read in parallel.
const CHECK_SLICE: i64 = 4_096;

/// One entry with its hash recomputed: all the link-following needs.
struct Checked {
    seq: i64,
    prev_hash: Hash,
    hash: Hash,
    /// Whether the stored hash matches the recomputed one.
    intact: bool,
    request_id: String,
}

async fn verify_chain(
    db: &Db,
    key: &ChainKey,
    c: &ChainRow,
    since: i64,
    head: Option<&Head>,
    progress: &(dyn Fn(u64) + Sync),
) -> Result<ChainReport, VerifyError> {
    let id = c.instance_id.as_str();
    let to = c.watermark.max(head.map_or(0, |h| h.seq));
    let gap_rows = gaps(db, id, since).await?;
    let mut gaps_at = gap_rows.into_iter().peekable();
    let mut report = ChainReport {
        instance_id: id.to_string(),
        keyed: c.keyed,
        watermark: c.watermark,
        checked_to: to,
        entries_checked: 0,
        gaps: Vec::new(),
        first_break: None,
        breaks: 0,
        uncommitted_tail: 0,
    };
    let mut found = |b: Break, r: &mut ChainReport| {
        r.breaks += 1;
        if r.first_break.is_none() {
            r.first_break = Some(b);
        }
    };
    // The hash the next entry must link to; None when unknown (a gap
    // without hash, or the start of a partial walk).
    let mut prev: Option<Hash> = if since == 0 {
        Some(super::GENESIS)
    } else {
        None
    };
    let mut expected = since + 1;
    let mut last_hash: Option<Hash> = None;
    let ctx = || StoreError::query(db, format!("reading chain `{id}`"));
    // The last row above the committed head: its number and hash.
    let mut tail: Option<(i64, Hash)> = None;
    let mut step = |link: Checked, report: &mut ChainReport| -> Result<(), StoreError> {
        if link.seq > to {
            // Above the committed head nothing is known missing (batches
            // commit out of order), but every row there must still be a
            // link of this chain: its own hash, and the link to the row
            // before it whenever that one is there. A row forged above the
            // watermark would otherwise pass, be summed by reports and
            // stall the watermark at its number.
            report.uncommitted_tail += 1;
            let before = match tail {
                Some((s, h)) if s + 1 == link.seq => Some(h),
                None if link.seq == to + 1 && expected == link.seq => prev,
                _ => None,
            };
            let detail = if !link.intact {
                Some("above the committed head, a row whose fields do not match its hash")
            } else if before.is_some_and(|p| p != link.prev_hash) {
                Some("above the committed head, a row that does not link to the one before it")
            } else {
                None
            };
            if let Some(detail) = detail {
                found(
                    Break {
                        seq: link.seq,
                        kind: "inserted",
                        request_id: Some(link.request_id.clone()),
                        detail: detail.into(),
                    },
                    report,
                );
            }
            tail = Some((link.seq, link.hash));
            return Ok(());
        }
        // Numbers before this one: gap rows, else deleted entries.
        while expected < link.seq {
            match gaps_at.next_if(|g| g.seq <= expected) {
                Some(g) => {
                    take_gap(key, id, g, &mut prev, report, &mut found);
                }
                None => {
                    found(
                        Break {
                            seq: expected,
                            kind: "deleted",
                            request_id: None,
                            detail: format!(
                                "entries {expected}..{} are missing and no gap row accounts for them",
                                link.seq - 1
                            ),
                        },
                        report,
                    );
                    prev = None;
                    expected = link.seq;
                }
            }
            expected = expected.max(report.gaps.last().map_or(0, |g| g.seq + 1));
        }
        while gaps_at.next_if(|g| g.seq < link.seq).is_some() {}
        if !link.intact {
            found(
                Break {
                    seq: link.seq,
                    kind: "edited",
                    request_id: Some(link.request_id.clone()),
                    detail: "its fields no longer match its hash".into(),
                },
                report,
            );
        } else if prev.is_some_and(|p| p != link.prev_hash) {
            found(
                Break {
                    seq: link.seq,
                    kind: "relinked",
                    request_id: Some(link.request_id.clone()),
                    detail: "it does not link to the entry before it (inserted, or moved)".into(),
                },
                report,
            );
        }
        prev = Some(link.hash);
        last_hash = Some(link.hash);
        expected = link.seq + 1;
        report.entries_checked += 1;
        progress(report.entries_checked);
        Ok(())
    };
    // The export's query and decoding (by column index, text borrowed),
    // hashed from the borrowed row: no owned entry per row.
    let filter = Filter {
        instance: Some(id.to_string()),
        seq_after: Some(since),
        ..Filter::default()
    };
    // Each row's hash recomputed (`None`: a row of no chain, one of its
    // four link columns NULL); `buf` is scratch space. A field changed to
    // anything, a token source no entry can have included, makes the row
    // "edited": its stored hash no longer matches.
    let check = |mut buf: Vec<u8>| {
        move |r: &ExportRow<'_>| -> Result<Option<Checked>, StoreError> {
            let (Some(_), Some(seq), Some(prev), Some(stored)) =
                (r.instance_id, r.seq, r.prev_hash, r.entry_hash)
            else {
                return Ok(None);
            };
            // A hash of the wrong length is all zeros: it matches nothing.
            let prev_hash = hash_from_bytes(prev).unwrap_or_default();
            let hash = hash_from_bytes(stored).unwrap_or_default();
            let recomputed = key.row_hash(&mut buf, id, seq, &prev_hash, &r.row);
            Ok(Some(Checked {
                seq,
                prev_hash,
                hash,
                intact: recomputed == Some(hash),
                request_id: r.request_id.to_string(),
            }))
        }
    };
    // PostgreSQL (and in-memory SQLite): the async stream is read on this
    // thread inside `block_on`, and hashing overlaps it as for a file.
    // Without a multi-thread runtime (unit tests), one row at a time.
    type Push<'p> = &'p mut dyn FnMut(&ExportRow<'_>) -> Result<(), Fed<StoreError>>;
    let failed = |e| Fed::Failed(ctx()(e));
    macro_rules! walk {
        ($read:expr) => {{
            // FnMut for PostgreSQL's (it borrows the connection), Fn for SQLite's.
            #[allow(unused_mut)]
            let mut read = $read;
            let mut checker = check(Vec::with_capacity(1024));
            let mut hash = |r: &ExportRow<'_>| match checker(r)? {
                Some(c) => step(c, &mut report),
                None => Ok(()),
            };
            if multi_thread() {
                let handle = tokio::runtime::Handle::current();
                blocking(|| overlapped(|push| handle.block_on(read(push)), hash))?;
            } else {
                match read(&mut |r| hash(r).map_err(Fed::Failed)).await {
                    Ok(()) | Err(Fed::Stopped) => {}
                    Err(Fed::Failed(e)) => return Err(e.into()),
                }
            }
        }};
    }
    match (db, Reader::for_db(db)) {
        // A SQLite file on two cores: two readers, each hashing its own
        // slices of the chain, the links followed here in order.
        (_, Some(reader)) if parallel::worth_it() => {
            let slices = match reader.last_seq(id).map_err(StoreError::from)? {
                Some(last) => parallel::cut(since + 1, last, last - since, CHECK_SLICE)
                    .into_iter()
                    .map(|(after, upto)| Filter {
                        seq_after: after.or(Some(since)),
                        seq_upto: upto,
                        ..filter.clone()
                    })
                    .collect(),
                None => Vec::new(),
            };
            let produce = |reader: &Reader,
                           slice: &Filter,
                           send: &mut dyn FnMut(Vec<Checked>) -> Result<(), Halt<StoreError>>| {
                let mut check = check(Vec::with_capacity(1024));
                let mut batch = Vec::with_capacity(CHECK_BATCH);
                reader.each(slice, " ORDER BY seq", |r| {
                    if let Some(c) = check(r).map_err(Halt::Failed)? {
                        batch.push(c);
                        if batch.len() >= CHECK_BATCH {
                            send(std::mem::replace(&mut batch, Vec::with_capacity(CHECK_BATCH)))?;
                        }
                    }
                    Ok::<_, Halt<StoreError>>(())
                })?;
                send(batch)
            };
            blocking(|| {
                parallel::in_order(reader.path(), &slices, CHECK_AHEAD, produce, |batch| {
                    batch.into_iter().try_for_each(|c| step(c, &mut report))
                })
            })?
        }
        (_, Some(reader)) => {
            let mut check = check(Vec::with_capacity(1024));
            blocking(|| {
                overlapped(
                    |push| reader.each(&filter, " ORDER BY seq", push),
                    |r| match check(r)? {
                        Some(c) => step(c, &mut report),
                        None => Ok(()),
                    },
                )
            })?
        }
        (Db::Sqlite(p), None) => walk!(async |push: Push<'_>| {
            let mut q = QueryBuilder::<Sqlite>::new(select());
            push_filter!(q, &filter);
            q.push(" ORDER BY seq");
            let mut rows = q.build().fetch(p);
            while let Some(row) = rows.try_next().await.map_err(failed)? {
                push(&decode_row!(&row).map_err(failed)?)?;
            }
            Ok::<(), Fed<StoreError>>(())
        }),
        (Db::Postgres(p), None) => {
            let mut tx = index_ordered(p).await.map_err(ctx())?;
            let conn: &mut sqlx::PgConnection = &mut tx;
            walk!(async |push: Push<'_>| {
                postgres_copy::each(conn, &filter, " ORDER BY seq", failed, push).await
            })
        }
    }
    // Gaps and missing numbers after the last entry, up to the committed head.
    while expected <= to {
        match gaps_at.next_if(|g| g.seq <= expected) {
            Some(g) => {
                last_hash = g.entry_hash;
                take_gap(key, id, g, &mut prev, &mut report, &mut found);
                expected += 1;
            }
            None => {
                found(
                    Break {
                        seq: expected,
                        kind: "deleted",
                        request_id: None,
                        detail: format!(
                            "entries {expected}..={to} were committed but are missing (the newest entries were deleted?)"
                        ),
                    },
                    &mut report,
                );
                last_hash = None;
                break;
            }
        }
    }
    if let Some(h) = head
        && h.seq == to
        && h.hash.is_some()
        && last_hash.is_some()
        && h.hash != last_hash
        && report.breaks == 0
    {
        found(
            Break {
                seq: h.seq,
                kind: "edited",
                request_id: None,
                detail: "the committed head differs from the head file's hash".into(),
            },
            &mut report,
        );
    }
    Ok(report)
}

fn take_gap(
    key: &ChainKey,
    id: &str,
    g: GapRow,
    prev: &mut Option<Hash>,
    report: &mut ChainReport,
    found: &mut impl FnMut(Break, &mut ChainReport),
) {
    let mac = key.gap_mac(
        id,
        g.seq,
        g.request_id.as_deref(),
        &g.reason,
        g.entry_hash.as_ref(),
    );
    if mac.as_slice() != g.mac.as_slice() {
        found(
            Break {
                seq: g.seq,
                kind: "forged_gap",
                request_id: g.request_id.clone(),
                detail: "a gap row whose MAC does not match".into(),
            },
            report,
        );
    }
    *prev = g.entry_hash;
    report.gaps.push(GapInfo {
        seq: g.seq,
        reason: g.reason,
        request_id: g.request_id,
    });
}
