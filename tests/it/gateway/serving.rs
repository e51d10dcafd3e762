//! The gateway server itself: worker threads, one access line per request,
//! CORS, `serve --listen`, inline ledger writes and SIGTERM under load (with
//! the ledger lock helper those two share).

use std::time::Duration;

use super::cases::{chat, client};
use super::harness::{Gateway, Upstream, start_upstream};
use super::ledger_rows::rows;

/// `server.workers` threads serve the connections: each connection
/// (one client each here) is answered, every request leaves one entry, the
/// upstream is reached from the workers' own pools, and the process runs
/// exactly that many worker threads.
pub async fn workers_share_the_connections(dsn: String) {
    let up = Upstream::default();
    let base = start_upstream(up.clone()).await;
    let extra = format!(
        "[providers.up]\nkind = \"openai\"\nbase_url = \"{base}\"\n\
         [[models]]\nname = \"public\"\nprovider = \"up\"\nupstream_model = \"private-1\"\n"
    );
    let gw = Gateway::start_with_env(&dsn, &extra, &[("TOKCTL_SERVER_WORKERS", "3")]);
    // A thread names itself once it runs, so give them a moment.
    let named = |pid: u32| {
        std::fs::read_dir(format!("/proc/{pid}/task"))
            .expect("the process's threads")
            .filter_map(Result::ok)
            .filter_map(|t| std::fs::read_to_string(t.path().join("comm")).ok())
            .filter(|name| name.starts_with("tokctl-worker-"))
            .count()
    };
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    let mut workers = named(gw.child.id());
    while workers < 3 && std::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
        workers = named(gw.child.id());
    }
    assert_eq!(workers, 3, "one thread per configured worker");
    let mut jobs = Vec::new();
    for _ in 0..9 {
        // A client of its own: one connection each, dealt out in turn.
        let c = client();
        let addr = gw.url("/v1/chat/completions");
        let key = gw.key.clone().unwrap_or_default();
        jobs.push(tokio::spawn(async move {
            let mut codes = Vec::new();
            for _ in 0..3 {
                let r = c
                    .post(&addr)
                    .bearer_auth(&key)
                    .json(&chat("public", false))
                    .send()
                    .await
                    .expect("an answer");
                codes.push(r.status().as_u16());
            }
            codes
        }));
    }
    for j in jobs {
        assert_eq!(j.await.expect("join"), [200, 200, 200]);
    }
    assert_eq!(up.received.lock().expect("lock").len(), 27);
    assert_eq!(gw.stop().0, 0);
    let rows = rows(&dsn).await;
    assert_eq!(rows.len(), 27);
    assert!(rows.iter().all(|r| r.status_code == 200), "{rows:?}");
}

/// CPUs in a `Cpus_allowed_list` of /proc (`0-1,4`).
fn cpu_list(text: &str) -> Vec<usize> {
    let line = text
        .lines()
        .find_map(|l| l.strip_prefix("Cpus_allowed_list:"))
        .expect("a Cpus_allowed_list line")
        .trim();
    let mut cpus = Vec::new();
    for part in line.split(',') {
        match part.split_once('-') {
            Some((a, b)) => {
                let (a, b): (usize, usize) = (a.parse().expect("cpu"), b.parse().expect("cpu"));
                cpus.extend(a..=b);
            }
            None => cpus.push(part.parse().expect("cpu")),
        }
    }
    cpus
}

/// Each worker thread's CPUs, by its name.
fn worker_cpus(pid: u32) -> Vec<(String, Vec<usize>)> {
    let mut out: Vec<_> = std::fs::read_dir(format!("/proc/{pid}/task"))
        .expect("the process's threads")
        .filter_map(Result::ok)
        .filter_map(|t| {
            let name = std::fs::read_to_string(t.path().join("comm")).ok()?;
            let name = name.trim().to_string();
            name.starts_with("tokctl-worker-").then(|| {
                let status = std::fs::read_to_string(t.path().join("status")).unwrap_or_default();
                (name, cpu_list(&status))
            })
        })
        .collect();
    out.sort();
    out
}

