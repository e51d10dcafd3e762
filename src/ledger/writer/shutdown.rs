//! Shutdown and the keeper: the drain on close, and the background round
//! that writes the watermark, the head file and gap rows and deletes
//! committed spool segments.

use super::*;

impl LedgerWriter {
    /// Stops taking entries, drains every queued one, waits for the
    /// workers and returns the final stats. Entries under an outstanding
    /// [`Admission`] are still accepted and written: shutdown waits for
    /// them, as it waits for in-flight requests. With the spool on and the
    /// database unreachable, what is not written within 10 s stays in the
    /// spool for the next start. Safe to call from several clones.
    pub async fn shutdown(&self) -> WriterStats {
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
        if let Some(t) = task {
            let _ = t.await;
        }
        let tailer = lock(&inner.tailer).take();
        let workers = std::mem::take(&mut *lock(&inner.workers));
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
            if tokio::time::timeout(SPOOL_DRAIN_DEADLINE, &mut drain)
                .await
                .is_err()
            {
                warn!(
                    "the ledger database did not take the backlog within {SPOOL_DRAIN_DEADLINE:?}; \
                     the rest stays in the spool and is replayed at the next start"
                );
                inner.shared.abandon.store(true, Relaxed);
                drain.await;
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
        if let Some(sp) = &self.spool {
            sp.delete_committed(wm);
        }
    }
}
