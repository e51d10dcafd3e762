//! Walking one chain: every row's hash recomputed, every link followed,
//! every number up to the committed head accounted for (a row, a gap row,
//! or a finding). Rows come through the ledger's one read path
//! ([`crate::ledger::scan`]), decoded by column index and hashed from the
//! borrowed row, never copied into an owned entry.

use super::queries::{GapRow, gaps};
use super::{Break, ChainReport, ChainRow, GapInfo, VerifyError};
use crate::db::Db;
use crate::ledger::chain::head::Head;
use crate::ledger::chain::{ChainKey, Hash, hash_from_bytes};
use crate::ledger::scan::batch::{Fed, overlapped};
use crate::ledger::scan::slices::{self, Halt};
use crate::ledger::scan::{ExportRow, Filter, Order, Reader, Scan, blocking, multi_thread};
use crate::ledger::store::StoreError;

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

/// Walks one chain from number `since` on, checking it up to the higher
/// of its watermark and `head`'s number.
pub(super) async fn verify_chain(
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
        Some(crate::ledger::chain::GENESIS)
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
                    let detail = format!(
                        "entries {expected}..{} are missing and no gap row accounts for them",
                        link.seq - 1
                    );
                    found(Break::deleted(expected, detail), report);
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
    let source = Scan::new(db);
    match source.file() {
        // A SQLite file on two cores: two readers, each hashing its own
        // slices of the chain, the links followed here in order.
        Some(reader) if slices::worth_it() => {
            let slices = slice_chain(reader, &filter, since)?;
            let produce = |reader: &Reader,
                           slice: &Filter,
                           send: &mut dyn FnMut(Vec<Checked>) -> Result<(), Halt<StoreError>>| {
                let mut check = check(Vec::with_capacity(1024));
                let mut batch = Vec::with_capacity(CHECK_BATCH);
                reader.each(slice, Order::Seq.sql(), |r| {
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
                slices::in_order(reader.path(), &slices, CHECK_AHEAD, produce, |batch| {
                    batch.into_iter().try_for_each(|c| step(c, &mut report))
                })
            })?
        }
        // Otherwise rows are read on this thread (PostgreSQL's stream
        // inside `block_on`) and hashed on a second one, as an export
        // encodes them.
        _ if multi_thread() => {
            let handle = tokio::runtime::Handle::current();
            let failed = |e| Fed::Failed(ctx()(e));
            let mut check = check(Vec::with_capacity(1024));
            blocking(|| {
                overlapped(
                    |push| handle.block_on(source.each(&filter, Order::Seq, failed, push)),
                    |r| match check(r)? {
                        Some(c) => step(c, &mut report),
                        None => Ok(()),
                    },
                )
            })?
        }
        // Without a multi-thread runtime (unit tests): one row at a time.
        _ => {
            let mut check = check(Vec::with_capacity(1024));
            let hash = |r: &ExportRow<'_>| match check(r)? {
                Some(c) => step(c, &mut report),
                None => Ok(()),
            };
            source.each(&filter, Order::Seq, |e| ctx()(e), hash).await?
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
                let detail = format!(
                    "entries {expected}..={to} were committed but are missing (the newest entries were deleted?)"
                );
                found(Break::deleted(expected, detail), &mut report);
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

/// The chain `filter` names cut into slices of sequence numbers above
/// `since`, for the parallel walk (none when it has no rows).
fn slice_chain(reader: &Reader, filter: &Filter, since: i64) -> Result<Vec<Filter>, StoreError> {
    let id = filter.instance.as_deref().unwrap_or_default();
    Ok(match reader.last_seq(id)? {
        Some(last) => slices::cut(since + 1, last, last - since, CHECK_SLICE)
            .into_iter()
            .map(|(after, upto)| Filter {
                seq_after: after.or(Some(since)),
                seq_upto: upto,
                ..filter.clone()
            })
            .collect(),
        None => Vec::new(),
    })
}

impl Break {
    /// Numbers from `seq` on missing, with no gap row for them.
    fn deleted(seq: i64, detail: String) -> Break {
        Break {
            seq,
            kind: "deleted",
            request_id: None,
            detail,
        }
    }
}
