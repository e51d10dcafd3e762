//! `tokctl tune --verify`: starts this executable's `tokctl serve` with the
//! recommended settings on 127.0.0.1, drives open-loop load at the target
//! rate with the `tokctl::loadtest` engine, samples `/metrics` every
//! 100 ms, stops the gateway with SIGTERM and counts the ledger. The
//! judgement is `tokctl::tune::verify`; this file runs processes and prints.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, ExitCode, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use tokctl::db::{Backend, Db, Dsn, PoolSettings};
use tokctl::loadtest::{self, Criteria, Plan, Stop, Target};
use tokctl::tune::Recommendation;
use tokctl::tune::verify::{self, Observed, Outcome, Override};
use tokio_util::sync::CancellationToken;

use crate::{CmdResult, Failure, chain, exit};

const DEPTH: &str = "tokctl_ledger_queue_depth_entries";
const DROPPED: &str = "tokctl_ledger_entries_dropped_total";

fn fail(e: impl std::fmt::Display) -> Failure {
    Failure::new(exit::FAILURE, e.to_string())
}

/// A gateway child that is killed if the run ends early.
struct Gateway {
    child: Child,
    lines: mpsc::Receiver<String>,
}

impl Drop for Gateway {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// Runs the verification of `rec` for `seconds`; exit 0 when it kept up.
pub async fn run(
    rec: &Recommendation,
    configured_ledger: &str,
    seconds: f64,
    overrides: &[Override],
    json: bool,
) -> CmdResult {
    let seconds =
        verify::check_seconds(seconds).map_err(|e| Failure::new(exit::USAGE, e.to_string()))?;
    let dir = tempfile::tempdir().map_err(|e| fail(format!("cannot create a temp dir: {e}")))?;
    let sqlite = dir.path().join("ledger.db").display().to_string();
    // PostgreSQL: the configured ledger (rows counted as a difference);
    // otherwise a fresh SQLite file, so the count is this run's alone.
    let ledger_dsn = match Dsn::parse(configured_ledger) {
        Ok(d) if d.backend() == Backend::Postgres => configured_ledger.to_string(),
        _ => sqlite.clone(),
    };
    let identity = dir.path().join("identity.db").display().to_string();
    let dead = dir.path().join("dead-letter.jsonl").display().to_string();
    let cfg = verify::config_toml(rec, overrides, &ledger_dsn, &identity, &dead);
    let cfg_path = dir.path().join("config.toml");
    std::fs::write(&cfg_path, &cfg)
        .map_err(|e| fail(format!("cannot write {}: {e}", cfg_path.display())))?;
    let (values, _) = verify::async_values(rec, overrides);
    let buffer_size = values
        .iter()
        .find(|(k, _)| *k == "buffer_size")
        .map_or(0, |(_, v)| *v);
    let flush_ms = values
        .iter()
        .find(|(k, _)| *k == "flush_ms")
        .map_or(0, |(_, v)| *v);

    let dsn = Dsn::parse(&ledger_dsn).map_err(fail)?;
    let before = count_rows(&dsn).await.unwrap_or(0);

    let mut gw = start(&cfg_path, dir.path())?;
    let (addr, key) = read_address(&gw.lines)?;

    // Sample /metrics every ~100 ms while the load runs.
    let cancel = CancellationToken::new();
    let sampler = {
        let url = format!("http://{addr}/metrics");
        let cancel = cancel.clone();
        tokio::spawn(async move {
            let client = reqwest::Client::new();
            let mut depths = Vec::new();
            let mut dropped = 0u64;
            let mut tick = tokio::time::interval(Duration::from_millis(100));
            while !cancel.is_cancelled() {
                tokio::select! {
                    _ = tick.tick() => {}
                    _ = cancel.cancelled() => break,
                }
                let text = match client
                    .get(&url)
                    .timeout(Duration::from_secs(1))
                    .send()
                    .await
                {
                    Ok(r) => r.text().await.unwrap_or_default(),
                    Err(_) => continue,
                };
                if let Some(d) = verify::metric(&text, DEPTH) {
                    depths.push(d as u64);
                }
                if let Some(d) = verify::metric(&text, DROPPED) {
                    dropped = d as u64;
                }
            }
            (depths, dropped)
        })
    };

    let body = loadtest::chat_body("gpt-4o-mini", "Say hello.", false);
    let target = Target::new(
        &format!("http://{addr}/v1/chat/completions"),
        &[],
        key.as_deref(),
        body,
    )
    .map_err(fail)?;
    let plan = Plan {
        target,
        concurrency: vec![((rec.inputs.qps / 20.0).ceil() as usize).clamp(4, 512)],
        rate: Some(rec.inputs.qps),
        stop: Stop::Duration(Duration::from_secs_f64(seconds)),
        warmup: Duration::ZERO,
        timeout: Duration::from_secs(10),
        stream: false,
        slo: Criteria::default(),
        keep_intervals: false,
        threads: None,
    };
    let started = Instant::now();
    let load = loadtest::run(&plan, &CancellationToken::new(), &|_| {}).await;
    let ran = started.elapsed();
    // A few samples after the last answer show the buffer draining.
    tokio::time::sleep(Duration::from_millis(300)).await;
    cancel.cancel();
    let (depths, metric_dropped) = sampler.await.unwrap_or_default();
    let report = load
        .map_err(|e| fail(chain(&e)))?
        .0
        .into_iter()
        .next()
        .ok_or_else(|| fail("the load generator returned no report"))?;

    let shutdown = stop(&mut gw)?;
    let after = count_rows(&dsn)
        .await
        .map_err(|e| fail(format!("counting ledger rows: {e}")))?;
    let rows = after.saturating_sub(before);
    let (written, dropped) = shutdown.unwrap_or((rows, metric_dropped));
    let answered: u64 = report.status_codes.values().sum();
    let ok_2xx = report.successes;
    let outcome = verify::judge(Observed {
        qps: rec.inputs.qps,
        seconds,
        buffer_size,
        flush_ms,
        sent: report.requests,
        answered,
        answered_2xx: ok_2xx,
        rows,
        dropped: dropped.max(metric_dropped),
        peak_depth: depths.iter().copied().max().unwrap_or(0),
        p99_depth: verify::quantile(&depths, 0.99),
        samples: depths.len(),
        write_rate: written as f64 / ran.as_secs_f64().max(1e-3),
    });
    print(&outcome, &values, json)?;
    Ok(if outcome.kept_up {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(exit::FAILURE)
    })
}

async fn count_rows(dsn: &Dsn) -> Result<u64, String> {
    let settings = PoolSettings {
        max_open: 2,
        ..PoolSettings::ledger(&tokctl::config::Config::default())
    };
    let db = Db::connect(dsn, &settings, "ledger")
        .await
        .map_err(|e| chain(&e))?;
    let n = tokctl::ledger::count(&db).await.map_err(|e| chain(&e));
    db.close().await;
    n
}

fn start(cfg: &std::path::Path, dir: &std::path::Path) -> Result<Gateway, Failure> {
    let exe =
        std::env::current_exe().map_err(|e| fail(format!("cannot find this executable: {e}")))?;
    let mut cmd = Command::new(exe);
    cmd.arg("--config").arg(cfg).arg("serve").current_dir(dir);
    // The temporary config alone decides: no TOKCTL_* override leaks in.
    for (k, _) in std::env::vars_os() {
        if k.to_string_lossy().starts_with("TOKCTL_") {
            cmd.env_remove(k);
        }
    }
    cmd.env("NO_COLOR", "1");
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| fail(format!("cannot start tokctl serve: {e}")))?;
    let stderr = child
        .stderr
        .take()
        .ok_or_else(|| fail("no stderr from tokctl serve"))?;
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    Ok(Gateway { child, lines: rx })
}