/// `server.pin_workers`: worker `i` runs on the `i`-th CPU the process may
/// use, in turn; without it, every worker may run on all of them. The
/// gateway inherits this test's affinity mask, so that is the mask to pick
/// from.
pub async fn pinned_workers_run_on_one_cpu_each(dsn: String) {
    let mine = cpu_list(&std::fs::read_to_string("/proc/self/status").expect("own status"));
    let threads = ("TOKCTL_SERVER_WORKERS", "3");
    // A thread names itself once it runs, and pins itself right after.
    let settled = async |pid: u32, pinned: bool| {
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        loop {
            let w = worker_cpus(pid);
            let done = w.len() == 3 && w.iter().all(|(_, cpus)| (cpus.len() == 1) == pinned);
            if done || std::time::Instant::now() > deadline {
                return w;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    };
    let unpinned = Gateway::start_with_env(&dsn, "", &[threads]);
    let free: Vec<_> = (0..3)
        .map(|i| (format!("tokctl-worker-{i}"), mine.clone()))
        .collect();
    assert_eq!(settled(unpinned.child.id(), false).await, free);
    // The first start made the bootstrap key; the second finds it there.
    let key = unpinned.key.clone().expect("the bootstrap key");
    assert_eq!(unpinned.stop().0, 0);

    let pinned =
        Gateway::start_with_env(&dsn, "", &[threads, ("TOKCTL_SERVER_PIN_WORKERS", "true")]);
    let expected: Vec<_> = (0..3)
        .map(|i| (format!("tokctl-worker-{i}"), vec![mine[i % mine.len()]]))
        .collect();
    assert_eq!(settled(pinned.child.id(), true).await, expected);
    // Pinned workers still serve.
    let r = client()
        .post(pinned.url("/v1/chat/completions"))
        .bearer_auth(&key)
        .json(&chat("gpt-4o-mini", false))
        .send()
        .await
        .expect("an answer");
    assert_eq!(r.status(), 200);
    assert_eq!(pinned.stop().0, 0);
}

/// One access line per request, whoever answers it: the relay (with the
/// entry's fields) or the outermost layer (model list, refusals, unknown
/// routes, wrong methods). Each names the gateway's request id.
pub async fn every_request_has_one_access_line(dsn: String) {
    let gw = Gateway::start(&dsn, "[log]\nlevel = \"info\"\n");
    let c = client();
    let key = gw.key.clone().expect("key");
    let mut ids = Vec::new();
    let answers = [
        c.post(gw.url("/v1/chat/completions"))
            .bearer_auth(&key)
            .json(&chat("gpt-4o-mini", false)),
        c.get(gw.url("/v1/models")).bearer_auth(&key),
        c.post(gw.url("/v1/chat/completions"))
            .json(&chat("gpt-4o-mini", false)),
        c.get(gw.url("/v1/nothing-here")).bearer_auth(&key),
        c.get(gw.url("/v1/chat/completions")).bearer_auth(&key),
    ];
    let mut statuses = Vec::new();
    for req in answers {
        let r = req.send().await.expect("request");
        statuses.push(r.status().as_u16());
        let id = r
            .headers()
            .get("x-request-id")
            .and_then(|v| v.to_str().ok())
            .expect("x-request-id")
            .to_string();
        let _ = r.bytes().await;
        ids.push(id);
    }
    assert_eq!(statuses, [200, 200, 401, 404, 405]);
    let (code, log) = gw.stop();
    assert_eq!(code, 0);
    for (id, status) in ids.iter().zip(statuses) {
        let lines: Vec<&String> = log
            .iter()
            .filter(|l| l.contains(id.as_str()) && l.contains(" access "))
            .collect();
        assert_eq!(
            lines.len(),
            1,
            "{status}: one access line for {id}: {log:#?}"
        );
        assert!(lines[0].contains(&format!("status={status}")), "{lines:?}");
    }
}

/// `log.access = "errors"` keeps the access lines of error answers only
/// (relay and outer layer alike); `false` keeps none.
pub async fn access_log_can_keep_errors_only_or_nothing() {
    for (mode, expect_ok, expect_err) in [("\"errors\"", 0, 1), ("false", 0, 0)] {
        // A fresh database each, so each start bootstraps its own key.
        let db = crate::support::TestDb::sqlite();
        let dsn = db.dsn.clone();
        let gw = Gateway::start(&dsn, &format!("[log]\nlevel = \"info\"\naccess = {mode}\n"));
        let c = client();
        let key = gw.key.clone().expect("key");
        let mut ids = Vec::new();
        for req in [
            c.post(gw.url("/v1/chat/completions"))
                .bearer_auth(&key)
                .json(&chat("gpt-4o-mini", false)),
            c.post(gw.url("/v1/chat/completions"))
                .bearer_auth(&key)
                .json(&chat("no-such-model", false)),
            c.get(gw.url("/v1/nothing-here")).bearer_auth(&key),
        ] {
            let r = req.send().await.expect("request");
            let status = r.status().as_u16();
            let id = r
                .headers()
                .get("x-request-id")
                .and_then(|v| v.to_str().ok())
                .expect("x-request-id")
                .to_string();
            let _ = r.bytes().await;
            ids.push((status, id));
        }
        let (code, log) = gw.stop();
        assert_eq!(code, 0);
        for (status, id) in &ids {
            let n = log
                .iter()
                .filter(|l| l.contains(id.as_str()) && l.contains(" access "))
                .count();
            let want = if *status >= 400 {
                expect_err
            } else {
                expect_ok
            };
            assert_eq!(n, want, "access = {mode}, {status} {id}: {log:#?}");
        }
        assert_eq!(
            ids.iter().map(|(s, _)| *s).collect::<Vec<_>>(),
            [200, 404, 404]
        );
    }
}

/// CORS when origins are configured: a browser SDK's preflight passes,
/// and scripts may read the ids and the overhead of an answer.
pub async fn cors_lets_browser_sdks_through(dsn: String) {
    let gw = Gateway::start_with_env(
        &dsn,
        "",
        &[("TOKCTL_SERVER_CORS_ALLOW_ORIGINS", "http://app.example")],
    );
    let c = client();
    let r = c
        .request(reqwest::Method::OPTIONS, gw.url("/v1/chat/completions"))
        .header("origin", "http://app.example")
        .header("access-control-request-method", "POST")
        .header(
            "access-control-request-headers",
            "authorization,content-type,x-stainless-os,anthropic-version",
        )
        .send()
        .await
        .expect("preflight");
    assert!(r.status().is_success(), "{}", r.status());
    let h = r.headers();
    assert_eq!(
        h.get("access-control-allow-origin").map(|v| v.as_bytes()),
        Some(&b"http://app.example"[..])
    );
    let allowed = h
        .get("access-control-allow-headers")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_ascii_lowercase();
    for name in [
        "authorization",
        "content-type",
        "x-stainless-os",
        "anthropic-version",
    ] {
        assert!(allowed.contains(name), "{name} not allowed: {allowed}");
    }
    let r = c
        .post(gw.url("/v1/chat/completions"))
        .header("origin", "http://app.example")
        .bearer_auth(gw.key.as_deref().unwrap_or(""))
        .json(&chat("gpt-4o-mini", false))
        .send()
        .await
        .expect("request");
    assert_eq!(r.status(), 200);
    let exposed = r
        .headers()
        .get("access-control-expose-headers")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    for name in ["x-request-id", "x-tokctl-overhead-us"] {
        assert!(exposed.contains(name), "{name} not exposed: {exposed}");
    }
    // Another origin gets no CORS grant.
    let r = c
        .request(reqwest::Method::OPTIONS, gw.url("/v1/chat/completions"))
        .header("origin", "http://evil.example")
        .header("access-control-request-method", "POST")
        .send()
        .await
        .expect("preflight");
    assert!(r.headers().get("access-control-allow-origin").is_none());
    assert_eq!(gw.stop().0, 0);
}

/// `serve --listen ADDR` overrides `server.listen`: the gateway binds the
/// flag's address and says so, and answers there.
pub async fn the_listen_flag_overrides_the_config(dsn: String) {
    use std::io::BufRead;
    let dir = tempfile::tempdir().expect("temp dir");
    let cfg = dir.path().join("config.toml");
    std::fs::write(
        &cfg,
        format!(
            "[server]\nlisten = \"127.0.0.1:1\"\n[ledger]\npath = \"{dsn}\"\n\
             dead_letter_path = \"{}\"\n[identity]\npath = \"{dsn}\"\n",
            dir.path().join("dead.jsonl").display()
        ),
    )
    .expect("config");
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port();
    let want = format!("127.0.0.1:{port}");
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_tokctl"))
        .arg("--config")
        .arg(&cfg)
        .args(["serve", "--listen", &want])
        .current_dir(dir.path())
        .env_remove("TOKCTL_CONFIG")
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawn tokctl serve");
    let stderr = child.stderr.take().expect("stderr");
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(stderr)
            .lines()
            .map_while(Result::ok)
        {
            let _ = tx.send(line);
        }
    });
    let mut said = None;
    while let Ok(line) = rx.recv_timeout(Duration::from_secs(20)) {
        if let Some(rest) = line.split("listening on ").nth(1) {
            said = Some(rest.trim().to_string());
            break;
        }
    }
    let answer = client()
        .get(format!("http://{want}/livez"))
        .send()
        .await
        .map(|r| r.status().as_u16());
    let _ = std::process::Command::new("kill")
        .arg(child.id().to_string())
        .status();
    let status = child.wait().expect("wait");
    assert_eq!(said.as_deref(), Some(want.as_str()));
    assert_eq!(answer.ok(), Some(200));
    assert_eq!(status.code(), Some(0));
}

