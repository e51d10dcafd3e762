//! Shutdown and the keeper: the drain on close, and the background round
//! that writes the watermark, the head file and gap rows and deletes
//! committed spool segments.

use super::*;

/// How long an abandoned drain may take to notice before its tasks are
/// cut short.
const ABANDON_GRACE: Duration = Duration::from_millis(500);

impl LedgerWriter {
    /// Stops taking entries, drains every queued one, waits for the
    /// workers and returns the final stats. Entries under an outstanding
    /// [`Admission`] are still accepted and written: shutdown waits for
    /// them, as it waits for in-flight requests. With the spool on and the
    /// database unreachable, what is not written within 10 s stays in the
    /// spool for the next start. Safe to call from several clones.
    pub async fn shutdown(&self) -> WriterStats {
        self.shutdown_within(SPOOL_DRAIN_DEADLINE).await
    }

    /// Tells the spool's appender to stop retrying a write that fails (a
    /// full disk): the entries it holds are counted lost and their
    /// requests end. For a shutdown past its deadline, so that it ends in
    /// bounded time; a no-op while writes succeed.
    pub fn give_up_blocked_writes(&self) {
        if let Some(sp) = &self.inner.spool {
            sp.abandon.store(true, Relaxed);
        }
    }

    /// [`shutdown`](Self::shutdown) bounded by `limit` with the spool on:
    /// a write blocked on a full disk is given up and what the database
    /// has not taken by then stays in the spool for the next start. (With
    /// the spool off it drains everything, as entries would be lost.)
    pub async fn shutdown_within(&self, limit: Duration) -> WriterStats {
        let until = tokio::time::Instant::now() + limit;
        let _one_at_a_time = self.inner.shutting_down.lock().await;
        let inner = &self.inner;
        inner.closed.store(true, Relaxed);
        drop(
            inner
                .tx
                .write()
                .unwrap_or_else(PoisonError::into_inner)
                .take(),
        );
        drop(
            inner
                .appender
                .write()
                .unwrap_or_else(PoisonError::into_inner)
                .take(),
        );
        let task = lock(&inner.appender_task).take();
        if let Some(mut t) = task
            && tokio::time::timeout_at(until, &mut t).await.is_err()
        {
            warn!(
                "the spool's appender is still retrying a write at the shutdown deadline; \
                 the entries it holds are lost, what is on disk stays for the next start"
            );
            self.give_up_blocked_writes();
            let _ = t.await;
        }
        // Never opened against the database: stop waiting for it (its
        // held sender goes, so the workers see the end of their channel).
        let opener = lock(&inner.opener).take();
        if let Some(o) = opener {
            o.abort();
            let _ = o.await;
        }
        let tailer = lock(&inner.tailer).take();
        let workers = std::mem::take(&mut *lock(&inner.workers));
        let aborts: Vec<tokio::task::AbortHandle> = workers
            .iter()
            .chain(tailer.iter())
            .map(JoinHandle::abort_handle)
            .collect();
        let drain = async {
            if let Some(t) = tailer
                && let Err(e) = t.await
            {
                error!("spool tailer ended abnormally: {e}");
            }
            for (id, w) in workers.into_iter().enumerate() {
                if let Err(e) = w.await {
                    error!("ledger worker-{id} ended abnormally: {e}");
                }
            }
        };
        tokio::pin!(drain);
        if inner.spool.is_some() {
            let until = until.max(tokio::time::Instant::now() + Duration::from_millis(500));
            if tokio::time::timeout_at(until, &mut drain).await.is_err() {
                warn!(
                    "the ledger database did not take the backlog before the shutdown deadline; \
                     the rest stays in the spool and is replayed at the next start"
                );
                inner.shared.abandon.store(true, Relaxed);
                if let Some(sp) = &inner.spool {
                    sp.stop_tailing.store(true, Relaxed);
                }
                // A commit under way may wait out the pool's acquire
                // timeout; with the spool on nothing is lost by cutting
                // it short (the entries are replayed at the next start).
                if tokio::time::timeout(ABANDON_GRACE, &mut drain)
                    .await
                    .is_err()
                {
                    aborts.iter().for_each(tokio::task::AbortHandle::abort);
                    drain.await;
                }
            }
        } else {
            drain.await;
        }
        let tasks = std::mem::take(&mut *self.lock_inline_tasks());
        for r in tasks.join_all().await {
            let () = r;
        }
        inner.stop_keeper.cancel();
        let keeper = lock(&inner.keeper).take();
        if let Some(k) = keeper {
            if inner.shared.abandon.load(Relaxed) {
                // It may be waiting on the unreachable database.
                k.abort();
            }
            let _ = k.await;
        }
        if !inner.shared.abandon.load(Relaxed) {
            inner.keep(&mut None).await;
        }
        self.stats()
    }
}

impl Inner {
    /// One round of the keeper: gaps for unreadable spool records, the
    /// watermark when no batch moved it, the head file, old segments.
    pub(super) async fn keep(&self, written: &mut Option<i64>) {
        if !self.opening.is_open() {
            // The chain is not open against the database yet: its stored
            // watermark is unknown, so nothing here may be written.
            return;
        }
        let shared = &self.shared;
        if let Some(sp) = &self.spool {
            let ranges = std::mem::take(&mut *lock(&sp.unreadable));
            for (lo, hi) in ranges {
                match start::lost_numbers(
                    &shared.db,
                    &shared.key,
                    &shared.instance_id,
                    lo - 1,
                    hi,
                    "spool_corrupt",
                    |_| false,
                )
                .await
                {
                    Ok(gaps) => shared.tracker.add_gaps(gaps),
                    Err(e) => {
                        warn!("cannot check unreadable spool entries {lo}..={hi}: {e}");
                        lock(&sp.unreadable).push((lo, hi));
                    }
                }
            }
        }
        let (wm, hash) = shared.tracker.watermark();
        if (*written != Some(wm) || shared.tracker.has_gaps())
            && let Err(e) = worker::commit(shared, &[]).await
        {
            warn!("cannot write the chain's watermark: {e}");
            return;
        }
        let (wm, hash) = {
            let now = shared.tracker.watermark();
            if now.0 >= wm { now } else { (wm, hash) }
        };
        if *written != Some(wm) && wm >= self.head_floor {
            let head = Head {
                instance_id: shared.instance_id.clone(),
                seq: wm,
                hash,
                written_at_us: crate::db::now_us(),
            };
            match head::write(&self.head_path, &head) {
                Ok(()) => *written = Some(wm),
                Err(e) => warn!("{e}"),
            }
        }
        {
            let mut stall = lock(&self.stall);
            let backlog = self.sequencer.head().0 > wm;
            if stall.0 != wm || !backlog {
                *stall = (wm, Instant::now(), shared.counters.written.load(Relaxed));
            }
        }
        if let Some(sp) = &self.spool {
            sp.delete_committed(wm);
            sp.note_committed(wm);
        }
    }
}