/// Reads the gateway's stderr until `listening on ADDR`; the line after
/// "created user `admin`" is the bootstrap key.
fn read_address(lines: &mpsc::Receiver<String>) -> Result<(String, Option<String>), Failure> {
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut seen = Vec::new();
    let mut key = None;
    let mut next_is_key = false;
    loop {
        let line = lines
            .recv_timeout(deadline.saturating_duration_since(Instant::now()))
            .map_err(|_| {
                fail(format!(
                    "tokctl serve did not report its address; it said: {}",
                    seen.join(" | ")
                ))
            })?;
        if next_is_key {
            key = Some(line.trim().to_string());
            next_is_key = false;
        }
        if line.contains("created user `admin`") {
            next_is_key = true;
        }
        if let Some(rest) = line.split("listening on ").nth(1) {
            return Ok((rest.trim().to_string(), key));
        }
        seen.push(line);
    }
}

/// SIGTERM, wait for the exit (30 s), and read `written=`/`dropped=` from
/// the shutdown line.
fn stop(gw: &mut Gateway) -> Result<Option<(u64, u64)>, Failure> {
    let _ = Command::new("kill")
        .arg("-TERM")
        .arg(gw.child.id().to_string())
        .status();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        match gw.child.try_wait() {
            Ok(Some(_)) => break,
            Ok(None) if Instant::now() > deadline => {
                return Err(fail("tokctl serve did not stop within 30 s of SIGTERM"));
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(50)),
            Err(e) => return Err(fail(format!("waiting for tokctl serve: {e}"))),
        }
    }
    let mut counts = None;
    while let Ok(line) = gw.lines.recv_timeout(Duration::from_millis(500)) {
        if let Some(c) = verify::shutdown_counts(&line) {
            counts = Some(c);
        }
    }
    Ok(counts)
}

fn print(o: &Outcome, values: &[(&str, u64)], json: bool) -> Result<(), Failure> {
    if json {
        let text = serde_json::to_string_pretty(o).map_err(fail)?;
        println!("{text}");
        return Ok(());
    }
    let ob = &o.observed;
    let settings: Vec<_> = values.iter().map(|(k, v)| format!("{k}={v}")).collect();
    println!(
        "verify: {} QPS for {} s against tokctl serve on 127.0.0.1 ({})",
        ob.qps,
        ob.seconds,
        settings.join(" ")
    );
    println!(
        "  requests:    {} sent, {} answered, {} 2xx",
        ob.sent, ob.answered, ob.answered_2xx
    );
    for c in &o.checks {
        println!(
            "  {:<12} {} {}",
            format!("{}:", c.name),
            if c.passed { "ok  " } else { "FAIL" },
            c.detail
        );
    }
    println!(
        "  write delay: ~{:.0} ms (p99 sampled queue depth {} ÷ {:.0} rows/s written; {} samples)",
        o.write_delay_ms, ob.p99_depth, ob.write_rate, ob.samples
    );
    println!("{}", o.verdict());
    Ok(())
}