/// Takes the ledger's write lock from a connection of the test's own (SQLite:
/// `BEGIN IMMEDIATE`; PostgreSQL: `LOCK TABLE … IN EXCLUSIVE MODE`, which
/// blocks inserts and COPY) and holds it until the returned sender fires or
/// is dropped: the gateway's writer waits meanwhile, as it would for a slow
/// or busy database, so its buffer (or spool) fills.
pub(super) async fn hold_ledger_lock(
    db: &crate::support::TestDb,
) -> tokio::sync::oneshot::Sender<()> {
    use tokctl::db::Db;
    let pool = db.connect().await;
    let (locked_tx, locked_rx) = tokio::sync::oneshot::channel();
    let (release_tx, release_rx) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(async move {
        match &pool {
            Db::Sqlite(p) => {
                let mut c = p.acquire().await.expect("a SQLite connection");
                sqlx::query("BEGIN IMMEDIATE")
                    .execute(&mut *c)
                    .await
                    .expect("BEGIN IMMEDIATE");
                let _ = locked_tx.send(());
                let _ = release_rx.await;
                sqlx::query("COMMIT")
                    .execute(&mut *c)
                    .await
                    .expect("COMMIT");
            }
            Db::Postgres(p) => {
                let mut c = p.acquire().await.expect("a PostgreSQL connection");
                sqlx::query("BEGIN").execute(&mut *c).await.expect("BEGIN");
                sqlx::query("LOCK TABLE usage_entries IN EXCLUSIVE MODE")
                    .execute(&mut *c)
                    .await
                    .expect("LOCK TABLE");
                let _ = locked_tx.send(());
                let _ = release_rx.await;
                sqlx::query("COMMIT")
                    .execute(&mut *c)
                    .await
                    .expect("COMMIT");
            }
        }
        pool.close().await;
    });
    locked_rx.await.expect("the ledger lock is taken");
    release_tx
}

