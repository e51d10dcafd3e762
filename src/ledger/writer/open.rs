//! Starting the writer: the chain opened where the database, the spool
//! or the head file says, the workers, the spool's appender and tailer,
//! and the keeper task.

use super::*;

impl LedgerWriter {
    /// Opens this instance's chain (continuing where the database, the
    /// spool or the head file says), starts the spool when on, and the
    /// workers, on the current tokio runtime.
    pub async fn start(db: Db, cfg: &LedgerConfig) -> Result<LedgerWriter, LedgerError> {
        Self::start_with(db, cfg, Opening::Now).await
    }

    /// [`start`](Self::start), with the chain opened against the database
    /// now or, for a start during its outage, once `ready` says the
    /// database answers with a schema this binary knows
    /// ([`Opening::Deferred`], spool on only).
    pub async fn start_with(
        db: Db,
        cfg: &LedgerConfig,
        opening: Opening,
    ) -> Result<LedgerWriter, LedgerError> {
        let a = &cfg.async_writer;
        let key = ChainKey::new(&cfg.chain.hmac_key);
        let spool_on = a.enabled && cfg.spool.enabled;
        let (opened, ready) = match opening {
            Opening::Now => (start::open(&db, &cfg.chain, &key).await?, None),
            Opening::Deferred(_) if !spool_on => return Err(LedgerError::DeferredNeedsSpool),
            Opening::Deferred(ready) => (super::deferred::offline(&cfg.chain)?, Some(ready)),
        };
        let scan = if spool_on {
            Some(spool::open_dir(std::path::Path::new(&cfg.spool.dir))?)
        } else {
            None
        };
        // Numbering continues after the newest number anywhere.
        let mut last = (opened.stored_head, opened.stored_head_hash);
        if let Some((seq, hash)) = scan.as_ref().and_then(spool::Scan::last)
            && seq > last.0
        {
            last = (seq, Some(hash));
        }
        if let Some(h) = &opened.head_file
            && h.seq > last.0
        {
            warn!(
                "the chain head file {} says entry {} of chain `{}` was committed, but the ledger \
                 ends at {}: entries were deleted or the database was restored from a backup; \
                 run `tokctl ledger verify`",
                cfg.chain.head_file, h.seq, opened.instance_id, last.0
            );
            last = (h.seq, h.hash);
        }
        // Numbers at or below the head file's were committed when it was
        // written: one missing there was deleted, not lost in a crash, and
        // must not be recorded as a gap (lowering the stored watermark
        // behind the gateway's back would otherwise launder a deletion).
        let committed = opened
            .head_file
            .as_ref()
            .map_or(opened.watermark, |h| h.seq.max(opened.watermark));
        let lost = start::lost_numbers(
            &db,
            &key,
            &opened.instance_id,
            committed,
            opened.stored_head,
            "lost_in_crash",
            |s| scan.as_ref().is_some_and(|sc| sc.holds(s)),
        )
        .await
        .map_err(ChainError::from)?;
        if !lost.is_empty() {
            warn!(
                "{} entries of chain `{}` were lost by a crash with the spool off; recorded as gaps",
                lost.len(),
                opened.instance_id
            );
        }
        let tracker = Tracker::new(opened.watermark, opened.watermark_hash);
        tracker.add_gaps(lost);
        let sequencer = Arc::new(Sequencer::new(
            opened.instance_id.clone(),
            key.clone(),
            last.0,
            last.1.unwrap_or(GENESIS),
        ));
        if !key.is_keyed() {
            warn!(
                "ledger.chain.hmac_key is empty: the chain uses plain SHA-256, which anyone who can \
                 write to the database can recompute; set TOKCTL_LEDGER_CHAIN_HMAC_KEY"
            );
        }
        let buffer_size = a.buffer_size.max(1);
        let file = match FileWriter::for_db(&db, true).await {
            Ok(f) => f.map(std::sync::Mutex::new),
            Err(e) => {
                warn!("writing the SQLite ledger through the pool: cannot open the file: {e}");
                None
            }
        };
        let shared = Arc::new(Shared {
            db,
            counters: Counters::default(),
            dead_letter_path: cfg.dead_letter_path.clone().into(),
            batch_size: a.batch_size.max(1),
            flush: Duration::from_millis(a.flush_ms),
            tracker,
            key,
            instance_id: opened.instance_id.clone(),
            spooled: spool_on,
            abandon: AtomicBool::new(false),
            file,
            unwritten: Arc::new(crate::budget::Unwritten::new(crate::db::now_us())),
        });
        if ready.is_none()
            && let Err(e) = worker::commit(&shared, &[]).await
        {
            warn!("cannot record the chain's gaps yet (retried in the background): {e}");
        }
        let (mut tx, workers) = if a.enabled {
            let (tx, rx) = mpsc::channel(buffer_size);
            let rx = Arc::new(tokio::sync::Mutex::new(rx));
            let workers = (0..a.num_workers.max(1))
                .map(|id| tokio::spawn(worker::run(id, shared.clone(), rx.clone())))
                .collect();
            (Some(tx), workers)
        } else {
            (None, Vec::new())
        };
        let (mut spool_shared, mut appender, mut thread, mut tailer) = (None, None, None, None);
        let mut held_for_later = None;
        if let Some(scan) = scan
            && let Some(tx) = tx.take()
        {
            let torn = scan
                .segments
                .iter()
                .filter(|s| s.unreadable_bytes > 0)
                .count();
            let sp = Arc::new(SpoolShared::new(&cfg.spool, &scan));
            if torn > 0 {
                warn!(
                    "{torn} spool segments end in a torn or corrupt record ({} bytes); \
                     every whole record before it is replayed",
                    scan.unreadable_bytes()
                );
                sp.torn_records.fetch_add(torn as u64, Relaxed);
            }
            let backlog = scan.last().map_or(0, |(s, _)| s - opened.watermark).max(0);
            if backlog > 0 {
                info!(
                    "replaying up to {backlog} spooled entries above the watermark {} in the background",
                    opened.watermark
                );
            }
            let (handle, th) = appender::start(sp.clone(), sequencer.clone(), &cfg.spool)?;
            if ready.is_some() {
                held_for_later = Some(tx);
            } else {
                tailer = Some(super::deferred::spawn_tailer(
                    &shared,
                    sp.clone(),
                    opened.watermark,
                    tx,
                ));
            }
            spool_shared = Some(sp);
            appender = Some(handle);
            thread = Some(th);
        }
        let stop_keeper = CancellationToken::new();
        let inner = Arc::new(Inner {
            shared,
            sequencer,
            tx: RwLock::new(tx),
            appender: RwLock::new(appender),
            spool: spool_shared,
            unwritten: Arc::new(Semaphore::new(buffer_size.min(Semaphore::MAX_PERMITS))),
            appender_task: Mutex::new(thread),
            tailer: Mutex::new(tailer),
            keeper: Mutex::new(None),
            stop_keeper: stop_keeper.clone(),
            head_path: cfg.chain.head_file.clone().into(),
            head_floor: opened.head_file.as_ref().map_or(0, |h| h.seq),
            inline: !a.enabled,
            on_full: a.on_full,
            full_wait: Duration::from_millis(a.full_wait_ms),
            buffer_size,
            closed: AtomicBool::new(false),
            workers: Mutex::new(workers),
            inline_tasks: Mutex::new(JoinSet::new()),
            started: Instant::now(),
            last_full_warn_ms: AtomicU64::new(0),
            shutting_down: tokio::sync::Mutex::new(()),
            opening: super::deferred::OpeningState::new(ready.is_some()),
            opener: Mutex::new(None),
            stall: Mutex::new((opened.watermark, Instant::now(), 0)),
        });
        if let (Some(ready), Some(tx)) = (ready, held_for_later) {
            let task = super::deferred::open_when_ready(
                inner.clone(),
                ready,
                tx,
                cfg.chain.clone(),
                last.0,
            );
            *lock(&inner.opener) = Some(tokio::spawn(task));
        }
        let interval = Duration::from_millis(cfg.chain.head_interval_ms.max(10));
        let k = inner.clone();
        *lock(&inner.keeper) = Some(tokio::spawn(async move {
            let mut written = None;
            loop {
                tokio::select! {
                    () = tokio::time::sleep(interval) => {}
                    () = stop_keeper.cancelled() => break,
                }
                k.keep(&mut written).await;
            }
        }));
        Ok(LedgerWriter { inner, front: None })
    }
}
