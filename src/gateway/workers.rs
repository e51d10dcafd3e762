//! Connections served by one single-threaded runtime per worker thread.
//!
//! Why: on tokio's work-stealing runtime a request's tasks (the
//! connection, the detached relay, the upstream connection) land on
//! whichever thread is free, and every hop between threads is a futex wake
//! and a cache miss. Here the main runtime only accepts and hands each
//! connection, round-robin, to a worker; from then on everything that
//! connection causes — its requests, their relays, the upstream
//! connections they open (each worker has its own provider pools) — runs
//! on that worker's thread. The thinnest pass-through measured 0.75× the
//! CPU per request this way (docs/benchmarks-history.md, "One runtime per worker").
//!
//! The ledger writer, spool, probes and the accept loop stay on the main
//! multi-threaded runtime; entries reach them over channels as before.
//! The accept loop also holds the connection cap ([`super::admit`]); each
//! connection is served by [`super::conn`] with its read deadlines.

use std::time::Duration;

use axum::Router;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, oneshot};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::admit::{Gate, Slot};
use super::affinity;
use super::conn::{self, Deadlines};

/// A connection handed from the accept loop to a worker, with its place
/// under the cap and when it was accepted (its first head's deadline
/// counts from then).
type Handoff = (std::net::TcpStream, Slot, tokio::time::Instant);

/// The worker threads of one `serve`.
pub struct Workers {
    threads: Vec<std::thread::JoinHandle<()>>,
    /// One per worker: resolves once its connections are all closed.
    served: Vec<oneshot::Receiver<()>>,
    /// Cancelled when the gateway is done; until then each worker's
    /// runtime stays up, because detached requests, timers and pooled
    /// database sockets opened on it may still be in use.
    release: CancellationToken,
}

/// How many workers `server.workers` asks for (0: one per CPU).
pub fn count(configured: usize) -> usize {
    if configured > 0 {
        return configured;
    }
    std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get)
}

/// How connections are accepted and served.
pub struct Serving {
    /// Pin worker `i` to the `i`-th CPU the process may use ([`affinity`]).
    pub pin: bool,
    pub deadlines: Deadlines,
    pub gate: Gate,
}

/// Starts one thread per app (each app with its own state and pools) and
/// an accept loop, on the caller's runtime, that deals the listener's
/// connections out to them until `stop` is cancelled.
pub fn start(
    listener: TcpListener,
    apps: Vec<Router>,
    stop: CancellationToken,
    serving: Serving,
) -> std::io::Result<Workers> {
    let Serving {
        pin,
        deadlines,
        gate,
    } = serving;
    let cpus = if pin {
        match affinity::allowed_cpus() {
            Ok(cpus) => cpus,
            Err(e) => {
                tracing::warn!(
                    "server.pin_workers: cannot read the CPUs this process may use ({e}); workers stay unpinned"
                );
                Vec::new()
            }
        }
    } else {
        Vec::new()
    };
    let release = CancellationToken::new();
    let mut threads = Vec::with_capacity(apps.len());
    let mut served = Vec::with_capacity(apps.len());
    let mut inboxes = Vec::with_capacity(apps.len());
    for (i, app) in apps.into_iter().enumerate() {
        let (tx, rx) = mpsc::unbounded_channel::<Handoff>();
        let (done, done_rx) = oneshot::channel();
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        let stop = stop.clone();
        let release = release.clone();
        let cpu = affinity::cpu_for(i, &cpus);
        let thread = std::thread::Builder::new()
            .name(format!("tokctl-worker-{i}"))
            .spawn(move || {
                if let Some(cpu) = cpu {
                    match affinity::pin_current_thread(cpu) {
                        Ok(()) => tracing::debug!("worker {i} pinned to CPU {cpu}"),
                        Err(e) => tracing::warn!("server.pin_workers: cannot pin worker {i} to CPU {cpu} ({e}); it stays unpinned"),
                    }
                }
                rt.block_on(async move {
                    serve_worker(rx, app, deadlines, stop).await;
                    let _ = done.send(());
                    release.cancelled().await;
                });
            })?;
        threads.push(thread);
        served.push(done_rx);
        inboxes.push(tx);
    }
    tokio::spawn(deal(listener, inboxes, gate, stop));
    Ok(Workers {
        threads,
        served,
        release,
    })
}