/// `ledger.async.enabled = false`: an answer ends only once its entry is in
/// the database. With the ledger table locked, the answer waits; once the
/// lock goes, it comes, and its row is already there.
pub async fn inline_writes_finish_before_the_answer(db: &crate::support::TestDb) {
    let gw = Gateway::start(
        &db.dsn,
        "[ledger.async]\nenabled = false\n[ledger.spool]\nenabled = false\n",
    );
    let release = hold_ledger_lock(db).await;
    let req = client()
        .post(gw.url("/v1/chat/completions"))
        .bearer_auth(gw.key.as_deref().unwrap_or(""))
        .json(&chat("gpt-4o-mini", false))
        .send();
    let mut req = tokio::spawn(req);
    let early = tokio::time::timeout(Duration::from_millis(700), &mut req).await;
    assert!(
        early.is_err(),
        "the answer came while its entry could not be written"
    );
    let _ = release.send(());
    let resp = req.await.expect("join").expect("request");
    assert_eq!(resp.status(), 200);
    let _ = resp.bytes().await.expect("body");
    // Read before any shutdown flush: the entry was written inline.
    let rows = rows(&db.dsn).await;
    assert_eq!(rows.len(), 1, "{rows:?}");
    assert_eq!(rows[0].status_code, 200);
    assert_eq!(gw.stop().0, 0);
}

