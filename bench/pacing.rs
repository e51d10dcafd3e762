//! How precisely can a load thread keep a send schedule? The alternatives
//! issue 36 asked to measure before choosing the open loop's pacer, each
//! keeping a constant rate for a few seconds on a single-threaded tokio
//! runtime (as a `tokctl loadtest` load thread is). For every tick the task
//! that would send records how late it got control (`now - intended`), and
//! the process's CPU time is read around each run (`/proc/self/stat`).
//!
//! - `tokio-sleep`: `tokio::time::sleep_until` (what the engine did): the
//!   timer wheel has 1 ms ticks and rounds a deadline up to the next one.
//! - `tokio-yield-spin`: sleep on the wheel until 2 ms before, then
//!   `yield_now` until the instant (the runtime keeps polling its I/O).
//! - `thread-sleep`: a std thread sleeps (`nanosleep`) to the instant and
//!   hands a permit to the runtime's task over a tokio channel.
//! - `thread-spin`: the same thread sleeps to 100 µs before and spins the rest.
//! - `timerfd`: the task waits on a timerfd (an hrtimer, no slack) armed to
//!   the instant, registered with the runtime's own epoll (`AsyncFd`).
//! - `timerfd-spin`: the timerfd armed 20 µs early, then a spin to the instant (what
//!   `tokctl loadtest` does: src/loadtest/pace.rs).
//!
//! Usage: `cargo bench --bench pacing -- --bench [SECONDS=2] [RATES=200,2000]`;
//! without `--bench` it exits at once (so `cargo test --all-targets` does
//! not spend time in it).

use std::os::fd::OwnedFd;
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use tokio::io::unix::AsyncFd;

const VARIANTS: [&str; 6] = [
    "tokio-sleep",
    "tokio-yield-spin",
    "thread-sleep",
    "thread-spin",
    "timerfd",
    "timerfd-spin",
];

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if !args.iter().any(|a| a == "--bench") {
        return;
    }
    let rest: Vec<&String> = args.iter().filter(|a| !a.starts_with("--")).collect();
    let secs: f64 = rest.first().and_then(|s| s.parse().ok()).unwrap_or(2.0);
    let rates: Vec<f64> = rest
        .get(1)
        .map_or("200,2000", |s| s.as_str())
        .split(',')
        .filter_map(|r| r.parse().ok())
        .collect();
    println!(
        "{:<18} {:>7} {:>9} {:>9} {:>9} {:>9} {:>10}",
        "variant", "rate", "p50 µs", "p99 µs", "p99.9 µs", "max µs", "CPU %"
    );
    for &rate in &rates {
        for v in VARIANTS {
            let (h, cpu) = run(v, rate, Duration::from_secs_f64(secs));
            let q = |x: f64| h.value_at_quantile(x);
            println!(
                "{v:<18} {rate:>7} {:>9} {:>9} {:>9} {:>9} {:>10.1}",
                q(0.5),
                q(0.99),
                q(0.999),
                h.max(),
                cpu * 100.0
            );
        }
    }
}

/// CPU time this process has used, threads that ended included (user +
/// system clock ticks from `/proc/self/stat`, usually 10 ms each).
fn cpu_time() -> Duration {
    let text = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // Fields after the command name (which ends with ')'): utime is the
    // 12th, stime the 13th.
    let rest = text.rsplit_once(')').map_or("", |(_, r)| r);
    let f: Vec<u64> = rest
        .split_whitespace()
        .map(|x| x.parse().unwrap_or(0))
        .collect();
    let ticks = f.get(11).copied().unwrap_or(0) + f.get(12).copied().unwrap_or(0);
    Duration::from_millis(ticks * 10)
}