impl Workers {
    /// Waits up to `limit` for every worker's connections to close;
    /// false if some were still open.
    pub async fn drained(&mut self, limit: Duration) -> bool {
        let all = futures_util::future::join_all(self.served.iter_mut());
        tokio::time::timeout(limit, all).await.is_ok()
    }

    /// Ends the worker runtimes and joins their threads.
    pub async fn finish(self) {
        self.release.cancel();
        let threads = self.threads;
        let _ = tokio::task::spawn_blocking(move || {
            for t in threads {
                let _ = t.join();
            }
        })
        .await;
    }
}

/// The accept loop: TCP_NODELAY on, then the next worker in turn.
async fn deal(
    listener: TcpListener,
    inboxes: Vec<mpsc::UnboundedSender<Handoff>>,
    gate: Gate,
    stop: CancellationToken,
) {
    let mut next = 0usize;
    loop {
        let accepted = tokio::select! {
            () = stop.cancelled() => return,
            a = listener.accept() => a,
        };
        let (tcp, _addr) = match accepted {
            Ok(a) => a,
            Err(e) => {
                // A connection reset before it was accepted is the
                // client's business; anything else (out of descriptors)
                // is worth a line and a pause rather than a busy loop.
                if !matches!(
                    e.kind(),
                    std::io::ErrorKind::ConnectionAborted
                        | std::io::ErrorKind::ConnectionReset
                        | std::io::ErrorKind::ConnectionRefused
                ) {
                    tracing::error!("accept failed: {e}; retrying in 1 s");
                    tokio::time::sleep(Duration::from_secs(1)).await;
                }
                continue;
            }
        };
        let Some(slot) = gate.admit() else {
            // Past the cap: closed at once (dropped), counted and logged.
            continue;
        };
        let accepted = tokio::time::Instant::now();
        // TCP_NODELAY: a streamed answer is written chunk by chunk, and
        // Nagle's algorithm would hold each small chunk back until the
        // client's delayed ACK, about 40 ms later.
        if let Err(e) = tcp.set_nodelay(true) {
            tracing::debug!("cannot set TCP_NODELAY on a connection: {e}");
        }
        let std_tcp = match tcp.into_std() {
            Ok(s) => s,
            Err(e) => {
                tracing::debug!("cannot hand a connection to a worker: {e}");
                continue;
            }
        };
        if inboxes[next % inboxes.len()]
            .send((std_tcp, slot, accepted))
            .is_err()
        {
            tracing::error!(
                "worker {} is gone; connection dropped",
                next % inboxes.len()
            );
        }
        next = next.wrapping_add(1);
    }
}

/// A worker's side of the hand-off: serves each connection on a task of
/// this worker's runtime until `stop`, then lets them finish (each closes
/// once its request in progress is answered) and returns.
async fn serve_worker(
    mut inbox: mpsc::UnboundedReceiver<Handoff>,
    app: Router,
    deadlines: Deadlines,
    stop: CancellationToken,
) {
    let connections = TaskTracker::new();
    loop {
        let handoff = tokio::select! {
            () = stop.cancelled() => break,
            h = inbox.recv() => h,
        };
        // None: the accept loop has stopped, which it does only on `stop`.
        let Some((tcp, slot, accepted)) = handoff else {
            stop.cancelled().await;
            break;
        };
        // Registers the socket with this worker's own reactor.
        let tcp = match TcpStream::from_std(tcp) {
            Ok(t) => t,
            Err(e) => {
                tracing::debug!("cannot take over a connection: {e}");
                continue;
            }
        };
        let (app, stop) = (app.clone(), stop.clone());
        connections.spawn(async move {
            conn::serve(tcp, accepted, app, deadlines, stop).await;
            drop(slot);
        });
    }
    connections.close();
    connections.wait().await;
}