/// Requests each SIGTERM test sends (64 at a time); `TOKCTL_TEST_SIGTERM_REQUESTS`
/// sets another number.
fn sigterm_requests() -> usize {
    std::env::var("TOKCTL_TEST_SIGTERM_REQUESTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10_000)
}

/// Load then SIGTERM: every answered request is in the ledger (block policy),
/// or rows plus dropped equal requests (drop policy). `spool`: with the
/// spool as shipped, or off (entries then reach the writer's channel through
/// each worker's front, in groups). Under "drop" the ledger table is locked
/// for the first third of the load, so that the buffer (spool off) or the
/// spool (on, with a small `max_bytes`) really fills and entries are dropped;
/// a dropped entry takes no sequence number, so the chain stays contiguous.
pub async fn load_then_sigterm_loses_nothing(
    db: &crate::support::TestDb,
    on_full: &str,
    spool: bool,
) {
    let dsn = db.dsn.clone();
    let drop_policy = on_full == "drop";
    let extra = format!(
        "[ledger.async]\nbatch_size = 200\nflush_ms = 50\nbuffer_size = {}\non_full = \"{on_full}\"\n\
         [ledger.spool]\nenabled = {spool}\n{}",
        if drop_policy { 16 } else { 1000 },
        if drop_policy {
            "max_bytes = 65536\nsegment_bytes = 16384\n"
        } else {
            ""
        }
    );
    let gw = Gateway::start(&dsn, &extra);
    let key = gw.key.clone().expect("key");
    let c = reqwest::Client::builder()
        .pool_max_idle_per_host(64)
        .build()
        .expect("client");
    let url = gw.url("/v1/chat/completions");
    let total = sigterm_requests();
    let ok = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let next = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let lock = if drop_policy {
        Some(hold_ledger_lock(db).await)
    } else {
        None
    };
    let mut tasks = Vec::new();
    for _ in 0..64 {
        let (c, url, key, ok, next) = (
            c.clone(),
            url.clone(),
            key.clone(),
            ok.clone(),
            next.clone(),
        );
        tasks.push(tokio::spawn(async move {
            while next.fetch_add(1, std::sync::atomic::Ordering::Relaxed) < total {
                let r = c
                    .post(&url)
                    .bearer_auth(&key)
                    .json(&chat("gpt-4o-mini", false))
                    .send()
                    .await;
                if let Ok(r) = r
                    && r.status() == 200
                    && r.bytes().await.is_ok()
                {
                    ok.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                }
            }
        }));
    }
    if let Some(release) = lock {
        // Released after a third of the load, or after 3 s at most (under
        // SQLite's 5 s busy timeout, so the writer waits rather than fails).
        let until = std::time::Instant::now() + Duration::from_secs(3);
        while ok.load(std::sync::atomic::Ordering::Relaxed) < total / 3
            && std::time::Instant::now() < until
        {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        let _ = release.send(());
    }
    for t in tasks {
        t.await.expect("task");
    }
    let answered = ok.load(std::sync::atomic::Ordering::Relaxed);
    assert_eq!(answered, total);
    let (code, log) = gw.stop();
    assert_eq!(code, 0);
    let rows = rows(&dsn).await.len();
    let dropped: usize = log
        .iter()
        .find(|l| l.contains("ledger flushed"))
        .and_then(|l| l.split("dropped=").nth(1))
        .and_then(|s| s.split_whitespace().next())
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no shutdown report in the log: {log:?}"));
    if drop_policy {
        assert!(
            dropped > 0,
            "the locked ledger made the writer drop entries"
        );
        assert_eq!(rows + dropped, total, "rows + dropped = requests");
    } else {
        assert_eq!(rows, answered, "every answered request is in the ledger");
        assert_eq!(dropped, 0);
    }
    // Dropped entries took no number: the chain has no hole and no gap row.
    let top = db
        .scalar("SELECT CAST(COALESCE(MAX(seq), 0) AS BIGINT) FROM usage_entries")
        .await;
    assert_eq!(
        usize::try_from(top).expect("seq"),
        rows,
        "sequence numbers 1..=rows"
    );
    assert_eq!(
        db.scalar("SELECT CAST(COUNT(*) AS BIGINT) FROM ledger_gaps")
            .await,
        0
    );
}