/// Runs one variant; returns the lateness histogram (µs) and the CPU share of one core.
fn run(variant: &str, rate: f64, len: Duration) -> (Histogram<u64>, f64) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let n = (len.as_secs_f64() * rate) as u64;
    let start = Instant::now() + Duration::from_millis(20);
    let at = move |i: u64| start + Duration::from_secs_f64(i as f64 / rate);
    let (cpu0, wall0) = (cpu_time(), Instant::now());
    let h = rt.block_on(async move {
        let mut h = Histogram::<u64>::new_with_bounds(1, 60_000_000, 3).expect("bounds");
        let mut late = |t: Instant| {
            let us = Instant::now().saturating_duration_since(t).as_micros() as u64;
            h.saturating_record(us.max(1));
        };
        match variant {
            "tokio-sleep" => {
                for i in 0..n {
                    tokio::time::sleep_until(at(i).into()).await;
                    late(at(i));
                }
            }
            "tokio-yield-spin" => {
                for i in 0..n {
                    let t = at(i);
                    tokio::time::sleep_until((t - Duration::from_millis(2)).into()).await;
                    while Instant::now() < t {
                        tokio::task::yield_now().await;
                    }
                    late(t);
                }
            }
            "thread-sleep" | "thread-spin" => {
                let spin = variant == "thread-spin";
                let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
                std::thread::spawn(move || {
                    for i in 0..n {
                        let t = at(i);
                        let early = if spin {
                            Duration::from_micros(100)
                        } else {
                            Duration::ZERO
                        };
                        let wake = t.checked_sub(early).unwrap_or(t);
                        let now = Instant::now();
                        if wake > now {
                            std::thread::sleep(wake - now);
                        }
                        while Instant::now() < t {
                            std::hint::spin_loop();
                        }
                        if tx.send(t).is_err() {
                            return;
                        }
                    }
                });
                while let Some(t) = rx.recv().await {
                    late(t);
                }
            }
            _ => {
                let early = if variant == "timerfd-spin" { 20 } else { 0 };
                let fd = timerfd();
                for i in 0..n {
                    let t = at(i);
                    let wake = t - Duration::from_micros(early);
                    let left = wake.saturating_duration_since(Instant::now());
                    if !left.is_zero() {
                        arm(&fd, left);
                        wait(&fd).await;
                    }
                    while Instant::now() < t {
                        std::hint::spin_loop();
                    }
                    late(t);
                }
            }
        }
        h
    });
    let cpu = cpu_time().saturating_sub(cpu0).as_secs_f64() / wall0.elapsed().as_secs_f64();
    (h, cpu)
}

fn timerfd() -> AsyncFd<OwnedFd> {
    use rustix::time::{TimerfdClockId, TimerfdFlags, timerfd_create};
    let fd = timerfd_create(
        TimerfdClockId::Monotonic,
        TimerfdFlags::NONBLOCK | TimerfdFlags::CLOEXEC,
    )
    .expect("timerfd");
    // SAFETY: the OwnedFd is open and owned by the AsyncFd for its whole life.
    unsafe { AsyncFd::register_with_interest(fd, tokio::io::Interest::READABLE) }
        .map_err(|e| e.into_parts().1)
        .expect("register the timerfd")
}

fn arm(fd: &AsyncFd<OwnedFd>, after: Duration) {
    use rustix::time::{Itimerspec, TimerfdTimerFlags, Timespec, timerfd_settime};
    let after = after.max(Duration::from_nanos(1));
    let spec = Itimerspec {
        it_interval: Timespec {
            tv_sec: 0,
            tv_nsec: 0,
        },
        it_value: Timespec {
            tv_sec: after.as_secs() as _,
            tv_nsec: after.subsec_nanos() as _,
        },
    };
    timerfd_settime(fd.get_ref(), TimerfdTimerFlags::empty(), &spec).expect("arm");
}

async fn wait(fd: &AsyncFd<OwnedFd>) {
    loop {
        let mut guard = fd.readable().await.expect("poll the timerfd");
        let mut buf = [0u8; 8];
        match rustix::io::read(fd.get_ref(), &mut buf) {
            Ok(_) => return,
            Err(rustix::io::Errno::AGAIN) => guard.clear_ready(),
            Err(e) => panic!("read the timerfd: {e}"),
        }
    }
}
